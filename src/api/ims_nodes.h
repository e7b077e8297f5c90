/* SPDX-License-Identifier: MIT */
/* IMS face: remote build nodes (/v3/remote-build-nodes), and the probe that says whether a node
 * can run jobs. */
#pragma once

#include "http.h"

/* The registered node a job of arch should run on: reachable over SSH, podman at
 * /usr/bin/podman, the same architecture, fewest running jobs. *out NULL when none is. */
int ims_nodes_choose(const imgd_api_ctx *ctx, const char *arch, char **out, imgd_error **err);
