/*
 * Unit tests for the log (common/log.c). Secret masking (kf_log_mask): a
 * password in a URL must never reach a log line, also when it contains the
 * '@' that ends the userinfo part (the Redis URL parser, and RFC 3986
 * readers generally, take the LAST '@' before the host). The line's shape:
 * one JSON object per line, and a record's fields (kf_log_rec: mapping,
 * topic, partition, offset, trace_id, a redriven record's source) as
 * typed members before "msg", left out when not given.
 */
#include "common/log.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mask(const char *name, const char *value)
{
    static char out[256];
    kf_log_mask(name, value, out, sizeof out);
    return out;
}

START_TEST(test_url_password_masked)
{
    ck_assert_str_eq(mask("url", "http://u:pw@host/x"), "http://u:***@host/x");
    ck_assert_str_eq(mask("url", "redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
    ck_assert_str_eq(mask("url", "redis://h:6379/0"), "redis://h:6379/0");
    ck_assert_str_eq(mask("url", "plain"), "plain");
}
END_TEST

START_TEST(test_password_with_at_masked)
{
    /* The password is "top@secret": none of it may show. */
    const char *m = mask("url", "https://u:top@secret@host/x");
    ck_assert_ptr_null(strstr(m, "secret"));
    ck_assert_ptr_null(strstr(m, "top"));
    ck_assert_str_eq(m, "https://u:***@host/x");
    m = mask("url", "redis://:a@b@c@h:1/0");
    ck_assert_str_eq(m, "redis://:***@h:1/0");
}
END_TEST

START_TEST(test_secret_names_masked_whole)
{
    ck_assert_str_eq(mask("sasl.password", "hunter2"), "***");
    ck_assert_str_eq(mask("api_token", "t"), "***");
    ck_assert_str_eq(mask("linger.ms", "5"), "5");
}
END_TEST

/* What fn writes to stderr (the log's fd), as one string. */
static char *captured(void (*fn)(void))
{
    static char buf[16384];
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return buf;
}

/* The one JSON line in text, parsed; the test fails unless it is one. */
static cJSON *one_line(const char *text)
{
    const char *nl = strchr(text, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "not one line: %s", text);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(cJSON_IsObject(j), "not a JSON object: %s", text);
    return j;
}

/* The names of j's members in order, comma-separated. */
static const char *names(const cJSON *j)
{
    static char out[512];
    out[0] = '\0';
    for (const cJSON *c = j->child; c; c = c->next) {
        strcat(out, c == j->child ? "" : ",");
        strcat(out, c->string);
    }
    return out;
}

static void log_record(void)
{
    kf_log_fields f = {.mapping = "orders",
                       .topic = "in\"put",
                       .partition = 3,
                       .offset = 9007199254740993LL,
                       .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
    kf_log_rec(KF_LOG_WARN, "dispatcher", &f, "record %d failed: %s", 7, "why\nnot");
}

START_TEST(test_record_fields)
{
    cJSON *j = one_line(captured(log_record));
    ck_assert_str_eq(names(j), "ts,level,component,mapping,topic,partition,offset,trace_id,msg");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "component")->valuestring, "dispatcher");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "mapping")->valuestring, "orders");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "topic")->valuestring, "in\"put");
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "partition")));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "partition")->valueint, 3);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "offset")));
    ck_assert_str_eq(cJSON_GetObjectItem(j, "trace_id")->valuestring,
                     "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "record 7 failed: why\nnot");
    cJSON_Delete(j);
    /* The offset as written, not as a double would round it. */
    ck_assert_ptr_nonnull(strstr(captured(log_record), "\"offset\":9007199254740993,"));
}
END_TEST

static void log_redriven(void)
{
    kf_log_fields f = {.mapping = "m",
                       .topic = "m.dlq",
                       .partition = 0,
                       .offset = 12,
                       .trace_id = "",
                       .source_topic = "m.in",
                       .source_partition = 5,
                       .source_offset = 40};
    kf_log_rec(KF_LOG_ERROR, "dispatcher", &f, "again");
}

static void log_partition(void)
{
    kf_log_fields f = {.mapping = "m", .topic = "t", .partition = 1, .offset = -1};
    kf_log_rec(KF_LOG_WARN, "dispatcher", &f, "parking failed");
}

static void log_plain(void)
{
    kf_log(KF_LOG_INFO, "consumer", "assigned %d partition(s)", 4);
}

static void log_below_level(void)
{
    kf_log_set_level(KF_LOG_WARN);
    kf_log_rec(KF_LOG_INFO, "dispatcher", &(kf_log_fields){.mapping = "m"}, "quiet");
    kf_log(KF_LOG_DEBUG, "dispatcher", "quiet");
    kf_log_set_level(KF_LOG_INFO);
}

START_TEST(test_fields_left_out)
{
    cJSON *j = one_line(captured(log_redriven));
    ck_assert_str_eq(names(j), "ts,level,component,mapping,topic,partition,offset,source_topic,"
                               "source_partition,source_offset,msg");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "source_topic")->valuestring, "m.in");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "source_partition")->valueint, 5);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "source_offset")->valueint, 40);
    cJSON_Delete(j);
    j = one_line(captured(log_partition));
    ck_assert_str_eq(names(j), "ts,level,component,mapping,topic,partition,msg");
    cJSON_Delete(j);
    j = one_line(captured(log_plain));
    ck_assert_str_eq(names(j), "ts,level,component,msg");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "assigned 4 partition(s)");
    cJSON_Delete(j);
    ck_assert_str_eq(captured(log_below_level), "");
    ck_assert(kf_log_enabled(KF_LOG_INFO));
    ck_assert(!kf_log_enabled(KF_LOG_DEBUG));
}
END_TEST

static void log_long(void)
{
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    kf_log_fields f = {.mapping = "m", .topic = "t", .partition = 0, .offset = 1};
    kf_log_rec(KF_LOG_WARN, "dispatcher", &f, "%s", big);
}

START_TEST(test_long_message_cut_fields_kept)
{
    cJSON *j = one_line(captured(log_long));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "offset")->valueint, 1);
    ck_assert_uint_lt(strlen(cJSON_GetObjectItem(j, "msg")->valuestring), 2048);
    cJSON_Delete(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, test_url_password_masked);
    tcase_add_test(tc, test_password_with_at_masked);
    tcase_add_test(tc, test_secret_names_masked_whole);
    suite_add_tcase(s, tc);
    TCase *shape = tcase_create("line");
    tcase_add_test(shape, test_record_fields);
    tcase_add_test(shape, test_fields_left_out);
    tcase_add_test(shape, test_long_message_cut_fields_kept);
    suite_add_tcase(s, shape);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
