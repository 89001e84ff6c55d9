#include "common/partition_gauges.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct kf_partition_gauges {
    pthread_mutex_t lock; /* guards rows, n, cap */
    kf_partition_row *rows;
    size_t n, cap;
};

kf_partition_gauges *kf_partition_gauges_new(void)
{
    kf_partition_gauges *g = calloc(1, sizeof *g);
    if (g) pthread_mutex_init(&g->lock, NULL);
    return g;
}

void kf_partition_gauges_destroy(kf_partition_gauges *g)
{
    if (!g) return;
    pthread_mutex_destroy(&g->lock);
    free(g->rows);
    free(g);
}

int kf_partition_gauges_publish(kf_partition_gauges *g, const kf_partition_row *rows, size_t n)
{
    pthread_mutex_lock(&g->lock);
    if (n > g->cap) {
        /* Grown under the lock: a reader copies the old rows or the new,
         * never a freed buffer. Assignments change rarely. */
        kf_partition_row *p = realloc(g->rows, n * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&g->lock);
            return -1;
        }
        g->rows = p;
        g->cap = n;
    }
    if (n) memcpy(g->rows, rows, n * sizeof *rows);
    g->n = n;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int kf_partition_gauges_copy(kf_partition_gauges *g, kf_partition_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    pthread_mutex_lock(&g->lock);
    int rc = 0;
    if (g->n) {
        *rows = malloc(g->n * sizeof **rows);
        if (*rows) {
            memcpy(*rows, g->rows, g->n * sizeof **rows);
            *n = g->n;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}
