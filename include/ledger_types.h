/* ledger_types — the ledger's constants and the records that cross between ledger.c and
 * its stores (a claim, the stats): the bottom of the ledger module, so that ledger.h above
 * and ledger_backend.h below share them without including each other. */
#ifndef OTTU_LEDGER_TYPES_H
#define OTTU_LEDGER_TYPES_H

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
/* SQLite schema version (meta table and PRAGMA user_version); version 1 and 2 files are
 * migrated when opened read-write. PostgreSQL numbers its own (ottu_resend.version). */
#define LEDGER_SCHEMA_VERSION 3
/* A job's lease on its claims (docs/ledger.md, "Claims belong to their job"): renewed every
 * LEDGER_LEASE_RENEW_MS while the job runs; a job whose lease ended (its jobs row says so
 * by the store's clock) is dead, and its open claims count as maybe-sent from their claim
 * time. A job that could not renew for LEDGER_LEASE_MS - LEDGER_LEASE_MARGIN_MS starts no
 * new request (ledger_lease_ok), so it has stopped before anyone may take over. */
#define LEDGER_LEASE_MS 30000
#define LEDGER_LEASE_RENEW_MS 5000
#define LEDGER_LEASE_MARGIN_MS 10000

/* How a ledger is opened. */
typedef enum {
    LEDGER_READWRITE = 0,
    LEDGER_READONLY = 1   /* --dry-run: consulted, never created or written */
} ledger_mode;

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

typedef struct {
    char day[11]; /* YYYY-MM-DD, UTC */
    long long n[3]; /* sent or maybe, per channel bit index */
} ledger_day_count;

typedef struct {
    char scope[80];
    long long used;
} ledger_budget_row;

/* Records per API (normalised base URL; "" = from before per-API records). */
typedef struct {
    char api[256];
    long long sent, maybe, claimed;
} ledger_api_row;

/* A job holding open claims. */
typedef struct {
    char name[64];
    long long claims;
    int live; /* its lease is live: it is running (or lapsed less than LEDGER_LEASE_MS ago) */
} ledger_job_row;

/* What `ledger stats` prints. */
typedef struct {
    long long sent, maybe, claimed, released, identifiers, jobs;
    int64_t oldest_ms, newest_ms; /* of sent/maybe records; 0 when none */
    ledger_day_count *days;
    size_t ndays;
    ledger_budget_row *budget; /* today's use per scope */
    size_t nbudget;
    ledger_api_row *apis;
    size_t napis;
    ledger_job_row *open_jobs;
    size_t nopen;
} ledger_stats;

#endif
