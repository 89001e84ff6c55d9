/*
 * Fuzz target: the config loader (config/config.c, the tables it reads with
 * and their readers, config/json_path.c, config/config_props.c) with the
 * built-in sink types registered.
 *
 * The input is a config file, loaded both ways a user can: from a file
 * (kf_config_load_file, through a memfd) and, when it holds no NUL byte,
 * from a string (kf_config_load_string) under the same origin. Checks:
 *   - both ways agree: the same result and the same error text;
 *   - an error is exactly one non-empty line starting with the origin
 *     (json_path.h's contract), and leaves no config behind;
 *   - a loaded config has what config.h promises: at least one mapping,
 *     each with topics, sinks, a group id and a handler, names found by
 *     kf_config_find_sink, and values in their documented ranges.
 * `${VAR}` expansion runs with a few variables set (below), so the corpus can
 * reach both the set and the unset case.
 */
#include "config/config.h"
#include "sinks/registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz config: check failed: %s (line %d)\n", #c, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    kf_sinks_init();
    setenv("KF_FUZZ_BROKERS", "127.0.0.1:9092", 1);
    setenv("KF_FUZZ_EMPTY", "", 1);
    setenv("KF_FUZZ_DOLLAR", "${KF_FUZZ_BROKERS}", 1); /* never expanded twice */
    setenv("KF_FUZZ_QUOTE", "\"}\\\n", 1);
    unsetenv("KF_FUZZ_UNSET");
    memfd = memfd_create("kf-fuzz-config", 0);
    if (memfd < 0) abort();
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

static void check_error(int rc, const kf_config *cfg, const char *err)
{
    CHECK(rc == -1 && cfg == NULL);
    CHECK(err[0] != '\0');
    CHECK(strchr(err, '\n') == NULL);
    CHECK(strncmp(err, memfd_path, strlen(memfd_path)) == 0);
}

static void check_mapping(const kf_mapping_config *m)
{
    CHECK(m->name && m->name[0] && m->group_id && m->group_id[0]);
    CHECK(m->handler.path && m->handler.config_json);
    CHECK(m->topic_count > 0 && m->sink_count > 0);
    for (size_t i = 0; i < m->topic_count; i++)
        CHECK(m->topics[i] && m->topics[i][0]);
    for (size_t i = 0; i < m->sink_count; i++) {
        const kf_sink_config *s = &m->sinks[i];
        CHECK(kf_config_find_sink(m, s->name) == s);
        CHECK(strcmp(kf_sink_type_name(s->type), "unknown") != 0);
        CHECK(s->type != KF_SINK_KAFKA || s->topic);
        CHECK(s->type != KF_SINK_REDIS || s->key);
        CHECK(s->type != KF_SINK_HTTP || (s->url && s->timeout_ms >= 1));
        for (size_t h = 0; h < s->headers.count; h++)
            CHECK(s->headers.names[h][0] && !strpbrk(s->headers.values[h], "\r\n"));
    }
    CHECK(m->batch.max_records >= 1 && m->batch.max_records <= 10000);
    CHECK(m->batch.max_bytes >= 1 && m->batch.max_bytes <= 67108864);
    CHECK(m->concurrency.threads >= 1 && m->concurrency.threads <= 1024);
    CHECK(m->concurrency.max_inflight >= m->batch.max_records);
    CHECK(m->retry.max_attempts >= 1 && m->retry.backoff_ms <= m->retry.max_backoff_ms);
    CHECK(m->retry.max_record_age_ms == -1 || m->retry.max_record_age_ms >= 1);
    CHECK(!m->idempotency.key_header || !m->idempotency.key_json);
    CHECK(!(m->idempotency.key_header || m->idempotency.key_json) || m->exactly_once);
    CHECK(m->starting_position != KF_START_TIMESTAMP || m->start_timestamp_ms >= 0);
}

static void check_config(const kf_config *cfg)
{
    CHECK(cfg->brokers && cfg->brokers[0] && cfg->redis_url && cfg->redis_key_prefix);
    CHECK(strncmp(cfg->redis_url, "redis://", 8) == 0 && cfg->log_level);
    CHECK(cfg->mapping_count > 0);
    for (size_t i = 0; i < cfg->mapping_count; i++) {
        check_mapping(&cfg->mappings[i]);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(cfg->mappings[i].name, cfg->mappings[j].name) != 0);
            CHECK(strcmp(cfg->mappings[i].group_id, cfg->mappings[j].group_id) != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();

    char err[1024] = "", err2[1024] = "";
    kf_config *cfg = NULL, *cfg2 = NULL;
    int rc = kf_config_load_file(memfd_path, &cfg, err, sizeof err);
    if (rc == 0)
        check_config(cfg);
    else
        check_error(rc, cfg, err);

    if (!memchr(data, '\0', size)) {
        char *json = malloc(size + 1);
        if (!json) abort();
        memcpy(json, data, size);
        json[size] = '\0';
        int rc2 = kf_config_load_string(json, memfd_path, &cfg2, err2, sizeof err2);
        CHECK(rc2 == rc);
        CHECK(strcmp(err, err2) == 0);
        free(json);
    }
    kf_config_destroy(cfg);
    kf_config_destroy(cfg2);
    return 0;
}
