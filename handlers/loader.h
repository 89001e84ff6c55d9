/*
 * The handler loader: opens a handler shared object, checks its ABI, runs its
 * init (the cold start) and unloads it.
 *
 * Ownership: kf_handler_load returns a kf_loaded_handler the caller frees with
 * kf_handler_unload, which calls the handler's fini before dlclose.
 * Nothing of the descriptor is read after kf_handler_load returns.
 */
#ifndef KF_HANDLER_LOADER_H
#define KF_HANDLER_LOADER_H

#include "kfleet/handler.h"

#include <stddef.h>

typedef struct kf_loaded_handler kf_loaded_handler;

/*
 * dlopen(RTLD_NOW|RTLD_LOCAL)s `path`, looks up kf_handler_entry, refuses an
 * ABI mismatch or a descriptor without `handle`, and calls init with
 * `config_json`. Returns NULL with a sentence naming the file in err: a missing
 * file, a missing symbol, a version mismatch, or init's own error text.
 */
kf_loaded_handler *kf_handler_load(const char *path, const char *config_json, char *err,
                                   size_t errlen);

/* Calls fini and dlcloses. Accepts NULL. */
void kf_handler_unload(kf_loaded_handler *h);

/* The descriptor's name (never NULL: the file's basename when unnamed). */
const char *kf_handler_name(const kf_loaded_handler *h);

/* True when the handler has handle_batch (within its struct_size). */
int kf_handler_has_batch(const kf_loaded_handler *h);

/* Calls handle; maps unknown return values to KF_FAIL. */
kf_result kf_handler_call(const kf_loaded_handler *h, const kf_record *rec, kf_emitter *em);

/* Calls handle_batch, or handle once per record when the handler has none;
 * maps unknown results (and results left unwritten) to KF_FAIL. */
void kf_handler_call_batch(const kf_loaded_handler *h, const kf_record *const *recs,
                           kf_emitter *const *ems, size_t n, kf_result *results);

/* How long init took, in microseconds (the cold start, for metrics/bench). */
long kf_handler_init_us(const kf_loaded_handler *h);

#endif /* KF_HANDLER_LOADER_H */
