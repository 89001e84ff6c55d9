/*
 * Unit tests for filter criteria (dispatcher/filter.c).
 *
 * A filtered record is committed without ever reaching the handler, so a
 * filter that matches too little silently loses data and one that matches
 * too much runs the handler on records the user excluded. Each test pins one
 * operator or structural rule from filter.h, with both a record that must
 * pass and one that must not, so an operator that always (or never) matches
 * fails here. Invalid patterns must be refused at start-up with the JSON
 * path of the mistake.
 */
#include "dispatcher/filter.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record view with a key, a value (either may be NULL) and headers. */
static kf_record mkrec(const char *key, const char *value, const kf_header *h, size_t nh)
{
    kf_record r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.topic = "t";
    r.key = key;
    r.key_len = key ? strlen(key) : 0;
    r.value = value;
    r.value_len = value ? strlen(value) : 0;
    r.headers = h;
    r.header_count = nh;
    r.attempt = 1;
    return r;
}

static kf_filter *must_parse(const char *json)
{
    char err[512] = "";
    kf_filter *f = kf_filter_new(json, "mappings[0].filters", err, sizeof err);
    ck_assert_msg(f != NULL, "pattern %s refused: %s", json, err);
    return f;
}

/* 1 when a record with this key and value passes `json`. */
static int passes_kv(const char *json, const char *key, const char *value)
{
    kf_filter *f = must_parse(json);
    kf_record r = mkrec(key, value, NULL, 0);
    int m = kf_filter_match(f, &r);
    kf_filter_destroy(f);
    return m;
}

static int passes(const char *json, const char *value)
{
    return passes_kv(json, "k", value);
}

#define PASS(json, value) ck_assert_msg(passes(json, value) == 1, "%s should pass %s", value, json)
#define DROP(json, value)                                                                          \
    ck_assert_msg(passes(json, value) == 0, "%s should be filtered by %s", value, json)

START_TEST(test_string_literals)
{
    const char *p = "[{\"value\": {\"type\": [\"order\", \"refund\"]}}]";
    PASS(p, "{\"type\": \"order\"}");
    PASS(p, "{\"type\": \"refund\", \"x\": 1}");
    DROP(p, "{\"type\": \"orders\"}"); /* exact, not prefix */
    DROP(p, "{\"type\": \"orde\"}");
    DROP(p, "{\"type\": \"ORDER\"}"); /* case-sensitive */
    DROP(p, "{\"kind\": \"order\"}"); /* missing field */
    DROP(p, "{\"type\": 5}");
    DROP(p, "{\"type\": [\"order\"]}");
    DROP(p, "{\"Type\": \"order\"}"); /* field names are case-sensitive too */
}
END_TEST

START_TEST(test_number_bool_null_literals)
{
    const char *n = "[{\"value\": {\"n\": [5, 7.5]}}]";
    PASS(n, "{\"n\": 5}");
    PASS(n, "{\"n\": 5.0}");
    PASS(n, "{\"n\": 7.5}");
    DROP(n, "{\"n\": 6}");
    DROP(n, "{\"n\": \"5\"}"); /* a string is not the number */

    const char *b = "[{\"value\": {\"ok\": [true]}}]";
    PASS(b, "{\"ok\": true}");
    DROP(b, "{\"ok\": false}");
    DROP(b, "{\"ok\": \"true\"}");
    DROP(b, "{\"ok\": 1}");
    const char *bf = "[{\"value\": {\"ok\": [false]}}]";
    PASS(bf, "{\"ok\": false}");
    DROP(bf, "{\"ok\": true}");

    const char *z = "[{\"value\": {\"x\": [null]}}]";
    PASS(z, "{\"x\": null}");
    DROP(z, "{\"x\": 0}");
    DROP(z, "{\"x\": \"null\"}");
    DROP(z, "{\"y\": 1}"); /* absent is not null */
}
END_TEST

START_TEST(test_prefix_suffix)
{
    const char *p = "[{\"value\": {\"id\": [{\"prefix\": \"vip-\"}]}}]";
    PASS(p, "{\"id\": \"vip-1\"}");
    PASS(p, "{\"id\": \"vip-\"}");
    DROP(p, "{\"id\": \"vip\"}");
    DROP(p, "{\"id\": \"xvip-1\"}");
    DROP(p, "{\"id\": 7}");
    DROP(p, "{}");

    const char *s = "[{\"value\": {\"file\": [{\"suffix\": \".jpg\"}]}}]";
    PASS(s, "{\"file\": \"a.jpg\"}");
    PASS(s, "{\"file\": \".jpg\"}");
    DROP(s, "{\"file\": \"a.jpg.png\"}");
    DROP(s, "{\"file\": \"jpg\"}");
    DROP(s, "{\"file\": \"a.JPG\"}");

    /* Alternatives: any one suffices. */
    const char *alt = "[{\"value\": {\"file\": [{\"suffix\": \".png\"}, {\"prefix\": \"img\"}, "
                      "\"exact\"]}}]";
    PASS(alt, "{\"file\": \"x.png\"}");
    PASS(alt, "{\"file\": \"img.gif\"}");
    PASS(alt, "{\"file\": \"exact\"}");
    DROP(alt, "{\"file\": \"x.gif\"}");
}
END_TEST

START_TEST(test_exists)
{
    const char *t = "[{\"value\": {\"a\": [{\"exists\": true}]}}]";
    PASS(t, "{\"a\": 1}");
    PASS(t, "{\"a\": null}");
    PASS(t, "{\"a\": {\"deep\": 1}}");
    DROP(t, "{\"b\": 1}");
    DROP(t, "{}");

    const char *f = "[{\"value\": {\"a\": [{\"exists\": false}]}}]";
    PASS(f, "{\"b\": 1}");
    PASS(f, "{}");
    DROP(f, "{\"a\": 1}");
    DROP(f, "{\"a\": null}");
}
END_TEST

START_TEST(test_anything_but)
{
    const char *p = "[{\"value\": {\"state\": [{\"anything-but\": [\"done\", \"failed\"]}]}}]";
    PASS(p, "{\"state\": \"new\"}");
    PASS(p, "{\"state\": \"Done\"}");
    DROP(p, "{\"state\": \"done\"}");
    DROP(p, "{\"state\": \"failed\"}");
    DROP(p, "{\"other\": \"new\"}"); /* the field must be there */

    const char *one = "[{\"value\": {\"n\": [{\"anything-but\": 5}]}}]";
    PASS(one, "{\"n\": 6}");
    PASS(one, "{\"n\": \"5\"}"); /* a string is not the number 5 */
    DROP(one, "{\"n\": 5}");

    const char *str = "[{\"value\": {\"s\": [{\"anything-but\": \"x\"}]}}]";
    PASS(str, "{\"s\": \"y\"}");
    DROP(str, "{\"s\": \"x\"}");
}
END_TEST

START_TEST(test_numeric_ranges)
{
    const char *p = "[{\"value\": {\"amount\": [{\"numeric\": [\">\", 100, \"<=\", 200]}]}}]";
    PASS(p, "{\"amount\": 150}");
    PASS(p, "{\"amount\": 100.5}");
    PASS(p, "{\"amount\": 200}");
    DROP(p, "{\"amount\": 100}");
    DROP(p, "{\"amount\": 200.01}");
    DROP(p, "{\"amount\": -150}");
    DROP(p, "{\"amount\": \"150\"}");
    DROP(p, "{\"amount\": null}");
    DROP(p, "{}");

    PASS("[{\"value\": {\"n\": [{\"numeric\": [\"=\", 3]}]}}]", "{\"n\": 3}");
    DROP("[{\"value\": {\"n\": [{\"numeric\": [\"=\", 3]}]}}]", "{\"n\": 3.5}");
    PASS("[{\"value\": {\"n\": [{\"numeric\": [\"<\", 0]}]}}]", "{\"n\": -0.5}");
    DROP("[{\"value\": {\"n\": [{\"numeric\": [\"<\", 0]}]}}]", "{\"n\": 0}");
    PASS("[{\"value\": {\"n\": [{\"numeric\": [\">=\", 10]}]}}]", "{\"n\": 10}");
    DROP("[{\"value\": {\"n\": [{\"numeric\": [\">=\", 10]}]}}]", "{\"n\": 9.999}");
    PASS("[{\"value\": {\"n\": [{\"numeric\": [\"<=\", 10]}]}}]", "{\"n\": 10}");
    DROP("[{\"value\": {\"n\": [{\"numeric\": [\"<=\", 10]}]}}]", "{\"n\": 10.001}");
    /* A closed range written with >= and <. */
    const char *r = "[{\"value\": {\"n\": [{\"numeric\": [\">=\", 0, \"<\", 1]}]}}]";
    PASS(r, "{\"n\": 0}");
    DROP(r, "{\"n\": 1}");
}
END_TEST

START_TEST(test_nested_fields)
{
    const char *p = "[{\"value\": {\"order\": {\"customer\": {\"tier\": [\"gold\"]}}}}]";
    PASS(p, "{\"order\": {\"customer\": {\"tier\": \"gold\", \"id\": 3}}}");
    DROP(p, "{\"order\": {\"customer\": {\"tier\": \"silver\"}}}");
    DROP(p, "{\"order\": {\"customer\": \"gold\"}}");
    DROP(p, "{\"order\": {\"tier\": \"gold\"}}");
    DROP(p, "{\"tier\": \"gold\"}");
    DROP(p, "{\"order\": null}");

    /* Several fields of one object: all must match. */
    const char *and = "[{\"value\": {\"type\": [\"order\"], \"amount\": [{\"numeric\": [\">\", "
                      "10]}], \"meta\": {\"src\": [\"web\"]}}}]";
    PASS(and, "{\"type\": \"order\", \"amount\": 11, \"meta\": {\"src\": \"web\"}}");
    DROP(and, "{\"type\": \"order\", \"amount\": 9, \"meta\": {\"src\": \"web\"}}");
    DROP(and, "{\"type\": \"refund\", \"amount\": 11, \"meta\": {\"src\": \"web\"}}");
    DROP(and, "{\"type\": \"order\", \"amount\": 11, \"meta\": {\"src\": \"app\"}}");
    DROP(and, "{\"type\": \"order\", \"amount\": 11}");
}
END_TEST

START_TEST(test_key_as_string)
{
    const char *p = "[{\"key\": [{\"prefix\": \"vip-\"}]}]";
    ck_assert_int_eq(passes_kv(p, "vip-42", "anything"), 1);
    ck_assert_int_eq(passes_kv(p, "vip-42", NULL), 1); /* tombstones too */
    ck_assert_int_eq(passes_kv(p, "std-42", "anything"), 0);
    ck_assert_int_eq(passes_kv(p, NULL, "anything"), 0);

    const char *exact = "[{\"key\": [\"abc\"]}]";
    ck_assert_int_eq(passes_kv(exact, "abc", "v"), 1);
    ck_assert_int_eq(passes_kv(exact, "abcd", "v"), 0);
    ck_assert_int_eq(passes_kv(exact, "ab", "v"), 0);

    /* A null key does not exist; an empty key does. */
    const char *none = "[{\"key\": [{\"exists\": false}]}]";
    ck_assert_int_eq(passes_kv(none, NULL, "v"), 1);
    ck_assert_int_eq(passes_kv(none, "", "v"), 0);
    ck_assert_int_eq(passes_kv(none, "k", "v"), 0);

    /* A JSON key matched with an object pattern. */
    const char *obj = "[{\"key\": {\"user\": [\"u1\"]}}]";
    ck_assert_int_eq(passes_kv(obj, "{\"user\":\"u1\"}", "v"), 1);
    ck_assert_int_eq(passes_kv(obj, "{\"user\":\"u2\"}", "v"), 0);
    ck_assert_int_eq(passes_kv(obj, "u1", "v"), 0);
}
END_TEST

START_TEST(test_value_as_string)
{
    PASS("[{\"value\": [\"hello\"]}]", "hello");
    DROP("[{\"value\": [\"hello\"]}]", "hello!");
    DROP("[{\"value\": [\"hello\"]}]", "\"hello\""); /* raw bytes, not JSON-decoded */
    PASS("[{\"value\": [{\"suffix\": \"!\"}]}]", "hello!");
    DROP("[{\"value\": [{\"suffix\": \"!\"}]}]", "hello");
    ck_assert_int_eq(passes_kv("[{\"value\": [{\"exists\": false}]}]", "k", NULL), 1);
    ck_assert_int_eq(passes_kv("[{\"value\": [{\"exists\": false}]}]", "k", ""), 0);

    /* Bytes after an embedded NUL still count: the length rules, not strlen. */
    kf_filter *f = must_parse("[{\"value\": [{\"suffix\": \"end\"}]}]");
    kf_record r = mkrec("k", NULL, NULL, 0);
    r.value = "a\0b-end";
    r.value_len = 7;
    ck_assert_int_eq(kf_filter_match(f, &r), 1);
    r.value_len = 1;
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    kf_filter_destroy(f);
}
END_TEST

START_TEST(test_headers)
{
    kf_header web[] = {{"trace", "x", 1}, {"source", "web", 3}};
    kf_header app[] = {{"source", "app", 3}};
    kf_header nullv[] = {{"source", NULL, 0}};
    kf_filter *f = must_parse("[{\"headers\": {\"source\": [\"web\"]}}]");
    kf_record r = mkrec("k", "v", web, 2);
    ck_assert_int_eq(kf_filter_match(f, &r), 1);
    r = mkrec("k", "v", app, 1);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    r = mkrec("k", "v", NULL, 0);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    r = mkrec("k", "v", nullv, 1);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    kf_filter_destroy(f);

    f = must_parse("[{\"headers\": {\"source\": [{\"exists\": true}], \"trace\": [{\"prefix\": "
                   "\"x\"}]}}]");
    r = mkrec("k", "v", web, 2);
    ck_assert_int_eq(kf_filter_match(f, &r), 1);
    r = mkrec("k", "v", app, 1); /* no trace header */
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    kf_filter_destroy(f);

    f = must_parse("[{\"headers\": {\"source\": [{\"exists\": false}]}}]");
    r = mkrec("k", "v", NULL, 0);
    ck_assert_int_eq(kf_filter_match(f, &r), 1);
    r = mkrec("k", "v", nullv, 1); /* present with a null value: it exists */
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    kf_filter_destroy(f);
}
END_TEST

START_TEST(test_key_value_headers_together)
{
    /* One pattern's parts must all match (AND). */
    kf_header web[] = {{"source", "web", 3}};
    kf_filter *f = must_parse("[{\"key\": [{\"prefix\": \"vip-\"}], \"value\": {\"type\": "
                              "[\"order\"]}, \"headers\": {\"source\": [\"web\"]}}]");
    kf_record r = mkrec("vip-1", "{\"type\":\"order\"}", web, 1);
    ck_assert_int_eq(kf_filter_match(f, &r), 1);
    r = mkrec("std-1", "{\"type\":\"order\"}", web, 1);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    r = mkrec("vip-1", "{\"type\":\"refund\"}", web, 1);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    r = mkrec("vip-1", "{\"type\":\"order\"}", NULL, 0);
    ck_assert_int_eq(kf_filter_match(f, &r), 0);
    kf_filter_destroy(f);
}
END_TEST

START_TEST(test_patterns_are_ored)
{
    const char *p = "[{\"value\": {\"type\": [\"a\"]}}, {\"key\": [\"special\"]}, {\"value\": "
                    "{\"n\": [{\"numeric\": [\">\", 9]}]}}]";
    ck_assert_int_eq(passes_kv(p, "k", "{\"type\":\"a\"}"), 1);
    ck_assert_int_eq(passes_kv(p, "special", "{\"type\":\"b\"}"), 1);
    ck_assert_int_eq(passes_kv(p, "k", "{\"n\": 10}"), 1);
    ck_assert_int_eq(passes_kv(p, "k", "{\"type\":\"b\", \"n\": 1}"), 0);
    /* The second pattern matches even though the first parsed the value. */
    ck_assert_int_eq(passes_kv(p, "special", "not json"), 1);
}
END_TEST

START_TEST(test_non_json_value_with_object_pattern)
{
    /* An object pattern looks inside JSON; bytes that are not JSON (or not an
     * object, or null) cannot match it, even with exists:false. */
    const char *p = "[{\"value\": {\"a\": [{\"exists\": false}]}}]";
    DROP(p, "not json at all");
    DROP(p, "{\"a\": ");
    ck_assert_int_eq(passes_kv(p, "k", NULL), 0);
    const char *q = "[{\"value\": {\"a\": [\"x\"]}}]";
    DROP(q, "a=x");
    DROP(q, "[\"x\"]");
    DROP(q, "\"x\"");
    /* A JSON object followed by anything but whitespace is not JSON. */
    DROP(q, "{\"a\": \"x\"}junk");
    DROP(q, "{\"a\": \"x\"} {}");
    ck_assert_int_eq(passes_kv(q, "k", "{\"a\": \"x\"} \n"), 1);
}
END_TEST

/* ---- validation ---------------------------------------------------------- */

/* Asserts `json` is refused with a message that starts with the config path
 * and names `path` (e.g. "[0].value.amount"). */
static void refused(const char *json, const char *path)
{
    char err[512] = "";
    kf_filter *f = kf_filter_new(json, "mappings[0].filters", err, sizeof err);
    if (f) kf_filter_destroy(f);
    ck_assert_msg(f == NULL, "pattern %s was accepted", json);
    char want[256];
    snprintf(want, sizeof want, "mappings[0].filters%s:", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "pattern %s: got \"%s\", want \"%s ...\"",
                  json, err, want);
    ck_assert_msg(strlen(err) > strlen(want) + 5, "no explanation after the path: \"%s\"", err);
}

START_TEST(test_invalid_patterns_name_the_path)
{
    refused("{\"value\": {}}", "");
    refused("not json", "");
    refused("[1]", "[0]");
    refused("[{\"value\": {\"a\": [\"x\"]}}, \"oops\"]", "[1]");
    refused("[{\"vaule\": {\"a\": [\"x\"]}}]", "[0].vaule");
    refused("[{\"value\": {\"amount\": [{\"numeric\": [\">\", \"100\"]}]}}]", "[0].value.amount");
    /* A bound that overflows a double is infinite: no bound at all, and it
     * would print back as null (fuzz target filter found it). */
    refused("[{\"value\": {\"amount\": [{\"numeric\": [\">\", 1.7E77777777700]}]}}]",
            "[0].value.amount");
    refused("[{\"value\": {\"amount\": [{\"numeric\": [\"!=\", 100]}]}}]", "[0].value.amount");
    refused("[{\"value\": {\"amount\": [{\"numeric\": [\">\", 1, \"<\"]}]}}]", "[0].value.amount");
    refused("[{\"value\": {\"amount\": [{\"numeric\": [\">\", 1, \"<\", 2, \"=\", 3]}]}}]",
            "[0].value.amount");
    refused("[{\"value\": {\"amount\": []}}]", "[0].value.amount");
    refused("[{\"value\": {\"amount\": 5}}]", "[0].value.amount");
    refused("[{\"value\": {\"order\": {\"id\": [{\"prefix\": 5}]}}}]", "[0].value.order.id");
    refused("[{\"value\": {\"id\": [{\"suffix\": null}]}}]", "[0].value.id");
    refused("[{\"value\": {\"id\": [{\"exists\": \"yes\"}]}}]", "[0].value.id");
    refused("[{\"value\": {\"id\": [{\"prefix\": \"a\", \"suffix\": \"b\"}]}}]", "[0].value.id");
    refused("[{\"value\": {\"id\": [{}]}}]", "[0].value.id");
    refused("[{\"value\": {\"id\": [{\"wildcard\": \"a*\"}]}}]", "[0].value.id");
    refused("[{\"value\": {\"id\": [{\"anything-but\": true}]}}]", "[0].value.id");
    refused("[{\"key\": \"abc\"}]", "[0].key");
    refused("[{\"headers\": [\"x\"]}]", "[0].headers");
    refused("[{\"headers\": {\"source\": \"web\"}}]", "[0].headers.source");
    refused("[{\"value\": {\"a\": [\"x\"]}}, {\"value\": {\"b\": {\"c\": [{\"numeric\": []}]}}}]",
            "[1].value.b.c");
}
END_TEST

/*
 * Headers are flat strings, so a nested header pattern could never match:
 * accepted, it would filter out (and commit) every record without a word,
 * the kind of run-time surprise config checking exists to prevent. It is
 * refused, naming the field.
 */
START_TEST(test_nested_header_pattern_refused)
{
    refused("[{\"headers\": {\"source\": {\"inner\": [\"web\"]}}}]", "[0].headers.source");
}
END_TEST

/*
 * `"filters": []` must not drop every record, committing them without
 * running the handler (as a filter whose patterns, none, match nothing
 * would): it is either refused, naming the field, or means "no filtering".
 */
START_TEST(test_empty_pattern_list_never_drops_all)
{
    char err[256] = "";
    kf_filter *f = kf_filter_new("[]", "mappings[0].filters", err, sizeof err);
    if (f) {
        kf_record r = mkrec("k", "v", NULL, 0);
        int m = kf_filter_match(f, &r);
        kf_filter_destroy(f);
        ck_assert_msg(m == 1, "\"filters\": [] was accepted and filters out every record");
    } else {
        ck_assert_msg(strstr(err, "mappings[0].filters") != NULL, "message: %s", err);
    }
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

typedef struct match_arg {
    const kf_filter *f;
    int wrong;
} match_arg;

static void *match_many(void *p)
{
    match_arg *a = p;
    char value[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(value, sizeof value, "{\"n\": %d, \"type\": \"%s\"}", i, i % 2 ? "odd" : "even");
        kf_record r = mkrec("k", value, NULL, 0);
        int want = (i % 2 == 0) && i > 100;
        if (kf_filter_match(a->f, &r) != want) a->wrong++;
    }
    return NULL;
}

START_TEST(test_shared_between_threads)
{
    /* One filter serves every worker: matching must not modify it. */
    kf_filter *f = must_parse("[{\"value\": {\"type\": [\"even\"], \"n\": [{\"numeric\": [\">\", "
                              "100]}]}}]");
    pthread_t th[4];
    match_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (match_arg){f, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, match_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].wrong, 0);
    }
    kf_filter_destroy(f);
    kf_filter_destroy(NULL);
}
END_TEST

static Suite *filter_suite(void)
{
    Suite *s = suite_create("filter");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, test_string_literals);
    tcase_add_test(tc, test_number_bool_null_literals);
    tcase_add_test(tc, test_prefix_suffix);
    tcase_add_test(tc, test_exists);
    tcase_add_test(tc, test_anything_but);
    tcase_add_test(tc, test_numeric_ranges);
    tcase_add_test(tc, test_nested_fields);
    tcase_add_test(tc, test_key_as_string);
    tcase_add_test(tc, test_value_as_string);
    tcase_add_test(tc, test_headers);
    tcase_add_test(tc, test_key_value_headers_together);
    tcase_add_test(tc, test_patterns_are_ored);
    tcase_add_test(tc, test_non_json_value_with_object_pattern);
    tcase_add_test(tc, test_shared_between_threads);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("validate");
    tcase_add_test(tv, test_invalid_patterns_name_the_path);
    tcase_add_test(tv, test_nested_header_pattern_refused);
    tcase_add_test(tv, test_empty_pattern_list_never_drops_all);
    suite_add_tcase(s, tv);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(filter_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
