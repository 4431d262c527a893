/*
 * common/postmark_result.c: parsing Postmark's answer (see the header).
 */
#include "common/postmark_result.h"

#include <limits.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/mem.h"

/* How much of a non-JSON body the message quotes: enough to recognise a
 * proxy's or firewall's page, short enough for one log line. */
#define SNIPPET_MAX 100
/* Content-Type values are quoted up to this many bytes. */
#define CONTENT_TYPE_MAX 64
/* A transport detail (libcurl's error buffer is 256 bytes). */
#define DETAIL_MAX 256
/* Limit for the worker's own descriptions; Postmark's Message is copied
 * whole (the caller bounds the body). */
#define DESC_MAX 4096

/* Appends s[0..len), at most max bytes of it, as one readable line: runs of
 * control characters (C0, DEL, C1) and whitespace become one space, bytes
 * that are not valid UTF-8 become U+FFFD, and "..." marks a cut. Network text
 * may be anything; what goes into a log line or a status record must not. */
static void append_safe(pmw_buf_t *buf, const char *s, size_t len, size_t max) {
        const unsigned char *u = (const unsigned char *)s;
        size_t i               = 0;
        bool any               = false; /* something was written */
        bool space             = false; /* a space is pending */

        while (i < len) {
                unsigned char c = u[i];
                size_t n        = 1;

                if (c >= 0x80) {
                        n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
                        if (n > len - i || pmw_utf8_valid_prefix(s + i, n) != n)
                                n = 0; /* not a valid sequence: U+FFFD */
                }
                if (c <= ' ' || c == 0x7f ||
                    (n == 2 && c == 0xc2 && u[i + 1] < 0xa0)) {
                        space = true;
                        i += n;
                        continue;
                }
                if (i + PMW_MAX(n, (size_t)1) > max) {
                        pmw_buf_append_str(buf, "...");
                        return;
                }
                if (space && any)
                        pmw_buf_append_char(buf, ' ');
                space = false;
                any   = true;
                if (n == 0) {
                        pmw_buf_append_str(buf, "\xef\xbf\xbd");
                        i++;
                } else {
                        pmw_buf_append(buf, s + i, n);
                        i += n;
                }
        }
}

/* Appends the media type of a Content-Type value ("text/html" of
 * "text/html; charset=utf-8"), or "no Content-Type" when there is none. */
static void append_content_type(pmw_buf_t *buf, const char *content_type) {
        size_t before = pmw_buf_len(buf);

        if (content_type) {
                const char *semi = strchr(content_type, ';');
                size_t len =
                    semi ? (size_t)(semi - content_type) : strlen(content_type);
                /* Blanks and control characters alone write nothing. */
                append_safe(buf, content_type, len, CONTENT_TYPE_MAX);
        }
        if (pmw_buf_len(buf) == before)
                pmw_buf_append_str(buf, "no Content-Type");
}

/* A Postmark ErrorCode is a non-negative integer that fits an int; -1 is
 * ours ("none"), so a negative or huge value is no ErrorCode at all. */
static bool get_error_code(const json_t *obj, int *codep) {
        const json_t *v = json_object_get(obj, "ErrorCode");

        if (!json_is_integer(v))
                return false;
        json_int_t code = json_integer_value(v);
        if (code < 0 || code > INT_MAX)
                return false;
        *codep = (int)code;
        return true;
}

static const char *json_type_name(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "value";
}

static void init_response(pmw_response_t *resp) {
        memset(resp, 0, sizeof(*resp));
        resp->transport      = PMW_TRANSPORT_OK;
        resp->error_code     = -1;
        resp->retry_after_ms = -1;
}

/* Fills resp->results from a 2xx array, or says in desc why it cannot be
 * matched to the request. Takes ownership of arr on success. */
static bool parse_results(pmw_response_t *resp,
                          json_t *arr,
                          size_t expected,
                          pmw_buf_t *desc) {
        size_t cnt = json_array_size(arr);

        if (cnt != expected) {
                pmw_buf_appendf(desc, "%zu results for %zu messages", cnt,
                                expected);
                return false;
        }
        /* Check every element before allocating, so a bad answer costs
         * nothing but the description. */
        for (size_t i = 0; i < cnt; i++) {
                const json_t *el = json_array_get(arr, i);
                int code;
                if (!json_is_object(el)) {
                        pmw_buf_appendf(desc,
                                        "result[%zu] of %zu is a JSON %s, "
                                        "not an object",
                                        i, cnt, json_type_name(el));
                        return false;
                }
                if (!get_error_code(el, &code)) {
                        pmw_buf_appendf(desc,
                                        "result[%zu] of %zu has no valid "
                                        "ErrorCode",
                                        i, cnt);
                        return false;
                }
        }

        resp->results    = cnt ? pmw_calloc(cnt, sizeof(*resp->results)) : NULL;
        resp->result_cnt = cnt;
        for (size_t i = 0; i < cnt; i++) {
                const json_t *el     = json_array_get(arr, i);
                pmw_msg_result_t *mr = &resp->results[i];
                const char *msg;

                get_error_code(el, &mr->error_code);
                msg         = json_string_value(json_object_get(el, "Message"));
                mr->message = msg ? msg : "";
                mr->message_id =
                    json_string_value(json_object_get(el, "MessageID"));
                mr->submitted_at =
                    json_string_value(json_object_get(el, "SubmittedAt"));
                mr->to = json_string_value(json_object_get(el, "To"));
        }
        resp->per_message = true;
        resp->tree        = arr;
        pmw_buf_appendf(desc, "%zu results", cnt);
        return true;
}

void pmw_response_parse(pmw_response_t *resp,
                        int http_status,
                        const char *content_type,
                        const char *body,
                        size_t len,
                        size_t expected) {
        bool ok2xx = http_status >= 200 && http_status <= 299;
        pmw_buf_t desc;
        json_error_t jerr;
        json_t *root;

        init_response(resp);
        resp->http_status = http_status;
        pmw_buf_init(&desc, DESC_MAX);
        pmw_buf_appendf(&desc, "HTTP %d: ", http_status);

        /* Without JSON_ALLOW_NUL, jansson refuses "\u0000" in strings, so
         * every borrowed string is a complete C string. */
        root = len > 0 ? json_loadb(body, len, JSON_DECODE_ANY, &jerr) : NULL;
        if (!root) {
                if (len == 0) {
                        pmw_buf_append_str(&desc, "empty body (");
                        append_content_type(&desc, content_type);
                        pmw_buf_append_char(&desc, ')');
                } else {
                        pmw_buf_append_str(&desc, "non-JSON body (");
                        append_content_type(&desc, content_type);
                        pmw_buf_append_str(&desc, "): ");
                        append_safe(&desc, body, len, SNIPPET_MAX);
                }
                goto out;
        }
        resp->json = true;

        if (json_is_object(root)) {
                const char *msg =
                    json_string_value(json_object_get(root, "Message"));
                int code;

                if (get_error_code(root, &code))
                        resp->error_code = code;
                if (ok2xx) {
                        /* Never read as a result: the messages may or may
                         * not have been accepted. */
                        pmw_buf_appendf(&desc,
                                        "a JSON object, not an array of %zu "
                                        "results",
                                        expected);
                        if (msg) {
                                pmw_buf_append_str(&desc, ": ");
                                append_safe(&desc, msg, strlen(msg),
                                            SNIPPET_MAX);
                        }
                } else if (msg) {
                        /* Postmark's own words, whole (the caller bounds the
                         * body): the status record carries them. */
                        resp->message = pmw_strdup(msg);
                } else {
                        pmw_buf_append_str(&desc,
                                           "JSON object without a Message");
                }
        } else if (json_is_array(root) && ok2xx) {
                if (parse_results(resp, root, expected, &desc))
                        root = NULL; /* now resp->tree */
        } else {
                pmw_buf_appendf(&desc, "unexpected JSON %s",
                                json_type_name(root));
        }

out:
        json_decref(root);
        /* Every description above is bounded well below DESC_MAX. */
        if (!resp->message)
                resp->message = pmw_buf_take(&desc, NULL);
        pmw_buf_cleanup(&desc);
}

void pmw_response_set_transport_error(pmw_response_t *resp,
                                      pmw_transport_t t,
                                      const char *detail) {
        pmw_buf_t desc;

        init_response(resp);
        resp->transport = t;
        pmw_buf_init(&desc, DESC_MAX);
        switch (t) {
        case PMW_TRANSPORT_OK:
                break;
        case PMW_TRANSPORT_CONNECT:
                pmw_buf_append_str(&desc,
                                   "connection failed, request not "
                                   "sent");
                break;
        case PMW_TRANSPORT_TIMEOUT:
                pmw_buf_append_str(&desc, "timed out, outcome unknown");
                break;
        case PMW_TRANSPORT_DROPPED:
                pmw_buf_append_str(&desc,
                                   "connection lost after the request "
                                   "was sent, outcome unknown");
                break;
        }
        if (detail && *detail) {
                pmw_buf_append_str(&desc, ": ");
                append_safe(&desc, detail, strlen(detail), DETAIL_MAX);
        }
        resp->message = pmw_buf_take(&desc, NULL);
        pmw_buf_cleanup(&desc);
}

void pmw_response_cleanup(pmw_response_t *resp) {
        free(resp->results);
        free(resp->message);
        json_decref(resp->tree);
        init_response(resp);
}

const char *pmw_transport_name(pmw_transport_t t) {
        switch (t) {
        case PMW_TRANSPORT_OK:
                return "ok";
        case PMW_TRANSPORT_CONNECT:
                return "connect";
        case PMW_TRANSPORT_TIMEOUT:
                return "timeout";
        case PMW_TRANSPORT_DROPPED:
                return "dropped";
        }
        return "unknown";
}
