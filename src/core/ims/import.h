/* SPDX-License-Identifier: MIT */
/* Moving a site from IMS to imgd: the records of an IMS data directory (one JSON array file per
 * collection, as IMS keeps them) go into imgd's database in one transaction, so an import is
 * all of them or none. */
#pragma once

#include <stddef.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "util/error.h"
#include "records.h"

typedef struct imgd_ims_import_report {
    size_t imported[IMGD_IMS_N_KINDS];
    size_t deleted[IMGD_IMS_N_KINDS]; /* of imported: into the deleted collections */
    size_t present;                   /* identical records already in imgd, skipped */
    size_t files;                     /* files read */
} imgd_ims_import_report;

/* Read every collection file of dir (v2_public_keys.json, v3_deleted_public_keys.json,
 * v2.2_recipes.json, v3.2_deleted_recipes.json, v2.1_images.json, v3.1_deleted_images.json,
 * v2.4_jobs.json, v2.0_remote_build_nodes.json; older file versions when the newest is absent).
 * Records get IMS's defaults for fields they lack and lose fields IMS does not know, as IMS
 * loads them. A file that is not a JSON array of records, a record without a valid id, or an id
 * imgd already holds with other content fails the whole import, naming the file and record. */
int imgd_ims_import(imgd_db *db, const imgd_config *cfg, const char *dir,
                    imgd_ims_import_report *report, imgd_error **err);
