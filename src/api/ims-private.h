/* SPDX-License-Identifier: MIT */
/* Inside the IMS face: what the record, job and node handlers share. */
#pragma once

#include "core/artifacts/artifacts.h"
#include "core/ims/records.h"
#include "ims_schema.h"

/* Largest image manifest read (IMS's MAX_IMAGE_MANIFEST_SIZE_BYTES): 1 MiB. */
#define IMS_MANIFEST_MAX (1024u * 1024u)

/* How many times a compare-and-swap write is retried before it gives up with 503. */
#define IMS_CAS_TRIES 16

/* The stored text of a record as the answer, taken over (malloc'd; a newline added). */
int ims_send_owned(imgd_response *resp, unsigned status, char *text);

/* A record's body as the answer, encoded as it is stored. */
int ims_send_record(imgd_response *resp, unsigned status, const json_t *body);

/* GET of a collection (its records as a JSON array) and of one record (404 when absent). */
int ims_send_collection(imgd_request *req, imgd_response *resp, imgd_ims_kind kind, bool deleted,
                        imgd_error **err);
int ims_send_one(imgd_request *req, imgd_response *resp, imgd_ims_kind kind, bool deleted,
                 const char *id, imgd_error **err);

/* 404 with IMS's fixed text. */
int ims_not_found(imgd_response *resp);

/* The answer for a failure of the record store (or the artifact store) that is not the client's:
 * 404 for -ENOENT, 409 for -EEXIST, else the error goes up (the face answers 500/503). */
int ims_store_failed(imgd_response *resp, int r, imgd_error **err, imgd_error *own);

/* ArtifactLink as the loaded schema gave it, with etag "" added when absent. Steals nothing. */
json_t *ims_link_normal(const json_t *link);

/* "{'path': '...', 'etag': '...', 'type': 's3'}" as Python prints the link dict. */
void ims_link_repr(char *out, size_t cap, const json_t *link);

/* S3 HEAD of a link: 0 with *info filled, or 1 with a 422 answer made. */
int ims_validate_artifact(imgd_request *req, imgd_response *resp, const json_t *link,
                          imgd_artifact_info *info);

/* Read and check the image manifest a link names (the checks of IMS on POST and PATCH of an
 * image, and of customize jobs). 0 with *manifest, or 1 with the answer made. */
int ims_read_manifest(imgd_request *req, imgd_response *resp, const json_t *link,
                      json_t **manifest);
int ims_validate_manifest(imgd_request *req, imgd_response *resp, const json_t *link);

/* The shared ArtifactLink schema. */
extern const ims_schema ims_artifact_link_schema;
