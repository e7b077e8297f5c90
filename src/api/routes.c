/* SPDX-License-Identifier: MIT */
/* The one static route table of imgd. docs/openapi.yaml lists exactly these operations; a test
 * compares the two. */
#include "ims.h"
#include "native.h"
#include "ops.h"
#include "router.h"

static const imgd_route routes[] = {
    /* native face */
    {"GET", "/api/v1/health", native_health_get, IMGD_FACE_NATIVE, "daemon and component health"},
    {"GET", "/api/v1/metrics", native_metrics_get, IMGD_FACE_NATIVE, "uptime and request counters"},
    {"GET", "/api/v1/version", native_version_get, IMGD_FACE_NATIVE, "imgd version"},
    {"GET", "/api/v1/system/log-level", native_log_level_get, IMGD_FACE_NATIVE,
     "current log level"},
    {"PUT", "/api/v1/system/log-level", native_log_level_put, IMGD_FACE_NATIVE,
     "change the log level"},
    /* ims face */
    {"GET", "/apis/ims/version", ims_version_get, IMGD_FACE_IMS, "IMS version"},
    {"GET", "/apis/ims/healthz/live", ims_healthz_live_get, IMGD_FACE_IMS, "IMS liveness"},
    {"GET", "/apis/ims/healthz/ready", ims_healthz_ready_get, IMGD_FACE_IMS, "IMS readiness"},
    /* ops face */
    {"GET", "/metrics", ops_metrics_get, IMGD_FACE_OPS, "Prometheus metrics"},
    {"GET", "/openapi.json", ops_openapi_json_get, IMGD_FACE_OPS, "this API as OpenAPI JSON"},
    {"GET", "/openapi.yaml", ops_openapi_yaml_get, IMGD_FACE_OPS, "this API as OpenAPI YAML"},
};

const imgd_route *imgd_api_routes(size_t *out_n)
{
    *out_n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
