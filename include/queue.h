/* queue — the work queue between the reader and the workers: new rows in input order,
 * plus rows waiting out a retry backoff (a min-heap by due time), so a row in backoff
 * never holds a worker. Bounded by its capacity (the reorder window). */
#ifndef OTTU_QUEUE_H
#define OTTU_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

typedef struct queue queue;

queue *queue_new(size_t capacity);
void queue_free(queue *q);
/* A new row, ready now. */
void queue_push(queue *q, job *j);
/* A row to retry at j->ready_at_ns (monotonic). Does not count as a new row. */
void queue_push_delayed(queue *q, job *j);
/* Next row to work on: due retries first, then new rows. Blocks. Returns NULL when the
 * queue is closed and every row reached its outcome. *stopping is set once queue_stop was
 * called: the caller then finishes the row without sending. */
job *queue_pop(queue *q, int *stopping);
/* The row popped last by this worker reached its outcome. */
void queue_done(queue *q);
/* The reader has pushed its last row. */
void queue_close(queue *q);
/* Interrupt: retries become due at once and pop reports stopping. */
void queue_stop(queue *q);
/* Rows waiting for a retry (for progress). */
size_t queue_retrying(queue *q);

/* ---- staged mode: a feeder takes rows in groups (engine.c feed_group) ----
 * At most `limit` rows are taken (queue_take or queue_pop) and not yet done or pushed
 * back for a retry. Rows are popped one at a time only once the queue stops. */
void queue_stage(queue *q, size_t limit); /* limit 0: not staged */
/* Waits until rows are due (retries first, then new rows) and there is room, then takes
 * up to max of them (never more than the room); they count as taken until done or pushed
 * back. 0 = the queue is closed and every row is done, or the queue stops. */
size_t queue_take(queue *q, job **out, size_t max);

#endif
