/*
 * The handler loader (see loader.h for the API and ownership).
 *
 * Every refusal is a sentence that starts with "handler <path>" so that an
 * operator reading `kfleet check` output knows which file is wrong and what to
 * do about it. The path is quoted as the config wrote it.
 *
 * ABI rules (include/kfleet/handler.h): a descriptor whose abi_version differs
 * from KF_ABI_VERSION is refused; otherwise only the fields `struct_size`
 * covers are read, so a handler built against an older (shorter) header keeps
 * loading. The loader copies the function pointers it may use and the name
 * once, at load, and never touches the descriptor again.
 *
 * Threads: kf_handler_load and kf_handler_unload run on one thread (start-up
 * and shutdown). kf_handler_call / kf_handler_call_batch only read the loaded
 * handler and may run concurrently from every worker thread.
 */
#include "handlers/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The v1 descriptor up to and including `handle`: the least the host accepts. */
#define KF_HANDLER_MIN_SIZE (offsetof(kf_handler, handle) + sizeof(((kf_handler *)0)->handle))

/* True when a descriptor of `size` bytes covers the field `f` entirely. */
#define COVERS(size, f) ((size) >= offsetof(kf_handler, f) + sizeof(((kf_handler *)0)->f))

typedef kf_result (*handle_fn)(void *, const kf_record *, kf_emitter *);
typedef void (*handle_batch_fn)(void *, const kf_record *const *, kf_emitter *const *, size_t,
                                kf_result *);
typedef void (*fini_fn)(void *);

struct kf_loaded_handler {
    void *dl;    /* dlopen handle; dlclosed by kf_handler_unload */
    char *name;  /* owned copy: descriptor name or the file's basename */
    void *state; /* what init returned; passed to every call and to fini */
    handle_fn handle;
    handle_batch_fn handle_batch; /* NULL when absent or beyond struct_size */
    fini_fn fini;                 /* NULL when absent or beyond struct_size */
    long init_us;
};

/* Maps anything a handler returns to one of the three results. */
static kf_result normalise(int r)
{
    if (r == KF_OK || r == KF_RETRY || r == KF_FAIL) return (kf_result)r;
    return KF_FAIL;
}

static long elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000000L + (long)(b->tv_nsec - a->tv_nsec) / 1000L;
}

/*
 * Checks that `path` names a readable regular file, so that the common mistakes
 * (typo, not built yet, wrong permissions) get strerror's words instead of
 * dlerror's. Returns 0, or -1 with err filled.
 */
static int check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "handler %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "handler %s: cannot open: %s", path, strerror(EISDIR));
        return -1;
    }
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "handler %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The name to report when the descriptor has none: the file's basename. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/*
 * dlopens the handler file. dlopen treats a name without a slash as a library
 * to search for in the system paths, not as a file in the working directory;
 * a handler path in a config is always a file, so such names get an explicit
 * "./". Returns the handle, or NULL with err filled.
 */
static void *open_library(const char *path, char *err, size_t errlen)
{
    char *dlpath = NULL;
    if (!strchr(path, '/')) {
        if (asprintf(&dlpath, "./%s", path) < 0) {
            snprintf(err, errlen, "handler %s: out of memory", path);
            return NULL;
        }
    }

    const char *target = dlpath ? dlpath : path;
    dlerror(); /* clear any stale message */
    void *dl = dlopen(target, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        /* dlerror usually starts with "<path>: "; the sentence names the file already. */
        const char *why = dlerror();
        size_t tlen = strlen(target);
        if (!why)
            why = "unknown error";
        else if (strncmp(why, target, tlen) == 0 && strncmp(why + tlen, ": ", 2) == 0)
            why += tlen + 2;
        snprintf(err, errlen, "handler %s: cannot load: %s", path, why);
    }
    free(dlpath);
    return dl;
}

/*
 * Calls the library's entry point and checks the descriptor it returns: the
 * ABI version, a struct_size covering at least `handle`, a handle function.
 * Returns the descriptor, or NULL with err filled.
 */
static const kf_handler *read_descriptor(void *dl, const char *path, char *err, size_t errlen)
{
    dlerror();
    void *sym = dlsym(dl, KF_HANDLER_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(err, errlen, "handler %s does not export %s (is it a kfleet handler?)", path,
                 KF_HANDLER_ENTRY_SYMBOL);
        return NULL;
    }
    /* ISO C has no void * to function pointer conversion; POSIX guarantees this copy works. */
    const kf_handler *(*entry)(void);
    memcpy(&entry, &sym, sizeof entry);

    const kf_handler *d = entry();
    if (!d) {
        snprintf(err, errlen, "handler %s: %s() returned NULL instead of a descriptor", path,
                 KF_HANDLER_ENTRY_SYMBOL);
        return NULL;
    }
    if (d->abi_version != KF_ABI_VERSION) {
        snprintf(err, errlen,
                 "handler %s was built for handler ABI %u, this kfleet speaks ABI %d: "
                 "rebuild it against include/kfleet/handler.h",
                 path, (unsigned)d->abi_version, KF_ABI_VERSION);
        return NULL;
    }
    /*
     * From here on, read only what struct_size covers. A larger struct_size
     * (a handler built against a newer header of the same ABI) is fine: the
     * fields this host does not know are simply not read.
     */
    uint32_t size = d->struct_size;
    if (size < KF_HANDLER_MIN_SIZE) {
        snprintf(err, errlen,
                 "handler %s has a descriptor of %u bytes, smaller than the %zu bytes ABI %d "
                 "requires (through handle): set struct_size = sizeof(kf_handler) and rebuild "
                 "it against include/kfleet/handler.h",
                 path, (unsigned)size, (size_t)KF_HANDLER_MIN_SIZE, KF_ABI_VERSION);
        return NULL;
    }
    if (!d->handle) {
        snprintf(err, errlen, "handler %s has no handle function (its descriptor's handle is NULL)",
                 path);
        return NULL;
    }
    return d;
}

/*
 * Copies from the checked descriptor `d` the function pointers its
 * struct_size covers, and its name (or the file's basename); the result
 * keeps `dl`. Returns NULL with err filled when out of memory, and then `dl`
 * is still the caller's to close.
 */
static kf_loaded_handler *adopt_descriptor(void *dl, const kf_handler *d, const char *path,
                                           char *err, size_t errlen)
{
    kf_loaded_handler *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "handler %s: out of memory", path);
        return NULL;
    }
    h->dl = dl;
    h->handle = d->handle;
    if (COVERS(d->struct_size, handle_batch)) h->handle_batch = d->handle_batch;
    if (COVERS(d->struct_size, fini)) h->fini = d->fini;
    h->name = strdup(d->name && *d->name ? d->name : base_name(path));
    if (!h->name) {
        snprintf(err, errlen, "handler %s: out of memory", path);
        free(h);
        return NULL;
    }
    return h;
}

/*
 * The cold start: runs the descriptor's init (when it has one) and times it.
 * init gets its own zeroed buffer so that a handler which fails without
 * writing a message, or without terminating it, still leads to a well-formed
 * sentence. Returns 0, or -1 with err filled; a failed init's state is not
 * ours to fini.
 */
static int run_init(kf_loaded_handler *h, const kf_handler *d, const char *path,
                    const char *config_json, char *err, size_t errlen)
{
    if (!d->init) return 0;
    char ierr[512] = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = d->init(config_json ? config_json : "{}", &h->state, ierr, sizeof ierr);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    h->init_us = elapsed_us(&t0, &t1);
    if (rc == 0) return 0;
    ierr[sizeof ierr - 1] = '\0';
    if (ierr[0])
        snprintf(err, errlen, "handler %s init failed: %s", path, ierr);
    else
        snprintf(err, errlen, "handler %s init failed (returned %d, gave no reason)", path, rc);
    return -1;
}

kf_loaded_handler *kf_handler_load(const char *path, const char *config_json, char *err,
                                   size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "handler path is empty");
        return NULL;
    }
    if (check_file(path, err, errlen) != 0) return NULL;
    void *dl = open_library(path, err, errlen);
    if (!dl) return NULL;
    const kf_handler *d = read_descriptor(dl, path, err, errlen);
    kf_loaded_handler *h = d ? adopt_descriptor(dl, d, path, err, errlen) : NULL;
    if (h && run_init(h, d, path, config_json, err, errlen) == 0) return h;
    if (h) free(h->name);
    free(h);
    dlclose(dl);
    return NULL;
}

void kf_handler_unload(kf_loaded_handler *h)
{
    if (!h) return;
    if (h->fini) h->fini(h->state);
    dlclose(h->dl);
    free(h->name);
    free(h);
}

const char *kf_handler_name(const kf_loaded_handler *h)
{
    return h->name;
}

int kf_handler_has_batch(const kf_loaded_handler *h)
{
    return h->handle_batch != NULL;
}

kf_result kf_handler_call(const kf_loaded_handler *h, const kf_record *rec, kf_emitter *em)
{
    /* Read the result as an int: a handler may return any value of its enum's width. */
    int r = (int)h->handle(h->state, rec, em);
    return normalise(r);
}

void kf_handler_call_batch(const kf_loaded_handler *h, const kf_record *const *recs,
                           kf_emitter *const *ems, size_t n, kf_result *results)
{
    /*
     * Prefill with a value no handler means, so a result the handler forgot to
     * write counts as KF_FAIL (dead-lettered, visible) rather than garbage.
     */
    for (size_t i = 0; i < n; i++)
        results[i] = (kf_result)-1;
    if (h->handle_batch) {
        h->handle_batch(h->state, recs, ems, n, results);
    } else {
        /* Contract says handle_batch must exist; degrade to one call per record. */
        for (size_t i = 0; i < n; i++)
            results[i] = h->handle(h->state, recs[i], ems[i]);
    }
    for (size_t i = 0; i < n; i++)
        results[i] = normalise((int)results[i]);
}

long kf_handler_init_us(const kf_loaded_handler *h)
{
    return h->init_us;
}
