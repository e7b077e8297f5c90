/* SPDX-License-Identifier: MIT */
/* The IMS commands of imgctl, "imgctl ims RESOURCE VERB ...", on imgd's IMS face (/v3/...) and
 * its artifact store (/artifacts/BUCKET/KEY): public keys, recipes, images (with their boot
 * artifacts and manifest) and jobs. Like the container commands they parse their own options,
 * after the verb; imgctl.c parses the options before "ims", resolves the server and hands over
 * here. Single-threaded, like imgctl. */
#pragma once

#include <stdbool.h>

#include "containers.h"

/* Whether name is the word of the IMS commands ("ims"). */
bool imgd_cli_ims_command_is(const char *name);

/* Parse the resource, verb, options and arguments after a->argv[0] ("ims"; usage errors on
 * stderr), make the requests and print the answers on stdout and the errors on stderr. A create
 * that fails after its record was made removes the record (and what was uploaded) before it
 * returns, also when interrupted by SIGINT, SIGTERM or SIGHUP. curl_global_init() must have been
 * called. Returns the exit status: 0, 1 when imgd did not answer, answered with an error or a
 * local step (packing, reading a file) failed, or IMGD_CLI_EXIT_USAGE. */
int imgd_cli_ims_main(const imgd_cli_container_args *a);
