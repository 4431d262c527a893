/*
 * worker/servers.c: see servers.h.
 */
#include "worker/servers.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/ratectl.h"
#include "common/ratelimit.h"

typedef struct server_s {
        const pmw_server_conf_t *conf; /* borrowed from the config */
        char *token;                   /* protected by lock */
        unsigned failures;             /* in a row; protected by lock */
        bool held;                     /* protected by lock */
        pmw_hold_reason_t reason;      /* protected by lock */
        char why[256];                 /* protected by lock */
        bool probing;                  /* protected by lock */
        unsigned probes;               /* failed probes; protected by lock */
        int64_t next_probe_us;         /* protected by lock */
        long waiting;                  /* held jobs; protected by lock */
        pmw_bucket_t msg_bucket;       /* protected by lock */
        pmw_bucket_t req_bucket;       /* protected by lock */
        pmw_ratectl_t msg_ctl;         /* protected by lock */
        pmw_ratectl_t req_ctl;         /* protected by lock */
} server_t;

struct pmw_servers_s {
        const pmw_config_t *cfg; /* immutable */
        server_t *servers;
        size_t cnt; /* immutable */
        pthread_mutex_t lock;
        uint64_t rng; /* protected by lock */
};

pmw_servers_t *pmw_servers_new(const pmw_config_t *cfg, uint64_t seed) {
        pmw_servers_t *s = pmw_calloc(1, sizeof(*s));
        s->cfg           = cfg;
        s->cnt           = cfg->postmark.server_cnt;
        s->servers       = pmw_calloc(s->cnt ? s->cnt : 1, sizeof(*s->servers));
        s->rng           = seed;
        double mps       = cfg->rate_limit.messages_per_second;
        double rps       = cfg->rate_limit.requests_per_second;
        for (size_t i = 0; i < s->cnt; i++) {
                server_t *srv = &s->servers[i];
                srv->conf     = &cfg->postmark.servers[i];
                srv->token    = pmw_strdup(cfg->postmark.servers[i].token);
                /* A burst of one full batch: with the buckets' debt rule
                 * the long-run rate is exact whatever the batch size. */
                pmw_bucket_init(&srv->msg_bucket, mps,
                                (double)cfg->batch.max_messages, 0);
                pmw_bucket_init(&srv->req_bucket, rps, 1, 0);
                /* Floors: a 429 storm slows sending, never stops it. */
                pmw_ratectl_init(&srv->msg_ctl, mps, 10, 0);
                pmw_ratectl_init(&srv->req_ctl, rps, 1, 0);
        }
        pthread_mutex_init(&s->lock, NULL);
        return s;
}

void pmw_servers_destroy(pmw_servers_t *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->cnt; i++)
                free(s->servers[i].token);
        free(s->servers);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

size_t pmw_servers_count(const pmw_servers_t *s) {
        return s->cnt;
}

int pmw_servers_find(const pmw_servers_t *s, const char *name) {
        for (size_t i = 0; i < s->cnt; i++)
                if (!strcmp(s->servers[i].conf->name, name))
                        return (int)i;
        return -1;
}

const char *pmw_servers_name(const pmw_servers_t *s, int idx) {
        return s->servers[idx].conf->name;
}

char *pmw_servers_token(pmw_servers_t *s, int idx) {
        pthread_mutex_lock(&s->lock);
        char *token = pmw_strdup(s->servers[idx].token);
        pthread_mutex_unlock(&s->lock);
        return token;
}

/* Schedules the next probe. Called under lock. */
static void schedule_probe(pmw_servers_t *s, server_t *srv, int64_t now_us) {
        int64_t ms = pmw_backoff_delay_ms(s->cfg->retry.initial_backoff_ms,
                                          s->cfg->retry.max_backoff_ms,
                                          srv->probes + 1, -1, &s->rng);
        /* Full jitter may say 0: a probe a moment later is still a probe,
         * but never a hot loop against a failing API. */
        if (ms < s->cfg->retry.initial_backoff_ms / 2)
                ms = s->cfg->retry.initial_backoff_ms / 2;
        srv->next_probe_us = now_us + ms * 1000;
}

/* Called under lock. */
static void hold_locked(pmw_servers_t *s,
                        server_t *srv,
                        pmw_hold_reason_t reason,
                        const char *why,
                        int64_t now_us) {
        if (srv->held) {
                /* The latest answer says what is wrong now. Above all, an
                 * outage whose probe is answered 401 must re-read token_file
                 * before the next probe (CONTRACT 3.5), or a token rotated
                 * during the outage would keep the server held for good.
                 * The probe schedule stands. */
                if (reason != srv->reason) {
                        srv->reason = reason;
                        snprintf(srv->why, sizeof(srv->why), "%s", why);
                        pmw_log(PMW_LOG_WARN, "hold",
                                "server=%s hold=%s: still on hold, now for: %s",
                                srv->conf->name, pmw_hold_reason_name(reason),
                                why);
                }
                return;
        }
        srv->held   = true;
        srv->reason = reason;
        srv->probes = 0;
        snprintf(srv->why, sizeof(srv->why), "%s", why);
        schedule_probe(s, srv, now_us);
        pmw_log(PMW_LOG_ERROR, "hold",
                "server=%s hold=%s probe_in_ms=%" PRId64
                ": on hold, consumption "
                "paused, jobs kept: %s",
                srv->conf->name, pmw_hold_reason_name(reason),
                (srv->next_probe_us - now_us) / 1000, why);
}

bool pmw_servers_success(pmw_servers_t *s, int idx) {
        server_t *srv = &s->servers[idx];
        bool released = false;
        pthread_mutex_lock(&s->lock);
        srv->failures = 0;
        if (srv->held) {
                srv->held   = false;
                srv->reason = PMW_HOLD_NONE;
                released    = true;
                pmw_log(
                    PMW_LOG_NOTICE, "hold",
                    "server=%s failed_probes=%u: released, Postmark accepts "
                    "requests again",
                    srv->conf->name, srv->probes);
        }
        pthread_mutex_unlock(&s->lock);
        return released;
}

bool pmw_servers_failure(pmw_servers_t *s,
                         int idx,
                         const char *why,
                         int64_t now_us) {
        server_t *srv = &s->servers[idx];
        pthread_mutex_lock(&s->lock);
        srv->failures++;
        if (!srv->held &&
            srv->failures >= (unsigned)s->cfg->retry.hold_after_failures) {
                char text[320];
                snprintf(text, sizeof(text),
                         "%u whole-request failures in a row, the last: %s",
                         srv->failures, why);
                hold_locked(s, srv, PMW_HOLD_OUTAGE, text, now_us);
        }
        bool held = srv->held;
        pthread_mutex_unlock(&s->lock);
        return held;
}

void pmw_servers_hold(pmw_servers_t *s,
                      int idx,
                      pmw_hold_reason_t reason,
                      const char *why,
                      int64_t now_us) {
        pthread_mutex_lock(&s->lock);
        hold_locked(s, &s->servers[idx], reason, why, now_us);
        pthread_mutex_unlock(&s->lock);
}

bool pmw_servers_is_held(pmw_servers_t *s, int idx) {
        pthread_mutex_lock(&s->lock);
        bool held = s->servers[idx].held;
        pthread_mutex_unlock(&s->lock);
        return held;
}

size_t pmw_servers_held_count(pmw_servers_t *s) {
        size_t n = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->cnt; i++)
                n += s->servers[i].held;
        pthread_mutex_unlock(&s->lock);
        return n;
}

void pmw_servers_describe_holds(pmw_servers_t *s, pmw_buf_t *out) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->cnt; i++) {
                const server_t *srv = &s->servers[i];
                if (!srv->held)
                        continue;
                if (pmw_buf_len(out))
                        pmw_buf_append_str(out, "; ");
                pmw_buf_appendf(out, "server %s on hold (%s): %s",
                                srv->conf->name,
                                pmw_hold_reason_name(srv->reason), srv->why);
        }
        pthread_mutex_unlock(&s->lock);
}

/* After a 401 the token may have been rotated in its file: read it again
 * before the probe. Called under lock. */
static void reread_token(server_t *srv) {
        if (srv->reason != PMW_HOLD_TOKEN || !srv->conf->token_file)
                return;
        char *token = NULL;
        pmw_error_t *err =
            pmw_config_read_token_file(srv->conf->token_file, &token);
        if (err) {
                pmw_log(PMW_LOG_WARN, "hold", "server=%s: %s", srv->conf->name,
                        pmw_error_string(err));
                pmw_error_destroy(err);
                return;
        }
        pmw_log_add_secret(token);
        if (strcmp(token, srv->token)) {
                pmw_log(PMW_LOG_NOTICE, "hold",
                        "server=%s: token_file %s has a new token; probing "
                        "with it",
                        srv->conf->name, srv->conf->token_file);
                free(srv->token);
                srv->token = token;
        } else {
                free(token);
        }
}

bool pmw_servers_claim_probe(pmw_servers_t *s, int idx, int64_t now_us) {
        server_t *srv = &s->servers[idx];
        bool claimed  = false;
        pthread_mutex_lock(&s->lock);
        if (srv->held && !srv->probing && now_us >= srv->next_probe_us) {
                srv->probing = true;
                claimed      = true;
                reread_token(srv);
        }
        pthread_mutex_unlock(&s->lock);
        return claimed;
}

void pmw_servers_probe_done(pmw_servers_t *s,
                            int idx,
                            bool released,
                            int64_t now_us) {
        server_t *srv = &s->servers[idx];
        pthread_mutex_lock(&s->lock);
        srv->probing = false;
        if (!released && srv->held) {
                srv->probes++;
                schedule_probe(s, srv, now_us);
                pmw_log(PMW_LOG_WARN, "hold",
                        "server=%s probe=%u next_probe_in_ms=%" PRId64
                        ": still on hold",
                        srv->conf->name, srv->probes,
                        (srv->next_probe_us - now_us) / 1000);
        }
        pthread_mutex_unlock(&s->lock);
}

int64_t pmw_servers_next_probe_us(pmw_servers_t *s) {
        int64_t next = INT64_MAX;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->cnt; i++) {
                const server_t *srv = &s->servers[i];
                if (srv->held && !srv->probing && srv->next_probe_us < next)
                        next = srv->next_probe_us;
        }
        pthread_mutex_unlock(&s->lock);
        return next;
}

void pmw_servers_add_waiting(pmw_servers_t *s, int idx, long delta) {
        pthread_mutex_lock(&s->lock);
        s->servers[idx].waiting += delta;
        pthread_mutex_unlock(&s->lock);
}

long pmw_servers_waiting(pmw_servers_t *s, int idx) {
        pthread_mutex_lock(&s->lock);
        long n = s->servers[idx].waiting;
        pthread_mutex_unlock(&s->lock);
        return n;
}

void pmw_servers_probe_cancel(pmw_servers_t *s, int idx) {
        pthread_mutex_lock(&s->lock);
        s->servers[idx].probing = false;
        pthread_mutex_unlock(&s->lock);
}

int64_t pmw_servers_rate_take(pmw_servers_t *s,
                              int idx,
                              size_t messages,
                              int64_t now_us) {
        server_t *srv = &s->servers[idx];
        pthread_mutex_lock(&s->lock);
        int64_t wait =
            PMW_MAX(pmw_bucket_wait(&srv->msg_bucket, (double)messages, now_us),
                    pmw_bucket_wait(&srv->req_bucket, 1, now_us));
        if (wait == 0) {
                (void)pmw_bucket_take(&srv->msg_bucket, (double)messages,
                                      now_us);
                (void)pmw_bucket_take(&srv->req_bucket, 1, now_us);
        }
        pthread_mutex_unlock(&s->lock);
        return wait;
}

/* Applies the controllers' limits to the buckets. Called under lock. */
static void apply_rates(server_t *srv, int64_t now_us) {
        pmw_bucket_set_rate(&srv->msg_bucket, pmw_ratectl_rate(&srv->msg_ctl),
                            now_us);
        pmw_bucket_set_rate(&srv->req_bucket, pmw_ratectl_rate(&srv->req_ctl),
                            now_us);
}

/* One rate for a log line: "750 messages/s" or "no messages/s limit". */
static void rate_text(char *buf, size_t size, double rate, const char *unit) {
        if (rate > 0)
                snprintf(buf, size, "%.0f %s/s", rate, unit);
        else
                snprintf(buf, size, "no %s/s limit", unit);
}

/* Both rates of the server for a log line. Called under lock. */
static void describe_rates(const server_t *srv, char *buf, size_t size) {
        char m[48], r[48];
        rate_text(m, sizeof(m), pmw_ratectl_rate(&srv->msg_ctl), "messages");
        rate_text(r, sizeof(r), pmw_ratectl_rate(&srv->req_ctl), "requests");
        snprintf(buf, size, "%s, %s", m, r);
}

void pmw_servers_rate_throttled(pmw_servers_t *s, int idx, int64_t now_us) {
        server_t *srv = &s->servers[idx];
        pthread_mutex_lock(&s->lock);
        /* A 429 does not say which limit was passed. Messages per second
         * always come down (fewer messages also means fewer full
         * batches); requests per second only when configured, else a
         * period of small batches would cap the messages far below what
         * Postmark takes. */
        bool changed = pmw_ratectl_throttled(&srv->msg_ctl, now_us);
        if (s->cfg->rate_limit.requests_per_second > 0)
                changed =
                    pmw_ratectl_throttled(&srv->req_ctl, now_us) || changed;
        if (changed) {
                char text[128];
                apply_rates(srv, now_us);
                describe_rates(srv, text, sizeof(text));
                pmw_log(PMW_LOG_WARN, "rate",
                        "server=%s: Postmark answered 429; sending at most "
                        "%s",
                        srv->conf->name, text);
        }
        pthread_mutex_unlock(&s->lock);
}

void pmw_servers_rate_success(pmw_servers_t *s,
                              int idx,
                              size_t messages,
                              int64_t now_us) {
        server_t *srv = &s->servers[idx];
        pthread_mutex_lock(&s->lock);
        pmw_ratectl_accepted(&srv->msg_ctl, (double)messages, now_us);
        pmw_ratectl_accepted(&srv->req_ctl, 1, now_us);
        bool changed = pmw_ratectl_success(&srv->msg_ctl, now_us);
        changed      = pmw_ratectl_success(&srv->req_ctl, now_us) || changed;
        if (changed) {
                char text[128];
                apply_rates(srv, now_us);
                describe_rates(srv, text, sizeof(text));
                double m = pmw_ratectl_rate(&srv->msg_ctl);
                double r = pmw_ratectl_rate(&srv->req_ctl);
                /* Back where configuration put it: worth a NOTICE. */
                bool home = m == s->cfg->rate_limit.messages_per_second &&
                            r == s->cfg->rate_limit.requests_per_second;
                pmw_log(home ? PMW_LOG_NOTICE : PMW_LOG_DEBUG, "rate",
                        "server=%s: rate %s %s", srv->conf->name,
                        home ? "back to" : "raised to", text);
        }
        pthread_mutex_unlock(&s->lock);
}
