/*
 * Fuzz target: a Kafka record value through pmw_message_parse().
 *
 * Checks, for every input: to and stream are set, the code is one of
 * 0/300/402/403 and a rejection has a reason. For a valid job: the body is
 * one JSON object with only Postmark's field names, at most 10 MB, and a
 * batch builder takes it and finishes into valid JSON of the right shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/postmark_batch.h"
#include "common/postmark_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
        if (!cond)
                abort();
}

static int postmark_name(const char *key) {
        static const char *const names[] = {"From",
                                            "To",
                                            "Cc",
                                            "Bcc",
                                            "Subject",
                                            "Tag",
                                            "HtmlBody",
                                            "TextBody",
                                            "ReplyTo",
                                            "Headers",
                                            "TrackOpens",
                                            "TrackLinks",
                                            "Metadata",
                                            "Attachments",
                                            "MessageStream",
                                            "TemplateId",
                                            "TemplateAlias",
                                            "TemplateModel",
                                            "InlineCss"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(key, names[i]) == 0)
                        return 1;
        }
        return 0;
}

static void check_body(const pmw_message_t *msg) {
        json_error_t jerr;
        json_t *root =
            json_loadb(msg->body, msg->body_len, JSON_REJECT_DUPLICATES, &jerr);
        check(root != NULL && json_is_object(root));
        check(msg->body_len == strlen(msg->body));
        check(msg->body_len <= PMW_MESSAGE_MAX_BYTES);
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
                check(postmark_name(key));
                check(!json_is_null(v));
        }
        int templated = json_object_get(root, "TemplateId") ||
                        json_object_get(root, "TemplateAlias");
        check(templated == (msg->endpoint == PMW_ENDPOINT_BATCH_TEMPLATES));
        check(json_is_string(json_object_get(root, "From")));
        check(json_is_string(json_object_get(root, "To")));
        json_decref(root);

        pmw_batch_body_t bb;
        size_t len;
        pmw_batch_body_init(&bb, msg->endpoint, 500, 1024);
        check(pmw_batch_body_add(&bb, msg->body, msg->body_len));
        /* A second copy goes in only if it fits. */
        (void)pmw_batch_body_add(&bb, msg->body, msg->body_len);
        const char *body = pmw_batch_body_finish(&bb, &len);
        root             = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        check(root != NULL);
        json_t *array = root;
        if (msg->endpoint == PMW_ENDPOINT_BATCH_TEMPLATES)
                array = json_object_get(root, "Messages");
        check(json_is_array(array));
        check(json_array_size(array) == pmw_batch_body_count(&bb));
        json_decref(root);
        pmw_batch_body_cleanup(&bb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        pmw_message_t msg;
        /* The last byte decides whether a job id is offered, so both
         * Metadata paths are covered. */
        const char *job_id = size && (data[size - 1] & 1) ? "t:0:1" : NULL;
        pmw_message_parse(&msg, (const char *)data, size, job_id);
        check(msg.to != NULL && msg.stream != NULL);
        check(msg.stream[0] != '\0');
        switch (msg.reject_code) {
        case 0:
                check(msg.reject_reason[0] == '\0');
                check(msg.body != NULL);
                check_body(&msg);
                break;
        case 300:
        case 402:
        case 403:
                check(msg.reject_reason[0] != '\0');
                check(msg.body == NULL && !msg.job_id_added);
                break;
        default:
                abort();
        }
        pmw_message_cleanup(&msg);
        return 0;
}
