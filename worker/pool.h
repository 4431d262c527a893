/*
 * worker/pool.h: runs the worker process: its threads, from start to a
 * clean shutdown. See pool.c for which threads exist and what each owns.
 *
 * Thread safety: call from main() only, once.
 */
#ifndef PMW_WORKER_POOL_H
#define PMW_WORKER_POOL_H

#include "common/error.h"
#include "config/config.h"

/**
 * @brief Starts everything the configuration asks for, runs until SIGTERM
 *        or SIGINT, then drains and stops (CONTRACT 3.6).
 * @param cfg borrows: must outlive the call.
 * @returns NULL after a clean shutdown (exit status 0), or the fatal error
 *          that stopped the worker (exit status 1).
 */
pmw_error_t *pmw_pool_run(const pmw_config_t *cfg) PMW_WARN_UNUSED;

#endif /* PMW_WORKER_POOL_H */
