/*
 * tests/kafka-tool/pmw_kafka.c: pmw-kafka, a small Kafka command-line tool
 * shipped with postmark-worker: produce records from JSON lines on stdin,
 * and print a topic's records as JSON lines (kafka_jsonl.h).
 *
 * Why: the demo, the tests and users without kcat need to put jobs into a
 * topic (with keys and headers) and read the status and dead-letter
 * records back, and replay a dead-letter topic into the jobs topic. The
 * Kafka side is tests/integration/kafka_util.h: an idempotent acks=all
 * producer, and a reader of a whole topic without a consumer group (so it
 * never disturbs the worker's group or its committed offsets).
 *
 * Threads: main only (librdkafka runs its own).
 * Exit status: 0; 1 on a Kafka error (a record not delivered, the topic
 * not readable, fewer records than -n by the timeout) or an I/O error; 2
 * for usage errors and bad input lines.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "tests/integration/kafka_util.h"
#include "tests/kafka-tool/kafka_jsonl.h"

#define EXIT_KAFKA 1
#define EXIT_USAGE 2
/* Bytes one output line may take: the largest records (tens of MB) fit
 * with their escapes. */
#define OUT_LINE_MAX ((size_t)512 * 1024 * 1024)

static const char usage_main[] =
    "usage: pmw-kafka produce -b BROKERS -t TOPIC [-X PROP=VALUE]... "
    "< records.jsonl\n"
    "       pmw-kafka consume -b BROKERS -t TOPIC [-n COUNT] [-q QUIET_MS]\n"
    "                         [-w TIMEOUT_MS] [-j] [-X PROP=VALUE]...\n"
    "       pmw-kafka COMMAND --help | --help | --version\n"
    "\n"
    "Writes Kafka records from JSON lines, and prints a topic's records as\n"
    "JSON lines, keys and headers included: for scripts, tests and demos of\n"
    "postmark-worker where kcat is not at hand. One record per line:\n"
    "\n"
    "  {\"topic\":\"email.dlq\",\"partition\":0,\"offset\":7,\n"
    "   \"timestamp\":\"2026-11-27T19:30:00.123Z\",\"key\":\"customer-42\",\n"
    "   \"value\":\"{...}\","
    "\"headers\":[[\"job-id\",\"j-1\"],...]}\n"
    "\n"
    "produce reads \"value\", \"key\", \"headers\" and \"partition\" and "
    "ignores\n"
    "the other fields, so what consume prints can be produced again:\n"
    "\n"
    "  # replay the dead-letter topic into the jobs topic: key, value and\n"
    "  # headers are kept (the worker ignores the pmw-* headers)\n"
    "  pmw-kafka consume -b B -t email.dlq | pmw-kafka produce -b B -t "
    "email.jobs\n"
    "\n"
    "Options of both commands:\n"
    "  -b, --brokers BROKERS   bootstrap servers, host:port[,...] "
    "(default:\n"
    "                          $KAFKA_BROKERS)\n"
    "  -t, --topic TOPIC       the topic\n"
    "  -X, --property P=V      a librdkafka property (repeatable), e.g.\n"
    "                          -X security.protocol=SASL_SSL\n"
    "  -h, --help              this help; pmw-kafka COMMAND --help for "
    "more\n"
    "\n"
    "Exit status: 0; 1 on a Kafka or I/O error; 2 for usage errors and bad\n"
    "input lines.\n";

static const char usage_produce[] =
    "usage: pmw-kafka produce -b BROKERS -t TOPIC [-X PROP=VALUE]... "
    "< records.jsonl\n"
    "\n"
    "Reads JSON lines from stdin, one record each, and produces them to "
    "TOPIC\n"
    "(idempotent producer, acks=all):\n"
    "\n"
    "  {\"value\": V, \"key\": \"k\", \"headers\": H, \"partition\": N}\n"
    "\n"
    "  value      required. A string is the value's bytes (\\u0000 "
    "allowed);\n"
    "             null makes a record without value (a tombstone); any "
    "other\n"
    "             JSON value is produced as its compact JSON text.\n"
    "  key        optional: a string, or null for no key (the default).\n"
    "  headers    optional: {\"name\": \"value\", ...}, or [[\"name\", "
    "\"value\"], ...]\n"
    "             which keeps order and duplicates; a value may be null.\n"
    "  partition  optional: the partition; without it librdkafka's\n"
    "             partitioner picks one (by key). Used only when the line "
    "has\n"
    "             no \"topic\" or names TOPIC: the partition of a record "
    "read\n"
    "             from another topic says nothing about this one.\n"
    "  topic, offset, timestamp: accepted (consume prints them) and "
    "ignored;\n"
    "             Kafka gives the new record its own offset and time.\n"
    "\n"
    "Any other field, or a line that is not JSON, is an error naming the\n"
    "line: nothing is produced from it or after it, the lines before it "
    "are\n"
    "delivered, and the exit status is 2. Blank lines are skipped. A line "
    "may\n"
    "be up to 64 MiB. At the end of input the producer flushes and prints\n"
    "\"produced N records to TOPIC\" on stderr (N delivered).\n"
    "\n"
    "  -b, --brokers BROKERS   bootstrap servers (default: $KAFKA_BROKERS)\n"
    "  -t, --topic TOPIC       the topic to produce to\n"
    "  -X, --property P=V      a librdkafka producer property "
    "(repeatable).\n"
    "                          Records wait for delivery up to\n"
    "                          message.timeout.ms (librdkafka: 300000): "
    "pass\n"
    "                          -X message.timeout.ms=10000 to give up "
    "sooner.\n"
    "\n"
    "Examples:\n"
    "  echo '{\"key\":\"c-42\",\"value\":{\"From\":\"a@example.com\","
    "\"To\":\"b@example.com\",\n"
    "        \"Subject\":\"Hi\",\"TextBody\":\"Hello\"},"
    "\"headers\":{\"job-id\":\"j-1\"}}' |\n"
    "      pmw-kafka produce -b 127.0.0.1:9092 -t email.jobs\n"
    "  # replay the dead-letter topic into the jobs topic (key, value and\n"
    "  # headers kept; each run replays the whole topic: filter the lines\n"
    "  # first, e.g. with grep or jq, to replay some)\n"
    "  pmw-kafka consume -b B -t email.dlq | pmw-kafka produce -b B -t "
    "email.jobs\n"
    "\n"
    "Exit status: 0 when every record was delivered; 1 when one was not "
    "(or\n"
    "stdin could not be read); 2 for usage errors and bad input lines.\n";

static const char usage_consume[] =
    "usage: pmw-kafka consume -b BROKERS -t TOPIC [-n COUNT] [-q "
    "QUIET_MS]\n"
    "                         [-w TIMEOUT_MS] [-j] [-X PROP=VALUE]...\n"
    "\n"
    "Reads TOPIC from the beginning of every partition, without a consumer\n"
    "group (librdkafka wants a group.id: pmw-ktest-reader, never joined,\n"
    "nothing committed), and prints one JSON line per record to stdout,\n"
    "ordered by partition, then offset:\n"
    "\n"
    "  {\"topic\":\"t\",\"partition\":0,\"offset\":5,"
    "\"timestamp\":\"2026-11-27T19:30:00.123Z\",\n"
    "   \"key\":\"k\",\"value\":\"v\","
    "\"headers\":[[\"name\",\"value\"],[\"n2\",null]]}\n"
    "\n"
    "key, value and header values are null when null; otherwise JSON "
    "strings\n"
    "of their bytes. Bytes that are not valid UTF-8 are each printed as\n"
    "U+FFFD (so such records do not replay byte for byte); NUL bytes "
    "print\n"
    "as \\u0000 and replay exactly. timestamp is RFC 3339 UTC with\n"
    "milliseconds, null when the record has none.\n"
    "\n"
    "It stops when at least COUNT records (default 0) have arrived and "
    "none\n"
    "came for QUIET_MS, or at TIMEOUT_MS whatever arrived. The lines are\n"
    "printed when it stops (they are sorted first).\n"
    "\n"
    "  -b, --brokers BROKERS   bootstrap servers (default: $KAFKA_BROKERS)\n"
    "  -t, --topic TOPIC       the topic to read\n"
    "  -n, --count COUNT       wait for at least COUNT records; with -q 0,\n"
    "                          print exactly the first COUNT to arrive\n"
    "  -q, --quiet-ms MS       stop after MS without a new record (default\n"
    "                          2000)\n"
    "  -w, --timeout-ms MS     stop after MS in any case (default 30000);\n"
    "                          exit 1 if fewer than COUNT records came\n"
    "  -j, --json-value        print a value that is a JSON object or "
    "array\n"
    "                          as JSON (compact) rather than as a string;\n"
    "                          other values stay strings. produce turns it\n"
    "                          back into compact JSON text, which may "
    "differ\n"
    "                          from the original bytes (spacing, 1.50 "
    "is 1.5).\n"
    "  -X, --property P=V      a librdkafka consumer property "
    "(repeatable)\n"
    "\n"
    "Examples:\n"
    "  # the status records of the demo, values as JSON, with jq\n"
    "  pmw-kafka consume -b B -t email.status -j | jq .value.status\n"
    "  # wait for 100 records, then 500 ms of quiet\n"
    "  pmw-kafka consume -b B -t email.status -n 100 -q 500 > "
    "status.jsonl\n"
    "  # replay the dead-letter topic into the jobs topic\n"
    "  pmw-kafka consume -b B -t email.dlq | pmw-kafka produce -b B -t "
    "email.jobs\n"
    "\n"
    "Exit status: 0; 1 on a Kafka error (the topic's metadata could not be\n"
    "read, a fatal consumer error) or when fewer than COUNT records came\n"
    "by the timeout (those that came are printed); 2 for usage errors.\n";

typedef enum cmd_e { CMD_PRODUCE, CMD_CONSUME } cmd_t;

typedef struct opts_s {
        cmd_t cmd;
        const char *brokers;
        const char *topic;
        char **props; /* owned: name, value pairs, NULL-terminated */
        size_t prop_cnt;
        long count;
        int quiet_ms;
        int timeout_ms;
        bool json_value;
        bool help;
} opts_t;

static void opts_cleanup(opts_t *o) {
        for (size_t i = 0; i < 2 * o->prop_cnt; i++)
                free(o->props[i]);
        free(o->props);
}

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
        fprintf(stderr, "pmw-kafka: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n(pmw-kafka %s%s--help for usage)\n", cmd ? cmd : "",
                cmd ? " " : "");
        return EXIT_USAGE;
}

/* A decimal in [min, max]. */
static bool parse_num(const char *s, long min, long max, long *vp) {
        if (*s < '0' || *s > '9')
                return false;
        char *end;
        errno  = 0;
        long v = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return false;
        *vp = v;
        return true;
}

static void
add_prop(opts_t *o, const char *name, size_t name_len, const char *value) {
        o->props =
            pmw_realloc(o->props, (2 * o->prop_cnt + 3) * sizeof(*o->props));
        o->props[2 * o->prop_cnt]     = pmw_strndup(name, name_len);
        o->props[2 * o->prop_cnt + 1] = pmw_strdup(value);
        o->prop_cnt++;
        o->props[2 * o->prop_cnt] = NULL;
}

typedef struct optdef_s {
        char shortname;
        const char *longname;
        bool takes_value;
        bool consume_only;
} optdef_t;

static const optdef_t optdefs[] = {
    {'h', "help", false, false},     {'b', "brokers", true, false},
    {'t', "topic", true, false},     {'X', "property", true, false},
    {'n', "count", true, true},      {'q', "quiet-ms", true, true},
    {'w', "timeout-ms", true, true}, {'j', "json-value", false, true},
};

/* Finds the option of argv[*ip] and its value ("-b X", "-bX",
 * "--brokers X", "--brokers=X"); advances *ip past what it used. Returns
 * NULL for an unknown option (with *valuep pointing to it). */
static const optdef_t *
next_opt(int argc, char **argv, int *ip, const char **valuep, bool *missingp) {
        const char *arg          = argv[*ip];
        const char *inline_value = NULL;
        const optdef_t *def      = NULL;
        *missingp                = false;
        *valuep                  = arg;
        if (arg[0] == '-' && arg[1] == '-') {
                const char *eq = strchr(arg + 2, '=');
                size_t n       = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
                for (size_t k = 0; k < PMW_ARRAY_LEN(optdefs); k++)
                        if (strlen(optdefs[k].longname) == n &&
                            strncmp(optdefs[k].longname, arg + 2, n) == 0)
                                def = &optdefs[k];
                if (def && eq && !def->takes_value)
                        return NULL;
                inline_value = eq ? eq + 1 : NULL;
        } else if (arg[0] == '-' && arg[1] != '\0') {
                for (size_t k = 0; k < PMW_ARRAY_LEN(optdefs); k++)
                        if (optdefs[k].shortname == arg[1])
                                def = &optdefs[k];
                if (def && arg[2] != '\0') {
                        if (!def->takes_value)
                                return NULL;
                        inline_value = arg + 2;
                }
        }
        if (!def)
                return NULL;
        (*ip)++;
        if (!def->takes_value)
                return def;
        if (inline_value) {
                *valuep = inline_value;
        } else if (*ip < argc) {
                *valuep = argv[(*ip)++];
        } else {
                *missingp = true;
        }
        return def;
}

/* Parses a command's arguments (argv[0] is the command). Returns 0 or an
 * exit status. */
static int parse_args(int argc, char **argv, opts_t *o) {
        const char *cmd = argv[0];
        long v;
        for (int i = 1; i < argc;) {
                const char *value;
                bool missing;
                const optdef_t *def =
                    next_opt(argc, argv, &i, &value, &missing);
                if (!def)
                        return usage_error(
                            cmd, "unknown option or argument: %s", value);
                if (missing)
                        return usage_error(cmd, "option --%s needs a value",
                                           def->longname);
                if (def->consume_only && o->cmd != CMD_CONSUME)
                        return usage_error(cmd,
                                           "option --%s is for consume only",
                                           def->longname);
                switch (def->shortname) {
                case 'h':
                        o->help = true;
                        return 0;
                case 'b':
                        o->brokers = value;
                        break;
                case 't':
                        o->topic = value;
                        break;
                case 'X': {
                        const char *eq = strchr(value, '=');
                        if (!eq || eq == value)
                                return usage_error(cmd,
                                                   "-X %s: expected "
                                                   "PROPERTY=VALUE",
                                                   value);
                        add_prop(o, value, (size_t)(eq - value), eq + 1);
                        break;
                }
                case 'n':
                        if (!parse_num(value, 0, LONG_MAX, &v))
                                return usage_error(cmd,
                                                   "-n %s: expected a count "
                                                   ">= 0",
                                                   value);
                        o->count = v;
                        break;
                case 'q':
                        if (!parse_num(value, 0, INT_MAX, &v))
                                return usage_error(cmd,
                                                   "-q %s: expected "
                                                   "milliseconds >= 0",
                                                   value);
                        o->quiet_ms = (int)v;
                        break;
                case 'w':
                        if (!parse_num(value, 1, INT_MAX, &v))
                                return usage_error(cmd,
                                                   "-w %s: expected "
                                                   "milliseconds > 0",
                                                   value);
                        o->timeout_ms = (int)v;
                        break;
                case 'j':
                        o->json_value = true;
                        break;
                default:
                        break;
                }
        }
        if (!o->brokers || !*o->brokers)
                return usage_error(cmd, "%s",
                                   "no brokers: -b BROKERS (or "
                                   "$KAFKA_BROKERS)");
        if (!o->topic || !*o->topic)
                return usage_error(cmd, "%s", "no topic: -t TOPIC");
        return 0;
}

/* Reads stdin with read(2), not stdio, so a line is handled as soon as it
 * arrives through a pipe rather than when a stdio buffer fills. */
typedef struct reader_s {
        int fd;
        char chunk[64 * 1024];
        size_t pos;
        size_t end;
        bool eof;
} reader_t;

/* The next line, without its '\n', into line (whose limit marks an overlong
 * line failed; the rest of it is still consumed). Returns 1 for a line, 0
 * at the end of input, -1 on a read error (errno set). */
static int read_line(reader_t *r, pmw_buf_t *line) {
        bool any = false;
        pmw_buf_reset(line);
        for (;;) {
                if (r->pos == r->end) {
                        if (r->eof)
                                return any ? 1 : 0;
                        ssize_t n = read(r->fd, r->chunk, sizeof(r->chunk));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -1;
                        r->eof = n == 0;
                        r->pos = 0;
                        r->end = (size_t)n;
                        continue;
                }
                any            = true;
                const char *p  = r->chunk + r->pos;
                const char *nl = memchr(p, '\n', r->end - r->pos);
                size_t take    = nl ? (size_t)(nl - p) : r->end - r->pos;
                pmw_buf_append(line, p, take);
                r->pos += take;
                if (nl) {
                        r->pos++;
                        return 1;
                }
        }
}

static int run_produce(const opts_t *o) {
        pmw_ktest_producer_t *producer = NULL;
        pmw_error_t *err               = pmw_ktest_producer_new(
                          o->brokers, (const char *const *)o->props, &producer);
        if (err) {
                fprintf(stderr, "pmw-kafka: %s\n", pmw_error_string(err));
                int rc = pmw_error_code(err) == PMW_ERR_INVALID ? EXIT_USAGE
                                                                : EXIT_KAFKA;
                pmw_error_destroy(err);
                return rc;
        }
        int rc       = 0;
        reader_t *rd = pmw_calloc(1, sizeof(*rd));
        rd->fd       = STDIN_FILENO;
        pmw_buf_t line;
        pmw_buf_init(&line, PMW_KAFKA_JSONL_LINE_MAX);
        for (long lineno = 1;; lineno++) {
                int got = read_line(rd, &line);
                if (got < 0) {
                        fprintf(stderr, "pmw-kafka: reading stdin: %s\n",
                                strerror(errno));
                        rc = EXIT_KAFKA;
                        break;
                }
                if (got == 0)
                        break;
                if (pmw_buf_failed(&line)) {
                        fprintf(stderr,
                                "pmw-kafka: line %ld: longer than %zu "
                                "bytes\n",
                                lineno, PMW_KAFKA_JSONL_LINE_MAX);
                        rc = EXIT_USAGE;
                        break;
                }
                if (pmw_kafka_jsonl_blank(pmw_buf_ptr(&line),
                                          pmw_buf_len(&line)))
                        continue;
                pmw_ktest_record_t record;
                err = pmw_kafka_jsonl_parse(
                    pmw_buf_ptr(&line), pmw_buf_len(&line), o->topic, &record);
                if (err) {
                        rc = EXIT_USAGE;
                } else {
                        err = pmw_ktest_produce_record(producer, o->topic,
                                                       &record);
                        pmw_ktest_record_cleanup(&record);
                        if (err)
                                rc = EXIT_KAFKA;
                }
                if (err) {
                        fprintf(stderr, "pmw-kafka: line %ld: %s\n", lineno,
                                pmw_error_string(err));
                        pmw_error_destroy(err);
                        break;
                }
        }
        pmw_buf_cleanup(&line);
        free(rd);
        /* -1: until each record is delivered or has failed, which
         * message.timeout.ms bounds. */
        err = pmw_ktest_flush(producer, -1);
        fprintf(stderr, "produced %zu records to %s\n",
                pmw_ktest_delivered(producer), o->topic);
        if (err) {
                fprintf(stderr, "pmw-kafka: %s\n", pmw_error_string(err));
                pmw_error_destroy(err);
                if (rc == 0)
                        rc = EXIT_KAFKA;
        }
        pmw_ktest_producer_destroy(producer);
        return rc;
}

static int run_consume(const opts_t *o) {
        pmw_ktest_records_t *records = NULL;
        pmw_error_t *err             = pmw_ktest_consume_all_props(
                        o->brokers, (const char *const *)o->props, o->topic,
                        (size_t)o->count, o->quiet_ms, o->timeout_ms, &records);
        int rc = 0;
        if (err)
                rc = pmw_error_code(err) == PMW_ERR_INVALID ? EXIT_USAGE
                                                            : EXIT_KAFKA;
        pmw_buf_t out;
        pmw_buf_init(&out, OUT_LINE_MAX);
        for (size_t i = 0; records && i < records->cnt; i++) {
                pmw_buf_reset(&out);
                pmw_kafka_jsonl_format(&out, o->topic, &records->v[i],
                                       o->json_value);
                if (pmw_buf_failed(&out)) {
                        fprintf(stderr,
                                "pmw-kafka: %s [%d] offset %lld: the JSON "
                                "line would be longer than %zu bytes\n",
                                o->topic, (int)records->v[i].partition,
                                (long long)records->v[i].offset, OUT_LINE_MAX);
                        rc = EXIT_KAFKA;
                        break;
                }
                pmw_buf_append_char(&out, '\n');
                fwrite(pmw_buf_ptr(&out), 1, pmw_buf_len(&out), stdout);
        }
        pmw_buf_cleanup(&out);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "pmw-kafka: writing stdout: %s\n",
                        strerror(errno));
                rc = EXIT_KAFKA;
        }
        size_t cnt = records ? records->cnt : 0;
        if (err) {
                fprintf(stderr, "pmw-kafka: %s\n", pmw_error_string(err));
                pmw_error_destroy(err);
        } else if (cnt < (size_t)o->count) {
                fprintf(stderr,
                        "pmw-kafka: timed out after %d ms with %zu of %ld "
                        "records from %s\n",
                        o->timeout_ms, cnt, o->count, o->topic);
                rc = EXIT_KAFKA;
        }
        if (records)
                fprintf(stderr, "consumed %zu records from %s\n", cnt,
                        o->topic);
        pmw_ktest_records_free(records);
        return rc;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage_error(NULL, "%s", "no command (produce, consume)");
        const char *cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
            strcmp(cmd, "help") == 0) {
                fputs(usage_main, stdout);
                return 0;
        }
        if (strcmp(cmd, "--version") == 0) {
                printf("pmw-kafka (postmark-worker) %s\n", PMW_VERSION);
                return 0;
        }
        opts_t o = {.brokers    = getenv("KAFKA_BROKERS"),
                    .quiet_ms   = 2000,
                    .timeout_ms = 30000};
        if (strcmp(cmd, "produce") == 0)
                o.cmd = CMD_PRODUCE;
        else if (strcmp(cmd, "consume") == 0)
                o.cmd = CMD_CONSUME;
        else
                return usage_error(NULL, "unknown command: %s", cmd);

        int rc = parse_args(argc - 1, argv + 1, &o);
        if (rc == 0 && o.help)
                fputs(o.cmd == CMD_PRODUCE ? usage_produce : usage_consume,
                      stdout);
        else if (rc == 0)
                rc = o.cmd == CMD_PRODUCE ? run_produce(&o) : run_consume(&o);
        opts_cleanup(&o);
        return rc;
}
