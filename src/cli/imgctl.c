/* SPDX-License-Identifier: MIT */
/* imgctl: the command-line client of imgd. It resolves which server to talk to (flag,
 * environment, user config, system config, default), makes one or two requests through
 * client.h and prints the answer as a table or as JSON. The image commands live in images.c,
 * get (the inventory lists, also from several nodes) in get.c, the container commands (which
 * parse the options after their command word themselves) in containers.c, the boot-image
 * commands on the ImageAPI face (which do so too) in deploy.c, the IMS commands ("ims RESOURCE
 * VERB", which do so too) in ims.c.
 *
 * Exit status: 0 success, 1 no answer or an error answer from imgd, 2 usage error. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "containers.h"
#include "deploy.h"
#include "get.h"
#include "images.h"
#include "ims.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strutil.h"
#include "version.h"

#define DEFAULT_SERVER  "http://127.0.0.1:5375"
#define SYSTEM_CONFIG   "/etc/imgctl/config"
#define CONFIG_MAX      (64u * 1024u) /* largest config file read */
#define DEFAULT_TIMEOUT 30
#define TIMEOUT_MAX     86400
#define EXIT_USAGE      IMGD_CLI_EXIT_USAGE

typedef enum cli_format {
    CLI_FORMAT_TABLE,
    CLI_FORMAT_JSON,
    CLI_FORMAT_CSV, /* get only */
} cli_format;

/* The parsed command line; every string is borrowed from argv. */
typedef struct cli_args {
    const char *server, *token, *cacert, *cert, *key;
    bool insecure;
    long timeout_sec;
    cli_format format;
    char **words; /* the command and its arguments */
    int n_words;
    /* options of the image commands */
    unsigned image_opts; /* IMGD_CLI_OPT_* given */
    const char *platform, *tag, *creds, *username, *password;
    const char *nodes; /* get --nodes */
} cli_args;

/* The keys imgctl reads from one config file. */
typedef struct cli_file {
    char *server;
    char *token; /* secret: wiped before free */
} cli_file;

/* The effective server and token, and where each came from. */
typedef struct cli_settings {
    char *server;
    const char *server_from; /* static text or user_path */
    char *token;             /* NULL when none; secret */
    const char *token_from;
    char *user_path; /* the user config file, NULL when there is no home directory */
} cli_settings;

/* ---- small helpers ---- */

int imgd_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imgctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see 'imgctl --help')\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int imgd_cli_bad_option(const char *name, const struct option *longs, int opt, const char *arg,
                        const char *where)
{
    size_t len = strcspn(arg, "=");
    if (opt == ':')
        return imgd_cli_usage_error("%s: missing argument for option '%.*s'", name, (int)len, arg);
    /* glibc sets optopt to a long option's value too, when it was given a value it does not
     * take */
    if (optopt && !imgd_str_has_prefix(arg, "--"))
        return imgd_cli_usage_error("%s: unknown option '-%c' (imgctl's own options go before "
                                    "%s)",
                                    name, optopt, where);
    for (const struct option *l = longs; arg[len] && len > 2 && l->name; l++) {
        if (l->has_arg == no_argument && strncmp(l->name, arg + 2, len - 2) == 0)
            return imgd_cli_usage_error("%s: option '--%s' takes no value", name, l->name);
    }
    return imgd_cli_usage_error("%s: unknown option '%.*s' (imgctl's own options go before %s)",
                                name, (int)len, arg, where);
}

int imgd_cli_fail(const imgd_error *err)
{
    fprintf(stderr, "imgctl: %s\n", err ? err->message : "out of memory");
    return EXIT_FAILURE;
}

/* A bearer token goes into an HTTP header and a config line: visible ASCII only, so it can
 * neither inject a header nor a config key. */
static bool cli_token_valid(const char *token)
{
    if (*token == '\0')
        return false;
    for (const char *p = token; *p; p++) {
        if (*p < 0x21 || *p > 0x7e)
            return false;
    }
    return true;
}

static char *cli_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Print text from the server with control characters replaced, padded with spaces to width
 * characters (UTF-8 aware, so that accented names do not skew the columns). */
void imgd_cli_put_clean(const char *s, size_t width)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
        chars += (*p & 0xc0) != 0x80;
    }
    for (; chars < width; chars++)
        putchar(' ');
}

size_t imgd_cli_text_width(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    return chars;
}

int imgd_cli_print_json(const json_t *v)
{
    size_t len = 0;
    _cleanup_free_ char *text = imgd_json_encode(v, true, &len);
    if (!text)
        return imgd_cli_fail(NULL);
    fwrite(text, 1, len, stdout);
    return EXIT_SUCCESS;
}

/* ---- config files ---- */

static void cli_file_dispose(cli_file *f)
{
    free(f->server);
    imgd_secret_free(f->token);
    *f = (cli_file){0};
}

/* The key of a config line and, through *value, its value; NULL for blank lines, comments and
 * lines without '='. Modifies line. */
static char *cli_config_line(char *line, char **value)
{
    char *key = cli_trim(line);
    char *eq = strchr(key, '=');
    if (*key == '#' || !eq)
        return NULL;
    *eq = '\0';
    *value = cli_trim(eq + 1);
    return cli_trim(key);
}

/* Read server= and token= from path; a missing file is an empty one. */
static int cli_config_load(cli_file *out, const char *path, imgd_error **err)
{
    _cleanup_secret_ char *text = NULL;
    int r = imgd_read_file(&text, NULL, path, CONFIG_MAX, err);
    if (r == -ENOENT || r == -ENOTDIR) {
        if (err) {
            imgd_error_free(*err);
            *err = NULL;
        }
        return 0;
    }
    if (r < 0)
        return imgd_error_prefix(err, "config");
    cli_file f = {0};
    char *save = NULL, *value = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *key = cli_config_line(line, &value);
        char **slot = !key                         ? NULL
                      : strcmp(key, "server") == 0 ? &f.server
                      : strcmp(key, "token") == 0  ? &f.token
                                                   : NULL;
        if (!slot)
            continue; /* unknown keys belong to newer versions or other tools */
        imgd_secret_free(*slot);
        *slot = NULL;
        if (*value == '\0')
            continue; /* "token=" says there is none */
        if (!(*slot = strdup(value))) {
            cli_file_dispose(&f);
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    *out = f;
    return 0;
}

/* $XDG_CONFIG_HOME/imgctl/config, else ~/.config/imgctl/config. Returns 0 with an owned path,
 * or -ENOENT when there is no home directory. */
static int cli_user_config_path(char **out, imgd_error **err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *path = NULL;
    int n;
    /* the XDG base directory spec says relative values are to be ignored */
    if (xdg && xdg[0] == '/') {
        n = asprintf(&path, "%s/imgctl/config", xdg);
    } else {
        if (!home || home[0] != '/') {
            const struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || home[0] != '/')
            return imgd_error_set(err, ENOENT, "no home directory for the user config file");
        n = asprintf(&path, "%s/.config/imgctl/config", home);
    }
    if (n < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *out = path;
    return 0;
}

/* The config text with server= and token= set to the given values (NULL: keep), every other
 * line kept as it was. Returns an owned string or NULL on allocation failure. */
static char *cli_config_render(const char *old, const char *server, const char *token)
{
    char *out = NULL;
    size_t size = 0;
    _cleanup_fclose_ FILE *f = open_memstream(&out, &size);
    if (!f)
        return NULL;
    bool server_done = !server, token_done = !token;
    for (const char *p = old; p && *p;) {
        size_t n = strcspn(p, "\n");
        _cleanup_secret_ char *line = strndup(p, n);
        char *value = NULL, *key = line ? cli_config_line(line, &value) : NULL;
        bool is_server = key && server && strcmp(key, "server") == 0;
        bool is_token = key && token && strcmp(key, "token") == 0;
        if (is_server && !server_done)
            fprintf(f, "server=%s\n", server);
        else if (is_token && !token_done)
            fprintf(f, "token=%s\n", token);
        else if (!is_server && !is_token)
            fprintf(f, "%.*s\n", (int)n, p);
        server_done |= is_server;
        token_done |= is_token;
        p += n + (p[n] == '\n');
    }
    if (!server_done)
        fprintf(f, "server=%s\n", server);
    if (!token_done)
        fprintf(f, "token=%s\n", token);
    bool failed = fflush(f) != 0 || ferror(f);
    fclose(TAKE_PTR(f));
    if (failed) {
        imgd_secret_free(out);
        return NULL;
    }
    return out;
}

/* ---- settings ---- */

static void cli_settings_dispose(cli_settings *s)
{
    free(s->server);
    imgd_secret_free(s->token);
    free(s->user_path);
    *s = (cli_settings){0};
}

static const char *cli_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Each setting from the first of: flag, environment, user config, system config, default. */
static int cli_settings_resolve(cli_settings *out, const cli_args *a, imgd_error **err)
{
    _cleanup_(cli_settings_dispose) cli_settings s = {0};
    _cleanup_(cli_file_dispose) cli_file user = {0};
    _cleanup_(cli_file_dispose) cli_file sys = {0};
    if (cli_user_config_path(&s.user_path, NULL) == 0 &&
        cli_config_load(&user, s.user_path, err) < 0)
        return -EINVAL;
    if (cli_config_load(&sys, SYSTEM_CONFIG, err) < 0)
        return -EINVAL;
    const char *env_server = cli_env("IMGCTL_SERVER"), *env_token = cli_env("IMGCTL_TOKEN");
    const char *server = a->server     ? a->server
                         : env_server  ? env_server
                         : user.server ? user.server
                         : sys.server  ? sys.server
                                       : DEFAULT_SERVER;
    s.server_from = a->server     ? "--server"
                    : env_server  ? "IMGCTL_SERVER"
                    : user.server ? s.user_path
                    : sys.server  ? SYSTEM_CONFIG
                                  : "default";
    const char *token = a->token     ? a->token
                        : env_token  ? env_token
                        : user.token ? user.token
                                     : sys.token;
    s.token_from = a->token     ? "--token"
                   : env_token  ? "IMGCTL_TOKEN"
                   : user.token ? s.user_path
                                : SYSTEM_CONFIG;
    if (token && !cli_token_valid(token))
        return imgd_error_set(err, EINVAL, "the token from %s holds characters a token cannot have",
                              s.token_from);
    if (!(s.server = strdup(server)) || (token && !(s.token = strdup(token))))
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (!token)
        s.token_from = NULL;
    *out = s;
    memset(&s, 0, sizeof(s)); /* ownership moved to *out */
    return 0;
}

/* The options of a client for the effective server; the strings are borrowed from a and s. */
static imgd_client_options cli_client_options(const cli_args *a, const cli_settings *s)
{
    return (imgd_client_options){
        .server = s->server,
        .token = s->token,
        .cacert = a->cacert,
        .cert = a->cert,
        .key = a->key,
        .insecure = a->insecure,
        .timeout_sec = a->timeout_sec,
    };
}

static int cli_client_open(imgd_client **out, const cli_args *a, const cli_settings *s,
                           imgd_error **err)
{
    imgd_client_options opts = cli_client_options(a, s);
    return imgd_client_new(out, &opts, err);
}

/* ---- commands ---- */

static const char *cli_str(const json_t *obj, const char *key)
{
    const char *s = imgd_json_get_string(obj, key);
    return s ? s : "-";
}

static void cli_print_component(const char *name, const json_t *comp, size_t name_w,
                                size_t status_w)
{
    imgd_cli_put_clean(name, name_w + 2);
    imgd_cli_put_clean(cli_str(comp, "status"), status_w + 2);
    imgd_cli_put_clean(cli_str(comp, "message"), 0);
    putchar('\n');
}

/* STATUS and RUNTIME, then one row per component: db, store and runtime first, then any
 * others a newer server reports. */
static void cli_print_health(const json_t *h)
{
    static const char *const known[] = {"db", "store", "runtime"};
    const json_t *comps = json_object_get(h, "components");
    printf("STATUS   ");
    imgd_cli_put_clean(cli_str(h, "status"), 0);
    printf("\nRUNTIME  ");
    imgd_cli_put_clean(cli_str(h, "podman"), 0);
    putchar('\n');
    if (!json_is_object(comps) || json_object_size(comps) == 0)
        return;
    size_t name_w = strlen("COMPONENT"), status_w = strlen("STATUS");
    const char *name;
    json_t *comp;
    json_object_foreach ((json_t *)comps, name, comp) {
        name_w = imgd_cli_text_width(name) > name_w ? imgd_cli_text_width(name) : name_w;
        size_t w = imgd_cli_text_width(cli_str(comp, "status"));
        status_w = w > status_w ? w : status_w;
    }
    printf("\n%-*s  %-*s  MESSAGE\n", (int)name_w, "COMPONENT", (int)status_w, "STATUS");
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(known); i++) {
        if ((comp = json_object_get(comps, known[i])))
            cli_print_component(known[i], comp, name_w, status_w);
    }
    json_object_foreach ((json_t *)comps, name, comp) {
        if (strcmp(name, "db") != 0 && strcmp(name, "store") != 0 && strcmp(name, "runtime") != 0)
            cli_print_component(name, comp, name_w, status_w);
    }
}

static int cmd_health(const cli_args *a, const cli_settings *s)
{
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *h = NULL;
    long status = 0;
    if (cli_client_open(&c, a, s, &err) < 0 ||
        imgd_client_call(&h, &status, c, "GET", "/api/v1/health", NULL, 503, &err) < 0)
        return imgd_cli_fail(err);
    if (a->format == CLI_FORMAT_JSON && imgd_cli_print_json(h) != EXIT_SUCCESS)
        return EXIT_FAILURE;
    if (a->format == CLI_FORMAT_TABLE)
        cli_print_health(h);
    /* 503 is how an unhealthy daemon answers; the table says why, the status says so */
    return status == 503 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The client version comes first and unconditionally, so that it is known even when the server
 * cannot be reached. */
static int cmd_version(const cli_args *a, const cli_settings *s)
{
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *v = NULL;
    json_auto_t *out =
        json_pack("{s:{s:s, s:s}}", "client", "name", "imgctl", "version", IMGD_VERSION);
    long status = 0;
    if (!out)
        return imgd_cli_fail(NULL);
    if (a->format == CLI_FORMAT_TABLE) {
        printf("Client: imgctl %s\n", IMGD_VERSION);
        fflush(stdout);
    }
    int r = cli_client_open(&c, a, s, &err);
    if (r == 0)
        r = imgd_client_call(&v, &status, c, "GET", "/api/v1/version", NULL, 0, &err);
    if (a->format == CLI_FORMAT_JSON) {
        if (r == 0 && json_object_set(out, "server", v) < 0)
            return imgd_cli_fail(NULL);
        imgd_cli_print_json(out);
    }
    if (r < 0)
        return imgd_cli_fail(err);
    if (a->format == CLI_FORMAT_TABLE) {
        printf("Server: imgd ");
        imgd_cli_put_clean(cli_str(v, "version"), 0);
        printf(" (api ");
        imgd_cli_put_clean(cli_str(v, "api_version"), 0);
        printf(", instance ");
        imgd_cli_put_clean(cli_str(v, "instance_id"), 0);
        printf(")\n");
    }
    return EXIT_SUCCESS;
}

static int cmd_log_level(const cli_args *a, const cli_settings *s)
{
    if (a->n_words > 2)
        return imgd_cli_usage_error("log-level takes at most one argument, the level");
    const char *level = a->n_words == 2 ? a->words[1] : NULL;
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *body = level ? json_pack("{s:s}", "log_level", level) : NULL;
    json_auto_t *v = NULL;
    long status = 0;
    if (level && !body)
        return imgd_cli_usage_error("the level must be UTF-8 text");
    if (cli_client_open(&c, a, s, &err) < 0 ||
        imgd_client_call(&v, &status, c, level ? "PUT" : "GET", "/api/v1/system/log-level", body, 0,
                         &err) < 0)
        return imgd_cli_fail(err);
    if (a->format == CLI_FORMAT_JSON)
        return imgd_cli_print_json(v);
    imgd_cli_put_clean(cli_str(v, "log_level"), 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

static int cmd_config_show(const cli_args *a, const cli_settings *s)
{
    if (a->format == CLI_FORMAT_JSON) {
        json_auto_t *v =
            json_pack("{s:s, s:s, s:b, s:s?}", "server", s->server, "server_from", s->server_from,
                      "token_set", s->token != NULL, "user_config", s->user_path);
        return v ? imgd_cli_print_json(v) : imgd_cli_fail(NULL);
    }
    printf("server: %s (from %s)\n", s->server, s->server_from);
    if (s->token)
        printf("token: set (from %s)\n", s->token_from);
    else
        printf("token: not set\n");
    printf("user config: %s\n", s->user_path ? s->user_path : "(no home directory)");
    return EXIT_SUCCESS;
}

/* Set server= and/or token= in the user config file, keeping its other lines. The file may hold
 * a token, so it is 0600 in a 0700 directory from its first moment. */
static int cmd_config_write(const cli_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *dir = NULL;
    _cleanup_secret_ char *old = NULL;
    _cleanup_secret_ char *text = NULL;
    _cleanup_(imgd_client_freep) imgd_client *probe = NULL;
    if (a->token && !cli_token_valid(a->token))
        return imgd_cli_usage_error("--token holds characters a token cannot have");
    /* the server URL is checked as a request would check it, so a bad one is never saved */
    imgd_client_options opts = {.server = a->server, .timeout_sec = DEFAULT_TIMEOUT};
    if (a->server && imgd_client_new(&probe, &opts, &err) < 0)
        return imgd_cli_fail(err);
    if (cli_user_config_path(&path, &err) < 0 || !path)
        return imgd_cli_fail(err);
    const char *slash = strrchr(path, '/');
    if (!slash || !(dir = strndup(path, (size_t)(slash - path))))
        return imgd_cli_fail(NULL);
    if (imgd_mkdir_p(dir, 0700, &err) < 0)
        return imgd_cli_fail(err);
    int r = imgd_read_file(&old, NULL, path, CONFIG_MAX, &err);
    if (r < 0 && r != -ENOENT)
        return imgd_cli_fail(err);
    if (!(text = cli_config_render(old, a->server, a->token)))
        return imgd_cli_fail(NULL);
    if (imgd_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        return imgd_cli_fail(err);
    if (a->format == CLI_FORMAT_JSON) {
        json_auto_t *v = json_pack("{s:s}", "written", path);
        return v ? imgd_cli_print_json(v) : imgd_cli_fail(NULL);
    }
    printf("wrote %s\n", path);
    return EXIT_SUCCESS;
}

/* ---- command line ---- */

static void cli_usage(FILE *f)
{
    fputs("Usage: imgctl [OPTION]... COMMAND [ARG]...\n"
          "The command-line client of imgd, the node image service.\n"
          "\n"
          "Commands:\n"
          "  health              daemon and component health (exit 1 when unhealthy)\n"
          "  version             client and server versions\n"
          "  log-level [LEVEL]   show the daemon's log level, or set it to LEVEL\n"
          "                      (DEBUG, INFO, WARNING, ERROR, CRITICAL)\n"
          "  config              show the effective server and where it came from\n"
          "  config --server URL [--token TOKEN]\n"
          "                      save server and token in the user config file\n"
          "  images [-q] [--no-trunc] [--digests]\n"
          "                      list images, a row per name (-q: only the image IDs)\n"
          "  pull [--platform P] [--creds USER[:PASS]] [-q] REFERENCE\n"
          "                      pull an image from a registry and print its ID; progress is\n"
          "                      drawn on a terminal, else a line per layer and state\n"
          "  import [--tag NAME] [--platform P] PATH\n"
          "                      import the OCI layout, oci-archive or docker-archive at PATH\n"
          "                      on the server's machine (a relative PATH is made absolute)\n"
          "  tag SOURCE TARGET   give the image SOURCE the name TARGET\n"
          "  rmi [-f] REF...     remove names, and each image with its last name\n"
          "  inspect REF         show an image, its layers and config as JSON\n"
          "  prune               remove images without names, and unused layers\n"
          "  get [local|harbor|all] [--no-trunc] [--nodes NODE,...]\n"
          "                      the inventory lists: local (the default) the node's images as\n"
          "                      crictl lists them, harbor the registry's, all both; sources\n"
          "                      that could not be listed are named on stderr as\n"
          "                      'error: SOURCE: MESSAGE' and do not change the exit status\n"
          "  help                show this help\n"
          "\n"
          "Container commands (their options follow the command word; imgctl's own options\n"
          "go before it):\n"
          "  run [--name N] [-e K=V]... [-p HOST:CTR]... [-v /HOST:/CTR[:ro]]... [-u USER]\n"
          "      [-w DIR] [--network none|host] [--memory SIZE] [--cpus N] [--pids-limit N]\n"
          "      [--entrypoint CMD] [--label K=V]... [--pull] [--create-only]\n"
          "      IMAGE [COMMAND [ARG]...]\n"
          "                      create and start a container and print its full ID; without\n"
          "                      --name it is named imgd-XXXXXXXX (8 random hex digits); -e K\n"
          "                      passes K's value from here; ports are published on the address\n"
          "                      imgd is configured with; --pull pulls a missing image;\n"
          "                      --create-only does not start it\n"
          "  ps [-a] [-q] [--no-trunc] [--json]\n"
          "                      list running containers (-a: all) as docker ps does\n"
          "  start CONTAINER...  start containers, printing each name\n"
          "  stop [-t SECONDS] CONTAINER...\n"
          "                      stop containers: the stop signal, SIGKILL after SECONDS\n"
          "                      (default: imgd's stop_timeout)\n"
          "  rm [-f] CONTAINER...\n"
          "                      remove stopped containers (-f: also running ones)\n"
          "  logs [-f] [--tail N|all] [-t] [--since T] CONTAINER\n"
          "                      print the log (all of it unless --tail); -f: follow it while\n"
          "                      the container runs; -t: with times; T: RFC 3339 UTC, seconds\n"
          "                      since the epoch, or a duration back from now (10m, 1h30m)\n"
          "  exec [-u USER] [-w DIR] [-e K=V]... [--timeout SEC] CONTAINER COMMAND [ARG]...\n"
          "                      run a command in a running container, print its output\n"
          "                      (stdout and stderr together) and exit with its exit status\n"
          "  push-file [--mode MODE] [--owner USER[:GROUP]] LOCAL_FILE|- CONTAINER:/PATH\n"
          "                      write a local file (-: standard input, at most 16 MiB) into\n"
          "                      a container; MODE defaults to the local file's, else 0644\n"
          "  adduser [--password-stdin] [--shell S] [--uid N] [--home DIR] [--groups G1,G2]\n"
          "      CONTAINER USERNAME\n"
          "                      add a user to a container's /etc/passwd; the password is read\n"
          "                      from standard input only (asked for without echo on a terminal)\n"
          "\n"
          "Boot-image commands, on imgd's ImageAPI (their options follow the command word; FILE\n"
          "is on the server's machine, a relative FILE is made absolute; -o json prints imgd's\n"
          "answers):\n"
          "  attach [--ro] [--partscan] FILE\n"
          "                      attach FILE to a loop device (--partscan: also its partitions)\n"
          "                      and print the attachment's ID and device\n"
          "  attachments [--json]\n"
          "                      list the attachments: ID, KIND, DEVICE, PATH, REFS\n"
          "  detach [-f] ID      release an attachment (-f: even while a mount holds it, which\n"
          "                      keeps it until released)\n"
          "  mount [-o OPT[,OPT]...] ATTACH_ID FSTYPE\n"
          "  mount --overlay LOWER_ID[,LOWER_ID]...\n"
          "                      mount an attachment, or an overlay (writes to a tmpfs) on\n"
          "                      mounts (the first the top one), and print the mount's ID and\n"
          "                      mountpoint\n"
          "  mounts [--json]     list the mounts: ID, KIND, MOUNTPOINT, REFS, SOURCE\n"
          "  umount [-f] ID      release a mount (-f: as detach's)\n"
          "  deploy --name N (--command CMD | --systemd [--command INIT]) [--fs TYPE]\n"
          "      [--namespaces NS[,NS]...] [--created] FILE\n"
          "                      run a system container on FILE in one request: an overlay on\n"
          "                      a read-only mount (TYPE: erofs for *.erofs, else squashfs) of\n"
          "                      a read-only loop device; CMD is split as a shell would (with\n"
          "                      --systemd it defaults to /sbin/init, stopped by SIGRTMIN+3);\n"
          "                      NS: imgd's default mnt,pid,ipc,uts; --created: do not start\n"
          "                      it. Prints its ID, state and log file; exit 1 when it did\n"
          "                      not start (it stays until undeployed)\n"
          "  containers [--json] list the system containers: ID, NAME, STATE, EXIT, MOUNT,\n"
          "                      LOGFILE\n"
          "  undeploy [--timeout SEC] NAME\n"
          "                      stop the container (imgd's stop_timeout, then SIGKILL; wait\n"
          "                      at most SEC for that, default --timeout), remove it and the\n"
          "                      chain it was deployed on, and print NAME\n"
          "\n"
          "IMS commands, on imgd's IMS face (/v3) and its artifact store (their options follow\n"
          "the verb; -o json prints imgd's answers, a create the record it made):\n"
          "  ims public-keys create NAME (--key-file FILE | --key 'TYPE KEY [COMMENT]')\n"
          "                      register an SSH public key for IMS jobs; prints its ID\n"
          "  ims public-keys list\n"
          "                      list the public keys: ID, NAME, CREATED, KEY\n"
          "  ims public-keys delete ID\n"
          "                      delete a public key\n"
          "  ims recipes create NAME --from DIR|FILE.tgz [--type kiwi-ng|packer]\n"
          "      [--distro sles15|sles12|centos7] [--arch x86_64|aarch64] [--bucket B]\n"
          "                      make a recipe record (type kiwi-ng and distro sles15 unless\n"
          "                      given), upload the gzipped tar (a DIR is packed with tar) to\n"
          "                      B/recipes/ID/recipe.tar.gz (B: ims) and link the record to\n"
          "                      it; prints its ID. When a step fails the record is removed\n"
          "  ims recipes list    list the recipes: ID, NAME, TYPE, DISTRO, ARCH, CREATED, LINK\n"
          "  ims images create NAME --rootfs DIR|FILE.squashfs [--kernel FILE] [--initrd FILE]\n"
          "      [--boot-parameters FILE] [--arch x86_64|aarch64] [--bucket B]\n"
          "                      make an image record, upload its files to B/ID/rootfs, kernel,\n"
          "                      initrd and boot_parameters (B: boot-images), then a manifest\n"
          "                      of them with their md5s to B/ID/manifest.json, and link the\n"
          "                      record to it; prints its ID. A DIR is packed with mksquashfs\n"
          "                      (zstd) in $TMPDIR (default /tmp). When a step fails the record\n"
          "                      and what was uploaded are removed\n"
          "  ims images list [--deleted]\n"
          "                      list the images: ID, NAME, ARCH, CREATED, MANIFEST (--deleted:\n"
          "                      the deleted ones, with DELETED instead of MANIFEST)\n"
          "  ims images get [--deleted] ID\n"
          "                      show one image as list does\n"
          "  ims images delete ID\n"
          "                      delete an image; it can be restored until it is purged\n"
          "  ims images restore ID\n"
          "                      bring a deleted image back, with the same ID\n"
          "  ims images purge ID remove a deleted image and its files for good\n"
          "  ims jobs list       list the jobs: ID, TYPE, STATUS, ARTIFACT, RESULT, CREATED\n"
          "  ims jobs get ID     show one job as list does\n"
          "  ims jobs delete ID\n"
          "  ims jobs delete --all | [--status S[,S]...] [--type create|customize] [--age AGE]\n"
          "                      delete a job, or every job (--all) or those of the given\n"
          "                      statuses, type, and created more than AGE ago (2w, 3d, 6h,\n"
          "                      30m, 1d6h)\n"
          "\n"
          "Options:\n"
          "  -s, --server URL    imgd to talk to: http://HOST:PORT, https://HOST:PORT or\n"
          "                      unix:///PATH (default: $IMGCTL_SERVER, then the config files,\n"
          "                      then " DEFAULT_SERVER ")\n"
          "      --token TOKEN   bearer token (default: $IMGCTL_TOKEN, then the config files;\n"
          "                      prefer those: other users can see the arguments of a process)\n"
          "      --cacert FILE   CA bundle to verify the https server with\n"
          "      --cert FILE     client certificate (PEM) for https\n"
          "      --key FILE      private key of --cert\n"
          "  -k, --insecure      do not verify the https server's certificate\n"
          "      --timeout SEC   give up on a request after SEC seconds (default 30); pull\n"
          "                      and the uploads of ims ... create: on connecting, and when no\n"
          "                      progress came for 300 s or SEC\n"
          "  -o, --output FMT    table (default) or json; get: also csv (one list: local or\n"
          "                      harbor), whose local header serves as imgd's ignore file; get's\n"
          "                      json and that of the container commands is imgd's answer\n"
          "  -h, --help          show this help\n"
          "      --version       show the client version\n"
          "\n"
          "Options of the image commands:\n"
          "  -q, --quiet         images: print only the image IDs; pull: print only the ID\n"
          "      --no-trunc      images, get: show whole image IDs (get: and digests)\n"
          "      --digests       images: add a DIGEST column\n"
          "  -f, --force         rmi: remove an image by ID with all its names, or in use\n"
          "      --platform P    pull, import: OS/ARCH[/VARIANT] to pick from a multi-platform\n"
          "                      image (default: the server's own)\n"
          "      --tag NAME      import: the name of the imported image\n"
          "      --creds USER[:PASS], --username USER, --password PASS\n"
          "                      pull: registry credentials; the password defaults to\n"
          "                      $IMGCTL_REGISTRY_PASSWORD (prefer it: other users can see\n"
          "                      the arguments of a process)\n"
          "      --nodes NODE,...\n"
          "                      get: ask these imgd servers at once (NODE: a server URL, or\n"
          "                      HOST[:PORT] for http://HOST:5375) and show which image is on\n"
          "                      which node (NODES: their names, or all); with all, also the\n"
          "                      images no node's registry holds by name and tag. --token, the\n"
          "                      TLS options and --timeout apply to every node; a node that\n"
          "                      fails gets a line on stderr, the others are shown, exit 1\n"
          "\n"
          "Config files: $XDG_CONFIG_HOME/imgctl/config (default ~/.config/imgctl/config), then\n"
          "/etc/imgctl/config; lines key=value with the keys server and token, # comments.\n"
          "\n"
          "Exit status: 0 success, 1 imgd unreachable or an error answer, 2 usage error.\n",
          f);
}

enum {
    OPT_TOKEN = 0x100,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_TIMEOUT,
    OPT_VERSION,
    OPT_NO_TRUNC,
    OPT_DIGESTS,
    OPT_PLATFORM,
    OPT_TAG,
    OPT_CREDS,
    OPT_USERNAME,
    OPT_PASSWORD,
    OPT_NODES,
};

static const struct option cli_long_options[] = {
    {"server", required_argument, NULL, 's'},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"insecure", no_argument, NULL, 'k'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"quiet", no_argument, NULL, 'q'},
    {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
    {"digests", no_argument, NULL, OPT_DIGESTS},
    {"force", no_argument, NULL, 'f'},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"tag", required_argument, NULL, OPT_TAG},
    {"creds", required_argument, NULL, OPT_CREDS},
    {"username", required_argument, NULL, OPT_USERNAME},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"nodes", required_argument, NULL, OPT_NODES},
    {NULL, 0, NULL, 0},
};

/* The option as typed, without an "=value" that may be a secret. */
static int cli_bad_option(const char *what, const char *arg)
{
    return imgd_cli_usage_error("%s '%.*s'", what, (int)strcspn(arg, "="), arg);
}

/* The options of the image commands, with the bit each sets and the name usage errors use. */
static const struct cli_image_option {
    int opt;
    unsigned bit;
    const char *name;
} cli_image_options[] = {
    {'q', IMGD_CLI_OPT_QUIET, "--quiet"},
    {OPT_NO_TRUNC, IMGD_CLI_OPT_NO_TRUNC, "--no-trunc"},
    {OPT_DIGESTS, IMGD_CLI_OPT_DIGESTS, "--digests"},
    {'f', IMGD_CLI_OPT_FORCE, "--force"},
    {OPT_PLATFORM, IMGD_CLI_OPT_PLATFORM, "--platform"},
    {OPT_TAG, IMGD_CLI_OPT_TAG, "--tag"},
    {OPT_CREDS, IMGD_CLI_OPT_CREDS, "--creds"},
    {OPT_USERNAME, IMGD_CLI_OPT_CREDS, "--username"},
    {OPT_PASSWORD, IMGD_CLI_OPT_CREDS, "--password"},
    {OPT_NODES, IMGD_CLI_OPT_NODES, "--nodes"},
};

/* Record an option of the image commands or get; false when opt is not one. */
static bool cli_image_option(cli_args *a, int opt)
{
    const char **slot = opt == OPT_PLATFORM   ? &a->platform
                        : opt == OPT_TAG      ? &a->tag
                        : opt == OPT_CREDS    ? &a->creds
                        : opt == OPT_USERNAME ? &a->username
                        : opt == OPT_PASSWORD ? &a->password
                        : opt == OPT_NODES    ? &a->nodes
                                              : NULL;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(cli_image_options); i++) {
        if (cli_image_options[i].opt != opt)
            continue;
        a->image_opts |= cli_image_options[i].bit;
        if (slot)
            *slot = optarg;
        return true;
    }
    return false;
}

/* Handle one option of getopt_long. Returns -1 to go on, or the exit status. */
static int cli_option(cli_args *a, int opt, char **argv)
{
    int64_t n = 0;
    if (cli_image_option(a, opt))
        return -1;
    switch (opt) {
    case 's':
        a->server = optarg;
        break;
    case OPT_TOKEN:
        a->token = optarg;
        break;
    case OPT_CACERT:
        a->cacert = optarg;
        break;
    case OPT_CERT:
        a->cert = optarg;
        break;
    case OPT_KEY:
        a->key = optarg;
        break;
    case 'k':
        a->insecure = true;
        break;
    case OPT_TIMEOUT:
        if (imgd_parse_int64(&n, optarg) < 0 || n < 1 || n > TIMEOUT_MAX)
            return imgd_cli_usage_error("--timeout needs whole seconds from 1 to %d", TIMEOUT_MAX);
        a->timeout_sec = (long)n;
        break;
    case 'o':
        if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0 &&
            strcmp(optarg, "csv") != 0)
            return imgd_cli_usage_error("unknown output format '%s': use table, json or csv",
                                        optarg);
        a->format = strcmp(optarg, "json") == 0  ? CLI_FORMAT_JSON
                    : strcmp(optarg, "csv") == 0 ? CLI_FORMAT_CSV
                                                 : CLI_FORMAT_TABLE;
        break;
    case 'h':
        cli_usage(stdout);
        return EXIT_SUCCESS;
    case OPT_VERSION:
        printf("imgctl %s\n", IMGD_VERSION);
        return EXIT_SUCCESS;
    case ':':
        return cli_bad_option("missing argument for option", argv[optind - 1]);
    default:
        if (optopt)
            return imgd_cli_usage_error("unknown option '-%c'", optopt);
        return cli_bad_option("unknown option", argv[optind - 1]);
    }
    return -1;
}

/* getopt_long over argv with optstring into a fresh *a. Returns -1 to go on, or the exit
 * status. */
static int cli_parse_options(cli_args *a, int argc, char **argv, const char *optstring)
{
    *a = (cli_args){.timeout_sec = DEFAULT_TIMEOUT, .format = CLI_FORMAT_TABLE};
    opterr = 0; /* the messages are ours, one line each */
    optind = 0; /* glibc: start over, and read the "+" of optstring */
    int opt;
    while ((opt = getopt_long(argc, argv, optstring, cli_long_options, NULL)) != -1) {
        int r = cli_option(a, opt, argv);
        if (r >= 0)
            return r;
    }
    return -1;
}

/* Parse argv into *a. Options may come before or after the command (getopt permutes), but for a
 * container command only before it: those parse what follows their command word themselves, as
 * run and exec hand what follows the image or container to the command they run. Returns -1
 * to go on, or the exit status. */
static int cli_parse(cli_args *a, int argc, char **argv)
{
    int r = cli_parse_options(a, argc, argv, "+:s:ko:hqf");
    bool container =
        r < 0 && optind < argc &&
        (imgd_cli_container_command_is(argv[optind]) || imgd_cli_deploy_command_is(argv[optind]) ||
         imgd_cli_ims_command_is(argv[optind]));
    if (r < 0 && !container)
        r = cli_parse_options(a, argc, argv, ":s:ko:hqf");
    if (r >= 0)
        return r;
    if (a->key && !a->cert)
        return imgd_cli_usage_error("--key needs --cert");
    a->words = argv + optind;
    a->n_words = argc - optind;
    if (a->n_words == 0)
        return imgd_cli_usage_error("no command given");
    return -1;
}

/* The first option given that cmd does not accept: NULL when all are fine. */
static const char *cli_image_option_refused(const cli_args *a, unsigned accepted)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(cli_image_options); i++) {
        const struct cli_image_option *o = &cli_image_options[i];
        if ((a->image_opts & o->bit) && !(accepted & o->bit)) {
            /* the three credential options share a bit: name the one that was given */
            const char *given = o->opt == OPT_CREDS      ? a->creds
                                : o->opt == OPT_USERNAME ? a->username
                                : o->opt == OPT_PASSWORD ? a->password
                                                         : "";
            if (given)
                return o->name;
        }
    }
    return NULL;
}

static int cli_run_image_command(const cli_args *a, const imgd_cli_image_command *ic)
{
    const char *refused = cli_image_option_refused(a, ic->opts);
    int n_args = a->n_words - 1;
    if (refused)
        return imgd_cli_usage_error("%s does not take %s", ic->name, refused);
    if (a->format == CLI_FORMAT_CSV)
        return imgd_cli_usage_error("%s does not print CSV: -o csv is for get", ic->name);
    if (n_args < ic->min_args || (ic->max_args >= 0 && n_args > ic->max_args))
        return ic->max_args == 0
                   ? imgd_cli_usage_error("%s takes no arguments", ic->name)
                   : imgd_cli_usage_error("usage: imgctl %s %s", ic->name, ic->synopsis);
    for (int i = 1; i < a->n_words; i++) {
        if (a->words[i][0] == '\0')
            return imgd_cli_usage_error("%s: an argument is empty", ic->name);
    }
    _cleanup_(cli_settings_dispose) cli_settings s = {0};
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    if (cli_settings_resolve(&s, a, &err) < 0 || cli_client_open(&c, a, &s, &err) < 0)
        return imgd_cli_fail(err);
    imgd_cli_image_args ia = {
        .client = c,
        .json = a->format == CLI_FORMAT_JSON,
        .opts = a->image_opts,
        .platform = a->platform,
        .tag = a->tag,
        .creds = a->creds,
        .username = a->username,
        .password = a->password,
        .args = a->words + 1,
        .n_args = n_args,
    };
    return ic->run(&ia);
}

/* get talks to the effective server, or with --nodes to each node given with the same token,
 * TLS files and timeout. */
static int cli_run_get(const cli_args *a)
{
    const char *refused = cli_image_option_refused(a, IMGD_CLI_OPT_NO_TRUNC | IMGD_CLI_OPT_NODES);
    if (refused)
        return imgd_cli_usage_error("get does not take %s", refused);
    if (a->n_words > 2)
        return imgd_cli_usage_error("usage: imgctl get [local|harbor|all]");
    if (a->nodes && a->server)
        return imgd_cli_usage_error("give --server or --nodes, not both");
    _cleanup_(cli_settings_dispose) cli_settings s = {0};
    _cleanup_error_ imgd_error *err = NULL;
    if (cli_settings_resolve(&s, a, &err) < 0)
        return imgd_cli_fail(err);
    imgd_client_options opts = cli_client_options(a, &s);
    imgd_cli_get_args ga = {
        .client = &opts,
        .format = a->format == CLI_FORMAT_JSON  ? IMGD_CLI_GET_JSON
                  : a->format == CLI_FORMAT_CSV ? IMGD_CLI_GET_CSV
                                                : IMGD_CLI_GET_TABLE,
        .no_trunc = a->image_opts & IMGD_CLI_OPT_NO_TRUNC,
        .which = a->n_words == 2 ? a->words[1] : NULL,
        .nodes = a->nodes,
    };
    return imgd_cli_get(&ga);
}

/* A container, boot-image or IMS command: imgctl's options before it, its own after it. */
static int cli_run_container(const cli_args *a)
{
    const char *refused = cli_image_option_refused(a, 0);
    if (refused)
        return imgd_cli_usage_error("%s does not take %s before the command word (its options "
                                    "follow it)",
                                    a->words[0], refused);
    if (a->format == CLI_FORMAT_CSV)
        return imgd_cli_usage_error("%s does not print CSV: -o csv is for get", a->words[0]);
    _cleanup_(cli_settings_dispose) cli_settings s = {0};
    _cleanup_error_ imgd_error *err = NULL;
    if (cli_settings_resolve(&s, a, &err) < 0)
        return imgd_cli_fail(err);
    imgd_client_options opts = cli_client_options(a, &s);
    imgd_cli_container_args ca = {
        .client = &opts,
        .json = a->format == CLI_FORMAT_JSON,
        .argc = a->n_words,
        .argv = a->words,
    };
    if (imgd_cli_deploy_command_is(a->words[0]))
        return imgd_cli_deploy_main(&ca);
    if (imgd_cli_ims_command_is(a->words[0]))
        return imgd_cli_ims_main(&ca);
    return imgd_cli_container_main(&ca);
}

static int cli_dispatch(const cli_args *a)
{
    const char *cmd = a->words[0];
    if (strcmp(cmd, "help") == 0) {
        cli_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(cmd, "get") == 0)
        return cli_run_get(a);
    if (imgd_cli_container_command_is(cmd) || imgd_cli_deploy_command_is(cmd) ||
        imgd_cli_ims_command_is(cmd))
        return cli_run_container(a);
    const imgd_cli_image_command *ic = imgd_cli_image_command_find(cmd);
    if (ic)
        return cli_run_image_command(a, ic);
    const char *refused = cli_image_option_refused(a, 0);
    bool known = strcmp(cmd, "health") == 0 || strcmp(cmd, "version") == 0 ||
                 strcmp(cmd, "log-level") == 0 || strcmp(cmd, "config") == 0;
    if (!known)
        return imgd_cli_usage_error("unknown command '%s'", cmd);
    if (a->format == CLI_FORMAT_CSV)
        return imgd_cli_usage_error("%s does not print CSV: -o csv is for get", cmd);
    if (refused)
        return imgd_cli_usage_error("%s does not take %s", cmd, refused);
    if (strcmp(cmd, "log-level") != 0 && a->n_words > 1)
        return imgd_cli_usage_error("%s takes no arguments", cmd);
    if (strcmp(cmd, "config") == 0 && (a->server || a->token))
        return cmd_config_write(a);
    _cleanup_(cli_settings_dispose) cli_settings s = {0};
    _cleanup_error_ imgd_error *err = NULL;
    if (cli_settings_resolve(&s, a, &err) < 0)
        return imgd_cli_fail(err);
    if (strcmp(cmd, "config") == 0)
        return cmd_config_show(a, &s);
    if (strcmp(cmd, "health") == 0)
        return cmd_health(a, &s);
    if (strcmp(cmd, "version") == 0)
        return cmd_version(a, &s);
    return cmd_log_level(a, &s);
}

int main(int argc, char **argv)
{
    cli_args a;
    int r = cli_parse(&a, argc, argv);
    if (r < 0) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fputs("imgctl: cannot initialise libcurl\n", stderr);
            return EXIT_FAILURE;
        }
        r = cli_dispatch(&a);
        curl_global_cleanup();
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "imgctl: write error on standard output: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    return r;
}
