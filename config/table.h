/*
 * Declarative config tables: one table per JSON object of the config, one row
 * per key. A row says the key's name, type, default, range (min..max or the
 * enum's names), whether it is required, a one-line doc, and where the value
 * lands: `at`, the offset of its field in the struct the table fills (the
 * "base"), or a reader of its own for the odd keys (arrays, property
 * objects, values of several shapes).
 *
 * The same rows drive the validation (kf_cfg_read), the defaults, the freeing
 * of what was read (kf_cfg_free) and the reference documentation
 * (config/reference.h), so the three cannot drift apart.
 *
 * Reading an object, in order: its unknown or duplicate keys are refused,
 * then each row is read in table order (an absent key takes its default, an
 * absent required key is an error), then the table's `check` runs the
 * cross-key rules. The first error stops the walk with one line naming the
 * JSON path (json_path.h).
 *
 * Nested objects (KF_CFG_OBJECT rows) fill the SAME base as their parent:
 * their rows' offsets are taken from the outer struct, e.g.
 * offsetof(kf_mapping_config, batch.max_records). A check of a nested table
 * therefore sees every key read before it.
 *
 * Ownership: strings are copied into the base (char *, NULL when absent and
 * without default) and freed by kf_cfg_free; custom rows free what they
 * stored through their `free`. Tables are immutable and may be shared by
 * threads; a base is filled by one thread.
 */
#ifndef KF_CONFIG_TABLE_H
#define KF_CONFIG_TABLE_H

#include "common/props.h"
#include "config/json_path.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kf_cfg_kind {
    KF_CFG_STRING, /* a non-empty string into a char * (copied) */
    KF_CFG_INT,    /* an integer min..max into an int */
    KF_CFG_INT64,  /* an integer min..max into an int64_t */
    KF_CFG_BOOL,   /* true or false into a bool */
    KF_CFG_ENUM,   /* one of `names` into an int (its index) */
    KF_CFG_OBJECT, /* an object read with the table `sub` into the same base */
    KF_CFG_CUSTOM, /* read by `read` (and freed by `free`) */
} kf_cfg_kind;

/*
 * Row flags.
 * KF_CFG_REQUIRED: an absent key is an error.
 * KF_CFG_OPTIONAL (OBJECT): absent turns the feature off, so its required
 * keys apply only when it is present; when absent, its rows of the plain
 * kinds still take their defaults and its custom rows are not called.
 * KF_CFG_ENUM_NAME (ENUM): stores a copy of the name (char *), not the index.
 */
#define KF_CFG_REQUIRED  1u
#define KF_CFG_OPTIONAL  2u
#define KF_CFG_ENUM_NAME 4u

typedef struct kf_cfg_key kf_cfg_key;
typedef struct kf_cfg_table kf_cfg_table;

/* Reads row `k` of `obj` (NULL when the object is absent) into base; called
 * whether or not the key is present. Returns 0, or -1 with the error in jp.
 * `ctx` is what the caller of kf_cfg_read passed down. */
typedef int(kf_cfg_read_fn)(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base,
                            void *ctx);
/* Frees what a custom reader stored in base; must accept a zeroed field. */
typedef void(kf_cfg_free_fn)(const kf_cfg_key *k, void *base);
/* A table's cross-key rules, after all its rows were read; jp is at the
 * object's path and obj is NULL when the object is absent. */
typedef int(kf_cfg_check_fn)(kf_jpath *jp, const cJSON *obj, void *base, void *ctx);

struct kf_cfg_key {
    const char *name;
    kf_cfg_kind kind;
    unsigned flags;
    size_t at; /* offset of the field in the base */

    int64_t min, max;             /* INT, INT64 */
    int64_t def;                  /* INT, INT64, BOOL (0/1), ENUM (index) */
    const char *def_str;          /* STRING: default copied when absent; NULL none */
    const char *const *names;     /* ENUM: NULL-terminated */
    bool (*valid)(const char *s); /* STRING: refuses what the type alone allows */
    const char *expected;         /* STRING: the "expected ..." message when valid refuses */

    const kf_cfg_table *sub; /* OBJECT: its table; CUSTOM: documented children, if any */
    kf_cfg_read_fn *read;    /* CUSTOM */
    kf_cfg_free_fn *free;    /* CUSTOM: NULL when it stores nothing to free */
    const void *arg;         /* CUSTOM: the reader's own parameter */

    /* Reference columns; when NULL they are derived from the fields above. */
    const char *type_doc;
    const char *default_doc;
    const char *range_doc;
    const char *doc; /* one line: what the key does */
};

struct kf_cfg_table {
    const char *doc; /* one line about the object (the reference's heading text) */
    const kf_cfg_key *keys;
    size_t count;
    kf_cfg_check_fn *check; /* NULL when the keys have no cross rules */
};

#define KF_CFG_COUNT(rows) (sizeof(rows) / sizeof((rows)[0]))

/* The field row k lands in. */
#define KF_CFG_FIELD(base, k, type) ((type *)(void *)((char *)(base) + (k)->at))

/*
 * Reads the object `obj` (NULL: absent) at jp's path with table t into base:
 * unknown keys, then the rows, then t->check. `ctx` reaches custom readers
 * and checks unchanged. Returns 0, or -1 with the error in jp.
 */
int kf_cfg_read(kf_jpath *jp, const kf_cfg_table *t, const cJSON *obj, void *base, void *ctx);

/* kf_cfg_read without the unknown-key check and without t->check, for an
 * object whose keys span several tables (a sink: its common keys and its
 * type's). */
int kf_cfg_read_rows(kf_jpath *jp, const kf_cfg_table *t, const cJSON *obj, void *base, void *ctx);

/* Reads one row as its kind says (a custom row through its reader). */
int kf_cfg_read_key(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base, void *ctx);

/*
 * Refuses a key of obj found in none of the n tables, and a key that appears
 * twice. The message lists the tables' keys in order; `what` is NULL or
 * words put after "unknown key" (e.g. "for a kafka sink").
 */
int kf_cfg_check_keys(kf_jpath *jp, const cJSON *obj, const kf_cfg_table *const *tables, size_t n,
                      const char *what);

/* Frees what kf_cfg_read stored in base (not base itself); accepts a base
 * read only in part. */
void kf_cfg_free(const kf_cfg_table *t, void *base);

/* Copies s into *dst (NULL stays NULL); fails with "out of memory". */
int kf_cfg_dup(kf_jpath *jp, const char *s, char **dst);

/* Serialises v (compact JSON) into *dst; fails with "out of memory". */
int kf_cfg_dup_json(kf_jpath *jp, const cJSON *v, char **dst);

/* Calls each(jp, entry, i, ctx) for every entry of the array `arr` (the
 * value of `key`), with jp at "<key>[i]"; stops at the first failure. */
typedef int(kf_cfg_each_fn)(kf_jpath *jp, const cJSON *entry, size_t i, void *ctx);
int kf_cfg_each(kf_jpath *jp, const char *key, const cJSON *arr, kf_cfg_each_fn *each, void *ctx);

/* The index of the first of n items (`size` bytes apart) whose char * at
 * offset `at` equals s, or -1: for "not used by ...[i]" checks. */
long kf_cfg_find_string(const void *items, size_t size, size_t at, size_t n, const char *s);

/* Reads the required name row k of an array element: a name as
 * validate.h's kf_cfg_valid_name, not used by the n elements before it
 * (`items`, `size` bytes apart, the name at k->at in each), which the message
 * calls "<array>[i]". Copies it into base. */
int kf_cfg_read_unique_name(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base,
                            const void *items, size_t size, size_t n, const char *array);

/* ---- readers shared by several tables ---- */

typedef enum kf_props_kind {
    KF_PROPS_ANY,      /* values may be strings, numbers or booleans (stringified) */
    KF_PROPS_CONSUMER, /* as ANY, and refuses enable.auto.commit / enable.auto.offset.store
                        * true and group.id: kfleet owns commits and group ids */
    KF_PROPS_STRINGS,  /* values must be strings (HTTP headers) */
} kf_props_kind;

/* A JSON object of librdkafka properties or HTTP headers into a kf_props.
 * `arg` is a kf_cfg_props_arg. */
typedef struct kf_cfg_props_arg {
    kf_props_kind kind;
    const char *self; /* KF_PROPS_CONSUMER: where group.id belongs, for the message;
                       * NULL: "<the object's path>.group_id" */
} kf_cfg_props_arg;
kf_cfg_read_fn kf_cfg_read_props;
kf_cfg_free_fn kf_cfg_free_props;

/* Frees the char * at k->at: the `free` of custom rows that store a string. */
kf_cfg_free_fn kf_cfg_free_string;

#endif /* KF_CONFIG_TABLE_H */
