/* SPDX-License-Identifier: MIT */
/* Handlers of the ImageAPI face (/imageapi/v1/...). Each is an imgd_handler. */
#pragma once

#include "http.h"

int imageapi_attach_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_attach_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_attach_delete(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_mount_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_mount_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_mount_delete(imgd_request *req, imgd_response *resp, imgd_error **err);

int imageapi_container_list(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_container_create(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_container_patch(imgd_request *req, imgd_response *resp, imgd_error **err);
int imageapi_container_delete(imgd_request *req, imgd_response *resp, imgd_error **err);

/* For imgd_runtime_on_removed: releases the mount of a removed ImageAPI container. arg is the
 * imgd_mounts. */
struct imgd_container;
void imageapi_container_removed(void *arg, const struct imgd_container *c);
