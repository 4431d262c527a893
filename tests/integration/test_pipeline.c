/*
 * End-to-end tests of postmark-worker, with every process separate: the
 * mock-broker binary (Kafka), postmark-sim (Postmark) and the worker, on
 * loopback with free ports. The test produces jobs, reads back the status
 * and dead-letter topics and the simulator's record of what it accepted,
 * and checks CONTRACT.md 2 and 3 on them.
 *
 * argv: postmark-worker postmark-sim mock-broker
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/proc.h"
#include "tests/integration/testutil.h"

static const char *worker_bin, *sim_bin, *broker_bin;

#define JOBS   "email.jobs"
#define STATUS "email.status"
#define DLQ    "email.dlq"

typedef struct env_s {
        pmw_proc_t *broker;
        char bootstrap[256];
        pmw_proc_t *sim;
        int sim_port;
        char record_path[256];
        char dir[64];
        pmw_proc_t *worker;
        int http_port;
        pmw_ktest_producer_t *producer;
} env_t;

static int free_port(void) {
        int fd                 = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET};
        socklen_t len          = sizeof(sin);
        sin.sin_addr.s_addr    = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        close(fd);
        return ntohs(sin.sin_port);
}

/* Fails the test naming what failed. */
static void check(pmw_error_t *err, const char *what) {
        if (err)
                pmw_test_check(pmw_error_prefix(err, "%s", what));
}

static void start_broker(env_t *env) {
        const char *args[] = {"--partitions", "4",      JOBS,
                              STATUS,         DLQ ":2", NULL};
        pmw_test_start_broker(broker_bin, args, &env->broker, env->bootstrap,
                              sizeof(env->bootstrap));
        const char *props[] = {"message.timeout.ms", "20000", NULL};
        check(pmw_ktest_producer_new(env->bootstrap, props, &env->producer),
              "producer");
}

static void start_sim(env_t *env, const char *const *extra) {
        const char *argv[32] = {sim_bin,      "--listen",      "127.0.0.1:0",
                                "--inactive", "inactive*@*",   "--template",
                                "welcome",    "--template",    "4242",
                                "--record",   env->record_path};
        size_t n             = 11;
        for (; extra && *extra; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        check(pmw_proc_start_server(argv, 10000, &env->sim, &env->sim_port),
              "postmark-sim");
}

static int setup(void **state) {
        env_t *env = calloc(1, sizeof(*env));
        snprintf(env->dir, sizeof(env->dir), "/tmp/pmw-pipeline-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        snprintf(env->record_path, sizeof(env->record_path), "%s/sent.jsonl",
                 env->dir);
        start_broker(env);
        *state = env;
        return 0;
}

static int teardown(void **state) {
        env_t *env = *state;
        if (env->worker)
                pmw_proc_stop(env->worker, 60000);
        pmw_ktest_producer_destroy(env->producer);
        pmw_proc_stop(env->sim, 5000);
        pmw_proc_stop(env->broker, 5000);
        unlink(env->record_path);
        rmdir(env->dir);
        free(env);
        return 0;
}

static long http_get(int port, const char *path) {
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwrite);
        FILE *devnull = fopen("/dev/null", "w");
        curl_easy_setopt(e, CURLOPT_WRITEDATA, devnull);
        long status = 0;
        if (curl_easy_perform(e) == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        fclose(devnull);
        return status;
}

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

/* Starts the worker against the broker and simulator; waits for /ready. */
static void start_worker(env_t *env, const char *const *extra) {
        char brokers[300], base_url[64], listen[64];
        snprintf(brokers, sizeof(brokers), "kafka.brokers=%s", env->bootstrap);
        snprintf(base_url, sizeof(base_url),
                 "postmark.base_url=http://127.0.0.1:%d", env->sim_port);
        env->http_port = free_port();
        snprintf(listen, sizeof(listen), "http.listen=127.0.0.1:%d",
                 env->http_port);
        const char *argv[64] = {
            worker_bin,
            "--set",
            brokers,
            "--set",
            base_url,
            "--set",
            listen,
            "--set",
            "postmark.servers.default.token=server-token-default",
            "--set",
            "postmark.servers.billing.token=server-token-billing",
            "--set",
            "batch.linger_ms=50",
            "--set",
            "retry.initial_backoff_ms=50",
            "--set",
            "retry.max_backoff_ms=500",
            "--set",
            "workers.threads=1",
            "--set",
            "workers.shutdown_timeout_ms=20000",
            "--set",
            "kafka.consumer.fetch.wait.max.ms=20",
            "--set",
            "kafka.consumer.session.timeout.ms=6000",
            "--set",
            "kafka.consumer.heartbeat.interval.ms=1000",
            "--set",
            "kafka.consumer.reconnect.backoff.max.ms=1000",
            "--set",
            "kafka.producer.reconnect.backoff.max.ms=1000",
        };
        size_t n = 0;
        while (argv[n])
                n++;
        for (; extra && *extra; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        check(pmw_proc_start(argv, &env->worker), "postmark-worker");
        for (int i = 0; i < 300; i++) {
                if (http_get(env->http_port, "/ready") == 200)
                        return;
                sleep_ms(100);
        }
        fail_msg("postmark-worker did not become ready in 30 s");
}

static int stop_worker(env_t *env) {
        int rc      = pmw_proc_stop(env->worker, 60000);
        env->worker = NULL;
        return rc;
}

/*
 * Jobs.
 */

typedef struct job_spec_s {
        const char *job_id; /* NULL: no job-id header */
        const char *value;
        const char *key; /* NULL: no key */
        const char *server;
        const char *expires;
        const char *status; /* expected */
        int error_code;     /* expected; -2: don't check */
} job_spec_t;

static void produce_job(env_t *env, const job_spec_t *j) {
        const char *hdrs[16];
        size_t n = 0;
        if (j->job_id) {
                hdrs[n++] = "job-id";
                hdrs[n++] = j->job_id;
        }
        if (j->server) {
                hdrs[n++] = "postmark-server";
                hdrs[n++] = j->server;
        }
        if (j->expires) {
                hdrs[n++] = "expires-at";
                hdrs[n++] = j->expires;
        }
        hdrs[n++] = "x-trace";
        hdrs[n++] = "trace-1";
        hdrs[n]   = NULL;
        check(pmw_ktest_produce(env->producer, JOBS, -1, j->key,
                                j->key ? strlen(j->key) : 0, j->value,
                                strlen(j->value), hdrs),
              "produce");
}

/* A valid plain job to the given address. */
static char *plain_job(const char *to, int i) {
        char *s = malloc(512);
        snprintf(s, 512,
                 "{\"From\":\"sender@example.com\",\"To\":\"%s\","
                 "\"Subject\":\"Order %d\",\"TextBody\":\"Thanks for order "
                 "%d.\",\"Tag\":\"orders\"}",
                 to, i, i);
        return s;
}

/* Reads a topic: at least expect records, then quiet_ms without more. */
static pmw_ktest_records_t *read_topic_quiet(env_t *env,
                                             const char *topic,
                                             size_t expect,
                                             int quiet_ms,
                                             int timeout_ms) {
        pmw_ktest_records_t *recs = NULL;
        check(pmw_ktest_consume_all(env->bootstrap, topic, expect, quiet_ms,
                                    timeout_ms, &recs),
              topic);
        return recs;
}

/* Reads a topic: at least expect records, then 2 s without more, so late
 * duplicates are caught too. */
static pmw_ktest_records_t *
read_topic(env_t *env, const char *topic, size_t expect, int timeout_ms) {
        return read_topic_quiet(env, topic, expect, 2000, timeout_ms);
}

static json_t *parse(const pmw_ktest_record_t *rec) {
        json_error_t jerr;
        json_t *v = json_loadb(rec->value, rec->len, 0, &jerr);
        if (!v)
                fail_msg("not JSON (%s): %.*s", jerr.text, (int)rec->len,
                         rec->value);
        return v;
}

static const char *jstr(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (!json_is_string(v))
                fail_msg("field %s is not a string", key);
        return json_string_value(v);
}

static json_int_t jint(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (!json_is_integer(v))
                fail_msg("field %s is not an integer", key);
        return json_integer_value(v);
}

/* Index of the status record for job_id, checking there is exactly one. */
static json_t *status_of(json_t **statuses, size_t cnt, const char *job_id) {
        json_t *found = NULL;
        for (size_t i = 0; i < cnt; i++) {
                if (strcmp(jstr(statuses[i], "job_id"), job_id))
                        continue;
                if (found)
                        fail_msg("two status records for %s", job_id);
                found = statuses[i];
        }
        if (!found)
                fail_msg("no status record for %s", job_id);
        return found;
}

/* Counts, from --record, how often each sent job reached Postmark. */
static size_t sim_sends(env_t *env, const char *job_id, const char **tokenp) {
        FILE *f = fopen(env->record_path, "r");
        if (!f)
                return 0;
        size_t n   = 0;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                json_error_t jerr;
                json_t *rec = json_loads(line, 0, &jerr);
                if (!rec)
                        continue;
                json_t *md = json_object_get(json_object_get(rec, "message"),
                                             "Metadata");
                const char *id =
                    json_string_value(json_object_get(md, "pmw_job_id"));
                if (id && !strcmp(id, job_id)) {
                        n++;
                        if (tokenp) {
                                static char token[128];
                                snprintf(token, sizeof(token), "%s",
                                         json_string_value(
                                             json_object_get(rec, "token")));
                                *tokenp = token;
                        }
                }
                json_decref(rec);
        }
        free(line);
        fclose(f);
        return n;
}

/* The simulator writes its record at least every second. */
static void wait_record_flushed(void) {
        sleep_ms(1500);
}

static void test_mixed_jobs(void **state) {
        env_t *env = *state;
        char expired[64], later[64];
        pmw_time_format_rfc3339_ms(pmw_clock_wall_ms() - 60000, expired);
        pmw_time_format_rfc3339_ms(pmw_clock_wall_ms() + 3600000, later);
        char long_id[300];
        memset(long_id, 'x', 257);
        long_id[257] = '\0';
        char many[51 * 24 + 64];
        size_t used = 0;
        for (int i = 0; i < 51; i++)
                used += (size_t)snprintf(many + used, sizeof(many) - used,
                                         "%sr%d@example.org", i ? "," : "", i);
        char many_job[2048];
        snprintf(many_job, sizeof(many_job),
                 "{\"From\":\"s@example.com\",\"To\":\"%s\","
                 "\"TextBody\":\"x\"}",
                 many);
        char subject[2002];
        memset(subject, 'S', 2001);
        subject[2001] = '\0';
        char long_subject[2200];
        snprintf(long_subject, sizeof(long_subject),
                 "{\"From\":\"s@example.com\",\"To\":\"a@example.org\","
                 "\"TextBody\":\"x\",\"Subject\":\"%s\"}",
                 subject);

        const job_spec_t jobs[] = {
            {"j-plain",
             "{\"From\":\"Shop "
             "<shop@example.com>\",\"To\":\"alice@example.org\","
             "\"Subject\":\"Hi\",\"HtmlBody\":\"<p>Hi</"
             "p>\",\"TextBody\":\"Hi\","
             "\"Metadata\":{\"order\":\"1\"},\"TrackLinks\":\"HtmlOnly\"}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-snake",
             "{\"sender\":\"shop@example.com\",\"to\":\"bob@example.org\","
             "\"subject\":\"Hi\",\"text_body\":\"Hi\",\"track_opens\":true,"
             "\"metadata\":{\"a\":\"b\"},\"message_stream\":\"outbound\"}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-template",
             "{\"From\":\"shop@example.com\",\"To\":\"carol@example.org\","
             "\"TemplateAlias\":\"welcome\",\"TemplateModel\":{\"name\":"
             "\"Carol\",\"price\":19.99}}",
             "customer-7", NULL, NULL, "sent", 0},
            {"j-template-id",
             "{\"sender\":\"shop@example.com\",\"to\":\"dan@example.org\","
             "\"template_id\":4242,\"template_model\":{\"n\":1}}",
             NULL, NULL, NULL, "sent", 0},
            {"j-no-template",
             "{\"From\":\"shop@example.com\",\"To\":\"erin@example.org\","
             "\"TemplateAlias\":\"nosuch\",\"TemplateModel\":{}}",
             NULL, NULL, NULL, "failed", 1101},
            {"j-attach",
             "{\"From\":\"shop@example.com\",\"To\":\"frank@example.org\","
             "\"TextBody\":\"see attached\",\"Attachments\":[{\"Name\":"
             "\"a.txt\",\"Content\":\"aGVsbG8=\",\"ContentType\":"
             "\"text/plain\"}],\"Headers\":[{\"name\":\"X-A\",\"value\":"
             "\"1\"}]}",
             "customer-8", NULL, NULL, "sent", 0},
            {"j-inactive",
             "{\"From\":\"shop@example.com\",\"To\":\"inactive1@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "failed", 406},
            {"j-partial-inactive",
             "{\"From\":\"shop@example.com\",\"To\":\"gina@example.org, "
             "inactive2@example.org\",\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "sent", 406},
            {"j-stream",
             "{\"From\":\"shop@example.com\",\"To\":\"hal@example.org\","
             "\"TextBody\":\"x\",\"MessageStream\":\"nosuchstream\"}",
             NULL, NULL, NULL, "failed", 1235},
            {"j-billing",
             "{\"From\":\"billing@example.com\",\"To\":"
             "\"ivy@example.org\",\"TextBody\":\"invoice\"}",
             "customer-9", "billing", NULL, "sent", 0},
            {"j-later",
             "{\"From\":\"otp@example.com\",\"To\":"
             "\"jo@example.org\",\"TextBody\":\"code 1234\"}",
             NULL, NULL, later, "sent", 0},
            {"j-expired",
             "{\"From\":\"otp@example.com\",\"To\":"
             "\"kim@example.org\",\"TextBody\":\"code 9\"}",
             NULL, NULL, expired, "expired", -1},
            /* Every invalid kind of CONTRACT 2.2. */
            {"j-not-json", "this is not json", "customer-7", NULL, NULL,
             "rejected", 402},
            {"j-array", "[1,2]", NULL, NULL, NULL, "rejected", 402},
            {"j-unknown-field",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"Colour\":\"red\"}",
             NULL, NULL, NULL, "rejected", 403},
            {"j-wrong-type",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"TrackOpens\":\"yes\"}",
             NULL, NULL, NULL, "rejected", 403},
            {"j-no-from", "{\"To\":\"b@example.org\",\"TextBody\":\"x\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-no-to", "{\"From\":\"a@example.com\",\"TextBody\":\"x\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-no-body",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\"}", NULL,
             NULL, NULL, "rejected", 300},
            {"j-51", many_job, NULL, NULL, NULL, "rejected", 300},
            {"j-long-subject", long_subject, NULL, NULL, NULL, "rejected", 300},
            {"j-bad-base64",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"Attachments\":[{\"Name\":\"a\","
             "\"Content\":\"@@@\",\"ContentType\":\"text/plain\"}]}",
             NULL, NULL, NULL, "rejected", 300},
            {"j-tracklinks",
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\",\"TrackLinks\":\"Sometimes\"}",
             NULL, NULL, NULL, "rejected", 300},
            {"j-unknown-server",
             "{\"From\":\"a@example.com\",\"To\":"
             "\"b@example.org\",\"TextBody\":\"x\"}",
             NULL, "nosuchserver", NULL, "rejected", 300},
            {"j-bad-expiry",
             "{\"From\":\"a@example.com\",\"To\":"
             "\"b@example.org\",\"TextBody\":\"x\"}",
             NULL, NULL, "tomorrow", "rejected", 300},
            {long_id,
             "{\"From\":\"a@example.com\",\"To\":\"b@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "rejected", 300},
            {NULL,
             "{\"From\":\"a@example.com\",\"To\":\"noid@example.org\","
             "\"TextBody\":\"x\"}",
             NULL, NULL, NULL, "sent", 0},
        };
        size_t n = PMW_ARRAY_LEN(jobs);
        /* And 40 jobs sharing a key. */
        size_t extra = 40;
        char ids[40][32];

        const char *sim_args[] = {"--token", "server-token-default", "--token",
                                  "server-token-billing", NULL};
        start_sim(env, sim_args);
        for (size_t i = 0; i < n; i++)
                produce_job(env, &jobs[i]);
        for (size_t i = 0; i < extra; i++) {
                snprintf(ids[i], sizeof(ids[i]), "j-shared-%zu", i);
                char to[64];
                snprintf(to, sizeof(to), "shared%zu@example.org", i);
                char *v         = plain_job(to, (int)i);
                job_spec_t spec = {ids[i], v, "customer-1", NULL, NULL,
                                   "sent", 0};
                produce_job(env, &spec);
                free(v);
        }
        check(pmw_ktest_flush(env->producer, 20000), "flush jobs");

        start_worker(env, NULL);
        size_t total              = n + extra;
        pmw_ktest_records_t *recs = read_topic(env, STATUS, total, 90000);
        assert_int_equal(stop_worker(env), 0);

        pmw_ktest_records_t *src = read_topic(env, JOBS, total, 30000);
        pmw_ktest_records_t *dlq = read_topic(env, DLQ, 0, 30000);
        wait_record_flushed();

        print_message("%zu jobs, %zu status records, %zu dead letters\n", total,
                      recs->cnt, dlq->cnt);
        assert_int_equal(recs->cnt, total);
        assert_int_equal(src->cnt, total);
        json_t **st = calloc(recs->cnt, sizeof(*st));
        for (size_t i = 0; i < recs->cnt; i++) {
                st[i] = parse(&recs->v[i]);
                /* key = job id */
                assert_string_equal(recs->v[i].key, jstr(st[i], "job_id"));
        }

        size_t dead = 0;
        for (size_t i = 0; i < n + extra; i++) {
                const job_spec_t *j     = i < n ? &jobs[i] : NULL;
                const char *want_status = j ? j->status : "sent";
                int want_code           = j ? j->error_code : 0;
                /* Find the source record to know partition and offset. */
                const pmw_ktest_record_t *rec = NULL;
                const char *id                = j ? j->job_id : ids[i - n];
                for (size_t k = 0; k < src->cnt && !rec; k++) {
                        const char *h = pmw_ktest_header(&src->v[k], "job-id");
                        if (id ? (h && !strcmp(h, id))
                               : (!h &&
                                  strstr(src->v[k].value, "noid@example.org")))
                                rec = &src->v[k];
                }
                assert_non_null(rec);
                char derived[128];
                snprintf(derived, sizeof(derived), JOBS ":%d:%lld",
                         (int)rec->partition, (long long)rec->offset);
                const char *job_id = id && strlen(id) <= 256 ? id : derived;
                json_t *s          = status_of(st, recs->cnt, job_id);

                if (strcmp(jstr(s, "status"), want_status))
                        fail_msg("%s: status %s, expected %s (%s)", job_id,
                                 jstr(s, "status"), want_status,
                                 jstr(s, "message"));
                if (want_code != -2 && jint(s, "error_code") != want_code)
                        fail_msg("%s: error_code %lld, expected %d (%s)",
                                 job_id, (long long)jint(s, "error_code"),
                                 want_code, jstr(s, "message"));
                assert_string_equal(jstr(s, "topic"), JOBS);
                assert_int_equal(jint(s, "partition"), rec->partition);
                assert_int_equal(jint(s, "offset"), rec->offset);
                char enq[PMW_RFC3339_MS_SIZE];
                pmw_time_format_rfc3339_ms(rec->timestamp, enq);
                assert_string_equal(jstr(s, "enqueued_at"), enq);
                assert_true(strcmp(jstr(s, "completed_at"), enq) >= 0);
                assert_string_equal(jstr(s, "server"),
                                    j && j->server ? j->server : "default");
                json_t *key = json_object_get(s, "key");
                if (rec->has_key)
                        assert_string_equal(json_string_value(key), rec->key);
                else
                        assert_true(json_is_null(key));
                bool sent     = !strcmp(want_status, "sent");
                bool was_sent = sent || !strcmp(want_status, "failed");
                assert_int_equal(jint(s, "attempts"), was_sent ? 1 : 0);
                if (was_sent)
                        assert_int_equal(jint(s, "http_status"), 200);
                else
                        assert_true(
                            json_is_null(json_object_get(s, "http_status")));
                if (sent) {
                        assert_true(
                            json_is_string(json_object_get(s, "message_id")));
                        assert_true(
                            json_is_string(json_object_get(s, "submitted_at")));
                        const char *token = NULL;
                        assert_int_equal(sim_sends(env, job_id, &token), 1);
                        assert_string_equal(
                            token, j && j->server ? "server-token-billing"
                                                  : "server-token-default");
                } else {
                        assert_true(
                            json_is_null(json_object_get(s, "message_id")));
                        if (!strcmp(want_status, "failed"))
                                assert_int_equal(sim_sends(env, job_id, NULL),
                                                 0);
                }
                assert_string_equal(jstr(s, "stream"),
                                    j && strstr(j->value, "nosuchstream")
                                        ? "nosuchstream"
                                        : "outbound");
                if (!sent) {
                        dead++;
                        /* Its dead-letter record: original key, value and
                         * headers, plus the pmw-* headers. */
                        const pmw_ktest_record_t *d = NULL;
                        for (size_t k = 0; k < dlq->cnt; k++) {
                                const char *src_h =
                                    pmw_ktest_header(&dlq->v[k], "pmw-source");
                                if (src_h && !strcmp(src_h, derived)) {
                                        assert_null(d);
                                        d = &dlq->v[k];
                                }
                        }
                        if (!d)
                                fail_msg("%s: no dead-letter record", job_id);
                        assert_int_equal(d->len, rec->len);
                        assert_memory_equal(d->value, rec->value, rec->len);
                        assert_int_equal(d->has_key, rec->has_key);
                        if (rec->has_key)
                                assert_string_equal(d->key, rec->key);
                        assert_string_equal(pmw_ktest_header(d, "pmw-status"),
                                            want_status);
                        char code[16];
                        snprintf(code, sizeof(code), "%d", want_code);
                        assert_string_equal(
                            pmw_ktest_header(d, "pmw-error-code"), code);
                        assert_string_equal(pmw_ktest_header(d, "x-trace"),
                                            "trace-1");
                        assert_non_null(pmw_ktest_header(d, "pmw-error"));
                        assert_non_null(pmw_ktest_header(d, "pmw-attempts"));
                }
        }
        assert_int_equal(dlq->cnt, dead);

        for (size_t i = 0; i < recs->cnt; i++)
                json_decref(st[i]);
        free(st);
        pmw_ktest_records_free(recs);
        pmw_ktest_records_free(src);
        pmw_ktest_records_free(dlq);
}

/* Produces count plain jobs "<prefix>-<i>"; returns nothing. */
static void produce_plain(env_t *env, const char *prefix, size_t count) {
        for (size_t i = 0; i < count; i++) {
                char id[64], to[64];
                snprintf(id, sizeof(id), "%s-%zu", prefix, i);
                snprintf(to, sizeof(to), "%s%zu@example.org", prefix, i);
                char *v         = plain_job(to, (int)i);
                job_spec_t spec = {id, v, NULL, NULL, NULL, "sent", 0};
                produce_job(env, &spec);
                free(v);
        }
        check(pmw_ktest_flush(env->producer, 30000), "flush jobs");
}

/* Counts status records per job id: how many jobs have none, one, more. */
typedef struct tally_s {
        size_t records;
        size_t jobs;
        size_t duplicated;
        size_t sent;
} tally_t;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static tally_t tally(const pmw_ktest_records_t *recs) {
        tally_t t   = {.records = recs->cnt};
        char **keys = calloc(recs->cnt + 1, sizeof(*keys));
        for (size_t i = 0; i < recs->cnt; i++) {
                keys[i] = recs->v[i].key;
                t.sent +=
                    strstr(recs->v[i].value, "\"status\":\"sent\"") != NULL;
        }
        qsort(keys, recs->cnt, sizeof(*keys), cmp_str);
        for (size_t i = 0; i < recs->cnt; i++) {
                if (i && !strcmp(keys[i], keys[i - 1])) {
                        if (i < 2 || strcmp(keys[i - 1], keys[i - 2]))
                                t.duplicated++;
                        continue;
                }
                t.jobs++;
        }
        free(keys);
        return t;
}

static void test_restart_does_not_redo_committed(void **state) {
        env_t *env = *state;
        start_sim(env, NULL);
        produce_plain(env, "first", 100);
        start_worker(env, NULL);
        pmw_ktest_records_t *recs = read_topic(env, STATUS, 100, 60000);
        assert_int_equal(recs->cnt, 100);
        pmw_ktest_records_free(recs);
        assert_int_equal(stop_worker(env), 0);

        start_worker(env, NULL);
        produce_plain(env, "second", 50);
        recs      = read_topic(env, STATUS, 150, 60000);
        tally_t t = tally(recs);
        assert_int_equal(stop_worker(env), 0);
        print_message("after restart: %zu records, %zu jobs, %zu duplicated\n",
                      t.records, t.jobs, t.duplicated);
        assert_int_equal(t.records, 150);
        assert_int_equal(t.jobs, 150);
        assert_int_equal(t.duplicated, 0);
        pmw_ktest_records_free(recs);
}

/* Stops the worker mid-flow with sig; a second worker finishes the rest. */
static tally_t interrupt_and_finish(env_t *env, int sig, size_t count) {
        /* 60 batches of 50, 16 at a time, a second each: about 4 s. */
        const char *sim_args[] = {"--latency-ms", "1000", NULL};
        start_sim(env, sim_args);
        produce_plain(env, "flow", count);
        const char *opts[] = {"--set", "batch.max_messages=50", NULL};
        start_worker(env, opts);
        /* Let it get going: some statuses out, most not. */
        pmw_ktest_records_t *recs =
            read_topic_quiet(env, STATUS, 1200, 1, 60000);
        size_t before = recs->cnt;
        pmw_ktest_records_free(recs);
        int64_t t0 = pmw_clock_mono_us();
        if (sig == SIGKILL)
                kill(pmw_proc_pid(env->worker), SIGKILL);
        int rc = stop_worker(env);
        print_message(
            "stopped with signal %d after %zu statuses: exit %d in "
            "%lld ms\n",
            sig, before, rc, (long long)(pmw_clock_mono_us() - t0) / 1000);
        if (sig == SIGTERM)
                assert_int_equal(rc, 0);
        else
                assert_int_equal(rc, 128 + SIGKILL);
        int64_t committed[4];
        check(pmw_ktest_committed(env->bootstrap, "postmark-worker", JOBS,
                                  committed, 4, 10000),
              "committed offsets");
        print_message("committed offsets: %lld %lld %lld %lld\n",
                      (long long)committed[0], (long long)committed[1],
                      (long long)committed[2], (long long)committed[3]);

        start_worker(env, opts);
        recs      = read_topic(env, STATUS, count, 120000);
        tally_t t = tally(recs);
        assert_int_equal(stop_worker(env), 0);
        pmw_ktest_records_free(recs);
        print_message(
            "%zu jobs: %zu status records, %zu jobs with a status, "
            "%zu with more than one\n",
            count, t.records, t.jobs, t.duplicated);
        assert_int_equal(t.jobs, count);
        assert_int_equal(t.sent, t.records);
        return t;
}

static void test_sigterm_mid_flow(void **state) {
        env_t *env = *state;
        tally_t t  = interrupt_and_finish(env, SIGTERM, 3000);
        /* A graceful stop finishes and commits what it started. */
        assert_int_equal(t.duplicated, 0);
        assert_int_equal(t.records, 3000);
}

static void test_sigkill_mid_flow(void **state) {
        env_t *env = *state;
        /* Duplicates of the jobs in flight at the kill are allowed
         * (CONTRACT 3.2), not of jobs finished well before it: at most
         * max_in_flight (16) requests of 50, plus a batch being filled and
         * what finished during the last 100 ms commit interval. */
        tally_t t = interrupt_and_finish(env, SIGKILL, 3000);
        assert_true(t.duplicated <= 16 * 50 + 200);
}

static void test_faults_and_latency_all_sent(void **state) {
        env_t *env             = *state;
        const char *sim_args[] = {"--latency-ms",
                                  "30",
                                  "--seed",
                                  "5",
                                  "--fault",
                                  "status=503,p=0.2",
                                  "--fault",
                                  "status=429,p=0.1",
                                  "--fault",
                                  "status=500,nth=3",
                                  NULL};
        start_sim(env, sim_args);
        produce_plain(env, "fault", 2000);
        const char *opts[] = {"--set", "batch.max_messages=50", NULL};
        start_worker(env, opts);
        pmw_ktest_records_t *recs = read_topic(env, STATUS, 2000, 120000);
        assert_int_equal(stop_worker(env), 0);
        tally_t t      = tally(recs);
        size_t retried = 0;
        for (size_t i = 0; i < recs->cnt; i++)
                retried += strstr(recs->v[i].value, "\"attempts\":1,") == NULL;
        print_message(
            "%zu records, %zu sent, %zu needed more than one "
            "attempt\n",
            t.records, t.sent, retried);
        assert_int_equal(t.records, 2000);
        assert_int_equal(t.jobs, 2000);
        assert_int_equal(t.sent, 2000);
        assert_true(retried > 0);
        pmw_ktest_records_free(recs);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: %s POSTMARK_WORKER POSTMARK_SIM MOCK_BROKER\n",
                        argv[0]);
                return 2;
        }
        worker_bin = argv[1];
        sim_bin    = argv[2];
        broker_bin = argv[3];
        curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
            T(test_mixed_jobs),
            T(test_restart_does_not_redo_committed),
            T(test_sigterm_mid_flow),
            T(test_sigkill_mid_flow),
            T(test_faults_and_latency_all_sent),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
