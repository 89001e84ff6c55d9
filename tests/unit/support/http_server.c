#include "tests/unit/support/http_server.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct body {
    char data[KF_TEST_BODY_MAX + 1];
    size_t len;
} body;

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    (void)method, (void)version;
    kf_test_http_fn fn = (kf_test_http_fn)(uintptr_t)cls;
    body *b = *con_cls;
    if (!b) {
        *con_cls = calloc(1, sizeof(body));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        size_t room = KF_TEST_BODY_MAX - b->len;
        size_t take = *data_size < room ? *data_size : room;
        memcpy(b->data + b->len, data, take);
        b->len += take;
        *data_size = 0;
        return MHD_YES;
    }
    b->data[b->len] = '\0';
    const char *reply = "";
    unsigned status = fn(c, url, b->data, b->len, &reply);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(reply), (void *)reply, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

struct MHD_Daemon *kf_test_http_start(kf_test_http_fn fn, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_http,
        (void *)(uintptr_t)fn, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}
