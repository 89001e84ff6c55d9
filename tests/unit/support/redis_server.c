#include "tests/unit/support/redis_server.h"

#include "common/clock.h"
#include "tests/unit/support/wait.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    START_TIMEOUT_MS = 10000,
    STOP_TIMEOUT_MS = 5000,
    POLL_MS = 10,
    PORT_TRIES = 5,
};

int kf_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static bool answers_ping(int port)
{
    struct timeval tv = {0, 300 * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
        freeReplyObject(rep);
    }
    redisFree(c);
    return ok;
}

static void log_path(const kf_test_redis *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/redis.log", r->dir);
}

/* The last lines of the server's log on one line, for r->why. */
static void log_tail(const kf_test_redis *r, char *out, size_t outlen)
{
    char path[128], buf[320];
    log_path(r, path, sizeof path);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
        if (fseek(f, from, SEEK_SET) == 0) n = fread(buf, 1, sizeof buf - 1, f);
    }
    fclose(f);
    buf[n] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
    snprintf(out, outlen, "%s", buf);
}

/* Waits up to timeout_ms for the server to exit; true once it is reaped. */
static bool reaped_within(kf_test_redis *r, int timeout_ms)
{
    for (int64_t end = kf_now_ms() + timeout_ms;; kf_test_pause_ms(POLL_MS)) {
        pid_t got = waitpid(r->pid, NULL, WNOHANG);
        /* ECHILD: not ours to reap (see the ownership rule in the header). */
        if (got == r->pid || (got < 0 && errno == ECHILD)) return true;
        if (kf_now_ms() >= end) return false;
    }
}

/* SIGKILL and reap (a killed process always exits). */
static void kill_now(kf_test_redis *r)
{
    if (r->pid <= 0) return;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
}

typedef enum { SPAWN_UP, SPAWN_EXITED, SPAWN_FAILED } spawn_result;

/* Forks the server on r->port and waits until it answers PING. SPAWN_EXITED:
 * it exited early (e.g. the port was taken), worth another port. */
static spawn_result spawn(kf_test_redis *r)
{
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", r->port);
    log_path(r, log, sizeof log);
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
    pid_t owner = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->why, sizeof r->why, "fork: %s", strerror(errno));
        return SPAWN_FAILED;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != owner) _exit(126); /* the owner died before prctl */
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in >= 0) dup2(in, 0);
        if (out >= 0) dup2(out, 1), dup2(out, 2);
        /* Descriptors of the runner (Check's pipes, ctest's output) stay
         * the runner's: a server holding them would keep readers waiting. */
        close_range(3, ~0U, 0);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", r->dir, "--logfile", log, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    char tail[sizeof r->why / 2];
    for (int64_t end = kf_now_ms() + START_TIMEOUT_MS;; kf_test_pause_ms(POLL_MS)) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
                snprintf(r->why, sizeof r->why,
                         "redis-server is not installed (not in PATH): apt-get install "
                         "redis-server");
                return SPAWN_FAILED;
            }
            log_tail(r, tail, sizeof tail);
            snprintf(r->why, sizeof r->why, "redis-server on port %d exited at start; its log: %s",
                     r->port, tail);
            return SPAWN_EXITED;
        }
        if (answers_ping(r->port)) {
            r->why[0] = '\0';
            return SPAWN_UP;
        }
        if (kf_now_ms() >= end) break;
    }
    kill_now(r);
    log_tail(r, tail, sizeof tail);
    snprintf(r->why, sizeof r->why,
             "redis-server on port %d did not answer PING within %d ms; its log: %s", r->port,
             START_TIMEOUT_MS, tail);
    return SPAWN_FAILED;
}

bool kf_test_redis_start(kf_test_redis *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/kf-test-redis-XXXXXX");
    if (!mkdtemp(r->dir)) {
        snprintf(r->why, sizeof r->why, "mkdtemp: %s", strerror(errno));
        r->dir[0] = '\0';
        return false;
    }
    for (int i = 0; i < PORT_TRIES; i++) {
        r->port = kf_test_free_port();
        if (r->port < 0) {
            snprintf(r->why, sizeof r->why, "no free loopback port: %s", strerror(errno));
            return false;
        }
        spawn_result s = spawn(r);
        if (s != SPAWN_EXITED) return s == SPAWN_UP;
    }
    return false;
}

void kf_test_redis_kill(kf_test_redis *r)
{
    kill_now(r);
}

bool kf_test_redis_restart(kf_test_redis *r)
{
    kill_now(r);
    return spawn(r) == SPAWN_UP;
}

void kf_test_redis_stop(kf_test_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        if (!reaped_within(r, STOP_TIMEOUT_MS)) kill_now(r);
        r->pid = 0;
    }
    if (!r->dir[0]) return;
    DIR *d = opendir(r->dir);
    if (d) {
        char path[sizeof r->dir + 256];
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(r->dir);
    r->dir[0] = '\0';
}

redisContext *kf_test_redis_connect(const kf_test_redis *r)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", c ? c->errstr : "out of memory");
        redisFree(c);
        ck_abort_msg("cannot connect to the test redis-server on port %d: %s", r->port, why);
    }
    redisSetTimeout(c, tv);
    return c;
}
