/* SPDX-License-Identifier: MIT */
/* The HTTP server: libmicrohttpd daemons (internal epoll thread pool) on every configured TCP
 * address and on the unix socket, all dispatching through the one route table. It does what is
 * common to every request: request id, bearer-token and client-certificate checks, routing with
 * 404/405 in the owning face's dialect, the body limit (413), one access-log line and metrics. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "router.h"

typedef struct imgd_server imgd_server;

/* Bind every listener and start serving. ctx and routes are borrowed and must outlive the server.
 * Returns 0, or a negative errno with *err naming the address or file that failed (nothing is
 * left listening then). */
int imgd_server_new(imgd_server **out, const imgd_api_ctx *ctx, const imgd_route *routes,
                    size_t n_routes, imgd_error **err);

/* Stop accepting connections (close the listening sockets, remove the unix socket) while requests
 * in flight go on; their responses ask the client to close. */
void imgd_server_quiesce(imgd_server *srv);

/* Wait until no request is in flight, at most timeout_usec. True when idle. */
bool imgd_server_wait_idle(imgd_server *srv, uint64_t timeout_usec);

/* Stop the daemons (closing remaining connections) and free; accepts NULL. */
void imgd_server_free(imgd_server *srv);

/* One line per listener, e.g. "http://127.0.0.1:5375"; borrowed, index < count. */
size_t imgd_server_listener_count(const imgd_server *srv);
const char *imgd_server_listener_name(const imgd_server *srv, size_t i);
