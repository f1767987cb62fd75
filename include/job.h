/* job — one input row on its way through the pipeline, and its outcome. Jobs live in
 * the reorder window's slots and are reused; their buffers grow to the largest row. */
#ifndef OTTU_JOB_H
#define OTTU_JOB_H

#include <stdint.h>

#include "clock.h"
#include "reader.h"
#include "request.h"

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

const char *job_status_name(row_status s);
/* Parses a status name back (journal, resume); RS_PENDING when unknown. */
row_status job_status_from_name(const char *s);

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
    char detail[640];
    int64_t first_attempt_ns; /* monotonic, 0 = never sent */
    int64_t latency_ms;     /* -1 = not sent */
    int64_t finished_at_ms; /* wall clock, UTC epoch ms */
    int64_t ready_at_ns;    /* retry not before (monotonic) */
    int done;               /* outcome decided (guarded by the reorder lock) */
    struct lookup_entry *lookup; /* --verify: the row's transaction lookup; set while the row is
                                    queued for the lookup pass (lookup.h), else NULL */
} job;

void job_init(job *j);
/* Row outcome helpers live in one place: see engine.c (sending) and stage_read.c (decided
 * before sending). */
void job_free(job *j);
/* Resets the outcome fields for a new row. */
void job_reset(job *j, long rowno);

#endif
