/* SPDX-License-Identifier: MIT */
/* The one static route table of imgd. docs/openapi.yaml lists exactly these operations; a test
 * compares the two. */
#include "ims.h"
#include "inventory.h"
#include "imageapi-private.h"
#include "imageapi.h"
#include "native.h"
#include "ops.h"
#include "router.h"

/* Positional like a table should read; the optional stream handler defaults to none. */
#define ROUTE(method, pattern, handler, face, summary)                                             \
    {                                                                                              \
        (method), (pattern), (handler), (face), (summary), NULL                                    \
    }
#define STREAMING_ROUTE(method, pattern, handler, face, summary, stream)                           \
    {                                                                                              \
        (method), (pattern), (handler), (face), (summary), (stream)                                \
    }

static const imgd_route routes[] = {
    /* native face */
    ROUTE("GET", "/api/v1/health", native_health_get, IMGD_FACE_NATIVE,
          "daemon and component health"),
    ROUTE("GET", "/api/v1/metrics", native_metrics_get, IMGD_FACE_NATIVE,
          "uptime and request counters"),
    ROUTE("GET", "/api/v1/version", native_version_get, IMGD_FACE_NATIVE, "imgd version"),
    ROUTE("GET", "/api/v1/system/log-level", native_log_level_get, IMGD_FACE_NATIVE,
          "current log level"),
    ROUTE("PUT", "/api/v1/system/log-level", native_log_level_put, IMGD_FACE_NATIVE,
          "change the log level"),
    ROUTE("GET", "/api/v1/images", native_images_list, IMGD_FACE_NATIVE, "list images"),
    ROUTE("POST", "/api/v1/images/pull", native_images_pull, IMGD_FACE_NATIVE,
          "pull an image from a registry (ndjson progress with Accept: application/x-ndjson)"),
    STREAMING_ROUTE("POST", "/api/v1/images/import", native_images_import, IMGD_FACE_NATIVE,
                    "import an OCI layout, oci-archive or docker-archive (a server path, or the "
                    "archive as the body)",
                    native_images_import_stream),
    ROUTE("POST", "/api/v1/images/prune", native_images_prune, IMGD_FACE_NATIVE,
          "remove unused images, layers and blobs"),
    /* greedy {ref*} routes after the fixed ones: a reference may contain slashes */
    ROUTE("POST", "/api/v1/images/{ref*}/tag", native_images_tag, IMGD_FACE_NATIVE, "tag an image"),
    ROUTE("GET", "/api/v1/images/{ref*}", native_images_inspect, IMGD_FACE_NATIVE,
          "inspect an image"),
    ROUTE("DELETE", "/api/v1/images/{ref*}", native_images_remove, IMGD_FACE_NATIVE,
          "remove an image or one of its names"),
    ROUTE("GET", "/api/v1/containers", native_containers_list, IMGD_FACE_NATIVE,
          "list containers, running and stopped"),
    ROUTE("POST", "/api/v1/containers", native_containers_create, IMGD_FACE_NATIVE,
          "create and start a container"),
    ROUTE("GET", "/api/v1/containers/{name}", native_containers_inspect, IMGD_FACE_NATIVE,
          "inspect a container"),
    ROUTE("DELETE", "/api/v1/containers/{name}", native_containers_remove, IMGD_FACE_NATIVE,
          "remove a container (?force=true kills a running one)"),
    ROUTE("POST", "/api/v1/containers/{name}/start", native_containers_start, IMGD_FACE_NATIVE,
          "start a container"),
    ROUTE("POST", "/api/v1/containers/{name}/stop", native_containers_stop, IMGD_FACE_NATIVE,
          "stop a container (?timeout= seconds before SIGKILL)"),
    ROUTE("GET", "/api/v1/containers/{name}/logs", native_containers_logs, IMGD_FACE_NATIVE,
          "container logs (?tail=, since=, timestamps=, follow=)"),
    ROUTE("POST", "/api/v1/containers/{name}/exec", native_containers_exec, IMGD_FACE_NATIVE,
          "run a command in a running container"),
    ROUTE("POST", "/api/v1/containers/{name}/users", native_containers_user_add, IMGD_FACE_NATIVE,
          "add a user to a container"),
    ROUTE("POST", "/api/v1/containers/{name}/files", native_containers_file_put, IMGD_FACE_NATIVE,
          "write a file in a container"),
    ROUTE("GET", "/api/v1/containers/{name}/files", native_containers_file_get, IMGD_FACE_NATIVE,
          "read a file in a container (?path=)"),
    /* inventory face */
    ROUTE("GET", "/local-images", inventory_local_images, IMGD_FACE_INVENTORY,
          "images on this node, as the crictl service listed them"),
    ROUTE("GET", "/images", inventory_images, IMGD_FACE_INVENTORY,
          "images on this node and in the registry, as the crictl + Harbor service listed them"),
    /* imageapi face, v0.2 generation */
    ROUTE("GET", "/imageapi/v1/attach", imageapi_attach_list, IMGD_FACE_IMAGEAPI,
          "list attachments (?id=, kind=)"),
    ROUTE("POST", "/imageapi/v1/attach", imageapi_attach_create, IMGD_FACE_IMAGEAPI,
          "attach a loop file, block device or RBD image"),
    ROUTE("DELETE", "/imageapi/v1/attach", imageapi_attach_delete, IMGD_FACE_IMAGEAPI,
          "release an attachment (?id=, force=)"),
    ROUTE("GET", "/imageapi/v1/mount", imageapi_mount_list, IMGD_FACE_IMAGEAPI,
          "list mounts (?id=, kind=)"),
    ROUTE("POST", "/imageapi/v1/mount", imageapi_mount_create, IMGD_FACE_IMAGEAPI,
          "mount an attachment, an overlay, a bind, NFS or an OCI image"),
    ROUTE("DELETE", "/imageapi/v1/mount", imageapi_mount_delete, IMGD_FACE_IMAGEAPI,
          "release a mount (?id=, force=)"),
    ROUTE("GET", "/imageapi/v1/container", imageapi_container_list, IMGD_FACE_IMAGEAPI,
          "list system containers (?id=, name=, state=)"),
    ROUTE("POST", "/imageapi/v1/container", imageapi_container_create, IMGD_FACE_IMAGEAPI,
          "create (and start) a system container on a mount"),
    ROUTE("PATCH", "/imageapi/v1/container", imageapi_container_patch, IMGD_FACE_IMAGEAPI,
          "start or stop a system container (?id= or name=, state=running|exited)"),
    ROUTE("DELETE", "/imageapi/v1/container", imageapi_container_delete, IMGD_FACE_IMAGEAPI,
          "remove a system container (?id= or name=, force=)"),
    /* imageapi face, v0.1 generation: the paths at the root, ids per type from 0 */
    ROUTE("GET", "/attach/rbd", legacy_attach_rbd_list, IMGD_FACE_IMAGEAPI,
          "v0.1: RBD attachments"),
    ROUTE("POST", "/attach/rbd", legacy_attach_rbd_create, IMGD_FACE_IMAGEAPI,
          "v0.1: map an RBD image"),
    ROUTE("GET", "/attach/rbd/{id}", legacy_attach_rbd_get, IMGD_FACE_IMAGEAPI,
          "v0.1: one RBD attachment"),
    ROUTE("DELETE", "/attach/rbd/{id}", legacy_attach_rbd_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: unmap an RBD image"),
    ROUTE("GET", "/attach/loopback", legacy_attach_loopback_list, IMGD_FACE_IMAGEAPI,
          "v0.1 style: loopback attachments"),
    ROUTE("POST", "/attach/loopback", legacy_attach_loopback_create, IMGD_FACE_IMAGEAPI,
          "v0.1 style: attach a loop file {path, base, ro}"),
    ROUTE("GET", "/attach/loopback/{id}", legacy_attach_loopback_get, IMGD_FACE_IMAGEAPI,
          "v0.1 style: one loopback attachment"),
    ROUTE("DELETE", "/attach/loopback/{id}", legacy_attach_loopback_delete, IMGD_FACE_IMAGEAPI,
          "v0.1 style: detach a loop file"),
    ROUTE("GET", "/mount", legacy_mount_list, IMGD_FACE_IMAGEAPI, "v0.1: every mount"),
    ROUTE("POST", "/mount", legacy_mount_create, IMGD_FACE_IMAGEAPI,
          "v0.1: mount {kind: rbd|overlay, ...}"),
    ROUTE("DELETE", "/mount", legacy_mount_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: release a mount {mount_id, kind}"),
    ROUTE("GET", "/mount/rbd", legacy_mount_rbd_list, IMGD_FACE_IMAGEAPI,
          "v0.1: filesystems mounted from attachments"),
    ROUTE("POST", "/mount/rbd", legacy_mount_rbd_create, IMGD_FACE_IMAGEAPI,
          "v0.1: mount an attachment's filesystem {rbd_id, fs_type, mount_options}"),
    ROUTE("GET", "/mount/rbd/{id}", legacy_mount_rbd_get, IMGD_FACE_IMAGEAPI,
          "v0.1: one attachment mount"),
    ROUTE("DELETE", "/mount/rbd/{id}", legacy_mount_rbd_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: release an attachment mount"),
    ROUTE("GET", "/mount/overlay", legacy_mount_overlay_list, IMGD_FACE_IMAGEAPI, "v0.1: overlays"),
    ROUTE("POST", "/mount/overlay", legacy_mount_overlay_create, IMGD_FACE_IMAGEAPI,
          "v0.1: overlay {lower: [mount ids]}"),
    ROUTE("GET", "/mount/overlay/{id}", legacy_mount_overlay_get, IMGD_FACE_IMAGEAPI,
          "v0.1: one overlay"),
    ROUTE("DELETE", "/mount/overlay/{id}", legacy_mount_overlay_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: release an overlay"),
    ROUTE("GET", "/container", legacy_container_list, IMGD_FACE_IMAGEAPI, "v0.1: containers"),
    ROUTE("POST", "/container", legacy_container_create, IMGD_FACE_IMAGEAPI,
          "v0.1: create a container {mount: {id, kind}, command, state, systemd}"),
    /* byname first: /container/byname/x would also match /container/{id}/{state} */
    ROUTE("GET", "/container/byname/{name}", legacy_container_get, IMGD_FACE_IMAGEAPI,
          "v0.1: a container by name"),
    ROUTE("DELETE", "/container/byname/{name}", legacy_container_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: remove a container by name"),
    ROUTE("GET", "/container/byname/{name}/{state}", legacy_container_state, IMGD_FACE_IMAGEAPI,
          "v0.1: start (running) or stop (exited) a container by name"),
    ROUTE("GET", "/container/{id}", legacy_container_get, IMGD_FACE_IMAGEAPI, "v0.1: a container"),
    ROUTE("DELETE", "/container/{id}", legacy_container_delete, IMGD_FACE_IMAGEAPI,
          "v0.1: remove a container"),
    ROUTE("GET", "/container/{id}/{state}", legacy_container_state, IMGD_FACE_IMAGEAPI,
          "v0.1: start (running) or stop (exited) a container"),
    /* ims face */
    ROUTE("GET", "/apis/ims/version", ims_version_get, IMGD_FACE_IMS, "IMS version"),
    ROUTE("GET", "/apis/ims/healthz/live", ims_healthz_live_get, IMGD_FACE_IMS, "IMS liveness"),
    ROUTE("GET", "/apis/ims/healthz/ready", ims_healthz_ready_get, IMGD_FACE_IMS, "IMS readiness"),
    /* ops face */
    ROUTE("GET", "/metrics", ops_metrics_get, IMGD_FACE_OPS, "Prometheus metrics"),
    ROUTE("GET", "/openapi.json", ops_openapi_json_get, IMGD_FACE_OPS, "this API as OpenAPI JSON"),
    ROUTE("GET", "/openapi.yaml", ops_openapi_yaml_get, IMGD_FACE_OPS, "this API as OpenAPI YAML"),
};

const imgd_route *imgd_api_routes(size_t *out_n)
{
    *out_n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
