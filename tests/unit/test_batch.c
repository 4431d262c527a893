/* Unit tests for worker/batch: the batch (push, fits, filter, split, body)
 * and the batcher that fills one open batch per (server, endpoint) and
 * closes it at max_messages, max_bytes or linger. Time is passed in (us). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/mem.h"
#include "worker/batch.h"

#define FRAME_BATCH     2  /* [] */
#define FRAME_TEMPLATES 15 /* {"Messages":[]} */
#define MAX_JOBS        128

/* Every job a test makes, freed by the teardown (batches borrow jobs). */
typedef struct jobs_s {
        pmw_job_t *job[MAX_JOBS];
        size_t cnt;
} jobs_t;

static int setup(void **state) {
        *state = pmw_calloc(1, sizeof(jobs_t));
        return 0;
}

static int teardown(void **state) {
        jobs_t *jobs = *state;
        for (size_t i = 0; i < jobs->cnt; i++)
                pmw_job_destroy(jobs->job[i]);
        free(jobs);
        return 0;
}

/* A job as the batcher sees it: only the normalised body, its endpoint and
 * its server matter. */
static pmw_job_t *
job_body(jobs_t *jobs, int server, pmw_endpoint_t ep, const char *body) {
        assert_true(jobs->cnt < MAX_JOBS);
        pmw_job_t *job         = pmw_job_new();
        job->server_idx        = server;
        job->msg.endpoint      = ep;
        job->msg.body          = pmw_strdup(body);
        job->msg.body_len      = strlen(body);
        jobs->job[jobs->cnt++] = job;
        return job;
}

/* A job whose body is exactly len bytes (at least 8): {"p":"ccc..."},
 * the filler letter changing from job to job so order shows in bodies. */
static pmw_job_t *
job_sized(jobs_t *jobs, int server, pmw_endpoint_t ep, size_t len) {
        assert_true(len >= 8);
        char *body = pmw_malloc(len + 1);
        memcpy(body, "{\"p\":\"", 6);
        memset(body + 6, 'a' + (int)(jobs->cnt % 26), len - 8);
        memcpy(body + len - 2, "\"}", 3);
        pmw_job_t *job = job_body(jobs, server, ep, body);
        free(body);
        assert_int_equal(job->msg.body_len, len);
        return job;
}

/* What body_bytes must be for these jobs. */
static size_t
expected_bytes(pmw_endpoint_t ep, pmw_job_t *const *jobs, size_t cnt) {
        size_t n = ep == PMW_ENDPOINT_BATCH ? FRAME_BATCH : FRAME_TEMPLATES;
        for (size_t i = 0; i < cnt; i++)
                n += jobs[i]->msg.body_len + (i > 0);
        return n;
}

/* What the request body must be for these jobs, built independently. */
static char *
expected_body(pmw_endpoint_t ep, pmw_job_t *const *jobs, size_t cnt) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 20);
        pmw_buf_append_str(&buf,
                           ep == PMW_ENDPOINT_BATCH ? "[" : "{\"Messages\":[");
        for (size_t i = 0; i < cnt; i++) {
                if (i)
                        pmw_buf_append_char(&buf, ',');
                pmw_buf_append(&buf, jobs[i]->msg.body, jobs[i]->msg.body_len);
        }
        pmw_buf_append_str(&buf, ep == PMW_ENDPOINT_BATCH ? "]" : "]}");
        assert_false(pmw_buf_failed(&buf));
        return pmw_buf_take(&buf, NULL);
}

/* Checks the batch holds exactly these jobs, in order, with the right
 * body_bytes, and that its built body is exactly their JSON array. */
static void check_batch(pmw_batch_t *batch,
                        int server,
                        pmw_endpoint_t ep,
                        pmw_job_t *const *want,
                        size_t cnt) {
        assert_non_null(batch);
        assert_int_equal(batch->server_idx, server);
        assert_int_equal(batch->endpoint, ep);
        assert_int_equal(batch->cnt, cnt);
        for (size_t i = 0; i < cnt; i++)
                assert_ptr_equal(batch->jobs[i], want[i]);
        assert_int_equal(batch->body_bytes, expected_bytes(ep, want, cnt));

        char *body = expected_body(ep, want, cnt);
        pmw_batch_build_body(batch);
        assert_non_null(batch->body);
        assert_string_equal(batch->body, body);
        assert_int_equal(batch->body_len, strlen(body));
        assert_int_equal(batch->body_len, batch->body_bytes);
        /* The messages moved into the body... */
        for (size_t i = 0; i < cnt; i++)
                assert_null(want[i]->msg.body);
        pmw_batch_drop_body(batch);
        assert_null(batch->body);
        assert_int_equal(batch->body_len, 0);
        /* ...and came back whole. */
        char *again = expected_body(ep, want, cnt);
        assert_string_equal(again, body);
        free(again);
        free(body);
}

/*
 * The batch.
 */

static void test_batch_new_push(void **state) {
        jobs_t *jobs = *state;

        pmw_batch_t *b = pmw_batch_new(3, PMW_ENDPOINT_BATCH, 4242);
        assert_int_equal(b->server_idx, 3);
        assert_int_equal(b->endpoint, PMW_ENDPOINT_BATCH);
        assert_int_equal(b->cnt, 0);
        assert_int_equal(b->body_bytes, FRAME_BATCH);
        assert_int_equal(b->opened_us, 4242);
        assert_int_equal(b->not_before_us, 0);
        assert_int_equal(b->retries, 0);
        assert_false(b->probe);
        assert_null(b->owner);
        assert_null(b->body);
        assert_null(b->next);

        pmw_job_t *j[3];
        j[0] = job_body(jobs, 3, PMW_ENDPOINT_BATCH, "{\"a\":1}");
        j[1] = job_body(jobs, 3, PMW_ENDPOINT_BATCH, "{\"b\":\"x\"}");
        j[2] = job_body(jobs, 3, PMW_ENDPOINT_BATCH, "{\"c\":[1,2]}");
        pmw_batch_push(b, j[0]);
        assert_int_equal(b->body_bytes, 2 + 7); /* [{"a":1}] */
        pmw_batch_push(b, j[1]);
        assert_int_equal(b->body_bytes, 2 + 7 + 1 + 9);
        pmw_batch_push(b, j[2]);
        assert_int_equal(b->body_bytes, 2 + 7 + 1 + 9 + 1 + 11);
        check_batch(b, 3, PMW_ENDPOINT_BATCH, j, 3);
        pmw_batch_build_body(b);
        assert_string_equal(b->body, "[{\"a\":1},{\"b\":\"x\"},{\"c\":[1,2]}]");
        /* Building again replaces the body (ASan catches a leak). */
        pmw_batch_build_body(b);
        assert_int_equal(b->body_len, 31);
        pmw_batch_destroy(b);

        pmw_batch_t *t = pmw_batch_new(0, PMW_ENDPOINT_BATCH_TEMPLATES, 1);
        assert_int_equal(t->body_bytes, FRAME_TEMPLATES);
        pmw_job_t *tj[2];
        tj[0] = job_body(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, "{\"t\":1}");
        tj[1] = job_body(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, "{\"t\":2}");
        pmw_batch_push(t, tj[0]);
        pmw_batch_push(t, tj[1]);
        check_batch(t, 0, PMW_ENDPOINT_BATCH_TEMPLATES, tj, 2);
        pmw_batch_build_body(t);
        assert_string_equal(t->body, "{\"Messages\":[{\"t\":1},{\"t\":2}]}");
        /* Destroy frees the body but not the jobs (teardown frees them). */
        pmw_batch_destroy(t);
        pmw_batch_destroy(NULL);

        /* An empty batch (all its jobs filtered out) still builds valid
         * JSON of frame size. */
        b = pmw_batch_new(0, PMW_ENDPOINT_BATCH, 0);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, NULL, 0);
        pmw_batch_build_body(b);
        assert_string_equal(b->body, "[]");
        pmw_batch_destroy(b);
        b = pmw_batch_new(0, PMW_ENDPOINT_BATCH_TEMPLATES, 0);
        pmw_batch_build_body(b);
        assert_string_equal(b->body, "{\"Messages\":[]}");
        assert_int_equal(b->body_len, FRAME_TEMPLATES);
        pmw_batch_destroy(b);
}

static void test_batch_many_jobs(void **state) {
        jobs_t *jobs = *state;
        /* Past the first allocation (16), order and counts stay right. */
        pmw_job_t *j[100];
        pmw_batch_t *b = pmw_batch_new(1, PMW_ENDPOINT_BATCH_TEMPLATES, 0);
        for (size_t i = 0; i < 100; i++) {
                j[i] = job_sized(jobs, 1, PMW_ENDPOINT_BATCH_TEMPLATES,
                                 20 + i % 7);
                pmw_batch_push(b, j[i]);
        }
        check_batch(b, 1, PMW_ENDPOINT_BATCH_TEMPLATES, j, 100);
        pmw_batch_destroy(b);
}

static void test_batch_fits(void **state) {
        jobs_t *jobs    = *state;
        pmw_batch_t *b  = pmw_batch_new(0, PMW_ENDPOINT_BATCH, 0);
        pmw_job_t *j10  = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 10);
        pmw_job_t *j11  = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 11);
        pmw_job_t *huge = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 1000);

        /* An empty batch takes any job, whatever the limits. */
        assert_true(pmw_batch_fits(b, huge, 1, 10));
        assert_true(pmw_batch_fits(b, j10, 1, 1));

        pmw_batch_push(b, j10); /* body 12 */
        /* 12 + ',' + 10 = 23 */
        assert_true(pmw_batch_fits(b, j10, 2, 23));
        assert_false(pmw_batch_fits(b, j10, 2, 22));
        assert_false(pmw_batch_fits(b, j11, 2, 23));
        assert_true(pmw_batch_fits(b, j11, 2, 24));
        /* The message limit: fewer than max_messages jobs. */
        assert_false(pmw_batch_fits(b, j10, 1, 1000));
        assert_false(pmw_batch_fits(b, huge, 500, 1000));
        assert_true(pmw_batch_fits(b, huge, 500, 1013));
        pmw_batch_push(b, j10);
        assert_false(pmw_batch_fits(b, j10, 2, 1000));
        assert_true(pmw_batch_fits(b, j10, 3, 1000));
        pmw_batch_destroy(b);

        /* The templates frame counts toward max_bytes: 15 + 10 = 25. */
        b = pmw_batch_new(0, PMW_ENDPOINT_BATCH_TEMPLATES, 0);
        pmw_batch_push(b, job_sized(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, 10));
        assert_true(pmw_batch_fits(b, j10, 2, 36));
        assert_false(pmw_batch_fits(b, j10, 2, 35));
        pmw_batch_destroy(b);
}

/* drop() for the filter tests: drops the jobs listed in want->drop and
 * records the order it was called in. */
typedef struct dropper_s {
        pmw_job_t *drop[MAX_JOBS];
        size_t drop_cnt;
        pmw_job_t *seen[MAX_JOBS];
        size_t seen_cnt;
} dropper_t;

static bool drop_listed(void *opaque, pmw_job_t *job) {
        dropper_t *d = opaque;
        assert_true(d->seen_cnt < MAX_JOBS);
        d->seen[d->seen_cnt++] = job;
        for (size_t i = 0; i < d->drop_cnt; i++)
                if (d->drop[i] == job)
                        return true;
        return false;
}

static void test_batch_filter(void **state) {
        jobs_t *jobs = *state;
        pmw_job_t *j[6];
        pmw_batch_t *b = pmw_batch_new(2, PMW_ENDPOINT_BATCH, 0);
        for (size_t i = 0; i < 6; i++) {
                j[i] = job_sized(jobs, 2, PMW_ENDPOINT_BATCH, 12 + 3 * i);
                pmw_batch_push(b, j[i]);
        }

        /* Nothing dropped: every job seen once, in order; nothing moves. */
        dropper_t d = {0};
        pmw_batch_filter(b, drop_listed, &d);
        assert_int_equal(d.seen_cnt, 6);
        for (size_t i = 0; i < 6; i++)
                assert_ptr_equal(d.seen[i], j[i]);
        check_batch(b, 2, PMW_ENDPOINT_BATCH, j, 6);

        /* The first, a middle one and the last: the rest keep order and
         * body_bytes is counted again. */
        d = (dropper_t) {.drop = {j[0], j[3], j[5]}, .drop_cnt = 3};
        pmw_batch_filter(b, drop_listed, &d);
        assert_int_equal(d.seen_cnt, 6);
        pmw_job_t *kept[] = {j[1], j[2], j[4]};
        check_batch(b, 2, PMW_ENDPOINT_BATCH, kept, 3);
        assert_int_equal(b->body_bytes, 2 + 15 + 1 + 18 + 1 + 24);

        /* All of them: an empty batch of frame size. */
        d = (dropper_t) {.drop = {j[1], j[2], j[4]}, .drop_cnt = 3};
        pmw_batch_filter(b, drop_listed, &d);
        assert_int_equal(d.seen_cnt, 3);
        assert_int_equal(b->cnt, 0);
        assert_int_equal(b->body_bytes, FRAME_BATCH);
        /* An emptied batch takes jobs again. */
        pmw_batch_push(b, j[5]);
        check_batch(b, 2, PMW_ENDPOINT_BATCH, &j[5], 1);
        pmw_batch_destroy(b);

        /* Templates frame after a filter. */
        pmw_job_t *t[2];
        b = pmw_batch_new(0, PMW_ENDPOINT_BATCH_TEMPLATES, 0);
        for (size_t i = 0; i < 2; i++) {
                t[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, 30);
                pmw_batch_push(b, t[i]);
        }
        d = (dropper_t) {.drop = {t[0]}, .drop_cnt = 1};
        pmw_batch_filter(b, drop_listed, &d);
        check_batch(b, 0, PMW_ENDPOINT_BATCH_TEMPLATES, &t[1], 1);
        assert_int_equal(b->body_bytes, FRAME_TEMPLATES + 30);
        pmw_batch_destroy(b);
}

/* Splits a batch of n jobs and checks both halves (CONTRACT 3.3). */
static void split_case(jobs_t *jobs, size_t n, pmw_endpoint_t ep) {
        pmw_job_t *j[16];
        assert_true(n >= 2 && n <= 16);
        pmw_batch_t *b = pmw_batch_new(1, ep, 100);
        for (size_t i = 0; i < n; i++) {
                j[i] = job_sized(jobs, 1, ep, 10 + i);
                pmw_batch_push(b, j[i]);
        }
        b->retries       = 3;
        b->not_before_us = 555;
        pmw_batch_build_body(b); /* a stale body is not carried over */

        pmw_batch_t *half = pmw_batch_split(b, 9000);
        size_t keep       = n - n / 2; /* the first half stays (odd: +1) */
        assert_int_equal(b->cnt, keep);
        assert_int_equal(half->cnt, n / 2);
        /* The kept batch is the same request, older in line. */
        assert_int_equal(b->opened_us, 100);
        assert_int_equal(b->retries, 3);
        /* The new half: same server and endpoint, made now, with the
         * request's retry count, nothing else. */
        assert_int_equal(half->server_idx, 1);
        assert_int_equal(half->endpoint, ep);
        assert_int_equal(half->opened_us, 9000);
        assert_int_equal(half->retries, 3);
        assert_int_equal(half->not_before_us, 0);
        assert_false(half->probe);
        assert_null(half->body);
        assert_null(half->next);
        pmw_batch_drop_body(b);
        check_batch(b, 1, ep, j, keep);
        check_batch(half, 1, ep, j + keep, n / 2);
        pmw_batch_destroy(half);
        pmw_batch_destroy(b);
}

static void test_batch_split(void **state) {
        jobs_t *jobs = *state;
        split_case(jobs, 2, PMW_ENDPOINT_BATCH);
        split_case(jobs, 3, PMW_ENDPOINT_BATCH);
        split_case(jobs, 4, PMW_ENDPOINT_BATCH_TEMPLATES);
        split_case(jobs, 7, PMW_ENDPOINT_BATCH_TEMPLATES);
        split_case(jobs, 16, PMW_ENDPOINT_BATCH);

        /* Recursive halving ends with every job alone, in order. */
        pmw_job_t *j[5];
        pmw_batch_t *b = pmw_batch_new(0, PMW_ENDPOINT_BATCH, 0);
        for (size_t i = 0; i < 5; i++) {
                j[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 20);
                pmw_batch_push(b, j[i]);
        }
        pmw_batch_t *h1 = pmw_batch_split(b, 1);  /* 3 | 2 */
        pmw_batch_t *h2 = pmw_batch_split(b, 2);  /* 2 | 1 */
        pmw_batch_t *h3 = pmw_batch_split(b, 3);  /* 1 | 1 */
        pmw_batch_t *h4 = pmw_batch_split(h1, 4); /* 1 | 1 */
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[0], 1);
        check_batch(h3, 0, PMW_ENDPOINT_BATCH, &j[1], 1);
        check_batch(h2, 0, PMW_ENDPOINT_BATCH, &j[2], 1);
        check_batch(h1, 0, PMW_ENDPOINT_BATCH, &j[3], 1);
        check_batch(h4, 0, PMW_ENDPOINT_BATCH, &j[4], 1);
        assert_int_equal(h1->body_bytes, FRAME_BATCH + 20);
        pmw_batch_destroy(b);
        pmw_batch_destroy(h1);
        pmw_batch_destroy(h2);
        pmw_batch_destroy(h3);
        pmw_batch_destroy(h4);
}

/* After a per-message answer the jobs that move to another batch get
 * their messages back one by one; the others stay in the body, which the
 * batch frees. A change to the jobs gives all of them back. */
static void test_batch_body_give_back(void **state) {
        jobs_t *jobs = *state;
        pmw_job_t *j[4];
        pmw_batch_t *b = pmw_batch_new(0, PMW_ENDPOINT_BATCH_TEMPLATES, 0);
        const char *bodies[] = {"{\"i\":0}", "{\"i\":11}", "{\"i\":222}",
                                "{\"i\":3333}"};
        for (size_t i = 0; i < 4; i++) {
                j[i] =
                    job_body(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, bodies[i]);
                pmw_batch_push(b, j[i]);
        }
        pmw_batch_build_body(b);
        pmw_batch_give_back(b, 1);
        pmw_batch_give_back(b, 3);
        pmw_batch_give_back(b, 3); /* twice: no leak, no change */
        assert_non_null(b->body);
        assert_null(j[0]->msg.body);
        assert_null(j[2]->msg.body);
        assert_string_equal(j[1]->msg.body, bodies[1]);
        assert_string_equal(j[3]->msg.body, bodies[3]);
        assert_int_equal(j[0]->msg.body_len, strlen(bodies[0]));
        pmw_batch_destroy(b); /* frees the messages of jobs 0 and 2 */

        /* Split and filter give every message back before moving jobs. */
        for (size_t i = 0; i < 4; i++)
                j[i] = job_body(jobs, 0, PMW_ENDPOINT_BATCH, bodies[i]);
        b = pmw_batch_new(0, PMW_ENDPOINT_BATCH, 0);
        for (size_t i = 0; i < 4; i++)
                pmw_batch_push(b, j[i]);
        pmw_batch_build_body(b);
        pmw_batch_t *half = pmw_batch_split(b, 1);
        assert_null(b->body);
        for (size_t i = 0; i < 4; i++)
                assert_string_equal(j[i]->msg.body, bodies[i]);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 2);
        check_batch(half, 0, PMW_ENDPOINT_BATCH, j + 2, 2);
        pmw_batch_destroy(half);
        pmw_batch_destroy(b);
}

/* Bodies from the real message parser are spliced unchanged. */
static void test_batch_parsed_messages(void **state) {
        (void)state;
        static const char *const values[] = {
            "{\"From\":\"a@example.com\",\"To\":\"b@example.com\","
            "\"Subject\":\"S\",\"TextBody\":\"T\"}",
            "{\"sender\":\"a@example.com\",\"to\":\"c@example.com\","
            "\"subject\":\"\\u00e9t\\u00e9\",\"html_body\":\"<p>x</p>\"}",
            "{\"From\":\"a@example.com\",\"To\":\"d@example.com\","
            "\"Subject\":\"S\",\"TextBody\":\"T\",\"Metadata\":{\"k\":\"v\"}}",
        };
        pmw_job_t *j[3];
        pmw_batch_t *b = pmw_batch_new(0, PMW_ENDPOINT_BATCH, 0);
        for (size_t i = 0; i < 3; i++) {
                j[i]             = pmw_job_new();
                j[i]->server_idx = 0;
                pmw_message_parse(&j[i]->msg, values[i], strlen(values[i]),
                                  "email.jobs:0:7");
                assert_int_equal(j[i]->msg.reject_code, 0);
                assert_int_equal(j[i]->msg.endpoint, PMW_ENDPOINT_BATCH);
                pmw_batch_push(b, j[i]);
        }
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 3);
        char want[1024];
        snprintf(want, sizeof(want), "[%s,%s,%s]", j[0]->msg.body,
                 j[1]->msg.body, j[2]->msg.body);
        pmw_batch_build_body(b);
        assert_string_equal(b->body, want);
        pmw_batch_drop_body(b);
        /* The normalised form the parser produced (field names, job id). */
        assert_string_equal(j[0]->msg.body,
                            "{\"From\":\"a@example.com\",\"To\":"
                            "\"b@example.com\",\"Subject\":\"S\",\"TextBody\":"
                            "\"T\",\"Metadata\":{\"pmw_job_id\":"
                            "\"email.jobs:0:7\"}}");
        pmw_batch_destroy(b);
        for (size_t i = 0; i < 3; i++)
                pmw_job_destroy(j[i]);
}

/*
 * The batcher.
 */

static void test_batcher_max_messages(void **state) {
        jobs_t *jobs      = *state;
        pmw_batcher_t *bt = pmw_batcher_new(1, 3, 1 << 20, 1000);
        pmw_job_t *j[7];
        for (size_t i = 0; i < 7; i++)
                j[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 16);

        assert_int_equal(pmw_batcher_jobs(bt), 0);
        assert_int_equal(pmw_batcher_next_due(bt), INT64_MAX);
        assert_null(pmw_batcher_add(bt, j[0], 10));
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        assert_null(pmw_batcher_add(bt, j[1], 20));
        assert_int_equal(pmw_batcher_jobs(bt), 2);
        /* The add that fills the batch returns it. */
        pmw_batch_t *b = pmw_batcher_add(bt, j[2], 30);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 3);
        assert_int_equal(b->opened_us, 10);
        assert_null(b->next);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        assert_int_equal(pmw_batcher_next_due(bt), INT64_MAX);
        assert_null(pmw_batcher_take_due(bt, INT64_MAX - 1, true));
        pmw_batch_destroy(b);

        /* The next job opens a new batch, lingering from its own time. */
        assert_null(pmw_batcher_add(bt, j[3], 500));
        assert_int_equal(pmw_batcher_next_due(bt), 1500);
        assert_null(pmw_batcher_add(bt, j[4], 600));
        b = pmw_batcher_add(bt, j[5], 700);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[3], 3);
        assert_int_equal(b->opened_us, 500);
        pmw_batch_destroy(b);
        assert_null(pmw_batcher_add(bt, j[6], 800));
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        pmw_batcher_destroy(bt); /* frees the open batch, not its job */

        /* max_messages 1: every job is its own batch at once. */
        bt = pmw_batcher_new(1, 1, 1 << 20, 1000);
        for (size_t i = 0; i < 3; i++) {
                b = pmw_batcher_add(bt, j[i], 5);
                check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[i], 1);
                assert_int_equal(pmw_batcher_jobs(bt), 0);
                pmw_batch_destroy(b);
        }
        pmw_batcher_destroy(bt);
}

static void test_batcher_max_bytes(void **state) {
        jobs_t *jobs = *state;
        pmw_job_t *j[5];
        for (size_t i = 0; i < 5; i++)
                j[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 10);

        /* [a,b] is 2 + 10 + 1 + 10 = 23 bytes: exactly max_bytes fits, and
         * the add that fills it closes it (nothing more could join). */
        pmw_batcher_t *bt = pmw_batcher_new(1, 500, 23, 1000);
        assert_null(pmw_batcher_add(bt, j[0], 1));
        pmw_batch_t *b = pmw_batcher_add(bt, j[1], 2);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 2);
        assert_int_equal(b->body_bytes, 23);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        pmw_batcher_destroy(bt);

        /* With room for one more byte, the job that would pass max_bytes
         * closes the batch before it and opens the next one. */
        bt = pmw_batcher_new(1, 500, 24, 1000);
        assert_null(pmw_batcher_add(bt, j[0], 1));
        assert_null(pmw_batcher_add(bt, j[1], 2));
        assert_int_equal(pmw_batcher_jobs(bt), 2);
        b = pmw_batcher_add(bt, j[2], 3);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 2);
        assert_int_equal(b->body_bytes, 23);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        assert_int_equal(pmw_batcher_next_due(bt), 1003);
        b = pmw_batcher_take_due(bt, 1003, false);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[2], 1);
        assert_int_equal(b->opened_us, 3);
        pmw_batch_destroy(b);
        pmw_batcher_destroy(bt);


        /* One byte less: every job goes alone. */
        bt = pmw_batcher_new(1, 500, 22, 1000);
        assert_null(pmw_batcher_add(bt, j[0], 1));
        b = pmw_batcher_add(bt, j[1], 2);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[0], 1);
        pmw_batch_destroy(b);
        b = pmw_batcher_add(bt, j[2], 3);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[1], 1);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        pmw_batcher_destroy(bt);

        /* The templates frame counts: {"Messages":[a,b]} is 36 bytes, so with
         * 37 allowed the third job does not fit. */
        pmw_job_t *t[3];
        for (size_t i = 0; i < 3; i++)
                t[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, 10);
        bt = pmw_batcher_new(1, 500, 37, 1000);
        assert_null(pmw_batcher_add(bt, t[0], 1));
        assert_null(pmw_batcher_add(bt, t[1], 1));
        b = pmw_batcher_add(bt, t[2], 1);
        check_batch(b, 0, PMW_ENDPOINT_BATCH_TEMPLATES, t, 2);

        assert_int_equal(b->body_bytes, 36);
        pmw_batch_destroy(b);
        pmw_batcher_destroy(bt);

        /* Both limits at once: the full batch closes on max_messages and
         * the byte limit applies to the next one. */
        bt = pmw_batcher_new(1, 2, 23, 1000);
        assert_null(pmw_batcher_add(bt, j[0], 1));
        b = pmw_batcher_add(bt, j[1], 1);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, j, 2);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        pmw_batcher_destroy(bt);
}

static void test_batcher_oversized(void **state) {
        jobs_t *jobs      = *state;
        pmw_job_t *small  = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 10);
        pmw_job_t *big    = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 50);
        pmw_job_t *small2 = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 10);
        pmw_job_t *big2   = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 40);

        pmw_batcher_t *bt = pmw_batcher_new(1, 500, 30, 1000);
        assert_null(pmw_batcher_add(bt, small, 1));
        /* A job larger than max_bytes closes the open batch... */
        pmw_batch_t *b = pmw_batcher_add(bt, big, 2);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &small, 1);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        /* ...and goes alone: the next job closes it. */
        b = pmw_batcher_add(bt, small2, 3);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &big, 1);
        assert_int_equal(b->body_bytes, 52);
        assert_int_equal(b->opened_us, 2);
        pmw_batch_destroy(b);
        /* Two oversized jobs in a row each go alone. */
        b = pmw_batcher_add(bt, big, 4);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &small2, 1);
        pmw_batch_destroy(b);
        b = pmw_batcher_add(bt, big2, 5);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &big, 1);
        pmw_batch_destroy(b);
        /* An oversized job in an empty slot lingers alone like any job. */
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        assert_null(pmw_batcher_take_due(bt, 1004, false));
        b = pmw_batcher_take_due(bt, 1005, false);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &big2, 1);
        assert_null(b->next);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        pmw_batcher_destroy(bt);
}

/* Finds the batch for (server, endpoint) in a list. */
static pmw_batch_t *
find_batch(pmw_batch_t *list, int server, pmw_endpoint_t ep) {
        pmw_batch_t *found = NULL;
        for (pmw_batch_t *b = list; b; b = b->next)
                if (b->server_idx == server && b->endpoint == ep) {
                        assert_null(found); /* one per pair */
                        found = b;
                }
        return found;
}

static size_t list_len(const pmw_batch_t *list) {
        size_t n = 0;
        for (; list; list = list->next)
                n++;
        return n;
}

static void destroy_list(pmw_batch_t *list) {
        while (list) {
                pmw_batch_t *next = list->next;
                pmw_batch_destroy(list);
                list = next;
        }
}

static void test_batcher_per_server_endpoint(void **state) {
        jobs_t *jobs      = *state;
        pmw_batcher_t *bt = pmw_batcher_new(3, 2, 1 << 20, 1000);
        pmw_job_t *a0     = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 20);
        pmw_job_t *t0  = job_sized(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, 20);
        pmw_job_t *a1  = job_sized(jobs, 1, PMW_ENDPOINT_BATCH, 20);
        pmw_job_t *t2  = job_sized(jobs, 2, PMW_ENDPOINT_BATCH_TEMPLATES, 20);
        pmw_job_t *a0b = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 20);
        pmw_job_t *t2b = job_sized(jobs, 2, PMW_ENDPOINT_BATCH_TEMPLATES, 20);

        assert_null(pmw_batcher_add(bt, a0, 10));
        assert_null(pmw_batcher_add(bt, t0, 20));
        assert_null(pmw_batcher_add(bt, a1, 30));
        assert_null(pmw_batcher_add(bt, t2, 40));
        assert_int_equal(pmw_batcher_jobs(bt), 4);
        assert_int_equal(pmw_batcher_next_due(bt), 1010);
        /* The second job for (0, batch) fills only that batch. */
        pmw_batch_t *b       = pmw_batcher_add(bt, a0b, 50);
        pmw_job_t *want_a0[] = {a0, a0b};
        check_batch(b, 0, PMW_ENDPOINT_BATCH, want_a0, 2);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 3);
        assert_int_equal(pmw_batcher_next_due(bt), 1020);
        b                    = pmw_batcher_add(bt, t2b, 60);
        pmw_job_t *want_t2[] = {t2, t2b};
        check_batch(b, 2, PMW_ENDPOINT_BATCH_TEMPLATES, want_t2, 2);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 2);

        /* Flush takes every open batch, each a list entry of its own. */
        pmw_batch_t *list = pmw_batcher_take_due(bt, 0, true);
        assert_int_equal(list_len(list), 2);
        check_batch(find_batch(list, 0, PMW_ENDPOINT_BATCH_TEMPLATES), 0,
                    PMW_ENDPOINT_BATCH_TEMPLATES, &t0, 1);
        check_batch(find_batch(list, 1, PMW_ENDPOINT_BATCH), 1,
                    PMW_ENDPOINT_BATCH, &a1, 1);
        assert_null(find_batch(list, 0, PMW_ENDPOINT_BATCH));
        assert_null(find_batch(list, 2, PMW_ENDPOINT_BATCH_TEMPLATES));
        destroy_list(list);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        assert_int_equal(pmw_batcher_next_due(bt), INT64_MAX);
        assert_null(pmw_batcher_take_due(bt, INT64_MAX, true));
        pmw_batcher_destroy(bt);
}

static void test_batcher_linger(void **state) {
        jobs_t *jobs = *state;
        pmw_job_t *j[8];
        for (size_t i = 0; i < 8; i++)
                j[i] = job_sized(jobs, (int)(i % 2), PMW_ENDPOINT_BATCH, 20);

        pmw_batcher_t *bt = pmw_batcher_new(2, 500, 1 << 20, 1000);
        assert_null(pmw_batcher_take_due(bt, 0, false));
        assert_null(pmw_batcher_add(bt, j[0], 5000)); /* server 0 */
        assert_null(pmw_batcher_add(bt, j[1], 5300)); /* server 1 */
        /* Linger counts from the first job, not the last. */
        assert_null(pmw_batcher_add(bt, j[2], 5900)); /* server 0 */
        assert_int_equal(pmw_batcher_next_due(bt), 6000);

        /* One microsecond before: not due, nothing changes. */
        assert_null(pmw_batcher_take_due(bt, 5999, false));
        assert_int_equal(pmw_batcher_jobs(bt), 3);
        assert_int_equal(pmw_batcher_next_due(bt), 6000);
        /* At the linger: due, and only that batch. */
        pmw_batch_t *b     = pmw_batcher_take_due(bt, 6000, false);
        pmw_job_t *want0[] = {j[0], j[2]};
        check_batch(b, 0, PMW_ENDPOINT_BATCH, want0, 2);
        assert_null(b->next);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        assert_int_equal(pmw_batcher_next_due(bt), 6300);
        assert_null(pmw_batcher_take_due(bt, 6299, false));

        /* Two due at once come back as one list; later ones stay. */
        assert_null(pmw_batcher_add(bt, j[4], 6100)); /* server 0 */
        b = pmw_batcher_take_due(bt, 7100, false);
        assert_int_equal(list_len(b), 2);
        check_batch(find_batch(b, 0, PMW_ENDPOINT_BATCH), 0, PMW_ENDPOINT_BATCH,
                    &j[4], 1);
        check_batch(find_batch(b, 1, PMW_ENDPOINT_BATCH), 1, PMW_ENDPOINT_BATCH,
                    &j[1], 1);
        destroy_list(b);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        assert_int_equal(pmw_batcher_next_due(bt), INT64_MAX);

        /* flush takes batches that are not due yet. */
        assert_null(pmw_batcher_add(bt, j[6], 10000));
        assert_null(pmw_batcher_take_due(bt, 10000, false));
        b = pmw_batcher_take_due(bt, 10000, true);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[6], 1);
        assert_null(b->next);
        pmw_batch_destroy(b);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        pmw_batcher_destroy(bt);

        /* linger 0: due as soon as opened. */
        bt = pmw_batcher_new(2, 500, 1 << 20, 0);
        assert_null(pmw_batcher_add(bt, j[3], 777));
        assert_int_equal(pmw_batcher_next_due(bt), 777);
        assert_null(pmw_batcher_take_due(bt, 776, false));
        b = pmw_batcher_take_due(bt, 777, false);
        check_batch(b, 1, PMW_ENDPOINT_BATCH, &j[3], 1);
        pmw_batch_destroy(b);
        pmw_batcher_destroy(bt);
}

static void test_batcher_filter(void **state) {
        jobs_t *jobs      = *state;
        pmw_batcher_t *bt = pmw_batcher_new(2, 500, 1 << 20, 1000);
        pmw_job_t *a[3], *t[2], *s1;
        for (size_t i = 0; i < 3; i++)
                a[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 20 + i);
        for (size_t i = 0; i < 2; i++)
                t[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH_TEMPLATES, 30);
        s1 = job_sized(jobs, 1, PMW_ENDPOINT_BATCH, 25);

        assert_null(pmw_batcher_add(bt, s1, 100)); /* the earliest */
        for (size_t i = 0; i < 3; i++)
                assert_null(pmw_batcher_add(bt, a[i], 200));
        for (size_t i = 0; i < 2; i++)
                assert_null(pmw_batcher_add(bt, t[i], 300));
        assert_int_equal(pmw_batcher_jobs(bt), 6);
        assert_int_equal(pmw_batcher_next_due(bt), 1100);

        /* Nothing to drop: every job is offered once, nothing changes. */
        dropper_t d = {0};
        pmw_batcher_filter(bt, drop_listed, &d);
        assert_int_equal(d.seen_cnt, 6);
        assert_int_equal(pmw_batcher_jobs(bt), 6);

        /* s1's batch empties and is freed (ASan would report it leaked);
         * its linger no longer counts. */
        d = (dropper_t) {.drop = {s1, a[1], t[0]}, .drop_cnt = 3};
        pmw_batcher_filter(bt, drop_listed, &d);
        assert_int_equal(d.seen_cnt, 6);
        assert_int_equal(pmw_batcher_jobs(bt), 3);
        assert_int_equal(pmw_batcher_next_due(bt), 1200);

        /* A new job for server 1 opens a fresh batch at its own time. */
        assert_null(pmw_batcher_add(bt, s1, 5000));
        assert_int_equal(pmw_batcher_jobs(bt), 4);

        pmw_batch_t *list = pmw_batcher_take_due(bt, 1200, false);
        assert_int_equal(list_len(list), 1);
        pmw_job_t *want_a[] = {a[0], a[2]};
        check_batch(list, 0, PMW_ENDPOINT_BATCH, want_a, 2);
        assert_int_equal(list->body_bytes, 2 + 20 + 1 + 22);
        destroy_list(list);

        list = pmw_batcher_take_due(bt, 6000, false);
        assert_int_equal(list_len(list), 2);
        check_batch(find_batch(list, 0, PMW_ENDPOINT_BATCH_TEMPLATES), 0,
                    PMW_ENDPOINT_BATCH_TEMPLATES, &t[1], 1);
        pmw_batch_t *b1 = find_batch(list, 1, PMW_ENDPOINT_BATCH);
        check_batch(b1, 1, PMW_ENDPOINT_BATCH, &s1, 1);
        assert_int_equal(b1->opened_us, 5000);
        destroy_list(list);
        assert_int_equal(pmw_batcher_jobs(bt), 0);

        /* Dropping everything leaves no open batch. */
        for (size_t i = 0; i < 3; i++)
                assert_null(pmw_batcher_add(bt, a[i], 7000));
        assert_null(pmw_batcher_add(bt, s1, 7000));
        d = (dropper_t) {.drop = {a[0], a[1], a[2], s1}, .drop_cnt = 4};
        pmw_batcher_filter(bt, drop_listed, &d);
        assert_int_equal(pmw_batcher_jobs(bt), 0);
        assert_int_equal(pmw_batcher_next_due(bt), INT64_MAX);
        assert_null(pmw_batcher_take_due(bt, 0, true));
        pmw_batcher_destroy(bt);
}

/* A full batch's remaining room after a filter: the batcher keeps filling
 * the filtered batch up to the limits again. */
static void test_batcher_filter_then_fill(void **state) {
        jobs_t *jobs      = *state;
        pmw_batcher_t *bt = pmw_batcher_new(1, 3, 1 << 20, 1000);
        pmw_job_t *j[5];
        for (size_t i = 0; i < 5; i++)
                j[i] = job_sized(jobs, 0, PMW_ENDPOINT_BATCH, 20);
        assert_null(pmw_batcher_add(bt, j[0], 1));
        assert_null(pmw_batcher_add(bt, j[1], 2));
        dropper_t d = {.drop = {j[0]}, .drop_cnt = 1};
        pmw_batcher_filter(bt, drop_listed, &d);
        assert_int_equal(pmw_batcher_jobs(bt), 1);
        assert_null(pmw_batcher_add(bt, j[2], 3));
        pmw_batch_t *b = pmw_batcher_add(bt, j[3], 4);
        check_batch(b, 0, PMW_ENDPOINT_BATCH, &j[1], 3);
        /* The batch keeps the time of its first job ever (j[0]). */
        assert_int_equal(b->opened_us, 1);
        pmw_batch_destroy(b);
        pmw_batcher_destroy(bt);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_batch_new_push, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batch_many_jobs, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batch_fits, setup, teardown),
            cmocka_unit_test_setup_teardown(test_batch_filter, setup, teardown),
            cmocka_unit_test_setup_teardown(test_batch_split, setup, teardown),
            cmocka_unit_test_setup_teardown(test_batch_body_give_back, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batch_parsed_messages, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_max_messages, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_max_bytes, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_oversized, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_per_server_endpoint,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_batcher_linger, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_filter, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_batcher_filter_then_fill,
                                            setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
