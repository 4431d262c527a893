/*
 * tests/postmark-sim/sim_store.c: see sim_store.h.
 */
#include "tests/postmark-sim/sim_store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_match.h"

/* One string inside an entry's data. */
typedef struct span_s {
        uint32_t off;
        uint32_t len;
} span_t;

struct pmw_sim_entry_s {
        int64_t submitted_ms;
        char message_id[40];
        span_t token, from, to, subject, tag, stream, meta;
        uint32_t n_meta;
        char data[]; /* the strings, each NUL-terminated */
};

struct pmw_sim_store_s {
        pthread_mutex_t lock;
        size_t max;             /* immutable */
        pmw_sim_entry_t **ring; /* protected by lock */
        size_t cap;             /* protected by lock */
        size_t head;            /* oldest entry, protected by lock */
        size_t count;           /* protected by lock */
};

pmw_sim_store_t *pmw_sim_store_new(size_t max) {
        pmw_sim_store_t *store = pmw_calloc(1, sizeof(*store));
        pthread_mutex_init(&store->lock, NULL);
        store->max = max;
        return store;
}

void pmw_sim_store_destroy(pmw_sim_store_t *store) {
        if (store == NULL)
                return;
        for (size_t i = 0; i < store->count; i++)
                free(store->ring[(store->head + i) % store->cap]);
        free(store->ring);
        pthread_mutex_destroy(&store->lock);
        free(store);
}

static span_t put_str(char *data, size_t *posp, const char *s, size_t len) {
        span_t sp = {(uint32_t)*posp, (uint32_t)len};
        if (len)
                memcpy(data + *posp, s, len);
        data[*posp + len] = '\0';
        *posp += len + 1;
        return sp;
}

pmw_sim_entry_t *pmw_sim_entry_new(const pmw_sim_entry_in_t *in) {
        size_t token_len = strlen(in->token);
        size_t total = token_len + in->from_len + in->to_len + in->subject_len +
                       in->tag_len + in->stream_len + in->meta_len + 7;
        pmw_sim_entry_t *e = pmw_malloc(sizeof(*e) + total);
        e->submitted_ms    = in->submitted_ms;
        memcpy(e->message_id, in->message_id, 36);
        e->message_id[36] = '\0';
        size_t pos        = 0;
        e->token          = put_str(e->data, &pos, in->token, token_len);
        e->from           = put_str(e->data, &pos, in->from, in->from_len);
        e->to             = put_str(e->data, &pos, in->to, in->to_len);
        e->subject = put_str(e->data, &pos, in->subject, in->subject_len);
        e->tag     = put_str(e->data, &pos, in->tag, in->tag_len);
        e->stream  = put_str(e->data, &pos, in->stream, in->stream_len);
        e->meta    = put_str(e->data, &pos, in->meta, in->meta_len);
        e->n_meta  = (uint32_t)in->n_meta;
        return e;
}

void pmw_sim_store_put(pmw_sim_store_t *store,
                       pmw_sim_entry_t **entries,
                       size_t n) {
        if (store->max == 0) {
                for (size_t i = 0; i < n; i++)
                        free(entries[i]);
                return;
        }
        pmw_sim_entry_t *evicted_small[64];
        pmw_sim_entry_t **evicted =
            n <= 64 ? evicted_small : pmw_malloc(n * sizeof(*evicted));
        size_t n_evicted = 0;
        pthread_mutex_lock(&store->lock);
        for (size_t i = 0; i < n; i++) {
                if (store->count < store->max) {
                        /* Not full yet: head is 0, so the ring is linear
                         * and may simply grow. */
                        if (store->count == store->cap) {
                                store->cap =
                                    PMW_MIN(store->max,
                                            store->cap ? store->cap * 2 : 1024);
                                store->ring = pmw_realloc(
                                    store->ring,
                                    store->cap * sizeof(*store->ring));
                        }
                        store->ring[store->count++] = entries[i];
                } else {
                        evicted[n_evicted++]     = store->ring[store->head];
                        store->ring[store->head] = entries[i];
                        store->head = (store->head + 1) % store->cap;
                }
        }
        pthread_mutex_unlock(&store->lock);
        for (size_t i = 0; i < n_evicted; i++)
                free(evicted[i]);
        if (evicted != evicted_small)
                free(evicted);
}

size_t pmw_sim_store_size(pmw_sim_store_t *store) {
        pthread_mutex_lock(&store->lock);
        size_t n = store->count;
        pthread_mutex_unlock(&store->lock);
        return n;
}

static const char *str_of(const pmw_sim_entry_t *e, span_t sp) {
        return e->data + sp.off;
}

static bool has_recipient(const pmw_sim_entry_t *e, const char *want) {
        const char *s = str_of(e, e->to);
        size_t pos    = 0;
        pmw_sim_addr_t a;
        bool ok;
        while (pmw_sim_addr_next(s, e->to.len, &pos, &a, &ok))
                if (pmw_sim_ieq(a.addr, a.addr_len, want))
                        return true;
        return false;
}

static bool from_is(const pmw_sim_entry_t *e, const char *want) {
        size_t pos = 0;
        pmw_sim_addr_t a;
        bool ok;
        return pmw_sim_addr_next(str_of(e, e->from), e->from.len, &pos, &a,
                                 &ok) &&
               pmw_sim_ieq(a.addr, a.addr_len, want);
}

static bool
has_meta(const pmw_sim_entry_t *e, const char *key, const char *value) {
        const char *p = str_of(e, e->meta);
        for (uint32_t i = 0; i < e->n_meta; i++) {
                const char *k = p;
                const char *v = k + strlen(k) + 1;
                p             = v + strlen(v) + 1;
                if (pmw_sim_ieq(k, strlen(k), key) && strcmp(v, value) == 0)
                        return true;
        }
        return false;
}

static bool matches(const pmw_sim_entry_t *e, const pmw_sim_query_t *q) {
        if (q->token && strcmp(str_of(e, e->token), q->token) != 0)
                return false;
        if (q->recipient && !has_recipient(e, q->recipient))
                return false;
        if (q->fromemail && !from_is(e, q->fromemail))
                return false;
        if (q->tag && !pmw_sim_ieq(str_of(e, e->tag), e->tag.len, q->tag))
                return false;
        if (q->subject && strcmp(str_of(e, e->subject), q->subject) != 0)
                return false;
        if (q->stream && strcmp(str_of(e, e->stream), q->stream) != 0)
                return false;
        if (q->meta_key && !has_meta(e, q->meta_key, q->meta_value))
                return false;
        return true;
}

static void append_field(pmw_buf_t *out,
                         const char *name,
                         const pmw_sim_entry_t *e,
                         span_t sp) {
        pmw_buf_appendf(out, "\"%s\":", name);
        pmw_buf_append_json_str(out, str_of(e, sp), sp.len);
}

static void append_entry(pmw_buf_t *out, const pmw_sim_entry_t *e) {
        pmw_buf_append_char(out, '{');
        append_field(out, "Tag", e, e->tag);
        pmw_buf_appendf(out, ",\"MessageID\":\"%s\",", e->message_id);
        append_field(out, "MessageStream", e, e->stream);
        pmw_buf_append_str(out, ",\"To\":[");
        const char *s = str_of(e, e->to);
        size_t pos    = 0;
        pmw_sim_addr_t a;
        bool ok;
        pmw_buf_t rcpts;
        pmw_buf_init(&rcpts, SIZE_MAX);
        for (int i = 0; pmw_sim_addr_next(s, e->to.len, &pos, &a, &ok); i++) {
                if (i > 0) {
                        pmw_buf_append_char(out, ',');
                        pmw_buf_append_char(&rcpts, ',');
                }
                pmw_buf_append_str(out, "{\"Email\":");
                pmw_buf_append_json_str(out, a.addr, a.addr_len);
                pmw_buf_append_str(out, ",\"Name\":");
                if (a.name_len)
                        pmw_buf_append_json_str(out, a.name, a.name_len);
                else
                        pmw_buf_append_str(out, "null");
                pmw_buf_append_char(out, '}');
                pmw_buf_append_json_str(&rcpts, a.addr, a.addr_len);
        }
        pmw_buf_append_str(out, "],\"Recipients\":[");
        pmw_buf_append(out, pmw_buf_ptr(&rcpts), pmw_buf_len(&rcpts));
        pmw_buf_cleanup(&rcpts);
        char when[PMW_RFC3339_MS_SIZE];
        pmw_time_format_rfc3339_ms(e->submitted_ms, when);
        pmw_buf_appendf(out, "],\"ReceivedAt\":\"%s\",", when);
        append_field(out, "From", e, e->from);
        pmw_buf_append_char(out, ',');
        append_field(out, "Subject", e, e->subject);
        pmw_buf_append_str(out, ",\"Status\":\"Sent\",\"Metadata\":{");
        const char *p = str_of(e, e->meta);
        for (uint32_t i = 0; i < e->n_meta; i++) {
                const char *k = p;
                const char *v = k + strlen(k) + 1;
                p             = v + strlen(v) + 1;
                if (i > 0)
                        pmw_buf_append_char(out, ',');
                pmw_buf_append_json_str(out, k, strlen(k));
                pmw_buf_append_char(out, ':');
                pmw_buf_append_json_str(out, v, strlen(v));
        }
        pmw_buf_append_str(out, "}}");
}

void pmw_sim_store_search(pmw_sim_store_t *store,
                          const pmw_sim_query_t *q,
                          pmw_buf_t *out) {
        pmw_buf_t msgs;
        pmw_buf_init(&msgs, SIZE_MAX);
        size_t total = 0, shown = 0;
        pthread_mutex_lock(&store->lock);
        for (size_t i = store->count; i-- > 0;) {
                const pmw_sim_entry_t *e =
                    store->ring[(store->head + i) % store->cap];
                if (!matches(e, q))
                        continue;
                if (total++ < q->offset || shown >= q->count)
                        continue;
                if (shown++ > 0)
                        pmw_buf_append_char(&msgs, ',');
                append_entry(&msgs, e);
        }
        pthread_mutex_unlock(&store->lock);
        pmw_buf_appendf(out, "{\"TotalCount\":%zu,\"Messages\":[", total);
        pmw_buf_append(out, pmw_buf_ptr(&msgs), pmw_buf_len(&msgs));
        pmw_buf_append_str(out, "]}");
        pmw_buf_cleanup(&msgs);
}
