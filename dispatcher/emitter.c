#include "dispatcher/emitter.h"

#include "dispatcher/packed.h"
#include "dispatcher/record.h"

#include <stdlib.h>
#include <string.h>

/* The input's W3C trace context is carried to every output that has none. */
static const kf_header *find_traceparent(const kf_record *r)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (strcmp(r->headers[i].name, "traceparent") == 0) return &r->headers[i];
    return NULL;
}

static int emit_headers(kf_emitter *base, const char *sink, const void *key, size_t key_len,
                        const void *value, size_t value_len, const kf_header *hdrs, size_t nh)
{
    kf_rec_emitter *em = (kf_rec_emitter *)base;
    int idx = -1;
    if (sink) {
        for (size_t i = 0; i < em->sink_count; i++)
            if (strcmp(em->sink_names[i], sink) == 0) idx = (int)i;
        if (idx < 0) {
            em->unknown_sink = 1;
            return -1;
        }
    }
    const kf_header *tp = find_traceparent(&em->rec->view);
    for (size_t i = 0; tp && i < nh; i++)
        if (strcmp(hdrs[i].name, "traceparent") == 0) tp = NULL;
    kf_output *o = malloc(sizeof *o + kf_pack_size(hdrs, nh, tp, key_len, value_len));
    if (!o) return -1;
    kf_packed pk;
    kf_pack(o + 1, hdrs, nh, tp, key, key_len, value, value_len, &pk);
    o->key = pk.key;
    o->key_len = pk.key_len;
    o->value = pk.value;
    o->value_len = pk.value_len;
    o->headers = pk.headers;
    o->header_count = pk.header_count;
    o->sink = idx;
    o->next = NULL;
    *em->rec->outputs_tail = o;
    em->rec->outputs_tail = &o->next;
    return 0;
}

static int emit(kf_emitter *base, const char *sink, const void *key, size_t key_len,
                const void *value, size_t value_len)
{
    return emit_headers(base, sink, key, key_len, value, value_len, NULL, 0);
}

void kf_rec_emitter_init(kf_rec_emitter *em, struct kf_rec *rec, const char *const *sink_names,
                         size_t sink_count)
{
    em->base.struct_size = sizeof em->base;
    em->base.emit = emit;
    em->base.emit_headers = emit_headers;
    em->rec = rec;
    em->sink_names = sink_names;
    em->sink_count = sink_count;
    em->unknown_sink = 0;
}

void kf_rec_free_outputs(kf_rec *r)
{
    kf_output *o = r->outputs;
    while (o) {
        kf_output *n = o->next;
        free(o);
        o = n;
    }
    r->outputs = NULL;
    r->outputs_tail = &r->outputs;
}

void kf_rec_clear_outputs(kf_rec *r)
{
    kf_rec_free_outputs(r);
    kf_staged_free_list(r->staged);
    r->staged = NULL;
}
