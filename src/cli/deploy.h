/* SPDX-License-Identifier: MIT */
/* The boot-image commands of imgctl on imgd's ImageAPI face (/imageapi/v1/attach, /mount,
 * /container): attach, attachments, detach, mount, mounts, umount, deploy, containers, undeploy.
 * Like the container commands they parse their own options, after the command word; imgctl.c
 * parses the options before it, resolves the server and hands over here. Single-threaded, like
 * imgctl. */
#pragma once

#include <stdbool.h>

#include "containers.h"

/* Whether name is a boot-image command. */
bool imgd_cli_deploy_command_is(const char *name);

/* Parse the command's options and arguments (usage errors on stderr), make its requests and
 * print the answers on stdout and the errors on stderr; a->argv[0] must be a boot-image command.
 * curl_global_init() must have been called. Returns the exit status: 0, 1 when imgd did not
 * answer or answered with an error (deploy: also when the container's start failed), or
 * IMGD_CLI_EXIT_USAGE. */
int imgd_cli_deploy_main(const imgd_cli_container_args *a);
