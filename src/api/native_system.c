/* SPDX-License-Identifier: MIT */
/* Native face, system resource: health, metrics, version and the runtime log level. The shapes
 * of health and metrics are those of the 003 container API, extended. */
#include "native.h"

#include <errno.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "metrics.h"
#include "util/humanize.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "version.h"

static json_t *component_json(const imgd_component_state *c)
{
    return json_pack("{s:s, s:s}", "status", c->ok ? "ok" : "error", "message", c->detail);
}

int native_health_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_health h;
    imgd_system_health(req->ctx->sys, &h);
    /* The 003 service answered 503 with podman "disconnected" when it could not reach podman:
     * here, when the OCI runtime does not answer --version. */
    if (req->ctx->runtime)
        h.runtime.ok =
            imgd_runtime_check(req->ctx->runtime, h.runtime.detail, sizeof(h.runtime.detail));
    h.healthy = h.healthy && h.runtime.ok;
    char ts[40];
    imgd_time_format_python_iso(ts, sizeof(ts), imgd_now_realtime_usec());
    json_t *runtime = component_json(&h.runtime);
    if (runtime && h.runtime_path[0])
        json_object_set_new(runtime, "path", json_string(h.runtime_path));
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o*}}", "status",
                             h.healthy ? "healthy" : "unhealthy", "podman",
                             h.runtime.ok ? "connected" : "disconnected", "timestamp", ts,
                             "version", IMGD_VERSION, "components", "db", component_json(&h.db),
                             "store", component_json(&h.store), "runtime", runtime);
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, h.healthy ? 200 : 503, body, false);
}

int native_metrics_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const imgd_api_ctx *ctx = req->ctx;
    int64_t uptime = (int64_t)(imgd_system_uptime_usec(ctx->sys) / 1000000u);
    char human[48], ts[40];
    imgd_humanize_duration(human, sizeof(human), uptime);
    imgd_time_format_python_iso(ts, sizeof(ts), imgd_now_realtime_usec());
    json_t *body = json_pack("{s:I, s:s, s:i, s:I, s:s}", "uptime_seconds", (json_int_t)uptime,
                             "uptime_human", human, "active_threads", imgd_system_thread_count(),
                             "max_workers", (json_int_t)ctx->cfg->max_workers, "timestamp", ts);
    if (!body || imgd_metrics_summary(ctx->metrics, body) < 0) {
        json_decref(body);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    return imgd_resp_json(resp, 200, body, false);
}

int native_version_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "version", IMGD_VERSION, "api_version", "v1",
                             "schema_version", imgd_db_schema_version(req->ctx->db), "instance_id",
                             imgd_db_instance_id(req->ctx->db));
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, 200, body, false);
}

static json_t *log_level_json(void)
{
    return json_pack("{s:s}", "log_level", imgd_log_level_name(imgd_log_get_level()));
}

int native_log_level_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    json_t *body = log_level_json();
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, 200, body, false);
}

int native_log_level_put(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r < 0)
        return r;
    const char *name = imgd_json_get_string(in, "log_level");
    imgd_log_level level;
    if (!json_is_object(in) || !name) {
        json_decref(in);
        return imgd_error_set(err, EINVAL, "body must be an object with a string 'log_level'");
    }
    if (imgd_log_level_parse(&level, name) < 0) {
        r = imgd_error_set(err, EINVAL,
                           "invalid log_level '%.64s': expected one of DEBUG, INFO, WARNING, "
                           "ERROR, CRITICAL",
                           name);
        json_decref(in);
        return r;
    }
    json_decref(in);
    log_info("log level set to %s", imgd_log_level_name(level));
    imgd_log_set_level(level);
    json_t *body = log_level_json();
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, 200, body, false);
}
