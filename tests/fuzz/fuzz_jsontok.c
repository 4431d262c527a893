/*
 * Fuzz target: common/jsontok against jansson, and the simulator's message
 * rules on whatever parses.
 *
 * Both parsers must agree on what is valid JSON, twice:
 * - no flags against jansson with JSON_DECODE_ANY | JSON_ALLOW_NUL (jansson
 *   alone also rejects numbers that overflow its types and refuses
 *   "\u0000" in an object key);
 * - PMW_JSONTOK_JANSSON against jansson with JSON_DECODE_ANY |
 *   JSON_REJECT_DUPLICATES, which must agree on numbers too;
 * and in both, jansson's depth limit counts one level differently, and it
 * stops at a raw NUL byte after the value. They must agree on every decoded
 * string, which every string accessor must give alike, and the compact copy
 * of the value must parse to the same tokens. Then each object is run
 * through both validation steps of the simulator with a configured account,
 * which must not crash or leak whatever the input.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/jsontok.h"
#include "tests/postmark-sim/sim_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that jansson's value j and token tok are the same value. */
static void compare(const pmw_jsontok_t *doc, uint32_t tok, json_t *j) {
        const pmw_jsontok_tok_t *t = &doc->toks[tok];
        pmw_buf_t s;
        switch (t->type) {
        case PMW_JSONTOK_OBJECT: {
                if (!json_is_object(j))
                        abort();
                size_t pairs = 0;
                for (uint32_t k = tok + 1; k < t->next;
                     k          = doc->toks[k + 1].next) {
                        pmw_buf_init(&s, SIZE_MAX);
                        pmw_jsontok_str_append(doc, k, &s);
                        json_t *v = json_object_getn(j, pmw_buf_ptr(&s),
                                                     pmw_buf_len(&s));
                        if (v == NULL)
                                abort();
                        /* Repeated keys: both keep the last one. */
                        uint32_t last = 0;
                        for (uint32_t q = tok + 1; q < t->next;
                             q          = doc->toks[q + 1].next) {
                                pmw_buf_t other;
                                pmw_buf_init(&other, SIZE_MAX);
                                pmw_jsontok_str_append(doc, q, &other);
                                if (pmw_buf_len(&other) == pmw_buf_len(&s) &&
                                    memcmp(pmw_buf_ptr(&other), pmw_buf_ptr(&s),
                                           pmw_buf_len(&s)) == 0)
                                        last = q + 1;
                                pmw_buf_cleanup(&other);
                        }
                        if (last == k + 1)
                                compare(doc, k + 1, v);
                        pmw_buf_cleanup(&s);
                        pairs++;
                }
                if (json_object_size(j) > pairs)
                        abort();
                break;
        }
        case PMW_JSONTOK_ARRAY: {
                if (!json_is_array(j))
                        abort();
                size_t i = 0;
                for (uint32_t el = tok + 1; el < t->next;
                     el          = doc->toks[el].next)
                        compare(doc, el, json_array_get(j, i++));
                if (i != json_array_size(j))
                        abort();
                break;
        }
        case PMW_JSONTOK_STRING: {
                if (!json_is_string(j))
                        abort();
                pmw_buf_init(&s, SIZE_MAX);
                pmw_jsontok_str_append(doc, tok, &s);
                if (pmw_buf_len(&s) != json_string_length(j) ||
                    memcmp(pmw_buf_ptr(&s), json_string_value(j),
                           pmw_buf_len(&s)) != 0)
                        abort();
                /* The other accessors agree. */
                if (pmw_jsontok_str_len(doc, tok) != pmw_buf_len(&s) ||
                    !pmw_jsontok_str_eqn(doc, tok, pmw_buf_ptr(&s),
                                         pmw_buf_len(&s)))
                        abort();
                if (pmw_buf_len(&s) > 0 &&
                    pmw_jsontok_str_eqn(doc, tok, pmw_buf_ptr(&s),
                                        pmw_buf_len(&s) - 1))
                        abort();
                char *copy = malloc(t->len + 1);
                if (pmw_jsontok_str_copy(doc, tok, copy) != pmw_buf_len(&s) ||
                    memcmp(copy, pmw_buf_ptr(&s), pmw_buf_len(&s)) != 0)
                        abort();
                free(copy);
                /* UTF-16 units, counted on the decoded UTF-8. */
                size_t units = 0;
                for (size_t i = 0; i < pmw_buf_len(&s); i++) {
                        unsigned char c = (unsigned char)pmw_buf_ptr(&s)[i];
                        units += (c & 0xc0) != 0x80;
                        units += c >= 0xf0;
                }
                if (units != pmw_jsontok_str_utf16_len(doc, tok))
                        abort();
                pmw_buf_cleanup(&s);
                break;
        }
        case PMW_JSONTOK_NUMBER:
                if (!json_is_number(j))
                        abort();
                if (json_is_integer(j)) {
                        int64_t v;
                        if (!pmw_jsontok_int(doc, tok, &v) ||
                            v != json_integer_value(j))
                                abort();
                }
                break;
        case PMW_JSONTOK_TRUE:
                if (!json_is_true(j))
                        abort();
                break;
        case PMW_JSONTOK_FALSE:
                if (!json_is_false(j))
                        abort();
                break;
        default:
                if (!json_is_null(j))
                        abort();
        }
}

static void validate_all(const pmw_jsontok_t *doc) {
        char s1[] = "*@acme.example", i1[] = "bounce*@*", t1[] = "welcome",
             n1[]       = "news";
        char *senders[] = {s1}, *inactive[] = {i1}, *templates[] = {t1},
             *streams[]       = {n1};
        pmw_sim_rules_t rules = {senders,   1, inactive, 1,
                                 templates, 1, streams,  1};
        pmw_buf_t text;
        pmw_buf_init(&text, SIZE_MAX);
        for (uint32_t tok = 0; tok < doc->count; tok++) {
                if (doc->toks[tok].type != PMW_JSONTOK_OBJECT)
                        continue;
                for (int templated = 0; templated < 2; templated++) {
                        pmw_sim_msg_t msg;
                        bool accepted;
                        if (pmw_sim_msg_fields(doc, tok, templated, &msg,
                                               &text))
                                (void)pmw_sim_msg_check(doc, &msg, &rules,
                                                        templated, &accepted,
                                                        &text);
                }
        }
        pmw_buf_cleanup(&text);
}

/* The compact copy of the whole value parses, with the same flags, to
 * the same tokens, and is its own compact copy. */
static void check_compact(const pmw_jsontok_t *doc, unsigned flags) {
        pmw_buf_t out, again;
        pmw_jsontok_t re;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_buf_init(&again, SIZE_MAX);
        pmw_jsontok_init(&re);
        pmw_jsontok_append_compact(doc, 0, &out);
        pmw_error_t *err =
            pmw_jsontok_parse(&re, pmw_buf_ptr(&out), pmw_buf_len(&out), flags);
        if (err != NULL || re.count != doc->count)
                abort();
        for (uint32_t i = 0; i < doc->count; i++) {
                if (re.toks[i].type != doc->toks[i].type ||
                    re.toks[i].flags != doc->toks[i].flags ||
                    re.toks[i].next != doc->toks[i].next)
                        abort();
        }
        pmw_jsontok_append_compact(&re, 0, &again);
        if (pmw_buf_len(&again) != pmw_buf_len(&out) ||
            memcmp(pmw_buf_ptr(&again), pmw_buf_ptr(&out), pmw_buf_len(&out)) !=
                0)
                abort();
        pmw_jsontok_cleanup(&re);
        pmw_buf_cleanup(&again);
        pmw_buf_cleanup(&out);
}

/* Parses with flags and jansson with jflags; returns the document's
 * error (NULL when it parsed). */
static pmw_error_t *against_jansson(pmw_jsontok_t *doc,
                                    const uint8_t *data,
                                    size_t size,
                                    unsigned flags,
                                    size_t jflags) {
        pmw_error_t *err =
            pmw_jsontok_parse(doc, (const char *)data, size, flags);
        json_error_t jerr;
        json_t *j = json_loadb((const char *)data, size, jflags, &jerr);
        if ((err == NULL) != (j != NULL)) {
                /* Known differences: see the top of this file. */
                bool known = (j == NULL &&
                              (strstr(jerr.text, "depth") ||
                               (flags == 0 && (strstr(jerr.text, "too big") ||
                                               strstr(jerr.text, "overflow") ||
                                               strstr(jerr.text,
                                                      "NUL byte in "
                                                      "object key"))))) ||
                             (j != NULL && memchr(data, 0, size) != NULL);
                if (!known)
                        abort();
        } else if (err == NULL) {
                compare(doc, 0, j);
                check_compact(doc, flags);
        }
        json_decref(j);
        return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        pmw_error_t *err =
            against_jansson(&doc, data, size, PMW_JSONTOK_JANSSON,
                            JSON_DECODE_ANY | JSON_REJECT_DUPLICATES);
        pmw_error_destroy(err);
        err = against_jansson(&doc, data, size, 0,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL);
        if (err == NULL)
                validate_all(&doc);
        pmw_error_destroy(err);
        pmw_jsontok_cleanup(&doc);
        return 0;
}
