/*
 * tests/integration/proc.c: see proc.h.
 */
#include "tests/integration/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/mem.h"

struct pmw_proc_s {
        pid_t pid;
        int out_fd; /* read end of the child's stdout */
        char buf[4096];
        size_t len; /* bytes buffered in buf */
};

pmw_error_t *pmw_proc_start(const char *const *argv, pmw_proc_t **procp) {
        *procp = NULL;
        int fds[2];
        if (pipe(fds) != 0)
                return pmw_error_new(PMW_ERR_IO, "pipe: %s", strerror(errno));
        fflush(NULL); /* nothing buffered is written twice */
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(fds[0]);
                close(fds[1]);
                return pmw_error_new(PMW_ERR_IO, "fork: %s", strerror(e));
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(fds[1], STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                execv(argv[0], (char *const *)argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(fds[1]);
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        pmw_proc_t *proc = pmw_calloc(1, sizeof(*proc));
        proc->pid        = pid;
        proc->out_fd     = fds[0];
        *procp           = proc;
        return NULL;
}

pid_t pmw_proc_pid(const pmw_proc_t *proc) {
        return proc->pid;
}

pmw_error_t *
pmw_proc_read_line(pmw_proc_t *proc, int timeout_ms, char *line, size_t size) {
        int64_t deadline = pmw_clock_mono_us() + (int64_t)timeout_ms * 1000;
        for (;;) {
                char *nl = memchr(proc->buf, '\n', proc->len);
                if (nl || proc->len == sizeof(proc->buf)) {
                        size_t n    = nl ? (size_t)(nl - proc->buf) : proc->len;
                        size_t copy = PMW_MIN(n, size - 1);
                        memcpy(line, proc->buf, copy);
                        line[copy]   = '\0';
                        size_t taken = nl ? n + 1 : n;
                        memmove(proc->buf, proc->buf + taken,
                                proc->len - taken);
                        proc->len -= taken;
                        return NULL;
                }
                int64_t left = (deadline - pmw_clock_mono_us()) / 1000;
                if (left <= 0)
                        return pmw_error_new(PMW_ERR_IO,
                                             "pid %d: no line on stdout "
                                             "within %d ms",
                                             (int)proc->pid, timeout_ms);
                struct pollfd pfd = {.fd = proc->out_fd, .events = POLLIN};
                int rc            = poll(&pfd, 1, (int)left);
                if (rc < 0 && errno != EINTR)
                        return pmw_error_new(PMW_ERR_IO, "poll: %s",
                                             strerror(errno));
                if (rc <= 0)
                        continue;
                ssize_t got = read(proc->out_fd, proc->buf + proc->len,
                                   sizeof(proc->buf) - proc->len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        return pmw_error_new(PMW_ERR_IO,
                                             "pid %d: stdout closed before "
                                             "a complete line",
                                             (int)proc->pid);
                proc->len += (size_t)got;
        }
}

pmw_error_t *pmw_proc_start_server(const char *const *argv,
                                   int timeout_ms,
                                   pmw_proc_t **procp,
                                   int *portp) {
        pmw_proc_t *proc = NULL;
        pmw_error_t *err = pmw_proc_start(argv, &proc);
        if (err)
                return err;
        char line[512];
        err = pmw_proc_read_line(proc, timeout_ms, line, sizeof(line));
        if (err) {
                pmw_proc_stop(proc, 1000);
                return pmw_error_prefix(err, "%s", argv[0]);
        }
        const char *colon = strrchr(line, ':');
        long port         = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (strncmp(line, "listening on ", 13) != 0 || port <= 0 ||
            port > 65535) {
                pmw_proc_stop(proc, 1000);
                return pmw_error_new(PMW_ERR_PARSE,
                                     "%s: first line is not \"listening on "
                                     "HOST:PORT\": %s",
                                     argv[0], line);
        }
        *procp = proc;
        *portp = (int)port;
        return NULL;
}

/* The exit status as a shell reports it. */
static int decode_status(int status) {
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return -1;
}

/* Waits for the exit until the deadline; SIGKILL after it. */
static int reap(pmw_proc_t *proc, int timeout_ms) {
        int status       = 0;
        int result       = -1;
        int64_t deadline = pmw_clock_mono_us() + (int64_t)timeout_ms * 1000;
        for (;;) {
                pid_t r = waitpid(proc->pid, &status, WNOHANG);
                if (r == proc->pid) {
                        result = decode_status(status);
                        break;
                }
                if (r < 0 && errno != EINTR)
                        break;
                if (pmw_clock_mono_us() >= deadline) {
                        kill(proc->pid, SIGKILL);
                        if (waitpid(proc->pid, &status, 0) == proc->pid)
                                result = decode_status(status);
                        break;
                }
                struct timespec ten_ms = {0, 10 * 1000 * 1000};
                nanosleep(&ten_ms, NULL);
        }
        close(proc->out_fd);
        free(proc);
        return result;
}

int pmw_proc_wait(pmw_proc_t *proc, int timeout_ms) {
        if (proc == NULL)
                return -1;
        return reap(proc, timeout_ms);
}

int pmw_proc_stop(pmw_proc_t *proc, int timeout_ms) {
        if (proc == NULL)
                return -1;
        kill(proc->pid, SIGTERM);
        return reap(proc, timeout_ms);
}
