/*
 * Integration test: pmw-kafka (tests/kafka-tool) against the mock-broker
 * binary. Arguments: the paths of pmw-kafka and mock-broker.
 *
 * The tool runs under /bin/sh (so a test can pipe consume into produce, or
 * merge stderr into stdout with 2>&1 to check the messages); records are
 * also produced and read back with tests/integration/kafka_util.h to check
 * what reached Kafka independently of the tool. Each test starts its own
 * broker. Exit statuses are checked exactly, which under the sanitizers
 * also means: no leak and no error in the tool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/mem.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/proc.h"
#include "tests/integration/testutil.h"

#define MAX_LINES 64

static const char *tool_path;
static const char *broker_path;

typedef pmw_test_broker_t broker_t;

/* One run of a shell script: its exit status and its stdout lines. */
typedef struct run_s {
        int status;
        char *lines[MAX_LINES];
        size_t cnt;
        int64_t elapsed_ms;
} run_t;


static void start_broker(broker_t *b, const char *const *topics) {
        pmw_test_start_broker(broker_path, topics, &b->proc, b->bootstrap,
                              sizeof(b->bootstrap));
}

static void run_free(run_t *r) {
        for (size_t i = 0; i < r->cnt; i++)
                free(r->lines[i]);
        r->cnt = 0;
}

/*
 * Runs `sh -c script` with $1 = pmw-kafka and $2 = bootstrap, writes the
 * input lines to its stdin and closes it, collects its stdout lines and
 * waits for its exit.
 */
static void run(const char *script,
                const char *bootstrap,
                const char *const *input,
                run_t *r) {
        const char *argv[] = {"/bin/sh", "-c",      script,
                              "sh",      tool_path, bootstrap ? bootstrap : "",
                              NULL};
        memset(r, 0, sizeof(*r));
        int64_t t0       = pmw_clock_mono_us();
        pmw_proc_t *proc = NULL;
        pmw_test_check(pmw_proc_start(argv, &proc));
        /* A write may fail when the tool stopped reading early (a bad
         * line) and exited: its status tells. */
        for (size_t i = 0; input && input[i]; i++)
                pmw_error_destroy(pmw_proc_write_line(proc, input[i]));
        pmw_proc_close_stdin(proc);
        char line[4096];
        for (;;) {
                pmw_error_t *err =
                    pmw_proc_read_line(proc, 60000, line, sizeof(line));
                if (err) { /* end of output (or a hang: see the status) */
                        pmw_error_destroy(err);
                        break;
                }
                if (r->cnt == MAX_LINES) {
                        pmw_proc_stop(proc, 10000);
                        fail_msg("more than %d lines from: %s", MAX_LINES,
                                 script);
                }
                r->lines[r->cnt++] = pmw_strdup(line);
        }
        r->status     = pmw_proc_wait(proc, 60000);
        r->elapsed_ms = (pmw_clock_mono_us() - t0) / 1000;
        printf("[%d, %lld ms, %zu lines] %s\n", r->status,
               (long long)r->elapsed_ms, r->cnt, script);
}

/* The run printed exactly these lines. */
static void expect_lines(const run_t *r, const char *const *expect) {
        size_t n = 0;
        while (expect[n])
                n++;
        for (size_t i = 0; i < r->cnt; i++)
                printf("  got: %s\n", r->lines[i]);
        assert_int_equal(r->cnt, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(r->lines[i], expect[i]);
}

/* Some line of the run contains s. */
static void expect_in_output(const run_t *r, const char *s) {
        for (size_t i = 0; i < r->cnt; i++)
                if (strstr(r->lines[i], s))
                        return;
        for (size_t i = 0; i < r->cnt; i++)
                printf("  got: %s\n", r->lines[i]);
        fail_msg("no line contains: %s", s);
}

static void format_ts(const pmw_ktest_record_t *rec, char *ts) {
        assert_true(rec->timestamp > 0);
        pmw_time_format_rfc3339_ms(rec->timestamp, ts);
}

/* Records with keys, headers (both forms, duplicates, null values, an
 * empty name), null and empty values, JSON values, NUL bytes, explicit
 * partitions: produced by the tool, read back by the tool, compared line
 * by line; and what reached Kafka checked with kafka_util. */
static void test_produce_consume(void **state) {
        broker_t *b = *state;
        start_broker(b, (const char *const[]) {"t:2", NULL});

        run_t r;
        run("\"$1\" produce -b \"$2\" -t t 2>&1", b->bootstrap,
            (const char *const[]) {
                "{\"partition\":1,\"key\":\"k1\",\"value\":\"v1\","
                "\"headers\":{\"job-id\":\"j-1\","
                "\"expires-at\":\"2030-01-01T00:00:00Z\"}}",
                "{\"partition\":0,\"key\":\"k2\",\"value\":{\"To\": "
                "\"a@example.com\", \"n\": 1.50},"
                "\"headers\":[[\"h\",\"1\"],[\"h\",\"2\"],[\"nul\",null]]}",
                "", "{\"partition\":1,\"value\":null,\"key\":\"\"}",
                "{\"partition\":0,\"key\":\"bin\\u0000\","
                "\"value\":\"line\\nbreak \\\"q\\\" \\u00e9\",\"headers\":[]}",
                "{\"partition\":1,\"key\":\"k6\",\"value\":\"\","
                "\"headers\":{\"\":\"empty name\"}}",
                NULL},
            &r);
        assert_int_equal(r.status, 0);
        expect_lines(&r,
                     (const char *const[]) {"produced 5 records to t", NULL});
        run_free(&r);

        /* What Kafka holds, for the offsets' timestamps. */
        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(
            pmw_ktest_consume_all(b->bootstrap, "t", 5, 300, 20000, &rec));
        assert_int_equal(rec->cnt, 5);
        char ts[5][PMW_RFC3339_MS_SIZE];
        for (size_t i = 0; i < 5; i++)
                format_ts(&rec->v[i], ts[i]);
        /* NUL bytes in a key, null versus empty. */
        assert_int_equal(rec->v[1].key_len, 4);
        assert_memory_equal(rec->v[1].key, "bin\0", 4);
        assert_true(rec->v[3].has_key);
        assert_int_equal(rec->v[3].key_len, 0);
        assert_null(rec->v[3].value);
        assert_non_null(rec->v[4].value);
        assert_int_equal(rec->v[4].len, 0);
        assert_null(rec->v[0].headers[2].value);
        pmw_ktest_records_free(rec);

        char expect[5][1024];
        snprintf(expect[0], sizeof(expect[0]),
                 "{\"topic\":\"t\",\"partition\":0,\"offset\":0,"
                 "\"timestamp\":\"%s\",\"key\":\"k2\","
                 "\"value\":\"{\\\"To\\\":\\\"a@example.com\\\","
                 "\\\"n\\\":1.5}\",\"headers\":[[\"h\",\"1\"],[\"h\",\"2\"],"
                 "[\"nul\",null]]}",
                 ts[0]);
        snprintf(expect[1], sizeof(expect[1]),
                 "{\"topic\":\"t\",\"partition\":0,\"offset\":1,"
                 "\"timestamp\":\"%s\",\"key\":\"bin\\u0000\","
                 "\"value\":\"line\\nbreak \\\"q\\\" \xc3\xa9\","
                 "\"headers\":[]}",
                 ts[1]);
        snprintf(expect[2], sizeof(expect[2]),
                 "{\"topic\":\"t\",\"partition\":1,\"offset\":0,"
                 "\"timestamp\":\"%s\",\"key\":\"k1\",\"value\":\"v1\","
                 "\"headers\":[[\"job-id\",\"j-1\"],"
                 "[\"expires-at\",\"2030-01-01T00:00:00Z\"]]}",
                 ts[2]);
        snprintf(expect[3], sizeof(expect[3]),
                 "{\"topic\":\"t\",\"partition\":1,\"offset\":1,"
                 "\"timestamp\":\"%s\",\"key\":\"\",\"value\":null,"
                 "\"headers\":[]}",
                 ts[3]);
        snprintf(expect[4], sizeof(expect[4]),
                 "{\"topic\":\"t\",\"partition\":1,\"offset\":2,"
                 "\"timestamp\":\"%s\",\"key\":\"k6\",\"value\":\"\","
                 "\"headers\":[[\"\",\"empty name\"]]}",
                 ts[4]);
        run("\"$1\" consume -b \"$2\" -t t -n 5 -q 300", b->bootstrap, NULL,
            &r);
        assert_int_equal(r.status, 0);
        expect_lines(&r, (const char *const[]) {expect[0], expect[1], expect[2],
                                                expect[3], expect[4], NULL});
        run_free(&r);

        /* -j: the JSON value is embedded; the others stay strings. */
        run("\"$1\" consume --brokers=\"$2\" --topic t --json-value -q 300",
            b->bootstrap, NULL, &r);
        assert_int_equal(r.status, 0);
        snprintf(expect[0], sizeof(expect[0]),
                 "{\"topic\":\"t\",\"partition\":0,\"offset\":0,"
                 "\"timestamp\":\"%s\",\"key\":\"k2\","
                 "\"value\":{\"To\":\"a@example.com\",\"n\":1.5},"
                 "\"headers\":[[\"h\",\"1\"],[\"h\",\"2\"],[\"nul\",null]]}",
                 ts[0]);
        expect_lines(&r, (const char *const[]) {expect[0], expect[1], expect[2],
                                                expect[3], expect[4], NULL});
        run_free(&r);
        pmw_test_broker_stop(b);
}

/* Keys, values and header values that are not UTF-8: each invalid byte is
 * printed as U+FFFD (documented in consume --help). */
static void test_binary(void **state) {
        broker_t *b = *state;
        start_broker(b, (const char *const[]) {"bin:1", NULL});
        pmw_ktest_producer_t *p = NULL;
        pmw_test_check(pmw_ktest_producer_new(b->bootstrap, NULL, &p));
        const char *const headers[] = {"h\x01", "\xc3(", NULL};
        pmw_test_check(pmw_ktest_produce(p, "bin", 0, "\xff\xfe", 2, "a\x80\0b",
                                         4, headers));
        pmw_test_check(pmw_ktest_flush(p, 20000));
        pmw_ktest_producer_destroy(p);

        run_t r;
        run("\"$1\" consume -b \"$2\" -t bin -n 1 -q 300 -j", b->bootstrap,
            NULL, &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.cnt, 1);
        const char *line = r.lines[0];
        assert_non_null(strstr(line,
                               "\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\","
                               "\"value\":\"a\xef\xbf\xbd\\u0000b\","
                               "\"headers\":[[\"h\\u0001\","
                               "\"\xef\xbf\xbd(\"]]}"));
        run_free(&r);
        pmw_test_broker_stop(b);
}

/* A record of the dead-letter topic as the worker writes it. */
typedef struct dlq_rec_s {
        int32_t partition;
        const char *key; /* NULL: none */
        const char *value;
        const char *headers[16];
} dlq_rec_t;

static const dlq_rec_t dlq[] = {
    {0,
     "customer-1",
     "{\"From\":\"a@example.com\",\"To\":\"b@example.com\",\"Subject\":\"s\"}",
     {"job-id", "j-1", "pmw-error-code", "300", "pmw-error",
      "Invalid 'To' address", "pmw-status", "failed", "pmw-source",
      "email.jobs:0:11", "pmw-attempts", "1", NULL}},
    {1,
     NULL,
     "{\n  \"From\": \"a@example.com\",\n  \"To\": \"c@example.com\"\n}",
     {"postmark-server", "eu", "pmw-error-code", "300", "pmw-status",
      "rejected", NULL}},
    {2,
     "customer-1",
     "not json at all",
     {"job-id", "j-3", "job-id", "j-3-dup", "pmw-status", "rejected", NULL}},
    {3,
     "",
     "{\"To\":\"\\u00e9@example.com\"}",
     {"expires-at", "2026-01-01T00:00:00Z", "pmw-status", "expired", NULL}},
    {0, "customer-2", "", {NULL}},
    {3, "customer-3", "{\"n\":1.50}", {"empty", "", NULL}},
};

static const pmw_ktest_record_t *find_value(const pmw_ktest_records_t *rec,
                                            const char *value) {
        const pmw_ktest_record_t *found = NULL;
        for (size_t i = 0; i < rec->cnt; i++)
                if (rec->v[i].value && strcmp(rec->v[i].value, value) == 0) {
                        assert_null(found); /* each value once */
                        found = &rec->v[i];
                }
        assert_non_null(found);
        return found;
}

/* consume email.dlq | produce email.jobs keeps key, value (byte for byte,
 * also pretty-printed or not JSON) and headers (order, duplicates, empty
 * values). The dead-letter topic has 4 partitions, the jobs topic 2: the
 * records from partitions 2 and 3 are placed by the partitioner, not sent
 * to partitions the jobs topic does not have. */
static void test_dlq_replay(void **state) {
        broker_t *b = *state;
        start_broker(
            b, (const char *const[]) {"email.dlq:4", "email.jobs:2", NULL});
        size_t n                = PMW_ARRAY_LEN(dlq);
        pmw_ktest_producer_t *p = NULL;
        pmw_test_check(pmw_ktest_producer_new(b->bootstrap, NULL, &p));
        for (size_t i = 0; i < n; i++)
                pmw_test_check(pmw_ktest_produce(
                    p, "email.dlq", dlq[i].partition, dlq[i].key,
                    dlq[i].key ? strlen(dlq[i].key) : 0, dlq[i].value,
                    strlen(dlq[i].value), dlq[i].headers));
        pmw_test_check(pmw_ktest_flush(p, 20000));
        pmw_ktest_producer_destroy(p);

        run_t r;
        run("\"$1\" consume -b \"$2\" -t email.dlq -n 6 -q 300 | "
            "\"$1\" produce -b \"$2\" -t email.jobs 2>&1",
            b->bootstrap, NULL, &r);
        assert_int_equal(r.status, 0);
        expect_lines(&r, (const char *const[]) {
                             "produced 6 records to email.jobs", NULL});
        run_free(&r);

        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(pmw_ktest_consume_all(b->bootstrap, "email.jobs", n, 300,
                                             20000, &rec));
        assert_int_equal(rec->cnt, n);
        for (size_t i = 0; i < n; i++) {
                const pmw_ktest_record_t *got = find_value(rec, dlq[i].value);
                assert_true(got->partition == 0 || got->partition == 1);
                assert_int_equal(got->len, strlen(dlq[i].value));
                if (dlq[i].key) {
                        assert_true(got->has_key);
                        assert_int_equal(got->key_len, strlen(dlq[i].key));
                        assert_string_equal(got->key, dlq[i].key);
                } else {
                        assert_false(got->has_key);
                }
                size_t h = 0;
                for (; dlq[i].headers[2 * h]; h++) {
                        assert_true(h < got->header_cnt);
                        assert_string_equal(got->headers[h].name,
                                            dlq[i].headers[2 * h]);
                        assert_non_null(got->headers[h].value);
                        assert_string_equal(got->headers[h].value,
                                            dlq[i].headers[2 * h + 1]);
                }
                assert_int_equal(got->header_cnt, h);
        }
        pmw_ktest_records_free(rec);

        /* The same topic keeps the partitions: a copy of email.jobs into
         * itself lands where the originals are. */
        run("f=$(mktemp) && \"$1\" consume -b \"$2\" -t email.jobs -n 6 "
            "-q 300 > \"$f\" && \"$1\" produce -b \"$2\" -t email.jobs "
            "< \"$f\" 2>&1; rc=$?; rm -f \"$f\"; exit $rc",
            b->bootstrap, NULL, &r);
        assert_int_equal(r.status, 0);
        expect_lines(&r, (const char *const[]) {
                             "produced 6 records to email.jobs", NULL});
        run_free(&r);
        pmw_test_check(pmw_ktest_consume_all(b->bootstrap, "email.jobs", 2 * n,
                                             300, 20000, &rec));
        assert_int_equal(rec->cnt, 2 * n);
        size_t in_part[2] = {0, 0};
        for (size_t i = 0; i < rec->cnt; i++)
                in_part[rec->v[i].partition]++;
        assert_int_equal(in_part[0] % 2, 0);
        assert_int_equal(in_part[1] % 2, 0);
        for (size_t i = 0; i < rec->cnt; i++) {
                /* The copy of record i is in the same partition. */
                size_t same = 0;
                for (size_t j = 0; j < rec->cnt; j++)
                        if (strcmp(rec->v[j].value, rec->v[i].value) == 0) {
                                assert_int_equal(rec->v[j].partition,
                                                 rec->v[i].partition);
                                same++;
                        }
                assert_int_equal(same, 2);
        }
        pmw_ktest_records_free(rec);
        pmw_test_broker_stop(b);
}

/* A bad line: exit 2 naming the line; the lines before it are delivered,
 * nothing from it or after it. */
static void test_bad_line(void **state) {
        broker_t *b = *state;
        start_broker(b, (const char *const[]) {"t:1", "u:1", NULL});
        run_t r;
        run("\"$1\" produce -b \"$2\" -t t 2>&1", b->bootstrap,
            (const char *const[]) {
                "{\"value\":\"g1\"}", "", "{\"value\":\"g2\",\"key\":\"k\"}",
                "{\"value\":\"x\",\"bogus\":1}", "{\"value\":\"g4\"}", NULL},
            &r);
        assert_int_equal(r.status, 2);
        expect_lines(&r, (const char *const[]) {
                             "pmw-kafka: line 4: unknown field \"bogus\" (a "
                             "record has \"value\" and optionally \"key\", "
                             "\"headers\", \"partition\")",
                             "produced 2 records to t", NULL});
        run_free(&r);

        run("\"$1\" produce -b \"$2\" -t u 2>&1", b->bootstrap,
            (const char *const[]) {"{\"value\":\"g1\"}",
                                   "{\"value\":", "{\"value\":\"g3\"}", NULL},
            &r);
        assert_int_equal(r.status, 2);
        expect_lines(&r, (const char *const[]) {
                             "pmw-kafka: line 2: invalid JSON: unexpected "
                             "token near end of file (column 9)",
                             "produced 1 records to u", NULL});
        run_free(&r);

        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(
            pmw_ktest_consume_all(b->bootstrap, "t", 2, 300, 20000, &rec));
        assert_int_equal(rec->cnt, 2);
        assert_string_equal(rec->v[0].value, "g1");
        assert_false(rec->v[0].has_key);
        assert_string_equal(rec->v[1].value, "g2");
        assert_string_equal(rec->v[1].key, "k");
        pmw_ktest_records_free(rec);
        pmw_test_check(
            pmw_ktest_consume_all(b->bootstrap, "u", 1, 300, 20000, &rec));
        assert_int_equal(rec->cnt, 1);
        assert_string_equal(rec->v[0].value, "g1");
        pmw_ktest_records_free(rec);
        pmw_test_broker_stop(b);
}

/* -n, -q and -w stop as documented. */
static void test_count_quiet(void **state) {
        broker_t *b = *state;
        start_broker(b, (const char *const[]) {"q:1", "empty:1", NULL});
        pmw_ktest_producer_t *p = NULL;
        pmw_test_check(pmw_ktest_producer_new(b->bootstrap, NULL, &p));
        for (int i = 0; i < 5; i++) {
                char v[8];
                snprintf(v, sizeof(v), "r%d", i);
                pmw_test_check(
                    pmw_ktest_produce(p, "q", 0, NULL, 0, v, strlen(v), NULL));
        }
        pmw_test_check(pmw_ktest_flush(p, 20000));
        pmw_ktest_producer_destroy(p);

        /* -q 0: exactly the first COUNT records. */
        run_t r;
        run("\"$1\" consume -b \"$2\" -t q -n 3 -q 0", b->bootstrap, NULL, &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.cnt, 3);
        for (size_t i = 0; i < r.cnt; i++) {
                char off[32];
                snprintf(off, sizeof(off), "\"offset\":%zu,", i);
                assert_non_null(strstr(r.lines[i], off));
        }
        run_free(&r);

        /* COUNT, then the quiet period: the rest come too. */
        run("\"$1\" consume -b \"$2\" -t q -n 3 -q 1000", b->bootstrap, NULL,
            &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.cnt, 5);
        assert_true(r.elapsed_ms >= 1000);
        run_free(&r);

        /* No -n: until QUIET_MS without a record; KAFKA_BROKERS for -b. */
        run("KAFKA_BROKERS=\"$2\" \"$1\" consume -t q -q 300", b->bootstrap,
            NULL, &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.cnt, 5);
        assert_non_null(strstr(r.lines[4], "\"offset\":4,"));
        assert_non_null(strstr(r.lines[4], "\"value\":\"r4\""));
        assert_true(r.elapsed_ms < 10000);
        run_free(&r);

        run("\"$1\" consume -b \"$2\" -t empty -q 200 2>&1", b->bootstrap, NULL,
            &r);
        assert_int_equal(r.status, 0);
        expect_lines(
            &r, (const char *const[]) {"consumed 0 records from empty", NULL});
        run_free(&r);

        /* Fewer than COUNT by TIMEOUT_MS: what came, and exit 1. */
        run("\"$1\" consume -b \"$2\" -t q -n 10 -q 100 -w 1500 2>&1",
            b->bootstrap, NULL, &r);
        assert_int_equal(r.status, 1);
        assert_true(r.elapsed_ms >= 1500);
        assert_true(r.elapsed_ms < 15000);
        assert_int_equal(r.cnt, 7);
        assert_non_null(strstr(r.lines[4], "\"value\":\"r4\""));
        assert_string_equal(r.lines[5],
                            "pmw-kafka: timed out after 1500 ms "
                            "with 5 of 10 records from q");
        assert_string_equal(r.lines[6], "consumed 5 records from q");
        run_free(&r);
        pmw_test_broker_stop(b);
}

/* Usage errors exit 2 with a message; Kafka errors exit 1; --help. */
static void test_errors_and_help(void **state) {
        (void)state;
        static const struct {
                const char *script;
                int status;
                const char *output; /* the first line */
        } cases[] = {
            {"\"$1\" 2>&1", 2, "pmw-kafka: no command (produce, consume)"},
            {"\"$1\" send 2>&1", 2, "pmw-kafka: unknown command: send"},
            {"unset KAFKA_BROKERS; \"$1\" produce -t t 2>&1", 2,
             "pmw-kafka: no brokers: -b BROKERS (or $KAFKA_BROKERS)"},
            {"\"$1\" consume -b x 2>&1", 2, "pmw-kafka: no topic: -t TOPIC"},
            {"\"$1\" consume -b x -t t extra 2>&1", 2,
             "pmw-kafka: unknown option or argument: extra"},
            {"\"$1\" consume -b x -t t --quiet 2>&1", 2,
             "pmw-kafka: unknown option or argument: --quiet"},
            {"\"$1\" consume -b x -t t -j1 2>&1", 2,
             "pmw-kafka: unknown option or argument: -j1"},
            {"\"$1\" consume -b x -t t -n 2>&1", 2,
             "pmw-kafka: option --count needs a value"},
            {"\"$1\" consume -b x -t t -n -1 2>&1", 2,
             "pmw-kafka: -n -1: expected a count >= 0"},
            {"\"$1\" consume -b x -t t -q 1s 2>&1", 2,
             "pmw-kafka: -q 1s: expected milliseconds >= 0"},
            {"\"$1\" consume -b x -t t -w0 2>&1", 2,
             "pmw-kafka: -w 0: expected milliseconds > 0"},
            {"\"$1\" produce -b x -t t -n 3 2>&1", 2,
             "pmw-kafka: option --count is for consume only"},
            {"\"$1\" produce -b x -t t -X acks 2>&1", 2,
             "pmw-kafka: -X acks: expected PROPERTY=VALUE"},
            {"\"$1\" produce -b x -t t -X no.such=1 2>&1", 2,
             "pmw-kafka: producer: no.such: No such configuration "
             "property: \"no.such\""},
            {"\"$1\" consume -b x -t t --property=no.such=1 2>&1", 2,
             "pmw-kafka: consumer: no.such: No such configuration "
             "property: \"no.such\""},
        };
        run_t r;
        for (size_t i = 0; i < PMW_ARRAY_LEN(cases); i++) {
                run(cases[i].script, NULL, NULL, &r);
                assert_int_equal(r.status, cases[i].status);
                assert_true(r.cnt >= 1);
                assert_string_equal(r.lines[0], cases[i].output);
                run_free(&r);
        }

        /* No broker there: consume fails on metadata, produce on
         * delivery; both exit 1. */
        run("\"$1\" consume -b 127.0.0.1:1 -t t -w 1000 -X "
            "log_level=0 2>&1",
            NULL, NULL, &r);
        assert_int_equal(r.status, 1);
        expect_in_output(&r, "pmw-kafka: metadata of t: ");
        run_free(&r);
        run("\"$1\" produce -b 127.0.0.1:1 -t t -X message.timeout.ms=1000 "
            "-X log_level=0 2>&1",
            NULL, (const char *const[]) {"{\"value\":\"v\"}", NULL}, &r);
        assert_int_equal(r.status, 1);
        expect_in_output(&r, "produced 0 records to t");
        expect_in_output(&r,
                         "pmw-kafka: 1 record(s) not delivered: 1 "
                         "failed, first: t [");
        run_free(&r);

        run("\"$1\" --help", NULL, NULL, &r);
        assert_int_equal(r.status, 0);
        expect_in_output(&r, "usage: pmw-kafka produce -b BROKERS -t TOPIC");
        expect_in_output(&r,
                         "pmw-kafka consume -b B -t email.dlq | "
                         "pmw-kafka produce -b B -t email.jobs");
        run_free(&r);
        run("\"$1\" produce --help", NULL, NULL, &r);
        assert_int_equal(r.status, 0);
        expect_in_output(&r, "usage: pmw-kafka produce");
        expect_in_output(&r,
                         "pmw-kafka consume -b B -t email.dlq | "
                         "pmw-kafka produce -b B -t email.jobs");
        run_free(&r);
        run("\"$1\" consume -h", NULL, NULL, &r);
        assert_int_equal(r.status, 0);
        expect_in_output(&r, "usage: pmw-kafka consume");
        expect_in_output(&r, "U+FFFD");
        run_free(&r);
        run("\"$1\" --version", NULL, NULL, &r);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.cnt, 1);
        assert_int_equal(
            strncmp(r.lines[0], "pmw-kafka (postmark-worker) ", 28), 0);
        run_free(&r);
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: %s PMW_KAFKA MOCK_BROKER\n", argv[0]);
                return 2;
        }
        tool_path                       = argv[1];
        broker_path                     = argv[2];
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_produce_consume,
                                            pmw_test_broker_setup,
                                            pmw_test_broker_teardown),
            cmocka_unit_test_setup_teardown(test_binary, pmw_test_broker_setup,
                                            pmw_test_broker_teardown),
            cmocka_unit_test_setup_teardown(test_dlq_replay,
                                            pmw_test_broker_setup,
                                            pmw_test_broker_teardown),
            cmocka_unit_test_setup_teardown(
                test_bad_line, pmw_test_broker_setup, pmw_test_broker_teardown),
            cmocka_unit_test_setup_teardown(test_count_quiet,
                                            pmw_test_broker_setup,
                                            pmw_test_broker_teardown),
            cmocka_unit_test_setup_teardown(test_errors_and_help,
                                            pmw_test_broker_setup,
                                            pmw_test_broker_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
