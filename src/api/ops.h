/* SPDX-License-Identifier: MIT */
/* Handlers of the ops face: Prometheus metrics and the OpenAPI document. */
#pragma once

#include "http.h"

int ops_metrics_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ops_openapi_json_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ops_openapi_yaml_get(imgd_request *req, imgd_response *resp, imgd_error **err);
