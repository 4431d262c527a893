/* Unit tests for worker/tracker: the committable offset of a partition
 * whose jobs finish out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "worker/tracker.h"

/* take_commit's answer, as -2 when it returned false. */
static int64_t take(pmw_tracker_t *t) {
        int64_t offset = -7;
        if (!pmw_tracker_take_commit(t, &offset)) {
                assert_int_equal(offset, -7); /* untouched */
                return -2;
        }
        return offset;
}

static void test_empty(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        assert_int_equal(pmw_tracker_commit_offset(&t), -1);
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(take(&t), -2);
        pmw_tracker_cleanup(&t);
        /* Cleanup leaves an initialised, empty tracker. */
        assert_int_equal(pmw_tracker_commit_offset(&t), -1);
        pmw_tracker_cleanup(&t);
}

static void test_in_order(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        for (int64_t o = 0; o < 10; o++)
                pmw_tracker_add(&t, o);
        assert_int_equal(pmw_tracker_pending(&t), 10);
        assert_int_equal(pmw_tracker_commit_offset(&t), 0);
        /* The first offset added is the starting point, not a move. */
        assert_int_equal(take(&t), -2);
        for (int64_t o = 0; o < 10; o++) {
                pmw_tracker_done(&t, o);
                assert_int_equal(pmw_tracker_commit_offset(&t), o + 1);
                assert_int_equal(pmw_tracker_pending(&t), (size_t)(9 - o));
                assert_int_equal(take(&t), o + 1);
                assert_int_equal(take(&t), -2);
        }
        pmw_tracker_cleanup(&t);
}

static void test_out_of_order(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        for (int64_t o = 10; o < 14; o++)
                pmw_tracker_add(&t, o);
        pmw_tracker_done(&t, 12);
        assert_int_equal(pmw_tracker_commit_offset(&t), 10);
        assert_int_equal(pmw_tracker_pending(&t), 3);
        assert_int_equal(take(&t), -2);
        pmw_tracker_done(&t, 11);
        assert_int_equal(pmw_tracker_commit_offset(&t), 10);
        assert_int_equal(pmw_tracker_pending(&t), 2);
        assert_int_equal(take(&t), -2);
        /* Done of the head releases the run 10, 11, 12. */
        pmw_tracker_done(&t, 10);
        assert_int_equal(pmw_tracker_commit_offset(&t), 13);
        assert_int_equal(pmw_tracker_pending(&t), 1);
        assert_int_equal(take(&t), 13);
        pmw_tracker_done(&t, 13);
        assert_int_equal(pmw_tracker_commit_offset(&t), 14);
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(take(&t), 14);
        pmw_tracker_cleanup(&t);
}

static void test_gaps(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        pmw_tracker_add(&t, 5);
        pmw_tracker_add(&t, 9);
        pmw_tracker_add(&t, 20);
        pmw_tracker_done(&t, 9);
        assert_int_equal(pmw_tracker_commit_offset(&t), 5);
        pmw_tracker_done(&t, 5);
        /* 6..19 do not exist: the next offset to read is 20. */
        assert_int_equal(pmw_tracker_commit_offset(&t), 20);
        assert_int_equal(take(&t), 20);
        pmw_tracker_done(&t, 20);
        assert_int_equal(pmw_tracker_commit_offset(&t), 21);
        assert_int_equal(take(&t), 21);
        pmw_tracker_cleanup(&t);
}

static void test_all_done_then_add(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        pmw_tracker_add(&t, 100);
        pmw_tracker_add(&t, 101);
        pmw_tracker_done(&t, 101);
        pmw_tracker_done(&t, 100);
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(pmw_tracker_commit_offset(&t), 102);
        assert_int_equal(take(&t), 102);
        /* A new job after a gap: 102..109 do not exist, so the commit point
         * moves to 110 although nothing more is done. */
        pmw_tracker_add(&t, 110);
        assert_int_equal(pmw_tracker_commit_offset(&t), 110);
        assert_int_equal(pmw_tracker_pending(&t), 1);
        assert_int_equal(take(&t), 110);
        /* Without a gap the commit point does not move on add. */
        pmw_tracker_done(&t, 110);
        assert_int_equal(take(&t), 111);
        pmw_tracker_add(&t, 111);
        assert_int_equal(pmw_tracker_commit_offset(&t), 111);
        assert_int_equal(take(&t), -2);
        pmw_tracker_cleanup(&t);
}

static void test_take_commit_reports_moves_once(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        pmw_tracker_add(&t, 7);
        assert_int_equal(take(&t), -2);
        pmw_tracker_add(&t, 8);
        pmw_tracker_add(&t, 9);
        assert_int_equal(take(&t), -2);
        pmw_tracker_done(&t, 8);
        assert_int_equal(take(&t), -2);
        pmw_tracker_done(&t, 7);
        /* Two moves between calls are reported as one, the latest. */
        pmw_tracker_done(&t, 9);
        assert_int_equal(take(&t), 10);
        assert_int_equal(take(&t), -2);
        assert_int_equal(take(&t), -2);
        pmw_tracker_cleanup(&t);
}

static void test_reset(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        for (int64_t o = 500; o < 1000; o++)
                pmw_tracker_add(&t, o);
        pmw_tracker_done(&t, 500);
        assert_int_equal(take(&t), 501);
        pmw_tracker_reset(&t);
        assert_int_equal(pmw_tracker_commit_offset(&t), -1);
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(take(&t), -2);
        /* Reassigned later, the partition may start below where it was. */
        pmw_tracker_add(&t, 3);
        assert_int_equal(pmw_tracker_commit_offset(&t), 3);
        assert_int_equal(take(&t), -2);
        pmw_tracker_done(&t, 3);
        assert_int_equal(take(&t), 4);
        pmw_tracker_cleanup(&t);
}

static void test_growth(void **state) {
        (void)state;
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        /* Wrap the ring first, so growing has to unwrap it. */
        for (int64_t o = 0; o < 200; o++)
                pmw_tracker_add(&t, o);
        for (int64_t o = 0; o < 150; o++)
                pmw_tracker_done(&t, o);
        assert_int_equal(take(&t), 150);
        /* 100k more, every other offset (a gap after each). */
        const int64_t n = 100000;
        for (int64_t i = 0; i < n; i++)
                pmw_tracker_add(&t, 1000 + 2 * i);
        assert_int_equal(pmw_tracker_pending(&t), 50 + n);
        /* Everything but 150 done, newest first: nothing moves. */
        for (int64_t i = n - 1; i >= 0; i--)
                pmw_tracker_done(&t, 1000 + 2 * i);
        for (int64_t o = 151; o < 200; o++)
                pmw_tracker_done(&t, o);
        assert_int_equal(pmw_tracker_pending(&t), 1);
        assert_int_equal(pmw_tracker_commit_offset(&t), 150);
        assert_int_equal(take(&t), -2);
        pmw_tracker_done(&t, 150);
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(pmw_tracker_commit_offset(&t), 1000 + 2 * (n - 1) + 1);
        assert_int_equal(take(&t), 1000 + 2 * (n - 1) + 1);
        pmw_tracker_cleanup(&t);
}

/* Bugs are ignored in release builds (NDEBUG), and change nothing. In
 * debug builds they assert, which cmocka cannot catch in a library built
 * without its mock_assert, so this test only runs under NDEBUG. */
static void test_misuse_ignored(void **state) {
        (void)state;
#ifdef NDEBUG
        pmw_tracker_t t;
        pmw_tracker_init(&t);
        pmw_tracker_done(&t, 5); /* nothing added */
        assert_int_equal(pmw_tracker_commit_offset(&t), -1);
        pmw_tracker_add(&t, -1); /* negative */
        assert_int_equal(pmw_tracker_commit_offset(&t), -1);
        pmw_tracker_add(&t, 10);
        pmw_tracker_add(&t, 12);
        pmw_tracker_add(&t, 12); /* not increasing */
        pmw_tracker_add(&t, 11);
        assert_int_equal(pmw_tracker_pending(&t), 2);
        pmw_tracker_done(&t, 11); /* in a gap */
        pmw_tracker_done(&t, 13); /* above */
        pmw_tracker_done(&t, 9);  /* below */
        assert_int_equal(pmw_tracker_pending(&t), 2);
        pmw_tracker_done(&t, 12);
        pmw_tracker_done(&t, 12); /* twice */
        assert_int_equal(pmw_tracker_pending(&t), 1);
        assert_int_equal(pmw_tracker_commit_offset(&t), 10);
        pmw_tracker_done(&t, 10);
        pmw_tracker_done(&t, 10); /* released already */
        assert_int_equal(pmw_tracker_pending(&t), 0);
        assert_int_equal(pmw_tracker_commit_offset(&t), 13);
        pmw_tracker_cleanup(&t);
#else
        skip();
#endif
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rnd(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ULL;
}

/* The reference model: every offset added, with a done flag, and the
 * reporting rule of take_commit. The commit point is the first entry not
 * done, found by a scan from where the last one stopped. */
typedef struct model_s {
        int64_t *offsets;
        bool *done;
        size_t n, cap;
        size_t first;    /* entries before it are all done */
        size_t *pending; /* indexes of entries not done, unordered */
        size_t npending;
        int64_t reported;
} model_t;

static int64_t model_commit(model_t *m) {
        if (m->n == 0)
                return -1;
        while (m->first < m->n && m->done[m->first])
                m->first++;
        if (m->first < m->n)
                return m->offsets[m->first];
        return m->offsets[m->n - 1] + 1;
}

static void test_random_against_model(void **state) {
        (void)state;
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        for (int round = 0; round < 40; round++) {
                pmw_tracker_t t;
                pmw_tracker_init(&t);
                model_t m    = {.cap = 20000, .reported = -1};
                m.offsets    = calloc(m.cap, sizeof(*m.offsets));
                m.done       = calloc(m.cap, sizeof(*m.done));
                m.pending    = calloc(m.cap, sizeof(*m.pending));
                int64_t next = (int64_t)(rnd(&seed) % 1000);
                /* Rounds differ in how many jobs stay pending at once: from
                 * a few to thousands (past the initial capacity). */
                unsigned add_weight = 1 + (unsigned)(rnd(&seed) % 4);
                while (m.n < m.cap) {
                        bool add = m.npending == 0 ||
                                   rnd(&seed) % (add_weight + 2) < add_weight;
                        if (add) {
                                if (m.n == 0)
                                        m.reported = next;
                                m.offsets[m.n]          = next;
                                m.pending[m.npending++] = m.n;
                                m.n++;
                                pmw_tracker_add(&t, next);
                                next += 1 + (int64_t)(rnd(&seed) % 4 == 0
                                                          ? rnd(&seed) % 50
                                                          : 0);
                        } else {
                                size_t k = (size_t)(rnd(&seed) % m.npending);
                                size_t i = m.pending[k];
                                m.pending[k] = m.pending[--m.npending];
                                m.done[i]    = true;
                                pmw_tracker_done(&t, m.offsets[i]);
                        }
                        int64_t want = model_commit(&m);
                        assert_int_equal(pmw_tracker_commit_offset(&t), want);
                        assert_int_equal(pmw_tracker_pending(&t), m.npending);
                        if (rnd(&seed) % 3 == 0) {
                                int64_t got = take(&t);
                                if (want == m.reported) {
                                        assert_int_equal(got, -2);
                                } else {
                                        assert_int_equal(got, want);
                                        m.reported = want;
                                }
                        }
                }
                /* Drain: finish every pending job in random order. */
                while (m.npending > 0) {
                        size_t k     = (size_t)(rnd(&seed) % m.npending);
                        size_t i     = m.pending[k];
                        m.pending[k] = m.pending[--m.npending];
                        m.done[i]    = true;
                        pmw_tracker_done(&t, m.offsets[i]);
                        assert_int_equal(pmw_tracker_commit_offset(&t),
                                         model_commit(&m));
                }
                assert_int_equal(pmw_tracker_commit_offset(&t),
                                 m.offsets[m.n - 1] + 1);
                pmw_tracker_cleanup(&t);
                free(m.offsets);
                free(m.done);
                free(m.pending);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_empty),
            cmocka_unit_test(test_in_order),
            cmocka_unit_test(test_out_of_order),
            cmocka_unit_test(test_gaps),
            cmocka_unit_test(test_all_done_then_add),
            cmocka_unit_test(test_take_commit_reports_moves_once),
            cmocka_unit_test(test_reset),
            cmocka_unit_test(test_growth),
            cmocka_unit_test(test_misuse_ignored),
            cmocka_unit_test(test_random_against_model),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
