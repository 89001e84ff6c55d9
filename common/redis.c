/* See redis.h. */
#include "common/redis.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape, and on
 * "%00": the text goes to AUTH as a C string, which a NUL would cut short. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || hi + lo == 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int parse_int(const char *s, size_t n, int min, int max, int *out)
{
    if (n == 0 || n > 9) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return -1;
    *out = v;
    return 0;
}

void kf_redis_url_free(kf_redis_url *u)
{
    if (!u) return;
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    free(u->display);
    memset(u, 0, sizeof *u);
}

/* The last '@' in [s, end), or NULL: where a userinfo ends (a password may
 * contain an '@'). */
static const char *last_at(const char *s, const char *end)
{
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@') at = p;
    return at;
}

/* Where the userinfo of `url` starts (*start) and ends (its '@', returned),
 * by the rules parse_tcp and parse_unix apply; NULL when it has none. For
 * another scheme, the last '@' of the whole text, so that a message about it
 * shows no more than it should. */
static const char *userinfo_of(const char *url, const char **start)
{
    const char *s, *end;
    if (strncasecmp(url, "redis://", 8) == 0) {
        s = url + 8;
        end = s + strcspn(s, "/?#");
    } else if (strncasecmp(url, "unix://", 7) == 0) {
        s = url + 7;
        if (*s == '/') return NULL;
        end = s + strcspn(s, "?");
    } else {
        const char *scheme = strstr(url, "://");
        s = scheme ? scheme + 3 : url;
        end = s + strlen(s);
    }
    *start = s;
    return last_at(s, end);
}

/* The URL for messages: "scheme://user:***@rest", the password masked up to
 * the same '@' the parser ends it at. */
static void mask_url(const char *url, char *out, size_t n)
{
    const char *s = NULL, *at = userinfo_of(url, &s);
    if (!at) {
        snprintf(out, n, "%s", url);
        return;
    }
    const char *colon = memchr(s, ':', (size_t)(at - s));
    const char *cut = colon ? colon + 1 : s;
    snprintf(out, n, "%.*s***%s", (int)(cut - url), url, at);
}

/* Splits "[[user]:password@]" off the front of [*s, end); advances *s. */
static int parse_userinfo(kf_redis_url *u, const char **s, const char *end, const char *what,
                          char *err, size_t errlen)
{
    const char *at = last_at(*s, end);
    if (!at) return 0;
    const char *colon = memchr(*s, ':', (size_t)(at - *s));
    if (colon) {
        if (colon > *s) u->user = pct_decode(*s, (size_t)(colon - *s));
        u->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
        if ((colon > *s && !u->user) || !u->password) goto bad;
    } else {
        u->password = pct_decode(*s, (size_t)(at - *s));
        if (!u->password) goto bad;
    }
    *s = at + 1;
    return 0;
bad:
    snprintf(err, errlen, "%s: bad percent-escape (or %%00) in the user or password part", what);
    return -1;
}

static int parse_tcp(kf_redis_url *u, const char *s, const char *what, char *err, size_t errlen)
{
    const char *end = s + strcspn(s, "/?#");
    if (parse_userinfo(u, &s, end, what, err, errlen) != 0) return -1;
    const char *host = s, *host_end, *port = NULL;
    if (*s == '[') {
        host = s + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            snprintf(err, errlen, "%s: missing ']' after an IPv6 host", what);
            return -1;
        }
        if (host_end + 1 < end) {
            if (host_end[1] != ':') goto bad_host;
            port = host_end + 2;
        }
    } else {
        host_end = memchr(s, ':', (size_t)(end - s));
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    if (host_end == host) goto bad_host;
    u->host = strndup(host, (size_t)(host_end - host));
    u->port = 6379;
    if (port && parse_int(port, (size_t)(end - port), 1, 65535, &u->port) != 0) {
        snprintf(err, errlen, "%s: expected a port 1..65535 after ':'", what);
        return -1;
    }
    const char *db = end;
    if (*db == '/') {
        db++;
        size_t n = strcspn(db, "?#");
        if (n > 0 && parse_int(db, n, 0, INT_MAX, &u->db) != 0) {
            snprintf(err, errlen, "%s: expected a database number after '/'", what);
            return -1;
        }
        db += n;
    }
    if (*db != '\0') {
        snprintf(err, errlen, "%s: unexpected text after the database number", what);
        return -1;
    }
    return 0;
bad_host:
    snprintf(err, errlen, "%s: expected redis://[[user]:password@]host[:port][/db]", what);
    return -1;
}

static int parse_unix(kf_redis_url *u, const char *s, const char *what, char *err, size_t errlen)
{
    const char *end = s + strcspn(s, "?");
    if (*s != '/' && parse_userinfo(u, &s, end, what, err, errlen) != 0) return -1;
    if (*s != '/' || end - s < 2) {
        snprintf(err, errlen, "%s: expected unix://[[user]:password@]/path/to/socket[?db=N]", what);
        return -1;
    }
    u->path = strndup(s, (size_t)(end - s));
    if (*end == '?') {
        if (strncmp(end, "?db=", 4) != 0 ||
            parse_int(end + 4, strlen(end + 4), 0, INT_MAX, &u->db) != 0) {
            snprintf(err, errlen, "%s: the only query parameter is db=N", what);
            return -1;
        }
    }
    return 0;
}

int kf_redis_url_parse(const char *url, kf_redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char what[512];
    mask_url(url, what, sizeof what); /* never echo a password */
    out->display = strdup(what);
    int rc;
    if (strncasecmp(url, "redis://", 8) == 0) {
        rc = parse_tcp(out, url + 8, what, err, errlen);
    } else if (strncasecmp(url, "unix://", 7) == 0) {
        rc = parse_unix(out, url + 7, what, err, errlen);
    } else if (strncasecmp(url, "rediss://", 9) == 0) {
        snprintf(err, errlen, "%s: TLS (rediss://) is not supported (hiredis 0.14)", what);
        rc = -1;
    } else {
        snprintf(err, errlen, "%s: expected a redis:// or unix:// URL", what);
        rc = -1;
    }
    if (rc == 0 && (!out->display || (!out->host && !out->path))) {
        snprintf(err, errlen, "%s: out of memory", what);
        rc = -1;
    }
    if (rc != 0) kf_redis_url_free(out);
    return rc;
}

static struct timeval tv_of(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Runs one command during connection set-up; 0 when the reply is not an error. */
static int setup_cmd(redisContext *c, int argc, const char **argv, const char *what,
                     const char *url, char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        snprintf(err, errlen, "redis %s: %s failed: %s", url, what, c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis %s: %s failed: %s", url, what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

redisContext *kf_redis_connect(const kf_redis_url *u, int connect_timeout_ms, int cmd_timeout_ms,
                               char *err, size_t errlen)
{
    redisContext *c = u->path
                          ? redisConnectUnixWithTimeout(u->path, tv_of(connect_timeout_ms))
                          : redisConnectWithTimeout(u->host, u->port, tv_of(connect_timeout_ms));
    if (!c) {
        snprintf(err, errlen, "redis %s: cannot connect: out of memory", u->display);
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "redis %s: cannot connect: %s", u->display, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, tv_of(cmd_timeout_ms)) != REDIS_OK) {
        snprintf(err, errlen, "redis %s: cannot set the timeout: %s", u->display, c->errstr);
        goto fail;
    }
    if (!u->path) redisEnableKeepAlive(c); /* best effort */
    if (u->password) {
        const char *argv[3] = {"AUTH", u->user ? u->user : u->password, u->password};
        if (setup_cmd(c, u->user ? 3 : 2, argv, "AUTH", u->display, err, errlen) != 0) goto fail;
    }
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        const char *argv[2] = {"SELECT", db};
        if (setup_cmd(c, 2, argv, "SELECT", u->display, err, errlen) != 0) goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

kf_status kf_redis_classify(const char *msg, bool *reconnect)
{
    static const struct {
        const char *prefix;
        bool reconnect;
    } T[] = {{"LOADING", false},    {"BUSY", false},    {"TRYAGAIN", false}, {"CLUSTERDOWN", true},
             {"MASTERDOWN", true},  {"READONLY", true}, {"OOM", false},      {"NOAUTH", true},
             {"NOREPLICAS", false}, {"MISCONF", false}};
    for (size_t i = 0; msg && i < sizeof T / sizeof T[0]; i++) {
        size_t n = strlen(T[i].prefix);
        if (strncmp(msg, T[i].prefix, n) == 0 && (msg[n] == ' ' || msg[n] == '\0')) {
            if (reconnect && T[i].reconnect) *reconnect = true;
            return KF_STATUS_RETRY;
        }
    }
    return KF_STATUS_FAIL;
}

bool kf_redis_timed_out(const redisContext *c)
{
    return c && c->err == REDIS_ERR_IO &&
           (strcmp(c->errstr, strerror(EAGAIN)) == 0 ||
            strcmp(c->errstr, strerror(EWOULDBLOCK)) == 0);
}
