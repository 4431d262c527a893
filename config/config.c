/*
 * config/config.c: see config.h.
 *
 * Every scalar setting is one row of keys[] (as redis src/config.c
 * static_configs[]): group, name, type, offset into pmw_config_t, default,
 * limits, and the environment variable that may set it. Loading the file,
 * the environment and --set, the range checks and printing all walk that
 * table; only the genuinely special settings (the servers list, the Kafka
 * pass-through lists, checks that involve two keys) have their own code.
 *
 * Loading runs in stages on one pmw_config_t, each stage overwriting the
 * previous one's values and recording where each value came from:
 *   defaults -> file -> environment -> --set -> checks -> token resolution.
 * Range checks run after all stages, so a --set can repair a bad file value.
 *
 * libconfig 1.5 silently wraps integer literals that do not fit its type
 * (3000000000 reads back as -1294967296, 99999999999999999999L as
 * INT64_MAX). We read the file ourselves, so for each integer setting the
 * literal is found again in the text (on the setting's source line) and
 * parsed exactly: a value that does not fit in int64 is an error, one that
 * libconfig merely wrapped is used as written.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "common/mem.h"

#define FILE_MAX        (1024 * 1024) /* the configuration file */
#define TOKEN_FILE_MAX  4096          /* a token file */
#define LIST_MAX        256 /* servers, and properties per Kafka list */
#define SERVER_NAME_MAX 128
#define GROUP_ID_MAX    255
#define TOPIC_MAX       249
#define SHOWN_MAX       100 /* bytes of a bad value quoted in an error */
#define SHOWN_SIZE      (SHOWN_MAX * 4 + 8)
#define KEY_SIZE        256 /* a dotted key name in a message */
#define ORIGIN_SIZE     64
#define MASK            "****"

typedef enum key_type_e {
        KT_STRING,
        KT_INT,
        KT_DOUBLE,
        KT_BOOL,
        KT_ENUM,
        KT_KVLIST,
        KT_SERVERS,
} key_type_t;

/* A string check: may normalise the value (base_url loses a trailing '/'). */
typedef pmw_error_t *(str_check_t)(const char *key,
                                   char **valp,
                                   const char *origin);

/* A property the worker sets itself and the user may not. */
typedef struct reserved_s {
        const char *name;
        const char *reason;
} reserved_t;

/* What is special about one pass-through list. */
typedef struct kvspec_s {
        const char *const *defaults; /* "name=value", NULL-terminated */
        const reserved_t *reserved;  /* ends with a NULL name */
} kvspec_t;

typedef struct keydef_s {
        const char *group;
        const char *name;
        key_type_t type;
        size_t off;               /* offset of the field in pmw_config_t */
        const char *env;          /* the environment variable, or NULL */
        const char *def_str;      /* KT_STRING and KT_ENUM default */
        int64_t def_int;          /* KT_INT and KT_BOOL default */
        double def_dbl;           /* KT_DOUBLE default */
        int64_t min, max;         /* KT_INT limits */
        double dmin, dmax;        /* KT_DOUBLE limits */
        const char *const *names; /* KT_ENUM names, NULL-terminated */
        const int *values;        /* KT_ENUM values, parallel to names */
        str_check_t *check;       /* KT_STRING check, or NULL */
        const kvspec_t *kv;       /* KT_KVLIST */
} keydef_t;

static str_check_t check_brokers, check_group_id, check_topic, check_url,
    check_listen;

static const char *const level_names[] = {"error", "warn",  "notice",
                                          "info",  "debug", NULL};
static const int level_values[] = {PMW_LOG_ERROR, PMW_LOG_WARN, PMW_LOG_NOTICE,
                                   PMW_LOG_INFO, PMW_LOG_DEBUG};
static const char *const format_names[] = {"text", "json", NULL};
static const int format_values[] = {PMW_LOG_FORMAT_TEXT, PMW_LOG_FORMAT_JSON};

/* bootstrap.servers and its alias, for both lists. */
#define BROKERS_REASON "is set by the worker: use kafka.brokers"
#define ALIAS_REASON                                                           \
        "is an alias of bootstrap.servers, which the worker sets: use "        \
        "kafka.brokers"

/* librdkafka's 64 MB default prefetch per consumer, and fetch responses of
 * up to 50 MB (1 MB per partition: 64 MB from a 64-partition topic), are
 * too much for the worker's memory target (DESIGN.md, Memory); a record
 * larger than fetch.max.bytes still comes through (Kafka returns the first
 * batch whatever its size). earliest, so that a new group sends the jobs
 * already waiting instead of skipping them. */
static const char *const consumer_defaults[] = {
    "auto.offset.reset=earliest", "queued.max.messages.kbytes=4096",
    "fetch.max.bytes=4194304", NULL};
static const reserved_t consumer_reserved[] = {
    {"bootstrap.servers", BROKERS_REASON},
    {"metadata.broker.list", ALIAS_REASON},
    {"group.id", "is set by the worker: use kafka.group_id"},
    {"enable.auto.offset.store",
     "must stay false: offsets are stored only after status records are "
     "acknowledged"},
    {"enable.auto.commit",
     "must stay true: librdkafka commits the offsets the worker stores"},
    {NULL, NULL},
};
static const char *const producer_defaults[] = {NULL};
static const reserved_t producer_reserved[]  = {
     {"bootstrap.servers", BROKERS_REASON},
     {"metadata.broker.list", ALIAS_REASON},
     {"enable.idempotence",
      "must stay true for at-least-once delivery of status records"},
     {"acks", "must stay all for at-least-once delivery of status records"},
     {"request.required.acks",
      "is an alias of acks, which must stay all for at-least-once delivery"},
     {NULL, NULL},
};
static const kvspec_t consumer_spec = {consumer_defaults, consumer_reserved};
static const kvspec_t producer_spec = {producer_defaults, producer_reserved};

#define OFF(g, n) offsetof(pmw_config_t, g.n)
#define STR(g, n, def, env_, chk)                                              \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_STRING, .off = OFF(g, n),  \
                .def_str = def, .env = env_, .check = chk                      \
        }
#define INT(g, n, def, lo, hi)                                                 \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_INT, .off = OFF(g, n),     \
                .def_int = def, .min = lo, .max = hi                           \
        }
#define DBL(g, n, def, lo, hi)                                                 \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_DOUBLE, .off = OFF(g, n),  \
                .def_dbl = def, .dmin = lo, .dmax = hi                         \
        }
#define BOOL(g, n, def, env_)                                                  \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_BOOL, .off = OFF(g, n),    \
                .def_int = def, .env = env_                                    \
        }
#define ENUM(g, n, def, names_, values_)                                       \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_ENUM, .off = OFF(g, n),    \
                .def_str = def, .names = names_, .values = values_             \
        }
#define KVLIST(g, n, spec)                                                     \
        {                                                                      \
                .group = #g, .name = #n, .type = KT_KVLIST, .off = OFF(g, n),  \
                .kv = spec                                                     \
        }
#define SERVERS(g, n)                                                          \
        { .group = #g, .name = #n, .type = KT_SERVERS, .off = OFF(g, n) }

/* Every setting, grouped and in the order pmw_config_print() writes them. */
static const keydef_t keys[] = {
    STR(kafka, brokers, "localhost:9092", "KAFKA_BROKERS", check_brokers),
    STR(kafka, group_id, "postmark-worker", NULL, check_group_id),
    STR(kafka, jobs_topic, "email.jobs", NULL, check_topic),
    STR(kafka, status_topic, "email.status", NULL, check_topic),
    STR(kafka, dead_letter_topic, "email.dlq", NULL, check_topic),
    KVLIST(kafka, consumer, &consumer_spec),
    KVLIST(kafka, producer, &producer_spec),

    STR(postmark,
        base_url,
        "https://api.postmarkapp.com",
        "POSTMARK_BASE_URL",
        check_url),
    SERVERS(postmark, servers),
    INT(postmark, timeout_ms, 15000, 1, 600000),
    INT(postmark, connect_timeout_ms, 5000, 1, 600000),
    INT(postmark, max_in_flight, 16, 1, 1024),
    BOOL(postmark, tls_verify, true, "POSTMARK_SSL_VERIFY"),

    INT(batch, max_messages, 500, 1, 500),
    INT(batch, max_bytes, 20971520, 65536, 50000000),
    INT(batch, linger_ms, 100, 0, 60000),

    DBL(rate_limit, messages_per_second, 0.0, 0.0, 1e9),
    DBL(rate_limit, requests_per_second, 0.0, 0.0, 1e9),

    INT(retry, max_attempts, 10, 1, 1000),
    INT(retry, initial_backoff_ms, 500, 1, 3600000),
    INT(retry, max_backoff_ms, 60000, 1, 3600000),
    INT(retry, hold_after_failures, 5, 1, 1000000),

    INT(workers, threads, 2, 1, 64),
    INT(workers, shutdown_timeout_ms, 30000, 0, 3600000),

    STR(http, listen, "0.0.0.0:9464", NULL, check_listen),

    ENUM(log, level, "notice", level_names, level_values),
    ENUM(log, format, "text", format_names, format_values),
};
#define KEY_CNT PMW_ARRAY_LEN(keys)

/* Enums are stored through an int pointer by the table code. */
_Static_assert(sizeof(pmw_log_level_t) == sizeof(int), "enum size");
_Static_assert(sizeof(pmw_log_format_t) == sizeof(int), "enum size");

/* The built-in server list, and the variable the environment stage reads. */
#define DEFAULT_SERVER   "default"
#define SERVER_TOKEN_ENV "POSTMARK_SERVER_TOKEN"
#define DEFAULT_ORIGIN   "default"
#define SET_ORIGIN       "--set"
#define SERVERS_KEY      "postmark.servers"

typedef enum token_kind_e {
        TOKEN_LITERAL,
        TOKEN_ENV,
        TOKEN_FILE,
} token_kind_t;

static const char *const token_fields[] = {"token", "token_env", "token_file",
                                           NULL};

/* A server before its token is resolved. */
typedef struct server_src_s {
        char *name;
        token_kind_t kind;
        char *value;  /* the token, the variable's name, or the path */
        char *origin; /* where this token source was set */
} server_src_t;

typedef struct loader_s {
        pmw_config_t *cfg;
        const char *path; /* the file, while it is read */
        const char *text; /* its text, NUL-terminated */
        server_src_t *srv;
        size_t srv_cnt;
        char *const *env;
} loader_t;


/*
 * Small helpers
 */

static void *field(const pmw_config_t *cfg, const keydef_t *k) {
        return (char *)cfg + k->off;
}

static void key_name(const keydef_t *k, char *dst, size_t size) {
        snprintf(dst, size, "%s.%s", k->group, k->name);
}

static void str_replace(char **dstp, const char *s) {
        char *copy = pmw_strdup(s);
        free(*dstp);
        *dstp = copy;
}

static void set_origin(pmw_config_t *cfg, size_t idx, const char *origin) {
        str_replace(&cfg->origins[idx], origin);
}

static bool is_ctl(unsigned char c) {
        return c < 0x20 || c == 0x7f;
}

/* libconfig's setting-name characters: [A-Za-z*][-A-Za-z0-9_*]*. */
static bool is_name_char(char c) {
        return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* Appends s as a libconfig string literal (which is also how it reads in a
 * message). With limit > 0, at most limit bytes of s, then "...". */
static void append_quoted(pmw_buf_t *out, const char *s, size_t limit) {
        pmw_buf_append_char(out, '"');
        size_t i;
        for (i = 0; s[i] && (limit == 0 || i < limit); i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\') {
                        pmw_buf_append_char(out, '\\');
                        pmw_buf_append_char(out, (char)c);
                } else if (is_ctl(c)) {
                        pmw_buf_appendf(out, "\\x%02x", c);
                } else {
                        pmw_buf_append_char(out, (char)c);
                }
        }
        pmw_buf_append_char(out, '"');
        if (s[i])
                pmw_buf_append_str(out, "...");
}

/* A value as shown in an error: quoted, escaped, cut at SHOWN_MAX bytes. */
static void render(char *dst, size_t size, const char *s) {
        pmw_buf_t b;
        pmw_buf_init(&b, size - 1);
        append_quoted(&b, s, SHOWN_MAX);
        snprintf(dst, size, "%s", pmw_buf_ptr(&b));
        pmw_buf_cleanup(&b);
}

/* "(default)" or "(from file line 7)". */
static void origin_phrase(char *dst, size_t size, const char *origin) {
        if (!strcmp(origin, DEFAULT_ORIGIN))
                snprintf(dst, size, "(default)");
        else
                snprintf(dst, size, "(from %s)", origin);
}

/* "KEY[ = SHOWN] (ORIGIN): MESSAGE", the shape of every key error. */
static pmw_error_t *key_error(const char *key,
                              const char *shown,
                              const char *origin,
                              const char *fmt,
                              ...) PMW_PRINTF(4, 5);
static pmw_error_t *key_error(const char *key,
                              const char *shown,
                              const char *origin,
                              const char *fmt,
                              ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        char where[ORIGIN_SIZE + 16];
        origin_phrase(where, sizeof(where), origin);
        return pmw_error_new(PMW_ERR_INVALID, "%s%s%s %s: %s", key,
                             shown ? " = " : "", shown ? shown : "", where,
                             msg);
}

/* "allowed 1..500" for a number key. */
static void allowed_range(const keydef_t *k, char *dst, size_t size) {
        if (k->type == KT_INT)
                snprintf(dst, size, "allowed %" PRId64 "..%" PRId64, k->min,
                         k->max);
        else
                snprintf(dst, size, "allowed %.15g..%.15g", k->dmin, k->dmax);
}

/* "error, warn, notice, info or debug". */
static void enum_list(const keydef_t *k, char *dst, size_t size) {
        pmw_buf_t b;
        pmw_buf_init(&b, size - 1);
        for (size_t i = 0; k->names[i]; i++) {
                if (i > 0)
                        pmw_buf_append_str(&b, k->names[i + 1] ? ", " : " or ");
                pmw_buf_append_str(&b, k->names[i]);
        }
        snprintf(dst, size, "%s", pmw_buf_ptr(&b));
        pmw_buf_cleanup(&b);
}

static bool is_group(const char *name) {
        for (size_t i = 0; i < KEY_CNT; i++)
                if (!strcmp(keys[i].group, name))
                        return true;
        return false;
}

/* The row of group.name, or -1. */
static int find_key(const char *group, const char *name) {
        for (size_t i = 0; i < KEY_CNT; i++)
                if (!strcmp(keys[i].group, group) &&
                    !strcmp(keys[i].name, name))
                        return (int)i;
        return -1;
}

/* The row whose dotted name is key[0..len), or -1. */
static int find_dotted(const char *key, size_t len) {
        for (size_t i = 0; i < KEY_CNT; i++) {
                size_t glen = strlen(keys[i].group);
                if (len == glen + 1 + strlen(keys[i].name) &&
                    !strncmp(key, keys[i].group, glen) && key[glen] == '.' &&
                    !strncmp(key + glen + 1, keys[i].name, len - glen - 1))
                        return (int)i;
        }
        return -1;
}

/* "kafka, postmark, ..." or, with a group, its keys. */
static void list_names(pmw_buf_t *out, const char *group) {
        const char *prev = NULL;
        for (size_t i = 0; i < KEY_CNT; i++) {
                const char *name;
                if (group) {
                        if (strcmp(keys[i].group, group))
                                continue;
                        name = keys[i].name;
                } else {
                        if (prev && !strcmp(prev, keys[i].group))
                                continue;
                        name = prev = keys[i].group;
                }
                if (pmw_buf_len(out) > 0)
                        pmw_buf_append_str(out, ", ");
                pmw_buf_append_str(out, name);
        }
}

static pmw_error_t *unknown_key_error(const char *what, const char *group) {
        pmw_buf_t names;
        pmw_buf_init(&names, 4096);
        list_names(&names, group);
        pmw_error_t *err;
        if (group)
                err = pmw_error_new(PMW_ERR_INVALID,
                                    "%s: unknown key; valid keys in %s: %s",
                                    what, group, pmw_buf_ptr(&names));
        else
                err = pmw_error_new(PMW_ERR_INVALID,
                                    "%s: unknown group; valid groups: %s", what,
                                    pmw_buf_ptr(&names));
        pmw_buf_cleanup(&names);
        return err;
}

static const char *env_get(char *const *env, const char *name) {
        if (!env)
                return NULL;
        size_t len = strlen(name);
        for (char *const *e = env; *e; e++)
                if (!strncmp(*e, name, len) && (*e)[len] == '=')
                        return (*e)[len + 1] ? *e + len + 1 : NULL;
        return NULL;
}

bool pmw_config_brokers_embedded(const char *brokers) {
        return !strncmp(brokers, "embedded", 8) &&
               (!brokers[8] || brokers[8] == ':');
}

bool pmw_config_is_secret_property(const char *name) {
        static const char *const words[] = {"password", "secret", "key"};
        for (size_t i = 0; i < PMW_ARRAY_LEN(words); i++) {
                size_t wlen = strlen(words[i]);
                for (const char *p = name; *p; p++)
                        if (!strncasecmp(p, words[i], wlen))
                                return true;
        }
        return false;
}

const char *pmw_config_libconfig_version(void) {
#define PMW_STR2(x) #x
#define PMW_STR(x)  PMW_STR2(x)
        return PMW_STR(LIBCONFIG_VER_MAJOR) "." PMW_STR(
            LIBCONFIG_VER_MINOR) "." PMW_STR(LIBCONFIG_VER_REVISION);
}


/*
 * Parsing values
 */

/* Decimal with an optional sign, nothing else. */
static bool parse_decimal(const char *s, int64_t *vp, bool *overflowp) {
        const char *p = s + (*s == '+' || *s == '-');
        if (!*p)
                return false;
        for (const char *q = p; *q; q++)
                if (!isdigit((unsigned char)*q))
                        return false;
        errno       = 0;
        long long v = strtoll(s, NULL, 10);
        *overflowp  = errno == ERANGE;
        *vp         = v;
        return true;
}

static bool parse_double(const char *s, double *vp) {
        if (!*s || isspace((unsigned char)*s))
                return false;
        char *end;
        errno    = 0;
        double v = strtod(s, &end);
        if (*end || !isfinite(v))
                return false;
        *vp = v;
        return true;
}

/* true/false; lenient (environment) also 1/0/yes/no. */
static bool parse_bool(const char *s, bool lenient, bool *vp) {
        static const char *const yes[] = {"true", "1", "yes"};
        static const char *const no[]  = {"false", "0", "no"};
        size_t n                       = lenient ? PMW_ARRAY_LEN(yes) : 1;
        for (size_t i = 0; i < n; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *vp = true;
                        return true;
                }
                if (!strcasecmp(s, no[i])) {
                        *vp = false;
                        return true;
                }
        }
        return false;
}

static bool parse_enum(const keydef_t *k, const char *s, int *vp) {
        for (size_t i = 0; k->names[i]; i++) {
                if (!strcmp(s, k->names[i])) {
                        *vp = k->values[i];
                        return true;
                }
        }
        return false;
}

/* Sets a scalar from text: an environment variable or a --set value. */
static pmw_error_t *assign_text(loader_t *ld,
                                size_t idx,
                                const char *text,
                                const char *origin,
                                bool lenient) {
        const keydef_t *k = &keys[idx];
        void *f           = field(ld->cfg, k);
        char key[KEY_SIZE], shown[SHOWN_SIZE], allowed[128];
        key_name(k, key, sizeof(key));
        render(shown, sizeof(shown), text);

        switch (k->type) {
        case KT_STRING:
                str_replace(f, text);
                break;
        case KT_INT: {
                int64_t v;
                bool overflow;
                allowed_range(k, allowed, sizeof(allowed));
                if (!parse_decimal(text, &v, &overflow))
                        return key_error(key, shown, origin,
                                         "expected a decimal integer, %s",
                                         allowed);
                if (overflow)
                        return key_error(key, shown, origin,
                                         "does not fit in a 64-bit integer, %s",
                                         allowed);
                *(int64_t *)f = v;
                break;
        }
        case KT_DOUBLE: {
                double v;
                allowed_range(k, allowed, sizeof(allowed));
                if (!parse_double(text, &v))
                        return key_error(key, shown, origin,
                                         "expected a finite number, %s",
                                         allowed);
                *(double *)f = v;
                break;
        }
        case KT_BOOL: {
                bool v;
                if (!parse_bool(text, lenient, &v))
                        return key_error(key, shown, origin, "expected %s",
                                         lenient
                                             ? "true, false, 1, 0, yes or no"
                                             : "true or false");
                *(bool *)f = v;
                break;
        }
        case KT_ENUM: {
                int v;
                if (!parse_enum(k, text, &v)) {
                        enum_list(k, allowed, sizeof(allowed));
                        return key_error(key, shown, origin, "allowed %s",
                                         allowed);
                }
                *(int *)f = v;
                break;
        }
        case KT_KVLIST:
        case KT_SERVERS:
                /* callers route lists elsewhere */
                abort();
        }
        set_origin(ld->cfg, idx, origin);
        return NULL;
}


/*
 * Tokens and servers
 */

/* Trims whitespace and checks what goes into the X-Postmark-Server-Token
 * header. Errors never quote the token. */
static pmw_error_t *token_clean(const char *raw, size_t len, char **tokenp) {
        *tokenp = NULL;
        while (len > 0 && isspace((unsigned char)*raw)) {
                raw++;
                len--;
        }
        while (len > 0 && isspace((unsigned char)raw[len - 1]))
                len--;
        if (len == 0)
                return pmw_error_new(PMW_ERR_INVALID, "the token is empty");
        for (size_t i = 0; i < len; i++)
                if (is_ctl((unsigned char)raw[i]))
                        return pmw_error_new(
                            PMW_ERR_INVALID,
                            "the token contains a control character (byte %zu)",
                            i + 1);
        *tokenp = pmw_strndup(raw, len);
        return NULL;
}

/* Reads at most max bytes of a file; a larger file is an error. */
static pmw_error_t *read_bounded(const char *what,
                                 const char *path,
                                 size_t max,
                                 char **datap,
                                 size_t *lenp) {
        *datap = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return pmw_error_new(PMW_ERR_IO, "%s %s: %s", what, path,
                                     strerror(errno));
        pmw_error_t *err = NULL;
        char *data       = pmw_malloc(max + 2);
        size_t len       = 0;
        while (len <= max) {
                ssize_t n = read(fd, data + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        err = pmw_error_new(PMW_ERR_IO, "%s %s: %s", what, path,
                                            strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max) {
                err =
                    pmw_error_new(PMW_ERR_LIMIT, "%s %s: larger than %zu bytes",
                                  what, path, max);
                goto out;
        }
        data[len] = '\0';
        *datap    = data;
        *lenp     = len;
        data      = NULL;
out:
        free(data);
        close(fd);
        return err;
}

pmw_error_t *pmw_config_read_token_file(const char *path, char **tokenp) {
        *tokenp = NULL;
        char *data;
        size_t len;
        pmw_error_t *err =
            read_bounded("token file", path, TOKEN_FILE_MAX, &data, &len);
        if (err)
                return err;
        err = token_clean(data, len, tokenp);
        memset(data, 0, len);
        free(data);
        if (err)
                return pmw_error_prefix(err, "token file %s", path);
        return NULL;
}

static bool valid_server_name(const char *name) {
        size_t len = strlen(name);
        if (len == 0 || len > SERVER_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
                        return false;
        return true;
}

/* The token_kind_t a server field name[0..len) sets, or -1. */
static int token_field(const char *name, size_t len) {
        for (int t = 0; token_fields[t]; t++)
                if (strlen(token_fields[t]) == len &&
                    !strncmp(name, token_fields[t], len))
                        return t;
        return -1;
}

static void servers_clear(loader_t *ld) {
        for (size_t i = 0; i < ld->srv_cnt; i++) {
                free(ld->srv[i].name);
                free(ld->srv[i].value);
                free(ld->srv[i].origin);
        }
        free(ld->srv);
        ld->srv     = NULL;
        ld->srv_cnt = 0;
}

static server_src_t *server_find(loader_t *ld, const char *name) {
        for (size_t i = 0; i < ld->srv_cnt; i++)
                if (!strcmp(ld->srv[i].name, name))
                        return &ld->srv[i];
        return NULL;
}

/* Sets a server's one token source, adding the server if it is new. */
static pmw_error_t *server_set(loader_t *ld,
                               const char *name,
                               token_kind_t kind,
                               const char *value,
                               const char *origin) {
        server_src_t *s = server_find(ld, name);
        if (!s) {
                if (ld->srv_cnt >= LIST_MAX)
                        return pmw_error_new(
                            PMW_ERR_LIMIT, SERVERS_KEY ": more than %d servers",
                            LIST_MAX);
                ld->srv =
                    pmw_realloc(ld->srv, (ld->srv_cnt + 1) * sizeof(*ld->srv));
                s         = &ld->srv[ld->srv_cnt++];
                s->name   = pmw_strdup(name);
                s->value  = NULL;
                s->origin = NULL;
        }
        s->kind = kind;
        str_replace(&s->value, value);
        str_replace(&s->origin, origin);
        return NULL;
}

/* "postmark.servers.eu.token_env" plus " (from file line 9)" unless the
 * source is the built-in default. */
static void server_key(const server_src_t *s, char *dst, size_t size) {
        if (!strcmp(s->origin, DEFAULT_ORIGIN))
                snprintf(dst, size, SERVERS_KEY ".%s.%s", s->name,
                         token_fields[s->kind]);
        else
                snprintf(dst, size, SERVERS_KEY ".%s.%s (from %s)", s->name,
                         token_fields[s->kind], s->origin);
}

static pmw_error_t *server_resolve(const loader_t *ld,
                                   const server_src_t *s,
                                   pmw_server_conf_t *srv) {
        char key[KEY_SIZE + ORIGIN_SIZE];
        server_key(s, key, sizeof(key));
        pmw_error_t *err = NULL;
        char *token      = NULL;
        pmw_buf_t source;
        pmw_buf_init(&source, 8192);

        if (s->kind != TOKEN_LITERAL && !*s->value) {
                err = pmw_error_new(PMW_ERR_INVALID, "%s: is empty", key);
                goto out;
        }
        switch (s->kind) {
        case TOKEN_LITERAL:
                err = token_clean(s->value, strlen(s->value), &token);
                pmw_buf_append_str(&source, "token");
                break;
        case TOKEN_ENV: {
                const char *v = env_get(ld->env, s->value);
                if (!v) {
                        err = pmw_error_new(
                            PMW_ERR_INVALID,
                            "%s: environment variable %s is not set", key,
                            s->value);
                        goto out;
                }
                err = token_clean(v, strlen(v), &token);
                if (err)
                        err = pmw_error_prefix(err, "environment variable %s",
                                               s->value);
                pmw_buf_appendf(&source, "env %s", s->value);
                break;
        }
        case TOKEN_FILE:
                err = pmw_config_read_token_file(s->value, &token);
                pmw_buf_appendf(&source, "file %s", s->value);
                srv->token_file = pmw_strdup(s->value);
                break;
        }
        if (err) {
                err = pmw_error_prefix(err, "%s", key);
                goto out;
        }
        srv->token        = token;
        srv->token_source = pmw_buf_take(&source, NULL);
        token             = NULL;
out:
        free(token);
        pmw_buf_cleanup(&source);
        return err;
}

/* Turns the server sources into the config's resolved servers. */
static pmw_error_t *servers_resolve(loader_t *ld) {
        pmw_config_t *cfg = ld->cfg;
        int idx           = find_key("postmark", "servers");
        if (ld->srv_cnt == 0)
                return key_error(SERVERS_KEY, NULL, cfg->origins[idx],
                                 "at least one server is required");
        cfg->postmark.servers =
            pmw_calloc(ld->srv_cnt, sizeof(pmw_server_conf_t));
        for (size_t i = 0; i < ld->srv_cnt; i++) {
                pmw_server_conf_t *srv = &cfg->postmark.servers[i];
                cfg->postmark.server_cnt++;
                srv->name        = pmw_strdup(ld->srv[i].name);
                srv->origin      = pmw_strdup(ld->srv[i].origin);
                pmw_error_t *err = server_resolve(ld, &ld->srv[i], srv);
                if (err)
                        return err;
        }
        return NULL;
}


/*
 * Pass-through lists
 */

static const reserved_t *kv_reserved(const kvspec_t *spec, const char *name) {
        for (const reserved_t *r = spec->reserved; r->name; r++)
                if (!strcmp(r->name, name))
                        return r;
        return NULL;
}

/* Adds or replaces a property (a later one replaces an earlier one). */
static pmw_error_t *kv_put(const keydef_t *k,
                           pmw_kv_list_t *list,
                           const char *name,
                           const char *value,
                           const char *origin) {
        char key[KEY_SIZE];
        key_name(k, key, sizeof(key));
        const reserved_t *r = kv_reserved(k->kv, name);
        if (r) {
                char prop[KEY_SIZE * 2];
                snprintf(prop, sizeof(prop), "%s.%s", key, name);
                return key_error(prop, NULL, origin, "%s", r->reason);
        }
        pmw_kv_t *kv = NULL;
        for (size_t i = 0; i < list->cnt && !kv; i++)
                if (!strcmp(list->kv[i].name, name))
                        kv = &list->kv[i];
        if (!kv) {
                if (list->cnt >= LIST_MAX)
                        return pmw_error_new(PMW_ERR_LIMIT,
                                             "%s: more than %d properties", key,
                                             LIST_MAX);
                list->kv =
                    pmw_realloc(list->kv, (list->cnt + 1) * sizeof(*list->kv));
                kv         = &list->kv[list->cnt++];
                kv->name   = pmw_strdup(name);
                kv->value  = NULL;
                kv->origin = NULL;
        }
        str_replace(&kv->value, value);
        str_replace(&kv->origin, origin);
        return NULL;
}

/* Splits "name=value" (name non-empty) and puts it into the list. */
static pmw_error_t *kv_put_pair(const keydef_t *k,
                                pmw_kv_list_t *list,
                                const char *pair,
                                const char *origin,
                                bool *malformedp) {
        const char *eq = strchr(pair, '=');
        *malformedp    = !eq || eq == pair;
        if (*malformedp)
                return NULL;
        char *name       = pmw_strndup(pair, (size_t)(eq - pair));
        pmw_error_t *err = kv_put(k, list, name, eq + 1, origin);
        free(name);
        return err;
}

static void kv_list_free(pmw_kv_list_t *list) {
        for (size_t i = 0; i < list->cnt; i++) {
                free(list->kv[i].name);
                free(list->kv[i].value);
                free(list->kv[i].origin);
        }
        free(list->kv);
        list->kv  = NULL;
        list->cnt = 0;
}


/*
 * Defaults
 */

static void load_defaults(loader_t *ld) {
        pmw_config_t *cfg = ld->cfg;
        for (size_t i = 0; i < KEY_CNT; i++) {
                const keydef_t *k = &keys[i];
                void *f           = field(cfg, k);
                switch (k->type) {
                case KT_STRING:
                        *(char **)f = pmw_strdup(k->def_str);
                        break;
                case KT_INT:
                        *(int64_t *)f = k->def_int;
                        break;
                case KT_DOUBLE:
                        *(double *)f = k->def_dbl;
                        break;
                case KT_BOOL:
                        *(bool *)f = k->def_int != 0;
                        break;
                case KT_ENUM:
                        if (!parse_enum(k, k->def_str, f))
                                abort(); /* a bad row in keys[] */
                        break;
                case KT_KVLIST:
                        for (size_t j = 0; k->kv->defaults[j]; j++) {
                                bool malformed;
                                pmw_error_t *err =
                                    kv_put_pair(k, f, k->kv->defaults[j],
                                                DEFAULT_ORIGIN, &malformed);
                                if (err || malformed)
                                        abort(); /* a bad default */
                        }
                        break;
                case KT_SERVERS: {
                        pmw_error_t *err =
                            server_set(ld, DEFAULT_SERVER, TOKEN_ENV,
                                       SERVER_TOKEN_ENV, DEFAULT_ORIGIN);
                        if (err)
                                abort();
                        break;
                }
                }
                cfg->origins[i] = pmw_strdup(DEFAULT_ORIGIN);
        }
}


/*
 * The file
 */

static const char *type_name(int type) {
        switch (type) {
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a float";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        default:
                return "nothing";
        }
}

static const char *expected_name(key_type_t type) {
        switch (type) {
        case KT_STRING:
        case KT_ENUM:
                return "a string";
        case KT_INT:
                return "an integer";
        case KT_DOUBLE:
                return "a number";
        case KT_BOOL:
                return "a boolean (true or false)";
        case KT_KVLIST:
                return "a list of \"name=value\" strings";
        case KT_SERVERS:
                return "a list of groups";
        }
        return "?";
}

static void file_origin(const config_setting_t *s, char *dst, size_t size) {
        snprintf(dst, size, "file line %u", config_setting_source_line(s));
}

/* An integer literal as libconfig 1.5 reads it and as it really is. */
typedef struct literal_s {
        const char *text; /* where it starts in the file */
        size_t len;
        long long libval; /* what libconfig made of it */
        bool is64;        /* had an L suffix: libconfig made an int64 */
        int64_t exact;    /* the value written, if !overflow */
        bool overflow;    /* does not fit in int64 */
} literal_t;

/* Parses [-+]?(0[xX][0-9a-fA-F]+|[0-9]+)(L|LL)? at p. */
static bool parse_literal(const char *p, literal_t *lit) {
        const char *q = p + (*p == '+' || *p == '-');
        bool hex      = q[0] == '0' && (q[1] == 'x' || q[1] == 'X') &&
                   isxdigit((unsigned char)q[2]);
        char *end;
        errno = 0;
        if (hex) {
                if (q != p)
                        return false; /* libconfig has no signed hex */
                unsigned long long u = strtoull(q, &end, 16);
                lit->overflow        = errno == ERANGE || u > INT64_MAX;
                lit->exact           = lit->overflow ? 0 : (int64_t)u;
                /* libconfig casts the saturated unsigned value */
                lit->libval = (long long)u;
        } else {
                if (!isdigit((unsigned char)*q))
                        return false;
                long long v   = strtoll(p, &end, 10);
                lit->overflow = errno == ERANGE;
                lit->exact    = v;
                lit->libval   = v; /* saturated, as libconfig's atoll */
        }
        lit->is64 = *end == 'L';
        if (lit->is64)
                end += end[1] == 'L' ? 2 : 1;
        if (is_name_char(*end) || *end == '.')
                return false; /* a float or something else */
        if (!lit->is64)       /* libconfig keeps only an int's 32 bits */
                lit->libval =
                    (int32_t)(uint32_t)(unsigned long long)lit->libval;
        lit->text = p;
        lit->len  = (size_t)(end - p);
        return true;
}

/* The start of line (1-based) in the file's text, or NULL. */
static const char *line_start(const char *text, unsigned line) {
        const char *ls = text;
        for (unsigned l = 1; l < line && ls; l++) {
                ls = strchr(ls, '\n');
                if (ls)
                        ls++;
        }
        return ls;
}

/* Finds "name = literal" (or ':') on the setting's line whose literal
 * libconfig read as the value it holds. Matching on that value skips
 * look-alikes in strings or comments on the same line. */
static bool
find_literal(const loader_t *ld, const config_setting_t *s, literal_t *lit) {
        const char *name = config_setting_name(s);
        unsigned line    = config_setting_source_line(s);
        if (!name || line == 0)
                return false;
        const char *ls = line_start(ld->text, line);
        if (!ls)
                return false;
        const char *le = strchr(ls, '\n');
        if (!le)
                le = ls + strlen(ls);
        long long libval = config_setting_get_int64(s);
        bool is64        = config_setting_type(s) == CONFIG_TYPE_INT64;
        size_t nlen      = strlen(name);

        for (const char *p = ls; p + nlen <= le; p++) {
                if (strncmp(p, name, nlen) || (p > ls && is_name_char(p[-1])) ||
                    is_name_char(p[nlen]))
                        continue;
                const char *q = p + nlen;
                q += strspn(q, " \t\r\n");
                if (*q != '=' && *q != ':')
                        continue;
                q++;
                q += strspn(q, " \t\r\n");
                if (parse_literal(q, lit) && lit->libval == libval &&
                    lit->is64 == is64)
                        return true;
        }
        return false;
}

/* The exact value of an integer setting (see the top of this file). */
static pmw_error_t *file_int(const loader_t *ld,
                             const keydef_t *k,
                             const config_setting_t *s,
                             const char *origin,
                             int64_t *vp) {
        literal_t lit;
        if (!find_literal(ld, s, &lit)) {
                *vp = config_setting_get_int64(s);
                return NULL;
        }
        if (lit.overflow) {
                char key[KEY_SIZE], shown[SHOWN_MAX + 8], allowed[128];
                key_name(k, key, sizeof(key));
                allowed_range(k, allowed, sizeof(allowed));
                snprintf(shown, sizeof(shown), "%.*s%s",
                         (int)PMW_MIN(lit.len, (size_t)SHOWN_MAX), lit.text,
                         lit.len > SHOWN_MAX ? "..." : "");
                return key_error(key, shown, origin,
                                 "does not fit in a 64-bit integer, %s",
                                 allowed);
        }
        *vp = lit.exact;
        return NULL;
}

static bool line_contains(const char *ls, const char *needle) {
        const char *le = strchr(ls, '\n');
        size_t len     = le ? (size_t)(le - ls) : strlen(ls);
        size_t nlen    = strlen(needle);
        for (size_t i = 0; i + nlen <= len; i++)
                if (!strncmp(ls + i, needle, nlen))
                        return true;
        return false;
}

/* libconfig gives a list element the line of the token after it (the ','
 * or ')', possibly lines later), so look back for the string itself. */
static void elem_origin(const loader_t *ld,
                        const config_setting_t *list,
                        const config_setting_t *e,
                        char *dst,
                        size_t size) {
        unsigned line = config_setting_source_line(e);
        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
                pmw_buf_t quoted;
                pmw_buf_init(&quoted, SIZE_MAX);
                pmw_buf_appendf(&quoted, "\"%s\"",
                                config_setting_get_string(e));
                for (unsigned l = line;
                     l > 0 && l >= config_setting_source_line(list); l--) {
                        const char *ls = line_start(ld->text, l);
                        if (ls && line_contains(ls, pmw_buf_ptr(&quoted))) {
                                line = l;
                                break;
                        }
                }
                pmw_buf_cleanup(&quoted);
        }
        snprintf(dst, size, "file line %u", line);
}

static pmw_error_t *
file_kvlist(loader_t *ld, const keydef_t *k, const config_setting_t *s) {
        char key[KEY_SIZE];
        key_name(k, key, sizeof(key));
        pmw_kv_list_t *list = field(ld->cfg, k);
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                char origin[ORIGIN_SIZE], elem[KEY_SIZE + 16];
                elem_origin(ld, s, e, origin, sizeof(origin));
                snprintf(elem, sizeof(elem), "%s[%d]", key, i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        return key_error(
                            elem, NULL, origin,
                            "expected a \"name=value\" string, got %s",
                            type_name(config_setting_type(e)));
                bool malformed;
                pmw_error_t *err = kv_put_pair(
                    k, list, config_setting_get_string(e), origin, &malformed);
                if (err)
                        return err;
                /* the element itself is not quoted: it may hold a password */
                if (malformed)
                        return key_error(
                            elem, NULL, origin,
                            "expected \"name=value\" with a non-empty name");
        }
        return NULL;
}

static pmw_error_t *
file_server(loader_t *ld, int i, const config_setting_t *g) {
        char elem[KEY_SIZE], origin[ORIGIN_SIZE];
        snprintf(elem, sizeof(elem), SERVERS_KEY "[%d]", i);
        file_origin(g, origin, sizeof(origin));
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return key_error(elem, NULL, origin,
                                 "expected a group such as { name = \"eu\"; "
                                 "token_env = \"EU_TOKEN\"; }, got %s",
                                 type_name(config_setting_type(g)));

        const char *name            = NULL;
        const config_setting_t *src = NULL;
        int kind                    = -1;
        for (int m = 0; m < config_setting_length(g); m++) {
                const config_setting_t *f = config_setting_get_elem(g, m);
                const char *fname         = config_setting_name(f);
                char fkey[KEY_SIZE * 2], forigin[ORIGIN_SIZE];
                snprintf(fkey, sizeof(fkey), "%s.%s", elem, fname);
                file_origin(f, forigin, sizeof(forigin));
                int fkind = token_field(fname, strlen(fname));
                if (fkind < 0 && strcmp(fname, "name"))
                        return pmw_error_new(PMW_ERR_INVALID,
                                             "%s (from %s): unknown field; "
                                             "valid fields: name, token, "
                                             "token_env, token_file",
                                             fkey, forigin);
                if (config_setting_type(f) != CONFIG_TYPE_STRING)
                        return key_error(fkey, NULL, forigin,
                                         "expected a string, got %s",
                                         type_name(config_setting_type(f)));
                if (fkind < 0) {
                        name = config_setting_get_string(f);
                        char shown[SHOWN_SIZE];
                        render(shown, sizeof(shown), name);
                        if (!valid_server_name(name))
                                return key_error(
                                    fkey, shown, forigin,
                                    "expected 1..%d characters of A-Z a-z "
                                    "0-9 . _ -",
                                    SERVER_NAME_MAX);
                        if (server_find(ld, name))
                                return key_error(fkey, shown, forigin,
                                                 "duplicate server name");
                        continue;
                }
                if (src)
                        return key_error(elem, NULL, origin,
                                         "has both %s and %s: give exactly "
                                         "one of token, token_env or "
                                         "token_file",
                                         token_fields[kind], fname);
                src  = f;
                kind = fkind;
        }
        if (!name)
                return key_error(elem, NULL, origin, "needs a name");
        if (!src)
                return key_error(elem, NULL, origin,
                                 "needs one of token, token_env or token_file");
        file_origin(src, origin, sizeof(origin));
        return server_set(ld, name, (token_kind_t)kind,
                          config_setting_get_string(src), origin);
}

static pmw_error_t *file_servers(loader_t *ld, const config_setting_t *s) {
        servers_clear(ld); /* the file's list replaces the built-in one */
        if (config_setting_length(s) > LIST_MAX)
                return pmw_error_new(PMW_ERR_LIMIT,
                                     SERVERS_KEY ": more than %d servers",
                                     LIST_MAX);
        for (int i = 0; i < config_setting_length(s); i++) {
                pmw_error_t *err =
                    file_server(ld, i, config_setting_get_elem(s, i));
                if (err)
                        return err;
        }
        return NULL;
}

static pmw_error_t *
file_setting(loader_t *ld, size_t idx, const config_setting_t *s) {
        const keydef_t *k = &keys[idx];
        void *f           = field(ld->cfg, k);
        int type          = config_setting_type(s);
        char key[KEY_SIZE], origin[ORIGIN_SIZE];
        key_name(k, key, sizeof(key));
        file_origin(s, origin, sizeof(origin));
        bool is_int = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
        bool ok;
        switch (k->type) {
        case KT_STRING:
        case KT_ENUM:
                ok = type == CONFIG_TYPE_STRING;
                break;
        case KT_INT:
                ok = is_int;
                break;
        case KT_DOUBLE:
                ok = is_int || type == CONFIG_TYPE_FLOAT;
                break;
        case KT_BOOL:
                ok = type == CONFIG_TYPE_BOOL;
                break;
        case KT_KVLIST:
                ok = type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
                break;
        case KT_SERVERS:
                ok = type == CONFIG_TYPE_LIST;
                break;
        default:
                ok = false;
        }
        if (!ok)
                return key_error(key, NULL, origin, "expected %s, got %s",
                                 expected_name(k->type), type_name(type));

        pmw_error_t *err = NULL;
        int64_t v;
        switch (k->type) {
        case KT_STRING:
                str_replace(f, config_setting_get_string(s));
                break;
        case KT_ENUM:
                err = assign_text(ld, idx, config_setting_get_string(s), origin,
                                  false);
                break;
        case KT_INT:
                err = file_int(ld, k, s, origin, &v);
                if (!err)
                        *(int64_t *)f = v;
                break;
        case KT_DOUBLE:
                if (is_int) {
                        err = file_int(ld, k, s, origin, &v);
                        if (!err)
                                *(double *)f = (double)v;
                } else if (!isfinite(config_setting_get_float(s))) {
                        err = key_error(key, NULL, origin,
                                        "must be a finite number");
                } else {
                        *(double *)f = config_setting_get_float(s);
                }
                break;
        case KT_BOOL:
                *(bool *)f = config_setting_get_bool(s);
                break;
        case KT_KVLIST:
                err = file_kvlist(ld, k, s);
                break;
        case KT_SERVERS:
                err = file_servers(ld, s);
                break;
        }
        if (!err)
                set_origin(ld->cfg, idx, origin);
        return err;
}

/* libconfig resolves @include itself, relative to the working directory;
 * the literal recovery and the size bound only cover the one file we read,
 * so an included setting is refused. */
static const config_setting_t *find_included(const config_setting_t *s) {
        if (config_setting_source_file(s))
                return s;
        if (config_setting_is_aggregate(s)) {
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *r =
                            find_included(config_setting_get_elem(s, i));
                        if (r)
                                return r;
                }
        }
        return NULL;
}

static pmw_error_t *file_walk(loader_t *ld, const config_setting_t *root) {
        const config_setting_t *inc = find_included(root);
        if (inc)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "config file %s: @include is not "
                                     "supported (%s comes from %s); keep the "
                                     "configuration in one file",
                                     ld->path,
                                     config_setting_name(inc)
                                         ? config_setting_name(inc)
                                         : "a setting",
                                     config_setting_source_file(inc));

        for (int i = 0; i < config_setting_length(root); i++) {
                const config_setting_t *g = config_setting_get_elem(root, i);
                const char *gname         = config_setting_name(g);
                char origin[ORIGIN_SIZE], what[KEY_SIZE * 2];
                file_origin(g, origin, sizeof(origin));
                if (!is_group(gname)) {
                        snprintf(what, sizeof(what), "%s (from %s)", gname,
                                 origin);
                        return unknown_key_error(what, NULL);
                }
                if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                        return key_error(gname, NULL, origin,
                                         "expected a group, got %s",
                                         type_name(config_setting_type(g)));
                for (int m = 0; m < config_setting_length(g); m++) {
                        const config_setting_t *s =
                            config_setting_get_elem(g, m);
                        int idx = find_key(gname, config_setting_name(s));
                        if (idx < 0) {
                                file_origin(s, origin, sizeof(origin));
                                snprintf(what, sizeof(what), "%s.%s (from %s)",
                                         gname, config_setting_name(s), origin);
                                return unknown_key_error(what, gname);
                        }
                        pmw_error_t *err = file_setting(ld, (size_t)idx, s);
                        if (err)
                                return err;
                }
        }
        return NULL;
}

static pmw_error_t *load_file(loader_t *ld, const char *path) {
        char *text;
        size_t len;
        pmw_error_t *err =
            read_bounded("config file", path, FILE_MAX, &text, &len);
        if (err)
                return err;
        if (memchr(text, '\0', len)) {
                free(text);
                return pmw_error_new(
                    PMW_ERR_PARSE, "config file %s: contains a NUL byte", path);
        }

        config_t lc;
        config_init(&lc);
        if (!config_read_string(&lc, text)) {
                const char *efile = config_error_file(&lc);
                err =
                    pmw_error_new(PMW_ERR_PARSE, "config file %s line %d: %s",
                                  efile ? efile : path, config_error_line(&lc),
                                  config_error_text(&lc));
        } else {
                ld->path = path;
                ld->text = text;
                err      = file_walk(ld, config_root_setting(&lc));
                ld->path = NULL;
                ld->text = NULL;
        }
        config_destroy(&lc);
        free(text);
        return err;
}


/*
 * The environment and --set
 */

static pmw_error_t *load_env(loader_t *ld) {
        for (size_t i = 0; i < KEY_CNT; i++) {
                const char *v =
                    keys[i].env ? env_get(ld->env, keys[i].env) : NULL;
                if (!v)
                        continue;
                char origin[ORIGIN_SIZE];
                snprintf(origin, sizeof(origin), "env %s", keys[i].env);
                pmw_error_t *err = assign_text(ld, i, v, origin, true);
                if (err)
                        return err;
        }
        if (env_get(ld->env, SERVER_TOKEN_ENV))
                return server_set(ld, DEFAULT_SERVER, TOKEN_ENV,
                                  SERVER_TOKEN_ENV, "env " SERVER_TOKEN_ENV);
        return NULL;
}

/* postmark.servers.<name>.<token|token_env|token_file>=<value> */
static pmw_error_t *set_server(loader_t *ld,
                               const char *arg,
                               const char *rest,
                               size_t rest_len,
                               const char *value) {
        const char *dot = NULL;
        for (size_t i = 0; i < rest_len; i++)
                if (rest[i] == '.')
                        dot = rest + i;
        int kind =
            dot ? token_field(dot + 1, (size_t)(rest + rest_len - dot - 1))
                : -1;
        if (kind < 0)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "--set %.*s=...: expected " SERVERS_KEY
                                     ".<name>.token, .token_env or "
                                     ".token_file",
                                     (int)(value - 1 - arg), arg);
        char *name = pmw_strndup(rest, (size_t)(dot - rest));
        pmw_error_t *err;
        if (!valid_server_name(name))
                err =
                    pmw_error_new(PMW_ERR_INVALID,
                                  "--set %.*s=...: the server name must be "
                                  "1..%d characters of A-Z a-z 0-9 . _ -",
                                  (int)(value - 1 - arg), arg, SERVER_NAME_MAX);
        else
                err =
                    server_set(ld, name, (token_kind_t)kind, value, SET_ORIGIN);
        free(name);
        return err;
}

static pmw_error_t *apply_set(loader_t *ld, const char *arg) {
        const char *eq = strchr(arg, '=');
        if (!eq) {
                char shown[SHOWN_SIZE];
                render(shown, sizeof(shown), arg);
                return pmw_error_new(PMW_ERR_INVALID,
                                     "--set %s: expected KEY=VALUE", shown);
        }
        size_t klen       = (size_t)(eq - arg);
        const char *value = eq + 1;
        char what[KEY_SIZE + 16];
        snprintf(what, sizeof(what), "--set %.*s=...",
                 (int)PMW_MIN(klen, (size_t)KEY_SIZE), arg);

        static const char servers_prefix[] = SERVERS_KEY ".";
        if (klen > strlen(servers_prefix) &&
            !strncmp(arg, servers_prefix, strlen(servers_prefix)))
                return set_server(ld, arg, arg + strlen(servers_prefix),
                                  klen - strlen(servers_prefix), value);

        for (size_t i = 0; i < KEY_CNT; i++) {
                const keydef_t *k = &keys[i];
                if (k->type != KT_KVLIST)
                        continue;
                char prefix[KEY_SIZE];
                snprintf(prefix, sizeof(prefix), "%s.%s.", k->group, k->name);
                size_t plen = strlen(prefix);
                if (klen < plen || strncmp(arg, prefix, plen))
                        continue;
                if (klen == plen)
                        return pmw_error_new(PMW_ERR_INVALID,
                                             "%s: the property name is empty",
                                             what);
                char *name = pmw_strndup(arg + plen, klen - plen);
                pmw_error_t *err =
                    kv_put(k, field(ld->cfg, k), name, value, SET_ORIGIN);
                free(name);
                return err;
        }

        int idx = find_dotted(arg, klen);
        if (idx >= 0 && keys[idx].type == KT_KVLIST)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "%s: %s.%s is a list; use %s.%s.<property>"
                                     "=<value>",
                                     what, keys[idx].group, keys[idx].name,
                                     keys[idx].group, keys[idx].name);
        if (idx >= 0 && keys[idx].type == KT_SERVERS)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "%s: use " SERVERS_KEY
                                     ".<name>.token, "
                                     ".token_env or .token_file=<value>",
                                     what);
        if (idx >= 0)
                return assign_text(ld, (size_t)idx, value, SET_ORIGIN, false);

        /* unknown: say which keys the group has, if the group exists */
        const char *dot = memchr(arg, '.', klen);
        char group[KEY_SIZE];
        snprintf(group, sizeof(group), "%.*s",
                 (int)PMW_MIN(dot ? (size_t)(dot - arg) : klen,
                              (size_t)KEY_SIZE - 1),
                 arg);
        return unknown_key_error(what, is_group(group) ? group : NULL);
}


/*
 * Checks
 */

static pmw_error_t *
check_brokers(const char *key, char **valp, const char *origin) {
        const char *v = *valp;
        char shown[SHOWN_SIZE];
        render(shown, sizeof(shown), v);
        static const char allowed[] =
            "allowed \"embedded\", \"embedded:N\" (N 1..16) or a broker "
            "list such as \"host1:9092,host2:9092\"";
        if (!*v)
                return key_error(key, shown, origin, "must not be empty; %s",
                                 allowed);
        if (pmw_config_brokers_embedded(v)) {
                int64_t n;
                bool overflow;
                if (!v[8])
                        return NULL;
                if (!parse_decimal(v + 9, &n, &overflow) || v[9] == '+' ||
                    v[9] == '-' || overflow || n < 1 || n > 16)
                        return key_error(key, shown, origin, "%s", allowed);
                return NULL;
        }
        for (const char *p = v; *p; p++)
                if (isspace((unsigned char)*p) || is_ctl((unsigned char)*p))
                        return key_error(key, shown, origin,
                                         "must not contain spaces; %s",
                                         allowed);
        return NULL;
}

static pmw_error_t *
check_group_id(const char *key, char **valp, const char *origin) {
        char shown[SHOWN_SIZE];
        render(shown, sizeof(shown), *valp);
        size_t len = strlen(*valp);
        if (len == 0 || len > GROUP_ID_MAX)
                return key_error(key, shown, origin,
                                 "allowed 1..%d bytes (it is %zu)",
                                 GROUP_ID_MAX, len);
        return NULL;
}

static pmw_error_t *
check_topic(const char *key, char **valp, const char *origin) {
        const char *v = *valp;
        size_t len    = strlen(v);
        bool ok =
            len >= 1 && len <= TOPIC_MAX && strcmp(v, ".") && strcmp(v, "..");
        for (size_t i = 0; ok && i < len; i++)
                ok = isalnum((unsigned char)v[i]) || strchr("._-", v[i]);
        if (ok)
                return NULL;
        char shown[SHOWN_SIZE];
        render(shown, sizeof(shown), v);
        return key_error(key, shown, origin,
                         "not a valid Kafka topic name: allowed 1..%d "
                         "characters of A-Z a-z 0-9 . _ -, not \".\" or \"..\"",
                         TOPIC_MAX);
}

static pmw_error_t *
check_url(const char *key, char **valp, const char *origin) {
        char *v = *valp;
        size_t scheme;
        if (!strncasecmp(v, "http://", 7))
                scheme = 7;
        else if (!strncasecmp(v, "https://", 8))
                scheme = 8;
        else
                scheme = 0;
        bool ok = scheme > 0 && v[scheme] && v[scheme] != '/';
        for (const char *p = v; ok && *p; p++)
                ok = !isspace((unsigned char)*p) && !is_ctl((unsigned char)*p);
        if (!ok) {
                char shown[SHOWN_SIZE];
                render(shown, sizeof(shown), v);
                return key_error(key, shown, origin,
                                 "expected an http:// or https:// URL with a "
                                 "host and no spaces");
        }
        size_t len = strlen(v);
        if (v[len - 1] == '/')
                v[len - 1] = '\0';
        return NULL;
}

static bool valid_host_name(const char *host, size_t len) {
        if (len == 0 || len > 253)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
                    host[i] != '-')
                        return false;
        return true;
}

static pmw_error_t *
check_listen(const char *key, char **valp, const char *origin) {
        const char *v = *valp;
        if (!*v)
                return NULL;
        const char *colon = strrchr(v, ':');
        bool ok           = colon != NULL;
        if (ok && v[0] == '[') {
                /* [IPv6]:port */
                char addr[INET6_ADDRSTRLEN + 1];
                struct in6_addr in6;
                size_t alen = (size_t)(colon - v);
                ok = alen >= 3 && v[alen - 1] == ']' && alen - 2 < sizeof(addr);
                if (ok) {
                        memcpy(addr, v + 1, alen - 2);
                        addr[alen - 2] = '\0';
                        ok             = inet_pton(AF_INET6, addr, &in6) == 1;
                }
        } else if (ok) {
                ok = valid_host_name(v, (size_t)(colon - v));
        }
        if (ok) {
                int64_t port;
                bool overflow;
                ok = parse_decimal(colon + 1, &port, &overflow) &&
                     isdigit((unsigned char)colon[1]) && !overflow &&
                     port >= 0 && port <= 65535 && strlen(colon + 1) <= 5;
        }
        if (ok)
                return NULL;
        char shown[SHOWN_SIZE];
        render(shown, sizeof(shown), v);
        return key_error(key, shown, origin,
                         "expected \"\" (disabled) or HOST:PORT with port "
                         "0..65535 and HOST a name, an IPv4 address or "
                         "[IPv6]");
}

static pmw_error_t *check_value(pmw_config_t *cfg, size_t idx) {
        const keydef_t *k  = &keys[idx];
        void *f            = field(cfg, k);
        const char *origin = cfg->origins[idx];
        char key[KEY_SIZE], shown[64], allowed[128];
        key_name(k, key, sizeof(key));
        switch (k->type) {
        case KT_STRING:
                return k->check ? k->check(key, f, origin) : NULL;
        case KT_INT: {
                int64_t v = *(int64_t *)f;
                if (v >= k->min && v <= k->max)
                        return NULL;
                snprintf(shown, sizeof(shown), "%" PRId64, v);
                break;
        }
        case KT_DOUBLE: {
                double v = *(double *)f;
                if (v >= k->dmin && v <= k->dmax)
                        return NULL;
                snprintf(shown, sizeof(shown), "%.15g", v);
                break;
        }
        default:
                return NULL; /* checked when set */
        }
        allowed_range(k, allowed, sizeof(allowed));
        return key_error(key, shown, origin, "out of range, %s", allowed);
}

/* Checks that involve two keys. */
static pmw_error_t *check_pairs(const pmw_config_t *cfg) {
        int init = find_key("retry", "initial_backoff_ms");
        int max  = find_key("retry", "max_backoff_ms");
        if (cfg->retry.max_backoff_ms < cfg->retry.initial_backoff_ms) {
                char other[ORIGIN_SIZE + 16], shown[64];
                origin_phrase(other, sizeof(other), cfg->origins[init]);
                snprintf(shown, sizeof(shown), "%" PRId64,
                         cfg->retry.max_backoff_ms);
                return key_error("retry.max_backoff_ms", shown,
                                 cfg->origins[max],
                                 "must be >= retry.initial_backoff_ms = "
                                 "%" PRId64 " %s",
                                 cfg->retry.initial_backoff_ms, other);
        }

        static const char *const topics[] = {"jobs_topic", "status_topic",
                                             "dead_letter_topic"};
        for (size_t a = 0; a < PMW_ARRAY_LEN(topics); a++) {
                for (size_t b = a + 1; b < PMW_ARRAY_LEN(topics); b++) {
                        int ia         = find_key("kafka", topics[a]);
                        int ib         = find_key("kafka", topics[b]);
                        const char *va = *(char **)field(cfg, &keys[ia]);
                        const char *vb = *(char **)field(cfg, &keys[ib]);
                        if (strcmp(va, vb))
                                continue;
                        char key[KEY_SIZE], shown[SHOWN_SIZE],
                            other[ORIGIN_SIZE + 16];
                        snprintf(key, sizeof(key), "kafka.%s", topics[b]);
                        render(shown, sizeof(shown), vb);
                        origin_phrase(other, sizeof(other), cfg->origins[ia]);
                        return key_error(key, shown, cfg->origins[ib],
                                         "must differ from kafka.%s %s: the "
                                         "jobs, status and dead-letter topics "
                                         "must be three different topics",
                                         topics[a], other);
                }
        }
        return NULL;
}

static pmw_error_t *check_all(pmw_config_t *cfg) {
        for (size_t i = 0; i < KEY_CNT; i++) {
                pmw_error_t *err = check_value(cfg, i);
                if (err)
                        return err;
        }
        return check_pairs(cfg);
}

static void register_secrets(const pmw_config_t *cfg) {
        for (size_t i = 0; i < cfg->postmark.server_cnt; i++)
                pmw_log_add_secret(cfg->postmark.servers[i].token);
        const pmw_kv_list_t *lists[] = {&cfg->kafka.consumer,
                                        &cfg->kafka.producer};
        for (size_t l = 0; l < PMW_ARRAY_LEN(lists); l++)
                for (size_t i = 0; i < lists[l]->cnt; i++)
                        if (pmw_config_is_secret_property(lists[l]->kv[i].name))
                                pmw_log_add_secret(lists[l]->kv[i].value);
}


/*
 * Load and destroy
 */

pmw_error_t *pmw_config_load(const pmw_config_source_t *src,
                             pmw_config_t **cfgp) {
        *cfgp             = NULL;
        pmw_config_t *cfg = pmw_calloc(1, sizeof(*cfg));
        cfg->origins      = pmw_calloc(KEY_CNT, sizeof(*cfg->origins));
        loader_t ld       = {.cfg = cfg, .env = src->environ};
        pmw_error_t *err  = NULL;

        load_defaults(&ld);
        if (src->path)
                err = load_file(&ld, src->path);
        if (!err)
                err = load_env(&ld);
        for (size_t i = 0; !err && i < src->set_cnt; i++)
                err = apply_set(&ld, src->sets[i]);
        if (!err)
                err = check_all(cfg);
        if (!err)
                err = servers_resolve(&ld);
        servers_clear(&ld);
        if (err) {
                pmw_config_destroy(cfg);
                return err;
        }
        register_secrets(cfg);
        *cfgp = cfg;
        return NULL;
}

void pmw_config_destroy(pmw_config_t *cfg) {
        if (!cfg)
                return;
        for (size_t i = 0; i < KEY_CNT; i++) {
                const keydef_t *k = &keys[i];
                if (k->type == KT_STRING)
                        free(*(char **)field(cfg, k));
                else if (k->type == KT_KVLIST)
                        kv_list_free(field(cfg, k));
                if (cfg->origins)
                        free(cfg->origins[i]);
        }
        for (size_t i = 0; i < cfg->postmark.server_cnt; i++) {
                pmw_server_conf_t *srv = &cfg->postmark.servers[i];
                free(srv->name);
                if (srv->token) {
                        memset(srv->token, 0, strlen(srv->token));
                        free(srv->token);
                }
                free(srv->token_source);
                free(srv->token_file);
                free(srv->origin);
        }
        free(cfg->postmark.servers);
        free(cfg->origins);
        free(cfg);
}


/*
 * Printing
 */

/* A comment must stay on its line whatever a path contains. */
static void append_comment(pmw_buf_t *out, const char *text) {
        pmw_buf_append_str(out, "  # ");
        for (const char *p = text; *p; p++)
                pmw_buf_append_char(out, is_ctl((unsigned char)*p) ? '?' : *p);
        pmw_buf_append_char(out, '\n');
}

/* Always with a decimal point, so libconfig reads it back as a float. */
static void append_double(pmw_buf_t *out, double v) {
        char num[64];
        snprintf(num, sizeof(num), "%.15g", v);
        if (strtod(num, NULL) != v)
                snprintf(num, sizeof(num), "%.17g", v);
        char *e = strpbrk(num, "eE");
        if (strchr(num, '.'))
                pmw_buf_append_str(out, num);
        else if (e)
                pmw_buf_appendf(out, "%.*s.0%s", (int)(e - num), num, e);
        else
                pmw_buf_appendf(out, "%s.0", num);
}

static void
print_kvlist(const pmw_kv_list_t *list, const char *origin, pmw_buf_t *out) {
        if (list->cnt == 0) {
                pmw_buf_append_str(out, "( );");
                append_comment(out, origin);
                return;
        }
        pmw_buf_append_str(out, "(\n");
        for (size_t i = 0; i < list->cnt; i++) {
                const pmw_kv_t *kv = &list->kv[i];
                pmw_buf_t pair;
                pmw_buf_init(&pair, SIZE_MAX);
                pmw_buf_appendf(
                    &pair, "%s=%s", kv->name,
                    pmw_config_is_secret_property(kv->name) ? MASK : kv->value);
                pmw_buf_append_str(out, "    ");
                append_quoted(out, pmw_buf_ptr(&pair), 0);
                pmw_buf_cleanup(&pair);
                if (i + 1 < list->cnt)
                        pmw_buf_append_char(out, ',');
                append_comment(out, kv->origin);
        }
        pmw_buf_append_str(out, "  );\n");
}

static void print_servers(const pmw_config_t *cfg, pmw_buf_t *out) {
        pmw_buf_append_str(out, "(\n");
        for (size_t i = 0; i < cfg->postmark.server_cnt; i++) {
                const pmw_server_conf_t *srv = &cfg->postmark.servers[i];
                pmw_buf_append_str(out, "    { name = ");
                append_quoted(out, srv->name, 0);
                pmw_buf_append_str(out, "; token = \"" MASK "\"; }");
                if (i + 1 < cfg->postmark.server_cnt)
                        pmw_buf_append_char(out, ',');
                pmw_buf_t comment;
                pmw_buf_init(&comment, SIZE_MAX);
                /* "token" says nothing the origin does not */
                if (!strcmp(srv->origin, srv->token_source) ||
                    !strcmp(srv->token_source, "token"))
                        pmw_buf_append_str(&comment, srv->origin);
                else
                        pmw_buf_appendf(&comment, "%s, token from %s",
                                        srv->origin, srv->token_source);
                append_comment(out, pmw_buf_ptr(&comment));
                pmw_buf_cleanup(&comment);
        }
        pmw_buf_append_str(out, "  );\n");
}

void pmw_config_print(const pmw_config_t *cfg, pmw_buf_t *out) {
        pmw_buf_append_str(out, "# postmark-worker " PMW_VERSION
                                ": effective configuration (secrets are "
                                "shown as " MASK ")\n");
        const char *group = NULL;
        for (size_t i = 0; i < KEY_CNT; i++) {
                const keydef_t *k = &keys[i];
                const void *f     = field(cfg, k);
                if (!group || strcmp(group, k->group)) {
                        if (group)
                                pmw_buf_append_str(out, "};\n");
                        group = k->group;
                        pmw_buf_appendf(out, "%s = {\n", group);
                }
                pmw_buf_appendf(out, "  %s = ", k->name);
                switch (k->type) {
                case KT_STRING:
                        append_quoted(out, *(char *const *)f, 0);
                        break;
                case KT_INT: {
                        int64_t v = *(const int64_t *)f;
                        pmw_buf_append_int(out, v);
                        if (v < INT32_MIN || v > INT32_MAX)
                                pmw_buf_append_char(out, 'L');
                        break;
                }
                case KT_DOUBLE:
                        append_double(out, *(const double *)f);
                        break;
                case KT_BOOL:
                        pmw_buf_append_str(out,
                                           *(const bool *)f ? "true" : "false");
                        break;
                case KT_ENUM:
                        for (size_t j = 0; k->names[j]; j++)
                                if (k->values[j] == *(const int *)f)
                                        append_quoted(out, k->names[j], 0);
                        break;
                case KT_KVLIST:
                        print_kvlist(f, cfg->origins[i], out);
                        continue;
                case KT_SERVERS:
                        print_servers(cfg, out);
                        continue;
                }
                pmw_buf_append_char(out, ';');
                append_comment(out, cfg->origins[i]);
        }
        if (group)
                pmw_buf_append_str(out, "};\n");
}
