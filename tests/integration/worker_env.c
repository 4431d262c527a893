/*
 * tests/integration/worker_env.c: see worker_env.h.
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

#include "tests/integration/worker_env.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "tests/integration/testutil.h"

pmw_wenv_t *pmw_wenv_new(const char *worker_bin,
                         const char *sim_bin,
                         const char *broker_bin) {
        pmw_wenv_t *env = calloc(1, sizeof(*env));
        assert_non_null(env);
        env->worker_bin = worker_bin;
        env->sim_bin    = sim_bin;
        env->broker_bin = broker_bin;
        snprintf(env->dir, sizeof(env->dir), "/tmp/pmw-worker-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        snprintf(env->record_path, sizeof(env->record_path), "%s/sent.jsonl",
                 env->dir);
        for (int i = 0; i < PMW_WENV_MAX_WORKERS; i++)
                snprintf(env->workers[i].log_path,
                         sizeof(env->workers[i].log_path), "%s/worker%d.log",
                         env->dir, i);
        return env;
}

/* Copies what the worker's log gained since the last call to stderr. */
static void show_log(pmw_wenv_t *env, int idx) {
        pmw_wenv_worker_t *w = &env->workers[idx];
        FILE *f              = fopen(w->log_path, "r");
        if (!f)
                return;
        if (fseek(f, w->log_shown, SEEK_SET) == 0) {
                char buf[8192];
                size_t n;
                bool any = false;
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
                        if (!any)
                                fprintf(stderr,
                                        "---- postmark-worker %d log ----\n",
                                        idx);
                        any = true;
                        fwrite(buf, 1, n, stderr);
                        w->log_shown += (long)n;
                }
                if (any)
                        fprintf(stderr, "---- end of worker %d log ----\n",
                                idx);
        }
        fclose(f);
}

void pmw_wenv_free(pmw_wenv_t *env) {
        if (!env)
                return;
        for (int i = 0; i < PMW_WENV_MAX_WORKERS; i++)
                if (env->workers[i].proc)
                        pmw_wenv_stop_worker(env, i);
        pmw_ktest_producer_destroy(env->producer);
        pmw_proc_stop(env->sim, 5000);
        pmw_proc_stop(env->broker, 5000);
        DIR *d = opendir(env->dir);
        if (d) {
                const struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        char path[400];
                        snprintf(path, sizeof(path), "%s/%s", env->dir,
                                 de->d_name);
                        unlink(path);
                }
                closedir(d);
        }
        rmdir(env->dir);
        free(env);
}

void pmw_wenv_check(pmw_error_t *err, const char *what) {
        if (err)
                pmw_test_check(pmw_error_prefix(err, "%s", what));
}

void pmw_wenv_sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

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

void pmw_wenv_start_broker(pmw_wenv_t *env, const char *const *args) {
        pmw_test_start_broker(env->broker_bin, args, &env->broker,
                              env->bootstrap, sizeof(env->bootstrap));
        const char *props[] = {"message.timeout.ms", "60000", NULL};
        pmw_wenv_check(
            pmw_ktest_producer_new(env->bootstrap, props, &env->producer),
            "producer");
}

void pmw_wenv_broker_command(pmw_wenv_t *env, const char *command) {
        char answer[256];
        pmw_wenv_check(pmw_proc_command(env->broker, command, 10000, answer,
                                        sizeof(answer)),
                       "mock-broker");
        if (strcmp(answer, "ok"))
                fail_msg("mock-broker: %s: %s", command, answer);
}

void pmw_wenv_start_sim(pmw_wenv_t *env, const char *const *extra) {
        const char *argv[] = {env->sim_bin, "--listen",       "127.0.0.1:0",
                              "--inactive", "inactive*@*",    "--template",
                              "welcome",    "--template",     "4242",
                              "--record",   env->record_path, NULL};
        if (env->sim_no_record)
                argv[9] = NULL;
        pmw_wenv_check(pmw_proc_start_server(argv, extra, 10000, &env->sim,
                                             &env->sim_port),
                       "postmark-sim");
}

void pmw_wenv_spawn_worker(pmw_wenv_t *env, int idx, const char *const *extra) {
        assert_true(idx >= 0 && idx < PMW_WENV_MAX_WORKERS);
        pmw_wenv_worker_t *w = &env->workers[idx];
        assert_null(w->proc);
        char brokers[300], base_url[64], listen[64];
        snprintf(brokers, sizeof(brokers), "kafka.brokers=%s", env->bootstrap);
        snprintf(base_url, sizeof(base_url),
                 "postmark.base_url=http://127.0.0.1:%d", env->sim_port);
        w->http_port = free_port();
        snprintf(listen, sizeof(listen), "http.listen=127.0.0.1:%d",
                 w->http_port);
        const char *argv[96] = {
            env->worker_bin,
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
        for (; extra && *extra && n < 95; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        pmw_wenv_check(pmw_proc_start_logged(argv, w->log_path, &w->proc),
                       "postmark-worker");
}

void pmw_wenv_start_worker(pmw_wenv_t *env, int idx, const char *const *extra) {
        pmw_wenv_spawn_worker(env, idx, extra);
        if (!pmw_wenv_wait_ready_status(env, idx, 200, 30000, NULL))
                fail_msg("postmark-worker %d did not become ready in 30 s",
                         idx);
}

int pmw_wenv_stop_worker(pmw_wenv_t *env, int idx) {
        pmw_wenv_worker_t *w = &env->workers[idx];
        int rc               = pmw_proc_stop(w->proc, 60000);
        w->proc              = NULL;
        show_log(env, idx);
        return rc;
}

pid_t pmw_wenv_worker_pid(const pmw_wenv_t *env, int idx) {
        assert_non_null(env->workers[idx].proc);
        return pmw_proc_pid(env->workers[idx].proc);
}

static size_t collect(char *data, size_t size, size_t n, void *opaque) {
        pmw_buf_append(opaque, data, size * n);
        return size * n;
}

long pmw_wenv_http(int port,
                   const char *method,
                   const char *path,
                   const char *body,
                   char **replyp) {
        if (replyp)
                *replyp = NULL;
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        pmw_buf_t reply;
        pmw_buf_init(&reply, 1 << 20);
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply);
        if (body) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        long status = 0;
        if (curl_easy_perform(e) == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        if (replyp) {
                size_t len = pmw_buf_len(&reply);
                char *s    = malloc(len + 1);
                assert_non_null(s);
                if (len)
                        memcpy(s, pmw_buf_ptr(&reply), len);
                s[len]  = '\0';
                *replyp = s;
        }
        pmw_buf_cleanup(&reply);
        return status;
}

long pmw_wenv_ready(pmw_wenv_t *env, int idx, char **reasonp) {
        return pmw_wenv_http(env->workers[idx].http_port, "GET", "/ready", NULL,
                             reasonp);
}

bool pmw_wenv_wait_ready_status(pmw_wenv_t *env,
                                int idx,
                                long want,
                                int timeout_ms,
                                char **reasonp) {
        if (reasonp)
                *reasonp = NULL;
        for (int waited = 0;; waited += 50) {
                char *reply = NULL;
                long status = pmw_wenv_ready(env, idx, &reply);
                if (status == want || waited >= timeout_ms) {
                        if (reasonp)
                                *reasonp = reply;
                        else
                                free(reply);
                        return status == want;
                }
                free(reply);
                pmw_wenv_sleep_ms(50);
        }
}

void pmw_wenv_sim_faults(pmw_wenv_t *env, const char *specs) {
        char *reply = NULL;
        long status =
            pmw_wenv_http(env->sim_port, "POST", "/_sim/faults", specs, &reply);
        if (status != 200) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", reply);
                free(reply);
                fail_msg("postmark-sim refused the fault \"%s\": HTTP %ld %s",
                         specs, status, msg);
        }
        free(reply);
}

void pmw_wenv_sim_clear_faults(pmw_wenv_t *env) {
        assert_int_equal(
            pmw_wenv_http(env->sim_port, "DELETE", "/_sim/faults", NULL, NULL),
            200);
}

char *pmw_wenv_plain_job(const char *to, int i) {
        char *s = malloc(512);
        assert_non_null(s);
        snprintf(s, 512,
                 "{\"From\":\"sender@example.com\",\"To\":\"%s\","
                 "\"Subject\":\"Order %d\",\"TextBody\":\"Thanks for order "
                 "%d.\",\"Tag\":\"orders\"}",
                 to, i, i);
        return s;
}

void pmw_wenv_produce_plain(pmw_wenv_t *env,
                            const char *prefix,
                            size_t count,
                            int partitions) {
        for (size_t i = 0; i < count; i++) {
                char id[64], to[64];
                snprintf(id, sizeof(id), "%s-%zu", prefix, i);
                snprintf(to, sizeof(to), "%s%zu@example.org", prefix, i);
                char *v            = pmw_wenv_plain_job(to, (int)i);
                const char *hdrs[] = {"job-id", id, "x-trace", "trace-1", NULL};
                int32_t part =
                    partitions > 0 ? (int32_t)(i % (size_t)partitions) : -1;
                pmw_wenv_check(pmw_ktest_produce(env->producer, PMW_WENV_JOBS,
                                                 part, NULL, 0, v, strlen(v),
                                                 hdrs),
                               "produce");
                free(v);
        }
        pmw_wenv_check(pmw_ktest_flush(env->producer, 60000), "flush jobs");
}

pmw_ktest_records_t *pmw_wenv_read_topic(pmw_wenv_t *env,
                                         const char *topic,
                                         size_t expect,
                                         int quiet_ms,
                                         int timeout_ms) {
        pmw_ktest_records_t *recs = NULL;
        pmw_wenv_check(pmw_ktest_consume_all(env->bootstrap, topic, expect,
                                             quiet_ms, timeout_ms, &recs),
                       topic);
        return recs;
}

json_t *pmw_wenv_parse(const pmw_ktest_record_t *rec) {
        json_error_t jerr;
        json_t *v = json_loadb(rec->value, rec->len, 0, &jerr);
        if (!v)
                fail_msg("not JSON (%s): %.*s", jerr.text, (int)rec->len,
                         rec->value);
        return v;
}

const char *pmw_wenv_jstr(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (!json_is_string(v))
                fail_msg("field %s is not a string", key);
        return json_string_value(v);
}

json_int_t pmw_wenv_jint(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        if (!json_is_integer(v))
                fail_msg("field %s is not an integer", key);
        return json_integer_value(v);
}

/* Orders records by key, then value, so a job's records are adjacent and
 * identical ones next to each other. */
static int cmp_record(const void *a, const void *b) {
        const pmw_ktest_record_t *x = *(const pmw_ktest_record_t *const *)a;
        const pmw_ktest_record_t *y = *(const pmw_ktest_record_t *const *)b;
        int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
        if (c)
                return c;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return memcmp(x->value, y->value, x->len);
}

static bool same_key(const pmw_ktest_record_t *x, const pmw_ktest_record_t *y) {
        return !strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static bool same_value(const pmw_ktest_record_t *x,
                       const pmw_ktest_record_t *y) {
        return x->len == y->len && !memcmp(x->value, y->value, x->len);
}

pmw_wenv_tally_t pmw_wenv_tally(const pmw_ktest_records_t *recs) {
        pmw_wenv_tally_t t = {.records = recs->cnt};
        const pmw_ktest_record_t **v =
            calloc(recs->cnt + 1, sizeof(*v)); /* +1: never calloc(0) */
        assert_non_null(v);
        for (size_t i = 0; i < recs->cnt; i++) {
                v[i]            = &recs->v[i];
                const char *val = recs->v[i].value ? recs->v[i].value : "";
                t.sent += strstr(val, "\"status\":\"sent\"") != NULL;
                t.failed += strstr(val, "\"status\":\"failed\"") != NULL;
        }
        qsort(v, recs->cnt, sizeof(*v), cmp_record);
        for (size_t i = 0; i < recs->cnt;) {
                size_t end = i + 1;
                while (end < recs->cnt && same_key(v[i], v[end]))
                        end++;
                t.jobs++;
                if (end - i > 1)
                        t.duplicated++;
                bool differ = false;
                for (size_t k = i + 1; k < end; k++) {
                        if (same_value(v[k], v[k - 1]))
                                t.copies++;
                        else
                                differ = true;
                }
                t.differing += differ;
                i = end;
        }
        free(v);
        return t;
}

static int cmp_send(const void *a, const void *b) {
        return strcmp(((const pmw_wenv_send_t *)a)->job_id,
                      ((const pmw_wenv_send_t *)b)->job_id);
}

pmw_wenv_sends_t *pmw_wenv_read_sends(pmw_wenv_t *env) {
        pmw_wenv_sleep_ms(1500);
        pmw_wenv_sends_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        FILE *f = fopen(env->record_path, "r");
        if (!f)
                return s;
        size_t cap = 0, linecap = 0;
        char *line = NULL;
        /* One entry per line first; then sorted and merged per job id. */
        while (getline(&line, &linecap, f) > 0) {
                s->messages++;
                json_error_t jerr;
                json_t *rec = json_loads(line, 0, &jerr);
                if (!rec)
                        continue;
                json_t *md = json_object_get(json_object_get(rec, "message"),
                                             "Metadata");
                const char *id =
                    json_string_value(json_object_get(md, "pmw_job_id"));
                const char *token =
                    json_string_value(json_object_get(rec, "token"));
                if (id) {
                        if (s->cnt == cap) {
                                cap  = cap ? 2 * cap : 1024;
                                s->v = realloc(s->v, cap * sizeof(*s->v));
                                assert_non_null(s->v);
                        }
                        s->v[s->cnt++] = (pmw_wenv_send_t) {
                            strdup(id), strdup(token ? token : ""), 1};
                }
                json_decref(rec);
        }
        free(line);
        fclose(f);
        /* qsort is not stable: count holds each line's position until the
         * merge, so the token of a job's last send can be found. */
        for (size_t i = 0; i < s->cnt; i++)
                s->v[i].count = i;
        qsort(s->v, s->cnt, sizeof(*s->v), cmp_send);
        size_t out = 0;
        for (size_t i = 0; i < s->cnt;) {
                size_t end  = i + 1;
                size_t last = i;
                while (end < s->cnt &&
                       !strcmp(s->v[end].job_id, s->v[i].job_id)) {
                        if (s->v[end].count > s->v[last].count)
                                last = end;
                        end++;
                }
                pmw_wenv_send_t merged = {s->v[i].job_id, s->v[last].token,
                                          end - i};
                for (size_t k = i; k < end; k++) {
                        if (k != i)
                                free(s->v[k].job_id);
                        if (k != last)
                                free(s->v[k].token);
                }
                s->v[out++] = merged;
                i           = end;
        }
        s->cnt = out;
        return s;
}

size_t pmw_wenv_sends_of(const pmw_wenv_sends_t *sends,
                         const char *job_id,
                         const char **tokenp) {
        if (tokenp)
                *tokenp = NULL;
        pmw_wenv_send_t key = {.job_id = (char *)job_id};
        const pmw_wenv_send_t *found =
            sends->cnt
                ? bsearch(&key, sends->v, sends->cnt, sizeof(key), cmp_send)
                : NULL;
        if (!found)
                return 0;
        if (tokenp)
                *tokenp = found->token;
        return found->count;
}

void pmw_wenv_sends_free(pmw_wenv_sends_t *sends) {
        if (!sends)
                return;
        for (size_t i = 0; i < sends->cnt; i++) {
                free(sends->v[i].job_id);
                free(sends->v[i].token);
        }
        free(sends->v);
        free(sends);
}

/* Counts the lines of worker idx's log containing needle, printing the
 * first max_print of them. */
static size_t
scan_log(const pmw_wenv_t *env, int idx, const char *needle, size_t max_print) {
        FILE *f = fopen(env->workers[idx].log_path, "r");
        if (!f)
                return 0;
        size_t n = 0, cap = 0;
        char *line = NULL;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
                if (!strstr(line, needle))
                        continue;
                if (n < max_print)
                        print_message(
                            "worker %d: %.*s\n", idx,
                            (int)(line[len - 1] == '\n' ? len - 1 : len), line);
                n++;
        }
        free(line);
        fclose(f);
        return n;
}

size_t pmw_wenv_log_count(const pmw_wenv_t *env, int idx, const char *needle) {
        return scan_log(env, idx, needle, 0);
}

void pmw_wenv_log_print(const pmw_wenv_t *env,
                        int idx,
                        const char *needle,
                        size_t max) {
        scan_log(env, idx, needle, max);
}
