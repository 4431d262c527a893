/*
 * tests/kafka-tool/kafka_jsonl.h: Kafka records as JSON lines, the format
 * of pmw-kafka (tests/kafka-tool/pmw_kafka.c): parsing the lines
 * `pmw-kafka produce` reads, and writing the lines `pmw-kafka consume`
 * prints.
 *
 * Why a module of its own: the format is the tool's contract with scripts
 * (the demo, a dead-letter replay), and its corner cases (null versus
 * empty, header order and duplicates, bytes that are not UTF-8, the
 * partition of a record copied from another topic) are checked here by
 * unit tests, without Kafka.
 *
 * A consumed line:
 *   {"topic":"t","partition":0,"offset":5,"timestamp":"2026-...Z",
 *    "key":"k","value":"...","headers":[["name","value"],...]}
 * A produced line: {"value":...} with optional "key", "headers" (an
 * object, or an array of [name, value] pairs that keeps order and
 * duplicates) and "partition"; the other fields of a consumed line are
 * accepted and ignored, so consume's output replays as it is.
 *
 * Ownership: records are pmw_ktest_record_t (tests/integration/
 * kafka_util.h), freed with pmw_ktest_record_cleanup().
 * Thread safety: no shared state.
 */
#ifndef PMW_TESTS_KAFKA_JSONL_H
#define PMW_TESTS_KAFKA_JSONL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "tests/integration/kafka_util.h"

/* The longest input line (and so record) produce accepts: 64 MiB, beyond
 * any broker's default message.max.bytes, so the limit only guards the
 * tool's memory against a file that is not JSON lines. */
#define PMW_KAFKA_JSONL_LINE_MAX ((size_t)64 * 1024 * 1024)

/** @returns true if s[0..len) is empty or only JSON whitespace. */
bool pmw_kafka_jsonl_blank(const char *s, size_t len);

/**
 * @brief Parses one input line of `pmw-kafka produce`.
 *
 * "value" is required: a string is the value's bytes (\u0000 allowed);
 * null makes a record with a null value; any other JSON value is the
 * value serialised compactly (tests/kafka-tool/json.h). "key": string or null
 * (absent: no key). "headers": null, an object of name: value, or an
 * array of [name, value] pairs; a value is a string or null. "partition":
 * an integer 0..2147483647, or null for librdkafka's partitioner (by key);
 * it is used only when the line has no "topic" or the topic is the one
 * being produced to, because partition N of another topic says nothing
 * about where the record belongs here. "topic" (string), "offset"
 * (integer) and "timestamp" (string or null) are checked and ignored;
 * any other field is an error.
 *
 * @param line borrows: len bytes, need not be NUL-terminated.
 * @param topic borrows: the topic being produced to.
 * @param record receives the record (partition -1 when not given; offset
 *        and timestamp -1); on error it is left empty (zeroed). The caller
 *        frees it with pmw_ktest_record_cleanup().
 * @returns NULL; PMW_ERR_PARSE when the line is not JSON; PMW_ERR_INVALID
 *          when it is not a record of this shape. The message names the
 *          field but not the line (the caller knows its number).
 */
pmw_error_t *pmw_kafka_jsonl_parse(const char *line,
                                   size_t len,
                                   const char *topic,
                                   pmw_ktest_record_t *record) PMW_WARN_UNUSED;

/**
 * @brief Appends the JSON line (without '\n') of a record read from topic.
 *
 * Fields in this order: topic, partition, offset, timestamp (RFC 3339 UTC
 * with milliseconds, null when the record has none), key (null when
 * absent), value (null when null), headers (an array of [name, value]
 * pairs in record order; a null header value is null). Keys, values and
 * header values are JSON strings of their bytes: NUL and other control
 * bytes are escaped, and each byte that is not part of valid UTF-8 becomes
 * U+FFFD (so such a value does not replay byte for byte).
 *
 * @param buf borrows: appended to; its limit applies (check
 *        pmw_buf_failed()).
 * @param topic, record borrow.
 * @param json_value when true, a value that is a JSON object or array
 *        (jansson parses it, no duplicate keys) is embedded as JSON,
 *        compactly re-serialised, instead of as a string. Other values
 *        (scalars, invalid JSON) stay strings, so replaying the line never
 *        turns the text "null" into a null value or "\"a\"" into "a".
 */
void pmw_kafka_jsonl_format(pmw_buf_t *buf,
                            const char *topic,
                            const pmw_ktest_record_t *record,
                            bool json_value);

#endif /* PMW_TESTS_KAFKA_JSONL_H */
