/* SPDX-License-Identifier: MIT */
/* IMS face, service endpoints: version and the Kubernetes-style probes. IMS answers an object
 * {"version": ...} (not the bare string its spec shows) and {} for the probes. */
#include "ims.h"

#include <errno.h>

#include "face.h"
#include "version.h"

int ims_version_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    json_t *body = json_pack("{s:s}", "version", IMGD_VERSION);
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, 200, body, false);
}

int ims_healthz_live_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    json_t *body = json_object();
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_resp_json(resp, 200, body, false);
}

int ims_healthz_ready_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_health h;
    imgd_system_health(req->ctx->sys, &h);
    /* unlike the original (always 200), readiness follows the database: records cannot be
     * served without it */
    if (!h.db.ok)
        return imgd_face_error(resp, IMGD_FACE_IMS, 503, h.db.detail);
    return ims_healthz_live_get(req, resp, err);
}
