/*
 * What the fuzz targets share: splitting one input into fields.
 *
 * Fields are separated by the byte 0x1E (ASCII record separator), so a seed
 * stays a readable text file and a field may hold any other byte, NUL
 * included. A field that is exactly the byte 0x1F stands for NULL (a null
 * key, value or header value). Missing trailing fields are NULL too.
 */
#ifndef KF_FUZZ_INPUT_H
#define KF_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KF_FUZZ_SEP  0x1E
#define KF_FUZZ_NULL 0x1F

typedef struct fuzz_in {
    const uint8_t *p;
    size_t left;
    bool done;
} fuzz_in;

typedef struct fuzz_field {
    const uint8_t *data; /* NULL for a null field; not NUL-terminated */
    size_t len;
} fuzz_field;

static inline fuzz_in fuzz_in_make(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size, false};
    return in;
}

/* The next field; {NULL, 0} once the input is used up. */
static inline fuzz_field fuzz_next(fuzz_in *in)
{
    fuzz_field f = {NULL, 0};
    if (in->done) return f;
    const uint8_t *sep = in->left ? memchr(in->p, KF_FUZZ_SEP, in->left) : NULL;
    size_t n = sep ? (size_t)(sep - in->p) : in->left;
    if (!(n == 1 && in->p[0] == KF_FUZZ_NULL)) {
        f.data = in->p;
        f.len = n;
    }
    if (sep) {
        in->p += n + 1;
        in->left -= n + 1;
    } else {
        in->done = true;
    }
    return f;
}

/* A malloc'd NUL-terminated copy of the field ("" for a null one); the text
 * ends at the first NUL byte, as a C string from that source would. */
static inline char *fuzz_strdup(fuzz_field f)
{
    char *s = malloc(f.len + 1);
    if (!s) abort();
    if (f.len) memcpy(s, f.data, f.len);
    s[f.len] = '\0';
    return s;
}

/* A malloc'd copy of exactly len bytes, so that a read past the end is a
 * heap overflow ASan reports (ASan's malloc(0) is a valid pointer to no
 * bytes). NULL stays NULL; free it with free(). */
static inline void *fuzz_bytes(fuzz_field f)
{
    if (!f.data) return NULL;
    void *b = malloc(f.len);
    if (!b) abort();
    if (f.len) memcpy(b, f.data, f.len);
    return b;
}

#endif /* KF_FUZZ_INPUT_H */
