/*
 * tests/postmark-sim/sim_main.c: postmark-sim, a local Postmark API
 * simulator (CONTRACT.md section 6).
 *
 * main() parses the command line into a read-only configuration, starts
 * the HTTP server (sim_server.c: one thread per connection, each calling
 * sim_api.c), prints "listening on HOST:PORT" as the first line on stdout,
 * then waits for SIGTERM or SIGINT with sigtimedwait(), flushing the record
 * file every second. Signals are blocked before any thread starts, so only
 * this thread receives them. On a signal it stops the server (waking
 * delayed answers), flushes and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_api.h"
#include "tests/postmark-sim/sim_match.h"
#include "tests/postmark-sim/sim_server.h"

static const char usage_text[] =
    "Usage: postmark-sim [OPTION]...\n"
    "A local Postmark API simulator: serves POST /email, /email/batch,\n"
    "/email/withTemplate, /email/batchWithTemplates and GET\n"
    "/messages/outbound as Postmark does (header checks, per-message\n"
    "validation and error codes in request order, whole-request errors,\n"
    "limits), records what it accepted and injects faults on demand.\n"
    "Prints \"listening on HOST:PORT\" as its first line on stdout.\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT   address to serve (default 127.0.0.1:8080; port 0\n"
    "                       picks a free port, printed on the first line)\n"
    "  --token T            accept this server token (repeatable); without\n"
    "                       any, every non-empty token is accepted.\n"
    "                       POSTMARK_API_TEST is always accepted\n"
    "  --sender ADDR        a verified sender (repeatable; a glob such as\n"
    "                       '*@example.com' verifies a domain); when given,\n"
    "                       other From addresses get ErrorCode 300\n"
    "  --inactive GLOB      recipients matching GLOB (fnmatch, ignoring case,\n"
    "                       e.g. 'bounce*@*') are suppressed: ErrorCode 406\n"
    "  --template ID        a template alias or numeric id that exists\n"
    "                       (repeatable); when given, others get 1101\n"
    "  --stream NAME        a message stream that exists besides outbound and\n"
    "                       broadcast (repeatable); others get 1235\n"
    "  --record FILE        append every accepted message to FILE as one JSON\n"
    "                       line: "
    "{\"request\":N,\"endpoint\":\"/email/batch\",\n"
    "                       \"token\":\"...\",\"message\":{...as received}}\n"
    "  --latency-ms N       delay every API answer by N ms (other connections\n"
    "                       are not held up)\n"
    "  --fault SPEC         inject a fault (repeatable; grammar below)\n"
    "  --seed N             seed for fault probabilities and MessageIDs\n"
    "                       (default: random, printed on stderr)\n"
    "  --store-max N        messages kept for GET /messages/outbound\n"
    "                       (default 1000000, oldest dropped; 0 keeps none)\n"
    "  --help, --version\n"
    "\n"
    "Fault SPEC: an action, then options, comma-separated:\n"
    "  status=HTTP [error-code=N] [message=TEXT]\n"
    "                       JSON error reply "
    "{\"ErrorCode\":N,\"Message\":..};\n"
    "                       error-code defaults: 401:10 429:429 500:101\n"
    "                       503:100 (other statuses need error-code=)\n"
    "  html403              HTTP 403 with an HTML page (a firewall's reply)\n"
    "  text502              HTTP 502 with a plain-text proxy page\n"
    "  drop                 read the request, then close the connection\n"
    "                       without answering; nothing is accepted\n"
    "  delay=MS             wait MS ms, then answer normally (also an option\n"
    "                       of the actions above: wait, then act)\n"
    "  message-error=CODE [rcpt=GLOB] [index=I] [message=TEXT]\n"
    "                       messages that would be accepted and have a\n"
    "                       recipient matching GLOB (and are at position I)\n"
    "                       fail with ErrorCode CODE, in an HTTP 200 batch\n"
    "  retry-after=S        add a Retry-After: S header (status, html403,\n"
    "                       text502)\n"
    "  message=TEXT must come last: it takes the rest, commas included.\n"
    "Conditions of the request faults (status, html403, text502, drop,\n"
    "delay), checked after the token, JSON and shape checks:\n"
    "  rcpt=GLOB            only requests in which a message has a To, Cc\n"
    "                       or Bcc address matching GLOB (fnmatch, ignoring\n"
    "                       case): the whole request fails\n"
    "  above=MSGS_PER_S     only requests whose messages would exceed\n"
    "                       MSGS_PER_S (a token bucket shared by all\n"
    "                       connections, burst of one second; requests let\n"
    "                       through take one token per message)\n"
    "Trigger (at most one; default: every request):\n"
    "  p=P                  each request with probability P (seeded)\n"
    "  next=N               the next N requests\n"
    "  nth=N                only request number N (POSTs to the sending\n"
    "                       endpoints, counted from 1 since the start)\n"
    "A trigger counts only requests that meet rcpt= and above=.\n"
    "Request faults are tried in order; the first that fires is applied.\n"
    "Those with rcpt= or above= come after the others.\n"
    "\n"
    "Examples:\n"
    "  --fault status=503,next=3          three 503s, then normal answers\n"
    "  --fault status=429,retry-after=2,p=0.1\n"
    "  --fault drop,nth=5                 the 5th request gets no answer\n"
    "  --fault delay=20000,next=1         beyond the client's timeout\n"
    "  --fault html403   --fault text502,next=2\n"
    "  --fault status=401,error-code=10,next=50\n"
    "  --fault status=422,error-code=405  account may not send\n"
    "  --fault message-error=406,rcpt='bounce*@*'\n"
    "  --fault status=429,above=2000      throttle beyond 2000 messages/s\n"
    "  --fault status=422,error-code=403,rcpt='bad*@*'\n"
    "                                     reject batches with a bad address\n"
    "\n"
    "Run-time control (no token needed):\n"
    "  POST /_sim/faults    add faults, one SPEC per line (all or none)\n"
    "  GET /_sim/faults     list faults with fired and remaining counts\n"
    "  DELETE /_sim/faults  remove every fault\n"
    "  GET /_sim/stats      counters: requests by endpoint and status,\n"
    "                       messages accepted and failed, faults fired\n"
    "\n"
    "Stops cleanly on SIGTERM or SIGINT (exit 0). Exit 2: usage error\n"
    "(including a malformed --listen); 1: cannot listen (e.g. the port is\n"
    "in use) or open the record file.\n";

typedef struct list_s {
        char **items;
        size_t n;
} list_t;

static void list_add(list_t *l, char *item) {
        l->items         = pmw_realloc(l->items, (l->n + 1) * sizeof(char *));
        l->items[l->n++] = item;
}

static void list_free(list_t *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
}

static bool
parse_num(const char *s, unsigned long long max, unsigned long long *vp) {
        if (*s < '0' || *s > '9')
                return false;
        errno                = 0;
        char *end            = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end != '\0' || v > max)
                return false;
        *vp = v;
        return true;
}

static uint64_t random_seed(void) {
        uint64_t seed = 0;
        FILE *fp      = fopen("/dev/urandom", "rb");
        if (fp) {
                if (fread(&seed, sizeof(seed), 1, fp) != 1)
                        seed = 0;
                fclose(fp);
        }
        if (seed == 0)
                seed =
                    (uint64_t)pmw_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
        return seed;
}

enum {
        OPT_LISTEN = 256,
        OPT_TOKEN,
        OPT_SENDER,
        OPT_INACTIVE,
        OPT_TEMPLATE,
        OPT_STREAM,
        OPT_RECORD,
        OPT_LATENCY,
        OPT_FAULT,
        OPT_SEED,
        OPT_STORE_MAX,
        OPT_HELP,
        OPT_VERSION,
};

int main(int argc, char **argv) {
        static const struct option opts[] = {
            {"listen", required_argument, NULL, OPT_LISTEN},
            {"token", required_argument, NULL, OPT_TOKEN},
            {"sender", required_argument, NULL, OPT_SENDER},
            {"inactive", required_argument, NULL, OPT_INACTIVE},
            {"template", required_argument, NULL, OPT_TEMPLATE},
            {"stream", required_argument, NULL, OPT_STREAM},
            {"record", required_argument, NULL, OPT_RECORD},
            {"latency-ms", required_argument, NULL, OPT_LATENCY},
            {"fault", required_argument, NULL, OPT_FAULT},
            {"seed", required_argument, NULL, OPT_SEED},
            {"store-max", required_argument, NULL, OPT_STORE_MAX},
            {"help", no_argument, NULL, OPT_HELP},
            {"version", no_argument, NULL, OPT_VERSION},
            {NULL, 0, NULL, 0},
        };
        const char *listen      = "127.0.0.1:8080";
        const char *record_path = NULL;
        list_t tokens = {0}, senders = {0}, inactive = {0}, templates = {0},
               streams = {0}, fault_specs = {0};
        pmw_sim_config_t cfg     = {.store_max = 1000000};
        bool have_seed           = false;
        int rc                   = 2;
        pmw_sim_t *sim           = NULL;
        pmw_sim_server_t *server = NULL;
        pmw_sim_faults_t *faults = NULL;
        unsigned long long v;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case OPT_LISTEN:
                        listen = optarg;
                        break;
                case OPT_TOKEN:
                        if (*optarg == '\0') {
                                fprintf(stderr,
                                        "postmark-sim: --token: "
                                        "empty token\n");
                                goto out;
                        }
                        list_add(&tokens, pmw_strdup(optarg));
                        break;
                case OPT_SENDER:
                        list_add(&senders, pmw_sim_lower(pmw_strdup(optarg)));
                        break;
                case OPT_INACTIVE:
                        list_add(&inactive, pmw_sim_lower(pmw_strdup(optarg)));
                        break;
                case OPT_TEMPLATE:
                        list_add(&templates, pmw_strdup(optarg));
                        break;
                case OPT_STREAM:
                        list_add(&streams, pmw_strdup(optarg));
                        break;
                case OPT_RECORD:
                        record_path = optarg;
                        break;
                case OPT_LATENCY:
                        if (!parse_num(optarg, 3600000, &v)) {
                                fprintf(stderr,
                                        "postmark-sim: --latency-ms %s: "
                                        "expected 0..3600000\n",
                                        optarg);
                                goto out;
                        }
                        cfg.latency_ms = (int)v;
                        break;
                case OPT_FAULT:
                        list_add(&fault_specs, pmw_strdup(optarg));
                        break;
                case OPT_SEED:
                        if (!parse_num(optarg, UINT64_MAX, &v)) {
                                fprintf(stderr,
                                        "postmark-sim: --seed %s: expected "
                                        "a non-negative integer\n",
                                        optarg);
                                goto out;
                        }
                        cfg.seed  = v;
                        have_seed = true;
                        break;
                case OPT_STORE_MAX:
                        if (!parse_num(optarg, 1000000000, &v)) {
                                fprintf(stderr,
                                        "postmark-sim: --store-max %s: "
                                        "expected 0..1000000000\n",
                                        optarg);
                                goto out;
                        }
                        cfg.store_max = (size_t)v;
                        break;
                case OPT_HELP:
                        fputs(usage_text, stdout);
                        rc = 0;
                        goto out;
                case OPT_VERSION:
                        printf("postmark-sim %s\n", PMW_VERSION);
                        rc = 0;
                        goto out;
                default:
                        fprintf(stderr, "Try 'postmark-sim --help'.\n");
                        goto out;
                }
        }
        if (optind < argc) {
                fprintf(stderr,
                        "postmark-sim: unexpected argument '%s'; try "
                        "--help\n",
                        argv[optind]);
                goto out;
        }
        if (!have_seed)
                cfg.seed = random_seed();

        faults = pmw_sim_faults_new(cfg.seed);
        for (size_t i = 0; i < fault_specs.n; i++) {
                pmw_sim_fault_t *f;
                pmw_error_t *err =
                    pmw_sim_fault_parse(fault_specs.items[i], &f);
                if (err) {
                        fprintf(stderr, "postmark-sim: --fault: %s\n",
                                pmw_error_string(err));
                        pmw_error_destroy(err);
                        goto out;
                }
                pmw_sim_faults_add(faults, f);
        }
        cfg.tokens            = tokens.items;
        cfg.n_tokens          = tokens.n;
        cfg.rules.senders     = senders.items;
        cfg.rules.n_senders   = senders.n;
        cfg.rules.inactive    = inactive.items;
        cfg.rules.n_inactive  = inactive.n;
        cfg.rules.templates   = templates.items;
        cfg.rules.n_templates = templates.n;
        cfg.rules.streams     = streams.items;
        cfg.rules.n_streams   = streams.n;

        pmw_sim_record_t *record = NULL;
        if (record_path) {
                pmw_error_t *err = pmw_sim_record_open(record_path, &record);
                if (err) {
                        fprintf(stderr, "postmark-sim: %s\n",
                                pmw_error_string(err));
                        pmw_error_destroy(err);
                        rc = 1;
                        goto out;
                }
        }
        for (size_t i = 0; i < tokens.n; i++)
                pmw_log_add_secret(tokens.items[i]);
        sim    = pmw_sim_new(&cfg, faults, record);
        faults = NULL; /* the simulator owns it now */

        /* Block the signals before MHD starts its threads, which inherit
         * the mask: only sigtimedwait() below sees them. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        char bound[300];
        pmw_error_t *err =
            pmw_sim_server_start(sim, listen, &server, bound, sizeof(bound));
        if (err) {
                fprintf(stderr, "postmark-sim: %s\n", pmw_error_string(err));
                /* A malformed --listen is a usage error; a busy port is
                 * not. */
                rc = pmw_error_code(err) == PMW_ERR_INVALID ? 2 : 1;
                pmw_error_destroy(err);
                goto out;
        }
        printf("listening on %s\n", bound);
        fflush(stdout);
        pmw_log(PMW_LOG_NOTICE, "sim",
                "postmark-sim %s listening on %s seed=%llu faults=%zu "
                "latency_ms=%d record=%s",
                PMW_VERSION, bound, (unsigned long long)cfg.seed, fault_specs.n,
                cfg.latency_ms, record_path ? record_path : "-");

        for (;;) {
                struct timespec one_second = {1, 0};
                int sig = sigtimedwait(&sigs, NULL, &one_second);
                if (sig == SIGTERM || sig == SIGINT) {
                        pmw_log(PMW_LOG_NOTICE, "sim", "signal %d: stopping",
                                sig);
                        break;
                }
                pmw_sim_flush(sim);
        }
        rc = 0;
out:
        pmw_sim_server_stop(server);
        pmw_sim_destroy(sim); /* flushes and closes the record file */
        pmw_sim_faults_destroy(faults);
        list_free(&tokens);
        list_free(&senders);
        list_free(&inactive);
        list_free(&templates);
        list_free(&streams);
        list_free(&fault_specs);
        return rc;
}
