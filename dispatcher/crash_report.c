#include "dispatcher/crash_report.h"

#include "common/redis.h"
#include "eos/crash_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Worker threads at most across every mapping that get a slot. */
#define SLOTS         4096
#define ALT_STACK_LEN (64 * 1024)
/* Partitions of one batch call that a report names (a chunk's lanes). */
#define RUNS 16
/* How long a dying process waits for Redis, to connect and to answer. */
#define NOTE_WAIT_MS 1000

/* One partition's records in the current call: offsets first..last. */
typedef struct run {
    _Atomic(const char *) topic;
    atomic_int partition;
    atomic_llong first, last;
} run;

struct kf_crash_slot {
    atomic_bool taken;
    _Atomic(const char *) mapping;
    _Atomic(const char *) handler;
    _Atomic(const char *) tag_prefix;
    run runs[RUNS];
    atomic_int nruns;
    atomic_size_t n; /* records in the call; 0: not in a handler */
    void *alt_stack;
};

static kf_crash_slot slots[SLOTS];
static _Thread_local kf_crash_slot *mine;

/* The state Redis, resolved by kf_crash_install_redis. */
static struct {
    bool on;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char preamble[1024]; /* AUTH and SELECT, in RESP */
    size_t preamble_len;
    int preamble_replies;
} R;

/* ---- async-signal-safe formatting into a fixed buffer ---- */

typedef struct buf {
    char b[4096];
    size_t n;
} buf;

static void put_n(buf *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && l->n < sizeof l->b - 2; i++)
        l->b[l->n++] = s[i];
}

static void put(buf *l, const char *s)
{
    put_n(l, s, s ? strlen(s) : 0);
}

/* A string inside a JSON string: quotes, backslashes and control bytes
 * become escapes or '?'. */
static void put_json(buf *l, const char *s)
{
    for (; s && *s && l->n < sizeof l->b - 3; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            l->b[l->n++] = '\\';
            l->b[l->n++] = (char)c;
        } else {
            l->b[l->n++] = c < 0x20 ? '?' : (char)c;
        }
    }
}

static void put_int(buf *l, long long v)
{
    char d[24];
    int k = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        d[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) d[k++] = '-';
    while (k && l->n < sizeof l->b - 2)
        l->b[l->n++] = d[--k];
}

static void put_hex(buf *l, uintptr_t v)
{
    char d[2 * sizeof v];
    int k = 0;
    do {
        d[k++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    put(l, "0x");
    while (k && l->n < sizeof l->b - 2)
        l->b[l->n++] = d[--k];
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    }
    return "a fatal signal";
}

/* One log line in the logger's shape (common/log.h), ts as epoch millis. */
static void line_start(buf *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    l->n = 0;
    put(l, "{\"ts_ms\":");
    put_int(l, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    put(l, ",\"level\":\"error\",\"component\":\"crash\",\"msg\":\"");
}

static void line_end(int fd, buf *l)
{
    put(l, "\"}");
    l->b[l->n++] = '\n';
    ssize_t w = write(fd, l->b, l->n);
    (void)w; /* nothing to do about a failed write while dying */
}

/* "mapping M, handler H: T[P]@O (1 record)" or "...: a batch call of n
 * records: T[P]@a..b, ..." for slot s. */
static void put_slot(buf *l, kf_crash_slot *s)
{
    size_t n = atomic_load_explicit(&s->n, memory_order_acquire);
    int nruns = atomic_load_explicit(&s->nruns, memory_order_relaxed);
    put(l, "mapping ");
    put_json(l, atomic_load_explicit(&s->mapping, memory_order_relaxed));
    put(l, ", handler ");
    put_json(l, atomic_load_explicit(&s->handler, memory_order_relaxed));
    put(l, ": ");
    if (n > 1) {
        put(l, "a batch call of ");
        put_int(l, (long long)n);
        put(l, " records: ");
    }
    for (int i = 0; i < nruns && i < RUNS; i++) {
        run *r = &s->runs[i];
        long long a = atomic_load_explicit(&r->first, memory_order_relaxed);
        long long b = atomic_load_explicit(&r->last, memory_order_relaxed);
        if (i) put(l, ", ");
        put_json(l, atomic_load_explicit(&r->topic, memory_order_relaxed));
        put(l, "[");
        put_int(l, atomic_load_explicit(&r->partition, memory_order_relaxed));
        put(l, "]@");
        put_int(l, a);
        if (b != a) {
            put(l, "..");
            put_int(l, b);
        }
    }
    if (n == 1) put(l, " (1 record)");
}

/* ---- the note in Redis ---- */

static void resp_bulk(buf *c, const char *s, size_t n)
{
    put(c, "$");
    put_int(c, (long long)n);
    put(c, "\r\n");
    put_n(c, s, n);
    put(c, "\r\n");
}

static void resp_str(buf *c, const char *s)
{
    resp_bulk(c, s, strlen(s));
}

/* The ledger key of a run: tag prefix, topic, ':', partition, '}', suffix. */
static void ledger_key(buf *k, const char *tag_prefix, run *r)
{
    k->n = 0;
    put(k, tag_prefix);
    put(k, atomic_load_explicit(&r->topic, memory_order_relaxed));
    put(k, ":");
    put_int(k, atomic_load_explicit(&r->partition, memory_order_relaxed));
    put(k, "}" KF_CRASH_LEDGER_SUFFIX);
}

/* The commands noting slot s's call; returns how many replies they get. */
static int note_commands(buf *c, kf_crash_slot *s, int sig)
{
    size_t n = atomic_load_explicit(&s->n, memory_order_acquire);
    int nruns = atomic_load_explicit(&s->nruns, memory_order_relaxed);
    const char *tag = atomic_load_explicit(&s->tag_prefix, memory_order_relaxed);
    int replies = 0;
    buf key, field;
    for (int i = 0; i < nruns && i < RUNS; i++) {
        run *r = &s->runs[i];
        long long a = atomic_load_explicit(&r->first, memory_order_relaxed);
        long long b = atomic_load_explicit(&r->last, memory_order_relaxed);
        ledger_key(&key, tag, r);
        field.n = 0;
        put_int(&field, a);
        if (n > 1) { /* the culprit is one of a..b */
            put(&field, "+");
            put_int(&field, b - a + 1);
        }
        put(c, "*4\r\n");
        resp_str(c, "HINCRBY");
        resp_bulk(c, key.b, key.n);
        resp_bulk(c, field.b, field.n);
        resp_str(c, "1");
        replies++;
        if (n == 1) {
            field.n = 0;
            put(&field, "sig:");
            put_int(&field, a);
            put(c, "*4\r\n");
            resp_str(c, "HSET");
            resp_bulk(c, key.b, key.n);
            resp_bulk(c, field.b, field.n);
            resp_str(c, sig_name(sig));
            replies++;
        }
        buf ttl = {.n = 0};
        put_int(&ttl, KF_CRASH_LEDGER_TTL_S);
        put(c, "*3\r\n");
        resp_str(c, "EXPIRE");
        resp_bulk(c, key.b, key.n);
        resp_bulk(c, ttl.b, ttl.n);
        replies++;
    }
    return replies;
}

static int wait_fd(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do {
        r = poll(&p, 1, NOTE_WAIT_MS);
    } while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & ev) ? 0 : -1;
}

/* Sends the commands and waits for every reply line; returns NULL when they
 * all came back without an error, else why not. */
static const char *note_send(const buf *cmds, int replies)
{
    int fd = socket(R.addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return "no socket";
    const char *why = NULL;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    if (connect(fd, (const struct sockaddr *)&R.addr, R.addrlen) != 0 &&
        (errno != EINPROGRESS || wait_fd(fd, POLLOUT) != 0)) {
        why = "cannot connect to the state Redis";
        goto out;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr) {
        why = "cannot connect to the state Redis";
        goto out;
    }
    const char *parts[2] = {R.preamble, cmds->b};
    size_t lens[2] = {R.preamble_len, cmds->n};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = write(fd, parts[i] + off, lens[i] - off);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT) == 0) {
                continue;
            } else {
                why = "the state Redis closed the connection";
                goto out;
            }
        }
    }
    /* Each reply is one line (+OK, :n, -ERR ...). */
    int want = replies + R.preamble_replies, got = 0;
    char in[512];
    while (got < want) {
        if (wait_fd(fd, POLLIN) != 0) {
            why = "the state Redis did not answer";
            goto out;
        }
        ssize_t r = read(fd, in, sizeof in);
        if (r <= 0) {
            why = "the state Redis closed the connection";
            goto out;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (in[i] == '-' && (i == 0 || in[i - 1] == '\n')) why = "the state Redis refused it";
            if (in[i] == '\n') got++;
        }
    }
out:
    close(fd);
    return why;
}

void kf_crash_write_report(int fd, int sig, const void *fault_addr, int note)
{
    buf l;
    line_start(&l);
    put(&l, "kfleet: ");
    put(&l, sig_name(sig));
    if (fault_addr && sig != SIGABRT) {
        put(&l, " at address ");
        put_hex(&l, (uintptr_t)fault_addr);
    }
    kf_crash_slot *me = mine;
    bool in_call = me && atomic_load_explicit(&me->n, memory_order_acquire);
    if (in_call) {
        put(&l, " in a handler call: ");
        put_slot(&l, me);
    } else {
        put(&l, " outside any handler call");
    }
    put(&l, "; exiting, the partitions' next owner replays their uncommitted records");
    line_end(fd, &l);
    for (size_t i = 0; i < SLOTS; i++) {
        kf_crash_slot *s = &slots[i];
        if (s == me || !atomic_load_explicit(&s->taken, memory_order_relaxed) ||
            !atomic_load_explicit(&s->n, memory_order_relaxed))
            continue;
        line_start(&l);
        put(&l, "kfleet: at the crash another worker was in a handler call: ");
        put_slot(&l, s);
        line_end(fd, &l);
    }
    if (!note || !in_call || !R.on || !atomic_load_explicit(&me->tag_prefix, memory_order_relaxed))
        return;
    static buf cmds; /* static: the alternate stack is small; one crash at a time */
    cmds.n = 0;
    int replies = note_commands(&cmds, me, sig);
    const char *why = note_send(&cmds, replies);
    line_start(&l);
    if (why) {
        put(&l, "kfleet: could not note the crash in the crash ledger (");
        put(&l, why);
        put(&l, "): the next owner will run these records again as usual");
    } else {
        put(&l, "kfleet: noted the crash in the crash ledger: the next owner runs these records "
                "alone, and sends one that crashed retry.max_crashes times to the on-failure "
                "topic");
    }
    line_end(fd, &l);
}

static void on_fatal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    kf_crash_write_report(STDERR_FILENO, sig, info ? info->si_addr : NULL, 1);
    /* SA_RESETHAND restored the default action: die of the same signal. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

void kf_crash_install(void)
{
    static atomic_bool done;
    if (atomic_exchange(&done, true)) return;
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa = {.sa_sigaction = on_fatal};
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

int kf_crash_install_redis(const char *url, char *err, size_t errlen)
{
    kf_redis_url u;
    if (kf_redis_url_parse(url, &u, err, errlen) != 0) return -1;
    int rc = 0;
    memset(&R, 0, sizeof R);
    if (u.path) {
        struct sockaddr_un *un = (struct sockaddr_un *)&R.addr;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", u.path);
        R.addrlen = sizeof *un;
    } else {
        char port[16];
        snprintf(port, sizeof port, "%d", u.port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int e = getaddrinfo(u.host, port, &hints, &ai);
        if (e != 0 || !ai) {
            snprintf(err, errlen, "cannot resolve %s: %s", u.display, gai_strerror(e));
            rc = -1;
        } else {
            memcpy(&R.addr, ai->ai_addr, ai->ai_addrlen);
            R.addrlen = ai->ai_addrlen;
        }
        if (ai) freeaddrinfo(ai);
    }
    buf p = {.n = 0};
    if (u.password) {
        put(&p, u.user ? "*3\r\n" : "*2\r\n");
        resp_str(&p, "AUTH");
        if (u.user) resp_str(&p, u.user);
        resp_str(&p, u.password);
        R.preamble_replies++;
    }
    if (u.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", u.db);
        put(&p, "*2\r\n");
        resp_str(&p, "SELECT");
        resp_str(&p, db);
        R.preamble_replies++;
    }
    memcpy(R.preamble, p.b, p.n < sizeof R.preamble ? p.n : sizeof R.preamble);
    R.preamble_len = p.n < sizeof R.preamble ? p.n : sizeof R.preamble;
    R.on = rc == 0;
    kf_redis_url_free(&u);
    return rc;
}

kf_crash_slot *kf_crash_slot_take(const char *mapping, const char *handler, const char *tag_prefix)
{
    for (size_t i = 0; i < SLOTS; i++) {
        kf_crash_slot *s = &slots[i];
        bool no = false;
        if (atomic_load_explicit(&s->taken, memory_order_relaxed) ||
            !atomic_compare_exchange_strong(&s->taken, &no, true))
            continue;
        atomic_store(&s->n, 0);
        atomic_store(&s->mapping, mapping);
        atomic_store(&s->handler, handler);
        atomic_store(&s->tag_prefix, tag_prefix);
        /* An alternate stack for this thread: a handler that overflows its
         * stack still gets its report. Kept with the slot for reuse. */
        if (!s->alt_stack) s->alt_stack = malloc(ALT_STACK_LEN);
        if (s->alt_stack) {
            stack_t st = {.ss_sp = s->alt_stack, .ss_size = ALT_STACK_LEN};
            sigaltstack(&st, NULL);
        }
        mine = s;
        return s;
    }
    return NULL;
}

void kf_crash_slot_give(kf_crash_slot *s)
{
    if (!s) return;
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    atomic_store(&s->n, 0);
    if (mine == s) mine = NULL;
    atomic_store(&s->taken, false);
}

void kf_crash_running(kf_crash_slot *s, const kf_record *const *records, size_t n)
{
    if (!s || n == 0) return;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const kf_record *r = records[i];
        int j = 0;
        while (
            j < k &&
            !(atomic_load_explicit(&s->runs[j].partition, memory_order_relaxed) == r->partition &&
              strcmp(atomic_load_explicit(&s->runs[j].topic, memory_order_relaxed), r->topic) == 0))
            j++;
        if (j == k) {
            if (k == RUNS) continue; /* beyond what a report names */
            atomic_store_explicit(&s->runs[j].topic, r->topic, memory_order_relaxed);
            atomic_store_explicit(&s->runs[j].partition, r->partition, memory_order_relaxed);
            atomic_store_explicit(&s->runs[j].first, r->offset, memory_order_relaxed);
            atomic_store_explicit(&s->runs[j].last, r->offset, memory_order_relaxed);
            k++;
            continue;
        }
        if (r->offset < atomic_load_explicit(&s->runs[j].first, memory_order_relaxed))
            atomic_store_explicit(&s->runs[j].first, r->offset, memory_order_relaxed);
        if (r->offset > atomic_load_explicit(&s->runs[j].last, memory_order_relaxed))
            atomic_store_explicit(&s->runs[j].last, r->offset, memory_order_relaxed);
    }
    atomic_store_explicit(&s->nruns, k, memory_order_relaxed);
    atomic_store_explicit(&s->n, n, memory_order_release);
}

void kf_crash_idle(kf_crash_slot *s)
{
    if (s) atomic_store_explicit(&s->n, 0, memory_order_relaxed);
}
