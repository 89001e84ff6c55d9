/*
 * One input line of `kfleet invoke` (JSONL) turned into a record:
 *
 *   {"key": "k1", "value": "text" | {...}, "headers": {"name": "value"},
 *    "topic": "orders", "partition": 0, "offset": 7, "timestamp": 1700000000000}
 *
 * Every field is optional. A value that is not a string is serialised as
 * JSON; a null or absent key or value is a null one. "topic" defaults to
 * "invoke", "partition" (an integer 0..2147483647) to 0, "offset" (an
 * integer 0..2^53-1) to the previous line's offset + 1 (0 for the first
 * line) and "timestamp" (milliseconds, an integer -1..2^53-1) to the wall
 * clock. At most 64 headers, each a string.
 *
 * Ownership: the returned record is the caller's (kf_rec_free). *part is the
 * partition the previous line used (NULL at first): it is kept when topic
 * and partition stay the same, else released and replaced; the caller
 * releases the last one with kf_partition_unref.
 */
#ifndef KF_INVOKE_INPUT_H
#define KF_INVOKE_INPUT_H

#include "dispatcher/record.h"

#include <stddef.h>
#include <stdint.h>

/* Parses the NUL-terminated `line`. *next_offset is the offset of a line
 * without one, and is set to the record's offset + 1. Returns the record, or
 * NULL with a sentence in err (bad input or out of memory). */
kf_rec *kf_invoke_parse_line(const char *line, kf_partition **part, int64_t *next_offset, char *err,
                             size_t errlen);

#endif /* KF_INVOKE_INPUT_H */
