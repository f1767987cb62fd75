/* test_metrics — the textfile metrics: every family present with HELP and TYPE, all eight
 * statuses, label values escaped, the file replaced atomically, the last success carried
 * over a failed run. With $METRICS_KEEP set, the files are also left in that folder for
 * tests/integration/test_ops.sh to parse with an independent reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TESTDIR_NAME "metrics"
#include "testdir.h"

#include "metrics.h"
#include "rules.h"

static summary *sample(void)
{
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    job j;
    memset(&j, 0, sizeof j);
    j.latency_ms = -1;
    j.status = RS_SENT;
    j.channels = RULES_SMS | RULES_EMAIL;
    summary_add(s, &j);
    j.status = RS_FAILED;
    j.channels = RULES_WHATSAPP;
    j.failed_channels = RULES_WHATSAPP;
    snprintf(j.detail, sizeof j.detail, "HTTP 400: bad");
    summary_add(s, &j);
    atomic_store(&s->requests, 3);
    atomic_store(&s->retries, 1);
    return s;
}

static void test_default_job(void **state)
{
    (void)state;
    char b[64];
    metrics_default_job("/srv/in/nightly-2026.CSV", b, sizeof b);
    assert_string_equal(b, "nightly-2026");
    metrics_default_job("list.txt", b, sizeof b);
    assert_string_equal(b, "list.txt");
    metrics_default_job("-", b, sizeof b);
    assert_string_equal(b, "stdin");
    metrics_default_job(".csv", b, sizeof b); /* nothing but the extension: keep it */
    assert_string_equal(b, ".csv");
}

static void keep(const char *name, const char *path)
{
    const char *dir = getenv("METRICS_KEEP");
    if (!dir)
        return;
    size_t len = 0;
    char *text = testdir_slurp(path, &len);
    assert_non_null(text);
    char out[512];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
}

static void test_write(void **state)
{
    (void)state;
    summary *s = sample();
    char err[256];
    const char *p = testdir_path("ottu.prom");
    assert_int_equal(metrics_write(p, s, "night \"shift\" \\ one\nline", NULL, 1, err, sizeof err), 0);
    keep("escaped.prom", p);
    size_t len = 0;
    char *text = testdir_slurp(p, &len);
    assert_non_null(strstr(text, "ottu_resend_rows{job_name=\"night \\\"shift\\\" \\\\ one\\nline\",status=\"failed\"} 1\n"));
    static const char *const statuses[] = {"sent", "failed", "invalid", "duplicate", "skipped",
                                           "not_attempted", "unknown", "dry_run"};
    for (size_t i = 0; i < 8; i++) {
        char want[64];
        snprintf(want, sizeof want, ",status=\"%s\"} ", statuses[i]);
        assert_non_null(strstr(text, want));
    }
    assert_non_null(strstr(text, "# TYPE ottu_resend_requests gauge\n"));
    assert_non_null(strstr(text, "ottu_resend_retries{job_name="));
    assert_non_null(strstr(text, ",channel=\"whatsapp\",outcome=\"failed\"} 1\n"));
    assert_non_null(strstr(text, ",channel=\"email\",outcome=\"sent\"} 1\n"));
    assert_non_null(strstr(text, "ottu_resend_last_exit_code{job_name="));
    assert_non_null(strstr(text, "ottu_resend_last_success_timestamp_seconds{job_name="));
    free(text);

    /* a later failed run (exit 2) replaces the file and carries the last success over */
    struct stat before, after;
    assert_int_equal(stat(p, &before), 0);
    FILE *old = fopen(p, "r"); /* a reader holding the old file keeps a complete one */
    assert_non_null(old);
    assert_int_equal(metrics_write(p, s, "night \"shift\" \\ one\nline", NULL, 2, err, sizeof err), 0);
    assert_int_equal(stat(p, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(after.st_mode & 0777, 0644);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, old))
        lines++;
    fclose(old);
    assert_true(lines > 20);
    text = testdir_slurp(p, &len);
    assert_non_null(strstr(text, "ottu_resend_last_exit_code{job_name=\"night \\\"shift\\\" \\\\ one\\nline\"} 2\n"));
    assert_non_null(strstr(text, "ottu_resend_last_success_timestamp_seconds{job_name="));
    free(text);
    keep("carried.prom", p);

    /* no temporary file is left behind */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            files++, assert_string_equal(e->d_name, "ottu.prom");
    closedir(d);
    assert_int_equal(files, 1);

    /* a job that never ran to the end has no success time at all */
    const char *q = testdir_path("never.prom");
    assert_int_equal(metrics_write(q, s, NULL, "/x/never.csv", 3, err, sizeof err), 0);
    keep("never.prom", q);
    text = testdir_slurp(q, &len);
    assert_null(strstr(text, "last_success"));
    assert_non_null(strstr(text, "ottu_resend_last_exit_code{job_name=\"never\"} 3\n"));
    free(text);
    free(s);
}

static void test_unwritable(void **state)
{
    (void)state;
    summary *s = sample();
    char err[256];
    assert_int_equal(metrics_write("/nonexistent-dir/x.prom", s, "j", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.prom"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_job),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_unwritable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
