/* SPDX-License-Identifier: MIT */
/* Decoding helpers shared by the native face's container files. */
#pragma once

#include <jansson.h>

#include "http.h"

/* A JSON body answered with 200; fails only for memory. Steals body. */
int ctr_respond(imgd_response *resp, json_t *body, imgd_error **err);

/* A command: a string split as Python's shlex.split does, or an array of strings. NULL when
 * absent or null. *out is NULL-terminated and owned. */
int ctr_argv(char ***out, const json_t *v, const char *key, imgd_error **err);

/* Environment: {"K": "v"} or ["K=v"]; *out owned, NULL when absent. */
int ctr_env(char ***out, const json_t *v, imgd_error **err);
