/*
 * common/defs.h: compiler attributes and small macros shared by every module.
 *
 * No state, no functions: including it costs nothing.
 */
#ifndef PMW_COMMON_DEFS_H
#define PMW_COMMON_DEFS_H

#define PMW_PRINTF(fmt_idx, args_idx)                                          \
        __attribute__((format(printf, fmt_idx, args_idx)))
#define PMW_WARN_UNUSED __attribute__((warn_unused_result))
#define PMW_NORETURN    __attribute__((noreturn))
#define PMW_UNUSED      __attribute__((unused))

#define PMW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PMW_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define PMW_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* The worker's version, also in its User-Agent. Set by CMake. */
#ifndef PMW_VERSION
#define PMW_VERSION "0.0.0-dev"
#endif

#endif /* PMW_COMMON_DEFS_H */
