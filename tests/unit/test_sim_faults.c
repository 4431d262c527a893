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
            {"status=503,rcpt=a*",
             "fault 'status=503,rcpt=a*': rcpt= and "
             "index= go with message-error="},
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

/* The kind of request fault applied to request reqno; 0 for none. */
static int decide_kind(pmw_sim_faults_t *faults, uint64_t reqno) {
        pmw_sim_decision_t d;
        pmw_sim_faults_decide(faults, reqno, &d);
        int kind =
            d.request ? (int)d.request->kind * 1000 + d.request->status : 0;
        pmw_sim_decision_cleanup(&d);
        return kind;
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
        pmw_sim_faults_decide(faults, 1, &d);
        assert_null(d.request);
        assert_int_equal(d.n_messages, 2);
        assert_int_equal(d.messages[0]->error_code, 406);
        assert_string_equal(d.messages[0]->rcpt, "b*@*");
        assert_int_equal(d.messages[1]->index, 1);
        pmw_sim_decision_cleanup(&d);

        /* A delay lets the messages through; next=1 is used up. */
        pmw_sim_faults_decide(faults, 2, &d);
        assert_non_null(d.request);
        assert_int_equal(d.request->kind, PMW_SIM_FAULT_DELAY);
        assert_int_equal(d.request->delay_ms, 50);
        assert_int_equal(d.n_messages, 1);
        assert_int_equal(d.messages[0]->error_code, 406);
        pmw_sim_decision_cleanup(&d);

        /* A status fault answers for the request: no message faults. */
        pmw_sim_faults_decide(faults, 3, &d);
        assert_int_equal(d.request->status, 500);
        assert_int_equal(d.n_messages, 0);
        pmw_sim_decision_cleanup(&d);

        /* Decisions are copies: clearing does not affect them. */
        pmw_sim_faults_decide(faults, 4, &d);
        pmw_sim_faults_clear(faults);
        assert_int_equal(d.n_messages, 1);
        assert_string_equal(d.messages[0]->spec, "message-error=406,rcpt=b*@*");
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
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_sequencing),
            cmocka_unit_test(test_message_faults),
            cmocka_unit_test(test_probability_is_seeded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
