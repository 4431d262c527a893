/*
 * common/postmark_message.c: see postmark_message.h.
 *
 * The job is tokenized once (common/jsontok.h: validated, nothing copied)
 * and goes through three steps on the tokens:
 *
 *   1. shape: each field name of the job (and of each Headers and
 *      Attachments element) is mapped to a field id through a small static
 *      table of Postmark names and aliases, and its JSON type is checked.
 *      Unknown and mistyped fields are 403 and stop at once; a field given
 *      under both names is noted as a 300 but the walk goes on, so that a
 *      403 found later still wins.
 *   2. rules across fields: From, To, a body or a template.
 *   3. content and output, in the job's field order: each field's value is
 *      checked (lengths, addresses, base64, MIME type, ...) and written
 *      under its Postmark name into one buffer, which becomes the body.
 *
 * Values the worker does not change (strings, numbers, TemplateModel) are
 * copied into the output as the job wrote them, whitespace between tokens
 * dropped: the tokenizer has validated them, so they are valid JSON, and
 * reals keep their exact text. The output buffer is sized from the input
 * once, so a valid job costs a handful of allocations whatever its size.
 */
#include "common/postmark_message.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/jsontok.h"
#include "common/mem.h"

/* Names from the job are cut to this many bytes in reasons, so a reason
 * never carries much of the job. */
#define NAME_CUT 64

const char *pmw_endpoint_path(pmw_endpoint_t ep) {
        return ep == PMW_ENDPOINT_BATCH_TEMPLATES ? "/email/batchWithTemplates"
                                                  : "/email/batch";
}

/*
 * Field tables.
 */

typedef enum kind_e {
        K_STRING,
        K_BOOL,
        K_INTEGER,
        K_OBJECT,
        K_ARRAY,
} kind_t;

/* A field as Postmark names it; key is its JSON text, ready to append. */
typedef struct field_s {
        const char *name;
        const char *key;
        size_t key_len;
        kind_t kind;
} field_t;

#define FIELD(name, kind)                                                      \
        { name, "\"" name "\":", sizeof(name) + 2, kind }

/* A name a job may use for a field: Postmark's own or an alias. */
typedef struct alias_s {
        const char *name;
        size_t len;
        unsigned id;
} alias_t;

#define ALIAS(name, id)                                                        \
        { name, sizeof(name) - 1, id }

typedef struct schema_s {
        const field_t *fields;
        const alias_t *aliases;
        size_t naliases;
} schema_t;

enum msg_field_e {
        F_FROM,
        F_TO,
        F_CC,
        F_BCC,
        F_SUBJECT,
        F_TAG,
        F_HTML_BODY,
        F_TEXT_BODY,
        F_REPLY_TO,
        F_HEADERS,
        F_TRACK_OPENS,
        F_TRACK_LINKS,
        F_METADATA,
        F_ATTACHMENTS,
        F_MESSAGE_STREAM,
        F_TEMPLATE_ID,
        F_TEMPLATE_ALIAS,
        F_TEMPLATE_MODEL,
        F_INLINE_CSS,
        F__COUNT
};

static const field_t msg_fields[F__COUNT] = {
    [F_FROM]           = FIELD("From", K_STRING),
    [F_TO]             = FIELD("To", K_STRING),
    [F_CC]             = FIELD("Cc", K_STRING),
    [F_BCC]            = FIELD("Bcc", K_STRING),
    [F_SUBJECT]        = FIELD("Subject", K_STRING),
    [F_TAG]            = FIELD("Tag", K_STRING),
    [F_HTML_BODY]      = FIELD("HtmlBody", K_STRING),
    [F_TEXT_BODY]      = FIELD("TextBody", K_STRING),
    [F_REPLY_TO]       = FIELD("ReplyTo", K_STRING),
    [F_HEADERS]        = FIELD("Headers", K_ARRAY),
    [F_TRACK_OPENS]    = FIELD("TrackOpens", K_BOOL),
    [F_TRACK_LINKS]    = FIELD("TrackLinks", K_STRING),
    [F_METADATA]       = FIELD("Metadata", K_OBJECT),
    [F_ATTACHMENTS]    = FIELD("Attachments", K_ARRAY),
    [F_MESSAGE_STREAM] = FIELD("MessageStream", K_STRING),
    [F_TEMPLATE_ID]    = FIELD("TemplateId", K_INTEGER),
    [F_TEMPLATE_ALIAS] = FIELD("TemplateAlias", K_STRING),
    [F_TEMPLATE_MODEL] = FIELD("TemplateModel", K_OBJECT),
    [F_INLINE_CSS]     = FIELD("InlineCss", K_BOOL),
};

/* Most used first: lookup is a scan, and the length test rejects most
 * entries without touching the name. */
static const alias_t msg_aliases[] = {
    ALIAS("From", F_FROM),
    ALIAS("To", F_TO),
    ALIAS("Subject", F_SUBJECT),
    ALIAS("HtmlBody", F_HTML_BODY),
    ALIAS("TextBody", F_TEXT_BODY),
    ALIAS("MessageStream", F_MESSAGE_STREAM),
    ALIAS("Tag", F_TAG),
    ALIAS("Metadata", F_METADATA),
    ALIAS("Cc", F_CC),
    ALIAS("Bcc", F_BCC),
    ALIAS("ReplyTo", F_REPLY_TO),
    ALIAS("Headers", F_HEADERS),
    ALIAS("TrackOpens", F_TRACK_OPENS),
    ALIAS("TrackLinks", F_TRACK_LINKS),
    ALIAS("Attachments", F_ATTACHMENTS),
    ALIAS("TemplateId", F_TEMPLATE_ID),
    ALIAS("TemplateAlias", F_TEMPLATE_ALIAS),
    ALIAS("TemplateModel", F_TEMPLATE_MODEL),
    ALIAS("InlineCss", F_INLINE_CSS),
    ALIAS("sender", F_FROM),
    ALIAS("to", F_TO),
    ALIAS("subject", F_SUBJECT),
    ALIAS("html_body", F_HTML_BODY),
    ALIAS("text_body", F_TEXT_BODY),
    ALIAS("message_stream", F_MESSAGE_STREAM),
    ALIAS("tag", F_TAG),
    ALIAS("metadata", F_METADATA),
    ALIAS("cc", F_CC),
    ALIAS("bcc", F_BCC),
    ALIAS("reply_to", F_REPLY_TO),
    ALIAS("headers", F_HEADERS),
    ALIAS("track_opens", F_TRACK_OPENS),
    ALIAS("track_links", F_TRACK_LINKS),
    ALIAS("attachments", F_ATTACHMENTS),
    ALIAS("template_id", F_TEMPLATE_ID),
    ALIAS("template_alias", F_TEMPLATE_ALIAS),
    ALIAS("template_model", F_TEMPLATE_MODEL),
    ALIAS("inline_css", F_INLINE_CSS),
};

static const schema_t msg_schema = {msg_fields, msg_aliases,
                                    PMW_ARRAY_LEN(msg_aliases)};

enum header_field_e { H_NAME, H_VALUE, H__COUNT };

static const field_t header_fields[H__COUNT] = {
    [H_NAME]  = FIELD("Name", K_STRING),
    [H_VALUE] = FIELD("Value", K_STRING),
};

static const alias_t header_aliases[] = {
    ALIAS("Name", H_NAME),
    ALIAS("Value", H_VALUE),
    ALIAS("name", H_NAME),
    ALIAS("value", H_VALUE),
};

static const schema_t header_schema = {header_fields, header_aliases,
                                       PMW_ARRAY_LEN(header_aliases)};

enum attachment_field_e {
        A_NAME,
        A_CONTENT,
        A_CONTENT_TYPE,
        A_CONTENT_ID,
        A_DISPOSITION,
        A_CONTENT_LENGTH,
        A__COUNT
};

static const field_t attachment_fields[A__COUNT] = {
    [A_NAME]           = FIELD("Name", K_STRING),
    [A_CONTENT]        = FIELD("Content", K_STRING),
    [A_CONTENT_TYPE]   = FIELD("ContentType", K_STRING),
    [A_CONTENT_ID]     = FIELD("ContentID", K_STRING),
    [A_DISPOSITION]    = FIELD("Disposition", K_STRING),
    [A_CONTENT_LENGTH] = FIELD("ContentLength", K_INTEGER),
};

static const alias_t attachment_aliases[] = {
    ALIAS("Name", A_NAME),
    ALIAS("Content", A_CONTENT),
    ALIAS("ContentType", A_CONTENT_TYPE),
    ALIAS("ContentID", A_CONTENT_ID),
    ALIAS("Disposition", A_DISPOSITION),
    ALIAS("ContentLength", A_CONTENT_LENGTH),
    ALIAS("name", A_NAME),
    ALIAS("content", A_CONTENT),
    ALIAS("content_type", A_CONTENT_TYPE),
    ALIAS("content_id", A_CONTENT_ID),
};

static const schema_t attachment_schema = {
    attachment_fields, attachment_aliases, PMW_ARRAY_LEN(attachment_aliases)};

/* The fields of one object, by id. Each id is stored once (a second name
 * for the same field is an error), so order[] cannot overflow. */
typedef struct slots_s {
        uint32_t value[F__COUNT]; /* value token; 0: absent or null */
        /* The name the job used: the alias table's copy (static). */
        const char *given[F__COUNT];
        unsigned char order[F__COUNT];
        size_t n;
} slots_t;

/* Where a nested object sits, for reasons: "attachments[2]". */
typedef struct where_s {
        const char *array; /* the array's name as given; NULL at top level */
        size_t index;
} where_t;

typedef struct ctx_s {
        pmw_message_t *msg;
        pmw_jsontok_t doc; /* the job's tokens; the root is token 0 */
        bool is_object;    /* parsed, and the root is an object */
        slots_t top;
        pmw_buf_t out;
        pmw_buf_t scratch; /* one decoded string at a time */
        size_t recipients;
        bool templated;
} ctx_t;

/* Token i of the job. */
static const pmw_jsontok_tok_t *tok(const ctx_t *ctx, uint32_t i) {
        return &ctx->doc.toks[i];
}

/* The decoded value of string token i: borrowed from the job, or in
 * ctx->scratch until the next call. */
static const char *str(ctx_t *ctx, uint32_t i, size_t *lenp) {
        return pmw_jsontok_str(&ctx->doc, i, &ctx->scratch, lenp);
}

/*
 * Reasons.
 */

PMW_PRINTF(3, 4)
static void reject(pmw_message_t *msg, int code, const char *fmt, ...) {
        /* The first problem is reported, except that a field error (403)
         * replaces a 300 noted while the shape was still being checked. */
        if (msg->reject_code != 0 && !(msg->reject_code == PMW_REJECT_INVALID &&
                                       code == PMW_REJECT_FIELD))
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg->reject_reason, sizeof(msg->reject_reason), fmt, ap);
        va_end(ap);
        /* One line, whatever the job or the parser's message contained. */
        for (char *c = msg->reject_reason; *c; c++) {
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = '?';
        }
        msg->reject_code = code;
}

/* Room for a shown name: NAME_CUT bytes, each escaped to at most two. */
#define SHOW_CAP (2 * NAME_CUT + 1)

/* Copies job text for quoting in a reason: cut to NAME_CUT bytes without
 * splitting a UTF-8 sequence, and control characters escaped or replaced,
 * so that a reason stays on one line in logs and headers. */
static const char *show(char out[SHOW_CAP], const char *s, size_t len) {
        size_t n = len;
        size_t o = 0;
        if (n > NAME_CUT) {
                n = NAME_CUT;
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '\n' || c == '\r' || c == '\t') {
                        out[o++] = '\\';
                        out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                } else {
                        out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
                }
        }
        out[o] = '\0';
        return out;
}

/* "name" or "array[i].name", the name shown as show() does. */
static const char *path(char *out,
                        size_t cap,
                        const where_t *where,
                        const char *name,
                        size_t len) {
        char shown[SHOW_CAP];
        show(shown, name, len);
        if (where->array)
                snprintf(out, cap, "%s[%zu].%s", where->array, where->index,
                         shown);
        else
                snprintf(out, cap, "%s", shown);
        return out;
}

static const char *kind_name(kind_t kind) {
        switch (kind) {
        case K_STRING:
                return "a string";
        case K_BOOL:
                return "a boolean";
        case K_INTEGER:
                return "an integer";
        case K_OBJECT:
                return "an object";
        case K_ARRAY:
                break;
        }
        return "an array";
}

static const char *type_name(const ctx_t *ctx, uint32_t v) {
        switch (tok(ctx, v)->type) {
        case PMW_JSONTOK_OBJECT:
                return "an object";
        case PMW_JSONTOK_ARRAY:
                return "an array";
        case PMW_JSONTOK_STRING:
                return "a string";
        case PMW_JSONTOK_NUMBER:
                return tok(ctx, v)->flags & PMW_JSONTOK_F_INTEGER
                           ? "an integer"
                           : "a real number";
        case PMW_JSONTOK_TRUE:
        case PMW_JSONTOK_FALSE:
                return "a boolean";
        default:
                break;
        }
        return "null";
}

static bool kind_ok(const ctx_t *ctx, kind_t kind, uint32_t v) {
        const pmw_jsontok_tok_t *t = tok(ctx, v);
        switch (kind) {
        case K_STRING:
                return t->type == PMW_JSONTOK_STRING;
        case K_BOOL:
                return t->type == PMW_JSONTOK_TRUE ||
                       t->type == PMW_JSONTOK_FALSE;
        case K_INTEGER:
                return t->type == PMW_JSONTOK_NUMBER &&
                       (t->flags & PMW_JSONTOK_F_INTEGER);
        case K_OBJECT:
                return t->type == PMW_JSONTOK_OBJECT;
        case K_ARRAY:
                break;
        }
        return t->type == PMW_JSONTOK_ARRAY;
}

static bool is_null(const ctx_t *ctx, uint32_t v) {
        return tok(ctx, v)->type == PMW_JSONTOK_NULL;
}

/*
 * Step 1: shape.
 */

static const alias_t *
lookup(const schema_t *schema, const char *name, size_t len) {
        for (size_t i = 0; i < schema->naliases; i++) {
                const alias_t *a = &schema->aliases[i];
                if (a->len == len && memcmp(a->name, name, len) == 0)
                        return a;
        }
        return NULL;
}

/* Maps obj's fields to ids and checks their types. Returns false after a
 * 403; a field given twice is noted as a 300 and the walk goes on. */
static bool classify(ctx_t *ctx,
                     const schema_t *schema,
                     uint32_t obj,
                     const where_t *where,
                     slots_t *slots) {
        pmw_message_t *msg = ctx->msg;
        char p[160];
        memset(slots->value, 0, sizeof(slots->value));
        slots->n = 0;
        for (uint32_t k = obj + 1; k < tok(ctx, obj)->next;
             k          = tok(ctx, k + 1)->next) {
                uint32_t v = k + 1;
                size_t len;
                const char *name   = str(ctx, k, &len);
                const alias_t *a   = lookup(schema, name, len);
                const field_t *fld = a ? &schema->fields[a->id] : NULL;
                if (!a) {
                        reject(msg, PMW_REJECT_FIELD, "unknown field '%s'",
                               path(p, sizeof(p), where, name, len));
                        return false;
                }
                if (is_null(ctx, v))
                        continue; /* null means absent */
                if (!kind_ok(ctx, fld->kind, v)) {
                        reject(msg, PMW_REJECT_FIELD, "%s must be %s, not %s",
                               path(p, sizeof(p), where, a->name, a->len),
                               kind_name(fld->kind), type_name(ctx, v));
                        return false;
                }
                if (slots->value[a->id]) {
                        char p2[160];
                        reject(msg, PMW_REJECT_INVALID,
                               "%s is given twice: as %s and %s", fld->name,
                               path(p2, sizeof(p2), where, slots->given[a->id],
                                    strlen(slots->given[a->id])),
                               path(p, sizeof(p), where, a->name, a->len));
                        continue;
                }
                slots->value[a->id]      = v;
                slots->given[a->id]      = a->name;
                slots->order[slots->n++] = (unsigned char)a->id;
        }
        return true;
}

/* Headers and Attachments: arrays of objects of a known shape. */
static bool check_array_shape(ctx_t *ctx,
                              const schema_t *schema,
                              uint32_t array,
                              const char *given) {
        slots_t slots;
        size_t i = 0;
        for (uint32_t el = array + 1; el < tok(ctx, array)->next;
             el          = tok(ctx, el)->next, i++) {
                where_t where = {given, i};
                if (tok(ctx, el)->type != PMW_JSONTOK_OBJECT) {
                        reject(ctx->msg, PMW_REJECT_FIELD,
                               "%s[%zu] must be an object, not %s", given, i,
                               type_name(ctx, el));
                        return false;
                }
                if (!classify(ctx, schema, el, &where, &slots))
                        return false;
        }
        return true;
}

static bool check_metadata_shape(ctx_t *ctx, uint32_t md, const char *given) {
        for (uint32_t k = md + 1; k < tok(ctx, md)->next;
             k          = tok(ctx, k + 1)->next) {
                uint32_t v = k + 1;
                if (tok(ctx, v)->type == PMW_JSONTOK_STRING || is_null(ctx, v))
                        continue;
                char shown[SHOW_CAP];
                size_t len;
                const char *key = str(ctx, k, &len);
                reject(ctx->msg, PMW_REJECT_FIELD,
                       "%s value of '%s' must be a string, not %s", given,
                       show(shown, key, len), type_name(ctx, v));
                return false;
        }
        return true;
}

static bool check_shape(ctx_t *ctx) {
        pmw_message_t *msg  = ctx->msg;
        slots_t *top        = &ctx->top;
        const where_t where = {NULL, 0};

        if (!classify(ctx, &msg_schema, 0, &where, top))
                return false;
        if (top->value[F_HEADERS] &&
            !check_array_shape(ctx, &header_schema, top->value[F_HEADERS],
                               top->given[F_HEADERS]))
                return false;
        if (top->value[F_ATTACHMENTS] &&
            !check_array_shape(ctx, &attachment_schema,
                               top->value[F_ATTACHMENTS],
                               top->given[F_ATTACHMENTS]))
                return false;
        if (top->value[F_METADATA] &&
            !check_metadata_shape(ctx, top->value[F_METADATA],
                                  top->given[F_METADATA]))
                return false;

        /* The template supplies these; /email/batchWithTemplates has no
         * such fields. */
        ctx->templated =
            top->value[F_TEMPLATE_ID] || top->value[F_TEMPLATE_ALIAS];
        if (ctx->templated) {
                static const unsigned no_template[] = {F_SUBJECT, F_HTML_BODY,
                                                       F_TEXT_BODY};
                for (size_t i = 0; i < PMW_ARRAY_LEN(no_template); i++) {
                        unsigned id = no_template[i];
                        if (!top->value[id])
                                continue;
                        reject(msg, PMW_REJECT_FIELD,
                               "%s is not a field of templated messages "
                               "(the template supplies it)",
                               top->given[id]);
                        return false;
                }
        }
        return msg->reject_code == 0;
}

/*
 * Step 2: rules across fields.
 */

/* Absent, or "" (a string is empty exactly when its raw text is). */
static bool string_empty(const ctx_t *ctx, uint32_t v) {
        return !v || tok(ctx, v)->len == 0;
}

static bool check_required(ctx_t *ctx) {
        pmw_message_t *msg = ctx->msg;
        const uint32_t *v  = ctx->top.value;

        static const unsigned required[] = {F_FROM, F_TO};
        for (size_t i = 0; i < PMW_ARRAY_LEN(required); i++) {
                unsigned id = required[i];
                if (string_empty(ctx, v[id])) {
                        reject(msg, PMW_REJECT_INVALID, "%s is %s",
                               v[id] ? ctx->top.given[id] : msg_fields[id].name,
                               v[id] ? "empty" : "missing");
                        return false;
                }
        }
        if (ctx->templated) {
                uint32_t id = v[F_TEMPLATE_ID];
                int64_t n   = 0;
                /* The parser checked that every integer fits. */
                if (id && pmw_jsontok_int(&ctx->doc, id, &n) && n <= 0) {
                        reject(msg, PMW_REJECT_INVALID,
                               "%s must be a positive integer, not %" PRId64,
                               ctx->top.given[F_TEMPLATE_ID], n);
                        return false;
                }
                if (!id && string_empty(ctx, v[F_TEMPLATE_ALIAS])) {
                        reject(msg, PMW_REJECT_INVALID, "%s is empty",
                               ctx->top.given[F_TEMPLATE_ALIAS]);
                        return false;
                }
                if (!v[F_TEMPLATE_MODEL]) {
                        reject(msg, PMW_REJECT_INVALID,
                               "TemplateModel is missing: a templated "
                               "message needs it");
                        return false;
                }
                return true;
        }
        if (v[F_TEMPLATE_MODEL] || v[F_INLINE_CSS]) {
                unsigned id =
                    v[F_TEMPLATE_MODEL] ? F_TEMPLATE_MODEL : F_INLINE_CSS;
                reject(msg, PMW_REJECT_INVALID,
                       "%s needs TemplateId or TemplateAlias",
                       ctx->top.given[id]);
                return false;
        }
        if (string_empty(ctx, v[F_HTML_BODY]) &&
            string_empty(ctx, v[F_TEXT_BODY])) {
                /* Postmark's own wording, so both paths read the same. */
                reject(msg, PMW_REJECT_INVALID,
                       "Provide either email TextBody or HtmlBody or both.");
                return false;
        }
        return true;
}

/*
 * Step 3: content checks.
 */

static bool is_ws(unsigned char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* An address: local part '@' domain, both non-empty, no unquoted
 * whitespace or angle brackets. The local part may be quoted and contain
 * '@', so the domain starts after the last unquoted '@'. */
static bool address_ok(const char *s, size_t len) {
        bool quoted = false;
        size_t at   = len;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (quoted) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                quoted = false;
                        continue;
                }
                if (c == '"')
                        quoted = true;
                else if (c == '@')
                        at = i;
                else if (is_ws(c) || c == '<' || c == '>' || c < 0x20)
                        return false;
        }
        return !quoted && at > 0 && at + 1 < len;
}

/* A recipient: "addr", or "Display Name <addr>" with the name optionally
 * quoted. s has no leading or trailing whitespace. */
static bool recipient_ok(const char *s, size_t len) {
        bool quoted = false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (quoted) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                quoted = false;
                        continue;
                }
                if (c == '"') {
                        quoted = true;
                } else if (c == '<') {
                        const char *end = memchr(s + i + 1, '>', len - i - 1);
                        if (!end)
                                return false;
                        return address_ok(s + i + 1,
                                          (size_t)(end - (s + i + 1)));
                }
        }
        return address_ok(s, len);
}

/* Checks a comma-separated list of recipients and counts them. Commas in
 * quotes ("Doe, Jane") or in angle brackets do not separate; empty items
 * (a trailing comma) are skipped. */
static bool
check_address_list(ctx_t *ctx, const char *given, uint32_t v, size_t *count) {
        size_t len;
        const char *s = str(ctx, v, &len);
        bool quoted   = false;
        bool angle    = false;
        size_t start  = 0;
        *count        = 0;
        for (size_t i = 0; i <= len; i++) {
                if (i < len) {
                        char c = s[i];
                        if (quoted) {
                                if (c == '\\' && i + 1 < len)
                                        i++;
                                else if (c == '"')
                                        quoted = false;
                                continue;
                        }
                        if (c == '"')
                                quoted = true;
                        else if (c == '<')
                                angle = true;
                        else if (c == '>')
                                angle = false;
                        if (c != ',' || angle)
                                continue;
                }
                size_t a = start, b = i;
                start = i + 1;
                while (a < b && is_ws((unsigned char)s[a]))
                        a++;
                while (b > a && is_ws((unsigned char)s[b - 1]))
                        b--;
                if (a == b)
                        continue;
                if (!recipient_ok(s + a, b - a)) {
                        char shown[SHOW_CAP];
                        reject(ctx->msg, PMW_REJECT_INVALID,
                               "invalid address in %s: '%s'", given,
                               show(shown, s + a, b - a));
                        return false;
                }
                (*count)++;
        }
        return true;
}

static bool
check_utf16_limit(ctx_t *ctx, const char *given, uint32_t v, size_t max) {
        size_t n = pmw_jsontok_str_utf16_len(&ctx->doc, v);
        if (n <= max)
                return true;
        reject(ctx->msg, PMW_REJECT_INVALID,
               "%s is %zu UTF-16 code units; the limit is %zu", given, n, max);
        return false;
}

static bool
check_bytes_limit(ctx_t *ctx, const char *given, uint32_t v, size_t max) {
        /* Decoding never lengthens a string: most bodies are settled by
         * their raw length alone. */
        if (tok(ctx, v)->len <= max)
                return true;
        size_t n = pmw_jsontok_str_len(&ctx->doc, v);
        if (n <= max)
                return true;
        reject(ctx->msg, PMW_REJECT_INVALID,
               "%s is %zu bytes; the limit is %zu", given, n, max);
        return false;
}

static bool base64_ok(const char *s, size_t len) {
        /* 1 for the standard alphabet; 2 for '='; 3 for CR and LF, which
         * MIME-style encoders insert every 76 characters. */
        static const unsigned char cls[256] = {
            ['A'] = 1,  ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
            ['G'] = 1,  ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
            ['M'] = 1,  ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
            ['S'] = 1,  ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
            ['Y'] = 1,  ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
            ['e'] = 1,  ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
            ['k'] = 1,  ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
            ['q'] = 1,  ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
            ['w'] = 1,  ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1,
            ['2'] = 1,  ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
            ['8'] = 1,  ['9'] = 1, ['+'] = 1, ['/'] = 1, ['='] = 2, ['\r'] = 3,
            ['\n'] = 3,
        };
        const unsigned char *u = (const unsigned char *)s;
        size_t data = 0, pad = 0;
        for (size_t i = 0; i < len; i++) {
                switch (cls[u[i]]) {
                case 1:
                        if (pad)
                                return false; /* data after padding */
                        data++;
                        break;
                case 2:
                        if (++pad > 2)
                                return false;
                        break;
                case 3:
                        break;
                default:
                        return false;
                }
        }
        return (data + pad) % 4 == 0;
}

/* RFC 2045 token character: US-ASCII printable, not a tspecial. */
static bool token_char(unsigned char c) {
        return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

static size_t skip_token(const char *s, size_t i, size_t len) {
        while (i < len && token_char((unsigned char)s[i]))
                i++;
        return i;
}

static size_t skip_ws(const char *s, size_t i, size_t len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
                i++;
        return i;
}

/* type "/" subtype *( ";" attribute "=" ( token | quoted-string ) ), with
 * blanks allowed around ';' and a trailing ';' tolerated. */
static bool mime_type_ok(const char *s, size_t len) {
        size_t i = skip_token(s, 0, len);
        if (i == 0 || i >= len || s[i] != '/')
                return false;
        size_t j = skip_token(s, i + 1, len);
        if (j == i + 1)
                return false;
        i = skip_ws(s, j, len);
        while (i < len) {
                if (s[i] != ';')
                        return false;
                i = skip_ws(s, i + 1, len);
                if (i == len)
                        break;
                j = skip_token(s, i, len);
                if (j == i || j >= len || s[j] != '=')
                        return false;
                i = j + 1;
                if (i < len && s[i] == '"') {
                        for (i++; i < len && s[i] != '"'; i++) {
                                if (s[i] == '\\')
                                        i++;
                        }
                        if (i >= len)
                                return false;
                        i++;
                } else {
                        j = skip_token(s, i, len);
                        if (j == i)
                                return false;
                        i = j;
                }
                i = skip_ws(s, i, len);
        }
        return true;
}

/* RFC 2392: ASCII, no spaces. */
static bool content_id_ok(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= 0x20 || c >= 0x7f)
                        return false;
        }
        return true;
}

static unsigned char ascii_lower(unsigned char c) {
        return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Compares ignoring ASCII case, as Postmark compares Metadata keys. */
static int
ascii_casecmp(const char *a, size_t alen, const char *b, size_t blen) {
        size_t n = PMW_MIN(alen, blen);
        for (size_t i = 0; i < n; i++) {
                unsigned char x = ascii_lower((unsigned char)a[i]);
                unsigned char y = ascii_lower((unsigned char)b[i]);
                if (x != y)
                        return x < y ? -1 : 1;
        }
        return alen < blen ? -1 : alen > blen;
}

typedef struct mdkey_s {
        const char *s; /* the decoded key */
        size_t len;
        size_t off;   /* an escaped key's place in the decoded names */
        size_t index; /* position in the job, to name a pair in job order */
} mdkey_t;

static int key_cmp(const void *pa, const void *pb) {
        const mdkey_t *a = pa;
        const mdkey_t *b = pb;
        return ascii_casecmp(a->s, a->len, b->s, b->len);
}

/*
 * Step 3: output.
 */

static void write_key(ctx_t *ctx, const field_t *fld, bool *first) {
        if (!*first)
                pmw_buf_append_char(&ctx->out, ',');
        *first = false;
        pmw_buf_append(&ctx->out, fld->key, fld->key_len);
}

static bool
check_header(ctx_t *ctx, const slots_t *el, const char *given, size_t i) {
        if (string_empty(ctx, el->value[H_NAME])) {
                reject(ctx->msg, PMW_REJECT_INVALID, "%s[%zu].Name is %s",
                       given, i, el->value[H_NAME] ? "empty" : "missing");
                return false;
        }
        if (!el->value[H_VALUE]) {
                reject(ctx->msg, PMW_REJECT_INVALID, "%s[%zu].Value is missing",
                       given, i);
                return false;
        }
        return true;
}

static bool
check_attachment(ctx_t *ctx, const slots_t *el, const char *given, size_t i) {
        static const unsigned required[] = {A_NAME, A_CONTENT, A_CONTENT_TYPE};
        pmw_message_t *msg               = ctx->msg;
        const char *s;
        size_t len;
        for (size_t k = 0; k < PMW_ARRAY_LEN(required); k++) {
                unsigned id = required[k];
                if (!el->value[id]) {
                        reject(msg, PMW_REJECT_INVALID, "%s[%zu].%s is missing",
                               given, i, attachment_fields[id].name);
                        return false;
                }
        }
        if (string_empty(ctx, el->value[A_NAME])) {
                reject(msg, PMW_REJECT_INVALID, "%s[%zu].%s is empty", given, i,
                       el->given[A_NAME]);
                return false;
        }
        s = str(ctx, el->value[A_CONTENT], &len);
        if (!base64_ok(s, len)) {
                reject(msg, PMW_REJECT_INVALID,
                       "%s[%zu].%s is not valid base64", given, i,
                       el->given[A_CONTENT]);
                return false;
        }
        s = str(ctx, el->value[A_CONTENT_TYPE], &len);
        if (!mime_type_ok(s, len)) {
                char shown[SHOW_CAP];
                reject(msg, PMW_REJECT_INVALID,
                       "%s[%zu].%s '%s' is not a valid MIME type", given, i,
                       el->given[A_CONTENT_TYPE], show(shown, s, len));
                return false;
        }
        if (!el->value[A_CONTENT_ID])
                return true;
        s = str(ctx, el->value[A_CONTENT_ID], &len);
        if (!content_id_ok(s, len)) {
                reject(msg, PMW_REJECT_INVALID,
                       "%s[%zu].%s must be printable ASCII without spaces",
                       given, i, el->given[A_CONTENT_ID]);
                return false;
        }
        return true;
}

/* Copies value token v as the job wrote it, minus whitespace. */
static void write_value(ctx_t *ctx, uint32_t v) {
        pmw_jsontok_append_compact(&ctx->doc, v, &ctx->out);
}

/* Writes an array of Headers or Attachments elements under Postmark's
 * names, checking each element with check(). */
static bool write_elements(
    ctx_t *ctx,
    uint32_t array,
    const char *given,
    const schema_t *schema,
    bool (*check)(ctx_t *ctx, const slots_t *el, const char *given, size_t i)) {
        slots_t el;
        size_t i = 0;
        pmw_buf_append_char(&ctx->out, '[');
        for (uint32_t e = array + 1; e < tok(ctx, array)->next;
             e          = tok(ctx, e)->next, i++) {
                where_t where = {given, i};
                (void)classify(ctx, schema, e, &where, &el);
                if (!check(ctx, &el, given, i))
                        return false;
                bool first = true;
                if (i)
                        pmw_buf_append_char(&ctx->out, ',');
                pmw_buf_append_char(&ctx->out, '{');
                for (size_t k = 0; k < el.n; k++) {
                        unsigned id = el.order[k];
                        write_key(ctx, &schema->fields[id], &first);
                        write_value(ctx, el.value[id]);
                }
                pmw_buf_append_char(&ctx->out, '}');
        }
        pmw_buf_append_char(&ctx->out, ']');
        return true;
}

static bool job_id_ok(const char *job_id, size_t len) {
        return len <= PMW_MESSAGE_MAX_JOB_ID_BYTES &&
               pmw_utf8_valid_prefix(job_id, len) == len;
}

static void write_job_id(ctx_t *ctx, const char *job_id, size_t len) {
        pmw_buf_append(&ctx->out, "\"pmw_job_id\":", 13);
        /* job_id_ok() has checked it is UTF-8. */
        pmw_buf_append_json_utf8(&ctx->out, job_id, len);
        ctx->msg->job_id_added = true;
}

/* Checks keys (non-empty, unique ignoring case) and writes the object,
 * null values dropped, pmw_job_id appended when allowed. */
static bool write_metadata(ctx_t *ctx,
                           uint32_t md,
                           const char *given,
                           const char *job_id,
                           size_t job_id_len) {
        /* Below this many keys a quadratic check beats sorting and needs no
         * allocation; above it, a job with thousands of keys must not cost
         * millions of comparisons. */
        enum { SMALL = 16 };
        pmw_message_t *msg = ctx->msg;
        mdkey_t small[SMALL];
        mdkey_t *keys = small;
        size_t n = 0, cap = SMALL;
        bool has_job_id = false, ok = true, first = true;
        /* Escaped keys, decoded: their pointers are set once it has
         * stopped moving. */
        pmw_buf_t names;

        pmw_buf_init(&names, SIZE_MAX);
        pmw_buf_append_char(&ctx->out, '{');
        for (uint32_t k = md + 1; k < tok(ctx, md)->next;
             k          = tok(ctx, k + 1)->next) {
                uint32_t v = k + 1;
                if (is_null(ctx, v))
                        continue;
                if (tok(ctx, k)->len == 0) {
                        reject(msg, PMW_REJECT_INVALID, "%s has an empty key",
                               given);
                        ok = false;
                        goto out;
                }
                if (n == cap) {
                        cap *= 2;
                        if (keys == small) {
                                keys = pmw_malloc(cap * sizeof(*keys));
                                memcpy(keys, small, sizeof(small));
                        } else {
                                keys = pmw_realloc(keys, cap * sizeof(*keys));
                        }
                }
                mdkey_t *key = &keys[n];
                key->index   = n;
                if (tok(ctx, k)->flags & PMW_JSONTOK_F_ESCAPED) {
                        key->s   = NULL;
                        key->off = pmw_buf_len(&names);
                        pmw_jsontok_str_append(&ctx->doc, k, &names);
                        key->len = pmw_buf_len(&names) - key->off;
                } else {
                        key->s   = pmw_jsontok_raw(&ctx->doc, k);
                        key->len = tok(ctx, k)->len;
                }
                n++;
                if (!first)
                        pmw_buf_append_char(&ctx->out, ',');
                first = false;
                write_value(ctx, k);
                pmw_buf_append_char(&ctx->out, ':');
                write_value(ctx, v);
        }
        for (size_t i = 0; i < n; i++) {
                if (!keys[i].s)
                        keys[i].s = pmw_buf_ptr(&names) + keys[i].off;
                if (ascii_casecmp(keys[i].s, keys[i].len, "pmw_job_id", 10) ==
                    0)
                        has_job_id = true;
        }

        const mdkey_t *a = NULL, *b = NULL;
        if (n <= SMALL) {
                for (size_t i = 0; i < n && !a; i++) {
                        for (size_t j = i + 1; j < n && !a; j++) {
                                if (key_cmp(&keys[i], &keys[j]) == 0) {
                                        a = &keys[i];
                                        b = &keys[j];
                                }
                        }
                }
        } else {
                qsort(keys, n, sizeof(*keys), key_cmp);
                for (size_t i = 0; i + 1 < n && !a; i++) {
                        if (key_cmp(&keys[i], &keys[i + 1]) == 0) {
                                a = &keys[i];
                                b = &keys[i + 1];
                        }
                }
        }
        if (a) {
                if (a->index > b->index) {
                        const mdkey_t *t = a;
                        a                = b;
                        b                = t;
                }
                char sa[SHOW_CAP], sb[SHOW_CAP];
                reject(msg, PMW_REJECT_INVALID,
                       "%s has the keys '%s' and '%s', equal ignoring case",
                       given, show(sa, a->s, a->len), show(sb, b->s, b->len));
                ok = false;
                goto out;
        }

        if (job_id && !has_job_id && n < PMW_MESSAGE_MAX_METADATA &&
            job_id_ok(job_id, job_id_len)) {
                if (!first)
                        pmw_buf_append_char(&ctx->out, ',');
                write_job_id(ctx, job_id, job_id_len);
        }
        pmw_buf_append_char(&ctx->out, '}');
out:
        if (keys != small)
                free(keys);
        pmw_buf_cleanup(&names);
        return ok;
}

/* Checks one top-level field's content and writes it. */
static bool
write_field(ctx_t *ctx, unsigned id, const char *job_id, size_t job_id_len) {
        pmw_message_t *msg = ctx->msg;
        uint32_t v         = ctx->top.value[id];
        const char *given  = ctx->top.given[id];
        const field_t *fld = &msg_fields[id];
        size_t count       = 0;

        switch (id) {
        case F_FROM:
                if (!check_utf16_limit(ctx, given, v, PMW_MESSAGE_MAX_FROM) ||
                    !check_address_list(ctx, given, v, &count))
                        return false;
                if (count != 1) {
                        reject(msg, PMW_REJECT_INVALID,
                               "%s must be exactly one address, not %zu", given,
                               count);
                        return false;
                }
                break;
        case F_TO:
                if (!check_address_list(ctx, given, v, &count))
                        return false;
                if (count == 0) {
                        reject(msg, PMW_REJECT_INVALID, "%s has no address",
                               given);
                        return false;
                }
                ctx->recipients += count;
                break;
        case F_CC:
        case F_BCC:
                if (!check_address_list(ctx, given, v, &count))
                        return false;
                ctx->recipients += count;
                break;
        case F_REPLY_TO:
                if (!check_address_list(ctx, given, v, &count))
                        return false;
                break;
        case F_SUBJECT:
                if (!check_utf16_limit(ctx, given, v, PMW_MESSAGE_MAX_SUBJECT))
                        return false;
                break;
        case F_TAG:
                if (!check_utf16_limit(ctx, given, v, PMW_MESSAGE_MAX_TAG))
                        return false;
                break;
        case F_HTML_BODY:
        case F_TEXT_BODY:
                if (!check_bytes_limit(ctx, given, v,
                                       PMW_MESSAGE_MAX_BODY_BYTES))
                        return false;
                break;
        case F_TRACK_LINKS: {
                static const struct {
                        const char *s;
                        size_t len;
                } ok[]   = {{"None", 4},
                            {"HtmlAndText", 11},
                            {"HtmlOnly", 8},
                            {"TextOnly", 8}};
                size_t i = 0;
                while (i < PMW_ARRAY_LEN(ok) &&
                       !pmw_jsontok_str_eqn(&ctx->doc, v, ok[i].s, ok[i].len))
                        i++;
                if (i == PMW_ARRAY_LEN(ok)) {
                        char shown[SHOW_CAP];
                        size_t len;
                        const char *s = str(ctx, v, &len);
                        reject(msg, PMW_REJECT_INVALID,
                               "%s must be None, HtmlAndText, HtmlOnly or "
                               "TextOnly, not '%s'",
                               given, show(shown, s, len));
                        return false;
                }
                break;
        }
        case F_MESSAGE_STREAM:
                /* Empty means the default stream, which is what Postmark
                 * picks when the field is absent. */
                if (tok(ctx, v)->len == 0)
                        return true;
                break;
        default:
                break;
        }

        /* The buffer holds just '{' until the first field is written. */
        bool first = pmw_buf_len(&ctx->out) == 1;
        write_key(ctx, fld, &first);
        switch (id) {
        case F_HEADERS:
                return write_elements(ctx, v, given, &header_schema,
                                      check_header);
        case F_ATTACHMENTS:
                return write_elements(ctx, v, given, &attachment_schema,
                                      check_attachment);
        case F_METADATA:
                return write_metadata(ctx, v, given, job_id, job_id_len);
        default:
                write_value(ctx, v);
                return true;
        }
}

static bool write_message(ctx_t *ctx, size_t in_len, const char *job_id) {
        pmw_message_t *msg = ctx->msg;
        size_t job_id_len  = job_id ? strlen(job_id) : 0;
        /* Normalised output is about the size of the input (whitespace
         * gone, a job id added): one allocation in the common case. */
        pmw_buf_reserve(&ctx->out,
                        PMW_MIN(in_len + 128, (size_t)PMW_MESSAGE_MAX_BYTES));
        pmw_buf_append_char(&ctx->out, '{');
        for (size_t k = 0; k < ctx->top.n; k++) {
                if (!write_field(ctx, ctx->top.order[k], job_id, job_id_len))
                        return false;
        }
        if (ctx->recipients > PMW_MESSAGE_MAX_RECIPIENTS) {
                reject(msg, PMW_REJECT_INVALID,
                       "%d recipients is the limit; To, Cc and Bcc have %zu",
                       PMW_MESSAGE_MAX_RECIPIENTS, ctx->recipients);
                return false;
        }
        if (!ctx->top.value[F_METADATA] && job_id &&
            job_id_ok(job_id, job_id_len)) {
                pmw_buf_append(&ctx->out, ",\"Metadata\":{", 13);
                write_job_id(ctx, job_id, job_id_len);
                pmw_buf_append_char(&ctx->out, '}');
        }
        pmw_buf_append_char(&ctx->out, '}');
        if (pmw_buf_failed(&ctx->out)) {
                reject(msg, PMW_REJECT_INVALID,
                       "the message is over %d bytes after normalisation; "
                       "the limit is %d",
                       PMW_MESSAGE_MAX_BYTES, PMW_MESSAGE_MAX_BYTES);
                return false;
        }
        return true;
}

/*
 * Entry points.
 */

/* The first of two names present as a string, for the status record of a
 * job whose fields were not all classified; 0 if neither is. */
static uint32_t
find_string(const ctx_t *ctx, const char *name, const char *alias) {
        uint32_t v = pmw_jsontok_get(&ctx->doc, 0, name);
        if (!v || tok(ctx, v)->type != PMW_JSONTOK_STRING)
                v = pmw_jsontok_get(&ctx->doc, 0, alias);
        return v && tok(ctx, v)->type == PMW_JSONTOK_STRING ? v : 0;
}

static void set_to_stream(ctx_t *ctx, bool classified) {
        pmw_message_t *msg = ctx->msg;
        uint32_t to = 0, stream = 0;
        const char *s;
        size_t len;
        if (classified) {
                to     = ctx->top.value[F_TO];
                stream = ctx->top.value[F_MESSAGE_STREAM];
        } else if (ctx->is_object) {
                to     = find_string(ctx, "To", "to");
                stream = find_string(ctx, "MessageStream", "message_stream");
        }
        if (to) {
                s       = str(ctx, to, &len);
                msg->to = pmw_strndup(s, len);
        } else {
                msg->to = pmw_strdup("");
        }
        if (stream && tok(ctx, stream)->len) {
                s           = str(ctx, stream, &len);
                msg->stream = pmw_strndup(s, len);
        } else {
                msg->stream = pmw_strdup("outbound");
        }
}

void pmw_message_parse(pmw_message_t *msg,
                       const char *value,
                       size_t len,
                       const char *job_id) {
        ctx_t ctx;
        bool classified = false;

        memset(msg, 0, sizeof(*msg));
        msg->endpoint  = PMW_ENDPOINT_BATCH;
        ctx.msg        = msg;
        ctx.is_object  = false;
        ctx.recipients = 0;
        ctx.templated  = false;
        pmw_jsontok_init(&ctx.doc);
        pmw_buf_init(&ctx.out, PMW_MESSAGE_MAX_BYTES);
        pmw_buf_init(&ctx.scratch, SIZE_MAX);

        if (len > PMW_MESSAGE_MAX_BYTES) {
                reject(msg, PMW_REJECT_INVALID,
                       "the job is %zu bytes; the limit is %d", len,
                       PMW_MESSAGE_MAX_BYTES);
                goto out;
        }
        if (len == 0) {
                reject(msg, PMW_REJECT_INVALID_JSON, "the job is empty");
                goto out;
        }
        /* jansson's defaults, which the job format has always had: no
         * "\u0000", no repeated key, numbers that fit 64 bits. */
        pmw_error_t *err =
            pmw_jsontok_parse(&ctx.doc, value, len, PMW_JSONTOK_JANSSON);
        if (err) {
                reject(msg, PMW_REJECT_INVALID_JSON, "invalid JSON: %s",
                       pmw_error_string(err));
                pmw_error_destroy(err);
                goto out;
        }
        if (tok(&ctx, 0)->type != PMW_JSONTOK_OBJECT) {
                reject(msg, PMW_REJECT_INVALID_JSON,
                       "the job is %s, not a JSON object", type_name(&ctx, 0));
                goto out;
        }
        ctx.is_object = true;
        classified    = check_shape(&ctx);
        if (!classified || !check_required(&ctx) ||
            !write_message(&ctx, len, job_id))
                goto out;

        msg->endpoint =
            ctx.templated ? PMW_ENDPOINT_BATCH_TEMPLATES : PMW_ENDPOINT_BATCH;
        msg->body = pmw_buf_take(&ctx.out, &msg->body_len);
out:
        if (msg->reject_code)
                msg->job_id_added = false;
        set_to_stream(&ctx, classified);
        pmw_buf_cleanup(&ctx.out);
        pmw_buf_cleanup(&ctx.scratch);
        pmw_jsontok_cleanup(&ctx.doc);
}

void pmw_message_cleanup(pmw_message_t *msg) {
        free(msg->to);
        free(msg->stream);
        free(msg->body);
        memset(msg, 0, sizeof(*msg));
}
