/*
 * echo — the smallest useful kfleet handler: every input record goes out
 * unchanged, same key, same value, to every sink of the mapping.
 *
 * Use it to check a pipeline end to end before your own logic exists, or as
 * the starting point of a new handler. Build it alone with:
 *
 *     cc -shared -fPIC -O2 -I include -o build/handlers/echo.so handlers/examples/echo.c
 *
 * Config: none (handler.config is ignored).
 *
 * Threads: handle keeps nothing between calls, so any number of worker threads
 * may run it at once without locks.
 */
#include "kfleet/handler.h"

#include <stddef.h>

/*
 * Called once per record, from any worker thread. `rec` and everything it
 * points to is valid only until we return; kf_emit copies what it is given,
 * so passing rec->key and rec->value straight through is safe.
 *
 * A null key or a null (tombstone) value is passed on as NULL: a sink that
 * understands tombstones (the Kafka sink) keeps them tombstones.
 */
static kf_result echo_handle(void *state, const kf_record *rec, kf_emitter *em)
{
    (void)state; /* echo has no init, so state is always NULL */

    /* NULL sink name: send to every sink of the mapping. */
    if (kf_emit(em, NULL, rec->key, rec->key_len, rec->value, rec->value_len) != 0) {
        /*
         * The host refused the output. Returning KF_OK would lose it
         * silently; KF_FAIL sends the record to the mapping's on-failure
         * destination where someone will see it.
         */
        return KF_FAIL;
    }
    return KF_OK;
}

/*
 * The descriptor: static, so it lives as long as the .so is loaded. Designated
 * initialisers leave the optional fields (init, handle_batch, fini) NULL.
 */
static const kf_handler echo_handler = {
    .abi_version = KF_ABI_VERSION,
    .struct_size = sizeof(kf_handler),
    .name = "echo",
    .handle = echo_handle,
};

/* The one symbol the host looks up. KF_HANDLER_EXPORT keeps it visible. */
KF_HANDLER_EXPORT const kf_handler *kf_handler_entry(void)
{
    return &echo_handler;
}
