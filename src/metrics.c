/* metrics — Prometheus text exposition of the run's summary, replaced atomically. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "exitcode.h"
#include "paths.h"
#include "rules.h"

#define SUCCESS_FAMILY "ottu_resend_last_success_timestamp_seconds"

size_t metrics_default_job(const char *input, char *out, size_t size)
{
    if (!size)
        return 0;
    if (!input || strcmp(input, "-") == 0)
        return (size_t)snprintf(out, size, "stdin");
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    size_t n = strlen(base);
    if (n > 4 && strcasecmp(base + n - 4, ".csv") == 0)
        n -= 4;
    if (n >= size)
        n = size - 1;
    memcpy(out, base, n);
    out[n] = '\0';
    return n;
}

void metrics_put_label(FILE *f, const char *value)
{
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '"')
            fputs("\\\"", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
}

static void family(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void sample_start(FILE *f, const char *name, const char *jobname)
{
    /* job_name, not job: a scrape sets job and instance itself (honor_labels is off by
     * default) and would rename ours to exported_job. */
    fprintf(f, "%s{job_name=\"", name);
    metrics_put_label(f, jobname);
    fputc('"', f);
}

int metrics_format(FILE *f, const summary *s, const char *jobname, int exit_code, int64_t now_ms,
                   double last_success_s)
{
    /* Gauges, not counters: each file describes the last run, and the next run starts from
     * zero, which a counter's reset detection would misread. */
    family(f, "ottu_resend_rows", "Rows of the last run by result_status.");
    for (int i = 1; i < RS_COUNT; i++) {
        sample_start(f, "ottu_resend_rows", jobname);
        fprintf(f, ",status=\"%s\"} %ld\n", job_status_name((row_status)i), s->status[i]);
    }
    family(f, "ottu_resend_requests",
           "Notification requests started in the last run, answered or not (the preflight excluded).");
    sample_start(f, "ottu_resend_requests", jobname);
    fprintf(f, "} %ld\n", atomic_load(&s->requests));
    family(f, "ottu_resend_retries", "Requests of the last run that were retries.");
    sample_start(f, "ottu_resend_retries", jobname);
    fprintf(f, "} %ld\n", atomic_load(&s->retries));
    family(f, "ottu_resend_channel_rows", "Rows of the last run per channel: confirmed sent, or failed.");
    for (int i = 0; i < 3; i++) {
        static const char *const outcome[2] = {"sent", "failed"};
        for (int k = 0; k < 2; k++) {
            sample_start(f, "ottu_resend_channel_rows", jobname);
            fprintf(f, ",channel=\"%s\",outcome=\"%s\"} %ld\n", rules_channel_name(1u << i), outcome[k],
                    k == 0 ? s->channel_sent[i] : s->channel_failed[i]);
        }
    }
    family(f, "ottu_resend_last_run_timestamp_seconds", "When the last run ended (Unix time).");
    sample_start(f, "ottu_resend_last_run_timestamp_seconds", jobname);
    fprintf(f, "} %.3f\n", (double)now_ms / 1000.0);
    if (last_success_s > 0) {
        family(f, SUCCESS_FAMILY, "When the last run that went to the end (exit 0 or 1) ended (Unix time).");
        sample_start(f, SUCCESS_FAMILY, jobname);
        fprintf(f, "} %.3f\n", last_success_s);
    }
    family(f, "ottu_resend_last_exit_code",
           "Exit status of the last run: 0 ok, 1 some rows failed, 2 usage/input, 3 key rejected, "
           "4 stopped by a limit (resume), 130 interrupted (resume).");
    sample_start(f, "ottu_resend_last_exit_code", jobname);
    fprintf(f, "} %d\n", exit_code);
    family(f, "ottu_resend_duration_seconds", "How long the last run took.");
    sample_start(f, "ottu_resend_duration_seconds", jobname);
    fprintf(f, "} %.3f\n", summary_elapsed_s(s));
    return ferror(f) ? -1 : 0;
}

/* The last success recorded for this jobname in the file about to be replaced, 0 = none. */
static double previous_success(const char *path, const char *jobname)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *want = NULL;
    size_t wantlen = 0;
    FILE *m = open_memstream(&want, &wantlen);
    double v = 0;
    if (m) {
        sample_start(m, SUCCESS_FAMILY, jobname);
        fputs("} ", m);
        fclose(m);
        char line[4096];
        while (want && fgets(line, sizeof line, f)) {
            if (strncmp(line, want, wantlen) == 0) {
                v = strtod(line + wantlen, NULL);
                break;
            }
        }
    }
    free(want);
    fclose(f);
    return v > 0 ? v : 0;
}

int metrics_write(const char *path, const summary *s, const char *jobname, const char *input, int exit_code,
                  char *err, size_t errlen)
{
    char defjob[256];
    if (!jobname) {
        metrics_default_job(input, defjob, sizeof defjob);
        jobname = defjob;
    }
    int64_t now = clock_now_ms();
    double success = exit_ran_to_end(exit_code) ? (double)now / 1000.0 : previous_success(path, jobname);
    /* The temporary name does not end in .prom, so the collector skips it. */
    char *tmp = NULL;
    int fd = paths_temp_beside(path, 0644, &tmp);
    FILE *f = NULL;
    const char *step = "create a temporary file for";
    if (fd < 0)
        goto fail;
    /* node_exporter runs as its own user: the file must be readable by others, whatever
     * the umask (a service's UMask=0077). */
    step = "write";
    if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w")))
        goto fail;
    fd = -1;
    if (metrics_format(f, s, jobname, exit_code, now, success) < 0 || fflush(f) != 0)
        goto fail;
    if (fsync(fileno(f)) < 0)
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    step = "replace";
    if (rename(tmp, path) < 0)
        goto fail;
    /* the rename itself survives a crash once the folder is synced */
    char *copy = strdup(path);
    if (copy) {
        int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(copy);
    }
    free(tmp);
    return 0;
fail:
    snprintf(err, errlen, "cannot %s --metrics-file %s: %s", step, path, strerror(errno ? errno : EIO));
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (strcmp(step, "create a temporary file for") != 0)
        unlink(tmp);
    free(tmp);
    return -1;
}
