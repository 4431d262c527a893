/*
 * worker/embedded.c: see embedded.h.
 */
#include "worker/embedded.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

struct pmw_embedded_s {
        rd_kafka_t *rk; /* owns the cluster's bookkeeping handle */
        rd_kafka_mock_cluster_t *mcluster; /* immutable after start */
        int broker_cnt;                    /* immutable after start */
        char *bootstrap;                   /* immutable after start */
};

/* Kafka's limits for a topic name. */
#define TOPIC_NAME_MAX 249
#define PARTITIONS_MAX 10000

/* librdkafka's lines go to DEBUG (STYLE.md section 6). The handle never
 * connects anywhere, so it has little to say. */
static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        (void)level;
        pmw_log(PMW_LOG_DEBUG, "kafka", "embedded %s: %s", fac, buf);
}

/* "embedded" -> 1, "embedded:N" -> N (1..16). */
static pmw_error_t *parse_spec(const char *spec, int *np) {
        static const char allowed[] =
            "allowed \"embedded\" or \"embedded:N\" with N 1..16";
        if (strcmp(spec, "embedded") == 0) {
                *np = 1;
                return NULL;
        }
        if (strncmp(spec, "embedded:", 9) != 0 || spec[9] < '0' ||
            spec[9] > '9')
                return pmw_error_new(PMW_ERR_INVALID, "\"%s\": %s", spec,
                                     allowed);
        char *end;
        errno  = 0;
        long n = strtol(spec + 9, &end, 10);
        if (errno || *end || n < 1 || n > 16)
                return pmw_error_new(PMW_ERR_INVALID, "\"%s\": %s", spec,
                                     allowed);
        *np = (int)n;
        return NULL;
}

static bool topic_name_ok(const char *topic) {
        size_t len = strlen(topic);
        if (len < 1 || len > TOPIC_NAME_MAX || !strcmp(topic, ".") ||
            !strcmp(topic, ".."))
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = topic[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

pmw_error_t *pmw_embedded_create_topic(pmw_embedded_t *emb,
                                       const char *topic,
                                       int partitions) {
        if (!topic_name_ok(topic))
                return pmw_error_new(PMW_ERR_INVALID,
                                     "topic \"%s\": allowed 1..%d characters "
                                     "of [A-Za-z0-9._-]",
                                     topic, TOPIC_NAME_MAX);
        if (partitions < 1 || partitions > PARTITIONS_MAX)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "topic %s: %d partitions: allowed 1..%d",
                                     topic, partitions, PARTITIONS_MAX);
        rd_kafka_resp_err_t kerr = rd_kafka_mock_topic_create(
            emb->mcluster, topic, partitions, PMW_MIN(3, emb->broker_cnt));
        if (kerr)
                return pmw_error_new(PMW_ERR_KAFKA, "topic %s: %s", topic,
                                     rd_kafka_err2str(kerr));
        return NULL;
}

pmw_error_t *pmw_embedded_start(const char *spec,
                                const char *const *topics,
                                size_t topic_cnt,
                                int partitions,
                                pmw_embedded_t **embp) {
        *embp                 = NULL;
        pmw_embedded_t *emb   = NULL;
        rd_kafka_conf_t *conf = NULL;
        int broker_cnt        = 0;
        pmw_error_t *err      = parse_spec(spec, &broker_cnt);
        if (err)
                goto out;
        if (partitions < 1 || partitions > PARTITIONS_MAX) {
                err = pmw_error_new(PMW_ERR_INVALID,
                                    "%d partitions: allowed 1..%d", partitions,
                                    PARTITIONS_MAX);
                goto out;
        }

        /* The cluster needs an rd_kafka_t for its timers and logging
         * only. A producer without bootstrap.servers never connects. */
        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        char errstr[512];
        if (rd_kafka_conf_set(conf, "client.id", "pmw-embedded-kafka", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                err = pmw_error_new(PMW_ERR_KAFKA, "client.id: %s", errstr);
                goto out;
        }
        emb             = pmw_calloc(1, sizeof(*emb));
        emb->broker_cnt = broker_cnt;
        emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!emb->rk) {
                err = pmw_error_new(PMW_ERR_KAFKA,
                                    "embedded Kafka: rd_kafka_new: %s", errstr);
                goto out;
        }
        conf          = NULL; /* rd_kafka_new() took it */
        emb->mcluster = rd_kafka_mock_cluster_new(emb->rk, broker_cnt);
        if (!emb->mcluster) {
                err = pmw_error_new(PMW_ERR_KAFKA,
                                    "embedded Kafka: cannot create a mock "
                                    "cluster of %d brokers (see DEBUG log)",
                                    broker_cnt);
                goto out;
        }
        emb->bootstrap =
            pmw_strdup(rd_kafka_mock_cluster_bootstraps(emb->mcluster));

        for (size_t i = 0; !err && i < topic_cnt; i++)
                err = pmw_embedded_create_topic(emb, topics[i], partitions);
        if (err)
                goto out;

        *embp = emb;
        emb   = NULL;
out:
        if (conf)
                rd_kafka_conf_destroy(conf);
        pmw_embedded_stop(emb);
        return err ? pmw_error_prefix(err, "embedded Kafka") : NULL;
}

const char *pmw_embedded_bootstrap(const pmw_embedded_t *emb) {
        return emb->bootstrap;
}

int pmw_embedded_broker_cnt(const pmw_embedded_t *emb) {
        return emb->broker_cnt;
}

rd_kafka_mock_cluster_t *pmw_embedded_mock(pmw_embedded_t *emb) {
        return emb->mcluster;
}

void pmw_embedded_stop(pmw_embedded_t *emb) {
        if (emb == NULL)
                return;
        if (emb->mcluster)
                rd_kafka_mock_cluster_destroy(emb->mcluster);
        if (emb->rk)
                rd_kafka_destroy(emb->rk);
        free(emb->bootstrap);
        free(emb);
}


/*
 * Tuning for the mock (the reasons are in embedded.h).
 */

typedef struct tune_s {
        bool consumer;
        const char *name;
        const char *value;
} tune_t;

static const tune_t tunes[] = {
    {true, "fetch.wait.max.ms", "20"},
    {true, "session.timeout.ms", "6000"},
    {true, "heartbeat.interval.ms", "1000"},
    {true, "fetch.error.backoff.ms", "100"},
    {true, "reconnect.backoff.max.ms", "1000"},
    {false, "reconnect.backoff.max.ms", "1000"},
    {false, "retry.backoff.ms", "50"},
};

/* A property's value, or "" if librdkafka has none to show. */
static void conf_value(const rd_kafka_conf_t *conf,
                       const char *name,
                       char *dst,
                       size_t size) {
        size_t len = size;
        if (rd_kafka_conf_get(conf, name, dst, &len) != RD_KAFKA_CONF_OK)
                dst[0] = '\0';
}

void pmw_embedded_tune_conf(rd_kafka_conf_t *conf, bool consumer) {
        rd_kafka_conf_t *defaults = rd_kafka_conf_new();
        for (size_t i = 0; i < PMW_ARRAY_LEN(tunes); i++) {
                if (tunes[i].consumer != consumer)
                        continue;
                char cur[64], def[64], errstr[256];
                conf_value(conf, tunes[i].name, cur, sizeof(cur));
                conf_value(defaults, tunes[i].name, def, sizeof(def));
                if (strcmp(cur, def) != 0)
                        continue; /* the user chose a value */
                /* The names and values are librdkafka's own: a failure is a
                 * librdkafka version without the property, not worth more
                 * than a DEBUG line. */
                if (rd_kafka_conf_set(conf, tunes[i].name, tunes[i].value,
                                      errstr,
                                      sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        pmw_log(PMW_LOG_DEBUG, "kafka", "embedded: %s=%s: %s",
                                tunes[i].name, tunes[i].value, errstr);
        }
        rd_kafka_conf_destroy(defaults);
}
