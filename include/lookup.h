/* lookup — --verify: what the Checkout API says of a transaction now
 * (GET /b/checkout/v1/pymt-txn/{session_id}/). Three parts: the pure ones (the path, the
 * answer's parsing, the verdict on a row), a bounded cache of the transactions read in
 * this job (one GET per session_id, memory flat), and the lookup pass the engine's
 * workers run for a row marked for it (same throttle, budget and -j as sends). */
#ifndef OTTU_LOOKUP_H
#define OTTU_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define LOOKUP_PATH_BASE "/b/checkout/v1/pymt-txn/"

typedef enum {
    LOOKUP_PENDING = 0,
    LOOKUP_FOUND,     /* 200 with a transaction */
    LOOKUP_NOT_FOUND, /* 404: no such transaction */
    LOOKUP_FAILED,    /* no usable answer after the job's attempts (detail says why) */
    LOOKUP_STOPPED    /* the job stopped before the answer (key rejected, quota, interrupt) */
} lookup_status;

/* The facts of a transaction --verify uses. */
typedef struct lookup_txn {
    char *order_no;      /* owned; "" when the transaction has none */
    rules_state state;   /* the current state */
    uint16_t events[3];  /* per channel (sms, email, whatsapp): bit 1 << event enabled */
    int has_email, has_phone;
} lookup_txn;

/* ---- pure ---- */

/* The GET's path for a session_id, into out. -1 when the session_id cannot name a
 * transaction (the path parameter is ^[-\w]+$: ASCII letters, digits, '_' and '-' here). */
int lookup_path(const char *session_id, char *out, size_t size);
/* Parses a 200 answer (CheckoutGETResponse). 0, or -1 with err (not a JSON object, no or
 * an unknown state). t->order_no is allocated: lookup_txn_clear frees it. */
int lookup_parse(const char *body, size_t len, lookup_txn *t, char *err, size_t errlen);
void lookup_txn_clear(lookup_txn *t);

/* What a row becomes once its transaction is known. */
typedef struct lookup_verdict {
    int go;          /* 1: send keep; 0: skipped (note says why) */
    unsigned keep;   /* channels to send */
    char note[400];  /* the detail: drift, channels dropped, the state sent for */
} lookup_verdict;
/* channels: what the row asks; row_state: its state column (RULES_STATE_NONE = none);
 * accept_current: --verify-accept-current. */
void lookup_judge(const lookup_txn *t, unsigned channels, rules_state row_state, int accept_current,
                  lookup_verdict *v);

/* ---- the cache and the pass ---- */

typedef struct lookup lookup;
typedef struct lookup_entry lookup_entry;
struct job;
struct throttle;
struct queue;
struct stop;
struct summary;

typedef struct lookup_opts {
    struct throttle *thr;
    struct queue *q;
    struct stop *stop;      /* stops the job (key rejected, quota, budget, configuration) */
    struct summary *sum;    /* lookups, lookup_retries */
    int max_attempts;
    int64_t backoff_base_ms, backoff_max_ms, max_pause_ms;
    const char *api_key;    /* scrubbed from what is kept of an answer */
    int (*take_request)(void *ctx, char *msg, size_t msglen); /* --daily-budget; NULL = none */
    void *take_request_ctx;
    size_t capacity;        /* transactions remembered (0 = LOOKUP_DEFAULT_CAPACITY) */
} lookup_opts;

#define LOOKUP_DEFAULT_CAPACITY 8192

lookup *lookup_new(const lookup_opts *o);
void lookup_free(lookup *l);
/* Reader thread: the entry of session_id, taken for one row (lookup_release gives it
 * back). *fresh = 1 when nobody asked before: the caller queues the row for the lookup
 * pass (j->lookup = entry). NULL when out of memory. */
lookup_entry *lookup_get(lookup *l, const char *session_id, int *fresh);
/* Reader thread: waits for the entry's answer; t points into the entry (valid until
 * lookup_release), detail says why for FAILED. */
lookup_status lookup_wait(lookup *l, lookup_entry *e, const lookup_txn **t, const char **detail);
int lookup_done(lookup *l, lookup_entry *e);
void lookup_release(lookup *l, lookup_entry *e);
/* GETs made and transactions remembered, for tests and the summary. */
size_t lookup_cached(lookup *l);

/* The engine's hook for a row with j->lookup set (worker thread): throttle, budget, GET
 * through client (an http_client), then complete the entry, retry later (back into the
 * queue) or stop the job. stopping: the job is stopping (complete as STOPPED). */
void lookup_pass(void *lookup_ctx, void *client, struct job *j, int stopping);

#endif
