/*
 * config/config.h: the worker's configuration, from defaults, a libconfig
 * file, the environment and --set arguments, checked once and then
 * read-only.
 *
 * Why one module: every setting has exactly one definition (a row of the
 * key table in config.c: dotted name, type, default, limits), and loading,
 * --set, range checks and printing all use that row, so a new key cannot be
 * loaded without also being checked and printed. This is the only code that
 * includes <libconfig.h>.
 *
 * Precedence, lowest first: built-in defaults < the file (-c) < the
 * environment < --set arguments (in command-line order).
 *
 * Environment variables (an empty value counts as unset):
 *   KAFKA_BROKERS          kafka.brokers
 *   POSTMARK_BASE_URL      postmark.base_url
 *   POSTMARK_SSL_VERIFY    postmark.tls_verify (true/false/1/0/yes/no)
 *   POSTMARK_SERVER_TOKEN  the token of the server named "default". The
 *                          built-in server list is
 *                          ( { name = "default";
 *                              token_env = "POSTMARK_SERVER_TOKEN"; } ).
 *                          Because the environment beats the file, when the
 *                          variable is set it is the token of "default" even
 *                          if the file gave that server a token, token_env
 *                          or token_file (and "default" is added when the
 *                          file's list lacks it); --set can still override.
 *
 * Secrets: Postmark tokens, and the values of Kafka pass-through properties
 * whose name contains "password", "secret" or "key" (case-insensitive), are
 * registered with pmw_log_add_secret() at load, printed as "****" by
 * pmw_config_print(), and never appear in an error message.
 *
 * Ownership: pmw_config_load() gives the caller a pmw_config_t that it owns
 * and frees with pmw_config_destroy(); every string and array in it belongs
 * to the config.
 *
 * Thread safety: loading is for main() before threads start (it registers
 * secrets with the logger). A loaded config is never modified, so any
 * number of threads may read it without locks.
 */
#ifndef PMW_CONFIG_CONFIG_H
#define PMW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/error.h"
#include "common/log.h"

/** A librdkafka pass-through property, "name=value" in the file. */
typedef struct pmw_kv_s {
        char *name;
        char *value;  /* may be a secret: see pmw_config_is_secret_property() */
        char *origin; /* where it was set: "default", "file line 12", "--set" */
} pmw_kv_t;

/** An ordered list of properties; names are unique within a list. */
typedef struct pmw_kv_list_s {
        pmw_kv_t *kv;
        size_t cnt;
} pmw_kv_list_t;

/** A Postmark server: the name jobs ask for and the token that sends them. */
typedef struct pmw_server_conf_s {
        char *name;
        char *token;        /* the secret: never printed or logged */
        char *token_source; /* for humans: "token", "env POSTMARK_SERVER_TOKEN",
                             * "file /run/secrets/pm" */
        char *token_file;   /* the path when the token came from token_file
                             * (the worker re-reads it after a 401), else NULL */
        char *origin;       /* where the token source was set: "default",
                             * "file line 30", "env POSTMARK_SERVER_TOKEN",
                             * "--set" */
} pmw_server_conf_t;

/** The checked configuration; names and limits as in CONTRACT.md 4. */
typedef struct pmw_config_s {
        struct {
                char *brokers; /* "embedded", "embedded:N" or a broker list */
                char *group_id;
                char *jobs_topic;
                char *status_topic;
                char *dead_letter_topic;
                pmw_kv_list_t consumer; /* the worker's defaults first */
                pmw_kv_list_t producer;
        } kafka;
        struct {
                char *base_url; /* without a trailing '/' */
                pmw_server_conf_t *servers;
                size_t server_cnt; /* >= 1 */
                int64_t timeout_ms;
                int64_t connect_timeout_ms;
                int64_t max_in_flight;
                bool tls_verify;
        } postmark;
        struct {
                int64_t max_messages;
                int64_t max_bytes;
                int64_t linger_ms;
        } batch;
        struct {
                double messages_per_second; /* 0 = unlimited */
                double requests_per_second; /* 0 = unlimited */
        } rate_limit;
        struct {
                int64_t max_attempts;
                int64_t initial_backoff_ms;
                int64_t max_backoff_ms; /* >= initial_backoff_ms */
                int64_t hold_after_failures;
        } retry;
        struct {
                int64_t threads;
                int64_t shutdown_timeout_ms;
        } workers;
        struct {
                char *listen; /* "" disables metrics and health */
        } http;
        struct {
                pmw_log_level_t level;
                pmw_log_format_t format;
        } log;

        char **origins; /* private: per key-table row, where the value came
                         * from (for pmw_config_print) */
} pmw_config_t;

/** Where the configuration comes from. All pointers are borrowed. */
typedef struct pmw_config_source_s {
        const char *path;        /* -c FILE, or NULL for defaults only */
        const char *const *sets; /* --set arguments "KEY=VALUE", in
                                  * command-line order */
        size_t set_cnt;
        char *const
            *environ; /* NULL-terminated "NAME=VALUE" list (tests pass
                       * their own; main passes environ); NULL = empty */
} pmw_config_source_t;

/**
 * @brief Loads, merges and checks the configuration; resolves every server's
 *        token (reading token_env variables and token_file files) and
 *        registers the secrets with pmw_log_add_secret().
 *
 * @param src borrows: the file, --set arguments and environment.
 * @param cfgp receives the configuration (caller owns it); NULL on error.
 * @returns NULL, or an error whose one-line message names the key, the bad
 *          value (never a secret), where it came from ("file line 7",
 *          "--set", "env KAFKA_BROKERS") and what is allowed.
 * @locality main thread, before other threads start.
 */
pmw_error_t *pmw_config_load(const pmw_config_source_t *src,
                             pmw_config_t **cfgp) PMW_WARN_UNUSED;

/** @brief Frees the configuration. NULL is allowed. */
void pmw_config_destroy(pmw_config_t *cfg);

/**
 * @brief Appends the effective configuration in libconfig syntax (libconfig
 *        parses it back), secrets masked as "****", each key followed by a
 *        comment naming its source: "# default", "# file line 12",
 *        "# env KAFKA_BROKERS", "# --set".
 * @param cfg borrows. @param out borrows: appended to; the caller checks
 *        pmw_buf_failed().
 */
void pmw_config_print(const pmw_config_t *cfg, pmw_buf_t *out);

/**
 * @brief Reads a token file: at most 4 KiB, surrounding whitespace trimmed,
 *        must be non-empty and contain no control characters (the token
 *        goes into an HTTP header). The worker calls it again after a 401.
 * @param path borrows.
 * @param tokenp receives the token (caller owns it, frees with free());
 *        NULL on error.
 * @returns NULL, or an error naming the path (never the file's content).
 * @locality any thread (no shared state).
 */
pmw_error_t *pmw_config_read_token_file(const char *path,
                                        char **tokenp) PMW_WARN_UNUSED;

/**
 * @returns true if a librdkafka property's value is a secret: its name
 *          contains "password", "secret" or "key" (case-insensitive).
 */
bool pmw_config_is_secret_property(const char *name);

/**
 * @returns true if kafka.brokers names the in-process mock cluster:
 *          exactly "embedded", or "embedded:" followed by the broker count
 *          (a broker list such as "embedded-kafka:9092" is a real one).
 */
bool pmw_config_brokers_embedded(const char *brokers);

/** @returns libconfig's compile-time version, "1.5.0" (for --version). */
const char *pmw_config_libconfig_version(void);

#endif /* PMW_CONFIG_CONFIG_H */
