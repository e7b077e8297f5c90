/* SPDX-License-Identifier: MIT */
/* IMS face: job records (/v2/jobs, /v3/jobs, /apis/ims/jobs; the same in every version). A job
 * is validated, its artifact and public key checked and its derived fields filled as IMS does;
 * running it is not this module's work. DELETE on the collection takes the filters status
 * (repeatable), job_type and age ("1w", "3d", "6h", "30m", combined as "1d6h"). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims-private.h"
#include "ims.h"
#include "ims_nodes.h"
#include "util/cleanup.h"
#include "util/timeutil.h"

static const char DETAIL_TAIL[] = "Determine the specific information that is missing or "
                                  "invalid and then re-run the request with valid information.";

static const char *const job_types[] = {"create", "customize", NULL};
static const char *const job_statuses[] = {"creating",        "fetching_image",
                                           "fetching_recipe", "waiting_for_repos",
                                           "building_image",  "packaging_artifacts",
                                           "waiting_on_user", "error",
                                           "success",         NULL};

static const ims_field ssh_container_fields[] = {
    {.name = "name", .type = IMS_STR},
    {.name = "jail", .type = IMS_BOOL},
};
static const ims_schema ssh_container_schema = IMS_SCHEMA(ssh_container_fields);

static const ims_field job_fields[] = {
    {.name = "job_type",
     .type = IMS_STR,
     .required = true,
     .choices = job_types,
     .choice_msg = "Job type must be one of: %s."},
    {.name = "artifact_id", .type = IMS_UUID, .required = true},
    {.name = "public_key_id", .type = IMS_UUID, .required = true},
    {.name = "image_root_archive_name",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "image_root_archive_name field must not be blank"},
    {.name = "enable_debug", .type = IMS_BOOL},
    {.name = "build_env_size",
     .type = IMS_INT,
     .has_min = true,
     .min = 1,
     .min_msg = "build_env_size must be greater than or equal to 1"},
    {.name = "job_mem_size",
     .type = IMS_INT,
     .has_min = true,
     .min = 1,
     .min_msg = "job_mem_size must be greater than or equal to 1"},
    {.name = "kernel_file_name", .type = IMS_STR},
    {.name = "initrd_file_name",
     .type = IMS_STR,
     .blank_msg = "initrd_file_name field must not be blank"},
    {.name = "kernel_parameters_file_name",
     .type = IMS_STR,
     .blank_msg = "kernel_parameters_file_name field must not be blank"},
    {.name = "ssh_containers", .type = IMS_LIST, .nullable = true, .nested = &ssh_container_schema},
    {.name = "require_dkms", .type = IMS_BOOL},
};
static const ims_schema job_schema = IMS_SCHEMA(job_fields);

static const ims_field job_patch_fields[] = {
    {.name = "status",
     .type = IMS_STR,
     .choices = job_statuses,
     .choice_msg = "Job state must be one of: %s."},
    {.name = "resultant_image_id", .type = IMS_UUID},
};
static const ims_schema job_patch_schema = IMS_SCHEMA(job_patch_fields);

static int bad_request(imgd_response *resp, const char *fmt, const char *arg)
{
    char detail[1200];
    snprintf(detail, sizeof detail, fmt, arg, DETAIL_TAIL);
    int r = ims_problem(resp, 400, NULL, detail, NULL);
    return r < 0 ? r : 1;
}

/* ---- GET ---- */

int ims_jobs_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_collection(req, resp, IMGD_IMS_JOB, false, err);
}

int ims_jobs_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_one(req, resp, IMGD_IMS_JOB, false, imgd_req_param(req, "id"), err);
}

/* ---- POST ---- */

/* The artifact of a job: the recipe (create) or image (customize), with a link that is there;
 * for customize, a manifest with one rootfs that is there. 0 with *artifact, or 1 answered. */
static int job_artifact(imgd_request *req, imgd_response *resp, bool create, const char *id,
                        json_t **artifact)
{
    const char *noun = create ? "recipe" : "image";
    imgd_ims_record rec = {0};
    int r = imgd_ims_get(req->ctx->db, create ? IMGD_IMS_RECIPE : IMGD_IMS_IMAGE, false, id, &rec,
                         NULL);
    if (r == -ENOENT) {
        char fmt[300];
        snprintf(fmt, sizeof fmt,
                 "Invalid artifact_id value in job request. No IMS %s record found matching "
                 "id=%%s. %%s",
                 noun);
        return bad_request(resp, fmt, id);
    }
    if (r < 0)
        return r;
    json_t *link = json_object_get(rec.body, "link");
    if (!json_is_object(link)) {
        char fmt[300];
        snprintf(fmt, sizeof fmt,
                 "The IMS %s does not have an artifact_link for %s_id=%%s. Please %%s", noun, noun);
        imgd_ims_record_dispose(&rec);
        return bad_request(resp, fmt, id);
    }
    imgd_artifact_info info;
    r = ims_validate_artifact(req, resp, link, &info);
    json_t *manifest = NULL;
    if (r == 0 && !create)
        r = ims_read_manifest(req, resp, link, &manifest);
    if (r == 0 && !create) {
        const char *version = json_string_value(json_object_get(manifest, "version"));
        size_t i, n = 0;
        json_t *a, *rootfs = NULL;
        json_array_foreach (json_object_get(manifest, "artifacts"), i, a) {
            const char *t = json_string_value(json_object_get(a, "type"));
            if (t && !strncmp(t, "application/vnd.cray.image.rootfs.squashfs", 42)) {
                rootfs = a;
                n++;
            }
        }
        if (!version || strcmp(version, "1.0") != 0)
            r = bad_request(resp,
                            "The manifest.json file is corrupt or invalid for IMS image_id=%s. "
                            "Could not determine the manifest version or manifest version is "
                            "unsupported. %s",
                            id);
        else if (n == 0)
            r = bad_request(resp,
                            "Error reading the manifest.json for IMS image_id=%s. The manifest "
                            "does not include any rootfs artifacts. %s",
                            id);
        else if (n > 1)
            r = bad_request(resp,
                            "Error reading the manifest.json for IMS image_id=%s. The manifest "
                            "includes multiple rootfs artifacts. %s",
                            id);
        else if (!json_is_object(json_object_get(rootfs, "link")))
            r = bad_request(resp,
                            "The rootfs referenced in the manifest.json for ims_image_id=%s does "
                            "not have a artifact link. Please %s",
                            id);
        else
            r = ims_validate_artifact(req, resp, json_object_get(rootfs, "link"), &info);
    }
    json_decref(manifest);
    if (r == 0)
        *artifact = json_incref(rec.body);
    imgd_ims_record_dispose(&rec);
    return r;
}

static json_t *connection_info(const imgd_config *cfg, const char *id, const char *service,
                               const char *ns)
{
    char ca[400], local[400];
    snprintf(ca, sizeof ca, "%s.ims.%s.%s", id, cfg->ims_customer_access_subnet,
             cfg->ims_shasta_domain);
    snprintf(local, sizeof local, "%s.%s.svc.cluster.local", service, ns);
    return json_pack("{s:{s:s, s:i}, s:{s:s, s:i}}", "customer_access", "host", ca, "port", 22,
                     "cluster.local", "host", local, "port", 22);
}

static json_t *build_job(const imgd_config *cfg, const json_t *in, const json_t *artifact,
                         const char *node)
{
    char id[37], created[40], name[120], service[120], configmap[120], pvc[120];
    ims_uuid4(id);
    (void)ims_now(created);
    const char *type = json_string_value(json_object_get(in, "job_type"));
    bool create = type && !strcmp(type, "create");
    const char *arch = json_string_value(json_object_get(artifact, "arch"));
    if (!arch)
        arch = "x86_64";
    bool aarch64 = !strcmp(arch, "aarch64");
    snprintf(name, sizeof name, "cray-ims-%s-%s", id, create ? "create" : "customize");
    snprintf(service, sizeof service, "cray-ims-%s-service", id);
    snprintf(configmap, sizeof configmap, "cray-ims-%s-configmap", id);
    snprintf(pvc, sizeof pvc, "cray-ims-%s-job-claim", id);
    json_t *dkms = json_object_get(in, "require_dkms");
    bool require_dkms;
    if (aarch64)
        require_dkms = true;
    else if (dkms)
        require_dkms = json_is_true(dkms);
    else if (create)
        require_dkms = !json_is_false(json_object_get(artifact, "require_dkms"));
    else
        require_dkms = cfg->ims_job_enable_dkms;
    bool debug = json_is_true(json_object_get(in, "enable_debug"));
    json_t *ssh = json_object_get(in, "ssh_containers");
    json_t *containers = NULL;
    if (json_array_size(ssh))
        containers = json_deep_copy(ssh);
    else if (!create)
        containers = json_pack("[{s:s, s:b}]", "name", "customize", "jail", 0);
    else if (debug)
        containers = json_pack("[{s:s, s:b}]", "name", "debug", "jail", 0);
    json_t *first = json_array_get(containers, 0);
    if (first) {
        if (!json_object_get(first, "jail"))
            json_object_set_new(first, "jail", json_false());
        json_object_set_new(first, "status", json_string("pending"));
        json_object_set_new(first, "connection_info",
                            connection_info(cfg, id, service, cfg->ims_job_namespace));
    }
    const char *kernel = json_string_value(json_object_get(in, "kernel_file_name"));
    const char *initrd = json_string_value(json_object_get(in, "initrd_file_name"));
    const char *params = json_string_value(json_object_get(in, "kernel_parameters_file_name"));
    json_t *size = json_object_get(in, "build_env_size");
    json_t *mem = json_object_get(in, "job_mem_size");
    return json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:b, s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:n, s:s, s:b,"
        " s:s, s:s, s:s, s:s, s:s, s:n, s:s}",
        "id", id, "created", created, "job_type", json_object_get(in, "job_type"), "artifact_id",
        json_object_get(in, "artifact_id"), "public_key_id", json_object_get(in, "public_key_id"),
        "image_root_archive_name", json_object_get(in, "image_root_archive_name"), "enable_debug",
        debug, "build_env_size",
        (json_int_t)(size ? json_integer_value(size) : cfg->ims_image_size), "job_mem_size",
        (json_int_t)(mem ? json_integer_value(mem) : cfg->ims_job_mem_size), "kernel_file_name",
        kernel && *kernel ? kernel
        : aarch64         ? "Image"
                          : "vmlinuz",
        "initrd_file_name", initrd ? initrd : "initrd", "kernel_parameters_file_name",
        params ? params : "kernel-parameters", "ssh_containers",
        containers ? containers : json_null(), "status", "creating", "resultant_image_id", "arch",
        arch, "require_dkms", require_dkms, "kubernetes_job", name, "kubernetes_service", service,
        "kubernetes_configmap", configmap, "kubernetes_namespace", cfg->ims_job_namespace,
        "kubernetes_pvc", pvc, "kubernetes_secret", "remote_build_node", node ? node : "");
}

int ims_jobs_post(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = ims_read_body(req, resp, &in);
    if (r != 0)
        return r < 0 ? r : 0;
    json_t *errors = json_object();
    json_t *job = ims_schema_load(&job_schema, in, errors);
    json_decref(in);
    if (json_object_size(errors) || !job) {
        json_decref(job);
        return ims_problem(resp, 422, NULL, IMS_DETAIL_INVALID, errors);
    }
    json_decref(errors);
    const char *type = json_string_value(json_object_get(job, "job_type"));
    bool create = type && !strcmp(type, "create");
    size_t n_ssh = json_array_size(json_object_get(job, "ssh_containers"));
    json_t *artifact = NULL;
    if (create && n_ssh)
        r = ims_problem(resp, 400, NULL,
                        "User defined ssh containers during image create are not currently "
                        "supported. Determine the specific information that is missing or "
                        "invalid and then re-run the request with valid information.",
                        NULL);
    else if (n_ssh > 1)
        r = ims_problem(resp, 400, NULL,
                        "Only one SSH container is currently supported. Please remove additional "
                        "containers, determine the specific information that is missing or "
                        "invalid and then re-run the request with valid information.",
                        NULL);
    if (r == 0 && ((create && n_ssh) || n_ssh > 1))
        r = 1;
    if (r == 0)
        r = job_artifact(req, resp, create, json_string_value(json_object_get(job, "artifact_id")),
                         &artifact);
    const char *key_id = json_string_value(json_object_get(job, "public_key_id"));
    imgd_ims_record key = {0};
    if (r == 0) {
        r = imgd_ims_get(req->ctx->db, IMGD_IMS_PUBLIC_KEY, false, key_id, &key, NULL);
        if (r == -ENOENT) {
            char detail[400];
            snprintf(detail, sizeof detail,
                     "Invalid public_key_id value in job request. No IMS public-key record "
                     "found matching id=%s",
                     key_id);
            r = ims_problem(resp, 400, NULL, detail, NULL);
            r = r < 0 ? r : 1;
        }
        imgd_ims_record_dispose(&key);
    }
    _cleanup_free_ char *node = NULL;
    if (r == 0)
        r = ims_nodes_choose(req->ctx, json_string_value(json_object_get(artifact, "arch")), &node,
                             err);
    json_t *rec = r == 0 ? build_job(req->ctx->cfg, job, artifact, node) : NULL;
    json_decref(artifact);
    json_decref(job);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!rec)
        return imgd_error_set(err, ENOMEM, "out of memory");
    imgd_error *own = NULL;
    r = imgd_ims_insert(req->ctx->db, IMGD_IMS_JOB, json_string_value(json_object_get(rec, "id")),
                        imgd_now_realtime_usec(), false, rec, false, NULL, &own);
    if (r == 0) {
        r = ims_send_record(resp, 201, rec);
    } else {
        r = ims_store_failed(resp, r, err, own);
    }
    json_decref(rec);
    return r;
}

/* ---- PATCH ---- */

int ims_jobs_patch(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const char *id = imgd_req_param(req, "id");
    imgd_ims_record rec = {0};
    imgd_error *own = NULL;
    int r = imgd_ims_get(req->ctx->db, IMGD_IMS_JOB, false, id, &rec, &own);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    json_t *in = NULL;
    r = ims_read_body(req, resp, &in);
    json_t *errors = json_object();
    json_t *patch = r == 0 ? ims_schema_load(&job_patch_schema, in, errors) : NULL;
    json_decref(in);
    if (r == 0 && (json_object_size(errors) || !patch)) {
        r = ims_problem(resp, 422, NULL, IMS_DETAIL_INVALID, json_incref(errors));
        r = r < 0 ? r : 1;
    }
    for (int tries = 0; r == 0; tries++) {
        json_t *body = json_deep_copy(rec.body);
        json_object_update(body, patch);
        r = imgd_ims_update(req->ctx->db, IMGD_IMS_JOB, &rec, false, body, NULL, &own);
        if (r == 0) {
            r = ims_send_record(resp, 200, body);
        }
        json_decref(body);
        if (r == -ESTALE && tries < IMS_CAS_TRIES) {
            imgd_error_free(own);
            own = NULL;
            imgd_ims_record_dispose(&rec);
            r = imgd_ims_get(req->ctx->db, IMGD_IMS_JOB, false, id, &rec, &own);
            if (r == 0)
                continue;
        }
        if (r < 0)
            r = ims_store_failed(resp, r, err, own);
        break;
    }
    json_decref(errors);
    json_decref(patch);
    imgd_ims_record_dispose(&rec);
    return r < 0 ? r : 0;
}

/* ---- DELETE ---- */

int ims_jobs_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_error *own = NULL;
    int r =
        imgd_ims_remove(req->ctx->db, IMGD_IMS_JOB, false, imgd_req_param(req, "id"), NULL, &own);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    return imgd_resp_text(resp, 204, NULL, "", 0);
}

static int unsupported(imgd_response *resp, const char *what, const char *value)
{
    char title[600];
    snprintf(title, sizeof title,
             "Unsupported %s %.200s in query parameters. Determine the specific information that "
             "is missing or invalid and then re-run the request with valid information.",
             what, value);
    return ims_problem(resp, 400, title, NULL, NULL);
}

int ims_jobs_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const char *statuses[32];
    size_t n_status = imgd_req_query_all(req, "status", statuses, 32);
    if (n_status > 32)
        return unsupported(resp, "status", "(more than 32 values)");
    char lower[32][32];
    for (size_t i = 0; i < n_status; i++) {
        size_t j = 0;
        for (; statuses[i][j] && j < sizeof lower[i] - 1; j++)
            lower[i][j] = (char)tolower((unsigned char)statuses[i][j]);
        lower[i][j] = '\0';
        bool ok = false;
        for (const char *const *s = job_statuses; *s && !ok; s++)
            ok = !strcmp(*s, lower[i]) && !statuses[i][j];
        if (!ok)
            return unsupported(resp, "status", statuses[i]);
    }
    const char *type = imgd_req_query(req, "job_type");
    if (type && *type && strcmp(type, "create") != 0 && strcmp(type, "customize") != 0)
        return unsupported(resp, "job_type", type);
    const char *age = imgd_req_query(req, "age");
    int64_t age_s = age ? ims_parse_age(age) : 0;
    if (age_s < 0)
        return unsupported(resp, "age", age);
    uint64_t before = imgd_now_realtime_usec() - (uint64_t)age_s * 1000000u;
    imgd_ims_record *v = NULL;
    size_t n = 0;
    imgd_error *own = NULL;
    int r = imgd_ims_list(req->ctx->db, IMGD_IMS_JOB, false, &v, &n, &own);
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *st = json_string_value(json_object_get(v[i].body, "status"));
        const char *jt = json_string_value(json_object_get(v[i].body, "job_type"));
        bool match = n_status == 0;
        for (size_t k = 0; k < n_status && !match; k++)
            match = st && !strcmp(st, lower[k]);
        if (!match || (type && *type && (!jt || strcmp(jt, type) != 0)))
            continue;
        if (age && v[i].created_usec >= before)
            continue;
        r = imgd_ims_remove(req->ctx->db, IMGD_IMS_JOB, false, v[i].id, NULL, &own);
        if (r == -ENOENT) {
            imgd_error_free(own);
            own = NULL;
            r = 0;
        }
    }
    imgd_ims_records_free(v, n);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    return imgd_resp_text(resp, 204, NULL, "", 0);
}
