/* engine — the worker pool: each worker takes a row from the queue, waits for the
 * throttle, takes a request from the budget, journals the attempt, submits it to its
 * driver (engine_driver.h: a blocking sender per worker, or one event loop with --http2),
 * and when the answer comes back decides: sent, failed, unknown, retry later (back into
 * the queue with a backoff), or stop the job (key rejected, quota, budget, configuration,
 * storage). */
#ifndef OTTU_ENGINE_H
#define OTTU_ENGINE_H

#include <stdint.h>

#include "http.h"
#include "journal.h"
#include "queue.h"
#include "reorder.h"
#include "stop.h"
#include "summary.h"
#include "throttle.h"

/* How an attempt goes out, like wrk's sock table: tests pass a fake. open runs once per
 * worker (NULL = cannot: that worker's rows become not_attempted); send fills res exactly
 * as http_post does (status, outcome, error_kind, retry_after_s, body); close ends it. */
typedef struct engine_sender {
    void *(*open)(void *arg);
    void (*send)(void *client, const job *j, http_result *res);
    void (*close)(void *client);
    void *arg;
} engine_sender;

/* --http2: the event loop that carries the attempts in flight, a table too (tests pass a
 * fake). open makes it with `slots` places; reserve takes one, waiting while all are taken;
 * post starts j's request on it, and done(owner, slot, j, res) follows exactly once, on the
 * loop's thread. res belongs to the slot: it stays valid, untouched by the loop, until the
 * slot is given back with release (which also gives back a slot never posted). close waits
 * for the transfers in flight, then frees. */
typedef void (*engine_loop_done)(void *owner, void *slot, void *j, http_result *res);
typedef struct engine_loop {
    void *(*open)(void *arg, int slots, engine_loop_done done, void *owner, char *err, size_t errlen);
    void *(*reserve)(void *loop);
    void (*post)(void *loop, void *slot, job *j);
    void (*release)(void *loop, void *slot);
    void (*close)(void *loop);
    void *arg;
} engine_loop;

typedef struct engine_opts {
    http_shared *http;    /* for the default sender (libcurl); unused with a sender */
    throttle *thr;
    queue *q;
    stop *stop;           /* why the job stops (stop.h): the engine requests stops and asks it */
    reorder *ro;
    journal *jn;          /* may be NULL (output to stdout) */
    summary *sum;
    int workers;
    int max_attempts;
    int64_t backoff_base_ms, backoff_max_ms;
    /* --- fields below may be left zero --- */
    int retry_ambiguous;  /* --retry-ambiguous: retry answers after which the API may have
                             acted (may notify twice) */
    int64_t max_pause_ms; /* --max-pause: a 429 asking for a longer wait stops the job
                             (STOP_QUOTA); 0 = the default, 300 s */
    const char *api_key;  /* scrubbed from every text taken from an answer; NULL = none */
    /* Called before every HTTP attempt, retries included: 1 = go, 0 = the budget is spent
     * (STOP_BUDGET), -1 = it could not be recorded (STOP_STORAGE; put the
     * reason in *msg). NULL = unlimited. Called from worker threads concurrently. */
    int (*take_request)(void *ctx, char *msg, size_t msglen);
    void *take_request_ctx;
    engine_sender sender; /* .send NULL = libcurl's http_client over http */
    /* --verify: a row with j->lookup set is handed to this (with the worker's HTTP client)
     * instead of being sent; NULL = no lookups. */
    void (*lookup_pass)(void *ctx, void *client, job *j, int stopping);
    void *lookup_ctx;
    int async;            /* --http2: attempts through one event loop, `workers` of them in
                             flight, instead of a thread each (engine_driver.h) */
    engine_loop loop;     /* with async: .open NULL = http_async over http */
} engine_opts;

typedef struct engine engine;

engine *engine_start(const engine_opts *o, char *err, size_t errlen);
/* Waits for every worker (after queue_close). */
void engine_join(engine *e);
void engine_free(engine *e);

#endif
