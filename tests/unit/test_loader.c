/*
 * Unit tests for the handler loader (handlers/loader.c), the example handlers
 * (handlers/examples/: echo.c, uppercase.c, flaky.c) and the refusals the ABI promises,
 * using the fixtures in tests/unit/fixtures/ (built to build/fixtures/<name>.so).
 *
 * Outputs are captured by a test kf_emitter that copies everything it is given,
 * as the real one does, so a handler that emits from freed memory shows up
 * under ASan.
 */
#include "handlers/loader.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIXTURE(n) KF_BINARY_DIR "/fixtures/" n ".so"
#define HANDLER(n) KF_BINARY_DIR "/handlers/" n ".so"

/* ---- a recording emitter ------------------------------------------------ */

typedef struct output {
    char *sink; /* NULL = every sink */
    char *key;  /* NULL = null key; otherwise key_len bytes plus a NUL */
    size_t key_len;
    char *value; /* NULL = null value; otherwise value_len bytes plus a NUL */
    size_t value_len;
    size_t header_count;
} output;

typedef struct test_em {
    kf_emitter base; /* first, so a kf_emitter * is a test_em * */
    output *outs;
    size_t n, cap;
    int refuse; /* when set, emit returns -1 like an unknown sink */
} test_em;

static char *dup_bytes(const void *p, size_t n)
{
    if (!p) return NULL;
    char *c = malloc(n + 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

static int rec_emit_headers(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                            const void *value, size_t value_len, const kf_header *headers,
                            size_t header_count)
{
    (void)headers;
    test_em *t = (test_em *)em;
    if (t->refuse) return -1;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->outs = realloc(t->outs, t->cap * sizeof *t->outs);
        ck_assert_ptr_nonnull(t->outs);
    }
    output *o = &t->outs[t->n++];
    o->sink = sink ? strdup(sink) : NULL;
    o->key = dup_bytes(key, key_len);
    o->key_len = key_len;
    o->value = dup_bytes(value, value_len);
    o->value_len = value_len;
    o->header_count = header_count;
    return 0;
}

static int rec_emit(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                    const void *value, size_t value_len)
{
    return rec_emit_headers(em, sink, key, key_len, value, value_len, NULL, 0);
}

static void em_init(test_em *t)
{
    memset(t, 0, sizeof *t);
    t->base.struct_size = sizeof t->base;
    t->base.emit = rec_emit;
    t->base.emit_headers = rec_emit_headers;
}

static void em_clear(test_em *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->outs[i].sink);
        free(t->outs[i].key);
        free(t->outs[i].value);
    }
    free(t->outs);
    t->outs = NULL;
    t->n = t->cap = 0;
}

/* A record with string key and value (either may be NULL). */
static kf_record make_rec(const char *key, const char *value, int attempt)
{
    kf_record r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.topic = "orders";
    r.partition = 3;
    r.offset = 42;
    r.timestamp_ms = -1;
    r.key = key;
    r.key_len = key ? strlen(key) : 0;
    r.value = value;
    r.value_len = value ? strlen(value) : 0;
    r.attempt = attempt;
    return r;
}

/* ---- helpers ------------------------------------------------------------ */

#define ck_assert_has(hay, needle)                                                                 \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "\"%s\" does not contain \"%s\"", (hay),        \
                  (needle))

/* Loads `path`, expects a refusal naming the file and containing `phrase`. */
static void expect_refusal(const char *path, const char *config, const char *phrase)
{
    char err[1024] = "";
    kf_loaded_handler *h = kf_handler_load(path, config, err, sizeof err);
    ck_assert_msg(h == NULL, "%s loaded but should have been refused", path);
    ck_assert_has(err, path);
    ck_assert_has(err, phrase);
}

static kf_loaded_handler *must_load(const char *path, const char *config)
{
    char err[1024] = "";
    kf_loaded_handler *h = kf_handler_load(path, config, err, sizeof err);
    ck_assert_msg(h != NULL, "loading %s: %s", path, err);
    return h;
}

/* Reads a small file into a static buffer; "" when it does not exist. */
static const char *slurp(const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A fresh temporary directory for files a fixture writes. */
static void temp_dir(char *out, size_t outlen)
{
    snprintf(out, outlen, "/tmp/kf_test_loader.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

/* ---- refusals ----------------------------------------------------------- */

START_TEST(missing_file)
{
    expect_refusal(HANDLER("does_not_exist"), "{}", "cannot open: No such file or directory");
    char err[256];
    ck_assert_ptr_null(kf_handler_load(HANDLER("does_not_exist"), "{}", err, sizeof err));
    ck_assert_str_eq(err, "handler " HANDLER("does_not_exist") ": cannot open: No such file or "
                                                               "directory");
}
END_TEST

START_TEST(directory_refused)
{
    expect_refusal(KF_BINARY_DIR "/fixtures", "{}", "Is a directory");
}
END_TEST

START_TEST(not_a_shared_object)
{
    char err[1024] = "";
    ck_assert_ptr_null(
        kf_handler_load(KF_SOURCE_DIR "/tests/unit/test_loader.c", "{}", err, sizeof err));
    /* dlerror's own copy of the path is dropped: the sentence names it once. */
    ck_assert_str_eq(err, "handler " KF_SOURCE_DIR "/tests/unit/test_loader.c: cannot load: "
                          "invalid ELF header");
}
END_TEST

START_TEST(unreadable_file)
{
    /* root reads anything, so this can only be checked as another user. */
    if (geteuid() == 0) return;
    char dir[64], file[128];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/locked.so", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(chmod(file, 0), 0);
    expect_refusal(file, "{}", "cannot open: Permission denied");
    unlink(file);
    rmdir(dir);
}
END_TEST

START_TEST(empty_path)
{
    char err[128] = "";
    ck_assert_ptr_null(kf_handler_load(NULL, "{}", err, sizeof err));
    ck_assert_has(err, "empty");
    err[0] = '\0';
    ck_assert_ptr_null(kf_handler_load("", "{}", err, sizeof err));
    ck_assert_has(err, "empty");
}
END_TEST

START_TEST(no_entry_symbol)
{
    expect_refusal(FIXTURE("no_entry"), "{}",
                   "does not export kf_handler_entry (is it a kfleet handler?)");
}
END_TEST

START_TEST(entry_returns_null)
{
    expect_refusal(FIXTURE("null_entry"), "{}", "returned NULL");
}
END_TEST

START_TEST(abi_mismatch)
{
    expect_refusal(FIXTURE("abi_mismatch"), "{}",
                   "was built for handler ABI 7, this kfleet speaks ABI 1: rebuild it against "
                   "include/kfleet/handler.h");
}
END_TEST

START_TEST(small_struct)
{
    expect_refusal(FIXTURE("small_struct"), "{}", "smaller than");
}
END_TEST

START_TEST(no_handle)
{
    expect_refusal(FIXTURE("no_handle"), "{}", "no handle function");
}
END_TEST

START_TEST(init_error_verbatim)
{
    char err[1024] = "";
    ck_assert_ptr_null(kf_handler_load(FIXTURE("init_fails"), "{}", err, sizeof err));
    /* Whole message, so any rewording of init's text is caught. The fixture's
     * fini traps: reaching here also proves fini did not run after a failed init. */
    ck_assert_str_eq(err, "handler " FIXTURE("init_fails") " init failed: database unreachable: "
                                                           "connection refused");
}
END_TEST

START_TEST(tiny_error_buffer)
{
    char err[16];
    memset(err, 'x', sizeof err);
    ck_assert_ptr_null(kf_handler_load(FIXTURE("init_fails"), "{}", err, sizeof err));
    ck_assert_uint_eq(strlen(err), sizeof err - 1);
    ck_assert_ptr_null(kf_handler_load(HANDLER("nope"), "{}", err, sizeof err));
    ck_assert_uint_eq(strlen(err), sizeof err - 1);
}
END_TEST

/* ---- the loader's contract on valid handlers ---------------------------- */

START_TEST(unknown_result_is_fail)
{
    kf_loaded_handler *h = must_load(FIXTURE("unknown_result"), "{}");
    test_em em;
    em_init(&em);
    kf_record r = make_rec("k", "v", 1);
    ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_FAIL);
    em_clear(&em);
    kf_handler_unload(h);
}
END_TEST

START_TEST(fini_runs_at_unload)
{
    char dir[64], file[128], cfg[256];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/fini", dir);
    snprintf(cfg, sizeof cfg, "{\"fini_file\": \"%s\"}", file);

    kf_loaded_handler *h = must_load(FIXTURE("counting"), cfg);
    ck_assert_str_eq(kf_handler_name(h), "counting");
    ck_assert_int_ge(kf_handler_init_us(h), 0);
    test_em em;
    em_init(&em);
    kf_record r = make_rec("k", "v", 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_OK);
    ck_assert_uint_eq(em.n, 3);
    ck_assert_int_ne(access(file, F_OK), 0); /* fini has not run yet */

    kf_handler_unload(h);
    ck_assert_str_eq(slurp(file), "calls=3 state=ok\n");
    em_clear(&em);
    unlink(file);
    rmdir(dir);
}
END_TEST

START_TEST(two_instances_are_independent)
{
    /* Two mappings may load the same .so: dlopen shares the code, init gives
     * each its own state, and unloading one leaves the other working. */
    char dir[64], f1[128], f2[128], c1[256], c2[256];
    temp_dir(dir, sizeof dir);
    snprintf(f1, sizeof f1, "%s/one", dir);
    snprintf(f2, sizeof f2, "%s/two", dir);
    snprintf(c1, sizeof c1, "{\"fini_file\": \"%s\"}", f1);
    snprintf(c2, sizeof c2, "{\"fini_file\": \"%s\"}", f2);
    kf_loaded_handler *a = must_load(FIXTURE("counting"), c1);
    kf_loaded_handler *b = must_load(FIXTURE("counting"), c2);
    test_em em;
    em_init(&em);
    kf_record r = make_rec("k", "v", 1);
    ck_assert_int_eq(kf_handler_call(a, &r, &em.base), KF_OK);
    ck_assert_int_eq(kf_handler_call(a, &r, &em.base), KF_OK);
    kf_handler_unload(a);
    ck_assert_str_eq(slurp(f1), "calls=2 state=ok\n");
    ck_assert_int_eq(kf_handler_call(b, &r, &em.base), KF_OK);
    kf_handler_unload(b);
    ck_assert_str_eq(slurp(f2), "calls=1 state=ok\n");
    em_clear(&em);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
}
END_TEST

struct hammer {
    kf_loaded_handler *h;
    int calls;
    int failures;
};

static void *hammer_thread(void *arg)
{
    struct hammer *hm = arg;
    test_em em;
    em_init(&em);
    kf_record r = make_rec("k", "v", 1);
    for (int i = 0; i < hm->calls; i++)
        if (kf_handler_call(hm->h, &r, &em.base) != KF_OK) hm->failures++;
    if (em.n != (size_t)hm->calls) hm->failures++;
    em_clear(&em);
    return NULL;
}

START_TEST(concurrent_calls)
{
    char dir[64], file[128], cfg[256];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/fini", dir);
    snprintf(cfg, sizeof cfg, "{\"fini_file\": \"%s\"}", file);
    kf_loaded_handler *h = must_load(FIXTURE("counting"), cfg);
    enum { THREADS = 4, CALLS = 2000 };
    pthread_t t[THREADS];
    struct hammer hm[THREADS];
    for (int i = 0; i < THREADS; i++) {
        hm[i] = (struct hammer){.h = h, .calls = CALLS};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_thread, &hm[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(hm[i].failures, 0);
    }
    kf_handler_unload(h);
    ck_assert_str_eq(slurp(file), "calls=8000 state=ok\n");
    unlink(file);
    rmdir(dir);
}
END_TEST

START_TEST(short_descriptor_read_only_within_size)
{
    /* The fixture's handle_batch and fini (beyond struct_size) trap if called. */
    kf_loaded_handler *h = must_load(FIXTURE("short_desc"), "{}");
    ck_assert_int_eq(kf_handler_has_batch(h), 0);
    ck_assert_str_eq(kf_handler_name(h), "short_desc.so"); /* unnamed: the basename */
    test_em em;
    em_init(&em);
    kf_record r = make_rec("k", "v", 1);
    ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_RETRY);
    kf_handler_unload(h);
}
END_TEST

START_TEST(batch_results)
{
    kf_loaded_handler *h = must_load(FIXTURE("batch"), "{}");
    ck_assert_int_eq(kf_handler_has_batch(h), 1);
    const char *values[] = {"ok", "retry", "odd", "skip", "nope"};
    enum { N = 5 };
    kf_record recs[N];
    const kf_record *rp[N];
    test_em ems[N];
    kf_emitter *ep[N];
    kf_result res[N];
    for (int i = 0; i < N; i++) {
        recs[i] = make_rec("k", values[i], 1);
        rp[i] = &recs[i];
        em_init(&ems[i]);
        ep[i] = &ems[i].base;
    }
    /* A caller's stale KF_OK must not survive for a record the handler skipped. */
    for (int i = 0; i < N; i++)
        res[i] = KF_OK;
    kf_handler_call_batch(h, rp, ep, N, res);
    ck_assert_int_eq(res[0], KF_OK);
    ck_assert_int_eq(res[1], KF_RETRY);
    ck_assert_int_eq(res[2], KF_FAIL); /* 9: unknown */
    ck_assert_int_eq(res[3], KF_FAIL); /* never written */
    ck_assert_int_eq(res[4], KF_FAIL);
    ck_assert_uint_eq(ems[0].n, 1);
    ck_assert_str_eq(ems[0].outs[0].value, "ok");
    for (int i = 1; i < N; i++)
        ck_assert_uint_eq(ems[i].n, 0);
    /* The single-record path is still handle, not handle_batch. */
    ck_assert_int_eq(kf_handler_call(h, &recs[0], ep[0]), KF_RETRY);
    for (int i = 0; i < N; i++)
        em_clear(&ems[i]);
    kf_handler_unload(h);
}
END_TEST

START_TEST(unload_null)
{
    kf_handler_unload(NULL);
}
END_TEST

START_TEST(relative_path_without_slash)
{
    /* "echo.so" must mean the file in the working directory, not a library
     * dlopen would search for in the system paths. */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(KF_BINARY_DIR "/handlers"), 0);
    char err[512] = "";
    kf_loaded_handler *h = kf_handler_load("echo.so", "{}", err, sizeof err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(h != NULL, "%s", err);
    ck_assert_str_eq(kf_handler_name(h), "echo");
    kf_handler_unload(h);
}
END_TEST

/* ---- echo --------------------------------------------------------------- */

START_TEST(echo_emits_unchanged)
{
    kf_loaded_handler *h = must_load(HANDLER("echo"), NULL);
    ck_assert_str_eq(kf_handler_name(h), "echo");
    ck_assert_int_eq(kf_handler_has_batch(h), 0);
    test_em em;
    em_init(&em);
    kf_record r = make_rec("user-1", "hello world", 1);
    ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_OK);
    ck_assert_uint_eq(em.n, 1);
    ck_assert_ptr_null(em.outs[0].sink); /* every sink */
    ck_assert_str_eq(em.outs[0].key, "user-1");
    ck_assert_str_eq(em.outs[0].value, "hello world");
    ck_assert_uint_eq(em.outs[0].value_len, strlen("hello world"));

    /* Tombstone and null key pass through as NULL. */
    kf_record t = make_rec(NULL, NULL, 1);
    ck_assert_int_eq(kf_handler_call(h, &t, &em.base), KF_OK);
    ck_assert_uint_eq(em.n, 2);
    ck_assert_ptr_null(em.outs[1].key);
    ck_assert_ptr_null(em.outs[1].value);

    /* A refused output is not silently dropped. */
    em.refuse = 1;
    ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_FAIL);
    em_clear(&em);
    kf_handler_unload(h);
}
END_TEST

/* ---- uppercase ---------------------------------------------------------- */

/* Runs one value through `h`; returns the result and the output value (or NULL). */
static kf_result run1(kf_loaded_handler *h, const char *value, int attempt, char *out,
                      size_t outlen)
{
    test_em em;
    em_init(&em);
    kf_record r = make_rec("key-9", value, attempt);
    kf_result res = kf_handler_call(h, &r, &em.base);
    out[0] = '\0';
    ck_assert_uint_le(em.n, 1);
    if (em.n == 1) {
        ck_assert_str_eq(em.outs[0].key, "key-9");
        ck_assert_ptr_null(em.outs[0].sink);
        snprintf(out, outlen, "%s", em.outs[0].value ? em.outs[0].value : "(null)");
    }
    em_clear(&em);
    return res;
}

START_TEST(uppercase_default_field)
{
    kf_loaded_handler *h = must_load(HANDLER("uppercase"), "{}");
    ck_assert_str_eq(kf_handler_name(h), "uppercase");
    char out[256];
    ck_assert_int_eq(run1(h, "{\"name\": \"ada lovelace\", \"id\": 7}", 1, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "{\"name\":\"ADA LOVELACE\",\"id\":7}");
    /* Only ASCII letters change; UTF-8 stays intact. */
    ck_assert_int_eq(run1(h, "{\"name\":\"zo\xc3\xab\"}", 1, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "{\"name\":\"ZO\xc3\xab\"}");
    kf_handler_unload(h);
}
END_TEST

START_TEST(uppercase_configured_field)
{
    kf_loaded_handler *h = must_load(HANDLER("uppercase"), "{\"field\": \"city\"}");
    char out[256];
    ck_assert_int_eq(run1(h, "{\"name\":\"ada\",\"city\":\"london\"}", 1, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "{\"name\":\"ada\",\"city\":\"LONDON\"}");
    /* Has "name" but not "city": permanent failure, no output. */
    ck_assert_int_eq(run1(h, "{\"name\":\"ada\"}", 1, out, sizeof out), KF_FAIL);
    ck_assert_str_eq(out, "");
    kf_handler_unload(h);
}
END_TEST

START_TEST(uppercase_rejects_bad_values)
{
    kf_loaded_handler *h = must_load(HANDLER("uppercase"), "{}");
    char out[256];
    const char *bad[] = {
        "not json",                   /* not JSON */
        "[\"name\"]",                 /* JSON, not an object */
        "{\"id\": 1}",                /* no field */
        "{\"name\": 5}",              /* field not a string */
        "{\"name\": \"a\"} trailing", /* trailing garbage */
        "{\"name\": \"a\"",           /* truncated */
        "",                           /* empty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(run1(h, bad[i], 1, out, sizeof out) == KF_FAIL, "value %s not refused",
                      bad[i]);
        ck_assert_str_eq(out, "");
    }
    ck_assert_int_eq(run1(h, NULL, 1, out, sizeof out), KF_FAIL); /* tombstone */

    /* The value is parsed by length, not up to a NUL: bytes past value_len
     * (here the rest of a longer buffer) must not count. */
    test_em em;
    em_init(&em);
    const char buf[] = "{\"name\":\"x\"}GARBAGE";
    kf_record r = make_rec("k", buf, 1);
    r.value_len = strlen("{\"name\":\"x\"}");
    ck_assert_int_eq(kf_handler_call(h, &r, &em.base), KF_OK);
    ck_assert_str_eq(em.outs[0].value, "{\"name\":\"X\"}");
    em_clear(&em);
    kf_handler_unload(h);
}
END_TEST

START_TEST(uppercase_bad_config)
{
    expect_refusal(HANDLER("uppercase"), "{\"field\": 3}",
                   "init failed: handler.config.field: expected a non-empty string, got 3");
    expect_refusal(HANDLER("uppercase"), "{\"field\": \"\"}", "expected a non-empty string");
    expect_refusal(HANDLER("uppercase"), "{\"feild\": \"name\"}",
                   "init failed: handler.config.feild: unknown key");
    expect_refusal(HANDLER("uppercase"), "[1]", "expected a JSON object");
}
END_TEST

/* ---- flaky -------------------------------------------------------------- */

START_TEST(flaky_by_attempt)
{
    kf_loaded_handler *h = must_load(HANDLER("flaky"), "{}");
    char out[256];
    /* Defaults: RETRY retries twice, then succeeds. */
    ck_assert_int_eq(run1(h, "please RETRY me", 1, out, sizeof out), KF_RETRY);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run1(h, "please RETRY me", 2, out, sizeof out), KF_RETRY);
    ck_assert_int_eq(run1(h, "please RETRY me", 3, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "please RETRY me");
    /* POISON fails on every attempt, with no output. */
    ck_assert_int_eq(run1(h, "a POISON pill", 1, out, sizeof out), KF_FAIL);
    ck_assert_int_eq(run1(h, "a POISON pill", 9, out, sizeof out), KF_FAIL);
    ck_assert_str_eq(out, "");
    /* Fail wins over retry. */
    ck_assert_int_eq(run1(h, "RETRY POISON", 1, out, sizeof out), KF_FAIL);
    /* Anything else: echo. Null values too. */
    ck_assert_int_eq(run1(h, "fine", 1, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "fine");
    ck_assert_int_eq(run1(h, NULL, 1, out, sizeof out), KF_OK);
    ck_assert_str_eq(out, "(null)");
    kf_handler_unload(h);
}
END_TEST

START_TEST(flaky_configured)
{
    kf_loaded_handler *h = must_load(
        HANDLER("flaky"),
        "{\"fail_if_contains\": \"bad\", \"retry_if_contains\": \"\", \"retry_times\": 0}");
    char out[256];
    ck_assert_int_eq(run1(h, "RETRY", 1, out, sizeof out), KF_OK); /* retry trigger off */
    ck_assert_int_eq(run1(h, "POISON", 1, out, sizeof out), KF_OK);
    ck_assert_int_eq(run1(h, "so bad", 1, out, sizeof out), KF_FAIL);
    kf_handler_unload(h);

    h = must_load(HANDLER("flaky"), "{\"retry_if_contains\": \"slow\", \"retry_times\": 1}");
    ck_assert_int_eq(run1(h, "slow", 1, out, sizeof out), KF_RETRY);
    ck_assert_int_eq(run1(h, "slow", 2, out, sizeof out), KF_OK);
    kf_handler_unload(h);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

START_TEST(flaky_sleeps)
{
    kf_loaded_handler *h = must_load(HANDLER("flaky"), "{\"sleep_ms\": 30}");
    char out[64];
    double t0 = now_ms();
    ck_assert_int_eq(run1(h, "x", 1, out, sizeof out), KF_OK);
    ck_assert_double_ge(now_ms() - t0, 30.0);
    kf_handler_unload(h);
}
END_TEST

START_TEST(flaky_bad_config)
{
    expect_refusal(
        HANDLER("flaky"), "{\"retry_times\": -1}",
        "init failed: handler.config.retry_times: expected an integer 0..1000000, got -1");
    expect_refusal(HANDLER("flaky"), "{\"sleep_ms\": 1.5}", "handler.config.sleep_ms");
    expect_refusal(HANDLER("flaky"), "{\"sleep_ms\": 1e300}", "handler.config.sleep_ms");
    expect_refusal(HANDLER("flaky"), "{\"fail_if_contains\": 1}",
                   "handler.config.fail_if_contains: expected a string, got 1");
    expect_refusal(HANDLER("flaky"), "{\"fail_if\": \"x\"}", "handler.config.fail_if: unknown key");
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("refusals");
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, directory_refused);
    tcase_add_test(tc, not_a_shared_object);
    tcase_add_test(tc, unreadable_file);
    tcase_add_test(tc, empty_path);
    tcase_add_test(tc, no_entry_symbol);
    tcase_add_test(tc, entry_returns_null);
    tcase_add_test(tc, abi_mismatch);
    tcase_add_test(tc, small_struct);
    tcase_add_test(tc, no_handle);
    tcase_add_test(tc, init_error_verbatim);
    tcase_add_test(tc, tiny_error_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("contract");
    tcase_add_test(tc, unknown_result_is_fail);
    tcase_add_test(tc, fini_runs_at_unload);
    tcase_add_test(tc, two_instances_are_independent);
    tcase_add_test(tc, concurrent_calls);
    tcase_add_test(tc, short_descriptor_read_only_within_size);
    tcase_add_test(tc, batch_results);
    tcase_add_test(tc, unload_null);
    tcase_add_test(tc, relative_path_without_slash);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_add_test(tc, echo_emits_unchanged);
    tcase_add_test(tc, uppercase_default_field);
    tcase_add_test(tc, uppercase_configured_field);
    tcase_add_test(tc, uppercase_rejects_bad_values);
    tcase_add_test(tc, uppercase_bad_config);
    tcase_add_test(tc, flaky_by_attempt);
    tcase_add_test(tc, flaky_configured);
    tcase_add_test(tc, flaky_sleeps);
    tcase_add_test(tc, flaky_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* The .so files are separate CMake targets; say so instead of failing obscurely. */
    const char *needed[] = {FIXTURE("counting"), HANDLER("echo"), HANDLER("uppercase"),
                            HANDLER("flaky")};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (access(needed[i], R_OK) != 0)
            fprintf(stderr,
                    "test_loader: %s is missing: build every target first "
                    "(cmake --build %s)\n",
                    needed[i], KF_BINARY_DIR);
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
