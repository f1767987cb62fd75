/* testdir — one temporary directory per unit-test binary, removed with its contents at
 * the end (group_setup/group_teardown for cmocka_run_group_tests), and the file helpers
 * the tests share. Include after cmocka.h. */
#ifndef OTTU_TESTDIR_H
#define OTTU_TESTDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef TESTDIR_NAME
#error "define TESTDIR_NAME (e.g. \"reader\") before including testdir.h"
#endif

static char tmpdir[64];

static int testdir_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s-test.XXXXXX", TESTDIR_NAME);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, testdir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path in the test directory; four rotating buffers, so a few can be held at once. */
static inline const char *testdir_path(const char *name)
{
    static char buf[4][320];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

/* Writes data to name in the test directory; returns its path. */
static inline const char *testdir_write(const char *name, const void *data, size_t len)
{
    const char *p = testdir_path(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* The whole file, NUL-terminated (free it), or NULL when it cannot be opened. */
static inline char *testdir_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
