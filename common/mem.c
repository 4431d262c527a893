/*
 * common/mem.c: see mem.h.
 */
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/defs.h"

PMW_NORETURN static void oom(size_t size) {
        char msg[96];
        int n = snprintf(
            msg, sizeof(msg),
            "postmark-worker: out of memory allocating %zu bytes\n", size);
        /* write(2), not stdio: stdio may itself need memory. */
        if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
                abort();
        abort();
}

void *pmw_malloc(size_t size) {
        void *p = malloc(size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

void *pmw_calloc(size_t nmemb, size_t size) {
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
        if (!p)
                oom(nmemb * size);
        return p;
}

void *pmw_realloc(void *ptr, size_t size) {
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

char *pmw_strdup(const char *s) {
        return pmw_strndup(s, strlen(s));
}

char *pmw_strndup(const char *s, size_t len) {
        char *p = pmw_malloc(len + 1);
        memcpy(p, s, len);
        p[len] = '\0';
        return p;
}
