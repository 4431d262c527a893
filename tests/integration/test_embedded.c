/*
 * Integration test: the in-process Kafka (worker/embedded.h) with real
 * librdkafka clients on loopback, through tests/integration/kafka_util.h.
 *
 * - 1,000 records with keys and headers, on 1 and on 3 brokers, come back
 *   exactly once each, intact, with gapless offsets per partition.
 * - A consumer in a group (subscribe) joins, gets records, commits; the
 *   time of its first join, and of the rebalance when a second member
 *   joins, are printed (the numbers embedded.h and DESIGN.md quote).
 * - Records larger than the mock's per-partition retention are kept
 *   alone, and nothing is refused for its size (quirks embedded.h notes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/mem.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/testutil.h"
#include "worker/embedded.h"

#define RECORDS 1000

/* A decimal number of len bytes (Kafka payloads are not NUL-terminated);
 * -1 if it is not one. */
static int number(const void *data, size_t len) {
        char buf[16];
        if (len == 0 || len >= sizeof(buf))
                return -1;
        memcpy(buf, data, len);
        buf[len] = '\0';
        char *end;
        long v = strtol(buf, &end, 10);
        return *end || v < 0 || v > 1000000 ? -1 : (int)v;
}


/* Produces RECORDS records: i%3 == 0 without key, to partition -1 when i
 * is even (the partitioner) else to i % partitions; value "value-<i>",
 * headers job-id, seq and a repeated "dup" header. */
static void
produce_numbered(const char *bootstrap, const char *topic, int partitions) {
        pmw_ktest_producer_t *p = NULL;
        pmw_test_check(pmw_ktest_producer_new(bootstrap, NULL, &p));
        for (int i = 0; i < RECORDS; i++) {
                char key[32], value[32], job[32], seq[16];
                snprintf(key, sizeof(key), "customer-%d", i % 17);
                snprintf(value, sizeof(value), "value-%d", i);
                snprintf(job, sizeof(job), "job-%d", i);
                snprintf(seq, sizeof(seq), "%d", i);
                const char *const headers[] = {
                    "job-id", job, "seq", seq, "dup", "a", "dup", "b", NULL};
                pmw_test_check(pmw_ktest_produce(
                    p, topic, i % 2 == 0 ? -1 : i % partitions,
                    i % 3 == 0 ? NULL : key, strlen(key), value, strlen(value),
                    headers));
        }
        pmw_test_check(pmw_ktest_flush(p, 30000));
        assert_int_equal(pmw_ktest_delivered(p), RECORDS);
        pmw_ktest_producer_destroy(p);
}

/* Every record exactly once, intact; offsets 0..n-1 in each partition. */
static void check_numbered(const pmw_ktest_records_t *recs, int partitions) {
        assert_int_equal(recs->cnt, RECORDS);
        bool *seen           = pmw_calloc(RECORDS, sizeof(bool));
        int64_t *next_offset = pmw_calloc((size_t)partitions, sizeof(int64_t));
        int64_t now          = pmw_clock_wall_ms();
        for (size_t k = 0; k < recs->cnt; k++) {
                const pmw_ktest_record_t *r = &recs->v[k];
                assert_true(r->partition >= 0 && r->partition < partitions);
                assert_int_equal(r->offset, next_offset[r->partition]++);
                const char *seq = pmw_ktest_header(r, "seq");
                assert_non_null(seq);
                int i = number(seq, strlen(seq));
                assert_true(i >= 0 && i < RECORDS);
                assert_false(seen[i]);
                seen[i] = true;
                char buf[32];
                snprintf(buf, sizeof(buf), "value-%d", i);
                assert_int_equal(r->len, strlen(buf));
                assert_string_equal(r->value, buf);
                snprintf(buf, sizeof(buf), "job-%d", i);
                assert_string_equal(pmw_ktest_header(r, "job-id"), buf);
                assert_string_equal(pmw_ktest_header(r, "dup"), "b");
                assert_null(pmw_ktest_header(r, "missing"));
                assert_int_equal(r->header_cnt, 4);
                assert_string_equal(r->headers[2].name, "dup");
                assert_string_equal(r->headers[2].value, "a");
                if (i % 3 == 0) {
                        assert_false(r->has_key);
                        assert_null(r->key);
                } else {
                        snprintf(buf, sizeof(buf), "customer-%d", i % 17);
                        assert_true(r->has_key);
                        assert_int_equal(r->key_len, strlen(buf));
                        assert_string_equal(r->key, buf);
                }
                if (i % 2 == 1)
                        assert_int_equal(r->partition, i % partitions);
                /* CreateTime, set by the producer a moment ago. */
                assert_true(r->timestamp > now - 120000 && r->timestamp <= now);
        }
        free(seen);
        free(next_offset);
}

static void roundtrip(const char *spec, int partitions) {
        const char *const topics[] = {"email.jobs", "email.status"};
        pmw_embedded_t *emb        = NULL;
        pmw_test_check(pmw_embedded_start(spec, topics, 2, partitions, &emb));
        const char *bootstrap = pmw_embedded_bootstrap(emb);
        printf("%s: bootstrap %s\n", spec, bootstrap);

        produce_numbered(bootstrap, "email.jobs", partitions);
        int64_t t0               = pmw_clock_mono_us();
        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(pmw_ktest_consume_all(bootstrap, "email.jobs", RECORDS,
                                             500, 30000, &rec));
        printf("%s: %zu records read back in %.2f s (0.5 s quiet included)\n",
               spec, rec->cnt, (double)(pmw_clock_mono_us() - t0) / 1e6);
        check_numbered(rec, partitions);
        pmw_ktest_records_free(rec);

        /* The other topic is empty: nothing comes within the quiet time. */
        pmw_test_check(pmw_ktest_consume_all(bootstrap, "email.status", 0, 300,
                                             10000, &rec));
        assert_int_equal(rec->cnt, 0);
        pmw_ktest_records_free(rec);

        /* Quirk: the mock creates any topic a Metadata request names (4
         * partitions), whatever allow.auto.create.topics says; so reading
         * an unknown topic finds it empty, and it exists afterwards. */
        pmw_test_check(pmw_ktest_consume_all(bootstrap, "no.such.topic", 0, 100,
                                             10000, &rec));
        assert_int_equal(rec->cnt, 0);
        pmw_ktest_records_free(rec);
        pmw_error_t *err = pmw_embedded_create_topic(emb, "no.such.topic", 1);
        assert_non_null(err);
        assert_string_equal(pmw_error_string(err),
                            "topic no.such.topic: Broker: Topic already "
                            "exists");
        pmw_error_destroy(err);
        pmw_embedded_stop(emb);
}

static void test_roundtrip_1_broker(void **state) {
        (void)state;
        roundtrip("embedded", 4);
}

static void test_roundtrip_3_brokers(void **state) {
        (void)state;
        roundtrip("embedded:3", 6);
}

/* Metadata shows N brokers and min(3, N) replicas per partition. */
static void test_metadata(void **state) {
        (void)state;
        const char *const topics[] = {"t"};
        pmw_embedded_t *emb        = NULL;
        pmw_test_check(pmw_embedded_start("embedded:5", topics, 1, 7, &emb));
        assert_int_equal(pmw_embedded_broker_cnt(emb), 5);
        assert_non_null(pmw_embedded_mock(emb));
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                           pmw_embedded_bootstrap(emb), errstr,
                                           sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        const rd_kafka_metadata_t *md = NULL;
        assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), 0);
        assert_int_equal(md->broker_cnt, 5);
        int found = 0;
        for (int i = 0; i < md->topic_cnt; i++) {
                if (strcmp(md->topics[i].topic, "t") != 0)
                        continue;
                found++;
                assert_int_equal(md->topics[i].partition_cnt, 7);
                for (int j = 0; j < 7; j++)
                        assert_int_equal(
                            md->topics[i].partitions[j].replica_cnt, 3);
        }
        assert_int_equal(found, 1);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);

        /* Created at run time, then visible; a second time refused. */
        pmw_test_check(pmw_embedded_create_topic(emb, "later", 2));
        pmw_error_t *err = pmw_embedded_create_topic(emb, "later", 2);
        assert_non_null(err);
        assert_int_equal(pmw_error_code(err), PMW_ERR_KAFKA);
        pmw_error_destroy(err);
        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(pmw_ktest_consume_all(pmw_embedded_bootstrap(emb),
                                             "later", 0, 100, 10000, &rec));
        assert_int_equal(rec->cnt, 0);
        pmw_ktest_records_free(rec);
        pmw_embedded_stop(emb);
}

/* A consumer of group g, configured as the worker's would be. */
static rd_kafka_t *group_consumer(const char *bootstrap, const char *topic) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        const char *const props[][2] = {
            {"bootstrap.servers", bootstrap},  {"group.id", "g"},
            {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"},
            {"enable.partition.eof", "false"},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(props); i++)
                assert_int_equal(rd_kafka_conf_set(conf, props[i][0],
                                                   props[i][1], errstr,
                                                   sizeof(errstr)),
                                 RD_KAFKA_CONF_OK);
        pmw_embedded_tune_conf(conf, true);
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *sub =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        assert_int_equal(rd_kafka_subscribe(rk, sub), 0);
        rd_kafka_topic_partition_list_destroy(sub);
        return rk;
}

static int assigned_cnt(rd_kafka_t *rk) {
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(rk, &a) != 0)
                return 0;
        int n = a->cnt;
        rd_kafka_topic_partition_list_destroy(a);
        return n;
}

static double seconds_since(int64_t t0) {
        return (double)(pmw_clock_mono_us() - t0) / 1e6;
}

static void test_group_join(void **state) {
        (void)state;
        const char *const topics[] = {"jobs"};
        pmw_embedded_t *emb        = NULL;
        pmw_test_check(pmw_embedded_start("embedded", topics, 1, 4, &emb));
        const char *bootstrap = pmw_embedded_bootstrap(emb);

        pmw_ktest_producer_t *p = NULL;
        pmw_test_check(pmw_ktest_producer_new(bootstrap, NULL, &p));
        for (int i = 0; i < 100; i++) {
                char v[16];
                snprintf(v, sizeof(v), "%d", i);
                pmw_test_check(pmw_ktest_produce(p, "jobs", i % 4, NULL, 0, v,
                                                 strlen(v), NULL));
        }
        pmw_test_check(pmw_ktest_flush(p, 10000));

        /* First join: subscribe until the assignment, then all records. */
        int64_t t0     = pmw_clock_mono_us();
        rd_kafka_t *c1 = group_consumer(bootstrap, "jobs");
        double joined = -1, first = -1;
        int got        = 0;
        bool seen[100] = {false};
        while (got < 100 && seconds_since(t0) < 30) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c1, 50);
                if (joined < 0 && assigned_cnt(c1) == 4)
                        joined = seconds_since(t0);
                if (!m)
                        continue;
                if (!m->err) {
                        if (first < 0)
                                first = seconds_since(t0);
                        int i = number(m->payload, m->len);
                        assert_true(i >= 0 && i < 100);
                        assert_false(seen[i]);
                        seen[i] = true;
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        assert_int_equal(got, 100);
        printf(
            "group: first join (subscribe to assignment) %.2f s, first "
            "record %.2f s, all 100 records %.2f s\n",
            joined, first, seconds_since(t0));
        /* The mock answers a group's first join after 3 s. */
        assert_true(joined >= 2.5 && joined < 15);

        /* Commit synchronously; the offsets are stored in the mock. */
        assert_int_equal(rd_kafka_commit(c1, NULL, 0), 0);
        int64_t off[4];
        pmw_test_check(
            pmw_ktest_committed(bootstrap, "g", "jobs", off, 4, 10000));
        for (int i = 0; i < 4; i++)
                assert_int_equal(off[i], 25);

        /* A second member: the rebalance waits session.timeout.ms - 1 s. */
        int64_t t1        = pmw_clock_mono_us();
        rd_kafka_t *c2    = group_consumer(bootstrap, "jobs");
        double rebalanced = -1;
        while (seconds_since(t1) < 40) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c1, 20);
                if (m)
                        rd_kafka_message_destroy(m);
                m = rd_kafka_consumer_poll(c2, 20);
                if (m)
                        rd_kafka_message_destroy(m);
                if (assigned_cnt(c1) == 2 && assigned_cnt(c2) == 2) {
                        rebalanced = seconds_since(t1);
                        break;
                }
        }
        printf("group: second member joined, both assigned after %.2f s\n",
               rebalanced);
        assert_true(rebalanced >= 0);

        /* Offsets survive the rebalance: nothing is delivered again. */
        int again = 0;
        for (int64_t t2 = pmw_clock_mono_us(); seconds_since(t2) < 1.0;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c2, 20);
                if (m && !m->err)
                        again++;
                if (m)
                        rd_kafka_message_destroy(m);
                m = rd_kafka_consumer_poll(c1, 20);
                if (m && !m->err)
                        again++;
                if (m)
                        rd_kafka_message_destroy(m);
        }
        assert_int_equal(again, 0);

        int64_t t3 = pmw_clock_mono_us();
        rd_kafka_consumer_close(c2);
        rd_kafka_destroy(c2);
        rd_kafka_consumer_close(c1);
        rd_kafka_destroy(c1);
        printf("group: both members closed in %.2f s\n", seconds_since(t3));
        pmw_ktest_producer_destroy(p);
        pmw_embedded_stop(emb);
}

/* 3 records of 2 MB into one partition: the mock keeps about 5 MB per
 * partition, so the first is gone; none is refused for its size. */
static void test_retention_and_size(void **state) {
        (void)state;
        const char *const topics[] = {"big"};
        pmw_embedded_t *emb        = NULL;
        pmw_test_check(pmw_embedded_start("embedded", topics, 1, 1, &emb));
        const char *bootstrap     = pmw_embedded_bootstrap(emb);
        const char *const props[] = {"message.max.bytes", "3000000", NULL};
        pmw_ktest_producer_t *p   = NULL;
        pmw_test_check(pmw_ktest_producer_new(bootstrap, props, &p));
        size_t size = 2 * 1000 * 1000;
        char *value = pmw_malloc(size);
        for (int i = 0; i < 3; i++) {
                memset(value, 'a' + i, size);
                pmw_test_check(
                    pmw_ktest_produce(p, "big", 0, NULL, 0, value, size, NULL));
                pmw_test_check(
                    pmw_ktest_flush(p, 20000)); /* one record per set */
        }
        free(value);
        pmw_ktest_producer_destroy(p);

        pmw_ktest_records_t *rec = NULL;
        pmw_test_check(
            pmw_ktest_consume_all(bootstrap, "big", 2, 300, 20000, &rec));
        printf(
            "retention: 3 records of 2 MB produced, %zu kept, first "
            "offset %lld\n",
            rec->cnt, rec->cnt ? (long long)rec->v[0].offset : -1LL);
        assert_int_equal(rec->cnt, 2);
        assert_int_equal(rec->v[0].offset, 1);
        assert_int_equal(rec->v[0].len, size);
        assert_int_equal(rec->v[0].value[0], 'b');
        assert_int_equal(rec->v[1].value[size - 1], 'c');
        pmw_ktest_records_free(rec);
        pmw_embedded_stop(emb);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_1_broker),
            cmocka_unit_test(test_roundtrip_3_brokers),
            cmocka_unit_test(test_metadata),
            cmocka_unit_test(test_group_join),
            cmocka_unit_test(test_retention_and_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
