/* ledger — the record of notifications claimed and sent across jobs and machines
 * (--ledger, --cooldown, --daily-budget): an SQLite file by default, or PostgreSQL. Knows
 * nothing of CSV, HTTP or threads other than its own lock. The `ottu-resend ledger`
 * subcommand is in ledger_cmd.c. Schema and operator queries: docs/ledger.md. */
#ifndef OTTU_LEDGER_H
#define OTTU_LEDGER_H

#include <stddef.h>
#include <stdint.h>

/* Default --cooldown: 24 hours. */
#define LEDGER_DEFAULT_COOLDOWN_MS (24LL * 3600 * 1000)
/* A batch is committed when it holds this many records or its oldest is this old. */
#define LEDGER_BATCH_RECORDS 256
#define LEDGER_BATCH_MS 200
/* While claims keep coming, settlements wait for the next claim's transaction, up to
 * this many (ledger.c, due_locked). */
#define LEDGER_SETTLE_MAX (4 * LEDGER_BATCH_RECORDS)
/* How long a writer waits for another process's transaction before giving up. */
#define LEDGER_BUSY_TIMEOUT_MS 10000
/* SQLite schema version (meta table and PRAGMA user_version); version 1 files are
 * migrated when opened read-write. PostgreSQL numbers its own (ottu_resend.version). */
#define LEDGER_SCHEMA_VERSION 2

typedef struct ledger ledger;

/* How a ledger is opened. */
typedef enum {
    LEDGER_READWRITE = 0,
    LEDGER_READONLY = 1   /* --dry-run: consulted, never created or written */
} ledger_mode;

/* Opens the ledger named by spec: an SQLite file path (created 0600, its folder 0700 when
 * missing, with the schema) or a postgresql:// / postgres:// URI (issue 17). job_id
 * (non-empty) names this job in its claims and records and stays the same across
 * --resume. Fails with a message naming the ledger (never a password) when it cannot be
 * opened, is not a ledger, was written by a newer schema, or cannot be written.
 * Thread-safe object: claims come from the reader thread, settlements from the writer
 * thread, ledger_tick from a periodic thread, budget calls from workers. */
ledger *ledger_open(const char *spec, const char *job_id, ledger_mode mode, char *err, size_t errlen);

/* ---- claims: before a request goes out ---- */

/* One row's claim: which of `channels` (RULES_* bits) this job may send for identifier.
 * Filled by ledger_claim: granted = channels now claimed by this job (send only these);
 * for each channel bit i not granted, why: blocked_at_ms[i] (when the other send/claim
 * happened), blocked_kind[i] and blocked_job[i] (the other job's id; "" for this job). */
typedef enum { LEDGER_FREE = 0, LEDGER_SENT, LEDGER_MAYBE, LEDGER_CLAIMED } ledger_kind;

typedef struct ledger_claim_item {
    const char *id;
    size_t idlen;
    unsigned channels;
    long row;
    /* in, optional: 1 = this job's own maybe-sent record of this same row does not block
     * (--resend-unknown asks for exactly that); 0 otherwise */
    int resend_own;
    /* out */
    unsigned granted;
    ledger_kind blocked_kind[3];
    int64_t blocked_at_ms[3];
    char blocked_job[3][40];
} ledger_claim_item;

/* Claims every item in one transaction: a (identifier, channel) is granted unless a send
 * or maybe-send (of any job, this one included), or a claim by another job or by another
 * row of this job, exists within cooldown_ms before now_ms (time > now_ms - cooldown_ms).
 * This job's own open claim on the same row -- from an earlier run of the same job whose
 * journal shows the row was never attempted -- is taken over. Settlements still buffered
 * are committed in the same transaction first, so the answer is exact. cooldown_ms <= 0: everything is granted, and still
 * recorded as claimed. In READONLY mode nothing is written: granted says what a real run
 * would be granted now. Returns 0, or -1 with err (busy past LEDGER_BUSY_TIMEOUT_MS, disk
 * full, connection lost): then nothing of the batch is claimed and nothing may be sent. */
int ledger_claim(ledger *l, ledger_claim_item *items, size_t n, int64_t now_ms, int64_t cooldown_ms, char *err,
                 size_t errlen);

/* ---- settlement: after the outcome ---- */

/* Settles this job's claim on row `row` for identifier: `sent` channels confirmed at at_ms,
 * `maybe` channels kept as maybe-sent (they block like a send within the cooldown), every
 * other claimed channel of the row released. Buffered and committed in batches
 * (LEDGER_BATCH_RECORDS / LEDGER_BATCH_MS). Returns 0, or -1 with err when a due commit
 * failed: the caller must stop sending (fail-stop); the settlement stays buffered and is
 * retried by the next commit. */
int ledger_settle(ledger *l, const char *id, size_t idlen, long row, unsigned sent, unsigned maybe, int64_t at_ms,
                  char *err, size_t errlen);

/* Commits the batch when due (cheap otherwise); call it a few times a second. 0 or -1. */
int ledger_tick(ledger *l, char *err, size_t errlen);
/* Commits whatever is buffered now. Returns 0, or -1 with err. */
int ledger_flush(ledger *l, char *err, size_t errlen);
/* Flushes (a failure is reported on stderr) and closes. Returns 0, or -1 when the flush
 * failed: the caller must not exit 0. */
int ledger_close(ledger *l);

/* ---- the daily request budget (issue 16), shared by every job on this ledger ---- */

/* Takes up to want requests from today's budget (UTC day of now_ms) for scope (a hash of
 * base URL and key: never the key itself), when at most limit are used per day (limit
 * <= 0: no limit, the use is still counted). READONLY: grants want, counts nothing. Returns
 * the number taken (0 = the budget is spent), or -1 with err. Callers take in small
 * blocks and give back what they did not use. */
long ledger_budget_take(ledger *l, const char *scope, long want, long long limit, int64_t now_ms, char *err,
                        size_t errlen);
/* Gives back n requests taken today and not used. */
int ledger_budget_return(ledger *l, const char *scope, long n, int64_t now_ms, char *err, size_t errlen);
/* Requests used today for scope, or -1 with err. */
long long ledger_budget_used(ledger *l, const char *scope, int64_t now_ms, char *err, size_t errlen);

/* Records this handle has written (claims settled as sent or maybe) so far. */
long long ledger_written(ledger *l);

/* `ottu-resend ledger ...` (ledger_cmd.c): argv[0] is "ledger". `stats PATH|URL` and
 * `prune --older-than D [--dry-run] PATH|URL`; neither creates a ledger. Prints to stdout, errors to stderr. Returns 0
 * ok, 1 when the ledger failed after it was opened, 2 usage or open error. */
int ledger_main(int argc, char **argv);

#endif
