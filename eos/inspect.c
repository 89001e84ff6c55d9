#include "eos/inspect.h"

#include "common/status.h"
#include "eos/state_priv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The decimal at s[0..end) up to `stop` into *v; the byte after `stop`, or
 * NULL when malformed. */
static const char *number_to(const char *s, const char *end, char stop, int64_t *v)
{
    int64_t x = 0;
    const char *p = s;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (x > (INT64_MAX - 9) / 10) return NULL;
        x = x * 10 + (*p - '0');
    }
    if (p == s || p == end || *p != stop) return NULL;
    *v = x;
    return p + 1;
}

int64_t kf_eos_member_marks(const char *m, size_t len, int64_t from)
{
    const char *end = m + len, *p;
    int64_t f, t;
    if (!(p = number_to(m, end, '/', &f))) return -1;
    /* "<to>/" for a run, "<to>:" for a masked run. */
    const char *q = number_to(p, end, '/', &t);
    bool masked = false;
    if (!q) {
        if (!(q = number_to(p, end, ':', &t))) return -1;
        masked = true;
    }
    if (t < f) return -1;
    int64_t lo = f > from ? f : from;
    if (!masked) return t >= lo ? t - lo + 1 : 0;
    int64_t nb = t / 8 - f / 8 + 1;
    if (end - q < nb + 1 || q[nb] != '/') return -1; /* the mask, then "/<sink>" */
    const unsigned char *mask = (const unsigned char *)q;
    int64_t n = 0;
    for (int64_t o = lo; o <= t; o++)
        n += (mask[o / 8 - f / 8] >> (o % 8)) & 1;
    return n;
}

void kf_eos_view_clear(kf_eos_view *v)
{
    if (!v) return;
    free(v->crashes);
    memset(v, 0, sizeof *v);
}

/* A GET reply as a number; -1 for a missing key; false when not a number. */
static bool get_num(const redisReply *r, int64_t *v)
{
    if (r->type == REDIS_REPLY_NIL) {
        *v = -1;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0) return false;
    char *e;
    errno = 0;
    long long x = strtoll(r->str, &e, 10);
    if (errno || e != r->str + r->len) return false;
    *v = x;
    return true;
}

/* HGETALL of T:crash: the entries that reach `from` or beyond. */
static bool read_crashes(const redisReply *r, int64_t from, kf_eos_view *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) return false;
    size_t np = r->elements / 2;
    if (!np) return true;
    const char **f = calloc(np, sizeof *f), **v = calloc(np, sizeof *v);
    bool ok = f && v;
    for (size_t i = 0; ok && i < np; i++) {
        ok = r->element[2 * i]->type == REDIS_REPLY_STRING &&
             r->element[2 * i + 1]->type == REDIS_REPLY_STRING;
        if (!ok) break;
        f[i] = r->element[2 * i]->str;
        v[i] = r->element[2 * i + 1]->str;
    }
    kf_crash_entry *e = NULL;
    long n = ok ? kf_crash_ledger_parse(f, v, np, &e) : -1;
    free(f);
    free(v);
    if (n < 0) return false;
    size_t k = 0;
    for (long i = 0; i < n; i++)
        if (from < 0 || e[i].offset + e[i].n > from) e[k++] = e[i];
    if (!k) free(e);
    out->crashes = k ? e : NULL;
    out->ncrashes = k;
    return true;
}

/* HGETALL of T:pk: each value starts with the key's record count. */
static bool read_parked(const redisReply *r, kf_eos_view *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) return false;
    for (size_t i = 1; i < r->elements; i += 2) {
        const redisReply *v = r->element[i];
        int64_t count;
        if (v->type != REDIS_REPLY_STRING || !number_to(v->str, v->str + v->len, ' ', &count))
            return false;
        out->parked_keys++;
        out->parked_records += count;
    }
    return true;
}

enum { Q_EPOCH, Q_BASE, Q_OWNER, Q_RUNS, Q_CRASH, Q_PARKED, Q_COUNT };

int kf_eos_inspect(kf_eos_state *c, const char *topic, int32_t partition, int64_t from,
                   kf_eos_view *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = '\0';
    static const char *const suffix[Q_COUNT] = {"epoch", "base", "owner", "runs", "crash", "pk"};
    static const char *const cmd[Q_COUNT] = {"GET", "GET", "GET", "ZRANGE", "HGETALL", "HGETALL"};
    kf_eos_args keys = {0};
    for (int q = 0; q < Q_COUNT; q++)
        kf_eos_arg_key(&keys, c, topic, partition, suffix[q], NULL, 0);
    if (keys.oom) {
        kf_eos_args_free(&keys);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    /* Arena arguments are offsets until the arena stops growing. */
    const char *argv[Q_COUNT][4];
    size_t lens[Q_COUNT][4];
    int argc[Q_COUNT];
    const char *const *av[Q_COUNT];
    const size_t *lv[Q_COUNT];
    for (int q = 0; q < Q_COUNT; q++) {
        argv[q][0] = cmd[q];
        lens[q][0] = strlen(cmd[q]);
        argv[q][1] = keys.arena + keys.aoff[q];
        lens[q][1] = keys.len[q];
        argc[q] = 2;
        av[q] = argv[q];
        lv[q] = lens[q];
    }
    argv[Q_RUNS][2] = "0";
    argv[Q_RUNS][3] = "-1";
    lens[Q_RUNS][2] = 1;
    lens[Q_RUNS][3] = 2;
    argc[Q_RUNS] = 4;
    redisReply *r[Q_COUNT];
    int rc =
        kf_eos_pipeline(c, "reading the partition's state", Q_COUNT, argc, av, lv, r, err, errlen);
    kf_eos_args_free(&keys);
    if (rc != KF_STATUS_OK) return rc;
    const char *bad = NULL;
    for (int q = 0; q < Q_COUNT && !bad; q++)
        if (r[q]->type == REDIS_REPLY_ERROR) bad = suffix[q];
    if (!bad && !get_num(r[Q_EPOCH], &out->epoch)) bad = "epoch";
    if (!bad && !get_num(r[Q_BASE], &out->base)) bad = "base";
    if (!bad && r[Q_OWNER]->type == REDIS_REPLY_STRING)
        snprintf(out->owner, sizeof out->owner, "%.*s", (int)r[Q_OWNER]->len, r[Q_OWNER]->str);
    else if (!bad && r[Q_OWNER]->type != REDIS_REPLY_NIL)
        bad = "owner";
    int64_t floor = from > out->base ? from : out->base;
    if (!bad && r[Q_RUNS]->type != REDIS_REPLY_ARRAY) bad = "runs";
    for (size_t i = 0; !bad && i < r[Q_RUNS]->elements; i++) {
        const redisReply *m = r[Q_RUNS]->element[i];
        int64_t n = m->type == REDIS_REPLY_STRING ? kf_eos_member_marks(m->str, m->len, floor) : -1;
        if (n < 0) {
            bad = "runs";
        } else {
            out->runs++;
            out->marks += n;
        }
    }
    if (!bad && !read_crashes(r[Q_CRASH], floor, out)) bad = "crash";
    if (!bad && !read_parked(r[Q_PARKED], out)) bad = "pk";
    if (bad) {
        const redisReply *e = NULL;
        for (int q = 0; q < Q_COUNT; q++)
            if (!strcmp(suffix[q], bad)) e = r[q];
        snprintf(err, errlen, "{%s:%s:%s:%d}:%s: %s", kf_eos_state_prefix(c), kf_eos_state_group(c),
                 topic, (int)partition, bad,
                 e && e->type == REDIS_REPLY_ERROR ? e->str : "not what kfleet writes there");
        kf_eos_view_clear(out);
        rc = KF_STATUS_FAIL;
    }
    for (int q = 0; q < Q_COUNT; q++)
        freeReplyObject(r[q]);
    return rc;
}
