/*
 * tests/postmark-sim/sim_api.c: see sim_api.h.
 *
 * The hot path is POST /email/batch with 500 valid messages: one scan of
 * the body (common/jsontok), field lookups on the tokens, per-message checks
 * that decode nothing unless a rule needs the value, and an answer written with
 * the To value copied raw from the request. Storing (--store-max) and
 * recording (--record) cost a copy of a few fields per message.
 */
#include "tests/postmark-sim/sim_api.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/jsontok.h"
#include "tests/postmark-sim/sim_match.h"
#include "tests/postmark-sim/sim_store.h"

#define STATUS_SLOTS 600 /* index = HTTP status; 0 = dropped */

struct pmw_sim_s {
        const pmw_sim_config_t *cfg; /* borrowed, immutable */
        pmw_sim_faults_t *faults;    /* owned; has its own lock */
        pmw_sim_record_t *record;    /* owned, may be NULL; own lock */
        pmw_sim_store_t *store;      /* owned; own lock */
        uint64_t uuid_seed;          /* immutable */
        atomic_uint_fast64_t reqno;
        atomic_uint_fast64_t uuid_counter;
        atomic_uint_fast64_t status_count[PMW_SIM_EP_COUNT][STATUS_SLOTS];
        atomic_uint_fast64_t msgs_accepted;
        atomic_uint_fast64_t msgs_failed;
        atomic_uint_fast64_t fault_fired[PMW_SIM_FAULT_MESSAGE + 1];
};

static const char *const ep_paths[PMW_SIM_EP_COUNT] = {
    [PMW_SIM_EP_EMAIL]           = "/email",
    [PMW_SIM_EP_BATCH]           = "/email/batch",
    [PMW_SIM_EP_TEMPLATE]        = "/email/withTemplate",
    [PMW_SIM_EP_BATCH_TEMPLATES] = "/email/batchWithTemplates",
    [PMW_SIM_EP_OUTBOUND]        = "/messages/outbound",
    [PMW_SIM_EP_SIM_FAULTS]      = "/_sim/faults",
    [PMW_SIM_EP_SIM_STATS]       = "/_sim/stats",
    [PMW_SIM_EP_UNKNOWN]         = "other",
};

static const char *const fault_names[PMW_SIM_FAULT_MESSAGE + 1] = {
    [PMW_SIM_FAULT_STATUS]  = "status",
    [PMW_SIM_FAULT_HTML403] = "html403",
    [PMW_SIM_FAULT_TEXT502] = "text502",
    [PMW_SIM_FAULT_DROP]    = "drop",
    [PMW_SIM_FAULT_DELAY]   = "delay",
    [PMW_SIM_FAULT_MESSAGE] = "message-error",
};

static uint64_t mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

pmw_sim_t *pmw_sim_new(const pmw_sim_config_t *cfg,
                       pmw_sim_faults_t *faults,
                       pmw_sim_record_t *record) {
        pmw_sim_t *sim = pmw_calloc(1, sizeof(*sim));
        sim->cfg       = cfg;
        sim->faults    = faults;
        sim->record    = record;
        sim->store     = pmw_sim_store_new(cfg->store_max);
        sim->uuid_seed = mix64(cfg->seed ^ 0x5eed5eed5eed5eedULL);
        return sim;
}

void pmw_sim_destroy(pmw_sim_t *sim) {
        if (sim == NULL)
                return;
        pmw_sim_faults_destroy(sim->faults);
        pmw_sim_record_close(sim->record);
        pmw_sim_store_destroy(sim->store);
        free(sim);
}

void pmw_sim_flush(pmw_sim_t *sim) {
        if (sim->record)
                pmw_sim_record_flush(sim->record);
}

pmw_sim_endpoint_t pmw_sim_route(const char *path) {
        /* ASP.NET routes ignore case; so does the simulator. */
        for (int ep = 0; ep < PMW_SIM_EP_UNKNOWN; ep++)
                if (pmw_sim_ieq(path, strlen(path), ep_paths[ep]))
                        return (pmw_sim_endpoint_t)ep;
        return PMW_SIM_EP_UNKNOWN;
}

size_t pmw_sim_body_limit(pmw_sim_endpoint_t ep) {
        switch (ep) {
        case PMW_SIM_EP_BATCH:
        case PMW_SIM_EP_BATCH_TEMPLATES:
                return PMW_SIM_MAX_BATCH_BODY;
        case PMW_SIM_EP_EMAIL:
        case PMW_SIM_EP_TEMPLATE:
                return PMW_SIM_MAX_EMAIL_BODY;
        default:
                return PMW_SIM_MAX_OTHER_BODY;
        }
}

static bool is_sending(pmw_sim_endpoint_t ep) {
        return ep <= PMW_SIM_EP_BATCH_TEMPLATES;
}

static bool method_allowed(pmw_sim_endpoint_t ep, const char *method) {
        if (is_sending(ep))
                return strcmp(method, "POST") == 0;
        if (ep == PMW_SIM_EP_SIM_FAULTS)
                return strcmp(method, "GET") == 0 ||
                       strcmp(method, "POST") == 0 ||
                       strcmp(method, "DELETE") == 0;
        return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* ---- answers ---- */

static void json_error(pmw_sim_response_t *resp,
                       int status,
                       int code,
                       const char *message) {
        resp->status       = status;
        resp->content_type = "application/json; charset=utf-8";
        pmw_buf_reset(&resp->body);
        pmw_buf_appendf(&resp->body, "{\"ErrorCode\":%d,\"Message\":", code);
        pmw_buf_append_json_str(&resp->body, message, strlen(message));
        pmw_buf_append_char(&resp->body, '}');
}

static void uuid_v4(pmw_sim_t *sim, char out[37]) {
        static const char hex[] = "0123456789abcdef";
        uint64_t c              = atomic_fetch_add(&sim->uuid_counter, 1);
        uint64_t hi = mix64(sim->uuid_seed + 2 * c * 0x9e3779b97f4a7c15ULL);
        uint64_t lo =
            mix64(sim->uuid_seed + (2 * c + 1) * 0x9e3779b97f4a7c15ULL);
        /* Version 4, variant 10xx (RFC 4122). */
        hi = (hi & ~0xf000ULL) | 0x4000ULL;
        lo = (lo & ~(0xcULL << 60)) | (0x8ULL << 60);
        unsigned char b[16];
        for (int i = 0; i < 8; i++) {
                b[i]     = (unsigned char)(hi >> (56 - 8 * i));
                b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
        }
        int o = 0;
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[o++] = '-';
                out[o++] = hex[b[i] >> 4];
                out[o++] = hex[b[i] & 15];
        }
        out[36] = '\0';
}

/* Accept and Content-Type: a list containing application/json, with
 * parameters allowed ("application/json; charset=utf-8"). */
static bool media_is_json(const char *value) {
        if (value == NULL)
                return false;
        const char *p = value;
        while (*p) {
                const char *end  = strchr(p, ',');
                size_t len       = end ? (size_t)(end - p) : strlen(p);
                const char *semi = memchr(p, ';', len);
                size_t tlen      = semi ? (size_t)(semi - p) : len;
                const char *t    = p;
                while (tlen > 0 && (*t == ' ' || *t == '\t')) {
                        t++;
                        tlen--;
                }
                while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
                        tlen--;
                if (pmw_sim_ieq(t, tlen, "application/json"))
                        return true;
                if (!end)
                        break;
                p = end + 1;
        }
        return false;
}

/* 401 unless the token is accepted; *testp: the test token. */
static bool token_ok(const pmw_sim_t *sim, const char *token, bool *testp) {
        *testp = false;
        if (token == NULL || *token == '\0')
                return false;
        if (strcmp(token, PMW_SIM_TEST_TOKEN) == 0) {
                *testp = true;
                return true;
        }
        if (sim->cfg->n_tokens == 0)
                return true;
        for (size_t i = 0; i < sim->cfg->n_tokens; i++)
                if (strcmp(token, sim->cfg->tokens[i]) == 0)
                        return true;
        return false;
}

static bool check_headers(const pmw_sim_t *sim,
                          const pmw_sim_request_t *req,
                          bool need_content_type,
                          bool *testp,
                          pmw_sim_response_t *resp) {
        if (!media_is_json(req->accept) ||
            (need_content_type && !media_is_json(req->content_type))) {
                json_error(resp, 415, 409,
                           "Unsupported Media Type: send 'Accept: "
                           "application/json' and 'Content-Type: "
                           "application/json'.");
                return false;
        }
        if (!token_ok(sim, req->token, testp)) {
                json_error(resp, 401, 10,
                           "Request does not contain a valid Server token.");
                return false;
        }
        return true;
}

static void answer_request_fault(pmw_sim_t *sim,
                                 const pmw_sim_fault_t *f,
                                 pmw_sim_response_t *resp) {
        atomic_fetch_add(&sim->fault_fired[f->kind], 1);
        resp->retry_after = f->retry_after;
        switch (f->kind) {
        case PMW_SIM_FAULT_STATUS: {
                const char *text = f->message;
                if (text == NULL) {
                        switch (f->status) {
                        case 401:
                                text =
                                    "Request does not contain a valid "
                                    "Server token.";
                                break;
                        case 429:
                                text =
                                    "Rate limit exceeded: requests are "
                                    "coming too quickly (simulated fault).";
                                break;
                        case 500:
                                text =
                                    "An unexpected server error occurred "
                                    "(simulated fault).";
                                break;
                        case 503:
                                text =
                                    "The Postmark API is offline for "
                                    "maintenance (simulated fault).";
                                break;
                        default:
                                text = "Simulated fault.";
                        }
                }
                json_error(resp, f->status, f->error_code, text);
                return;
        }
        case PMW_SIM_FAULT_HTML403:
                resp->status       = 403;
                resp->content_type = "text/html; charset=utf-8";
                pmw_buf_append_str(&resp->body,
                                   "<!DOCTYPE html>\n<html><head><title>403 "
                                   "Forbidden</title></head><body><h1>403 "
                                   "Forbidden</h1><p>Request blocked by the "
                                   "network security layer (simulated "
                                   "fault).</p></body></html>\n");
                return;
        case PMW_SIM_FAULT_TEXT502:
                resp->status       = 502;
                resp->content_type = "text/plain; charset=utf-8";
                pmw_buf_append_str(&resp->body,
                                   "502 Bad Gateway\nThe proxy received an "
                                   "invalid response from the upstream "
                                   "server (simulated fault).\n");
                return;
        default: /* DROP */
                resp->status = 0;
                return;
        }
}

/* Per-message result. */
typedef struct result_s {
        int code;
        bool accepted;
        size_t text_off; /* in the shared text buffer */
        size_t text_len;
        char id[37];
} result_t;

static const char *message_fault_text(int code) {
        switch (code) {
        case 300:
                return "Invalid email request (simulated fault).";
        case 405:
                return "You are not allowed to send: the account has run out "
                       "of credits or is blocked (simulated fault).";
        case 411:
                return "Forbidden attachment type (simulated fault).";
        case 412:
                return "Account pending approval: recipients must share the "
                       "From domain (simulated fault).";
        case 413:
                return "This account may not send yet (simulated fault).";
        case 422:
                return "Invalid server or account (simulated fault).";
        case 1101:
                return "The Template's 'Alias' associated with this request "
                       "is not valid or was not found.";
        case 1235:
                return "The 'MessageStream' provided does not exist on this "
                       "server (simulated fault).";
        case 1480:
                return "Sending from this IP address is not allowed "
                       "(simulated fault).";
        default:
                return "Simulated per-message error.";
        }
}

/* Applies the first matching message fault to an accepted message;
 * returns true if one applied. */
static bool apply_message_faults(pmw_sim_t *sim,
                                 const pmw_sim_decision_t *d,
                                 const pmw_jsontok_t *doc,
                                 const pmw_sim_msg_t *msg,
                                 size_t index,
                                 result_t *r,
                                 pmw_buf_t *texts) {
        for (size_t i = 0; i < d->n_messages; i++) {
                const pmw_sim_fault_t *f = d->messages[i];
                if (f->index >= 0 && (size_t)f->index != index)
                        continue;
                pmw_buf_t list;
                pmw_buf_init(&list, SIZE_MAX);
                char all[]        = "*";
                char *const any[] = {all};
                char *const *glob = f->rcpt ? &f->rcpt : any;
                size_t total;
                size_t n = pmw_sim_msg_match_recipients(doc, msg, glob, 1,
                                                        &total, &list);
                if (n == 0) {
                        pmw_buf_cleanup(&list);
                        continue;
                }
                atomic_fetch_add(&sim->fault_fired[PMW_SIM_FAULT_MESSAGE], 1);
                r->code     = f->error_code;
                r->accepted = false;
                r->text_off = pmw_buf_len(texts);
                if (f->message)
                        pmw_buf_append_str(texts, f->message);
                else if (f->error_code == 406) {
                        pmw_buf_t t;
                        pmw_buf_init(&t, SIZE_MAX);
                        pmw_sim_inactive_text(&t, pmw_buf_ptr(&list), false);
                        pmw_buf_append(texts, pmw_buf_ptr(&t), pmw_buf_len(&t));
                        pmw_buf_cleanup(&t);
                } else
                        pmw_buf_append_str(texts,
                                           message_fault_text(f->error_code));
                r->text_len = pmw_buf_len(texts) - r->text_off;
                pmw_buf_cleanup(&list);
                return true;
        }
        return false;
}

static void append_result(pmw_buf_t *out,
                          const pmw_jsontok_t *doc,
                          const pmw_sim_msg_t *msg,
                          const result_t *r,
                          const pmw_buf_t *texts,
                          const char *when) {
        pmw_buf_append_char(out, '{');
        if (r->accepted) {
                /* To, as received (the raw JSON string, quotes included). */
                const pmw_jsontok_tok_t *t = &doc->toks[msg->to];
                pmw_buf_append_str(out, "\"To\":");
                pmw_buf_append(out, doc->text + t->start - 1, t->len + 2);
                pmw_buf_appendf(out,
                                ",\"SubmittedAt\":\"%s\",\"MessageID\":\"%s\",",
                                when, r->id);
        }
        pmw_buf_appendf(out, "\"ErrorCode\":%d,\"Message\":", r->code);
        pmw_buf_append_json_str(out, pmw_buf_ptr(texts) + r->text_off,
                                r->text_len);
        pmw_buf_append_char(out, '}');
}

/* Appends a decoded string field to pack; returns its offset. */
static size_t pack_str(pmw_buf_t *pack,
                       const pmw_jsontok_t *doc,
                       uint32_t tok,
                       size_t *lenp) {
        size_t off = pmw_buf_len(pack);
        if (tok)
                pmw_jsontok_str_append(doc, tok, pack);
        *lenp = pmw_buf_len(pack) - off;
        return off;
}

static pmw_sim_entry_t *make_entry(const pmw_jsontok_t *doc,
                                   const pmw_sim_msg_t *msg,
                                   const result_t *r,
                                   int64_t now_ms,
                                   const char *token,
                                   pmw_buf_t *pack) {
        pmw_buf_reset(pack);
        pmw_sim_entry_in_t in = {
            .message_id = r->id, .submitted_ms = now_ms, .token = token};
        size_t from_off = pack_str(pack, doc, msg->from, &in.from_len);
        size_t to_off   = pack_str(pack, doc, msg->to, &in.to_len);
        size_t subj_off = pack_str(pack, doc, msg->subject, &in.subject_len);
        size_t tag_off  = pack_str(pack, doc, msg->tag, &in.tag_len);
        size_t strm_off = pack_str(pack, doc, msg->stream, &in.stream_len);
        if (msg->stream == 0) {
                pmw_buf_append_str(pack, "outbound");
                in.stream_len = 8;
        }
        size_t meta_off = pmw_buf_len(pack);
        if (msg->metadata) {
                uint32_t end = doc->toks[msg->metadata].next;
                for (uint32_t k = msg->metadata + 1; k < end;
                     k          = doc->toks[k + 1].next) {
                        pmw_jsontok_str_append(doc, k, pack);
                        pmw_buf_append_char(pack, '\0');
                        pmw_jsontok_str_append(doc, k + 1, pack);
                        pmw_buf_append_char(pack, '\0');
                        in.n_meta++;
                }
        }
        in.meta_len   = pmw_buf_len(pack) - meta_off;
        const char *b = pmw_buf_ptr(pack);
        in.from       = b + from_off;
        in.to         = b + to_off;
        in.subject    = b + subj_off;
        in.tag        = b + tag_off;
        in.stream     = b + strm_off;
        in.meta       = b + meta_off;
        return pmw_sim_entry_new(&in);
}

/* One --record line; raw newlines (only possible as whitespace between
 * tokens in valid JSON) become spaces so that a message is one line. */
static void append_record_line(pmw_buf_t *out,
                               uint64_t reqno,
                               pmw_sim_endpoint_t ep,
                               const char *token,
                               const pmw_jsontok_t *doc,
                               uint32_t tok) {
        pmw_buf_appendf(out, "{\"request\":%llu,\"endpoint\":\"%s\",\"token\":",
                        (unsigned long long)reqno, ep_paths[ep]);
        pmw_buf_append_json_str(out, token, strlen(token));
        pmw_buf_append_str(out, ",\"message\":");
        const char *raw = pmw_jsontok_raw(doc, tok);
        size_t len      = doc->toks[tok].len;
        size_t run      = 0;
        for (size_t i = 0; i < len; i++) {
                if (raw[i] == '\n' || raw[i] == '\r') {
                        pmw_buf_append(out, raw + run, i - run);
                        pmw_buf_append_char(out, ' ');
                        run = i + 1;
                }
        }
        pmw_buf_append(out, raw + run, len - run);
        pmw_buf_append_str(out, "}\n");
}

/* Stage 2 of the fault decision: rcpt= of a request fault. */
typedef struct rcpt_ctx_s {
        const pmw_jsontok_t *doc;
        const pmw_sim_msg_t *msgs;
        size_t n;
} rcpt_ctx_t;

static bool any_recipient_matches(void *ctx, char *glob) {
        const rcpt_ctx_t *c = ctx;
        pmw_buf_t list;
        pmw_buf_init(&list, SIZE_MAX);
        bool found = false;
        for (size_t i = 0; i < c->n && !found; i++) {
                size_t total;
                found = pmw_sim_msg_match_recipients(c->doc, &c->msgs[i], &glob,
                                                     1, &total, &list) > 0;
        }
        pmw_buf_cleanup(&list);
        return found;
}

/* Applies the request fault chosen in either stage; returns false when it
 * answers for the request (anything but a delay). */
static bool apply_request_fault(pmw_sim_t *sim,
                                const pmw_sim_fault_t *f,
                                pmw_sim_response_t *resp) {
        resp->delay_ms += f->delay_ms;
        if (f->kind != PMW_SIM_FAULT_DELAY) {
                answer_request_fault(sim, f, resp);
                return false;
        }
        atomic_fetch_add(&sim->fault_fired[PMW_SIM_FAULT_DELAY], 1);
        return true;
}

static void handle_send(pmw_sim_t *sim,
                        pmw_sim_endpoint_t ep,
                        const pmw_sim_request_t *req,
                        pmw_sim_response_t *resp) {
        uint64_t reqno = atomic_fetch_add(&sim->reqno, 1) + 1;
        bool templated =
            ep == PMW_SIM_EP_TEMPLATE || ep == PMW_SIM_EP_BATCH_TEMPLATES;
        bool single = ep == PMW_SIM_EP_EMAIL || ep == PMW_SIM_EP_TEMPLATE;
        pmw_sim_decision_t d;
        pmw_jsontok_t doc;
        pmw_buf_t field, texts, scratch;
        pmw_sim_msg_t *msgs = NULL;
        result_t *results   = NULL;
        bool test           = false;
        bool staged         = false; /* stage 2 of the faults done */
        pmw_jsontok_init(&doc);
        pmw_buf_init(&field, SIZE_MAX);
        pmw_buf_init(&texts, SIZE_MAX);
        pmw_buf_init(&scratch, SIZE_MAX);

        pmw_sim_faults_decide(sim->faults, reqno, &d);
        if (d.request && !apply_request_fault(sim, d.request, resp))
                goto out;
        if (req->body_too_large) {
                pmw_buf_t t;
                pmw_buf_init(&t, SIZE_MAX);
                pmw_buf_appendf(&t,
                                "Request too large: %zu bytes or more; %s "
                                "accepts at most %zu bytes.",
                                req->body_total, ep_paths[ep],
                                pmw_sim_body_limit(ep));
                /* ErrorCode 300, not 413: 413 in a body means "account
                 * may not send" to a client, which is not what happened. */
                json_error(resp, 413, 300, pmw_buf_ptr(&t));
                pmw_buf_cleanup(&t);
                goto out;
        }
        if (!check_headers(sim, req, true, &test, resp))
                goto out;

        pmw_error_t *err = pmw_jsontok_parse(&doc, req->body, req->body_len, 0);
        if (err) {
                pmw_buf_appendf(&field, "Invalid JSON: %s.",
                                pmw_error_string(err));
                pmw_error_destroy(err);
                json_error(resp, 422, 402, pmw_buf_ptr(&field));
                goto out;
        }

        /* The messages' tokens: the root, the root's elements, or those of
         * its "Messages" array. */
        uint32_t list = 0;
        size_t n      = 0;
        uint8_t root  = doc.toks[0].type;
        if (single) {
                if (root != PMW_JSONTOK_OBJECT) {
                        json_error(resp, 422, 402,
                                   "Invalid JSON: the body must be a JSON "
                                   "object.");
                        goto out;
                }
                n = 1;
        } else if (ep == PMW_SIM_EP_BATCH) {
                if (root != PMW_JSONTOK_ARRAY) {
                        json_error(resp, 422, 402,
                                   "Invalid JSON: the body must be a JSON "
                                   "array of messages.");
                        goto out;
                }
                list = 0;
        } else {
                if (root == PMW_JSONTOK_OBJECT) {
                        for (uint32_t k = 1; k < doc.toks[0].next;
                             k          = doc.toks[k + 1].next) {
                                if (pmw_jsontok_str_eq(&doc, k, "Messages")) {
                                        list = k + 1;
                                        continue;
                                }
                                pmw_buf_append_str(&field,
                                                   "Invalid request field(s) "
                                                   "- ");
                                pmw_jsontok_str_append(&doc, k, &field);
                                json_error(resp, 422, 403, pmw_buf_ptr(&field));
                                goto out;
                        }
                }
                if (list == 0 || doc.toks[list].type != PMW_JSONTOK_ARRAY) {
                        json_error(resp, 422, 402,
                                   "Invalid JSON: the body must be an object "
                                   "with a 'Messages' array.");
                        goto out;
                }
        }
        if (!single)
                for (uint32_t el = list + 1; el < doc.toks[list].next;
                     el          = doc.toks[el].next)
                        n++;
        if (n > PMW_SIM_MAX_BATCH) {
                json_error(resp, 422, 410,
                           "You may only send up to 500 messages in a single "
                           "batched request.");
                goto out;
        }

        msgs    = pmw_calloc(n ? n : 1, sizeof(*msgs));
        results = pmw_calloc(n ? n : 1, sizeof(*results));
        {
                uint32_t el = single ? 0 : list + 1;
                for (size_t i = 0; i < n; i++, el = doc.toks[el].next) {
                        if (doc.toks[el].type != PMW_JSONTOK_OBJECT) {
                                json_error(resp, 422, 402,
                                           "Invalid JSON: every message must "
                                           "be a JSON object.");
                                goto out;
                        }
                        if (!pmw_sim_msg_fields(&doc, el, templated, &msgs[i],
                                                &field)) {
                                pmw_buf_t t;
                                pmw_buf_init(&t, SIZE_MAX);
                                pmw_buf_append_str(&t,
                                                   "Invalid request field(s) "
                                                   "- ");
                                pmw_buf_append(&t, pmw_buf_ptr(&field),
                                               pmw_buf_len(&field));
                                json_error(resp, 422, 403, pmw_buf_ptr(&t));
                                pmw_buf_cleanup(&t);
                                goto out;
                        }
                }
        }

        /* The request has reached its messages: faults with rcpt= or
         * above= can be decided, then the message faults. */
        {
                rcpt_ctx_t rc             = {.doc = &doc, .msgs = msgs, .n = n};
                pmw_sim_batch_info_t info = {.n_messages = n,
                                             .rcpt_match =
                                                 any_recipient_matches,
                                             .ctx = &rc};
                bool had_request          = d.request != NULL;
                pmw_sim_faults_decide_messages(sim->faults, reqno,
                                               pmw_clock_mono_us(), &info, &d);
                staged = true;
                if (!had_request && d.request &&
                    !apply_request_fault(sim, d.request, resp))
                        goto out;
        }

        /* Each message on its own, in request order. */
        size_t n_accepted = 0;
        for (size_t i = 0; i < n; i++) {
                result_t *r = &results[i];
                r->code = pmw_sim_msg_check(&doc, &msgs[i], &sim->cfg->rules,
                                            templated, &r->accepted, &scratch);
                bool faulted =
                    r->accepted && d.n_messages > 0 &&
                    apply_message_faults(sim, &d, &doc, &msgs[i], i, r, &texts);
                if (!faulted) {
                        r->text_off = pmw_buf_len(&texts);
                        if (r->accepted && r->code == 0 && test)
                                pmw_buf_append_str(&texts, "Test job accepted");
                        else
                                pmw_buf_append(&texts, pmw_buf_ptr(&scratch),
                                               pmw_buf_len(&scratch));
                        r->text_len = pmw_buf_len(&texts) - r->text_off;
                }
                if (r->accepted) {
                        uuid_v4(sim, r->id);
                        n_accepted++;
                }
        }

        int64_t now_ms = pmw_clock_wall_ms();
        char when[PMW_RFC3339_MS_SIZE];
        pmw_time_format_rfc3339_ms(now_ms, when);
        resp->content_type = "application/json; charset=utf-8";
        pmw_buf_reserve(&resp->body, n * 160 + pmw_buf_len(&texts));
        if (single) {
                resp->status = results[0].code == 0 ? 200 : 422;
                append_result(&resp->body, &doc, &msgs[0], &results[0], &texts,
                              when);
        } else {
                resp->status = 200;
                pmw_buf_append_char(&resp->body, '[');
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                pmw_buf_append_char(&resp->body, ',');
                        append_result(&resp->body, &doc, &msgs[i], &results[i],
                                      &texts, when);
                }
                pmw_buf_append_char(&resp->body, ']');
        }

        atomic_fetch_add(&sim->msgs_accepted, n_accepted);
        atomic_fetch_add(&sim->msgs_failed, n - n_accepted);
        if (n_accepted > 0 && sim->cfg->store_max > 0) {
                pmw_sim_entry_t **entries =
                    pmw_malloc(n_accepted * sizeof(*entries));
                size_t k = 0;
                for (size_t i = 0; i < n; i++)
                        if (results[i].accepted)
                                entries[k++] =
                                    make_entry(&doc, &msgs[i], &results[i],
                                               now_ms, req->token, &scratch);
                pmw_sim_store_put(sim->store, entries, k);
                free(entries);
        }
        if (n_accepted > 0 && sim->record) {
                pmw_buf_reset(&scratch);
                for (size_t i = 0; i < n; i++)
                        if (results[i].accepted)
                                append_record_line(&scratch, reqno, ep,
                                                   req->token, &doc,
                                                   msgs[i].tok);
                pmw_sim_record_append(sim->record, pmw_buf_ptr(&scratch),
                                      pmw_buf_len(&scratch), n_accepted);
        }
out:
        /* A request that stopped at a check still counts for the message
         * faults' triggers: next= and nth= count requests, not batches
         * that reached their messages. */
        if (!staged)
                pmw_sim_faults_decide_messages(sim->faults, reqno, 0, NULL, &d);
        free(msgs);
        free(results);
        pmw_sim_decision_cleanup(&d);
        pmw_jsontok_cleanup(&doc);
        pmw_buf_cleanup(&field);
        pmw_buf_cleanup(&texts);
        pmw_buf_cleanup(&scratch);
}

static const char *arg_get(const pmw_sim_request_t *req, const char *key) {
        for (size_t i = 0; i < req->n_args; i++)
                if (strcmp(req->args[2 * i], key) == 0)
                        return req->args[2 * i + 1] ? req->args[2 * i + 1] : "";
        return NULL;
}

static bool parse_size(const char *s, size_t max, size_t *vp) {
        if (s == NULL)
                return true;
        if (*s < '0' || *s > '9')
                return false;
        char *end            = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end != '\0' || v > max)
                return false;
        *vp = (size_t)v;
        return true;
}

static void handle_outbound(pmw_sim_t *sim,
                            const pmw_sim_request_t *req,
                            pmw_sim_response_t *resp) {
        bool test;
        if (!check_headers(sim, req, false, &test, resp))
                return;
        pmw_sim_query_t q = {.token = req->token, .count = 100};
        if (!parse_size(arg_get(req, "count"), 500, &q.count) || q.count == 0) {
                json_error(resp, 422, 300,
                           "Invalid 'count' value: give 1 to 500.");
                return;
        }
        if (!parse_size(arg_get(req, "offset"), SIZE_MAX / 2, &q.offset)) {
                json_error(resp, 422, 300, "Invalid 'offset' value.");
                return;
        }
        q.recipient = arg_get(req, "recipient");
        q.fromemail = arg_get(req, "fromemail");
        q.tag       = arg_get(req, "tag");
        q.subject   = arg_get(req, "subject");
        q.stream    = arg_get(req, "messagestream");
        for (size_t i = 0; i < req->n_args; i++) {
                const char *key = req->args[2 * i];
                if (strncmp(key, "metadata_", 9) == 0 && key[9] != '\0') {
                        q.meta_key = key + 9;
                        q.meta_value =
                            req->args[2 * i + 1] ? req->args[2 * i + 1] : "";
                        break;
                }
        }
        resp->status       = 200;
        resp->content_type = "application/json; charset=utf-8";
        pmw_sim_store_search(sim->store, &q, &resp->body);
}

static void handle_faults(pmw_sim_t *sim,
                          const pmw_sim_request_t *req,
                          pmw_sim_response_t *resp) {
        resp->content_type = "application/json; charset=utf-8";
        if (strcmp(req->method, "DELETE") == 0)
                pmw_sim_faults_clear(sim->faults);
        if (strcmp(req->method, "POST") == 0) {
                /* All lines parse, or none is added. */
                pmw_sim_fault_t **added = NULL;
                size_t n_added          = 0;
                char *body              = pmw_strndup(req->body, req->body_len);
                char *save              = NULL;
                pmw_error_t *err        = NULL;
                for (char *line = strtok_r(body, "\n", &save); line;
                     line       = strtok_r(NULL, "\n", &save)) {
                        size_t len = strlen(line);
                        while (len > 0 &&
                               (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                                line[len - 1] == '\t'))
                                line[--len] = '\0';
                        while (*line == ' ' || *line == '\t')
                                line++;
                        if (*line == '\0' || *line == '#')
                                continue;
                        pmw_sim_fault_t *f;
                        err = pmw_sim_fault_parse(line, &f);
                        if (err)
                                break;
                        added =
                            pmw_realloc(added, (n_added + 1) * sizeof(*added));
                        added[n_added++] = f;
                }
                free(body);
                if (err) {
                        for (size_t i = 0; i < n_added; i++)
                                pmw_sim_fault_destroy(added[i]);
                        free(added);
                        resp->status = 400;
                        pmw_buf_append_str(&resp->body, "{\"error\":");
                        const char *s = pmw_error_string(err);
                        pmw_buf_append_json_str(&resp->body, s, strlen(s));
                        pmw_buf_append_char(&resp->body, '}');
                        pmw_error_destroy(err);
                        return;
                }
                for (size_t i = 0; i < n_added; i++)
                        pmw_sim_faults_add(sim->faults, added[i]);
                free(added);
        }
        resp->status = 200;
        pmw_sim_faults_list_json(sim->faults, &resp->body);
}

static void handle_stats(pmw_sim_t *sim, pmw_sim_response_t *resp) {
        pmw_buf_t *out     = &resp->body;
        resp->status       = 200;
        resp->content_type = "application/json; charset=utf-8";
        pmw_buf_append_str(out, "{\"requests\":{");
        uint64_t total = 0;
        bool first_ep  = true;
        for (int ep = 0; ep < PMW_SIM_EP_COUNT; ep++) {
                bool first = true;
                for (int s = 0; s < STATUS_SLOTS; s++) {
                        uint64_t v = atomic_load(&sim->status_count[ep][s]);
                        if (v == 0)
                                continue;
                        if (first) {
                                pmw_buf_appendf(out, "%s\"%s\":{",
                                                first_ep ? "" : ",",
                                                ep_paths[ep]);
                                first_ep = false;
                        }
                        if (s == 0)
                                pmw_buf_appendf(out, "%s\"dropped\":%llu",
                                                first ? "" : ",",
                                                (unsigned long long)v);
                        else
                                pmw_buf_appendf(out, "%s\"%d\":%llu",
                                                first ? "" : ",", s,
                                                (unsigned long long)v);
                        first = false;
                        if (ep <= PMW_SIM_EP_BATCH_TEMPLATES)
                                total += v;
                }
                if (!first)
                        pmw_buf_append_char(out, '}');
        }
        pmw_buf_appendf(out,
                        "},\"sending_requests\":%llu,\"messages\":{"
                        "\"accepted\":%llu,\"failed\":%llu},\"faults\":{",
                        (unsigned long long)total,
                        (unsigned long long)atomic_load(&sim->msgs_accepted),
                        (unsigned long long)atomic_load(&sim->msgs_failed));
        uint64_t fired = 0;
        for (int k = PMW_SIM_FAULT_STATUS; k <= PMW_SIM_FAULT_MESSAGE; k++) {
                uint64_t v = atomic_load(&sim->fault_fired[k]);
                fired += v;
                pmw_buf_appendf(out, "\"%s\":%llu,", fault_names[k],
                                (unsigned long long)v);
        }
        pmw_buf_appendf(
            out, "\"total\":%llu},\"stored\":%zu,\"recorded\":%llu}",
            (unsigned long long)fired, pmw_sim_store_size(sim->store),
            (unsigned long long)(sim->record ? pmw_sim_record_lines(sim->record)
                                             : 0));
}

void pmw_sim_handle(pmw_sim_t *sim,
                    const pmw_sim_request_t *req,
                    pmw_sim_response_t *resp) {
        memset(resp, 0, sizeof(*resp));
        pmw_buf_init(&resp->body, SIZE_MAX);
        resp->retry_after     = -1;
        resp->content_type    = "application/json; charset=utf-8";
        pmw_sim_endpoint_t ep = pmw_sim_route(req->path);
        bool is_sim = ep == PMW_SIM_EP_SIM_FAULTS || ep == PMW_SIM_EP_SIM_STATS;
        if (!is_sim)
                resp->delay_ms = sim->cfg->latency_ms;

        if (ep == PMW_SIM_EP_UNKNOWN) {
                json_error(resp, 404, 404,
                           "Not found: no such endpoint in the Postmark "
                           "simulator.");
        } else if (!method_allowed(ep, req->method)) {
                resp->status = 405; /* empty body, as Postmark */
        } else if (is_sending(ep)) {
                handle_send(sim, ep, req, resp);
        } else if (ep == PMW_SIM_EP_OUTBOUND) {
                handle_outbound(sim, req, resp);
        } else if (ep == PMW_SIM_EP_SIM_FAULTS) {
                handle_faults(sim, req, resp);
        } else {
                handle_stats(sim, resp);
        }
        int slot = resp->status < STATUS_SLOTS ? resp->status : 0;
        atomic_fetch_add(&sim->status_count[ep][slot], 1);
}
