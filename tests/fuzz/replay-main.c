/* SPDX-License-Identifier: MIT */
/* Replays a libFuzzer target without libFuzzer: runs LLVMFuzzerTestOneInput once per file named
 * on the command line, descending into directories (entries in name order), so the corpus is a
 * regression test of every build, sanitized or not. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not corpus seeds; libFuzzer's default -max_len is 4096. */
#define REPLAY_MAX_INPUT (1024 * 1024)

/* Read a whole file into an exactly sized heap buffer, so ASan sees reads past its end. */
static int read_input(uint8_t **out, size_t *out_len, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (st.st_size > REPLAY_MAX_INPUT) {
        close(fd);
        return -EFBIG;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int r = n < 0 ? -errno : -EIO; /* the file shrank */
            free(buf);
            close(fd);
            return r;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *out_len = len;
    return 0;
}

static int replay_path(const char *path, unsigned long *ran);

static int replay_dir(const char *path, unsigned long *ran)
{
    struct dirent **entries = NULL;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    int r = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        if (r == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char *child = NULL;
            if (asprintf(&child, "%s/%s", path, name) < 0) {
                r = -1;
            } else {
                r = replay_path(child, ran);
                free(child);
            }
        }
        free(entries[i]);
    }
    free(entries);
    return r;
}

static int replay_path(const char *path, unsigned long *ran)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: cannot stat %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return replay_dir(path, ran);
    if (!S_ISREG(st.st_mode))
        return 0;
    uint8_t *data = NULL;
    size_t len = 0;
    int r = read_input(&data, &len, path);
    if (r < 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(-r));
        return -1;
    }
    /* name the input first, so a crash report says which one it was */
    fprintf(stderr, "Running: %s\n", path);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    (*ran)++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    unsigned long ran = 0;
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &ran) < 0)
            return 1;
    }
    printf("%s: ran %lu inputs\n", argv[0], ran);
    return 0;
}
