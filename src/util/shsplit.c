/* SPDX-License-Identifier: MIT */
/* A port of the POSIX-mode state machine of CPython's shlex.shlex.read_token() with
 * whitespace_split=True and no commenters, which is what shlex.split() runs. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/shsplit.h"

typedef struct shell_lexer {
    const char *s; /* the whole input, NUL-terminated */
    size_t pos;    /* offset of the next byte to read */
    char *word;    /* scratch of strlen(s) + 1 bytes: the word being read */
    size_t len;    /* bytes of word so far */
} shell_lexer;

/* shlex.whitespace: not isspace(), which would also split at '\v' and '\f'. */
static bool shell_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads from just after the opening quote at offset open through the closing one. */
static int shell_read_quoted(shell_lexer *lx, size_t open, imgd_error **err)
{
    char quote = lx->s[open];
    for (;;) {
        char c = lx->s[lx->pos];
        if (c == '\0')
            return imgd_error_set(err, EINVAL, "unterminated quote at byte %zu", open);
        lx->pos++;
        if (c == quote)
            return 0;
        if (c != '\\' || quote != '"') {
            lx->word[lx->len++] = c;
            continue;
        }
        /* shlex's escapedquotes is '"' only, and there a backslash escapes just the quote and
         * itself; unlike sh, "\$" keeps its backslash. */
        char next = lx->s[lx->pos];
        if (next == '\0')
            return imgd_error_set(err, EINVAL, "no escaped character at byte %zu", lx->pos - 1);
        if (next != '"' && next != '\\')
            lx->word[lx->len++] = '\\';
        lx->word[lx->len++] = next;
        lx->pos++;
    }
}

/* Reads the next word into lx->word; *found is false at the end of the input. A word started
 * at a non-blank byte always exists, even if empty: only "" or '' can leave it empty. */
static int shell_read_word(shell_lexer *lx, bool *found, imgd_error **err)
{
    while (shell_is_blank(lx->s[lx->pos]))
        lx->pos++;
    *found = lx->s[lx->pos] != '\0';
    lx->len = 0;
    for (;;) {
        size_t at = lx->pos;
        char c = lx->s[at];
        if (c == '\0' || shell_is_blank(c))
            return 0;
        lx->pos++;
        if (c == '\'' || c == '"') {
            int r = shell_read_quoted(lx, at, err);
            if (r < 0)
                return r;
        } else if (c == '\\') {
            if (lx->s[lx->pos] == '\0')
                return imgd_error_set(err, EINVAL, "no escaped character at byte %zu", at);
            lx->word[lx->len++] = lx->s[lx->pos++];
        } else {
            lx->word[lx->len++] = c;
        }
    }
}

/* Appends a copy of the current word to *words (n entries, cap slots), keeping it
 * NULL-terminated. */
static int shell_words_push(char ***words, size_t *n, size_t *cap, const shell_lexer *lx,
                            imgd_error **err)
{
    if (*n + 1 >= *cap) {
        size_t new_cap = *cap < 8 ? 8 : 2 * *cap;
        char **v = realloc(*words, new_cap * sizeof(char *));
        if (!v)
            return imgd_error_set(err, ENOMEM, "out of memory");
        *words = v;
        *cap = new_cap;
    }
    char *w = strndup(lx->word, lx->len);
    if (!w)
        return imgd_error_set(err, ENOMEM, "out of memory");
    (*words)[(*n)++] = w;
    (*words)[*n] = NULL;
    return 0;
}

int imgd_shell_split(char ***out, size_t *out_n, const char *s, imgd_error **err)
{
    assert(out && out_n && s);
    size_t len = strnlen(s, IMGD_SHELL_SPLIT_MAX_LEN + 1);
    if (len > IMGD_SHELL_SPLIT_MAX_LEN)
        return imgd_error_set(err, E2BIG, "command longer than %d bytes", IMGD_SHELL_SPLIT_MAX_LEN);
    _cleanup_free_ char *scratch = malloc(len + 1);
    _cleanup_strv_ char **words = calloc(1, sizeof(char *));
    if (!scratch || !words)
        return imgd_error_set(err, ENOMEM, "out of memory");
    shell_lexer lx = {.s = s, .word = scratch};
    size_t n = 0, cap = 1;
    for (;;) {
        bool found = false;
        int r = shell_read_word(&lx, &found, err);
        if (r < 0)
            return r;
        if (!found)
            break;
        if (n == IMGD_SHELL_SPLIT_MAX_WORDS)
            return imgd_error_set(err, E2BIG, "command has more than %d words",
                                  IMGD_SHELL_SPLIT_MAX_WORDS);
        r = shell_words_push(&words, &n, &cap, &lx, err);
        if (r < 0)
            return r;
    }
    *out = TAKE_PTR(words);
    *out_n = n;
    return 0;
}
