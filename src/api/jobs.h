/* SPDX-License-Identifier: MIT */
/* Server internals: long operations (imgd_job) on threads of their own while their connection
 * is suspended, so that no event-loop thread waits. A job is shared by its thread and its
 * connection and freed when both are done with it. Not for faces: they use imgd_resp_job. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

typedef struct job_list job_list;

job_list *job_list_new(void);

/* Cancel every job, resume every suspended connection (MHD must not be stopped with one), and
 * wait at most timeout_usec for the job threads to return. True when all did. */
bool job_list_shutdown(job_list *jobs, uint64_t timeout_usec);

/* Free the list; call after job_list_shutdown and MHD_stop_daemon. */
void job_list_free(job_list *jobs);

/* Start spec for the request on conn (called from the access handler). A streaming job gives a
 * response to queue at once in *stream_response; otherwise the connection is suspended until the
 * job ends and *stream_response is NULL. spec->arg is owned by the job from here on. */
int job_start(imgd_job **out, job_list *jobs, const imgd_job_spec *spec,
              struct MHD_Connection *conn, const char *request_id,
              struct MHD_Response **stream_response);

/* After the connection is resumed: true when the job ended (result ready) or was cancelled. */
bool job_ready(imgd_job *job);

/* Move the result of an ended job: its return value, response and error. */
int job_result(imgd_job *job, imgd_response *resp, imgd_error **err);

/* The request is over (the client got its answer or went away): the job no longer touches the
 * connection. Drops the connection's reference. */
void job_detach(imgd_job *job);
