/*
 * worker/job.c: see job.h.
 */
#include "worker/job.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#include "common/mem.h"

pmw_job_t *pmw_job_new(void) {
        pmw_job_t *job   = pmw_calloc(1, sizeof(*job));
        job->http_status = -1;
        job->error_code  = -1;
        job->server_idx  = -1;
        return job;
}

void pmw_job_destroy(pmw_job_t *job) {
        if (!job)
                return;
        free(job->job_id);
        free(job->key);
        free(job->value);
        if (job->headers)
                rd_kafka_headers_destroy(job->headers);
        free(job->server);
        pmw_message_cleanup(&job->msg);
        free(job->message);
        free(job->message_id);
        free(job->submitted_at);
        free(job);
}

void pmw_job_finish(pmw_job_t *job,
                    pmw_status_t status,
                    int error_code,
                    const char *message,
                    const char *message_id,
                    const char *submitted_at,
                    int64_t now_ms) {
        if (job->status != PMW_STATUS_NONE)
                return;
        /* A whole-request Message is copied whole from Postmark's answer;
         * status records stay small (and within message.max.bytes). */
        size_t mlen = message ? strlen(message) : 0;
        if (mlen > PMW_JOB_MESSAGE_MAX)
                mlen = pmw_utf8_valid_prefix(message, PMW_JOB_MESSAGE_MAX);
        job->status       = status;
        job->error_code   = error_code;
        job->message      = pmw_strndup(message ? message : "", mlen);
        job->message_id   = message_id ? pmw_strdup(message_id) : NULL;
        job->submitted_at = submitted_at ? pmw_strdup(submitted_at) : NULL;
        job->completed_ms = now_ms;
}

const char *pmw_status_name(pmw_status_t status) {
        switch (status) {
        case PMW_STATUS_SENT:
                return "sent";
        case PMW_STATUS_FAILED:
                return "failed";
        case PMW_STATUS_REJECTED:
                return "rejected";
        case PMW_STATUS_EXPIRED:
                return "expired";
        case PMW_STATUS_NONE:
                break;
        }
        return "none";
}

bool pmw_status_is_dead_letter(pmw_status_t status) {
        return status == PMW_STATUS_FAILED || status == PMW_STATUS_REJECTED ||
               status == PMW_STATUS_EXPIRED;
}
