/*
 * tests/kafka-tool/json.c: see json.h.
 */
#include "tests/kafka-tool/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pmw_json_write_real(pmw_buf_t *buf, double d) {
        /* 17 significant digits always round-trip a double; fewer are tried
         * first because most values (prices, rates) were written by a human
         * with few digits, and the shortest form is what they wrote. */
        static const char *const fmts[] = {"%.15g", "%.16g", "%.17g"};
        char tmp[40];
        int n = 0;

        if (!isfinite(d)) {
                pmw_buf_append(buf, "null", 4);
                return;
        }
        for (size_t i = 0; i < PMW_ARRAY_LEN(fmts); i++) {
                n = snprintf(tmp, sizeof(tmp), fmts[i], d);
                if (strtod(tmp, NULL) == d)
                        break;
        }
        if (n < 0 || (size_t)n >= sizeof(tmp))
                return; /* cannot happen: %.17g of a finite double fits */
        /* "%g" drops ".0" from integral values; JSON readers would then see
         * an integer where the job had a real. */
        if (!strpbrk(tmp, ".eE")) {
                tmp[n++] = '.';
                tmp[n++] = '0';
        }
        pmw_buf_append(buf, tmp, (size_t)n);
}

static void write_object(pmw_buf_t *buf, const json_t *object) {
        bool first = true;
        /* jansson iterates objects in insertion order, i.e. the order of the
         * parsed text. json_object_iter() takes a non-const pointer although
         * it does not modify the object. */
        for (void *it = json_object_iter((json_t *)object); it;
             it       = json_object_iter_next((json_t *)object, it)) {
                if (!first)
                        pmw_buf_append_char(buf, ',');
                first = false;
                pmw_buf_append_json_utf8(buf, json_object_iter_key(it),
                                         json_object_iter_key_len(it));
                pmw_buf_append_char(buf, ':');
                pmw_json_write(buf, json_object_iter_value(it));
        }
}

void pmw_json_write(pmw_buf_t *buf, const json_t *value) {
        switch (json_typeof(value)) {
        case JSON_OBJECT:
                pmw_buf_append_char(buf, '{');
                write_object(buf, value);
                pmw_buf_append_char(buf, '}');
                break;
        case JSON_ARRAY: {
                size_t n = json_array_size(value);
                pmw_buf_append_char(buf, '[');
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                pmw_buf_append_char(buf, ',');
                        pmw_json_write(buf, json_array_get(value, i));
                }
                pmw_buf_append_char(buf, ']');
                break;
        }
        case JSON_STRING:
                pmw_buf_append_json_utf8(buf, json_string_value(value),
                                         json_string_length(value));
                break;
        case JSON_INTEGER:
                pmw_buf_append_int(buf, json_integer_value(value));
                break;
        case JSON_REAL:
                pmw_json_write_real(buf, json_real_value(value));
                break;
        case JSON_TRUE:
                pmw_buf_append(buf, "true", 4);
                break;
        case JSON_FALSE:
                pmw_buf_append(buf, "false", 5);
                break;
        case JSON_NULL:
                pmw_buf_append(buf, "null", 4);
                break;
        }
}
