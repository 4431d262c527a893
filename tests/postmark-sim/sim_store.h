/*
 * tests/postmark-sim/sim_store.h: the accepted messages, for
 * GET /messages/outbound.
 *
 * A bounded ring (--store-max, default 1,000,000): when full, the oldest
 * message is dropped, so memory stays flat in long benchmark runs. Only what
 * a search needs is kept (MessageID, From, To, Subject, Tag, MessageStream,
 * Metadata, SubmittedAt and the server token), packed into one allocation
 * per message. Searches scan newest first, as Postmark lists them.
 *
 * Ownership: the store owns its entries; pmw_sim_store_put() takes them.
 * Thread safety: all functions may be called from any thread (one mutex;
 * entries are built and freed outside it).
 */
#ifndef PMW_SIM_STORE_H
#define PMW_SIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct pmw_sim_store_s pmw_sim_store_t;
typedef struct pmw_sim_entry_s pmw_sim_entry_t;

/* Fields of a message to store; every string is borrowed and copied. */
typedef struct pmw_sim_entry_in_s {
        const char *message_id; /* 36 characters */
        int64_t submitted_ms;
        const char *token;
        const char *from;
        size_t from_len;
        const char *to;
        size_t to_len;
        const char *subject;
        size_t subject_len;
        const char *tag;
        size_t tag_len;
        const char *stream; /* "outbound" when absent */
        size_t stream_len;
        /* Metadata as "key\0value\0key\0value\0", n_meta pairs. */
        const char *meta;
        size_t meta_len;
        size_t n_meta;
} pmw_sim_entry_in_t;

/* A search. NULL fields do not filter. */
typedef struct pmw_sim_query_s {
        const char *token;      /* the server's token: only its messages */
        const char *recipient;  /* an address in To, ignoring case */
        const char *fromemail;  /* the From address, ignoring case */
        const char *tag;        /* ignoring case */
        const char *subject;    /* exact */
        const char *stream;     /* exact */
        const char *meta_key;   /* ignoring case */
        const char *meta_value; /* exact */
        size_t count;
        size_t offset;
} pmw_sim_query_t;

/** @brief A store keeping at most max messages (0: store nothing). */
pmw_sim_store_t *pmw_sim_store_new(size_t max);

/** @brief Frees the store and its entries; NULL is allowed. */
void pmw_sim_store_destroy(pmw_sim_store_t *store);

/** @brief Builds an entry (outside any lock); owned by the caller until
 *         put. */
pmw_sim_entry_t *pmw_sim_entry_new(const pmw_sim_entry_in_t *in);

/**
 * @brief Adds entries, newest last, dropping the oldest beyond the bound.
 * @param entries takes every entry (the array itself stays the caller's).
 */
void pmw_sim_store_put(pmw_sim_store_t *store,
                       pmw_sim_entry_t **entries,
                       size_t n);

/** @returns the number of messages held. */
size_t pmw_sim_store_size(pmw_sim_store_t *store);

/**
 * @brief Appends Postmark's outbound search answer:
 *        {"TotalCount":N,"Messages":[...]}.
 */
void pmw_sim_store_search(pmw_sim_store_t *store,
                          const pmw_sim_query_t *q,
                          pmw_buf_t *out);

#endif /* PMW_SIM_STORE_H */
