/*
 * common/mem.h: allocation that never returns NULL.
 *
 * Out of memory is not a condition a mail worker can recover from in a
 * useful way (every recovery path itself allocates), so, like redis
 * zmalloc and librdkafka rd_malloc, these log to stderr and abort. This keeps
 * every caller free of NULL checks that would never be tested.
 *
 * Memory from these functions is freed with free().
 */
#ifndef PMW_COMMON_MEM_H
#define PMW_COMMON_MEM_H

#include <stddef.h>

void *pmw_malloc(size_t size);
void *pmw_calloc(size_t nmemb, size_t size);
void *pmw_realloc(void *ptr, size_t size);
char *pmw_strdup(const char *s);
/** @brief Copies len bytes of s and NUL-terminates the copy. */
char *pmw_strndup(const char *s, size_t len);

#endif /* PMW_COMMON_MEM_H */
