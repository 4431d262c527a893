/*
 * tests/integration/worker_env.h: the processes of a postmark-worker
 * end-to-end test, and what the test reads back from them.
 *
 * Why: the tests of the worker as a separate process (test_pipeline,
 * test_resilience) all need a mock-broker, a postmark-sim with a record
 * file, one or more workers started with the same short Kafka timeouts
 * and waited for /ready, and the same readings: a topic's records, a
 * tally of the status records per job, how often the simulator received
 * each job id, lines of a worker's log. The functions fail the running
 * cmocka test (fail_msg) instead of returning errors, so this library
 * serves cmocka tests only.
 *
 * Each worker's stderr (its log, and any sanitizer report) is appended to
 * a file in the environment's temporary directory, so a test can look for
 * log lines; pmw_wenv_stop_worker() and pmw_wenv_free() copy what it
 * wrote to the test's stderr, so the log still shows in the test output.
 *
 * Ownership: an env is owned by the test (pmw_wenv_new / pmw_wenv_free);
 * pmw_wenv_free() stops whatever it started and removes its files.
 * Strings passed in are borrowed; results say who frees them.
 * Thread safety: an env belongs to one thread.
 */
#ifndef PMW_TESTS_WORKER_ENV_H
#define PMW_TESTS_WORKER_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/error.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/proc.h"

#define PMW_WENV_JOBS        "email.jobs"
#define PMW_WENV_STATUS      "email.status"
#define PMW_WENV_DLQ         "email.dlq"
#define PMW_WENV_MAX_WORKERS 2

typedef struct pmw_wenv_worker_s {
        pmw_proc_t *proc; /* NULL while not running */
        int http_port;
        char log_path[320];
        long log_shown; /* bytes of the log already copied to stderr */
} pmw_wenv_worker_t;

/* Fields are read by the tests; only these functions change them. */
typedef struct pmw_wenv_s {
        const char *worker_bin, *sim_bin, *broker_bin; /* borrowed */
        char dir[64];
        pmw_proc_t *broker;
        char bootstrap[256];
        pmw_ktest_producer_t *producer;
        pmw_proc_t *sim;
        int sim_port;
        char record_path[320];
        bool sim_no_record; /* set before pmw_wenv_start_sim(): no --record */
        pmw_wenv_worker_t workers[PMW_WENV_MAX_WORKERS];
} pmw_wenv_t;

/**
 * @brief Creates an environment with its own temporary directory; starts
 *        nothing.
 * @param worker_bin, sim_bin, broker_bin borrows (must outlive the env).
 */
pmw_wenv_t *pmw_wenv_new(const char *worker_bin,
                         const char *sim_bin,
                         const char *broker_bin);

/** @brief Stops the workers, the simulator and the broker; removes the
 *         files. NULL is allowed. */
void pmw_wenv_free(pmw_wenv_t *env);

/** @brief Fails the test with what, then the error's message (freed). */
void pmw_wenv_check(pmw_error_t *err, const char *what);

void pmw_wenv_sleep_ms(int ms);

/**
 * @brief Starts mock-broker with args (e.g. {"--partitions", "4",
 *        "email.jobs", "email.status", "email.dlq:2", NULL}) and a test
 *        producer on it (message.timeout.ms 60 s).
 */
void pmw_wenv_start_broker(pmw_wenv_t *env, const char *const *args);

/** @brief Sends a mock-broker command ("down 1"); fails unless "ok". */
void pmw_wenv_broker_command(pmw_wenv_t *env, const char *command);

/**
 * @brief Starts postmark-sim on a free port, recording to record_path
 *        (unless sim_no_record), with --inactive 'inactive*@*', templates
 *        welcome and 4242, and extra arguments (NULL-terminated; NULL for
 *        none).
 */
void pmw_wenv_start_sim(pmw_wenv_t *env, const char *const *extra);

/**
 * @brief Starts worker idx (0..PMW_WENV_MAX_WORKERS-1) against the broker
 *        and the simulator, and waits up to 30 s for GET /ready 200.
 *
 * Settings: token server-token-default (server default) and
 * server-token-billing (server billing), batch.linger_ms=50,
 * retry.initial_backoff_ms=50, retry.max_backoff_ms=500,
 * workers.threads=1, workers.shutdown_timeout_ms=20000, and the mock's
 * short Kafka timeouts (fetch.wait.max.ms=20, session.timeout.ms=6000,
 * heartbeat.interval.ms=1000, reconnect.backoff.max.ms=1000); extra
 * arguments come last, so a later --set of the same key wins.
 * @param extra borrows; NULL, or arguments ending with NULL.
 */
void pmw_wenv_start_worker(pmw_wenv_t *env, int idx, const char *const *extra);

/** @brief As pmw_wenv_start_worker(), without waiting for /ready. */
void pmw_wenv_spawn_worker(pmw_wenv_t *env, int idx, const char *const *extra);

/**
 * @brief Sends SIGTERM to worker idx, waits up to 60 s, copies the rest of
 *        its log to stderr.
 * @returns its exit status (as pmw_proc_stop()).
 */
int pmw_wenv_stop_worker(pmw_wenv_t *env, int idx);

/** @returns worker idx's process id (it must be running). */
pid_t pmw_wenv_worker_pid(const pmw_wenv_t *env, int idx);

/**
 * @brief An HTTP request to 127.0.0.1:port (2 s timeout).
 * @param body borrows; NULL for none.
 * @param replyp NULL, or receives the answer's body (caller frees;
 *        NUL-terminated; "" when there was none).
 * @returns the HTTP status, 0 if no answer came.
 */
long pmw_wenv_http(int port,
                   const char *method,
                   const char *path,
                   const char *body,
                   char **replyp);

/** @returns GET /ready's status from worker idx; reasonp as replyp. */
long pmw_wenv_ready(pmw_wenv_t *env, int idx, char **reasonp);

/**
 * @brief Polls worker idx's /ready every 50 ms until it answers want.
 * @param reasonp NULL, or receives the last answer's body (caller frees).
 * @returns true if it did within timeout_ms.
 */
bool pmw_wenv_wait_ready_status(pmw_wenv_t *env,
                                int idx,
                                long want,
                                int timeout_ms,
                                char **reasonp);

/** @brief Adds run-time faults to the simulator (POST /_sim/faults, one
 *         spec per line); fails the test unless they were accepted. */
void pmw_wenv_sim_faults(pmw_wenv_t *env, const char *specs);

/** @brief Removes every simulator fault (DELETE /_sim/faults). */
void pmw_wenv_sim_clear_faults(pmw_wenv_t *env);

/** @returns a valid plain job (JSON) to the given address (caller frees). */
char *pmw_wenv_plain_job(const char *to, int i);

/**
 * @brief Produces count plain jobs with job-id "<prefix>-<i>" to
 *        "<prefix><i>@example.org" (header x-trace: trace-1), and flushes.
 * @param partitions 0: librdkafka's partitioner (random, no key); else
 *        job i goes to partition i % partitions.
 */
void pmw_wenv_produce_plain(pmw_wenv_t *env,
                            const char *prefix,
                            size_t count,
                            int partitions);

/**
 * @brief Reads a topic: at least expect records, then quiet_ms without
 *        more (so late duplicates are caught), or timeout_ms in all.
 * @returns the records (caller frees with pmw_ktest_records_free()).
 */
pmw_ktest_records_t *pmw_wenv_read_topic(pmw_wenv_t *env,
                                         const char *topic,
                                         size_t expect,
                                         int quiet_ms,
                                         int timeout_ms);

/** @returns the record's value as JSON (new reference); fails the test
 *           if it is not JSON. */
json_t *pmw_wenv_parse(const pmw_ktest_record_t *rec);

/** @returns obj[key] (borrowed); fails the test if it is not a string. */
const char *pmw_wenv_jstr(json_t *obj, const char *key);

/** @returns obj[key]; fails the test if it is not an integer. */
json_int_t pmw_wenv_jint(json_t *obj, const char *key);

/* Status records counted per job id (the record key). */
typedef struct pmw_wenv_tally_s {
        size_t records;    /* status records */
        size_t jobs;       /* distinct job ids */
        size_t duplicated; /* jobs with more than one record */
        /* Records byte-identical to another record of the same job: one
         * record stored twice by Kafka (the mock stores an idempotent
         * producer's retry again when the first answer was lost). */
        size_t copies;
        /* Jobs with two records that differ: finished twice by workers. */
        size_t differing;
        size_t sent;   /* records with status sent */
        size_t failed; /* records with status failed */
} pmw_wenv_tally_t;

pmw_wenv_tally_t pmw_wenv_tally(const pmw_ktest_records_t *recs);

/* What the simulator's --record file says about each job id. */
typedef struct pmw_wenv_send_s {
        char *job_id; /* Metadata.pmw_job_id */
        char *token;  /* the server token of its last send */
        size_t count; /* messages the simulator accepted with this id */
} pmw_wenv_send_t;

typedef struct pmw_wenv_sends_s {
        pmw_wenv_send_t *v; /* sorted by job_id */
        size_t cnt;
        size_t messages; /* lines of the record */
} pmw_wenv_sends_t;

/**
 * @brief Waits 1.5 s (the simulator writes its record at least every
 *        second), then reads the record file.
 * @returns the sends (caller frees with pmw_wenv_sends_free()).
 */
pmw_wenv_sends_t *pmw_wenv_read_sends(pmw_wenv_t *env);

/**
 * @returns how often job_id was accepted by the simulator.
 * @param tokenp NULL, or receives the token of its last send (borrowed
 *        from sends; NULL when never sent).
 */
size_t pmw_wenv_sends_of(const pmw_wenv_sends_t *sends,
                         const char *job_id,
                         const char **tokenp);

void pmw_wenv_sends_free(pmw_wenv_sends_t *sends);

/** @returns how many lines of worker idx's log (every run so far)
 *           contain needle. */
size_t pmw_wenv_log_count(const pmw_wenv_t *env, int idx, const char *needle);

/** @brief Prints (print_message) at most max lines of worker idx's log
 *         that contain needle. */
void pmw_wenv_log_print(const pmw_wenv_t *env,
                        int idx,
                        const char *needle,
                        size_t max);

#endif /* PMW_TESTS_WORKER_ENV_H */
