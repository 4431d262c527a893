/*
 * tests/integration/testutil.h: small helpers shared by the cmocka
 * integration tests (header-only: they use cmocka's macros, so include it
 * after <cmocka.h>).
 */
#ifndef PMW_TESTS_TESTUTIL_H
#define PMW_TESTS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "tests/integration/proc.h"

/* Fails the test with the error's message (and frees it). */
static inline void pmw_test_check(pmw_error_t *err) {
        if (err) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", pmw_error_string(err));
                pmw_error_destroy(err);
                fail_msg("%s", msg);
        }
}

/* Starts the mock-broker binary with args (NULL-terminated) and reads its
 * bootstrap address into bootstrap. */
static inline void pmw_test_start_broker(const char *broker_bin,
                                         const char *const *args,
                                         pmw_proc_t **procp,
                                         char *bootstrap,
                                         size_t size) {
        const char *argv[32] = {broker_bin};
        size_t n             = 1;
        for (size_t i = 0; args && args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        pmw_test_check(
            pmw_proc_start_first_line(argv, 20000, procp, bootstrap, size));
        assert_int_equal(strncmp(bootstrap, "127.0.0.1:", 10), 0);
}

/* A mock-broker process as a test's cmocka state: setup allocates it,
 * pmw_test_start_broker() fills it, stop checks its exit, teardown stops
 * what a failed test left running. */
typedef struct pmw_test_broker_s {
        pmw_proc_t *proc;
        char bootstrap[512];
} pmw_test_broker_t;

static inline int pmw_test_broker_setup(void **state) {
        *state = pmw_calloc(1, sizeof(pmw_test_broker_t));
        return 0;
}

static inline int pmw_test_broker_teardown(void **state) {
        pmw_test_broker_t *b = *state;
        if (b->proc)
                pmw_proc_stop(b->proc, 10000);
        free(b);
        return 0;
}

static inline void pmw_test_broker_stop(pmw_test_broker_t *b) {
        pmw_proc_t *proc = b->proc;
        b->proc          = NULL;
        assert_int_equal(pmw_proc_stop(proc, 10000), 0);
}

#endif /* PMW_TESTS_TESTUTIL_H */
