/*
 * flaky — fails on demand, for tests, demos and benchmarks. Otherwise it
 * behaves like echo (same key, same value, every sink).
 *
 * Config (handler.config), every key optional:
 *     {
 *       "fail_if_contains":  "POISON",  value contains it -> KF_FAIL (to the DLQ)
 *       "retry_if_contains": "RETRY",   value contains it -> KF_RETRY while
 *                                       record->attempt <= retry_times, then OK
 *       "retry_times":       2,         0.. ; with 2: attempts 1 and 2 retry, 3 succeeds
 *       "sleep_ms":          0          sleep this long per record (a slow handler)
 *     }
 * An empty string turns its trigger off. Unknown keys are init errors, so a
 * typo in a test config fails loudly instead of silently doing nothing.
 *
 * The retry behaviour is driven by record->attempt, which the host fills in,
 * so flaky needs no memory of earlier attempts and stays stateless per call.
 *
 * Threads: the state is read-only after init; handle runs on any number of
 * threads at once without locks.
 */
/* For memmem and strdup when built with a bare `cc` line (CMake defines it already). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "kfleet/handler.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct flaky {
    char *fail_if;  /* owned; "" = never */
    char *retry_if; /* owned; "" = never */
    int retry_times;
    int sleep_ms;
};

static void flaky_free(struct flaky *f)
{
    if (!f) return;
    free(f->fail_if);
    free(f->retry_if);
    free(f);
}

/* Reads an integer config value in [lo, hi]; returns 0 or -1 with err filled. */
static int int_option(const cJSON *item, int lo, int hi, int *out, char *err, size_t errlen)
{
    /* Range before the cast: converting an out-of-range double to int is undefined. */
    if (!cJSON_IsNumber(item) || item->valuedouble < lo || item->valuedouble > hi ||
        item->valuedouble != (double)(int)item->valuedouble) {
        char *got = cJSON_PrintUnformatted(item);
        snprintf(err, errlen, "handler.config.%s: expected an integer %d..%d, got %s", item->string,
                 lo, hi, got ? got : "something else");
        cJSON_free(got);
        return -1;
    }
    *out = (int)item->valuedouble;
    return 0;
}

/* Replaces *slot with a copy of a string config value; returns 0 or -1. */
static int str_option(const cJSON *item, char **slot, char *err, size_t errlen)
{
    if (!cJSON_IsString(item)) {
        char *got = cJSON_PrintUnformatted(item);
        snprintf(err, errlen, "handler.config.%s: expected a string, got %s", item->string,
                 got ? got : "something else");
        cJSON_free(got);
        return -1;
    }
    char *copy = strdup(item->valuestring);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static int flaky_init(const char *config_json, void **state, char *err, size_t errlen)
{
    struct flaky *f = calloc(1, sizeof *f);
    cJSON *cfg = cJSON_Parse(config_json);
    if (!f || !(f->fail_if = strdup("POISON")) || !(f->retry_if = strdup("RETRY"))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    f->retry_times = 2;
    if (!cJSON_IsObject(cfg)) {
        snprintf(err, errlen, "handler.config: expected a JSON object");
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cfg)
    {
        int rc;
        if (strcmp(it->string, "fail_if_contains") == 0)
            rc = str_option(it, &f->fail_if, err, errlen);
        else if (strcmp(it->string, "retry_if_contains") == 0)
            rc = str_option(it, &f->retry_if, err, errlen);
        else if (strcmp(it->string, "retry_times") == 0)
            rc = int_option(it, 0, 1000000, &f->retry_times, err, errlen);
        else if (strcmp(it->string, "sleep_ms") == 0)
            rc = int_option(it, 0, 3600000, &f->sleep_ms, err, errlen);
        else {
            snprintf(err, errlen,
                     "handler.config.%s: unknown key (flaky knows fail_if_contains, "
                     "retry_if_contains, retry_times, sleep_ms)",
                     it->string);
            rc = -1;
        }
        if (rc != 0) goto fail;
    }
    cJSON_Delete(cfg);
    *state = f;
    return 0;

fail:
    cJSON_Delete(cfg);
    flaky_free(f);
    return -1;
}

/* True when the record's value contains `needle` (never for "" or a null value). */
static int value_contains(const kf_record *rec, const char *needle)
{
    size_t n = strlen(needle);
    return n > 0 && rec->value && memmem(rec->value, rec->value_len, needle, n) != NULL;
}

/* Sleeps the whole `ms`, resuming after signals. */
static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static kf_result flaky_handle(void *state, const kf_record *rec, kf_emitter *em)
{
    const struct flaky *f = state;

    if (f->sleep_ms > 0) sleep_ms(f->sleep_ms);

    if (value_contains(rec, f->fail_if)) return KF_FAIL;
    /* attempt is 1 on the first delivery: retry_times=2 gives RETRY, RETRY, OK. */
    if (value_contains(rec, f->retry_if) && rec->attempt <= f->retry_times) return KF_RETRY;

    if (kf_emit(em, NULL, rec->key, rec->key_len, rec->value, rec->value_len) != 0) return KF_FAIL;
    return KF_OK;
}

static void flaky_fini(void *state)
{
    flaky_free(state);
}

static const kf_handler flaky_handler = {
    .abi_version = KF_ABI_VERSION,
    .struct_size = sizeof(kf_handler),
    .name = "flaky",
    .init = flaky_init,
    .handle = flaky_handle,
    .fini = flaky_fini,
};

KF_HANDLER_EXPORT const kf_handler *kf_handler_entry(void)
{
    return &flaky_handler;
}
