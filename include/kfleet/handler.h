/*
 * kfleet handler ABI — the one header a handler author includes.
 *
 * A handler is a shared object that exports one symbol:
 *
 *     const kf_handler *kf_handler_entry(void);
 *
 * returning a pointer to a static descriptor. The descriptor starts with
 * `abi_version` and `struct_size`; the host refuses a descriptor whose
 * abi_version differs from the host's KF_ABI_VERSION, and reads only the fields
 * that `struct_size` covers. Fields are only ever appended, so a handler built
 * against an older header keeps loading in a newer host.
 *
 * Threads: `handle` and `handle_batch` are called concurrently from many worker
 * threads. A handler keeps no per-call state outside what it allocates on the
 * stack; shared state lives in `state` and is the handler's to synchronise.
 *
 * Ownership: every pointer the host passes (records, keys, values, headers,
 * emitters) is valid only for the duration of the call. kf_emit copies what it
 * is given, so the handler may emit from stack buffers.
 *
 * Build one with a single line, in the kfleet source tree:
 *     cc -shared -fPIC -I include -o my.so my.c
 * or against an installed kfleet (`cmake --install` writes kfleet.pc):
 *     cc $(pkg-config --cflags kfleet) -shared -fPIC -o my.so my.c
 */
#ifndef KFLEET_HANDLER_H
#define KFLEET_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The major ABI version. A change that is not an append bumps it. */
#define KF_ABI_VERSION 1

/* The symbol the host looks up with dlsym. */
#define KF_HANDLER_ENTRY_SYMBOL "kf_handler_entry"

/* What a handler says about one record. Unknown values count as KF_FAIL. */
typedef enum kf_result {
    KF_OK = 0,    /* done: the record's outputs go to the sinks */
    KF_RETRY = 1, /* transient: run the record again after a backoff */
    KF_FAIL = 2,  /* permanent: send the record to the on-failure destination */
} kf_result;

/* One Kafka header. `value` is NULL for a header with a null value. */
typedef struct kf_header {
    const char *name;
    const void *value;
    size_t value_len;
} kf_header;

/* A read-only view of one input record, valid only during the call. */
typedef struct kf_record {
    uint32_t struct_size; /* sizeof(kf_record) of the host that filled it */
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the record's Kafka timestamp, -1 if none */
    const void *key;      /* NULL for a null key */
    size_t key_len;
    const void *value; /* NULL for a null (tombstone) value */
    size_t value_len;
    const kf_header *headers;
    size_t header_count;
    int attempt; /* 1 on the first delivery, 2 on the first retry, ... */
} kf_record;

/* Where a handler sends its outputs. Opaque apart from its function table. */
typedef struct kf_emitter kf_emitter;
struct kf_emitter {
    uint32_t struct_size;
    /* See kf_emit. */
    int (*emit)(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                const void *value, size_t value_len);
    /* See kf_emit_headers. */
    int (*emit_headers)(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                        const void *value, size_t value_len, const kf_header *headers,
                        size_t header_count);
};

/*
 * Emits one output to the sink named `sink`, or to every sink of the mapping
 * when `sink` is NULL. Copies key and value. Outputs take effect only if the
 * call returns KF_OK; on KF_RETRY or KF_FAIL they are discarded.
 * Returns 0, or -1 when no sink has that name (the output is dropped).
 */
static inline int kf_emit(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                          const void *value, size_t value_len)
{
    return em->emit(em, sink, key, key_len, value, value_len);
}

/* kf_emit with headers of the handler's own; copies them too. */
static inline int kf_emit_headers(kf_emitter *em, const char *sink, const void *key, size_t key_len,
                                  const void *value, size_t value_len, const kf_header *headers,
                                  size_t header_count)
{
    return em->emit_headers(em, sink, key, key_len, value, value_len, headers, header_count);
}

typedef struct kf_handler {
    uint32_t abi_version; /* KF_ABI_VERSION */
    uint32_t struct_size; /* sizeof(kf_handler) */
    const char *name;

    /*
     * Called once per process before any record (the cold start). `config_json`
     * is the mapping's handler.config object serialised as JSON ("{}" if absent).
     * Returns 0 and sets *state, or non-zero with a sentence in err.
     * May be NULL.
     */
    int (*init)(const char *config_json, void **state, char *err, size_t errlen);

    /* Processes one record. Required. */
    kf_result (*handle)(void *state, const kf_record *record, kf_emitter *em);

    /*
     * Optional. Processes n records at once and writes one result per record
     * (partial batch failure, like Lambda's ReportBatchItemFailures). records[i]
     * emits through ems[i]. When present, the host prefers it over handle.
     */
    void (*handle_batch)(void *state, const kf_record *const *records, kf_emitter *const *ems,
                         size_t n, kf_result *results);

    /* Called once at unload with the state init returned. May be NULL. */
    void (*fini)(void *state);
} kf_handler;

/* Declare with KF_HANDLER_EXPORT so the symbol stays visible under -fvisibility=hidden. */
#define KF_HANDLER_EXPORT __attribute__((visibility("default")))

KF_HANDLER_EXPORT const kf_handler *kf_handler_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* KFLEET_HANDLER_H */
