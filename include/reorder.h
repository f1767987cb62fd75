/* reorder — the window of rows between the reader and the writer. Rows finish in any
 * order; the writer takes them back in input order. The window's size bounds memory: the
 * reader waits when it is that far ahead of the writer. The ring is sized by need: it
 * starts at 2048 slots (or the window, if smaller) and doubles, up to the window, only
 * when finished rows pile up behind an unfinished head for longer than a moment (250 ms,
 * reorder_set_patience). */
#ifndef OTTU_REORDER_H
#define OTTU_REORDER_H

#include <stddef.h>

#include "job.h"

/* Slots at start: enough for every worker of a usual -j to be busy while the reader
 * gathers its next claim batch (stage_read.c: 512 rows) and waits for the ledger; with
 * 1024, a batch in flight and the next one filled the ring, and the reader waited for
 * slots before each claim, the workers for the claim after it. A 10-row job touches only
 * 10 of them (the chunk is calloc'd, job_init is all zeros, so untouched pages stay
 * unmapped). The old fixed window of 4096 touched ~10 MB whatever the job's size. */
#define REORDER_START 2048

typedef struct reorder reorder;

/* window: the most rows between reader and writer (the ring's largest size). */
reorder *reorder_new(size_t window);
void reorder_free(reorder *r);
/* How long the reader waits behind a full ring of piled-up rows before it grows it. */
void reorder_set_patience(reorder *r, long ms);
/* Reader: the slot for the next row (blocks while the window is full). */
job *reorder_acquire(reorder *r);
/* Reader or worker: the row's outcome is decided. */
void reorder_complete(reorder *r, job *j);
/* Writer: the oldest row once it is complete; NULL when closed and everything was taken. */
job *reorder_next(reorder *r);
/* Writer: done with the row returned by reorder_next; its slot is free again. */
void reorder_release(reorder *r, job *j);
/* Reader: no more rows. */
void reorder_close(reorder *r);

#endif
