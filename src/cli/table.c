/* SPDX-License-Identifier: MIT */
#include "table.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "util/buf.h"

void imgd_cli_table_add(imgd_cli_table *t, const char *const *row)
{
    assert(t->n_cols > 0 && t->n_cols <= IMGD_CLI_TABLE_COLS_MAX);
    if (!t->failed)
        t->failed = imgd_array_reserve(&t->cells, &t->cap, t->n + t->n_cols, sizeof(*t->cells),
                                       16 * t->n_cols) < 0;
    for (size_t i = 0; i < t->n_cols && !t->failed; i++) {
        t->failed = !(t->cells[t->n] = strdup(row[i] ? row[i] : ""));
        t->n += !t->failed;
    }
}

void imgd_cli_table_add_json(imgd_cli_table *t, const json_t *row)
{
    const char *cells[IMGD_CLI_TABLE_COLS_MAX] = {0};
    for (size_t i = 0; i < t->n_cols && i < IMGD_CLI_TABLE_COLS_MAX; i++)
        cells[i] = json_string_value(json_array_get(row, i));
    imgd_cli_table_add(t, cells);
}

void imgd_cli_table_print(const imgd_cli_table *t)
{
    size_t width[IMGD_CLI_TABLE_COLS_MAX] = {0};
    assert(t->n_cols > 0 && t->n_cols <= IMGD_CLI_TABLE_COLS_MAX);
    for (size_t i = 0; i < t->n; i++) {
        size_t *w = &width[i % t->n_cols];
        size_t cell = imgd_cli_text_width(t->cells[i]) + t->pad;
        *w = cell > *w ? cell : *w;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t col = i % t->n_cols;
        bool last = col == t->n_cols - 1;
        size_t w = width[col] > t->min_width ? width[col] : t->min_width;
        imgd_cli_put_clean(t->cells[i], last ? 0 : w);
        if (last)
            putchar('\n');
    }
}

void imgd_cli_table_dispose(imgd_cli_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n = t->cap = 0;
}
