#include "tests/tools/lib/tool_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double tool_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tool_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: property %s=%s: %s\n", program_invocation_short_name, name, value,
                err);
        return -1;
    }
    return 0;
}

rd_kafka_topic_partition_list_t *tool_partitions(rd_kafka_t *rk, const char *topic, int64_t offset,
                                                 double timeout_s)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *l = NULL;
    double deadline = tool_now_s() + timeout_s;
    while (!l && tool_now_s() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
                l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
                for (int i = 0; i < md->topics[0].partition_cnt; i++)
                    rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)
                        ->offset = offset;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (!l) usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    if (!l) fprintf(stderr, "%s: no metadata for topic %s\n", program_invocation_short_name, topic);
    return l;
}

void tool_raw_fill(unsigned char *buf, size_t n, long long id)
{
    size_t pos = 0;
    char head[32];
    int hl = snprintf(head, sizeof(head), "#%lld#", id);
    if (hl > 0 && (size_t)hl <= n) {
        memcpy(buf, head, (size_t)hl);
        pos = (size_t)hl;
    }
    for (size_t i = pos; i < n; i++)
        buf[i] = (unsigned char)((unsigned long long)id * 131u + i * 17u);
}
