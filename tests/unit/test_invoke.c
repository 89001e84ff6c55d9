/*
 * Unit tests for the `kfleet invoke` input (src/invoke_input.c): one JSON
 * object per line becomes the record a handler sees. The contract is
 * invoke_input.h: every field optional, documented defaults, offsets
 * counting on from the last one given, the partition kept while topic and
 * partition stay the same, and one sentence for a line that is refused.
 */
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "src/invoke_input.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

/* Parses one line that must be accepted. */
static kf_rec *ok_line(const char *line, kf_partition **part, int64_t *next)
{
    err[0] = '\0';
    kf_rec *r = kf_invoke_parse_line(line, part, next, err, sizeof err);
    ck_assert_msg(r != NULL, "%s refused: %s", line, err);
    return r;
}

/* Parses one line that must be refused with a message containing `text`. */
static void bad_line(const char *line, const char *text)
{
    kf_partition *part = NULL;
    int64_t next = 0;
    err[0] = '\0';
    kf_rec *r = kf_invoke_parse_line(line, &part, &next, err, sizeof err);
    ck_assert_msg(r == NULL, "%s accepted", line);
    ck_assert_msg(strstr(err, text) != NULL, "%s: \"%s\" lacks \"%s\"", line, err, text);
    kf_partition_unref(part);
}

START_TEST(test_every_field)
{
    kf_partition *part = NULL;
    int64_t next = 0;
    kf_rec *r = ok_line("{\"key\":\"k1\",\"value\":\"v\",\"headers\":{\"a\":\"1\",\"b\":\"\"},"
                        "\"topic\":\"orders\",\"partition\":3,\"offset\":7,\"timestamp\":1700}",
                        &part, &next);
    const kf_record *v = &r->view;
    ck_assert_str_eq(v->topic, "orders");
    ck_assert_int_eq(v->partition, 3);
    ck_assert_int_eq(v->offset, 7);
    ck_assert_int_eq(v->timestamp_ms, 1700);
    ck_assert_uint_eq(v->key_len, 2);
    ck_assert_int_eq(memcmp(v->key, "k1", 2), 0);
    ck_assert_uint_eq(v->value_len, 1);
    ck_assert_uint_eq(v->header_count, 2);
    ck_assert_str_eq(v->headers[0].name, "a");
    ck_assert_uint_eq(v->headers[1].value_len, 0);
    ck_assert_int_eq(next, 8);
    ck_assert_ptr_eq(r->part, part);
    kf_rec_free(r);
    kf_partition_unref(part);
}
END_TEST

START_TEST(test_defaults_and_json_value)
{
    kf_partition *part = NULL;
    int64_t next = 0;
    kf_rec *r = ok_line("{\"value\":{\"n\":1}}", &part, &next);
    ck_assert_str_eq(r->view.topic, "invoke");
    ck_assert_int_eq(r->view.partition, 0);
    ck_assert_int_eq(r->view.offset, 0);
    ck_assert_ptr_null(r->view.key);
    ck_assert_uint_eq(r->view.value_len, 7);
    ck_assert_int_eq(memcmp(r->view.value, "{\"n\":1}", 7), 0);
    ck_assert_int_gt(r->view.timestamp_ms, 0); /* the wall clock */
    kf_rec_free(r);
    r = ok_line("{\"key\":null,\"value\":null}", &part, &next);
    ck_assert_ptr_null(r->view.key);
    ck_assert_ptr_null(r->view.value);
    ck_assert_int_eq(r->view.offset, 1);
    kf_rec_free(r);
    kf_partition_unref(part);
}
END_TEST

START_TEST(test_offsets_and_partitions_carry)
{
    kf_partition *part = NULL;
    int64_t next = 0;
    kf_rec *r = ok_line("{\"offset\":41}", &part, &next);
    kf_partition *first = part;
    kf_rec_free(r);
    r = ok_line("{}", &part, &next);
    ck_assert_int_eq(r->view.offset, 42);
    ck_assert_ptr_eq(part, first); /* same topic and partition: kept */
    kf_rec_free(r);
    r = ok_line("{\"partition\":1}", &part, &next);
    ck_assert_int_eq(r->view.offset, 43);
    ck_assert_int_eq(part->partition, 1);
    kf_rec_free(r);
    kf_partition_unref(part);
}
END_TEST

START_TEST(test_refused_lines)
{
    bad_line("[1,2]", "expected a JSON object per line");
    bad_line("not json", "expected a JSON object per line");
    bad_line("{\"key\":1}", "key must be a string or null");
    bad_line("{\"headers\":[]}", "headers an object of strings");
    bad_line("{\"topic\":7}", "topic a string");
    bad_line("{\"headers\":{\"h\":1}}", "headers.h: expected a string (64 at most)");
}
END_TEST

START_TEST(test_at_most_64_headers)
{
    char line[4096];
    size_t o = (size_t)snprintf(line, sizeof line, "{\"headers\":{");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s\"h%d\":\"v\"", i ? "," : "", i);
    snprintf(line + o, sizeof line - o, "}}");
    bad_line(line, "headers.h64: expected a string (64 at most)");
}
END_TEST

/* Numbers out of the range of the record's fields (converting 1e20 into an
 * int64_t is undefined behaviour), fractions and values of other types are
 * refused, naming the field, not converted, cut or ignored. */
START_TEST(test_number_fields_checked)
{
    bad_line("{\"timestamp\":1.7e20}", "timestamp: expected an integer");
    bad_line("{\"offset\":1e300}", "offset: expected an integer 0..9007199254740991");
    bad_line("{\"offset\":-1}", "offset: expected an integer");
    bad_line("{\"partition\":4294967296}", "partition: expected an integer 0..2147483647");
    bad_line("{\"partition\":-1}", "partition: expected an integer");
    bad_line("{\"partition\":1.5}", "partition: expected an integer");
    bad_line("{\"partition\":\"3\"}", "partition: expected an integer");
    bad_line("{\"timestamp\":-2}", "timestamp: expected an integer -1..9007199254740991");

    kf_partition *part = NULL;
    int64_t next = 0;
    kf_rec *r = ok_line("{\"partition\":2147483647,\"offset\":9007199254740991,\"timestamp\":-1}",
                        &part, &next);
    ck_assert_int_eq(r->view.partition, 2147483647);
    ck_assert_int_eq(r->view.offset, INT64_C(9007199254740991));
    ck_assert_int_eq(r->view.timestamp_ms, -1);
    ck_assert_int_eq(next, INT64_C(9007199254740992));
    kf_rec_free(r);
    kf_partition_unref(part);
}
END_TEST

static Suite *invoke_suite(void)
{
    Suite *s = suite_create("invoke");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_field);
    tcase_add_test(tc, test_defaults_and_json_value);
    tcase_add_test(tc, test_offsets_and_partitions_carry);
    tcase_add_test(tc, test_refused_lines);
    tcase_add_test(tc, test_at_most_64_headers);
    tcase_add_test(tc, test_number_fields_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(invoke_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
