/*
 * tests/postmark-sim/sim_faults.c: see sim_faults.h.
 */
#include "tests/postmark-sim/sim_faults.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/defs.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_match.h"

/* above=: bucket units per message, so that a refill of MSGS_PER_S
 * messages per second is MSGS_PER_S units per microsecond, exactly. */
#define UNITS_PER_MSG 1000000
#define MAX_ABOVE     10000000

struct pmw_sim_faults_s {
        pthread_mutex_t lock;
        pmw_sim_fault_t **list; /* protected by lock */
        size_t count;           /* protected by lock */
        size_t cap;             /* protected by lock */
        atomic_size_t hint;     /* count, readable without the lock */
        uint64_t rng;           /* protected by lock */
};

void pmw_sim_fault_destroy(pmw_sim_fault_t *fault) {
        if (fault == NULL)
                return;
        free(fault->message);
        free(fault->rcpt);
        free(fault->spec);
        free(fault);
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp) {
        if (*s < '0' || *s > '9')
                return false;
        errno                = 0;
        char *end            = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return false;
        *vp = v;
        return true;
}

static pmw_error_t *bad(const char *spec, const char *fmt, const char *arg) {
        return pmw_error_new(PMW_ERR_INVALID, "fault '%s': %s%s", spec, fmt,
                             arg);
}

pmw_error_t *pmw_sim_fault_parse(const char *spec, pmw_sim_fault_t **faultp) {
        *faultp              = NULL;
        pmw_sim_fault_t *f   = pmw_calloc(1, sizeof(*f));
        f->retry_after       = -1;
        f->index             = -1;
        f->spec              = pmw_strdup(spec);
        char *copy           = pmw_strdup(spec);
        pmw_error_t *err     = NULL;
        int actions          = 0;
        int triggers         = 0;
        bool has_code        = false;
        bool has_delay       = false;
        bool has_retry_after = false;
        char *p              = copy;
        uint64_t v;

        if (*p == '\0') {
                err = bad(spec, "empty", "");
                goto out;
        }
        while (p != NULL) {
                char *item = p;
                char *val  = NULL;
                /* message= takes the rest, commas included. */
                if (strncmp(item, "message=", 8) == 0) {
                        p = NULL;
                } else {
                        char *comma = strchr(item, ',');
                        if (comma) {
                                *comma = '\0';
                                p      = comma + 1;
                        } else
                                p = NULL;
                }
                char *eq = strchr(item, '=');
                if (eq) {
                        *eq = '\0';
                        val = eq + 1;
                }
                const char *key = item;
                bool want_val   = true;
                if (strcmp(key, "status") == 0) {
                        if (!val || !parse_u64(val, 400, 599, &v)) {
                                err = bad(spec, "status must be 400..599", "");
                                goto out;
                        }
                        f->kind   = PMW_SIM_FAULT_STATUS;
                        f->status = (int)v;
                        actions++;
                } else if (strcmp(key, "html403") == 0) {
                        want_val = false;
                        f->kind  = PMW_SIM_FAULT_HTML403;
                        actions++;
                } else if (strcmp(key, "text502") == 0) {
                        want_val = false;
                        f->kind  = PMW_SIM_FAULT_TEXT502;
                        actions++;
                } else if (strcmp(key, "drop") == 0) {
                        want_val = false;
                        f->kind  = PMW_SIM_FAULT_DROP;
                        actions++;
                } else if (strcmp(key, "message-error") == 0) {
                        if (!val || !parse_u64(val, 1, 99999, &v)) {
                                err = bad(spec,
                                          "message-error must be an ErrorCode "
                                          "1..99999",
                                          "");
                                goto out;
                        }
                        f->kind       = PMW_SIM_FAULT_MESSAGE;
                        f->error_code = (int)v;
                        actions++;
                } else if (strcmp(key, "delay") == 0) {
                        if (!val || !parse_u64(val, 0, 3600000, &v)) {
                                err = bad(spec, "delay must be 0..3600000 ms",
                                          "");
                                goto out;
                        }
                        f->delay_ms = (int)v;
                        has_delay   = true;
                } else if (strcmp(key, "error-code") == 0) {
                        if (!val || !parse_u64(val, 0, 99999, &v)) {
                                err = bad(spec, "error-code must be 0..99999",
                                          "");
                                goto out;
                        }
                        f->error_code = (int)v;
                        has_code      = true;
                } else if (strcmp(key, "retry-after") == 0) {
                        if (!val || !parse_u64(val, 0, 86400, &v)) {
                                err = bad(spec,
                                          "retry-after must be 0..86400 "
                                          "seconds",
                                          "");
                                goto out;
                        }
                        f->retry_after  = (int)v;
                        has_retry_after = true;
                } else if (strcmp(key, "rcpt") == 0) {
                        if (!val || !*val) {
                                err = bad(spec, "rcpt needs a glob", "");
                                goto out;
                        }
                        free(f->rcpt);
                        f->rcpt = pmw_sim_lower(pmw_strdup(val));
                } else if (strcmp(key, "above") == 0) {
                        if (!val || !parse_u64(val, 1, MAX_ABOVE, &v)) {
                                err = bad(spec,
                                          "above must be 1..10000000 "
                                          "messages per second",
                                          "");
                                goto out;
                        }
                        f->above = v;
                } else if (strcmp(key, "index") == 0) {
                        if (!val || !parse_u64(val, 0, 499, &v)) {
                                err = bad(spec, "index must be 0..499", "");
                                goto out;
                        }
                        f->index = (long)v;
                } else if (strcmp(key, "message") == 0) {
                        free(f->message);
                        f->message = pmw_strdup(val);
                } else if (strcmp(key, "p") == 0) {
                        char *end = NULL;
                        errno     = 0;
                        double pr = val ? strtod(val, &end) : 0.0;
                        if (!val || errno || end == val || *end != '\0' ||
                            !(pr > 0.0 && pr <= 1.0)) {
                                err = bad(spec, "p must be in (0, 1]", "");
                                goto out;
                        }
                        f->trigger = PMW_SIM_TRIGGER_P;
                        f->p       = pr;
                        triggers++;
                } else if (strcmp(key, "next") == 0 ||
                           strcmp(key, "nth") == 0) {
                        if (!val || !parse_u64(val, 1, UINT64_MAX / 2, &v)) {
                                err =
                                    bad(spec, "next and nth must be >= 1", "");
                                goto out;
                        }
                        f->trigger = key[2] == 'x' ? PMW_SIM_TRIGGER_NEXT
                                                   : PMW_SIM_TRIGGER_NTH;
                        f->n       = v;
                        triggers++;
                } else {
                        err = bad(spec, "unknown key: ", key);
                        goto out;
                }
                if (!want_val && val) {
                        err = bad(spec, "takes no value: ", key);
                        goto out;
                }
        }

        if (actions > 1) {
                err = bad(spec,
                          "give one of status=, html403, text502, drop, "
                          "message-error=",
                          "");
                goto out;
        }
        if (actions == 0) {
                if (!has_delay) {
                        err = bad(spec,
                                  "no action: give status=, html403, text502, "
                                  "drop, delay= or message-error=",
                                  "");
                        goto out;
                }
                f->kind = PMW_SIM_FAULT_DELAY;
        }
        if (triggers > 1) {
                err = bad(spec, "give at most one of p=, next=, nth=", "");
                goto out;
        }
        if (has_code && f->kind != PMW_SIM_FAULT_STATUS) {
                err = bad(spec, "error-code= goes with status=", "");
                goto out;
        }
        if (f->kind == PMW_SIM_FAULT_STATUS && !has_code) {
                switch (f->status) {
                case 401:
                        f->error_code = 10;
                        break;
                case 429:
                        f->error_code = 429;
                        break;
                case 500:
                        f->error_code = 101;
                        break;
                case 503:
                        f->error_code = 100;
                        break;
                default:
                        err = bad(spec,
                                  "this status needs error-code= (defaults "
                                  "exist for 401, 429, 500 and 503)",
                                  "");
                        goto out;
                }
        }
        if (has_retry_after && f->kind != PMW_SIM_FAULT_STATUS &&
            f->kind != PMW_SIM_FAULT_HTML403 &&
            f->kind != PMW_SIM_FAULT_TEXT502) {
                err =
                    bad(spec,
                        "retry-after= goes with status=, html403, text502", "");
                goto out;
        }
        if (f->index >= 0 && f->kind != PMW_SIM_FAULT_MESSAGE) {
                err = bad(spec, "index= goes with message-error=", "");
                goto out;
        }
        if (f->above && f->kind == PMW_SIM_FAULT_MESSAGE) {
                err = bad(spec,
                          "above= goes with request faults (status=, "
                          "html403, text502, drop, delay=), not "
                          "message-error=",
                          "");
                goto out;
        }
        if (f->message && f->kind != PMW_SIM_FAULT_STATUS &&
            f->kind != PMW_SIM_FAULT_MESSAGE) {
                err = bad(spec,
                          "message= goes with status= or message-error=", "");
                goto out;
        }
        if (has_delay && f->kind == PMW_SIM_FAULT_MESSAGE) {
                err = bad(spec,
                          "delay= is a request fault; add it as its own "
                          "fault",
                          "");
                goto out;
        }
out:
        free(copy);
        if (err) {
                pmw_sim_fault_destroy(f);
                return err;
        }
        *faultp = f;
        return NULL;
}

static pmw_sim_fault_t *fault_copy(const pmw_sim_fault_t *f) {
        pmw_sim_fault_t *c = pmw_malloc(sizeof(*c));
        *c                 = *f;
        c->message         = f->message ? pmw_strdup(f->message) : NULL;
        c->rcpt            = f->rcpt ? pmw_strdup(f->rcpt) : NULL;
        c->spec            = pmw_strdup(f->spec);
        return c;
}

pmw_sim_faults_t *pmw_sim_faults_new(uint64_t seed) {
        pmw_sim_faults_t *faults = pmw_calloc(1, sizeof(*faults));
        pthread_mutex_init(&faults->lock, NULL);
        atomic_init(&faults->hint, 0);
        faults->rng = seed;
        return faults;
}

static void clear_locked(pmw_sim_faults_t *faults) {
        for (size_t i = 0; i < faults->count; i++)
                pmw_sim_fault_destroy(faults->list[i]);
        faults->count = 0;
        atomic_store(&faults->hint, 0);
}

void pmw_sim_faults_destroy(pmw_sim_faults_t *faults) {
        if (faults == NULL)
                return;
        clear_locked(faults);
        free(faults->list);
        pthread_mutex_destroy(&faults->lock);
        free(faults);
}

void pmw_sim_faults_add(pmw_sim_faults_t *faults, pmw_sim_fault_t *fault) {
        pthread_mutex_lock(&faults->lock);
        if (faults->count == faults->cap) {
                faults->cap  = faults->cap ? faults->cap * 2 : 8;
                faults->list = pmw_realloc(faults->list,
                                           faults->cap * sizeof(*faults->list));
        }
        faults->list[faults->count++] = fault;
        atomic_store(&faults->hint, faults->count);
        pthread_mutex_unlock(&faults->lock);
}

void pmw_sim_faults_clear(pmw_sim_faults_t *faults) {
        pthread_mutex_lock(&faults->lock);
        clear_locked(faults);
        pthread_mutex_unlock(&faults->lock);
}

size_t pmw_sim_faults_count(pmw_sim_faults_t *faults) {
        return atomic_load(&faults->hint);
}

void pmw_sim_faults_list_json(pmw_sim_faults_t *faults, pmw_buf_t *out) {
        pthread_mutex_lock(&faults->lock);
        pmw_buf_append_char(out, '[');
        for (size_t i = 0; i < faults->count; i++) {
                const pmw_sim_fault_t *f = faults->list[i];
                if (i > 0)
                        pmw_buf_append_char(out, ',');
                pmw_buf_append_str(out, "{\"spec\":");
                pmw_buf_append_json_str(out, f->spec, strlen(f->spec));
                pmw_buf_appendf(out, ",\"fired\":%llu,\"remaining\":",
                                (unsigned long long)f->fired);
                if (f->trigger == PMW_SIM_TRIGGER_NEXT)
                        pmw_buf_appendf(out, "%llu", (unsigned long long)f->n);
                else if (f->trigger == PMW_SIM_TRIGGER_NTH)
                        pmw_buf_append_str(out, f->fired ? "0" : "1");
                else
                        pmw_buf_append_str(out, "null");
                pmw_buf_append_char(out, '}');
        }
        pmw_buf_append_char(out, ']');
        pthread_mutex_unlock(&faults->lock);
}

/* Under the lock: does f's trigger fire for request reqno? Consumes
 * next=. */
static bool
fires(pmw_sim_faults_t *faults, pmw_sim_fault_t *f, uint64_t reqno) {
        switch (f->trigger) {
        case PMW_SIM_TRIGGER_P:
                return (double)(pmw_rand_next(&faults->rng) >> 11) *
                           (1.0 / 9007199254740992.0) <
                       f->p;
        case PMW_SIM_TRIGGER_NEXT:
                if (f->n == 0)
                        return false;
                f->n--;
                return true;
        case PMW_SIM_TRIGGER_NTH:
                return reqno == f->n;
        default:
                return true;
        }
}

/* Faults decided in stage 2: they need the request's messages. */
static bool needs_messages(const pmw_sim_fault_t *f) {
        return f->rcpt != NULL || f->above > 0;
}

/* Under the lock: adds the tokens earned since the last refill. */
static void refill(pmw_sim_fault_t *f, int64_t now_us) {
        int64_t rate = (int64_t)f->above;
        int64_t cap  = rate * UNITS_PER_MSG;
        if (!f->bucket_started) {
                f->tokens         = cap;
                f->refilled_us    = now_us;
                f->bucket_started = true;
                return;
        }
        if (now_us <= f->refilled_us)
                return;
        int64_t dt     = now_us - f->refilled_us;
        int64_t room   = cap - f->tokens;
        f->refilled_us = now_us;
        /* Compared by division first: rate * dt may not fit after a long
         * idle time. */
        if (dt > room / rate)
                f->tokens = cap;
        else
                f->tokens += rate * dt;
}

/* Under the lock: stage 2 for one request fault with rcpt= or above=. */
static bool fires_on_messages(pmw_sim_faults_t *faults,
                              pmw_sim_fault_t *f,
                              uint64_t reqno,
                              int64_t now_us,
                              const pmw_sim_batch_info_t *info) {
        if (f->rcpt && !info->rcpt_match(info->ctx, f->rcpt))
                return false;
        if (f->above == 0)
                return fires(faults, f, reqno);
        refill(f, now_us);
        int64_t n    = (int64_t)info->n_messages;
        int64_t need = (int64_t)PMW_MIN((uint64_t)n, f->above) * UNITS_PER_MSG;
        if (f->tokens < need && fires(faults, f, reqno))
                return true;
        /* Let through: its messages count against the rate. A batch
         * larger than the bucket, taken when it was full, leaves a debt
         * that the next requests wait out. */
        f->tokens -= n * UNITS_PER_MSG;
        return false;
}

static void add_request(pmw_sim_decision_t *d, pmw_sim_fault_t *f) {
        f->fired++;
        d->request = fault_copy(f);
}

void pmw_sim_faults_decide(pmw_sim_faults_t *faults,
                           uint64_t reqno,
                           pmw_sim_decision_t *d) {
        memset(d, 0, sizeof(*d));
        if (atomic_load(&faults->hint) == 0)
                return;
        pthread_mutex_lock(&faults->lock);
        for (size_t i = 0; i < faults->count; i++) {
                pmw_sim_fault_t *f = faults->list[i];
                if (f->kind == PMW_SIM_FAULT_MESSAGE || needs_messages(f) ||
                    !fires(faults, f, reqno))
                        continue;
                add_request(d, f);
                break;
        }
        pthread_mutex_unlock(&faults->lock);
}

void pmw_sim_faults_decide_messages(pmw_sim_faults_t *faults,
                                    uint64_t reqno,
                                    int64_t now_us,
                                    const pmw_sim_batch_info_t *info,
                                    pmw_sim_decision_t *d) {
        if (d->request && d->request->kind != PMW_SIM_FAULT_DELAY)
                return;
        if (atomic_load(&faults->hint) == 0)
                return;
        pthread_mutex_lock(&faults->lock);
        for (size_t i = 0; info && !d->request && i < faults->count; i++) {
                pmw_sim_fault_t *f = faults->list[i];
                if (f->kind == PMW_SIM_FAULT_MESSAGE || !needs_messages(f) ||
                    !fires_on_messages(faults, f, reqno, now_us, info))
                        continue;
                add_request(d, f);
        }
        if (d->request == NULL || d->request->kind == PMW_SIM_FAULT_DELAY) {
                for (size_t i = 0; i < faults->count; i++) {
                        pmw_sim_fault_t *f = faults->list[i];
                        if (f->kind != PMW_SIM_FAULT_MESSAGE ||
                            !fires(faults, f, reqno))
                                continue;
                        f->fired++;
                        d->messages =
                            pmw_realloc(d->messages, (d->n_messages + 1) *
                                                         sizeof(*d->messages));
                        d->messages[d->n_messages++] = fault_copy(f);
                }
        }
        pthread_mutex_unlock(&faults->lock);
}

void pmw_sim_decision_cleanup(pmw_sim_decision_t *d) {
        pmw_sim_fault_destroy(d->request);
        for (size_t i = 0; i < d->n_messages; i++)
                pmw_sim_fault_destroy(d->messages[i]);
        free(d->messages);
        memset(d, 0, sizeof(*d));
}
