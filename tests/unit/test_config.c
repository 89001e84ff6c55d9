/*
 * Unit tests for config/ (config.c and the tables it reads with): every bad config must name its
 * JSON path and what was expected; good configs must come back with the documented defaults.
 *
 * Test JSON is written with single quotes (turned into double quotes before
 * parsing) so the cases stay readable.
 */
#include "config/config.h"
#include "sinks/registry.h"

#include <check.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static char err[1024];

/* Swaps ' for " into a static buffer. */
static const char *q(const char *s)
{
    static char buf[8192];
    size_t i = 0;
    for (; s[i] && i < sizeof(buf) - 1; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    buf[i] = '\0';
    return buf;
}

static kf_config *load_ok(const char *json_sq)
{
    kf_config *cfg = NULL;
    int rc = kf_config_load_string(q(json_sq), "test.json", &cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "expected success, got: %s", err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Building blocks: a valid config is KAFKA + one mapping M0 with SINKS. */
#define KAFKA "'kafka':{'brokers':'b:9092'}"
#define M0    "'name':'m','topics':['t'],'handler':{'path':'h.so'}"
#define SINKS "'sinks':[{'name':'s','type':'stdout'}]"
/* A mapping with extra keys (each starting with a comma). */
#define CFG_M(extra) "{" KAFKA ",'mappings':[{" M0 "," SINKS extra "}]}"
/* A mapping with its own sinks array. */
#define CFG_S(sinks) "{" KAFKA ",'mappings':[{" M0 ",'sinks':" sinks "}]}"
/* Extra top-level keys. */
#define CFG_TOP(extra) "{" KAFKA ",'mappings':[{" M0 "," SINKS "}]" extra "}"
#define MAP(name, extra)                                                                           \
    "{'name':'" name "','topics':['t'],'handler':{'path':'h.so'}," SINKS extra "}"

typedef struct bad_case {
    const char *json; /* single-quoted */
    const char *path; /* must appear as "<path>: " */
    const char *text; /* must appear too */
} bad_case;

static const bad_case BAD[] = {
    /* wrong types and ranges */
    {CFG_M(",'batch':{'max_records':'lots'}"), "mappings[0].batch.max_records",
     "expected an integer 1..10000, got \"lots\""},
    {CFG_M(",'batch':{'max_records':0}"), "mappings[0].batch.max_records", "1..10000, got 0"},
    {CFG_M(",'batch':{'max_records':1.5}"), "mappings[0].batch.max_records", "got 1.5"},
    {CFG_M(",'batch':{'max_bytes':67108865}"), "mappings[0].batch.max_bytes", "1..67108864"},
    {CFG_M(",'batch':{'window_ms':-1}"), "mappings[0].batch.window_ms", "0..300000, got -1"},
    {CFG_M(",'concurrency':{'threads':0}"), "mappings[0].concurrency.threads", "1..1024"},
    /* threads as {min, max}: an autoscaled pool */
    {CFG_M(",'concurrency':{'threads':{'min':8,'max':4}}"), "mappings[0].concurrency.threads.min",
     "expected an integer 1..max (4), got 8"},
    {CFG_M(",'concurrency':{'threads':{'min':0,'max':4}}"), "mappings[0].concurrency.threads.min",
     "1..1024, got 0"},
    {CFG_M(",'concurrency':{'threads':{'min':1,'max':1025}}"),
     "mappings[0].concurrency.threads.max", "1..1024, got 1025"},
    {CFG_M(",'concurrency':{'threads':{'min':1,'max':4,'step':2}}"),
     "mappings[0].concurrency.threads.step", "unknown key (expected one of min, max)"},
    {CFG_M(",'concurrency':{'threads':{'min':1}}"), "mappings[0].concurrency.threads.max",
     "required key is missing"},
    {CFG_M(",'concurrency':{'threads':{'min':'1','max':4}}"), "mappings[0].concurrency.threads.min",
     "got \"1\""},
    {CFG_M(",'concurrency':{'threads':'many'}"), "mappings[0].concurrency.threads",
     "expected an integer 1..1024 or {\"min\": a, \"max\": b}, got \"many\""},
    {CFG_M(",'concurrency':{'threads':[1,4]}"), "mappings[0].concurrency.threads", "got an array"},
    {CFG_M(",'concurrency':{'threads':2.5}"), "mappings[0].concurrency.threads", "got 2.5"},
    {CFG_M(",'concurrency':{'max_inflight_records':100}"),
     "mappings[0].concurrency.max_inflight_records", ">= batch.max_records (500), got 100"},
    {CFG_M(",'exactly_once':'yes'"), "mappings[0].exactly_once",
     "expected true or false, got \"yes\""},
    {CFG_M(",'retry':{'max_attempts':1001}"), "mappings[0].retry.max_attempts", "1..1000"},
    {CFG_M(",'retry':{'bisect':1}"), "mappings[0].retry.bisect", "expected true or false, got 1"},
    {CFG_M(",'retry':{'max_crashes':0}"), "mappings[0].retry.max_crashes", "1..1000, got 0"},
    {CFG_M(",'retry':{'backoff_ms':200,'max_backoff_ms':100}"), "mappings[0].retry.max_backoff_ms",
     "200..3600000, got 100"},
    {CFG_M(",'retry':{'max_record_age_ms':0}"), "mappings[0].retry.max_record_age_ms",
     "-1 (no limit) or an integer >= 1, got 0"},
    {CFG_M(",'commit_interval_ms':5"), "mappings[0].commit_interval_ms", "10..600000, got 5"},
    {CFG_M(",'revoke_timeout_ms':null"), "mappings[0].revoke_timeout_ms", "got null"},
    {CFG_TOP(",'shutdown_timeout_ms':'soon'"), "shutdown_timeout_ms", "got \"soon\""},
    {"{'kafka':{'brokers':''},'mappings':[{" M0 "," SINKS "}]}", "kafka.brokers",
     "expected a non-empty string, got \"\""},
    {"{'kafka':{'brokers':['a']},'mappings':[{" M0 "," SINKS "}]}", "kafka.brokers",
     "got an array"},
    {CFG_TOP(",'redis':{'key_prefix':5}"), "redis.key_prefix",
     "expected a non-empty string, got 5"},
    {"{" KAFKA
     ",'mappings':[{'name':'m','topics':['t'],'handler':{'path':'h.so','config':[1]}," SINKS "}]}",
     "mappings[0].handler.config", "expected an object, got an array"},
    {CFG_M(",'filters':[{'key':'a'},'x']"), "mappings[0].filters[1]",
     "expected an object, got \"x\""},
    {CFG_M(",'filters':{}"), "mappings[0].filters", "expected an array, got an empty object"},
    {"[1]", "(root)", "expected an object, got an array"},
    {"{" KAFKA ",'mappings':[3]}", "mappings[0]", "expected an object, got 3"},
    {CFG_TOP(",'metrics':{'listen':'nope'}"), "metrics.listen", "\"host:port\""},
    {CFG_TOP(",'metrics':{'listen':'h:99999'}"), "metrics.listen", "got \"h:99999\""},
    {CFG_TOP(",'redis':{'url':'http://x'}"), "redis.url", "redis://"},
    {CFG_M(",'topics':[]"), "mappings[0].topics", "duplicate key"},
    {"{" KAFKA ",'mappings':[{'name':'m','topics':[],'handler':{'path':'h.so'}," SINKS "}]}",
     "mappings[0].topics", "expected a non-empty array, got an empty array"},
    {"{" KAFKA ",'mappings':[{'name':'m','topics':[5],'handler':{'path':'h.so'}," SINKS "}]}",
     "mappings[0].topics[0]", "expected a topic name"},
    {"{" KAFKA
     ",'mappings':[{'name':'m','topics':['a','bad topic'],'handler':{'path':'h.so'}," SINKS "}]}",
     "mappings[0].topics[1]", "got \"bad topic\""},
    {"{" KAFKA ",'mappings':[{'name':'m','topics':['a','a'],'handler':{'path':'h.so'}," SINKS "}]}",
     "mappings[0].topics[1]", "not already in topics[0]"},
    {"{" KAFKA ",'mappings':[{'name':'a b','topics':['t'],'handler':{'path':'h.so'}," SINKS "}]}",
     "mappings[0].name", "[A-Za-z0-9._-], got \"a b\""},
    /* a long value is cut in the message */
    {CFG_M(",'ordering':'"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"),
     "mappings[0].ordering", "got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"..."},
    /* unknown keys, at every level */
    {CFG_M(",'batch':{'max_recrods':5}"), "mappings[0].batch.max_recrods",
     "unknown key (expected one of max_records, max_bytes, window_ms)"},
    {CFG_TOP(",'metric':{}"), "metric",
     "unknown key (expected one of kafka, redis, metrics, log, shutdown_timeout_ms, mappings)"},
    {"{'kafka':{'brokers':'b','props':{}},'mappings':[{" M0 "," SINKS "}]}", "kafka.props",
     "unknown key (expected one of brokers, properties)"},
    {CFG_TOP(",'redis':{'host':'x'}"), "redis.host",
     "unknown key (expected one of url, key_prefix)"},
    {CFG_TOP(",'log':{'format':'json'}"), "log.format", "unknown key (expected one of level)"},
    {CFG_M(",'handlr':{}"), "mappings[0].handlr", "unknown key (expected one of name, topics"},
    {CFG_M(",'handler':{'path':'x','conf':{}}"), "mappings[0].handler", "duplicate key"},
    {"{" KAFKA ",'mappings':[{'name':'m','topics':['t'],'handler':{'path':'h','conf':{}}," SINKS
     "}]}",
     "mappings[0].handler.conf", "unknown key (expected one of path, config)"},
    {CFG_M(",'retry':{'attempts':3}"), "mappings[0].retry.attempts", "unknown key"},
    {CFG_M(",'concurrency':{'workers':3}"), "mappings[0].concurrency.workers",
     "unknown key (expected one of threads, max_inflight_records)"},
    {CFG_M(",'on_failure':{'topic':'d','queue':'x'}"), "mappings[0].on_failure.queue",
     "unknown key (expected one of mode, topic)"},
    {CFG_S("[{'name':'s','type':'kafka','topic':'o','key':'k'}]"), "mappings[0].sinks[0].key",
     "unknown key for a kafka sink (expected one of name, type, breaker, topic)"},
    {CFG_S("[{'name':'s','type':'stdout','url':'http://x'}]"), "mappings[0].sinks[0].url",
     "unknown key for a stdout sink"},
    {CFG_S("[{'name':'s','type':'redis','key':'k','timeout_ms':5}]"),
     "mappings[0].sinks[0].timeout_ms", "unknown key for a redis sink"},
    {CFG_M(",'batch':{'max_records':5,'max_records':6}"), "mappings[0].batch.max_records",
     "duplicate key"},
    /* missing required keys */
    {"{" KAFKA ",'mappings':[{'name':'m','topics':['t'],'handler':{}," SINKS "}]}",
     "mappings[0].handler.path", "required key is missing"},
    {"{" KAFKA ",'mappings':[{'name':'m','topics':['t']," SINKS "}]}", "mappings[0].handler.path",
     "required key is missing"},
    {"{'mappings':[{" M0 "," SINKS "}]}", "kafka.brokers", "required key is missing"},
    {"{" KAFKA "}", "mappings", "required key is missing"},
    {"{" KAFKA ",'mappings':[]}", "mappings", "expected a non-empty array, got an empty array"},
    {"{" KAFKA ",'mappings':[{'topics':['t'],'handler':{'path':'h'}," SINKS "}]}",
     "mappings[0].name", "required key is missing"},
    {"{" KAFKA ",'mappings':[{'name':'m','handler':{'path':'h'}," SINKS "}]}", "mappings[0].topics",
     "required key is missing"},
    {"{" KAFKA ",'mappings':[{" M0 "}]}", "mappings[0].sinks", "required key is missing"},
    {CFG_S("[]"), "mappings[0].sinks", "expected a non-empty array"},
    {CFG_S("[{'type':'stdout'}]"), "mappings[0].sinks[0].name", "required key is missing"},
    {CFG_S("[{'name':'s','type':'stdout','breaker':{'probe_ms':500,'max_probe_ms':100}}]"),
     "mappings[0].sinks[0].breaker.max_probe_ms", "expected an integer >= probe_ms (500)"},
    {CFG_S("[{'name':'s','type':'stdout','breaker':{'failures':-1}}]"),
     "mappings[0].sinks[0].breaker.failures", "got -1"},
    {CFG_S("[{'name':'s','type':'stdout','breaker':{'after':3}}]"),
     "mappings[0].sinks[0].breaker.after", "unknown key"},
    {CFG_S("[{'name':'s'}]"), "mappings[0].sinks[0].type", "required key is missing"},
    {CFG_M(",'on_failure':{}"), "mappings[0].on_failure.topic", "required key is missing"},
    {CFG_M(",'on_failure':{'mode':'dead_letter'}"), "mappings[0].on_failure.topic",
     "required key is missing"},
    {CFG_M(",'on_failure':{'mode':'hold'}"), "mappings[0].on_failure.mode", "dead_letter"},
    {CFG_M(",'exactly_once':true,'ordering':'partition','on_failure':{'mode':'park'}"),
     "mappings[0].on_failure.mode", "\"park\" needs \"ordering\": \"key\""},
    {CFG_M(",'on_failure':{'mode':'park'}"), "mappings[0].on_failure.mode",
     "\"park\" needs \"exactly_once\": true"},
    {CFG_M(",'starting_position':{}"), "mappings[0].starting_position.timestamp_ms",
     "required key is missing"},
    /* sink-type specific keys */
    {CFG_S("[{'name':'s','type':'kafka'}]"), "mappings[0].sinks[0].topic",
     "required key is missing"},
    {CFG_S("[{'name':'s','type':'redis'}]"), "mappings[0].sinks[0].key", "required key is missing"},
    {CFG_S("[{'name':'s','type':'http'}]"), "mappings[0].sinks[0].url", "required key is missing"},
    {CFG_S("[{'name':'s','type':'http','url':'ftp://x'}]"), "mappings[0].sinks[0].url",
     "expected an http:// or https:// URL, got \"ftp://x\""},
    {CFG_S("[{'name':'s','type':'http','url':'http://x','timeout_ms':0}]"),
     "mappings[0].sinks[0].timeout_ms", "1..600000"},
    {CFG_S("[{'name':'s','type':'http','url':'http://x','headers':{'X-Id':5}}]"),
     "mappings[0].sinks[0].headers[\"X-Id\"]", "expected a string, got 5"},
    {CFG_S("[{'name':'s','type':'http','url':'http://x','headers':{'a b':'c'}}]"),
     "mappings[0].sinks[0].headers[\"a b\"]", "expected an HTTP header name"},
    /* Control characters (but TAB) are refused here: the HTTP sink would
     * refuse them only when it opens, at start-up. */
    {CFG_S("[{'name':'s','type':'http','url':'http://x','headers':{'X-A':'a\\u0001b'}}]"),
     "mappings[0].sinks[0].headers[\"X-A\"]", "expected a header value without control characters"},
    {CFG_S("[{'name':'s','type':'http','url':'http://x','headers':{'X-A':'a\\u007fb'}}]"),
     "mappings[0].sinks[0].headers[\"X-A\"]", "expected a header value without control characters"},
    {CFG_S("[{'name':'s','type':'http','url':'http://x','headers':{'X-A':'a\\r\\nX: y'}}]"),
     "mappings[0].sinks[0].headers[\"X-A\"]", "expected a header value without control characters"},
    {CFG_S("[{'name':'s','type':'redis','key':'k','command':'LPUSH'}]"),
     "mappings[0].sinks[0].command", "expected one of RPUSH, XADD, SET, HSET, got \"LPUSH\""},
    {CFG_S("[{'name':'s','type':'redis','key':'k','url':'tcp://x'}]"), "mappings[0].sinks[0].url",
     "redis://"},
    {CFG_S("[{'name':'s','type':'kafka','topic':'a/b'}]"), "mappings[0].sinks[0].topic",
     "expected a topic name"},
    /* bad enum values */
    {CFG_M(",'ordering':'sorted'"), "mappings[0].ordering",
     "expected one of partition, key, unordered, got \"sorted\""},
    {CFG_S("[{'name':'s','type':'ftp'}]"), "mappings[0].sinks[0].type",
     "expected one of kafka, redis, http, stdout, null, got \"ftp\""},
    {CFG_TOP(",'log':{'level':'loud'}"), "log.level", "expected one of debug, info, warn, error"},
    /* duplicates */
    {"{" KAFKA ",'mappings':[" MAP("a", "") "," MAP("a", "") "]}", "mappings[1].name",
     "expected a name not used by mappings[0], got \"a\""},
    {"{" KAFKA ",'mappings':[" MAP("a", ",'group_id':'g'") "," MAP("b", ",'group_id':'g'") "]}",
     "mappings[1].group_id", "not used by mappings[0], got \"g\""},
    {CFG_S("[{'name':'x','type':'stdout'},{'name':'x','type':'null'}]"),
     "mappings[0].sinks[1].name", "expected a name not used by sinks[0], got \"x\""},
    /* starting position */
    {CFG_M(",'starting_position':'2026-13-01T00:00:00Z'"), "mappings[0].starting_position",
     "UTC timestamp like \"2026-01-01T00:00:00Z\""},
    {CFG_M(",'starting_position':'2026-02-29T00:00:00Z'"), "mappings[0].starting_position",
     "got \"2026-02-29T00:00:00Z\""},
    {CFG_M(",'starting_position':'2026-01-01T00:00:00+02:00'"), "mappings[0].starting_position",
     "UTC timestamp"},
    {CFG_M(",'starting_position':'yesterday'"), "mappings[0].starting_position",
     "expected \"earliest\", \"latest\""},
    {CFG_M(",'starting_position':{'timestamp_ms':-5}"),
     "mappings[0].starting_position.timestamp_ms", "got -5"},
    /* librdkafka properties kfleet must own */
    {CFG_M(",'consumer':{'enable.auto.commit':true}"),
     "mappings[0].consumer[\"enable.auto.commit\"]", "kfleet commits offsets itself"},
    {CFG_M(",'consumer':{'enable.auto.commit':'t'}"),
     "mappings[0].consumer[\"enable.auto.commit\"]", "got \"t\""},
    {"{'kafka':{'brokers':'b','properties':{'enable.auto.offset.store':'true'}},'mappings':[{" M0
     "," SINKS "}]}",
     "kafka.properties[\"enable.auto.offset.store\"]", "kfleet commits offsets itself"},
    {CFG_M(",'consumer':{'group.id':'x'}"), "mappings[0].consumer[\"group.id\"]",
     "set mappings[0].group_id instead"},
    {CFG_M(",'producer':{'linger.ms':{}}"), "mappings[0].producer[\"linger.ms\"]",
     "expected a string, number or boolean, got an empty object"},
    {CFG_M(",'consumer':[]"), "mappings[0].consumer", "expected an object, got an empty array"},
    /* ${VAR} syntax */
    {CFG_S("[{'name':'s','type':'http','url':'http://${KF_TEST_NAME'}]"),
     "mappings[0].sinks[0].url", "expected \"}\" to close \"${\""},
    {CFG_S("[{'name':'s','type':'http','url':'http://${1X}'}]"), "mappings[0].sinks[0].url",
     "expected a variable name"},
};

START_TEST(test_bad_config)
{
    const bad_case *c = &BAD[_i];
    char json[8192];
    snprintf(json, sizeof(json), "%s", q(c->json));
    kf_config *cfg = (kf_config *)0x1;
    err[0] = '\0';
    int rc = kf_config_load_string(json, "test.json", &cfg, err, sizeof(err));
    ck_assert_msg(rc == -1, "case %d: accepted %s", _i, json);
    ck_assert_ptr_null(cfg);
    char want_path[256];
    snprintf(want_path, sizeof(want_path), "test.json: %s: ", c->path);
    ck_assert_msg(strncmp(err, want_path, strlen(want_path)) == 0,
                  "case %d: want path \"%s\" in: %s", _i, want_path, err);
    ck_assert_msg(strstr(err, c->text) != NULL, "case %d: want \"%s\" in: %s", _i, c->text, err);
    ck_assert_msg(strchr(err, '\n') == NULL, "case %d: more than one line: %s", _i, err);
}
END_TEST

static void expect_error(const char *json_sq, const char *path, const char *text)
{
    kf_config *cfg = NULL;
    int rc = kf_config_load_string(q(json_sq), "test.json", &cfg, err, sizeof(err));
    ck_assert_msg(rc == -1, "accepted %s", json_sq);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, path) != NULL, "want \"%s\" in: %s", path, err);
    ck_assert_msg(strstr(err, text) != NULL, "want \"%s\" in: %s", text, err);
}

START_TEST(test_unset_variable)
{
    unsetenv("KF_TEST_REDIS_PASS");
    expect_error(CFG_S("[{'name':'a','type':'stdout'},{'name':'b','type':'http',"
                       "'url':'http://u:${KF_TEST_REDIS_PASS}@h/'}]"),
                 "test.json: mappings[0].sinks[1].url: ",
                 "environment variable KF_TEST_REDIS_PASS is not set");
    expect_error("{'kafka':{'brokers':'b','properties':{'sasl.password':'${KF_TEST_REDIS_PASS}'}},"
                 "'mappings':[{" M0 "," SINKS "}]}",
                 "test.json: kafka.properties[\"sasl.password\"]: ",
                 "environment variable KF_TEST_REDIS_PASS is not set");
    /* also inside handler config, which kfleet does not otherwise look into */
    expect_error(CFG_M(",'handler':{'path':'h','config':{'a':[{'b':'${KF_TEST_REDIS_PASS}'}]}}"),
                 "test.json: mappings[0].handler.config.a[0].b: ", "KF_TEST_REDIS_PASS");
}
END_TEST

START_TEST(test_env_expansion)
{
    setenv("KF_TEST_BROKERS", "k1:9092,k2:9092", 1);
    setenv("KF_TEST_EMPTY", "", 1);
    setenv("KF_TEST_TOPIC", "orders", 1);
    kf_config *cfg =
        load_ok("{'kafka':{'brokers':'${KF_TEST_BROKERS}'},'mappings':[{"
                "'name':'m','topics':['${KF_TEST_TOPIC}.in'],"
                "'handler':{'path':'h.so','config':{'s':'$${HOME} ${KF_TEST_EMPTY}$ "
                "$$ a$b'}},"
                "'sinks':[{'name':'s','type':'kafka','topic':'${KF_TEST_TOPIC}.out'}]}]}");
    ck_assert_str_eq(cfg->brokers, "k1:9092,k2:9092");
    ck_assert_str_eq(cfg->mappings[0].topics[0], "orders.in");
    ck_assert_str_eq(cfg->mappings[0].sinks[0].topic, "orders.out");
    ck_assert_str_eq(cfg->mappings[0].handler.config_json, q("{'s':'${HOME} $ $$ a$b'}"));
    kf_config_destroy(cfg);
}
END_TEST

START_TEST(test_defaults)
{
    kf_config *cfg = load_ok(CFG_TOP(""));
    ck_assert_str_eq(cfg->path, "test.json");
    ck_assert_str_eq(cfg->dir, ".");
    ck_assert_str_eq(cfg->brokers, "b:9092");
    ck_assert_uint_eq(cfg->kafka.count, 0);
    ck_assert_str_eq(cfg->redis_url, "redis://127.0.0.1:6379/0");
    ck_assert_str_eq(cfg->redis_key_prefix, "kfleet");
    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_str_eq(cfg->log_level, "info");
    ck_assert_int_eq(cfg->shutdown_timeout_ms, 30000);
    ck_assert_uint_eq(cfg->mapping_count, 1);
    const kf_mapping_config *m = &cfg->mappings[0];
    ck_assert_str_eq(m->name, "m");
    ck_assert_uint_eq(m->topic_count, 1);
    ck_assert_str_eq(m->topics[0], "t");
    ck_assert_str_eq(m->group_id, "kfleet-m");
    ck_assert_int_eq(m->starting_position, KF_START_EARLIEST);
    ck_assert_str_eq(m->handler.path, "h.so");
    ck_assert_str_eq(m->handler.config_json, "{}");
    ck_assert_int_eq(m->batch.max_records, 500);
    ck_assert_int_eq(m->batch.max_bytes, 6291456);
    ck_assert_int_eq(m->batch.window_ms, 20);
    ck_assert_int_eq(m->ordering, KF_ORDER_KEY);
    ck_assert_int_eq(m->concurrency.threads, 8);
    ck_assert_int_eq(m->concurrency.threads_min, 8); /* fixed */
    ck_assert_int_eq(m->concurrency.max_inflight, 10000);
    ck_assert(!m->exactly_once);
    ck_assert_int_eq(m->retry.max_attempts, 5);
    ck_assert_int_eq(m->retry.backoff_ms, 100);
    ck_assert_int_eq(m->retry.max_backoff_ms, 10000);
    ck_assert_int_eq(m->retry.max_record_age_ms, -1);
    ck_assert(!m->retry.bisect);
    ck_assert_int_eq(m->retry.max_crashes, 3);
    ck_assert_ptr_null(m->on_failure.topic);
    ck_assert_int_eq(m->on_failure.mode, KF_ON_FAILURE_DEAD_LETTER);
    ck_assert_uint_eq(m->sink_count, 1);
    ck_assert_str_eq(m->sinks[0].name, "s");
    ck_assert_int_eq(m->sinks[0].type, KF_SINK_STDOUT);
    ck_assert_int_eq(m->sinks[0].breaker.failures, 5);
    ck_assert_int_eq(m->sinks[0].breaker.probe_ms, 500);
    ck_assert_int_eq(m->sinks[0].breaker.max_probe_ms, 10000);
    ck_assert_ptr_null(m->filters_json);
    ck_assert_int_eq(m->commit_interval_ms, 1000);
    ck_assert_int_eq(m->revoke_timeout_ms, 10000);
    ck_assert_uint_eq(m->consumer.count, 0);
    ck_assert_uint_eq(m->producer.count, 0);
    kf_config_destroy(cfg);

    /* A backoff above the default cap raises the cap rather than failing. */
    cfg = load_ok(CFG_M(",'retry':{'backoff_ms':20000}"));
    ck_assert_int_eq(cfg->mappings[0].retry.max_backoff_ms, 20000);
    kf_config_destroy(cfg);
}
END_TEST

START_TEST(test_full_values)
{
    kf_config *cfg = load_ok(
        "{'kafka':{'brokers':'b','properties':{'queued.min.messages':1000000,"
        "'enable.idempotence':true,'socket.nagle.disable':false,'x.ratio':0.1,'client.id':'c',"
        "'enable.auto.commit':'false'}},"
        "'redis':{'url':'redis://r:1/2','key_prefix':'p'},'metrics':{'listen':'[::1]:9464'},"
        "'log':{'level':'debug'},'shutdown_timeout_ms':0,"
        "'mappings':[{'name':'orders.v2_x-y','topics':['a','^re.*'],'group_id':'g',"
        "'starting_position':'latest',"
        "'handler':{'path':'/x/u.so','config':{'field':'name','n':[1,2.5,null]}},"
        "'batch':{'max_records':10000,'max_bytes':1,'window_ms':0},'ordering':'unordered',"
        "'concurrency':{'threads':1024,'max_inflight_records':10000},'exactly_once':true,"
        "'retry':{'max_attempts':1,'backoff_ms':1,'max_backoff_ms':1,'max_record_age_ms':60000},"
        "'on_failure':{'topic':'d.dlq'},"
        "'sinks':[{'name':'out','type':'kafka','topic':'o'},"
        "{'name':'cache','type':'redis','key':'k','command':'HSET','url':'redis://other:6379/0'},"
        "{'name':'hook','type':'http','url':'https://h/x','timeout_ms':250,"
        "'headers':{'Authorization':'Bearer t','X-A':'1'}},"
        "{'name':'log','type':'stdout'},{'name':'n','type':'null'},"
        "{'name':'c2','type':'redis','key':'k2'}],"
        "'filters':[{'value':{'type':'x'}}],'commit_interval_ms':10,'revoke_timeout_ms':0,"
        "'consumer':{'fetch.min.bytes':1,'auto.offset.reset':'error'},"
        "'producer':{'linger.ms':5,'acks':'all'}}]}");
    ck_assert_uint_eq(cfg->kafka.count, 6);
    const char *want[][2] = {{"queued.min.messages", "1000000"},
                             {"enable.idempotence", "true"},
                             {"socket.nagle.disable", "false"},
                             {"x.ratio", "0.1"},
                             {"client.id", "c"},
                             {"enable.auto.commit", "false"}};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(cfg->kafka.names[i], want[i][0]);
        ck_assert_str_eq(cfg->kafka.values[i], want[i][1]);
    }
    ck_assert_str_eq(cfg->redis_url, "redis://r:1/2");
    ck_assert_str_eq(cfg->redis_key_prefix, "p");
    ck_assert_str_eq(cfg->metrics_listen, "[::1]:9464");
    ck_assert_str_eq(cfg->log_level, "debug");
    ck_assert_int_eq(cfg->shutdown_timeout_ms, 0);
    const kf_mapping_config *m = &cfg->mappings[0];
    ck_assert_str_eq(m->name, "orders.v2_x-y");
    ck_assert_uint_eq(m->topic_count, 2);
    ck_assert_str_eq(m->topics[1], "^re.*");
    ck_assert_str_eq(m->group_id, "g");
    ck_assert_int_eq(m->starting_position, KF_START_LATEST);
    ck_assert_str_eq(m->handler.path, "/x/u.so");
    ck_assert_str_eq(m->handler.config_json, q("{'field':'name','n':[1,2.5,null]}"));
    ck_assert_int_eq(m->batch.max_records, 10000);
    ck_assert_int_eq(m->batch.max_bytes, 1);
    ck_assert_int_eq(m->batch.window_ms, 0);
    ck_assert_int_eq(m->ordering, KF_ORDER_UNORDERED);
    ck_assert_int_eq(m->concurrency.threads, 1024);
    ck_assert(m->exactly_once);
    ck_assert_int_eq(m->retry.max_attempts, 1);
    ck_assert_int_eq(m->retry.max_backoff_ms, 1);
    ck_assert_int_eq(m->retry.max_record_age_ms, 60000);
    ck_assert_str_eq(m->on_failure.topic, "d.dlq");
    ck_assert_uint_eq(m->sink_count, 6);
    ck_assert_int_eq(m->sinks[0].type, KF_SINK_KAFKA);
    ck_assert_str_eq(m->sinks[0].topic, "o");
    ck_assert_int_eq(m->sinks[1].type, KF_SINK_REDIS);
    ck_assert_int_eq(m->sinks[1].command, KF_REDIS_HSET);
    ck_assert_str_eq(m->sinks[1].key, "k");
    ck_assert_str_eq(m->sinks[1].url, "redis://other:6379/0");
    ck_assert_int_eq(m->sinks[2].type, KF_SINK_HTTP);
    ck_assert_str_eq(m->sinks[2].url, "https://h/x");
    ck_assert_int_eq(m->sinks[2].timeout_ms, 250);
    ck_assert_uint_eq(m->sinks[2].headers.count, 2);
    ck_assert_str_eq(m->sinks[2].headers.names[0], "Authorization");
    ck_assert_str_eq(m->sinks[2].headers.values[0], "Bearer t");
    ck_assert_int_eq(m->sinks[3].type, KF_SINK_STDOUT);
    ck_assert_int_eq(m->sinks[4].type, KF_SINK_NULL);
    ck_assert_int_eq(m->sinks[5].command, KF_REDIS_RPUSH);
    ck_assert_ptr_null(m->sinks[5].url);
    ck_assert_str_eq(m->filters_json, q("[{'value':{'type':'x'}}]"));
    ck_assert_int_eq(m->commit_interval_ms, 10);
    ck_assert_int_eq(m->revoke_timeout_ms, 0);
    ck_assert_uint_eq(m->consumer.count, 2);
    ck_assert_str_eq(m->consumer.values[0], "1");
    ck_assert_uint_eq(m->producer.count, 2);
    ck_assert_str_eq(m->producer.names[1], "acks");
    ck_assert_str_eq(m->producer.values[1], "all");

    ck_assert_ptr_eq(kf_config_find_sink(m, "hook"), &m->sinks[2]);
    ck_assert_ptr_null(kf_config_find_sink(m, "nope"));
    ck_assert_ptr_null(kf_config_find_sink(m, NULL));
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_KAFKA), "kafka");
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_REDIS), "redis");
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_HTTP), "http");
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_STDOUT), "stdout");
    ck_assert_str_eq(kf_sink_type_name(KF_SINK_NULL), "null");
    ck_assert_str_eq(kf_sink_type_name((kf_sink_type)42), "unknown");
    kf_config_destroy(cfg);
}
END_TEST

/* threads: an integer is a fixed pool (min == max); an object gives the
 * bounds of an autoscaled one, max landing in `threads`. */
START_TEST(test_threads_shapes)
{
    kf_config *cfg = load_ok(CFG_M(",'concurrency':{'threads':3}"));
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads, 3);
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads_min, 3);
    kf_config_destroy(cfg);
    cfg = load_ok(CFG_M(",'concurrency':{'threads':{'min':2,'max':64}}"));
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads, 64);
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads_min, 2);
    kf_config_destroy(cfg);
    cfg = load_ok(CFG_M(",'concurrency':{'threads':{'max':1024,'min':1024}}"));
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads, 1024);
    ck_assert_int_eq(cfg->mappings[0].concurrency.threads_min, 1024);
    kf_config_destroy(cfg);
}
END_TEST

START_TEST(test_timestamps)
{
    kf_config *cfg = load_ok(CFG_M(",'starting_position':'2026-01-01T00:00:00Z'"));
    ck_assert_int_eq(cfg->mappings[0].starting_position, KF_START_TIMESTAMP);
    ck_assert_int_eq(cfg->mappings[0].start_timestamp_ms, INT64_C(1767225600000));
    kf_config_destroy(cfg);

    /* Cross-check a leap day with fractional seconds against timegm. */
    struct tm tm = {.tm_year = 2024 - 1900,
                    .tm_mon = 1,
                    .tm_mday = 29,
                    .tm_hour = 12,
                    .tm_min = 34,
                    .tm_sec = 56};
    int64_t want = (int64_t)timegm(&tm) * 1000 + 789;
    cfg = load_ok(CFG_M(",'starting_position':'2024-02-29T12:34:56.789123+00:00'"));
    ck_assert_int_eq(cfg->mappings[0].start_timestamp_ms, want);
    kf_config_destroy(cfg);

    cfg = load_ok(CFG_M(",'starting_position':'1970-01-01T00:00:00.5Z'"));
    ck_assert_int_eq(cfg->mappings[0].start_timestamp_ms, 500);
    kf_config_destroy(cfg);

    cfg = load_ok(CFG_M(",'starting_position':{'timestamp_ms':1700000000123}"));
    ck_assert_int_eq(cfg->mappings[0].starting_position, KF_START_TIMESTAMP);
    ck_assert_int_eq(cfg->mappings[0].start_timestamp_ms, INT64_C(1700000000123));
    kf_config_destroy(cfg);
}
END_TEST

static char *write_temp(const char *content)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/kf_test_config_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

START_TEST(test_syntax_error)
{
    const char *path = write_temp("{\n  \"kafka\": {\n    \"brokers\": \"x\",,\n  }\n}\n");
    kf_config *cfg = NULL;
    ck_assert_int_eq(kf_config_load_file(path, &cfg, err, sizeof(err)), -1);
    unlink(path);
    ck_assert_ptr_null(cfg);
    char want[128];
    /* cJSON points at or just after the second comma (column 20). */
    snprintf(want, sizeof(want), "%s: line 3, column ", path);
    ck_assert_msg(strstr(err, want) == err, "want \"%s\" in: %s", want, err);
    ck_assert_msg(strstr(err, "invalid JSON near '") && strstr(err, "\"x\",,"), "got: %s", err);

    /* Truncated input names the end. */
    path = write_temp("{\"kafka\": {\n");
    ck_assert_int_eq(kf_config_load_file(path, &cfg, err, sizeof(err)), -1);
    unlink(path);
    ck_assert_msg(strstr(err, "line 2") && strstr(err, "invalid JSON"), "got: %s", err);

    /* Trailing garbage after the object is an error too. */
    ck_assert_int_eq(kf_config_load_string(q(CFG_TOP("") " x"), "s.json", &cfg, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "s.json: line 1, column ") == err, "got: %s", err);
    ck_assert_msg(strstr(err, "invalid JSON near '") && strstr(err, " x'"), "got: %s", err);
}
END_TEST

START_TEST(test_file_errors)
{
    kf_config *cfg = NULL;
    ck_assert_int_eq(kf_config_load_file("/nonexistent/kfleet.json", &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "/nonexistent/kfleet.json") == err, "got: %s", err);
    ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL, "got: %s", err);

    ck_assert_int_eq(kf_config_load_file("/tmp", &cfg, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "/tmp: ") == err && strstr(err, strerror(EISDIR)), "got: %s", err);

    /* A good file: path and dir come from the file name. */
    setenv("KF_TEST_BROKERS", "k:1", 1);
    char *path =
        write_temp(q("{'kafka':{'brokers':'${KF_TEST_BROKERS}'},'mappings':[{" M0 "," SINKS "}]}"));
    ck_assert_msg(kf_config_load_file(path, &cfg, err, sizeof(err)) == 0, "%s", err);
    unlink(path);
    ck_assert_str_eq(cfg->path, path);
    ck_assert_str_eq(cfg->dir, "/tmp");
    ck_assert_str_eq(cfg->brokers, "k:1");
    kf_config_destroy(cfg);

    /* Errors in a file carry the file name. */
    path = write_temp(q(CFG_M(",'batch':{'max_records':'lots'}")));
    ck_assert_int_eq(kf_config_load_file(path, &cfg, err, sizeof(err)), -1);
    unlink(path);
    char want[256];
    snprintf(want, sizeof(want),
             "%s: mappings[0].batch.max_records: expected an integer 1..10000, got \"lots\"", path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_examples_load)
{
    setenv("KFLEET_BROKERS", "127.0.0.1:9092", 1);
    setenv("KFLEET_REDIS", "redis://127.0.0.1:6379/0", 1);
    glob_t g;
    ck_assert_int_eq(glob(KF_SOURCE_DIR "/config/examples/*.json", 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        kf_config *cfg = NULL;
        ck_assert_msg(kf_config_load_file(g.gl_pathv[i], &cfg, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(cfg->dir, KF_SOURCE_DIR "/config/examples");
        ck_assert_str_eq(cfg->brokers, "127.0.0.1:9092");
        ck_assert_uint_ge(cfg->mapping_count, 1);
        kf_config_destroy(cfg);
    }
    globfree(&g);

    kf_config *cfg = NULL;
    ck_assert_msg(kf_config_load_file(KF_SOURCE_DIR "/config/examples/kfleet.json", &cfg, err,
                                      sizeof(err)) == 0,
                  "%s", err);
    const kf_mapping_config *m = &cfg->mappings[0];
    ck_assert_str_eq(m->handler.path, "build/handlers/uppercase.so");
    ck_assert_str_eq(m->handler.config_json, q("{'field':'name'}"));
    ck_assert_uint_eq(m->sink_count, 4);
    ck_assert_str_eq(kf_config_find_sink(m, "hook")->url, "http://127.0.0.1:8080/orders");
    ck_assert_str_eq(cfg->redis_url, "redis://127.0.0.1:6379/0");
    kf_config_destroy(cfg);

    unsetenv("KFLEET_REDIS");
    ck_assert_int_eq(
        kf_config_load_file(KF_SOURCE_DIR "/config/examples/kfleet.json", &cfg, err, sizeof(err)),
        -1);
    ck_assert_msg(strstr(err, "redis.url: environment variable KFLEET_REDIS is not set"), "%s",
                  err);
}
END_TEST

/* Park mode: no topic needed, and none is written to as records fail. */
START_TEST(test_on_failure_park)
{
    kf_config *cfg = load_ok("{" KAFKA ",'mappings':[{'name':'m','topics':['t'],"
                             "'handler':{'path':'h'},'exactly_once':true,"
                             "'on_failure':{'mode':'park'}," SINKS "}]}");
    const kf_mapping_config *m = &cfg->mappings[0];
    ck_assert_int_eq(m->on_failure.mode, KF_ON_FAILURE_PARK);
    ck_assert_ptr_null(m->on_failure.topic);
    ck_assert_ptr_null(kf_dead_letter_topic(m));
    kf_config_destroy(cfg);
    cfg =
        load_ok("{" KAFKA ",'mappings':[{'name':'m','topics':['t'],'handler':{'path':'h'},"
                "'exactly_once':true,'on_failure':{'mode':'park','topic':'dropped'}," SINKS "}]}");
    m = &cfg->mappings[0];
    ck_assert_str_eq(m->on_failure.topic, "dropped");
    ck_assert_ptr_null(kf_dead_letter_topic(m)); /* only `kfleet parked drop` writes it */
    kf_config_destroy(cfg);
}
END_TEST

START_TEST(test_destroy_null)
{
    kf_config_destroy(NULL);
    /* A small error buffer is truncated, never overrun. */
    char small[16];
    kf_config *cfg = NULL;
    ck_assert_int_eq(
        kf_config_load_string("[]", "origin-name-that-is-long", &cfg, small, sizeof(small)), -1);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    /* NULL origin still yields a named message. */
    ck_assert_int_eq(kf_config_load_string("[]", NULL, &cfg, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "<string>: (root): expected an object") == err, "%s", err);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_loop_test(tc, test_bad_config, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    tcase_add_test(tc, test_unset_variable);
    tcase_add_test(tc, test_env_expansion);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_full_values);
    tcase_add_test(tc, test_threads_shapes);
    tcase_add_test(tc, test_timestamps);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_examples_load);
    tcase_add_test(tc, test_on_failure_park);
    tcase_add_test(tc, test_destroy_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    kf_sinks_init();
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
