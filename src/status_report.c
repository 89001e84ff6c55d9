#include "src/status_report.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ text */

enum {
    COL_TOPIC,
    COL_PARTITION,
    COL_COMMITTED,
    COL_END,
    COL_LAG,
    COL_EPOCH,
    COL_MARKS,
    COL_PARKED,
    COL_CRASHED,
    COL_MEMBER,
    COL_HOLDER,
    NCOL
};
static const char *const HEAD[NCOL] = {"TOPIC",   "PARTITION", "COMMITTED", "END",
                                       "LAG",     "EPOCH",     "MARKS",     "PARKED",
                                       "CRASHED", "MEMBER",    "HOLDER"};

/* Wide enough for a topic name (249) and a transactional.id (the view keeps 511). */
typedef char cell[520];

/* True when Redis answered for every partition (totals are then whole). */
static bool all_read(const kf_status_mapping *s)
{
    for (size_t i = 0; i < s->g.nparts; i++)
        if (!s->eos || !s->read[i]) return false;
    return true;
}

static void num(cell c, int64_t v)
{
    if (v < 0)
        snprintf(c, sizeof(cell), "-");
    else
        snprintf(c, sizeof(cell), "%" PRId64, v);
}

/* One partition's row. */
static void row_of(const kf_status_mapping *s, size_t i, cell *row)
{
    const kf_group_partition *p = &s->g.parts[i];
    const kf_eos_view *e = s->eos && s->read[i] ? &s->eos[i] : NULL;
    bool eos = s->m->exactly_once;
    snprintf(row[COL_TOPIC], sizeof(cell), "%s", p->topic);
    snprintf(row[COL_PARTITION], sizeof(cell), "%" PRId32, p->partition);
    num(row[COL_COMMITTED], p->committed);
    num(row[COL_END], p->end);
    num(row[COL_LAG], p->lag);
    num(row[COL_EPOCH], e && eos ? e->epoch : -1);
    num(row[COL_MARKS], e && eos ? e->marks : -1);
    if (e && eos)
        snprintf(row[COL_PARKED], sizeof(cell), "%" PRId64 "/%" PRId64, e->parked_keys,
                 e->parked_records);
    else
        snprintf(row[COL_PARKED], sizeof(cell), "-");
    num(row[COL_CRASHED], e ? (int64_t)e->ncrashes : -1);
    if (p->member >= 0)
        snprintf(row[COL_MEMBER], sizeof(cell), "#%d", p->member + 1);
    else
        snprintf(row[COL_MEMBER], sizeof(cell), "-");
    snprintf(row[COL_HOLDER], sizeof(cell), "%s", e && e->owner[0] ? e->owner : "-");
}

static void print_row(FILE *out, cell *row, const size_t *w)
{
    fputs("  ", out);
    for (int c = 0; c < NCOL; c++) {
        /* Text columns to the left, numbers to the right; the last unpadded. */
        bool left = c == COL_TOPIC || c == COL_MEMBER || c == COL_HOLDER;
        if (c == NCOL - 1)
            fprintf(out, "%s", row[c]);
        else if (left)
            fprintf(out, "%-*s  ", (int)w[c], row[c]);
        else
            fprintf(out, "%*s  ", (int)w[c], row[c]);
    }
    fputc('\n', out);
}

/* "topic[0,1] other[3]": a member's assignment. */
static void print_assigned(FILE *out, const kf_group_member *mb)
{
    for (size_t j = 0; j < mb->nassigned; j++) {
        const kf_group_tp *tp = &mb->assigned[j];
        bool first = j == 0 || strcmp(tp->topic, mb->assigned[j - 1].topic) != 0;
        bool last = j + 1 == mb->nassigned || strcmp(tp->topic, mb->assigned[j + 1].topic) != 0;
        fprintf(out, "%s%s%s%" PRId32 "%s", first && j ? " " : "", first ? tp->topic : "",
                first ? "[" : ",", tp->partition, last ? "]" : "");
    }
    if (!mb->nassigned) fputs("(no partitions)", out);
}

static void print_mapping(FILE *out, const kf_status_mapping *s)
{
    const kf_mapping_config *m = s->m;
    const kf_group_view *g = &s->g;
    fprintf(out, "mapping %s: group %s, %s; end = %s\n", m->name, m->group_id,
            m->exactly_once ? "exactly-once" : "at-least-once",
            g->last_stable ? "the last stable offset (what read_committed consumers reach)"
                           : "the high watermark");
    fprintf(out, "  group %s, %zu member(s)\n", g->state, g->nmembers);
    for (size_t i = 0; i < g->nmembers; i++) {
        const kf_group_member *mb = &g->members[i];
        fprintf(out, "    #%zu %s (client %s, host %s): ", i + 1, mb->member_id, mb->client_id,
                mb->host);
        print_assigned(out, mb);
        fputc('\n', out);
    }
    for (size_t i = 0; i < g->nmissing; i++)
        fprintf(out, "  %s %s: %s (the fleet waits for it)\n",
                g->missing[i][0] == '^' ? "pattern" : "topic", g->missing[i],
                g->missing[i][0] == '^' ? "matches no topic in the cluster" : "not in the cluster");
    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++)
        w[c] = strlen(HEAD[c]);
    cell *rows = calloc(g->nparts ? g->nparts : 1, sizeof(cell) * NCOL);
    if (!rows) {
        fputs("  (out of memory)\n", out);
        return;
    }
    int64_t lag = 0, keys = 0, records = 0;
    bool lag_known = true;
    for (size_t i = 0; i < g->nparts; i++) {
        cell *row = rows + i * NCOL;
        row_of(s, i, row);
        for (int c = 0; c < NCOL; c++)
            if (strlen(row[c]) > w[c]) w[c] = strlen(row[c]);
        if (g->parts[i].lag < 0)
            lag_known = false;
        else
            lag += g->parts[i].lag;
        if (s->eos && s->read[i]) {
            keys += s->eos[i].parked_keys;
            records += s->eos[i].parked_records;
        }
    }
    cell head[NCOL];
    for (int c = 0; c < NCOL; c++)
        snprintf(head[c], sizeof(cell), "%s", HEAD[c]);
    print_row(out, head, w);
    for (size_t i = 0; i < g->nparts; i++)
        print_row(out, rows + i * NCOL, w);
    free(rows);
    for (size_t i = 0; i < g->nparts; i++)
        if (g->parts[i].err[0])
            fprintf(out, "  %s[%" PRId32 "]: %s\n", g->parts[i].topic, g->parts[i].partition,
                    g->parts[i].err);
    fprintf(out, "  %zu partition(s), lag %s%" PRId64, g->nparts, lag_known ? "" : "at least ",
            lag);
    if (m->exactly_once && all_read(s))
        fprintf(out, ", %" PRId64 " parked key(s), %" PRId64 " parked record(s)", keys, records);
    else if (m->exactly_once)
        fputs(", parked keys unknown (Redis not read)", out);
    fputc('\n', out);
    if (s->kafka_err[0]) fprintf(out, "  kafka did not answer everything: %s\n", s->kafka_err);
    if (s->redis_err[0]) fprintf(out, "  redis did not answer everything: %s\n", s->redis_err);
}

void kf_status_print_text(FILE *out, const kf_status_mapping *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) fputc('\n', out);
        print_mapping(out, &s[i]);
    }
}

/* ------------------------------------------------------------------ JSON */

static cJSON *num_or_null(int64_t v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)v);
}

static cJSON *partition_json(const kf_status_mapping *s, size_t i)
{
    const kf_group_partition *p = &s->g.parts[i];
    const kf_eos_view *e = s->eos && s->read[i] ? &s->eos[i] : NULL;
    bool eos = s->m->exactly_once;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", p->topic);
    cJSON_AddNumberToObject(o, "partition", p->partition);
    cJSON_AddItemToObject(o, "committed", num_or_null(p->committed));
    cJSON_AddItemToObject(o, "start", num_or_null(p->start));
    cJSON_AddItemToObject(o, "end", num_or_null(p->end));
    cJSON_AddItemToObject(o, "high_watermark", num_or_null(p->high));
    cJSON_AddItemToObject(o, "lag", num_or_null(p->lag));
    if (p->member >= 0)
        cJSON_AddStringToObject(o, "member", s->g.members[p->member].member_id);
    else
        cJSON_AddNullToObject(o, "member");
    cJSON_AddItemToObject(o, "epoch", num_or_null(e && eos ? e->epoch : -1));
    cJSON_AddItemToObject(o, "base", num_or_null(e && eos ? e->base : -1));
    cJSON_AddItemToObject(o, "runs", num_or_null(e && eos ? e->runs : -1));
    cJSON_AddItemToObject(o, "marks", num_or_null(e && eos ? e->marks : -1));
    if (e && e->owner[0])
        cJSON_AddStringToObject(o, "holder", e->owner);
    else
        cJSON_AddNullToObject(o, "holder");
    cJSON_AddItemToObject(o, "parked_keys", num_or_null(e && eos ? e->parked_keys : -1));
    cJSON_AddItemToObject(o, "parked_records", num_or_null(e && eos ? e->parked_records : -1));
    if (e) {
        cJSON *cr = cJSON_AddArrayToObject(o, "crashes");
        for (size_t k = 0; k < e->ncrashes; k++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "offset", (double)e->crashes[k].offset);
            cJSON_AddNumberToObject(c, "records", (double)e->crashes[k].n);
            cJSON_AddNumberToObject(c, "crashes", (double)e->crashes[k].count);
            if (e->crashes[k].sig[0]) cJSON_AddStringToObject(c, "signal", e->crashes[k].sig);
            cJSON_AddItemToArray(cr, c);
        }
    } else {
        cJSON_AddNullToObject(o, "crashes");
    }
    if (p->err[0]) cJSON_AddStringToObject(o, "error", p->err);
    return o;
}

static cJSON *mapping_json(const kf_status_mapping *s)
{
    const kf_group_view *g = &s->g;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->m->name);
    cJSON_AddStringToObject(o, "group", s->m->group_id);
    cJSON_AddBoolToObject(o, "exactly_once", s->m->exactly_once);
    cJSON_AddBoolToObject(o, "parks", s->m->on_failure.mode == KF_ON_FAILURE_PARK);
    cJSON_AddStringToObject(o, "end_is", g->last_stable ? "last_stable_offset" : "high_watermark");
    cJSON_AddStringToObject(o, "group_state", g->state);
    cJSON *ms = cJSON_AddArrayToObject(o, "members");
    for (size_t i = 0; i < g->nmembers; i++) {
        const kf_group_member *mb = &g->members[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "member_id", mb->member_id);
        cJSON_AddStringToObject(j, "client_id", mb->client_id);
        cJSON_AddStringToObject(j, "host", mb->host);
        cJSON *ps = cJSON_AddArrayToObject(j, "partitions");
        for (size_t k = 0; k < mb->nassigned; k++) {
            cJSON *tp = cJSON_CreateObject();
            cJSON_AddStringToObject(tp, "topic", mb->assigned[k].topic);
            cJSON_AddNumberToObject(tp, "partition", mb->assigned[k].partition);
            cJSON_AddItemToArray(ps, tp);
        }
        cJSON_AddItemToArray(ms, j);
    }
    cJSON *ps = cJSON_AddArrayToObject(o, "partitions");
    int64_t lag = 0, keys = 0, records = 0;
    bool lag_known = true;
    for (size_t i = 0; i < g->nparts; i++) {
        cJSON_AddItemToArray(ps, partition_json(s, i));
        if (g->parts[i].lag < 0)
            lag_known = false;
        else
            lag += g->parts[i].lag;
        if (s->eos && s->read[i]) {
            keys += s->eos[i].parked_keys;
            records += s->eos[i].parked_records;
        }
    }
    cJSON *miss = cJSON_AddArrayToObject(o, "missing_topics");
    for (size_t i = 0; i < g->nmissing; i++)
        cJSON_AddItemToArray(miss, cJSON_CreateString(g->missing[i]));
    cJSON_AddItemToObject(o, "lag", num_or_null(lag_known ? lag : -1));
    bool whole = s->m->exactly_once && all_read(s);
    cJSON_AddItemToObject(o, "parked_keys", num_or_null(whole ? keys : -1));
    cJSON_AddItemToObject(o, "parked_records", num_or_null(whole ? records : -1));
    if (s->kafka_err[0])
        cJSON_AddStringToObject(o, "kafka_error", s->kafka_err);
    else
        cJSON_AddNullToObject(o, "kafka_error");
    if (s->redis_err[0])
        cJSON_AddStringToObject(o, "redis_error", s->redis_err);
    else
        cJSON_AddNullToObject(o, "redis_error");
    return o;
}

int kf_status_print_json(FILE *out, const kf_status_mapping *s, size_t n, bool ok)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return -1;
    cJSON_AddBoolToObject(root, "ok", ok);
    cJSON *ms = cJSON_AddArrayToObject(root, "mappings");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(ms, mapping_json(&s[i]));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return -1;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return 0;
}
