/* SPDX-License-Identifier: MIT */
/* The container commands of imgctl (run, ps, start, stop, rm, logs, exec, push-file, adduser) on
 * imgd's /api/v1/containers. Unlike the image commands they parse their own options, after the
 * command word as docker's do: run and exec stop at the image or container, since what follows
 * is the command to run in it. imgctl.c parses the options before the command word, resolves
 * the server and hands over here. Single-threaded, like imgctl. */
#pragma once

#include <stdbool.h>

#include "client.h"

/* What a container command runs with. Every pointer is borrowed. */
typedef struct imgd_cli_container_args {
    /* The server and the options of its requests. Where the server waits on a container for a
     * time the command line gives (stop -t, exec --timeout) the request's timeout is raised to
     * cover it; logs -f has none but the stall limit of imgd_client_stream(). */
    const imgd_client_options *client;
    bool json;   /* -o json before the command word */
    int argc;    /* argv[0] is the command word */
    char **argv; /* the command word and what follows it; getopt permutes it */
} imgd_cli_container_args;

/* Whether name is a container command. */
bool imgd_cli_container_command_is(const char *name);

/* Parse the command's options and arguments (usage errors on stderr), make its requests and
 * print the answers on stdout and the errors on stderr. curl_global_init() must have been called.
 * Returns the exit status: 0, 1 when imgd did not answer or answered with an error,
 * IMGD_CLI_EXIT_USAGE, or for exec the exit status of the command run in the container. */
int imgd_cli_container_main(const imgd_cli_container_args *a);
