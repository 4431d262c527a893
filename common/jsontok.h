/*
 * common/jsontok.h: the project's JSON reader, a strict zero-copy
 * tokenizer.
 *
 * Why not a tree (jansson): jobs, Postmark's batch answers and the
 * simulator's request bodies are read on the hot path, 1 KB to 50 MB at a
 * time, and a tree costs one allocation per value plus a copy of every
 * string (about 10 us per KB). This scanner validates the whole text once
 * (RFC 8259 grammar, UTF-8, escapes, surrogate pairs, nesting depth) and
 * produces a flat array of tokens that point into the caller's text, like
 * jsmn: nothing is copied or decoded until a field is actually needed, and
 * a value the reader does not change can be copied out as its raw JSON
 * text (valid JSON by construction).
 *
 * With no flags it accepts exactly what jansson accepts with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL, except that numbers of any size are
 * accepted (only pmw_jsontok_int() needs a value) and "\u0000" may be in a
 * key too. The PMW_JSONTOK_NO_* and _FIT_NUMBERS flags add jansson's
 * default refusals, so that PMW_JSONTOK_JANSSON accepts what
 * json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts
 * (tests/fuzz/fuzz_jsontok.c checks both; jansson's depth limit counts one
 * level differently).
 *
 * Tokens are laid out in document order. A container's children follow it;
 * tok.next is the index just past the token's whole subtree, so siblings
 * are walked with i = toks[i].next. An object's children alternate key
 * (a STRING token) and value.
 *
 * Ownership: a document borrows the text it was parsed from (which must
 * outlive it) and owns its token array. Thread safety: a document belongs
 * to one thread at a time; the functions keep no state, and a parsed
 * document may be read by several threads at once.
 */
#ifndef PMW_COMMON_JSONTOK_H
#define PMW_COMMON_JSONTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum pmw_jsontok_type_e {
        PMW_JSONTOK_OBJECT = 1,
        PMW_JSONTOK_ARRAY,
        PMW_JSONTOK_STRING,
        PMW_JSONTOK_NUMBER,
        PMW_JSONTOK_TRUE,
        PMW_JSONTOK_FALSE,
        PMW_JSONTOK_NULL,
} pmw_jsontok_type_t;

/* Token flags. */
#define PMW_JSONTOK_F_ESCAPED 0x01 /* string: contains a backslash escape */
#define PMW_JSONTOK_F_INTEGER 0x02 /* number: no fraction, no exponent */

typedef struct pmw_jsontok_tok_s {
        uint8_t type;  /* pmw_jsontok_type_t */
        uint8_t flags; /* PMW_JSONTOK_F_* */
        uint16_t pad;
        /* Strings: the bytes between the quotes. Others: the whole raw
         * text of the value, brackets included. */
        uint32_t start;
        uint32_t len;
        uint32_t next; /* index of the first token after this subtree */
} pmw_jsontok_tok_t;

typedef struct pmw_jsontok_s {
        const char *text; /* borrowed */
        size_t text_len;
        pmw_jsontok_tok_t *toks; /* owned */
        uint32_t count;
        uint32_t cap;
} pmw_jsontok_t;

/* Nesting deeper than this is rejected (jansson's limit too). */
#define PMW_JSONTOK_MAX_DEPTH 2048

/* Parse flags: refusals jansson makes by default. */
#define PMW_JSONTOK_NO_NUL 0x01 /* "\u0000" in a string */
#define PMW_JSONTOK_NO_DUPLICATES                                              \
        0x02 /* a key twice in one object (after                               \
                unescaping) */
#define PMW_JSONTOK_FIT_NUMBERS                                                \
        0x04 /* an integer outside int64_t, a                                  \
                real that overflows a double */
#define PMW_JSONTOK_JANSSON                                                    \
        (PMW_JSONTOK_NO_NUL | PMW_JSONTOK_NO_DUPLICATES |                      \
         PMW_JSONTOK_FIT_NUMBERS)

/** @brief Initialises an empty document (no allocation). */
void pmw_jsontok_init(pmw_jsontok_t *doc);

/** @brief Frees the tokens; the document may be parsed into again. */
void pmw_jsontok_cleanup(pmw_jsontok_t *doc);

/**
 * @brief Parses text[0..len) (one JSON value, optionally surrounded by
 *        whitespace) into doc, replacing what it held.
 * @param text borrows: must outlive the document; need not be
 *        NUL-terminated. At most 4 GB - 1.
 * @param flags PMW_JSONTOK_NO_NUL, _NO_DUPLICATES, _FIT_NUMBERS, or 0.
 * @returns NULL, or a PMW_ERR_PARSE error naming the byte offset and the
 *          problem ("offset 17: invalid escape"); doc then holds no tokens.
 */
pmw_error_t *pmw_jsontok_parse(pmw_jsontok_t *doc,
                               const char *text,
                               size_t len,
                               unsigned flags) PMW_WARN_UNUSED;

/** @returns a pointer to the token's first byte in the text (borrowed). */
const char *pmw_jsontok_raw(const pmw_jsontok_t *doc, uint32_t tok);

/**
 * @brief Looks up a key in an object token (exact, case-sensitive; the
 *        last occurrence if repeated).
 * @param key borrows: NUL-terminated.
 * @returns the value's token index, or 0 when absent (0 is always the
 *          root, never a value).
 */
uint32_t
pmw_jsontok_get(const pmw_jsontok_t *doc, uint32_t obj, const char *key);

/** @returns true if string token tok equals s (after unescaping). */
bool pmw_jsontok_str_eq(const pmw_jsontok_t *doc, uint32_t tok, const char *s);

/** @returns true if string token tok equals s[0..n) (after unescaping). */
bool pmw_jsontok_str_eqn(const pmw_jsontok_t *doc,
                         uint32_t tok,
                         const char *s,
                         size_t n);

/**
 * @brief The string's value: borrowed straight from the text when it has
 *        no escapes, else decoded into scratch (reset first).
 * @param scratch borrows: holds the decoded bytes when needed.
 * @param lenp receives the length in bytes (the value may contain NULs
 *        unless parsed with PMW_JSONTOK_NO_NUL).
 * @returns a pointer valid until the text or scratch changes; NOT
 *          NUL-terminated when borrowed from the text.
 */
const char *pmw_jsontok_str(const pmw_jsontok_t *doc,
                            uint32_t tok,
                            pmw_buf_t *scratch,
                            size_t *lenp);

/** @brief Appends the decoded value of string token tok to out. */
void pmw_jsontok_str_append(const pmw_jsontok_t *doc,
                            uint32_t tok,
                            pmw_buf_t *out);

/**
 * @brief Writes the decoded value of string token tok to dst (no NUL).
 * @param dst borrows: room for toks[tok].len bytes (a decoded string is
 *        never longer than its raw text).
 * @returns the number of bytes written.
 */
size_t pmw_jsontok_str_copy(const pmw_jsontok_t *doc, uint32_t tok, char *dst);

/** @returns the decoded length in bytes of string token tok, without
 *           decoding it. */
size_t pmw_jsontok_str_len(const pmw_jsontok_t *doc, uint32_t tok);

/** @returns the string's length in UTF-16 code units (as .NET counts). */
size_t pmw_jsontok_str_utf16_len(const pmw_jsontok_t *doc, uint32_t tok);

/**
 * @brief Reads an integer number token.
 * @returns false if tok is not an integer or does not fit an int64_t.
 */
bool pmw_jsontok_int(const pmw_jsontok_t *doc, uint32_t tok, int64_t *vp);

/**
 * @brief Appends the raw text of token tok (a string with its quotes)
 *        without the whitespace between tokens: compact JSON, exactly as
 *        the text spelled each value (escapes, number forms, key order).
 */
void pmw_jsontok_append_compact(const pmw_jsontok_t *doc,
                                uint32_t tok,
                                pmw_buf_t *out);

#endif /* PMW_COMMON_JSONTOK_H */
