/* Unit tests for common/postmark_message: job -> Postmark message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/postmark_message.h"

#define FROM_TO   "\"From\":\"a@x.org\",\"To\":\"b@y.org\""
#define JOB(rest) "{" FROM_TO "," rest "}"

static void parse(pmw_message_t *msg, const char *json, const char *job_id) {
        pmw_message_parse(msg, json, strlen(json), job_id);
}

/* The job is valid and normalises to exactly want. */
static void check_ok(const char *json,
                     const char *job_id,
                     pmw_endpoint_t endpoint,
                     const char *want) {
        pmw_message_t msg;
        parse(&msg, json, job_id);
        if (msg.reject_code)
                fail_msg("rejected %d: %s", msg.reject_code, msg.reject_reason);
        assert_string_equal(msg.reject_reason, "");
        assert_int_equal(msg.endpoint, endpoint);
        assert_non_null(msg.body);
        assert_string_equal(msg.body, want);
        assert_int_equal(msg.body_len, strlen(want));
        pmw_message_cleanup(&msg);
}

static void
check_reject_len(const char *json, size_t len, int code, const char *reason) {
        pmw_message_t msg;
        pmw_message_parse(&msg, json, len, "job-1");
        assert_int_equal(msg.reject_code, code);
        assert_string_equal(msg.reject_reason, reason);
        assert_null(msg.body);
        assert_int_equal(msg.body_len, 0);
        assert_false(msg.job_id_added);
        assert_non_null(msg.to);
        assert_non_null(msg.stream);
        pmw_message_cleanup(&msg);
}

static void check_reject(const char *json, int code, const char *reason) {
        check_reject_len(json, strlen(json), code, reason);
}

/* A string of n copies of unit (n * strlen(unit) bytes); caller frees. */
static char *repeat(const char *unit, size_t n) {
        size_t ulen = strlen(unit);
        char *s     = malloc(n * ulen + 1);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                memcpy(s + i * ulen, unit, ulen);
        s[n * ulen] = '\0';
        return s;
}

/* printf into a new string; caller frees. */
static char *fmt(const char *f, ...) PMW_PRINTF(1, 2);
static char *fmt(const char *f, ...) {
        va_list ap;
        va_start(ap, f);
        int n = vsnprintf(NULL, 0, f, ap);
        va_end(ap);
        char *s = malloc((size_t)n + 1);
        assert_non_null(s);
        va_start(ap, f);
        vsnprintf(s, (size_t)n + 1, f, ap);
        va_end(ap);
        return s;
}

/*
 * Valid jobs and normalisation.
 */

static void test_minimal(void **state) {
        (void)state;
        pmw_message_t msg;
        const char *job =
            "{ \"From\" : \"a@x.org\" ,\n \"To\": \"b@y.org\","
            " \"TextBody\": \"hi\" }";
        parse(&msg, job, NULL);
        assert_int_equal(msg.reject_code, 0);
        assert_string_equal(msg.body,
                            "{\"From\":\"a@x.org\",\"To\":"
                            "\"b@y.org\",\"TextBody\":\"hi\"}");
        assert_string_equal(msg.to, "b@y.org");
        assert_string_equal(msg.stream, "outbound");
        assert_int_equal(msg.endpoint, PMW_ENDPOINT_BATCH);
        assert_false(msg.job_id_added);
        pmw_message_cleanup(&msg);
        /* Cleanup leaves it empty; a second cleanup is harmless. */
        assert_null(msg.body);
        pmw_message_cleanup(&msg);
}

static void test_all_fields_kept_in_order(void **state) {
        (void)state;
        const char *job =
            "{\"TextBody\":\"t\",\"MessageStream\":\"broadcast\","
            "\"Tag\":\"welcome\",\"To\":\"\\\"Doe, Jane\\\" <jane@y.org>\","
            "\"Cc\":\"c@y.org\",\"Bcc\":\"d@y.org\",\"From\":\"Acme "
            "<a@x.org>\",\"Subject\":\"Hi \\u00e9\",\"HtmlBody\":\"<p>t</p>\","
            "\"ReplyTo\":\"r@x.org\",\"Headers\":[{\"Name\":\"X-A\","
            "\"Value\":\"1\"}],\"TrackOpens\":false,\"TrackLinks\":"
            "\"HtmlAndText\",\"Metadata\":{\"k\":\"v\"},\"Attachments\":[{"
            "\"Name\":\"a.txt\",\"Content\":\"aGk=\",\"ContentType\":"
            "\"text/plain\",\"ContentID\":\"cid:a1\",\"Disposition\":"
            "\"inline\",\"ContentLength\":2}]}";
        pmw_message_t msg;
        parse(&msg, job, NULL);
        assert_int_equal(msg.reject_code, 0);
        /* Unchanged: values are copied as the job wrote them, the \u
         * escape included. */
        assert_string_equal(
            msg.body,
            "{\"TextBody\":\"t\",\"MessageStream\":\"broadcast\","
            "\"Tag\":\"welcome\",\"To\":\"\\\"Doe, Jane\\\" <jane@y.org>\","
            "\"Cc\":\"c@y.org\",\"Bcc\":\"d@y.org\",\"From\":\"Acme "
            "<a@x.org>\",\"Subject\":\"Hi \\u00e9\",\"HtmlBody\":\"<p>t</p>\","
            "\"ReplyTo\":\"r@x.org\",\"Headers\":[{\"Name\":\"X-A\","
            "\"Value\":\"1\"}],\"TrackOpens\":false,\"TrackLinks\":"
            "\"HtmlAndText\",\"Metadata\":{\"k\":\"v\"},\"Attachments\":[{"
            "\"Name\":\"a.txt\",\"Content\":\"aGk=\",\"ContentType\":"
            "\"text/plain\",\"ContentID\":\"cid:a1\",\"Disposition\":"
            "\"inline\",\"ContentLength\":2}]}");
        assert_string_equal(msg.to, "\"Doe, Jane\" <jane@y.org>");
        assert_string_equal(msg.stream, "broadcast");
        pmw_message_cleanup(&msg);
}

static void test_aliases(void **state) {
        (void)state;
        check_ok(
            "{\"sender\":\"a@x.org\",\"to\":\"b@y.org\",\"cc\":\"c@y.org\","
            "\"bcc\":\"d@y.org\",\"subject\":\"S\",\"tag\":\"T\","
            "\"html_body\":\"<p/>\",\"text_body\":\"t\",\"reply_to\":"
            "\"r@x.org\",\"headers\":[{\"name\":\"X-A\",\"value\":\"1\"}],"
            "\"track_opens\":true,\"track_links\":\"None\",\"metadata\":"
            "{\"k\":\"v\"},\"attachments\":[{\"name\":\"a.txt\","
            "\"content\":\"aGk=\",\"content_type\":\"text/plain\","
            "\"content_id\":\"c1\"}],\"message_stream\":\"s1\"}",
            NULL, PMW_ENDPOINT_BATCH,
            "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"Cc\":\"c@y.org\","
            "\"Bcc\":\"d@y.org\",\"Subject\":\"S\",\"Tag\":\"T\","
            "\"HtmlBody\":\"<p/>\",\"TextBody\":\"t\",\"ReplyTo\":"
            "\"r@x.org\",\"Headers\":[{\"Name\":\"X-A\",\"Value\":\"1\"}],"
            "\"TrackOpens\":true,\"TrackLinks\":\"None\",\"Metadata\":"
            "{\"k\":\"v\"},\"Attachments\":[{\"Name\":\"a.txt\","
            "\"Content\":\"aGk=\",\"ContentType\":\"text/plain\","
            "\"ContentID\":\"c1\"}],\"MessageStream\":\"s1\"}");
        /* Template aliases, and Postmark names mixed with aliases at each
         * level. */
        check_ok(
            "{\"sender\":\"a@x.org\",\"To\":\"b@y.org\",\"template_id\":7,"
            "\"template_model\":{\"name\":\"x\"},\"inline_css\":false,"
            "\"Headers\":[{\"name\":\"X-A\",\"Value\":\"1\"}]}",
            NULL, PMW_ENDPOINT_BATCH_TEMPLATES,
            "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"TemplateId\":7,"
            "\"TemplateModel\":{\"name\":\"x\"},\"InlineCss\":false,"
            "\"Headers\":[{\"Name\":\"X-A\",\"Value\":\"1\"}]}");
        check_ok(
            "{\"From\":\"a@x.org\",\"to\":\"b@y.org\",\"template_alias\":"
            "\"welcome\",\"TemplateModel\":{}}",
            NULL, PMW_ENDPOINT_BATCH_TEMPLATES,
            "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"TemplateAlias\":"
            "\"welcome\",\"TemplateModel\":{}}");
}

static void test_nulls_dropped(void **state) {
        (void)state;
        check_ok(JOB("\"Cc\":null,\"TextBody\":\"t\",\"Subject\":null,"
                     "\"Metadata\":{\"a\":\"1\",\"b\":null},\"Headers\":[{"
                     "\"Name\":\"X\",\"Value\":\"v\",\"name\":null}],"
                     "\"Attachments\":[{\"Name\":\"f\",\"Content\":\"\","
                     "\"ContentType\":\"text/plain\",\"ContentID\":null}],"
                     "\"TemplateModel\":null,\"TemplateId\":null"),
                 NULL, PMW_ENDPOINT_BATCH,
                 JOB("\"TextBody\":\"t\",\"Metadata\":{\"a\":\"1\"},"
                     "\"Headers\":[{\"Name\":\"X\",\"Value\":\"v\"}],"
                     "\"Attachments\":[{\"Name\":\"f\",\"Content\":\"\","
                     "\"ContentType\":\"text/plain\"}]"));
        /* null next to the other name of the same field is no conflict. */
        check_ok(
            "{\"From\":null,\"sender\":\"a@x.org\",\"To\":\"b@y.org\","
            "\"TextBody\":\"t\"}",
            NULL, PMW_ENDPOINT_BATCH,
            "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"TextBody\":"
            "\"t\"}");
        /* Nulls inside a TemplateModel are data, kept. */
        check_ok(JOB("\"TemplateAlias\":\"t\",\"TemplateModel\":{\"a\":null,"
                     "\"b\":[null]}"),
                 NULL, PMW_ENDPOINT_BATCH_TEMPLATES,
                 JOB("\"TemplateAlias\":\"t\",\"TemplateModel\":{\"a\":null,"
                     "\"b\":[null]}"));
        check_reject("{\"From\":null,\"To\":\"b@y.org\",\"TextBody\":\"t\"}",
                     300, "From is missing");
        check_reject(JOB("\"TextBody\":null,\"HtmlBody\":null"), 300,
                     "Provide either email TextBody or HtmlBody or both.");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[{\"Name\":\"X\","
                         "\"Value\":null}]"),
                     300, "Headers[0].Value is missing");
}

static void test_reals_kept(void **state) {
        (void)state;
        /* Numbers and strings are kept exactly as written (a real that
         * underflows too), whitespace between tokens is dropped. */
        check_ok(JOB("\"TemplateAlias\":\"invoice\",\"TemplateModel\": {"
                     "\"price\": 19.99, \"big\":1.5e300,\"n\":3,\"one\":1.0,"
                     "\"list\" :\n[ 0.1 ,-2.5,1e-7, 1E-400 ],\"s\":\"\\u20ac "
                     "\\\" x\", \"o\":{ } ,\"a\":[ ]\t}"),
                 NULL, PMW_ENDPOINT_BATCH_TEMPLATES,
                 JOB("\"TemplateAlias\":\"invoice\",\"TemplateModel\":{"
                     "\"price\":19.99,\"big\":1.5e300,\"n\":3,\"one\":1.0,"
                     "\"list\":[0.1,-2.5,1e-7,1E-400],\"s\":\"\\u20ac "
                     "\\\" x\",\"o\":{},\"a\":[]}"));
}

static void test_message_stream(void **state) {
        (void)state;
        pmw_message_t msg;
        /* Empty means the default stream: dropped from the body. */
        parse(&msg, JOB("\"TextBody\":\"t\",\"MessageStream\":\"\""), NULL);
        assert_int_equal(msg.reject_code, 0);
        assert_string_equal(msg.stream, "outbound");
        assert_string_equal(msg.body, JOB("\"TextBody\":\"t\""));
        pmw_message_cleanup(&msg);
        parse(&msg, JOB("\"message_stream\":\"news\",\"TextBody\":\"t\""),
              NULL);
        assert_string_equal(msg.stream, "news");
        assert_string_equal(msg.body,
                            JOB("\"MessageStream\":\"news\",\"TextBody\":"
                                "\"t\""));
        pmw_message_cleanup(&msg);
}

static void test_endpoint_path(void **state) {
        (void)state;
        assert_string_equal(pmw_endpoint_path(PMW_ENDPOINT_BATCH),
                            "/email/batch");
        assert_string_equal(pmw_endpoint_path(PMW_ENDPOINT_BATCH_TEMPLATES),
                            "/email/batchWithTemplates");
}

/*
 * Metadata.pmw_job_id (CONTRACT 3.2).
 */

/* Metadata with n fields k0..k(n-1). */
static char *metadata_job(size_t n, const char *extra) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 20);
        pmw_buf_append_str(&buf,
                           "{" FROM_TO ",\"TextBody\":\"t\",\"Metadata\":{");
        for (size_t i = 0; i < n; i++)
                pmw_buf_appendf(&buf, "%s\"k%zu\":\"v\"", i ? "," : "", i);
        pmw_buf_appendf(&buf, "%s}}", extra);
        return pmw_buf_take(&buf, NULL);
}

static void check_job_id(const char *json,
                         const char *job_id,
                         bool added,
                         const char *want_tail) {
        pmw_message_t msg;
        parse(&msg, json, job_id);
        assert_int_equal(msg.reject_code, 0);
        assert_int_equal(msg.job_id_added, added);
        size_t n = strlen(want_tail);
        assert_true(msg.body_len >= n);
        assert_string_equal(msg.body + msg.body_len - n, want_tail);
        /* Whatever was added, the body is one JSON object. */
        json_error_t jerr;
        json_t *v =
            json_loadb(msg.body, msg.body_len, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(v);
        json_decref(v);
        pmw_message_cleanup(&msg);
}

static void test_job_id(void **state) {
        (void)state;
        /* No Metadata, or null Metadata: created. */
        check_job_id(JOB("\"TextBody\":\"t\""), "email.jobs:0:42", true,
                     ",\"Metadata\":{\"pmw_job_id\":\"email.jobs:0:42\"}}");
        check_job_id(JOB("\"Metadata\":null,\"TextBody\":\"t\""), "j", true,
                     "\"TextBody\":\"t\",\"Metadata\":{\"pmw_job_id\":"
                     "\"j\"}}");
        /* No job id: nothing added. */
        check_job_id(JOB("\"TextBody\":\"t\""), NULL, false,
                     "\"TextBody\":\"t\"}");
        /* Empty Metadata: added inside it. */
        check_job_id(JOB("\"Metadata\":{},\"TextBody\":\"t\""), "j", true,
                     "\"Metadata\":{\"pmw_job_id\":\"j\"},\"TextBody\":\"t\"}");

        /* 9 fields: added; 10 fields: not. Null values do not count. */
        char *job = metadata_job(9, "");
        check_job_id(job, "j", true, "\"k8\":\"v\",\"pmw_job_id\":\"j\"}}");
        free(job);
        job = metadata_job(9, ",\"gone\":null");
        check_job_id(job, "j", true, "\"k8\":\"v\",\"pmw_job_id\":\"j\"}}");
        free(job);
        job = metadata_job(10, "");
        check_job_id(job, "j", false, "\"k9\":\"v\"}}");
        free(job);

        /* The job has the key already, in any case: kept, not added. */
        check_job_id(JOB("\"TextBody\":\"t\",\"Metadata\":{\"PMW_Job_ID\":"
                         "\"mine\"}"),
                     "j", false, "{\"PMW_Job_ID\":\"mine\"}}");

        /* Job id of 80 bytes: added; 81: not. */
        char *id80 = repeat("x", 80);
        char *id81 = repeat("x", 81);
        char *tail = fmt("{\"pmw_job_id\":\"%s\"}}", id80);
        check_job_id(JOB("\"TextBody\":\"t\""), id80, true, tail);
        check_job_id(JOB("\"TextBody\":\"t\""), id81, false,
                     "\"TextBody\":\"t\"}");
        free(id80);
        free(id81);
        free(tail);

        /* A job id that is not UTF-8 could not be found again: not added. */
        check_job_id(JOB("\"TextBody\":\"t\""), "bad\xff", false,
                     "\"TextBody\":\"t\"}");
        /* One that needs escaping is escaped. */
        check_job_id(JOB("\"TextBody\":\"t\""), "a\"b", true,
                     "{\"pmw_job_id\":\"a\\\"b\"}}");
}

/*
 * 402: not JSON, not an object.
 */

static void test_not_json(void **state) {
        (void)state;
        check_reject("", 402, "the job is empty");
        check_reject_len(NULL, 0, 402, "the job is empty");
        check_reject("[1,2]", 402, "the job is an array, not a JSON object");
        check_reject("\"b@y.org\"", 402,
                     "the job is a string, not a JSON object");
        /* The reason names the byte offset of the problem. */
        check_reject("not json", 402,
                     "invalid JSON: offset 0: invalid literal");
        check_reject(" \r\n", 402,
                     "invalid JSON: offset 3: unexpected end of input");
        check_reject("{\"From\":\"a@x.org\"", 402,
                     "invalid JSON: offset 17: unexpected end of input");
        check_reject("{\"To\":\"x\"} trailing", 402,
                     "invalid JSON: offset 11: trailing data after the value");
        /* A trailing NUL (a C producer counting the terminator) too. */
        check_reject_len("{\"To\":\"x\"}", 11, 402,
                         "invalid JSON: offset 10: trailing data after the "
                         "value");
        /* Repeated keys, also when an escape spells the same key, and at
         * any depth. */
        check_reject("{\"To\":\"b@y.org\",\"To\":\"c@y.org\"}", 402,
                     "invalid JSON: offset 16: duplicate object key");
        check_reject("{\"To\":\"b@y.org\",\"T\\u006f\":\"c@y.org\"}", 402,
                     "invalid JSON: offset 16: duplicate object key");
        check_reject(JOB("\"TemplateAlias\":\"x\",\"TemplateModel\":{\"a\":"
                         "[{\"b\":1,\"b\":2}]}"),
                     402, "invalid JSON: offset 82: duplicate object key");
        /* NUL in a string or a key, numbers that do not fit 64 bits. */
        check_reject("{\"To\":\"a\\u0000b\"}", 402,
                     "invalid JSON: offset 8: \\u0000 is not allowed");
        check_reject("{\"T\\u0000\":\"a\"}", 402,
                     "invalid JSON: offset 3: \\u0000 is not allowed");
        check_reject(JOB("\"TemplateId\":99999999999999999999,"
                         "\"TemplateModel\":{}"),
                     402, "invalid JSON: offset 46: integer out of range");
        check_reject(JOB("\"TemplateAlias\":\"x\",\"TemplateModel\":{\"x\":"
                         "[-9223372036854775809]}"),
                     402, "invalid JSON: offset 75: integer out of range");
        check_reject(JOB("\"TemplateAlias\":\"x\",\"TemplateModel\":{\"x\":"
                         "1e400}"),
                     402, "invalid JSON: offset 74: real number overflow");
        /* A raw newline inside a string: the reason stays on one line. */
        check_reject("{\"To\":\"a\nb\"}", 402,
                     "invalid JSON: offset 8: control character in string");
        /* Invalid UTF-8 inside a string. */
        check_reject("{\"To\":\"b\xff@y.org\"}", 402,
                     "invalid JSON: offset 8: invalid UTF-8");
}

static void test_too_large(void **state) {
        (void)state;
        /* Rejected on length alone: the content is not even JSON. */
        size_t len = PMW_MESSAGE_MAX_BYTES + 1;
        char *big  = malloc(len);
        assert_non_null(big);
        memset(big, 'x', len);
        check_reject_len(big, len, 300,
                         "the job is 10485761 bytes; the limit is 10485760");

        /* Exactly 10 MiB, valid: accepted. Two bodies under 5 MiB each. */
        const char *head =
            "{\"From\":\"a@x.org\",\"To\":\"b@y.org\","
            "\"HtmlBody\":\"";
        const char *mid  = "\",\"TextBody\":\"";
        const char *tail = "\"}";
        size_t fill =
            PMW_MESSAGE_MAX_BYTES - strlen(head) - strlen(mid) - strlen(tail);
        size_t html = fill / 2, text = fill - html;
        size_t off = 0;
        memcpy(big + off, head, strlen(head));
        off += strlen(head);
        memset(big + off, 'h', html);
        off += html;
        memcpy(big + off, mid, strlen(mid));
        off += strlen(mid);
        memset(big + off, 't', text);
        off += text;
        memcpy(big + off, tail, strlen(tail));
        off += strlen(tail);
        assert_int_equal(off, PMW_MESSAGE_MAX_BYTES);

        pmw_message_t msg;
        pmw_message_parse(&msg, big, off, NULL);
        assert_int_equal(msg.reject_code, 0);
        assert_int_equal(msg.body_len, PMW_MESSAGE_MAX_BYTES);
        assert_memory_equal(msg.body, big, off);
        pmw_message_cleanup(&msg);

        /* The same job with a job id would pass 10 MiB once the id is
         * added. */
        check_reject_len(big, off, 300,
                         "the message is over 10485760 bytes after "
                         "normalisation; the limit is 10485760");
        free(big);
}

/*
 * 403: unknown and mistyped fields.
 */

static void test_unknown_fields(void **state) {
        (void)state;
        check_reject(JOB("\"TextBody\":\"t\",\"Bogus\":1"), 403,
                     "unknown field 'Bogus'");
        /* Case matters: Postmark names are exact, aliases are lower case. */
        check_reject(JOB("\"textbody\":\"t\""), 403,
                     "unknown field 'textbody'");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[{\"Name\":\"X\","
                         "\"Value\":\"v\",\"Extra\":\"e\"}]"),
                     403, "unknown field 'Headers[0].Extra'");
        check_reject(JOB("\"TextBody\":\"t\",\"attachments\":[{\"name\":\"f\","
                         "\"content\":\"\",\"content_type\":\"a/b\"},{"
                         "\"disposition\":\"inline\"}]"),
                     403, "unknown field 'attachments[1].disposition'");
        /* Unknown even when null. */
        check_reject(JOB("\"TextBody\":\"t\",\"Bogus\":null"), 403,
                     "unknown field 'Bogus'");
        /* A long name is cut at 64 bytes. */
        char *name   = repeat("n", 100);
        char *job    = fmt(JOB("\"TextBody\":\"t\",\"%s\":1"), name);
        char *reason = fmt("unknown field '%.64s'", name);
        check_reject(job, 403, reason);
        free(name);
        free(job);
        free(reason);
        /* Fields of the other endpoint. */
        check_reject(JOB("\"TemplateId\":5,\"TemplateModel\":{},\"Subject\":"
                         "\"s\""),
                     403,
                     "Subject is not a field of templated messages (the "
                     "template supplies it)");
        check_reject(JOB("\"template_alias\":\"a\",\"TemplateModel\":{},"
                         "\"html_body\":\"h\""),
                     403,
                     "html_body is not a field of templated messages (the "
                     "template supplies it)");
}

static void test_wrong_types(void **state) {
        (void)state;
        check_reject("{\"From\":1,\"To\":\"b@y.org\",\"TextBody\":\"t\"}", 403,
                     "From must be a string, not an integer");
        check_reject("{\"sender\":[],\"To\":\"b@y.org\",\"TextBody\":\"t\"}",
                     403, "sender must be a string, not an array");
        check_reject(JOB("\"TextBody\":\"t\",\"TrackOpens\":\"yes\""), 403,
                     "TrackOpens must be a boolean, not a string");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":{}"), 403,
                     "Headers must be an array, not an object");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[1]"), 403,
                     "Headers[0] must be an object, not an integer");
        check_reject(JOB("\"TextBody\":\"t\",\"headers\":[{\"name\":\"X\","
                         "\"value\":true}]"),
                     403, "headers[0].value must be a string, not a boolean");
        check_reject(JOB("\"TextBody\":\"t\",\"Metadata\":[]"), 403,
                     "Metadata must be an object, not an array");
        check_reject(JOB("\"TextBody\":\"t\",\"Metadata\":{\"a\":1}"), 403,
                     "Metadata value of 'a' must be a string, not an integer");
        check_reject(JOB("\"TemplateId\":\"5\",\"TemplateModel\":{}"), 403,
                     "TemplateId must be an integer, not a string");
        check_reject(JOB("\"TemplateId\":5.0,\"TemplateModel\":{}"), 403,
                     "TemplateId must be an integer, not a real number");
        check_reject(JOB("\"TemplateAlias\":\"a\",\"TemplateModel\":\"{}\""),
                     403, "TemplateModel must be an object, not a string");
        check_reject(JOB("\"TemplateAlias\":\"a\",\"TemplateModel\":{},"
                         "\"InlineCss\":1"),
                     403, "InlineCss must be a boolean, not an integer");
        check_reject(JOB("\"TextBody\":\"t\",\"Attachments\":[{\"Name\":\"f\","
                         "\"Content\":\"\",\"ContentType\":\"a/b\","
                         "\"ContentLength\":\"2\"}]"),
                     403,
                     "Attachments[0].ContentLength must be an integer, not a "
                     "string");
        check_reject(JOB("\"TextBody\":\"t\",\"Attachments\":[\"f\"]"), 403,
                     "Attachments[0] must be an object, not a string");
}

static void test_priority(void **state) {
        (void)state;
        /* A field given both ways is a 300... */
        check_reject(
            "{\"From\":\"a@x.org\",\"sender\":\"b@x.org\",\"To\":"
            "\"b@y.org\",\"TextBody\":\"t\"}",
            300, "From is given twice: as From and sender");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[{\"Name\":\"X\","
                         "\"name\":\"Y\",\"Value\":\"v\"}]"),
                     300,
                     "Name is given twice: as Headers[0].Name and "
                     "Headers[0].name");
        /* ...but a 403 anywhere else in the job wins over it. */
        check_reject(
            "{\"From\":\"a@x.org\",\"sender\":\"b@x.org\",\"To\":"
            "\"b@y.org\",\"TextBody\":\"t\",\"Nope\":true}",
            403, "unknown field 'Nope'");
        /* And a 403 wins over 300 content problems. */
        check_reject(
            "{\"From\":\"not an address\",\"To\":\"b@y.org\","
            "\"TextBody\":\"t\",\"TrackOpens\":1}",
            403, "TrackOpens must be a boolean, not an integer");
}

/*
 * 300: everything else.
 */

static void test_required(void **state) {
        (void)state;
        check_reject("{\"To\":\"b@y.org\",\"TextBody\":\"t\"}", 300,
                     "From is missing");
        check_reject("{\"From\":\"a@x.org\",\"TextBody\":\"t\"}", 300,
                     "To is missing");
        check_reject("{\"sender\":\"\",\"To\":\"b@y.org\",\"TextBody\":\"t\"}",
                     300, "sender is empty");
        check_reject("{\"From\":\"a@x.org\",\"to\":\"\",\"TextBody\":\"t\"}",
                     300, "to is empty");
        check_reject(JOB("\"Subject\":\"s\""), 300,
                     "Provide either email TextBody or HtmlBody or both.");
        /* Empty bodies count as absent. */
        check_reject(JOB("\"HtmlBody\":\"\",\"TextBody\":\"\""), 300,
                     "Provide either email TextBody or HtmlBody or both.");
        check_ok(JOB("\"HtmlBody\":\"\",\"TextBody\":\"t\""), NULL,
                 PMW_ENDPOINT_BATCH,
                 JOB("\"HtmlBody\":\"\",\"TextBody\":\"t\""));
        check_ok(JOB("\"HtmlBody\":\"<b>h</b>\""), NULL, PMW_ENDPOINT_BATCH,
                 JOB("\"HtmlBody\":\"<b>h</b>\""));
}

static void test_templates(void **state) {
        (void)state;
        check_reject(JOB("\"TemplateId\":0,\"TemplateModel\":{}"), 300,
                     "TemplateId must be a positive integer, not 0");
        check_reject(JOB("\"template_id\":-3,\"TemplateModel\":{}"), 300,
                     "template_id must be a positive integer, not -3");
        check_reject(JOB("\"TemplateAlias\":\"\",\"TemplateModel\":{}"), 300,
                     "TemplateAlias is empty");
        check_reject(JOB("\"TemplateAlias\":\"a\""), 300,
                     "TemplateModel is missing: a templated message needs it");
        check_reject(JOB("\"TemplateId\":1,\"TemplateModel\":null"), 300,
                     "TemplateModel is missing: a templated message needs it");
        check_reject(JOB("\"TextBody\":\"t\",\"TemplateModel\":{}"), 300,
                     "TemplateModel needs TemplateId or TemplateAlias");
        check_reject(JOB("\"TextBody\":\"t\",\"inline_css\":true"), 300,
                     "inline_css needs TemplateId or TemplateAlias");
        /* With a valid TemplateId an empty alias does no harm. */
        check_ok(JOB("\"TemplateId\":12,\"TemplateAlias\":\"\","
                     "\"TemplateModel\":{\"x\":1},\"Metadata\":{\"a\":\"b\"}"),
                 "j", PMW_ENDPOINT_BATCH_TEMPLATES,
                 JOB("\"TemplateId\":12,\"TemplateAlias\":\"\","
                     "\"TemplateModel\":{\"x\":1},\"Metadata\":{\"a\":\"b\","
                     "\"pmw_job_id\":\"j\"}"));
}

static void test_track_links(void **state) {
        (void)state;
        const char *ok[] = {"None", "HtmlAndText", "HtmlOnly", "TextOnly"};
        for (size_t i = 0; i < 4; i++) {
                char *job =
                    fmt(JOB("\"TextBody\":\"t\",\"TrackLinks\":\"%s\""), ok[i]);
                check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
                free(job);
        }
        check_reject(JOB("\"TextBody\":\"t\",\"TrackLinks\":\"none\""), 300,
                     "TrackLinks must be None, HtmlAndText, HtmlOnly or "
                     "TextOnly, not 'none'");
        check_reject(JOB("\"TextBody\":\"t\",\"track_links\":\"\""), 300,
                     "track_links must be None, HtmlAndText, HtmlOnly or "
                     "TextOnly, not ''");
}

static void test_metadata_rules(void **state) {
        (void)state;
        check_reject(JOB("\"TextBody\":\"t\",\"Metadata\":{\"\":\"v\"}"), 300,
                     "Metadata has an empty key");
        check_reject(JOB("\"TextBody\":\"t\",\"metadata\":{\"Key\":\"1\","
                         "\"x\":\"2\",\"KEY\":\"3\"}"),
                     300,
                     "metadata has the keys 'Key' and 'KEY', equal ignoring "
                     "case");
        /* Exact duplicates are a JSON-level error (402). */
        check_reject(JOB("\"TextBody\":\"t\",\"Metadata\":{\"k\":\"1\","
                         "\"k\":\"2\"}"),
                     402, "invalid JSON: offset 68: duplicate object key");
        /* Many keys: the sorted path finds the pair too. */
        char *job = metadata_job(40, ",\"K17\":\"x\"");
        check_reject(job, 300,
                     "Metadata has the keys 'k17' and 'K17', equal ignoring "
                     "case");
        free(job);
        job = metadata_job(40, "");
        pmw_message_t msg;
        parse(&msg, job, "j");
        assert_int_equal(msg.reject_code, 0);
        assert_false(msg.job_id_added);
        pmw_message_cleanup(&msg);
        free(job);
}

static void test_headers_rules(void **state) {
        (void)state;
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[{\"Value\":\"v\"}]"),
                     300, "Headers[0].Name is missing");
        check_reject(JOB("\"TextBody\":\"t\",\"Headers\":[{\"Name\":\"A\","
                         "\"Value\":\"\"},{\"Name\":\"\",\"Value\":\"v\"}]"),
                     300, "Headers[1].Name is empty");
        check_ok(JOB("\"TextBody\":\"t\",\"Headers\":[]"), NULL,
                 PMW_ENDPOINT_BATCH, JOB("\"TextBody\":\"t\",\"Headers\":[]"));
}

static void check_attachment(const char *fields, int code, const char *why) {
        char *job =
            fmt(JOB("\"TextBody\":\"t\",\"Attachments\":[{%s}]"), fields);
        if (code == 0)
                check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
        else
                check_reject(job, code, why);
        free(job);
}

static void test_attachments(void **state) {
        (void)state;
        const char *ct = "\"ContentType\":\"application/pdf\"";
        char *f;

        check_attachment("\"Content\":\"aGk=\",\"ContentType\":\"a/b\"", 300,
                         "Attachments[0].Name is missing");
        check_attachment("\"Name\":\"f\",\"ContentType\":\"a/b\"", 300,
                         "Attachments[0].Content is missing");
        check_attachment("\"Name\":\"f\",\"Content\":\"aGk=\"", 300,
                         "Attachments[0].ContentType is missing");
        check_attachment(
            "\"name\":\"\",\"content\":\"\",\"content_type\":"
            "\"a/b\"",
            300, "Attachments[0].name is empty");

        /* Base64: padding, alphabet, line breaks. */
        static const char *const good[] = {
            "",           "aGk=",     "aGkh",
            "aA==",       "YWJjZGVm", "YW\\r\\nJj\\n",
            "aA=\\r\\n=", "+/+/",     "aGk=\\r\\n"};
        static const char *const bad[] = {"a",    "aG",       "aGk",   "aGk==",
                                          "aA=",  "aA===",    "a===",  "====",
                                          "aG=k", "aA==aA==", "aG k=", "aGk-",
                                          "aGk_", "aGk=\\t",  "=aGk"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                f = fmt("\"Name\":\"f\",\"Content\":\"%s\",%s", good[i], ct);
                check_attachment(f, 0, NULL);
                free(f);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                f = fmt("\"Name\":\"f\",\"Content\":\"%s\",%s", bad[i], ct);
                check_attachment(f, 300,
                                 "Attachments[0].Content is not valid base64");
                free(f);
        }

        /* MIME types. */
        static const char *const types[] = {
            "text/plain",
            "application/vnd.ms-excel",
            "text/plain; charset=utf-8",
            "text/plain;charset=\\\"utf-8\\\"",
            "image/svg+xml",
            "multipart/mixed; boundary=\\\"a b;c\\\"; x=y",
            "text/plain;"};
        static const char *const bad_types[] = {"pdf",
                                                "text/",
                                                "/plain",
                                                "text/plain extra",
                                                "text /plain",
                                                "text/pl@in",
                                                "",
                                                "text/plain; =x",
                                                "text/plain; a",
                                                "text/plain; a=\\\"x",
                                                " text/plain",
                                                "t\xc3\xa9xt/plain"};
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                f =
                    fmt("\"Name\":\"f\",\"Content\":\"\",\"ContentType\":"
                        "\"%s\"",
                        types[i]);
                check_attachment(f, 0, NULL);
                free(f);
        }
        for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
                f =
                    fmt("\"Name\":\"f\",\"Content\":\"\",\"content_type\":"
                        "\"%s\"",
                        bad_types[i]);
                char *raw = fmt("%s", bad_types[i]);
                /* The reason quotes the value as the job has it, unescaped. */
                pmw_buf_t want;
                pmw_buf_init(&want, 1024);
                pmw_buf_append_str(&want, "Attachments[0].content_type '");
                for (const char *p = raw; *p; p++) {
                        if (*p != '\\')
                                pmw_buf_append_char(&want, *p);
                }
                pmw_buf_append_str(&want, "' is not a valid MIME type");
                check_attachment(f, 300, pmw_buf_ptr(&want));
                pmw_buf_cleanup(&want);
                free(raw);
                free(f);
        }

        /* ContentID: printable ASCII, no spaces. */
        check_attachment(
            "\"Name\":\"f\",\"Content\":\"\",\"ContentType\":"
            "\"image/png\",\"ContentID\":\"logo@acme.example\"",
            0, NULL);
        check_attachment(
            "\"Name\":\"f\",\"Content\":\"\",\"ContentType\":"
            "\"image/png\",\"ContentID\":\"my logo\"",
            300,
            "Attachments[0].ContentID must be printable ASCII "
            "without spaces");
        check_attachment(
            "\"Name\":\"f\",\"Content\":\"\",\"ContentType\":"
            "\"image/png\",\"content_id\":\"l\xc3\xb6go\"",
            300,
            "Attachments[0].content_id must be printable ASCII "
            "without spaces");
        /* The second attachment is named in the reason. */
        char *job = fmt(JOB("\"TextBody\":\"t\",\"Attachments\":[{\"Name\":"
                            "\"a\",\"Content\":\"\",%s},{\"Name\":\"b\","
                            "\"Content\":\"!\",%s}]"),
                        ct, ct);
        check_reject(job, 300, "Attachments[1].Content is not valid base64");
        free(job);
}

static void test_recipients(void **state) {
        (void)state;
        /* Commas inside quotes or angle brackets do not split. */
        check_ok(
            "{\"From\":\"\\\"Acme, Inc.\\\" <a@x.org>\",\"To\":\"\\\"Doe, "
            "Jane\\\" <jane@x.org>, bob@y.org\",\"Cc\":\"<c@y.org>, , "
            "\\\"Q \\\\\\\" ,\\\" <q@y.org>\",\"TextBody\":\"t\"}",
            NULL, PMW_ENDPOINT_BATCH,
            "{\"From\":\"\\\"Acme, Inc.\\\" <a@x.org>\",\"To\":\"\\\"Doe, "
            "Jane\\\" <jane@x.org>, bob@y.org\",\"Cc\":\"<c@y.org>, , "
            "\\\"Q \\\\\\\" ,\\\" <q@y.org>\",\"TextBody\":\"t\"}");
        /* Quoted local part with '@' and a space. */
        check_ok(
            "{\"From\":\"a@x.org\",\"To\":\"\\\"j d@x\\\"@y.org\","
            "\"TextBody\":\"t\"}",
            NULL, PMW_ENDPOINT_BATCH,
            "{\"From\":\"a@x.org\",\"To\":\"\\\"j d@x\\\"@y.org\","
            "\"TextBody\":\"t\"}");

        /* 50 in total is the limit. */
        char *cc48 = repeat("c@y.org,", 48);
        char *job =
            fmt("{\"From\":\"a@x.org\",\"To\":\"\\\"Doe, Jane\\\" "
                "<jane@x.org>, bob@y.org\",\"Cc\":\"%s\","
                "\"TextBody\":\"t\"}",
                cc48);
        check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
        free(job);
        job =
            fmt("{\"From\":\"a@x.org\",\"To\":\"\\\"Doe, Jane\\\" "
                "<jane@x.org>, bob@y.org\",\"Cc\":\"%s\",\"bcc\":"
                "\"d@y.org\",\"TextBody\":\"t\"}",
                cc48);
        check_reject(job, 300,
                     "50 recipients is the limit; To, Cc and Bcc "
                     "have 51");
        free(job);
        free(cc48);

        check_reject("{\"From\":\"a@x.org\",\"To\":\"bob\",\"TextBody\":\"t\"}",
                     300, "invalid address in To: 'bob'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"ok@y.org, @y.org\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: '@y.org'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"bob@\",\"TextBody\":\"t\"}", 300,
            "invalid address in To: 'bob@'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"Jane <jane@x.org\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: 'Jane <jane@x.org'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"Jane Doe jane@x.org\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: 'Jane Doe jane@x.org'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"Jane <>\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: 'Jane <>'");
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"\\\"open <j@x.org>\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: '\"open <j@x.org>'");
        check_reject(JOB("\"cc\":\"c@y.org, nobody\",\"TextBody\":\"t\""), 300,
                     "invalid address in cc: 'nobody'");
        check_reject(JOB("\"Bcc\":\"x\",\"TextBody\":\"t\""), 300,
                     "invalid address in Bcc: 'x'");
        check_reject(JOB("\"ReplyTo\":\"help desk\",\"TextBody\":\"t\""), 300,
                     "invalid address in ReplyTo: 'help desk'");
        check_reject("{\"From\":\"a@x.org\",\"To\":\" , \",\"TextBody\":\"t\"}",
                     300, "To has no address");
        check_reject(
            "{\"From\":\"a@x.org, b@x.org\",\"To\":\"b@y.org\","
            "\"TextBody\":\"t\"}",
            300, "From must be exactly one address, not 2");
        check_reject(
            "{\"From\":\"Acme\",\"To\":\"b@y.org\",\"TextBody\":"
            "\"t\"}",
            300, "invalid address in From: 'Acme'");
        /* Control characters do not reach the reason raw. */
        check_reject(
            "{\"From\":\"a@x.org\",\"To\":\"x\\ny\\t\\u0001\","
            "\"TextBody\":\"t\"}",
            300, "invalid address in To: 'x\\ny\\t?'");
        /* A long item is cut at 64 bytes in the reason. */
        char *lng = repeat("z", 200);
        char *job2 =
            fmt("{\"From\":\"a@x.org\",\"To\":\"%s\",\"TextBody\":"
                "\"t\"}",
                lng);
        char *reason = fmt("invalid address in To: '%.64s'", lng);
        check_reject(job2, 300, reason);
        free(lng);
        free(job2);
        free(reason);
}

static void test_length_limits(void **state) {
        (void)state;
        char *s, *job;

        s   = repeat("s", 2000);
        job = fmt(JOB("\"Subject\":\"%s\",\"TextBody\":\"t\""), s);
        check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
        free(job);
        free(s);
        s   = repeat("s", 2001);
        job = fmt(JOB("\"Subject\":\"%s\",\"TextBody\":\"t\""), s);
        check_reject(job, 300,
                     "Subject is 2001 UTF-16 code units; the limit is 2000");
        free(job);
        free(s);

        /* An emoji is 2 UTF-16 code units: 1000 of them are 2000. */
        s          = repeat("\xf0\x9f\x93\xa7", 1000);
        job        = fmt(JOB("\"subject\":\"%s\",\"TextBody\":\"t\""), s);
        char *want = fmt(JOB("\"Subject\":\"%s\",\"TextBody\":\"t\""), s);
        check_ok(job, NULL, PMW_ENDPOINT_BATCH, want);
        free(job);
        free(want);
        job = fmt(JOB("\"subject\":\"%s\\u00e9\",\"TextBody\":\"t\""), s);
        check_reject(job, 300,
                     "subject is 2001 UTF-16 code units; the limit is 2000");
        free(job);
        free(s);

        s   = repeat("t", 1001);
        job = fmt(JOB("\"Tag\":\"%s\",\"TextBody\":\"t\""), s);
        check_reject(job, 300,
                     "Tag is 1001 UTF-16 code units; the limit is 1000");
        free(job);
        free(s);
        /* Non-BMP in Tag: 500 emoji = 1000 units, fine; one more is 1002. */
        s   = repeat("\xf0\x9f\x98\x80", 501);
        job = fmt(JOB("\"Tag\":\"%s\",\"TextBody\":\"t\""), s);
        check_reject(job, 300,
                     "Tag is 1002 UTF-16 code units; the limit is 1000");
        free(job);
        free(s);

        /* From: 255 units with the address. */
        s = repeat("f", 255 - strlen("@x.org"));
        job =
            fmt("{\"From\":\"%s@x.org\",\"To\":\"b@y.org\",\"TextBody\":"
                "\"t\"}",
                s);
        check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
        free(job);
        job =
            fmt("{\"From\":\"%s\xc3\xa9@x.org\",\"To\":\"b@y.org\","
                "\"TextBody\":\"t\"}",
                s);
        check_reject(job, 300,
                     "From is 256 UTF-16 code units; the limit is 255");
        free(job);
        free(s);
}

static void test_body_limits(void **state) {
        (void)state;
        char *s   = repeat("h", PMW_MESSAGE_MAX_BODY_BYTES);
        char *job = fmt(JOB("\"HtmlBody\":\"%s\""), s);
        check_ok(job, NULL, PMW_ENDPOINT_BATCH, job);
        free(job);
        job = fmt(JOB("\"HtmlBody\":\"%sh\""), s);
        check_reject(job, 300,
                     "HtmlBody is 5242881 bytes; the limit is 5242880");
        free(job);
        job = fmt(JOB("\"HtmlBody\":\"h\",\"text_body\":\"%sh\""), s);
        check_reject(job, 300,
                     "text_body is 5242881 bytes; the limit is 5242880");
        free(job);
        free(s);
}

static void check_to_stream(const char *json,
                            size_t len,
                            int code,
                            const char *to,
                            const char *stream) {
        pmw_message_t msg;
        pmw_message_parse(&msg, json, len, "j");
        assert_int_equal(msg.reject_code, code);
        assert_string_equal(msg.to, to);
        assert_string_equal(msg.stream, stream);
        pmw_message_cleanup(&msg);
}

static void test_to_stream_of_rejected(void **state) {
        (void)state;
        const char *j;
        /* An unknown field before To stops the walk; To is still read. */
        j = "{\"Bogus\":1,\"To\":\"x@y.org\",\"MessageStream\":\"news\"}";
        check_to_stream(j, strlen(j), 403, "x@y.org", "news");
        /* Aliases, in a job with a 300. */
        j = "{\"to\":\"a@b.c, d@e.f\",\"message_stream\":\"s\"}";
        check_to_stream(j, strlen(j), 300, "a@b.c, d@e.f", "s");
        /* Both names of To (a 300): Postmark's name is reported. */
        j = "{\"From\":\"a@x.org\",\"to\":\"c@d.e\",\"To\":\"f@g.h\","
            "\"TextBody\":\"t\"}";
        check_to_stream(j, strlen(j), 300, "f@g.h", "outbound");
        /* Not strings: "" and the default stream. */
        j = "{\"To\":[\"x@y.org\"],\"MessageStream\":5}";
        check_to_stream(j, strlen(j), 403, "", "outbound");
        /* Empty stream: the default. */
        j = "{\"To\":\"x\",\"MessageStream\":\"\"}";
        check_to_stream(j, strlen(j), 300, "x", "outbound");
        /* Not JSON, not an object, too large. */
        j = "{\"To\":\"x@y.org\"";
        check_to_stream(j, strlen(j), 402, "", "outbound");
        j = "[{\"To\":\"x@y.org\"}]";
        check_to_stream(j, strlen(j), 402, "", "outbound");
        check_to_stream(j, PMW_MESSAGE_MAX_BYTES + 1, 300, "", "outbound");
        /* A valid job reports them too. */
        j = JOB("\"TextBody\":\"t\",\"MessageStream\":\"outbound\"");
        check_to_stream(j, strlen(j), 0, "b@y.org", "outbound");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_minimal),
            cmocka_unit_test(test_all_fields_kept_in_order),
            cmocka_unit_test(test_aliases),
            cmocka_unit_test(test_nulls_dropped),
            cmocka_unit_test(test_reals_kept),
            cmocka_unit_test(test_message_stream),
            cmocka_unit_test(test_endpoint_path),
            cmocka_unit_test(test_job_id),
            cmocka_unit_test(test_not_json),
            cmocka_unit_test(test_too_large),
            cmocka_unit_test(test_unknown_fields),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_priority),
            cmocka_unit_test(test_required),
            cmocka_unit_test(test_templates),
            cmocka_unit_test(test_track_links),
            cmocka_unit_test(test_metadata_rules),
            cmocka_unit_test(test_headers_rules),
            cmocka_unit_test(test_attachments),
            cmocka_unit_test(test_recipients),
            cmocka_unit_test(test_length_limits),
            cmocka_unit_test(test_body_limits),
            cmocka_unit_test(test_to_stream_of_rejected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
