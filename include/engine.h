/* engine — the worker pool: each worker takes a row from the queue, waits for the
 * throttle, takes a request from the budget, journals the attempt, sends it through its
 * sender, and decides: sent, failed, unknown, retry later (back into the queue with a
 * backoff), or stop the job (key rejected, quota, budget, configuration, storage). */
#ifndef OTTU_ENGINE_H
#define OTTU_ENGINE_H

#include <stdint.h>

#include "http.h"
#include "journal.h"
#include "queue.h"
#include "reorder.h"
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

typedef struct engine_opts {
    http_shared *http;    /* for the default sender (libcurl); unused with a sender */
    throttle *thr;
    queue *q;
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
                             (ENGINE_STOP_QUOTA); 0 = the default, 300 s */
    long long limit;      /* --limit: rows this run starts at most, then ENGINE_STOP_LIMIT;
                             0 = none */
    const char *api_key;  /* scrubbed from every text taken from an answer; NULL = none */
    /* Called before every HTTP attempt, retries included: 1 = go, 0 = the budget is spent
     * (ENGINE_STOP_BUDGET), -1 = it could not be recorded (ENGINE_STOP_STORAGE; put the
     * reason in *msg). NULL = unlimited. Called from worker threads concurrently. */
    int (*take_request)(void *ctx, char *msg, size_t msglen);
    void *take_request_ctx;
    engine_sender sender; /* .send NULL = libcurl's http_client over http */
    /* --verify: a row with j->lookup set is handed to this (with the worker's HTTP client)
     * instead of being sent; NULL = no lookups. */
    void (*lookup_pass)(void *ctx, void *client, job *j, int stopping);
    void *lookup_ctx;
    int async;            /* --http2: attempts through one event loop (http_async over http),
                             `workers` of them in flight, instead of a thread each; needs
                             the default sender */
} engine_opts;

/* Why the job stopped before its end; the first reason wins. */
typedef enum {
    ENGINE_STOP_NONE = 0,
    ENGINE_STOP_INTERRUPT,    /* SIGINT/SIGTERM (exit 130) */
    ENGINE_STOP_KEY_REJECTED, /* 401/403 (exit 3) */
    ENGINE_STOP_CONFIG,       /* DNS or certificate failure: not an outage (exit 2) */
    ENGINE_STOP_QUOTA,        /* 429 with a wait over max_pause_ms (exit 4, stopped_by quota) */
    ENGINE_STOP_BUDGET,       /* take_request said 0 (exit 4, stopped_by budget) */
    ENGINE_STOP_LIMIT,        /* --limit rows started (exit 4, stopped_by limit) */
    ENGINE_STOP_STORAGE       /* journal, ledger or output could not be written (non-zero) */
} engine_reason;

typedef struct engine engine;

engine *engine_start(const engine_opts *o, char *err, size_t errlen);
/* Stops the job for a reason; callable from any thread (the signal watcher, the writer).
 * Every reason but LIMIT stops at once: no new attempts, attempts in flight finish, rows
 * waiting for a retry and rows not started become not_attempted (unknown if an earlier
 * attempt may have reached the API). LIMIT lets started rows finish their retries.
 * resume_after_ms: wall clock (epoch ms) when the API expects requests again, 0 = unknown.
 * message (may be NULL): what to tell the user; the first stop's is kept. Returns 1 when
 * this call's reason is the one that stopped the job (the caller may then say so), else 0. */
int engine_stop_because(engine *e, engine_reason reason, int64_t resume_after_ms, const char *message);
/* engine_stop_because(e, ENGINE_STOP_INTERRUPT, 0, NULL). */
void engine_stop(engine *e);
engine_reason engine_stop_reason(engine *e);
int64_t engine_resume_after_ms(engine *e);
/* The first stop's message ("" when none). */
void engine_stop_message(engine *e, char *buf, size_t size);
int engine_stopping(engine *e);
/* The API rejected the key (401/403): engine_stop_reason(e) == ENGINE_STOP_KEY_REJECTED. */
int engine_aborted(engine *e);
/* Waits for every worker (after queue_close). */
void engine_join(engine *e);
void engine_free(engine *e);

#endif
