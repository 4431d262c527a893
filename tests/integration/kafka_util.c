/*
 * tests/integration/kafka_util.c: see kafka_util.h.
 */
#include "tests/integration/kafka_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/mem.h"
#include "config/config.h"

struct pmw_ktest_producer_s {
        rd_kafka_t *rk;
        /* Counted on the thread that calls produce and flush (delivery
         * reports are served by rd_kafka_flush() / rd_kafka_poll()). */
        size_t produced;
        size_t delivered;
        size_t failed;
        size_t failed_reported; /* failed at the last flush */
        char first_error[256];  /* since the last flush */
};

/* Sets name=value, or returns librdkafka's reason; the value only for a
 * property librdkafka knows whose name does not look secret. */
static pmw_error_t *
set_prop(rd_kafka_conf_t *conf, const char *name, const char *value) {
        char errstr[256];
        rd_kafka_conf_res_t res =
            rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
        if (res == RD_KAFKA_CONF_OK)
                return NULL;
        if (res == RD_KAFKA_CONF_UNKNOWN || pmw_config_is_secret_property(name))
                return pmw_error_new(PMW_ERR_INVALID, "%s: %s", name, errstr);
        return pmw_error_new(PMW_ERR_INVALID, "%s=%s: %s", name, value, errstr);
}

/* Our settings (kafka_util.h says why), then the caller's pairs. */
static pmw_error_t *build_conf(const char *bootstrap,
                               const char *const (*ours)[2],
                               size_t our_cnt,
                               const char *const *props,
                               rd_kafka_conf_t **confp) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        pmw_error_t *err      = set_prop(conf, "bootstrap.servers", bootstrap);
        for (size_t i = 0; !err && i < our_cnt; i++)
                err = set_prop(conf, ours[i][0], ours[i][1]);
        for (size_t i = 0; !err && props && props[i]; i += 2)
                err = props[i + 1]
                          ? set_prop(conf, props[i], props[i + 1])
                          : pmw_error_new(PMW_ERR_INVALID,
                                          "property %s has no value", props[i]);
        if (err) {
                rd_kafka_conf_destroy(conf);
                *confp = NULL;
                return err;
        }
        *confp = conf;
        return NULL;
}

static void
dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        (void)rk;
        pmw_ktest_producer_t *p = opaque;
        if (!msg->err) {
                p->delivered++;
                return;
        }
        if (p->failed == p->failed_reported)
                snprintf(p->first_error, sizeof(p->first_error), "%s [%d]: %s",
                         rd_kafka_topic_name(msg->rkt), (int)msg->partition,
                         rd_kafka_err2str(msg->err));
        p->failed++;
}

pmw_error_t *pmw_ktest_producer_new(const char *bootstrap,
                                    const char *const *props,
                                    pmw_ktest_producer_t **producerp) {
        static const char *const ours[][2] = {
            {"enable.idempotence", "true"},
            {"acks", "all"},
            {"linger.ms", "5"},
            {"reconnect.backoff.max.ms", "1000"},
            {"log.connection.close", "false"},
        };
        *producerp = NULL;
        rd_kafka_conf_t *conf;
        pmw_error_t *err =
            build_conf(bootstrap, ours, PMW_ARRAY_LEN(ours), props, &conf);
        if (err)
                return pmw_error_prefix(err, "producer");
        pmw_ktest_producer_t *p = pmw_calloc(1, sizeof(*p));
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_conf_set_opaque(conf, p);
        char errstr[256];
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!p->rk) {
                rd_kafka_conf_destroy(conf);
                free(p);
                return pmw_error_new(PMW_ERR_KAFKA, "producer: %s", errstr);
        }
        *producerp = p;
        return NULL;
}

/* The headers of one record, given either as NULL-terminated name, value
 * pairs (pairs) or as an array (hv, hcnt). A new set per attempt:
 * rd_kafka_producev() takes it only on success. */
static rd_kafka_headers_t *make_headers(const char *const *pairs,
                                        const pmw_ktest_header_t *hv,
                                        size_t hcnt) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(pairs ? 8 : hcnt);
        for (size_t i = 0; pairs && pairs[i]; i += 2)
                rd_kafka_header_add(hdrs, pairs[i], -1, pairs[i + 1], -1);
        for (size_t i = 0; i < hcnt; i++)
                rd_kafka_header_add(hdrs, hv[i].name, -1, hv[i].value,
                                    hv[i].value ? (ssize_t)hv[i].len : -1);
        return hdrs;
}

static pmw_error_t *produce(pmw_ktest_producer_t *p,
                            const char *topic,
                            int32_t partition,
                            const void *key,
                            size_t keylen,
                            const void *value,
                            size_t len,
                            const char *const *pairs,
                            const pmw_ktest_header_t *hv,
                            size_t hcnt) {
        int64_t deadline = pmw_clock_mono_us() + 10 * 1000 * 1000;
        for (;;) {
                rd_kafka_headers_t *hdrs = make_headers(pairs, hv, hcnt);
                rd_kafka_resp_err_t kerr = rd_kafka_producev(
                    p->rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                                       : partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, key ? keylen : 0),
                    RD_KAFKA_V_VALUE((void *)value, value ? len : 0),
                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
                if (!kerr) {
                        p->produced++; /* hdrs now belong to the message */
                        return NULL;
                }
                rd_kafka_headers_destroy(hdrs);
                if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
                    pmw_clock_mono_us() > deadline)
                        return pmw_error_new(
                            PMW_ERR_KAFKA, "produce to %s [%d]: %s", topic,
                            (int)partition, rd_kafka_err2str(kerr));
                rd_kafka_poll(p->rk, 100); /* make room: serve reports */
        }
}

pmw_error_t *pmw_ktest_produce(pmw_ktest_producer_t *p,
                               const char *topic,
                               int32_t partition,
                               const void *key,
                               size_t keylen,
                               const void *value,
                               size_t len,
                               const char *const *headers) {
        return produce(p, topic, partition, key, keylen, value, len, headers,
                       NULL, 0);
}

pmw_error_t *pmw_ktest_produce_record(pmw_ktest_producer_t *p,
                                      const char *topic,
                                      const pmw_ktest_record_t *record) {
        return produce(p, topic, record->partition,
                       record->has_key ? record->key : NULL, record->key_len,
                       record->value, record->len, NULL, record->headers,
                       record->header_cnt);
}

pmw_error_t *pmw_ktest_flush(pmw_ktest_producer_t *p, int timeout_ms) {
        rd_kafka_flush(p->rk, timeout_ms);
        size_t open        = p->produced - p->delivered - p->failed;
        size_t failed      = p->failed - p->failed_reported;
        p->failed_reported = p->failed;
        if (!open && !failed)
                return NULL;
        return pmw_error_new(PMW_ERR_KAFKA,
                             "%zu record(s) not delivered: %zu failed%s%s, "
                             "%zu still queued (flush timeout %d ms)",
                             open + failed, failed, failed ? ", first: " : "",
                             failed ? p->first_error : "", open, timeout_ms);
}

size_t pmw_ktest_delivered(const pmw_ktest_producer_t *p) {
        return p->delivered;
}

void pmw_ktest_producer_destroy(pmw_ktest_producer_t *p) {
        if (p == NULL)
                return;
        /* Purge, so destroy does not wait for records a test gave up on
         * (e.g. while a mock broker is down). */
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(p->rk);
        free(p);
}


/*
 * Consuming
 */

static char *dup_bytes(const void *data, size_t len) {
        char *s = pmw_malloc(len + 1);
        if (len)
                memcpy(s, data, len);
        s[len] = '\0';
        return s;
}

static void copy_record(pmw_ktest_record_t *r, const rd_kafka_message_t *m) {
        memset(r, 0, sizeof(*r));
        r->partition = m->partition;
        r->offset    = m->offset;
        rd_kafka_timestamp_type_t tstype;
        r->timestamp = rd_kafka_message_timestamp(m, &tstype);
        r->has_key   = m->key != NULL;
        if (m->key) {
                r->key     = dup_bytes(m->key, m->key_len);
                r->key_len = m->key_len;
        }
        if (m->payload) {
                r->value = dup_bytes(m->payload, m->len);
                r->len   = m->len;
        }
        rd_kafka_headers_t *hdrs;
        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return; /* no headers */
        size_t cnt = rd_kafka_header_cnt(hdrs);
        r->headers = pmw_calloc(cnt ? cnt : 1, sizeof(*r->headers));
        for (size_t i = 0; i < cnt; i++) {
                const char *name;
                const void *val;
                size_t size;
                if (rd_kafka_header_get_all(hdrs, i, &name, &val, &size))
                        break;
                pmw_ktest_header_t *h = &r->headers[r->header_cnt++];
                h->name               = pmw_strdup(name);
                h->value              = val ? dup_bytes(val, size) : NULL;
                h->len                = val ? size : 0;
        }
}

static int cmp_record(const void *a, const void *b) {
        const pmw_ktest_record_t *x = a, *y = b;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        if (x->offset != y->offset)
                return x->offset < y->offset ? -1 : 1;
        return 0;
}

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* The topic's partition count, retrying while the cluster does not know it
 * yet (a topic created a moment ago). */
static pmw_error_t *partition_count(rd_kafka_t *rk,
                                    const char *topic,
                                    int64_t deadline,
                                    int *cntp) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t kerr;
        for (;;) {
                const rd_kafka_metadata_t *md = NULL;
                int left = (int)((deadline - pmw_clock_mono_us()) / 1000);
                kerr = rd_kafka_metadata(rk, 0, rkt, &md, PMW_MAX(left, 100));
                if (!kerr) {
                        kerr = md->topic_cnt == 1 ? md->topics[0].err
                                                  : RD_KAFKA_RESP_ERR__NOENT;
                        if (!kerr)
                                *cntp = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                }
                if ((!kerr && *cntp > 0) || pmw_clock_mono_us() >= deadline)
                        break;
                sleep_ms(100);
        }
        rd_kafka_topic_destroy(rkt);
        if (kerr || *cntp <= 0)
                return pmw_error_new(PMW_ERR_KAFKA, "metadata of %s: %s", topic,
                                     kerr ? rd_kafka_err2str(kerr)
                                          : "no partitions");
        return NULL;
}

/* Errors after which reading on cannot help: librdkafka's fatal error,
 * and a topic the credentials may not read. */
static bool consumer_error_is_permanent(rd_kafka_resp_err_t kerr) {
        return kerr == RD_KAFKA_RESP_ERR__FATAL ||
               kerr == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
}

pmw_error_t *pmw_ktest_consume_all(const char *bootstrap,
                                   const char *topic,
                                   size_t expect,
                                   int quiet_ms,
                                   int timeout_ms,
                                   pmw_ktest_records_t **recordsp) {
        return pmw_ktest_consume_all_props(bootstrap, NULL, topic, expect,
                                           quiet_ms, timeout_ms, recordsp);
}

pmw_error_t *pmw_ktest_consume_all_props(const char *bootstrap,
                                         const char *const *props,
                                         const char *topic,
                                         size_t expect,
                                         int quiet_ms,
                                         int timeout_ms,
                                         pmw_ktest_records_t **recordsp) {
        static const char *const ours[][2] = {
            /* librdkafka 2.0.2 refuses rd_kafka_assign() without a
             * group.id; the group is never joined (no subscribe) and
             * nothing is committed, so one name serves every reader. */
            {"group.id", "pmw-ktest-reader"},
            {"fetch.wait.max.ms", "20"},
            {"enable.partition.eof", "false"},
            {"enable.auto.commit", "false"},
            {"auto.offset.reset", "earliest"},
            {"reconnect.backoff.max.ms", "1000"},
            {"log.connection.close", "false"},
        };
        *recordsp        = NULL;
        int64_t start    = pmw_clock_mono_us();
        int64_t deadline = start + (int64_t)timeout_ms * 1000;
        rd_kafka_conf_t *conf;
        pmw_error_t *err =
            build_conf(bootstrap, ours, PMW_ARRAY_LEN(ours), props, &conf);
        if (err)
                return pmw_error_prefix(err, "consumer");
        char errstr[256];
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return pmw_error_new(PMW_ERR_KAFKA, "consumer: %s", errstr);
        }
        rd_kafka_poll_set_consumer(rk);

        int parts = 0;
        err       = partition_count(rk, topic, deadline, &parts);
        if (err)
                goto out;
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new(parts);
        for (int i = 0; i < parts; i++)
                rd_kafka_topic_partition_list_add(list, topic, i)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        if (kerr) {
                err = pmw_error_new(PMW_ERR_KAFKA, "assign %s: %s", topic,
                                    rd_kafka_err2str(kerr));
                goto out;
        }

        pmw_ktest_records_t *recs = pmw_calloc(1, sizeof(*recs));
        size_t cap                = 0;
        int64_t last              = pmw_clock_mono_us();
        for (;;) {
                int64_t now = pmw_clock_mono_us();
                if ((recs->cnt >= expect &&
                     now - last >= (int64_t)quiet_ms * 1000) ||
                    now >= deadline)
                        break;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
                if (!m)
                        continue;
                if (m->err && consumer_error_is_permanent(m->err)) {
                        char fatal[256] = "";
                        if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                                rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
                        err =
                            pmw_error_new(PMW_ERR_KAFKA, "consuming %s: %s%s%s",
                                          topic, rd_kafka_message_errstr(m),
                                          fatal[0] ? ": " : "", fatal);
                } else if (m->err) {
                        /* Transient (librdkafka retries): show, go on. */
                        fprintf(stderr, "kafka_util: consuming %s: %s\n", topic,
                                rd_kafka_message_errstr(m));
                } else {
                        if (recs->cnt == cap) {
                                cap     = cap ? 2 * cap : 256;
                                recs->v = pmw_realloc(recs->v,
                                                      cap * sizeof(*recs->v));
                        }
                        copy_record(&recs->v[recs->cnt++], m);
                        last = pmw_clock_mono_us();
                }
                rd_kafka_message_destroy(m);
                if (err)
                        break; /* the records so far are still returned */
        }
        if (recs->cnt)
                qsort(recs->v, recs->cnt, sizeof(*recs->v), cmp_record);
        *recordsp = recs;
out:
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return err;
}

void pmw_ktest_record_cleanup(pmw_ktest_record_t *r) {
        for (size_t j = 0; j < r->header_cnt; j++) {
                free(r->headers[j].name);
                free(r->headers[j].value);
        }
        free(r->headers);
        free(r->key);
        free(r->value);
        memset(r, 0, sizeof(*r));
}

void pmw_ktest_records_free(pmw_ktest_records_t *records) {
        if (records == NULL)
                return;
        for (size_t i = 0; i < records->cnt; i++)
                pmw_ktest_record_cleanup(&records->v[i]);
        free(records->v);
        free(records);
}

const char *pmw_ktest_header(const pmw_ktest_record_t *record,
                             const char *name) {
        for (size_t i = record->header_cnt; i > 0; i--)
                if (strcmp(record->headers[i - 1].name, name) == 0)
                        return record->headers[i - 1].value;
        return NULL;
}

pmw_error_t *pmw_ktest_committed(const char *bootstrap,
                                 const char *group_id,
                                 const char *topic,
                                 int64_t *offsets,
                                 size_t cnt,
                                 int timeout_ms) {
        const char *const ours[][2] = {
            {"group.id", group_id},
            {"enable.auto.commit", "false"},
            {"log.connection.close", "false"},
        };
        rd_kafka_conf_t *conf;
        pmw_error_t *err =
            build_conf(bootstrap, ours, PMW_ARRAY_LEN(ours), NULL, &conf);
        if (err)
                return pmw_error_prefix(err, "committed offsets");
        char errstr[256];
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return pmw_error_new(PMW_ERR_KAFKA, "committed offsets: %s",
                                     errstr);
        }
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new((int)cnt);
        for (size_t i = 0; i < cnt; i++)
                rd_kafka_topic_partition_list_add(list, topic, (int32_t)i);
        rd_kafka_resp_err_t kerr = rd_kafka_committed(rk, list, timeout_ms);
        for (size_t i = 0; !kerr && i < cnt; i++) {
                kerr       = list->elems[i].err;
                offsets[i] = list->elems[i].offset;
        }
        if (kerr)
                err = pmw_error_new(PMW_ERR_KAFKA,
                                    "committed offsets of %s for %s: %s",
                                    group_id, topic, rd_kafka_err2str(kerr));
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(rk);
        return err;
}
