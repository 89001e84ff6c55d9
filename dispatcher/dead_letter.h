/*
 * The on-failure destination's record: the original key, value and headers,
 * plus headers saying why it failed, how many attempts it had, where it came
 * from and which handler refused it:
 *   kfleet.error, kfleet.attempts, kfleet.source.topic,
 *   kfleet.source.partition, kfleet.source.offset, kfleet.handler
 * Ownership: kf_dead_letter_build fills `dl` with heap memory that
 * kf_dead_letter_free releases; `dl` borrows nothing from its arguments.
 */
#ifndef KF_DEAD_LETTER_H
#define KF_DEAD_LETTER_H

#include "kfleet/handler.h"

#include <stddef.h>

typedef struct kf_dead_letter {
    kf_header *headers;
    size_t count;
    char *buf; /* the numbers' text */
} kf_dead_letter;

void kf_dead_letter_build(kf_dead_letter *dl, const kf_record *r, const char *why, int attempts,
                          const char *handler);
void kf_dead_letter_free(kf_dead_letter *dl);

#endif
