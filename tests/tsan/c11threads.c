/*
 * tests/tsan/c11threads.c: C11 threads for ThreadSanitizer builds only.
 *
 * librdkafka creates its threads and locks with C11 <threads.h>. glibc
 * implements thrd_create, mtx_lock, cnd_wait, ... by calling its internal
 * pthread functions directly, bypassing the interceptors ThreadSanitizer
 * (clang 14 and gcc 12 alike) puts on the public pthread functions. Its
 * threads are then unknown to TSan, whose allocator crashes in them, and its
 * locks are invisible, which reports every librdkafka internal access as a
 * race.
 *
 * Linked into every executable of a PMW_SANITIZE=thread build (never into
 * a normal build), these definitions take precedence over glibc's for
 * librdkafka too (the executable's symbols come first in ELF symbol lookup),
 * and forward to the intercepted pthread functions. glibc's mtx_t and cnd_t
 * have the size and layout of pthread_mutex_t and pthread_cond_t.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

#include "common/defs.h"

_Static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t), "mtx_t layout");
_Static_assert(sizeof(cnd_t) >= sizeof(pthread_cond_t), "cnd_t layout");

typedef struct tramp_s {
        thrd_start_t fn;
        void *arg;
} tramp_t;

static void *tramp(void *opaque) {
        tramp_t t = *(tramp_t *)opaque;
        free(opaque);
        return (void *)(intptr_t)t.fn(t.arg);
}

static int result(int rc) {
        if (rc == 0)
                return thrd_success;
        if (rc == ETIMEDOUT)
                return thrd_timedout;
        if (rc == EBUSY)
                return thrd_busy;
        if (rc == ENOMEM)
                return thrd_nomem;
        return thrd_error;
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
        tramp_t *t = malloc(sizeof(*t));
        if (!t)
                return thrd_nomem;
        t->fn  = fn;
        t->arg = arg;
        int rc = pthread_create((pthread_t *)thr, NULL, tramp, t);
        if (rc)
                free(t);
        return result(rc);
}

int thrd_join(thrd_t thr, int *res) {
        void *ret = NULL;
        int rc    = pthread_join((pthread_t)thr, &ret);
        if (!rc && res)
                *res = (int)(intptr_t)ret;
        return result(rc);
}

int thrd_detach(thrd_t thr) {
        return result(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *mtx, int type) {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        int rc = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
        pthread_mutexattr_destroy(&attr);
        return result(rc);
}

int mtx_lock(mtx_t *mtx) {
        return result(pthread_mutex_lock((pthread_mutex_t *)mtx));
}

int mtx_trylock(mtx_t *mtx) {
        return result(pthread_mutex_trylock((pthread_mutex_t *)mtx));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict ts) {
        return result(pthread_mutex_timedlock((pthread_mutex_t *)mtx, ts));
}

int mtx_unlock(mtx_t *mtx) {
        return result(pthread_mutex_unlock((pthread_mutex_t *)mtx));
}

void mtx_destroy(mtx_t *mtx) {
        pthread_mutex_destroy((pthread_mutex_t *)mtx);
}

int cnd_init(cnd_t *cnd) {
        return result(pthread_cond_init((pthread_cond_t *)cnd, NULL));
}

int cnd_signal(cnd_t *cnd) {
        return result(pthread_cond_signal((pthread_cond_t *)cnd));
}

int cnd_broadcast(cnd_t *cnd) {
        return result(pthread_cond_broadcast((pthread_cond_t *)cnd));
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx) {
        return result(
            pthread_cond_wait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx));
}

int cnd_timedwait(cnd_t *restrict cnd,
                  mtx_t *restrict mtx,
                  const struct timespec *restrict ts) {
        return result(pthread_cond_timedwait((pthread_cond_t *)cnd,
                                             (pthread_mutex_t *)mtx, ts));
}

void cnd_destroy(cnd_t *cnd) {
        pthread_cond_destroy((pthread_cond_t *)cnd);
}
