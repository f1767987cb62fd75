/* job — one input row on its way through the pipeline, and its outcome. Jobs live in
 * the reorder window's slots and are reused; their buffers grow to the largest row. */
#ifndef OTTU_JOB_H
#define OTTU_JOB_H

#include <stdint.h>

#include "clock.h"
#include "exitcode.h"
#include "reader.h"
#include "request.h"

#define JOB_DETAIL_SIZE 640 /* result_detail, with its NUL */

typedef enum {
    RS_PENDING = 0,
    RS_SENT,
    RS_FAILED,
    RS_INVALID,
    RS_DUPLICATE,
    RS_SKIPPED,
    RS_NOT_ATTEMPTED,
    RS_UNKNOWN,
    RS_DRY_RUN,
    RS_COUNT
} row_status;

/* What each status means, written once (job.c's table): its name (result_status, the
 * summary, the JSON, the metrics, the workbook) and the exit status it asks for. */
const char *job_status_name(row_status s);
/* Parses a status name back (journal, resume); RS_PENDING when unknown. */
row_status job_status_from_name(const char *s);
/* EXIT_ROWS for a row that needs attention (failed, invalid, not_attempted, unknown: the
 * --failures file takes it), else EXIT_DONE. */
exit_status job_status_exit(row_status s);
int job_status_needs_attention(row_status s);

typedef struct job {
    record rec;             /* the input cells, as read */
    request req;            /* what is sent */
    long rowno;             /* 1-based data row number */
    row_status status;
    int http_status;        /* last HTTP status, 0 = none */
    int attempts;           /* in every run of the job (result_attempts) */
    int attempts_before;    /* of those, made by earlier runs: this run's budget is fresh */
    unsigned channels;      /* channels requested (result_channels) */
    /* Per-channel outcome, for the ledger (RULES_* bits, subsets of channels): confirmed
     * sent, may have gone out (unknown answer, or beside a failed channel), and definitely
     * not sent. Channels in none of them were never requested: their claims are released. */
    unsigned sent_channels, maybe_channels, failed_channels;
    unsigned claimed;       /* channels this job holds a ledger claim on for the row */
    char detail[JOB_DETAIL_SIZE];
    int64_t first_attempt_ns; /* monotonic, 0 = never sent */
    int64_t latency_ms;     /* -1 = not sent */
    int64_t finished_at_ms; /* wall clock, UTC epoch ms */
    int64_t ready_at_ns;    /* retry not before (monotonic) */
    int done;               /* outcome decided (guarded by the reorder lock) */
    int begun;              /* its attempt's "begun" record is on the disk and not yet closed
                               by an outcome or a release (set by the feeder's group, or by the
                               worker before an attempt; cleared by whoever closes it) */
    struct lookup_entry *lookup; /* --verify: the row's transaction lookup; set while the row is
                                    queued for the lookup pass (lookup.h), else NULL */
} job;

void job_init(job *j);
void job_free(job *j);
/* Resets the outcome fields for a new row. */
void job_reset(job *j, long rowno);

/* ---- a row's outcome: its status, detail and per-channel bits are set here only ---- */

/* Settles row j as st, with the detail printed from fmt (NULL keeps the detail noted so
 * far; the arguments may quote j->detail). The per-channel bits the ledger settles from
 * follow from the status, and a channel that may have gone out stays maybe sent:
 *   RS_SENT        every requested channel sent;
 *   RS_UNKNOWN     every requested channel maybe sent;
 *   RS_FAILED      the channels in `failed` failed (those that may have gone out on an
 *                  earlier attempt excepted); maybe sent as noted (job_note_maybe);
 *   RS_NOT_ATTEMPTED with a channel maybe sent: settled RS_UNKNOWN instead (an earlier
 *                  attempt, --retry-ambiguous, may have reached the API);
 *   otherwise      none: nothing went out, nothing to settle.
 * Returns the status settled. */
row_status job_settle(job *j, row_status st, unsigned failed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Settles row j as st without a request of this run behind it (decided as it was read,
 * or as an earlier run recorded it): status and detail as job_settle, and no per-channel
 * bits — nothing this run sent is there to settle (a kept row's are re-derived for the
 * ledger by job_settle(j, j->status, 0, NULL)). */
void job_decide(job *j, row_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The detail so far, while the row is not settled (why it is retried): what its outcome
 * may quote. */
void job_note(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Channels an attempt may have delivered (an ambiguous answer): they stay maybe sent,
 * whatever later attempts say. */
void job_note_maybe(job *j, unsigned channels);
/* Removes a secret (the API key) from the detail before anything writes it. */
void job_scrub_detail(job *j, const char *secret);

/* A row's outcome as an earlier run recorded it (the journal's outcome line, a result
 * row): what --resume keeps. */
typedef struct job_outcome {
    row_status status;
    int http_status;
    int attempts;
    unsigned channels;
    int64_t latency_ms;
    int64_t finished_at_ms;
    char detail[JOB_DETAIL_SIZE];
} job_outcome;

/* Takes the recorded outcome o as row j's (job_decide). */
void job_restore(job *j, const job_outcome *o);

#endif
