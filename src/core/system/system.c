/* SPDX-License-Identifier: MIT */
#include "system.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/child.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/timeutil.h"

#define HEALTH_CACHE_USEC 1000000u

struct imgd_system {
    const imgd_config *cfg;
    imgd_db *db;
    uint64_t started_mono;
    uint64_t started_real;
    pthread_mutex_t lock;
    uint64_t checked_at; /* monotonic usec of the cached health; 0 = never */
    bool refreshing;     /* a caller is probing */
    imgd_health cached;  /* under lock */
};

int imgd_system_new(imgd_system **out, const imgd_config *cfg, imgd_db *db, imgd_error **err)
{
    imgd_system *sys = calloc(1, sizeof(*sys));
    if (!sys)
        return imgd_error_set(err, ENOMEM, "out of memory");
    sys->cfg = cfg;
    sys->db = db;
    sys->started_mono = imgd_now_monotonic_usec();
    sys->started_real = imgd_now_realtime_usec();
    pthread_mutex_init(&sys->lock, NULL);
    *out = sys;
    return 0;
}

void imgd_system_free(imgd_system *sys)
{
    if (!sys)
        return;
    pthread_mutex_destroy(&sys->lock);
    free(sys);
}

uint64_t imgd_system_uptime_usec(const imgd_system *sys)
{
    return imgd_now_monotonic_usec() - sys->started_mono;
}

uint64_t imgd_system_started_usec(const imgd_system *sys)
{
    return sys->started_real;
}

static void component_set(imgd_component_state *c, imgd_error *e)
{
    c->ok = e == NULL;
    snprintf(c->detail, sizeof(c->detail), "%s", e ? e->message : "ok");
}

static void probe(imgd_system *sys, imgd_health *h)
{
    memset(h, 0, sizeof(*h));
    _cleanup_error_ imgd_error *db_err = NULL;
    _cleanup_error_ imgd_error *store_err = NULL;
    (void)imgd_db_check(sys->db, &db_err);
    component_set(&h->db, db_err);
    (void)imgd_dir_check_writable(sys->cfg->state_dir, &store_err);
    component_set(&h->store, store_err);
    if (imgd_find_executable(h->runtime_path, sizeof(h->runtime_path), sys->cfg->runtime) == 0) {
        h->runtime.ok = true;
        snprintf(h->runtime.detail, sizeof(h->runtime.detail), "ok");
    } else {
        snprintf(h->runtime.detail, sizeof(h->runtime.detail),
                 "OCI runtime '%s' not found or not executable", sys->cfg->runtime);
    }
    h->healthy = h->db.ok && h->store.ok;
}

void imgd_system_health(imgd_system *sys, imgd_health *out)
{
    /* One caller refreshes a stale result while the others keep answering with the previous
     * one: a probe touches the disk, and health is polled hard by load balancers. Only the very
     * first call, with nothing cached yet, waits for a probe. */
    uint64_t checked = __atomic_load_n(&sys->checked_at, __ATOMIC_ACQUIRE);
    uint64_t now = imgd_now_monotonic_usec();
    bool stale = checked == 0 || now - checked >= HEALTH_CACHE_USEC;
    if (stale && (checked == 0 || !__atomic_exchange_n(&sys->refreshing, true, __ATOMIC_ACQ_REL))) {
        imgd_health fresh;
        probe(sys, &fresh);
        pthread_mutex_lock(&sys->lock);
        sys->cached = fresh;
        __atomic_store_n(&sys->checked_at, imgd_now_monotonic_usec(), __ATOMIC_RELEASE);
        pthread_mutex_unlock(&sys->lock);
        __atomic_store_n(&sys->refreshing, false, __ATOMIC_RELEASE);
        *out = fresh;
        return;
    }
    pthread_mutex_lock(&sys->lock);
    *out = sys->cached;
    pthread_mutex_unlock(&sys->lock);
}

int imgd_system_thread_count(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Threads:", 8) != 0)
            continue;
        char *end = NULL;
        long n = strtol(line + 8, &end, 10);
        return end != line + 8 && n > 0 && n < INT32_MAX ? (int)n : -1;
    }
    return -1;
}
