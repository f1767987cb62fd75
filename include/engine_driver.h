/* engine_driver — the engine's one sending contract: a worker reserves a place for an
 * attempt, submits it, and its answer comes back through done(owner, j, res) exactly once,
 * on one of the engine's threads, never on an event loop's. Two drivers keep it: threads
 * (a blocking engine_sender per worker, answered on the worker's own thread) and loop
 * (--http2: an engine_loop carries every attempt in flight; its thread only hands answers
 * over to a few completer threads, which judge them). */
#ifndef OTTU_ENGINE_DRIVER_H
#define OTTU_ENGINE_DRIVER_H

#include "engine.h"

/* An attempt's answer: judged, journalled and settled by the engine. res is valid only
 * during the call (the driver reuses its buffer afterwards); the callee may change it. */
typedef void (*driver_done)(void *owner, job *j, http_result *res);

typedef struct driver driver;

/* What a worker thread holds: the sender's client (threads driver; NULL with the loop, or
 * when it could not be opened) and the buffer its answers land in. */
typedef struct driver_worker {
    void *client;
    http_result res;
} driver_worker;

/* One attempt at a time per worker thread, through s (s->send non-NULL). */
driver *driver_threads(const engine_sender *s, driver_done done, void *owner, char *err, size_t errlen);
/* `slots` attempts in flight through l (l->open non-NULL); `completers` threads judge the
 * answers. */
driver *driver_loop(const engine_loop *l, int slots, int completers, driver_done done, void *owner, char *err,
                    size_t errlen);

void driver_worker_open(driver *d, driver_worker *w);
void driver_worker_close(driver *d, driver_worker *w);
/* A place for one more attempt in flight (the loop: waits while every slot is taken).
 * NULL = this worker cannot send (no client). */
void *driver_reserve(driver *d, driver_worker *w);
/* Gives back a place that will not be used. */
void driver_cancel(driver *d, void *slot);
/* Sends j's request; done(owner, j, res) follows exactly once (the threads driver: before
 * this returns). j->req must stay valid until then. */
void driver_submit(driver *d, void *slot, job *j);
/* After the workers: waits until every answer was handled, then frees. */
void driver_free(driver *d);

#endif
