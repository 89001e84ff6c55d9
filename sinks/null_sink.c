/*
 * The null sink: discards every message and acknowledges it at once.
 * For benchmarks, and for mappings whose handlers only have side effects.
 */
#include "sinks/sink.h"

static int null_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                     char *err, size_t errlen)
{
    (void)s, (void)cfg, (void)env, (void)err, (void)errlen;
    *self = NULL;
    return 0;
}

static void null_write(void *self, void *ws, const kf_sink_msg *msg)
{
    (void)self, (void)ws;
    msg->ack(msg->ack_opaque, KF_STATUS_OK, NULL);
}

static void null_close(void *self)
{
    (void)self;
}

static const kf_cfg_table CONFIG = {
    .doc = "discards every output (for benchmarks and handlers with side effects only)",
};

const kf_sink_ops kf_sink_null_ops = {
    .type = "null",
    .config = &CONFIG,
    .open = null_open,
    .write = null_write,
    .close = null_close,
};
