/* ledger — the SQLite record of notifications sent across jobs (--ledger, --cooldown) and
 * the `ottu-resend ledger stats|prune` subcommand. Knows nothing of CSV, HTTP or threads
 * other than its own lock. Schema and operator queries: docs/ledger.md. */
#ifndef OTTU_LEDGER_H
#define OTTU_LEDGER_H

#include <stddef.h>
#include <stdint.h>

/* Default --cooldown: 24 hours. */
#define LEDGER_DEFAULT_COOLDOWN_MS (24LL * 3600 * 1000)
/* A batch is committed when it holds this many records or its oldest is this old. */
#define LEDGER_BATCH_RECORDS 256
#define LEDGER_BATCH_MS 200
/* How long a writer waits for another process's transaction before giving up. */
#define LEDGER_BUSY_TIMEOUT_MS 10000
/* Schema version written to the meta table and PRAGMA user_version. */
#define LEDGER_SCHEMA_VERSION 1

typedef struct ledger ledger;

/* Opens the ledger at path, creating it (and its schema) when the file is missing or
 * empty; job_id (non-empty) names this job in the records and must stay the same across
 * --resume so replays are recognised. Fails with a message naming the path when the file
 * is not an SQLite database, is damaged, belongs to another application, was written by a
 * newer schema, or cannot be written. Thread-safe object: ledger_recent may be called
 * from one thread while ledger_record/ledger_flush/ledger_tick are called from another. */
ledger *ledger_open(const char *path, const char *job_id, char *err, size_t errlen);

/* Which of `channels` (RULES_* bits) were sent for identifier within cooldown_ms before
 * now_ms (sent_at > now_ms - cooldown_ms). cooldown_ms <= 0: nothing is recent. Sets
 * *recent and sent_at_ms[i] = the latest send time of channel bit i (0 sms, 1 email,
 * 2 whatsapp) for recent channels, 0 for the others. Sees committed records of every job
 * and this handle's records that are still waiting in the batch. Never writes.
 * Returns 0, or -1 with err. */
int ledger_recent(ledger *l, const char *id, size_t idlen, unsigned channels, int64_t now_ms,
                  int64_t cooldown_ms, unsigned *recent, int64_t sent_at_ms[3], char *err,
                  size_t errlen);

/* Records a confirmed send of `channels` for identifier at at_ms, as row `row` of this
 * job. Buffered; the batch is committed when it is full or old enough (see above).
 * Recording the same (job, row, channel) again is a no-op in the database (the first
 * record wins). Returns 0, or -1 with err when a due commit failed: the records stay
 * buffered and the next commit retries them, but the caller should treat the ledger as
 * failing (another job held the lock for over 10 s, disk full, ...). */
int ledger_record(ledger *l, const char *id, size_t idlen, unsigned channels, int64_t at_ms,
                  long row, char *err, size_t errlen);

/* Commits the batch when it is due (full, or its oldest record is LEDGER_BATCH_MS old).
 * Cheap when nothing is due; call it from a periodic thread when records can be sparse,
 * so they reach the file (and other jobs) within about LEDGER_BATCH_MS. Returns 0 or -1. */
int ledger_tick(ledger *l, char *err, size_t errlen);

/* Commits whatever is buffered now. Returns 0, or -1 with err. */
int ledger_flush(ledger *l, char *err, size_t errlen);

/* Flushes (a failure is reported on stderr, as nobody else can see it) and closes. */
void ledger_close(ledger *l);

/* Records this handle has written to the file (inserted, not ignored) so far. */
long long ledger_written(ledger *l);

/* `ottu-resend ledger ...`: argv[0] is "ledger". `stats PATH` and
 * `prune --older-than D [--dry-run] PATH`. Prints to stdout, errors to stderr. Returns 0
 * ok, 1 when the ledger failed after it was opened, 2 usage or open error. */
int ledger_main(int argc, char **argv);

#endif
