/*
 * Releasing a parked key (`kfleet parked retry|drop`, eos/park.h): its
 * records leave the parked store head first, in offset order, each one only
 * after its effect is complete, and the last one taken releases the key
 * (its next record runs in the fleet again).
 *
 * retry  runs each record through the mapping's handler and sinks as the
 *        record it was (its source topic, partition and offset: HTTP
 *        receivers get the Idempotency-Keys of its first run; the sinks it
 *        had reached are skipped). A record that fails again stops the
 *        release: the key stays parked from that record on.
 * drop   sends each record to the mapping's on_failure.topic as a dead
 *        letter (`kfleet redrive` can take it from there), or with no topic
 *        just removes it.
 *
 * Exactly once, across a release that is killed and run again: the Redis
 * and HTTP effects are marked under the key's own namespace, group
 * "<group_id>.park.<16 hex digits of the key's hash>" on the source
 * partition, with its own epoch (a second release of the key fences the
 * first); the Kafka outputs (a retry's, or a drop's dead letter) commit in
 * one transaction with that group's offset for the source partition, the
 * key's offsets being increasing; only then is the record taken off the
 * store. A record is released only once the fleet has committed its offset,
 * so no replay of the fleet can run it again.
 */
#ifndef KF_PARK_RELEASE_H
#define KF_PARK_RELEASE_H

#include "config/config.h"
#include "handlers/loader.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kf_release_mode { KF_RELEASE_RETRY, KF_RELEASE_DROP } kf_release_mode;

typedef struct kf_release_result {
    int64_t released;  /* records taken off the store */
    int64_t skipped;   /* of those, records whose effect was complete already */
    bool key_released; /* the store holds no record of the key any more */
    char why[1024];    /* why it stopped before that, "" when it did not */
} kf_release_result;

/*
 * Releases the key whose store field is `field` (eos/park.h) in
 * topic[partition] of mapping m. `h` is m's loaded handler (retry only).
 * Waits up to wait_ms for the fleet to commit a record before releasing it.
 * Returns 0 when the key was released, 1 when it stopped on a record
 * (res->why says which and why), -1 when it could not start (res->why).
 */
int kf_park_release(const kf_config *cfg, const kf_mapping_config *m, kf_loaded_handler *h,
                    const char *topic, int32_t partition, const char *field, size_t field_len,
                    kf_release_mode mode, int wait_ms, const atomic_int *stop,
                    kf_release_result *res);

/* The group a key's release commits under (see above); into out. */
void kf_park_release_group(const kf_mapping_config *m, const char *field, size_t field_len,
                           char *out, size_t outlen);

#endif
