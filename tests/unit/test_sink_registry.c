/*
 * Unit tests for sinks/registry.c: the built-in types keep their ids, a
 * program can register a sink type of its own, and that type is then a
 * first-class sink: the config accepts it (with its own keys, validated from
 * its table), `kfleet config reference` documents it, and records go
 * through it like through any sink.
 */
#include "config/config.h"
#include "config/reference.h"
#include "sinks/registry.h"
#include "sinks/sink.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fake sink: remembers "<prefix><value>" of each message ---- */

static char captured[8][64];
static int ncaptured;

static int capture_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                        char *err, size_t errlen)
{
    (void)s, (void)env, (void)err, (void)errlen;
    *self = cfg->key; /* the prefix; the config copy lives until close */
    return 0;
}

static void capture_write(void *self, void *ws, const kf_sink_msg *msg)
{
    (void)ws;
    if (ncaptured < 8)
        snprintf(captured[ncaptured++], sizeof captured[0], "%s%.*s", (const char *)self,
                 (int)msg->value_len, (const char *)msg->value);
    msg->ack(msg->ack_opaque, KF_STATUS_OK, NULL);
}

static void capture_close(void *self)
{
    (void)self;
}

static const kf_cfg_key CAPTURE_KEYS[] = {
    {.name = "prefix",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = offsetof(kf_sink_config, key),
     .doc = "put before each value"},
    {.name = "limit",
     .kind = KF_CFG_INT,
     .at = offsetof(kf_sink_config, timeout_ms),
     .min = 1,
     .max = 8,
     .def = 8,
     .doc = "how many outputs are kept"},
};

static const kf_cfg_table CAPTURE_CONFIG = {
    .doc = "keeps outputs in memory (a test sink)",
    .keys = CAPTURE_KEYS,
    .count = KF_CFG_COUNT(CAPTURE_KEYS),
};

static const kf_sink_ops capture_ops = {
    .type = "capture",
    .caps = KF_SINK_CAP_MARKS,
    .config = &CAPTURE_CONFIG,
    .open = capture_open,
    .write = capture_write,
    .close = capture_close,
};

/* Another type that wants a built-in's name. */
static const kf_sink_ops impostor_ops = {
    .type = "kafka",
    .config = &CAPTURE_CONFIG,
    .open = capture_open,
    .write = capture_write,
    .close = capture_close,
};

static kf_sink_type capture_id = -1;
static char err[1024];

#define CONFIG(sinks)                                                                              \
    "{\"kafka\":{\"brokers\":\"b:9092\"},\"mappings\":[{\"name\":\"m\",\"topics\":[\"t\"],"        \
    "\"handler\":{\"path\":\"h.so\"},\"sinks\":" sinks "}]}"

static kf_config *load(const char *json)
{
    kf_config *cfg = NULL;
    err[0] = '\0';
    kf_config_load_string(json, "test.json", &cfg, err, sizeof err);
    return cfg;
}

START_TEST(test_builtins_keep_their_ids)
{
    ck_assert_ptr_eq(kf_sink_ops_by_id(KF_SINK_KAFKA), &kf_sink_kafka_ops);
    ck_assert_ptr_eq(kf_sink_ops_by_id(KF_SINK_REDIS), &kf_sink_redis_ops);
    ck_assert_ptr_eq(kf_sink_ops_by_id(KF_SINK_HTTP), &kf_sink_http_ops);
    ck_assert_ptr_eq(kf_sink_ops_by_id(KF_SINK_STDOUT), &kf_sink_stdout_ops);
    ck_assert_ptr_eq(kf_sink_ops_by_id(KF_SINK_NULL), &kf_sink_null_ops);
    ck_assert_ptr_eq(kf_sink_find("redis"), &kf_sink_redis_ops);
    ck_assert_ptr_null(kf_sink_find("ftp"));
    ck_assert_ptr_null(kf_sink_ops_by_id(-1));
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_HTTP), "http");
    /* What the rest of kfleet switches on. */
    ck_assert_uint_eq(kf_sink_type_caps(KF_SINK_KAFKA), KF_SINK_CAP_TRANSACTIONAL);
    ck_assert_uint_eq(kf_sink_type_caps(KF_SINK_REDIS), KF_SINK_CAP_MARKS);
    ck_assert_uint_eq(kf_sink_type_caps(KF_SINK_HTTP), KF_SINK_CAP_MARKS);
    ck_assert_uint_eq(kf_sink_type_caps(KF_SINK_STDOUT), 0);
    ck_assert_uint_eq(kf_sink_type_caps(KF_SINK_NULL), 0);
    ck_assert_uint_eq(kf_sink_type_caps(99), 0);
}
END_TEST

START_TEST(test_register)
{
    ck_assert_int_ge(capture_id, KF_SINK_BUILTIN_COUNT);
    ck_assert_int_eq(kf_sink_register(&capture_ops, err, sizeof err), capture_id);
    ck_assert_ptr_eq(kf_sink_find("capture"), &capture_ops);
    ck_assert_ptr_eq(kf_sink_ops_by_id(capture_id), &capture_ops);
    ck_assert_uint_eq(kf_sink_type_count(), (size_t)capture_id + 1);
    ck_assert_int_eq(kf_sink_register(&impostor_ops, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "sink type kafka: its name is taken"), "%s", err);
    ck_assert_ptr_eq(kf_sink_find("kafka"), &kf_sink_kafka_ops);
}
END_TEST

START_TEST(test_config_reads_its_keys)
{
    kf_config *cfg = load(CONFIG("[{\"name\":\"c\",\"type\":\"capture\",\"prefix\":\"p:\"},"
                                 "{\"name\":\"k\",\"type\":\"kafka\",\"topic\":\"o\"}]"));
    ck_assert_msg(cfg, "%s", err);
    const kf_sink_config *sc = &cfg->mappings[0].sinks[0];
    ck_assert_int_eq(sc->type, capture_id);
    ck_assert_str_eq(kf_sink_type_name(sc->type), "capture");
    ck_assert_str_eq(sc->key, "p:");
    ck_assert_int_eq(sc->timeout_ms, 8);
    ck_assert_int_eq(cfg->mappings[0].sinks[1].type, KF_SINK_KAFKA);
    kf_config_destroy(cfg);

    static const struct {
        const char *sinks, *want;
    } bad[] = {
        {"[{\"name\":\"c\",\"type\":\"capture\"}]",
         "test.json: mappings[0].sinks[0].prefix: required key is missing"},
        {"[{\"name\":\"c\",\"type\":\"capture\",\"prefix\":\"p\",\"topic\":\"t\"}]",
         "test.json: mappings[0].sinks[0].topic: unknown key for a capture sink (expected one of "
         "name, type, breaker, prefix, limit)"},
        {"[{\"name\":\"c\",\"type\":\"capture\",\"prefix\":\"p\",\"limit\":9}]",
         "test.json: mappings[0].sinks[0].limit: expected an integer 1..8, got 9"},
        {"[{\"name\":\"c\",\"type\":\"ftp\"}]",
         "test.json: mappings[0].sinks[0].type: expected one of kafka, redis, http, stdout, null, "
         "capture, got \"ftp\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json, CONFIG("%s"), bad[i].sinks);
        ck_assert_ptr_null(load(json));
        ck_assert_str_eq(err, bad[i].want);
    }
}
END_TEST

START_TEST(test_reference_documents_it)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(kf_config_reference(f), 0);
    fclose(f);
    ck_assert_msg(strstr(text, "**`type: capture`**: keeps outputs in memory (a test sink)."), "%s",
                  text);
    ck_assert_msg(strstr(text, "| `mappings[].sinks[].prefix` | string | | | yes | put before "
                               "each value |"),
                  "%s", text);
    ck_assert_msg(strstr(text, "`null`, `capture`), plus the keys of its type"), "%s", text);
    free(text);
}
END_TEST

static kf_status acked = (kf_status)-1;

static void on_ack(void *opaque, kf_status status, const char *why)
{
    (void)opaque, (void)why;
    acked = status;
}

START_TEST(test_record_goes_through)
{
    kf_config *cfg = load(CONFIG("[{\"name\":\"c\",\"type\":\"capture\",\"prefix\":\"out:\"}]"));
    ck_assert_msg(cfg, "%s", err);
    kf_sink_env env = {.mapping = "m", .group_id = "g", .threads = 1};
    kf_sink *s = kf_sink_open(&cfg->mappings[0].sinks[0], &env, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    kf_config_destroy(cfg); /* the sink keeps its own copy */
    ck_assert_uint_eq(kf_sink_caps(s), KF_SINK_CAP_MARKS);
    kf_sink_worker *w = kf_sink_worker_open(s, 0, err, sizeof err);
    ck_assert_msg(w, "%s", err);
    kf_sink_msg msg = {
        .src_topic = "t", .value = "hello", .value_len = 5, .ack = on_ack, .ack_opaque = NULL};
    kf_sink_write(w, &msg);
    kf_sink_flush(w);
    ck_assert_int_eq(acked, KF_STATUS_OK);
    ck_assert_int_eq(ncaptured, 1);
    ck_assert_str_eq(captured[0], "out:hello");
    ck_assert_int_eq(kf_sink_drain(s, 100), 0);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

int main(void)
{
    kf_sinks_init();
    capture_id = kf_sink_register(&capture_ops, err, sizeof err);
    if (capture_id < 0) {
        fprintf(stderr, "cannot register the capture sink: %s\n", err);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("sink_registry");
    TCase *tc = tcase_create("sink_registry");
    tcase_add_test(tc, test_builtins_keep_their_ids);
    tcase_add_test(tc, test_register);
    tcase_add_test(tc, test_config_reads_its_keys);
    tcase_add_test(tc, test_reference_documents_it);
    tcase_add_test(tc, test_record_goes_through);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
