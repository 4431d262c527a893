/*
 * common/error.c: see error.h.
 *
 * The message is allocated together with the struct, as librdkafka does, so
 * an error is one allocation and one free.
 */
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct pmw_error_s {
        pmw_errcode_t code;
        bool retriable;
        char *msg; /* points into the same allocation, or is separately
                    * allocated after pmw_error_prefix() */
        char buf[];
};

static pmw_error_t *
error_vnew(pmw_errcode_t code, bool retriable, const char *fmt, va_list ap) {
        va_list ap2;
        va_copy(ap2, ap);
        int len = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (len < 0)
                len = 0;

        pmw_error_t *err = pmw_malloc(sizeof(*err) + (size_t)len + 1);
        err->code        = code;
        err->retriable   = retriable;
        err->msg         = err->buf;
        vsnprintf(err->buf, (size_t)len + 1, fmt, ap);
        return err;
}

pmw_error_t *pmw_error_new(pmw_errcode_t code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        pmw_error_t *err = error_vnew(code, false, fmt, ap);
        va_end(ap);
        return err;
}

pmw_error_t *pmw_error_new_retriable(pmw_errcode_t code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        pmw_error_t *err = error_vnew(code, true, fmt, ap);
        va_end(ap);
        return err;
}

pmw_error_t *pmw_error_prefix(pmw_error_t *err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int plen = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (plen < 0)
                plen = 0;

        size_t mlen = strlen(err->msg);
        char *msg   = pmw_malloc((size_t)plen + 2 + mlen + 1);
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)plen + 1, fmt, ap);
        va_end(ap);
        memcpy(msg + plen, ": ", 2);
        memcpy(msg + plen + 2, err->msg, mlen + 1);

        if (err->msg != err->buf)
                free(err->msg);
        err->msg = msg;
        return err;
}

pmw_errcode_t pmw_error_code(const pmw_error_t *err) {
        return err->code;
}

const char *pmw_error_string(const pmw_error_t *err) {
        return err->msg;
}

bool pmw_error_is_retriable(const pmw_error_t *err) {
        return err->retriable;
}

void pmw_error_destroy(pmw_error_t *err) {
        if (!err)
                return;
        if (err->msg != err->buf)
                free(err->msg);
        free(err);
}
