/* SPDX-License-Identifier: MIT */
/* imgd: load the config, open the state, serve until SIGTERM/SIGINT, drain, exit 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "api/inventory.h"
#include "api/metrics.h"
#include "api/router.h"
#include "api/server.h"
#include "core/config/config.h"
#include "core/db/db.h"
#include "core/inventory/local.h"
#include "core/registry/client.h"
#include "api/imageapi.h"
#include "core/artifacts/artifacts.h"
#include "core/ims/import.h"
#include "core/mounts/mounts.h"
#include "core/runtime/runtime.h"
#include "core/store/store.h"
#include "core/system/system.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "version.h"

#define DRAIN_TIMEOUT_USEC (10u * 1000u * 1000u)

enum { EXIT_RUNTIME = 1, EXIT_CONFIG = 2 };

extern char **environ;

static int fail(int code, const char *what, imgd_error *err)
{
    if (imgd_log_enabled(IMGD_LOG_CRITICAL))
        log_critical("%s: %s", what, err ? err->message : "unknown error");
    else
        fprintf(stderr, "imgd: %s: %s\n", what, err ? err->message : "unknown error");
    imgd_error_free(err);
    return code;
}

static int print_config(const imgd_config *cfg)
{
    json_t *o = imgd_config_to_json(cfg);
    size_t len = 0;
    _cleanup_free_ char *text = o ? imgd_json_encode(o, true, &len) : NULL;
    json_decref(o);
    if (!text)
        return EXIT_RUNTIME;
    fwrite(text, 1, len, stdout);
    return 0;
}

static int list_routes(void)
{
    size_t n = 0;
    const imgd_route *routes = imgd_api_routes(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s %s\n", routes[i].method, routes[i].pattern);
    return 0;
}

static int setup_logging(const imgd_config *cfg, imgd_error **err)
{
    imgd_log_set_level((imgd_log_level)cfg->log_level);
    if (!cfg->log_file || !*cfg->log_file)
        return 0;
    return imgd_log_open_file(cfg->log_file, (size_t)cfg->log_max_bytes,
                              (unsigned)cfg->log_backup_count, (imgd_log_level)cfg->log_file_level,
                              err);
}

static int prepare_dirs(const imgd_config *cfg, imgd_error **err)
{
    int r = imgd_mkdir_p(cfg->state_dir, 0700, err);
    if (r == 0)
        r = imgd_dir_check_writable(cfg->state_dir, err);
    if (r < 0)
        return imgd_error_prefix(err, "state directory '%s' is not usable", cfg->state_dir);
    r = imgd_mkdir_p(cfg->run_dir, 0755, err);
    if (r == 0)
        r = imgd_dir_check_writable(cfg->run_dir, err);
    if (r < 0)
        return imgd_error_prefix(err, "run directory '%s' is not usable", cfg->run_dir);
    return 0;
}

/* The registry client, with the auth file: the configured one, else $REGISTRY_AUTH_FILE, else
 * ~/.docker/config.json of the user imgd runs as (as skopeo and podman look). */
static int open_registry(imgd_registry **out, const imgd_config *cfg, imgd_error **err)
{
    _cleanup_free_ char *home_file = NULL;
    const char *auth = cfg->registry_auth_file;
    if (!auth || !*auth)
        auth = getenv("REGISTRY_AUTH_FILE");
    if ((!auth || !*auth) && getenv("HOME") &&
        asprintf(&home_file, "%s/.docker/config.json", getenv("HOME")) >= 0)
        auth = home_file;
    imgd_registry_options opts = {
        .registries = cfg->registries,
        .auth_file = auth,
        .connect_timeout = (long)cfg->registry_timeout,
        .stall_timeout = (long)cfg->registry_timeout,
        .attempts = (unsigned)cfg->registry_retries,
    };
    int r = imgd_registry_new(out, &opts, err);
    return r < 0 ? imgd_error_prefix(err, "registry settings") : 0;
}

typedef struct daemon_state daemon_state;
static int open_inventory(daemon_state *d, imgd_error **err);

/* Serve until SIGTERM or SIGINT; SIGHUP reopens the log file. */
static void wait_for_signals(const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            imgd_error *err = NULL;
            if (imgd_log_reopen(&err) < 0)
                log_error("%s", err->message);
            else
                log_info("log file reopened");
            imgd_error_free(err);
            continue;
        }
        log_info("received %s: draining requests in flight", strsignal(sig));
        return;
    }
}

struct daemon_state {
    imgd_config cfg;
    imgd_db *db;
    imgd_store *store;
    imgd_registry *registry;
    imgd_inventory *inventory;
    imgd_inventory_face *inventory_face;
    imgd_runtime *runtime;
    imgd_mounts *mounts;
    imgd_artifacts *artifacts;
    imgd_system *sys;
    imgd_metrics *metrics;
    imgd_server *server;
    imgd_api_ctx ctx;
};

/* The node inventory: its local sources and the face's ignore list. */
static int open_inventory(daemon_state *d, imgd_error **err)
{
    const imgd_config *cfg = &d->cfg;
    bool sources = cfg->inventory_sources && cfg->inventory_sources[0];
    imgd_inventory_options o = {
        .store = d->store,
        .cri_endpoint = cfg->cri_endpoint,
        .cri_timeout_ms = (long)cfg->cri_timeout * 1000,
        .sources = sources ? cfg->inventory_sources : NULL,
    };
    int r = imgd_inventory_new(&d->inventory, &o, err);
    if (r < 0)
        return imgd_error_prefix(err, "inventory");
    d->inventory_face = imgd_inventory_face_new(cfg->ignore_file);
    if (!d->inventory_face)
        return imgd_error_set(err, ENOMEM, "out of memory");
    const char *source = NULL;
    const char *endpoint = imgd_inventory_cri_endpoint(d->inventory, &source);
    log_info("inventory: CRI runtime at %s (%s)", endpoint, source);
    return 0;
}

/* The container runtime layer. A missing runtime binary is not fatal: images and the other
 * faces work, and health says what is missing. */
static int open_runtime(daemon_state *d, imgd_error **err)
{
    int r = imgd_runtime_new(&d->runtime, &d->cfg, d->db, d->store, err);
    if (r < 0)
        return imgd_error_prefix(err, "containers");
    char detail[256];
    if (imgd_runtime_check(d->runtime, detail, sizeof detail))
        log_info("containers: %s", detail);
    else
        log_warning("containers: %s", detail);
    return 0;
}

static void daemon_dispose(daemon_state *d)
{
    imgd_server_free(d->server);
    imgd_metrics_free(d->metrics);
    imgd_system_free(d->sys);
    imgd_inventory_face_free(d->inventory_face);
    imgd_inventory_free(d->inventory);
    imgd_runtime_free(d->runtime);
    imgd_mounts_free(d->mounts);
    imgd_artifacts_free(d->artifacts);
    imgd_registry_free(d->registry);
    imgd_store_free(d->store);
    imgd_db_free(d->db);
    imgd_config_dispose(&d->cfg);
    imgd_log_close();
}

static int run(daemon_state *d, const sigset_t *signals)
{
    imgd_error *err = NULL;
    const imgd_config *cfg = &d->cfg;
    if (setup_logging(cfg, &err) < 0)
        return fail(EXIT_RUNTIME, "logging", err);
    for (char **w = cfg->warnings; w && *w; w++)
        log_warning("config: %s", *w);
    if (prepare_dirs(cfg, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    _cleanup_free_ char *db_path = NULL;
    if (asprintf(&db_path, "%s/imgd.db", cfg->state_dir) < 0)
        return EXIT_RUNTIME;
    if (imgd_db_open(&d->db, db_path, &err) < 0 ||
        imgd_store_open(&d->store, cfg->state_dir, d->db, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    if (open_registry(&d->registry, cfg, &err) < 0 || open_inventory(d, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    if (open_runtime(d, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    if (imgd_mounts_new(&d->mounts, cfg, d->db, d->store, &err) < 0)
        return fail(EXIT_RUNTIME, "startup: boot-image mounts", err);
    imgd_runtime_on_removed(d->runtime, imageapi_container_removed, d->mounts);
    if (imgd_artifacts_open(&d->artifacts, cfg, d->db, &err) < 0)
        return fail(EXIT_RUNTIME, "startup: IMS artifacts", err);
    size_t n_routes = 0;
    const imgd_route *routes = imgd_api_routes(&n_routes);
    d->metrics = imgd_metrics_new(routes, n_routes);
    if (!d->metrics || imgd_system_new(&d->sys, cfg, d->db, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    d->ctx = (imgd_api_ctx){
        .cfg = cfg,
        .db = d->db,
        .sys = d->sys,
        .metrics = d->metrics,
        .store = d->store,
        .registry = d->registry,
        .inventory = d->inventory,
        .inventory_face = d->inventory_face,
        .runtime = d->runtime,
        .mounts = d->mounts,
        .artifacts = d->artifacts,
    };
    if (imgd_server_new(&d->server, &d->ctx, routes, n_routes, &err) < 0)
        return fail(EXIT_RUNTIME, "startup", err);
    for (size_t i = 0; i < imgd_server_listener_count(d->server); i++)
        log_info("listening on %s", imgd_server_listener_name(d->server, i));
    log_info("imgd %s ready (state %s, %lld workers)", IMGD_VERSION, cfg->state_dir,
             (long long)cfg->max_workers);
    sd_notify(0, "READY=1\nSTATUS=serving");

    wait_for_signals(signals);
    sd_notify(0, "STOPPING=1");
    imgd_server_quiesce(d->server);
    if (!imgd_server_wait_idle(d->server, DRAIN_TIMEOUT_USEC))
        log_warning("requests still in flight after %u s: closing them",
                    DRAIN_TIMEOUT_USEC / 1000000u);
    imgd_server_free(d->server);
    d->server = NULL;
    log_info("imgd stopped");
    return 0;
}

/* imgd ims-import DIR: the records of an IMS data directory into the state database (which a
 * running imgd may share: SQLite serialises the two). */
static int ims_import(const imgd_config *cfg)
{
    imgd_error *err = NULL;
    _cleanup_free_ char *db_path = NULL;
    imgd_db *db = NULL;
    if (asprintf(&db_path, "%s/imgd.db", cfg->state_dir) < 0)
        return EXIT_RUNTIME;
    umask(0077);
    if (imgd_mkdir_p(cfg->state_dir, 0700, &err) < 0 || imgd_db_open(&db, db_path, &err) < 0)
        return fail(EXIT_RUNTIME, "ims-import", err);
    imgd_ims_import_report rep;
    int r = imgd_ims_import(db, cfg, cfg->ims_import_dir, &rep, &err);
    imgd_db_free(db);
    if (r < 0) {
        fprintf(stderr, "imgd: ims-import: nothing was imported: %s\n", err->message);
        imgd_error_free(err);
        return EXIT_RUNTIME;
    }
    static const char *const nouns[IMGD_IMS_N_KINDS] = {"public keys", "recipes", "images", "jobs",
                                                        "remote build nodes"};
    printf("imported from %s (%zu files):\n", cfg->ims_import_dir, rep.files);
    for (int k = 0; k < IMGD_IMS_N_KINDS; k++)
        printf("  %-19s %zu (%zu of them deleted)\n", nouns[k], rep.imported[k], rep.deleted[k]);
    if (rep.present)
        printf("  already in imgd    %zu, skipped\n", rep.present);
    return 0;
}

int main(int argc, char **argv)
{
    daemon_state d;
    memset(&d, 0, sizeof(d));
    imgd_error *err = NULL;
    imgd_config_mode mode = IMGD_MODE_RUN;
    if (imgd_config_init(&d.cfg, &err) < 0 ||
        imgd_config_load(&d.cfg, &mode, argc, argv, environ, &err) < 0) {
        imgd_config_dispose(&d.cfg);
        return fail(EXIT_CONFIG, "config", err);
    }
    if (mode == IMGD_MODE_HELP) {
        imgd_config_print_help(stdout, argv[0]);
        imgd_config_dispose(&d.cfg);
        return 0;
    }
    if (mode == IMGD_MODE_VERSION) {
        printf("imgd %s\n", IMGD_VERSION);
        imgd_config_dispose(&d.cfg);
        return 0;
    }
    if (mode == IMGD_MODE_LIST_ROUTES) {
        imgd_config_dispose(&d.cfg);
        return list_routes();
    }
    if (imgd_config_finalize(&d.cfg, &err) < 0) {
        imgd_config_dispose(&d.cfg);
        return fail(EXIT_CONFIG, "config", err);
    }
    if (mode == IMGD_MODE_IMS_IMPORT) {
        int r = ims_import(&d.cfg);
        imgd_config_dispose(&d.cfg);
        return r;
    }
    if (mode == IMGD_MODE_PRINT_CONFIG) {
        for (char **w = d.cfg.warnings; w && *w; w++)
            fprintf(stderr, "imgd: warning: config: %s\n", *w);
        int r = print_config(&d.cfg);
        imgd_config_dispose(&d.cfg);
        return r;
    }

    /* Block the signals in every thread (the server's threads inherit this mask) and take them
     * synchronously in the main thread. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the database and state may hold records only root should read; whatever must be wider
     * (the socket, extracted image files) sets its mode explicitly */
    umask(0077);

    int r = run(&d, &signals);
    daemon_dispose(&d);
    return r;
}
