/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/json.h"

const char *imgd_req_param(const imgd_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_params; i++) {
        if (req->param_name_lens[i] == n && memcmp(req->param_names[i], name, n) == 0)
            return req->param_values[i];
    }
    return NULL;
}

const char *imgd_req_query(const imgd_request *req, const char *key)
{
    return req->lookup ? req->lookup(req->conn, IMGD_LOOKUP_QUERY, key) : NULL;
}

const char *imgd_req_header(const imgd_request *req, const char *key)
{
    return req->lookup ? req->lookup(req->conn, IMGD_LOOKUP_HEADER, key) : NULL;
}

size_t imgd_req_query_all(const imgd_request *req, const char *key, const char **out, size_t max)
{
    return req->lookup_all ? req->lookup_all(req->conn, key, out, max) : 0;
}

int imgd_req_json(const imgd_request *req, json_t **out, imgd_error **err)
{
    unsigned depth = req->ctx && req->ctx->cfg ? (unsigned)req->ctx->cfg->json_max_depth : 64;
    return imgd_json_parse(out, req->body ? req->body : "", req->body ? req->body_len : 0, depth,
                           err);
}

int imgd_resp_json_or_fail(imgd_response *resp, unsigned status, json_t *body, imgd_error **err)
{
    if (!body || imgd_resp_json(resp, status, body, false) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int imgd_resp_json(imgd_response *resp, unsigned status, json_t *body, bool pretty)
{
    size_t len = 0;
    char *text = body ? imgd_json_encode(body, pretty, &len) : NULL;
    json_decref(body);
    if (!text)
        return -ENOMEM;
    free(resp->body);
    resp->body = text;
    resp->body_len = len;
    resp->status = status;
    resp->content_type = "application/json";
    return 0;
}

void imgd_resp_take(imgd_response *resp, unsigned status, const char *content_type, char *body,
                    size_t len)
{
    free(resp->body);
    resp->body = body;
    resp->body_len = len;
    resp->status = status;
    resp->content_type = content_type;
}

int imgd_resp_text(imgd_response *resp, unsigned status, const char *content_type, const char *text,
                   size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(resp->body);
    resp->body = copy;
    resp->body_len = len;
    resp->status = status;
    resp->content_type = content_type;
    return 0;
}

int imgd_resp_header(imgd_response *resp, const char *name, const char *value)
{
    if (resp->n_headers >= IMGD_RESPONSE_MAX_HEADERS)
        return -ENOSPC;
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    resp->headers[resp->n_headers].name = name;
    resp->headers[resp->n_headers].value = copy;
    resp->n_headers++;
    return 0;
}

int imgd_resp_job(imgd_response *resp, const imgd_job_spec *spec)
{
    imgd_job_spec *copy = malloc(sizeof(*copy));
    if (!copy) {
        if (spec->free_arg)
            spec->free_arg(spec->arg);
        return -ENOMEM;
    }
    *copy = *spec;
    free(resp->job);
    resp->job = copy;
    return 0;
}

int imgd_resp_file(imgd_response *resp, unsigned status, const char *content_type, int fd,
                   uint64_t size)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->has_file && resp->file_fd >= 0)
        close(resp->file_fd);
    resp->has_file = true;
    resp->file_fd = fd;
    resp->file_size = size;
    resp->status = status;
    resp->content_type = content_type;
    return 0;
}

void imgd_resp_dispose(imgd_response *resp)
{
    if (resp->has_file && resp->file_fd >= 0)
        close(resp->file_fd);
    if (resp->job && resp->job->free_arg)
        resp->job->free_arg(resp->job->arg); /* a job that never started */
    free(resp->job);
    free(resp->body);
    for (size_t i = 0; i < resp->n_headers; i++)
        free(resp->headers[i].value);
    memset(resp, 0, sizeof(*resp));
}
