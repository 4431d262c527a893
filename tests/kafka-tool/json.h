/*
 * tests/kafka-tool/json.h: a compact JSON writer for jansson values.
 *
 * pmw-kafka produces a record whose "value" is a JSON object or array as
 * that value's compact JSON text. Why not json_dumpb(): jansson prints reals
 * with 17 significant digits, so a TemplateModel price of 19.99 would be
 * produced as 19.989999999999998. This writer prints the shortest form that
 * reads back as the same double (19.99), always recognisable as a real
 * ("1.0", never "1"). Strings are copied as UTF-8 (not \u-escaped), object
 * keys keep their order, and the output goes straight into a pmw_buf_t.
 * (The worker itself reads JSON with common/jsontok.h and never re-prints
 * a value.)
 *
 * Reals are formatted with snprintf() and read back with strtod(), which
 * follow LC_NUMERIC: the process must keep the "C" numeric locale.
 *
 * Thread safety: no shared state; jansson values may be read by several
 * threads at once (jansson doc/threadsafety.rst).
 */
#ifndef PMW_KAFKATOOL_JSON_H
#define PMW_KAFKATOOL_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"

/**
 * @brief Appends the compact JSON text of value to buf.
 * @param buf borrows: the buffer to append to (its limit applies; check
 *        pmw_buf_failed() at the end).
 * @param value borrows: any jansson value (nesting depth is bounded by
 *        jansson's parser, so the recursion is too).
 */
void pmw_json_write(pmw_buf_t *buf, const json_t *value);

/**
 * @brief Appends the shortest text of the finite double d that strtod()
 *        reads back as d, marked as a real ("1.0", "1e+300", "19.99").
 *        Infinities and NaN, which JSON cannot express, are written as null.
 */
void pmw_json_write_real(pmw_buf_t *buf, double d);

#endif /* PMW_KAFKATOOL_JSON_H */
