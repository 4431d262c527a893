/*
 * common/buf.c: see buf.h.
 */
#include "common/buf.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void pmw_buf_init(pmw_buf_t *buf, size_t max) {
        buf->data   = NULL;
        buf->len    = 0;
        buf->cap    = 0;
        buf->max    = max;
        buf->failed = false;
}

void pmw_buf_cleanup(pmw_buf_t *buf) {
        free(buf->data);
        pmw_buf_init(buf, buf->max);
}

void pmw_buf_reset(pmw_buf_t *buf) {
        buf->len    = 0;
        buf->failed = false;
        if (buf->data)
                buf->data[0] = '\0';
}

void pmw_buf_truncate(pmw_buf_t *buf, size_t len) {
        if (len < buf->len) {
                buf->len            = len;
                buf->data[buf->len] = '\0';
        }
}

/* Ensures room for extra bytes plus the NUL. Returns false (and marks the
 * buffer failed) when the limit forbids it. */
static bool grow(pmw_buf_t *buf, size_t extra) {
        if (buf->failed)
                return false;
        if (extra > buf->max || buf->len > buf->max - extra) {
                buf->failed = true;
                return false;
        }
        size_t need = buf->len + extra + 1;
        if (need <= buf->cap)
                return true;
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        buf->data = pmw_realloc(buf->data, cap);
        buf->cap  = cap;
        return true;
}

void pmw_buf_reserve(pmw_buf_t *buf, size_t extra) {
        (void)grow(buf, extra);
}

void pmw_buf_append(pmw_buf_t *buf, const void *data, size_t len) {
        if (!grow(buf, len))
                return;
        if (len)
                memcpy(buf->data + buf->len, data, len);
        buf->len += len;
        buf->data[buf->len] = '\0';
}

void pmw_buf_append_str(pmw_buf_t *buf, const char *s) {
        pmw_buf_append(buf, s, strlen(s));
}

void pmw_buf_append_char(pmw_buf_t *buf, char c) {
        if (!grow(buf, 1))
                return;
        buf->data[buf->len++] = c;
        buf->data[buf->len]   = '\0';
}

void pmw_buf_appendf(pmw_buf_t *buf, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || !grow(buf, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf->len += (size_t)n;
}

void pmw_buf_append_int(pmw_buf_t *buf, int64_t v) {
        char tmp[24];
        char *p     = tmp + sizeof(tmp);
        uint64_t uv = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do {
                *--p = (char)('0' + uv % 10);
                uv /= 10;
        } while (uv);
        if (v < 0)
                *--p = '-';
        pmw_buf_append(buf, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
                n  = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n  = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n  = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        if (avail < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return n;
}

size_t pmw_utf8_valid_prefix(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *)s;
        size_t i               = 0;
        while (i < len) {
                size_t n = utf8_seq_len(u + i, len - i);
                if (!n)
                        break;
                i += n;
        }
        return i;
}

/* Byte classes for JSON string output: 0 copied as is, 1 escaped, 2 the
 * first byte of a multi-byte UTF-8 sequence (checked when validating). */
static unsigned char json_class[256];
static pthread_once_t json_class_once = PTHREAD_ONCE_INIT;

static void json_class_init(void) {
        for (int c = 0; c < 0x20; c++)
                json_class[c] = 1;
        json_class['"']  = 1;
        json_class['\\'] = 1;
        for (int c = 0x80; c < 0x100; c++)
                json_class[c] = 2;
}

static void
append_json_str(pmw_buf_t *buf, const char *s, size_t len, bool validate) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *u  = (const unsigned char *)s;
        size_t run              = 0; /* start of bytes not yet copied */
        size_t i                = 0;

        pthread_once(&json_class_once, json_class_init);
        /* Worst case is 6 output bytes per input byte; reserve the common
         * case (no escapes) once. */
        pmw_buf_reserve(buf, len + 2);
        pmw_buf_append_char(buf, '"');
        while (i < len) {
                unsigned char c   = u[i];
                unsigned char cls = json_class[c];
                if (cls == 0 || (cls == 2 && !validate)) {
                        i++;
                        continue;
                }
                if (cls == 2) {
                        size_t n = utf8_seq_len(u + i, len - i);
                        if (n) {
                                i += n;
                                continue;
                        }
                }
                pmw_buf_append(buf, s + run, i - run);
                switch (c) {
                case '"':
                        pmw_buf_append(buf, "\\\"", 2);
                        break;
                case '\\':
                        pmw_buf_append(buf, "\\\\", 2);
                        break;
                case '\n':
                        pmw_buf_append(buf, "\\n", 2);
                        break;
                case '\r':
                        pmw_buf_append(buf, "\\r", 2);
                        break;
                case '\t':
                        pmw_buf_append(buf, "\\t", 2);
                        break;
                default:
                        if (c < 0x20) {
                                char esc[6] = {'\\', 'u',         '0',
                                               '0',  hex[c >> 4], hex[c & 15]};
                                pmw_buf_append(buf, esc, sizeof(esc));
                        } else {
                                /* Invalid UTF-8 byte: U+FFFD. */
                                pmw_buf_append(buf, "\xef\xbf\xbd", 3);
                        }
                        break;
                }
                i++;
                run = i;
        }
        pmw_buf_append(buf, s + run, i - run);
        pmw_buf_append_char(buf, '"');
}

void pmw_buf_append_json_str(pmw_buf_t *buf, const char *s, size_t len) {
        append_json_str(buf, s, len, true);
}

void pmw_buf_append_json_utf8(pmw_buf_t *buf, const char *s, size_t len) {
        append_json_str(buf, s, len, false);
}

bool pmw_buf_failed(const pmw_buf_t *buf) {
        return buf->failed;
}

const char *pmw_buf_ptr(const pmw_buf_t *buf) {
        return buf->data ? buf->data : "";
}

size_t pmw_buf_len(const pmw_buf_t *buf) {
        return buf->len;
}

char *pmw_buf_take(pmw_buf_t *buf, size_t *lenp) {
        char *data = buf->data ? buf->data : pmw_strdup("");
        if (lenp)
                *lenp = buf->len;
        pmw_buf_init(buf, buf->max);
        return data;
}
