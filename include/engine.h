/* engine — the worker pool: each worker takes a row from the queue, waits for the
 * throttle, journals the attempt, sends it, and decides: sent, failed, retry later (back
 * into the queue with a backoff), or abort the job (401/403). */
#ifndef OTTU_ENGINE_H
#define OTTU_ENGINE_H

#include <stdint.h>

#include "http.h"
#include "journal.h"
#include "queue.h"
#include "reorder.h"
#include "summary.h"
#include "throttle.h"

typedef struct engine_opts {
    http_shared *http;
    throttle *thr;
    queue *q;
    reorder *ro;
    journal *jn;          /* may be NULL (output to stdout) */
    summary *sum;
    int workers;
    int max_attempts;
    int64_t backoff_base_ms, backoff_max_ms;
} engine_opts;

typedef struct engine engine;

engine *engine_start(const engine_opts *o, char *err, size_t errlen);
/* Interrupt: no new attempts; attempts in flight finish; the rest becomes not_attempted.
 * Safe to call from the signal-watching thread. */
void engine_stop(engine *e);
int engine_stopping(engine *e);
/* The API rejected the key (401/403); set by a worker. */
int engine_aborted(engine *e);
/* Waits for every worker (after queue_close). */
void engine_join(engine *e);
void engine_free(engine *e);

#endif
