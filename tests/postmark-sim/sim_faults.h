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
 *           | "rcpt=" GLOB                message-error: recipients matched
 *           | "index=" I                  message-error: 0-based position
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
 * (1, 2, ...); triggers count requests for every kind of fault. Request
 * faults (all but message-error) are tried in the order they were added:
 * the first whose trigger fires is applied, the others are not evaluated
 * (so "status=503,next=2" then "status=429,next=2" gives 503, 503, 429,
 * 429). Message faults are evaluated for every request that reaches the
 * messages (no request fault, or only a delay), each on its own trigger, and
 * apply to the messages that pass validation and match rcpt and index.
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
        char *rcpt;      /* MESSAGE: owned lower-case glob; NULL = all */
        long index;      /* MESSAGE: position in the batch; -1 = all */
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

/**
 * @brief Chooses the faults for request number reqno and counts them as
 *        fired (see the top of this file for the rules).
 * @param d receives copies; release with pmw_sim_decision_cleanup().
 */
void pmw_sim_faults_decide(pmw_sim_faults_t *faults,
                           uint64_t reqno,
                           pmw_sim_decision_t *d);

void pmw_sim_decision_cleanup(pmw_sim_decision_t *d);

#endif /* PMW_SIM_FAULTS_H */
