#include "eos/park.h"

#include "common/status.h"
#include "eos/state_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- entries */

/* Little-endian fixed-width numbers after the "<offset> " head. */
typedef struct wbuf {
    char *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void put(wbuf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u64(wbuf *b, uint64_t v)
{
    unsigned char d[8];
    for (int i = 0; i < 8; i++)
        d[i] = (unsigned char)(v >> (8 * i));
    put(b, d, 8);
}

/* A length, or UINT64_MAX for NULL, then the bytes. */
static void put_bytes(wbuf *b, const void *p, size_t n)
{
    put_u64(b, p ? (uint64_t)n : UINT64_MAX);
    if (p) put(b, p, n);
}

char *kf_park_entry_encode(const kf_park_entry *e, size_t *len)
{
    wbuf b = {0};
    char head[32];
    int hn = snprintf(head, sizeof head, "%" PRId64 " ", e->offset);
    put(&b, head, (size_t)hn);
    put(&b, "\1", 1); /* the format's version */
    put_u64(&b, (uint64_t)e->timestamp_ms);
    put_u64(&b, (uint64_t)(int64_t)e->attempts);
    put_bytes(&b, e->key, e->key_len);
    put_bytes(&b, e->value, e->value_len);
    put_u64(&b, e->header_count);
    for (size_t i = 0; i < e->header_count; i++) {
        put_bytes(&b, e->headers[i].name, strlen(e->headers[i].name));
        put_bytes(&b, e->headers[i].value, e->headers[i].value_len);
    }
    put_bytes(&b, e->error ? e->error : "", e->error ? e->error_len : 0);
    put_bytes(&b, e->sinks_done ? e->sinks_done : "", e->sinks_done ? e->sinks_done_len : 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

typedef struct rbuf {
    const unsigned char *p, *end;
    bool bad;
} rbuf;

static uint64_t get_u64(rbuf *r)
{
    if (r->bad || r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}

static const void *get_bytes(rbuf *r, size_t *n)
{
    uint64_t len = get_u64(r);
    *n = 0;
    if (r->bad || len == UINT64_MAX) return NULL;
    if ((uint64_t)(r->end - r->p) < len) {
        r->bad = true;
        return NULL;
    }
    const void *p = r->p;
    r->p += len;
    *n = (size_t)len;
    return p;
}

int kf_park_entry_decode(const void *p, size_t len, kf_park_entry *out)
{
    memset(out, 0, sizeof *out);
    const char *s = p;
    const char *sp = memchr(s, ' ', len < 24 ? len : 24);
    if (!sp || sp == s) return -1;
    int64_t off = 0;
    for (const char *q = s; q < sp; q++) {
        if (*q < '0' || *q > '9' || off > (INT64_MAX - 9) / 10) return -1;
        off = off * 10 + (*q - '0');
    }
    rbuf r = {.p = (const unsigned char *)sp + 1, .end = (const unsigned char *)s + len};
    if (r.p >= r.end || *r.p != 1) return -1;
    r.p++;
    out->offset = off;
    out->timestamp_ms = (int64_t)get_u64(&r);
    out->attempts = (int)(int64_t)get_u64(&r);
    out->key = get_bytes(&r, &out->key_len);
    out->value = get_bytes(&r, &out->value_len);
    uint64_t nh = get_u64(&r);
    if (r.bad || nh > (uint64_t)(r.end - r.p) / 16) return -1;
    /* A name is stored without its NUL: the names are copied into one block
     * after the array, so that each is a C string. */
    size_t names = 0;
    rbuf scan = r;
    for (uint64_t i = 0; i < nh && !scan.bad; i++) {
        size_t n;
        get_bytes(&scan, &n);
        names += n + 1;
        get_bytes(&scan, &n);
    }
    if (scan.bad) return -1;
    kf_header *h = malloc((nh ? nh : 1) * sizeof *h + (names ? names : 1));
    if (!h) return -1;
    out->headers = h;
    char *names_at = (char *)(h + (nh ? nh : 1));
    for (uint64_t i = 0; i < nh; i++) {
        size_t n;
        const char *name = get_bytes(&r, &n);
        memcpy(names_at, name ? name : "", n);
        names_at[n] = '\0';
        h[i].name = names_at;
        names_at += n + 1;
        h[i].value = get_bytes(&r, &h[i].value_len);
    }
    out->header_count = (size_t)nh;
    out->error = get_bytes(&r, &out->error_len);
    out->sinks_done = get_bytes(&r, &out->sinks_done_len);
    if (r.bad || !out->error || !out->sinks_done) {
        kf_park_entry_clear(out);
        return -1;
    }
    return 0;
}

void kf_park_entry_clear(kf_park_entry *e)
{
    free(e->headers);
    memset(e, 0, sizeof *e);
}

char *kf_park_field(const void *key, size_t key_len, bool null_key, size_t *len)
{
    char *f = malloc(key_len + 1);
    if (!f) return NULL;
    f[0] = null_key ? 'n' : 'k';
    if (!null_key && key_len) memcpy(f + 1, key, key_len);
    *len = null_key ? 1 : key_len + 1;
    return f;
}

/* ---------------------------------------------------------------- calls */

int kf_park_put(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                int64_t now_ms, const kf_park_item *items, size_t n, int *result, int *fenced,
                char *err, size_t errlen)
{
    *fenced = 0;
    if (errlen) err[0] = '\0';
    if (n == 0) return KF_STATUS_OK;
    kf_eos_args k = {0}, a = {0};
    kf_eos_arg_key(&k, c, topic, partition, "epoch", NULL, 0);
    kf_eos_arg_key(&k, c, topic, partition, "pk", NULL, 0);
    kf_eos_arg_i64(&a, epoch);
    kf_eos_arg_i64(&a, now_ms);
    for (size_t i = 0; i < n; i++) {
        size_t flen;
        char *field = kf_park_field(items[i].key, items[i].key_len, !items[i].key, &flen);
        if (!field) {
            k.oom = true;
            break;
        }
        kf_eos_arg_key(&k, c, topic, partition, "pk:", field, flen);
        kf_eos_arg_bytes(&a, field, flen);
        free(field);
        kf_eos_arg_i64(&a, items[i].offset);
        kf_eos_arg_bytes(&a, items[i].must ? "1" : "0", 1);
        kf_eos_arg_bytes(&a, items[i].entry, items[i].entry_len);
        const char *why = items[i].error ? items[i].error : "";
        kf_eos_arg_bytes(&a, why, strlen(why));
    }
    redisReply *r;
    int rc = kf_eos_eval(c, KF_EOS_SCRIPT_PARK, &k, &a, &r, err, errlen);
    kf_eos_args_free(&k);
    kf_eos_args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1) {
        *fenced = 1;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == n + 1) {
        for (size_t i = 0; i < n && rc == KF_STATUS_OK; i++) {
            const redisReply *e = r->element[i + 1];
            if (e->type != REDIS_REPLY_INTEGER || (e->integer != 0 && e->integer != 1))
                rc = kf_eos_bad_reply(c, "park", err, errlen);
            else
                result[i] = (int)e->integer;
        }
    } else {
        rc = kf_eos_bad_reply(c, "park", err, errlen);
    }
    freeReplyObject(r);
    return rc;
}

void kf_parked_keys_free(kf_parked_key *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        free(k[i].field);
        free(k[i].error);
    }
    free(k);
}

/* "<count> <first_ms> <first_offset> <last_offset> <error>" */
static int parse_summary(const char *s, size_t len, kf_parked_key *k)
{
    char *copy = strndup(s, len);
    if (!copy) return -1;
    int used = 0;
    long long n, f, fo, lo;
    if (sscanf(copy, "%lld %lld %lld %lld %n", &n, &f, &fo, &lo, &used) != 4) {
        free(copy);
        return -1;
    }
    k->count = n;
    k->first_ms = f;
    k->first_offset = fo;
    k->last_offset = lo;
    k->error = strdup(copy + used);
    free(copy);
    return k->error ? 0 : -1;
}

int kf_park_keys(kf_eos_state *c, const char *topic, int32_t partition, kf_parked_key **out,
                 size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    kf_eos_args k = {0};
    kf_eos_arg_key(&k, c, topic, partition, "pk", NULL, 0);
    if (k.oom) {
        kf_eos_args_free(&k);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    const char *argv[2] = {"HGETALL", k.arena};
    size_t lens[2] = {7, k.len[0]};
    redisReply *r;
    int rc = kf_eos_command(c, "HGETALL of the parked keys", 2, argv, lens, &r, err, errlen);
    kf_eos_args_free(&k);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return kf_eos_bad_reply(c, "HGETALL of the parked keys", err, errlen);
    }
    size_t m = r->elements / 2;
    kf_parked_key *keys = calloc(m ? m : 1, sizeof *keys);
    if (!keys) rc = KF_STATUS_FAIL;
    for (size_t i = 0; keys && i < m; i++) {
        const redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            parse_summary(v->str, v->len, &keys[i]) != 0 || !(keys[i].field = malloc(f->len + 1))) {
            rc = kf_eos_bad_reply(c, "HGETALL of the parked keys", err, errlen);
            m = i + 1;
            break;
        }
        memcpy(keys[i].field, f->str, f->len);
        keys[i].field[f->len] = '\0'; /* a C string too, for a key without NULs */
        keys[i].field_len = f->len;
    }
    freeReplyObject(r);
    if (rc != KF_STATUS_OK) {
        kf_parked_keys_free(keys, m);
        return rc;
    }
    *out = keys;
    *n = m;
    return KF_STATUS_OK;
}

int kf_park_head(kf_eos_state *c, const char *topic, int32_t partition, const char *field,
                 size_t field_len, size_t max, char ***entries, size_t **lens, size_t *n, char *err,
                 size_t errlen)
{
    *entries = NULL;
    *lens = NULL;
    *n = 0;
    kf_eos_args k = {0};
    kf_eos_arg_key(&k, c, topic, partition, "pk:", field, field_len);
    char stop[24];
    snprintf(stop, sizeof stop, "%zu", max ? max - 1 : 0);
    const char *argv[4] = {"LRANGE", k.arena, "0", stop};
    size_t alen[4] = {6, k.oom ? 0 : k.len[0], 1, strlen(stop)};
    if (k.oom) {
        kf_eos_args_free(&k);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    redisReply *r;
    int rc = kf_eos_command(c, "LRANGE of a parked key", 4, argv, alen, &r, err, errlen);
    kf_eos_args_free(&k);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return kf_eos_bad_reply(c, "LRANGE of a parked key", err, errlen);
    }
    char **e = calloc(r->elements ? r->elements : 1, sizeof *e);
    size_t *l = calloc(r->elements ? r->elements : 1, sizeof *l);
    for (size_t i = 0; e && l && i < r->elements; i++) {
        const redisReply *x = r->element[i];
        if (x->type != REDIS_REPLY_STRING || !(e[i] = malloc(x->len ? x->len : 1))) {
            rc = KF_STATUS_FAIL;
            break;
        }
        memcpy(e[i], x->str, x->len);
        l[i] = x->len;
        *n = i + 1;
    }
    if (!e || !l || rc != KF_STATUS_OK) {
        for (size_t i = 0; e && i < *n; i++)
            free(e[i]);
        free(e);
        free(l);
        *n = 0;
        freeReplyObject(r);
        snprintf(err, errlen, "LRANGE of a parked key: out of memory or a bad reply");
        return KF_STATUS_FAIL;
    }
    freeReplyObject(r);
    *entries = e;
    *lens = l;
    return KF_STATUS_OK;
}

int kf_park_take(kf_eos_state *c, const char *topic, int32_t partition, const char *field,
                 size_t field_len, int64_t head, size_t n, int *answer, char *err, size_t errlen)
{
    kf_eos_args k = {0}, a = {0};
    kf_eos_arg_key(&k, c, topic, partition, "pk", NULL, 0);
    kf_eos_arg_key(&k, c, topic, partition, "pk:", field, field_len);
    kf_eos_arg_bytes(&a, field, field_len);
    kf_eos_arg_i64(&a, (int64_t)n);
    kf_eos_arg_i64(&a, head);
    redisReply *r;
    int rc = kf_eos_eval(c, KF_EOS_SCRIPT_PARK_TAKE, &k, &a, &r, err, errlen);
    kf_eos_args_free(&k);
    kf_eos_args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer >= 0 &&
        r->element[0]->integer <= 2)
        *answer = (int)r->element[0]->integer;
    else
        rc = kf_eos_bad_reply(c, "park take", err, errlen);
    freeReplyObject(r);
    return rc;
}

void kf_parked_partitions_free(kf_parked_partition *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].topic);
    free(p);
}

/* Appends s to b with the glob specials escaped (SCAN's MATCH). */
static void put_glob_literal(wbuf *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s)) put(b, "\\", 1);
        put(b, s, 1);
    }
}

int kf_park_partitions(kf_eos_state *c, kf_parked_partition **out, size_t *n, char *err,
                       size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *prefix = kf_eos_state_prefix(c), *group = kf_eos_state_group(c);
    wbuf pat = {0};
    put(&pat, "{", 1);
    put_glob_literal(&pat, prefix);
    put(&pat, ":", 1);
    put_glob_literal(&pat, group);
    put(&pat, ":*}:pk", 6);
    char head[1024];
    int hn = snprintf(head, sizeof head, "{%s:%s:", prefix, group);
    if (pat.oom || hn < 0 || (size_t)hn >= sizeof head) {
        free(pat.p);
        snprintf(err, errlen, "out of memory");
        return KF_STATUS_FAIL;
    }
    kf_parked_partition *list = NULL;
    size_t count = 0, cap = 0;
    char cursor[32] = "0";
    int rc = KF_STATUS_OK;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pat.p, "COUNT", "1000"};
        size_t lens[6] = {4, strlen(cursor), 5, pat.len, 5, 4};
        redisReply *r;
        rc = kf_eos_command(c, "SCAN for parked keys", 6, argv, lens, &r, err, errlen);
        if (rc != KF_STATUS_OK) break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            rc = kf_eos_bad_reply(c, "SCAN for parked keys", err, errlen);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *e = r->element[1]->element[i];
            /* "{prefix:group:" topic ":" partition "}:pk" */
            if (e->type != REDIS_REPLY_STRING || e->len < (size_t)hn + 6 ||
                memcmp(e->str, head, (size_t)hn) != 0 || memcmp(e->str + e->len - 4, "}:pk", 4))
                continue;
            const char *t = e->str + hn, *end = e->str + e->len - 4;
            const char *colon = NULL;
            for (const char *q = t; q < end; q++)
                if (*q == ':') colon = q;
            if (!colon || colon == t) continue;
            char num[16];
            size_t nl = (size_t)(end - colon - 1);
            if (nl == 0 || nl >= sizeof num) continue;
            memcpy(num, colon + 1, nl);
            num[nl] = '\0';
            char *stop;
            long p = strtol(num, &stop, 10);
            if (*stop || p < 0 || p > INT32_MAX) continue;
            if (count == cap) {
                size_t nc = cap ? cap * 2 : 16;
                kf_parked_partition *g = realloc(list, nc * sizeof *g);
                if (!g) {
                    rc = KF_STATUS_FAIL;
                    break;
                }
                list = g;
                cap = nc;
            }
            if (!(list[count].topic = strndup(t, (size_t)(colon - t)))) {
                rc = KF_STATUS_FAIL;
                break;
            }
            list[count++].partition = (int32_t)p;
        }
        freeReplyObject(r);
    } while (rc == KF_STATUS_OK && strcmp(cursor, "0") != 0);
    free(pat.p);
    if (rc != KF_STATUS_OK) {
        kf_parked_partitions_free(list, count);
        if (!err[0]) snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = list;
    *n = count;
    return KF_STATUS_OK;
}
