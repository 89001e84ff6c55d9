/*
 * The one outcome vocabulary of kfleet's internal calls that can fail for a
 * while: sink acks, the exactly-once state in Redis, the transactional
 * producer. (A handler's own answer is kf_result, the ABI in
 * include/kfleet/handler.h.)
 */
#ifndef KF_STATUS_H
#define KF_STATUS_H

typedef enum kf_status {
    KF_STATUS_OK = 0,
    /* Transient: the same call may succeed later (a dependency is down, busy
     * or slow, or the reply was lost). Spends no attempt of the record. */
    KF_STATUS_RETRY,
    /* Permanent for this input: the record goes to the on-failure destination. */
    KF_STATUS_FAIL,
    /* Exactly-once: this process no longer owns what it worked on (a newer
     * owner has the partition, or a transaction's outcome is unknown): drop
     * the work and take the partition anew from its committed offset. */
    KF_STATUS_FENCED,
} kf_status;

#endif /* KF_STATUS_H */
