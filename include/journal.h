/* journal — the append-only record that makes jobs crash-safe: "about to send row N"
 * before every attempt, "row N has no request in flight" after a retryable failure, and
 * each row's outcome. On resume it tells, per row, whether it was decided, lost in flight
 * (unknown) or still to do. Format: docs/journal.md. */
#ifndef OTTU_JOURNAL_H
#define OTTU_JOURNAL_H

#include <stdint.h>

#include "job.h"

typedef struct journal journal;

/* What identifies the input and the job; a resume must match it. */
typedef struct journal_header {
    char job_id[40];
    unsigned long long input_size;
    char input_fp[17];     /* FNV-1a 64 of the first 64 KiB, hex */
    int mode;
    unsigned shard_k, shard_n;
} journal_header;

typedef enum { JR_NONE = 0, JR_BEGUN, JR_RELEASED, JR_DECIDED } journal_row_state;

/* Computes size and fingerprint of a regular file. Returns 0 or -1 (err). */
int journal_fingerprint(const char *path, journal_header *h, char *err, size_t errlen);

/* Starts a new journal at path (exclusive create). */
journal *journal_create(const char *path, const journal_header *h, char *err, size_t errlen);
/* Opens an existing journal for resume: reads its header into h and indexes every row's
 * latest state; appends afterwards. */
journal *journal_resume(const char *path, journal_header *h, char *err, size_t errlen);

/* Row state from an earlier run (resume); for JR_DECIDED, the outcome is loaded into j;
 * otherwise j->attempts is set to the attempts earlier runs started for the row. */
journal_row_state journal_lookup(journal *jn, long rowno, job *j);

/* Before an attempt: returns 0 only once the record is on the disk (fdatasync; concurrent
 * callers share one sync: group commit), so it is never lost while its request went out.
 * Blocks the caller for about one fdatasync. */
int journal_begin(journal *jn, long rowno);
/* The same for n rows (at most JOURNAL_BEGIN_MAX) in one write and one sync; sets each
 * row's `begun` once its record is durable. */
#define JOURNAL_BEGIN_MAX 256
int journal_begin_many(journal *jn, job **rows, size_t n);
/* These two may be lost to a power cut (synced with the next begin record, or on close):
 * their row then reads as begun, i.e. unknown on resume, never as "to do". */
int journal_release(journal *jn, long rowno);    /* attempt over, no outcome yet */
/* A begin written ahead whose request never went (the job stopped first): released, and
 * on resume not counted as an attempt. */
int journal_release_unsent(journal *jn, long rowno);
int journal_outcome(journal *jn, const job *j);  /* the row's outcome */
/* -1 with a message naming the file and the error once any write has failed (the journal
 * then refuses every later write: the caller must stop sending), else 0. */
int journal_error(journal *jn, char *err, size_t errlen);
/* Everything appended so far on the disk now. 0, or -1 (the journal failed). */
int journal_sync(journal *jn);
/* Begin records made durable so far, and the fdatasyncs that did it (group size). */
void journal_stats(journal *jn, unsigned long long *begins, unsigned long long *syncs);
/* fsync of the folder that holds path (a file created, renamed or removed there stays so
 * across a power cut). 0, or -1 (errno). */
int journal_sync_dir(const char *path);
/* Closes; remove = the job finished, delete the file. */
int journal_close(journal *jn, int remove);

#endif
