/*
 * worker/batch.c: see batch.h.
 */
#include "worker/batch.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/postmark_batch.h"

pmw_batch_t *
pmw_batch_new(int server_idx, pmw_endpoint_t endpoint, int64_t now_us) {
        pmw_batch_t *batch = pmw_calloc(1, sizeof(*batch));
        batch->server_idx  = server_idx;
        batch->endpoint    = endpoint;
        batch->opened_us   = now_us;
        batch->body_bytes  = pmw_batch_frame_len(endpoint);
        return batch;
}

void pmw_batch_destroy(pmw_batch_t *batch) {
        if (!batch)
                return;
        free(batch->jobs);
        free(batch->body);
        free(batch->body_at);
        free(batch);
}

void pmw_batch_push(pmw_batch_t *batch, pmw_job_t *job) {
        pmw_batch_drop_body(batch);
        if (batch->cnt == batch->cap) {
                batch->cap = batch->cap ? batch->cap * 2 : 16;
                batch->jobs =
                    pmw_realloc(batch->jobs, batch->cap * sizeof(*batch->jobs));
        }
        batch->body_bytes += job->msg.body_len + (batch->cnt > 0);
        batch->jobs[batch->cnt++] = job;
}

bool pmw_batch_fits(const pmw_batch_t *batch,
                    const pmw_job_t *job,
                    size_t max_messages,
                    size_t max_bytes) {
        if (batch->cnt == 0)
                return true;
        return batch->cnt < max_messages &&
               batch->body_bytes + 1 + job->msg.body_len <= max_bytes;
}

/* Recomputes body_bytes after jobs moved. */
static void recount(pmw_batch_t *batch) {
        batch->body_bytes = pmw_batch_frame_len(batch->endpoint);
        for (size_t i = 0; i < batch->cnt; i++)
                batch->body_bytes += batch->jobs[i]->msg.body_len + (i > 0);
}

void pmw_batch_filter(pmw_batch_t *batch,
                      bool (*drop)(void *opaque, pmw_job_t *job),
                      void *opaque) {
        size_t kept = 0;
        pmw_batch_drop_body(batch);
        for (size_t i = 0; i < batch->cnt; i++) {
                pmw_job_t *job = batch->jobs[i];
                if (!drop(opaque, job))
                        batch->jobs[kept++] = job;
        }
        batch->cnt = kept;
        recount(batch);
}

void pmw_batch_build_body(pmw_batch_t *batch) {
        pmw_batch_drop_body(batch);
        pmw_batch_body_t bb;
        /* The limits were applied while the batch filled (and a lone
         * message may exceed max_bytes), so the builder gets room for
         * exactly this body. */
        pmw_batch_body_init(&bb, batch->endpoint, batch->cnt ? batch->cnt : 1,
                            batch->body_bytes + 1);
        batch->body_at =
            pmw_realloc(batch->body_at, (batch->cnt + 1) * sizeof(size_t));
        for (size_t i = 0; i < batch->cnt; i++) {
                pmw_message_t *msg = &batch->jobs[i]->msg;
                if (!pmw_batch_body_add_at(&bb, msg->body, msg->body_len,
                                           &batch->body_at[i]))
                        continue; /* cannot happen: room was made above */
                /* Moved into the body: one copy of each message while its
                 * request is in flight, not two. */
                free(msg->body);
                msg->body = NULL;
        }
        batch->body = pmw_batch_body_take(&bb, &batch->body_len);
        pmw_batch_body_cleanup(&bb);
}

void pmw_batch_give_back(pmw_batch_t *batch, size_t i) {
        pmw_message_t *msg = &batch->jobs[i]->msg;
        if (!batch->body || msg->body)
                return;
        msg->body = pmw_malloc(msg->body_len + 1);
        memcpy(msg->body, batch->body + batch->body_at[i], msg->body_len);
        msg->body[msg->body_len] = '\0';
}

void pmw_batch_drop_body(pmw_batch_t *batch) {
        if (!batch->body)
                return;
        for (size_t i = 0; i < batch->cnt; i++)
                pmw_batch_give_back(batch, i);
        free(batch->body);
        batch->body     = NULL;
        batch->body_len = 0;
}

pmw_batch_t *pmw_batch_split(pmw_batch_t *batch, int64_t now_us) {
        pmw_batch_drop_body(batch);
        pmw_batch_t *half =
            pmw_batch_new(batch->server_idx, batch->endpoint, now_us);
        size_t keep = batch->cnt - batch->cnt / 2;
        for (size_t i = keep; i < batch->cnt; i++)
                pmw_batch_push(half, batch->jobs[i]);
        batch->cnt = keep;
        recount(batch);
        half->retries = batch->retries;
        return half;
}

struct pmw_batcher_s {
        pmw_batch_t **open; /* [server * 2 + endpoint] */
        size_t slot_cnt;
        size_t max_messages;
        size_t max_bytes;
        int64_t linger_us;
        size_t jobs;
};

pmw_batcher_t *pmw_batcher_new(size_t server_cnt,
                               size_t max_messages,
                               size_t max_bytes,
                               int64_t linger_us) {
        pmw_batcher_t *bt = pmw_calloc(1, sizeof(*bt));
        bt->slot_cnt      = server_cnt * 2;
        bt->open          = pmw_calloc(bt->slot_cnt, sizeof(*bt->open));
        bt->max_messages  = max_messages;
        bt->max_bytes     = max_bytes;
        bt->linger_us     = linger_us;
        return bt;
}

void pmw_batcher_destroy(pmw_batcher_t *bt) {
        if (!bt)
                return;
        for (size_t i = 0; i < bt->slot_cnt; i++)
                pmw_batch_destroy(bt->open[i]);
        free(bt->open);
        free(bt);
}

pmw_batch_t *
pmw_batcher_add(pmw_batcher_t *bt, pmw_job_t *job, int64_t now_us) {
        size_t slot        = (size_t)job->server_idx * 2 + job->msg.endpoint;
        pmw_batch_t *done  = NULL;
        pmw_batch_t *batch = bt->open[slot];

        if (batch &&
            !pmw_batch_fits(batch, job, bt->max_messages, bt->max_bytes)) {
                done           = batch;
                bt->open[slot] = NULL;
                bt->jobs -= done->cnt;
                batch = NULL;
        }
        if (!batch) {
                batch =
                    pmw_batch_new(job->server_idx, job->msg.endpoint, now_us);
                bt->open[slot] = batch;
        }
        pmw_batch_push(batch, job);
        bt->jobs++;
        /* Full by count, or by bytes (nothing more can join it): send it
         * now rather than after the linger. */
        if (!done && (batch->cnt >= bt->max_messages ||
                      batch->body_bytes >= bt->max_bytes)) {

                done           = batch;
                bt->open[slot] = NULL;
                bt->jobs -= done->cnt;
        }
        return done;
}

pmw_batch_t *
pmw_batcher_take_due(pmw_batcher_t *bt, int64_t now_us, bool flush) {
        pmw_batch_t *head = NULL, **tail = &head;
        for (size_t i = 0; i < bt->slot_cnt; i++) {
                pmw_batch_t *batch = bt->open[i];
                if (!batch ||
                    (!flush && now_us < batch->opened_us + bt->linger_us))
                        continue;
                bt->open[i] = NULL;
                bt->jobs -= batch->cnt;
                batch->next = NULL;
                *tail       = batch;
                tail        = &batch->next;
        }
        return head;
}

int64_t pmw_batcher_next_due(const pmw_batcher_t *bt) {
        int64_t due = INT64_MAX;
        for (size_t i = 0; i < bt->slot_cnt; i++)
                if (bt->open[i] && bt->open[i]->opened_us + bt->linger_us < due)
                        due = bt->open[i]->opened_us + bt->linger_us;
        return due;
}

size_t pmw_batcher_jobs(const pmw_batcher_t *bt) {
        return bt->jobs;
}

void pmw_batcher_filter(pmw_batcher_t *bt,
                        bool (*drop)(void *opaque, pmw_job_t *job),
                        void *opaque) {
        for (size_t i = 0; i < bt->slot_cnt; i++) {
                pmw_batch_t *batch = bt->open[i];
                if (!batch)
                        continue;
                bt->jobs -= batch->cnt;
                pmw_batch_filter(batch, drop, opaque);
                bt->jobs += batch->cnt;
                if (batch->cnt == 0) {
                        pmw_batch_destroy(batch);
                        bt->open[i] = NULL;
                }
        }
}
