/*
 * common/log.c: see log.h.
 *
 * A line is formatted into a stack buffer (long messages are cut at
 * LINE_MAX_BYTES and marked "..."), secrets are masked, and the result is
 * written with one write(2) under a mutex, so lines from different threads
 * never interleave, even with other processes writing to the same pipe.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"

#define LINE_MAX_BYTES 8192
#define MAX_SECRETS    1024 /* > 256 servers + 2 x 256 properties */

static atomic_int log_level = PMW_LOG_NOTICE;
static pmw_log_format_t log_format; /* set before threads start */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pmw_log_sink_t *log_sink;   /* protected by log_lock */
static void *log_sink_opaque;      /* protected by log_lock */
static char *secrets[MAX_SECRETS]; /* protected by log_lock */
static size_t secret_cnt;          /* protected by log_lock */

static const char *level_names[] = {
    [PMW_LOG_ERROR] = "error",   [PMW_LOG_WARN] = "warn",
    [PMW_LOG_NOTICE] = "notice", [PMW_LOG_INFO] = "info",
    [PMW_LOG_DEBUG] = "debug",
};

static const char *level_upper[] = {
    [PMW_LOG_ERROR] = "ERROR",   [PMW_LOG_WARN] = "WARN",
    [PMW_LOG_NOTICE] = "NOTICE", [PMW_LOG_INFO] = "INFO",
    [PMW_LOG_DEBUG] = "DEBUG",
};

void pmw_log_setup(pmw_log_level_t level, pmw_log_format_t format) {
        atomic_store(&log_level, (int)level);
        log_format = format;
}

bool pmw_log_enabled(pmw_log_level_t level) {
        return (int)level <=
               atomic_load_explicit(&log_level, memory_order_relaxed);
}

const char *pmw_log_level_name(pmw_log_level_t level) {
        if (level < PMW_LOG_ERROR || level > PMW_LOG_DEBUG)
                return "unknown";
        return level_names[level];
}

void pmw_log_add_secret(const char *secret) {
        if (strlen(secret) < 4)
                return;
        pthread_mutex_lock(&log_lock);
        bool known = false;
        for (size_t i = 0; i < secret_cnt; i++)
                known = known || !strcmp(secrets[i], secret);
        if (!known && secret_cnt < MAX_SECRETS)
                secrets[secret_cnt++] = pmw_strdup(secret);
        pthread_mutex_unlock(&log_lock);
}

void pmw_log_clear_secrets(void) {
        pthread_mutex_lock(&log_lock);
        for (size_t i = 0; i < secret_cnt; i++)
                free(secrets[i]);
        secret_cnt = 0;
        pthread_mutex_unlock(&log_lock);
}

void pmw_log_set_sink(pmw_log_sink_t *sink, void *opaque) {
        pthread_mutex_lock(&log_lock);
        log_sink        = sink;
        log_sink_opaque = opaque;
        pthread_mutex_unlock(&log_lock);
}

/* Replaces every registered secret in text by "****". Called under log_lock.
 * Secrets are masked in the formatted message, so they are caught wherever
 * they came from (a message, a library's log line, an error string). */
static void mask_secrets(pmw_buf_t *text) {
        for (size_t i = 0; i < secret_cnt; i++) {
                const char *secret = secrets[i];
                size_t slen        = strlen(secret);
                const char *hit    = strstr(pmw_buf_ptr(text), secret);
                if (!hit)
                        continue;

                pmw_buf_t out;
                pmw_buf_init(&out, LINE_MAX_BYTES * 2);
                const char *p = pmw_buf_ptr(text);
                while (hit) {
                        pmw_buf_append(&out, p, (size_t)(hit - p));
                        pmw_buf_append(&out, "****", 4);
                        p   = hit + slen;
                        hit = strstr(p, secret);
                }
                pmw_buf_append_str(&out, p);
                pmw_buf_reset(text);
                pmw_buf_append(text, pmw_buf_ptr(&out), pmw_buf_len(&out));
                pmw_buf_cleanup(&out);
        }
}

void pmw_log_mask(pmw_buf_t *text) {
        pthread_mutex_lock(&log_lock);
        mask_secrets(text);
        pthread_mutex_unlock(&log_lock);
}

static bool is_key_char(char c, bool first) {
        return (c >= 'a' && c <= 'z') || c == '_' ||
               (!first && c >= '0' && c <= '9');
}

/* JSON lines get the message's context as fields: log lines start with
 * "key=value" words (job=..., partition=..., offset=..., status=...), then
 * ": " and free text. Only the words before the first ": " are read, so
 * text quoted from Postmark or a job cannot add fields. Values are strings,
 * or numbers when they are plain integers. */
static void append_context(pmw_buf_t *line, const char *msg, size_t len) {
        const char *end = msg + len;
        for (const char *p = msg; p + 1 < end; p++) {
                if (p[0] == ':' && p[1] == ' ') {
                        end = p;
                        break;
                }
        }
        const char *p = msg;
        while (p < end) {
                while (p < end && *p == ' ')
                        p++;
                const char *word = p;
                while (p < end && *p != ' ')
                        p++;
                const char *eq = memchr(word, '=', (size_t)(p - word));
                if (!eq || eq == word || eq + 1 == p)
                        continue;
                bool key_ok = true;
                for (const char *k = word; k < eq && key_ok; k++)
                        key_ok = is_key_char(*k, k == word);
                /* "msg", "time", "level" and "event" are the line's own. */
                size_t klen = (size_t)(eq - word);
                if (!key_ok || (klen == 3 && !memcmp(word, "msg", 3)) ||
                    (klen == 4 && !memcmp(word, "time", 4)) ||
                    (klen == 5 && !memcmp(word, "level", 5)) ||
                    (klen == 5 && !memcmp(word, "event", 5)))
                        continue;
                const char *val = eq + 1;
                size_t vlen     = (size_t)(p - val);
                pmw_buf_append_char(line, ',');
                pmw_buf_append_json_str(line, word, klen);
                pmw_buf_append_char(line, ':');
                bool number = vlen < 19;
                for (size_t i = 0; i < vlen && number; i++)
                        number = (val[i] >= '0' && val[i] <= '9') ||
                                 (i == 0 && val[i] == '-' && vlen > 1);
                if (number && !(vlen > 1 && val[0] == '0'))
                        pmw_buf_append(line, val, vlen);
                else
                        pmw_buf_append_json_str(line, val, vlen);
        }
}

static void emit(const char *line, size_t len) {
        if (log_sink) {
                log_sink(log_sink_opaque, line, len);
                return;
        }
        while (len > 0) {
                ssize_t n = write(STDERR_FILENO, line, len);
                if (n <= 0)
                        return; /* nowhere left to report a log failure */
                line += n;
                len -= (size_t)n;
        }
}

void pmw_log_write(pmw_log_level_t level,
                   const char *fac,
                   const char *fmt,
                   ...) {
        char msg[LINE_MAX_BYTES];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        size_t mlen = (size_t)n;
        if (mlen >= sizeof(msg)) {
                mlen = sizeof(msg) - 1;
                memcpy(msg + mlen - 3, "...", 3);
        }
        /* Lines are single lines: newlines inside a message would let a
         * crafted value forge a log line. */
        for (size_t i = 0; i < mlen; i++)
                if (msg[i] == '\n' || msg[i] == '\r')
                        msg[i] = ' ';

        char ts[PMW_RFC3339_MS_SIZE];
        pmw_time_format_rfc3339_ms(pmw_clock_wall_ms(), ts);

        pmw_buf_t text, line;
        pmw_buf_init(&text, LINE_MAX_BYTES * 2);
        pmw_buf_init(&line, LINE_MAX_BYTES * 8);

        pthread_mutex_lock(&log_lock);
        /* Mask before escaping, so a secret is found in its raw form. */
        pmw_buf_append(&text, msg, mlen);
        mask_secrets(&text);
        if (log_format == PMW_LOG_FORMAT_JSON) {
                pmw_buf_append_str(&line, "{\"time\":\"");
                pmw_buf_append_str(&line, ts);
                pmw_buf_append_str(&line, "\",\"level\":\"");
                pmw_buf_append_str(&line, pmw_log_level_name(level));
                pmw_buf_append_str(&line, "\",\"event\":");
                pmw_buf_append_json_str(&line, fac, strlen(fac));
                append_context(&line, pmw_buf_ptr(&text), pmw_buf_len(&text));
                pmw_buf_append_str(&line, ",\"msg\":");
                pmw_buf_append_json_str(&line, pmw_buf_ptr(&text),
                                        pmw_buf_len(&text));
                pmw_buf_append_str(&line, "}\n");
        } else {
                pmw_buf_append_str(&line, ts);
                pmw_buf_append_char(&line, ' ');
                pmw_buf_append_str(&line, level >= PMW_LOG_ERROR &&
                                                  level <= PMW_LOG_DEBUG
                                              ? level_upper[level]
                                              : "?");
                pmw_buf_append_char(&line, ' ');
                pmw_buf_append_str(&line, fac);
                pmw_buf_append_str(&line, ": ");
                pmw_buf_append(&line, pmw_buf_ptr(&text), pmw_buf_len(&text));
                pmw_buf_append_char(&line, '\n');
        }
        emit(pmw_buf_ptr(&line), pmw_buf_len(&line));
        pthread_mutex_unlock(&log_lock);
        pmw_buf_cleanup(&text);
        pmw_buf_cleanup(&line);
}
