/* SPDX-License-Identifier: MIT */
/* Handlers of the IMS face (/apis/ims/..., /v2/..., /v3/...). Each is an imgd_handler. */
#pragma once

#include "http.h"

int ims_version_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_healthz_live_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_healthz_ready_get(imgd_request *req, imgd_response *resp, imgd_error **err);
