/* progress — the live line on stderr: rows done of total (estimated from bytes read
 * when unknown), rate, ETA, counts, and whether the API has paused the job. Counters are
 * atomics fed by the reader and the writer; only the watcher thread draws. */
#ifndef OTTU_PROGRESS_H
#define OTTU_PROGRESS_H

#include "cli.h"
#include "job.h"
#include "queue.h"
#include "summary.h"
#include "throttle.h"

typedef struct progress progress;

progress *progress_new(progress_mode mode, unsigned long long input_size, summary *sum);
void progress_free(progress *p);
void progress_set_throttle(progress *p, throttle *t, queue *q);
void progress_row_read(progress *p, unsigned long long bytes_read);
void progress_row_done(progress *p, row_status st);
/* Redraws (rate-limited to a few times a second, or every 10 s when not a terminal);
 * final = last draw, ends the line. */
void progress_draw(progress *p, int final);

#endif
