#include "eos/crash_ledger.h"

#include "common/redis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_crash_ledger {
    kf_redis_url url;
    char *prefix, *group;
    redisContext *rc;
};

static int parse_i64(const char *s, char **end, int64_t *v)
{
    errno = 0;
    long long x = strtoll(s, end, 10);
    if (errno || *end == s || x < 0) return -1;
    *v = x;
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const kf_crash_entry *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

long kf_crash_ledger_parse(const char *const *fields, const char *const *values, size_t npairs,
                           kf_crash_entry **out)
{
    *out = NULL;
    kf_crash_entry *e = npairs ? calloc(npairs, sizeof *e) : NULL;
    if (npairs && !e) return -1;
    size_t k = 0;
    for (size_t i = 0; i < npairs; i++) {
        char *end;
        int64_t off, n = 1, count;
        if (strncmp(fields[i], "sig:", 4) == 0) continue;
        if (parse_i64(fields[i], &end, &off) != 0) continue;
        if (*end == '+' && (parse_i64(end + 1, &end, &n) != 0 || n < 1)) continue;
        if (*end != '\0' || parse_i64(values[i], &end, &count) != 0 || *end) continue;
        e[k] = (kf_crash_entry){.offset = off, .n = n, .count = count};
        k++;
    }
    /* The signals, onto the single-record entries they name. */
    for (size_t i = 0; i < npairs; i++) {
        char *end;
        int64_t off;
        if (strncmp(fields[i], "sig:", 4) != 0 || parse_i64(fields[i] + 4, &end, &off) != 0 || *end)
            continue;
        for (size_t j = 0; j < k; j++)
            if (e[j].offset == off && e[j].n == 1)
                snprintf(e[j].sig, sizeof e[j].sig, "%s", values[i]);
    }
    if (k == 0) {
        free(e);
        return 0;
    }
    qsort(e, k, sizeof *e, by_offset);
    *out = e;
    return (long)k;
}

void kf_crash_ledger_key(char *out, size_t outlen, const char *prefix, const char *group,
                         const char *topic, int32_t partition)
{
    snprintf(out, outlen, "{%s:%s:%s:%" PRId32 "}" KF_CRASH_LEDGER_SUFFIX, prefix, group, topic,
             partition);
}

kf_crash_ledger *kf_crash_ledger_new(const char *url, const char *prefix, const char *group,
                                     char *err, size_t errlen)
{
    kf_crash_ledger *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (kf_redis_url_parse(url, &l->url, err, errlen) != 0) {
        free(l);
        return NULL;
    }
    l->prefix = strdup(prefix);
    l->group = strdup(group);
    if (!l->prefix || !l->group) {
        snprintf(err, errlen, "out of memory");
        kf_crash_ledger_destroy(l);
        return NULL;
    }
    return l;
}

void kf_crash_ledger_destroy(kf_crash_ledger *l)
{
    if (!l) return;
    if (l->rc) redisFree(l->rc);
    kf_redis_url_free(&l->url);
    free(l->prefix);
    free(l->group);
    free(l);
}

int kf_crash_ledger_load(kf_crash_ledger *l, const char *topic, int32_t partition,
                         kf_crash_entry **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (!l->rc && !(l->rc = kf_redis_connect(&l->url, 1000, 1000, err, errlen)))
        return KF_STATUS_RETRY;
    char key[1024];
    kf_crash_ledger_key(key, sizeof key, l->prefix, l->group, topic, partition);
    redisReply *r = redisCommand(l->rc, "HGETALL %s", key);
    if (!r) {
        snprintf(err, errlen, "HGETALL %s: %s", key, l->rc->errstr);
        redisFree(l->rc);
        l->rc = NULL;
        return KF_STATUS_RETRY;
    }
    int rc = KF_STATUS_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "HGETALL %s: %s", key, r->str);
        rc = kf_redis_classify(r->str, NULL);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        size_t pairs = r->elements / 2;
        const char **f = calloc(pairs, sizeof *f), **v = calloc(pairs, sizeof *v);
        if (!f || !v) {
            snprintf(err, errlen, "out of memory");
            rc = KF_STATUS_FAIL;
        } else {
            for (size_t i = 0; i < pairs; i++) {
                f[i] = r->element[2 * i]->str ? r->element[2 * i]->str : "";
                v[i] = r->element[2 * i + 1]->str ? r->element[2 * i + 1]->str : "";
            }
            long k = kf_crash_ledger_parse(f, v, pairs, out);
            if (k < 0) {
                snprintf(err, errlen, "out of memory");
                rc = KF_STATUS_FAIL;
            } else {
                *n = (size_t)k;
            }
        }
        free(f);
        free(v);
    }
    freeReplyObject(r);
    return rc;
}

int kf_crash_ledger_forget(kf_crash_ledger *l, const char *topic, int32_t partition,
                           const kf_crash_entry *e, size_t n, char *err, size_t errlen)
{
    if (n == 0) return KF_STATUS_OK;
    if (!l->rc && !(l->rc = kf_redis_connect(&l->url, 1000, 1000, err, errlen)))
        return KF_STATUS_RETRY;
    char key[1024];
    kf_crash_ledger_key(key, sizeof key, l->prefix, l->group, topic, partition);
    size_t argc = 2 + 2 * n;
    const char **argv = calloc(argc, sizeof *argv);
    char(*fields)[48] = calloc(2 * n, sizeof *fields);
    if (!argv || !fields) {
        free(argv);
        free(fields);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    argv[0] = "HDEL";
    argv[1] = key;
    size_t k = 2;
    for (size_t i = 0; i < n; i++) {
        if (e[i].n > 1) {
            snprintf(fields[k - 2], sizeof fields[0], "%" PRId64 "+%" PRId64, e[i].offset, e[i].n);
            argv[k] = fields[k - 2];
            k++;
            continue;
        }
        snprintf(fields[k - 2], sizeof fields[0], "%" PRId64, e[i].offset);
        argv[k] = fields[k - 2];
        k++;
        snprintf(fields[k - 2], sizeof fields[0], "sig:%" PRId64, e[i].offset);
        argv[k] = fields[k - 2];
        k++;
    }
    redisReply *r = redisCommandArgv(l->rc, (int)k, argv, NULL);
    int rc = KF_STATUS_OK;
    if (!r) {
        snprintf(err, errlen, "HDEL %s: %s", key, l->rc->errstr);
        redisFree(l->rc);
        l->rc = NULL;
        rc = KF_STATUS_RETRY;
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "HDEL %s: %s", key, r->str);
        rc = KF_STATUS_FAIL;
    }
    if (r) freeReplyObject(r);
    free(argv);
    free(fields);
    return rc;
}
