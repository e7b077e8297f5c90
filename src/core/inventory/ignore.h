/* SPDX-License-Identifier: MIT */
/* The ignore list of the inventory: a CSV file whose header names an "IMAGE ID" column (in any
 * position), one image per row, as `crictl images` prints IDs. An image is hidden when its ID's
 * first 13 characters (without "sha256:") equal a listed ID, or a listed ID is a prefix of the
 * full ID. The file is read again whenever it changes; a missing file hides nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct imgd_ignore_list imgd_ignore_list;

/* Parse CSV text (a UTF-8 BOM, CRLF line ends and quoted fields are handled). Rows without the
 * column, or with an ID that is not hexadecimal, are skipped with a warning naming the line in
 * *warnings (NULL-terminated, may be NULL when there are none; free with imgd_strv_free). -EINVAL
 * when there is no header or no IMAGE ID column. Pure. */
int imgd_ignore_parse(imgd_ignore_list **out, const char *text, size_t len, char ***warnings,
                      imgd_error **err);

/* True when the image with this ID (with or without "sha256:") is on the list. */
bool imgd_ignore_match(const imgd_ignore_list *l, const char *image_id);

size_t imgd_ignore_count(const imgd_ignore_list *l);

void imgd_ignore_free(imgd_ignore_list *l);

/* A list kept in step with its file: each call stats the file and parses it again only when
 * its size, modification time or inode changed. Thread-safe. */
typedef struct imgd_ignore_file imgd_ignore_file;

imgd_ignore_file *imgd_ignore_file_new(const char *path);
void imgd_ignore_file_free(imgd_ignore_file *f);

/* Look at the file and read it again when it changed since the last look (problems are logged
 * once per change: a missing or malformed file ignores nothing). Returns a counter that changes
 * whenever the content does, for callers that cache answers. */
unsigned long imgd_ignore_file_version(imgd_ignore_file *f);

/* True when image_id is ignored by the content read at the last imgd_ignore_file_version. */
bool imgd_ignore_file_match(imgd_ignore_file *f, const char *image_id);
