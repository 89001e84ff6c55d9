#include "dispatcher/rec_log.h"

#include "common/traceparent.h"
#include "dispatcher/origin.h"

#include <stdarg.h>

void kf_rec_log(kf_log_level lvl, const char *component, const char *mapping, const kf_rec *r,
                const char *fmt, ...)
{
    if (!kf_log_enabled(lvl)) return;
    /* A redriven record's headers are its source's, kfleet.* left out:
     * the traceparent it was produced with. */
    const kf_record *seen = r->origin ? &r->origin->view : &r->view;
    char trace[KF_TRACE_ID_LEN + 1];
    kf_trace_id_of(seen->headers, seen->header_count, trace);
    kf_log_fields f = {.mapping = mapping,
                       .topic = r->view.topic,
                       .partition = r->view.partition,
                       .offset = r->view.offset,
                       .trace_id = trace};
    if (r->origin) {
        f.source_topic = seen->topic;
        f.source_partition = seen->partition;
        f.source_offset = seen->offset;
    }
    va_list ap;
    va_start(ap, fmt);
    kf_logv_rec(lvl, component, &f, fmt, ap);
    va_end(ap);
}

void kf_part_log(kf_log_level lvl, const char *component, const char *mapping,
                 const kf_partition *p, const char *fmt, ...)
{
    if (!kf_log_enabled(lvl)) return;
    kf_log_fields f = {
        .mapping = mapping, .topic = p->topic, .partition = p->partition, .offset = -1};
    va_list ap;
    va_start(ap, fmt);
    kf_logv_rec(lvl, component, &f, fmt, ap);
    va_end(ap);
}
