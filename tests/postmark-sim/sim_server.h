/*
 * tests/postmark-sim/sim_server.h: the simulator's HTTP server, on
 * libmicrohttpd.
 *
 * Thread per connection (MHD_USE_THREAD_PER_CONNECTION): the worker keeps
 * 16-200 keep-alive connections, and a connection's thread may sleep for
 * --latency-ms or a delay fault without holding up any other connection.
 * Bodies are accumulated up to the endpoint's limit; beyond it the rest is
 * read and discarded, so a 413 costs no memory and the connection stays
 * usable. A "drop" fault returns MHD_NO after the whole request was read:
 * MHD then closes the socket without writing a byte.
 *
 * Ownership: the server borrows the simulator, which must outlive it.
 * Thread safety: start and stop are for main(); requests run on MHD's
 * threads and only call pmw_sim_handle().
 */
#ifndef PMW_SIM_SERVER_H
#define PMW_SIM_SERVER_H

#include <stddef.h>

#include "common/error.h"
#include "tests/postmark-sim/sim_api.h"

typedef struct pmw_sim_server_s pmw_sim_server_t;

/**
 * @brief Starts serving on listen ("HOST:PORT", "[::1]:PORT"; port 0 picks
 *        a free port).
 * @param sim borrows.
 * @param bound receives "HOST:PORT" with the real port.
 * @returns NULL, or an error naming the address and the reason.
 */
pmw_error_t *pmw_sim_server_start(pmw_sim_t *sim,
                                  const char *listen,
                                  pmw_sim_server_t **serverp,
                                  char *bound,
                                  size_t bound_size) PMW_WARN_UNUSED;

/** @brief Wakes delayed answers, closes connections, joins threads, frees.
 *         NULL is allowed. */
void pmw_sim_server_stop(pmw_sim_server_t *server);

#endif /* PMW_SIM_SERVER_H */
