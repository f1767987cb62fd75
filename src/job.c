/* job — row status names, job buffers and the clocks every module shares. */
#include "job.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const names[RS_COUNT] = {
    "pending", "sent", "failed", "invalid", "duplicate", "skipped", "not_attempted", "unknown", "dry_run",
};

const char *job_status_name(row_status s) { return (s >= 0 && s < RS_COUNT) ? names[s] : "pending"; }

row_status job_status_from_name(const char *s)
{
    for (int i = 0; i < RS_COUNT; i++)
        if (strcmp(s, names[i]) == 0)
            return (row_status)i;
    return RS_PENDING;
}

void job_init(job *j)
{
    memset(j, 0, sizeof *j);
    record_init(&j->rec);
    request_init(&j->req);
}

void job_free(job *j)
{
    record_free(&j->rec);
    request_free(&j->req);
}

void job_reset(job *j, long rowno)
{
    j->rowno = rowno;
    j->status = RS_PENDING;
    j->http_status = 0;
    j->attempts = 0;
    j->attempts_before = 0;
    j->channels = 0;
    j->detail[0] = '\0';
    j->first_attempt_ns = 0;
    j->latency_ms = -1;
    j->finished_at_ms = 0;
    j->ready_at_ns = 0; /* j->done belongs to the reorder window and its lock */
}

int64_t job_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t job_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

size_t job_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return n > 0 ? (size_t)n : 0;
}
