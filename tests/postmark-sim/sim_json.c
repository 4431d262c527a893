/*
 * tests/postmark-sim/sim_json.c: see sim_json.h.
 *
 * The parser is iterative (an explicit stack of open containers), so a
 * deeply nested hostile body cannot overflow the C stack. Strings are the
 * hot path (message bodies are mostly string bytes): a byte class table
 * lets the inner loop skip plain ASCII with one load and one compare.
 */
#include "tests/postmark-sim/sim_json.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Byte classes inside a string. */
enum { C_PLAIN = 0, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };

/* Built from ranges at compile time: 0x00-0x1f control, '"', '\\',
 * 0x80-0xff non-ASCII; everything else plain. */
#define R4(x)  x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
static const unsigned char byte_class[256] = {
    R16(C_CONTROL), R16(C_CONTROL),
    /* 0x20-0x2f: ' ' '!' '"' ... */
    C_PLAIN, C_PLAIN, C_QUOTE, C_PLAIN, R4(C_PLAIN), R4(C_PLAIN), R4(C_PLAIN),
    /* 0x30-0x5b */
    R16(C_PLAIN), R16(C_PLAIN), R4(C_PLAIN), R4(C_PLAIN), R4(C_PLAIN),
    /* 0x5c '\\' */
    C_BACKSLASH,
    /* 0x5d-0x7f */
    C_PLAIN, C_PLAIN, C_PLAIN, R16(C_PLAIN), R16(C_PLAIN),
    /* 0x80-0xff */
    R16(C_HIGH), R16(C_HIGH), R16(C_HIGH), R16(C_HIGH), R16(C_HIGH),
    R16(C_HIGH), R16(C_HIGH), R16(C_HIGH)};

typedef struct parser_s {
        pmw_sim_json_t *doc;
        const unsigned char *s;
        size_t len;
        size_t pos;
        const char *err; /* static text of the first error */
        size_t err_pos;
} parser_t;

static bool fail(parser_t *ps, size_t at, const char *what) {
        ps->err     = what;
        ps->err_pos = at;
        return false;
}

static void skip_ws(parser_t *ps) {
        while (ps->pos < ps->len) {
                unsigned char c = ps->s[ps->pos];
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                        break;
                ps->pos++;
        }
}

static uint32_t add_tok(parser_t *ps, uint8_t type, size_t start) {
        pmw_sim_json_t *doc = ps->doc;
        if (doc->count == doc->cap) {
                doc->cap  = doc->cap ? doc->cap * 2 : 64;
                doc->toks = pmw_realloc(doc->toks,
                                        (size_t)doc->cap * sizeof(*doc->toks));
        }
        uint32_t i            = doc->count++;
        pmw_sim_json_tok_t *t = &doc->toks[i];
        t->type               = type;
        t->flags              = 0;
        t->pad                = 0;
        t->start              = (uint32_t)start;
        t->len                = 0;
        t->next               = i + 1;
        return i;
}

static int hex_value(unsigned char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads 4 hex digits at s[at]; -1 if not. */
static long read_hex4(const unsigned char *s, size_t len, size_t at) {
        if (at + 4 > len)
                return -1;
        long v = 0;
        for (size_t k = 0; k < 4; k++) {
                int h = hex_value(s[at + k]);
                if (h < 0)
                        return -1;
                v = v * 16 + h;
        }
        return v;
}

/* Validates one UTF-8 sequence starting at s[i] (a byte >= 0x80).
 * Returns its length, or 0 if invalid (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t i) {
        unsigned char b0 = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b0 >= 0xc2 && b0 <= 0xdf)
                n = 2;
        else if (b0 >= 0xe0 && b0 <= 0xef) {
                n = 3;
                if (b0 == 0xe0)
                        lo = 0xa0;
                else if (b0 == 0xed)
                        hi = 0x9f;
        } else if (b0 >= 0xf0 && b0 <= 0xf4) {
                n = 4;
                if (b0 == 0xf0)
                        lo = 0x90;
                else if (b0 == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if (i + n > len)
                return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
                return 0;
        for (size_t k = 2; k < n; k++)
                if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                        return 0;
        return n;
}

/* At s[pos] == '"': scans the string and adds a STRING token. */
static bool parse_string(parser_t *ps) {
        const unsigned char *s = ps->s;
        size_t len             = ps->len;
        size_t i               = ps->pos + 1;
        uint8_t flags          = 0;
        for (;;) {
                while (i < len && byte_class[s[i]] == C_PLAIN)
                        i++;
                if (i >= len)
                        return fail(ps, ps->pos, "unterminated string");
                switch (byte_class[s[i]]) {
                case C_QUOTE: {
                        uint32_t t =
                            add_tok(ps, PMW_SIM_JSON_STRING, ps->pos + 1);
                        ps->doc->toks[t].len   = (uint32_t)(i - ps->pos - 1);
                        ps->doc->toks[t].flags = flags;
                        ps->pos                = i + 1;
                        return true;
                }
                case C_CONTROL:
                        return fail(ps, i, "control character in string");
                case C_HIGH: {
                        size_t n = utf8_seq(s, len, i);
                        if (n == 0)
                                return fail(ps, i, "invalid UTF-8");
                        i += n;
                        break;
                }
                default: /* backslash */
                        flags |= PMW_SIM_JSON_F_ESCAPED;
                        if (i + 1 >= len)
                                return fail(ps, i, "unterminated string");
                        switch (s[i + 1]) {
                        case '"':
                        case '\\':
                        case '/':
                        case 'b':
                        case 'f':
                        case 'n':
                        case 'r':
                        case 't':
                                i += 2;
                                break;
                        case 'u': {
                                long cp = read_hex4(s, len, i + 2);
                                if (cp < 0)
                                        return fail(ps, i,
                                                    "invalid \\u escape");
                                if (cp >= 0xdc00 && cp <= 0xdfff)
                                        return fail(ps, i,
                                                    "lone low surrogate");
                                if (cp >= 0xd800 && cp <= 0xdbff) {
                                        long lo = -1;
                                        if (i + 7 < len && s[i + 6] == '\\' &&
                                            s[i + 7] == 'u')
                                                lo = read_hex4(s, len, i + 8);
                                        if (lo < 0xdc00 || lo > 0xdfff)
                                                return fail(ps, i,
                                                            "lone high "
                                                            "surrogate");
                                        i += 12;
                                } else
                                        i += 6;
                                break;
                        }
                        default:
                                return fail(ps, i, "invalid escape");
                        }
                }
        }
}

static bool is_digit(unsigned char c) {
        return c >= '0' && c <= '9';
}

static bool parse_number(parser_t *ps) {
        const unsigned char *s = ps->s;
        size_t len             = ps->len;
        size_t i               = ps->pos;
        uint8_t flags          = PMW_SIM_JSON_F_INTEGER;
        if (s[i] == '-')
                i++;
        if (i >= len || !is_digit(s[i]))
                return fail(ps, ps->pos, "invalid number");
        if (s[i] == '0')
                i++;
        else
                while (i < len && is_digit(s[i]))
                        i++;
        if (i < len && s[i] == '.') {
                flags = 0;
                i++;
                if (i >= len || !is_digit(s[i]))
                        return fail(ps, i, "invalid number");
                while (i < len && is_digit(s[i]))
                        i++;
        }
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                flags = 0;
                i++;
                if (i < len && (s[i] == '+' || s[i] == '-'))
                        i++;
                if (i >= len || !is_digit(s[i]))
                        return fail(ps, i, "invalid number");
                while (i < len && is_digit(s[i]))
                        i++;
        }
        uint32_t t             = add_tok(ps, PMW_SIM_JSON_NUMBER, ps->pos);
        ps->doc->toks[t].len   = (uint32_t)(i - ps->pos);
        ps->doc->toks[t].flags = flags;
        ps->pos                = i;
        return true;
}

static bool parse_literal(parser_t *ps, const char *word, uint8_t type) {
        size_t n = strlen(word);
        if (ps->len - ps->pos < n || memcmp(ps->s + ps->pos, word, n) != 0)
                return fail(ps, ps->pos, "invalid literal");
        uint32_t t           = add_tok(ps, type, ps->pos);
        ps->doc->toks[t].len = (uint32_t)n;
        ps->pos += n;
        return true;
}

/* Parses an object key and the ':' after it; pos at the key's quote. */
static bool parse_key(parser_t *ps) {
        if (ps->pos >= ps->len || ps->s[ps->pos] != '"')
                return fail(ps, ps->pos, "expected a string key");
        if (!parse_string(ps))
                return false;
        skip_ws(ps);
        if (ps->pos >= ps->len || ps->s[ps->pos] != ':')
                return fail(ps, ps->pos, "expected ':'");
        ps->pos++;
        skip_ws(ps);
        return true;
}

static bool parse_all(parser_t *ps) {
        uint32_t stack[PMW_SIM_JSON_MAX_DEPTH];
        size_t depth           = 0;
        const unsigned char *s = ps->s;
        pmw_sim_json_t *doc    = ps->doc;

        skip_ws(ps);
        for (;;) {
                /* Expecting a value at pos. */
                if (ps->pos >= ps->len)
                        return fail(ps, ps->pos, "unexpected end of input");
                unsigned char c = s[ps->pos];
                bool closed     = false;
                if (c == '{' || c == '[') {
                        if (depth == PMW_SIM_JSON_MAX_DEPTH)
                                return fail(ps, ps->pos, "nesting too deep");
                        uint32_t t     = add_tok(ps,
                                             c == '{' ? PMW_SIM_JSON_OBJECT
                                                          : PMW_SIM_JSON_ARRAY,
                                                 ps->pos);
                        stack[depth++] = t;
                        ps->pos++;
                        skip_ws(ps);
                        if (ps->pos < ps->len &&
                            s[ps->pos] == (c == '{' ? '}' : ']'))
                                closed = true;
                        else if (c == '{') {
                                if (!parse_key(ps))
                                        return false;
                                continue;
                        } else
                                continue;
                } else if (c == '"') {
                        if (!parse_string(ps))
                                return false;
                } else if (c == '-' || is_digit(c)) {
                        if (!parse_number(ps))
                                return false;
                } else if (c == 't') {
                        if (!parse_literal(ps, "true", PMW_SIM_JSON_TRUE))
                                return false;
                } else if (c == 'f') {
                        if (!parse_literal(ps, "false", PMW_SIM_JSON_FALSE))
                                return false;
                } else if (c == 'n') {
                        if (!parse_literal(ps, "null", PMW_SIM_JSON_NULL))
                                return false;
                } else
                        return fail(ps, ps->pos, "unexpected character");

                /* A value is complete; close containers as far as we can. */
                for (;;) {
                        if (closed) {
                                uint32_t t = stack[--depth];
                                doc->toks[t].len =
                                    (uint32_t)(ps->pos + 1 -
                                               doc->toks[t].start);
                                doc->toks[t].next = doc->count;
                                ps->pos++;
                                closed = false;
                        }
                        skip_ws(ps);
                        if (depth == 0) {
                                if (ps->pos != ps->len)
                                        return fail(ps, ps->pos,
                                                    "trailing data after the "
                                                    "value");
                                return true;
                        }
                        if (ps->pos >= ps->len)
                                return fail(ps, ps->pos,
                                            "unexpected end of input");
                        bool obj = doc->toks[stack[depth - 1]].type ==
                                   PMW_SIM_JSON_OBJECT;
                        c = s[ps->pos];
                        if (c == ',') {
                                ps->pos++;
                                skip_ws(ps);
                                if (obj && !parse_key(ps))
                                        return false;
                                break;
                        }
                        if (c == (obj ? '}' : ']')) {
                                closed = true;
                                continue;
                        }
                        return fail(ps, ps->pos,
                                    obj ? "expected ',' or '}'"
                                        : "expected ',' or ']'");
                }
        }
}

void pmw_sim_json_init(pmw_sim_json_t *doc) {
        memset(doc, 0, sizeof(*doc));
}

void pmw_sim_json_cleanup(pmw_sim_json_t *doc) {
        free(doc->toks);
        memset(doc, 0, sizeof(*doc));
}

pmw_error_t *
pmw_sim_json_parse(pmw_sim_json_t *doc, const char *text, size_t len) {
        doc->text     = text;
        doc->text_len = len;
        doc->count    = 0;
        if (len >= UINT32_MAX)
                return pmw_error_new(
                    PMW_ERR_LIMIT, "JSON text of %zu bytes is too large", len);
        parser_t ps = {
            .doc = doc, .s = (const unsigned char *)text, .len = len};
        if (!parse_all(&ps)) {
                doc->count = 0;
                return pmw_error_new(PMW_ERR_PARSE, "offset %zu: %s",
                                     ps.err_pos, ps.err);
        }
        return NULL;
}

const char *pmw_sim_json_raw(const pmw_sim_json_t *doc, uint32_t tok) {
        return doc->text + doc->toks[tok].start;
}

/* Decodes the string token into out (appending). */
static void
decode_into(const pmw_sim_json_t *doc, uint32_t tok, pmw_buf_t *out) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        const unsigned char *s = (const unsigned char *)doc->text + t->start;
        size_t len             = t->len;
        size_t i = 0, run = 0;
        while (i < len) {
                if (s[i] != '\\') {
                        i++;
                        continue;
                }
                pmw_buf_append(out, s + run, i - run);
                char c = (char)s[i + 1];
                switch (c) {
                case 'b':
                        pmw_buf_append_char(out, '\b');
                        break;
                case 'f':
                        pmw_buf_append_char(out, '\f');
                        break;
                case 'n':
                        pmw_buf_append_char(out, '\n');
                        break;
                case 'r':
                        pmw_buf_append_char(out, '\r');
                        break;
                case 't':
                        pmw_buf_append_char(out, '\t');
                        break;
                case 'u':
                        break;
                default: /* '"', '\\', '/' */
                        pmw_buf_append_char(out, c);
                }
                if (c != 'u') {
                        i += 2;
                        run = i;
                        continue;
                }
                /* The parser validated the hex digits and the pairs. */
                unsigned long cp = (unsigned long)read_hex4(s, len, i + 2);
                i += 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        unsigned long lo =
                            (unsigned long)read_hex4(s, len, i + 2);
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        i += 6;
                }
                char u[4];
                size_t n;
                if (cp < 0x80) {
                        u[0] = (char)cp;
                        n    = 1;
                } else if (cp < 0x800) {
                        u[0] = (char)(0xc0 | (cp >> 6));
                        u[1] = (char)(0x80 | (cp & 0x3f));
                        n    = 2;
                } else if (cp < 0x10000) {
                        u[0] = (char)(0xe0 | (cp >> 12));
                        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[2] = (char)(0x80 | (cp & 0x3f));
                        n    = 3;
                } else {
                        u[0] = (char)(0xf0 | (cp >> 18));
                        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[3] = (char)(0x80 | (cp & 0x3f));
                        n    = 4;
                }
                pmw_buf_append(out, u, n);
                run = i;
        }
        pmw_buf_append(out, s + run, len - run);
}

const char *pmw_sim_json_str(const pmw_sim_json_t *doc,
                             uint32_t tok,
                             pmw_buf_t *scratch,
                             size_t *lenp) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        if (!(t->flags & PMW_SIM_JSON_F_ESCAPED)) {
                *lenp = t->len;
                return doc->text + t->start;
        }
        pmw_buf_reset(scratch);
        decode_into(doc, tok, scratch);
        *lenp = pmw_buf_len(scratch);
        return pmw_buf_ptr(scratch);
}

void pmw_sim_json_str_append(const pmw_sim_json_t *doc,
                             uint32_t tok,
                             pmw_buf_t *out) {
        decode_into(doc, tok, out);
}

bool pmw_sim_json_str_eq(const pmw_sim_json_t *doc,
                         uint32_t tok,
                         const char *s) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        size_t n                    = strlen(s);
        if (!(t->flags & PMW_SIM_JSON_F_ESCAPED))
                return t->len == n && memcmp(doc->text + t->start, s, n) == 0;
        pmw_buf_t tmp;
        pmw_buf_init(&tmp, SIZE_MAX);
        decode_into(doc, tok, &tmp);
        bool eq =
            pmw_buf_len(&tmp) == n && memcmp(pmw_buf_ptr(&tmp), s, n) == 0;
        pmw_buf_cleanup(&tmp);
        return eq;
}

uint32_t
pmw_sim_json_get(const pmw_sim_json_t *doc, uint32_t obj, const char *key) {
        uint32_t found = 0;
        uint32_t end   = doc->toks[obj].next;
        uint32_t i     = obj + 1;
        while (i < end) {
                if (pmw_sim_json_str_eq(doc, i, key))
                        found = i + 1;
                i = doc->toks[i + 1].next;
        }
        return found;
}

size_t pmw_sim_json_str_utf16_len(const pmw_sim_json_t *doc, uint32_t tok) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        const unsigned char *s = (const unsigned char *)doc->text + t->start;
        size_t units           = 0;
        size_t i               = 0;
        while (i < t->len) {
                unsigned char c = s[i];
                if (c == '\\') {
                        /* "\uD83D\uDE00" is two escapes, two units: right. */
                        i += s[i + 1] == 'u' ? 6 : 2;
                        units++;
                } else {
                        if ((c & 0xc0) != 0x80)
                                units++;
                        if (c >= 0xf0)
                                units++; /* a surrogate pair in UTF-16 */
                        i++;
                }
        }
        return units;
}

bool pmw_sim_json_int(const pmw_sim_json_t *doc, uint32_t tok, int64_t *vp) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        if (t->type != PMW_SIM_JSON_NUMBER ||
            !(t->flags & PMW_SIM_JSON_F_INTEGER))
                return false;
        const char *s = doc->text + t->start;
        size_t i      = 0;
        bool neg      = s[0] == '-';
        if (neg)
                i++;
        uint64_t v   = 0;
        uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; i < t->len; i++) {
                uint64_t d = (uint64_t)(s[i] - '0');
                if (v > (lim - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *vp = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
                  : (int64_t)v;
        return true;
}
