/*
 * worker/kafka_conf.h: builds the librdkafka configuration of the worker's
 * consumer and producer from the checked pmw_config_t.
 *
 * Why here: the properties the worker's correctness depends on (manual
 * offset store, idempotent acks=all producer) are set in one place, before
 * the user's pass-through list (which config.c already stopped from
 * overriding them), and --check uses the same function the pipeline uses,
 * so a property librdkafka rejects is found before any connection is made.
 *
 * Thread safety: no shared state; call from any thread.
 */
#ifndef PMW_WORKER_KAFKA_CONF_H
#define PMW_WORKER_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "common/error.h"
#include "config/config.h"

typedef enum pmw_kafka_role_e {
        PMW_KAFKA_CONSUMER,
        PMW_KAFKA_PRODUCER,
} pmw_kafka_role_t;

/**
 * @brief Builds the complete rd_kafka_conf_t for the consumer or producer.
 *
 * Consumer: bootstrap.servers = kafka.brokers, group.id = kafka.group_id,
 * enable.auto.offset.store=false, enable.auto.commit=true,
 * enable.partition.eof=false, then kafka.consumer. Producer:
 * bootstrap.servers, enable.idempotence=true, acks=all, then kafka.producer.
 * When kafka.brokers is "embedded" or "embedded:N", bootstrap.servers is left
 * unset (whoever starts the in-process cluster sets it) and the mock
 * cluster's client settings are applied (pmw_embedded_tune_conf()).
 *
 * No connection is made (no rd_kafka_t is created).
 *
 * @param cfg borrows.
 * @param confp receives the configuration (caller owns it: passes it to
 *        rd_kafka_new() or frees it with rd_kafka_conf_destroy()); NULL on
 *        error.
 * @returns NULL, or an error "kafka.consumer: <name>=<value>: <librdkafka's
 *          errstr>" (the value "****" when the property is secret).
 */
pmw_error_t *pmw_kafka_conf_new(const pmw_config_t *cfg,
                                pmw_kafka_role_t role,
                                rd_kafka_conf_t **confp) PMW_WARN_UNUSED;

#endif /* PMW_WORKER_KAFKA_CONF_H */
