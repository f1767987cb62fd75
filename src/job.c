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
    j->sent_channels = j->maybe_channels = j->failed_channels = 0;
    j->claimed = 0;
    j->detail[0] = '\0';
    j->first_attempt_ns = 0;
    j->latency_ms = -1;
    j->lookup = NULL;
    j->finished_at_ms = 0;
    j->ready_at_ns = 0; /* j->done belongs to the reorder window and its lock */
}
