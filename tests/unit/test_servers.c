/* Unit tests for worker/servers: names and tokens, the outage counter, the
 * hold (CONTRACT 3.5), the probe schedule, waiting jobs and the token_file
 * re-read after a 401. Time is passed in (us); logs go to a buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/log.h"
#include "config/config.h"
#include "worker/servers.h"

#define T0         INT64_C(1000000000000) /* an arbitrary monotonic time */
#define MS         INT64_C(1000)          /* one millisecond in us */
#define INITIAL_MS 1000
#define MAX_MS     8000
#define SEED       UINT64_C(0x5eed)

#define TOKEN_DEFAULT "tok-default-0001"
#define TOKEN_BILLING "tok-billing-0002"

/* The log lines of a test. */
typedef struct fixture_s {
        pmw_buf_t log;
        char token_path[64]; /* a token_file, or "" */
} fixture_t;

static void sink(void *opaque, const char *line, size_t len) {
        fixture_t *f = opaque;
        pmw_buf_append(&f->log, line, len);
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        pmw_buf_init(&f->log, 1 << 20);
        pmw_log_set_sink(sink, f);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        pmw_log_set_sink(NULL, NULL);
        pmw_log_clear_secrets();
        pmw_buf_cleanup(&f->log);
        if (f->token_path[0])
                unlink(f->token_path);
        free(f);
        return 0;
}

/* How many log lines contain s. */
static size_t log_count(fixture_t *f, const char *s) {
        size_t n      = 0;
        const char *p = pmw_buf_ptr(&f->log);
        while ((p = strstr(p, s))) {
                n++;
                p += strlen(s);
        }
        return n;
}

/* Loads a config from --set style settings and no environment. */
static pmw_config_t *load(const char *const *sets) {
        size_t n = 0;
        while (sets[n])
                n++;
        char *const env[]       = {NULL};
        pmw_config_source_t src = {
            .path = NULL, .sets = sets, .set_cnt = n, .environ = env};
        pmw_config_t *cfg = NULL;
        pmw_error_t *err  = pmw_config_load(&src, &cfg);
        if (err)
                fail_msg("config: %s", pmw_error_string(err));
        assert_non_null(cfg);
        return cfg;
}

/* Two servers with literal tokens; hold after `after` failures. */
static pmw_config_t *load_two(const char *after) {
        char hold[64];
        snprintf(hold, sizeof(hold), "retry.hold_after_failures=%s", after);
        return load((const char *const[]) {
            "postmark.servers.default.token=" TOKEN_DEFAULT,
            "postmark.servers.billing.token=" TOKEN_BILLING,
            "retry.initial_backoff_ms=1000", "retry.max_backoff_ms=8000", hold,
            NULL});
}

static void write_file(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
}

/* describe_holds() into a string the caller frees. */
static char *describe(pmw_servers_t *s) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 16);
        pmw_servers_describe_holds(s, &buf);
        assert_false(pmw_buf_failed(&buf));
        return pmw_buf_take(&buf, NULL);
}

static void assert_describe(pmw_servers_t *s, const char *want) {
        char *got = describe(s);
        assert_string_equal(got, want);
        free(got);
}

static void assert_token(pmw_servers_t *s, int idx, const char *want) {
        char *token = pmw_servers_token(s, idx);
        assert_string_equal(token, want);
        free(token);
}

/* Checks that the next probe of the only held server is due within the
 * backoff window of probe number `attempt` scheduled at now. */
static int64_t assert_probe_window(pmw_servers_t *s, int64_t now, int attempt) {
        int64_t cap = INITIAL_MS;
        for (int i = 1; i < attempt && cap < MAX_MS; i++)
                cap *= 2;
        if (cap > MAX_MS)
                cap = MAX_MS;
        int64_t next = pmw_servers_next_probe_us(s);
        assert_true(next >= now + INITIAL_MS / 2 * MS);
        assert_true(next <= now + cap * MS);
        return next;
}

static void test_find_name_token(void **state) {
        (void)state;
        pmw_config_t *cfg = load_two("3");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        assert_int_equal(pmw_servers_count(s), 2);
        int d = pmw_servers_find(s, "default");
        int b = pmw_servers_find(s, "billing");
        assert_true(d >= 0 && d < 2);
        assert_true(b >= 0 && b < 2);
        assert_int_not_equal(d, b);
        assert_int_equal(pmw_servers_find(s, "nope"), -1);
        assert_int_equal(pmw_servers_find(s, "Default"), -1);
        assert_int_equal(pmw_servers_find(s, "bill"), -1);
        assert_int_equal(pmw_servers_find(s, ""), -1);
        assert_string_equal(pmw_servers_name(s, d), "default");
        assert_string_equal(pmw_servers_name(s, b), "billing");

        /* Each call gives a fresh copy. */
        char *t1 = pmw_servers_token(s, d);
        char *t2 = pmw_servers_token(s, d);
        assert_ptr_not_equal(t1, t2);
        assert_string_equal(t1, TOKEN_DEFAULT);
        assert_string_equal(t2, TOKEN_DEFAULT);
        free(t1);
        free(t2);
        assert_token(s, b, TOKEN_BILLING);

        /* Nothing held at start. */
        assert_false(pmw_servers_is_held(s, d));
        assert_false(pmw_servers_is_held(s, b));
        assert_int_equal(pmw_servers_held_count(s), 0);
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        assert_false(pmw_servers_claim_probe(s, d, INT64_MAX));
        assert_describe(s, "");
        assert_false(pmw_servers_success(s, d));
        assert_int_equal(pmw_servers_waiting(s, d), 0);
        pmw_servers_destroy(s);
        pmw_servers_destroy(NULL);
        pmw_config_destroy(cfg);

        /* The built-in list: one server, "default". */
        cfg = load((const char *const[]) {
            "postmark.servers.default.token=" TOKEN_DEFAULT, NULL});
        s   = pmw_servers_new(cfg, SEED);
        assert_int_equal(pmw_servers_count(s), 1);
        assert_int_equal(pmw_servers_find(s, "default"), 0);
        assert_int_equal(pmw_servers_find(s, "billing"), -1);
        assert_token(s, 0, TOKEN_DEFAULT);
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

static void test_outage(void **state) {
        fixture_t *f      = *state;
        pmw_config_t *cfg = load_two("3");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");
        int b             = pmw_servers_find(s, "billing");

        /* Below the threshold nothing happens; another server's failures
         * do not count. */
        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0));
        assert_false(pmw_servers_failure(s, b, "HTTP 500", T0));
        assert_false(pmw_servers_failure(s, b, "HTTP 500", T0));
        assert_false(pmw_servers_failure(s, d, "HTTP 502", T0 + 1));
        assert_false(pmw_servers_is_held(s, d));
        assert_int_equal(pmw_servers_held_count(s), 0);
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        assert_int_equal(log_count(f, " ERROR "), 0);

        /* The third in a row: on hold, one ERROR line. */
        assert_true(pmw_servers_failure(s, d, "HTTP 504: timeout", T0 + 2));
        assert_true(pmw_servers_is_held(s, d));
        assert_false(pmw_servers_is_held(s, b));
        assert_int_equal(pmw_servers_held_count(s), 1);
        assert_describe(s,
                        "server default on hold (outage): 3 whole-request "
                        "failures in a row, the last: HTTP 504: timeout");
        assert_int_equal(log_count(f,
                                   " ERROR hold: server=default hold=outage "
                                   "probe_in_ms="),
                         1);
        int64_t next = assert_probe_window(s, T0 + 2, 1);

        /* More failures: still held, same reason, same schedule, no new
         * ERROR line. */
        assert_true(pmw_servers_failure(s, d, "HTTP 500", T0 + 3));
        assert_true(pmw_servers_failure(s, d, "HTTP 500", T0 + 4));
        assert_describe(s,
                        "server default on hold (outage): 3 whole-request "
                        "failures in a row, the last: HTTP 504: timeout");
        assert_int_equal(pmw_servers_next_probe_us(s), next);
        assert_int_equal(log_count(f, " ERROR "), 1);

        /* billing's count went on: its third failure holds it too. */
        assert_true(pmw_servers_failure(s, b, "HTTP 500", T0 + 5));
        assert_int_equal(pmw_servers_held_count(s), 2);
        assert_int_equal(log_count(f, " ERROR "), 2);

        /* Success releases once, with one NOTICE line. */
        assert_true(pmw_servers_success(s, d));
        assert_false(pmw_servers_is_held(s, d));
        assert_int_equal(pmw_servers_held_count(s), 1);
        assert_int_equal(
            log_count(f, " NOTICE hold: server=default failed_probes="), 1);
        assert_false(pmw_servers_success(s, d));
        assert_int_equal(log_count(f, " NOTICE hold: "), 1);
        assert_describe(s,
                        "server billing on hold (outage): 3 whole-request "
                        "failures in a row, the last: HTTP 500");
        assert_true(pmw_servers_success(s, b));
        assert_int_equal(pmw_servers_held_count(s), 0);
        assert_describe(s, "");
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);

        /* The count starts again after the release... */
        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0 + 10));
        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0 + 11));
        /* ...and after any success: the failures must be in a row. */
        assert_false(pmw_servers_success(s, d));
        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0 + 12));
        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0 + 13));
        assert_false(pmw_servers_is_held(s, d));
        assert_true(pmw_servers_failure(s, d, "HTTP 503", T0 + 14));
        assert_true(pmw_servers_is_held(s, d));
        assert_int_equal(log_count(f, " ERROR "), 3);
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);

        /* hold_after_failures = 1: the first failure holds. */
        cfg = load_two("1");
        s   = pmw_servers_new(cfg, SEED);
        d   = pmw_servers_find(s, "default");
        assert_true(pmw_servers_failure(s, d, "connection refused", T0));
        assert_describe(s,
                        "server default on hold (outage): 1 whole-request "
                        "failures in a row, the last: connection refused");
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

static void test_hold(void **state) {
        fixture_t *f      = *state;
        pmw_config_t *cfg = load_two("3");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");
        int b             = pmw_servers_find(s, "billing");

        pmw_servers_hold(s, b, PMW_HOLD_TOKEN, "HTTP 401: bad token", T0);
        assert_true(pmw_servers_is_held(s, b));
        assert_false(pmw_servers_is_held(s, d));
        assert_int_equal(pmw_servers_held_count(s), 1);
        assert_describe(s,
                        "server billing on hold (token): HTTP 401: bad "
                        "token");
        assert_int_equal(log_count(f,
                                   " ERROR hold: server=billing hold=token "
                                   "probe_in_ms="),
                         1);
        int64_t next = assert_probe_window(s, T0, 1);

        /* Again, same reason, later: nothing changes, nothing logged. */
        pmw_servers_hold(s, b, PMW_HOLD_TOKEN, "HTTP 401: other", T0 + 5 * MS);
        assert_describe(s,
                        "server billing on hold (token): HTTP 401: bad "
                        "token");
        assert_int_equal(pmw_servers_next_probe_us(s), next);
        assert_int_equal(pmw_servers_held_count(s), 1);
        assert_int_equal(log_count(f, " ERROR "), 1);
        /* Failures while held do not change the reason either. */
        for (int i = 0; i < 5; i++)
                assert_true(pmw_servers_failure(s, b, "HTTP 500", T0 + i));
        assert_describe(s,
                        "server billing on hold (token): HTTP 401: bad "
                        "token");
        assert_int_equal(pmw_servers_next_probe_us(s), next);

        /* Both held: described in server order, "; " between. */
        pmw_servers_hold(s, d, PMW_HOLD_ACCOUNT, "ErrorCode 412: no sending",
                         T0);
        assert_int_equal(pmw_servers_held_count(s), 2);
        const char *dd =
            "server default on hold (account): ErrorCode 412: "
            "no sending";
        const char *bd = "server billing on hold (token): HTTP 401: bad token";
        char want[256];
        snprintf(want, sizeof(want), "%s; %s", d < b ? dd : bd,
                 d < b ? bd : dd);
        assert_describe(s, want);
        assert_int_equal(log_count(f, " ERROR "), 2);

        /* describe appends to what the buffer holds. */
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 16);
        pmw_buf_append_str(&buf, "pipeline 0: joining");
        pmw_servers_describe_holds(s, &buf);
        snprintf(want, sizeof(want), "pipeline 0: joining; %s; %s",
                 d < b ? dd : bd, d < b ? bd : dd);
        assert_string_equal(pmw_buf_ptr(&buf), want);
        pmw_buf_cleanup(&buf);

        assert_true(pmw_servers_success(s, b));
        assert_describe(s, dd);
        assert_true(pmw_servers_success(s, d));
        assert_int_equal(pmw_servers_held_count(s), 0);

        /* Every reason by name; a long reason is cut to 255 bytes. */
        static const struct {
                pmw_hold_reason_t reason;
                const char *name;
        } reasons[] = {
            {PMW_HOLD_TOKEN, "token"},       {PMW_HOLD_ACCOUNT, "account"},
            {PMW_HOLD_ENDPOINT, "endpoint"}, {PMW_HOLD_BLOCKED, "blocked"},
            {PMW_HOLD_OUTAGE, "outage"},
        };
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
                pmw_servers_hold(s, d, reasons[i].reason, "why", T0);
                snprintf(want, sizeof(want), "server default on hold (%s): why",
                         reasons[i].name);
                assert_describe(s, want);
                assert_true(pmw_servers_success(s, d));
        }
        char why[400];
        memset(why, 'w', sizeof(why) - 1);
        why[sizeof(why) - 1] = '\0';
        pmw_servers_hold(s, d, PMW_HOLD_BLOCKED, why, T0);
        char *got          = describe(s);
        const char *prefix = "server default on hold (blocked): ";
        assert_int_equal(strlen(got), strlen(prefix) + 255);
        assert_memory_equal(got, prefix, strlen(prefix));
        assert_memory_equal(got + strlen(prefix), why, 255);
        free(got);
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

/* A different reason while held replaces the old one (the latest answer
 * says what is wrong now), without a new schedule. */
static void test_hold_reason_changes(void **state) {
        fixture_t *f      = *state;
        pmw_config_t *cfg = load_two("2");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");

        assert_false(pmw_servers_failure(s, d, "HTTP 503", T0));
        assert_true(pmw_servers_failure(s, d, "HTTP 503", T0));
        int64_t next = assert_probe_window(s, T0, 1);
        assert_true(pmw_servers_claim_probe(s, d, next));
        /* The probe is answered 401. */
        pmw_servers_hold(s, d, PMW_HOLD_TOKEN, "HTTP 401: bad token", next);
        assert_describe(s,
                        "server default on hold (token): HTTP 401: bad "
                        "token");
        assert_int_equal(pmw_servers_held_count(s), 1);
        assert_int_equal(log_count(f, " ERROR "), 1);
        assert_int_equal(
            log_count(f,
                      " WARN hold: server=default hold=token: still on "
                      "hold, now for: HTTP 401: bad token"),
            1);
        /* Still probing: the probe's own end schedules the next one. */
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        pmw_servers_probe_done(s, d, false, next + MS);
        assert_probe_window(s, next + MS, 2);
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

static void test_probe_schedule(void **state) {
        fixture_t *f      = *state;
        pmw_config_t *cfg = load_two("3");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");
        int b             = pmw_servers_find(s, "billing");

        pmw_servers_hold(s, d, PMW_HOLD_ENDPOINT, "HTTP 404", T0);
        int64_t next = assert_probe_window(s, T0, 1);
        /* Not before it is due; never for a server that is not held. */
        assert_false(pmw_servers_claim_probe(s, d, T0));
        assert_false(pmw_servers_claim_probe(s, d, next - 1));
        assert_false(pmw_servers_claim_probe(s, b, next));
        assert_true(pmw_servers_claim_probe(s, d, next));
        /* One probe at a time, however late. */
        assert_false(pmw_servers_claim_probe(s, d, next));
        assert_false(pmw_servers_claim_probe(s, d, next + 3600 * 1000 * MS));
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        assert_true(pmw_servers_is_held(s, d));

        /* Failed probes back off: window k is [initial/2, min(max,
         * initial * 2^(k-1))]; one WARN per failed probe. */
        int64_t now     = next + 250 * MS;
        int floor_hits  = 0;
        int64_t longest = 0;
        for (int k = 2; k <= 200; k++) {
                pmw_servers_probe_done(s, d, false, now);
                assert_int_equal(log_count(f,
                                           " WARN hold: server=default "
                                           "probe="),
                                 k - 1);
                next = assert_probe_window(s, now, k);
                floor_hits += next == now + INITIAL_MS / 2 * MS;
                if (next - now > longest)
                        longest = next - now;
                assert_true(pmw_servers_is_held(s, d));
                assert_false(pmw_servers_claim_probe(s, d, next - 1));
                assert_true(pmw_servers_claim_probe(s, d, next));
                assert_false(pmw_servers_claim_probe(s, d, next));
                now = next + 10 * MS;
        }
        /* Full jitter below initial/2 is raised to it; the cap is reached. */
        assert_true(floor_hits > 0);
        assert_true(longest > MAX_MS / 2 * MS);
        assert_true(longest <= MAX_MS * MS);

        /* The probe succeeded: released, nothing more to probe. */
        assert_true(pmw_servers_success(s, d));
        pmw_servers_probe_done(s, d, true, now);
        assert_false(pmw_servers_is_held(s, d));
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        assert_false(pmw_servers_claim_probe(s, d, INT64_MAX));
        assert_int_equal(log_count(f, " WARN "), 199);

        /* A new hold starts the schedule over (probe 1 again). */
        pmw_servers_hold(s, d, PMW_HOLD_ACCOUNT, "ErrorCode 405", now);
        next = assert_probe_window(s, now, 1);
        assert_true(pmw_servers_claim_probe(s, d, next));
        /* Released by the probe's answer and held again by one of its
         * messages (per-message 405): the fresh hold's schedule stands. */
        assert_true(pmw_servers_success(s, d));
        pmw_servers_hold(s, d, PMW_HOLD_ACCOUNT, "ErrorCode 405", next);
        /* Still probing: nothing to claim until the probe ends. */
        assert_int_equal(pmw_servers_next_probe_us(s), INT64_MAX);
        assert_false(pmw_servers_claim_probe(s, d, INT64_MAX));
        pmw_servers_probe_done(s, d, true, next + 5 * MS);
        int64_t again = assert_probe_window(s, next, 1);
        assert_false(pmw_servers_claim_probe(s, d, again - 1));
        assert_true(pmw_servers_claim_probe(s, d, again));
        pmw_servers_probe_done(s, d, false, again);
        assert_probe_window(s, again, 2);
        assert_true(pmw_servers_success(s, d));

        /* Two held servers: the earliest due probe; each claimed alone. */
        pmw_servers_hold(s, d, PMW_HOLD_BLOCKED, "HTML 403", T0);
        pmw_servers_hold(s, b, PMW_HOLD_BLOCKED, "HTML 403", T0 + 3 * MS);
        assert_true(pmw_servers_claim_probe(s, b, INT64_MAX - 1));
        int64_t nd = pmw_servers_next_probe_us(s);
        assert_true(nd >= T0 + INITIAL_MS / 2 * MS &&
                    nd <= T0 + INITIAL_MS * MS);
        pmw_servers_probe_done(s, b, false, T0 + 3 * MS);
        int64_t both = pmw_servers_next_probe_us(s);
        assert_true(both <= nd);
        assert_true(pmw_servers_claim_probe(s, d, nd));
        int64_t nb = pmw_servers_next_probe_us(s);
        assert_true(nb >= T0 + 3 * MS + INITIAL_MS / 2 * MS);
        assert_true(nb <= T0 + 3 * MS + 2 * INITIAL_MS * MS);
        assert_true(both == PMW_MIN(nd, nb));
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);

        /* The schedule comes from the seed: the same seed, the same one. */
        cfg               = load_two("3");
        pmw_servers_t *s1 = pmw_servers_new(cfg, 42);
        pmw_servers_t *s2 = pmw_servers_new(cfg, 42);
        pmw_servers_hold(s1, 0, PMW_HOLD_OUTAGE, "x", T0);
        pmw_servers_hold(s2, 0, PMW_HOLD_OUTAGE, "x", T0);
        assert_int_equal(pmw_servers_next_probe_us(s1),
                         pmw_servers_next_probe_us(s2));
        pmw_servers_destroy(s1);
        pmw_servers_destroy(s2);
        pmw_config_destroy(cfg);
}

typedef struct adder_s {
        pmw_servers_t *s;
        int idx;
} adder_t;

static void *add_many(void *opaque) {
        adder_t *a = opaque;
        for (int i = 0; i < 10000; i++) {
                pmw_servers_add_waiting(a->s, a->idx, 3);
                pmw_servers_add_waiting(a->s, a->idx, -1);
        }
        return NULL;
}

static void test_waiting(void **state) {
        (void)state;
        pmw_config_t *cfg = load_two("3");
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");
        int b             = pmw_servers_find(s, "billing");

        pmw_servers_add_waiting(s, d, 5);
        assert_int_equal(pmw_servers_waiting(s, d), 5);
        assert_int_equal(pmw_servers_waiting(s, b), 0);
        pmw_servers_add_waiting(s, d, -2);
        pmw_servers_add_waiting(s, b, 7);
        assert_int_equal(pmw_servers_waiting(s, d), 3);
        assert_int_equal(pmw_servers_waiting(s, b), 7);
        pmw_servers_add_waiting(s, d, -3);
        pmw_servers_add_waiting(s, b, -7);
        assert_int_equal(pmw_servers_waiting(s, d), 0);
        assert_int_equal(pmw_servers_waiting(s, b), 0);

        /* From several pipelines at once (one lock): nothing is lost. */
        pthread_t th[4];
        adder_t args[4];
        for (int i = 0; i < 4; i++) {
                args[i] = (adder_t) {s, i % 2 ? b : d};
                assert_int_equal(
                    pthread_create(&th[i], NULL, add_many, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(pmw_servers_waiting(s, d), 2 * 10000 * 2);
        assert_int_equal(pmw_servers_waiting(s, b), 2 * 10000 * 2);
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

/* billing's token comes from a file the test rewrites. */
static pmw_config_t *load_token_file(fixture_t *f) {
        snprintf(f->token_path, sizeof(f->token_path),
                 "/tmp/pmw_test_servers_XXXXXX");
        int fd = mkstemp(f->token_path);
        assert_true(fd >= 0);
        close(fd);
        write_file(f->token_path, "tok-file-old-0001\n");
        char set_file[128];
        snprintf(set_file, sizeof(set_file),
                 "postmark.servers.billing.token_file=%s", f->token_path);
        return load((const char *const[]) {
            "postmark.servers.default.token=" TOKEN_DEFAULT, set_file,
            "retry.initial_backoff_ms=1000", "retry.max_backoff_ms=8000",
            "retry.hold_after_failures=2", NULL});
}

/* Holds idx for reason, then claims its first probe; returns when. */
static int64_t hold_and_claim(pmw_servers_t *s,
                              int idx,
                              pmw_hold_reason_t reason,
                              int64_t now) {
        if (reason == PMW_HOLD_OUTAGE) {
                assert_false(pmw_servers_failure(s, idx, "HTTP 503", now));
                assert_true(pmw_servers_failure(s, idx, "HTTP 503", now));
        } else {
                pmw_servers_hold(s, idx, reason, "held", now);
        }
        int64_t next = assert_probe_window(s, now, 1);
        assert_true(pmw_servers_claim_probe(s, idx, next));
        return next;
}

static void test_token_file(void **state) {
        fixture_t *f      = *state;
        pmw_config_t *cfg = load_token_file(f);
        pmw_servers_t *s  = pmw_servers_new(cfg, SEED);
        int d             = pmw_servers_find(s, "default");
        int b             = pmw_servers_find(s, "billing");
        assert_token(s, b, "tok-file-old-0001");

        /* Not re-read while the server works, nor on the hold itself. */
        write_file(f->token_path, "  tok-file-new-0002 \n");
        assert_token(s, b, "tok-file-old-0001");
        pmw_servers_hold(s, b, PMW_HOLD_TOKEN, "HTTP 401", T0);
        assert_token(s, b, "tok-file-old-0001");
        int64_t next = assert_probe_window(s, T0, 1);
        assert_false(pmw_servers_claim_probe(s, b, next - 1));
        assert_token(s, b, "tok-file-old-0001");
        /* Re-read before the probe: the probe carries the new token. */
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0002");
        assert_int_equal(log_count(f, "token_file"), 1);
        /* The new token is a secret too: masked in every later line. */
        pmw_log(PMW_LOG_NOTICE, "test", "leak tok-file-new-0002 here");
        assert_int_equal(log_count(f, "tok-file-new-0002"), 0);
        assert_int_equal(log_count(f, "leak **** here"), 1);
        /* Unchanged file: same token, no NOTICE. */
        pmw_servers_probe_done(s, b, false, next);
        next = pmw_servers_next_probe_us(s);
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0002");
        assert_int_equal(log_count(f, "token_file"), 1);

        /* Before each probe: a second rotation is picked up too. */
        write_file(f->token_path, "tok-file-new-0003");
        pmw_servers_probe_done(s, b, false, next);
        next = pmw_servers_next_probe_us(s);
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0003");

        /* A broken file keeps the token, with a WARN naming the path. */
        write_file(f->token_path, " \n");
        pmw_servers_probe_done(s, b, false, next);
        next         = pmw_servers_next_probe_us(s);
        size_t warns = log_count(f, " WARN ");
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0003");
        assert_int_equal(log_count(f, " WARN "), warns + 1);
        char want[160];
        snprintf(want, sizeof(want),
                 " WARN hold: server=billing: token file %s: the token is "
                 "empty",
                 f->token_path);
        assert_int_equal(log_count(f, want), 1);
        assert_int_equal(unlink(f->token_path), 0);
        pmw_servers_probe_done(s, b, false, next);
        next = pmw_servers_next_probe_us(s);
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0003");
        snprintf(want, sizeof(want),
                 " WARN hold: server=billing: token file %s: No such file",
                 f->token_path);
        assert_int_equal(log_count(f, want), 1);
        write_file(f->token_path, "tok-file-new-0004");
        assert_true(pmw_servers_success(s, b));
        pmw_servers_probe_done(s, b, true, next);
        /* A release does not read the file either. */
        assert_token(s, b, "tok-file-new-0003");

        /* Other reasons never re-read the file. */
        static const pmw_hold_reason_t others[] = {
            PMW_HOLD_OUTAGE, PMW_HOLD_ACCOUNT, PMW_HOLD_ENDPOINT,
            PMW_HOLD_BLOCKED};
        int64_t now = T0 + 60 * 1000 * MS;
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                now = hold_and_claim(s, b, others[i], now);
                assert_token(s, b, "tok-file-new-0003");
                assert_true(pmw_servers_success(s, b));
                pmw_servers_probe_done(s, b, true, now);
        }

        /* A TOKEN hold of a server without a token_file keeps its token. */
        hold_and_claim(s, d, PMW_HOLD_TOKEN, now);
        assert_token(s, d, TOKEN_DEFAULT);
        assert_true(pmw_servers_success(s, d));
        pmw_servers_probe_done(s, d, true, now);

        /* An outage hold whose probe is answered 401: the next probe
         * re-reads the file (CONTRACT 3.5: after a 401). */
        now = hold_and_claim(s, b, PMW_HOLD_OUTAGE, now);
        assert_token(s, b, "tok-file-new-0003");
        pmw_servers_hold(s, b, PMW_HOLD_TOKEN, "HTTP 401", now);
        pmw_servers_probe_done(s, b, false, now);
        next = pmw_servers_next_probe_us(s);
        assert_true(pmw_servers_claim_probe(s, b, next));
        assert_token(s, b, "tok-file-new-0004");
        pmw_servers_destroy(s);
        pmw_config_destroy(cfg);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_find_name_token, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hold_reason_changes, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_probe_schedule, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_waiting, setup, teardown),
            cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
