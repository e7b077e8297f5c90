/* SPDX-License-Identifier: MIT */
/* The ImageAPI's container operations on JSON, shared by both API generations (the v0.1 paths
 * translate ids around them). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/runtime/runtime.h"
#include "http.h"

/* Create from a v0.2 container body; *out is the container (201 even when its start failed:
 * state dead). */
int imageapi_ctr_create(imgd_request *req, json_t *in, json_t **out, imgd_error **err);

/* The container with id (> 0), else name. */
int imageapi_ctr_find(const imgd_api_ctx *ctx, int64_t id, const char *name, imgd_container *out,
                      imgd_error **err);

/* running / exited (paused: -EINVAL); *out the container after. */
int imageapi_ctr_set_state(const imgd_api_ctx *ctx, int64_t id, const char *name, const char *state,
                           json_t **out, imgd_error **err);

/* Remove (-EBUSY while running unless force); *out the container as it was. */
int imageapi_ctr_remove(const imgd_api_ctx *ctx, int64_t id, const char *name, bool force,
                        json_t **out, imgd_error **err);

/* Answer with a job that sets the state (state not NULL) or removes the container (force),
 * converting the container with conv when not NULL (the v0.1 model). A stop can take up to
 * stop_timeout: the job has a thread of its own. */
typedef json_t *(*imageapi_conv_fn)(const imgd_api_ctx *ctx, const json_t *container);
typedef struct imageapi_state_job {
    const imgd_api_ctx *ctx;
    int64_t id;
    char *name;
    char *state;
    bool force;
    imageapi_conv_fn conv;
} imageapi_state_job;
int imageapi_state_job_answer(imgd_response *resp, const imgd_api_ctx *ctx, int64_t id,
                              const char *name, const char *state, bool force,
                              imageapi_conv_fn conv, imgd_error **err);

/* The container (id > 0, else name) as JSON. */
int imageapi_ctr_get(imgd_request *req, int64_t id, const char *name, json_t **out,
                     imgd_error **err);

/* Every ImageAPI container, as an array. */
int imageapi_ctr_list(imgd_request *req, json_t **out, imgd_error **err);

/* The v0.1 paths (imageapi_legacy.c). */
int legacy_attach_rbd_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_rbd_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_rbd_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_rbd_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_loopback_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_loopback_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_loopback_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_attach_loopback_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_rbd_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_rbd_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_rbd_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_rbd_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_overlay_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_overlay_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_overlay_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_mount_overlay_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_container_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_container_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_container_get(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_container_state(imgd_request *req, imgd_response *resp, imgd_error **err);
int legacy_container_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
