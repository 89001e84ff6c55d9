#include "tests/unit/support/eos_batch.h"

#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void add(batch *b, int64_t offset, const char *cmd, const char *key, const char *val)
{
    ck_assert_uint_lt(b->n, BATCH_MAX);
    size_t i = b->n++;
    b->items[i] = (kf_eos_item){.offset = offset};
    if (!cmd) return;
    snprintf(b->val[i], sizeof b->val[i], "%s", val);
    b->argv[i][0] = cmd;
    b->argv[i][1] = key;
    b->argv[i][2] = b->val[i];
    for (int j = 0; j < 3; j++)
        b->len[i][j] = strlen(b->argv[i][j]);
    b->writes[i] = (kf_eos_write){.argc = 3, .argv = b->argv[i], .argvlen = b->len[i]};
    b->items[i].writes = &b->writes[i];
    b->items[i].nwrites = 1;
}

void add_n(batch *b, int64_t first, int n, const char *cmd, const char *key, const char *vprefix)
{
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s%d", vprefix, i);
        add(b, first + i, cmd, key, v);
    }
}

kf_eos_part part_at(const kf_eos_item *items, size_t n, int32_t partition, int64_t epoch,
                    int64_t trim)
{
    return (kf_eos_part){.topic = "t",
                         .partition = partition,
                         .epoch = epoch,
                         .trim = trim,
                         .items = items,
                         .nitems = n};
}

kf_eos_part part_of(const batch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return part_at(b->items, b->n, partition, epoch, trim);
}

void complete1(kf_eos_state *c, const char *sink, const batch *b, int32_t partition, int64_t epoch,
               int64_t trim, int *status)
{
    kf_eos_part p = part_of(b, partition, epoch, trim);
    char err[512];
    int rc = kf_eos_state_complete(c, sink, &p, 1, status, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "complete: %d %s", rc, err);
}

int complete_rpush(kf_eos_state *c, const char *sink, int64_t epoch, int64_t offset,
                   const char *key, const char *val)
{
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, offset, key ? "RPUSH" : NULL, key, val);
    int st[1] = {-1};
    complete1(c, sink, &b, 0, epoch, -1, st);
    return st[0];
}

void complete_marks(kf_eos_state *c, int64_t epoch, int64_t first, int n)
{
    static batch b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < n; i++)
        add(&b, first + i, NULL, NULL, NULL);
    static int st[BATCH_MAX];
    complete1(c, "a", &b, 0, epoch, -1, st);
    assert_st_all(st, 0, (size_t)n, KF_EOS_APPLIED, "mark");
}

void assert_list_of(const char *key, const batch *b)
{
    static const char *want[BATCH_MAX];
    for (size_t i = 0; i < b->n; i++)
        want[i] = b->val[i];
    assert_list(key, want, b->n);
}

void mclear(mbatch *b)
{
    memset(b, 0, sizeof *b);
}

void item(mbatch *b, int64_t offset)
{
    ck_assert_uint_lt(b->nitems, 64);
    b->items[b->nitems++] = (kf_eos_item){.offset = offset, .writes = &b->writes[b->nwrites]};
}

void wr(mbatch *b, int argc, ...)
{
    ck_assert_uint_gt(b->nitems, 0);
    ck_assert_uint_lt(b->nwrites, 128);
    ck_assert_int_le(argc, 8);
    size_t w = b->nwrites++;
    va_list ap;
    va_start(ap, argc);
    for (int j = 0; j < argc; j++)
        b->argv[w][j] = va_arg(ap, const char *);
    va_end(ap);
    b->writes[w] = (kf_eos_write){.argc = argc, .argv = b->argv[w]};
    b->items[b->nitems - 1].nwrites++;
}

void item_rpush(mbatch *b, int64_t offset, const char *key, const char *val)
{
    item(b, offset);
    wr(b, 3, "RPUSH", key, val);
}

kf_eos_part mpart_of(const mbatch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return part_at(b->items, b->nitems, partition, epoch, trim);
}

void assert_st_(const int *st, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(st[i] == want[i], "item %zu: status %d, want %d", i, st[i], want[i]);
}

void assert_st_all(const int *st, size_t from, size_t to, int want, const char *what)
{
    for (size_t i = from; i < to; i++)
        if (st[i] != want) ck_abort_msg("%s item %zu: status %d, want %d", what, i, st[i], want);
}
