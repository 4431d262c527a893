/*
 * tests/integration/proc.h: child processes for integration tests.
 *
 * Integration tests run the real binaries (postmark-sim, postmark-worker,
 * a stand-alone Kafka) on loopback. This module starts one with arguments,
 * its stdin and stdout on pipes (stderr is inherited, so its logs and
 * sanitizer reports show in the test's output, or appended to a file the
 * test reads afterwards), reads its lines with a
 * timeout (e.g. "listening on 127.0.0.1:PORT"), writes lines to it (the
 * commands of tests/mock-broker), and stops it: SIGTERM, then SIGKILL
 * after a timeout, always reaped, so no test leaves a process behind. On
 * Linux a child also gets SIGTERM when the test process dies (a crash or
 * a ctest timeout), so an orphan never holds the test's output open; and
 * its stdin reaches EOF then, which a child reading commands takes as its
 * cue to exit.
 *
 * Ownership: a proc is owned by the test; pmw_proc_stop() frees it.
 * Thread safety: a proc belongs to one thread.
 */
#ifndef PMW_TESTS_PROC_H
#define PMW_TESTS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

typedef struct pmw_proc_s pmw_proc_t;

/**
 * @brief Starts argv[0] (a path) with argv (NULL-terminated).
 * @param argv borrows.
 * @param procp receives the process.
 * @returns NULL, or an error if the pipe or fork failed. An exec failure
 *          shows as the child exiting 127 with a message on stderr.
 */
pmw_error_t *pmw_proc_start(const char *const *argv,
                            pmw_proc_t **procp) PMW_WARN_UNUSED;

/**
 * @brief As pmw_proc_start(), with the child's stderr appended to a file
 *        (created if needed), e.g. to read its log afterwards.
 * @param stderr_path borrows; NULL: stderr is inherited.
 * @returns also an error if stderr_path cannot be opened.
 */
pmw_error_t *pmw_proc_start_logged(const char *const *argv,
                                   const char *stderr_path,
                                   pmw_proc_t **procp) PMW_WARN_UNUSED;

/** @returns the child's process id. */
pid_t pmw_proc_pid(const pmw_proc_t *proc);

/**
 * @brief Reads the next line of the child's stdout, without its '\n'.
 * @param line receives at most size - 1 bytes and a NUL (longer lines are
 *        cut, the rest skipped).
 * @returns NULL, or an error on timeout or end of output (the child died).
 */
pmw_error_t *pmw_proc_read_line(pmw_proc_t *proc,
                                int timeout_ms,
                                char *line,
                                size_t size) PMW_WARN_UNUSED;

/**
 * @brief Writes line and a '\n' to the child's stdin.
 * @param line borrows; must not contain '\n'.
 * @returns NULL, or PMW_ERR_IO if the child closed its stdin or died
 *          (EPIPE: the test process gets no SIGPIPE) or stdin was closed
 *          with pmw_proc_close_stdin().
 */
pmw_error_t *pmw_proc_write_line(pmw_proc_t *proc,
                                 const char *line) PMW_WARN_UNUSED;

/**
 * @brief Writes a command line and reads the one-line answer (the
 *        protocol of tests/mock-broker: "ok" or "error: <why>").
 * @param answer receives the answer line, as pmw_proc_read_line().
 * @returns NULL when a line came back, whatever it says; an error if the
 *          write failed or no answer came within timeout_ms.
 */
pmw_error_t *pmw_proc_command(pmw_proc_t *proc,
                              const char *command,
                              int timeout_ms,
                              char *answer,
                              size_t size) PMW_WARN_UNUSED;

/**
 * @brief Closes the child's stdin: it reads EOF. Later writes fail.
 *        pmw_proc_wait() and pmw_proc_stop() close it anyway.
 */
void pmw_proc_close_stdin(pmw_proc_t *proc);

/**
 * @brief Starts argv[0] and reads its first stdout line (e.g. mock-broker's
 *        bootstrap address); the child is stopped again if none comes.
 * @param line receives the line, as pmw_proc_read_line().
 */
pmw_error_t *pmw_proc_start_first_line(const char *const *argv,
                                       int timeout_ms,
                                       pmw_proc_t **procp,
                                       char *line,
                                       size_t size) PMW_WARN_UNUSED;

/**
 * @brief Starts a server that prints "listening on HOST:PORT" as its first
 *        line, and returns the port.
 * @param argv the program and its fixed arguments (NULL-terminated).
 * @param extra NULL, or more arguments (NULL-terminated); at most 63
 *        arguments in all, or an error.
 * @param portp receives the port.
 */
pmw_error_t *pmw_proc_start_server(const char *const *argv,
                                   const char *const *extra,
                                   int timeout_ms,
                                   pmw_proc_t **procp,
                                   int *portp) PMW_WARN_UNUSED;

/**
 * @brief Closes the child's stdin, waits up to timeout_ms for it to exit on
 *        its own (e.g. after --version, or at EOF on stdin), then kills it
 *        with SIGKILL; reaps it and frees proc. Returns as pmw_proc_stop().
 */
int pmw_proc_wait(pmw_proc_t *proc, int timeout_ms);

/**
 * @brief Sends SIGTERM, waits up to timeout_ms for the exit, then sends
 *        SIGKILL; reaps the child and frees proc. NULL is allowed (returns
 *        -1).
 * @returns the exit status (0..255), 128 + the signal if it was killed by
 *          one, or -1.
 */
int pmw_proc_stop(pmw_proc_t *proc, int timeout_ms);

#endif /* PMW_TESTS_PROC_H */
