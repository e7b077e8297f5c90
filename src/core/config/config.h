/* SPDX-License-Identifier: MIT */
/* imgd's settings: one table (name, type, default, environment, bounds) read from, lowest first,
 * built-in defaults < config file < environment < command-line flags.
 *
 * The config.json layouts of both earlier inventory services load unchanged: the flat keys of the
 * crictl service (app_host, log_file, ...) and the crictl_config / harbor_config / app_config
 * sections of the crictl + Harbor service are aliases of imgd's own settings. Unknown keys are
 * warnings; a bad value is an error naming the key, the value and what is allowed.
 *
 * A config is filled once at start and read-only afterwards, so sharing it between threads needs
 * no locking. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

typedef struct imgd_config {
    /* paths */
    char *state_dir;
    char *run_dir;
    char *socket;
    /* listeners */
    char **listen; /* "addr:port" entries; NULL-terminated */
    char *host;
    int64_t port;
    bool insecure_listen;
    char *tls_cert;
    char *tls_key;
    char *tls_client_ca;
    char *tokens_file;
    /* server */
    int64_t max_workers;
    int64_t max_connections;
    int64_t request_timeout;
    int64_t max_body_bytes;
    int64_t json_max_depth;
    bool json_pretty;
    bool debug;
    /* logging */
    int64_t log_level;
    int64_t log_file_level;
    char *log_file;
    int64_t log_max_bytes;
    int64_t log_backup_count;
    /* inventory sources */
    char *ignore_file;
    char *cri_endpoint;
    char **inventory_sources;
    int64_t cri_timeout;
    char *harbor_url;
    char *harbor_username;
    char *harbor_password;
    bool harbor_verify_tls;
    char *harbor_project;
    char *harbor_type;
    int64_t harbor_timeout;
    int64_t harbor_parallel;
    int64_t inventory_cache_ttl;
    /* images */
    int64_t pull_parallel;
    json_t *registries;
    char *registry_auth_file;
    int64_t registry_timeout;
    int64_t registry_retries;
    /* containers */
    char *runtime;
    char *port_bind_address;
    int64_t stop_timeout;
    int64_t container_log_max_bytes;
    /* boot images (ImageAPI) */
    char *mount_dir; /* NULL: <run_dir>/mounts */
    char *log_dir;   /* NULL: <run_dir>/logs */
    /* IMS: artifacts */
    char *artifacts_dir; /* NULL: <state_dir>/artifacts */
    char *s3_endpoint;   /* set: the s3 backend */
    char *s3_access_key;
    char *s3_secret_key;
    char *s3_region;
    bool s3_ssl_validate;
    char *s3_ims_bucket;
    char *s3_boot_images_bucket;
    int64_t s3_url_expiration;
    int64_t s3_connect_timeout;
    int64_t s3_read_timeout;
    int64_t s3_part_size;
    /* IMS: jobs and remote build nodes */
    char *ims_job_namespace;
    int64_t ims_image_size;
    int64_t ims_job_mem_size;
    bool ims_job_enable_dkms;
    char *ims_shasta_domain;
    char *ims_customer_access_subnet;
    char *ims_ssh_key;
    char *ims_ssh_known_hosts;
    int64_t ims_ssh_port;
    int64_t ims_ssh_timeout;

    /* not settings: where values came from and what was noticed while loading */
    char *config_file;     /* the file that was read, or NULL */
    char *ims_import_dir;  /* the DIR of "ims-import DIR" */
    char **warnings;       /* NULL-terminated; one line each */
    unsigned char *source; /* per setting: an imgd_config_source */
} imgd_config;

typedef enum imgd_config_source {
    IMGD_CONFIG_DEFAULT = 0,
    IMGD_CONFIG_FILE,
    IMGD_CONFIG_ENV,
    IMGD_CONFIG_FLAG,
} imgd_config_source;

/* What the command line asked for besides settings. */
typedef enum imgd_config_mode {
    IMGD_MODE_RUN = 0,
    IMGD_MODE_PRINT_CONFIG,
    IMGD_MODE_VERSION,
    IMGD_MODE_HELP,
    IMGD_MODE_LIST_ROUTES,
    IMGD_MODE_IMS_IMPORT, /* "ims-import DIR": import an IMS data directory, then exit */
} imgd_config_mode;

/* Fill *cfg with the built-in defaults. Returns 0 or -ENOMEM. Dispose with imgd_config_dispose. */
int imgd_config_init(imgd_config *cfg, imgd_error **err);

/* Free everything *cfg owns; accepts a zeroed struct. */
void imgd_config_dispose(imgd_config *cfg);

/* Apply a parsed config document (either seed layout or imgd's own flat keys). base_dir, when not
 * NULL, resolves relative paths. Unknown keys add warnings. Returns 0 or -EINVAL naming the key,
 * the value and what is allowed. */
int imgd_config_apply_json(imgd_config *cfg, const json_t *doc, const char *base_dir,
                           imgd_error **err);

/* Read and apply a JSON config file (at most 1 MiB). */
int imgd_config_apply_file(imgd_config *cfg, const char *path, imgd_error **err);

/* Apply IMGD_<NAME> for every setting and the legacy MAX_WORKERS, DEBUG and REQUEST_TIMEOUT from
 * envp (NULL-terminated "K=V" strings). IMGD_<NAME> wins over a legacy name. */
int imgd_config_apply_env(imgd_config *cfg, char *const *envp, imgd_error **err);

/* Parse the whole command line and apply it with the full precedence: defaults, then the config
 * file (--config, else IMGD_CONFIG, else /etc/imgd/config.json when present; "none" reads no
 * file), then envp, then the flags. Every setting is a flag --name-with-dashes VALUE (and
 * --name=VALUE); --listen is repeatable. Fills *out_mode. Returns 0 or -EINVAL. */
int imgd_config_load(imgd_config *cfg, imgd_config_mode *out_mode, int argc, char *const *argv,
                     char *const *envp, imgd_error **err);

/* Derive dependent values (listen from host/port, the socket path from run_dir, max_workers from
 * the core count, debug implying DEBUG) and check cross-setting rules, including the refusal to
 * listen on a non-loopback address without tokens or client certificates. Returns 0 or -EINVAL
 * with the reason. */
int imgd_config_finalize(imgd_config *cfg, imgd_error **err);

/* The effective config as a JSON object, secrets replaced by "<redacted>" when set. New
 * reference, or NULL on allocation failure. */
json_t *imgd_config_to_json(const imgd_config *cfg);

/* Write the --help text for every setting to f. */
void imgd_config_print_help(FILE *f, const char *argv0);

/* Parse "host:port" or "[v6]:port". Fills a NUL-terminated host (without brackets) of at most
 * host_len bytes and *out_port. Returns 0 or -EINVAL. Pure. */
int imgd_config_parse_listen(char *host, size_t host_len, uint16_t *out_port, const char *addr);

/* True when host is a loopback literal (127.0.0.0/8, ::1) or "localhost". */
bool imgd_config_host_is_loopback(const char *host);
