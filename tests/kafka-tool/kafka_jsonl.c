/*
 * tests/kafka-tool/kafka_jsonl.c: see kafka_jsonl.h.
 */
#include "tests/kafka-tool/kafka_jsonl.h"

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "tests/kafka-tool/json.h"
#include "common/mem.h"

bool pmw_kafka_jsonl_blank(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
                        return false;
        return true;
}

static char *copy_bytes(const char *s, size_t len) {
        char *d = pmw_malloc(len + 1);
        if (len)
                memcpy(d, s, len);
        d[len] = '\0';
        return d;
}

/* The value's bytes: a string as it is, anything else compact JSON. */
static pmw_error_t *set_value(pmw_ktest_record_t *record, const json_t *value) {
        if (json_is_null(value))
                return NULL;
        if (json_is_string(value)) {
                record->len = json_string_length(value);
                record->value =
                    copy_bytes(json_string_value(value), record->len);
                return NULL;
        }
        /* Compact output is no longer than the parsed text, except for
         * reals ("1e14" becomes "100000000000000.0"): the limit leaves room
         * for that and still bounds what one line can cost. */
        pmw_buf_t buf;
        pmw_buf_init(&buf, 4 * PMW_KAFKA_JSONL_LINE_MAX);
        pmw_json_write(&buf, value);
        if (pmw_buf_failed(&buf)) {
                pmw_buf_cleanup(&buf);
                return pmw_error_new(PMW_ERR_LIMIT,
                                     "\"value\": serialised, longer than %zu "
                                     "bytes",
                                     4 * PMW_KAFKA_JSONL_LINE_MAX);
        }
        record->value = pmw_buf_take(&buf, &record->len);
        return NULL;
}

/* name is NUL-terminated and name_len long: a header name (librdkafka
 * takes NUL-terminated names) may not contain NUL. Object keys cannot
 * (jansson refuses them); array strings can. */
static pmw_error_t *add_header(pmw_ktest_record_t *record,
                               const char *name,
                               size_t name_len,
                               const json_t *value) {
        if (strlen(name) != name_len)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "\"headers\": header name \"%.64s...\" "
                                     "contains \\u0000",
                                     name);
        if (!json_is_string(value) && !json_is_null(value))
                return pmw_error_new(PMW_ERR_INVALID,
                                     "\"headers\": the value of header "
                                     "\"%.64s\" must be a string or null",
                                     name);
        pmw_ktest_header_t *h = &record->headers[record->header_cnt++];
        h->name               = pmw_strdup(name);
        if (json_is_string(value)) {
                h->len   = json_string_length(value);
                h->value = copy_bytes(json_string_value(value), h->len);
        }
        return NULL;
}

static pmw_error_t *set_headers(pmw_ktest_record_t *record,
                                const json_t *headers) {
        pmw_error_t *err = NULL;
        if (json_is_null(headers))
                return NULL;
        if (json_is_object(headers)) {
                record->headers = pmw_calloc(json_object_size(headers) + 1,
                                             sizeof(*record->headers));
                /* jansson keeps an object's keys in the order of the text. */
                for (void *it = json_object_iter((json_t *)headers); it && !err;
                     it       = json_object_iter_next((json_t *)headers, it))
                        err = add_header(record, json_object_iter_key(it),
                                               json_object_iter_key_len(it),
                                               json_object_iter_value(it));
                return err;
        }
        if (!json_is_array(headers))
                return pmw_error_new(PMW_ERR_INVALID,
                                     "\"headers\" must be an object, an array "
                                     "of [name, value] pairs, or null");
        record->headers =
            pmw_calloc(json_array_size(headers) + 1, sizeof(*record->headers));
        for (size_t i = 0; i < json_array_size(headers) && !err; i++) {
                const json_t *pair = json_array_get(headers, i);
                if (!json_is_array(pair) || json_array_size(pair) != 2)
                        return pmw_error_new(PMW_ERR_INVALID,
                                             "\"headers\"[%zu] must be a "
                                             "[name, value] pair",
                                             i);
                const json_t *name = json_array_get(pair, 0);
                if (!json_is_string(name))
                        return pmw_error_new(PMW_ERR_INVALID,
                                             "\"headers\"[%zu]: a header "
                                             "name must be a string",
                                             i);
                err = add_header(record, json_string_value(name),
                                 json_string_length(name),
                                 json_array_get(pair, 1));
        }
        return err;
}

static pmw_error_t *
check_fields(const json_t *obj, const char *topic, bool *use_partitionp) {
        *use_partitionp = true;
        const char *name;
        const json_t *v;
        json_object_foreach((json_t *)obj, name, v) {
                if (strcmp(name, "value") == 0 || strcmp(name, "headers") == 0)
                        continue; /* checked while copied */
                if (strcmp(name, "key") == 0) {
                        if (!json_is_string(v) && !json_is_null(v))
                                return pmw_error_new(PMW_ERR_INVALID,
                                                     "\"key\" must be a "
                                                     "string or null");
                } else if (strcmp(name, "partition") == 0) {
                        if (!json_is_null(v) &&
                            (!json_is_integer(v) || json_integer_value(v) < 0 ||
                             json_integer_value(v) > INT32_MAX))
                                return pmw_error_new(
                                    PMW_ERR_INVALID,
                                    "\"partition\" must be an integer "
                                    "0..2147483647 or null");
                } else if (strcmp(name, "topic") == 0) {
                        if (!json_is_string(v))
                                return pmw_error_new(PMW_ERR_INVALID,
                                                     "\"topic\" must be a "
                                                     "string");
                        /* A partition of another topic is no placement
                         * here (kafka_jsonl.h). */
                        if (strcmp(json_string_value(v), topic) != 0)
                                *use_partitionp = false;
                } else if (strcmp(name, "offset") == 0) {
                        if (!json_is_integer(v))
                                return pmw_error_new(PMW_ERR_INVALID,
                                                     "\"offset\" must be an "
                                                     "integer");
                } else if (strcmp(name, "timestamp") == 0) {
                        if (!json_is_string(v) && !json_is_null(v))
                                return pmw_error_new(PMW_ERR_INVALID,
                                                     "\"timestamp\" must be "
                                                     "a string or null");
                } else {
                        return pmw_error_new(
                            PMW_ERR_INVALID,
                            "unknown field \"%.64s\" (a record has \"value\" "
                            "and optionally \"key\", \"headers\", "
                            "\"partition\")",
                            name);
                }
        }
        return NULL;
}

pmw_error_t *pmw_kafka_jsonl_parse(const char *line,
                                   size_t len,
                                   const char *topic,
                                   pmw_ktest_record_t *record) {
        memset(record, 0, sizeof(*record));
        record->partition = -1;
        record->offset    = -1;
        record->timestamp = -1;

        json_error_t jerr;
        /* JSON_DECODE_ANY, so that a scalar line gets the clearer error
         * below; JSON_ALLOW_NUL, so binary keys and values can be
         * written with \u0000. */
        json_t *obj = json_loadb(
            line, len,
            JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!obj)
                return pmw_error_new(PMW_ERR_PARSE,
                                     "invalid JSON: %s (column %d)", jerr.text,
                                     jerr.column);
        pmw_error_t *err = NULL;
        bool use_partition;
        if (!json_is_object(obj)) {
                err = pmw_error_new(PMW_ERR_INVALID,
                                    "a record must be a JSON object "
                                    "{\"value\": ...}");
                goto out;
        }
        err = check_fields(obj, topic, &use_partition);
        if (err)
                goto out;
        const json_t *value = json_object_get(obj, "value");
        if (!value) {
                err = pmw_error_new(PMW_ERR_INVALID,
                                    "missing \"value\" (null for a record "
                                    "without value)");
                goto out;
        }
        const json_t *key = json_object_get(obj, "key");
        if (json_is_string(key)) {
                record->has_key = true;
                record->key_len = json_string_length(key);
                record->key =
                    copy_bytes(json_string_value(key), record->key_len);
        }
        const json_t *partition = json_object_get(obj, "partition");
        if (use_partition && json_is_integer(partition))
                record->partition = (int32_t)json_integer_value(partition);
        const json_t *headers = json_object_get(obj, "headers");
        if (headers) {
                err = set_headers(record, headers);
                if (err)
                        goto out;
        }
        err = set_value(record, value);
out:
        if (err)
                pmw_ktest_record_cleanup(record);
        json_decref(obj);
        return err;
}

void pmw_kafka_jsonl_format(pmw_buf_t *buf,
                            const char *topic,
                            const pmw_ktest_record_t *record,
                            bool json_value) {
        pmw_buf_append_str(buf, "{\"topic\":");
        pmw_buf_append_json_str(buf, topic, strlen(topic));
        pmw_buf_append_str(buf, ",\"partition\":");
        pmw_buf_append_int(buf, record->partition);
        pmw_buf_append_str(buf, ",\"offset\":");
        pmw_buf_append_int(buf, record->offset);
        pmw_buf_append_str(buf, ",\"timestamp\":");
        if (record->timestamp >= 0) {
                char ts[PMW_RFC3339_MS_SIZE];
                size_t n = pmw_time_format_rfc3339_ms(record->timestamp, ts);
                pmw_buf_append_char(buf, '"');
                pmw_buf_append(buf, ts, n);
                pmw_buf_append_char(buf, '"');
        } else {
                pmw_buf_append_str(buf, "null");
        }
        pmw_buf_append_str(buf, ",\"key\":");
        if (record->has_key)
                pmw_buf_append_json_str(buf, record->key, record->key_len);
        else
                pmw_buf_append_str(buf, "null");
        pmw_buf_append_str(buf, ",\"value\":");
        json_t *json = NULL;
        if (record->value && json_value) {
                json_error_t jerr;
                /* Without JSON_DECODE_ANY: objects and arrays only. */
                json = json_loadb(record->value, record->len,
                                  JSON_REJECT_DUPLICATES, &jerr);
        }
        if (json)
                pmw_json_write(buf, json);
        else if (record->value)
                pmw_buf_append_json_str(buf, record->value, record->len);
        else
                pmw_buf_append_str(buf, "null");
        json_decref(json);
        pmw_buf_append_str(buf, ",\"headers\":[");
        for (size_t i = 0; i < record->header_cnt; i++) {
                const pmw_ktest_header_t *h = &record->headers[i];
                if (i)
                        pmw_buf_append_char(buf, ',');
                pmw_buf_append_char(buf, '[');
                pmw_buf_append_json_str(buf, h->name, strlen(h->name));
                pmw_buf_append_char(buf, ',');
                if (h->value)
                        pmw_buf_append_json_str(buf, h->value, h->len);
                else
                        pmw_buf_append_str(buf, "null");
                pmw_buf_append_char(buf, ']');
        }
        pmw_buf_append_str(buf, "]}");
}
