/* SPDX-License-Identifier: MIT */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#define STREAM_BLOCK (32 * 1024)

struct imgd_job {
    job_list *list;
    imgd_job *next; /* in list, under list->lock */
    pthread_mutex_t lock;
    int refs;                    /* the thread, the connection, the stream response */
    struct MHD_Connection *conn; /* NULL once detached */
    bool suspended;
    bool finished;
    bool cancelled;
    imgd_job_spec spec;
    imgd_buf out; /* streamed bytes not yet sent */
    size_t out_pos;
    imgd_response result;
    imgd_error *err;
    int rc;
    char request_id[129];
};

struct job_list {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    imgd_job *head;
    unsigned running; /* threads not yet returned */
    bool stopping;
};

job_list *job_list_new(void)
{
    job_list *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    return l;
}

void job_list_free(job_list *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_destroy(&jobs->lock);
    pthread_cond_destroy(&jobs->changed);
    free(jobs);
}

static void job_unref(imgd_job *job)
{
    pthread_mutex_lock(&job->lock);
    bool last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    if (!last)
        return;
    job_list *l = job->list;
    pthread_mutex_lock(&l->lock);
    for (imgd_job **p = &l->head; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            break;
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (job->spec.free_arg)
        job->spec.free_arg(job->spec.arg);
    imgd_buf_dispose(&job->out);
    imgd_resp_dispose(&job->result);
    imgd_error_free(job->err);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

/* With job->lock held: let MHD serve the connection again. */
static void wake_locked(imgd_job *job)
{
    if (job->conn && job->suspended) {
        job->suspended = false;
        MHD_resume_connection(job->conn);
    }
}

int imgd_job_write(imgd_job *job, const void *data, size_t len)
{
    pthread_mutex_lock(&job->lock);
    int r = job->conn ? imgd_buf_append(&job->out, data, len) : -EPIPE;
    if (r == 0)
        wake_locked(job);
    pthread_mutex_unlock(&job->lock);
    return r;
}

bool imgd_job_cancelled(const imgd_job *job)
{
    return __atomic_load_n(&job->cancelled, __ATOMIC_RELAXED);
}

static void *job_thread(void *arg)
{
    imgd_job *job = arg;
    imgd_log_set_request_id(job->request_id);
    imgd_error *err = NULL;
    imgd_response result;
    memset(&result, 0, sizeof(result));
    int rc = job->spec.fn(job->spec.arg, job, &result, &err);
    if (rc < 0 && job->spec.stream)
        log_info("job ended: %s", err ? err->message : "failed");
    pthread_mutex_lock(&job->lock);
    job->rc = rc;
    job->result = result;
    job->err = err;
    job->finished = true;
    wake_locked(job);
    pthread_mutex_unlock(&job->lock);
    imgd_log_set_request_id(NULL);
    job_list *l = job->list;
    job_unref(job);
    pthread_mutex_lock(&l->lock);
    l->running--;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* MHD asks for the next bytes of a streamed answer. No bytes yet: suspend until the job writes
 * (returning 0 without suspending would make MHD poll in a busy loop). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    imgd_job *job = cls;
    ssize_t n;
    pthread_mutex_lock(&job->lock);
    size_t avail = job->out.len - job->out_pos;
    if (avail) {
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, job->out.data + job->out_pos, (size_t)n);
        job->out_pos += (size_t)n;
        if (job->out_pos == job->out.len)
            job->out.len = job->out_pos = 0; /* keep the allocation for the next lines */
    } else if (job->finished) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (job->cancelled || !job->conn) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        job->suspended = true;
        MHD_suspend_connection(job->conn);
        n = 0;
    }
    pthread_mutex_unlock(&job->lock);
    return n;
}

static void stream_done(void *cls)
{
    job_unref(cls);
}

int job_start(imgd_job **out, job_list *jobs, const imgd_job_spec *spec,
              struct MHD_Connection *conn, const char *request_id,
              struct MHD_Response **stream_response)
{
    *stream_response = NULL;
    imgd_job *job = calloc(1, sizeof(*job));
    if (!job) {
        if (spec->free_arg)
            spec->free_arg(spec->arg);
        return -ENOMEM;
    }
    pthread_mutex_init(&job->lock, NULL);
    job->list = jobs;
    job->spec = *spec;
    job->conn = conn;
    job->refs = 2; /* thread + connection */
    snprintf(job->request_id, sizeof(job->request_id), "%s", request_id);
    if (spec->stream) {
        *stream_response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                             stream_reader, job, stream_done);
        if (!*stream_response) {
            job->refs = 1;
            job_unref(job);
            return -ENOMEM;
        }
        job->refs++;
    } else {
        job->suspended = true;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_lock(&jobs->lock);
    job->next = jobs->head;
    jobs->head = job;
    jobs->running++;
    pthread_mutex_unlock(&jobs->lock);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, job_thread, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* no thread: finish the job here as failed */
        pthread_mutex_lock(&jobs->lock);
        jobs->running--;
        pthread_mutex_unlock(&jobs->lock);
        pthread_mutex_lock(&job->lock);
        job->rc = imgd_error_set(&job->err, rc, "cannot start a thread for the job");
        job->finished = true;
        wake_locked(job);
        pthread_mutex_unlock(&job->lock);
        job_unref(job);
    }
    *out = job;
    return 0;
}

bool job_ready(imgd_job *job)
{
    pthread_mutex_lock(&job->lock);
    bool ready = job->finished || job->cancelled;
    if (!ready) { /* woken too early: wait again */
        job->suspended = true;
        MHD_suspend_connection(job->conn);
    }
    pthread_mutex_unlock(&job->lock);
    return ready;
}

int job_result(imgd_job *job, imgd_response *resp, imgd_error **err)
{
    pthread_mutex_lock(&job->lock);
    int rc;
    if (!job->finished) {
        rc = imgd_error_set(err, ECANCELED, "imgd is stopping; the operation was abandoned");
    } else {
        rc = job->rc;
        imgd_resp_dispose(resp);
        *resp = job->result;
        memset(&job->result, 0, sizeof(job->result));
        if (err && !*err) {
            *err = job->err;
            job->err = NULL;
        }
    }
    pthread_mutex_unlock(&job->lock);
    return rc;
}

void job_detach(imgd_job *job)
{
    pthread_mutex_lock(&job->lock);
    job->conn = NULL;
    job->suspended = false;
    pthread_mutex_unlock(&job->lock);
    job_unref(job);
}

bool job_list_shutdown(job_list *jobs, uint64_t timeout_usec)
{
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = true;
    for (imgd_job *j = jobs->head; j; j = j->next) {
        pthread_mutex_lock(&j->lock);
        __atomic_store_n(&j->cancelled, true, __ATOMIC_RELAXED);
        wake_locked(j);
        pthread_mutex_unlock(&j->lock);
    }
    uint64_t deadline = imgd_now_realtime_usec() + timeout_usec;
    struct timespec ts = {(time_t)(deadline / 1000000u), (long)(deadline % 1000000u) * 1000};
    while (jobs->running > 0) {
        if (pthread_cond_timedwait(&jobs->changed, &jobs->lock, &ts) == ETIMEDOUT)
            break;
    }
    bool idle = jobs->running == 0;
    pthread_mutex_unlock(&jobs->lock);
    return idle;
}
