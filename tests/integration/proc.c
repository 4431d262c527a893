/*
 * tests/integration/proc.c: see proc.h.
 */
#include "tests/integration/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
        int in_fd;  /* write end of the child's stdin; -1 once closed */
        char buf[4096];
        size_t len; /* bytes buffered in buf */
};

pmw_error_t *pmw_proc_start_logged(const char *const *argv,
                                   const char *stderr_path,
                                   pmw_proc_t **procp) {
        *procp     = NULL;
        int err_fd = -1;
        if (stderr_path) {
                err_fd = open(stderr_path,
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (err_fd < 0)
                        return pmw_error_new(PMW_ERR_IO, "%s: %s", stderr_path,
                                             strerror(errno));
        }
        int fds[2], in[2];
        if (pipe(fds) != 0) {
                int e = errno;
                if (err_fd >= 0)
                        close(err_fd);
                return pmw_error_new(PMW_ERR_IO, "pipe: %s", strerror(e));
        }
        if (pipe(in) != 0) {
                int e = errno;
                close(fds[0]);
                close(fds[1]);
                if (err_fd >= 0)
                        close(err_fd);
                return pmw_error_new(PMW_ERR_IO, "pipe: %s", strerror(e));
        }
        fflush(NULL); /* nothing buffered is written twice */
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(fds[0]);
                close(fds[1]);
                close(in[0]);
                close(in[1]);
                if (err_fd >= 0)
                        close(err_fd);
                return pmw_error_new(PMW_ERR_IO, "fork: %s", strerror(e));
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(fds[1], STDOUT_FILENO);
                dup2(in[0], STDIN_FILENO);
                if (err_fd >= 0)
                        dup2(err_fd, STDERR_FILENO);
                close(fds[0]);
                close(fds[1]);
                close(in[0]);
                close(in[1]);
                execv(argv[0], (char *const *)argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(fds[1]);
        close(in[0]);
        if (err_fd >= 0)
                close(err_fd);
        /* Later children must not inherit these ends: a copy of the stdin
         * write end in another child would hide this child's EOF. */
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        fcntl(in[1], F_SETFD, FD_CLOEXEC);
        pmw_proc_t *proc = pmw_calloc(1, sizeof(*proc));
        proc->pid        = pid;
        proc->out_fd     = fds[0];
        proc->in_fd      = in[1];
        *procp           = proc;
        return NULL;
}

pmw_error_t *pmw_proc_start(const char *const *argv, pmw_proc_t **procp) {
        return pmw_proc_start_logged(argv, NULL, procp);
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

/* write() with SIGPIPE blocked, so a dead child shows as EPIPE instead of
 * killing the test; a SIGPIPE raised meanwhile is taken off the pending
 * set before the mask is restored. */
static ssize_t write_nosigpipe(int fd, const void *data, size_t len) {
        sigset_t pipe_set, old;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
        ssize_t n = write(fd, data, len);
        int e     = errno;
        if (n < 0 && e == EPIPE) {
                struct timespec zero = {0, 0};
                while (sigtimedwait(&pipe_set, NULL, &zero) == -1 &&
                       errno == EINTR)
                        ;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
        return n;
}

pmw_error_t *pmw_proc_write_line(pmw_proc_t *proc, const char *line) {
        if (proc->in_fd < 0)
                return pmw_error_new(PMW_ERR_IO, "pid %d: stdin is closed",
                                     (int)proc->pid);
        size_t len = strlen(line);
        char *buf  = pmw_malloc(len + 1);
        memcpy(buf, line, len);
        buf[len]         = '\n';
        pmw_error_t *err = NULL;
        for (size_t off = 0; off < len + 1;) {
                ssize_t n =
                    write_nosigpipe(proc->in_fd, buf + off, len + 1 - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        err = pmw_error_new(PMW_ERR_IO,
                                            "pid %d: write to stdin: %s",
                                            (int)proc->pid, strerror(errno));
                        break;
                }
                off += (size_t)n;
        }
        free(buf);
        return err;
}

pmw_error_t *pmw_proc_command(pmw_proc_t *proc,
                              const char *command,
                              int timeout_ms,
                              char *answer,
                              size_t size) {
        pmw_error_t *err = pmw_proc_write_line(proc, command);
        if (!err)
                err = pmw_proc_read_line(proc, timeout_ms, answer, size);
        return err ? pmw_error_prefix(err, "command \"%s\"", command) : NULL;
}

void pmw_proc_close_stdin(pmw_proc_t *proc) {
        if (proc->in_fd >= 0)
                close(proc->in_fd);
        proc->in_fd = -1;
}

pmw_error_t *pmw_proc_start_first_line(const char *const *argv,
                                       int timeout_ms,
                                       pmw_proc_t **procp,
                                       char *line,
                                       size_t size) {
        pmw_proc_t *proc = NULL;
        pmw_error_t *err = pmw_proc_start(argv, &proc);
        if (err)
                return err;
        err = pmw_proc_read_line(proc, timeout_ms, line, size);
        if (err) {
                pmw_proc_stop(proc, 1000);
                return pmw_error_prefix(err, "%s", argv[0]);
        }
        *procp = proc;
        return NULL;
}

pmw_error_t *pmw_proc_start_server(const char *const *fixed,
                                   const char *const *extra,
                                   int timeout_ms,
                                   pmw_proc_t **procp,
                                   int *portp) {
        const char *argv[64];
        size_t n                         = 0;
        const char *const *const lists[] = {fixed, extra};
        for (size_t l = 0; l < PMW_ARRAY_LEN(lists); l++) {
                for (const char *const *a = lists[l]; a && *a; a++) {
                        if (n == PMW_ARRAY_LEN(argv) - 1)
                                return pmw_error_new(
                                    PMW_ERR_INVALID,
                                    "%s: more than %zu arguments", fixed[0], n);
                        argv[n++] = *a;
                }
        }
        argv[n]          = NULL;
        pmw_proc_t *proc = NULL;
        char line[512];
        pmw_error_t *err = pmw_proc_start_first_line(argv, timeout_ms, &proc,
                                                     line, sizeof(line));
        if (err)
                return err;
        const char *colon = strrchr(line, ':');

        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
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
        pmw_proc_close_stdin(proc);
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
