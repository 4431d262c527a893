/*
 * tests/postmark-sim/sim_api.h: the simulated Postmark API, without HTTP.
 *
 * pmw_sim_handle() turns one complete request (method, path, the headers
 * that matter, query arguments, body) into one answer (status, content
 * type, body, Retry-After, a delay, or "drop the connection"). The HTTP
 * server (sim_server.c) only moves bytes; everything Postmark-like is here,
 * so it can be exercised without sockets.
 *
 * Order of checks for a sending endpoint (postmark-api.md section 14):
 * request number, faults without rcpt= or above=, body size (413),
 * Accept/Content-Type (415), token (401), JSON (422/402), shape (422/402,
 * 422/403, 422/410), faults with rcpt= or above= (they need the messages),
 * then each message in request order (with the message faults).
 *
 * Ownership: pmw_sim_new() takes nothing; the configuration's strings are
 * borrowed and must outlive the simulator. Thread safety: pmw_sim_handle()
 * may run on many threads at once (faults, store and record have their own
 * locks; counters are atomic).
 */
#ifndef PMW_SIM_API_H
#define PMW_SIM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "tests/postmark-sim/sim_faults.h"
#include "tests/postmark-sim/sim_record.h"
#include "tests/postmark-sim/sim_validate.h"

#define PMW_SIM_TEST_TOKEN     "POSTMARK_API_TEST"
#define PMW_SIM_MAX_BATCH_BODY (50u * 1024 * 1024)
#define PMW_SIM_MAX_EMAIL_BODY (10u * 1024 * 1024)
#define PMW_SIM_MAX_OTHER_BODY (1024u * 1024)

typedef enum pmw_sim_endpoint_e {
        PMW_SIM_EP_EMAIL = 0,
        PMW_SIM_EP_BATCH,
        PMW_SIM_EP_TEMPLATE,
        PMW_SIM_EP_BATCH_TEMPLATES,
        PMW_SIM_EP_OUTBOUND,
        PMW_SIM_EP_SIM_FAULTS,
        PMW_SIM_EP_SIM_STATS,
        PMW_SIM_EP_UNKNOWN,
        PMW_SIM_EP_COUNT
} pmw_sim_endpoint_t;

typedef struct pmw_sim_config_s {
        pmw_sim_rules_t rules;
        char **tokens; /* accepted tokens; none: any non-empty token */
        size_t n_tokens;
        int latency_ms;
        size_t store_max;
        uint64_t seed;
} pmw_sim_config_t;

typedef struct pmw_sim_request_s {
        const char *method;
        const char *path;
        const char *accept;       /* header value or NULL */
        const char *content_type; /* header value or NULL */
        const char *token;        /* X-Postmark-Server-Token or NULL */
        const char *const *args;  /* query: key, value, key, value... */
        size_t n_args;            /* pairs */
        const char *body;         /* borrowed */
        size_t body_len;
        size_t body_total; /* bytes received; > body_len when too large */
        bool body_too_large;
} pmw_sim_request_t;

typedef struct pmw_sim_response_s {
        int status; /* 0: close the connection without an answer */
        const char *content_type;
        int retry_after; /* seconds, -1: no header */
        int delay_ms;    /* wait this long before answering */
        pmw_buf_t body;
} pmw_sim_response_t;

typedef struct pmw_sim_s pmw_sim_t;

/**
 * @brief Creates the simulator state.
 * @param cfg borrows: must outlive the simulator.
 * @param faults takes: the fault set (from --fault); never NULL.
 * @param record takes: NULL when not recording.
 */
pmw_sim_t *pmw_sim_new(const pmw_sim_config_t *cfg,
                       pmw_sim_faults_t *faults,
                       pmw_sim_record_t *record);

/** @brief Frees the state, closing the record file. NULL is allowed. */
void pmw_sim_destroy(pmw_sim_t *sim);

/** @returns the endpoint of a path ("/email/batch"), or UNKNOWN. */
pmw_sim_endpoint_t pmw_sim_route(const char *path);

/** @returns the largest body accepted for the endpoint, in bytes. */
size_t pmw_sim_body_limit(pmw_sim_endpoint_t ep);

/** @brief Flushes the record file, if any (main() calls it every second). */
void pmw_sim_flush(pmw_sim_t *sim);

/**
 * @brief Answers one request.
 * @param resp receives the answer; its body is initialised here and freed
 *        by the caller with pmw_buf_cleanup() (or taken).
 */
void pmw_sim_handle(pmw_sim_t *sim,
                    const pmw_sim_request_t *req,
                    pmw_sim_response_t *resp);

#endif /* PMW_SIM_API_H */
