/* SPDX-License-Identifier: MIT */
/* The inventory face: GET /local-images (the crictl service's list) and GET /images (the crictl
 * + Harbor service's object), in those services' exact JSON. */
#pragma once

#include "http.h"

/* The face's state: the ignore list it watches and its cache of encoded answers, one per
 * snapshot of local images (so a burst of requests sharing a fresh snapshot is encoded once). */
typedef struct imgd_inventory_face imgd_inventory_face;

imgd_inventory_face *imgd_inventory_face_new(const char *ignore_file);
void imgd_inventory_face_free(imgd_inventory_face *f);

int inventory_local_images(imgd_request *req, imgd_response *resp, imgd_error **err);
int inventory_images(imgd_request *req, imgd_response *resp, imgd_error **err);
