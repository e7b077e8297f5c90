/* SPDX-License-Identifier: MIT */
/* The image commands of imgctl (images, pull, import, tag, rmi, inspect, prune) and the output
 * helpers of imgctl.c they share. imgctl.c parses the command line, checks each command's
 * options and number of arguments against the table here, opens the client and runs the
 * command. Single-threaded, like imgctl. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "util/error.h"

#define IMGD_CLI_EXIT_USAGE 2

/* The options only image commands and get take; a command lists those it accepts. */
enum {
    IMGD_CLI_OPT_QUIET = 1u << 0,    /* -q, --quiet */
    IMGD_CLI_OPT_NO_TRUNC = 1u << 1, /* --no-trunc */
    IMGD_CLI_OPT_DIGESTS = 1u << 2,  /* --digests */
    IMGD_CLI_OPT_FORCE = 1u << 3,    /* -f, --force */
    IMGD_CLI_OPT_PLATFORM = 1u << 4, /* --platform P */
    IMGD_CLI_OPT_TAG = 1u << 5,      /* --tag NAME */
    IMGD_CLI_OPT_CREDS = 1u << 6,    /* --creds, --username, --password */
    IMGD_CLI_OPT_NODES = 1u << 7,    /* --nodes LIST (get) */
};

/* What an image command runs with. Every pointer is borrowed. */
typedef struct imgd_cli_image_args {
    imgd_client *client;
    bool json;     /* -o json */
    unsigned opts; /* IMGD_CLI_OPT_* given */
    const char *platform, *tag;
    const char *creds, *username, *password; /* as given; the password parts are secrets */
    char *const *args;                       /* the arguments after the command, never "" */
    int n_args;
} imgd_cli_image_args;

typedef struct imgd_cli_image_command {
    const char *name;
    const char *synopsis;   /* the arguments, for usage errors ("SOURCE TARGET") */
    int min_args, max_args; /* max_args < 0: no limit */
    unsigned opts;          /* IMGD_CLI_OPT_* accepted */
    int (*run)(const imgd_cli_image_args *a); /* returns the exit status */
} imgd_cli_image_command;

/* The image command called name, or NULL. Borrowed from a static table. */
const imgd_cli_image_command *imgd_cli_image_command_find(const char *name);

/* ---- defined in imgctl.c ---- */

/* "imgctl: <message> (see 'imgctl --help')" on stderr; returns IMGD_CLI_EXIT_USAGE. */
int imgd_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The usage error for an option getopt_long did not take (opt '?' or ':'; arg the argument
 * that held it) of command name, whose options are longs; where names what imgctl's own
 * options go before ("the command", "'ims'"). Returns IMGD_CLI_EXIT_USAGE. */
struct option;
int imgd_cli_bad_option(const char *name, const struct option *longs, int opt, const char *arg,
                        const char *where);

/* "imgctl: <message of err>" (or "out of memory" for NULL) on stderr; returns EXIT_FAILURE. */
int imgd_cli_fail(const imgd_error *err);

/* Print text from the server on stdout with control characters replaced by '?', padded with
 * spaces to width characters (UTF-8 aware; 0 for no padding). */
void imgd_cli_put_clean(const char *s, size_t width);

/* Characters (not bytes) of UTF-8 text. */
size_t imgd_cli_text_width(const char *s);

/* Print v as two-space indented JSON with sorted keys on stdout; returns the exit status. */
int imgd_cli_print_json(const json_t *v);
