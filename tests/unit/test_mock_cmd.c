/* Unit tests for tests/mock-broker/mock_cmd: parsing every command, the
 * request and error names, and each error message. No cluster is made
 * (running commands is covered by integration_mock_broker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/mock-broker/mock_cmd.h"

static pmw_mock_cmd_t parse_ok(const char *line) {
        pmw_mock_cmd_t cmd;
        pmw_error_t *err = pmw_mock_cmd_parse(line, &cmd);
        if (err)
                fail_msg("\"%s\": %s", line, pmw_error_string(err));
        return cmd;
}

static void parse_fails(const char *line, const char *expect) {
        pmw_mock_cmd_t cmd;
        pmw_error_t *err = pmw_mock_cmd_parse(line, &cmd);
        assert_non_null(err);
        assert_int_equal(pmw_error_code(err), PMW_ERR_PARSE);
        assert_string_equal(pmw_error_string(err), expect);
        pmw_error_destroy(err);
}

static void test_broker_commands(void **state) {
        (void)state;
        pmw_mock_cmd_t c = parse_ok("down 1");
        assert_int_equal(c.op, PMW_MOCK_DOWN);
        assert_int_equal(c.broker_id, 1);
        c = parse_ok("  UP\t16 ");
        assert_int_equal(c.op, PMW_MOCK_UP);
        assert_int_equal(c.broker_id, 16);
        c = parse_ok("down all");
        assert_int_equal(c.broker_id, -1);
        c = parse_ok("up -1");
        assert_int_equal(c.broker_id, -1);
        c = parse_ok("rtt 2 600000");
        assert_int_equal(c.op, PMW_MOCK_RTT);
        assert_int_equal(c.broker_id, 2);
        assert_int_equal(c.rtt_ms, 600000);
        c = parse_ok("rtt all 0\r"); /* a CRLF line */
        assert_int_equal(c.rtt_ms, 0);

        parse_fails("down", "usage: down BROKER");
        parse_fails("down 1 2", "usage: down BROKER");
        parse_fails("down 0", "broker \"0\": allowed 1..16, all or -1");
        parse_fails("down 17", "broker \"17\": allowed 1..16, all or -1");
        parse_fails("up -2", "broker \"-2\": allowed 1..16, all or -1");
        parse_fails("up 1x", "broker \"1x\": allowed 1..16, all or -1");
        parse_fails("up +1", "broker \"+1\": allowed 1..16, all or -1");
        parse_fails("rtt 1", "usage: rtt BROKER MS");
        parse_fails("rtt 1 600001", "rtt \"600001\": allowed 0..600000 (ms)");
        parse_fails("rtt 1 -1", "rtt \"-1\": allowed 0..600000 (ms)");
        parse_fails("rtt 1 99999999999999999999",
                    "rtt \"99999999999999999999\": allowed 0..600000 (ms)");
}

static void test_error_commands(void **state) {
        (void)state;
        pmw_mock_cmd_t c = parse_ok("error Produce NOT_LEADER_FOR_PARTITION 3");
        assert_int_equal(c.op, PMW_MOCK_ERROR);
        assert_int_equal(c.api_key, 0);
        assert_int_equal(c.err, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        assert_int_equal(c.count, 3);
        c = parse_ok("error joingroup rd_kafka_resp_err__transport");
        assert_int_equal(c.api_key, 11);
        assert_int_equal(c.err, RD_KAFKA_RESP_ERR__TRANSPORT);
        assert_int_equal(c.count, 1);
        c = parse_ok("error 22 7 10000");
        assert_int_equal(c.api_key, 22);
        assert_int_equal(c.err, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        assert_int_equal(c.count, 10000);
        c = parse_ok("clear OffsetCommit");
        assert_int_equal(c.op, PMW_MOCK_CLEAR);
        assert_int_equal(c.api_key, 8);

        parse_fails("error Produce", "usage: error REQUEST ERROR [COUNT]");
        parse_fails("error Produce X 1 2",
                    "usage: error REQUEST ERROR [COUNT]");
        parse_fails("error Bogus REQUEST_TIMED_OUT",
                    "unknown request \"Bogus\" (a Kafka ApiKey name such as "
                    "Produce, Fetch, JoinGroup, or 0..67)");
        parse_fails("clear 68",
                    "unknown request \"68\" (a Kafka ApiKey name "
                    "such as Produce, Fetch, JoinGroup, or "
                    "0..67)");
        parse_fails("error Fetch NOT_AN_ERROR",
                    "unknown error \"NOT_AN_ERROR\" (a librdkafka error name "
                    "such as NOT_LEADER_FOR_PARTITION, or its number)");
        parse_fails("error Fetch 99999",
                    "unknown error \"99999\" (a librdkafka error name such as "
                    "NOT_LEADER_FOR_PARTITION, or its number)");
        parse_fails("error Fetch 6 0", "count \"0\": allowed 1..10000");
        parse_fails("error Fetch 6 10001", "count \"10001\": allowed 1..10000");
        parse_fails("clear", "usage: clear REQUEST");
}

static void test_topic_commands(void **state) {
        (void)state;
        pmw_mock_cmd_t c = parse_ok("topic email.jobs 12");
        assert_int_equal(c.op, PMW_MOCK_TOPIC);
        assert_string_equal(c.topic, "email.jobs");
        assert_int_equal(c.partitions, 12);
        c = parse_ok("leader email.jobs 3 2");
        assert_int_equal(c.op, PMW_MOCK_LEADER);
        assert_string_equal(c.topic, "email.jobs");
        assert_int_equal(c.partition, 3);
        assert_int_equal(c.broker_id, 2);
        c = parse_ok("leader t 0 -1");
        assert_int_equal(c.broker_id, -1);

        char longname[300] = "topic ";
        memset(longname + 6, 'a', 250);
        memcpy(longname + 256, " 1", 3);
        parse_fails(longname, "topic name longer than 249 bytes");
        parse_fails("topic t 0", "partitions \"0\": allowed 1..10000");
        parse_fails("topic t", "usage: topic NAME PARTITIONS");
        parse_fails("leader t 0", "usage: leader TOPIC PARTITION BROKER");
        parse_fails("leader t -1 1", "partition \"-1\": allowed 0..9999");
        parse_fails("leader t 0 0",
                    "broker \"0\": allowed 1..16, or -1 for no leader");
}

static void test_other(void **state) {
        (void)state;
        pmw_mock_cmd_t c = parse_ok("quit");
        assert_int_equal(c.op, PMW_MOCK_QUIT);
        parse_fails("quit now", "usage: quit");
        parse_fails("", "empty command");
        parse_fails(" \t ", "empty command");
        parse_fails("frob 1",
                    "unknown command \"frob\" (allowed: down, up, "
                    "rtt, error, clear, leader, topic, quit)");
        parse_fails("a b c d e f", "too many words (at most 5)");
        char big[1100];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        parse_fails(big, "line too long (1099 bytes, at most 1023)");
}

static void test_names(void **state) {
        (void)state;
        static const struct {
                const char *name;
                int16_t key;
        } keys[] = {
            {"Produce", 0},          {"FETCH", 1},        {"ListOffsets", 2},
            {"Metadata", 3},         {"OffsetCommit", 8}, {"OffsetFetch", 9},
            {"FindCoordinator", 10}, {"JoinGroup", 11},   {"Heartbeat", 12},
            {"LeaveGroup", 13},      {"SyncGroup", 14},   {"ApiVersions", 18},
            {"InitProducerId", 22},  {"EndTxn", 26},      {"67", 67},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(keys); i++) {
                int16_t k = -1;
                assert_true(pmw_mock_api_key_parse(keys[i].name, &k));
                assert_int_equal(k, keys[i].key);
        }
        int16_t k;
        assert_false(pmw_mock_api_key_parse("-1", &k));
        assert_false(pmw_mock_api_key_parse("Produce2", &k));
        assert_false(pmw_mock_api_key_parse("", &k));

        rd_kafka_resp_err_t e;
        assert_true(pmw_mock_err_parse("REQUEST_TIMED_OUT", &e));
        assert_int_equal(e, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        assert_true(
            pmw_mock_err_parse("RD_KAFKA_RESP_ERR_COORDINATOR_NOT_"
                               "AVAILABLE",
                               &e));
        assert_int_equal(e, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
        assert_true(pmw_mock_err_parse("0", &e));
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_true(pmw_mock_err_parse("-195", &e)); /* _TRANSPORT */
        assert_int_equal(e, RD_KAFKA_RESP_ERR__TRANSPORT);
        assert_false(pmw_mock_err_parse("TRANSPORT", &e)); /* needs the _ */
        assert_false(pmw_mock_err_parse("RD_KAFKA_RESP_ERR_", &e));
        assert_false(pmw_mock_err_parse("6x", &e));
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_broker_commands),
            cmocka_unit_test(test_error_commands),
            cmocka_unit_test(test_topic_commands),
            cmocka_unit_test(test_other),
            cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
