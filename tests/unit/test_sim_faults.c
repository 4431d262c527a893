/* Unit tests for tests/postmark-sim/sim_faults (grammar and selection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/buf.h"
#include "tests/postmark-sim/sim_faults.h"
#include "tests/postmark-sim/sim_match.h"

static pmw_sim_fault_t *parse(const char *spec) {
        pmw_sim_fault_t *f = NULL;
        pmw_error_t *err   = pmw_sim_fault_parse(spec, &f);
        if (err)
                fail_msg("%s", pmw_error_string(err));
        return f;
}

static void test_parse_actions(void **state) {
        (void)state;
        pmw_sim_fault_t *f = parse("status=503,next=3");
        assert_int_equal(f->kind, PMW_SIM_FAULT_STATUS);
        assert_int_equal(f->status, 503);
        assert_int_equal(f->error_code, 100);
        assert_int_equal(f->retry_after, -1);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_NEXT);
        assert_int_equal(f->n, 3);
        assert_string_equal(f->spec, "status=503,next=3");
        pmw_sim_fault_destroy(f);

        f = parse("status=429,retry-after=2,p=0.1");
        assert_int_equal(f->error_code, 429);
        assert_int_equal(f->retry_after, 2);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_P);
        assert_true(f->p > 0.0999 && f->p < 0.1001);
        pmw_sim_fault_destroy(f);

        f = parse("status=500");
        assert_int_equal(f->error_code, 101);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_ALWAYS);
        pmw_sim_fault_destroy(f);

        f = parse("status=401,error-code=10,next=50");
        assert_int_equal(f->status, 401);
        assert_int_equal(f->error_code, 10);
        pmw_sim_fault_destroy(f);

        f = parse("status=422,error-code=405,message=Out of credits, sorry");
        assert_int_equal(f->error_code, 405);
        assert_string_equal(f->message, "Out of credits, sorry");
        pmw_sim_fault_destroy(f);

        f = parse("drop,nth=5");
        assert_int_equal(f->kind, PMW_SIM_FAULT_DROP);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_NTH);
        assert_int_equal(f->n, 5);
        pmw_sim_fault_destroy(f);

        f = parse("delay=20000,next=1");
        assert_int_equal(f->kind, PMW_SIM_FAULT_DELAY);
        assert_int_equal(f->delay_ms, 20000);
        pmw_sim_fault_destroy(f);

        f = parse("status=503,delay=100");
        assert_int_equal(f->kind, PMW_SIM_FAULT_STATUS);
        assert_int_equal(f->delay_ms, 100);
        pmw_sim_fault_destroy(f);

        f = parse("html403");
        assert_int_equal(f->kind, PMW_SIM_FAULT_HTML403);
        pmw_sim_fault_destroy(f);

        f = parse("text502,next=2,retry-after=0");
        assert_int_equal(f->kind, PMW_SIM_FAULT_TEXT502);
        assert_int_equal(f->retry_after, 0);
        pmw_sim_fault_destroy(f);

        f = parse("message-error=406,rcpt=Bounce*@*");
        assert_int_equal(f->kind, PMW_SIM_FAULT_MESSAGE);
        assert_int_equal(f->error_code, 406);
        assert_string_equal(f->rcpt, "bounce*@*");
        assert_int_equal(f->index, -1);
        pmw_sim_fault_destroy(f);

        f = parse("message-error=405,index=3,nth=2");
        assert_null(f->rcpt);
        assert_int_equal(f->index, 3);
        assert_int_equal(f->above, 0);
        pmw_sim_fault_destroy(f);
}

static void test_parse_rcpt_and_above(void **state) {
        (void)state;
        pmw_sim_fault_t *f = parse("status=429,above=2000");
        assert_int_equal(f->kind, PMW_SIM_FAULT_STATUS);
        assert_int_equal(f->error_code, 429);
        assert_int_equal(f->above, 2000);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_ALWAYS);
        assert_false(f->bucket_started);
        assert_null(f->rcpt);
        pmw_sim_fault_destroy(f);

        f = parse("status=429,retry-after=1,above=10000000,p=0.5");
        assert_int_equal(f->above, 10000000);
        assert_int_equal(f->retry_after, 1);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_P);
        pmw_sim_fault_destroy(f);

        f = parse("status=422,error-code=403,rcpt=Bad*@*");
        assert_int_equal(f->status, 422);
        assert_int_equal(f->error_code, 403);
        assert_string_equal(f->rcpt, "bad*@*");
        assert_int_equal(f->index, -1);
        pmw_sim_fault_destroy(f);

        f = parse("drop,rcpt=x@y.org,above=1,next=2");
        assert_int_equal(f->kind, PMW_SIM_FAULT_DROP);
        assert_string_equal(f->rcpt, "x@y.org");
        assert_int_equal(f->above, 1);
        assert_int_equal(f->trigger, PMW_SIM_TRIGGER_NEXT);
        assert_int_equal(f->n, 2);
        pmw_sim_fault_destroy(f);

        f = parse("delay=500,above=100");
        assert_int_equal(f->kind, PMW_SIM_FAULT_DELAY);
        assert_int_equal(f->delay_ms, 500);
        assert_int_equal(f->above, 100);
        pmw_sim_fault_destroy(f);

        f = parse("html403,rcpt=*@blocked.example");
        assert_int_equal(f->kind, PMW_SIM_FAULT_HTML403);
        assert_string_equal(f->rcpt, "*@blocked.example");
        pmw_sim_fault_destroy(f);

        f = parse("text502,rcpt=a*,retry-after=3");
        assert_int_equal(f->kind, PMW_SIM_FAULT_TEXT502);
        assert_string_equal(f->rcpt, "a*");
        pmw_sim_fault_destroy(f);
}

static void test_parse_errors(void **state) {
        (void)state;
        static const struct {
                const char *spec;
                const char *error;
        } bad[] = {
            {"", "fault '': empty"},
            {"next=3",
             "fault 'next=3': no action: give status=, html403, "
             "text502, drop, delay= or message-error="},
            {"status=200", "fault 'status=200': status must be 400..599"},
            {"status=abc", "fault 'status=abc': status must be 400..599"},
            {"status=422",
             "fault 'status=422': this status needs error-code= "
             "(defaults exist for 401, 429, 500 and 503)"},
            {"status=503,drop",
             "fault 'status=503,drop': give one of "
             "status=, html403, text502, drop, "
             "message-error="},
            {"drop,p=0", "fault 'drop,p=0': p must be in (0, 1]"},
            {"drop,p=1.5", "fault 'drop,p=1.5': p must be in (0, 1]"},
            {"drop,next=0", "fault 'drop,next=0': next and nth must be >= 1"},
            {"drop,next=2,nth=3",
             "fault 'drop,next=2,nth=3': give at most one of p=, next=, nth="},
            {"drop,retry-after=1",
             "fault 'drop,retry-after=1': retry-after= "
             "goes with status=, html403, text502"},
            {"html403,error-code=1",
             "fault 'html403,error-code=1': error-code= goes with status="},
            {"status=503,index=1",
             "fault 'status=503,index=1': index= goes with message-error="},
            {"drop,rcpt=", "fault 'drop,rcpt=': rcpt needs a glob"},
            {"drop,rcpt", "fault 'drop,rcpt': rcpt needs a glob"},
            {"status=429,above=0",
             "fault 'status=429,above=0': above must be 1..10000000 "
             "messages per second"},
            {"status=429,above=10000001",
             "fault 'status=429,above=10000001': above must be 1..10000000 "
             "messages per second"},
            {"status=429,above=-5",
             "fault 'status=429,above=-5': above must be 1..10000000 "
             "messages per second"},
            {"status=429,above=1.5",
             "fault 'status=429,above=1.5': above must be 1..10000000 "
             "messages per second"},
            {"status=429,above",
             "fault 'status=429,above': above must be 1..10000000 "
             "messages per second"},
            {"above=100",
             "fault 'above=100': no action: give status=, html403, "
             "text502, drop, delay= or message-error="},
            {"message-error=406,above=10",
             "fault 'message-error=406,above=10': above= goes with request "
             "faults (status=, html403, text502, drop, delay=), not "
             "message-error="},
            {"status=429,above=5,p=0.5,next=1",
             "fault 'status=429,above=5,p=0.5,next=1': give at most one of "
             "p=, next=, nth="},
            {"drop,message=x",
             "fault 'drop,message=x': message= goes with "
             "status= or message-error="},
            {"message-error=406,delay=5",
             "fault 'message-error=406,delay=5': delay= is a request fault; "
             "add it as its own fault"},
            {"message-error=0",
             "fault 'message-error=0': message-error must "
             "be an ErrorCode 1..99999"},
            {"drop=1", "fault 'drop=1': takes no value: drop"},
            {"drop,bogus=1", "fault 'drop,bogus=1': unknown key: bogus"},
            {"delay=-1", "fault 'delay=-1': delay must be 0..3600000 ms"},
            {"message-error=406,index=500",
             "fault 'message-error=406,index=500': index must be 0..499"},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++) {
                pmw_sim_fault_t *f = (pmw_sim_fault_t *)1;
                pmw_error_t *err   = pmw_sim_fault_parse(bad[i].spec, &f);
                if (err == NULL)
                        fail_msg("accepted: %s", bad[i].spec);
                assert_null(f);
                assert_int_equal(pmw_error_code(err), PMW_ERR_INVALID);
                if (strcmp(pmw_error_string(err), bad[i].error) != 0)
                        fail_msg("got '%s'\nwant '%s'", pmw_error_string(err),
                                 bad[i].error);
                pmw_error_destroy(err);
        }
}

/* A request as stage 2 sees it: its recipients (lower case) and the
 * number of times the faults asked about them. */
typedef struct fake_req_s {
        const char *const *rcpts; /* NULL-terminated */
        unsigned asked;
} fake_req_t;

static bool fake_rcpt_match(void *ctx, char *glob) {
        fake_req_t *r = ctx;
        r->asked++;
        for (const char *const *a = r->rcpts; *a; a++)
                if (pmw_sim_glob_match(glob, *a, strlen(*a)))
                        return true;
        return false;
}

/* Both stages for a request of n messages with recipients rcpts (NULL:
 * the request stopped at a check before stage 2). */
static void decide(pmw_sim_faults_t *faults,
                   uint64_t reqno,
                   int64_t now_us,
                   size_t n,
                   fake_req_t *req,
                   pmw_sim_decision_t *d) {
        pmw_sim_faults_decide(faults, reqno, d);
        pmw_sim_batch_info_t info = {
            .n_messages = n, .rcpt_match = fake_rcpt_match, .ctx = req};
        pmw_sim_faults_decide_messages(faults, reqno, now_us,
                                       req ? &info : NULL, d);
}

static const char *const no_rcpts[] = {"a@x.org", NULL};

/* The kind of request fault applied to request reqno; 0 for none. */
static int decide_kind(pmw_sim_faults_t *faults, uint64_t reqno) {
        pmw_sim_decision_t d;
        fake_req_t req = {.rcpts = no_rcpts};
        decide(faults, reqno, 0, 1, &req, &d);
        int kind =
            d.request ? (int)d.request->kind * 1000 + d.request->status : 0;
        pmw_sim_decision_cleanup(&d);
        return kind;
}

/* Request reqno of n messages to rcpts at now_us: the HTTP status of the
 * request fault applied (1 for a drop, 2 for a delay), 0 for none. */
static int at_rcpts(pmw_sim_faults_t *faults,
                    uint64_t reqno,
                    int64_t now_us,
                    size_t n,
                    const char *const *rcpts) {
        pmw_sim_decision_t d;
        fake_req_t req = {.rcpts = rcpts};
        decide(faults, reqno, now_us, n, &req, &d);
        int status = 0;
        if (d.request && d.request->kind == PMW_SIM_FAULT_STATUS)
                status = d.request->status;
        else if (d.request)
                status = d.request->kind == PMW_SIM_FAULT_DROP ? 1 : 2;
        pmw_sim_decision_cleanup(&d);
        return status;
}

static int
at(pmw_sim_faults_t *faults, uint64_t reqno, int64_t now_us, size_t n) {
        return at_rcpts(faults, reqno, now_us, n, no_rcpts);
}

static void expect_list(pmw_sim_faults_t *faults, const char *want) {
        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_sim_faults_list_json(faults, &out);
        if (strcmp(pmw_buf_ptr(&out), want) != 0)
                fail_msg("got  %s\nwant %s", pmw_buf_ptr(&out), want);
        pmw_buf_cleanup(&out);
}

static void test_sequencing(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        assert_int_equal(decide_kind(faults, 1), 0);
        pmw_sim_faults_add(faults, parse("status=503,next=2"));
        pmw_sim_faults_add(faults, parse("status=429,next=2"));
        pmw_sim_faults_add(faults, parse("drop,nth=7"));
        assert_int_equal(pmw_sim_faults_count(faults), 3);
        const int s503 = PMW_SIM_FAULT_STATUS * 1000 + 503;
        const int s429 = PMW_SIM_FAULT_STATUS * 1000 + 429;
        const int drop = PMW_SIM_FAULT_DROP * 1000;
        int want[]     = {s503, s503, s429, s429, 0, 0, drop, 0};
        for (uint64_t r = 1; r <= 8; r++)
                assert_int_equal(decide_kind(faults, r), want[r - 1]);

        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_sim_faults_list_json(faults, &out);
        assert_string_equal(
            pmw_buf_ptr(&out),
            "[{\"spec\":\"status=503,next=2\",\"fired\":2,\"remaining\":0},"
            "{\"spec\":\"status=429,next=2\",\"fired\":2,\"remaining\":0},"
            "{\"spec\":\"drop,nth=7\",\"fired\":1,\"remaining\":0}]");
        pmw_sim_faults_clear(faults);
        assert_int_equal(pmw_sim_faults_count(faults), 0);
        pmw_buf_reset(&out);
        pmw_sim_faults_list_json(faults, &out);
        assert_string_equal(pmw_buf_ptr(&out), "[]");
        pmw_buf_cleanup(&out);
        pmw_sim_faults_destroy(faults);
}

static void test_message_faults(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("message-error=406,rcpt=b*@*"));
        pmw_sim_faults_add(faults, parse("message-error=405,index=1,next=1"));
        pmw_sim_faults_add(faults, parse("delay=50,nth=2"));
        pmw_sim_faults_add(faults, parse("status=500,nth=3"));

        pmw_sim_decision_t d;
        fake_req_t req = {.rcpts = no_rcpts};
        decide(faults, 1, 0, 2, &req, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 2);
        assert_int_equal(d.messages[0]->error_code, 406);
        assert_string_equal(d.messages[0]->rcpt, "b*@*");
        assert_int_equal(d.messages[1]->index, 1);
        pmw_sim_decision_cleanup(&d);

        /* A delay lets the messages through; next=1 is used up. */
        decide(faults, 2, 0, 2, &req, &d);
        assert_non_null(d.request);
        assert_int_equal(d.request->kind, PMW_SIM_FAULT_DELAY);
        assert_int_equal(d.request->delay_ms, 50);
        assert_int_equal(d.n_messages, 1);
        assert_int_equal(d.messages[0]->error_code, 406);
        pmw_sim_decision_cleanup(&d);

        /* A status fault answers for the request: no message faults. */
        decide(faults, 3, 0, 2, &req, &d);
        assert_int_equal(d.request->status, 500);
        assert_int_equal(d.n_messages, 0);
        pmw_sim_decision_cleanup(&d);

        /* Decisions are copies: clearing does not affect them. */
        decide(faults, 4, 0, 2, &req, &d);
        pmw_sim_faults_clear(faults);
        assert_int_equal(d.n_messages, 1);
        assert_string_equal(d.messages[0]->spec, "message-error=406,rcpt=b*@*");
        pmw_sim_decision_cleanup(&d);
        pmw_sim_faults_destroy(faults);
}

/* Exact boundaries of the bucket: 1000 messages per second is one token
 * per millisecond. */
static void test_above_bucket(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,above=1000"));
        const int64_t t = 5000000; /* any origin */
        /* Full at the first request: exactly the burst goes through. */
        assert_int_equal(at(faults, 1, t, 1000), 0);
        assert_int_equal(at(faults, 2, t, 1), 429);
        /* 999 us earn 0.999 of a token: not enough for one message. */
        assert_int_equal(at(faults, 3, t + 999, 1), 429);
        assert_int_equal(at(faults, 4, t + 1000, 1), 0);
        assert_int_equal(at(faults, 5, t + 1000, 1), 429);
        /* Half a second: 500 tokens; 501 messages are too many and a
         * fired request takes nothing, so 500 then pass. */
        assert_int_equal(at(faults, 6, t + 501000, 501), 429);
        assert_int_equal(at(faults, 7, t + 501000, 500), 0);
        assert_int_equal(at(faults, 8, t + 501000, 1), 429);
        /* An empty batch never exceeds the rate. */
        assert_int_equal(at(faults, 9, t + 501000, 0), 0);
        /* A long pause fills the bucket to one second's worth, no more. */
        assert_int_equal(at(faults, 10, t + 3600000000LL, 1000), 0);
        assert_int_equal(at(faults, 11, t + 3600000000LL, 1), 429);
        /* A clock that goes back earns nothing (and loses nothing). */
        assert_int_equal(at(faults, 12, t, 1), 429);
        assert_int_equal(at(faults, 13, t + 3600001000LL, 1), 0);
        expect_list(faults,
                    "[{\"spec\":\"status=429,above=1000\","
                    "\"fired\":7,\"remaining\":null}]");
        pmw_sim_faults_destroy(faults);

        /* 3 per second: a third of a second earns 0.999999 of a token. */
        faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,above=3"));
        assert_int_equal(at(faults, 1, 0, 1), 0);
        assert_int_equal(at(faults, 2, 333333, 3), 429);
        assert_int_equal(at(faults, 3, 333334, 3), 0);
        pmw_sim_faults_destroy(faults);

        /* The highest rate: 10 million tokens per second. */
        faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("drop,above=10000000"));
        for (uint64_t r = 1; r <= 20000; r++)
                assert_int_equal(at(faults, r, 0, 500), 0);
        assert_int_equal(at(faults, 20001, 0, 1), 1);
        assert_int_equal(at(faults, 20002, 49, 500), 1);
        assert_int_equal(at(faults, 20003, 50, 500), 0);
        assert_int_equal(at(faults, 20004, INT64_MAX / 2, 500), 0);
        pmw_sim_faults_destroy(faults);
}

/* A batch larger than the bucket passes only when it is full, and leaves
 * a debt. */
static void test_above_debt(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,above=100"));
        assert_int_equal(at(faults, 1, 0, 500), 0);       /* 100 - 500 = -400 */
        assert_int_equal(at(faults, 2, 4000000, 1), 429); /* 0 tokens */
        assert_int_equal(at(faults, 3, 4009999, 1), 429);
        assert_int_equal(at(faults, 4, 4010000, 1), 0); /* 1 token */
        /* Not full (99.99 tokens): a big batch waits for a full bucket. */
        assert_int_equal(at(faults, 5, 5009900, 500), 429);
        assert_int_equal(at(faults, 6, 5009900, 99), 0);    /* 0.99 left */
        assert_int_equal(at(faults, 7, 5999999, 500), 429); /* 99.9999 */
        assert_int_equal(at(faults, 8, 6000000, 500), 0);   /* 100 */
        assert_int_equal(at(faults, 9, 9999999, 1), 429);   /* -0.0001 */
        assert_int_equal(at(faults, 10, 10010000, 1), 0);
        pmw_sim_faults_destroy(faults);
}

/* p=, next= and nth= are evaluated only over the rate; a request they let
 * through takes its tokens. */
static void test_above_with_triggers(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,above=10,next=1"));
        assert_int_equal(at(faults, 1, 0, 10), 0); /* next= not used */
        expect_list(faults,
                    "[{\"spec\":\"status=429,above=10,next=1\","
                    "\"fired\":0,\"remaining\":1}]");
        assert_int_equal(at(faults, 2, 0, 5), 429); /* uses next= */
        assert_int_equal(at(faults, 3, 0, 5), 0);   /* over, next= spent */
        expect_list(faults,
                    "[{\"spec\":\"status=429,above=10,next=1\","
                    "\"fired\":1,\"remaining\":0}]");
        pmw_sim_faults_destroy(faults);

        faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("drop,above=10,nth=4"));
        assert_int_equal(at(faults, 1, 0, 10), 0);
        /* Over the rate but not the 4th: let through, in debt (-1). */
        assert_int_equal(at(faults, 2, 0, 1), 0);
        assert_int_equal(at(faults, 3, 100000, 1), 0); /* 0, then -1 */
        /* 0.99999 tokens: without the debt it would hold 2.99999. */
        assert_int_equal(at(faults, 4, 299999, 1), 1);
        /* The drop took nothing: 1 token. */
        assert_int_equal(at(faults, 5, 300000, 1), 0);
        assert_int_equal(at(faults, 6, 300000, 1), 0); /* nth= is past */
        pmw_sim_faults_destroy(faults);

        /* With p=1 every request over the rate fires: the same as no
         * trigger, and p= draws only over the rate. */
        pmw_sim_faults_t *a = pmw_sim_faults_new(3);
        pmw_sim_faults_t *b = pmw_sim_faults_new(3);
        pmw_sim_faults_add(a, parse("status=429,above=50,p=1"));
        pmw_sim_faults_add(b, parse("status=429,above=50"));
        unsigned n429 = 0;
        for (uint64_t r = 1; r <= 200; r++) {
                int status = at(a, r, (int64_t)r * 10000, 7);
                assert_int_equal(status, at(b, r, (int64_t)r * 10000, 7));
                n429 += status == 429;
        }
        /* 7 messages every 10 ms for 2 s against 50/s and a burst of 50:
         * 7 requests in the burst, then one in 14 (0.5 token per 10 ms). */
        assert_int_equal(200 - n429, 7 + 14);
        pmw_sim_faults_destroy(a);
        pmw_sim_faults_destroy(b);
}

/* Stage 2 comes after stage 1: a fault answered there takes no tokens and
 * stage-2 faults are not evaluated. */
static void test_stages(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,above=10"));
        pmw_sim_faults_add(faults, parse("status=503,nth=2"));
        pmw_sim_faults_add(faults, parse("delay=7,nth=4"));
        assert_int_equal(at(faults, 1, 0, 10), 0);
        /* Added later, but decided first: the bucket is left alone. */
        assert_int_equal(at(faults, 2, 1000000, 10), 503);
        assert_int_equal(at(faults, 3, 1000000, 5), 0); /* 10, then 5 */
        /* A delay from stage 1 is the request fault: the 429 is not
         * evaluated and takes no tokens; the messages go through. */
        assert_int_equal(at(faults, 4, 1000000, 10), 2);
        assert_int_equal(at(faults, 5, 1000000, 5), 0);
        assert_int_equal(at(faults, 6, 1000000, 1), 429);
        pmw_sim_faults_destroy(faults);

        /* Stage 1 alone never decides message faults nor stage-2 faults;
         * stage 2 does nothing after a fault that answers. */
        faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=422,error-code=403,rcpt=*"));
        pmw_sim_faults_add(faults, parse("message-error=406,next=2"));
        pmw_sim_decision_t d;
        pmw_sim_faults_decide(faults, 1, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 0);
        /* The request stopped at a check (a 401, say): no messages, so no
         * rcpt= fault, but message faults count it as before. */
        pmw_sim_faults_decide_messages(faults, 1, 0, NULL, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 1);
        pmw_sim_decision_cleanup(&d);
        fake_req_t req = {.rcpts = no_rcpts};
        decide(faults, 2, 0, 1, &req, &d);
        assert_int_equal(req.asked, 1);
        assert_int_equal(d.request->error_code, 403);
        assert_int_equal(d.n_messages, 0); /* next= of 406 not used */
        pmw_sim_faults_decide_messages(faults, 2, 0, NULL, &d);
        assert_int_equal(d.n_messages, 0);
        pmw_sim_decision_cleanup(&d);
        expect_list(faults,
                    "[{\"spec\":\"status=422,error-code=403,rcpt=*\","
                    "\"fired\":1,\"remaining\":null},"
                    "{\"spec\":\"message-error=406,next=2\","
                    "\"fired\":1,\"remaining\":1}]");
        pmw_sim_faults_destroy(faults);
}

static void test_rcpt_request_faults(void **state) {
        (void)state;
        pmw_sim_faults_t *faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults,
                           parse("status=422,error-code=403,rcpt=bad*@*,"
                                 "next=2"));
        pmw_sim_faults_add(faults, parse("message-error=406,rcpt=b*@*"));
        static const char *const good[]  = {"a@x.org", "c@bad.org", NULL};
        static const char *const mixed[] = {"a@x.org", "bad1@x.org", NULL};
        static const char *const bad2[]  = {"bad2@x.org", NULL};
        pmw_sim_decision_t d;
        fake_req_t m;

        /* No matching recipient: next= is not used; messages go on. */
        fake_req_t req = {.rcpts = good};
        decide(faults, 1, 0, 2, &req, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 1);
        assert_int_equal(req.asked, 1);
        pmw_sim_decision_cleanup(&d);
        expect_list(faults,
                    "[{\"spec\":\"status=422,error-code=403,"
                    "rcpt=bad*@*,next=2\",\"fired\":0,"
                    "\"remaining\":2},{\"spec\":\"message-error=406,"
                    "rcpt=b*@*\",\"fired\":1,\"remaining\":null}]");

        /* One matching recipient fails the whole request. */
        req = (fake_req_t) {.rcpts = mixed};
        decide(faults, 2, 0, 2, &req, &d);
        assert_non_null(d.request);
        assert_int_equal(d.request->status, 422);
        assert_int_equal(d.request->error_code, 403);
        assert_int_equal(d.n_messages, 0);
        pmw_sim_decision_cleanup(&d);

        /* A request that did not reach its messages is not asked. */
        decide(faults, 3, 0, 2, NULL, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 1);
        pmw_sim_decision_cleanup(&d);

        req = (fake_req_t) {.rcpts = bad2};
        decide(faults, 4, 0, 1, &req, &d);
        assert_int_equal(d.request->error_code, 403);
        pmw_sim_decision_cleanup(&d);
        /* next=2 is spent: a matching request goes through. */
        decide(faults, 5, 0, 1, &req, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 1);
        pmw_sim_decision_cleanup(&d);
        expect_list(faults,
                    "[{\"spec\":\"status=422,error-code=403,"
                    "rcpt=bad*@*,next=2\",\"fired\":2,"
                    "\"remaining\":0},{\"spec\":\"message-error=406,"
                    "rcpt=b*@*\",\"fired\":3,\"remaining\":null}]");
        pmw_sim_faults_destroy(faults);

        /* rcpt= and above= together: the bucket counts only requests with
         * a matching recipient; the first stage-2 fault that fires wins. */
        faults = pmw_sim_faults_new(1);
        pmw_sim_faults_add(faults, parse("status=429,rcpt=bad*@*,above=2"));
        pmw_sim_faults_add(faults, parse("drop,rcpt=*@x.org"));
        static const char *const neither[] = {"c@bad.org", NULL};
        static const char *const bad_y[]   = {"bad1@y.org", NULL};
        static const char *const x_only[]  = {"a@x.org", NULL};
        for (uint64_t r = 1; r <= 5; r++)
                assert_int_equal(at_rcpts(faults, r, 0, 3, neither), 0);
        assert_int_equal(at_rcpts(faults, 6, 0, 2, bad_y), 0); /* full */
        assert_int_equal(at_rcpts(faults, 7, 0, 1, bad_y), 429);
        assert_int_equal(at_rcpts(faults, 8, 0, 1, mixed), 429);
        assert_int_equal(at_rcpts(faults, 9, 0, 1, x_only), 1);
        m = (fake_req_t) {.rcpts = mixed};
        decide(faults, 10, 0, 1, &m, &d);
        assert_int_equal(d.request->status, 429);
        assert_int_equal(m.asked, 1); /* the drop was not evaluated */
        pmw_sim_decision_cleanup(&d);
        pmw_sim_faults_destroy(faults);
}

static unsigned count_fired(uint64_t seed, const char *spec, int n) {
        pmw_sim_faults_t *faults = pmw_sim_faults_new(seed);
        pmw_sim_faults_add(faults, parse(spec));
        unsigned fired = 0;
        for (int r = 1; r <= n; r++)
                fired += decide_kind(faults, (uint64_t)r) != 0;
        pmw_sim_faults_destroy(faults);
        return fired;
}

static void test_probability_is_seeded(void **state) {
        (void)state;
        /* Same seed, same sequence; the rate is near p. */
        unsigned a = count_fired(42, "status=429,p=0.1", 10000);
        unsigned b = count_fired(42, "status=429,p=0.1", 10000);
        assert_int_equal(a, b);
        assert_in_range(a, 900, 1100);
        unsigned c = count_fired(43, "status=429,p=0.1", 10000);
        assert_in_range(c, 900, 1100);
        assert_true(a != c || count_fired(44, "status=429,p=0.1", 10000) != a);
        assert_int_equal(count_fired(7, "status=429,p=1", 100), 100);

        /* The exact pattern repeats with the seed. */
        pmw_sim_faults_t *f1 = pmw_sim_faults_new(99);
        pmw_sim_faults_t *f2 = pmw_sim_faults_new(99);
        pmw_sim_faults_add(f1, parse("drop,p=0.5"));
        pmw_sim_faults_add(f2, parse("drop,p=0.5"));
        for (uint64_t r = 1; r <= 64; r++)
                assert_int_equal(decide_kind(f1, r), decide_kind(f2, r));
        pmw_sim_faults_destroy(f1);
        pmw_sim_faults_destroy(f2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_actions),
            cmocka_unit_test(test_parse_rcpt_and_above),
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_sequencing),
            cmocka_unit_test(test_message_faults),
            cmocka_unit_test(test_probability_is_seeded),
            cmocka_unit_test(test_above_bucket),
            cmocka_unit_test(test_above_debt),
            cmocka_unit_test(test_above_with_triggers),
            cmocka_unit_test(test_stages),
            cmocka_unit_test(test_rcpt_request_faults),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
