/* See validate.h. */
#include "config/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN  128
#define TOPIC_MAX_LEN 249

static bool name_chars(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s)) return false;
    return true;
}

bool kf_cfg_valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX_LEN && name_chars(s);
}

bool kf_cfg_valid_topic(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= TOPIC_MAX_LEN && name_chars(s) && strcmp(s, ".") && strcmp(s, "..");
}

bool kf_cfg_valid_subscription(const char *s)
{
    return (s[0] == '^' && s[1]) || kf_cfg_valid_topic(s);
}

bool kf_cfg_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0 && s[strlen(prefix)] != '\0';
}

bool kf_cfg_valid_redis_url(const char *s)
{
    return kf_cfg_has_prefix(s, "redis://");
}

bool kf_cfg_valid_http_url(const char *s)
{
    return kf_cfg_has_prefix(s, "http://") || kf_cfg_has_prefix(s, "https://");
}

bool kf_cfg_valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    if (s[0] == '[' && colon[-1] != ']') return false;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && isdigit((unsigned char)colon[1]) && *end == '\0' && errno == 0 &&
           port >= 1 && port <= 65535;
}
