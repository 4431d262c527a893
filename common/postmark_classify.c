/*
 * common/postmark_classify.c: the decision tables (see the header).
 *
 * CONTRACT.md decides; postmark-api.md sections 7, 8, 10 and 11 inform. The
 * reasoning behind each row:
 *
 * - 2xx without a usable per-message array: the request reached Postmark and
 *   may have been accepted, but no result can be matched to a message, so
 *   the only safe answer is a retry marked unknown_outcome (a duplicate is
 *   better than a lost or falsely failed job, CONTRACT 3.1).
 * - 3xx, 404, 405, 415 and any other 4xx: Postmark answers its sending
 *   endpoints with 200, 401, 413, 422 or 429; anything else means the
 *   request did not reach the API we meant (a wrong base_url, a proxy, a
 *   client bug). Retrying the same job cannot help and failing it would
 *   burn a good job: hold.
 * - 403: Postmark's network security layer answers with an HTML page and no
 *   ErrorCode: hold as BLOCKED. A 403 that carries a JSON ErrorCode is
 *   Postmark's own and is read like a 422. A JSON 403 without ErrorCode is
 *   not Postmark's either (a WAF's JSON page): BLOCKED too, because splitting
 *   it would fail every job one by one.
 * - 408, 425, 429, 5xx: transient. 429 slows the rate instead of counting
 *   toward an outage. 502, 504 and unlisted 5xx come from gateways that may
 *   have passed the request on before giving up, so their outcome is
 *   unknown; Postmark's own 500 (ErrorCode 101) and 503 (ErrorCode 100) say
 *   the request was not processed (postmark-api.md 7, 10).
 * - 413: the body is too large: split.
 * - 422 (and JSON 403) by ErrorCode:
 *     10                      HOLD TOKEN (older responses used 422/10)
 *     405, 413, 422, 1480     HOLD ACCOUNT: the account may not send
 *     429                     RETRY, rate limited
 *     100, 101                RETRY (maintenance, server error)
 *     402, 403, 409, 410      SPLIT (CONTRACT 3.3)
 *     anything else, or none  SPLIT: a rejection we cannot attribute. The
 *       request was not processed, retrying it unchanged would fail the
 *       same way, and holding would stop every server's traffic for what is
 *       most likely one bad message. Splitting isolates it: the good halves
 *       go out, and the lone message that still gets this answer fails with
 *       Postmark's Message in its status record, where a human can see it.
 * - 1xx and statuses outside 100..599: not a final answer we understand;
 *   retry, outcome unknown.
 */
#include "common/postmark_classify.h"

#include <stddef.h>
#include <strings.h>

#include "common/defs.h"

#define V_PER_MESSAGE                                                          \
        { .outcome = PMW_OUTCOME_PER_MESSAGE }
#define V_SENT                                                                 \
        { .outcome = PMW_OUTCOME_SENT }
#define V_FAILED                                                               \
        { .outcome = PMW_OUTCOME_FAILED }
#define V_SPLIT                                                                \
        { .outcome = PMW_OUTCOME_SPLIT }
#define V_HOLD(why)                                                            \
        { .outcome = PMW_OUTCOME_HOLD, .hold_reason = PMW_HOLD_##why }
#define V_RETRY                                                                \
        { .outcome = PMW_OUTCOME_RETRY, .counts_as_failure = true }
#define V_RETRY_UNKNOWN                                                        \
        {                                                                      \
                .outcome = PMW_OUTCOME_RETRY, .unknown_outcome = true,         \
                .counts_as_failure = true                                      \
        }
#define V_RETRY_RATE                                                           \
        { .outcome = PMW_OUTCOME_RETRY, .rate_limited = true }
/* A message retried alone inside a 2xx answer: not a whole-request failure,
 * so it never counts toward an outage. */
#define V_RETRY_MSG                                                            \
        { .outcome = PMW_OUTCOME_RETRY }

/* What the HTTP status rule does with the body. */
typedef enum status_action_e {
        ACT_VERDICT,    /* the rule's verdict */
        ACT_RESULTS,    /* PER_MESSAGE if per_message, else the verdict */
        ACT_ERROR_CODE, /* by the body's ErrorCode if any, else the verdict */
} status_action_t;

typedef struct status_rule_s {
        int lo, hi; /* inclusive HTTP status range; first match wins */
        status_action_t action;
        pmw_verdict_t verdict;
} status_rule_t;

static const status_rule_t status_rules[] = {
    {200, 299, ACT_RESULTS, V_RETRY_UNKNOWN},
    {300, 399, ACT_VERDICT, V_HOLD(ENDPOINT)},
    {401, 401, ACT_VERDICT, V_HOLD(TOKEN)},
    {403, 403, ACT_ERROR_CODE, V_HOLD(BLOCKED)},
    {404, 405, ACT_VERDICT, V_HOLD(ENDPOINT)},
    {408, 408, ACT_VERDICT, V_RETRY},
    {413, 413, ACT_VERDICT, V_SPLIT},
    {415, 415, ACT_VERDICT, V_HOLD(ENDPOINT)},
    {422, 422, ACT_ERROR_CODE, V_SPLIT},
    {425, 425, ACT_VERDICT, V_RETRY},
    {429, 429, ACT_VERDICT, V_RETRY_RATE},
    {400, 499, ACT_VERDICT, V_HOLD(ENDPOINT)},
    {500, 500, ACT_VERDICT, V_RETRY},
    {502, 502, ACT_VERDICT, V_RETRY_UNKNOWN},
    {503, 503, ACT_VERDICT, V_RETRY},
    {504, 504, ACT_VERDICT, V_RETRY_UNKNOWN},
    {500, 599, ACT_VERDICT, V_RETRY_UNKNOWN},
};
/* 1xx and anything outside the table. */
static const pmw_verdict_t status_default = V_RETRY_UNKNOWN;

typedef struct code_rule_s {
        int code;
        pmw_verdict_t verdict;
} code_rule_t;

/* A whole-request ErrorCode (HTTP 422, or a JSON 403). */
static const code_rule_t request_code_rules[] = {
    {10, V_HOLD(TOKEN)},     /* bad or missing server token */
    {405, V_HOLD(ACCOUNT)},  /* not allowed to send (credits) */
    {413, V_HOLD(ACCOUNT)},  /* account may not send (not approved) */
    {422, V_HOLD(ACCOUNT)},  /* invalid server or account */
    {1480, V_HOLD(ACCOUNT)}, /* sending not allowed from this IP */
    {429, V_RETRY_RATE},     /* rate limit exceeded */
    {100, V_RETRY},          /* maintenance */
    {101, V_RETRY},          /* unexpected server error */
    {402, V_SPLIT},          /* invalid JSON */
    {403, V_SPLIT},          /* invalid request field */
    {409, V_SPLIT},          /* JSON required */
    {410, V_SPLIT},          /* too many batch messages */
};
static const pmw_verdict_t request_code_default = V_SPLIT;

/* One element of a 2xx batch answer. 406 is looked at separately. */
static const code_rule_t message_code_rules[] = {
    {0, V_SENT},
    /* The account, not the message (CONTRACT 3.5: "or per message"). */
    {10, V_HOLD(TOKEN)},
    {405, V_HOLD(ACCOUNT)},
    {413, V_HOLD(ACCOUNT)},
    {422, V_HOLD(ACCOUNT)},
    {1480, V_HOLD(ACCOUNT)},
    /* Undocumented inside a batch, but transient by nature: this message
     * alone is sent again. */
    {100, V_RETRY_MSG},
    {101, V_RETRY_MSG},
    {429, {.outcome = PMW_OUTCOME_RETRY, .rate_limited = true}},
};
static const pmw_verdict_t message_code_default = V_FAILED;

/* The 406 Postmark gives when only some recipients are inactive: the
 * message went to the others (postmark-api.md 4.4, CONTRACT 2.3). */
static const char partial_inactive[] = "Message OK, but will not deliver";

static pmw_verdict_t
by_code(const code_rule_t *rules, size_t cnt, pmw_verdict_t dflt, int code) {
        for (size_t i = 0; i < cnt; i++)
                if (rules[i].code == code)
                        return rules[i].verdict;
        return dflt;
}

pmw_verdict_t pmw_classify_request(const pmw_response_t *resp) {
        static const pmw_verdict_t per_message = V_PER_MESSAGE;
        static const pmw_verdict_t connect     = V_RETRY;
        static const pmw_verdict_t unknown     = V_RETRY_UNKNOWN;

        switch (resp->transport) {
        case PMW_TRANSPORT_OK:
                break;
        case PMW_TRANSPORT_CONNECT:
                /* Never sent: a plain retry. */
                return connect;
        case PMW_TRANSPORT_TIMEOUT:
        case PMW_TRANSPORT_DROPPED:
                return unknown;
        }

        for (size_t i = 0; i < PMW_ARRAY_LEN(status_rules); i++) {
                const status_rule_t *rule = &status_rules[i];
                if (resp->http_status < rule->lo ||
                    resp->http_status > rule->hi)
                        continue;
                switch (rule->action) {
                case ACT_VERDICT:
                        break;
                case ACT_RESULTS:
                        if (resp->per_message)
                                return per_message;
                        break;
                case ACT_ERROR_CODE:
                        if (resp->error_code >= 0)
                                return by_code(
                                    request_code_rules,
                                    PMW_ARRAY_LEN(request_code_rules),
                                    request_code_default, resp->error_code);
                        break;
                }
                return rule->verdict;
        }
        return status_default;
}

pmw_verdict_t pmw_classify_message(int error_code, const char *message) {
        if (error_code == 406 && message &&
            strncasecmp(message, partial_inactive,
                        sizeof(partial_inactive) - 1) == 0) {
                static const pmw_verdict_t sent = V_SENT;
                return sent;
        }
        return by_code(message_code_rules, PMW_ARRAY_LEN(message_code_rules),
                       message_code_default, error_code);
}

const char *pmw_outcome_name(pmw_outcome_t o) {
        switch (o) {
        case PMW_OUTCOME_PER_MESSAGE:
                return "per_message";
        case PMW_OUTCOME_SENT:
                return "sent";
        case PMW_OUTCOME_FAILED:
                return "failed";
        case PMW_OUTCOME_RETRY:
                return "retry";
        case PMW_OUTCOME_SPLIT:
                return "split";
        case PMW_OUTCOME_HOLD:
                return "hold";
        }
        return "unknown";
}

const char *pmw_hold_reason_name(pmw_hold_reason_t r) {
        switch (r) {
        case PMW_HOLD_NONE:
                return "none";
        case PMW_HOLD_TOKEN:
                return "token";
        case PMW_HOLD_ACCOUNT:
                return "account";
        case PMW_HOLD_ENDPOINT:
                return "endpoint";
        case PMW_HOLD_BLOCKED:
                return "blocked";
        case PMW_HOLD_OUTAGE:
                return "outage";
        }
        return "unknown";
}
