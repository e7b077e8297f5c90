/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statuses counted one by one; anything else lands in its class's "other" slot. */
static const unsigned tracked_status[] = {200, 201, 202, 204, 206, 301, 302, 304, 400,
                                          401, 403, 404, 405, 408, 409, 411, 413, 415,
                                          416, 422, 429, 500, 501, 502, 503, 504, 507};
#define N_TRACKED (sizeof(tracked_status) / sizeof(tracked_status[0]))
#define N_STATUS  (N_TRACKED + 1) /* + other */
#define N_CLASSES 6               /* 1xx..5xx, other */

/* Latency bucket upper bounds in microseconds (Prometheus le= in seconds). */
static const uint64_t bucket_usec[] = {100,     250,     500,     1000,    2500,   5000,
                                       10000,   25000,   50000,   100000,  250000, 500000,
                                       1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof(bucket_usec) / sizeof(bucket_usec[0]) + 1) /* + Inf */

typedef struct route_stats {
    uint64_t by_status[N_STATUS];
    uint64_t buckets[N_BUCKETS];
    uint64_t sum_usec;
    uint64_t count;
} route_stats;

struct imgd_metrics {
    const imgd_route *routes;
    size_t n_routes;
    uint64_t started;
    uint64_t finished;
    uint64_t by_class[N_CLASSES];
    route_stats *stats; /* n_routes + 1 */
};

imgd_metrics *imgd_metrics_new(const imgd_route *routes, size_t n_routes)
{
    imgd_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->stats = calloc(n_routes + 1, sizeof(route_stats));
    if (!m->stats) {
        free(m);
        return NULL;
    }
    m->routes = routes;
    m->n_routes = n_routes;
    return m;
}

void imgd_metrics_free(imgd_metrics *m)
{
    if (!m)
        return;
    free(m->stats);
    free(m);
}

static size_t status_slot(unsigned status)
{
    for (size_t i = 0; i < N_TRACKED; i++) {
        if (tracked_status[i] == status)
            return i;
    }
    return N_TRACKED;
}

static void add(uint64_t *counter, uint64_t v)
{
    __atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void imgd_metrics_request_started(imgd_metrics *m)
{
    add(&m->started, 1);
}

void imgd_metrics_observe(imgd_metrics *m, size_t route_index, unsigned status,
                          uint64_t duration_usec)
{
    if (route_index > m->n_routes)
        route_index = m->n_routes;
    route_stats *s = &m->stats[route_index];
    add(&s->by_status[status_slot(status)], 1);
    size_t b = 0;
    while (b < N_BUCKETS - 1 && duration_usec > bucket_usec[b])
        b++;
    add(&s->buckets[b], 1);
    add(&s->sum_usec, duration_usec);
    add(&s->count, 1);
    unsigned cls = status / 100;
    add(&m->by_class[cls >= 1 && cls <= 5 ? cls - 1 : 5], 1);
    add(&m->finished, 1);
}

uint64_t imgd_metrics_total(const imgd_metrics *m)
{
    return load(&m->finished);
}

uint64_t imgd_metrics_in_flight(const imgd_metrics *m)
{
    uint64_t started = load(&m->started), finished = load(&m->finished);
    return started > finished ? started - finished : 0;
}

int imgd_metrics_summary(const imgd_metrics *m, json_t *obj)
{
    static const char *const class_names[N_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    json_t *by = json_object();
    if (!by)
        return -1;
    for (size_t i = 0; i < N_CLASSES; i++)
        json_object_set_new(by, class_names[i], json_integer((json_int_t)load(&m->by_class[i])));
    json_object_set_new(obj, "requests_by_status", by);
    json_object_set_new(obj, "requests_total", json_integer((json_int_t)imgd_metrics_total(m)));
    json_object_set_new(obj, "requests_in_flight",
                        json_integer((json_int_t)imgd_metrics_in_flight(m)));
    return 0;
}

static void route_labels(char *buf, size_t len, const imgd_metrics *m, size_t i)
{
    if (i < m->n_routes)
        snprintf(buf, len, "method=\"%s\",route=\"%s\"", m->routes[i].method, m->routes[i].pattern);
    else
        snprintf(buf, len, "method=\"\",route=\"unmatched\"");
}

static void render_requests(imgd_buf *b, const imgd_metrics *m)
{
    imgd_buf_printf(b,
                    "# HELP imgd_http_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE imgd_http_requests_total counter\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        char labels[300];
        route_labels(labels, sizeof(labels), m, i);
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = load(&m->stats[i].by_status[s]);
            if (!v)
                continue;
            if (s < N_TRACKED)
                imgd_buf_printf(b, "imgd_http_requests_total{%s,status=\"%u\"} %llu\n", labels,
                                tracked_status[s], (unsigned long long)v);
            else
                imgd_buf_printf(b, "imgd_http_requests_total{%s,status=\"other\"} %llu\n", labels,
                                (unsigned long long)v);
        }
    }
}

static void render_latency(imgd_buf *b, const imgd_metrics *m)
{
    imgd_buf_printf(b,
                    "# HELP imgd_http_request_duration_seconds Time from request start to the last "
                    "byte of the response.\n"
                    "# TYPE imgd_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        const route_stats *s = &m->stats[i];
        uint64_t count = load(&s->count);
        if (!count)
            continue;
        char labels[300];
        route_labels(labels, sizeof(labels), m, i);
        uint64_t cumulative = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cumulative += load(&s->buckets[k]);
            if (k < N_BUCKETS - 1)
                imgd_buf_printf(b, "imgd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                                labels, (double)bucket_usec[k] / 1e6,
                                (unsigned long long)cumulative);
            else
                imgd_buf_printf(b,
                                "imgd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                                labels, (unsigned long long)cumulative);
        }
        imgd_buf_printf(b, "imgd_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                        (double)load(&s->sum_usec) / 1e6);
        imgd_buf_printf(b, "imgd_http_request_duration_seconds_count{%s} %llu\n", labels,
                        (unsigned long long)count);
    }
}

char *imgd_metrics_prometheus(const imgd_metrics *m, const char *extra, size_t *out_len)
{
    imgd_buf b = {0};
    render_requests(&b, m);
    render_latency(&b, m);
    imgd_buf_printf(&b,
                    "# HELP imgd_http_requests_in_flight HTTP requests being served.\n"
                    "# TYPE imgd_http_requests_in_flight gauge\n"
                    "imgd_http_requests_in_flight %llu\n",
                    (unsigned long long)imgd_metrics_in_flight(m));
    if (extra)
        imgd_buf_printf(&b, "%s", extra);
    return imgd_buf_steal(&b, out_len);
}
