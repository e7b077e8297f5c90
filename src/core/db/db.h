/* SPDX-License-Identifier: MIT */
/* The state database: SQLite in WAL mode in the state directory, numbered schema migrations
 * applied at open, an integrity check at start, and a cheap health probe.
 *
 * One imgd_db is shared by all threads. Statements run under the db's own lock, so callers need
 * no locking of their own; a transaction is one call. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct imgd_db imgd_db;

/* Open (creating when absent) the database at path, run the integrity check and apply pending
 * migrations in one transaction each. Returns 0 with a new handle in *out, or a negative errno:
 * -EROFS/-EACCES when the file cannot be written, -EUCLEAN when the integrity check fails,
 * -EPROTO when the file has a newer schema than this binary knows. */
int imgd_db_open(imgd_db **out, const char *path, imgd_error **err);

/* Close and free; accepts NULL. */
void imgd_db_free(imgd_db *db);

/* Schema version of the open database (the number of applied migrations). */
int imgd_db_schema_version(imgd_db *db);

/* Highest migration this binary knows. */
int imgd_db_schema_latest(void);

/* The instance id generated when the database was created (stable across restarts). Borrowed;
 * valid while db is open. */
const char *imgd_db_instance_id(const imgd_db *db);

/* Borrow the connection for a sequence of statements (typically one transaction) while holding
 * the database lock; release it with imgd_db_release on every path. Not reentrant. */
struct sqlite3;
struct sqlite3 *imgd_db_acquire(imgd_db *db);
void imgd_db_release(imgd_db *db);

/* The negative-errno family of an SQLite result code (positive: EBUSY, ENOSPC, EIO, ...). */
int imgd_db_errno(int sqlite_rc);

/* Probe that the database is usable: the file at its path is still the one that was opened and a
 * query reads the schema. Returns 0 or a negative errno with *err saying what is wrong.
 * Thread-safe. */
int imgd_db_check(imgd_db *db, imgd_error **err);
