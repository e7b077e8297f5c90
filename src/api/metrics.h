/* SPDX-License-Identifier: MIT */
/* Request counters and latency histograms per route and status, updated lock-free by the worker
 * threads and rendered as Prometheus text or summarised as JSON. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"

typedef struct imgd_metrics imgd_metrics;

/* Create counters for n_routes routes plus one "unmatched" slot. Borrowed table. */
imgd_metrics *imgd_metrics_new(const imgd_route *routes, size_t n_routes);

/* Free; accepts NULL. */
void imgd_metrics_free(imgd_metrics *m);

/* Record one finished request. route_index == n_routes (or SIZE_MAX) means unmatched.
 * Thread-safe and lock-free. */
void imgd_metrics_observe(imgd_metrics *m, size_t route_index, unsigned status,
                          uint64_t duration_usec);

/* Requests started / finished; the difference is in flight. Thread-safe. */
void imgd_metrics_request_started(imgd_metrics *m);
uint64_t imgd_metrics_in_flight(const imgd_metrics *m);
uint64_t imgd_metrics_total(const imgd_metrics *m);

/* {"requests_total", "requests_in_flight", "requests_by_status": {"2xx": n, ...}} merged into obj.
 */
int imgd_metrics_summary(const imgd_metrics *m, json_t *obj);

/* Prometheus text exposition (format 0.0.4). Returns a malloc'd string or NULL. extra is appended
 * verbatim (gauges owned by others), may be NULL. */
char *imgd_metrics_prometheus(const imgd_metrics *m, const char *extra, size_t *out_len);
