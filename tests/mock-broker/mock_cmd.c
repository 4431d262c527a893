/*
 * tests/mock-broker/mock_cmd.c: see mock_cmd.h.
 */
#include "tests/mock-broker/mock_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka_mock.h>

#include "common/defs.h"
#include "common/mem.h"

/* Kafka protocol ApiKeys (kafka.apache.org/protocol, "Api Keys"): the
 * requests the 2.0.2 mock answers, under Kafka's names. */
static const struct {
        const char *name;
        int16_t key;
} api_keys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
    {"SaslAuthenticate", 36},
};

/* The highest ApiKey librdkafka 2.0.2 knows (DescribeProducers is 61,
 * its RD_KAFKAP__NUM is 68). */
#define API_KEY_MAX 67

#define WORDS_MAX 5

/* A decimal integer in [min, max], the whole word. */
static bool parse_long(const char *word, long min, long max, long *vp) {
        if (!((word[0] >= '0' && word[0] <= '9') ||
              (word[0] == '-' && word[1] >= '0' && word[1] <= '9')))
                return false;
        char *end;
        errno  = 0;
        long v = strtol(word, &end, 10);
        if (errno || *end || v < min || v > max)
                return false;
        *vp = v;
        return true;
}

bool pmw_mock_api_key_parse(const char *word, int16_t *keyp) {
        for (size_t i = 0; i < PMW_ARRAY_LEN(api_keys); i++) {
                if (strcasecmp(word, api_keys[i].name) == 0) {
                        *keyp = api_keys[i].key;
                        return true;
                }
        }
        long v;
        if (!parse_long(word, 0, API_KEY_MAX, &v))
                return false;
        *keyp = (int16_t)v;
        return true;
}

bool pmw_mock_err_parse(const char *word, rd_kafka_resp_err_t *errp) {
        static const char prefix[] = "RD_KAFKA_RESP_ERR_";
        const struct rd_kafka_err_desc *descs;
        size_t cnt;
        rd_kafka_get_err_descs(&descs, &cnt);
        long num;
        bool by_number = parse_long(word, -1000000, 1000000, &num);
        if (strncasecmp(word, prefix, sizeof(prefix) - 1) == 0)
                word += sizeof(prefix) - 1;
        for (size_t i = 0; i < cnt; i++) {
                if (!descs[i].name)
                        continue; /* a gap in the table */
                if (by_number ? descs[i].code == num
                              : strcasecmp(word, descs[i].name) == 0) {
                        *errp = descs[i].code;
                        return true;
                }
        }
        return false;
}

/* A broker id: 1..16, or "all" / -1 (every broker). */
static bool parse_broker(const char *word, int32_t *idp) {
        long v;
        if (strcasecmp(word, "all") == 0) {
                *idp = -1;
                return true;
        }
        if (!parse_long(word, -1, 16, &v) || v == 0)
                return false;
        *idp = (int32_t)v;
        return true;
}

/* Splits a copy of line into blank-separated words. */
static pmw_error_t *
split(const char *line, char *copy, size_t size, char **words, size_t *cntp) {
        size_t len = strlen(line);
        if (len >= size)
                return pmw_error_new(PMW_ERR_PARSE,
                                     "line too long (%zu bytes, at most %zu)",
                                     len, size - 1);
        memcpy(copy, line, len + 1);
        size_t n   = 0;
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t\r", &save); w;
             w       = strtok_r(NULL, " \t\r", &save)) {
                if (n == WORDS_MAX)
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "too many words (at most %d)",
                                             WORDS_MAX);
                words[n++] = w;
        }
        *cntp = n;
        return NULL;
}

pmw_error_t *pmw_mock_cmd_parse(const char *line, pmw_mock_cmd_t *cmd) {
        static const struct {
                const char *name;
                pmw_mock_op_t op;
                size_t min_args, max_args;
                const char *usage;
        } ops[] = {
            {"down", PMW_MOCK_DOWN, 1, 1, "down BROKER"},
            {"up", PMW_MOCK_UP, 1, 1, "up BROKER"},
            {"rtt", PMW_MOCK_RTT, 2, 2, "rtt BROKER MS"},
            {"error", PMW_MOCK_ERROR, 2, 3, "error REQUEST ERROR [COUNT]"},
            {"clear", PMW_MOCK_CLEAR, 1, 1, "clear REQUEST"},
            {"leader", PMW_MOCK_LEADER, 3, 3, "leader TOPIC PARTITION BROKER"},
            {"topic", PMW_MOCK_TOPIC, 2, 2, "topic NAME PARTITIONS"},
            {"quit", PMW_MOCK_QUIT, 0, 0, "quit"},
        };
        memset(cmd, 0, sizeof(*cmd));
        char copy[1024];
        char *w[WORDS_MAX];
        size_t n         = 0;
        pmw_error_t *err = split(line, copy, sizeof(copy), w, &n);
        if (err)
                return err;
        if (n == 0)
                return pmw_error_new(PMW_ERR_PARSE, "empty command");

        size_t i = 0;
        while (i < PMW_ARRAY_LEN(ops) && strcasecmp(w[0], ops[i].name) != 0)
                i++;
        if (i == PMW_ARRAY_LEN(ops))
                return pmw_error_new(PMW_ERR_PARSE,
                                     "unknown command \"%s\" (allowed: down, "
                                     "up, rtt, error, clear, leader, topic, "
                                     "quit)",
                                     w[0]);
        if (n - 1 < ops[i].min_args || n - 1 > ops[i].max_args)
                return pmw_error_new(PMW_ERR_PARSE, "usage: %s", ops[i].usage);
        cmd->op = ops[i].op;

        long v;
        switch (cmd->op) {
        case PMW_MOCK_DOWN:
        case PMW_MOCK_UP:
        case PMW_MOCK_RTT:
                if (!parse_broker(w[1], &cmd->broker_id))
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "broker \"%s\": allowed 1..16, "
                                             "all or -1",
                                             w[1]);
                if (cmd->op != PMW_MOCK_RTT)
                        break;
                if (!parse_long(w[2], 0, 600000, &v))
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "rtt \"%s\": allowed 0..600000 "
                                             "(ms)",
                                             w[2]);
                cmd->rtt_ms = (int)v;
                break;
        case PMW_MOCK_ERROR:
        case PMW_MOCK_CLEAR:
                if (!pmw_mock_api_key_parse(w[1], &cmd->api_key))
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "unknown request \"%s\" (a "
                                             "Kafka ApiKey name such as "
                                             "Produce, Fetch, JoinGroup, or "
                                             "0..%d)",
                                             w[1], API_KEY_MAX);
                if (cmd->op == PMW_MOCK_CLEAR)
                        break;
                if (!pmw_mock_err_parse(w[2], &cmd->err))
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "unknown error \"%s\" (a "
                                             "librdkafka error name such as "
                                             "NOT_LEADER_FOR_PARTITION, or "
                                             "its number)",
                                             w[2]);
                cmd->count = 1;
                if (n == 4) {
                        if (!parse_long(w[3], 1, 10000, &v))
                                return pmw_error_new(PMW_ERR_PARSE,
                                                     "count \"%s\": allowed "
                                                     "1..10000",
                                                     w[3]);
                        cmd->count = (int)v;
                }
                break;
        case PMW_MOCK_LEADER:
        case PMW_MOCK_TOPIC:
                if (strlen(w[1]) > PMW_MOCK_TOPIC_MAX)
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "topic name longer than %d "
                                             "bytes",
                                             PMW_MOCK_TOPIC_MAX);
                memcpy(cmd->topic, w[1], strlen(w[1]) + 1);
                if (cmd->op == PMW_MOCK_TOPIC) {
                        if (!parse_long(w[2], 1, 10000, &v))
                                return pmw_error_new(PMW_ERR_PARSE,
                                                     "partitions \"%s\": "
                                                     "allowed 1..10000",
                                                     w[2]);
                        cmd->partitions = (int)v;
                        break;
                }
                if (!parse_long(w[2], 0, 9999, &v))
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "partition \"%s\": allowed "
                                             "0..9999",
                                             w[2]);
                cmd->partition = (int32_t)v;
                if (!parse_long(w[3], -1, 16, &v) || v == 0)
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "broker \"%s\": allowed 1..16, "
                                             "or -1 for no leader",
                                             w[3]);
                cmd->broker_id = (int32_t)v;
                break;
        case PMW_MOCK_QUIT:
                break;
        }
        return NULL;
}

/* The mock accepts ids it does not have without complaint for some
 * operations, so ids are checked against the cluster here. */
static pmw_error_t *check_broker(pmw_embedded_t *emb, int32_t id) {
        int n = pmw_embedded_broker_cnt(emb);
        if (id == -1 || (id >= 1 && id <= n))
                return NULL;
        return pmw_error_new(PMW_ERR_INVALID,
                             "no broker %d (this cluster has 1..%d)", (int)id,
                             n);
}

static pmw_error_t *kafka_result(const char *what, rd_kafka_resp_err_t kerr) {
        if (!kerr)
                return NULL;
        return pmw_error_new(PMW_ERR_KAFKA, "%s: %s", what,
                             rd_kafka_err2str(kerr));
}

pmw_error_t *pmw_mock_cmd_run(pmw_embedded_t *emb, const pmw_mock_cmd_t *cmd) {
        rd_kafka_mock_cluster_t *mc = pmw_embedded_mock(emb);
        pmw_error_t *err            = NULL;
        switch (cmd->op) {
        case PMW_MOCK_DOWN:
        case PMW_MOCK_UP:
        case PMW_MOCK_RTT:
                err = check_broker(emb, cmd->broker_id);
                if (err)
                        return err;
                if (cmd->op == PMW_MOCK_DOWN)
                        return kafka_result(
                            "down",
                            rd_kafka_mock_broker_set_down(mc, cmd->broker_id));
                if (cmd->op == PMW_MOCK_UP)
                        return kafka_result("up", rd_kafka_mock_broker_set_up(
                                                      mc, cmd->broker_id));
                return kafka_result(
                    "rtt", rd_kafka_mock_broker_set_rtt(mc, cmd->broker_id,
                                                        cmd->rtt_ms));
        case PMW_MOCK_ERROR: {
                rd_kafka_resp_err_t *errs =
                    pmw_calloc((size_t)cmd->count, sizeof(*errs));
                for (int i = 0; i < cmd->count; i++)
                        errs[i] = cmd->err;
                rd_kafka_mock_push_request_errors_array(
                    mc, cmd->api_key, (size_t)cmd->count, errs);
                free(errs);
                return NULL;
        }
        case PMW_MOCK_CLEAR:
                rd_kafka_mock_clear_request_errors(mc, cmd->api_key);
                return NULL;
        case PMW_MOCK_LEADER:
                if (cmd->broker_id != -1) {
                        err = check_broker(emb, cmd->broker_id);
                        if (err)
                                return err;
                }
                return kafka_result(
                    "leader",
                    rd_kafka_mock_partition_set_leader(
                        mc, cmd->topic, cmd->partition, cmd->broker_id));
        case PMW_MOCK_TOPIC:
                return pmw_embedded_create_topic(emb, cmd->topic,
                                                 cmd->partitions);
        case PMW_MOCK_QUIT:
                return NULL;
        }
        return NULL;
}
