/* SPDX-License-Identifier: MIT */
/* Handlers of the IMS face (/apis/ims/..., /v2/..., /v3/...). Each is an imgd_handler. */
#pragma once

#include "http.h"

int ims_version_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_healthz_live_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_healthz_ready_get(imgd_request *req, imgd_response *resp, imgd_error **err);

/* public keys, recipes, images (ims_records.c) */
int ims_records_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_records_post(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_records_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_records_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_records_patch(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_records_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_patch_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_patch(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_deleted_delete(imgd_request *req, imgd_response *resp, imgd_error **err);

/* jobs (ims_jobs.c) */
int ims_jobs_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_jobs_post(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_jobs_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_jobs_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_jobs_patch(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_jobs_delete(imgd_request *req, imgd_response *resp, imgd_error **err);

/* remote build nodes (ims_nodes.c) */
int ims_nodes_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_post(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_status_all(imgd_request *req, imgd_response *resp, imgd_error **err);
int ims_nodes_status_one(imgd_request *req, imgd_response *resp, imgd_error **err);

/* /artifacts (artifacts.c; native face) */
int artifacts_put(imgd_request *req, imgd_response *resp, imgd_error **err);
int artifacts_put_stream(imgd_request *req, imgd_body_stream *out, imgd_error **err);
int artifacts_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int artifacts_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
