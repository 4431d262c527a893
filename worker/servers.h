/*
 * worker/servers.h: the configured Postmark servers, their tokens and their
 * hold state (CONTRACT 3.5).
 *
 * A server is "on hold" when Postmark says something no retry of the same
 * job can fix but that is not the job's fault (a bad token, an account that
 * may not send, a wrong base URL, a firewall's HTML 403) or when it has
 * failed retry.hold_after_failures whole requests in a row (an outage).
 * While any server is on hold the pipelines pause consumption, /ready
 * answers 503, and jobs for that server wait in memory, unsent and not
 * failed. One pipeline at a time probes a held server by re-sending one held
 * batch, on an exponential backoff schedule (retry.initial_backoff_ms up to
 * retry.max_backoff_ms, full jitter); after a 401 it first re-reads the
 * server's token_file, so a rotated token is picked up without a restart.
 * The first success releases the hold.
 *
 * Logging: one ERROR line when a server goes on hold, one NOTICE line when
 * it is released; nothing per probe but a WARN when the probe fails, and a
 * WARN when a held server's reason changes.
 *
 * Ownership: the set copies what it needs from the config.
 * Thread safety: every function may be called from any thread (one mutex).
 */
#ifndef PMW_WORKER_SERVERS_H
#define PMW_WORKER_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/postmark_classify.h"
#include "config/config.h"

typedef struct pmw_servers_s pmw_servers_t;

/** @param cfg borrows: must outlive the set. */
pmw_servers_t *pmw_servers_new(const pmw_config_t *cfg, uint64_t seed);
void pmw_servers_destroy(pmw_servers_t *servers);

size_t pmw_servers_count(const pmw_servers_t *servers);

/** @returns the index of the server with that name, or -1. */
int pmw_servers_find(const pmw_servers_t *servers, const char *name);

/** @returns the server's name (immutable). */
const char *pmw_servers_name(const pmw_servers_t *servers, int idx);

/**
 * @returns a copy of the server's current token, which the caller frees
 *          (a token_file may be re-read while the worker runs).
 */
char *pmw_servers_token(pmw_servers_t *servers, int idx);

/** @brief A request for the server got a Postmark answer that was not a
 *         whole-request failure: resets the failure count and releases a
 *         hold. @returns true if that released a hold. */
bool pmw_servers_success(pmw_servers_t *servers, int idx);

/**
 * @brief A whole-request failure that counts toward an outage.
 * @returns true if the server is now on hold (for this failure or before).
 */
bool pmw_servers_failure(pmw_servers_t *servers,
                         int idx,
                         const char *why,
                         int64_t now_us);

/**
 * @brief Puts the server on hold. If it already is, the same reason changes
 *        nothing; a different one replaces the reason and why (one WARN
 *        line), keeping the probe schedule: after an outage hold, a probe
 *        answered 401 makes the next probe re-read token_file.
 */
void pmw_servers_hold(pmw_servers_t *servers,
                      int idx,
                      pmw_hold_reason_t reason,
                      const char *why,
                      int64_t now_us);

bool pmw_servers_is_held(pmw_servers_t *servers, int idx);

/** @returns how many servers are on hold. */
size_t pmw_servers_held_count(pmw_servers_t *servers);

/** @brief Appends "server NAME on hold (REASON): WHY; ..." for /ready. */
void pmw_servers_describe_holds(pmw_servers_t *servers, pmw_buf_t *out);

/**
 * @brief Claims the server's next probe: true when it is on hold, no probe
 *        is in flight, and the probe is due. The caller then sends one held
 *        batch and reports with pmw_servers_probe_done().
 */
bool pmw_servers_claim_probe(pmw_servers_t *servers, int idx, int64_t now_us);

/** @brief The probe's request completed; on failure the next probe is
 *         scheduled with backoff. */
void pmw_servers_probe_done(pmw_servers_t *servers,
                            int idx,
                            bool released,
                            int64_t now_us);

/**
 * @brief Counts jobs waiting for the server's hold to end, across
 *        pipelines (delta may be negative). A held server that no pipeline
 *        has jobs for cannot be probed: pmw_servers_claim_probe() then lets
 *        a pipeline release it, so new jobs find out whether it recovered.
 */
void pmw_servers_add_waiting(pmw_servers_t *servers, int idx, long delta);

/** @returns jobs waiting for the server's hold to end. */
long pmw_servers_waiting(pmw_servers_t *servers, int idx);

/*
 * Rate limits (CONTRACT 3.7): per server, a token bucket for messages per
 * second and one for requests per second (rate_limit.*; 0 = unlimited),
 * each behind a 429 controller (common/ratectl.h), shared by every
 * pipeline of the process.
 */

/**
 * @brief Takes the tokens for one request of `messages` messages from both
 *        buckets, or none.
 * @returns 0 if the request may go now; else microseconds to wait.
 */
int64_t pmw_servers_rate_take(pmw_servers_t *servers,
                              int idx,
                              size_t messages,
                              int64_t now_us);

/** @brief A 429: lowers the server's messages/s rate, and its requests/s
 *         rate when one is configured (logged when they change). */
void pmw_servers_rate_throttled(pmw_servers_t *servers,
                                int idx,
                                int64_t now_us);

/** @brief A request Postmark accepted, with its messages: measured for the
 *         next 429, and the rates may recover. */
void pmw_servers_rate_success(pmw_servers_t *servers,
                              int idx,
                              size_t messages,
                              int64_t now_us);

/** @brief Ends a claimed probe that sent nothing (its jobs had expired or

 *         been revoked): the schedule is unchanged. */
void pmw_servers_probe_cancel(pmw_servers_t *servers, int idx);

/** @returns when the earliest probe is due; INT64_MAX if none. */

int64_t pmw_servers_next_probe_us(pmw_servers_t *servers);

#endif /* PMW_WORKER_SERVERS_H */
