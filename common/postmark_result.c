/*
 * common/postmark_result.c: parsing Postmark's answer (see the header).
 */
#include "common/postmark_result.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/jsontok.h"
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
 * ours ("none"), so a negative or huge value is no ErrorCode at all.
 * v is the value token, 0 when absent. */
static bool get_error_code(const pmw_jsontok_t *doc, uint32_t v, int *codep) {
        int64_t code;

        if (!v || !pmw_jsontok_int(doc, v, &code))
                return false;
        if (code < 0 || code > INT_MAX)
                return false;
        *codep = (int)code;
        return true;
}

static const char *json_type_name(const pmw_jsontok_t *doc, uint32_t v) {
        switch (doc->toks[v].type) {
        case PMW_JSONTOK_OBJECT:
                return "object";
        case PMW_JSONTOK_ARRAY:
                return "array";
        case PMW_JSONTOK_STRING:
                return "string";
        case PMW_JSONTOK_NUMBER:
                return "number";
        case PMW_JSONTOK_TRUE:
        case PMW_JSONTOK_FALSE:
                return "boolean";
        case PMW_JSONTOK_NULL:
                return "null";
        }
        return "value";
}

/* v if it is a string token, else 0. */
static uint32_t string_or_0(const pmw_jsontok_t *doc, uint32_t v) {
        return v && doc->toks[v].type == PMW_JSONTOK_STRING ? v : 0;
}

/* The fields of a result element that are read. */
enum { R_ERROR_CODE, R_MESSAGE, R_MESSAGE_ID, R_SUBMITTED_AT, R_TO, R__COUNT };

static const struct {
        const char *name;
        size_t len;
} result_fields[R__COUNT] = {
    [R_ERROR_CODE]   = {"ErrorCode", 9},
    [R_MESSAGE]      = {"Message", 7},
    [R_MESSAGE_ID]   = {"MessageID", 9},
    [R_SUBMITTED_AT] = {"SubmittedAt", 11},
    [R_TO]           = {"To", 2},
};

/* Finds the value tokens of obj's fields in one pass over its keys (0 when
 * absent; the last one when repeated, as a lookup by name finds). */
static void
find_fields(const pmw_jsontok_t *doc, uint32_t obj, uint32_t v[R__COUNT]) {
        memset(v, 0, R__COUNT * sizeof(*v));
        for (uint32_t k = obj + 1; k < doc->toks[obj].next;
             k          = doc->toks[k + 1].next) {
                for (size_t f = 0; f < R__COUNT; f++) {
                        if (pmw_jsontok_str_eqn(doc, k, result_fields[f].name,
                                                result_fields[f].len)) {
                                v[f] = k + 1;
                                break;
                        }
                }
        }
}

static void init_response(pmw_response_t *resp) {
        memset(resp, 0, sizeof(*resp));
        resp->transport      = PMW_TRANSPORT_OK;
        resp->error_code     = -1;
        resp->retry_after_ms = -1;
}

/* Decodes string token v (0: none) into *arena as a C string; returns it,
 * or NULL for 0. */
static const char *
take_string(const pmw_jsontok_t *doc, uint32_t v, char **arena) {
        if (!v)
                return NULL;
        char *s  = *arena;
        size_t n = pmw_jsontok_str_copy(doc, v, s);
        s[n]     = '\0';
        *arena   = s + n + 1;
        return s;
}

/* Fills resp->results from the 2xx array at token arr, or says in desc why
 * it cannot be matched to the request. */
static bool parse_results(pmw_response_t *resp,
                          const pmw_jsontok_t *doc,
                          uint32_t arr,
                          size_t expected,
                          pmw_buf_t *desc) {
        uint32_t end = doc->toks[arr].next;
        uint32_t v[R__COUNT];
        size_t cnt  = 0;
        size_t need = 0; /* bytes of decoded strings, NULs included */
        int code;

        for (uint32_t el = arr + 1; el < end; el = doc->toks[el].next)
                cnt++;
        if (cnt != expected) {
                pmw_buf_appendf(desc, "%zu results for %zu messages", cnt,
                                expected);
                return false;
        }
        /* Check every element before allocating, so a bad answer costs
         * nothing but the description. */
        size_t i = 0;
        for (uint32_t el = arr + 1; el < end; el = doc->toks[el].next, i++) {
                if (doc->toks[el].type != PMW_JSONTOK_OBJECT) {
                        pmw_buf_appendf(desc,
                                        "result[%zu] of %zu is a JSON %s, "
                                        "not an object",
                                        i, cnt, json_type_name(doc, el));
                        return false;
                }
                find_fields(doc, el, v);
                if (!get_error_code(doc, v[R_ERROR_CODE], &code)) {
                        pmw_buf_appendf(desc,
                                        "result[%zu] of %zu has no valid "
                                        "ErrorCode",
                                        i, cnt);
                        return false;
                }
                /* Decoding never lengthens a string. */
                for (size_t f = R_MESSAGE; f < R__COUNT; f++) {
                        uint32_t s = string_or_0(doc, v[f]);
                        if (s)
                                need += doc->toks[s].len + 1;
                }
        }

        /* One allocation for every string of the answer. */
        resp->results    = cnt ? pmw_calloc(cnt, sizeof(*resp->results)) : NULL;
        resp->result_cnt = cnt;
        resp->strings    = need ? pmw_malloc(need) : NULL;
        char *arena      = resp->strings;
        i                = 0;
        for (uint32_t el = arr + 1; el < end; el = doc->toks[el].next, i++) {
                pmw_msg_result_t *mr = &resp->results[i];

                find_fields(doc, el, v);
                get_error_code(doc, v[R_ERROR_CODE], &mr->error_code);
                mr->message =
                    take_string(doc, string_or_0(doc, v[R_MESSAGE]), &arena);
                if (!mr->message)
                        mr->message = "";
                mr->message_id =
                    take_string(doc, string_or_0(doc, v[R_MESSAGE_ID]), &arena);
                mr->submitted_at = take_string(
                    doc, string_or_0(doc, v[R_SUBMITTED_AT]), &arena);
                mr->to = take_string(doc, string_or_0(doc, v[R_TO]), &arena);
        }
        resp->per_message = true;
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
        pmw_jsontok_t doc;
        pmw_error_t *err = NULL;

        init_response(resp);
        resp->http_status = http_status;
        pmw_jsontok_init(&doc);
        pmw_buf_init(&desc, DESC_MAX);
        pmw_buf_appendf(&desc, "HTTP %d: ", http_status);

        /* jansson's defaults, which this parser always had: "\u0000" is
         * refused, so every decoded string is a complete C string. */
        if (len > 0)
                err = pmw_jsontok_parse(&doc, body, len,
                                        PMW_JSONTOK_NO_NUL |
                                            PMW_JSONTOK_FIT_NUMBERS);
        if (len == 0 || err) {
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

        if (doc.toks[0].type == PMW_JSONTOK_OBJECT) {
                uint32_t msg =
                    string_or_0(&doc, pmw_jsontok_get(&doc, 0, "Message"));
                int code;

                if (get_error_code(&doc, pmw_jsontok_get(&doc, 0, "ErrorCode"),
                                   &code))
                        resp->error_code = code;
                if (ok2xx) {
                        /* Never read as a result: the messages may or may
                         * not have been accepted. */
                        pmw_buf_appendf(&desc,
                                        "a JSON object, not an array of %zu "
                                        "results",
                                        expected);
                        if (msg) {
                                pmw_buf_t text;
                                pmw_buf_init(&text, SIZE_MAX);
                                pmw_jsontok_str_append(&doc, msg, &text);
                                pmw_buf_append_str(&desc, ": ");
                                append_safe(&desc, pmw_buf_ptr(&text),
                                            pmw_buf_len(&text), SNIPPET_MAX);
                                pmw_buf_cleanup(&text);
                        }
                } else if (msg) {
                        /* Postmark's own words, whole (the caller bounds the
                         * body): the status record carries them. */
                        resp->message = pmw_malloc(doc.toks[msg].len + 1);
                        size_t n =
                            pmw_jsontok_str_copy(&doc, msg, resp->message);
                        resp->message[n] = '\0';
                } else {
                        pmw_buf_append_str(&desc,
                                           "JSON object without a Message");
                }
        } else if (doc.toks[0].type == PMW_JSONTOK_ARRAY && ok2xx) {
                (void)parse_results(resp, &doc, 0, expected, &desc);
        } else {
                pmw_buf_appendf(&desc, "unexpected JSON %s",
                                json_type_name(&doc, 0));
        }

out:
        pmw_error_destroy(err);
        pmw_jsontok_cleanup(&doc);
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
        free(resp->strings);
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
