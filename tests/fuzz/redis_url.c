/*
 * Fuzz target: the Redis URL parser (common/redis.c).
 *
 * The input is one URL (up to its first NUL). Checks:
 *   - an error comes with a message; a success has exactly one of host and
 *     path, a port 1..65535, a db >= 0 and a display text;
 *   - user and password are whole: as many bytes as their percent-decoded
 *     text has (a "%00" would cut them short at AUTH);
 *   - the password never shows: the display of a parsed URL with a password
 *     is the same after the password is replaced by another one. Where the
 *     password is comes from the grammar in common/redis.h, read here on its
 *     own: in "scheme://[[user]:password@]rest" the userinfo ends at the
 *     last '@' before the end of the authority (the first '/', '?' or '#'
 *     for redis://; for unix:// the first '?', and only when the text after
 *     "unix://" does not start with '/').
 */
#include "common/redis.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz redis_url: check failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The raw password's place in url: [*from, *to). False when there is none. */
static int password_span(const char *url, size_t *from, size_t *to)
{
    const char *s, *end;
    if (strncasecmp(url, "redis://", 8) == 0) {
        s = url + 8;
        end = s + strcspn(s, "/?#");
    } else if (strncasecmp(url, "unix://", 7) == 0) {
        s = url + 7;
        if (*s == '/') return 0;
        end = s + strcspn(s, "?");
    } else {
        return 0;
    }
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@') at = p;
    if (!at) return 0;
    const char *colon = memchr(s, ':', (size_t)(at - s));
    *from = (size_t)((colon ? colon + 1 : s) - url);
    *to = (size_t)(at - url);
    return 1;
}

/* Bytes of the percent-decoded text of url[from, to). */
static size_t decoded_len(const char *url, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++, n++)
        if (url[i] == '%') i += 2;
    return n;
}

static void check_masked(const char *url, const kf_redis_url *u)
{
    size_t from, to;
    if (!u->password || !password_span(url, &from, &to)) return;
    CHECK(strlen(u->password) == decoded_len(url, from, to));
    if (u->user) {
        const char *s = strstr(url, "://") + 3;
        CHECK(strlen(u->user) == decoded_len(url, (size_t)(s - url), from - 1));
    }
    /* Another password of the same grammar: no '@', ':', '/', '?', '#'. */
    const char *other = "0ther-Pa55";
    size_t n = strlen(url), on = strlen(other);
    char *url2 = malloc(n - (to - from) + on + 1);
    if (!url2) abort();
    memcpy(url2, url, from);
    memcpy(url2 + from, other, on);
    memcpy(url2 + from + on, url + to, n - to + 1);
    kf_redis_url u2;
    char err[512];
    int rc = kf_redis_url_parse(url2, &u2, err, sizeof err);
    CHECK(rc == 0);
    if (strcmp(u->display, u2.display) != 0) {
        fprintf(stderr, "fuzz redis_url: the display shows the password:\n  %s\n  %s\n", u->display,
                u2.display);
        abort();
    }
    kf_redis_url_free(&u2);
    free(url2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *url = malloc(size + 1);
    if (!url) abort();
    memcpy(url, data, size);
    url[size] = '\0';

    kf_redis_url u;
    char err[512] = "";
    if (kf_redis_url_parse(url, &u, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        CHECK(!u.host && !u.path && !u.user && !u.password && !u.display);
    } else {
        CHECK((u.host != NULL) != (u.path != NULL));
        CHECK(u.path || (u.port >= 1 && u.port <= 65535));
        CHECK(u.db >= 0 && u.display);
        CHECK(!u.user || u.password);
        check_masked(url, &u);
        kf_redis_url_free(&u);
    }
    free(url);
    return 0;
}
