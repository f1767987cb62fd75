/* job — what each row status means, a row's outcome (decided here only), job buffers. */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* Each status once: its name, and what it asks of the job's exit status. A row that needs
 * attention (EXIT_ROWS) makes a job that ran to the end exit 1 and goes to --failures. */
static const struct {
    const char *name;
    exit_status exit;
} statuses[RS_COUNT] = {
    [RS_PENDING] = {"pending", EXIT_DONE},
    [RS_SENT] = {"sent", EXIT_DONE},
    [RS_FAILED] = {"failed", EXIT_ROWS},
    [RS_INVALID] = {"invalid", EXIT_ROWS},
    [RS_DUPLICATE] = {"duplicate", EXIT_DONE},
    [RS_SKIPPED] = {"skipped", EXIT_DONE},
    [RS_NOT_ATTEMPTED] = {"not_attempted", EXIT_ROWS},
    [RS_UNKNOWN] = {"unknown", EXIT_ROWS},
    [RS_DRY_RUN] = {"dry_run", EXIT_DONE},
};

static int known(row_status s) { return s >= 0 && s < RS_COUNT; }

const char *job_status_name(row_status s) { return known(s) ? statuses[s].name : "pending"; }

row_status job_status_from_name(const char *s)
{
    for (int i = 0; i < RS_COUNT; i++)
        if (strcmp(s, statuses[i].name) == 0)
            return (row_status)i;
    return RS_PENDING;
}

exit_status job_status_exit(row_status s) { return known(s) ? statuses[s].exit : EXIT_DONE; }

int job_status_needs_attention(row_status s) { return job_status_exit(s) == EXIT_ROWS; }

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

/* ---- a row's outcome ---- */

/* Through a copy: the arguments may quote the detail being replaced. */
static void put_detail(job *j, const char *fmt, va_list ap)
{
    char buf[sizeof j->detail];
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(j->detail, buf, strlen(buf) + 1);
}

row_status job_settle(job *j, row_status st, unsigned failed, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        put_detail(j, fmt, ap);
        va_end(ap);
    }
    unsigned ch = j->channels;
    if (st == RS_NOT_ATTEMPTED && j->maybe_channels)
        st = RS_UNKNOWN; /* an earlier attempt (--retry-ambiguous) may have reached the API */
    switch (st) {
    case RS_SENT:
        j->sent_channels = ch;
        j->maybe_channels = j->failed_channels = 0;
        break;
    case RS_UNKNOWN:
        j->maybe_channels = ch;
        j->sent_channels = j->failed_channels = 0;
        break;
    case RS_FAILED:
        /* what may have gone out on any attempt stays maybe */
        j->sent_channels = 0;
        j->failed_channels = failed & ch & ~j->maybe_channels;
        break;
    default:
        j->sent_channels = j->maybe_channels = j->failed_channels = 0;
        break;
    }
    j->status = st;
    return st;
}

void job_decide(job *j, row_status st, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        put_detail(j, fmt, ap);
        va_end(ap);
    }
    j->sent_channels = j->maybe_channels = j->failed_channels = 0;
    j->status = st;
}

void job_note(job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_detail(j, fmt, ap);
    va_end(ap);
}

void job_note_maybe(job *j, unsigned channels) { j->maybe_channels |= channels; }

void job_scrub_detail(job *j, const char *secret) { text_scrub_secret(j->detail, sizeof j->detail, secret); }

void job_restore(job *j, const job_outcome *o)
{
    j->http_status = o->http_status;
    j->attempts = o->attempts;
    j->channels = o->channels;
    j->latency_ms = o->latency_ms;
    j->finished_at_ms = o->finished_at_ms;
    job_decide(j, o->status, "%s", o->detail);
}
