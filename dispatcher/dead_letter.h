/*
 * The on-failure destination's record: the original key, value and headers,
 * plus headers saying why it failed, how many attempts it had, where it came
 * from, which mapping and handler refused it, and which sinks its effect had
 * reached already:
 *   kfleet.error, kfleet.attempts, kfleet.source.topic,
 *   kfleet.source.partition, kfleet.source.offset, kfleet.source.timestamp
 *   (the source record's, -1 none), kfleet.handler,
 *   kfleet.mapping, kfleet.sinks.done (comma-separated sink names, "" none)
 * and, read back by `kfleet redrive`, what those headers say.
 *
 * Ownership: kf_dead_letter_build fills `dl` with heap memory that
 * kf_dead_letter_free releases; `dl` borrows the strings of its arguments
 * (the record's headers, `info`'s strings), which must outlive it.
 */
#ifndef KF_DEAD_LETTER_H
#define KF_DEAD_LETTER_H

#include "kfleet/handler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_dead_letter {
    kf_header *headers;
    size_t count;
    char *buf; /* the numbers' text */
} kf_dead_letter;

/* Why and where a record is dead-lettered. */
typedef struct kf_dead_letter_info {
    const char *why;        /* NULL: "unknown error" */
    int attempts;           /* every attempt the record had, redrives included */
    const char *handler;    /* NULL: "" */
    const char *mapping;    /* NULL: "" */
    const char *sinks_done; /* comma-separated names; NULL: "" */
} kf_dead_letter_info;

/* `r`'s own kfleet.* headers (a dead letter read back) are replaced by the
 * new ones. */
void kf_dead_letter_build(kf_dead_letter *dl, const kf_record *r, const kf_dead_letter_info *info);
void kf_dead_letter_free(kf_dead_letter *dl);

/* A header value: bytes in the record, not NUL-terminated. */
typedef struct kf_header_text {
    const char *p; /* NULL: the header is absent */
    size_t len;
} kf_header_text;

/* What a dead letter's headers say. The texts point into the headers. */
typedef struct kf_dead_letter_source {
    kf_header_text topic; /* kfleet.source.topic */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* kfleet.source.timestamp; -1 when absent */
    int attempts;         /* kfleet.attempts; 0 when absent */
    kf_header_text error, handler, mapping, sinks_done;
} kf_dead_letter_source;

/* Reads the kfleet.* headers of a dead letter. Returns 0, or -1 with err
 * naming the header that is missing or malformed (a record that is not a
 * kfleet dead letter has no kfleet.source.topic). */
int kf_dead_letter_parse(const kf_header *h, size_t n, kf_dead_letter_source *out, char *err,
                         size_t errlen);

/* Whether a comma-separated list of names holds `name`. */
bool kf_dead_letter_names_have(kf_header_text list, const char *name);

#endif
