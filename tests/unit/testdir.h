/* testdir — one temporary directory per unit-test binary, removed with its contents at
 * the end: group_setup/group_teardown for cmocka_run_group_tests. */
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

#endif
