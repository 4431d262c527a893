/*
 * worker/record.c: see record.h.
 */
#include "worker/record.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "common/clock.h"

/* ,"name": written as one literal, so each field costs one append. */
#define FIELD(buf, lit) pmw_buf_append((buf), lit, sizeof(lit) - 1)

static void json_cstr(pmw_buf_t *out, const char *s) {
        pmw_buf_append_json_str(out, s, strlen(s));
}

static void json_cstr_or_null(pmw_buf_t *out, const char *s) {
        if (s)
                json_cstr(out, s);
        else
                FIELD(out, "null");
}

static void json_time(pmw_buf_t *out, int64_t ms) {
        char tmp[PMW_RFC3339_MS_SIZE];
        size_t len = pmw_time_format_rfc3339_ms(ms, tmp);
        /* The format is plain ASCII: no escaping needed. */
        pmw_buf_append_char(out, '"');
        pmw_buf_append(out, tmp, len);
        pmw_buf_append_char(out, '"');
}

void pmw_record_status(pmw_buf_t *out, const pmw_job_t *job) {
        assert(job->status != PMW_STATUS_NONE);
        /* A status record is about 400 bytes plus the strings: one reserve
         * instead of a realloc per field. */
        pmw_buf_reserve(out, 512 + strlen(job->job_id) + job->key_len);

        FIELD(out, "{\"job_id\":");
        json_cstr(out, job->job_id);
        FIELD(out, ",\"status\":\"");
        pmw_buf_append_str(out, pmw_status_name(job->status));
        FIELD(out, "\",\"error_code\":");
        pmw_buf_append_int(out, job->error_code);
        FIELD(out, ",\"http_status\":");
        if (job->http_status < 0)
                FIELD(out, "null");
        else
                pmw_buf_append_int(out, job->http_status);
        FIELD(out, ",\"message\":");
        json_cstr(out, job->message ? job->message : "");
        FIELD(out, ",\"message_id\":");
        json_cstr_or_null(out, job->message_id);
        FIELD(out, ",\"to\":");
        json_cstr(out, job->msg.to ? job->msg.to : "");
        FIELD(out, ",\"submitted_at\":");
        json_cstr_or_null(out, job->submitted_at);
        FIELD(out, ",\"server\":");
        json_cstr(out, job->server ? job->server : "default");
        FIELD(out, ",\"stream\":");
        json_cstr(out, job->msg.stream ? job->msg.stream : "outbound");
        FIELD(out, ",\"attempts\":");
        pmw_buf_append_int(out, job->attempts);
        FIELD(out, ",\"key\":");
        if (job->key)
                pmw_buf_append_json_str(out, job->key, job->key_len);
        else
                FIELD(out, "null");
        FIELD(out, ",\"topic\":");
        json_cstr(out, job->topic);
        FIELD(out, ",\"partition\":");
        pmw_buf_append_int(out, job->partition);
        FIELD(out, ",\"offset\":");
        pmw_buf_append_int(out, job->offset);
        FIELD(out, ",\"enqueued_at\":");
        json_time(out, job->enqueued_ms);
        FIELD(out, ",\"completed_at\":");
        json_time(out, job->completed_ms);
        pmw_buf_append_char(out, '}');
}

static bool is_pmw_header(const char *name) {
        return strncasecmp(name, "pmw-", 4) == 0;
}

static void add_header(rd_kafka_headers_t *hdrs,
                       const char *name,
                       const char *value,
                       size_t len) {
        rd_kafka_resp_err_t kerr =
            rd_kafka_header_add(hdrs, name, -1, value, (ssize_t)len);
        /* Only read-only headers (those of a received message) refuse an
         * add, and these are new. */
        assert(kerr == RD_KAFKA_RESP_ERR_NO_ERROR);
        (void)kerr;
}

static void
add_header_int(rd_kafka_headers_t *hdrs, const char *name, int64_t value) {
        char tmp[24];
        int len = snprintf(tmp, sizeof(tmp), "%" PRId64, value);
        add_header(hdrs, name, tmp, (size_t)len);
}

rd_kafka_headers_t *pmw_record_dlq_headers(const pmw_job_t *job,
                                           bool truncated) {
        size_t n = job->headers ? rd_kafka_header_cnt(job->headers) : 0;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n + 6);
        for (size_t i = 0; i < n; i++) {
                const char *name;
                const void *value;
                size_t size;
                if (rd_kafka_header_get_all(job->headers, i, &name, &value,
                                            &size) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR)
                        break;
                if (is_pmw_header(name))
                        continue;
                /* A NULL value is a null header (not an empty one): keep
                 * it so (size -1 would mean strlen). */
                rd_kafka_header_add(hdrs, name, -1, value,
                                    value ? (ssize_t)size : 0);
        }

        add_header_int(hdrs, "pmw-error-code", job->error_code);
        const char *message = job->message ? job->message : "";
        add_header(hdrs, "pmw-error", message, strlen(message));
        const char *status = pmw_status_name(job->status);
        add_header(hdrs, "pmw-status", status, strlen(status));
        char source[512];
        int len = snprintf(source, sizeof(source), "%s:%" PRId32 ":%" PRId64,
                           job->topic, job->partition, job->offset);
        /* Kafka topic names have at most 249 characters. */
        add_header(hdrs, "pmw-source", source,
                   PMW_MIN((size_t)len, sizeof(source) - 1));
        add_header_int(hdrs, "pmw-attempts", job->attempts);
        if (truncated)
                add_header_int(hdrs, "pmw-truncated", (int64_t)job->value_len);
        return hdrs;
}
