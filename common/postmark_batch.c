/*
 * common/postmark_batch.c: see postmark_batch.h.
 */
#include "common/postmark_batch.h"

#include <assert.h>
#include <stdint.h>

#define PREFIX_BATCH     "["
#define SUFFIX_BATCH     "]"
#define PREFIX_TEMPLATES "{\"Messages\":["
#define SUFFIX_TEMPLATES "]}"

static const char *prefix(const pmw_batch_body_t *bb, size_t *lenp) {
        if (bb->endpoint == PMW_ENDPOINT_BATCH_TEMPLATES) {
                *lenp = sizeof(PREFIX_TEMPLATES) - 1;
                return PREFIX_TEMPLATES;
        }
        *lenp = sizeof(PREFIX_BATCH) - 1;
        return PREFIX_BATCH;
}

static const char *suffix(const pmw_batch_body_t *bb, size_t *lenp) {
        if (bb->endpoint == PMW_ENDPOINT_BATCH_TEMPLATES) {
                *lenp = sizeof(SUFFIX_TEMPLATES) - 1;
                return SUFFIX_TEMPLATES;
        }
        *lenp = sizeof(SUFFIX_BATCH) - 1;
        return SUFFIX_BATCH;
}

size_t pmw_batch_frame_len(pmw_endpoint_t endpoint) {
        pmw_batch_body_t bb = {.endpoint = endpoint};
        size_t plen, slen;
        (void)prefix(&bb, &plen);
        (void)suffix(&bb, &slen);
        return plen + slen;
}

void pmw_batch_body_init(pmw_batch_body_t *bb,
                         pmw_endpoint_t endpoint,
                         size_t max_messages,
                         size_t max_bytes) {
        assert(max_messages >= 1 && max_messages <= PMW_BATCH_MAX_MESSAGES);
        /* The builder enforces max_bytes itself, and must still take one
         * message larger than it; the buffer's own limit only guards
         * against size_t overflow. */
        pmw_buf_init(&bb->buf, SIZE_MAX / 2);
        bb->endpoint     = endpoint;
        bb->max_messages = max_messages;
        bb->max_bytes    = max_bytes;
        bb->count        = 0;
        bb->finished     = false;
}

void pmw_batch_body_cleanup(pmw_batch_body_t *bb) {
        pmw_buf_cleanup(&bb->buf);
        bb->count    = 0;
        bb->finished = false;
}

void pmw_batch_body_reset(pmw_batch_body_t *bb, pmw_endpoint_t endpoint) {
        pmw_buf_reset(&bb->buf);
        bb->endpoint = endpoint;
        bb->count    = 0;
        bb->finished = false;
}

size_t pmw_batch_body_len(const pmw_batch_body_t *bb) {
        size_t plen, slen;
        (void)prefix(bb, &plen);
        (void)suffix(bb, &slen);
        if (bb->finished)
                return pmw_buf_len(&bb->buf);
        if (bb->count == 0)
                return plen + slen;
        return pmw_buf_len(&bb->buf) + slen;
}

bool pmw_batch_body_fits(const pmw_batch_body_t *bb, size_t len) {
        if (bb->finished)
                return false;
        if (bb->count == 0)
                return true;
        if (bb->count >= bb->max_messages || len > bb->max_bytes)
                return false;
        /* Current body + ',' + message + suffix, without overflow. */
        return pmw_batch_body_len(bb) + 1 <= bb->max_bytes - len;
}

bool pmw_batch_body_add(pmw_batch_body_t *bb, const char *msg, size_t len) {
        return pmw_batch_body_add_at(bb, msg, len, NULL);
}

bool pmw_batch_body_add_at(pmw_batch_body_t *bb,
                           const char *msg,
                           size_t len,
                           size_t *atp) {
        assert(!bb->finished);
        if (!pmw_batch_body_fits(bb, len))
                return false;
        if (bb->count == 0) {
                size_t plen;
                const char *p = prefix(bb, &plen);
                pmw_buf_reserve(&bb->buf, plen + len + 2);
                pmw_buf_append(&bb->buf, p, plen);
        } else {
                pmw_buf_append_char(&bb->buf, ',');
        }
        if (atp)
                *atp = pmw_buf_len(&bb->buf);
        pmw_buf_append(&bb->buf, msg, len);
        bb->count++;
        return true;
}

size_t pmw_batch_body_count(const pmw_batch_body_t *bb) {
        return bb->count;
}

pmw_endpoint_t pmw_batch_body_endpoint(const pmw_batch_body_t *bb) {
        return bb->endpoint;
}

const char *pmw_batch_body_finish(pmw_batch_body_t *bb, size_t *lenp) {
        if (!bb->finished) {
                size_t plen, slen;
                const char *p = prefix(bb, &plen);
                const char *s = suffix(bb, &slen);
                if (bb->count == 0)
                        pmw_buf_append(&bb->buf, p, plen);
                pmw_buf_append(&bb->buf, s, slen);
                bb->finished = true;
        }
        *lenp = pmw_buf_len(&bb->buf);
        return pmw_buf_ptr(&bb->buf);
}

char *pmw_batch_body_take(pmw_batch_body_t *bb, size_t *lenp) {
        (void)pmw_batch_body_finish(bb, lenp);
        char *body   = pmw_buf_take(&bb->buf, NULL);
        bb->count    = 0;
        bb->finished = false;
        return body;
}
