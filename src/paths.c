/* paths — the files one job reads and writes: none may be another, and the summary must
 * be writable before anything is sent (and the metrics' folder). */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer.h"

/* Two paths name the same file (existing: same inode; new: same directory and name). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ca = realpath(a, NULL), *cb = realpath(b, NULL);
    int same = 0;
    if (!ca || !cb) {
        /* A file still to be created: compare its directory and name. */
        char *da = strdup(a), *db = strdup(b), *ba = strdup(a), *bb = strdup(b);
        if (da && db && ba && bb) {
            char *ra = realpath(dirname(da), NULL), *rb = realpath(dirname(db), NULL);
            same = ra && rb && strcmp(ra, rb) == 0 && strcmp(basename(ba), basename(bb)) == 0;
            free(ra);
            free(rb);
        }
        free(da);
        free(db);
        free(ba);
        free(bb);
    } else {
        same = strcmp(ca, cb) == 0;
    }
    free(ca);
    free(cb);
    return same;
}

/* Every file the job writes must be its own: an output naming the input would destroy
 * it, and the summary must be writable before anything is sent. */
int paths_check(const config *cfg, char *err, size_t errlen)
{
    const struct {
        const char *opt, *path;
    } files[] = {
        {"the input", strcmp(cfg->input, "-") ? cfg->input : NULL},
        {"-o/--output", writer_is_stream(cfg->output) ? NULL : cfg->output},
        {"--failures", cfg->failures && !writer_is_stream(cfg->failures) ? cfg->failures : NULL},
        {"--summary-json", cfg->summary_json && strcmp(cfg->summary_json, "-") ? cfg->summary_json : NULL},
        {"--xlsx", cfg->xlsx},
        {"--metrics-file", cfg->metrics_file},
        {"--ledger", cfg->ledger},
        {"--api-key-file", cfg->api_key_file},
    };
    size_t n = sizeof files / sizeof files[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = i + 1; files[i].path && k < n; k++) {
            if (files[k].path && same_file(files[i].path, files[k].path)) {
                snprintf(err, errlen, "%s and %s are the same file (%s); give each its own path", files[i].opt,
                         files[k].opt, files[k].path);
                return -1;
            }
        }
    }
    if (cfg->summary_json && strcmp(cfg->summary_json, "-") != 0) {
        if (writer_is_stream(cfg->summary_json)) {
            FILE *f = fopen(cfg->summary_json, "a");
            if (!f) {
                snprintf(err, errlen, "cannot write --summary-json %s: %s", cfg->summary_json, strerror(errno));
                return -1;
            }
            fclose(f);
        } else if (paths_check_beside("--summary-json", cfg->summary_json, err, errlen) < 0) {
            return -1;
        }
    }
    if (cfg->metrics_file && paths_check_beside("--metrics-file", cfg->metrics_file, err, errlen) < 0)
        return -1;
    return 0;
}

int paths_temp_beside(const char *path, mode_t mode, char **tmp)
{
    if (asprintf(tmp, "%s.tmp.XXXXXX", path) < 0) {
        *tmp = NULL;
        errno = ENOMEM;
        return -1;
    }
    /* mkostemp opens with O_CREAT | O_EXCL: an existing name, a link included, is never opened. */
    int fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(*tmp);
        *tmp = NULL;
        errno = e;
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, mode & ~mask) < 0) {
        int e = errno;
        close(fd);
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        errno = e;
        return -1;
    }
    return fd;
}

int paths_check_beside(const char *opt, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s %s is a folder, not a file", opt, path);
        return -1;
    }
    /* What the end of the run does: a temporary beside PATH, renamed over it. A folder this
     * user cannot write (a root-owned textfile folder) is found now, not after the run. */
    char *tmp;
    int fd = paths_temp_beside(path, 0600, &tmp);
    if (fd < 0) {
        int e = errno;
        char *copy = strdup(path);
        snprintf(err, errlen, "cannot write %s %s: cannot create a file in %s: %s", opt, path,
                 copy ? dirname(copy) : "its folder", strerror(e));
        free(copy);
        return -1;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

/* ---- the job ---- */
