/* SPDX-License-Identifier: MIT */
/* Handlers of the native face (/api/v1/...). Each is an imgd_handler. */
#pragma once

#include "http.h"

/* An optional string member of a request body (absent or null: *out NULL); -EINVAL when present
 * with another type. *out is borrowed from in. */
int native_optional_string(const json_t *in, const char *key, const char **out, imgd_error **err);

int native_health_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_metrics_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_version_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_log_level_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_log_level_put(imgd_request *req, imgd_response *resp, imgd_error **err);

int native_images_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_inspect(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_import(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_tag(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_remove(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_prune(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_pull(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_inspect(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_start(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_stop(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_remove(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_logs(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_exec(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_user_add(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_file_put(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_containers_file_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int native_images_import_stream(imgd_request *req, imgd_body_stream *out, imgd_error **err);
