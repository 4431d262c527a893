/*
 * tests/mock-broker/mock_cmd.h: the command language of the mock-broker
 * binary: one command per line on its stdin, parsed here into a
 * pmw_mock_cmd_t and run against the mock cluster.
 *
 * Why separate from main: parsing is pure, so the unit test checks every
 * name, number and error message without a cluster; running is a thin
 * switch over rdkafka_mock.h, tested by the integration test.
 *
 * Commands (words separated by blanks; names case-insensitive):
 *   down BROKER | up BROKER       broker id 1..N, or "all" / -1
 *   rtt BROKER MS                 MS 0..600000
 *   error REQUEST ERROR [COUNT]   COUNT 1..10000, default 1
 *   clear REQUEST
 *   leader TOPIC PARTITION BROKER (BROKER -1: no leader)
 *   topic NAME PARTITIONS
 *   quit
 * REQUEST is a Kafka ApiKey name (Produce, Fetch, ListOffsets, Metadata,
 * OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup, Heartbeat,
 * LeaveGroup, SyncGroup, ApiVersions, InitProducerId, ...) or its number
 * 0..67. ERROR is a librdkafka error name with or without the
 * RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT,
 * _TRANSPORT: the broker drops the connection) or its number.
 *
 * Thread safety: no shared state.
 */
#ifndef PMW_TESTS_MOCK_CMD_H
#define PMW_TESTS_MOCK_CMD_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/error.h"
#include "worker/embedded.h"

typedef enum pmw_mock_op_e {
        PMW_MOCK_DOWN,
        PMW_MOCK_UP,
        PMW_MOCK_RTT,
        PMW_MOCK_ERROR,
        PMW_MOCK_CLEAR,
        PMW_MOCK_LEADER,
        PMW_MOCK_TOPIC,
        PMW_MOCK_QUIT,
} pmw_mock_op_t;

/* Kafka's longest topic name is 249 bytes. */
#define PMW_MOCK_TOPIC_MAX 249

typedef struct pmw_mock_cmd_s {
        pmw_mock_op_t op;
        int32_t broker_id;       /* down, up, rtt, leader; -1 = all / none */
        int rtt_ms;              /* rtt */
        int16_t api_key;         /* error, clear */
        rd_kafka_resp_err_t err; /* error */
        int count;               /* error */
        char topic[PMW_MOCK_TOPIC_MAX + 1]; /* leader, topic */
        int32_t partition;                  /* leader */
        int partitions;                     /* topic */
} pmw_mock_cmd_t;

/**
 * @brief Parses one command line (without its '\n').
 * @param line borrows.
 * @param cmd receives the command (zeroed first).
 * @returns NULL, or PMW_ERR_PARSE with a message naming the bad word and
 *          what is allowed (the binary answers "error: <message>").
 */
pmw_error_t *pmw_mock_cmd_parse(const char *line,
                                pmw_mock_cmd_t *cmd) PMW_WARN_UNUSED;

/**
 * @brief Runs a parsed command on the cluster (quit does nothing here).
 * @param emb borrows.
 * @returns NULL, or PMW_ERR_KAFKA / PMW_ERR_INVALID with the mock's reason
 *          (e.g. an unknown broker id, an existing topic).
 */
pmw_error_t *pmw_mock_cmd_run(pmw_embedded_t *emb,
                              const pmw_mock_cmd_t *cmd) PMW_WARN_UNUSED;

/**
 * @brief A Kafka request type by name (case-insensitive) or number.
 * @returns true and *keyp, or false.
 */
bool pmw_mock_api_key_parse(const char *word, int16_t *keyp);

/**
 * @brief A librdkafka error code by name (case-insensitive, with or without
 *        RD_KAFKA_RESP_ERR_) or number; only codes librdkafka knows.
 * @returns true and *errp, or false.
 */
bool pmw_mock_err_parse(const char *word, rd_kafka_resp_err_t *errp);

#endif /* PMW_TESTS_MOCK_CMD_H */
