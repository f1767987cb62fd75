/* stage_begin — the "begun" records ahead of the workers: one thread takes the rows about
 * to start, makes their journal records durable with one write and one fdatasync, and
 * hands them to the workers, so that no worker waits for a sync. At most `limit` (-j) rows
 * are handed over or held by a worker at once (queue_stage): a power cut still leaves at
 * most -j rows begun without an outcome. */
#ifndef OTTU_STAGE_BEGIN_H
#define OTTU_STAGE_BEGIN_H

#include <stddef.h>

#include "journal.h"
#include "queue.h"

typedef struct stage_begin stage_begin;

/* Puts q in staged mode and starts the thread; NULL (err) if it cannot. */
stage_begin *stage_begin_start(queue *q, journal *jn, size_t limit, char *err, size_t errlen);
/* Waits for the thread: it ends when the queue is closed and every row is done, or when
 * the queue stops. NULL is let be. */
void stage_begin_join(stage_begin *s);

#endif
