/* Unit tests for worker/embedded: the spec and partition checks (they fail
 * before any cluster or socket exists) and pmw_embedded_tune_conf(), alone
 * and after pmw_kafka_conf_new() as the pipeline calls it. No connection is
 * made; the cluster itself is tested by integration_embedded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/log.h"
#include "config/config.h"
#include "worker/embedded.h"
#include "worker/kafka_conf.h"

/* The value of a property, or "" when unset. */
static void
get(rd_kafka_conf_t *conf, const char *name, char *dst, size_t size) {
        size_t len = size;
        if (rd_kafka_conf_get(conf, name, dst, &len) != RD_KAFKA_CONF_OK)
                dst[0] = '\0';
}

static void expect(rd_kafka_conf_t *conf, const char *name, const char *v) {
        char buf[512];
        get(conf, name, buf, sizeof(buf));
        assert_string_equal(buf, v);
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *v) {
        char errstr[256];
        assert_int_equal(
            rd_kafka_conf_set(conf, name, v, errstr, sizeof(errstr)),
            RD_KAFKA_CONF_OK);
}

static void start_fails(const char *spec, int partitions, const char *msg) {
        pmw_embedded_t *emb = (pmw_embedded_t *)&emb; /* must become NULL */
        const char *const topics[] = {"t"};
        pmw_error_t *err =
            pmw_embedded_start(spec, topics, 1, partitions, &emb);
        assert_null(emb);
        assert_non_null(err);
        assert_int_equal(pmw_error_code(err), PMW_ERR_INVALID);
        assert_string_equal(pmw_error_string(err), msg);
        pmw_error_destroy(err);
}

static void test_bad_spec(void **state) {
        (void)state;
        static const char *const bad[] = {
            "embedded:0",  "embedded:17", "embedded:",
            "embedded:+3", "embedded:3x", "embeddedx",
            "embedded: 3", "kafka:9092",  "embedded:99999999999999999999",
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++) {
                char msg[256];
                snprintf(msg, sizeof(msg),
                         "embedded Kafka: \"%s\": allowed \"embedded\" or "
                         "\"embedded:N\" with N 1..16",
                         bad[i]);
                start_fails(bad[i], 4, msg);
        }
        start_fails("embedded", 0,
                    "embedded Kafka: 0 partitions: allowed 1..10000");
        start_fails("embedded:16", 10001,
                    "embedded Kafka: 10001 partitions: allowed 1..10000");
        pmw_embedded_stop(NULL); /* allowed */
}

static void test_tune_consumer(void **state) {
        (void)state;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "fetch.wait.max.ms", "50"); /* the user's choice stays */
        pmw_embedded_tune_conf(conf, true);
        expect(conf, "fetch.wait.max.ms", "50");
        expect(conf, "session.timeout.ms", "6000");
        expect(conf, "heartbeat.interval.ms", "1000");
        expect(conf, "fetch.error.backoff.ms", "100");
        expect(conf, "reconnect.backoff.max.ms", "1000");
        expect(conf, "retry.backoff.ms", "100"); /* a producer setting */
        /* Idempotent: a second call changes nothing. */
        pmw_embedded_tune_conf(conf, true);
        expect(conf, "session.timeout.ms", "6000");
        rd_kafka_conf_destroy(conf);

        conf = rd_kafka_conf_new();
        pmw_embedded_tune_conf(conf, true);
        expect(conf, "fetch.wait.max.ms", "20");
        rd_kafka_conf_destroy(conf);
}

static void test_tune_producer(void **state) {
        (void)state;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "reconnect.backoff.max.ms", "5000");
        pmw_embedded_tune_conf(conf, false);
        expect(conf, "reconnect.backoff.max.ms", "5000");
        expect(conf, "retry.backoff.ms", "50");
        expect(conf, "fetch.wait.max.ms", "500"); /* consumer only */
        expect(conf, "session.timeout.ms", "45000");
        rd_kafka_conf_destroy(conf);
}

/* As the pipeline does it: the worker's configuration, then the tuning;
 * kafka.consumer's properties win, bootstrap.servers stays unset. */
static void test_after_kafka_conf(void **state) {
        (void)state;
        static const char *const sets[] = {
            "kafka.brokers=embedded:3",
            "kafka.consumer.session.timeout.ms=10000",
            "kafka.producer.retry.backoff.ms=200",
        };
        static const char *const env[] = {
            "POSTMARK_SERVER_TOKEN=tok-embedded-conf-1", NULL};
        pmw_config_source_t src = {.sets    = sets,
                                   .set_cnt = PMW_ARRAY_LEN(sets),
                                   .environ = (char *const *)env};
        pmw_config_t *cfg       = NULL;
        assert_null(pmw_config_load(&src, &cfg));

        rd_kafka_conf_t *conf = NULL;
        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_CONSUMER, &conf));
        expect(conf, "bootstrap.servers", "");
        expect(conf, "session.timeout.ms", "10000");
        expect(conf, "heartbeat.interval.ms", "1000");
        expect(conf, "fetch.wait.max.ms", "20");
        expect(conf, "enable.auto.offset.store", "false");
        rd_kafka_conf_destroy(conf);

        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf));
        expect(conf, "retry.backoff.ms", "200");
        expect(conf, "reconnect.backoff.max.ms", "1000");
        expect(conf, "enable.idempotence", "true");
        rd_kafka_conf_destroy(conf);
        pmw_config_destroy(cfg);
        pmw_log_clear_secrets();
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bad_spec),
            cmocka_unit_test(test_tune_consumer),
            cmocka_unit_test(test_tune_producer),
            cmocka_unit_test(test_after_kafka_conf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
