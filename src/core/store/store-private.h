/* SPDX-License-Identifier: MIT */
/* Internals shared by the store's own files (store.c, images.c, pull.c); not for other modules. */
#pragma once

#include "store.h"

/* Exclusive side of the use lock: garbage collection runs alone. */
void imgd_store_gc_begin(imgd_store *s);
void imgd_store_gc_end(imgd_store *s);

/* Directory fds: blobs/sha256 and layers. Borrowed. */
int imgd_store_blobs_fd(const imgd_store *s);
int imgd_store_layers_fd(const imgd_store *s);

imgd_db *imgd_store_db(const imgd_store *s);
