/*
 * tests/mock-broker/mock_broker.c: the mock-broker binary, librdkafka's
 * mock Kafka cluster in a process of its own, driven through stdin.
 *
 * Why: tests that run postmark-worker as a separate process (SIGTERM,
 * crash and restart, two replicas in one group) need a Kafka that
 * outlives any one worker, and a way to break it on cue (a broker down, a
 * slow broker, request errors). The cluster is worker/embedded.c's; this
 * file adds the command line and a line-based control channel: the test
 * writes a command to stdin and reads "ok" or "error: <why>" from stdout.
 * It exits on "quit", on stdin EOF (so it never outlives a test that
 * crashed) and on SIGTERM / SIGINT; always with status 0 then.
 *
 * Threads: main reads stdin and runs commands; librdkafka runs the
 * cluster on its own thread (the rd_kafka_mock_*() calls are thread-safe).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "tests/mock-broker/mock_cmd.h"
#include "worker/embedded.h"

#define LINE_MAX_LEN 1024

static const char usage[] =
    "usage: mock-broker [--brokers N] [--partitions P] TOPIC[:PARTITIONS]...\n"
    "\n"
    "Runs librdkafka's mock Kafka cluster (N brokers, 1..16, default 1) on\n"
    "127.0.0.1, creates the topics (P partitions each, default 4, unless\n"
    "given after a colon) and prints the bootstrap.servers list as its\n"
    "first stdout line. Then it reads commands from stdin, one per line,\n"
    "and answers each with one line, \"ok\" or \"error: <why>\":\n"
    "\n"
    "  down BROKER              disconnect the broker, refuse connections\n"
    "  up BROKER                accept connections again\n"
    "  rtt BROKER MS            delay the broker's responses by MS ms\n"
    "  error REQUEST ERROR [N]  the next N (default 1) requests of this\n"
    "                           type fail with ERROR\n"
    "  clear REQUEST            drop the errors still queued for REQUEST\n"
    "  leader TOPIC PART BROKER move a partition's leadership (-1: none)\n"
    "  topic NAME PARTITIONS    create a topic\n"
    "  quit                     exit 0\n"
    "\n"
    "BROKER is an id 1..N, or \"all\". REQUEST is a Kafka request name\n"
    "(Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch,\n"
    "FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup,\n"
    "InitProducerId, ...) or ApiKey number. ERROR is a librdkafka error\n"
    "name without RD_KAFKA_RESP_ERR_ (NOT_LEADER_FOR_PARTITION,\n"
    "REQUEST_TIMED_OUT, _TRANSPORT to drop the connection) or a number.\n"
    "\n"
    "It also exits 0 at the end of stdin and on SIGTERM or SIGINT. Brokers\n"
    "going down do not move partition leaders (use \"leader\"). Clients\n"
    "should use fetch.wait.max.ms=20 and session.timeout.ms=6000 (see\n"
    "worker/embedded.h for why), and reconnect.backoff.max.ms=1000 to come\n"
    "back quickly after \"up\". Exit status: 0, 1 if the cluster could not\n"
    "start, 2 for usage errors.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
        stop_signal = sig;
}

static int usage_error(const char *fmt, const char *arg) {
        fprintf(stderr, "mock-broker: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n(mock-broker --help for usage)\n");
        return 2;
}

/* A positive decimal in [1, max]. */
static bool parse_count(const char *s, long max, int *vp) {
        if (*s < '0' || *s > '9')
                return false;
        char *end;
        errno  = 0;
        long v = strtol(s, &end, 10);
        if (errno || *end || v < 1 || v > max)
                return false;
        *vp = (int)v;
        return true;
}

/* Answers one line; false once stdout is gone (the test died). */
static bool answer(const pmw_error_t *err) {
        if (err)
                printf("error: %s\n", pmw_error_string(err));
        else
                printf("ok\n");
        return fflush(stdout) == 0;
}

/* Runs one line. Returns false to exit (quit, or stdout gone). */
static bool handle_line(pmw_embedded_t *emb, const char *line) {
        pmw_mock_cmd_t cmd;
        pmw_error_t *err = pmw_mock_cmd_parse(line, &cmd);
        if (!err)
                err = pmw_mock_cmd_run(emb, &cmd);
        if (err)
                pmw_log(PMW_LOG_NOTICE, "mock", "\"%s\": %s", line,
                        pmw_error_string(err));
        else
                pmw_log(PMW_LOG_NOTICE, "mock", "\"%s\": ok", line);
        bool out_ok = answer(err);
        pmw_error_destroy(err);
        return out_ok && !(err == NULL && cmd.op == PMW_MOCK_QUIT);
}

/* Reads stdin until quit, EOF or a signal. */
static void command_loop(pmw_embedded_t *emb) {
        char buf[LINE_MAX_LEN + 1];
        size_t len    = 0;
        bool skipping = false; /* inside a line that was too long */
        while (!stop_signal) {
                /* A short timeout, so a signal that arrives just before
                 * poll() is seen within 200 ms. */
                struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
                int rc            = poll(&pfd, 1, 200);
                if (rc <= 0)
                        continue; /* timeout or EINTR: check the flag */
                ssize_t got = read(STDIN_FILENO, buf + len, LINE_MAX_LEN - len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        return; /* EOF: the test is gone */
                len += (size_t)got;
                char *nl;
                while ((nl = memchr(buf, '\n', len)) != NULL) {
                        *nl        = '\0';
                        bool go_on = true;
                        if (skipping) {
                                skipping = false;
                        } else {
                                go_on = handle_line(emb, buf);
                        }
                        size_t taken = (size_t)(nl - buf) + 1;
                        memmove(buf, buf + taken, len - taken);
                        len -= taken;
                        if (!go_on)
                                return;
                }
                if (len == LINE_MAX_LEN) {
                        /* One answer per line: answer now, drop the rest
                         * of the line when its '\n' comes. */
                        if (!skipping) {
                                pmw_error_t *err = pmw_error_new(
                                    PMW_ERR_LIMIT,
                                    "line too long (at most %d bytes)",
                                    LINE_MAX_LEN - 1);
                                bool out_ok = answer(err);
                                pmw_error_destroy(err);
                                if (!out_ok)
                                        return;
                        }
                        skipping = true;
                        len      = 0;
                }
        }
}

int main(int argc, char **argv) {
        int brokers    = 1;
        int partitions = 4;
        int first      = 1;
        for (; first < argc && argv[first][0] == '-'; first++) {
                const char *a = argv[first];
                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        fputs(usage, stdout);
                        return 0;
                }
                if (!strcmp(a, "--")) {
                        first++;
                        break;
                }
                bool is_brokers = !strcmp(a, "--brokers");
                if (!is_brokers && strcmp(a, "--partitions") != 0)
                        return usage_error("unknown option %s", a);
                if (first + 1 == argc)
                        return usage_error("%s needs a value", a);
                const char *v = argv[++first];
                if (is_brokers ? !parse_count(v, 16, &brokers)
                               : !parse_count(v, 10000, &partitions))
                        return usage_error(is_brokers
                                               ? "--brokers %s: allowed 1..16"
                                               : "--partitions %s: allowed "
                                                 "1..10000",
                                           v);
        }

        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN); /* a dead reader shows as EPIPE */

        char spec[32];
        snprintf(spec, sizeof(spec), "embedded:%d", brokers);
        pmw_embedded_t *emb = NULL;
        pmw_error_t *err    = pmw_embedded_start(spec, NULL, 0, 1, &emb);
        for (int i = first; !err && i < argc; i++) {
                char *name  = pmw_strdup(argv[i]);
                char *colon = strchr(name, ':');
                int parts   = partitions;
                if (colon) {
                        *colon = '\0';
                        if (!parse_count(colon + 1, 10000, &parts)) {
                                free(name);
                                pmw_embedded_stop(emb);
                                return usage_error(
                                    "topic %s: partitions "
                                    "allowed 1..10000",
                                    argv[i]);
                        }
                }
                err = pmw_embedded_create_topic(emb, name, parts);
                free(name);
        }
        if (err) {
                fprintf(stderr, "mock-broker: %s\n", pmw_error_string(err));
                bool invalid = pmw_error_code(err) == PMW_ERR_INVALID;
                pmw_error_destroy(err);
                pmw_embedded_stop(emb);
                return invalid ? 2 : 1;
        }

        printf("%s\n", pmw_embedded_bootstrap(emb));
        fflush(stdout);
        pmw_log(PMW_LOG_NOTICE, "mock", "%d broker(s) at %s", brokers,
                pmw_embedded_bootstrap(emb));

        command_loop(emb);

        pmw_log(PMW_LOG_NOTICE, "mock", "stopping%s",
                stop_signal ? " on a signal" : "");
        pmw_embedded_stop(emb);
        return 0;
}
