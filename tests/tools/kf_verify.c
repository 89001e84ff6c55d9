/*
 * kf_verify — reads what kfleet wrote to one sink and checks it against the
 * records kf_produce made: every expected id present, none twice, per-key
 * order kept.
 *
 * Sources (exactly one):
 *   --kafka TOPIC      the whole topic from the beginning, read_committed,
 *                      until the end of every partition
 *   --dlq TOPIC        like --kafka, and every record must carry the
 *                      kfleet.* failure headers (printed for the first record);
 *                      --check-source also reads the source topic and checks
 *                      that the headers point at a record with the same value
 *   --redis-list KEY   LRANGE of a list, in chunks (--redis URL or $KFLEET_REDIS)
 *   --jsonl FILE       the stdout sink's JSON lines
 *                      {"sink","topic","partition","offset","key","value"}
 *   --http-log FILE    http_receiver.py's log; only 2xx requests count, and
 *                      with --effects only the first 2xx request of each
 *                      Idempotency-Key (what a receiver honouring the key
 *                      applies; a request without the key always counts)
 *
 * Each output value is parsed as the JSON kf_produce wrote (echo and
 * uppercase handlers keep its fields) to find the record's id, key and seq.
 * With --raw-bytes N or --null-values the values are checked byte-exact
 * instead, the id coming from the "#<id>#" header of the value or from a
 * "k<id>" key.
 *
 * Output, one line on stdout:
 *   source=<s> records=<n> unique=<u> duplicates=<d> lost=<l> order_violations=<o>
 *   unexpected=<x> bad=<b> [first_ts_ms=.. last_ts_ms=..]
 * Exit status: 0 only if duplicates, lost, order violations, unexpected and
 * bad are all 0 (--allow-duplicates lifts the duplicate rule); 3 when the only
 * problem is lost records (incomplete: polling again may pass); 1 for any
 * other problem (more records arriving cannot fix it); 2 on bad usage or when
 * the source cannot be read.
 */
#include "tests/tools/lib/tool_util.h"

#include <ctype.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXPECT_HEADERS 16

typedef enum src_kind { SRC_NONE, SRC_KAFKA, SRC_DLQ, SRC_REDIS, SRC_JSONL, SRC_HTTP } src_kind;

typedef struct opts {
    src_kind kind;
    const char *source; /* topic, key or file */
    const char *brokers;
    const char *redis_url;
    const char *sink_filter; /* --sink for --jsonl */
    bool have_range;
    long long from, to; /* expected ids [from, to) */
    long long exclude_mod, only_mod;
    long long expect_dlq; /* -1 = not given */
    bool allow_duplicates;
    bool check_key_order;
    const char *field;
    bool upper;
    long long raw_bytes; /* -1 = JSON values */
    bool null_values;
    bool check_source;
    bool effects; /* --http-log: count only the first 2xx request per Idempotency-Key */
    double wait_s;
    int kafka_idle_s;
    const char *expect_hdr_name[MAX_EXPECT_HEADERS];
    const char *expect_hdr_value[MAX_EXPECT_HEADERS];
    int expect_hdr_count;
    const char *xprop_names[32];
    const char *xprop_values[32];
    int xprop_count;
} opts;

/* ---------------------------------------------------------------- maps */

/* Open-addressing map from a byte string to an int64; grows at 50 % load. */
typedef struct smap_entry {
    char *key; /* NULL = empty slot; owned */
    size_t klen;
    int64_t value;
} smap_entry;

typedef struct smap {
    smap_entry *slots;
    size_t cap, count;
} smap;

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p) {
        fprintf(stderr, "kf_verify: out of memory\n");
        exit(2);
    }
    return p;
}

static smap_entry *smap_slot(smap_entry *slots, size_t cap, const void *key, size_t klen)
{
    size_t i = (size_t)fnv1a(key, klen) & (cap - 1);
    while (slots[i].key && (slots[i].klen != klen || memcmp(slots[i].key, key, klen)))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Returns the entry for key, inserting it with value `init` when missing. */
static smap_entry *smap_get(smap *m, const void *key, size_t klen, int64_t init, bool *created)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 1024;
        smap_entry *ns = xcalloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key)
                *smap_slot(ns, ncap, m->slots[i].key, m->slots[i].klen) = m->slots[i];
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    smap_entry *e = smap_slot(m->slots, m->cap, key, klen);
    if (created) *created = !e->key;
    if (!e->key) {
        e->key = xcalloc(1, klen + 1);
        memcpy(e->key, key, klen);
        e->klen = klen;
        e->value = init;
        m->count++;
    }
    return e;
}

static smap_entry *smap_find(const smap *m, const void *key, size_t klen)
{
    if (!m->cap) return NULL;
    smap_entry *e = smap_slot(m->slots, m->cap, key, klen);
    return e->key ? e : NULL;
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* --------------------------------------------------------------- tally */

/* A DLQ record's value, to compare with the source record it names. */
typedef struct src_val {
    unsigned char *val; /* owned copy; NULL for a null value */
    size_t len;
    bool matched;
} src_val;

typedef struct tally {
    long long records;
    long long anonymous; /* records whose id cannot be known (0-byte values in redis) */
    long long bad;       /* unparsable or wrong content */
    long long unexpected;
    long long order_violations;
    long long key_splits; /* keys seen in more than one output partition */
    long long bad_headers;
    int64_t first_ts, last_ts;
    smap ids;               /* decimal id -> times seen */
    smap last_seq;          /* "<partition>|<key>" -> last seq */
    smap idem_keys;         /* --effects: Idempotency-Keys already applied */
    long long requests;     /* --effects: 2xx requests read */
    long long repeated_key; /* --effects: 2xx requests whose key was already applied */
    smap key_part;          /* key -> partition first seen in */
    bool printed_headers;
    int bad_samples;
    /* --check-source: what each DLQ record says it was, by "<partition>/<offset>". */
    smap src_pos;             /* -> index into src_vals */
    struct src_val *src_vals; /* owned */
    size_t src_count, src_cap;
    char *src_topic; /* owned; from kfleet.source.topic */
    long long source_mismatches;
} tally;

static void tally_reset(tally *t)
{
    smap_free(&t->ids);
    smap_free(&t->last_seq);
    smap_free(&t->idem_keys);
    smap_free(&t->key_part);
    smap_free(&t->src_pos);
    for (size_t i = 0; i < t->src_count; i++)
        free(t->src_vals[i].val);
    free(t->src_vals);
    free(t->src_topic);
    memset(t, 0, sizeof(*t));
    t->first_ts = INT64_MAX;
    t->last_ts = INT64_MIN;
}

static void note_bad(tally *t, const char *why, const void *val, size_t vlen)
{
    t->bad++;
    if (t->bad_samples++ < 3)
        fprintf(stderr, "kf_verify: bad record (%s): %.*s\n", why, (int)(vlen > 200 ? 200 : vlen),
                val ? (const char *)val : "(null)");
}

static bool id_expected(const opts *o, long long id)
{
    if (o->have_range && (id < o->from || id >= o->to)) return false;
    if (o->exclude_mod > 0 && id % o->exclude_mod == 0) return false;
    if (o->only_mod > 0 && id % o->only_mod != 0) return false;
    return true;
}

/* Parses "k<digits>" into an id; -1 when the key is not of that form. */
static long long id_from_key(const void *key, size_t klen)
{
    const char *k = key;
    if (!k || klen < 2 || k[0] != 'k' || klen > 20) return -1;
    long long v = 0;
    for (size_t i = 1; i < klen; i++) {
        if (!isdigit((unsigned char)k[i])) return -1;
        v = v * 10 + (k[i] - '0');
    }
    return v;
}

/* Checks a raw or null value; returns its id, -1 if unknowable, -2 if bad. */
static long long raw_id(const opts *o, tally *t, const void *val, size_t vlen, bool is_null,
                        const void *key, size_t klen)
{
    if (o->null_values) {
        if (!is_null) {
            note_bad(t, "value is not null", val, vlen);
            return -2;
        }
        return id_from_key(key, klen);
    }
    if (is_null && o->raw_bytes > 0) {
        note_bad(t, "value is null", "", 0);
        return -2;
    }
    if ((long long)vlen != o->raw_bytes) {
        char why[96];
        snprintf(why, sizeof(why), "value is %zu bytes, expected %lld", vlen, o->raw_bytes);
        note_bad(t, why, val, vlen > 40 ? 40 : vlen);
        return -2;
    }
    long long id = -1;
    const char *v = val;
    if (vlen >= 3 && v[0] == '#') {
        const char *end = memchr(v + 1, '#', vlen - 1 < 24 ? vlen - 1 : 24);
        if (end) id = strtoll(v + 1, NULL, 10);
    }
    if (id < 0) id = id_from_key(key, klen);
    if (id >= 0 && vlen > 0) {
        unsigned char *want = malloc(vlen);
        if (!want) exit(2);
        tool_raw_fill(want, vlen, id);
        bool same = memcmp(want, val, vlen) == 0;
        free(want);
        if (!same) {
            note_bad(t, "content differs from the pattern", val, 40);
            return -2;
        }
    }
    return id;
}

static bool field_is_upper(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if (islower((unsigned char)*s)) return false;
    return true;
}

/*
 * Accounts one output record. `partition` is -1 for sources without
 * partitions (redis, http); `ts` is -1 when unknown.
 */
static void ingest(const opts *o, tally *t, const void *val, size_t vlen, bool is_null,
                   const void *key, size_t klen, int32_t partition, int64_t ts)
{
    t->records++;
    if (ts >= 0) {
        if (ts < t->first_ts) t->first_ts = ts;
        if (ts > t->last_ts) t->last_ts = ts;
    }
    long long id, seq = -1;
    char keybuf[128];
    const char *okey = NULL; /* the key used for order checks */
    size_t okeylen = 0;
    if (o->raw_bytes >= 0 || o->null_values) {
        id = raw_id(o, t, val, vlen, is_null, key, klen);
        if (id == -2) return;
        if (id == -1) {
            t->anonymous++;
            return;
        }
    } else {
        if (is_null) {
            note_bad(t, "null value", "", 0);
            return;
        }
        cJSON *j = cJSON_ParseWithLength(val, vlen);
        cJSON *jid = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
        if (!cJSON_IsNumber(jid)) {
            note_bad(t, "no numeric \"id\" in the JSON value", val, vlen);
            cJSON_Delete(j);
            return;
        }
        id = (long long)jid->valuedouble;
        cJSON *jseq = cJSON_GetObjectItemCaseSensitive(j, "seq");
        if (cJSON_IsNumber(jseq)) seq = (long long)jseq->valuedouble;
        cJSON *jkey = cJSON_GetObjectItemCaseSensitive(j, "key");
        if (cJSON_IsString(jkey)) {
            snprintf(keybuf, sizeof(keybuf), "%s", jkey->valuestring);
            okey = keybuf;
            okeylen = strlen(keybuf);
        }
        if (o->field) {
            cJSON *jf = cJSON_GetObjectItemCaseSensitive(j, o->field);
            const char *s = cJSON_IsString(jf) ? jf->valuestring : NULL;
            if (!s || (o->upper && !field_is_upper(s))) {
                note_bad(t, o->upper ? "field missing or not uppercase" : "field missing", val,
                         vlen);
                cJSON_Delete(j);
                return;
            }
        }
        cJSON_Delete(j);
    }

    char idbuf[32];
    int il = snprintf(idbuf, sizeof(idbuf), "%lld", id);
    bool first = false;
    smap_entry *e = smap_get(&t->ids, idbuf, (size_t)il, 0, &first);
    e->value++;
    if (!id_expected(o, id)) {
        t->unexpected++;
        return;
    }

    /* Order is judged on first deliveries only: a replayed duplicate is
     * counted as a duplicate, not again as an order violation. */
    if (o->check_key_order && first && okey && seq >= 0) {
        char pk[160];
        int pl = snprintf(pk, sizeof(pk), "%d|%.*s", (int)partition, (int)okeylen, okey);
        bool created;
        smap_entry *s = smap_get(&t->last_seq, pk, (size_t)pl, seq, &created);
        if (!created) {
            if (seq <= s->value) {
                if (t->order_violations < 3)
                    fprintf(stderr,
                            "kf_verify: order violation: key %s partition %d seq %lld after "
                            "%lld\n",
                            okey, (int)partition, seq, (long long)s->value);
                t->order_violations++;
            }
            s->value = seq;
        }
        if (partition >= 0) {
            smap_entry *kp = smap_get(&t->key_part, okey, okeylen, partition, &created);
            if (!created && kp->value != partition) {
                t->key_splits++;
                kp->value = partition; /* count each move once */
            }
        }
    }
}

/* ------------------------------------------------------------- sources */

static const char *REQUIRED_DLQ_HEADERS[] = {
    "kfleet.error",         "kfleet.attempts", "kfleet.source.topic", "kfleet.source.partition",
    "kfleet.source.offset", "kfleet.handler",
};

static void source_mismatch(tally *t, const char *fmt, const char *a, const char *b)
{
    if (t->source_mismatches++ < 3) {
        fprintf(stderr, "kf_verify: source check: ");
        fprintf(stderr, fmt, a, b);
        fprintf(stderr, "\n");
    }
}

/* Keeps the DLQ record's value under the source position its headers name. */
static void remember_source(const opts *o, tally *t, rd_kafka_headers_t *hdrs,
                            const rd_kafka_message_t *m)
{
    const void *tv, *pv, *ov;
    size_t tn, pn, on;
    rd_kafka_header_get_last(hdrs, "kfleet.source.topic", &tv, &tn);
    rd_kafka_header_get_last(hdrs, "kfleet.source.partition", &pv, &pn);
    rd_kafka_header_get_last(hdrs, "kfleet.source.offset", &ov, &on);
    char topic[256], pos[64];
    snprintf(topic, sizeof(topic), "%.*s", (int)tn, tv ? (const char *)tv : "");
    snprintf(pos, sizeof(pos), "%.*s/%.*s", (int)pn, pv ? (const char *)pv : "", (int)on,
             ov ? (const char *)ov : "");
    if (!t->src_topic) {
        t->src_topic = strdup(topic);
    } else if (strcmp(t->src_topic, topic)) {
        source_mismatch(t, "records name two source topics, %s and %s", t->src_topic, topic);
        return;
    }
    bool created;
    smap_get(&t->src_pos, pos, strlen(pos), (int64_t)t->src_count, &created);
    if (!created) {
        /* A replayed DLQ record is a duplicate, counted as such elsewhere. */
        if (!o->allow_duplicates) source_mismatch(t, "two DLQ records name %s%s", pos, "");
        return;
    }
    if (t->src_count == t->src_cap) {
        t->src_cap = t->src_cap ? t->src_cap * 2 : 256;
        t->src_vals = realloc(t->src_vals, t->src_cap * sizeof(*t->src_vals));
        if (!t->src_vals) exit(2);
    }
    src_val *sv = &t->src_vals[t->src_count++];
    memset(sv, 0, sizeof(*sv));
    sv->len = m->len;
    if (m->payload) {
        sv->val = xcalloc(1, m->len + 1);
        memcpy(sv->val, m->payload, m->len);
    }
}

/* Compares one source record with the DLQ record that names its position. */
static void compare_source(const opts *o, tally *t, const rd_kafka_message_t *m)
{
    (void)o;
    char pos[64];
    int pl = snprintf(pos, sizeof(pos), "%d/%" PRId64, (int)m->partition, m->offset);
    smap_entry *e = smap_find(&t->src_pos, pos, (size_t)pl);
    if (!e) return;
    src_val *sv = &t->src_vals[e->value];
    sv->matched = true;
    bool same = (sv->val == NULL) == (m->payload == NULL) && sv->len == m->len &&
                (!m->len || memcmp(sv->val, m->payload, m->len) == 0);
    if (!same)
        source_mismatch(t, "the record at %s differs from the DLQ record naming it%s", pos, "");
}

static void check_dlq_headers(const opts *o, tally *t, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) hdrs = NULL;
    bool ok = true;
    for (size_t i = 0; i < sizeof(REQUIRED_DLQ_HEADERS) / sizeof(*REQUIRED_DLQ_HEADERS); i++) {
        const void *v;
        size_t n;
        if (!hdrs || rd_kafka_header_get_last(hdrs, REQUIRED_DLQ_HEADERS[i], &v, &n)) {
            if (t->bad_headers < 3)
                fprintf(stderr, "kf_verify: DLQ record at %d/%" PRId64 " lacks header %s\n",
                        (int)m->partition, m->offset, REQUIRED_DLQ_HEADERS[i]);
            ok = false;
        }
    }
    for (int i = 0; i < o->expect_hdr_count; i++) {
        const void *v;
        size_t n;
        if (!hdrs || rd_kafka_header_get_last(hdrs, o->expect_hdr_name[i], &v, &n) ||
            n != strlen(o->expect_hdr_value[i]) || memcmp(v, o->expect_hdr_value[i], n)) {
            if (t->bad_headers < 3)
                fprintf(stderr, "kf_verify: DLQ record at %d/%" PRId64 ": header %s is not %s\n",
                        (int)m->partition, m->offset, o->expect_hdr_name[i],
                        o->expect_hdr_value[i]);
            ok = false;
        }
    }
    if (!ok) t->bad_headers++;
    if (ok && o->check_source) remember_source(o, t, hdrs, m);
    if (hdrs && !t->printed_headers) {
        t->printed_headers = true;
        printf("dlq_headers partition=%d offset=%" PRId64, (int)m->partition, m->offset);
        const char *name;
        const void *v;
        size_t n;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &v, &n); i++)
            printf(" %s=\"%.*s\"", name, (int)(n > 300 ? 300 : n), v ? (const char *)v : "");
        printf("\n");
    }
}

typedef void (*kafka_msg_fn)(const opts *o, tally *t, const rd_kafka_message_t *m);

/* What the main read does with each record. */
static void on_output(const opts *o, tally *t, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    ingest(o, t, m->payload, m->len, m->payload == NULL, m->key, m->key_len, m->partition, ts);
    if (o->kind == SRC_DLQ) check_dlq_headers(o, t, m);
}

/* Reads all of `topic`, calling fn per record; a topic that does not exist
 * yet reads as empty. */
static int read_kafka(const opts *o, tally *t, const char *topic, kafka_msg_fn fn)
{
    char err[512], group[64];
    snprintf(group, sizeof(group), "kf_verify-%d-%ld", (int)getpid(), (long)random());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tool_conf_set(conf, "bootstrap.servers", o->brokers) ||
        tool_conf_set(conf, "group.id", group) ||
        tool_conf_set(conf, "enable.auto.commit", "false") ||
        tool_conf_set(conf, "enable.partition.eof", "true") ||
        tool_conf_set(conf, "isolation.level", "read_committed") ||
        tool_conf_set(conf, "auto.offset.reset", "earliest") ||
        /* librdkafka 2.0.2: a prefetch queue at queued.min.messages stalls fetching a second. */
        tool_conf_set(conf, "queued.min.messages", "1000000") ||
        tool_conf_set(conf, "allow.auto.create.topics", "false"))
        return -1;
    for (int i = 0; i < o->xprop_count; i++)
        if (tool_conf_set(conf, o->xprop_names[i], o->xprop_values[i])) return -1;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kf_verify: %s\n", err);
        return -1;
    }
    rd_kafka_poll_set_consumer(rk);

    int rc = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        fprintf(stderr, "kf_verify: metadata for %s: %s\n", topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        rc = 0; /* not created yet: nothing to read */
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        fprintf(stderr, "kf_verify: assign: %s\n", rd_kafka_err2str(e));
        goto out;
    }

    /* Partition ids are 0..np-1 on Kafka; EOF is reported per partition. */
    char *eof = xcalloc((size_t)np, 1);
    int eofs = 0;
    double idle_deadline = tool_now_s() + o->kafka_idle_s;
    while (eofs < np) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (tool_now_s() > idle_deadline) {
                fprintf(stderr, "kf_verify: %s: no data and no end of partition for %d s\n", topic,
                        o->kafka_idle_s);
                break;
            }
            continue;
        }
        idle_deadline = tool_now_s() + o->kafka_idle_s;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < np && !eof[m->partition]) {
                eof[m->partition] = 1;
                eofs++;
            }
        } else if (m->err) {
            fprintf(stderr, "kf_verify: consume %s: %s\n", topic, rd_kafka_message_errstr(m));
        } else {
            fn(o, t, m);
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    rc = eofs == np ? 0 : -1;
out:
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* Reads the source topic the DLQ records name and compares the records. */
static int check_sources(const opts *o, tally *t)
{
    if (!t->src_count) return 0;
    int rc = read_kafka(o, t, t->src_topic, compare_source);
    if (rc) return rc;
    for (size_t i = 0; i < t->src_count; i++)
        if (!t->src_vals[i].matched) {
            char n[32];
            snprintf(n, sizeof(n), "%zu", i);
            source_mismatch(t, "a DLQ record (#%s) names a position absent from %s", n,
                            t->src_topic);
        }
    return 0;
}

/* Parses redis://[user:pass@]host[:port][/db]. */
static int parse_redis_url(const char *url, char *host, size_t hostlen, int *port, int *db,
                           char *pass, size_t passlen)
{
    const char *p = url;
    *port = 6379;
    *db = 0;
    pass[0] = 0;
    if (strncmp(p, "redis://", 8)) return -1;
    p += 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(pass, passlen, "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    snprintf(host, hostlen, "%.*s", (int)hl, p);
    p += hl;
    if (*p == ':') {
        *port = atoi(p + 1);
        p += 1 + strspn(p + 1, "0123456789");
    }
    if (*p == '/' && p[1]) *db = atoi(p + 1);
    return host[0] ? 0 : -1;
}

static int read_redis(const opts *o, tally *t)
{
    char host[256], pass[256];
    int port, db;
    if (!o->redis_url ||
        parse_redis_url(o->redis_url, host, sizeof(host), &port, &db, pass, sizeof(pass))) {
        fprintf(stderr, "kf_verify: bad or missing --redis URL (or $KFLEET_REDIS)\n");
        return -1;
    }
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "kf_verify: redis %s:%d: %s\n", host, port, c ? c->errstr : "no memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (pass[0]) {
        r = redisCommand(c, "AUTH %s", pass);
        freeReplyObject(r);
    }
    if (db) {
        r = redisCommand(c, "SELECT %d", db);
        freeReplyObject(r);
    }
    int rc = 0;
    const long long chunk = 1000; /* bounded replies even for 1 MiB values */
    for (long long start = 0;; start += chunk) {
        r = redisCommand(c, "LRANGE %s %lld %lld", o->source, start, start + chunk - 1);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "kf_verify: LRANGE %s: %s\n", o->source,
                    !r                             ? c->errstr
                    : r->type == REDIS_REPLY_ERROR ? r->str
                                                   : "not a list");
            freeReplyObject(r);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *el = r->element[i];
            ingest(o, t, el->str, el->len, false, NULL, 0, -1, -1);
        }
        size_t n = r->elements;
        freeReplyObject(r);
        if ((long long)n < chunk) break;
    }
    redisFree(c);
    return rc;
}

/* Reads JSON lines; `http` selects the receiver's log format. */
static int read_lines(const opts *o, tally *t, bool http)
{
    FILE *f = fopen(o->source, "r");
    if (!f) {
        if (errno == ENOENT) return 0; /* not written yet */
        fprintf(stderr, "kf_verify: %s: %s\n", o->source, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') break; /* a line still being written */
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            continue; /* not one of ours (a log line on stdout, say) */
        }
        if (http) {
            cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
            cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
            cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "t_ms");
            bool ok = cJSON_IsNumber(st) && st->valueint / 100 == 2 && cJSON_IsString(body);
            if (ok && o->effects) {
                /* A receiver that honours Idempotency-Key applies a key once:
                 * a later request with the same key is no effect. */
                cJSON *ik = cJSON_GetObjectItemCaseSensitive(j, "idempotency_key");
                t->requests++;
                if (cJSON_IsString(ik)) {
                    bool created;
                    smap_get(&t->idem_keys, ik->valuestring, strlen(ik->valuestring), 0, &created);
                    if (!created) {
                        t->repeated_key++;
                        ok = false;
                    }
                }
            }
            if (ok)
                ingest(o, t, body->valuestring, strlen(body->valuestring), false, NULL, 0, -1,
                       cJSON_IsNumber(ts) ? (int64_t)ts->valuedouble : -1);
        } else {
            cJSON *sink = cJSON_GetObjectItemCaseSensitive(j, "sink");
            cJSON *val = cJSON_GetObjectItemCaseSensitive(j, "value");
            cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
            cJSON *part = cJSON_GetObjectItemCaseSensitive(j, "partition");
            bool keep = val != NULL;
            if (keep && o->sink_filter)
                keep = cJSON_IsString(sink) && !strcmp(sink->valuestring, o->sink_filter);
            if (keep) {
                const char *k = cJSON_IsString(key) ? key->valuestring : NULL;
                int32_t p = cJSON_IsNumber(part) ? (int32_t)part->valueint : -1;
                if (cJSON_IsString(val)) {
                    ingest(o, t, val->valuestring, strlen(val->valuestring), false, k,
                           k ? strlen(k) : 0, p, -1);
                } else if (cJSON_IsNull(val)) {
                    ingest(o, t, NULL, 0, true, k, k ? strlen(k) : 0, p, -1);
                } else {
                    char *s = cJSON_PrintUnformatted(val);
                    ingest(o, t, s, strlen(s), false, k, k ? strlen(k) : 0, p, -1);
                    free(s);
                }
            }
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------- verdict */

typedef struct verdict {
    long long unique, duplicates, lost;
    bool pass;
    bool final; /* failed in a way more waiting cannot fix */
} verdict;

static verdict judge(const opts *o, const tally *t)
{
    verdict v = {0};
    long long seen = 0, dup = 0;
    for (size_t i = 0; i < t->ids.cap; i++) {
        const smap_entry *e = &t->ids.slots[i];
        if (!e->key || !id_expected(o, strtoll(e->key, NULL, 10))) continue;
        seen++;
        dup += e->value - 1;
    }
    v.unique = seen;
    v.duplicates = dup;
    if (o->have_range) {
        for (long long id = o->from; id < o->to; id++) {
            char buf[32];
            int l = snprintf(buf, sizeof(buf), "%lld", id);
            if (id_expected(o, id) && !smap_find(&t->ids, buf, (size_t)l)) v.lost++;
        }
        /* Records whose id cannot be known (0-byte values in Redis) only count. */
        if (t->anonymous) {
            long long extra = t->anonymous > v.lost ? t->anonymous - v.lost : 0;
            v.unique += t->anonymous - extra;
            v.duplicates += extra;
            v.lost = v.lost > t->anonymous ? v.lost - t->anonymous : 0;
        }
    }
    if (o->expect_dlq >= 0 && v.unique < o->expect_dlq && v.lost < o->expect_dlq - v.unique)
        v.lost = o->expect_dlq - v.unique;
    bool over = o->expect_dlq >= 0 && v.unique > o->expect_dlq;
    v.final = t->bad || t->unexpected || t->order_violations || t->bad_headers || over ||
              t->source_mismatches || (v.duplicates && !o->allow_duplicates);
    v.pass = !v.final && v.lost == 0;
    return v;
}

static const char *kind_name(src_kind k)
{
    switch (k) {
    case SRC_KAFKA:
        return "kafka";
    case SRC_DLQ:
        return "dlq";
    case SRC_REDIS:
        return "redis";
    case SRC_JSONL:
        return "jsonl";
    case SRC_HTTP:
        return "http";
    default:
        return "none";
    }
}

static void print_verdict(const opts *o, const tally *t, const verdict *v, FILE *out)
{
    fprintf(out,
            "source=%s:%s records=%lld unique=%lld duplicates=%lld lost=%lld "
            "order_violations=%lld unexpected=%lld bad=%lld",
            kind_name(o->kind), o->source, t->records, v->unique, v->duplicates, v->lost,
            t->order_violations, t->unexpected, t->bad);
    if (o->kind == SRC_DLQ) fprintf(out, " bad_headers=%lld", t->bad_headers);
    if (o->expect_dlq >= 0) fprintf(out, " expected=%lld", o->expect_dlq);
    if (o->check_source) fprintf(out, " source_mismatches=%lld", t->source_mismatches);
    if (o->effects)
        fprintf(out, " requests=%lld repeated_key_requests=%lld", t->requests, t->repeated_key);
    if (o->check_key_order && t->key_splits) fprintf(out, " key_splits=%lld", t->key_splits);
    if (t->first_ts <= t->last_ts)
        fprintf(out, " first_ts_ms=%" PRId64 " last_ts_ms=%" PRId64, t->first_ts, t->last_ts);
    fprintf(out, "\n");
    fflush(out);
}

static void print_lost_samples(const opts *o, const tally *t)
{
    if (!o->have_range || t->anonymous) return;
    int shown = 0;
    for (long long id = o->from; id < o->to && shown < 10; id++) {
        char buf[32];
        int l = snprintf(buf, sizeof(buf), "%lld", id);
        if (id_expected(o, id) && !smap_find(&t->ids, buf, (size_t)l)) {
            fprintf(stderr, "%s%lld", shown ? " " : "kf_verify: lost ids (first 10): ", id);
            shown++;
        }
    }
    if (shown) fprintf(stderr, "\n");
    shown = 0;
    for (size_t i = 0; i < t->ids.cap && shown < 10; i++) {
        const smap_entry *e = &t->ids.slots[i];
        if (e->key && e->value > 1) {
            fprintf(stderr, "%s%s(x%lld)",
                    shown ? " " : "kf_verify: duplicated ids (some): ", e->key,
                    (long long)e->value);
            shown++;
        }
    }
    if (shown) fprintf(stderr, "\n");
}

/* ----------------------------------------------------------------- cli */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kf_verify SOURCE [expectations] [options]\n"
            "\n"
            "Checks what kfleet wrote against the records kf_produce made.\n"
            "\n"
            "Sources (one):\n"
            "  --kafka TOPIC         whole topic, read_committed, to the end of every partition\n"
            "  --dlq TOPIC           like --kafka; also checks the kfleet.* failure headers\n"
            "  --redis-list KEY      a Redis list (LRANGE in chunks)\n"
            "  --jsonl FILE          stdout sink JSON lines (--sink NAME keeps one sink's lines)\n"
            "  --http-log FILE       http_receiver.py log (2xx requests only)\n"
            "  --effects             (--http-log) count effects, not requests: only the first\n"
            "                        2xx request of each Idempotency-Key; prints requests=..\n"
            "                        repeated_key_requests=..\n"
            "Expectations:\n"
            "  --expect N            ids 0..N-1 (or --ids-from A --ids-to B, B exclusive)\n"
            "  --exclude-mod M       ids with id %% M == 0 must be absent (they went to the DLQ)\n"
            "  --only-mod M          only ids with id %% M == 0 are expected\n"
            "  --expect-dlq K        exactly K distinct records\n"
            "  --expect-header N=V   every record carries header N with value V (repeatable)\n"
            "  --check-source        (--dlq) the source record at kfleet.source.partition/\n"
            "                        .offset of kfleet.source.topic has the DLQ record's value\n"
            "  --check-key-order     per key (per output partition), seq strictly increasing\n"
            "  --field NAME [--upper] the JSON field must exist (and have no lowercase letters)\n"
            "  --raw-bytes N         values are kf_produce --value-bytes N, checked byte-exact\n"
            "  --null-values         values must be null (ids from \"k<id>\" keys)\n"
            "  --allow-duplicates    pass with duplicates (at-least-once); still reports them\n"
            "Options:\n"
            "  -b, --brokers LIST    default $KFLEET_BROKERS\n"
            "  --redis URL           default $KFLEET_REDIS\n"
            "  --wait SECONDS        re-read until nothing is lost, or fail after SECONDS\n"
            "  --kafka-idle S        give up a Kafka read after S s without progress (30)\n"
            "  -X NAME=VALUE         extra librdkafka consumer property (repeatable)\n"
            "  -h, --help            this text\n"
            "\n"
            "Prints: source=.. records=.. unique=.. duplicates=.. lost=.. order_violations=..\n"
            "unexpected=.. bad=..; exits 0 when all of those problems are 0, 3 when only\n"
            "records are missing (incomplete: poll again), 1 on any other problem, 2 on\n"
            "bad usage or an unreadable source.\n");
}

static int parse_ll(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) return -1;
    *out = v;
    return 0;
}

static int set_source(opts *o, src_kind k, const char *s)
{
    if (o->kind != SRC_NONE) {
        fprintf(stderr, "kf_verify: give exactly one source\n");
        return -1;
    }
    o->kind = k;
    o->source = s;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    enum {
        O_KAFKA = 256,
        O_DLQ,
        O_REDIS_LIST,
        O_JSONL,
        O_HTTP,
        O_EXPECT,
        O_FROM,
        O_TO,
        O_EXCL,
        O_ONLY,
        O_EXPECT_DLQ,
        O_EXPECT_HDR,
        O_ORDER,
        O_FIELD,
        O_UPPER,
        O_RAW,
        O_NULL,
        O_ALLOW_DUP,
        O_REDIS,
        O_WAIT,
        O_IDLE,
        O_SINK,
        O_CHECK_SOURCE,
        O_EFFECTS
    };
    static const struct option longopts[] = {
        {"kafka", required_argument, NULL, O_KAFKA},
        {"dlq", required_argument, NULL, O_DLQ},
        {"redis-list", required_argument, NULL, O_REDIS_LIST},
        {"jsonl", required_argument, NULL, O_JSONL},
        {"http-log", required_argument, NULL, O_HTTP},
        {"sink", required_argument, NULL, O_SINK},
        {"expect", required_argument, NULL, O_EXPECT},
        {"ids-from", required_argument, NULL, O_FROM},
        {"ids-to", required_argument, NULL, O_TO},
        {"exclude-mod", required_argument, NULL, O_EXCL},
        {"only-mod", required_argument, NULL, O_ONLY},
        {"expect-dlq", required_argument, NULL, O_EXPECT_DLQ},
        {"expect-header", required_argument, NULL, O_EXPECT_HDR},
        {"check-source", no_argument, NULL, O_CHECK_SOURCE},
        {"effects", no_argument, NULL, O_EFFECTS},
        {"check-key-order", no_argument, NULL, O_ORDER},
        {"field", required_argument, NULL, O_FIELD},
        {"upper", no_argument, NULL, O_UPPER},
        {"raw-bytes", required_argument, NULL, O_RAW},
        {"null-values", no_argument, NULL, O_NULL},
        {"allow-duplicates", no_argument, NULL, O_ALLOW_DUP},
        {"brokers", required_argument, NULL, 'b'},
        {"redis", required_argument, NULL, O_REDIS},
        {"wait", required_argument, NULL, O_WAIT},
        {"kafka-idle", required_argument, NULL, O_IDLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->brokers = getenv("KFLEET_BROKERS");
    o->redis_url = getenv("KFLEET_REDIS");
    o->expect_dlq = -1;
    o->raw_bytes = -1;
    o->kafka_idle_s = 30;
    o->to = -1;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "b:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_KAFKA:
            if (set_source(o, SRC_KAFKA, optarg)) return -1;
            break;
        case O_DLQ:
            if (set_source(o, SRC_DLQ, optarg)) return -1;
            break;
        case O_REDIS_LIST:
            if (set_source(o, SRC_REDIS, optarg)) return -1;
            break;
        case O_JSONL:
            if (set_source(o, SRC_JSONL, optarg)) return -1;
            break;
        case O_HTTP:
            if (set_source(o, SRC_HTTP, optarg)) return -1;
            break;
        case O_SINK:
            o->sink_filter = optarg;
            break;
        case O_EXPECT:
            if (parse_ll(optarg, 0, &v)) goto bad;
            o->have_range = true;
            o->from = 0;
            o->to = v;
            break;
        case O_FROM:
            if (parse_ll(optarg, 0, &o->from)) goto bad;
            o->have_range = true;
            break;
        case O_TO:
            if (parse_ll(optarg, 0, &o->to)) goto bad;
            o->have_range = true;
            break;
        case O_EXCL:
            if (parse_ll(optarg, 1, &o->exclude_mod)) goto bad;
            break;
        case O_ONLY:
            if (parse_ll(optarg, 1, &o->only_mod)) goto bad;
            break;
        case O_EXPECT_DLQ:
            if (parse_ll(optarg, 0, &o->expect_dlq)) goto bad;
            break;
        case O_EXPECT_HDR: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || o->expect_hdr_count >= MAX_EXPECT_HEADERS) goto bad;
            *eq = '\0'; /* argv is ours to cut: the name ends there, nothing to free */
            o->expect_hdr_name[o->expect_hdr_count] = optarg;
            o->expect_hdr_value[o->expect_hdr_count++] = eq + 1;
            break;
        }
        case O_ORDER:
            o->check_key_order = true;
            break;
        case O_CHECK_SOURCE:
            o->check_source = true;
            break;
        case O_EFFECTS:
            o->effects = true;
            break;
        case O_FIELD:
            o->field = optarg;
            break;
        case O_UPPER:
            o->upper = true;
            break;
        case O_RAW:
            if (parse_ll(optarg, 0, &o->raw_bytes)) goto bad;
            break;
        case O_NULL:
            o->null_values = true;
            break;
        case O_ALLOW_DUP:
            o->allow_duplicates = true;
            break;
        case 'b':
            o->brokers = optarg;
            break;
        case O_REDIS:
            o->redis_url = optarg;
            break;
        case O_WAIT:
            o->wait_s = strtod(optarg, NULL);
            if (o->wait_s < 0) goto bad;
            break;
        case O_IDLE:
            if (parse_ll(optarg, 1, &v)) goto bad;
            o->kafka_idle_s = (int)v;
            break;
        case 'X': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || o->xprop_count >= 32) goto bad;
            o->xprop_names[o->xprop_count] = strndup(optarg, (size_t)(eq - optarg));
            o->xprop_values[o->xprop_count++] = eq + 1;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kf_verify: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (o->kind == SRC_NONE) {
        fprintf(stderr, "kf_verify: no source given (--kafka, --dlq, --redis-list, --jsonl, "
                        "--http-log)\n");
        return -1;
    }
    if ((o->kind == SRC_KAFKA || o->kind == SRC_DLQ) && (!o->brokers || !*o->brokers)) {
        fprintf(stderr, "kf_verify: --brokers (or $KFLEET_BROKERS) is required\n");
        return -1;
    }
    if (o->effects && o->kind != SRC_HTTP) {
        fprintf(stderr, "kf_verify: --effects needs --http-log\n");
        return -1;
    }
    if (o->have_range && o->to < 0) {
        fprintf(stderr, "kf_verify: --ids-from needs --ids-to (or use --expect)\n");
        return -1;
    }
    if (!o->have_range && o->expect_dlq < 0) {
        fprintf(stderr, "kf_verify: say what to expect: --expect N, --ids-from/--ids-to or "
                        "--expect-dlq K\n");
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "kf_verify: bad value for option: %s\n", optarg);
    return -1;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());

    tally t;
    memset(&t, 0, sizeof(t));
    double deadline = tool_now_s() + o.wait_s;
    double next_progress = tool_now_s() + 5;
    for (;;) {
        tally_reset(&t);
        int rc;
        switch (o.kind) {
        case SRC_KAFKA:
        case SRC_DLQ:
            rc = read_kafka(&o, &t, o.source, on_output);
            if (rc == 0 && o.kind == SRC_DLQ && o.check_source) rc = check_sources(&o, &t);
            break;
        case SRC_REDIS:
            rc = read_redis(&o, &t);
            break;
        case SRC_JSONL:
            rc = read_lines(&o, &t, false);
            break;
        default:
            rc = read_lines(&o, &t, true);
            break;
        }
        verdict v = judge(&o, &t);
        bool more_time = tool_now_s() < deadline;
        if (rc == 0 && (v.pass || v.final || !more_time)) {
            print_verdict(&o, &t, &v, stdout);
            if (!v.pass) print_lost_samples(&o, &t);
            tally_reset(&t);
            return v.pass ? 0 : v.final ? 1 : 3;
        }
        if (rc != 0 && !more_time) {
            fprintf(stderr, "kf_verify: could not read %s:%s\n", kind_name(o.kind), o.source);
            return 2;
        }
        if (tool_now_s() >= next_progress) {
            fprintf(stderr, "kf_verify: waiting: ");
            print_verdict(&o, &t, &v, stderr);
            next_progress = tool_now_s() + 5;
        }
        usleep(300 * 1000); /* poll interval while waiting for outputs */
    }
}
