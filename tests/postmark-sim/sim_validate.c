/*
 * tests/postmark-sim/sim_validate.c: see sim_validate.h.
 *
 * Texts quoted from Postmark (postmark-api.md): "Provide either email
 * TextBody or HtmlBody or both.", "Zero recipients specified", the 406
 * inactive texts, "Invalid 'From' address: '<addr>' is not a verified
 * sender signature.", the 1101 alias text. The others are inferred: they
 * say what is wrong in Postmark's style, with the documented ErrorCode.
 */
#include "tests/postmark-sim/sim_validate.h"

#include <stddef.h>
#include <string.h>

#include "tests/postmark-sim/sim_match.h"

enum {
        T_STR  = 1,
        T_BOOL = 2,
        T_OBJ  = 4,
        T_ARR  = 8,
        T_INT  = 16,
};

enum { W_ALL = 3, W_PLAIN = 1, W_TEMPLATED = 2 };

typedef struct field_def_s {
        const char *name;
        unsigned types;
        unsigned where;
        size_t offset; /* of the uint32_t in pmw_sim_msg_t */
} field_def_t;

#define F(name, types, where, member)                                          \
        { name, types, where, offsetof(pmw_sim_msg_t, member) }

static const field_def_t fields[] = {
    F("From", T_STR, W_ALL, from),
    F("To", T_STR, W_ALL, to),
    F("Cc", T_STR, W_ALL, cc),
    F("Bcc", T_STR, W_ALL, bcc),
    F("Subject", T_STR, W_PLAIN, subject),
    F("Tag", T_STR, W_ALL, tag),
    F("HtmlBody", T_STR, W_PLAIN, html_body),
    F("TextBody", T_STR, W_PLAIN, text_body),
    F("ReplyTo", T_STR, W_ALL, reply_to),
    F("Headers", T_ARR, W_ALL, headers),
    F("TrackOpens", T_BOOL, W_ALL, track_opens),
    F("TrackLinks", T_STR, W_ALL, track_links),
    F("Metadata", T_OBJ, W_ALL, metadata),
    F("Attachments", T_ARR, W_ALL, attachments),
    F("MessageStream", T_STR, W_ALL, stream),
    F("TemplateId", T_INT, W_TEMPLATED, template_id),
    F("TemplateAlias", T_STR, W_TEMPLATED, template_alias),
    F("TemplateModel", T_OBJ, W_TEMPLATED, template_model),
    F("InlineCss", T_BOOL, W_TEMPLATED, inline_css),
};

static bool type_ok(const pmw_jsontok_t *doc, uint32_t v, unsigned types) {
        switch (doc->toks[v].type) {
        case PMW_JSONTOK_STRING:
                return types & T_STR;
        case PMW_JSONTOK_TRUE:
        case PMW_JSONTOK_FALSE:
                return types & T_BOOL;
        case PMW_JSONTOK_OBJECT:
                return types & T_OBJ;
        case PMW_JSONTOK_ARRAY:
                return types & T_ARR;
        case PMW_JSONTOK_NUMBER: {
                int64_t n;
                return (types & T_INT) && pmw_jsontok_int(doc, v, &n);
        }
        default:
                return false;
        }
}

static void name_field(const pmw_jsontok_t *doc,
                       const char *parent,
                       uint32_t key,
                       pmw_buf_t *bad_field) {
        pmw_buf_reset(bad_field);
        if (parent) {
                pmw_buf_append_str(bad_field, parent);
                pmw_buf_append_char(bad_field, '.');
        }
        if (key)
                pmw_jsontok_str_append(doc, key, bad_field);
}

/* Headers: [{"Name": s, "Value": s}]; Attachments: [{"Name", "Content",
 * "ContentType", "ContentID"}] (strings or null). */
static bool check_object_array(const pmw_jsontok_t *doc,
                               uint32_t arr,
                               const char *parent,
                               const char *const *keys,
                               size_t n_keys,
                               pmw_buf_t *bad_field) {
        uint32_t end = doc->toks[arr].next;
        for (uint32_t el = arr + 1; el < end; el = doc->toks[el].next) {
                if (doc->toks[el].type != PMW_JSONTOK_OBJECT) {
                        name_field(doc, NULL, 0, bad_field);
                        pmw_buf_append_str(bad_field, parent);
                        return false;
                }
                unsigned seen   = 0;
                uint32_t el_end = doc->toks[el].next;
                for (uint32_t k = el + 1; k < el_end;
                     k          = doc->toks[k + 1].next) {
                        size_t f;
                        for (f = 0; f < n_keys; f++)
                                if (pmw_jsontok_str_eq(doc, k, keys[f]))
                                        break;
                        uint8_t vt = doc->toks[k + 1].type;
                        if (f == n_keys || (seen & (1u << f)) ||
                            (vt != PMW_JSONTOK_STRING &&
                             vt != PMW_JSONTOK_NULL)) {
                                name_field(doc, parent, k, bad_field);
                                return false;
                        }
                        seen |= 1u << f;
                }
        }
        return true;
}

static const char *const header_keys[]     = {"Name", "Value"};
static const char *const attachment_keys[] = {"Name", "Content", "ContentType",
                                              "ContentID"};

bool pmw_sim_msg_fields(const pmw_jsontok_t *doc,
                        uint32_t tok,
                        bool templated,
                        pmw_sim_msg_t *msg,
                        pmw_buf_t *bad_field) {
        memset(msg, 0, sizeof(*msg));
        msg->tok       = tok;
        unsigned where = templated ? W_TEMPLATED : W_PLAIN;
        uint32_t seen  = 0;
        uint32_t end   = doc->toks[tok].next;
        for (uint32_t k = tok + 1; k < end; k = doc->toks[k + 1].next) {
                uint32_t v = k + 1;
                size_t f;
                for (f = 0; f < PMW_ARRAY_LEN(fields); f++)
                        if ((fields[f].where & where) &&
                            pmw_jsontok_str_eq(doc, k, fields[f].name))
                                break;
                /* Unknown, repeated (inferred: rejected rather than
                 * last-wins), or mistyped: the request cannot be read. */
                if (f == PMW_ARRAY_LEN(fields) || (seen & (1u << f))) {
                        name_field(doc, NULL, k, bad_field);
                        return false;
                }
                seen |= 1u << f;
                if (doc->toks[v].type == PMW_JSONTOK_NULL)
                        continue;
                if (!type_ok(doc, v, fields[f].types)) {
                        name_field(doc, NULL, k, bad_field);
                        return false;
                }
                memcpy((char *)msg + fields[f].offset, &v, sizeof(v));
        }
        if (msg->headers &&
            !check_object_array(doc, msg->headers, "Headers", header_keys,
                                PMW_ARRAY_LEN(header_keys), bad_field))
                return false;
        if (msg->attachments &&
            !check_object_array(doc, msg->attachments, "Attachments",
                                attachment_keys, PMW_ARRAY_LEN(attachment_keys),
                                bad_field))
                return false;
        return true;
}

/* ---- helpers for the rules ---- */

static bool str_empty(const pmw_jsontok_t *doc, uint32_t v) {
        return v == 0 || doc->toks[v].len == 0;
}

static bool has_glob_chars(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

bool pmw_sim_mime_type_valid(const char *s, size_t len) {
        /* RFC 2045 token: no space, CTL or tspecial. */
        static const char tspecials[] = "()<>@,;:\\\"/[]?=";
        size_t i                      = 0;
        int part                      = 0;
        size_t start                  = 0;
        for (; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '/' && part == 0) {
                        if (i == start)
                                return false;
                        part  = 1;
                        start = i + 1;
                        continue;
                }
                if (c == ';' || c == ' ')
                        break;
                if (c <= ' ' || c >= 0x7f || strchr(tspecials, c))
                        return false;
        }
        if (part != 1 || i == start)
                return false;
        /* Parameters: "; name=value" pairs; only their shape is checked. */
        while (i < len && s[i] == ' ')
                i++;
        if (i == len)
                return true;
        if (s[i] != ';')
                return false;
        return memchr(s + i, '=', len - i) != NULL;
}

bool pmw_sim_base64_valid(const char *s, size_t len) {
        size_t n = 0, pad = 0;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '\r' || c == '\n')
                        continue;
                if (c == '=') {
                        pad++;
                        n++;
                        continue;
                }
                if (pad > 0)
                        return false; /* data after padding */
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '+' || c == '/'))
                        return false;
                n++;
        }
        return n > 0 && n % 4 == 0 && pad <= 2;
}

/* Postmark's list of forbidden attachment extensions (ErrorCode 411), as
 * published on its attachment help page; inferred, not checked live. */
static const char *const forbidden_ext[] = {
    "vbs", "exe", "bin", "bat", "chm", "com", "cpl", "crt", "hlp", "hta", "inf",
    "ins", "isp", "jse", "lnk", "mdb", "pcd", "pif", "reg", "scr", "sct", "shs",
    "vbe", "vba", "wsf", "wsh", "wsl", "msc", "msi", "msp", "mst"};

static bool forbidden_name(const char *name, size_t len) {
        const char *dot = NULL;
        for (size_t i = 0; i < len; i++)
                if (name[i] == '.')
                        dot = name + i;
        if (dot == NULL)
                return false;
        size_t elen = len - (size_t)(dot + 1 - name);
        for (size_t i = 0; i < PMW_ARRAY_LEN(forbidden_ext); i++)
                if (pmw_sim_ieq(dot + 1, elen, forbidden_ext[i]))
                        return true;
        return false;
}

void pmw_sim_inactive_text(pmw_buf_t *text, const char *list, bool partial) {
        pmw_buf_reset(text);
        if (partial)
                pmw_buf_appendf(text,
                                "Message OK, but will not deliver to these "
                                "inactive addresses: %s. ",
                                list);
        else
                pmw_buf_appendf(text,
                                "You tried to send to recipient(s) that have "
                                "been marked as inactive. Found inactive "
                                "addresses: %s. ",
                                list);
        pmw_buf_append_str(text,
                           "Inactive recipients are ones that have "
                           "generated a hard bounce, a spam complaint, "
                           "or a manual suppression.");
}

static int
fail300(pmw_buf_t *text, const char *fmt, const char *arg, size_t arg_len)
    PMW_PRINTF(2, 0);

/* fmt has at most one "%.*s" for arg. */
static int
fail300(pmw_buf_t *text, const char *fmt, const char *arg, size_t arg_len) {
        pmw_buf_reset(text);
        pmw_buf_appendf(text, fmt, (int)PMW_MIN(arg_len, 1000), arg);
        return 300;
}

/* Checks one address field; counts its recipients into *countp. */
static int check_addr_field(const pmw_jsontok_t *doc,
                            uint32_t v,
                            const char *field,
                            size_t *countp,
                            pmw_buf_t *scratch,
                            pmw_buf_t *text) {
        if (v == 0)
                return 0;
        size_t len;
        const char *s = pmw_jsontok_str(doc, v, scratch, &len);
        size_t pos    = 0;
        pmw_sim_addr_t a;
        bool ok;
        while (pmw_sim_addr_next(s, len, &pos, &a, &ok)) {
                if (!ok) {
                        pmw_buf_t tmp;
                        pmw_buf_init(&tmp, 4096);
                        pmw_buf_appendf(&tmp, "Invalid '%s' address: ", field);
                        pmw_buf_append(&tmp, a.raw, PMW_MIN(a.raw_len, 1000));
                        pmw_buf_append_char(&tmp, '.');
                        pmw_buf_reset(text);
                        pmw_buf_append(text, pmw_buf_ptr(&tmp),
                                       pmw_buf_len(&tmp));
                        pmw_buf_cleanup(&tmp);
                        return 300;
                }
                (*countp)++;
        }
        return 0;
}

static int check_attachments(const pmw_jsontok_t *doc,
                             uint32_t arr,
                             pmw_buf_t *scratch,
                             pmw_buf_t *text) {
        uint32_t end = doc->toks[arr].next;
        for (uint32_t el = arr + 1; el < end; el = doc->toks[el].next) {
                uint32_t name  = pmw_jsontok_get(doc, el, "Name");
                uint32_t cont  = pmw_jsontok_get(doc, el, "Content");
                uint32_t ctype = pmw_jsontok_get(doc, el, "ContentType");
                uint32_t cid   = pmw_jsontok_get(doc, el, "ContentID");
                /* Values are strings or null (checked in step 1). */
                if (name && doc->toks[name].type == PMW_JSONTOK_NULL)
                        name = 0;
                if (cont && doc->toks[cont].type == PMW_JSONTOK_NULL)
                        cont = 0;
                if (ctype && doc->toks[ctype].type == PMW_JSONTOK_NULL)
                        ctype = 0;
                if (cid && doc->toks[cid].type == PMW_JSONTOK_NULL)
                        cid = 0;
                if (str_empty(doc, name) || str_empty(doc, cont) ||
                    str_empty(doc, ctype))
                        return fail300(text,
                                       "Attachments must have a Name, "
                                       "Content and ContentType.%.*s",
                                       "", 0);
                size_t len;
                const char *s = pmw_jsontok_str(doc, ctype, scratch, &len);
                if (!pmw_sim_mime_type_valid(s, len))
                        return fail300(text,
                                       "Invalid attachment content type: "
                                       "'%.*s'.",
                                       s, len);
                s = pmw_jsontok_str(doc, cont, scratch, &len);
                if (!pmw_sim_base64_valid(s, len))
                        return fail300(text,
                                       "Attachment content is not valid "
                                       "base64.%.*s",
                                       "", 0);
                if (cid) {
                        s = pmw_jsontok_str(doc, cid, scratch, &len);
                        for (size_t i = 0; i < len; i++) {
                                unsigned char c = (unsigned char)s[i];
                                if (c <= ' ' || c >= 0x7f)
                                        return fail300(
                                            text,
                                            "Invalid attachment ContentID: "
                                            "'%.*s' (ASCII only, no spaces).",
                                            s, len);
                        }
                }
                s = pmw_jsontok_str(doc, name, scratch, &len);
                if (forbidden_name(s, len)) {
                        pmw_buf_reset(text);
                        pmw_buf_appendf(text,
                                        "Forbidden attachment type: "
                                        "'%.*s'.",
                                        (int)PMW_MIN(len, 1000), s);
                        return 411;
                }
        }
        return 0;
}

static int check_metadata(const pmw_jsontok_t *doc,
                          uint32_t obj,
                          pmw_buf_t *scratch,
                          pmw_buf_t *text) {
        uint32_t end = doc->toks[obj].next;
        for (uint32_t k = obj + 1; k < end; k = doc->toks[k + 1].next) {
                size_t len;
                const char *key = pmw_jsontok_str(doc, k, scratch, &len);
                if (doc->toks[k + 1].type != PMW_JSONTOK_STRING)
                        return fail300(text,
                                       "Metadata values must be strings: "
                                       "'%.*s'.",
                                       key, len);
                pmw_buf_t other;
                pmw_buf_init(&other, SIZE_MAX);
                bool dup = false;
                for (uint32_t j = obj + 1; j < k && !dup;
                     j          = doc->toks[j + 1].next) {
                        pmw_buf_reset(&other);
                        pmw_jsontok_str_append(doc, j, &other);
                        dup = pmw_sim_ieq(key, len, pmw_buf_ptr(&other)) &&
                              strlen(pmw_buf_ptr(&other)) == len;
                }
                pmw_buf_cleanup(&other);
                if (dup)
                        return fail300(text,
                                       "Metadata keys must be unique "
                                       "(case-insensitively): '%.*s'.",
                                       key, len);
        }
        return 0;
}

static bool list_has(char *const *list,
                     size_t n,
                     const char *s,
                     size_t len,
                     bool ignore_case) {
        for (size_t i = 0; i < n; i++) {
                if (ignore_case ? pmw_sim_ieq(s, len, list[i])
                                : (strlen(list[i]) == len &&
                                   memcmp(list[i], s, len) == 0))
                        return true;
        }
        return false;
}

size_t pmw_sim_msg_match_recipients(const pmw_jsontok_t *doc,
                                    const pmw_sim_msg_t *msg,
                                    char *const *globs,
                                    size_t n_globs,
                                    size_t *totalp,
                                    pmw_buf_t *list) {
        uint32_t fields_v[3] = {msg->to, msg->cc, msg->bcc};
        size_t matched = 0, total = 0;
        pmw_buf_t scratch;
        pmw_buf_init(&scratch, SIZE_MAX);
        for (size_t f = 0; f < 3; f++) {
                if (fields_v[f] == 0)
                        continue;
                size_t len;
                const char *s =
                    pmw_jsontok_str(doc, fields_v[f], &scratch, &len);
                size_t pos = 0;
                pmw_sim_addr_t a;
                bool ok;
                while (pmw_sim_addr_next(s, len, &pos, &a, &ok)) {
                        total++;
                        for (size_t g = 0; g < n_globs; g++) {
                                if (!pmw_sim_glob_match(globs[g], a.addr,
                                                        a.addr_len))
                                        continue;
                                if (matched++ > 0)
                                        pmw_buf_append_str(list, ", ");
                                pmw_buf_append(list, a.addr, a.addr_len);
                                break;
                        }
                }
        }
        pmw_buf_cleanup(&scratch);
        *totalp = total;
        return matched;
}

int pmw_sim_msg_check(const pmw_jsontok_t *doc,
                      const pmw_sim_msg_t *msg,
                      const pmw_sim_rules_t *rules,
                      bool templated,
                      bool *acceptedp,
                      pmw_buf_t *text) {
        pmw_buf_t scratch;
        pmw_buf_init(&scratch, SIZE_MAX);
        int code = 0;
        size_t len;
        const char *s;
        *acceptedp = false;
        pmw_buf_reset(text);

        /* From: present, short enough, one valid address. */
        if (str_empty(doc, msg->from)) {
                code = fail300(text, "Missing 'From' address.%.*s", "", 0);
                goto out;
        }
        if (pmw_jsontok_str_utf16_len(doc, msg->from) >
            PMW_SIM_MAX_FROM_UNITS) {
                code = fail300(text,
                               "The 'From' field is longer than 255 "
                               "characters.%.*s",
                               "", 0);
                goto out;
        }
        s = pmw_jsontok_str(doc, msg->from, &scratch, &len);
        pmw_sim_addr_t from;
        bool ok;
        size_t pos            = 0;
        size_t n_from         = 0;
        const char *from_addr = NULL;
        size_t from_len       = 0;
        while (pmw_sim_addr_next(s, len, &pos, &from, &ok)) {
                n_from++;
                if (!ok)
                        break;
                from_addr = from.addr;
                from_len  = from.addr_len;
        }
        if (n_from != 1 || !ok) {
                code = fail300(text, "Invalid 'From' address: '%.*s'.", s, len);
                goto out;
        }
        /* Keep the From address for the sender check below. */
        char from_copy[1024]; /* 255 UTF-16 units, at most 3 bytes each */
        memcpy(from_copy, from_addr, from_len);
        from_copy[from_len] = '\0';

        /* Recipients. */
        size_t n_rcpt = 0;
        code = check_addr_field(doc, msg->to, "To", &n_rcpt, &scratch, text);
        if (code == 0 && n_rcpt == 0)
                code = fail300(text, "Zero recipients specified%.*s", "", 0);
        if (code == 0)
                code = check_addr_field(doc, msg->cc, "Cc", &n_rcpt, &scratch,
                                        text);
        if (code == 0)
                code = check_addr_field(doc, msg->bcc, "Bcc", &n_rcpt, &scratch,
                                        text);
        if (code == 0 && n_rcpt > PMW_SIM_MAX_RECIPIENTS) {
                pmw_buf_reset(text);
                pmw_buf_appendf(text,
                                "Too many recipients: %zu. A message may have "
                                "at most 50 recipients across To, Cc and Bcc.",
                                n_rcpt);
                code = 300;
        }
        if (code == 0) {
                size_t n_reply = 0;
                code = check_addr_field(doc, msg->reply_to, "ReplyTo", &n_reply,
                                        &scratch, text);
        }
        if (code)
                goto out;

        if (msg->subject && pmw_jsontok_str_utf16_len(doc, msg->subject) >
                                PMW_SIM_MAX_SUBJECT) {
                code = fail300(text,
                               "The 'Subject' field is longer than 2000 "
                               "characters.%.*s",
                               "", 0);
                goto out;
        }
        if (msg->tag &&
            pmw_jsontok_str_utf16_len(doc, msg->tag) > PMW_SIM_MAX_TAG) {
                code = fail300(text,
                               "The 'Tag' field is longer than 1000 "
                               "characters.%.*s",
                               "", 0);
                goto out;
        }
        if (!templated) {
                if (str_empty(doc, msg->html_body) &&
                    str_empty(doc, msg->text_body)) {
                        code = fail300(text,
                                       "Provide either email TextBody or "
                                       "HtmlBody or both.%.*s",
                                       "", 0);
                        goto out;
                }
                if ((msg->html_body &&
                     doc->toks[msg->html_body].len > PMW_SIM_MAX_BODY_BYTES) ||
                    (msg->text_body &&
                     doc->toks[msg->text_body].len > PMW_SIM_MAX_BODY_BYTES)) {
                        code = fail300(text,
                                       "HtmlBody and TextBody may be at most "
                                       "5 MB each.%.*s",
                                       "", 0);
                        goto out;
                }
        } else if (msg->template_model == 0) {
                code = fail300(
                    text, "The 'TemplateModel' field is required.%.*s", "", 0);
                goto out;
        }
        if (msg->track_links) {
                static const char *const values[] = {"None", "HtmlAndText",
                                                     "HtmlOnly", "TextOnly"};
                bool known                        = false;
                for (size_t i = 0; i < PMW_ARRAY_LEN(values); i++)
                        known = known || pmw_jsontok_str_eq(
                                             doc, msg->track_links, values[i]);
                if (!known) {
                        s    = pmw_jsontok_str(doc, msg->track_links, &scratch,
                                               &len);
                        code = fail300(text,
                                       "Invalid 'TrackLinks' value: '%.*s'. "
                                       "Allowed: None, HtmlAndText, "
                                       "HtmlOnly, TextOnly.",
                                       s, len);
                        goto out;
                }
        }
        if (msg->headers) {
                uint32_t end = doc->toks[msg->headers].next;
                for (uint32_t el = msg->headers + 1; el < end;
                     el          = doc->toks[el].next) {
                        uint32_t name = pmw_jsontok_get(doc, el, "Name");
                        if (name == 0 ||
                            doc->toks[name].type != PMW_JSONTOK_STRING ||
                            doc->toks[name].len == 0) {
                                code = fail300(text,
                                               "Every header must have a "
                                               "Name.%.*s",
                                               "", 0);
                                goto out;
                        }
                }
        }
        if (msg->attachments) {
                code = check_attachments(doc, msg->attachments, &scratch, text);
                if (code)
                        goto out;
        }
        if (msg->metadata) {
                code = check_metadata(doc, msg->metadata, &scratch, text);
                if (code)
                        goto out;
        }
        if (templated && msg->template_id == 0 &&
            str_empty(doc, msg->template_alias)) {
                pmw_buf_append_str(text,
                                   "A TemplateId or TemplateAlias is "
                                   "required.");
                code = 1101;
                goto out;
        }

        /* The simulated account: senders, templates, streams, suppressions. */
        if (rules->n_senders > 0) {
                bool verified = false;
                for (size_t i = 0; i < rules->n_senders && !verified; i++)
                        verified = has_glob_chars(rules->senders[i])
                                       ? pmw_sim_glob_match(rules->senders[i],
                                                            from_copy, from_len)
                                       : pmw_sim_ieq(from_copy, from_len,
                                                     rules->senders[i]);
                if (!verified) {
                        pmw_buf_appendf(text,
                                        "Invalid 'From' address: '%s' is not "
                                        "a verified sender signature.",
                                        from_copy);
                        code = 300;
                        goto out;
                }
        }
        if (templated && rules->n_templates > 0) {
                /* TemplateId wins when both are given. */
                uint32_t t =
                    msg->template_id ? msg->template_id : msg->template_alias;
                if (msg->template_id) {
                        s   = pmw_jsontok_raw(doc, t);
                        len = doc->toks[t].len;
                } else
                        s = pmw_jsontok_str(doc, t, &scratch, &len);
                if (!list_has(rules->templates, rules->n_templates, s, len,
                              false)) {
                        pmw_buf_append_str(text,
                                           "The Template's 'Alias' associated "
                                           "with this request is not valid or "
                                           "was not found.");
                        code = 1101;
                        goto out;
                }
        }
        if (msg->stream) {
                s = pmw_jsontok_str(doc, msg->stream, &scratch, &len);
                if (!pmw_sim_ieq(s, len, "outbound") &&
                    !pmw_sim_ieq(s, len, "broadcast") &&
                    !list_has(rules->streams, rules->n_streams, s, len,
                              false)) {
                        pmw_buf_appendf(text,
                                        "The 'MessageStream' provided does "
                                        "not exist on this server: '%.*s'.",
                                        (int)PMW_MIN(len, 1000), s);
                        code = 1235;
                        goto out;
                }
        }
        if (rules->n_inactive > 0) {
                pmw_buf_t list;
                pmw_buf_init(&list, SIZE_MAX);
                size_t total;
                size_t matched = pmw_sim_msg_match_recipients(
                    doc, msg, rules->inactive, rules->n_inactive, &total,
                    &list);
                if (matched > 0) {
                        pmw_sim_inactive_text(text, pmw_buf_ptr(&list),
                                              matched < total);
                        *acceptedp = matched < total;
                        code       = 406;
                }
                pmw_buf_cleanup(&list);
                if (code)
                        goto out;
        }
        *acceptedp = true;
        pmw_buf_append_str(text, "OK");
out:
        pmw_buf_cleanup(&scratch);
        return code;
}
