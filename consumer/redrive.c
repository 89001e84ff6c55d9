#include "consumer/redrive.h"

#include "common/log.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/origin.h"

#include <stdlib.h>
#include <string.h>

static const char *C = "redrive";

struct kf_redrive {
    const kf_mapping_config *m;
    const kf_redrive_opts *o;
    const char **sinks; /* the mapping's sink names, for kfleet.sinks.done */
    kf_redrive_progress progress;
    bool warned_foreign; /* said once that some records are not dead letters */
};

kf_redrive *kf_redrive_new(const kf_mapping_config *m)
{
    kf_redrive *rd = calloc(1, sizeof *rd);
    if (!rd) return NULL;
    rd->m = m;
    rd->o = m->redrive;
    rd->sinks = calloc(m->sink_count ? m->sink_count : 1, sizeof *rd->sinks);
    if (!rd->sinks) {
        free(rd);
        return NULL;
    }
    for (size_t s = 0; s < m->sink_count; s++)
        rd->sinks[s] = m->sinks[s].name;
    return rd;
}

void kf_redrive_destroy(kf_redrive *rd)
{
    if (!rd) return;
    free(rd->sinks);
    free(rd);
}

const kf_redrive_progress *kf_redrive_progress_of(const kf_redrive *rd)
{
    return &rd->progress;
}

static void end(kf_redrive *rd, kf_partition *p, int64_t offset, const char *why)
{
    if (p->redrive_end) return;
    p->redrive_end = true;
    kf_info(C, "mapping %s: %s[%d] stops at offset %lld: %s", rd->m->name, p->topic, p->partition,
            (long long)offset, why);
}

/* Whether the dead letter is this mapping's: its kfleet.mapping names it,
 * or (a dead letter from before that header) its source topic is one of the
 * mapping's topics. */
static bool ours(const kf_redrive *rd, const kf_dead_letter_source *src)
{
    if (src->mapping.p && src->mapping.len)
        return strlen(rd->m->name) == src->mapping.len &&
               memcmp(rd->m->name, src->mapping.p, src->mapping.len) == 0;
    for (size_t i = 0; i < rd->o->source_topic_count; i++) {
        const char *t = rd->o->source_topics[i];
        if (strlen(t) == src->topic.len && memcmp(t, src->topic.p, src->topic.len) == 0)
            return true;
    }
    return false;
}

static kf_redrive_verdict pass(kf_redrive *rd)
{
    atomic_fetch_add(&rd->progress.read, 1);
    atomic_fetch_add(&rd->progress.passed, 1);
    return KF_REDRIVE_PASS;
}

kf_redrive_verdict kf_redrive_judge(kf_redrive *rd, rd_kafka_t *rk, kf_partition *p, int64_t offset,
                                    int64_t ts, const kf_header *h, size_t n)
{
    if (p->redrive_end) return KF_REDRIVE_LEAVE;
    if (p->redrive_hw < 0) {
        /* The end as it is now: what is written later (this redrive's own
         * dead letters too) waits for the next one. Asked once, at the
         * partition's first record. */
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, 10000);
        if (e) {
            kf_warn(C,
                    "mapping %s: %s[%d]: cannot read its end offset (%s); reading to the end "
                    "librdkafka reports",
                    rd->m->name, p->topic, p->partition, rd_kafka_err2str(e));
            hi = INT64_MAX;
        }
        p->redrive_hw = hi;
    }
    if (offset >= p->redrive_hw) {
        end(rd, p, offset, "the end it had when the redrive reached it");
        return KF_REDRIVE_LEAVE;
    }
    kf_dead_letter_source src;
    char err[256];
    if (kf_dead_letter_parse(h, n, &src, err, sizeof err) != 0) {
        if (!rd->warned_foreign)
            kf_warn(C, "mapping %s: %s[%d]@%lld passed over: %s (said once)", rd->m->name, p->topic,
                    p->partition, (long long)offset, err);
        rd->warned_foreign = true;
        return pass(rd);
    }
    if (!ours(rd, &src) || (ts >= 0 && ts < rd->o->since_ms)) return pass(rd);
    if (ts >= 0 && ts > rd->o->until_ms) {
        end(rd, p, offset, "written after --until");
        return KF_REDRIVE_LEAVE;
    }
    if (rd->o->limit > 0 && atomic_load(&rd->progress.taken) >= (uint_fast64_t)rd->o->limit) {
        end(rd, p, offset, "--limit reached");
        return KF_REDRIVE_LEAVE;
    }
    atomic_fetch_add(&rd->progress.read, 1);
    atomic_fetch_add(&rd->progress.taken, 1);
    return KF_REDRIVE_TAKE;
}

int kf_redrive_attach(kf_redrive *rd, kf_rec *r)
{
    kf_dead_letter_source src;
    char err[256];
    if (kf_dead_letter_parse(r->view.headers, r->view.header_count, &src, err, sizeof err) != 0)
        return -1; /* judged a dead letter from the same headers: cannot happen */
    r->origin = kf_origin_new(&r->view, &src, rd->sinks, rd->m->sink_count);
    return r->origin ? 0 : -1;
}

void kf_redrive_eof(kf_redrive *rd, kf_partition *p, int64_t offset)
{
    /* At or past the end it had when first read; a partition never read
     * (nothing to redrive in it) ends at its first EOF. */
    if (p->redrive_hw < 0 || offset >= p->redrive_hw) end(rd, p, offset, "its end");
}

void kf_redrive_check(kf_redrive *rd, kf_partition *const *parts, size_t n, size_t unsubmitted,
                      int64_t inflight)
{
    if (atomic_load(&rd->progress.over)) return;
    if (n == 0 || unsubmitted || inflight > 0) return;
    for (size_t i = 0; i < n; i++)
        if (!parts[i]->redrive_end) return;
    atomic_store(&rd->progress.over, 1);
}
