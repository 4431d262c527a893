/* Unit tests for tests/postmark-sim/sim_store (GET /messages/outbound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/buf.h"
#include "tests/postmark-sim/sim_store.h"

/* Message i: id 0000000i-..., To rcpt<i>@x.org, Tag tag<i%2>,
 * Metadata job=<i>, token tok<i%3 == 2 ? "B" : "A">. */
static pmw_sim_entry_t *entry(int i) {
        char id[37], to[64], tag[16], meta[32];
        snprintf(id, sizeof(id), "%08d-0000-4000-8000-000000000000", i);
        int to_len   = snprintf(to, sizeof(to), "R <rcpt%d@x.org>", i);
        int tag_len  = snprintf(tag, sizeof(tag), "tag%d", i % 2);
        int meta_len = snprintf(meta, sizeof(meta), "job%c%d", '\0', i);
        pmw_sim_entry_in_t in = {
            .message_id   = id,
            .submitted_ms = 1795000000000 + i,
            .token        = i % 3 == 2 ? "B" : "A",
            .from         = "Sender <s@acme.example>",
            .from_len     = 23,
            .to           = to,
            .to_len       = (size_t)to_len,
            .subject      = "Hello",
            .subject_len  = 5,
            .tag          = tag,
            .tag_len      = (size_t)tag_len,
            .stream       = "outbound",
            .stream_len   = 8,
            .meta         = meta,
            .meta_len     = (size_t)meta_len + 1,
            .n_meta       = 1,
        };
        return pmw_sim_entry_new(&in);
}

static void fill(pmw_sim_store_t *store, int from, int to) {
        pmw_sim_entry_t *es[16];
        size_t n = 0;
        for (int i = from; i <= to; i++)
                es[n++] = entry(i);
        pmw_sim_store_put(store, es, n);
}

static size_t total_of(pmw_sim_store_t *store, const pmw_sim_query_t *q) {
        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_sim_store_search(store, q, &out);
        size_t total = 0;
        assert_int_equal(
            sscanf(pmw_buf_ptr(&out), "{\"TotalCount\":%zu", &total), 1);
        pmw_buf_cleanup(&out);
        return total;
}

static void test_search_output(void **state) {
        (void)state;
        pmw_sim_store_t *store = pmw_sim_store_new(100);
        fill(store, 1, 1);
        pmw_sim_query_t q = {.count = 100};
        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_sim_store_search(store, &q, &out);
        assert_string_equal(
            pmw_buf_ptr(&out),
            "{\"TotalCount\":1,\"Messages\":[{\"Tag\":\"tag1\","
            "\"MessageID\":\"00000001-0000-4000-8000-000000000000\","
            "\"MessageStream\":\"outbound\",\"To\":[{\"Email\":"
            "\"rcpt1@x.org\",\"Name\":\"R\"}],\"Recipients\":["
            "\"rcpt1@x.org\"],\"ReceivedAt\":\"2026-11-18T11:06:40.001Z\","
            "\"From\":\"Sender <s@acme.example>\",\"Subject\":\"Hello\","
            "\"Status\":\"Sent\",\"Metadata\":{\"job\":\"1\"}}]}");
        pmw_buf_cleanup(&out);
        pmw_sim_store_destroy(store);
}

static void test_filters(void **state) {
        (void)state;
        pmw_sim_store_t *store = pmw_sim_store_new(100);
        fill(store, 1, 9);
        assert_int_equal(pmw_sim_store_size(store), 9);
        pmw_sim_query_t q = {.count = 100};
        assert_int_equal(total_of(store, &q), 9);
        q.token = "A";
        assert_int_equal(total_of(store, &q), 6); /* i % 3 != 2 */
        q.token = "B";
        assert_int_equal(total_of(store, &q), 3);
        q.token = NULL;

        q.meta_key   = "JOB"; /* keys ignore case */
        q.meta_value = "5";
        assert_int_equal(total_of(store, &q), 1);
        q.meta_value = "55";
        assert_int_equal(total_of(store, &q), 0);
        q.meta_key = NULL;

        q.recipient = "RCPT3@x.org";
        assert_int_equal(total_of(store, &q), 1);
        q.recipient = "rcpt3@x.or";
        assert_int_equal(total_of(store, &q), 0);
        q.recipient = NULL;

        q.tag = "TAG0";
        assert_int_equal(total_of(store, &q), 4);
        q.tag       = NULL;
        q.fromemail = "s@acme.example";
        assert_int_equal(total_of(store, &q), 9);
        q.fromemail = "acme.example";
        assert_int_equal(total_of(store, &q), 0);
        q.fromemail = NULL;
        q.subject   = "Hello";
        q.stream    = "outbound";
        assert_int_equal(total_of(store, &q), 9);
        q.stream = "broadcast";
        assert_int_equal(total_of(store, &q), 0);
        pmw_sim_store_destroy(store);
}

static void test_paging_and_eviction(void **state) {
        (void)state;
        pmw_sim_store_t *store = pmw_sim_store_new(5);
        fill(store, 1, 4);
        fill(store, 5, 8); /* 1, 2 and 3 are dropped */
        assert_int_equal(pmw_sim_store_size(store), 5);
        pmw_sim_query_t q = {.count = 2, .offset = 1};
        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        pmw_sim_store_search(store, &q, &out);
        /* Newest first: 8 7 6 5 4; offset 1, count 2: 7 and 6. */
        const char *s = pmw_buf_ptr(&out);
        assert_non_null(strstr(s, "{\"TotalCount\":5,"));
        const char *m7 = strstr(s, "00000007-");
        const char *m6 = strstr(s, "00000006-");
        assert_non_null(m7);
        assert_non_null(m6);
        assert_true(m7 < m6);
        assert_null(strstr(s, "00000008-"));
        assert_null(strstr(s, "00000005-"));
        pmw_buf_cleanup(&out);

        q.meta_key   = "job";
        q.meta_value = "3";
        q.offset     = 0;
        assert_int_equal(total_of(store, &q), 0);
        q.meta_value = "4";
        assert_int_equal(total_of(store, &q), 1);
        pmw_sim_store_destroy(store);

        /* max 0: nothing is kept. */
        store = pmw_sim_store_new(0);
        fill(store, 1, 3);
        assert_int_equal(pmw_sim_store_size(store), 0);
        pmw_sim_store_destroy(store);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_search_output),
            cmocka_unit_test(test_filters),
            cmocka_unit_test(test_paging_and_eviction),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
