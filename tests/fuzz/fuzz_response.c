/*
 * Fuzz target: Postmark response parsing and classification.
 *
 * Input layout: bytes 0-1 the HTTP status (big-endian, modulo 1000), bytes
 * 2-3 the number of messages the request carried (big-endian, modulo 1024),
 * byte 4 picks a Content-Type, the rest is the body. libFuzzer hands over a
 * buffer of exactly the input's size, so ASan catches any read past len.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/postmark_classify.h"
#include "common/postmark_result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* assert() vanishes under NDEBUG (RelWithDebInfo); invariants must not. */
#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
                                __FILE__, __LINE__, #cond);                    \
                        abort();                                               \
                }                                                              \
        } while (0)

static const char *const content_types[] = {
    NULL, "application/json; charset=utf-8", "text/html", "text/plain",
    "",   "application/json\x01\xff; x=y",
};

/* A string the parser hands out: NUL-terminated valid UTF-8. strlen() walks
 * it, so ASan reports a string that is not terminated in its allocation. */
static void check_str(const char *s) {
        size_t len = strlen(s);
        CHECK(pmw_utf8_valid_prefix(s, len) == len);
}

static void check_verdict(pmw_verdict_t v) {
        CHECK((v.outcome == PMW_OUTCOME_HOLD) ==
              (v.hold_reason != PMW_HOLD_NONE));
        CHECK(v.hold_reason != PMW_HOLD_OUTAGE);
        CHECK(!(v.rate_limited && v.counts_as_failure));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        pmw_response_t resp;
        pmw_verdict_t v;

        if (size < 5)
                return 0;
        int status        = ((data[0] << 8) | data[1]) % 1000;
        size_t expected   = (size_t)(((data[2] << 8) | data[3]) % 1024);
        const char *ctype = content_types[data[4] % (sizeof(content_types) /
                                                     sizeof(content_types[0]))];

        pmw_response_parse(&resp, status, ctype, (const char *)data + 5,
                           size - 5, expected);
        CHECK(resp.transport == PMW_TRANSPORT_OK);
        CHECK(resp.http_status == status);
        CHECK(resp.retry_after_ms == -1);
        CHECK(resp.message);
        check_str(resp.message);
        if (!resp.json) {
                CHECK(resp.error_code == -1);
                /* Our own description: no control characters. */
                for (const char *p = resp.message; *p; p++)
                        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        }
        CHECK(resp.error_code >= -1);
        if (resp.per_message) {
                CHECK(status >= 200 && status <= 299);
                CHECK(resp.json);
                CHECK(resp.result_cnt == expected);
                CHECK(resp.error_code == -1);
                for (size_t i = 0; i < resp.result_cnt; i++) {
                        const pmw_msg_result_t *mr = &resp.results[i];
                        CHECK(mr->error_code >= 0);
                        CHECK(mr->message);
                        check_str(mr->message);
                        if (mr->message_id)
                                check_str(mr->message_id);
                        if (mr->submitted_at)
                                check_str(mr->submitted_at);
                        if (mr->to)
                                check_str(mr->to);
                        v = pmw_classify_message(mr->error_code, mr->message);
                        check_verdict(v);
                        CHECK(v.outcome == PMW_OUTCOME_SENT ||
                              v.outcome == PMW_OUTCOME_FAILED ||
                              v.outcome == PMW_OUTCOME_RETRY ||
                              v.outcome == PMW_OUTCOME_HOLD);
                        CHECK(!v.counts_as_failure && !v.unknown_outcome);
                }
        } else {
                CHECK(resp.results == NULL && resp.result_cnt == 0);
        }

        v = pmw_classify_request(&resp);
        check_verdict(v);
        CHECK((v.outcome == PMW_OUTCOME_PER_MESSAGE) == resp.per_message);
        CHECK(v.outcome != PMW_OUTCOME_SENT && v.outcome != PMW_OUTCOME_FAILED);
        CHECK(pmw_outcome_name(v.outcome)[0] != 'u');
        CHECK(pmw_hold_reason_name(v.hold_reason)[0] != 'u');

        pmw_response_cleanup(&resp);
        CHECK(resp.message == NULL && resp.strings == NULL);
        return 0;
}
