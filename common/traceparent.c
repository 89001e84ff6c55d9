#include "common/traceparent.h"

#include <string.h>
#include <strings.h>

/* "00-" + 32 + "-" + 16 + "-" + 2 */
#define TRACEPARENT_V0_LEN 55

/* True when s[0..n) is lowercase hex; *nonzero set when a digit is not 0. */
static bool hex(const char *s, size_t n, bool *nonzero)
{
    bool nz = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        nz |= c != '0';
    }
    if (nonzero) *nonzero = nz;
    return true;
}

bool kf_traceparent_trace_id(const char *v, size_t len, char out[KF_TRACE_ID_LEN + 1])
{
    out[0] = '\0';
    bool trace_nz, parent_nz;
    if (!v || len < TRACEPARENT_V0_LEN) return false;
    if (!hex(v, 2, NULL) || !memcmp(v, "ff", 2) || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return false;
    if (!hex(v + 3, 32, &trace_nz) || !hex(v + 36, 16, &parent_nz) || !hex(v + 53, 2, NULL))
        return false;
    if (!trace_nz || !parent_nz) return false;
    if (!memcmp(v, "00", 2) ? len != TRACEPARENT_V0_LEN
                            : len > TRACEPARENT_V0_LEN && v[TRACEPARENT_V0_LEN] != '-')
        return false;
    memcpy(out, v + 3, KF_TRACE_ID_LEN);
    out[KF_TRACE_ID_LEN] = '\0';
    return true;
}

bool kf_trace_id_of(const kf_header *h, size_t n, char out[KF_TRACE_ID_LEN + 1])
{
    out[0] = '\0';
    for (size_t i = 0; h && i < n; i++)
        if (h[i].name && !strcasecmp(h[i].name, "traceparent"))
            return kf_traceparent_trace_id(h[i].value, h[i].value_len, out);
    return false;
}
