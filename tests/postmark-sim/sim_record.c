/*
 * tests/postmark-sim/sim_record.c: see sim_record.h.
 */
#include "tests/postmark-sim/sim_record.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"

#define FLUSH_AT (1024 * 1024)

struct pmw_sim_record_s {
        pthread_mutex_t lock;
        FILE *fp;          /* protected by lock */
        pmw_buf_t pending; /* protected by lock */
        uint64_t lines;    /* protected by lock */
        char *path;        /* immutable */
        int write_errno;   /* protected by lock: last failure logged */
};

pmw_error_t *pmw_sim_record_open(const char *path, pmw_sim_record_t **recordp) {
        *recordp = NULL;
        FILE *fp = fopen(path, "a");
        if (fp == NULL)
                return pmw_error_new(PMW_ERR_IO, "--record %s: %s", path,
                                     strerror(errno));
        pmw_sim_record_t *r = pmw_calloc(1, sizeof(*r));
        pthread_mutex_init(&r->lock, NULL);
        r->fp   = fp;
        r->path = pmw_strdup(path);
        pmw_buf_init(&r->pending, SIZE_MAX);
        *recordp = r;
        return NULL;
}

static void flush_locked(pmw_sim_record_t *r) {
        size_t len = pmw_buf_len(&r->pending);
        if (len > 0 && fwrite(pmw_buf_ptr(&r->pending), 1, len, r->fp) != len) {
                /* Log a failure once, not per flush. */
                if (r->write_errno != errno) {
                        r->write_errno = errno;
                        pmw_log(PMW_LOG_ERROR, "record",
                                "writing %s failed: %s; lines lost", r->path,
                                strerror(errno));
                }
        }
        pmw_buf_reset(&r->pending);
        fflush(r->fp);
}

void pmw_sim_record_append(pmw_sim_record_t *r,
                           const char *lines,
                           size_t len,
                           size_t n_lines) {
        pthread_mutex_lock(&r->lock);
        pmw_buf_append(&r->pending, lines, len);
        r->lines += n_lines;
        if (pmw_buf_len(&r->pending) >= FLUSH_AT)
                flush_locked(r);
        pthread_mutex_unlock(&r->lock);
}

void pmw_sim_record_flush(pmw_sim_record_t *r) {
        pthread_mutex_lock(&r->lock);
        flush_locked(r);
        pthread_mutex_unlock(&r->lock);
}

uint64_t pmw_sim_record_lines(pmw_sim_record_t *r) {
        pthread_mutex_lock(&r->lock);
        uint64_t n = r->lines;
        pthread_mutex_unlock(&r->lock);
        return n;
}

void pmw_sim_record_close(pmw_sim_record_t *r) {
        if (r == NULL)
                return;
        flush_locked(r);
        fclose(r->fp);
        pmw_buf_cleanup(&r->pending);
        pthread_mutex_destroy(&r->lock);
        free(r->path);
        free(r);
}
