#include "dispatcher/origin.h"

#include <stdlib.h>
#include <string.h>

kf_origin *kf_origin_new(const kf_record *dl, const kf_dead_letter_source *src,
                         const char *const *sinks, size_t sink_count)
{
    kf_origin *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->topic = strndup(src->topic.p, src->topic.len);
    o->headers = calloc(dl->header_count ? dl->header_count : 1, sizeof *o->headers);
    if (!o->topic || !o->headers) {
        kf_origin_free(o);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < dl->header_count; i++)
        if (strncmp(dl->headers[i].name, "kfleet.", 7) != 0) o->headers[k++] = dl->headers[i];
    o->view = *dl;
    o->view.topic = o->topic;
    o->view.partition = src->partition;
    o->view.offset = src->offset;
    if (src->timestamp_ms >= 0) o->view.timestamp_ms = src->timestamp_ms;
    o->view.headers = o->headers;
    o->view.header_count = k;
    o->prior_attempts = src->attempts;
    for (size_t s = 0; s < sink_count && s < 32; s++)
        if (kf_dead_letter_names_have(src->sinks_done, sinks[s])) o->done |= 1u << s;
    return o;
}

void kf_origin_free(kf_origin *o)
{
    if (!o) return;
    free(o->topic);
    free(o->headers);
    free(o);
}
