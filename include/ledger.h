/* ledger — the record of notifications claimed and sent across jobs and machines
 * (--ledger, --cooldown, --daily-budget): an SQLite file by default, or PostgreSQL. Knows
 * nothing of CSV, HTTP or threads other than its own lock. The `ottu-resend ledger`
 * subcommand is in ledger_cmd.c. Schema and operator queries: docs/ledger.md. */
#ifndef OTTU_LEDGER_H
#define OTTU_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger_types.h"

typedef struct ledger ledger;

/* Opens the ledger named by spec: an SQLite file path (created 0600, its folder 0700 when
 * missing, with the schema) or a postgresql:// / postgres:// URI (issue 17). job_id
 * (non-empty) names this job in its claims and records and stays the same across
 * --resume. Fails with a message naming the ledger (never a password) when it cannot be
 * opened, is not a ledger, was written by a newer schema, or cannot be written.
 * Thread-safe object: claims come from the reader thread, settlements from the writer
 * thread, ledger_tick from a periodic thread, budget calls from workers. */
ledger *ledger_open(const char *spec, const char *job_id, ledger_mode mode, char *err, size_t errlen);

/* ---- which API, which ledger, which job is alive ---- */

/* The API's name in the ledger: the base URL with scheme and host lower-cased, the port
 * always written (80, 443 by default), userinfo, query and fragment dropped, and the path
 * ending in exactly one '/'. "HTTPS://Merchant.Ottu.net" and "https://merchant.ottu.net:443//"
 * are one API: "https://merchant.ottu.net:443/". Returns 0, or -1 when url is not http(s). */
int ledger_api_normalise(const char *url, char *out, size_t size);
/* Keys this job's claims and records by the API at base_url (normalised here); NULL: the
 * lookups match every API (a dry run without --base-url). Call before the first claim. */
void ledger_set_api(ledger *l, const char *base_url);
/* The normalised API ("" when none). */
const char *ledger_api(const ledger *l);
/* 1 while this job may start requests: its lease was renewed less than LEDGER_LEASE_MS -
 * LEDGER_LEASE_MARGIN_MS ago (always 1 for a read-only ledger). Lock-free, any thread. */
int ledger_lease_ok(ledger *l);
/* The ledger's identity, created with it ("" for an old ledger opened read-only), its
 * backend ("sqlite" or "postgresql") and location (absolute path, or the URI). */
const char *ledger_identity(const ledger *l);
const char *ledger_backend_name(const ledger *l);
const char *ledger_location(const ledger *l);

/* ---- claims: before a request goes out ---- */


/* Claims every item in one transaction, for this job's API (ledger_set_api; records of
 * other APIs never block, records from before per-API records block every API). A
 * (identifier, channel) is granted unless one of these blocks it:
 *  - an open claim of another job whose lease is live, whatever cooldown_ms (0 included):
 *    a claim belongs to its job until settled;
 *  - a send or maybe-send (of any job, this one included) within cooldown_ms before now_ms
 *    (time > now_ms - cooldown_ms), counted from its settlement;
 *  - an open claim of a dead job (lease ended) or of another row of this job, within
 *    cooldown_ms of its claim time (a dead job's claim is maybe-sent).
 * This job's own open claim on the same row -- from an earlier run of the same job whose
 * journal shows the row was never attempted -- is taken over. Settlements still buffered
 * are committed in the same transaction first, so the answer is exact. cooldown_ms <= 0:
 * only live claims of other jobs block; the rest is granted, and still recorded as
 * claimed. In READONLY mode nothing is written: granted says what a real run would be
 * granted now. Returns 0, or -1 with err (busy past LEDGER_BUSY_TIMEOUT_MS, disk full,
 * connection lost): then nothing of the batch is claimed and nothing may be sent. */
int ledger_claim(ledger *l, ledger_claim_item *items, size_t n, int64_t now_ms, int64_t cooldown_ms, char *err,
                 size_t errlen);

/* ---- settlement: after the outcome ---- */

/* Settles this job's claim on row `row` for identifier: `sent` channels confirmed at at_ms,
 * `maybe` channels kept as maybe-sent (they block like a send within the cooldown), and the
 * other channels of `claimed` (the ones this job claimed for the row) released. A channel
 * not in `claimed` is not looked at: a one-channel row costs one write, not three.
 * Buffered and committed in batches (LEDGER_BATCH_RECORDS / LEDGER_BATCH_MS). Returns 0,
 * or -1 with err when a due commit failed: the caller must stop sending (fail-stop); the
 * settlement stays buffered and is retried by the next commit. */
int ledger_settle(ledger *l, const char *id, size_t idlen, long row, unsigned claimed, unsigned sent, unsigned maybe,
                  int64_t at_ms, char *err, size_t errlen);

/* Commits the batch when due and renews the job's lease every LEDGER_LEASE_RENEW_MS
 * (cheap otherwise); call it a few times a second. 0, or -1 with err: stop sending. */
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

/* ---- for the `ledger` subcommand (ledger_cmd.c): an existing ledger, its stats, prune ---- */

ledger *ledger_open_admin(const char *spec, int writable, char *err, size_t errlen);
int ledger_get_stats(ledger *l, int64_t now_ms, ledger_stats *st, char *err, size_t errlen);
long long ledger_release_job(ledger *l, const char *name, int force, int dry_run, char *err, size_t errlen);
long long ledger_prune_before(ledger *l, int64_t cutoff_ms, int dry_run, long long *left, char *err, size_t errlen);

/* Frees what ledger_get_stats allocated. */
void ledger_stats_free(ledger_stats *st);

/* `ottu-resend ledger ...` (ledger_cmd.c): argv[0] is "ledger". `stats PATH|URL`,
 * `prune --older-than D [--cooldown D] [--force] [--dry-run] PATH|URL` and
 * `release --job NAME [--force] [--dry-run] PATH|URL`; none creates a ledger. Prints to stdout, errors to stderr. Returns 0
 * ok, 1 when the ledger failed after it was opened, 2 usage or open error. */
int ledger_main(int argc, char **argv);

#endif
