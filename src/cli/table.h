/* SPDX-License-Identifier: MIT */
/* The one table layout of imgctl, as docker's text/tabwriter makes it: left-aligned columns,
 * each as wide as its widest cell plus the padding (at least min_width), the last column
 * unpadded; control characters in cells are replaced so no cell breaks a line. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define IMGD_CLI_TABLE_COLS_MAX 8u

typedef struct imgd_cli_table {
    size_t n_cols;    /* 1..IMGD_CLI_TABLE_COLS_MAX */
    size_t pad;       /* spaces after a cell */
    size_t min_width; /* a column (with its padding) is at least this wide */
    char **cells;     /* owned; row after row, the headings first */
    size_t n, cap;
    bool failed; /* out of memory: the rows are incomplete */
} imgd_cli_table;

/* Add a row of n_cols cells (copied). */
void imgd_cli_table_add(imgd_cli_table *t, const char *const *row);

/* Add a row given as a JSON array of strings (a cell that is not a string is empty). */
void imgd_cli_table_add_json(imgd_cli_table *t, const json_t *row);

void imgd_cli_table_print(const imgd_cli_table *t);

/* Free the cells; the table can be filled again. */
void imgd_cli_table_dispose(imgd_cli_table *t);
