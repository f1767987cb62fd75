/* ledger_backend — the small ops table between ledger.c (locking, batching, the settle
 * buffer) and one store: ledger_sqlite*.c or ledger_pg*.c, and the helpers the stores share
 * (ledger_backend.c). The stores include this and ledger_types.h, never ledger.h: ledger.c
 * calls down into them, they never call up. Internal to the ledger module and its `ledger`
 * subcommand; the rest of the program includes ledger.h only. */
#ifndef OTTU_LEDGER_BACKEND_H
#define OTTU_LEDGER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ledger_types.h"

/* How a backend is opened: the two public modes, plus the subcommand's (an existing
 * ledger only, no job registered; writable for prune). */
enum { LEDGER_ADMIN_READ = 10, LEDGER_ADMIN_WRITE = 11 };

/* One buffered ledger_settle call; the identifier is text[off, off+len). */
typedef struct {
    size_t off, len;
    long row;
    unsigned sent, maybe;
    unsigned release; /* claimed, neither sent nor maybe: the claims to release */
    int64_t at_ms;
} ledger_settlement;


enum { LEDGER_LEASE_RENEW, LEDGER_LEASE_END };

enum { LEDGER_BUDGET_TAKE, LEDGER_BUDGET_RETURN, LEDGER_BUDGET_USED };

typedef struct ledger_ops {
    /* Applies the settlements, then claims the items, in ONE write transaction (either
     * list may be empty). peek: no transaction and no writes, items only looked up.
     * *written += records set to sent or maybe. 0, or -1 with err and nothing applied. */
    int (*write)(void *be, const ledger_settlement *s, size_t ns, const char *text, ledger_claim_item *items,
                 size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
                 size_t errlen);
    /* TAKE: up to n (limit <= 0: no limit) returns taken; RETURN: gives n back, returns 0;
     * USED: returns today's use. -1 with err. Each one transaction. */
    long long (*budget)(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                        size_t errlen);
    /* Fills st (caller frees days and budget). 0 or -1. */
    int (*stats)(void *be, const char *today, ledger_stats *st, char *err, size_t errlen);
    /* Deletes (or with dry_run counts) records of any state whose time is before
     * cutoff_ms, and budget days before cutoff's day. Returns how many records, or -1
     * with err; *left = records remaining. */
    long long (*prune)(void *be, int64_t cutoff_ms, int dry_run, long long *left, char *err, size_t errlen);
    void (*close)(void *be);
    /* This job's lease: RENEW = live for LEDGER_LEASE_MS from now (the store's clock), END =
     * over now (a clean close). 0 or -1 with err. */
    int (*lease)(void *be, int op, char *err, size_t errlen);
    /* Releases the open claims of job `name` (dry_run: counts them). A live lease refuses
     * unless force: returns -2 with err. Returns how many, or -1 with err. */
    long long (*release)(void *be, const char *name, int force, int dry_run, char *err, size_t errlen);
    /* The ledger's identity, created with it ("" when it has none: an old one read-only). */
    const char *(*identity)(void *be);
    /* The API of this job's claims and the records that block them (NULL: every API). */
    void (*set_api)(void *be, const char *api);
} ledger_ops;

extern const ledger_ops ledger_sqlite_ops;
extern const ledger_ops ledger_pg_ops;

/* mode: LEDGER_READWRITE, LEDGER_READONLY or LEDGER_ADMIN_*. NULL with err on failure.
 * A READONLY SQLite ledger that does not exist opens as an empty one. */
void *ledger_sqlite_open(const char *path, const char *job_id, int mode, char *err, size_t errlen);
void *ledger_pg_open(const char *uri, const char *job_id, int mode, char *err, size_t errlen);

/* 1 when spec names a PostgreSQL ledger (postgresql:// or postgres://). */
int ledger_is_pg(const char *spec);

/* Formats a message into err (either may be NULL/0: then nothing). Shared by the stores. */
void ledger_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Makes *buf hold at least need elements of elem bytes (doubling; *cap counts elements).
 * 0, or -1 with *buf untouched when out of memory. */
int ledger_grow(void **buf, size_t *cap, size_t need, size_t elem);

/* The entries of a batch that repeat a key, in one pass: a hash set of entry indices.
 * Keys are the caller's (hash and eq). ledger_keyset_slot returns the slot of the entry
 * with i's key: i itself when none was there before (then it was added), else the one kept
 * for that key, which the caller may replace by storing i. The loops that compared every
 * pair were 1.3% of the client's CPU at 256 rows a batch, on the reader's thread, and grow
 * with the square of the batch. */
typedef struct {
    long *slot; /* -1: empty */
    size_t mask;
} ledger_keyset;
typedef int (*ledger_key_eq)(const void *ctx, size_t a, size_t b);
int ledger_keyset_init(ledger_keyset *s, size_t n); /* for up to n entries; -1: no memory */
void ledger_keyset_free(ledger_keyset *s);
long *ledger_keyset_slot(ledger_keyset *s, uint64_t hash, size_t i, ledger_key_eq eq, const void *ctx);

#endif
