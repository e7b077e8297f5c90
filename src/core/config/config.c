/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <sys/un.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strutil.h"

#define CONFIG_FILE_MAX  (1024 * 1024)
#define DEFAULT_CONFIG   "/etc/imgd/config.json"
#define REDACTED         "<redacted>"
#define MAX_LIST_ENTRIES 16

typedef enum setting_type {
    T_STRING,
    T_PATH, /* a string; relative values from a config file resolve against its directory */
    T_INT,
    T_BOOL,
    T_LEVEL,
    T_LIST,
    T_JSON, /* a JSON object: from a file as is, from the environment or a flag as JSON text */
} setting_type;

enum { F_SECRET = 1 << 0 };

typedef struct setting {
    const char *name;
    setting_type type;
    size_t offset;
    const char *def;  /* textual default; NULL means empty / unset */
    int64_t min, max; /* T_INT bounds */
    unsigned flags;
    const char *legacy_env; /* accepted besides IMGD_<NAME> */
    const char *aliases[6]; /* config-file keys of the seed layouts; "section.key" nests */
    const char *help;
} setting;

#define OFF(f) offsetof(imgd_config, f)

/* The single table of settings. Order is the --help and --print-config order. */
/* clang-format off */
static const setting settings[] = {
    {"state_dir", T_PATH, OFF(state_dir), "/var/lib/imgd", 0, 0, 0, NULL, {NULL},
     "directory of the database, blobs, layers and containers"},
    {"run_dir", T_PATH, OFF(run_dir), "/run/imgd", 0, 0, 0, NULL, {NULL},
     "directory of the socket, mounts and container monitors"},
    {"socket", T_PATH, OFF(socket), NULL, 0, 0, 0, NULL, {NULL},
     "unix socket path (default <run_dir>/imgd.sock; \"none\" disables it)"},
    {"listen", T_LIST, OFF(listen), NULL, 0, 0, 0, NULL, {NULL},
     "TCP addresses ADDR:PORT (repeatable; default <host>:<port>; \"none\" disables TCP)"},
    {"host", T_STRING, OFF(host), "127.0.0.1", 0, 0, 0, NULL,
     {"app_host", "app_config.host", "app_config.app_host", NULL},
     "TCP address used when listen is not set"},
    {"port", T_INT, OFF(port), "5375", 0, 65535, 0, NULL,
     {"app_port", "app_config.port", "app_config.app_port", NULL},
     "TCP port used when listen is not set"},
    {"insecure_listen", T_BOOL, OFF(insecure_listen), "false", 0, 0, 0, NULL, {NULL},
     "allow a non-loopback listener without tokens or client certificates"},
    {"tls_cert", T_PATH, OFF(tls_cert), NULL, 0, 0, 0, NULL, {NULL},
     "PEM certificate (chain) for HTTPS on the TCP listeners"},
    {"tls_key", T_PATH, OFF(tls_key), NULL, 0, 0, 0, NULL, {NULL}, "PEM private key for tls_cert"},
    {"tls_client_ca", T_PATH, OFF(tls_client_ca), NULL, 0, 0, 0, NULL, {NULL},
     "PEM CA bundle; when set, TCP clients must present a certificate it signed"},
    {"tokens_file", T_PATH, OFF(tokens_file), NULL, 0, 0, 0, NULL, {NULL},
     "file of bearer tokens, one per line; when set, TCP requests need one"},
    {"max_workers", T_INT, OFF(max_workers), "0", 0, 1024, 0, "MAX_WORKERS", {NULL},
     "HTTP worker threads per listener (0: cores x 4)"},
    {"max_connections", T_INT, OFF(max_connections), "4096", 16, 16384, 0, NULL, {NULL},
     "open connections per listener"},
    {"request_timeout", T_INT, OFF(request_timeout), "30", 1, 86400, 0, "REQUEST_TIMEOUT", {NULL},
     "seconds an idle connection or a stalled request may take"},
    {"max_body_bytes", T_INT, OFF(max_body_bytes), "1048576", 1024, INT64_C(1) << 32, 0, NULL,
     {NULL}, "largest accepted request body"},
    {"json_max_depth", T_INT, OFF(json_max_depth), "64", 2, 1024, 0, NULL, {NULL},
     "deepest accepted JSON nesting in a request body"},
    {"json_pretty", T_BOOL, OFF(json_pretty), "false", 0, 0, 0, NULL,
     {"jsonify_prettyprint_regular", "app_config.jsonify_prettyprint_regular", NULL},
     "indent JSON responses of the inventory face"},
    {"debug", T_BOOL, OFF(debug), "false", 0, 0, 0, "DEBUG",
     {"app_debug", "app_config.debug", "app_config.app_debug", NULL},
     "debug mode: log at DEBUG unless log_level is set"},
    {"log_level", T_LEVEL, OFF(log_level), "INFO", 0, 0, 0, NULL,
     {"app_log_level", "app_config.log_level", "app_config.app_log_level", NULL},
     "level of the stderr log: DEBUG, INFO, WARNING, ERROR, CRITICAL"},
    {"log_file", T_PATH, OFF(log_file), NULL, 0, 0, 0, NULL, {"app_config.log_file", NULL},
     "rotating log file (none by default)"},
    {"log_file_level", T_LEVEL, OFF(log_file_level), "INFO", 0, 0, 0, NULL,
     {"file_handler_log_level", "app_config.file_handler_log_level",
      "app_config.file_log_level", NULL},
     "level of the log file"},
    {"log_max_bytes", T_INT, OFF(log_max_bytes), "10485760", 0, INT64_C(1) << 40, 0, NULL,
     {"app_config.log_max_bytes", NULL}, "rotate the log file at this size (0: never)"},
    {"log_backup_count", T_INT, OFF(log_backup_count), "3", 0, 1000, 0, NULL,
     {"app_config.log_backup_count", NULL}, "rotated log files kept (log_file.1 ... .N)"},
    {"ignore_file", T_PATH, OFF(ignore_file), NULL, 0, 0, 0, NULL,
     {"ignore_file_path", "crictl_config.ignore_file_path", "crictl_config.ignore_file",
      "app_config.ignore_file_path", NULL},
     "CSV whose IMAGE ID column lists images the inventory hides"},
    {"cri_endpoint", T_STRING, OFF(cri_endpoint), NULL, 0, 0,
     0, NULL,
     {"crictl_config.runtime_endpoint", "crictl_config.image_endpoint", "crictl_config.endpoint",
      NULL},
     "CRI runtime socket (default as crictl: $CONTAINER_RUNTIME_ENDPOINT, /etc/crictl.yaml, "
     "containerd's)"},
    {"inventory_sources", T_LIST, OFF(inventory_sources), NULL, 0, 0, 0, NULL,
     {"crictl_config.sources", NULL},
     "local image sources: store, cri (default: the store, and the CRI runtime when it answers)"},
    {"cri_timeout", T_INT, OFF(cri_timeout), "2", 1, 3600, 0, NULL, {"crictl_config.timeout", NULL},
     "seconds a CRI call may take"},
    {"harbor_url", T_STRING, OFF(harbor_url), NULL, 0, 0, 0, NULL,
     {"harbor_config.url", "harbor_config.harbor_url", "harbor_config.base_url", NULL},
     "Harbor base URL for the inventory (none by default)"},
    {"harbor_username", T_STRING, OFF(harbor_username), NULL, 0, 0, 0, NULL,
     {"harbor_config.username", "harbor_config.user", NULL}, "Harbor user or robot account"},
    {"harbor_password", T_STRING, OFF(harbor_password), NULL, 0, 0, F_SECRET, NULL,
     {"harbor_config.password", NULL}, "Harbor password or robot secret"},
    {"harbor_project", T_STRING, OFF(harbor_project), NULL, 0, 0, 0, NULL,
     {"harbor_config.project_name", "harbor_config.project", NULL},
     "list only this Harbor project (exact name; default: every project visible)"},
    {"harbor_type", T_STRING, OFF(harbor_type), "harbor", 0, 0, 0, NULL,
     {"harbor_config.type", NULL},
     "harbor (the Harbor v2.0 API) or distribution (any OCI registry's catalog)"},
    {"harbor_timeout", T_INT, OFF(harbor_timeout), "10", 1, 3600, 0, NULL,
     {"harbor_config.timeout", NULL}, "seconds one request to the registry may take"},
    {"harbor_parallel", T_INT, OFF(harbor_parallel), "8", 1, 64, 0, NULL, {NULL},
     "registry requests in flight at once while listing"},
    {"inventory_cache_ttl", T_INT, OFF(inventory_cache_ttl), "0", 0, 86400, 0, NULL, {NULL},
     "seconds a registry listing may be reused (0: every request lists live)"},
    {"harbor_verify_tls", T_BOOL, OFF(harbor_verify_tls), "true", 0, 0, 0, NULL,
     {"harbor_config.verify_ssl", "harbor_config.verify", "harbor_config.verify_tls", NULL},
     "verify Harbor's TLS certificate"},
    {"pull_parallel", T_INT, OFF(pull_parallel), "4", 1, 16, 0, NULL, {NULL},
     "layers downloaded and unpacked at once per pull or import"},
    {"registries", T_JSON, OFF(registries), NULL, 0, 0, F_SECRET, NULL, {NULL},
     "per-registry settings: {\"host:port\": {insecure, ca_file, mirrors, username, password}}"},
    {"registry_auth_file", T_PATH, OFF(registry_auth_file), NULL, 0, 0, 0, NULL, {NULL},
     "docker-style auth file (default $REGISTRY_AUTH_FILE, else ~/.docker/config.json)"},
    {"registry_timeout", T_INT, OFF(registry_timeout), "30", 1, 3600, 0, NULL, {NULL},
     "seconds to connect to a registry, and without a byte before a transfer is retried"},
    {"registry_retries", T_INT, OFF(registry_retries), "4", 1, 20, 0, NULL, {NULL},
     "tries per registry request (429, 5xx and broken connections are retried)"},
    {"runtime", T_STRING, OFF(runtime), "runc", 0, 0, 0, NULL, {NULL},
     "OCI runtime binary (name in PATH or absolute path): runc, or crun"},
    {"port_bind_address", T_STRING, OFF(port_bind_address), "127.0.0.1", 0, 0, 0, NULL, {NULL},
     "IPv4 address that published container ports listen on"},
    {"stop_timeout", T_INT, OFF(stop_timeout), "10", 0, 3600, 0, NULL, {NULL},
     "seconds a container has to exit after its stop signal before SIGKILL"},
    {"container_log_max_bytes", T_INT, OFF(container_log_max_bytes), "104857600", 0,
     INT64_C(1) << 40, 0, NULL, {NULL},
     "a container log is rotated (one old file kept) past this size; 0: never"},
    {"mount_dir", T_PATH, OFF(mount_dir), NULL, 0, 0, 0, NULL, {NULL},
     "where ImageAPI mounts are made (default: <run_dir>/mounts)"},
    {"log_dir", T_PATH, OFF(log_dir), NULL, 0, 0, 0, NULL, {NULL},
     "where ImageAPI container logs are written (default: <run_dir>/logs)"},
    {"artifacts_dir", T_PATH, OFF(artifacts_dir), NULL, 0, 0, 0, NULL, {NULL},
     "where the fs artifact backend keeps IMS objects (default: <state_dir>/artifacts)"},
    {"s3_endpoint", T_STRING, OFF(s3_endpoint), NULL, 0, 0, 0, "S3_ENDPOINT", {NULL},
     "S3 service URL for IMS artifacts; unset: artifacts are files under artifacts_dir"},
    {"s3_access_key", T_STRING, OFF(s3_access_key), NULL, 0, 0, F_SECRET, "S3_ACCESS_KEY",
     {NULL}, "S3 access key id"},
    {"s3_secret_key", T_STRING, OFF(s3_secret_key), NULL, 0, 0, F_SECRET, "S3_SECRET_KEY",
     {NULL}, "S3 secret access key"},
    {"s3_region", T_STRING, OFF(s3_region), "us-east-1", 0, 0, 0, "S3_REGION", {NULL},
     "region named in S3 signatures"},
    {"s3_ssl_validate", T_BOOL, OFF(s3_ssl_validate), "false", 0, 0, 0, "S3_SSL_VALIDATE",
     {NULL}, "verify the S3 service's TLS certificate"},
    {"s3_ims_bucket", T_STRING, OFF(s3_ims_bucket), "ims", 0, 0, 0, "S3_IMS_BUCKET", {NULL},
     "bucket of IMS recipes"},
    {"s3_boot_images_bucket", T_STRING, OFF(s3_boot_images_bucket), "boot-images", 0, 0, 0,
     "S3_BOOT_IMAGES_BUCKET", {NULL}, "bucket of IMS images"},
    {"s3_url_expiration", T_INT, OFF(s3_url_expiration), "432000", 1, 604800, 0,
     "S3_URL_EXPIRATION", {NULL}, "seconds a presigned download URL stays valid"},
    {"s3_connect_timeout", T_INT, OFF(s3_connect_timeout), "60", 1, 3600, 0, "S3_CONNECT_TIMEOUT",
     {NULL}, "seconds to connect to the S3 service"},
    {"s3_read_timeout", T_INT, OFF(s3_read_timeout), "60", 1, 3600, 0, "S3_READ_TIMEOUT", {NULL},
     "seconds an S3 transfer may stay without a byte"},
    {"s3_part_size", T_INT, OFF(s3_part_size), "67108864", 5242880, INT64_C(5) << 30, 0, NULL,
     {NULL}, "objects larger than this go to S3 as a multipart upload of parts this size"},
    {"ims_job_namespace", T_STRING, OFF(ims_job_namespace), "ims", 0, 0, 0,
     "DEFAULT_IMS_JOB_NAMESPACE", {NULL}, "kubernetes_namespace recorded in new IMS jobs"},
    {"ims_image_size", T_INT, OFF(ims_image_size), "60", 1, 1 << 20, 0, "DEFAULT_IMS_IMAGE_SIZE",
     {NULL}, "default build_env_size (GiB) of IMS jobs"},
    {"ims_job_mem_size", T_INT, OFF(ims_job_mem_size), "8", 1, 1 << 20, 0,
     "DEFAULT_IMS_JOB_MEM_SIZE", {NULL}, "default job_mem_size (GiB) of IMS jobs"},
    {"ims_job_enable_dkms", T_BOOL, OFF(ims_job_enable_dkms), "false", 0, 0, 0,
     "JOB_ENABLE_DKMS", {NULL}, "customize jobs require dkms unless the client says"},
    {"ims_shasta_domain", T_STRING, OFF(ims_shasta_domain), "shasta.local", 0, 0, 0,
     "SHASTA_DOMAIN", {NULL}, "domain of IMS jobs' customer-access SSH host names"},
    {"ims_customer_access_subnet", T_STRING, OFF(ims_customer_access_subnet), "cmn", 0, 0, 0,
     "JOB_CUSTOMER_ACCESS_SUBNET_NAME", {NULL},
     "subnet of IMS jobs' customer-access SSH host names"},
    {"ims_ssh_key", T_PATH, OFF(ims_ssh_key), NULL, 0, 0, 0, NULL, {NULL},
     "private key for probing remote build nodes as root (default: ssh's own)"},
    {"ims_ssh_known_hosts", T_PATH, OFF(ims_ssh_known_hosts), NULL, 0, 0, 0, NULL, {NULL},
     "known_hosts for remote build nodes (default: <state_dir>/ims_known_hosts, keys learnt on "
     "first contact)"},
    {"ims_ssh_port", T_INT, OFF(ims_ssh_port), "22", 1, 65535, 0, NULL, {NULL},
     "SSH port of remote build nodes"},
    {"ims_ssh_timeout", T_INT, OFF(ims_ssh_timeout), "10", 1, 600, 0, NULL, {NULL},
     "seconds a remote build node probe may take"},
};
/* clang-format on */

/* Sections of the crictl + Harbor service's config.json; keys inside them are "section.key". */
static const char *const seed_sections[] = {"crictl_config", "harbor_config", "app_config"};

#define N_SETTINGS IMGD_ARRAY_SIZE(settings)

static void *field(imgd_config *cfg, const setting *s)
{
    return (char *)cfg + s->offset;
}

static const void *cfield(const imgd_config *cfg, const setting *s)
{
    return (const char *)cfg + s->offset;
}

static const setting *setting_by_name(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    }
    return NULL;
}

static const setting *setting_by_key(const char *key)
{
    const setting *s = setting_by_name(key);
    if (s)
        return s;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        for (const char *const *a = settings[i].aliases; *a; a++) {
            if (strcmp(*a, key) == 0)
                return &settings[i];
        }
    }
    return NULL;
}

static int add_warning(imgd_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_warning(imgd_config *cfg, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    return imgd_strv_push(&cfg->warnings, imgd_str_strip_controls(msg, (size_t)n));
}

static const char *type_expectation(const setting *s, char *buf, size_t len)
{
    switch (s->type) {
    case T_INT:
        snprintf(buf, len, "an integer from %lld to %lld", (long long)s->min, (long long)s->max);
        return buf;
    case T_BOOL:
        return "true or false";
    case T_LEVEL:
        return "one of DEBUG, INFO, WARNING, ERROR, CRITICAL";
    case T_LIST:
        return "a list of strings";
    case T_JSON:
        return "a JSON object";
    case T_STRING:
    case T_PATH:
        break;
    }
    return "a string";
}

static int bad_value(const setting *s, const char *value, const char *origin, imgd_error **err)
{
    char buf[96];
    return imgd_error_set(err, EINVAL, "invalid value '%s' for '%s' (%s): expected %s",
                          (s->flags & F_SECRET) ? REDACTED : value, s->name, origin,
                          type_expectation(s, buf, sizeof(buf)));
}

/* Resolve a relative path against base_dir (when given). Returns a new string or NULL. */
static char *resolve_path(const char *value, const char *base_dir)
{
    if (!base_dir || !*value || value[0] == '/' || strcmp(value, "none") == 0)
        return strdup(value);
    char *p = NULL;
    return asprintf(&p, "%s/%s", base_dir, value) < 0 ? NULL : p;
}

/* Set a scalar setting from text. For T_LIST, text replaces the list with its comma-separated
 * entries (append adds one entry instead, for repeated flags). */
static int set_from_text(imgd_config *cfg, const setting *s, const char *text, bool append,
                         const char *base_dir, const char *origin, imgd_error **err)
{
    void *f = field(cfg, s);
    switch (s->type) {
    case T_STRING:
    case T_PATH: {
        char *v = s->type == T_PATH ? resolve_path(text, base_dir) : strdup(text);
        if (!v)
            return imgd_error_set(err, ENOMEM, "out of memory");
        free(*(char **)f);
        *(char **)f = v;
        return 0;
    }
    case T_INT: {
        int64_t v;
        if (imgd_parse_int64(&v, text) < 0 || v < s->min || v > s->max)
            return bad_value(s, text, origin, err);
        *(int64_t *)f = v;
        return 0;
    }
    case T_BOOL: {
        bool v;
        if (imgd_parse_bool(&v, text) < 0)
            return bad_value(s, text, origin, err);
        *(bool *)f = v;
        return 0;
    }
    case T_LEVEL: {
        imgd_log_level v;
        int64_t n;
        if (imgd_log_level_parse(&v, text) == 0)
            *(int64_t *)f = v;
        else if (imgd_parse_int64(&n, text) == 0 && n >= IMGD_LOG_DEBUG && n <= IMGD_LOG_CRITICAL &&
                 n % 10 == 0)
            *(int64_t *)f = n; /* Python's numeric levels */
        else
            return bad_value(s, text, origin, err);
        return 0;
    }
    case T_JSON: {
        json_t *v = json_loads(text, 0, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            return bad_value(s, text, origin, err);
        }
        json_decref(*(json_t **)f);
        *(json_t **)f = v;
        return 0;
    }
    case T_LIST: {
        char ***list = f;
        _cleanup_strv_ char **v = append ? imgd_strv_copy(*list) : NULL;
        if (append && *list && !v)
            return imgd_error_set(err, ENOMEM, "out of memory");
        _cleanup_free_ char *copy = strdup(text);
        if (!copy)
            return imgd_error_set(err, ENOMEM, "out of memory");
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*tok))
                tok++;
            size_t n = strlen(tok);
            while (n > 0 && isspace((unsigned char)tok[n - 1]))
                tok[--n] = '\0';
            if (n == 0)
                continue;
            if (imgd_strv_length(v) >= MAX_LIST_ENTRIES)
                return imgd_error_set(err, EINVAL, "too many entries for '%s' (%s): at most %d",
                                      s->name, origin, MAX_LIST_ENTRIES);
            if (imgd_strv_push(&v, tok) < 0)
                return imgd_error_set(err, ENOMEM, "out of memory");
        }
        imgd_strv_free(*list);
        *list = TAKE_PTR(v);
        return 0;
    }
    }
    return bad_value(s, text, origin, err);
}

static void set_source(imgd_config *cfg, const setting *s, imgd_config_source src)
{
    if (cfg->source)
        cfg->source[s - settings] = (unsigned char)src;
}

int imgd_config_init(imgd_config *cfg, imgd_error **err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->source = calloc(N_SETTINGS, 1);
    if (!cfg->source)
        return imgd_error_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (!s->def)
            continue;
        int r = set_from_text(cfg, s, s->def, false, NULL, "built-in default", err);
        if (r < 0)
            return r;
    }
    return 0;
}

void imgd_config_dispose(imgd_config *cfg)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        void *f = field(cfg, &settings[i]);
        if (settings[i].type == T_STRING || settings[i].type == T_PATH) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (settings[i].type == T_LIST) {
            imgd_strv_free(*(char ***)f);
            *(char ***)f = NULL;
        } else if (settings[i].type == T_JSON) {
            json_decref(*(json_t **)f);
            *(json_t **)f = NULL;
        }
    }
    free(cfg->config_file);
    free(cfg->ims_import_dir);
    imgd_strv_free(cfg->warnings);
    free(cfg->source);
    memset(cfg, 0, sizeof(*cfg));
}

/* Text form of a JSON scalar for set_from_text; NULL when the JSON type cannot fit the setting. */
static char *json_scalar_text(const setting *s, const json_t *v)
{
    char *out = NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v) && (s->type == T_INT || s->type == T_LEVEL || s->type == T_STRING))
        return asprintf(&out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0 ? NULL : out;
    if (json_is_boolean(v) && s->type == T_BOOL)
        return strdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

static int apply_json_value(imgd_config *cfg, const setting *s, const char *key, const json_t *v,
                            const char *base_dir, imgd_error **err)
{
    char origin[160];
    snprintf(origin, sizeof(origin), "config key '%s'", key);
    if (json_is_null(v))
        return 0; /* like the seeds' dict.get(): null keeps the default */
    if (s->type == T_JSON) {
        if (!json_is_object(v))
            return bad_value(s, "(not an object)", origin, err);
        json_decref(*(json_t **)field(cfg, s));
        *(json_t **)field(cfg, s) = json_deep_copy(v);
        set_source(cfg, s, IMGD_CONFIG_FILE);
        return 0;
    }
    if (s->type == T_LIST && json_is_array(v)) {
        imgd_strv_free(*(char ***)field(cfg, s));
        *(char ***)field(cfg, s) = NULL;
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item) {
            if (!json_is_string(item))
                return bad_value(s, "[...]", origin, err);
            int r = set_from_text(cfg, s, json_string_value(item), true, base_dir, origin, err);
            if (r < 0)
                return r;
        }
        set_source(cfg, s, IMGD_CONFIG_FILE);
        return 0;
    }
    _cleanup_free_ char *text = json_scalar_text(s, v);
    if (!text) {
        _cleanup_free_ char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return bad_value(s, dump ? dump : "?", origin, err);
    }
    int r = set_from_text(cfg, s, text, false, base_dir, origin, err);
    if (r == 0)
        set_source(cfg, s, IMGD_CONFIG_FILE);
    return r;
}

static bool is_seed_section(const char *key)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(seed_sections); i++) {
        if (strcmp(seed_sections[i], key) == 0)
            return true;
    }
    return false;
}

int imgd_config_apply_json(imgd_config *cfg, const json_t *doc, const char *base_dir,
                           imgd_error **err)
{
    if (!json_is_object(doc))
        return imgd_error_set(err, EINVAL, "the config must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)doc, key, value) {
        if (is_seed_section(key) && json_is_object(value)) {
            const char *sub;
            json_t *subvalue;
            json_object_foreach (value, sub, subvalue) {
                char full[256];
                snprintf(full, sizeof(full), "%s.%s", key, sub);
                const setting *s = setting_by_key(full);
                if (!s) {
                    add_warning(cfg, "unknown config key '%s' ignored", full);
                    continue;
                }
                int r = apply_json_value(cfg, s, full, subvalue, base_dir, err);
                if (r < 0)
                    return r;
            }
            continue;
        }
        const setting *s = setting_by_key(key);
        if (!s) {
            add_warning(cfg, "unknown config key '%s' ignored", key);
            continue;
        }
        int r = apply_json_value(cfg, s, key, value, base_dir, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int imgd_config_apply_file(imgd_config *cfg, const char *path, imgd_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = imgd_read_file(&text, &len, path, CONFIG_FILE_MAX, err);
    if (r < 0)
        return imgd_error_prefix(err, "config file");
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return imgd_error_set(err, EINVAL, "config file '%s' line %d column %d: %s", path,
                              jerr.line, jerr.column, jerr.text);
    _cleanup_free_ char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash)
        dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    r = imgd_config_apply_json(cfg, doc, dir, err);
    json_decref(doc);
    if (r < 0)
        return imgd_error_prefix(err, "config file '%s'", path);
    free(cfg->config_file);
    cfg->config_file = strdup(path);
    return 0;
}

static void env_name(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "IMGD_%s", name);
    for (char *p = buf; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

int imgd_config_apply_env(imgd_config *cfg, char *const *envp, imgd_error **err)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        char name[64], origin[96];
        env_name(name, sizeof(name), s->name);
        const char *v = env_lookup(envp, name);
        if (!v && s->legacy_env) {
            v = env_lookup(envp, s->legacy_env);
            snprintf(name, sizeof(name), "%s", s->legacy_env);
        }
        if (!v)
            continue;
        snprintf(origin, sizeof(origin), "environment %s", name);
        int r = set_from_text(cfg, s, v, false, NULL, origin, err);
        if (r < 0)
            return r;
        set_source(cfg, s, IMGD_CONFIG_ENV);
    }
    return 0;
}

typedef struct flag_value {
    const setting *s;
    const char *value;
    const char *flag;
} flag_value;

/* Match "--name-with-dashes" against a setting name with underscores. */
static const setting *setting_by_flag(const char *flag, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *n = settings[i].name;
        if (strlen(n) != len)
            continue;
        size_t j = 0;
        for (; j < len; j++) {
            char c = flag[j] == '-' ? '_' : flag[j];
            if (c != n[j])
                break;
        }
        if (j == len)
            return &settings[i];
    }
    return NULL;
}

static int parse_mode_flag(const char *arg, imgd_config_mode *mode)
{
    static const struct {
        const char *flag;
        imgd_config_mode mode;
    } modes[] = {
        {"--print-config", IMGD_MODE_PRINT_CONFIG},
        {"--version", IMGD_MODE_VERSION},
        {"--help", IMGD_MODE_HELP},
        {"-h", IMGD_MODE_HELP},
        {"--list-routes", IMGD_MODE_LIST_ROUTES},
    };
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(modes); i++) {
        if (strcmp(arg, modes[i].flag) == 0) {
            if (*mode == IMGD_MODE_RUN)
                *mode = modes[i].mode;
            return 1;
        }
    }
    return 0;
}

/* Split argv into mode flags, the ims-import command, --config and setting flags (applied
 * later, after file and env). */
static int parse_args(flag_value *flags, size_t *n_flags, const char **config_path,
                      const char **import_dir, imgd_config_mode *mode, int argc, char *const *argv,
                      imgd_error **err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (parse_mode_flag(arg, mode))
            continue;
        if (strcmp(arg, "ims-import") == 0 && !*import_dir) {
            if (i + 1 >= argc || !*argv[i + 1] || argv[i + 1][0] == '-')
                return imgd_error_set(err, EINVAL, "ims-import needs the IMS data directory");
            *import_dir = argv[++i];
            if (*mode == IMGD_MODE_RUN)
                *mode = IMGD_MODE_IMS_IMPORT;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return imgd_error_set(err, EINVAL, "unexpected argument '%s' (see --help)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        bool is_config = len == 6 && strncmp(name, "config", 6) == 0;
        const setting *s = is_config ? NULL : setting_by_flag(name, len);
        if (!is_config && !s)
            return imgd_error_set(err, EINVAL, "unknown option '%.*s' (see --help)", (int)len + 2,
                                  arg);
        if (!value) {
            if (i + 1 >= argc)
                return imgd_error_set(err, EINVAL, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (is_config) {
            *config_path = value;
            continue;
        }
        flags[*n_flags].s = s;
        flags[*n_flags].value = value;
        flags[*n_flags].flag = arg;
        (*n_flags)++;
    }
    return 0;
}

int imgd_config_load(imgd_config *cfg, imgd_config_mode *out_mode, int argc, char *const *argv,
                     char *const *envp, imgd_error **err)
{
    _cleanup_free_ flag_value *flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
    if (!flags)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t n_flags = 0;
    const char *config_path = NULL;
    const char *import_dir = NULL;
    imgd_config_mode mode = IMGD_MODE_RUN;
    int r = parse_args(flags, &n_flags, &config_path, &import_dir, &mode, argc, argv, err);
    if (r < 0)
        return r;
    if (import_dir && !(cfg->ims_import_dir = strdup(import_dir)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    *out_mode = mode;
    if (mode == IMGD_MODE_HELP || mode == IMGD_MODE_VERSION)
        return 0;

    if (!config_path)
        config_path = env_lookup(envp, "IMGD_CONFIG");
    if (!config_path && access(DEFAULT_CONFIG, F_OK) == 0)
        config_path = DEFAULT_CONFIG;
    if (config_path && *config_path && strcmp(config_path, "none") != 0) {
        r = imgd_config_apply_file(cfg, config_path, err);
        if (r < 0)
            return r;
    }
    r = imgd_config_apply_env(cfg, envp, err);
    if (r < 0)
        return r;

    bool list_seen[N_SETTINGS] = {false};
    for (size_t i = 0; i < n_flags; i++) {
        const setting *s = flags[i].s;
        char origin[96];
        snprintf(origin, sizeof(origin), "option --%.60s", flags[i].flag + 2);
        char *eq = strchr(origin, '=');
        if (eq)
            *eq = '\0';
        /* the first --listen replaces what file or environment set; later ones add to it */
        bool append = s->type == T_LIST && list_seen[s - settings];
        r = set_from_text(cfg, s, flags[i].value, append, NULL, origin, err);
        if (r < 0)
            return r;
        list_seen[s - settings] = true;
        set_source(cfg, s, IMGD_CONFIG_FLAG);
    }
    return 0;
}

int imgd_config_parse_listen(char *host, size_t host_len, uint16_t *out_port, const char *addr)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return -EINVAL; /* no port, or a bare IPv6 address without brackets */
        hl = (size_t)(colon - addr);
    }
    char name[INET6_ADDRSTRLEN];
    if (hl == 0 || hl >= host_len || hl >= sizeof(name))
        return -EINVAL;
    int64_t port;
    if (imgd_parse_int64(&port, colon + 1) < 0 || port < 0 || port > 65535)
        return -EINVAL;
    memcpy(name, h, hl);
    name[hl] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (strcmp(name, "localhost") != 0 && inet_pton(AF_INET, name, buf) != 1 &&
        inet_pton(AF_INET6, name, buf) != 1)
        return -EINVAL;
    memcpy(host, name, hl + 1);
    *out_port = (uint16_t)port;
    return 0;
}

bool imgd_config_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static int finalize_listen(imgd_config *cfg, imgd_error **err)
{
    if (!cfg->listen) {
        char addr[300];
        bool v6 = strchr(cfg->host, ':') != NULL;
        snprintf(addr, sizeof(addr), v6 ? "[%s]:%lld" : "%s:%lld", cfg->host, (long long)cfg->port);
        if (imgd_strv_push(&cfg->listen, addr) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (imgd_strv_length(cfg->listen) == 1 && strcmp(cfg->listen[0], "none") == 0) {
        imgd_strv_free(cfg->listen);
        cfg->listen = calloc(1, sizeof(char *));
        return cfg->listen ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    }
    bool authenticated =
        (cfg->tokens_file && *cfg->tokens_file) || (cfg->tls_client_ca && *cfg->tls_client_ca);
    for (char **a = cfg->listen; *a; a++) {
        char host[256];
        uint16_t port;
        if (imgd_config_parse_listen(host, sizeof(host), &port, *a) < 0)
            return imgd_error_set(err, EINVAL,
                                  "invalid value '%s' for 'listen': expected ADDR:PORT with an IP "
                                  "address or localhost, e.g. 127.0.0.1:5375 or [::1]:5375",
                                  *a);
        if (!imgd_config_host_is_loopback(host) && !authenticated && !cfg->insecure_listen)
            return imgd_error_set(
                err, EINVAL,
                "refusing to listen on %s: it is not a loopback address and neither tokens_file "
                "nor tls_client_ca is set, so anyone on the network could drive imgd; set one of "
                "them, or set insecure_listen to accept that",
                *a);
    }
    return 0;
}

static int finalize_paths(imgd_config *cfg, imgd_error **err)
{
    if (!cfg->state_dir || !*cfg->state_dir)
        return imgd_error_set(err, EINVAL, "invalid value '' for 'state_dir': expected a path");
    if (!cfg->run_dir || !*cfg->run_dir)
        return imgd_error_set(err, EINVAL, "invalid value '' for 'run_dir': expected a path");
    if (!cfg->socket || !*cfg->socket) {
        free(cfg->socket);
        if (asprintf(&cfg->socket, "%s/imgd.sock", cfg->run_dir) < 0) {
            cfg->socket = NULL;
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    if (strcmp(cfg->socket, "none") != 0 &&
        strlen(cfg->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return imgd_error_set(err, EINVAL,
                              "invalid value '%s' for 'socket': longer than %zu bytes, the limit "
                              "of a unix socket path",
                              cfg->socket, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    if (cfg->harbor_type && strcmp(cfg->harbor_type, "harbor") != 0 &&
        strcmp(cfg->harbor_type, "distribution") != 0)
        return imgd_error_set(err, EINVAL,
                              "invalid value '%s' for 'harbor_type': expected harbor or "
                              "distribution",
                              cfg->harbor_type);
    bool has_cert = cfg->tls_cert && *cfg->tls_cert, has_key = cfg->tls_key && *cfg->tls_key;
    if (has_cert != has_key)
        return imgd_error_set(err, EINVAL, "tls_cert and tls_key must be set together");
    if (cfg->tls_client_ca && *cfg->tls_client_ca && !has_cert)
        return imgd_error_set(err, EINVAL,
                              "tls_client_ca needs tls_cert and tls_key: client certificates are "
                              "only verified over HTTPS");
    return 0;
}

int imgd_config_finalize(imgd_config *cfg, imgd_error **err)
{
    if (cfg->max_workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->max_workers = (cores > 0 ? cores : 1) * 4;
        if (cfg->max_workers > 1024)
            cfg->max_workers = 1024;
    }
    const setting *level = setting_by_name("log_level");
    if (cfg->debug && cfg->source && cfg->source[level - settings] == IMGD_CONFIG_DEFAULT)
        cfg->log_level = IMGD_LOG_DEBUG;
    int r = finalize_paths(cfg, err);
    if (r < 0)
        return r;
    return finalize_listen(cfg, err);
}

/* A copy of a settings object with every "password", "secret" or "token" value redacted, at
 * any depth. */
static json_t *redacted_copy(const json_t *v)
{
    if (!v)
        return json_null();
    json_t *copy = json_deep_copy(v);
    json_t *stack[32] = {copy};
    size_t n = copy ? 1 : 0;
    while (n > 0) {
        json_t *o = stack[--n];
        const char *key;
        json_t *val;
        json_object_foreach (o, key, val) {
            if (json_is_object(val) && n < 32)
                stack[n++] = val;
            else if (json_is_string(val) &&
                     (strstr(key, "password") || strstr(key, "secret") || strstr(key, "token")))
                json_object_set_new(o, key, json_string(REDACTED));
        }
    }
    return copy;
}

json_t *imgd_config_to_json(const imgd_config *cfg)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const void *f = cfield(cfg, s);
        json_t *v = NULL;
        switch (s->type) {
        case T_STRING:
        case T_PATH: {
            const char *str = *(char *const *)f;
            if (str && *str && (s->flags & F_SECRET))
                str = REDACTED;
            v = str ? json_string(str) : json_null();
            break;
        }
        case T_INT:
            v = json_integer(*(const int64_t *)f);
            break;
        case T_BOOL:
            v = json_boolean(*(const bool *)f);
            break;
        case T_LEVEL:
            v = json_string(imgd_log_level_name((imgd_log_level) * (const int64_t *)f));
            break;
        case T_JSON:
            v = redacted_copy(*(json_t *const *)f);
            break;
        case T_LIST: {
            v = json_array();
            for (char *const *e = *(char **const *)f; v && e && *e; e++)
                json_array_append_new(v, json_string(*e));
            break;
        }
        }
        if (!v || json_object_set_new(o, s->name, v) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

void imgd_config_print_help(FILE *f, const char *argv0)
{
    fprintf(f,
            "Usage: %s [OPTION]...\n"
            "       %s [OPTION]... ims-import DIR\n"
            "imgd: the node image service (images, containers, boot images, IMS records).\n"
            "ims-import reads the records of an IMS data directory (v2_public_keys.json, ...)\n"
            "into the state database, all of them or none, and exits.\n\n"
            "  --config FILE        JSON config file (default " DEFAULT_CONFIG
            " when present; \"none\": no file)\n"
            "  --print-config       print the effective config as JSON (secrets redacted) and "
            "exit\n"
            "  --version            print the version and exit\n"
            "  --help               print this help and exit\n\n"
            "Settings (each also IMGD_<NAME> in the environment and a key of the config file):\n",
            argv0, argv0);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", s->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  %-22s %s", flag, s->help);
        if (s->def && *s->def)
            fprintf(f, " [%s]", s->def);
        if (s->legacy_env)
            fprintf(f, " (env %s)", s->legacy_env);
        fputc('\n', f);
    }
}
