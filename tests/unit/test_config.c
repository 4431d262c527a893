/* Unit tests for config/: defaults, file, environment, --set, checks,
 * libconfig's integer wrap-around, tokens, pass-through lists, masking and
 * printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include <libconfig.h>

#include "common/buf.h"
#include "common/log.h"
#include "config/config.h"

#define TOKEN     "tok-default-0001-abcdef"
#define TOKEN_ENV "POSTMARK_SERVER_TOKEN=" TOKEN

static const char *const env_token[] = {TOKEN_ENV, NULL};

static char cfg_path[64]; /* the temporary file of the last load() */

/* Writes text to a file under /tmp, loads it with env and sets, removes it.
 * text NULL: no file. env and sets: NULL-terminated, NULL for none. */
static pmw_error_t *load(const char *text,
                         const char *const *env,
                         const char *const *sets,
                         pmw_config_t **cfgp) {
        size_t set_cnt = 0;
        while (sets && sets[set_cnt])
                set_cnt++;
        pmw_config_source_t src = {
            .sets    = sets,
            .set_cnt = set_cnt,
            .environ = (char *const *)env,
        };
        if (text) {
                snprintf(cfg_path, sizeof(cfg_path),
                         "/tmp/pmw_test_config_XXXXXX");
                int fd = mkstemp(cfg_path);
                assert_true(fd >= 0);
                size_t len = strlen(text);
                assert_int_equal(write(fd, text, len), (ssize_t)len);
                close(fd);
                src.path = cfg_path;
        }
        pmw_error_t *err = pmw_config_load(&src, cfgp);
        if (text)
                unlink(cfg_path);
        return err;
}

static pmw_config_t *
load_ok(const char *text, const char *const *env, const char *const *sets) {
        pmw_config_t *cfg;
        pmw_error_t *err = load(text, env, sets, &cfg);
        if (err)
                fail_msg("unexpected error: %s", pmw_error_string(err));
        assert_non_null(cfg);
        return cfg;
}

/* Loads, expects failure, returns the message (caller frees). */
static char *
load_err(const char *text, const char *const *env, const char *const *sets) {
        pmw_config_t *cfg = NULL;
        pmw_error_t *err  = load(text, env, sets, &cfg);
        if (!err)
                fail_msg("expected an error");
        assert_null(cfg);
        char *msg = strdup(pmw_error_string(err));
        pmw_error_destroy(err);
        return msg;
}

static void expect_err(const char *text,
                       const char *const *env,
                       const char *const *sets,
                       const char *expected) {
        char *msg = load_err(text, env, sets);
        assert_string_equal(msg, expected);
        free(msg);
}

static char *print(const pmw_config_t *cfg) {
        pmw_buf_t out;
        pmw_buf_init(&out, 1 << 20);
        pmw_config_print(cfg, &out);
        assert_false(pmw_buf_failed(&out));
        return pmw_buf_take(&out, NULL);
}

static const char *kv_get(const pmw_kv_list_t *list, const char *name) {
        for (size_t i = 0; i < list->cnt; i++)
                if (!strcmp(list->kv[i].name, name))
                        return list->kv[i].value;
        return NULL;
}

static const pmw_server_conf_t *server(const pmw_config_t *cfg,
                                       const char *name) {
        for (size_t i = 0; i < cfg->postmark.server_cnt; i++)
                if (!strcmp(cfg->postmark.servers[i].name, name))
                        return &cfg->postmark.servers[i];
        return NULL;
}

static int teardown(void **state) {
        (void)state;
        pmw_log_clear_secrets();
        return 0;
}


static void test_defaults(void **state) {
        (void)state;
        pmw_config_t *cfg = load_ok(NULL, env_token, NULL);
        assert_string_equal(cfg->kafka.brokers, "localhost:9092");
        assert_string_equal(cfg->kafka.group_id, "postmark-worker");
        assert_string_equal(cfg->kafka.jobs_topic, "email.jobs");
        assert_string_equal(cfg->kafka.status_topic, "email.status");
        assert_string_equal(cfg->kafka.dead_letter_topic, "email.dlq");
        assert_int_equal(cfg->kafka.consumer.cnt, 3);
        assert_string_equal(cfg->kafka.consumer.kv[0].name,
                            "auto.offset.reset");
        assert_string_equal(cfg->kafka.consumer.kv[0].value, "earliest");
        assert_string_equal(cfg->kafka.consumer.kv[1].name,
                            "queued.max.messages.kbytes");
        assert_string_equal(cfg->kafka.consumer.kv[1].value, "4096");
        assert_string_equal(cfg->kafka.consumer.kv[2].name, "fetch.max.bytes");
        assert_string_equal(cfg->kafka.consumer.kv[2].value, "4194304");
        assert_int_equal(cfg->kafka.producer.cnt, 0);
        assert_string_equal(cfg->postmark.base_url,
                            "https://api.postmarkapp.com");
        assert_int_equal(cfg->postmark.server_cnt, 1);
        const pmw_server_conf_t *srv = &cfg->postmark.servers[0];
        assert_string_equal(srv->name, "default");
        assert_string_equal(srv->token, TOKEN);
        assert_string_equal(srv->token_source, "env POSTMARK_SERVER_TOKEN");
        assert_null(srv->token_file);
        assert_string_equal(srv->origin, "env POSTMARK_SERVER_TOKEN");
        assert_int_equal(cfg->postmark.timeout_ms, 15000);
        assert_int_equal(cfg->postmark.connect_timeout_ms, 5000);
        assert_int_equal(cfg->postmark.max_in_flight, 16);
        assert_true(cfg->postmark.tls_verify);
        assert_int_equal(cfg->batch.max_messages, 500);
        assert_int_equal(cfg->batch.max_bytes, 20971520);
        assert_int_equal(cfg->batch.linger_ms, 100);
        assert_true(cfg->rate_limit.messages_per_second == 0.0);
        assert_true(cfg->rate_limit.requests_per_second == 0.0);
        assert_int_equal(cfg->retry.max_attempts, 10);
        assert_int_equal(cfg->retry.initial_backoff_ms, 500);
        assert_int_equal(cfg->retry.max_backoff_ms, 60000);
        assert_int_equal(cfg->retry.hold_after_failures, 5);
        assert_int_equal(cfg->workers.threads, 2);
        assert_int_equal(cfg->workers.shutdown_timeout_ms, 30000);
        assert_string_equal(cfg->http.listen, "0.0.0.0:9464");
        assert_int_equal(cfg->log.level, PMW_LOG_NOTICE);
        assert_int_equal(cfg->log.format, PMW_LOG_FORMAT_TEXT);
        pmw_config_destroy(cfg);
}

static void test_missing_token_variable(void **state) {
        (void)state;
        expect_err(NULL, NULL, NULL,
                   "postmark.servers.default.token_env: environment "
                   "variable POSTMARK_SERVER_TOKEN is not set");
        /* empty counts as unset */
        expect_err(NULL, (const char *const[]) {"POSTMARK_SERVER_TOKEN=", NULL},
                   NULL,
                   "postmark.servers.default.token_env: environment "
                   "variable POSTMARK_SERVER_TOKEN is not set");
        expect_err(
            "postmark = { servers = ( { name = \"eu\";\n"
            "  token_env = \"PMW_TEST_UNSET\"; } ); };\n",
            env_token, NULL,
            "postmark.servers.eu.token_env (from file line 2): "
            "environment variable PMW_TEST_UNSET is not set");
}

static void test_file_values(void **state) {
        (void)state;
        pmw_config_t *cfg = load_ok(
            "# a comment\n"
            "kafka = { brokers = \"k1:9092,k2:9092\"; group_id = \"g1\";\n"
            "  jobs_topic = \"j\"; status_topic = \"s\";\n"
            "  dead_letter_topic = \"d\"; };\n"
            "postmark = { base_url = \"http://127.0.0.1:8080/\";\n"
            "  timeout_ms = 2000; connect_timeout_ms = 300;\n"
            "  max_in_flight = 4; tls_verify = false; };\n"
            "batch = { max_messages = 50; max_bytes = 65536L;\n"
            "  linger_ms = 0x10; };\n"
            "rate_limit = { messages_per_second = 250;\n"
            "  requests_per_second = 2.5; };\n"
            "retry = { max_attempts = 1; initial_backoff_ms = 10;\n"
            "  max_backoff_ms = 10; hold_after_failures = 1000000; };\n"
            "workers = { threads = 64; shutdown_timeout_ms = 0; };\n"
            "http = { listen = \"\"; };\n"
            "log = { level = \"debug\"; format = \"json\"; };\n",
            env_token, NULL);
        assert_string_equal(cfg->kafka.brokers, "k1:9092,k2:9092");
        assert_string_equal(cfg->kafka.group_id, "g1");
        assert_string_equal(cfg->kafka.jobs_topic, "j");
        assert_string_equal(cfg->kafka.status_topic, "s");
        assert_string_equal(cfg->kafka.dead_letter_topic, "d");
        /* one trailing '/' is removed */
        assert_string_equal(cfg->postmark.base_url, "http://127.0.0.1:8080");
        assert_int_equal(cfg->postmark.timeout_ms, 2000);
        assert_int_equal(cfg->postmark.connect_timeout_ms, 300);
        assert_int_equal(cfg->postmark.max_in_flight, 4);
        assert_false(cfg->postmark.tls_verify);
        assert_int_equal(cfg->batch.max_messages, 50);
        assert_int_equal(cfg->batch.max_bytes, 65536);
        assert_int_equal(cfg->batch.linger_ms, 16);
        assert_true(cfg->rate_limit.messages_per_second == 250.0);
        assert_true(cfg->rate_limit.requests_per_second == 2.5);
        assert_int_equal(cfg->retry.max_attempts, 1);
        assert_int_equal(cfg->retry.initial_backoff_ms, 10);
        assert_int_equal(cfg->retry.max_backoff_ms, 10);
        assert_int_equal(cfg->retry.hold_after_failures, 1000000);
        assert_int_equal(cfg->workers.threads, 64);
        assert_int_equal(cfg->workers.shutdown_timeout_ms, 0);
        assert_string_equal(cfg->http.listen, "");
        assert_int_equal(cfg->log.level, PMW_LOG_DEBUG);
        assert_int_equal(cfg->log.format, PMW_LOG_FORMAT_JSON);
        pmw_config_destroy(cfg);
}

static void test_precedence(void **state) {
        (void)state;
        const char *file =
            "kafka = { brokers = \"file:9092\"; };\n"
            "postmark = {\n"
            "  base_url = \"https://file.example\";\n"
            "  tls_verify = true;\n"
            "};\n"
            "batch = { linger_ms = 5; };\n";
        const char *const env[] = {TOKEN_ENV, "KAFKA_BROKERS=env:9092",
                                   "POSTMARK_BASE_URL=", /* empty: unset */
                                   "POSTMARK_SSL_VERIFY=false", NULL};

        pmw_config_t *cfg = load_ok(file, env_token, NULL);
        assert_string_equal(cfg->kafka.brokers, "file:9092");
        assert_int_equal(cfg->batch.linger_ms, 5);
        pmw_config_destroy(cfg);

        cfg = load_ok(file, env, NULL);
        assert_string_equal(cfg->kafka.brokers, "env:9092");
        assert_string_equal(cfg->postmark.base_url, "https://file.example");
        assert_false(cfg->postmark.tls_verify);
        pmw_config_destroy(cfg);

        cfg = load_ok(file, env,
                      (const char *const[]) {"kafka.brokers=set1:9092",
                                             "kafka.brokers=set2:9092",
                                             "postmark.tls_verify=true",
                                             "batch.linger_ms=20", NULL});
        assert_string_equal(cfg->kafka.brokers, "set2:9092"); /* last wins */
        assert_true(cfg->postmark.tls_verify);
        assert_int_equal(cfg->batch.linger_ms, 20);

        char *out = print(cfg);
        assert_non_null(strstr(out, "  brokers = \"set2:9092\";  # --set\n"));
        assert_non_null(strstr(out,
                               "  base_url = \"https://file.example\";"
                               "  # file line 3\n"));
        assert_non_null(strstr(out,
                               "  group_id = \"postmark-worker\";"
                               "  # default\n"));
        free(out);
        pmw_config_destroy(cfg);

        cfg = load_ok(NULL, env, NULL);
        out = print(cfg);
        assert_non_null(
            strstr(out, "  brokers = \"env:9092\";  # env KAFKA_BROKERS\n"));
        assert_non_null(strstr(out,
                               "  tls_verify = false;"
                               "  # env POSTMARK_SSL_VERIFY\n"));
        free(out);
        pmw_config_destroy(cfg);
}

static void test_env_ssl_verify(void **state) {
        (void)state;
        static const char *const no[]  = {"false", "0", "no", "False", "NO"};
        static const char *const yes[] = {"true", "1", "yes", "TRUE"};
        char var[64];
        for (size_t i = 0; i < 9; i++) {
                bool expect_yes = i >= 5;
                snprintf(var, sizeof(var), "POSTMARK_SSL_VERIFY=%s",
                         expect_yes ? yes[i - 5] : no[i]);
                pmw_config_t *cfg = load_ok(
                    NULL, (const char *const[]) {TOKEN_ENV, var, NULL}, NULL);
                assert_int_equal(cfg->postmark.tls_verify, expect_yes);
                pmw_config_destroy(cfg);
        }
        expect_err(NULL,
                   (const char *const[]) {TOKEN_ENV,
                                          "POSTMARK_SSL_VERIFY=maybe", NULL},
                   NULL,
                   "postmark.tls_verify = \"maybe\" (from env "
                   "POSTMARK_SSL_VERIFY): expected true, false, 1, 0, yes "
                   "or no");
        /* --set is stricter: a boolean is true or false */
        expect_err(NULL, env_token,
                   (const char *const[]) {"postmark.tls_verify=yes", NULL},
                   "postmark.tls_verify = \"yes\" (from --set): expected "
                   "true or false");
}

static void test_syntax_error(void **state) {
        (void)state;
        char *msg = load_err(
            "batch = {\n  linger_ms = 5;\n  max_messages = "
            ";\n};\n",
            env_token, NULL);
        char expected[256];
        snprintf(expected, sizeof(expected),
                 "config file %s line 3: syntax error", cfg_path);
        assert_string_equal(msg, expected);
        free(msg);

        pmw_config_source_t src = {.path = "/nonexistent/pmw.conf"};
        pmw_config_t *cfg;
        pmw_error_t *err = pmw_config_load(&src, &cfg);
        assert_non_null(err);
        assert_string_equal(pmw_error_string(err),
                            "config file /nonexistent/pmw.conf: No such file "
                            "or directory");
        pmw_error_destroy(err);
}

static void test_file_too_big_or_nul(void **state) {
        (void)state;
        size_t len = 1024 * 1024 + 1;
        char *big  = malloc(len + 1);
        memset(big, '\n', len);
        big[len]  = '\0';
        char *msg = load_err(big, env_token, NULL);
        char expected[256];
        snprintf(expected, sizeof(expected),
                 "config file %s: larger than 1048576 bytes", cfg_path);
        assert_string_equal(msg, expected);
        free(msg);
        /* exactly 1 MiB is read */
        big[len - 1]      = '\0';
        pmw_config_t *cfg = load_ok(big, env_token, NULL);
        pmw_config_destroy(cfg);
        free(big);

        /* libconfig would stop at a NUL and ignore the rest */
        char path[] = "/tmp/pmw_test_nul_XXXXXX";
        int fd      = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "batch = {};\0x", 14), 14);
        close(fd);
        pmw_config_source_t src = {.path = path};
        pmw_error_t *err        = pmw_config_load(&src, &cfg);
        snprintf(expected, sizeof(expected),
                 "config file %s: contains a NUL byte", path);
        assert_string_equal(pmw_error_string(err), expected);
        pmw_error_destroy(err);
        unlink(path);
}

static void test_include_refused(void **state) {
        (void)state;
        char inc[] = "/tmp/pmw_test_include_XXXXXX";
        int fd     = mkstemp(inc);
        assert_true(fd >= 0);
        const char body[] = "batch = { linger_ms = 4294967396; };\n";
        assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
        close(fd);
        char text[128];
        snprintf(text, sizeof(text), "@include \"%s\"\n", inc);
        char *msg = load_err(text, env_token, NULL);
        char expected[512];
        snprintf(expected, sizeof(expected),
                 "config file %s: @include is not supported (batch comes "
                 "from %s); keep the configuration in one file",
                 cfg_path, inc);
        assert_string_equal(msg, expected);
        free(msg);
        unlink(inc);
}

static void test_unknown_keys(void **state) {
        (void)state;
        expect_err("kafka = {\n  brokrs = \"x\";\n};\n", env_token, NULL,
                   "kafka.brokrs (from file line 2): unknown key; valid keys "
                   "in kafka: brokers, group_id, jobs_topic, status_topic, "
                   "dead_letter_topic, consumer, producer");
        expect_err("kafak = { brokers = \"x\"; };\n", env_token, NULL,
                   "kafak (from file line 1): unknown group; valid groups: "
                   "kafka, postmark, batch, rate_limit, retry, workers, "
                   "http, log");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.lingr_ms=5", NULL},
                   "--set batch.lingr_ms=...: unknown key; valid keys in "
                   "batch: max_messages, max_bytes, linger_ms");
        expect_err(NULL, env_token,
                   (const char *const[]) {"bach.linger_ms=5", NULL},
                   "--set bach.linger_ms=...: unknown group; valid groups: "
                   "kafka, postmark, batch, rate_limit, retry, workers, "
                   "http, log");
        expect_err(NULL, env_token, (const char *const[]) {"batch=5", NULL},
                   "--set batch=...: unknown key; valid keys in batch: "
                   "max_messages, max_bytes, linger_ms");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.linger_ms", NULL},
                   "--set \"batch.linger_ms\": expected KEY=VALUE");
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.consumer=a=b", NULL},
                   "--set kafka.consumer=...: kafka.consumer is a list; use "
                   "kafka.consumer.<property>=<value>");
        expect_err(NULL, env_token,
                   (const char *const[]) {"postmark.servers=x", NULL},
                   "--set postmark.servers=...: use postmark.servers.<name>"
                   ".token, .token_env or .token_file=<value>");
}

static void test_wrong_types(void **state) {
        (void)state;
        expect_err("postmark = {\n  timeout_ms = \"15000\";\n};\n", env_token,
                   NULL,
                   "postmark.timeout_ms (from file line 2): expected an "
                   "integer, got a string");
        expect_err("batch = { linger_ms = 1.5; };", env_token, NULL,
                   "batch.linger_ms (from file line 1): expected an integer, "
                   "got a float");
        expect_err("kafka = { brokers = 9092; };", env_token, NULL,
                   "kafka.brokers (from file line 1): expected a string, got "
                   "an integer");
        expect_err("postmark = { tls_verify = \"false\"; };", env_token, NULL,
                   "postmark.tls_verify (from file line 1): expected a "
                   "boolean (true or false), got a string");
        expect_err("rate_limit = { messages_per_second = \"5\"; };", env_token,
                   NULL,
                   "rate_limit.messages_per_second (from file line 1): "
                   "expected a number, got a string");
        expect_err("batch = 5;", env_token, NULL,
                   "batch (from file line 1): expected a group, got an "
                   "integer");
        expect_err("kafka = { consumer = \"a=b\"; };", env_token, NULL,
                   "kafka.consumer (from file line 1): expected a list of "
                   "\"name=value\" strings, got a string");
        expect_err("log = { level = \"verbose\"; };", env_token, NULL,
                   "log.level = \"verbose\" (from file line 1): allowed "
                   "error, warn, notice, info or debug");
        expect_err("log = { format = \"xml\"; };", env_token, NULL,
                   "log.format = \"xml\" (from file line 1): allowed text or "
                   "json");
        expect_err("rate_limit = { requests_per_second = 1e400; };", env_token,
                   NULL,
                   "rate_limit.requests_per_second (from file line 1): must "
                   "be a finite number");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.linger_ms=abc", NULL},
                   "batch.linger_ms = \"abc\" (from --set): expected a "
                   "decimal integer, allowed 0..60000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.linger_ms= 5", NULL},
                   "batch.linger_ms = \" 5\" (from --set): expected a "
                   "decimal integer, allowed 0..60000");
        expect_err(
            NULL, env_token,
            (const char *const[]) {"rate_limit.messages_per_second=inf", NULL},
            "rate_limit.messages_per_second = \"inf\" (from --set): "
            "expected a finite number, allowed 0..1000000000");
}

static void test_out_of_range(void **state) {
        (void)state;
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.max_messages=501", NULL},
                   "batch.max_messages = 501 (from --set): out of range, "
                   "allowed 1..500");
        expect_err("batch = {\n max_bytes = 65535; };", env_token, NULL,
                   "batch.max_bytes = 65535 (from file line 2): out of "
                   "range, allowed 65536..50000000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"postmark.timeout_ms=0", NULL},
                   "postmark.timeout_ms = 0 (from --set): out of range, "
                   "allowed 1..600000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"retry.max_attempts=0", NULL},
                   "retry.max_attempts = 0 (from --set): out of range, "
                   "allowed 1..1000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"workers.threads=65", NULL},
                   "workers.threads = 65 (from --set): out of range, "
                   "allowed 1..64");
        expect_err(NULL, env_token,
                   (const char *const[]) {"rate_limit.requests_per_second="
                                          "-0.5",
                                          NULL},
                   "rate_limit.requests_per_second = -0.5 (from --set): out "
                   "of range, allowed 0..1000000000");
        /* a later --set repairs an earlier bad value: checks run last */
        pmw_config_t *cfg =
            load_ok("batch = { max_messages = 501; };", env_token,
                    (const char *const[]) {"batch.max_messages=499", NULL});
        assert_int_equal(cfg->batch.max_messages, 499);
        pmw_config_destroy(cfg);
        /* the pair check names both keys and both sources */
        expect_err("retry = { initial_backoff_ms = 1000; };", env_token,
                   (const char *const[]) {"retry.max_backoff_ms=999", NULL},
                   "retry.max_backoff_ms = 999 (from --set): must be >= "
                   "retry.initial_backoff_ms = 1000 (from file line 1)");
}

static void test_overflow_file(void **state) {
        (void)state;
        /* libconfig reads 3000000000 as -1294967296: the exact value is
         * used, then range-checked */
        expect_err("batch = { max_bytes = 3000000000; };", env_token, NULL,
                   "batch.max_bytes = 3000000000 (from file line 1): out of "
                   "range, allowed 65536..50000000");
        /* 4294967396 wraps to 100, which would pass the check */
        expect_err("batch = { max_messages = 4294967396; };", env_token, NULL,
                   "batch.max_messages = 4294967396 (from file line 1): out "
                   "of range, allowed 1..500");
        expect_err("rate_limit = { messages_per_second = 4294967396; };",
                   env_token, NULL,
                   "rate_limit.messages_per_second = 4294967396 (from file "
                   "line 1): out of range, allowed 0..1000000000");
        expect_err("batch = { linger_ms = -3000000000; };", env_token, NULL,
                   "batch.linger_ms = -3000000000 (from file line 1): out of "
                   "range, allowed 0..60000");
        expect_err("batch = { linger_ms = 0xFFFFFFFF; };", env_token, NULL,
                   "batch.linger_ms = 4294967295 (from file line 1): out of "
                   "range, allowed 0..60000");
        expect_err("batch = { max_bytes = 99999999999999999999; };", env_token,
                   NULL,
                   "batch.max_bytes = 99999999999999999999 (from file line "
                   "1): does not fit in a 64-bit integer, allowed "
                   "65536..50000000");
        expect_err("batch = { max_bytes = 99999999999999999999L; };", env_token,
                   NULL,
                   "batch.max_bytes = 99999999999999999999L (from file line "
                   "1): does not fit in a 64-bit integer, allowed "
                   "65536..50000000");
        expect_err("batch = {\n  max_bytes =\n    -99999999999999999999; };",
                   env_token, NULL,
                   "batch.max_bytes = -99999999999999999999 (from file line "
                   "2): does not fit in a 64-bit integer, allowed "
                   "65536..50000000");
        expect_err("batch = { linger_ms = 0x8000000000000000L; };", env_token,
                   NULL,
                   "batch.linger_ms = 0x8000000000000000L (from file line "
                   "1): does not fit in a 64-bit integer, allowed 0..60000");
        /* connect_timeout_ms ends in timeout_ms: the right one is found */
        expect_err(
            "postmark = { connect_timeout_ms = 5; timeout_ms = "
            "4294967396; };",
            env_token, NULL,
            "postmark.timeout_ms = 4294967396 (from file line 1): out "
            "of range, allowed 1..600000");
        /* a look-alike inside a string on the same line is skipped */
        expect_err(
            "postmark = { base_url = \"http://x/?timeout_ms=7\"; "
            "timeout_ms = 4294967396; };",
            env_token, NULL,
            "postmark.timeout_ms = 4294967396 (from file line 1): out "
            "of range, allowed 1..600000");
        /* ':' assignment and in-range values */
        pmw_config_t *cfg =
            load_ok("batch : { linger_ms : 0x10; max_bytes = 65536L; };",
                    env_token, NULL);
        assert_int_equal(cfg->batch.linger_ms, 16);
        assert_int_equal(cfg->batch.max_bytes, 65536);
        pmw_config_destroy(cfg);
}

static void test_overflow_set(void **state) {
        (void)state;
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.max_bytes="
                                          "99999999999999999999",
                                          NULL},
                   "batch.max_bytes = \"99999999999999999999\" (from --set): "
                   "does not fit in a 64-bit integer, allowed "
                   "65536..50000000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.max_bytes=3000000000", NULL},
                   "batch.max_bytes = 3000000000 (from --set): out of range, "
                   "allowed 65536..50000000");
        expect_err(NULL, env_token,
                   (const char *const[]) {"batch.max_bytes=0x10000", NULL},
                   "batch.max_bytes = \"0x10000\" (from --set): expected a "
                   "decimal integer, allowed 65536..50000000");
        pmw_config_t *cfg =
            load_ok(NULL, env_token,
                    (const char *const[]) {
                        "batch.linger_ms=+7",
                        "rate_limit.messages_per_second=12.5", NULL});
        assert_int_equal(cfg->batch.linger_ms, 7);
        assert_true(cfg->rate_limit.messages_per_second == 12.5);
        pmw_config_destroy(cfg);
}

static void test_string_checks(void **state) {
        (void)state;
        static const char *const good[] = {
            "kafka.brokers=embedded",
            "kafka.brokers=embedded:16",
            "kafka.brokers=b1:9092,[::1]:9093",
            "kafka.brokers=embedded-kafka:9092",
            "http.listen=[::1]:0",
            "http.listen=localhost:65535",
            "http.listen=",
            "postmark.base_url=HTTPS://api.example.com/v1/"};
        for (size_t i = 0; i < PMW_ARRAY_LEN(good); i++) {
                pmw_config_t *cfg = load_ok(
                    NULL, env_token, (const char *const[]) {good[i], NULL});
                pmw_config_destroy(cfg);
        }
        /* A host whose name starts with "embedded" is a real broker. */
        assert_true(pmw_config_brokers_embedded("embedded"));
        assert_true(pmw_config_brokers_embedded("embedded:3"));
        assert_false(pmw_config_brokers_embedded("embedded-kafka:9092"));
        assert_false(pmw_config_brokers_embedded("embeddedkafka:9092"));
        static const char brokers_allowed[] =
            "allowed \"embedded\", \"embedded:N\" (N 1..16) or a broker "
            "list such as \"host1:9092,host2:9092\"";
        char expected[512];
        snprintf(expected, sizeof(expected),
                 "kafka.brokers = \"\" (from --set): must not be empty; %s",
                 brokers_allowed);
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.brokers=", NULL}, expected);
        snprintf(expected, sizeof(expected),
                 "kafka.brokers = \"embedded:17\" (from --set): %s",
                 brokers_allowed);
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.brokers=embedded:17", NULL},
                   expected);
        snprintf(expected, sizeof(expected),
                 "kafka.brokers = \"embedded:0\" (from --set): %s",
                 brokers_allowed);
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.brokers=embedded:0", NULL},
                   expected);
        snprintf(expected, sizeof(expected),
                 "kafka.brokers = \"a:1, b:2\" (from env KAFKA_BROKERS): "
                 "must not contain spaces; %s",
                 brokers_allowed);
        expect_err(
            NULL,
            (const char *const[]) {TOKEN_ENV, "KAFKA_BROKERS=a:1, b:2", NULL},
            NULL, expected);

        char long_group[300];
        snprintf(long_group, sizeof(long_group), "kafka.group_id=%0256d", 0);
        char *msg =
            load_err(NULL, env_token, (const char *const[]) {long_group, NULL});
        assert_non_null(strstr(msg,
                               "(from --set): allowed 1..255 bytes "
                               "(it is 256)"));
        assert_non_null(strstr(msg, "...")); /* the value is cut */
        free(msg);

        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.jobs_topic=a/b", NULL},
                   "kafka.jobs_topic = \"a/b\" (from --set): not a valid "
                   "Kafka topic name: allowed 1..249 characters of A-Z a-z "
                   "0-9 . _ -, not \".\" or \"..\"");
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.status_topic=..", NULL},
                   "kafka.status_topic = \"..\" (from --set): not a valid "
                   "Kafka topic name: allowed 1..249 characters of A-Z a-z "
                   "0-9 . _ -, not \".\" or \"..\"");
        expect_err(
            NULL, env_token,
            (const char *const[]) {"kafka.status_topic=email.jobs", NULL},
            "kafka.status_topic = \"email.jobs\" (from --set): must "
            "differ from kafka.jobs_topic (default): the jobs, status "
            "and dead-letter topics must be three different topics");
        expect_err(NULL, env_token,
                   (const char *const[]) {"postmark.base_url=ftp://x", NULL},
                   "postmark.base_url = \"ftp://x\" (from --set): expected an "
                   "http:// or https:// URL with a host and no spaces");
        expect_err(NULL,
                   (const char *const[]) {TOKEN_ENV,
                                          "POSTMARK_BASE_URL=https://", NULL},
                   NULL,
                   "postmark.base_url = \"https://\" (from env "
                   "POSTMARK_BASE_URL): expected an http:// or https:// URL "
                   "with a host and no spaces");
        static const char *const bad_listen[] = {
            "http.listen=9464",       "http.listen=:9464",
            "http.listen=host:65536", "http.listen=::1:9464",
            "http.listen=[zz]:1",     "http.listen=host:",
            "http.listen=host:+1",    "http.listen=ho st:1",
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad_listen); i++) {
                msg = load_err(NULL, env_token,
                               (const char *const[]) {bad_listen[i], NULL});
                assert_non_null(strstr(msg,
                                       "(from --set): expected \"\" "
                                       "(disabled) or HOST:PORT with "
                                       "port 0..65535"));
                free(msg);
        }
        /* control characters are escaped in messages */
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.jobs_topic=a\nb", NULL},
                   "kafka.jobs_topic = \"a\\x0ab\" (from --set): not a valid "
                   "Kafka topic name: allowed 1..249 characters of A-Z a-z "
                   "0-9 . _ -, not \".\" or \"..\"");
}

static void test_token_file(void **state) {
        (void)state;
        char tok[] = "/tmp/pmw_test_token_XXXXXX";
        int fd     = mkstemp(tok);
        assert_true(fd >= 0);
        const char body[] = "  tok-file-0002-xyz \r\n";
        assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
        close(fd);

        char text[256];
        snprintf(text, sizeof(text),
                 "postmark = { servers = (\n"
                 "  { name = \"default\"; token_env = \"PM_TOK\"; },\n"
                 "  { name = \"eu\"; token_file = \"%s\"; }\n"
                 "); };\n",
                 tok);
        pmw_config_t *cfg = load_ok(
            text, (const char *const[]) {"PM_TOK=tok-env-0003", NULL}, NULL);
        assert_int_equal(cfg->postmark.server_cnt, 2);
        const pmw_server_conf_t *eu = server(cfg, "eu");
        assert_string_equal(eu->token, "tok-file-0002-xyz");
        assert_string_equal(eu->token_file, tok);
        char source[128];
        snprintf(source, sizeof(source), "file %s", tok);
        assert_string_equal(eu->token_source, source);
        assert_string_equal(eu->origin, "file line 3");
        const pmw_server_conf_t *def = server(cfg, "default");
        assert_string_equal(def->token, "tok-env-0003");
        assert_string_equal(def->token_source, "env PM_TOK");
        assert_null(def->token_file);
        pmw_config_destroy(cfg);

        char *token;
        pmw_error_t *err = pmw_config_read_token_file(tok, &token);
        assert_null(err);
        assert_string_equal(token, "tok-file-0002-xyz");
        free(token);

        /* empty, control character, too big */
        fd = open(tok, O_WRONLY | O_TRUNC);
        assert_int_equal(write(fd, " \n", 2), 2);
        close(fd);
        err = pmw_config_read_token_file(tok, &token);
        assert_null(token);
        snprintf(source, sizeof(source), "token file %s: the token is empty",
                 tok);
        assert_string_equal(pmw_error_string(err), source);
        pmw_error_destroy(err);

        fd = open(tok, O_WRONLY | O_TRUNC);
        assert_int_equal(write(fd, "tok-sec\x01ret-99", 14), 14);
        close(fd);
        err = pmw_config_read_token_file(tok, &token);
        snprintf(source, sizeof(source),
                 "token file %s: the token contains a control character "
                 "(byte 8)",
                 tok);
        assert_string_equal(pmw_error_string(err), source);
        pmw_error_destroy(err);

        char big[4097];
        memset(big, 'a', sizeof(big));
        fd = open(tok, O_WRONLY | O_TRUNC);
        assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
        close(fd);
        err = pmw_config_read_token_file(tok, &token);
        snprintf(source, sizeof(source),
                 "token file %s: larger than 4096 bytes", tok);
        assert_string_equal(pmw_error_string(err), source);
        pmw_error_destroy(err);
        /* exactly 4096 bytes is fine */
        assert_int_equal(truncate(tok, 4096), 0);
        err = pmw_config_read_token_file(tok, &token);
        assert_null(err);
        assert_int_equal(strlen(token), 4096);
        free(token);

        unlink(tok);
        err = pmw_config_read_token_file(tok, &token);
        snprintf(source, sizeof(source),
                 "token file %s: No such file or directory", tok);
        assert_string_equal(pmw_error_string(err), source);
        pmw_error_destroy(err);

        /* through the config: the key and where it was set come first */
        char *msg = load_err(
            text, (const char *const[]) {"PM_TOK=tok-env-0003", NULL}, NULL);
        char expected[512];
        snprintf(expected, sizeof(expected),
                 "postmark.servers.eu.token_file (from file line 3): token "
                 "file %s: No such file or directory",
                 tok);
        assert_string_equal(msg, expected);
        free(msg);
}

static void test_servers_set(void **state) {
        (void)state;
        char tok[] = "/tmp/pmw_test_token_XXXXXX";
        int fd     = mkstemp(tok);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "tok-file-0004", 13), 13);
        close(fd);
        char set_file[128];
        snprintf(set_file, sizeof(set_file),
                 "postmark.servers.default.token_file=%s", tok);

        pmw_config_t *cfg = load_ok(
            NULL, env_token,
            (const char *const[]) {"postmark.servers.eu-1.token= tok-eu-5 ",
                                   "postmark.servers.us.token_env=US_TOK",
                                   "postmark.servers.us.token=tok-us-0006",
                                   set_file, NULL});
        assert_int_equal(cfg->postmark.server_cnt, 3);
        /* --set beats the environment; one source replaces the other */
        assert_string_equal(server(cfg, "default")->token, "tok-file-0004");
        assert_string_equal(server(cfg, "default")->token_file, tok);
        assert_string_equal(server(cfg, "default")->origin, "--set");
        assert_string_equal(server(cfg, "eu-1")->token, "tok-eu-5");
        assert_string_equal(server(cfg, "eu-1")->token_source, "token");
        assert_string_equal(server(cfg, "us")->token, "tok-us-0006");
        pmw_config_destroy(cfg);
        unlink(tok);

        expect_err(
            NULL, env_token,
            (const char *const[]) {"postmark.servers.eu.tokn=tok-9999", NULL},
            "--set postmark.servers.eu.tokn=...: expected "
            "postmark.servers.<name>.token, .token_env or "
            ".token_file");
        expect_err(
            NULL, env_token,
            (const char *const[]) {"postmark.servers.e/u.token=abcd", NULL},
            "--set postmark.servers.e/u.token=...: the server name "
            "must be 1..128 characters of A-Z a-z 0-9 . _ -");
        expect_err(NULL, env_token,
                   (const char *const[]) {"postmark.servers.eu.token=  ", NULL},
                   "postmark.servers.eu.token (from --set): the token is "
                   "empty");
        expect_err(
            NULL, env_token,
            (const char *const[]) {"postmark.servers.eu.token_env=", NULL},
            "postmark.servers.eu.token_env (from --set): is empty");
        expect_err(
            "postmark = { servers = ( { name = \"a\"; token_file = "
            "\"\"; } ); };",
            NULL, NULL,
            "postmark.servers.a.token_file (from file line 1): is "
            "empty");
}

static void test_env_token_beats_file(void **state) {
        (void)state;
        const char *file =
            "postmark = { servers = (\n"
            "  { name = \"default\"; token = \"tok-file-77\"; }"
            ",\n"
            "  { token = \"tok-eu-0008\"; name = \"eu\"; }\n"
            "); };\n";
        pmw_config_t *cfg = load_ok(file, NULL, NULL);
        assert_string_equal(server(cfg, "default")->token, "tok-file-77");
        assert_string_equal(server(cfg, "default")->token_source, "token");
        assert_string_equal(server(cfg, "default")->origin, "file line 2");
        pmw_config_destroy(cfg);

        cfg = load_ok(file, env_token, NULL);
        assert_int_equal(cfg->postmark.server_cnt, 2);
        assert_string_equal(server(cfg, "default")->token, TOKEN);
        assert_string_equal(server(cfg, "eu")->token, "tok-eu-0008");
        pmw_config_destroy(cfg);

        /* a file list without "default" gets it from the environment */
        cfg = load_ok(
            "postmark = { servers = ( { name = \"eu\"; token = "
            "\"tok-eu-0008\"; } ); };",
            env_token, NULL);
        assert_int_equal(cfg->postmark.server_cnt, 2);
        assert_string_equal(server(cfg, "default")->token, TOKEN);
        pmw_config_destroy(cfg);
        /* ... and without the variable it has no "default" */
        cfg = load_ok(
            "postmark = { servers = ( { name = \"eu\"; token = "
            "\"tok-eu-0008\"; } ); };",
            NULL, NULL);
        assert_int_equal(cfg->postmark.server_cnt, 1);
        assert_null(server(cfg, "default"));
        pmw_config_destroy(cfg);
}

static void test_servers_file_errors(void **state) {
        (void)state;
        expect_err(
            "postmark = { servers = ( { name = \"a\"; token = \"t1234\"; "
            "}, { name = \"a\"; token = \"t5678\"; } ); };",
            NULL, NULL,
            "postmark.servers[1].name = \"a\" (from file line 1): "
            "duplicate server name");
        expect_err("postmark = { servers = ( { name = \"a\"; } ); };", NULL,
                   NULL,
                   "postmark.servers[0] (from file line 1): needs one of "
                   "token, token_env or token_file");
        expect_err("postmark = { servers = ( { token = \"t1234\"; } ); };",
                   NULL, NULL,
                   "postmark.servers[0] (from file line 1): needs a name");
        expect_err(
            "postmark = { servers = ( { name = \"a\"; token = "
            "\"t1234\"; token_file = \"/x\"; } ); };",
            NULL, NULL,
            "postmark.servers[0] (from file line 1): has both token "
            "and token_file: give exactly one of token, token_env or "
            "token_file");
        expect_err(
            "postmark = { servers = ( { name = \"a\"; tokn = "
            "\"t1234\"; } ); };",
            NULL, NULL,
            "postmark.servers[0].tokn (from file line 1): unknown "
            "field; valid fields: name, token, token_env, token_file");
        expect_err(
            "postmark = { servers = ( { name = \"a b\"; token = "
            "\"t1234\"; } ); };",
            NULL, NULL,
            "postmark.servers[0].name = \"a b\" (from file line 1): "
            "expected 1..128 characters of A-Z a-z 0-9 . _ -");
        expect_err(
            "postmark = { servers = ( { name = \"a\"; token = 5; } ); "
            "};",
            NULL, NULL,
            "postmark.servers[0].token (from file line 1): expected a "
            "string, got an integer");
        expect_err("postmark = { servers = ( \"default\" ); };", NULL, NULL,
                   "postmark.servers[0] (from file line 1): expected a group "
                   "such as { name = \"eu\"; token_env = \"EU_TOKEN\"; }, got "
                   "a string");
        expect_err("postmark = {\n  servers = ( );\n};", NULL, NULL,
                   "postmark.servers (from file line 2): at least one server "
                   "is required");
        expect_err(
            "postmark = { servers = ( { name = \"a\"; token = "
            "\"tok\\x01en\"; } ); };",
            NULL, NULL,
            "postmark.servers.a.token (from file line 1): the token "
            "contains a control character (byte 4)");
}

static void test_passthrough(void **state) {
        (void)state;
        pmw_config_t *cfg = load_ok(
            "kafka = {\n"
            "  consumer = ( \"fetch.wait.max.ms=50\",\n"
            "    \"queued.max.messages.kbytes=1024\",\n"
            "    \"fetch.wait.max.ms=60\", \"client.id=a=b\" );\n"
            "  producer = [ \"linger.ms=5\", \"debug=\" ];\n"
            "};\n",
            env_token,
            (const char *const[]) {"kafka.consumer.session.timeout.ms=6000",
                                   "kafka.producer.linger.ms=7",
                                   "kafka.consumer.auto.offset.reset=latest",
                                   NULL});
        const pmw_kv_list_t *c = &cfg->kafka.consumer;
        assert_int_equal(c->cnt, 6);
        /* defaults first, replaced in place; later entries replace */
        assert_string_equal(c->kv[0].name, "auto.offset.reset");
        assert_string_equal(c->kv[0].value, "latest");
        assert_string_equal(c->kv[0].origin, "--set");
        assert_string_equal(c->kv[1].name, "queued.max.messages.kbytes");
        assert_string_equal(c->kv[1].value, "1024");
        assert_string_equal(c->kv[1].origin, "file line 3");
        assert_string_equal(c->kv[2].name, "fetch.max.bytes");
        assert_string_equal(c->kv[2].origin, "default");
        assert_string_equal(c->kv[3].name, "fetch.wait.max.ms");
        assert_string_equal(c->kv[3].value, "60");
        assert_string_equal(c->kv[3].origin, "file line 4");
        assert_string_equal(kv_get(c, "client.id"), "a=b");
        assert_string_equal(kv_get(c, "session.timeout.ms"), "6000");
        assert_int_equal(cfg->kafka.producer.cnt, 2);
        assert_string_equal(kv_get(&cfg->kafka.producer, "linger.ms"), "7");
        assert_string_equal(kv_get(&cfg->kafka.producer, "debug"), "");
        pmw_config_destroy(cfg);

        expect_err("kafka = {\n  consumer = ( \"a=1\",\n \"=2\" );\n};",
                   env_token, NULL,
                   "kafka.consumer[1] (from file line 3): expected "
                   "\"name=value\" with a non-empty name");
        expect_err("kafka = { producer = ( \"a=1\", 5 ); };", env_token, NULL,
                   "kafka.producer[1] (from file line 1): expected a "
                   "\"name=value\" string, got an integer");
        expect_err(NULL, env_token,
                   (const char *const[]) {"kafka.consumer.=5", NULL},
                   "--set kafka.consumer.=...: the property name is empty");
}

static void test_reserved_properties(void **state) {
        (void)state;
        static const char *const cases[][2] = {
            {"kafka.consumer.bootstrap.servers=x",
             "kafka.consumer.bootstrap.servers (from --set): is set by the "
             "worker: use kafka.brokers"},
            {"kafka.producer.metadata.broker.list=x",
             "kafka.producer.metadata.broker.list (from --set): is an alias "
             "of bootstrap.servers, which the worker sets: use "
             "kafka.brokers"},
            {"kafka.consumer.group.id=x",
             "kafka.consumer.group.id (from --set): is set by the worker: use "
             "kafka.group_id"},
            {"kafka.consumer.enable.auto.offset.store=true",
             "kafka.consumer.enable.auto.offset.store (from --set): must stay "
             "false: offsets are stored only after status records are "
             "acknowledged"},
            {"kafka.consumer.enable.auto.commit=false",
             "kafka.consumer.enable.auto.commit (from --set): must stay true: "
             "librdkafka commits the offsets the worker stores"},
            {"kafka.producer.enable.idempotence=false",
             "kafka.producer.enable.idempotence (from --set): must stay true "
             "for at-least-once delivery of status records"},
            {"kafka.producer.acks=1",
             "kafka.producer.acks (from --set): must stay all for "
             "at-least-once delivery of status records"},
            {"kafka.producer.request.required.acks=1",
             "kafka.producer.request.required.acks (from --set): is an alias "
             "of acks, which must stay all for at-least-once delivery"},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(cases); i++)
                expect_err(NULL, env_token,
                           (const char *const[]) {cases[i][0], NULL},
                           cases[i][1]);
        expect_err("kafka = {\n  producer = ( \"acks=1\" );\n};", env_token,
                   NULL,
                   "kafka.producer.acks (from file line 2): must stay all for "
                   "at-least-once delivery of status records");
        /* group.id is only reserved for the consumer */
        pmw_config_t *cfg =
            load_ok(NULL, env_token,
                    (const char *const[]) {"kafka.producer.group.id=x", NULL});
        pmw_config_destroy(cfg);
}

static void test_secret_property_names(void **state) {
        (void)state;
        assert_true(pmw_config_is_secret_property("sasl.password"));
        assert_true(pmw_config_is_secret_property("ssl.key.password"));
        assert_true(pmw_config_is_secret_property("ssl.key.pem"));
        assert_true(
            pmw_config_is_secret_property("sasl.oauthbearer.client."
                                          "SECRET"));
        assert_true(pmw_config_is_secret_property("ssl_keystore_location"));
        assert_false(pmw_config_is_secret_property("sasl.username"));
        assert_false(pmw_config_is_secret_property("fetch.wait.max.ms"));
}

static pmw_buf_t captured;
static void sink(void *opaque, const char *line, size_t len) {
        (void)opaque;
        pmw_buf_append(&captured, line, len);
}

static void test_masking(void **state) {
        (void)state;
        const char *file =
            "kafka = {\n"
            "  consumer = ( \"sasl.password=hunter2-pw-01\" );\n"
            "  producer = ( \"ssl.key.password=keypw-0009\",\n"
            "               \"sasl.username=bob\" );\n"
            "};\n"
            "postmark = { servers = (\n"
            "  { name = \"default\"; token_env = \"T\"; },\n"
            "  { name = \"lit\"; token = \"tok-literal-10\"; }"
            "); };\n";
        const char *const env[]            = {"T=tok-env-0011", NULL};
        pmw_config_t *cfg                  = load_ok(file, env, NULL);
        char *out                          = print(cfg);
        static const char *const secrets[] = {"hunter2-pw-01", "keypw-0009",
                                              "tok-env-0011", "tok-literal-10"};
        for (size_t i = 0; i < PMW_ARRAY_LEN(secrets); i++)
                assert_null(strstr(out, secrets[i]));
        assert_non_null(strstr(out,
                               "    \"sasl.password=****\"  # file line "
                               "2\n"));
        assert_non_null(strstr(out, "\"ssl.key.password=****\","));
        assert_non_null(strstr(out, "\"sasl.username=bob\""));
        assert_non_null(strstr(out,
                               "    { name = \"default\"; token = "
                               "\"****\"; },  # file line 7, token from "
                               "env T\n"));
        assert_non_null(strstr(out,
                               "    { name = \"lit\"; token = \"****\"; "
                               "}  # file line 8\n"));
        free(out);

        /* the secrets were registered with the logger */
        pmw_buf_init(&captured, 1 << 16);
        pmw_log_set_sink(sink, NULL);
        for (size_t i = 0; i < PMW_ARRAY_LEN(secrets); i++)
                pmw_log(PMW_LOG_ERROR, "test", "leak %s", secrets[i]);
        pmw_log_set_sink(NULL, NULL);
        for (size_t i = 0; i < PMW_ARRAY_LEN(secrets); i++)
                assert_null(strstr(pmw_buf_ptr(&captured), secrets[i]));
        assert_non_null(strstr(pmw_buf_ptr(&captured), "leak ****"));
        pmw_buf_cleanup(&captured);
        pmw_config_destroy(cfg);

        /* no error message quotes a token or a secret value */
        struct {
                const char *file;
                const char *set;
        } errs[] = {
            {file, "batch.max_messages=0"},
            {file, "postmark.servers.lit.tokn=tok-literal-10"},
            {file, "postmark.servers.x y.token=tok-literal-10"},
            {file, "kafka.consumer.enable.auto.commit=hunter2-pw-01"},
            {"kafka = { consumer = ( \"sasl.password:hunter2-pw-01\" ); };",
             NULL},
            {"postmark = { servers = ( { name = \"a\"; token = "
             "\"tok-literal-10\"; token_env = \"tok-env-0011\"; } ); };",
             NULL},
            {"postmark = { servers = ( { name = \"a\"; token = "
             "\"tok-literal-10\\n\"; } ); };",
             "postmark.servers.b.token=tok-env-0011\x7f"},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(errs); i++) {
                char *msg = load_err(
                    errs[i].file, env,
                    errs[i].set ? (const char *const[]) {errs[i].set, NULL}
                                : NULL);
                for (size_t j = 0; j < PMW_ARRAY_LEN(secrets); j++)
                        if (strstr(msg, secrets[j]))
                                fail_msg("secret in \"%s\"", msg);
                free(msg);
        }
}

static void test_print_parses_back(void **state) {
        (void)state;
        pmw_config_t *cfg = load_ok(
            "kafka = { consumer = ( \"client.id=q\\\"uote\\\\\" ); };\n"
            "postmark = { base_url = \"http://h:1\"; };\n"
            "rate_limit = { messages_per_second = 1e9;\n"
            "               requests_per_second = 0.1; };\n"
            "batch = { max_bytes = 50000000; };\n"
            "log = { level = \"warn\"; };\n",
            env_token,
            (const char *const[]) {"kafka.group_id=g\"\\\x01",
                                   "http.listen=", NULL});
        char *out = print(cfg);
        config_t lc;
        config_init(&lc);
        if (!config_read_string(&lc, out))
                fail_msg("line %d: %s in:\n%s", config_error_line(&lc),
                         config_error_text(&lc), out);
        const char *s;
        long long ll;
        double d;
        int b;
        assert_true(config_lookup_string(&lc, "kafka.group_id", &s));
        assert_string_equal(s, "g\"\\\x01");
        assert_true(config_lookup_string(&lc, "postmark.base_url", &s));
        assert_string_equal(s, "http://h:1");
        assert_true(config_lookup_string(&lc, "http.listen", &s));
        assert_string_equal(s, "");
        assert_true(config_lookup_int64(&lc, "batch.max_bytes", &ll));
        assert_int_equal(ll, 50000000);
        assert_true(
            config_lookup_float(&lc, "rate_limit.messages_per_second", &d));
        assert_true(d == 1e9);
        assert_true(
            config_lookup_float(&lc, "rate_limit.requests_per_second", &d));
        assert_true(d == 0.1);
        assert_true(
            config_lookup_float(&lc, "rate_limit.messages_per_second", &d));
        assert_true(config_lookup_bool(&lc, "postmark.tls_verify", &b));
        assert_true(b);
        assert_true(config_lookup_string(&lc, "log.level", &s));
        assert_string_equal(s, "warn");
        const config_setting_t *list = config_lookup(&lc, "kafka.consumer");
        assert_non_null(list);
        assert_int_equal(config_setting_length(list), 4);
        assert_string_equal(config_setting_get_string_elem(list, 3),
                            "client.id=q\"uote\\");
        assert_int_equal(
            config_setting_length(config_lookup(&lc, "kafka.producer")), 0);
        assert_string_equal(config_setting_get_string(config_lookup(
                                &lc, "postmark.servers.[0].name")),
                            "default");
        config_destroy(&lc);
        free(out);
        pmw_config_destroy(cfg);
}

static void test_example_config(void **state) {
        (void)state;
        pmw_config_source_t src = {
            .path    = PMW_SOURCE_DIR "/config/postmark-worker.conf",
            .environ = (char *const *)env_token,
        };
        pmw_config_t *cfg;
        pmw_error_t *err = pmw_config_load(&src, &cfg);
        if (err)
                fail_msg("%s", pmw_error_string(err));
        /* the example shows the defaults: same result as no file */
        pmw_config_t *def = load_ok(NULL, env_token, NULL);
        pmw_buf_t a, b;
        pmw_buf_init(&a, 1 << 20);
        pmw_buf_init(&b, 1 << 20);
        pmw_config_print(cfg, &a);
        pmw_config_print(def, &b);
        /* strip the "# ..." source comments before comparing */
        char *pa = pmw_buf_take(&a, NULL), *pb = pmw_buf_take(&b, NULL);
        for (char *p = pa; (p = strstr(p, "  # ")) != NULL;)
                memmove(p, strchr(p, '\n'), strlen(strchr(p, '\n')) + 1);
        for (char *p = pb; (p = strstr(p, "  # ")) != NULL;)
                memmove(p, strchr(p, '\n'), strlen(strchr(p, '\n')) + 1);
        assert_string_equal(pa, pb);
        free(pa);
        free(pb);
        pmw_config_destroy(def);
        pmw_config_destroy(cfg);
}

/* The version --version prints is the installed library's, as pkg-config
 * reports it ("1.5" for 1.5.0). */
static void test_libconfig_version(void **state) {
        (void)state;
        const char *v  = pmw_config_libconfig_version();
        const char *pc = PMW_LIBCONFIG_PC_VERSION;
        size_t n       = strlen(pc);
        assert_true(n > 0);
        assert_memory_equal(v, pc, n);
        assert_true(v[n] == '\0' || !strcmp(v + n, ".0"));
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, teardown)
        const struct CMUnitTest tests[] = {
            T(test_defaults),
            T(test_missing_token_variable),
            T(test_file_values),
            T(test_precedence),
            T(test_env_ssl_verify),
            T(test_syntax_error),
            T(test_file_too_big_or_nul),
            T(test_include_refused),
            T(test_unknown_keys),
            T(test_wrong_types),
            T(test_out_of_range),
            T(test_overflow_file),
            T(test_overflow_set),
            T(test_string_checks),
            T(test_token_file),
            T(test_servers_set),
            T(test_env_token_beats_file),
            T(test_servers_file_errors),
            T(test_passthrough),
            T(test_reserved_properties),
            T(test_secret_property_names),
            T(test_masking),
            T(test_print_parses_back),
            T(test_example_config),
            T(test_libconfig_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
