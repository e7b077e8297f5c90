/* SPDX-License-Identifier: MIT */
/* imgctl get: the lists of imgd's inventory face (GET /local-images, GET /images), from one
 * server or from several at once (--nodes), as crictl-style tables, CSV or JSON. imgctl.c parses
 * the command line and hands over here. Single-threaded, like imgctl. */
#pragma once

#include <stdbool.h>

#include "client.h"

typedef enum imgd_cli_get_format {
    IMGD_CLI_GET_TABLE,
    IMGD_CLI_GET_JSON,
    IMGD_CLI_GET_CSV,
} imgd_cli_get_format;

/* What get runs with. Every pointer is borrowed. */
typedef struct imgd_cli_get_args {
    /* The server and the options of its requests; with nodes, the server is unused and the rest
     * (token, TLS files, timeout) apply to every node. */
    const imgd_client_options *client;
    imgd_cli_get_format format;
    bool no_trunc;     /* --no-trunc: whole image IDs and digests */
    const char *which; /* "local", "harbor", "all", or NULL for local */
    const char *nodes; /* --nodes as given ("n1,n2,..."), or NULL */
} imgd_cli_get_args;

/* Run imgctl get: print the lists on stdout, and on stderr the sources a server could not list
 * (which do not change the exit status) and the nodes that did not answer (which make it 1).
 * Usage errors (an unknown list, a bad --nodes) are reported here too. curl_global_init() must
 * have been called. Returns the exit status: 0, 1, or IMGD_CLI_EXIT_USAGE. */
int imgd_cli_get(const imgd_cli_get_args *a);
