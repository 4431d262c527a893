/*
 * tests/postmark-sim/sim_json.h: a strict, zero-copy JSON tokenizer for the
 * simulator.
 *
 * Why not jansson here: the simulator must absorb 100,000 messages/s of
 * ~1 KB each on two cores while the benchmark's client shares them, and
 * jansson builds a tree of allocated nodes (about 10 us per KB). This
 * scanner validates the whole text once (RFC 8259 grammar, UTF-8, escapes,
 * surrogate pairs, nesting depth) and produces a flat array of tokens that
 * point into the caller's text, like jsmn: nothing is copied or decoded
 * until a field is actually needed. It accepts exactly what jansson accepts
 * by default, except that "\u0000" is allowed (Postmark's .NET parser takes
 * it) and integers of any size are accepted (only TemplateId needs a value,
 * read with pmw_sim_json_int()).
 *
 * Tokens are laid out in document order. A container's children follow it;
 * tok.next is the index just past the token's whole subtree, so siblings
 * are walked with i = toks[i].next. An object's children alternate key
 * (a STRING token) and value.
 *
 * Ownership: a document borrows the text it was parsed from (which must
 * outlive it) and owns its token array. Thread safety: a document belongs
 * to one thread at a time; the functions keep no state.
 */
#ifndef PMW_SIM_JSON_H
#define PMW_SIM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef enum pmw_sim_json_type_e {
        PMW_SIM_JSON_OBJECT = 1,
        PMW_SIM_JSON_ARRAY,
        PMW_SIM_JSON_STRING,
        PMW_SIM_JSON_NUMBER,
        PMW_SIM_JSON_TRUE,
        PMW_SIM_JSON_FALSE,
        PMW_SIM_JSON_NULL,
} pmw_sim_json_type_t;

/* Token flags. */
#define PMW_SIM_JSON_F_ESCAPED 0x01 /* string: contains a backslash escape */
#define PMW_SIM_JSON_F_INTEGER 0x02 /* number: no fraction, no exponent */

typedef struct pmw_sim_json_tok_s {
        uint8_t type;  /* pmw_sim_json_type_t */
        uint8_t flags; /* PMW_SIM_JSON_F_* */
        uint16_t pad;
        /* Strings: the bytes between the quotes. Others: the whole raw
         * text of the value, brackets included. */
        uint32_t start;
        uint32_t len;
        uint32_t next; /* index of the first token after this subtree */
} pmw_sim_json_tok_t;

typedef struct pmw_sim_json_s {
        const char *text; /* borrowed */
        size_t text_len;
        pmw_sim_json_tok_t *toks; /* owned */
        uint32_t count;
        uint32_t cap;
} pmw_sim_json_t;

/* Nesting deeper than this is rejected (jansson's limit too). */
#define PMW_SIM_JSON_MAX_DEPTH 2048

/** @brief Initialises an empty document (no allocation). */
void pmw_sim_json_init(pmw_sim_json_t *doc);

/** @brief Frees the tokens; the document may be parsed into again. */
void pmw_sim_json_cleanup(pmw_sim_json_t *doc);

/**
 * @brief Parses text[0..len) (one JSON value, optionally surrounded by
 *        whitespace) into doc, replacing what it held.
 * @param text borrows: must outlive the document; need not be
 *        NUL-terminated. At most 4 GB - 1.
 * @returns NULL, or a PMW_ERR_PARSE error naming the byte offset and the
 *          problem ("offset 17: invalid escape").
 */
pmw_error_t *pmw_sim_json_parse(pmw_sim_json_t *doc,
                                const char *text,
                                size_t len) PMW_WARN_UNUSED;

/** @returns a pointer to the token's first byte in the text (borrowed). */
const char *pmw_sim_json_raw(const pmw_sim_json_t *doc, uint32_t tok);

/**
 * @brief Looks up a key in an object token (exact, case-sensitive; the
 *        last occurrence if repeated).
 * @returns the value's token index, or 0 when absent (0 is always the
 *          root, never a value).
 */
uint32_t
pmw_sim_json_get(const pmw_sim_json_t *doc, uint32_t obj, const char *key);

/** @returns true if string token tok equals s (after unescaping). */
bool pmw_sim_json_str_eq(const pmw_sim_json_t *doc,
                         uint32_t tok,
                         const char *s);

/**
 * @brief The string's value: borrowed straight from the text when it has
 *        no escapes, else decoded into scratch (reset first).
 * @param scratch borrows: holds the decoded bytes when needed.
 * @param lenp receives the length in bytes (the value may contain NULs).
 * @returns a pointer valid until the text or scratch changes; NOT
 *          NUL-terminated when borrowed from the text.
 */
const char *pmw_sim_json_str(const pmw_sim_json_t *doc,
                             uint32_t tok,
                             pmw_buf_t *scratch,
                             size_t *lenp);

/** @brief Appends the decoded value of string token tok to out. */
void pmw_sim_json_str_append(const pmw_sim_json_t *doc,
                             uint32_t tok,
                             pmw_buf_t *out);

/** @returns the string's length in UTF-16 code units (as .NET counts). */
size_t pmw_sim_json_str_utf16_len(const pmw_sim_json_t *doc, uint32_t tok);

/**
 * @brief Reads an integer number token.
 * @returns false if tok is not an integer or does not fit an int64_t.
 */
bool pmw_sim_json_int(const pmw_sim_json_t *doc, uint32_t tok, int64_t *vp);

#endif /* PMW_SIM_JSON_H */
