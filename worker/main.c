/*
 * worker/main.c: the postmark-worker command line (CONTRACT.md section 1).
 *
 *   postmark-worker [-c FILE] [--set KEY=VALUE]... [--check] [--version]
 *                   [--help]
 *
 * main() parses the arguments, loads the configuration (config/config.h)
 * and applies the Kafka properties to librdkafka configuration objects
 * (worker/kafka_conf.h), so that every configuration error is found before
 * anything starts. With --check it prints the effective configuration;
 * otherwise it runs the worker (worker/pool.c) until SIGTERM or SIGINT.
 *
 * Exit codes: 0 success, 1 fatal runtime error, 2 usage or configuration
 * error. Every error is one line on stderr: "postmark-worker: <message>".
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config.h"
#include "worker/kafka_conf.h"
#include "worker/pool.h"

extern char **environ;

#define PROG        "postmark-worker"
#define EXIT_FATAL  1
#define EXIT_CONFIG 2
#define PRINT_MAX   (16 * 1024 * 1024) /* the printed configuration */

typedef struct options_s {
        const char *path;
        const char **sets; /* borrowed from argv */
        size_t set_cnt;
        bool check;
        bool version;
        bool help;
} options_t;

static const char usage_text[] =
    "Usage: " PROG
    " [-c FILE] [--set KEY=VALUE]... [--check] [--version] "
    "[--help]\n"
    "\n"
    "Consumes email jobs from Kafka, sends them to Postmark in batches and\n"
    "publishes one status record per job.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    read the configuration from FILE (libconfig\n"
    "                       syntax); without it, the built-in defaults\n"
    "  --set KEY=VALUE      override one setting by its dotted path, e.g.\n"
    "                       --set kafka.brokers=127.0.0.1:9092\n"
    "                       --set batch.linger_ms=20\n"
    "                       --set kafka.consumer.fetch.wait.max.ms=50\n"
    "                         (a librdkafka property: everything after\n"
    "                         kafka.consumer. or kafka.producer.)\n"
    "                       --set postmark.servers.eu.token_file=/run/pm-eu\n"
    "                         (token, token_env or token_file of a server,\n"
    "                         added if new)\n"
    "                       Repeatable; also --set=KEY=VALUE.\n"
    "  --check              load and validate the configuration (including\n"
    "                       the librdkafka properties), print the effective\n"
    "                       configuration with secrets masked, and exit\n"
    "  --version            print the version and the library versions\n"
    "  -h, --help           print this help\n"
    "\n"
    "Precedence, lowest first: built-in defaults < FILE < environment <\n"
    "--set (in command-line order).\n"
    "\n"
    "Environment (an empty value counts as unset):\n"
    "  POSTMARK_SERVER_TOKEN  token of the Postmark server \"default\" (it\n"
    "                         beats a token the file gives that server)\n"
    "  POSTMARK_BASE_URL      postmark.base_url\n"
    "  POSTMARK_SSL_VERIFY    postmark.tls_verify (false/0/no disables TLS\n"
    "                         certificate checks)\n"
    "  KAFKA_BROKERS          kafka.brokers\n"
    "\n"
    "Exit codes: 0 clean shutdown (or --check passed), 1 fatal runtime\n"
    "error, 2 usage or configuration error (one line on stderr naming the\n"
    "key, the bad value and what is allowed).\n"
    "\n"
    "Every setting, its default and its meaning: config/postmark-worker.conf\n"
    "in the source tree (installed as an example configuration).\n";

/* Prints one error line; a message never spans lines. */
static void print_error(const char *msg) {
        fputs(PROG ": ", stderr);
        for (const char *p = msg; *p; p++)
                fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
        fputc('\n', stderr);
}

static int usage_error(const char *fmt, const char *arg) PMW_PRINTF(1, 0);
static int usage_error(const char *fmt, const char *arg) {
        char msg[512];
        snprintf(msg, sizeof(msg), fmt, arg);
        print_error(msg);
        return EXIT_CONFIG;
}

/* Returns 0, or the exit code of a usage error (already reported). */
static int parse_args(int argc, char **argv, options_t *opt) {
        opt->sets = pmw_calloc((size_t)argc, sizeof(*opt->sets));
        for (int i = 1; i < argc; i++) {
                const char *a     = argv[i];
                const char *value = NULL;
                bool is_config    = !strcmp(a, "-c") || !strcmp(a, "--config");
                bool is_set       = !strcmp(a, "--set");
                if (is_config || is_set) {
                        if (i + 1 >= argc)
                                return usage_error(
                                    "%s needs an argument "
                                    "(see --help)",
                                    a);
                        value = argv[++i];
                } else if (!strncmp(a, "--config=", 9)) {
                        is_config = true;
                        value     = a + 9;
                } else if (!strncmp(a, "--set=", 6)) {
                        is_set = true;
                        value  = a + 6;
                }

                if (is_config) {
                        if (opt->path)
                                return usage_error(
                                    "-c given twice (the "
                                    "second is \"%s\")",
                                    value);
                        opt->path = value;
                } else if (is_set) {
                        opt->sets[opt->set_cnt++] = value;
                } else if (!strcmp(a, "--check")) {
                        opt->check = true;
                } else if (!strcmp(a, "--version")) {
                        opt->version = true;
                } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        opt->help = true;
                } else if (a[0] == '-') {
                        return usage_error(
                            "unknown option \"%s\" (see "
                            "--help)",
                            a);
                } else {
                        /* Not echoed: a stray word is often the value of a
                         * "--set KEY VALUE" typo, and may be a password. */
                        char msg[96];
                        snprintf(msg, sizeof(msg),
                                 "argument %d is not an option (--set takes "
                                 "KEY=VALUE as one word; see --help)",
                                 i);
                        print_error(msg);
                        return EXIT_CONFIG;
                }
        }
        return 0;
}

static void print_version(void) {
        const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
        printf(PROG " %s\n", PMW_VERSION);
        printf("librdkafka %s\n", rd_kafka_version_str());
        printf("libcurl %s%s%s%s\n", curl->version,
               curl->ssl_version ? " (" : "",
               curl->ssl_version ? curl->ssl_version : "",
               curl->ssl_version ? ")" : "");
        printf("jansson %s\n", JANSSON_VERSION);
        printf("libconfig %s\n", pmw_config_libconfig_version());
}

/* Applies the pass-through properties to librdkafka objects, as the
 * pipeline will, so a property librdkafka rejects fails the check. */
static pmw_error_t *check_kafka(const pmw_config_t *cfg) {
        static const pmw_kafka_role_t roles[] = {PMW_KAFKA_CONSUMER,
                                                 PMW_KAFKA_PRODUCER};
        for (size_t i = 0; i < PMW_ARRAY_LEN(roles); i++) {
                rd_kafka_conf_t *conf;
                pmw_error_t *err = pmw_kafka_conf_new(cfg, roles[i], &conf);
                if (err)
                        return err;
                rd_kafka_conf_destroy(conf);
        }
        return NULL;
}

static int print_config(const pmw_config_t *cfg) {
        pmw_buf_t out;
        pmw_buf_init(&out, PRINT_MAX);
        pmw_config_print(cfg, &out);
        int rc = 0;
        if (pmw_buf_failed(&out)) {
                print_error(
                    "the effective configuration is larger than "
                    "16 MiB");
                rc = EXIT_FATAL;
        } else if (fwrite(pmw_buf_ptr(&out), 1, pmw_buf_len(&out), stdout) !=
                       pmw_buf_len(&out) ||
                   fflush(stdout) != 0) {
                print_error("cannot write the configuration to stdout");
                rc = EXIT_FATAL;
        }
        pmw_buf_cleanup(&out);
        return rc;
}

int main(int argc, char **argv) {
        options_t opt = {0};
        /* glibc gives each thread its own malloc arena; with the worker's,
         * librdkafka's and libcurl's threads allocating and freeing
         * job-sized blocks across threads, fragmentation across arenas
         * dominated RSS on a 200,000-job backlog (tests/bench/
         * bench_worker.py: 126 MB peak with glibc's default, ~100 MB with
         * two arenas, 83-87 MB with one, for ~2 us more CPU per job from
         * the shared arena's lock). MALLOC_ARENA_MAX in the environment
         * still wins. */
        if (!getenv("MALLOC_ARENA_MAX"))
                mallopt(M_ARENA_MAX, 1);
        int rc = parse_args(argc, argv, &opt);
        if (rc)
                goto out;
        if (opt.help) {
                fputs(usage_text, stdout);
                goto out;
        }
        if (opt.version) {
                print_version();
                goto out;
        }

        pmw_config_source_t src = {
            .path    = opt.path,
            .sets    = opt.sets,
            .set_cnt = opt.set_cnt,
            .environ = environ,
        };
        pmw_config_t *cfg;
        pmw_error_t *err = pmw_config_load(&src, &cfg);
        if (!err)
                err = check_kafka(cfg);
        if (err) {
                print_error(pmw_error_string(err));
                pmw_error_destroy(err);
                pmw_config_destroy(cfg);
                rc = EXIT_CONFIG;
                goto out;
        }
        pmw_log_setup(cfg->log.level, cfg->log.format);

        if (opt.check) {
                rc = print_config(cfg);
        } else {
                err = pmw_pool_run(cfg);
                if (err) {
                        pmw_log(PMW_LOG_ERROR, "worker", "%s",
                                pmw_error_string(err));
                        pmw_error_destroy(err);
                        rc = EXIT_FATAL;
                }
        }
        pmw_config_destroy(cfg);
out:
        free(opt.sets);
        return rc;
}
