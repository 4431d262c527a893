/*
 * tests/postmark-sim/sim_faults.h: fault injection for the simulator.
 *
 * A fault is one line of a small grammar, given with --fault or posted to
 * /_sim/faults at run time:
 *
 *   SPEC    = ACTION *("," OPTION)        (any order; see below)
 *   ACTION  = "status=" HTTP              JSON error reply (400..599)
 *           | "html403"                   HTTP 403, text/html page
 *           | "text502"                   HTTP 502, text/plain proxy page
 *           | "drop"                      close the connection, no reply
 *           | "delay=" MS                 wait, then answer normally
 *           | "message-error=" CODE       per-message ErrorCode
 *   OPTION  = "error-code=" N             status: the body's ErrorCode
 *                                         (default 401:10 429:429 500:101
 *                                         503:100; required otherwise)
 *           | "retry-after=" SECONDS      status/html403/text502 header
 *           | "delay=" MS                 also wait before the action
 *           | "rcpt=" GLOB                only requests (request faults) or
 *                                         messages (message-error) with a
 *                                         matching To, Cc or Bcc address
 *           | "index=" I                  message-error: 0-based position
 *           | "above=" MSGS_PER_S         request faults: only when the
 *                                         request's messages would exceed
 *                                         MSGS_PER_S (1..10000000)
 *           | "message=" TEXT             status/message-error: the
 *                                         Message; takes the rest of the
 *                                         spec, commas included
 *           | TRIGGER
 *   TRIGGER = "p=" PROBABILITY            each request with probability p
 *           | "next=" N                   the next N requests
 *           | "nth=" N                    only request number N
 *                                         (default: every request)
 *
 * Request numbers count every POST to a sending endpoint since the start
 * (1, 2, ...); triggers count requests for every kind of fault.
 *
 * A request is decided in two stages. Stage 1, before any check of the
 * request: the request faults without rcpt= or above= are tried in the
 * order they were added; the first whose trigger fires is applied, the
 * others are not evaluated (so "status=503,next=2" then "status=429,next=2"
 * gives 503, 503, 429, 429). Stage 2, once the request has passed the
 * header, JSON and shape checks (Postmark looks at recipients and counts
 * messages only then): if stage 1 applied nothing, the request faults with
 * rcpt= or above= are tried in order, the first that fires is applied;
 * then, if no request fault other than a delay was applied, every message
 * fault is evaluated on its own trigger (it applies to the messages that
 * pass validation and match rcpt and index). A request that stops at a
 * check before stage 2 still evaluates the message faults, with nothing to
 * apply them to, so that their next= and nth= count every request.
 *
 * Conditions come before triggers: a request fault whose rcpt= matches no
 * recipient, or whose above= is not exceeded, does not evaluate its
 * trigger (no next= count used, no random draw, nth= not consumed).
 *
 * above= keeps a token bucket per fault, under the set's lock, so all
 * connections share it: MSGS_PER_S tokens per second, refilled by elapsed
 * time, holding at most one second's worth (and full at the first
 * request). A request of n messages exceeds the rate when the bucket holds
 * fewer than n tokens, or, for n larger than the bucket, when it is not
 * full. A request the fault lets through (under the rate, or over it while
 * its trigger does not fire) takes n tokens, which can put the bucket in
 * debt; a request it fires for takes none, nor does a request another
 * fault answered first. The count is of messages in the request, valid or
 * not. Time is an argument (microseconds from any fixed origin, normally
 * pmw_clock_mono_us()) so that tests need no sleeps.
 *
 * Random draws use one seeded generator (--seed) under the set's lock, so a
 * run with the same requests in the same order repeats.
 *
 * Ownership: a parsed fault is owned by the caller until added to a set,
 * which takes it. Decisions hold copies, so faults may be cleared while
 * requests use them. Thread safety: a fault set is safe from any thread (one
 * mutex); a fault object or decision belongs to one thread.
 */
#ifndef PMW_SIM_FAULTS_H
#define PMW_SIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum pmw_sim_fault_kind_e {
        PMW_SIM_FAULT_STATUS = 1,
        PMW_SIM_FAULT_HTML403,
        PMW_SIM_FAULT_TEXT502,
        PMW_SIM_FAULT_DROP,
        PMW_SIM_FAULT_DELAY,
        PMW_SIM_FAULT_MESSAGE,
} pmw_sim_fault_kind_t;

typedef enum pmw_sim_trigger_e {
        PMW_SIM_TRIGGER_ALWAYS = 0,
        PMW_SIM_TRIGGER_P,
        PMW_SIM_TRIGGER_NEXT,
        PMW_SIM_TRIGGER_NTH,
} pmw_sim_trigger_t;

typedef struct pmw_sim_fault_s {
        pmw_sim_fault_kind_t kind;
        int status;      /* STATUS: the HTTP status */
        int error_code;  /* STATUS and MESSAGE: the ErrorCode */
        int retry_after; /* seconds, -1 for no header */
        int delay_ms;    /* 0 for none */
        char *message;   /* owned; NULL for the default text */
        char *rcpt;      /* owned lower-case glob; NULL = all */
        long index;      /* MESSAGE: position in the batch; -1 = all */
        uint64_t above;  /* messages per second; 0 = no rate condition */
        /* above: the bucket, in millionths of a message (negative: in
         * debt), as of refilled_us; before the first request it is full. */
        int64_t tokens;
        int64_t refilled_us;
        bool bucket_started;
        pmw_sim_trigger_t trigger;
        double p;       /* TRIGGER_P */
        uint64_t n;     /* NEXT: requests left; NTH: the request number */
        uint64_t fired; /* requests it was applied to */
        char *spec;     /* owned: the text it was parsed from */
} pmw_sim_fault_t;

typedef struct pmw_sim_faults_s pmw_sim_faults_t;

/* The faults applied to one request: copies, owned by the decision. */
typedef struct pmw_sim_decision_s {
        pmw_sim_fault_t *request; /* NULL when no request fault fired */
        pmw_sim_fault_t **messages;
        size_t n_messages;
} pmw_sim_decision_t;

/**
 * @brief Parses one SPEC (see the top of this file).
 * @param faultp receives the new fault, owned by the caller.
 * @returns NULL, or a PMW_ERR_INVALID error quoting the spec and saying
 *          what is wrong.
 */
pmw_error_t *pmw_sim_fault_parse(const char *spec,
                                 pmw_sim_fault_t **faultp) PMW_WARN_UNUSED;

/** @brief Frees a fault; NULL is allowed. */
void pmw_sim_fault_destroy(pmw_sim_fault_t *fault);

/** @brief A new, empty set whose random draws start from seed. */
pmw_sim_faults_t *pmw_sim_faults_new(uint64_t seed);

/** @brief Frees the set and its faults; NULL is allowed. */
void pmw_sim_faults_destroy(pmw_sim_faults_t *faults);

/** @brief Appends a fault; takes it. */
void pmw_sim_faults_add(pmw_sim_faults_t *faults, pmw_sim_fault_t *fault);

/** @brief Removes every fault. */
void pmw_sim_faults_clear(pmw_sim_faults_t *faults);

/** @returns the number of faults in the set (a hint: no lock taken). */
size_t pmw_sim_faults_count(pmw_sim_faults_t *faults);

/**
 * @brief Appends a JSON array describing the faults:
 *        [{"spec":..,"fired":N,"remaining":N|null}] (remaining: requests
 *        left for next=, 1 or 0 for nth=, null otherwise).
 */
void pmw_sim_faults_list_json(pmw_sim_faults_t *faults, pmw_buf_t *out);

/* What stage 2 needs to know of a request that reached its messages. */
typedef struct pmw_sim_batch_info_s {
        size_t n_messages; /* in the request, valid or not */
        /* Returns true if a To, Cc or Bcc address of any message matches
         * the glob (lower case, borrowed). Called under the set's lock, only
         * for faults that have rcpt=. */
        bool (*rcpt_match)(void *ctx, char *glob);
        void *ctx; /* borrowed, passed to rcpt_match */
} pmw_sim_batch_info_t;

/**
 * @brief Stage 1 (see the top of this file): chooses the request fault,
 *        among those without rcpt= and above=, for request number reqno and
 *        counts it as fired.
 * @param d receives copies; release with pmw_sim_decision_cleanup().
 */
void pmw_sim_faults_decide(pmw_sim_faults_t *faults,
                           uint64_t reqno,
                           pmw_sim_decision_t *d);

/**
 * @brief Stage 2 (see the top of this file): call it once per request
 *        after pmw_sim_faults_decide(), with the same d. Does nothing when
 *        d->request is a fault other than a delay. Otherwise, if d->request
 *        is NULL, may set it to a fault with rcpt= or above=; then, unless
 *        that fault is not a delay, appends the message faults that fire.
 * @param now_us the time for above= buckets, in microseconds (monotonic).
 * @param info borrowed; NULL when the request did not reach its messages:
 *        then only the message faults are evaluated.
 */
void pmw_sim_faults_decide_messages(pmw_sim_faults_t *faults,
                                    uint64_t reqno,
                                    int64_t now_us,
                                    const pmw_sim_batch_info_t *info,
                                    pmw_sim_decision_t *d);

void pmw_sim_decision_cleanup(pmw_sim_decision_t *d);

#endif /* PMW_SIM_FAULTS_H */
