/*
 * bench_message: cost of turning one job into a Postmark message.
 *
 *   bench_message [N]
 *
 * Parses a realistic job of about 1 KB (display names, Cc, Metadata, a
 * header, a small HTML and text body) N times (default 200000) with
 * pmw_message_parse() and prints the time per job; then the same for a job
 * with a 10 KB HtmlBody (N / 5 times). For scale it
 * also prints the cost of tokenizing alone (pmw_jsontok_parse(), the floor
 * of pmw_message_parse()), of building a jansson tree of the same bytes
 * (json_loadb() + json_decref(), what the worker did before), and of adding
 * the message to a batch body. Times are CPU time of the thread, so
 * other processes on the machine distort them less. Build without
 * sanitizers for numbers
 * that mean anything.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/jsontok.h"
#include "common/postmark_batch.h"
#include "common/postmark_message.h"

static const char job_1k[] =
    "{\"From\": \"Acme Billing <billing@acme.example>\","
    " \"To\": \"\\\"Doe, Jane\\\" <jane.doe@example.org>\","
    " \"Cc\": \"accounts@example.org\","
    " \"Subject\": \"Your invoice #100234 for November\","
    " \"HtmlBody\": \"<html><body><h1>Invoice #100234</h1><p>Dear Jane,</p>"
    "<p>Thank you for your business. Your invoice for November is ready. "
    "The total of <b>$149.00</b> will be charged to the card ending in 4242 "
    "on December 1.</p><p><a href=\\\"https://acme.example/invoices/100234"
    "\\\">View your invoice</a></p><p>Questions? Reply to this email.</p>"
    "<p>Acme Billing</p></body></html>\","
    " \"TextBody\": \"Dear Jane,\\n\\nThank you for your business. Your "
    "invoice for November is ready. The total of $149.00 will be charged to "
    "the card ending in 4242 on December 1.\\n\\nView it at "
    "https://acme.example/invoices/100234\\n\\nAcme Billing\","
    " \"Tag\": \"invoice\","
    " \"ReplyTo\": \"support@acme.example\","
    " \"Headers\": [{\"Name\": \"X-Acme-Invoice\", \"Value\": \"100234\"}],"
    " \"TrackOpens\": true,"
    " \"TrackLinks\": \"HtmlOnly\","
    " \"Metadata\": {\"customer\": \"cus_8f3k2\", \"invoice\": \"100234\","
    " \"plan\": \"pro\"},"
    " \"MessageStream\": \"outbound\"}";

static double now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Times n parses of job; returns 0, or 1 if the job is rejected. */
static int bench(const char *name, const char *job, size_t len, long n) {
        pmw_message_t msg;

        /* Warm up, and make sure the job is valid. */
        pmw_message_parse(&msg, job, len, "email.jobs:3:1234567");
        if (msg.reject_code) {
                fprintf(stderr, "%s: rejected: %d %s\n", name, msg.reject_code,
                        msg.reject_reason);
                pmw_message_cleanup(&msg);
                return 1;
        }
        size_t body_len = msg.body_len;
        pmw_message_cleanup(&msg);

        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
                pmw_message_parse(&msg, job, len, "email.jobs:3:1234567");
                pmw_message_cleanup(&msg);
        }
        double t1 = now_ns();
        for (long i = 0; i < n; i++) {
                json_error_t jerr;
                json_t *root = json_loadb(job, len, 0, &jerr);
                json_decref(root);
        }
        double t2 = now_ns();
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        for (long i = 0; i < n; i++) {
                pmw_error_t *err =
                    pmw_jsontok_parse(&doc, job, len, PMW_JSONTOK_JANSSON);
                pmw_error_destroy(err);
        }
        pmw_jsontok_cleanup(&doc);
        double t2b = now_ns();

        pmw_message_parse(&msg, job, len, "email.jobs:3:1234567");
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, 50u << 20);
        double t3 = now_ns();
        for (long i = 0; i < n; i++) {
                if (!pmw_batch_body_add(&bb, msg.body, msg.body_len)) {
                        pmw_batch_body_reset(&bb, PMW_ENDPOINT_BATCH);
                        (void)pmw_batch_body_add(&bb, msg.body, msg.body_len);
                }
        }
        double t4 = now_ns();
        pmw_batch_body_cleanup(&bb);
        pmw_message_cleanup(&msg);

        printf("%s: %zu bytes in, %zu bytes out; %ld iterations\n", name, len,
               body_len, n);
        printf("  pmw_message_parse:      %8.0f ns/job\n", (t1 - t0) / n);
        printf("  pmw_jsontok_parse only: %8.0f ns/job\n", (t2b - t2) / n);
        printf("  json_loadb+decref only: %8.0f ns/job\n", (t2 - t1) / n);
        printf("  pmw_batch_body_add:     %8.0f ns/job\n", (t4 - t3) / n);
        return 0;
}

int main(int argc, char **argv) {
        long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
        if (n <= 0) {
                fprintf(stderr, "usage: bench_message [N > 0]\n");
                return 2;
        }
        int rc = bench("1 KB job", job_1k, sizeof(job_1k) - 1, n);

        /* The same job with a 10 KB HtmlBody, closer to a designed
         * transactional email: shows the per-byte cost. */
        static const char para[] =
            "<p style=\\\"margin:0 0 12px\\\">Thank you for your business. "
            "Your invoice for November is ready.</p>";
        pmw_buf_t big;
        pmw_buf_init(&big, 1 << 20);
        pmw_buf_append_str(&big,
                           "{\"From\": \"billing@acme.example\", "
                           "\"To\": \"jane.doe@example.org\", "
                           "\"Subject\": \"Invoice\", \"HtmlBody\": \"");
        while (pmw_buf_len(&big) < 10 * 1024)
                pmw_buf_append_str(&big, para);
        pmw_buf_append_str(&big, "\", \"Metadata\": {\"invoice\": \"1\"}}");
        rc |= bench("10 KB job", pmw_buf_ptr(&big), pmw_buf_len(&big),
                    n / 5 ? n / 5 : 1);
        pmw_buf_cleanup(&big);
        return rc;
}
