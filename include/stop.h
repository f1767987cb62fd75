/* stop — why the job is stopping: one place that records the reason, its message and the
 * time the API takes requests again, under its own lock. The signal watcher, the writer,
 * the reader, the engine and the lookups request stops; the reader, the engine and the
 * writer ask it why rows are not sent; main.c reads it once for the exit status.
 *
 * Precedence (as the job has always behaved):
 * - the first hard stop requested wins: its reason, message and resume-after time stay;
 * - two facts stay true whatever stopped the job first, and name it for the rows not
 *   sent: a storage failure of the results or the ledger (stop_fail), then a signal
 *   (stop_interrupt);
 * - --limit is not a hard stop: the reader leaves the rows past it not sent while the
 *   rows already started finish (stop_limit); it names the stop only when nothing else did. */
#ifndef OTTU_STOP_H
#define OTTU_STOP_H

#include <stddef.h>
#include <stdint.h>

#include "exitcode.h"

typedef enum {
    STOP_NONE = 0,
    STOP_INTERRUPT,    /* SIGINT/SIGTERM (exit 130) */
    STOP_KEY_REJECTED, /* 401/403 (exit 3) */
    STOP_CONFIG,       /* DNS or certificate failure: not an outage (exit 2) */
    STOP_QUOTA,        /* 429 with a wait over --max-pause (exit 4, stopped_by quota) */
    STOP_BUDGET,       /* today's --daily-budget is spent (exit 4, stopped_by budget) */
    STOP_LIMIT,        /* --limit rows sent (exit 4, stopped_by limit); never a hard stop */
    STOP_STORAGE       /* the journal, the ledger (its lease included) or a result file could
                          not be written (exit 2) */
} stop_reason;

typedef struct stop stop;

stop *stop_new(void);
/* secret (kept by pointer; NULL = none): scrubbed from every message from now on. Set it
 * before other threads request stops. */
void stop_set_secret(stop *s, const char *secret);
void stop_free(stop *s);

/* Called after every hard stop request (the engine wakes its queue and throttle); any
 * thread. fn NULL = none. */
void stop_on_request(stop *s, void (*fn)(void *ctx), void *ctx);

/* A hard stop: no new attempt starts, attempts in flight finish. resume_after_ms: epoch ms
 * when the API expects requests again (0 = unknown); message may be NULL. Returns 1 when
 * this call's reason is the one that stopped the job (the caller may then say so). Any
 * thread. reason must not be STOP_NONE or STOP_LIMIT. */
int stop_request(stop *s, stop_reason reason, int64_t resume_after_ms, const char *message);
/* A signal: stop_request(INTERRUPT) and remember it. Returns how many signals came before
 * this one (0 = the first). */
int stop_interrupt(stop *s);
/* The results or the ledger could not be written: the first failure's message is kept
 * for the exit, and the job stops (STOP_STORAGE). */
void stop_fail(stop *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --limit reached by the reader: writes the rows' wording into words. */
void stop_limit(stop *s, long long limit, char *words, size_t size);

/* The first hard stop (STOP_NONE while none). */
stop_reason stop_first(stop *s);
/* A hard stop was requested. */
int stop_stopping(stop *s);
int stop_failed(stop *s);
int64_t stop_resume_after_ms(stop *s);
/* The first hard stop's message ("" when none), and its reason: the two read together. */
stop_reason stop_message(stop *s, char *buf, size_t size);
/* The first storage failure's message (stop_fail; "" when none). */
void stop_fail_message(stop *s, char *buf, size_t size);

/* Why rows are not sent, after "not sent: " (e.g. "the job was interrupted"), by the
 * precedence above; NULL while the job is not stopping (--limit is the reader's own). */
const char *stop_words(stop *s);

/* For the exit status: sets the causes this stop explains (storage_failed, key_rejected,
 * config_error, interrupted, limited); *by gets quota, budget or limit (NULL: none).
 * Returns the first hard stop, read with them. */
stop_reason stop_causes(stop *s, exit_causes *why, const char **by);

#endif
