/*
 * The emitter a handler writes its outputs through. Outputs are captured on
 * the record (copied, one allocation each) while the handler runs; the worker
 * hands them to the sinks only when the handler returned KF_OK, so a retried
 * or failed record leaves no partial effect behind.
 */
#ifndef KF_EMITTER_H
#define KF_EMITTER_H

#include "kfleet/handler.h"

#include <stddef.h>

struct kf_rec;

typedef struct kf_output {
    struct kf_output *next;
    int sink;        /* index into the mapping's sinks, or -1 for every sink */
    const void *key; /* NULL for a null key */
    size_t key_len;
    const void *value;
    size_t value_len;
    kf_header *headers;
    size_t header_count;
} kf_output;

/* Binds a kf_emitter to one record. `sink_names` lives as long as the mapping. */
typedef struct kf_rec_emitter {
    kf_emitter base;
    struct kf_rec *rec;
    const char *const *sink_names;
    size_t sink_count;
    int unknown_sink; /* set when the handler named a sink that does not exist */
} kf_rec_emitter;

void kf_rec_emitter_init(kf_rec_emitter *em, struct kf_rec *rec, const char *const *sink_names,
                         size_t sink_count);

#endif
