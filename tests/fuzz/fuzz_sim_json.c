/*
 * Fuzz target: the simulator's JSON tokenizer against jansson, and the
 * message rules on whatever parses.
 *
 * Both parsers must agree on what is valid JSON (jansson with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL; jansson alone also rejects numbers that
 * overflow its types, its depth limit counts one level differently, and it
 * stops at a raw NUL byte after the value; it also refuses "\u0000" in an
 * object key),
 * and on every decoded string. Then each object is run through both
 * validation steps with a configured account, which must not crash or
 * leak whatever the input.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/postmark-sim/sim_json.h"
#include "tests/postmark-sim/sim_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that jansson's value j and token tok are the same value. */
static void compare(const pmw_sim_json_t *doc, uint32_t tok, json_t *j) {
        const pmw_sim_json_tok_t *t = &doc->toks[tok];
        pmw_buf_t s;
        switch (t->type) {
        case PMW_SIM_JSON_OBJECT: {
                if (!json_is_object(j))
                        abort();
                size_t pairs = 0;
                for (uint32_t k = tok + 1; k < t->next;
                     k          = doc->toks[k + 1].next) {
                        pmw_buf_init(&s, SIZE_MAX);
                        pmw_sim_json_str_append(doc, k, &s);
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
                                pmw_sim_json_str_append(doc, q, &other);
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
        case PMW_SIM_JSON_ARRAY: {
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
        case PMW_SIM_JSON_STRING: {
                if (!json_is_string(j))
                        abort();
                pmw_buf_init(&s, SIZE_MAX);
                pmw_sim_json_str_append(doc, tok, &s);
                if (pmw_buf_len(&s) != json_string_length(j) ||
                    memcmp(pmw_buf_ptr(&s), json_string_value(j),
                           pmw_buf_len(&s)) != 0)
                        abort();
                /* UTF-16 units, counted on the decoded UTF-8. */
                size_t units = 0;
                for (size_t i = 0; i < pmw_buf_len(&s); i++) {
                        unsigned char c = (unsigned char)pmw_buf_ptr(&s)[i];
                        units += (c & 0xc0) != 0x80;
                        units += c >= 0xf0;
                }
                if (units != pmw_sim_json_str_utf16_len(doc, tok))
                        abort();
                pmw_buf_cleanup(&s);
                break;
        }
        case PMW_SIM_JSON_NUMBER:
                if (!json_is_number(j))
                        abort();
                if (json_is_integer(j)) {
                        int64_t v;
                        if (!pmw_sim_json_int(doc, tok, &v) ||
                            v != json_integer_value(j))
                                abort();
                }
                break;
        case PMW_SIM_JSON_TRUE:
                if (!json_is_true(j))
                        abort();
                break;
        case PMW_SIM_JSON_FALSE:
                if (!json_is_false(j))
                        abort();
                break;
        default:
                if (!json_is_null(j))
                        abort();
        }
}

static void validate_all(const pmw_sim_json_t *doc) {
        char s1[] = "*@acme.example", i1[] = "bounce*@*", t1[] = "welcome",
             n1[]       = "news";
        char *senders[] = {s1}, *inactive[] = {i1}, *templates[] = {t1},
             *streams[]       = {n1};
        pmw_sim_rules_t rules = {senders,   1, inactive, 1,
                                 templates, 1, streams,  1};
        pmw_buf_t text;
        pmw_buf_init(&text, SIZE_MAX);
        for (uint32_t tok = 0; tok < doc->count; tok++) {
                if (doc->toks[tok].type != PMW_SIM_JSON_OBJECT)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        pmw_error_t *err = pmw_sim_json_parse(&doc, (const char *)data, size);
        json_error_t jerr;
        json_t *j = json_loadb((const char *)data, size,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if ((err == NULL) != (j != NULL)) {
                /* Known differences: see the top of this file. */
                bool known = (j == NULL && (strstr(jerr.text, "too big") ||
                                            strstr(jerr.text, "overflow") ||
                                            strstr(jerr.text, "depth") ||
                                            strstr(jerr.text,
                                                   "NUL byte in "
                                                   "object key"))) ||
                             (j != NULL && memchr(data, 0, size) != NULL);
                if (!known)
                        abort();
        } else if (err == NULL) {
                compare(&doc, 0, j);
        }
        if (err == NULL)
                validate_all(&doc);
        pmw_error_destroy(err);
        json_decref(j);
        pmw_sim_json_cleanup(&doc);
        return 0;
}
