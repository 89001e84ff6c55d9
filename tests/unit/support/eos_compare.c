#include "tests/unit/support/eos_compare.h"

#include "eos/lua_scripts.h"
#include "tests/unit/support/eos_fixture.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void script_sha(const char *src, char *out)
{
    redisReply *r = rcmd("SCRIPT LOAD %s", src);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, 40);
    memcpy(out, r->str, 41);
    freeReplyObject(r);
}

void slowlog_on(void)
{
    freeReplyObject(rcmd("CONFIG SET slowlog-log-slower-than 0"));
    freeReplyObject(rcmd("CONFIG SET slowlog-max-len 1024"));
    freeReplyObject(rcmd("SLOWLOG RESET"));
}

int scripts_ran(void)
{
    static char uni[41], gen[41];
    if (!uni[0]) {
        script_sha(KF_EOS_LUA_COMPLETE_UNIFORM, uni);
        script_sha(KF_EOS_LUA_COMPLETE, gen);
    }
    redisReply *r = rcmd("SLOWLOG GET -1");
    int ran = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4) continue;
        const redisReply *av = e->element[3];
        if (av->type != REDIS_REPLY_ARRAY || av->elements < 2 ||
            strcasecmp(av->element[0]->str, "EVALSHA") != 0)
            continue;
        if (strcmp(av->element[1]->str, uni) == 0)
            ran |= RAN_UNIFORM;
        else if (strcmp(av->element[1]->str, gen) == 0)
            ran |= RAN_COMPLETE;
        else
            ran |= RAN_OTHER;
    }
    freeReplyObject(r);
    freeReplyObject(rcmd("SLOWLOG RESET"));
    return ran;
}

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p, "out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && (size_t)n < sizeof tmp, "sb_fmt: too long");
    sb_put(b, tmp, (size_t)n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the strings of array reply r as " s1 s2 ..."; pairs (hash field
 * and value) sorted by field when `pairs`, single strings sorted when
 * `sorted`, else in order. */
static void sb_reply_strings(sbuf *b, const redisReply *r, bool sorted, bool pairs)
{
    size_t step = pairs ? 2 : 1, n = r->elements / step;
    char **s = calloc(n + 1, sizeof *s);
    CHECK(s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const redisReply *a = r->element[i * step], *b2 = pairs ? r->element[i * step + 1] : NULL;
        size_t len = a->len + (b2 ? 1 + b2->len : 0);
        s[i] = malloc(len + 1);
        CHECK(s[i], "out of memory");
        memcpy(s[i], a->str, a->len);
        if (b2) {
            s[i][a->len] = '=';
            memcpy(s[i] + a->len + 1, b2->str, b2->len);
        }
        s[i][len] = '\0';
    }
    if (sorted || pairs) qsort(s, n, sizeof *s, cmp_str);
    for (size_t i = 0; i < n; i++) {
        sb_put(b, " ", 1);
        sb_put(b, s[i], strlen(s[i]));
        free(s[i]);
    }
    free(s);
}

char *dump_state(const char *P)
{
    redisReply *k1 = rcmd("KEYS %s:*", P);
    redisReply *k2 = rcmd("KEYS {%s:*", P);
    size_t n = k1->elements + k2->elements;
    const char **keys = calloc(n + 1, sizeof *keys);
    CHECK(keys, "out of memory");
    for (size_t i = 0; i < k1->elements; i++)
        keys[i] = k1->element[i]->str;
    for (size_t i = 0; i < k2->elements; i++)
        keys[k1->elements + i] = k2->element[i]->str;
    qsort(keys, n, sizeof *keys, cmp_str);
    sbuf b = {0};
    sb_put(&b, "", 0);
    size_t plen = strlen(P);
    for (size_t i = 0; i < n; i++) {
        const char *key = keys[i];
        const char *rest = key[0] == '{' ? key + 2 + plen : key + 1 + plen;
        redisReply *t = rcmd("TYPE %s", key);
        sb_fmt(&b, "%s%s %s:", key[0] == '{' ? "{" : "", rest, t->str);
        /* How each type reads: its command, and how its strings line up. */
        static const struct {
            const char *type, *cmd;
            bool sorted, pairs;
        } READ[] = {{"list", "LRANGE %s 0 -1", false, false},
                    {"hash", "HGETALL %s", false, true},
                    {"set", "SMEMBERS %s", true, false},
                    {"zset", "ZRANGE %s 0 -1 WITHSCORES", false, false}};
        redisReply *r = NULL;
        for (size_t j = 0; j < sizeof READ / sizeof *READ && !r; j++)
            if (strcmp(t->str, READ[j].type) == 0) {
                r = rcmd(READ[j].cmd, key);
                sb_reply_strings(&b, r, READ[j].sorted, READ[j].pairs);
            }
        if (!r && strcmp(t->str, "string") == 0) {
            r = rcmd("GET %s", key);
            sb_fmt(&b, " %s", r->str);
        }
        freeReplyObject(r);
        freeReplyObject(t);
        sb_put(&b, "\n", 1);
    }
    free(keys);
    freeReplyObject(k1);
    freeReplyObject(k2);
    return b.p;
}

void assert_same_state(const char *generic, const char *uniform, const char *what)
{
    const char *a = generic, *b = uniform;
    if (strcmp(a, b) == 0) return;
    size_t i = 0, line = 0;
    while (a[i] && a[i] == b[i])
        i++;
    while (i > 0 && a[i - 1] != '\n')
        i--;
    for (size_t j = 0; j < i; j++)
        line += a[j] == '\n';
    ck_abort_msg("%s: states differ at line %zu:\n  generic: %.300s\n  uniform: %.300s", what, line,
                 a + i, b + i);
}

char *call_counts(void)
{
    redisReply *r = rcmd("INFO commandstats");
    sbuf b = {0};
    sb_put(&b, "", 0);
    for (const char *p = strstr(r->str, "cmdstat_"); p; p = strstr(p + 1, "cmdstat_")) {
        const char *colon = strchr(p, ':'), *eol = strchr(p, '\r');
        const char *calls = strstr(p, "calls="), *failed = strstr(p, "failed_calls=");
        CHECK(colon && eol && calls && calls < eol, "INFO commandstats: %.80s", p);
        sb_fmt(&b, "%.*s=%lld/%lld ", (int)(colon - p - 8), p + 8, atoll(calls + 6),
               failed && failed < eol ? atoll(failed + 13) : 0LL);
    }
    freeReplyObject(r);
    return b.p;
}
