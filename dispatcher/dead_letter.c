#include "dispatcher/dead_letter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KF_DL_EXTRA 6

void kf_dead_letter_build(kf_dead_letter *dl, const kf_record *r, const char *why, int attempts,
                          const char *handler)
{
    memset(dl, 0, sizeof *dl);
    size_t n = r->header_count + KF_DL_EXTRA;
    dl->headers = calloc(n, sizeof *dl->headers);
    dl->buf = malloc(64);
    if (!dl->headers || !dl->buf) {
        free(dl->headers);
        free(dl->buf);
        memset(dl, 0, sizeof *dl);
        return;
    }
    /* Three numbers in one buffer: attempts, partition, offset. */
    char *a = dl->buf, *p = a + 12, *o = p + 12;
    snprintf(a, 12, "%d", attempts);
    snprintf(p, 12, "%d", r->partition);
    snprintf(o, 24, "%lld", (long long)r->offset);
    size_t k = 0;
    for (size_t i = 0; i < r->header_count; i++) {
        /* An input that is itself a dead letter loses its kfleet.* headers:
         * this failure's replace them. */
        if (strncmp(r->headers[i].name, "kfleet.", 7) == 0) continue;
        dl->headers[k++] = r->headers[i];
    }
    const char *why_s = why ? why : "unknown error";
    const char *h = handler ? handler : "";
    kf_header extra[KF_DL_EXTRA] = {
        {"kfleet.error", why_s, strlen(why_s)},
        {"kfleet.attempts", a, strlen(a)},
        {"kfleet.source.topic", r->topic, strlen(r->topic)},
        {"kfleet.source.partition", p, strlen(p)},
        {"kfleet.source.offset", o, strlen(o)},
        {"kfleet.handler", h, strlen(h)},
    };
    for (size_t i = 0; i < KF_DL_EXTRA; i++)
        dl->headers[k++] = extra[i];
    dl->count = k;
}

void kf_dead_letter_free(kf_dead_letter *dl)
{
    free(dl->headers);
    free(dl->buf);
    memset(dl, 0, sizeof *dl);
}
