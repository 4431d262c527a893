/* Unit tests for tests/postmark-sim/sim_match (address lists, globs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_match.h"

typedef struct want_s {
        const char *addr;
        const char *name;
        bool ok;
} want_t;

static void check_list(const char *list, const want_t *want, size_t n) {
        size_t pos = 0, i = 0;
        pmw_sim_addr_t a;
        bool ok;
        while (pmw_sim_addr_next(list, strlen(list), &pos, &a, &ok)) {
                if (i >= n)
                        fail_msg("%s: more than %zu entries", list, n);
                assert_int_equal(ok, want[i].ok);
                if (want[i].ok) {
                        if (a.addr_len != strlen(want[i].addr) ||
                            memcmp(a.addr, want[i].addr, a.addr_len) != 0)
                                fail_msg("%s: entry %zu: '%.*s'", list, i,
                                         (int)a.addr_len, a.addr);
                        assert_int_equal(a.name_len, strlen(want[i].name));
                        assert_memory_equal(a.name, want[i].name, a.name_len);
                }
                i++;
        }
        assert_int_equal(i, n);
}

static void test_addr_lists(void **state) {
        (void)state;
        check_list("a@x.com", (want_t[]) {{"a@x.com", "", true}}, 1);
        check_list(" a@x.com , b@y.org,",
                   (want_t[]) {{"a@x.com", "", true}, {"b@y.org", "", true}},
                   2);
        check_list("Jane Doe <jane@x.com>",
                   (want_t[]) {{"jane@x.com", "Jane Doe", true}}, 1);
        check_list("\"Doe, Jane\" <jane@x.com>, <bob@y.org>",
                   (want_t[]) {{"jane@x.com", "Doe, Jane", true},
                               {"bob@y.org", "", true}},
                   2);
        check_list("", NULL, 0);
        check_list(" , ,", NULL, 0);
}

static void test_addr_invalid(void **state) {
        (void)state;
        static const char *const bad[] = {
            "plain",
            "@x.com",
            "a@",
            "a@@x.com",
            "a b@x.com",
            "a@x.com.",
            "a@.x.com",
            "Jane <a@x.com",
            "Jane <a@x.com> extra",
            "<a@x.com",
            "<>",
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++) {
                size_t pos = 0;
                pmw_sim_addr_t a;
                bool ok = true;
                bool got =
                    pmw_sim_addr_next(bad[i], strlen(bad[i]), &pos, &a, &ok);
                if (!got || ok)
                        fail_msg("accepted: '%s'", bad[i]);
        }
        /* The bad entry is named in full for the error message. */
        size_t pos = 0;
        pmw_sim_addr_t a;
        bool ok;
        const char *list = "ok@x.com, not an address ,b@y.org";
        assert_true(pmw_sim_addr_next(list, strlen(list), &pos, &a, &ok));
        assert_true(ok);
        assert_true(pmw_sim_addr_next(list, strlen(list), &pos, &a, &ok));
        assert_false(ok);
        assert_int_equal(a.raw_len, strlen("not an address"));
        assert_memory_equal(a.raw, "not an address", a.raw_len);
        assert_true(pmw_sim_addr_next(list, strlen(list), &pos, &a, &ok));
        assert_true(ok);
        assert_false(pmw_sim_addr_next(list, strlen(list), &pos, &a, &ok));
}

static void test_glob(void **state) {
        (void)state;
        const char *s = "Bounce-1@Example.COM";
        assert_true(pmw_sim_glob_match("bounce*@*", s, strlen(s)));
        assert_true(pmw_sim_glob_match("*@example.com", s, strlen(s)));
        assert_true(pmw_sim_glob_match("bounce-?@example.com", s, strlen(s)));
        assert_true(pmw_sim_glob_match("bounce-[0-9]@*", s, strlen(s)));
        assert_false(pmw_sim_glob_match("inactive*@*", s, strlen(s)));
        assert_false(pmw_sim_glob_match("bounce*@example.org", s, strlen(s)));
        /* Only the given length counts. */
        assert_true(pmw_sim_glob_match("bounce-1", s, 8));
        /* Long subjects (heap copy) work too. */
        char *long_addr = pmw_malloc(400);
        memset(long_addr, 'A', 390);
        memcpy(long_addr + 390, "@x.com", 7);
        assert_true(
            pmw_sim_glob_match("a*@x.com", long_addr, strlen(long_addr)));
        free(long_addr);
        /* An embedded NUL never matches. */
        assert_false(pmw_sim_glob_match("*", "a\0b", 3));
}

static void test_case_helpers(void **state) {
        (void)state;
        char s[] = "MiXeD@Example.COM";
        assert_string_equal(pmw_sim_lower(s), "mixed@example.com");
        assert_true(pmw_sim_ieq("OUTBOUND", 8, "outbound"));
        assert_false(pmw_sim_ieq("outbound", 7, "outbound"));
        assert_false(pmw_sim_ieq("outbounds", 9, "outbound"));
        assert_true(pmw_sim_ieq("", 0, ""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_addr_lists),
            cmocka_unit_test(test_addr_invalid),
            cmocka_unit_test(test_glob),
            cmocka_unit_test(test_case_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
