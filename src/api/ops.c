/* SPDX-License-Identifier: MIT */
#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "openapi-data.h"
#include "version.h"

int ops_metrics_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const imgd_api_ctx *ctx = req->ctx;
    imgd_health h;
    imgd_system_health(ctx->sys, &h);
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "# HELP imgd_build_info Build of the running imgd.\n"
             "# TYPE imgd_build_info gauge\n"
             "imgd_build_info{version=\"%s\"} 1\n"
             "# HELP imgd_uptime_seconds Seconds since imgd started.\n"
             "# TYPE imgd_uptime_seconds gauge\n"
             "imgd_uptime_seconds %.3f\n"
             "# HELP imgd_up Whether the database and store are usable (1) or not (0).\n"
             "# TYPE imgd_up gauge\n"
             "imgd_up %d\n"
             "# HELP imgd_component_up Component health (1 ok, 0 failing).\n"
             "# TYPE imgd_component_up gauge\n"
             "imgd_component_up{component=\"db\"} %d\n"
             "imgd_component_up{component=\"store\"} %d\n"
             "imgd_component_up{component=\"runtime\"} %d\n"
             "# HELP imgd_max_workers HTTP worker threads per listener.\n"
             "# TYPE imgd_max_workers gauge\n"
             "imgd_max_workers %lld\n",
             IMGD_VERSION, (double)imgd_system_uptime_usec(ctx->sys) / 1e6, h.healthy ? 1 : 0,
             h.db.ok, h.store.ok, h.runtime.ok, (long long)ctx->cfg->max_workers);
    size_t len = 0;
    char *text = imgd_metrics_prometheus(ctx->metrics, extra, &len);
    if (!text)
        return imgd_error_set(err, ENOMEM, "out of memory");
    resp->status = 200;
    resp->body = text;
    resp->body_len = len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}

int ops_openapi_json_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    if (imgd_resp_text(resp, 200, "application/json", imgd_openapi_json, imgd_openapi_json_len) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int ops_openapi_yaml_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    if (imgd_resp_text(resp, 200, "application/yaml", imgd_openapi_yaml, imgd_openapi_yaml_len) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}
