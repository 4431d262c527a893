/*
 * worker/publisher.c: see publisher.h.
 *
 * Each record's delivery-report opaque is the job pointer, with the low bit
 * set for the dead-letter record (jobs come from malloc, so the bit is
 * free): the report then knows which record to produce again without an
 * allocation per record.
 */
#include "worker/publisher.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "worker/kafka_conf.h"
#include "worker/record.h"

#define DLQ_BIT ((uintptr_t)1)

/* A status record is small: ids, a Message, an address list. */
#define STATUS_RECORD_MAX (1024 * 1024)

struct pmw_publisher_s {
        rd_kafka_t *rk;
        const pmw_config_t *cfg; /* immutable */
        pmw_publisher_acked_fn *acked;
        pmw_metrics_t *metrics; /* borrowed */
        atomic_int outstanding;
        atomic_bool fatal;   /* a record could not even be queued */
        atomic_bool closing; /* give up on failed records */
        atomic_bool stop;    /* the thread's loop ends */
        pthread_t thread;
};

/* The delivery-report thread: reports come from rd_kafka_poll(). */
static void *publisher_main(void *opaque) {
        pmw_publisher_t *pub = opaque;
        while (!atomic_load(&pub->stop))
                rd_kafka_poll(pub->rk, 100);
        return NULL;
}

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        (void)level;
        pmw_log(PMW_LOG_DEBUG, "kafka", "%s: %s", fac, buf);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)opaque;
        pmw_log(PMW_LOG_WARN, "kafka", "producer %s: %s: %s", rd_kafka_name(rk),
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void produce_status(pmw_publisher_t *pub, pmw_job_t *job);
static void produce_dlq(pmw_publisher_t *pub, pmw_job_t *job);

/* CONTRACT 2.4: a dead-letter record refused for its size goes again with
 * the first 64 KiB of the value; the original stays in the jobs topic. */
static void
truncate_dlq(pmw_publisher_t *pub, pmw_job_t *job, rd_kafka_resp_err_t err) {
        pmw_log(PMW_LOG_WARN, "publish",
                "job=%s: the dead-letter record of %zu bytes was refused "
                "(%s); sending its first %d bytes to %s",
                job->job_id, job->value_len, rd_kafka_err2str(err),
                PMW_DLQ_TRUNCATE_BYTES, pub->cfg->kafka.dead_letter_topic);
        job->dlq_truncated = true;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        pmw_publisher_t *pub = opaque;
        uintptr_t tag        = (uintptr_t)rkm->_private;
        pmw_job_t *job       = (pmw_job_t *)(tag & ~DLQ_BIT);
        bool dlq             = tag & DLQ_BIT;
        (void)rk;

        atomic_fetch_sub(&pub->outstanding, 1);
        if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
            atomic_load(&pub->closing))
                job->ack_failed = true; /* shutting down: give up */
        else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
                goto failed;
        if (--job->acks_pending == 0)
                pub->acked(job);
        return;

failed:
        pmw_metrics_add(&pub->metrics->publish_failures, 1);
        if (dlq && !job->dlq_truncated &&
            (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             rkm->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)) {
                truncate_dlq(pub, job, rkm->err);
                produce_dlq(pub, job);
                return;
        }
        /* The idempotent producer already retried for message.timeout.ms.
         * Dropping the record would lose the job's outcome: produce it
         * again; the offset stays uncommitted until Kafka takes it. */
        pmw_log(PMW_LOG_ERROR, "publish",
                "job=%s: %s record not acknowledged: %s; producing it again",
                job->job_id, dlq ? "dead-letter" : "status",
                rd_kafka_err2str(rkm->err));
        if (dlq)
                produce_dlq(pub, job);
        else
                produce_status(pub, job);
}

pmw_error_t *pmw_publisher_new(const pmw_config_t *cfg,
                               const char *bootstrap,
                               pmw_publisher_acked_fn *acked,
                               pmw_metrics_t *metrics,
                               pmw_publisher_t **pubp) {
        rd_kafka_conf_t *conf = NULL;
        char errstr[512];
        *pubp            = NULL;
        pmw_error_t *err = pmw_kafka_conf_new(cfg, PMW_KAFKA_PRODUCER, &conf);
        if (err)
                return err;
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                rd_kafka_conf_destroy(conf);
                return pmw_error_new(PMW_ERR_KAFKA,
                                     "producer: bootstrap.servers: %s", errstr);
        }

        pmw_publisher_t *pub = pmw_calloc(1, sizeof(*pub));
        pub->cfg             = cfg;
        pub->acked           = acked;
        pub->metrics         = metrics;
        rd_kafka_conf_set_opaque(conf, pub);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);

        pub->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!pub->rk) {
                rd_kafka_conf_destroy(conf);
                free(pub);
                return pmw_error_new(PMW_ERR_KAFKA, "producer: %s", errstr);
        }
        int rc = pthread_create(&pub->thread, NULL, publisher_main, pub);
        if (rc) {
                rd_kafka_destroy(pub->rk);
                free(pub);
                return pmw_error_new(PMW_ERR_STATE,
                                     "producer: pthread_create: %s",
                                     strerror(rc));
        }
        *pubp = pub;
        return NULL;
}

int pmw_publisher_close(pmw_publisher_t *pub, int timeout_ms) {
        /* rd_kafka_flush() serves delivery reports itself; the thread's
         * rd_kafka_poll() runs alongside (librdkafka allows it). */
        rd_kafka_flush(pub->rk, timeout_ms > 0 ? timeout_ms : 0);
        int left = atomic_load(&pub->outstanding);
        atomic_store(&pub->closing, true);
        if (left > 0) {
                rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE |
                                            RD_KAFKA_PURGE_F_INFLIGHT);
                /* Purged records report (with an error) on the next
                 * polls: their jobs go back marked ack_failed. */
                for (int i = 0; i < 50 && atomic_load(&pub->outstanding) > 0;
                     i++)
                        rd_kafka_poll(pub->rk, 100);
        }
        atomic_store(&pub->stop, true);
        pthread_join(pub->thread, NULL);
        return left;
}

void pmw_publisher_destroy(pmw_publisher_t *pub) {
        if (!pub)
                return;
        rd_kafka_destroy(pub->rk);
        free(pub);
}

/* Produces one record, waiting while the local queue is full.
 * @returns librdkafka's error when it refused the record locally. */
static rd_kafka_resp_err_t produce(pmw_publisher_t *pub,
                                   const char *topic,
                                   const void *key,
                                   size_t key_len,
                                   const void *value,
                                   size_t value_len,
                                   rd_kafka_headers_t *hdrs,
                                   void *opaque) {
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    pub->rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_KEY(key, key_len),
                    RD_KAFKA_V_VALUE((void *)value, value_len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
                    RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        atomic_fetch_add(&pub->outstanding, 1);
                        return err;
                }
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        if (hdrs)
                                rd_kafka_headers_destroy(hdrs);
                        return err;
                }
                /* Kafka is slower than Postmark: wait here while the
                 * publisher's thread serves delivery reports. */
                struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
                nanosleep(&ts, NULL);
        }
}

/* A record librdkafka refuses to even queue (a fatal idempotence error, a
 * record over message.max.bytes) cannot be retried by producing it again.
 * The job stays unacknowledged, so its offset is never committed, and the
 * worker stops: a restart (new producer) delivers it. */
static void refused(pmw_publisher_t *pub,
                    pmw_job_t *job,
                    const char *what,
                    rd_kafka_resp_err_t err) {
        pmw_log(PMW_LOG_ERROR, "publish",
                "job=%s: librdkafka refused the %s record: %s; stopping the "
                "worker, the job stays uncommitted",
                job->job_id, what, rd_kafka_err2str(err));
        atomic_store(&pub->fatal, true);
}

static void produce_status(pmw_publisher_t *pub, pmw_job_t *job) {
        pmw_buf_t value;
        pmw_buf_init(&value, STATUS_RECORD_MAX);
        pmw_record_status(&value, job);
        if (pmw_buf_failed(&value)) {
                /* The record key is the field a producer can make
                 * arbitrarily large (up to Kafka's record size, and JSON
                 * escaping multiplies it): write the record with
                 * "key": null rather than a broken one. */
                pmw_log(PMW_LOG_ERROR, "publish",
                        "job=%s: status record over %d bytes; its key (%zu "
                        "bytes) is left out of it",
                        job->job_id, STATUS_RECORD_MAX, job->key_len);
                char *key      = job->key;
                size_t key_len = job->key_len;
                job->key       = NULL;
                job->key_len   = 0;
                pmw_buf_reset(&value);
                pmw_record_status(&value, job);
                job->key     = key;
                job->key_len = key_len;
        }
        rd_kafka_resp_err_t err = produce(
            pub, pub->cfg->kafka.status_topic, job->job_id, strlen(job->job_id),
            pmw_buf_ptr(&value), pmw_buf_len(&value), NULL, job);
        pmw_buf_cleanup(&value);
        if (err)
                refused(pub, job, "status", err);
}

static void produce_dlq(pmw_publisher_t *pub, pmw_job_t *job) {
        size_t len = job->value_len;
        if (job->dlq_truncated && len > PMW_DLQ_TRUNCATE_BYTES)
                len = PMW_DLQ_TRUNCATE_BYTES;
        rd_kafka_resp_err_t err = produce(
            pub, pub->cfg->kafka.dead_letter_topic, job->key, job->key_len,
            job->value, len, pmw_record_dlq_headers(job, job->dlq_truncated),
            (void *)((uintptr_t)job | DLQ_BIT));
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE &&
            !job->dlq_truncated) {
                truncate_dlq(pub, job, err);
                produce_dlq(pub, job);
        } else if (err) {
                refused(pub, job, "dead-letter", err);
        }
}

void pmw_publisher_publish(pmw_publisher_t *pub, pmw_job_t *job) {
        bool dlq          = pmw_status_is_dead_letter(job->status);
        job->acks_pending = dlq ? 2 : 1;
        produce_status(pub, job);
        if (dlq)
                produce_dlq(pub, job);
}

int pmw_publisher_outstanding(pmw_publisher_t *pub) {
        return atomic_load(&pub->outstanding);
}



bool pmw_publisher_failed(pmw_publisher_t *pub) {
        return atomic_load(&pub->fatal);
}
