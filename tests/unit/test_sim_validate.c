/* Unit tests for tests/postmark-sim/sim_validate (Postmark's message rules
 * as the simulator applies them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/buf.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_validate.h"

/* Runs both steps on one message. Returns the ErrorCode, or -403 when
 * step 1 fails (the field name then in *text). */
static int run(const char *json,
               const pmw_sim_rules_t *rules,
               bool templated,
               bool *acceptedp,
               pmw_buf_t *text) {
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        pmw_error_t *err = pmw_jsontok_parse(&doc, json, strlen(json), 0);
        if (err)
                fail_msg("%s: %s", json, pmw_error_string(err));
        pmw_sim_msg_t msg;
        int code;
        *acceptedp = false;
        if (!pmw_sim_msg_fields(&doc, 0, templated, &msg, text))
                code = -403;
        else
                code = pmw_sim_msg_check(&doc, &msg, rules, templated,
                                         acceptedp, text);
        pmw_jsontok_cleanup(&doc);
        return code;
}

static void expect(const char *json,
                   const pmw_sim_rules_t *rules,
                   bool templated,
                   int want_code,
                   bool want_accepted,
                   const char *want_text) {
        pmw_buf_t text;
        pmw_buf_init(&text, SIZE_MAX);
        bool accepted;
        int code = run(json, rules, templated, &accepted, &text);
        if (code != want_code || accepted != want_accepted ||
            strcmp(pmw_buf_ptr(&text), want_text) != 0)
                fail_msg("%s\n got %d %d '%s'\nwant %d %d '%s'", json, code,
                         accepted, pmw_buf_ptr(&text), want_code, want_accepted,
                         want_text);
        pmw_buf_cleanup(&text);
}

static const pmw_sim_rules_t no_rules;

#define OK_MSG(extra)                                                          \
        "{\"From\":\"Sender <s@acme.example>\",\"To\":\"a@x.org\","            \
        "\"TextBody\":\"hi\"" extra "}"

static void test_valid_messages(void **state) {
        (void)state;
        expect(OK_MSG(""), &no_rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"s@acme.example\",\"To\":\"a@x.org, \\\"B, b\\\" "
            "<b@x.org>\",\"Cc\":\"c@x.org\",\"Bcc\":null,\"Subject\":\"S\","
            "\"Tag\":\"t\",\"HtmlBody\":\"<p>x</p>\",\"ReplyTo\":"
            "\"r@x.org\",\"Headers\":[{\"Name\":\"X-A\",\"Value\":\"1\"}],"
            "\"TrackOpens\":true,\"TrackLinks\":\"HtmlAndText\","
            "\"Metadata\":{\"k\":\"v\",\"K2\":\"w\"},\"Attachments\":[{"
            "\"Name\":\"a.pdf\",\"Content\":\"JVBERi0=\",\"ContentType\":"
            "\"application/pdf\",\"ContentID\":\"cid:a1\"}],"
            "\"MessageStream\":\"outbound\"}",
            &no_rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"s@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateAlias\":\"welcome\",\"TemplateModel\":{\"n\":1},"
            "\"InlineCss\":false}",
            &no_rules, true, 0, true, "OK");
        expect(
            "{\"From\":\"s@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateId\":12345,\"TemplateModel\":{}}",
            &no_rules, true, 0, true, "OK");
}

static void test_field_errors(void **state) {
        (void)state;
        expect(OK_MSG(",\"Foo\":1"), &no_rules, false, -403, false, "Foo");
        expect(OK_MSG(",\"from\":\"x@y.z\""), &no_rules, false, -403, false,
               "from");
        expect(OK_MSG(",\"TextBody\":\"again\""), &no_rules, false, -403, false,
               "TextBody");
        expect(OK_MSG(",\"TrackOpens\":\"yes\""), &no_rules, false, -403, false,
               "TrackOpens");
        expect(OK_MSG(",\"Metadata\":[]"), &no_rules, false, -403, false,
               "Metadata");
        expect(OK_MSG(",\"Headers\":{}"), &no_rules, false, -403, false,
               "Headers");
        expect(OK_MSG(",\"Headers\":[\"X-A: 1\"]"), &no_rules, false, -403,
               false, "Headers");
        expect(OK_MSG(",\"Headers\":[{\"Name\":\"a\",\"Valu\":\"b\"}]"),
               &no_rules, false, -403, false, "Headers.Valu");
        expect(OK_MSG(",\"Attachments\":[{\"Name\":1}]"), &no_rules, false,
               -403, false, "Attachments.Name");
        expect(OK_MSG(",\"TemplateAlias\":\"x\""), &no_rules, false, -403,
               false, "TemplateAlias");
        /* Templated endpoints: the template supplies the content. */
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\",\"Subject\":"
            "\"S\",\"TemplateAlias\":\"x\",\"TemplateModel\":{}}",
            &no_rules, true, -403, false, "Subject");
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\",\"TemplateId\":"
            "\"12\",\"TemplateModel\":{}}",
            &no_rules, true, -403, false, "TemplateId");
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\",\"TemplateId\":"
            "1.5,\"TemplateModel\":{}}",
            &no_rules, true, -403, false, "TemplateId");
}

static void test_rules_300(void **state) {
        (void)state;
        expect("{\"To\":\"a@x.org\",\"TextBody\":\"hi\"}", &no_rules, false,
               300, false, "Missing 'From' address.");
        expect(
            "{\"From\":\"not-an-address\",\"To\":\"a@x.org\","
            "\"TextBody\":\"hi\"}",
            &no_rules, false, 300, false,
            "Invalid 'From' address: 'not-an-address'.");
        expect(
            "{\"From\":\"a@x.org, b@x.org\",\"To\":\"a@x.org\","
            "\"TextBody\":\"hi\"}",
            &no_rules, false, 300, false,
            "Invalid 'From' address: 'a@x.org, b@x.org'.");
        expect("{\"From\":\"s@a.example\",\"TextBody\":\"hi\"}", &no_rules,
               false, 300, false, "Zero recipients specified");
        expect("{\"From\":\"s@a.example\",\"To\":\"\",\"TextBody\":\"hi\"}",
               &no_rules, false, 300, false, "Zero recipients specified");
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\",\"Cc\":\"bad "
            "cc\",\"TextBody\":\"hi\"}",
            &no_rules, false, 300, false, "Invalid 'Cc' address: bad cc.");
        expect("{\"From\":\"s@a.example\",\"To\":\"a@x.org\"}", &no_rules,
               false, 300, false,
               "Provide either email TextBody or HtmlBody or both.");
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\",\"TextBody\":"
            "\"\",\"HtmlBody\":null}",
            &no_rules, false, 300, false,
            "Provide either email TextBody or HtmlBody or both.");
        expect(OK_MSG(",\"TrackLinks\":\"Always\""), &no_rules, false, 300,
               false,
               "Invalid 'TrackLinks' value: 'Always'. Allowed: None, "
               "HtmlAndText, HtmlOnly, TextOnly.");
        expect(OK_MSG(",\"Headers\":[{\"Value\":\"1\"}]"), &no_rules, false,
               300, false, "Every header must have a Name.");
        expect(OK_MSG(",\"Metadata\":{\"n\":1}"), &no_rules, false, 300, false,
               "Metadata values must be strings: 'n'.");
        expect(OK_MSG(",\"Metadata\":{\"Key\":\"a\",\"kEY\":\"b\"}"), &no_rules,
               false, 300, false,
               "Metadata keys must be unique (case-insensitively): 'kEY'.");
        expect(
            "{\"From\":\"s@a.example\",\"To\":\"a@x.org\","
            "\"TemplateAlias\":\"x\"}",
            &no_rules, true, 300, false,
            "The 'TemplateModel' field is required.");
}

static void test_attachments(void **state) {
        (void)state;
        expect(OK_MSG(",\"Attachments\":[{\"Name\":\"a.pdf\",\"Content\":"
                      "\"JVBERi0=\"}]"),
               &no_rules, false, 300, false,
               "Attachments must have a Name, Content and ContentType.");
        expect(OK_MSG(",\"Attachments\":[{\"Name\":\"a.pdf\",\"Content\":"
                      "\"JVBERi0=\",\"ContentType\":\"pdf\"}]"),
               &no_rules, false, 300, false,
               "Invalid attachment content type: 'pdf'.");
        expect(OK_MSG(",\"Attachments\":[{\"Name\":\"a.pdf\",\"Content\":"
                      "\"JVBERi0\",\"ContentType\":\"application/pdf\"}]"),
               &no_rules, false, 300, false,
               "Attachment content is not valid base64.");
        expect(OK_MSG(",\"Attachments\":[{\"Name\":\"a.png\",\"Content\":"
                      "\"AAAA\",\"ContentType\":\"image/png\",\"ContentID\":"
                      "\"my image\"}]"),
               &no_rules, false, 300, false,
               "Invalid attachment ContentID: 'my image' (ASCII only, no "
               "spaces).");
        expect(OK_MSG(",\"Attachments\":[{\"Name\":\"run.EXE\",\"Content\":"
                      "\"AAAA\",\"ContentType\":"
                      "\"application/octet-stream\"}]"),
               &no_rules, false, 411, false,
               "Forbidden attachment type: 'run.EXE'.");
}

static void test_limits(void **state) {
        (void)state;
        pmw_buf_t json;
        pmw_buf_init(&json, SIZE_MAX);

        /* 50 recipients pass, 51 do not. */
        pmw_buf_append_str(&json, "{\"From\":\"s@a.example\",\"To\":\"");
        for (int i = 0; i < 40; i++)
                pmw_buf_appendf(&json, "%sr%d@x.org", i ? "," : "", i);
        pmw_buf_append_str(&json, "\",\"Cc\":\"");
        for (int i = 0; i < 9; i++)
                pmw_buf_appendf(&json, "%sc%d@x.org", i ? "," : "", i);
        size_t before_bcc = pmw_buf_len(&json);
        pmw_buf_append_str(&json, "\",\"Bcc\":\"b@x.org\",\"TextBody\":\"x\"}");
        expect(pmw_buf_ptr(&json), &no_rules, false, 0, true, "OK");
        pmw_buf_truncate(&json, before_bcc);
        pmw_buf_append_str(&json,
                           "\",\"Bcc\":\"b@x.org,b2@x.org\",\"TextBody\":"
                           "\"x\"}");
        expect(pmw_buf_ptr(&json), &no_rules, false, 300, false,
               "Too many recipients: 51. A message may have at most 50 "
               "recipients across To, Cc and Bcc.");

        /* Subject: 2000 UTF-16 units; an emoji counts 2. */
        pmw_buf_reset(&json);
        pmw_buf_append_str(&json,
                           "{\"From\":\"s@a.example\",\"To\":\"a@x.org\","
                           "\"TextBody\":\"x\",\"Subject\":\"");
        for (int i = 0; i < 999; i++)
                pmw_buf_append_str(&json, "\xf0\x9f\x98\x80");
        size_t at_1998 = pmw_buf_len(&json);
        pmw_buf_append_str(&json, "ab\"}");
        expect(pmw_buf_ptr(&json), &no_rules, false, 0, true, "OK");
        pmw_buf_truncate(&json, at_1998);
        pmw_buf_append_str(&json, "\\u00e9\xf0\x9f\x98\x80\"}");
        expect(pmw_buf_ptr(&json), &no_rules, false, 300, false,
               "The 'Subject' field is longer than 2000 characters.");

        /* From: 255 units. */
        pmw_buf_reset(&json);
        pmw_buf_append_str(&json,
                           "{\"To\":\"a@x.org\",\"TextBody\":\"x\","
                           "\"From\":\"");
        for (int i = 0; i < 247; i++)
                pmw_buf_append_char(&json, 'f');
        pmw_buf_append_str(&json, "@x.org\"}"); /* 253 */
        expect(pmw_buf_ptr(&json), &no_rules, false, 0, true, "OK");
        pmw_buf_reset(&json);
        pmw_buf_append_str(&json,
                           "{\"To\":\"a@x.org\",\"TextBody\":\"x\","
                           "\"From\":\"");
        for (int i = 0; i < 250; i++)
                pmw_buf_append_char(&json, 'f');
        pmw_buf_append_str(&json, "@x.org\"}"); /* 256 */
        expect(pmw_buf_ptr(&json), &no_rules, false, 300, false,
               "The 'From' field is longer than 255 characters.");

        /* Tag: 1000. */
        pmw_buf_reset(&json);
        pmw_buf_append_str(&json,
                           "{\"From\":\"s@a.example\",\"To\":\"a@x.org\","
                           "\"TextBody\":\"x\",\"Tag\":\"");
        for (int i = 0; i < 1001; i++)
                pmw_buf_append_char(&json, 't');
        pmw_buf_append_str(&json, "\"}");
        expect(pmw_buf_ptr(&json), &no_rules, false, 300, false,
               "The 'Tag' field is longer than 1000 characters.");
        pmw_buf_cleanup(&json);
}

static void test_account_rules(void **state) {
        (void)state;
        char s1[] = "billing@acme.example", s2[] = "*@verified.example";
        char i1[] = "bounce*@*", i2[] = "gone@x.org";
        char t1[] = "welcome", t2[] = "12345";
        char n1[]             = "news";
        char *senders[]       = {s1, s2};
        char *inactive[]      = {i1, i2};
        char *templates[]     = {t1, t2};
        char *streams[]       = {n1};
        pmw_sim_rules_t rules = {senders,   2, inactive, 2,
                                 templates, 2, streams,  1};

        expect(
            "{\"From\":\"Billing <BILLING@acme.example>\",\"To\":"
            "\"a@x.org\",\"TextBody\":\"x\"}",
            &rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"any@verified.example\",\"To\":\"a@x.org\","
            "\"TextBody\":\"x\"}",
            &rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"Eve <eve@evil.example>\",\"To\":\"a@x.org\","
            "\"TextBody\":\"x\"}",
            &rules, false, 300, false,
            "Invalid 'From' address: 'eve@evil.example' is not a verified "
            "sender signature.");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TextBody\":\"x\",\"MessageStream\":\"news\"}",
            &rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TextBody\":\"x\",\"MessageStream\":\"Broadcast\"}",
            &rules, false, 0, true, "OK");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TextBody\":\"x\",\"MessageStream\":\"nope\"}",
            &rules, false, 1235, false,
            "The 'MessageStream' provided does not exist on this server: "
            "'nope'.");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"Bounce1@X.org, "
            "gone@x.org\",\"TextBody\":\"x\"}",
            &rules, false, 406, false,
            "You tried to send to recipient(s) that have been marked as "
            "inactive. Found inactive addresses: Bounce1@X.org, "
            "gone@x.org. Inactive recipients are ones that have generated "
            "a hard bounce, a spam complaint, or a manual suppression.");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"ok@x.org\","
            "\"Bcc\":\"bounce2@y.org\",\"TextBody\":\"x\"}",
            &rules, false, 406, true,
            "Message OK, but will not deliver to these inactive "
            "addresses: bounce2@y.org. Inactive recipients are ones that "
            "have generated a hard bounce, a spam complaint, or a manual "
            "suppression.");

        /* Templates: alias or id; the id wins when both are given. */
        const char *alias_text =
            "The Template's 'Alias' associated with "
            "this request is not valid or was not "
            "found.";
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateAlias\":\"welcome\",\"TemplateModel\":{}}",
            &rules, true, 0, true, "OK");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateAlias\":\"nope\",\"TemplateModel\":{}}",
            &rules, true, 1101, false, alias_text);
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateId\":12345,\"TemplateAlias\":\"nope\","
            "\"TemplateModel\":{}}",
            &rules, true, 0, true, "OK");
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateId\":1,\"TemplateAlias\":\"welcome\","
            "\"TemplateModel\":{}}",
            &rules, true, 1101, false, alias_text);
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateModel\":{}}",
            &rules, true, 1101, false,
            "A TemplateId or TemplateAlias is required.");
        /* Without --template every template exists. */
        expect(
            "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
            "\"TemplateAlias\":\"nope\",\"TemplateModel\":{}}",
            &no_rules, true, 0, true, "OK");
}

static void test_helpers(void **state) {
        (void)state;
        static const char *const mime_ok[] = {
            "application/pdf", "text/plain; charset=utf-8", "image/svg+xml",
            "application/vnd.ms-excel"};
        static const char *const mime_bad[] = {"",
                                               "pdf",
                                               "/pdf",
                                               "application/",
                                               "text/plain extra",
                                               "text/pl ain",
                                               "a/b/c",
                                               "text/plain;charset"};
        for (size_t i = 0; i < PMW_ARRAY_LEN(mime_ok); i++)
                assert_true(
                    pmw_sim_mime_type_valid(mime_ok[i], strlen(mime_ok[i])));
        for (size_t i = 0; i < PMW_ARRAY_LEN(mime_bad); i++)
                if (pmw_sim_mime_type_valid(mime_bad[i], strlen(mime_bad[i])))
                        fail_msg("accepted MIME type '%s'", mime_bad[i]);
        static const char *const b64_ok[]  = {"AAAA",
                                              "QQ==", "QUI=", "QUJD\r\nREVG"};
        static const char *const b64_bad[] = {
            "", "A", "QQ=", "Q===", "QQ==QQ==", "A*AA"};
        for (size_t i = 0; i < PMW_ARRAY_LEN(b64_ok); i++)
                assert_true(pmw_sim_base64_valid(b64_ok[i], strlen(b64_ok[i])));
        for (size_t i = 0; i < PMW_ARRAY_LEN(b64_bad); i++)
                if (pmw_sim_base64_valid(b64_bad[i], strlen(b64_bad[i])))
                        fail_msg("accepted base64 '%s'", b64_bad[i]);
}

static void test_match_recipients(void **state) {
        (void)state;
        const char *json =
            "{\"To\":\"A <a1@x.org>, b@y.org\",\"Cc\":"
            "\"a2@x.org\",\"Bcc\":\"c@z.org\"}";
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        assert_null(pmw_jsontok_parse(&doc, json, strlen(json), 0));
        pmw_sim_msg_t msg;
        pmw_buf_t bad;
        pmw_buf_init(&bad, SIZE_MAX);
        assert_true(pmw_sim_msg_fields(&doc, 0, false, &msg, &bad));
        char g1[] = "a*@x.org", g2[] = "c@*";
        char *globs[] = {g1, g2};
        pmw_buf_t list;
        pmw_buf_init(&list, SIZE_MAX);
        size_t total;
        assert_int_equal(
            pmw_sim_msg_match_recipients(&doc, &msg, globs, 2, &total, &list),
            3);
        assert_int_equal(total, 4);
        assert_string_equal(pmw_buf_ptr(&list), "a1@x.org, a2@x.org, c@z.org");
        pmw_buf_cleanup(&list);
        pmw_buf_cleanup(&bad);
        pmw_jsontok_cleanup(&doc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_messages),
            cmocka_unit_test(test_field_errors),
            cmocka_unit_test(test_rules_300),
            cmocka_unit_test(test_attachments),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_account_rules),
            cmocka_unit_test(test_helpers),
            cmocka_unit_test(test_match_recipients),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
