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

/* "{prefix:group:" into out; returns its length (as snprintf). */
static int tag_prefix(char *out, size_t outlen, const char *prefix, const char *group)
{
    return snprintf(out, outlen, "{%s:%s:", prefix, group);
}

char *kf_crash_ledger_tag_prefix(const char *prefix, const char *group)
{
    int len = tag_prefix(NULL, 0, prefix, group);
    char *out = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (out) tag_prefix(out, (size_t)len + 1, prefix, group);
    return out;
}

void kf_crash_ledger_key(char *out, size_t outlen, const char *prefix, const char *group,
                         const char *topic, int32_t partition)
{
    int len = tag_prefix(out, outlen, prefix, group);
    if (len < 0 || (size_t)len >= outlen) return;
    snprintf(out + len, outlen - (size_t)len, "%s:%" PRId32 "}" KF_CRASH_LEDGER_SUFFIX, topic,
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

/* Runs one command on the ledger's connection, opened when needed and
 * dropped after an error without a reply. KF_STATUS_OK with *reply (the
 * caller frees it); else the status, with err naming the command and key. */
static int command(kf_crash_ledger *l, int argc, const char **argv, redisReply **reply, char *err,
                   size_t errlen)
{
    *reply = NULL;
    if (!l->rc && !(l->rc = kf_redis_connect(&l->url, 1000, 1000, err, errlen)))
        return KF_STATUS_RETRY;
    redisReply *r = redisCommandArgv(l->rc, argc, argv, NULL);
    if (!r) {
        snprintf(err, errlen, "%s %s: %s", argv[0], argv[1], l->rc->errstr);
        redisFree(l->rc);
        l->rc = NULL;
        return KF_STATUS_RETRY;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s %s: %s", argv[0], argv[1], r->str);
        int rc = kf_redis_classify(r->str, NULL);
        freeReplyObject(r);
        return rc;
    }
    *reply = r;
    return KF_STATUS_OK;
}

int kf_crash_ledger_load(kf_crash_ledger *l, const char *topic, int32_t partition,
                         kf_crash_entry **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char key[1024];
    kf_crash_ledger_key(key, sizeof key, l->prefix, l->group, topic, partition);
    const char *argv[] = {"HGETALL", key};
    redisReply *r;
    int rc = command(l, 2, argv, &r, err, errlen);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
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

int kf_crash_ledger_prune(kf_crash_ledger *l, const char *topic, int32_t partition, int64_t floor,
                          kf_crash_entry *e, size_t *n, char *err, size_t errlen)
{
    if (floor < 0 || *n == 0) return KF_STATUS_OK;
    char key[1024];
    kf_crash_ledger_key(key, sizeof key, l->prefix, l->group, topic, partition);
    /* HDEL key and up to two fields per entry. */
    const char **argv = calloc(2 + 2 * *n, sizeof *argv);
    char(*fields)[48] = calloc(2 * *n, sizeof *fields);
    if (!argv || !fields) {
        free(argv);
        free(fields);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    argv[0] = "HDEL";
    argv[1] = key;
    size_t keep = 0, k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (e[i].offset + e[i].n > floor) {
            e[keep++] = e[i];
            continue;
        }
        if (e[i].n > 1) {
            snprintf(fields[k], sizeof fields[0], "%" PRId64 "+%" PRId64, e[i].offset, e[i].n);
            k++;
        } else {
            snprintf(fields[k++], sizeof fields[0], "%" PRId64, e[i].offset);
            snprintf(fields[k++], sizeof fields[0], "sig:%" PRId64, e[i].offset);
        }
    }
    *n = keep;
    for (size_t i = 0; i < k; i++)
        argv[2 + i] = fields[i];
    int rc = KF_STATUS_OK;
    redisReply *r = NULL;
    if (k) rc = command(l, (int)(2 + k), argv, &r, err, errlen);
    if (r) freeReplyObject(r);
    free(argv);
    free(fields);
    return rc;
}
