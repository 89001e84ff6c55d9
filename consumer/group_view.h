/*
 * What the brokers say of a mapping's consumer group, read from outside the
 * group (`kfleet status`): the partitions of its topics, the group's
 * committed offset, start and end of each, and the group's members with
 * their assignments. It never joins the group, never subscribes and commits
 * nothing, so it can run beside a live fleet.
 *
 * How, with librdkafka 2.0.2:
 *   - partitions: one metadata request for every topic (a "^regex" topic is
 *     matched against the cluster's topic names with POSIX extended regular
 *     expressions, where librdkafka uses its own engine: the two agree on
 *     the usual patterns);
 *   - committed offsets: rd_kafka_committed on a consumer whose group.id is
 *     the mapping's, read_uncommitted so that an open transaction's offsets
 *     never make it wait (the last offsets that did commit are shown);
 *   - start and end: rd_kafka_query_watermark_offsets per partition. The end
 *     is the high watermark, and for an exactly_once mapping the last stable
 *     offset instead (a second client, read_committed: ListOffsets answers
 *     the last stable offset to it), which is where the fleet's
 *     read_committed consumers stop; the high watermark is kept beside it;
 *   - members: the AdminAPI rd_kafka_DescribeConsumerGroups (in librdkafka
 *     since 2.0.0), which decodes each member's assignment.
 * Every call gets what is left of one deadline (timeout_ms for the whole
 * read).
 *
 * Ownership: a kf_group_view owns all its strings and arrays
 * (kf_group_view_clear).
 */
#ifndef KF_GROUP_VIEW_H
#define KF_GROUP_VIEW_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_group_partition {
    char *topic;
    int32_t partition;
    int64_t committed; /* -1: the group never committed an offset here */
    int64_t start;     /* the log start offset; -1: unknown */
    int64_t end;       /* the high watermark, or the last stable offset with last_stable; -1 */
    int64_t high;      /* the high watermark; -1: unknown */
    /* Records the group has still to process: end minus the committed offset
     * (minus the start when the committed offset fell below it). Nothing
     * committed: from the start, or 0 for starting_position latest (such a
     * group begins at the end). -1 when end is unknown. */
    int64_t lag;
    int member;    /* index into the view's members of the one assigned it; -1: none */
    char err[160]; /* "" or why a number is missing */
} kf_group_partition;

typedef struct kf_group_tp {
    char *topic;
    int32_t partition;
} kf_group_tp;

typedef struct kf_group_member {
    char *member_id, *client_id, *host;
    kf_group_tp *assigned;
    size_t nassigned;
} kf_group_member;

typedef struct kf_group_view {
    bool last_stable; /* `end` is the last stable offset (exactly_once) */
    char state[32];   /* the group's state as the coordinator says: Stable, Empty, Dead... */
    kf_group_member *members;
    size_t nmembers;
    kf_group_partition *parts; /* by topic, then partition */
    size_t nparts;
    char **missing; /* the mapping's topics the cluster does not have, and its
                     * "^regex" topics that match none of the cluster's */
    size_t nmissing;
} kf_group_view;

/* Reads mapping m's group (m->group_id) into *out. Returns 0 when every
 * request was answered; -1 with err naming the first that was not (no
 * broker within timeout_ms, a coordinator that did not answer...), *out then
 * holding what was read (a partition's own failure in its err). A topic
 * that does not exist, or a pattern that matches none, is not a failure:
 * it is listed in out->missing. */
int kf_group_view_read(const kf_config *cfg, const kf_mapping_config *m, int timeout_ms,
                       kf_group_view *out, char *err, size_t errlen);
void kf_group_view_clear(kf_group_view *v);

#endif
