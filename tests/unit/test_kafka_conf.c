/* Unit tests for worker/kafka_conf: the properties the worker fixes, the
 * pass-through list, librdkafka's errors, masking. No connection is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/log.h"
#include "config/config.h"
#include "worker/kafka_conf.h"

static const char *const env_token[] = {
    "POSTMARK_SERVER_TOKEN=tok-kafka-conf-0001", NULL};

static pmw_config_t *load(const char *const *sets) {
        size_t n = 0;
        while (sets && sets[n])
                n++;
        pmw_config_source_t src = {
            .sets = sets, .set_cnt = n, .environ = (char *const *)env_token};
        pmw_config_t *cfg;
        pmw_error_t *err = pmw_config_load(&src, &cfg);
        if (err)
                fail_msg("%s", pmw_error_string(err));
        return cfg;
}

/* The value of a property, or "" when unset. */
static void
get(rd_kafka_conf_t *conf, const char *name, char *dst, size_t size) {
        size_t len = size;
        if (rd_kafka_conf_get(conf, name, dst, &len) != RD_KAFKA_CONF_OK)
                dst[0] = '\0';
}

static int teardown(void **state) {
        (void)state;
        pmw_log_clear_secrets();
        return 0;
}

static void test_consumer(void **state) {
        (void)state;
        pmw_config_t *cfg = load((const char *const[]) {
            "kafka.brokers=b1:9092,b2:9092", "kafka.group_id=grp",
            "kafka.consumer.fetch.wait.max.ms=50", NULL});
        rd_kafka_conf_t *conf;
        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_CONSUMER, &conf));
        char v[512];
        get(conf, "bootstrap.servers", v, sizeof(v));
        assert_string_equal(v, "b1:9092,b2:9092");
        get(conf, "group.id", v, sizeof(v));
        assert_string_equal(v, "grp");
        get(conf, "enable.auto.offset.store", v, sizeof(v));
        assert_string_equal(v, "false");
        get(conf, "enable.auto.commit", v, sizeof(v));
        assert_string_equal(v, "true");
        get(conf, "enable.partition.eof", v, sizeof(v));
        assert_string_equal(v, "false");
        get(conf, "auto.offset.reset", v, sizeof(v));
        assert_string_equal(v, "smallest"); /* librdkafka's name */
        get(conf, "queued.max.messages.kbytes", v, sizeof(v));
        assert_string_equal(v, "4096");
        get(conf, "fetch.wait.max.ms", v, sizeof(v));
        assert_string_equal(v, "50");
        rd_kafka_conf_destroy(conf);
        pmw_config_destroy(cfg);
}

static void test_producer(void **state) {
        (void)state;
        pmw_config_t *cfg =
            load((const char *const[]) {"kafka.producer.linger.ms=7", NULL});
        rd_kafka_conf_t *conf;
        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf));
        char v[512];
        get(conf, "bootstrap.servers", v, sizeof(v));
        assert_string_equal(v, "localhost:9092");
        get(conf, "enable.idempotence", v, sizeof(v));
        assert_string_equal(v, "true");
        get(conf, "acks", v, sizeof(v));
        assert_string_equal(v, "-1"); /* all */
        get(conf, "linger.ms", v, sizeof(v));
        assert_string_equal(v, "7");
        get(conf, "queued.max.messages.kbytes", v, sizeof(v));
        assert_string_not_equal(v, "4096"); /* consumer-only default */
        rd_kafka_conf_destroy(conf);
        pmw_config_destroy(cfg);
}

static void test_embedded_leaves_bootstrap_unset(void **state) {
        (void)state;
        pmw_config_t *cfg =
            load((const char *const[]) {"kafka.brokers=embedded:3", NULL});
        rd_kafka_conf_t *conf;
        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_CONSUMER, &conf));
        char v[512];
        get(conf, "bootstrap.servers", v, sizeof(v));
        assert_string_equal(v, "");
        rd_kafka_conf_destroy(conf);
        pmw_config_destroy(cfg);
}

static void test_librdkafka_rejects(void **state) {
        (void)state;
        pmw_config_t *cfg     = load((const char *const[]) {
                "kafka.consumer.fetch.wait.max.ms=abc", NULL});
        rd_kafka_conf_t *conf = (rd_kafka_conf_t *)1;
        pmw_error_t *err = pmw_kafka_conf_new(cfg, PMW_KAFKA_CONSUMER, &conf);
        assert_null(conf);
        assert_string_equal(pmw_error_string(err),
                            "kafka.consumer: fetch.wait.max.ms=abc: Invalid "
                            "value for configuration property "
                            "\"fetch.wait.max.ms\"");
        pmw_error_destroy(err);
        /* the producer does not see the consumer's list */
        assert_null(pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf));
        rd_kafka_conf_destroy(conf);
        pmw_config_destroy(cfg);

        cfg =
            load((const char *const[]) {"kafka.producer.no.such.prop=1", NULL});
        err = pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf);
        assert_string_equal(pmw_error_string(err),
                            "kafka.producer: no.such.prop: No such "
                            "configuration property: \"no.such.prop\"");
        pmw_error_destroy(err);
        pmw_config_destroy(cfg);
}

/* A value is never echoed: a misspelt secret property is not known to be
 * secret. */
static void test_value_not_echoed(void **state) {
        (void)state;
        pmw_config_t *cfg = load((const char *const[]) {
            "kafka.consumer.no.such.secret=hunter2-sec",
            "kafka.producer.sasl.pasword=hunter3-sec", NULL});
        rd_kafka_conf_t *conf;
        pmw_error_t *err = pmw_kafka_conf_new(cfg, PMW_KAFKA_CONSUMER, &conf);
        assert_string_equal(pmw_error_string(err),
                            "kafka.consumer: no.such.secret: No such "
                            "configuration property: \"no.such.secret\"");
        pmw_error_destroy(err);
        err = pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf);
        assert_non_null(err);
        assert_null(strstr(pmw_error_string(err), "hunter3"));
        pmw_error_destroy(err);
        pmw_config_destroy(cfg);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_teardown(test_consumer, teardown),
            cmocka_unit_test_teardown(test_producer, teardown),
            cmocka_unit_test_teardown(test_embedded_leaves_bootstrap_unset,
                                      teardown),
            cmocka_unit_test_teardown(test_librdkafka_rejects, teardown),
            cmocka_unit_test_teardown(test_value_not_echoed, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
