/*
 * End-to-end tests of postmark-worker, with every process separate: the
 * mock-broker binary (Kafka), postmark-sim (Postmark) and the worker, on
 * loopback with free ports. The test produces jobs, reads back the status
 * and dead-letter topics and the simulator's record of what it accepted,
 * and checks CONTRACT.md 2 and 3 on them.
 *
 * argv: postmark-worker postmark-sim mock-broker
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/defs.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/worker_env.h"

static const char *worker_bin, *sim_bin, *broker_bin;

#define JOBS   PMW_WENV_JOBS
#define STATUS PMW_WENV_STATUS
#define DLQ    PMW_WENV_DLQ

typedef pmw_wenv_t env_t;

static int setup(void **state) {
        env_t *env         = pmw_wenv_new(worker_bin, sim_bin, broker_bin);
        const char *args[] = {"--partitions", "4",      JOBS,
                              STATUS,         DLQ ":2", NULL};
        pmw_wenv_start_broker(env, args);
        *state = env;
        return 0;
}

static int teardown(void **state) {
        pmw_wenv_free(*state);
        return 0;
}

/* The one worker of these tests. */
static void start_worker(env_t *env, const char *const *extra) {
        pmw_wenv_start_worker(env, 0, extra);
}

static int stop_worker(env_t *env) {
        return pmw_wenv_stop_worker(env, 0);
}

/* Reads a topic: at least expect records, then 2 s without more, so late
 * duplicates are caught too. */
static pmw_ktest_records_t *
read_topic(env_t *env, const char *topic, size_t expect, int timeout_ms) {
        return pmw_wenv_read_topic(env, topic, expect, 2000, timeout_ms);
}

/*
 * Jobs.
 */

typedef struct job_spec_s {
        const char *job_id; /* NULL: no job-id header */
        const char *value;
        const char *key; /* NULL: no key */
        const char *server;
        const char *expires;
        const char *status; /* expected */
        int error_code;     /* expected; -2: don't check */
} job_spec_t;

static void produce_job(env_t *env, const job_spec_t *j) {
        const char *hdrs[16];
        size_t n = 0;
        if (j->job_id) {
                hdrs[n++] = "job-id";
                hdrs[n++] = j->job_id;
        }
        if (j->server) {
                hdrs[n++] = "postmark-server";
                hdrs[n++] = j->server;
        }
        if (j->expires) {
                hdrs[n++] = "expires-at";
                hdrs[n++] = j->expires;
        }
        hdrs[n++] = "x-trace";
        hdrs[n++] = "trace-1";
        hdrs[n]   = NULL;
        pmw_wenv_check(pmw_ktest_produce(env->producer, JOBS, -1, j->key,
                                         j->key ? strlen(j->key) : 0, j->value,
                                         strlen(j->value), hdrs),
                       "produce");
}

/* Index of the status record for job_id, checking there is exactly one. */
static json_t *status_of(json_t **statuses, size_t cnt, const char *job_id) {
        json_t *found = NULL;
        for (size_t i = 0; i < cnt; i++) {
                if (strcmp(pmw_wenv_jstr(statuses[i], "job_id"), job_id))
                        continue;
                if (found)
                        fail_msg("two status records for %s", job_id);
                found = statuses[i];
        }
        if (!found)
                fail_msg("no status record for %s", job_id);
        return found;
}

static void test_mixed_jobs(void **state) {
        env_t *env = *state;
        char expired[64], later[64];
        pmw_time_format_rfc3339_ms(pmw_clock_wall_ms() - 60000, expired);
        pmw_time_format_rfc3339_ms(pmw_clock_wall_ms() + 3600000, later);
        char long_id[300];
        memset(long_id, 'x', 257);
        long_id[257] = '\0';
        char many[51 * 24 + 64];
        size_t used = 0;
        for (int i = 0; i < 51; i++)
                used += (size_t)snprintf(many + used, sizeof(many) - used,
                                         "%sr%d@example.org", i ? "," : "", i);
        char many_job[2048];
        snprintf(many_job, sizeof(many_job),
                 "{\"From\":\"s@example.com\",\"To\":\"%s\","
                 "\"TextBody\":\"x\"}",
                 many);
        char subject[2002];
        memset(subject, 'S', 2001);
        subject[2001] = '\0';
        char long_subject[2200];
        snprintf(long_subject, sizeof(long_subject),
                 "{\"From\":\"s@example.com\",\"To\":\"a@example.org\","
                 "\"TextBody\":\"x\",\"Subject\":\"%s\"}",
                 subject);

        const job_spec_t jobs[] = {
            {"j-plain",
             "{\"From\":\"Shop "
             "<shop@example.com>\",\"To\":\"alice@example.org\","
             "\"Subject\":\"Hi\",\"HtmlBody\":\"<p>Hi</"
             "p>\",\"TextBody\":\"Hi\","
             "\"Metadata\":{\"order\":\"1\"},\"TrackLinks\":\"HtmlOnly\"}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-snake",
             "{\"sender\":\"shop@example.com\",\"to\":\"bob@example.org\","
             "\"subject\":\"Hi\",\"text_body\":\"Hi\",\"track_opens\":true,"
             "\"metadata\":{\"a\":\"b\"},\"message_stream\":\"outbound\"}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-template",
             "{\"From\":\"shop@example.com\",\"To\":\"carol@example.org\","
             "\"TemplateAlias\":\"welcome\",\"TemplateModel\":{\"name\":"
             "\"Carol\",\"price\":19.99}}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-template-id",
             "{\"sender\":\"shop@example.com\",\"to\":\"dan@example.org\","
             "\"template_id\":4242,\"template_model\":{\"n\":1}}",
             NULL, NULL, NULL, "sent", 0},
            {"j-no-template",
             "{\"From\":\"shop@example.com\",\"To\":\"erin@example.org\","
             "\"TemplateAlias\":\"nosuch\",\"TemplateModel\":{}}",
             NULL, NULL, NULL, "failed", 1101},
            {"j-attach",
             "{\"From\":\"shop@example.com\",\"To\":\"frank@example.org\","
             "\"TextBody\":\"see attached\",\"Attachments\":[{\"Name\":"
             "\"a.txt\",\"Content\":\"aGVsbG8=\",\"ContentType\":"
             "\"text/plain\"}],\"Headers\":[{\"name\":\"X-A\",\"value\":"
             "\"1\"}]}",
             "customer-8", NULL, NULL, "sent", 0},
            {"j-inactive",
             "{\"From\":\"shop@example.com\",\"To\":\"inactive1@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "failed", 406},
            {"j-partial-inactive",
             "{\"From\":\"shop@example.com\",\"To\":\"gina@example.org, "
             "inactive2@example.org\",\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "sent", 406},
            {"j-stream",
             "{\"From\":\"shop@example.com\",\"To\":\"hal@example.org\","
             "\"TextBody\":\"x\",\"MessageStream\":\"nosuchstream\"}",
             NULL, NULL, NULL, "failed", 1235},
            {"j-billing",
             "{\"From\":\"billing@example.com\",\"To\":"
             "\"ivy@example.org\",\"TextBody\":\"invoice\"}",
             "customer-9", "billing", NULL, "sent", 0},
            {"j-later",
             "{\"From\":\"otp@example.com\",\"To\":"
             "\"jo@example.org\",\"TextBody\":\"code 1234\"}",
             NULL, NULL, later, "sent", 0},
            {"j-expired",
             "{\"From\":\"otp@example.com\",\"To\":"
             "\"kim@example.org\",\"TextBody\":\"code 9\"}",
             NULL, NULL, expired, "expired", -1},
            /* Every invalid kind of CONTRACT 2.2. */
            {"j-not-json", "this is not json", "customer-7", NULL, NULL,
             "rejected", 402},
            {"j-array", "[1,2]", NULL, NULL, NULL, "rejected", 402},
            {"j-unknown-field",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"Colour\":\"red\"}",
             NULL, NULL, NULL, "rejected", 403},
            {"j-wrong-type",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"TrackOpens\":\"yes\"}",
             NULL, NULL, NULL, "rejected", 403},
            {"j-no-from", "{\"To\":\"b@example.org\",\"TextBody\":\"x\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-no-to", "{\"From\":\"a@example.com\",\"TextBody\":\"x\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-no-body",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-51", many_job, NULL, NULL, NULL, "rejected", 300},
            {"j-long-subject", long_subject, NULL, NULL, NULL, "rejected", 300},
            {"j-bad-base64",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"Attachments\":[{\"Name\":\"a\","
             "\"Content\":\"@@@\",\"ContentType\":\"text/plain\"}]}",
             NULL, NULL, NULL, "rejected", 300},
            {"j-tracklinks",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"TrackLinks\":\"Sometimes\"}",
             NULL, NULL, NULL, "rejected", 300},
            {"j-unknown-server",
             "{\"From\":\"a@example.com\",\"To\":"
             "\"b@example.org\",\"TextBody\":\"x\"}",
             NULL, "nosuchserver", NULL, "rejected", 300},
            {"j-bad-expiry",
             "{\"From\":\"a@example.com\",\"To\":"
             "\"b@example.org\",\"TextBody\":\"x\"}",
             NULL, NULL, "tomorrow", "rejected", 300},
            {long_id,
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "rejected", 300},
            {NULL,
             "{\"From\":\"a@example.com\",\"To\":\"noid@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "sent", 0},
        };
        size_t n = PMW_ARRAY_LEN(jobs);
        /* And 40 jobs sharing a key. */
        size_t extra = 40;
        char ids[40][32];

        const char *sim_args[] = {"--token", "server-token-default", "--token",
                                  "server-token-billing", NULL};
        pmw_wenv_start_sim(env, sim_args);
        for (size_t i = 0; i < n; i++)
                produce_job(env, &jobs[i]);
        for (size_t i = 0; i < extra; i++) {
                snprintf(ids[i], sizeof(ids[i]), "j-shared-%zu", i);
                char to[64];
                snprintf(to, sizeof(to), "shared%zu@example.org", i);
                char *v         = pmw_wenv_plain_job(to, (int)i);
                job_spec_t spec = {ids[i], v, "customer-1", NULL, NULL,
                                   "sent", 0};
                produce_job(env, &spec);
                free(v);
        }
        pmw_wenv_check(pmw_ktest_flush(env->producer, 20000), "flush jobs");

        start_worker(env, NULL);
        size_t total              = n + extra;
        pmw_ktest_records_t *recs = read_topic(env, STATUS, total, 90000);
        assert_int_equal(stop_worker(env), 0);

        pmw_ktest_records_t *src = read_topic(env, JOBS, total, 30000);
        pmw_ktest_records_t *dlq = read_topic(env, DLQ, 0, 30000);
        pmw_wenv_sends_t *sends  = pmw_wenv_read_sends(env);

        print_message("%zu jobs, %zu status records, %zu dead letters\n", total,
                      recs->cnt, dlq->cnt);
        assert_int_equal(recs->cnt, total);
        assert_int_equal(src->cnt, total);
        json_t **st = calloc(recs->cnt, sizeof(*st));
        for (size_t i = 0; i < recs->cnt; i++) {
                st[i] = pmw_wenv_parse(&recs->v[i]);
                /* key = job id */
                assert_string_equal(recs->v[i].key,
                                    pmw_wenv_jstr(st[i], "job_id"));
        }

        size_t dead = 0;
        for (size_t i = 0; i < n + extra; i++) {
                const job_spec_t *j     = i < n ? &jobs[i] : NULL;
                const char *want_status = j ? j->status : "sent";
                int want_code           = j ? j->error_code : 0;
                /* Find the source record to know partition and offset. */
                const pmw_ktest_record_t *rec = NULL;
                const char *id                = j ? j->job_id : ids[i - n];
                for (size_t k = 0; k < src->cnt && !rec; k++) {
                        const char *h = pmw_ktest_header(&src->v[k], "job-id");
                        if (id ? (h && !strcmp(h, id))
                               : (!h &&
                                  strstr(src->v[k].value, "noid@example.org")))
                                rec = &src->v[k];
                }
                assert_non_null(rec);
                char derived[128];
                snprintf(derived, sizeof(derived), JOBS ":%d:%lld",
                         (int)rec->partition, (long long)rec->offset);
                const char *job_id = id && strlen(id) <= 256 ? id : derived;
                json_t *s          = status_of(st, recs->cnt, job_id);

                if (strcmp(pmw_wenv_jstr(s, "status"), want_status))
                        fail_msg("%s: status %s, expected %s (%s)", job_id,
                                 pmw_wenv_jstr(s, "status"), want_status,
                                 pmw_wenv_jstr(s, "message"));
                if (want_code != -2 &&
                    pmw_wenv_jint(s, "error_code") != want_code)
                        fail_msg("%s: error_code %lld, expected %d (%s)",
                                 job_id,
                                 (long long)pmw_wenv_jint(s, "error_code"),
                                 want_code, pmw_wenv_jstr(s, "message"));
                assert_string_equal(pmw_wenv_jstr(s, "topic"), JOBS);
                assert_int_equal(pmw_wenv_jint(s, "partition"), rec->partition);
                assert_int_equal(pmw_wenv_jint(s, "offset"), rec->offset);
                char enq[PMW_RFC3339_MS_SIZE];
                pmw_time_format_rfc3339_ms(rec->timestamp, enq);
                assert_string_equal(pmw_wenv_jstr(s, "enqueued_at"), enq);
                assert_true(strcmp(pmw_wenv_jstr(s, "completed_at"), enq) >= 0);
                assert_string_equal(pmw_wenv_jstr(s, "server"),
                                    j && j->server ? j->server : "default");
                json_t *key = json_object_get(s, "key");
                if (rec->has_key)
                        assert_string_equal(json_string_value(key), rec->key);
                else
                        assert_true(json_is_null(key));
                bool sent     = !strcmp(want_status, "sent");
                bool was_sent = sent || !strcmp(want_status, "failed");
                assert_int_equal(pmw_wenv_jint(s, "attempts"),
                                 was_sent ? 1 : 0);
                if (was_sent)
                        assert_int_equal(pmw_wenv_jint(s, "http_status"), 200);
                else
                        assert_true(
                            json_is_null(json_object_get(s, "http_status")));
                if (sent) {
                        assert_true(
                            json_is_string(json_object_get(s, "message_id")));
                        assert_true(
                            json_is_string(json_object_get(s, "submitted_at")));
                        const char *token = NULL;
                        assert_int_equal(
                            pmw_wenv_sends_of(sends, job_id, &token), 1);
                        assert_string_equal(
                            token, j && j->server ? "server-token-billing"
                                                  : "server-token-default");
                } else {
                        assert_true(
                            json_is_null(json_object_get(s, "message_id")));
                        if (!strcmp(want_status, "failed"))
                                assert_int_equal(
                                    pmw_wenv_sends_of(sends, job_id, NULL), 0);
                }
                assert_string_equal(pmw_wenv_jstr(s, "stream"),
                                    j && strstr(j->value, "nosuchstream")
                                        ? "nosuchstream"
                                        : "outbound");
                if (!sent) {
                        dead++;
                        /* Its dead-letter record: original key, value and
                         * headers, plus the pmw-* headers. */
                        const pmw_ktest_record_t *d = NULL;
                        for (size_t k = 0; k < dlq->cnt; k++) {
                                const char *src_h =
                                    pmw_ktest_header(&dlq->v[k], "pmw-source");
                                if (src_h && !strcmp(src_h, derived)) {
                                        assert_null(d);
                                        d = &dlq->v[k];
                                }
                        }
                        if (!d)
                                fail_msg("%s: no dead-letter record", job_id);
                        assert_int_equal(d->len, rec->len);
                        assert_memory_equal(d->value, rec->value, rec->len);
                        assert_int_equal(d->has_key, rec->has_key);
                        if (rec->has_key)
                                assert_string_equal(d->key, rec->key);
                        assert_string_equal(pmw_ktest_header(d, "pmw-status"),
                                            want_status);
                        char code[16];
                        snprintf(code, sizeof(code), "%d", want_code);
                        assert_string_equal(
                            pmw_ktest_header(d, "pmw-error-code"), code);
                        assert_string_equal(pmw_ktest_header(d, "x-trace"),
                                            "trace-1");
                        assert_non_null(pmw_ktest_header(d, "pmw-error"));
                        assert_non_null(pmw_ktest_header(d, "pmw-attempts"));
                }
        }
        assert_int_equal(dlq->cnt, dead);

        for (size_t i = 0; i < recs->cnt; i++)
                json_decref(st[i]);
        free(st);
        pmw_ktest_records_free(recs);
        pmw_ktest_records_free(src);
        pmw_ktest_records_free(dlq);
        pmw_wenv_sends_free(sends);
}

static void test_restart_does_not_redo_committed(void **state) {
        env_t *env = *state;
        pmw_wenv_start_sim(env, NULL);
        pmw_wenv_produce_plain(env, "first", 100, 0);
        start_worker(env, NULL);
        pmw_ktest_records_t *recs = read_topic(env, STATUS, 100, 60000);
        assert_int_equal(recs->cnt, 100);
        pmw_ktest_records_free(recs);
        assert_int_equal(stop_worker(env), 0);

        start_worker(env, NULL);
        pmw_wenv_produce_plain(env, "second", 50, 0);
        recs               = read_topic(env, STATUS, 150, 60000);
        pmw_wenv_tally_t t = pmw_wenv_tally(recs);
        assert_int_equal(stop_worker(env), 0);
        print_message("after restart: %zu records, %zu jobs, %zu duplicated\n",
                      t.records, t.jobs, t.duplicated);
        assert_int_equal(t.records, 150);
        assert_int_equal(t.jobs, 150);
        assert_int_equal(t.duplicated, 0);
        pmw_ktest_records_free(recs);
}

/* Stops the worker mid-flow with sig; a second worker finishes the rest. */
static pmw_wenv_tally_t
interrupt_and_finish(env_t *env, int sig, size_t count) {
        /* 60 batches of 50, 16 at a time, a second each: about 4 s. */
        const char *sim_args[] = {"--latency-ms", "1000", NULL};
        pmw_wenv_start_sim(env, sim_args);
        pmw_wenv_produce_plain(env, "flow", count, 0);
        const char *opts[] = {"--set", "batch.max_messages=50", NULL};
        start_worker(env, opts);
        /* Let it get going: some statuses out, most not. */
        pmw_ktest_records_t *recs =
            pmw_wenv_read_topic(env, STATUS, 1200, 1, 60000);
        size_t before = recs->cnt;
        pmw_ktest_records_free(recs);
        /* Mid-flow, or the test tests no interruption. */
        assert_true(before > 0 && before < count);
        int64_t t0 = pmw_clock_mono_us();
        if (sig == SIGKILL)
                kill(pmw_wenv_worker_pid(env, 0), SIGKILL);
        int rc = stop_worker(env);
        print_message(
            "stopped with signal %d after %zu statuses: exit %d in "
            "%lld ms\n",
            sig, before, rc, (long long)(pmw_clock_mono_us() - t0) / 1000);
        if (sig == SIGTERM)
                assert_int_equal(rc, 0);
        else
                assert_int_equal(rc, 128 + SIGKILL);
        int64_t committed[4];
        pmw_wenv_check(pmw_ktest_committed(env->bootstrap, "postmark-worker",
                                           JOBS, committed, 4, 10000),
                       "committed offsets");
        print_message("committed offsets: %lld %lld %lld %lld\n",
                      (long long)committed[0], (long long)committed[1],
                      (long long)committed[2], (long long)committed[3]);

        start_worker(env, opts);
        recs               = read_topic(env, STATUS, count, 120000);
        pmw_wenv_tally_t t = pmw_wenv_tally(recs);
        assert_int_equal(stop_worker(env), 0);
        pmw_ktest_records_free(recs);
        print_message(
            "%zu jobs: %zu status records, %zu jobs with a status, "
            "%zu with more than one\n",
            count, t.records, t.jobs, t.duplicated);
        assert_int_equal(t.jobs, count);
        assert_int_equal(t.sent, t.records);
        return t;
}

static void test_sigterm_mid_flow(void **state) {
        env_t *env         = *state;
        pmw_wenv_tally_t t = interrupt_and_finish(env, SIGTERM, 3000);
        /* A graceful stop finishes and commits what it started. */
        assert_int_equal(t.duplicated, 0);
        assert_int_equal(t.records, 3000);
}

static void test_sigkill_mid_flow(void **state) {
        env_t *env = *state;
        /* Duplicates of the jobs in flight at the kill are allowed
         * (CONTRACT 3.2), not of jobs finished well before it: at most
         * max_in_flight (16) requests of 50, plus a batch being filled and
         * what finished during the last 100 ms commit interval. */
        pmw_wenv_tally_t t = interrupt_and_finish(env, SIGKILL, 3000);
        assert_true(t.duplicated <= 16 * 50 + 200);
}

static void test_faults_and_latency_all_sent(void **state) {
        env_t *env             = *state;
        const char *sim_args[] = {"--latency-ms",
                                  "30",
                                  "--seed",
                                  "5",
                                  "--fault",
                                  "status=503,p=0.2",
                                  "--fault",
                                  "status=429,p=0.1",
                                  "--fault",
                                  "status=500,nth=3",
                                  NULL};
        pmw_wenv_start_sim(env, sim_args);
        pmw_wenv_produce_plain(env, "fault", 2000, 0);
        const char *opts[] = {"--set", "batch.max_messages=50", NULL};
        start_worker(env, opts);
        pmw_ktest_records_t *recs = read_topic(env, STATUS, 2000, 120000);
        assert_int_equal(stop_worker(env), 0);
        pmw_wenv_tally_t t = pmw_wenv_tally(recs);
        size_t retried     = 0;
        for (size_t i = 0; i < recs->cnt; i++)
                retried += strstr(recs->v[i].value, "\"attempts\":1,") == NULL;
        print_message(
            "%zu records, %zu sent, %zu needed more than one "
            "attempt\n",
            t.records, t.sent, retried);
        assert_int_equal(t.records, 2000);
        assert_int_equal(t.jobs, 2000);
        assert_int_equal(t.sent, 2000);
        assert_true(retried > 0);
        pmw_ktest_records_free(recs);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: %s POSTMARK_WORKER POSTMARK_SIM MOCK_BROKER\n",
                        argv[0]);
                return 2;
        }
        worker_bin = argv[1];
        sim_bin    = argv[2];
        broker_bin = argv[3];
        curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
            T(test_mixed_jobs),
            T(test_restart_does_not_redo_committed),
            T(test_sigterm_mid_flow),
            T(test_sigkill_mid_flow),
            T(test_faults_and_latency_all_sent),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
