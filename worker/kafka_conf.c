/*
 * worker/kafka_conf.c: see kafka_conf.h.
 */
#include "worker/kafka_conf.h"

#include <string.h>

#include "worker/embedded.h"

/* Sets one property, turning librdkafka's errstr into our error. where is
 * the config key the property came from, for the message. The value is
 * quoted only for a property librdkafka knows and that is not secret: a
 * misspelt secret property (sasl.pasword=...) is not known to be one. */
static pmw_error_t *conf_set(rd_kafka_conf_t *conf,
                             const char *where,
                             const char *name,
                             const char *value) {
        char errstr[512];
        rd_kafka_conf_res_t res =
            rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
        if (res == RD_KAFKA_CONF_OK)
                return NULL;
        if (res == RD_KAFKA_CONF_UNKNOWN || pmw_config_is_secret_property(name))
                return pmw_error_new(PMW_ERR_INVALID, "%s: %s: %s", where, name,
                                     errstr);
        return pmw_error_new(PMW_ERR_INVALID, "%s: %s=%s: %s", where, name,
                             value, errstr);
}

pmw_error_t *pmw_kafka_conf_new(const pmw_config_t *cfg,
                                pmw_kafka_role_t role,
                                rd_kafka_conf_t **confp) {
        *confp               = NULL;
        bool consumer        = role == PMW_KAFKA_CONSUMER;
        const char *list_key = consumer ? "kafka.consumer" : "kafka.producer";
        const pmw_kv_list_t *list =
            consumer ? &cfg->kafka.consumer : &cfg->kafka.producer;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        pmw_error_t *err      = NULL;

        if (!pmw_config_brokers_embedded(cfg->kafka.brokers))
                err = conf_set(conf, "kafka.brokers", "bootstrap.servers",
                               cfg->kafka.brokers);

        if (consumer) {
                /* The worker stores an offset only once the job's status
                 * record is acknowledged; librdkafka commits what is
                 * stored. */
                static const char *const fixed[][2] = {
                    {"enable.auto.offset.store", "false"},
                    {"enable.auto.commit", "true"},
                    {"enable.partition.eof", "false"},
                };
                if (!err)
                        err = conf_set(conf, "kafka.group_id", "group.id",
                                       cfg->kafka.group_id);
                for (size_t i = 0; !err && i < PMW_ARRAY_LEN(fixed); i++)
                        err =
                            conf_set(conf, list_key, fixed[i][0], fixed[i][1]);
        } else {
                /* At-least-once: a status record counts only when all
                 * in-sync replicas have it, without duplicates on retry. */
                static const char *const fixed[][2] = {
                    {"enable.idempotence", "true"},
                    {"acks", "all"},
                };
                for (size_t i = 0; !err && i < PMW_ARRAY_LEN(fixed); i++)
                        err =
                            conf_set(conf, list_key, fixed[i][0], fixed[i][1]);
        }

        for (size_t i = 0; !err && i < list->cnt; i++)
                err = conf_set(conf, list_key, list->kv[i].name,
                               list->kv[i].value);

        if (err) {
                rd_kafka_conf_destroy(conf);
                return err;
        }
        /* The mock cluster's client settings, for both roles, where the
         * user left librdkafka's defaults (DESIGN.md, Kafka on one
         * machine). */
        if (pmw_config_brokers_embedded(cfg->kafka.brokers))
                pmw_embedded_tune_conf(conf, consumer);
        *confp = conf;
        return NULL;
}
