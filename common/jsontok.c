/*
 * common/jsontok.c: see jsontok.h.
 *
 * The parser is iterative (an explicit stack of open containers), so a
 * deeply nested hostile body cannot overflow the C stack. Strings are the
 * hot path (message bodies are mostly string bytes): a byte class table
 * lets the inner loop skip plain ASCII with one load and one compare.
 */
#include "common/jsontok.h"

#include <errno.h>
#include <math.h>
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

/* A decoded key, for the sorted duplicate check. */
typedef struct dkey_s {
        const char *s; /* decoded bytes */
        size_t len;
        uint32_t tok;
} dkey_t;

typedef struct parser_s {
        pmw_jsontok_t *doc;
        const unsigned char *s;
        size_t len;
        size_t pos;
        unsigned flags;  /* PMW_JSONTOK_NO_* */
        const char *err; /* static text of the first error */
        size_t err_pos;
        /* Owned, for the sorted duplicate check: */
        dkey_t *keys;
        size_t keys_cap;
        char *names; /* escaped keys, decoded */
        size_t names_cap;
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
        pmw_jsontok_t *doc = ps->doc;
        if (doc->count == doc->cap) {
                doc->cap  = doc->cap ? doc->cap * 2 : 64;
                doc->toks = pmw_realloc(doc->toks,
                                        (size_t)doc->cap * sizeof(*doc->toks));
        }
        uint32_t i           = doc->count++;
        pmw_jsontok_tok_t *t = &doc->toks[i];
        t->type              = type;
        t->flags             = 0;
        t->pad               = 0;
        t->start             = (uint32_t)start;
        t->len               = 0;
        t->next              = i + 1;
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
                            add_tok(ps, PMW_JSONTOK_STRING, ps->pos + 1);
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
                        flags |= PMW_JSONTOK_F_ESCAPED;
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
                                if (cp == 0 && (ps->flags & PMW_JSONTOK_NO_NUL))
                                        return fail(ps, i,
                                                    "\\u0000 is not allowed");
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

/* Reads the integer s[0..n) (JSON syntax, optional '-'). Returns false if
 * it does not fit an int64_t. */
static bool read_int64(const char *s, size_t n, int64_t *vp) {
        size_t i = 0;
        bool neg = s[0] == '-';
        if (neg)
                i++;
        uint64_t v   = 0;
        uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; i < n; i++) {
                uint64_t d = (uint64_t)(s[i] - '0');
                if (v > (lim - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *vp = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
                  : (int64_t)v;
        return true;
}

/* Whether the real s[0..n) (JSON syntax) overflows a double, as jansson's
 * strtod() check sees it. The decimal exponent of the first significant
 * digit decides, except for values right around DBL_MAX (1.797...e308),
 * where strtod() itself settles it. Underflow to 0 is no error. */
static bool real_overflows(const char *s, size_t n) {
        size_t i     = s[0] == '-' ? 1 : 0;
        long mag     = 0; /* decimal exponent of the first significant digit */
        bool nonzero = false;
        for (; i < n && is_digit((unsigned char)s[i]); i++) {
                if (nonzero)
                        mag++;
                else if (s[i] != '0')
                        nonzero = true;
        }
        if (i < n && s[i] == '.') {
                long zeros = 0;
                for (i++; i < n && is_digit((unsigned char)s[i]); i++) {
                        if (nonzero)
                                continue;
                        zeros++;
                        if (s[i] != '0') {
                                nonzero = true;
                                mag     = -zeros;
                        }
                }
        }
        if (!nonzero)
                return false; /* zero, whatever its exponent */
        if (i < n) {
                /* 'e' or 'E': the text is at most 4 GB, so an exponent
                 * clamped far beyond that changes no decision. */
                bool neg = false;
                long exp = 0;
                i++;
                if (s[i] == '+' || s[i] == '-')
                        neg = s[i++] == '-';
                for (; i < n; i++) {
                        if (exp < 1000000000000L)
                                exp = exp * 10 + (s[i] - '0');
                }
                mag += neg ? -exp : exp;
        }
        if (mag != 308)
                return mag > 308;
        /* strtod() follows LC_NUMERIC: the process keeps the "C" locale. */
        char *tmp = pmw_malloc(n + 1);
        memcpy(tmp, s, n);
        tmp[n]   = '\0';
        errno    = 0;
        double d = strtod(tmp, NULL);
        free(tmp);
        return errno == ERANGE && isinf(d);
}

static bool parse_number(parser_t *ps) {
        const unsigned char *s = ps->s;
        size_t len             = ps->len;
        size_t i               = ps->pos;
        uint8_t flags          = PMW_JSONTOK_F_INTEGER;
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
        const char *num = (const char *)s + ps->pos;
        size_t n        = i - ps->pos;
        if (ps->flags & PMW_JSONTOK_FIT_NUMBERS) {
                int64_t v;
                /* 18 digits always fit. */
                if ((flags & PMW_JSONTOK_F_INTEGER) && n > 18 &&
                    !read_int64(num, n, &v))
                        return fail(ps, ps->pos, "integer out of range");
                if (!(flags & PMW_JSONTOK_F_INTEGER) && real_overflows(num, n))
                        return fail(ps, ps->pos, "real number overflow");
        }
        uint32_t t             = add_tok(ps, PMW_JSONTOK_NUMBER, ps->pos);
        ps->doc->toks[t].len   = (uint32_t)n;
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

/*
 * Duplicate keys (PMW_JSONTOK_NO_DUPLICATES), checked when an object
 * closes, on the decoded keys as jansson compares them.
 */

/* Up to this many keys a pairwise check of the raw keys is cheapest and
 * needs no memory; above it, a hostile object of 100,000 keys must not cost
 * 10^10 comparisons, so the keys are sorted. */
#define SMALL_OBJECT 16

/* Equal raw keys without escapes. */
static bool raw_keys_equal(const pmw_jsontok_t *doc, uint32_t a, uint32_t b) {
        const pmw_jsontok_tok_t *ta = &doc->toks[a];
        const pmw_jsontok_tok_t *tb = &doc->toks[b];
        return ta->len == tb->len &&
               memcmp(doc->text + ta->start, doc->text + tb->start, ta->len) ==
                   0;
}

static int dkey_cmp(const void *pa, const void *pb) {
        const dkey_t *a = pa;
        const dkey_t *b = pb;
        if (a->len != b->len)
                return a->len < b->len ? -1 : 1;
        int c = memcmp(a->s, b->s, a->len);
        if (c)
                return c;
        return a->tok < b->tok ? -1 : a->tok > b->tok;
}

static bool check_sorted(parser_t *ps, uint32_t obj, size_t n) {
        pmw_jsontok_t *doc = ps->doc;
        uint32_t end       = doc->toks[obj].next;
        if (n > ps->keys_cap) {
                ps->keys_cap = n;
                ps->keys     = pmw_realloc(ps->keys, n * sizeof(*ps->keys));
        }
        /* Escaped keys are decoded into one arena, sized first so that it
         * does not move while pointers into it are taken. */
        size_t need = 0;
        for (uint32_t i = obj + 1; i < end; i = doc->toks[i + 1].next) {
                if (doc->toks[i].flags & PMW_JSONTOK_F_ESCAPED)
                        need += doc->toks[i].len;
        }
        if (need > ps->names_cap) {
                ps->names_cap = need;
                ps->names     = pmw_realloc(ps->names, need);
        }
        size_t k = 0, used = 0;
        for (uint32_t i = obj + 1; i < end; i = doc->toks[i + 1].next, k++) {
                const pmw_jsontok_tok_t *t = &doc->toks[i];
                dkey_t *key                = &ps->keys[k];
                key->tok                   = i;
                if (t->flags & PMW_JSONTOK_F_ESCAPED) {
                        key->s = ps->names + used;
                        key->len =
                            pmw_jsontok_str_copy(doc, i, ps->names + used);
                        used += key->len;
                } else {
                        key->s   = doc->text + t->start;
                        key->len = t->len;
                }
        }
        qsort(ps->keys, n, sizeof(*ps->keys), dkey_cmp);
        /* Equal keys sort by position: the second of each run is that
         * key's first repeat; report the earliest. */
        uint32_t first = UINT32_MAX;
        for (k = 0; k + 1 < n; k++) {
                const dkey_t *a = &ps->keys[k];
                const dkey_t *b = &ps->keys[k + 1];
                if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0 &&
                    b->tok < first)
                        first = b->tok;
        }
        if (first == UINT32_MAX)
                return true;
        return fail(ps, doc->toks[first].start - 1, "duplicate object key");
}

static bool check_duplicates(parser_t *ps, uint32_t obj) {
        const pmw_jsontok_t *doc = ps->doc;
        uint32_t end             = doc->toks[obj].next;
        uint32_t keys[SMALL_OBJECT];
        size_t n     = 0;
        bool escaped = false;
        for (uint32_t i = obj + 1; i < end; i = doc->toks[i + 1].next) {
                if (n < SMALL_OBJECT)
                        keys[n] = i;
                n++;
                escaped |= doc->toks[i].flags & PMW_JSONTOK_F_ESCAPED;
        }
        /* Escaped keys (rare) are decoded once each, by the sorted check. */
        if (n > SMALL_OBJECT || (escaped && n > 1))
                return check_sorted(ps, obj, n);
        for (size_t j = 1; j < n; j++) {
                for (size_t i = 0; i < j; i++) {
                        if (raw_keys_equal(doc, keys[i], keys[j]))
                                return fail(ps, doc->toks[keys[j]].start - 1,
                                            "duplicate object key");
                }
        }
        return true;
}

static bool parse_all(parser_t *ps) {
        uint32_t stack[PMW_JSONTOK_MAX_DEPTH];
        size_t depth           = 0;
        const unsigned char *s = ps->s;
        pmw_jsontok_t *doc     = ps->doc;

        skip_ws(ps);
        for (;;) {
                /* Expecting a value at pos. */
                if (ps->pos >= ps->len)
                        return fail(ps, ps->pos, "unexpected end of input");
                unsigned char c = s[ps->pos];
                bool closed     = false;
                if (c == '{' || c == '[') {
                        if (depth == PMW_JSONTOK_MAX_DEPTH)
                                return fail(ps, ps->pos, "nesting too deep");
                        uint32_t t     = add_tok(ps,
                                             c == '{' ? PMW_JSONTOK_OBJECT
                                                          : PMW_JSONTOK_ARRAY,
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
                        if (!parse_literal(ps, "true", PMW_JSONTOK_TRUE))
                                return false;
                } else if (c == 'f') {
                        if (!parse_literal(ps, "false", PMW_JSONTOK_FALSE))
                                return false;
                } else if (c == 'n') {
                        if (!parse_literal(ps, "null", PMW_JSONTOK_NULL))
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
                                if ((ps->flags & PMW_JSONTOK_NO_DUPLICATES) &&
                                    doc->toks[t].type == PMW_JSONTOK_OBJECT &&
                                    !check_duplicates(ps, t))
                                        return false;
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
                                   PMW_JSONTOK_OBJECT;
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

void pmw_jsontok_init(pmw_jsontok_t *doc) {
        memset(doc, 0, sizeof(*doc));
}

void pmw_jsontok_cleanup(pmw_jsontok_t *doc) {
        free(doc->toks);
        memset(doc, 0, sizeof(*doc));
}

pmw_error_t *pmw_jsontok_parse(pmw_jsontok_t *doc,
                               const char *text,
                               size_t len,
                               unsigned flags) {
        doc->text     = text;
        doc->text_len = len;
        doc->count    = 0;
        if (len >= UINT32_MAX)
                return pmw_error_new(
                    PMW_ERR_LIMIT, "JSON text of %zu bytes is too large", len);
        parser_t ps = {.doc   = doc,
                       .s     = (const unsigned char *)text,
                       .len   = len,
                       .flags = flags};
        bool ok     = parse_all(&ps);
        free(ps.keys);
        free(ps.names);
        if (!ok) {
                doc->count = 0;
                return pmw_error_new(PMW_ERR_PARSE, "offset %zu: %s",
                                     ps.err_pos, ps.err);
        }
        return NULL;
}

const char *pmw_jsontok_raw(const pmw_jsontok_t *doc, uint32_t tok) {
        return doc->text + doc->toks[tok].start;
}

/*
 * Strings.
 */

/* Decodes the escape at s[*ip] (validated by the parser) into out; moves
 * *ip past it and returns the number of bytes (1 to 4). */
static size_t
decode_escape(const unsigned char *s, size_t len, size_t *ip, char out[4]) {
        size_t i = *ip;
        char c   = (char)s[i + 1];
        *ip      = i + 2;
        switch (c) {
        case 'b':
                out[0] = '\b';
                return 1;
        case 'f':
                out[0] = '\f';
                return 1;
        case 'n':
                out[0] = '\n';
                return 1;
        case 'r':
                out[0] = '\r';
                return 1;
        case 't':
                out[0] = '\t';
                return 1;
        case 'u':
                break;
        default: /* '"', '\\', '/' */
                out[0] = c;
                return 1;
        }
        unsigned long cp = (unsigned long)read_hex4(s, len, i + 2);
        *ip              = i + 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned long lo = (unsigned long)read_hex4(s, len, i + 8);
                cp  = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                *ip = i + 12;
        }
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

/* The string token's bytes between the quotes. */
static const unsigned char *
str_raw(const pmw_jsontok_t *doc, uint32_t tok, size_t *lenp) {
        *lenp = doc->toks[tok].len;
        return (const unsigned char *)doc->text + doc->toks[tok].start;
}

size_t pmw_jsontok_str_copy(const pmw_jsontok_t *doc, uint32_t tok, char *dst) {
        size_t len;
        const unsigned char *s = str_raw(doc, tok, &len);
        size_t i = 0, o = 0;
        while (i < len) {
                const unsigned char *bs = memchr(s + i, '\\', len - i);
                size_t run              = bs ? (size_t)(bs - (s + i)) : len - i;
                memcpy(dst + o, s + i, run);
                o += run;
                i += run;
                if (bs)
                        o += decode_escape(s, len, &i, dst + o);
        }
        return o;
}

void pmw_jsontok_str_append(const pmw_jsontok_t *doc,
                            uint32_t tok,
                            pmw_buf_t *out) {
        size_t len;
        const unsigned char *s = str_raw(doc, tok, &len);
        size_t i               = 0;
        while (i < len) {
                const unsigned char *bs = memchr(s + i, '\\', len - i);
                size_t run              = bs ? (size_t)(bs - (s + i)) : len - i;
                pmw_buf_append(out, s + i, run);
                i += run;
                if (bs) {
                        char u[4];
                        size_t n = decode_escape(s, len, &i, u);
                        pmw_buf_append(out, u, n);
                }
        }
}

const char *pmw_jsontok_str(const pmw_jsontok_t *doc,
                            uint32_t tok,
                            pmw_buf_t *scratch,
                            size_t *lenp) {
        const pmw_jsontok_tok_t *t = &doc->toks[tok];
        if (!(t->flags & PMW_JSONTOK_F_ESCAPED)) {
                *lenp = t->len;
                return doc->text + t->start;
        }
        pmw_buf_reset(scratch);
        pmw_jsontok_str_append(doc, tok, scratch);
        *lenp = pmw_buf_len(scratch);
        return pmw_buf_ptr(scratch);
}

size_t pmw_jsontok_str_len(const pmw_jsontok_t *doc, uint32_t tok) {
        size_t len;
        const unsigned char *s = str_raw(doc, tok, &len);
        if (!(doc->toks[tok].flags & PMW_JSONTOK_F_ESCAPED))
                return len;
        size_t i = 0, o = 0;
        while (i < len) {
                const unsigned char *bs = memchr(s + i, '\\', len - i);
                size_t run              = bs ? (size_t)(bs - (s + i)) : len - i;
                o += run;
                i += run;
                if (bs) {
                        char u[4];
                        o += decode_escape(s, len, &i, u);
                }
        }
        return o;
}

bool pmw_jsontok_str_eqn(const pmw_jsontok_t *doc,
                         uint32_t tok,
                         const char *str,
                         size_t n) {
        size_t len;
        const unsigned char *s = str_raw(doc, tok, &len);
        if (!(doc->toks[tok].flags & PMW_JSONTOK_F_ESCAPED))
                return len == n && memcmp(s, str, n) == 0;
        /* Compared as it is decoded: no copy. */
        size_t i = 0, o = 0;
        while (i < len) {
                if (s[i] != '\\') {
                        if (o == n || str[o] != (char)s[i])
                                return false;
                        o++;
                        i++;
                        continue;
                }
                char u[4];
                size_t k = decode_escape(s, len, &i, u);
                if (k > n - o || memcmp(str + o, u, k) != 0)
                        return false;
                o += k;
        }
        return o == n;
}

bool pmw_jsontok_str_eq(const pmw_jsontok_t *doc, uint32_t tok, const char *s) {
        return pmw_jsontok_str_eqn(doc, tok, s, strlen(s));
}

uint32_t
pmw_jsontok_get(const pmw_jsontok_t *doc, uint32_t obj, const char *key) {
        size_t n       = strlen(key);
        uint32_t found = 0;
        uint32_t end   = doc->toks[obj].next;
        uint32_t i     = obj + 1;
        while (i < end) {
                if (pmw_jsontok_str_eqn(doc, i, key, n))
                        found = i + 1;
                i = doc->toks[i + 1].next;
        }
        return found;
}

size_t pmw_jsontok_str_utf16_len(const pmw_jsontok_t *doc, uint32_t tok) {
        const pmw_jsontok_tok_t *t = &doc->toks[tok];
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

bool pmw_jsontok_int(const pmw_jsontok_t *doc, uint32_t tok, int64_t *vp) {
        const pmw_jsontok_tok_t *t = &doc->toks[tok];
        if (t->type != PMW_JSONTOK_NUMBER ||
            !(t->flags & PMW_JSONTOK_F_INTEGER))
                return false;
        return read_int64(doc->text + t->start, t->len, vp);
}

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends text[from..to), which lies between tokens (punctuation, quotes
 * and whitespace only), without the whitespace. */
static void
append_between(const char *text, size_t from, size_t to, pmw_buf_t *out) {
        size_t run = from;
        for (size_t i = from; i < to; i++) {
                if (!is_ws(text[i]))
                        continue;
                pmw_buf_append(out, text + run, i - run);
                run = i + 1;
        }
        pmw_buf_append(out, text + run, to - run);
}

void pmw_jsontok_append_compact(const pmw_jsontok_t *doc,
                                uint32_t tok,
                                pmw_buf_t *out) {
        const pmw_jsontok_tok_t *t = &doc->toks[tok];
        if (t->type == PMW_JSONTOK_STRING) {
                pmw_buf_append(out, doc->text + t->start - 1, t->len + 2);
                return;
        }
        if (t->type != PMW_JSONTOK_OBJECT && t->type != PMW_JSONTOK_ARRAY) {
                pmw_buf_append(out, doc->text + t->start, t->len);
                return;
        }
        /* Each scalar's text is copied whole; what lies between tokens is
         * brackets, commas, colons, quotes and whitespace. */
        size_t pos = t->start;
        for (uint32_t i = tok + 1; i < t->next; i++) {
                const pmw_jsontok_tok_t *c = &doc->toks[i];
                append_between(doc->text, pos, c->start, out);
                pos = c->start;
                if (c->type == PMW_JSONTOK_OBJECT ||
                    c->type == PMW_JSONTOK_ARRAY)
                        continue; /* its bracket is copied with the gap */
                pmw_buf_append(out, doc->text + c->start, c->len);
                pos = c->start + c->len;
        }
        append_between(doc->text, pos, t->start + t->len, out);
}
