/* ledger_sqlite — the SQLite store of the ledger (the default): opening it, its ops table,
 * and the claims and settlements. The schema is in ledger_sqlite_schema.c, budget, stats,
 * prune and leases in ledger_sqlite_admin.c, the shared SQLite calls in ledger_sqlite_db.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "ledger_backend.h"
#include "rules.h"

#include "ledger_sqlite.h"

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static void sq_close(void *be)
{
    sq *s = be;
    if (!s)
        return;
    sqlite3_finalize(s->lookup);
    sqlite3_finalize(s->job_name);
    sqlite3_finalize(s->blocked);
    sqlite3_finalize(s->grant);
    sqlite3_finalize(s->update_sent);
    sqlite3_finalize(s->insert_sent);
    sqlite3_finalize(s->set_maybe);
    sqlite3_finalize(s->release);
    sqlite3_close(s->db);
    free(s->path);
    free(s->api);
    free(s);
}

/* The records that block a claim on (identifier ?1, channel ?2) by job ?4, row ?5, for
 * API ?7 (NULL: any; records of API '' predate per-API records and block every API), at
 * ?8 = now: a send or maybe-send of anyone within the cooldown (at_ms > ?3); an open claim
 * of another job whose lease is live, whatever the cooldown; an open claim of a dead job or
 * of another row of this job within the cooldown from its claim time. ?6 = this row's own
 * maybe-send does not count (--resend-unknown). */
#define BLOCKERS                                                                                                   \
    "c.identifier = ?1 AND c.channel = ?2 AND c.state <> 'released' "                                              \
    "AND (?7 IS NULL OR c.api = ?7 OR c.api = '') "                                                                \
    "AND NOT (c.job_id = ?4 AND c.row_no = ?5 AND (c.state = 'claimed' OR (?6 AND c.state = 'maybe'))) "          \
    "AND (c.at_ms > ?3 OR (c.state = 'claimed' AND c.job_id <> ?4 AND "                                            \
    "EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id AND " SQ_LIVE("j", "?8") ")))"

static int prepare_all(sq *s)
{
    int rc;
    /* The newest record that blocks a claim (BLOCKERS), for the details of a refused one.
     * (max() rather than ORDER BY: no temporary b-tree per lookup; SQLite takes the other
     * columns from the row with the maximum.) The 4th column: the blocker's job is live. */
    if ((rc = prepare(s->db,
                      "SELECT c.state, max(c.at_ms), c.job_id, "
                      "coalesce((SELECT " SQ_LIVE("j", "?8") " FROM jobs j WHERE j.id = c.job_id), 0) "
                      "FROM claims c WHERE " BLOCKERS,
                      &s->lookup)) != SQLITE_OK)
        return rc;
    /* Whether any record blocks a claim (cheaper than the look-up: it stops at the first). */
    if ((rc = prepare(s->db, "SELECT 1 FROM claims c WHERE " BLOCKERS " LIMIT 1", &s->blocked)) != SQLITE_OK)
        return rc;
    if ((rc = prepare(s->db, "SELECT name FROM jobs WHERE id = ?1", &s->job_name)) != SQLITE_OK)
        return rc;
    if (s->mode == LEDGER_READONLY || s->mode == LEDGER_ADMIN_READ)
        return SQLITE_OK;
    /* A claim is two statements when nothing blocks it: blocked, then the claim inserted
     * (or an old record of this row turned back into a claim). One INSERT ... SELECT ...
     * WHERE NOT EXISTS reading claims would be one statement, but SQLite materializes a
     * SELECT from the table it inserts into in a temporary table on every execution: that
     * cost 3.5 us a claim, more than the second statement. A record already sent or
     * maybe-sent is never turned back into a claim (with --cooldown 0 everything is
     * granted, but the history stays). */
    if ((rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms, api) "
                      "VALUES (?1, ?2, ?4, ?5, 'claimed', ?8, ?8, coalesce(?7, '')) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET state = 'claimed', "
                      "claimed_at_ms = excluded.claimed_at_ms, at_ms = excluded.at_ms, api = excluded.api "
                      "WHERE state IN ('claimed', 'released') OR (?6 AND state = 'maybe')",
                      &s->grant)) != SQLITE_OK ||
        /* A send settled: an update by key, then an insert when the row has no record
         * (the legacy path; the same transaction, so nothing comes between). An upsert
         * would rewrite the record through its conflict path, which costs more. */
        (rc = prepare(s->db,
                      "UPDATE claims SET state = 'sent', at_ms = ?5 "
                      "WHERE identifier = ?1 AND channel = ?2 AND job_id = ?3 AND row_no = ?4",
                      &s->update_sent)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms, api) "
                      "VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?5, coalesce(?6, ''))",
                      &s->insert_sent)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms, api) "
                      "VALUES (?1, ?2, ?3, ?4, 'maybe', ?5, ?5, coalesce(?6, '')) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET state = 'maybe', "
                      "at_ms = excluded.at_ms WHERE state <> 'sent'",
                      &s->set_maybe)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      /* A claimed channel the row did not send: released (by key: a point
                       * write, no temporary b-tree as a multi-row UPDATE needs). */
                      "UPDATE claims SET state = 'released', at_ms = ?5 "
                      "WHERE identifier = ?1 AND channel = ?2 AND job_id = ?3 AND row_no = ?4 AND state = 'claimed'",
                      &s->release)) != SQLITE_OK)
        return rc;
    return SQLITE_OK;
}

/* Read-only: a missing file is an empty ledger; never creates anything. */
static int open_readonly(sq *s, const char *job_id, char *err, size_t errlen)
{
    struct stat sb;
    int rc, found = stat(s->path, &sb) == 0;
    if (!found && errno == ENOENT) {
        if (s->mode == LEDGER_ADMIN_READ) {
            ledger_set_err(err, errlen, "ledger %s: no such file", s->path);
            return -1;
        }
        return 0;
    }
    if (found && S_ISREG(sb.st_mode) && sb.st_size == 0) {
        sq_empty_error(s->path, err, errlen); /* before SQLite reads a WAL into it */
        return -1;
    }
    s->db = sq_db_open(s->path, SQLITE_OPEN_READONLY, &s->version, err, errlen);
    if (!s->db)
        return -1;
    if ((rc = sq_read_only_compat(s)) != SQLITE_OK || (rc = sq_find_job(s, job_id)) != SQLITE_OK) {
        sq_db_error(s->db, s->path, "reading the schema", rc, err, errlen);
        return -1;
    }
    return 0;
}

static int open_readwrite(sq *s, const char *job_id, char *err, size_t errlen)
{
    struct stat sb;
    if (s->mode == LEDGER_ADMIN_WRITE) {
        if (stat(s->path, &sb) != 0) {
            ledger_set_err(err, errlen, "ledger %s: %s", s->path, strerror(errno));
            return -1;
        }
        if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
            sq_empty_error(s->path, err, errlen);
            return -1;
        }
    } else if (sq_make_parent(s->path, err, errlen) != 0 || sq_create_file(s->path, err, errlen) != 0) {
        return -1;
    }
    s->db = sq_db_open(s->path, SQLITE_OPEN_READWRITE, &s->version, err, errlen);
    if (!s->db)
        return -1;
    /* "Opened" read-only means the OS refused writing; say so now, not at the first commit. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        ledger_set_err(err, errlen, "ledger %s: cannot write (the file is read-only); check its permissions", s->path);
        return -1;
    }
    if (sq_set_wal(s->db, s->path, err, errlen) != 0 || sq_init_schema(s, job_id, err, errlen) != 0)
        return -1;
    if (sq_find_job(s, job_id) != SQLITE_OK) {
        sq_db_error(s->db, s->path, "reading the schema", SQLITE_ERROR, err, errlen);
        return -1;
    }
    return 0;
}

/* Once per process, before SQLite initializes:
 * - SQLite allocates and frees buffers of a few hundred KiB at the top of the heap in
 *   every transaction, and glibc gives them back to the kernel each time (brk, a TLB
 *   flush): that was a third of the CPU time of a claim. Keep up to 64 MiB of freed heap.
 * - SQLite counts every allocation under a global mutex for sqlite3_memory_used(), which
 *   nothing here reads: 2 us of the 14 us a row cost in the ledger. (Refused, harmlessly,
 *   if SQLite was already initialized.) */
static void setup_once(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void *ledger_sqlite_open(const char *path, const char *job_id, int mode, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, setup_once);
    sq *s = calloc(1, sizeof *s);
    int rc, ro = mode == LEDGER_READONLY || mode == LEDGER_ADMIN_READ;
    if (!s || !(s->path = strdup(path))) {
        free(s);
        ledger_set_err(err, errlen, "ledger %s: out of memory", path);
        return NULL;
    }
    s->mode = mode;
    s->job_id = -1;
    s->full = 1;
    if ((ro ? open_readonly(s, job_id, err, errlen) : open_readwrite(s, job_id, err, errlen)) != 0) {
        sq_close(s);
        return NULL;
    }
    /* The tables' CHECK constraints (channel IN (...), state IN (...)) compile to a
     * temporary b-tree built on every execution of a statement that writes a row: most of
     * a claim's and a settlement's CPU. This connection writes only the fixed names in the
     * statements below, so it skips them; other connections (an operator's sqlite3) still
     * get them. Set before preparing: it decides what the statements compile to. */
    if (s->db && !ro)
        sq_exec(s->db, "PRAGMA ignore_check_constraints = ON");
    if (s->db && (rc = prepare_all(s)) != SQLITE_OK) {
        sq_db_error(s->db, s->path, "preparing statements", rc, err, errlen);
        sq_close(s);
        return NULL;
    }
    if (s->db)
        sq_read_identity(s);
    return s;
}

static void sq_set_api(void *be, const char *api)
{
    sq *s = be;
    free(s->api);
    s->api = api ? strdup(api) : NULL;
}

static const char *sq_identity(void *be) { return ((sq *)be)->ident; }

/* ---- claims and settlements -------------------------------------------------------- */

static void bind_key(sqlite3_stmt *st, const char *id, size_t len, unsigned bit, int64_t job, long row)
{
    sqlite3_bind_text(st, 1, id, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rules_channel_name(bit), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, job);
    sqlite3_bind_int64(st, 4, row);
}

static void bind_api(sqlite3_stmt *st, int i, const char *api)
{
    if (api)
        sqlite3_bind_text(st, i, api, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Per row and channel, by key: a sent channel becomes sent, a maybe-sent one maybe (a
 * record already sent stays sent), inserted when it has no record (the legacy path); a
 * claimed channel neither sent nor maybe is released. A channel the row never claimed is
 * not looked at (for a one-channel row those were two updates that found nothing). Point
 * writes only: a statement over the row's channels needed temporary b-trees (its key set,
 * RETURNING) on every execution. */
static int apply_settlements(sq *s, const ledger_settlement *p, size_t n, const char *text, long long *written)
{
    int rc = SQLITE_OK;
    for (size_t k = 0; k < n && rc == SQLITE_OK; k++) {
        for (unsigned i = 0; i < 3 && rc == SQLITE_OK; i++) {
            unsigned bit = 1u << i;
            int settled = (p[k].sent | p[k].maybe) & bit;
            if (!settled && !(p[k].release & bit))
                continue;
            if (p[k].sent & bit) {
                bind_key(s->update_sent, text + p[k].off, p[k].len, bit, s->job_id, p[k].row);
                sqlite3_bind_int64(s->update_sent, 5, p[k].at_ms);
                if ((rc = sq_step_done(s->update_sent)) != SQLITE_OK)
                    break;
                if (sqlite3_changes(s->db) > 0) {
                    (*written)++;
                    continue;
                }
            }
            sqlite3_stmt *st = (p[k].sent & bit) ? s->insert_sent : (p[k].maybe & bit) ? s->set_maybe : s->release;
            bind_key(st, text + p[k].off, p[k].len, bit, s->job_id, p[k].row);
            sqlite3_bind_int64(st, 5, p[k].at_ms);
            if (settled)
                bind_api(st, 6, s->api);
            rc = sq_step_done(st);
            if (rc == SQLITE_OK && settled)
                (*written)++;
        }
    }
    return rc;
}

/* The name of job id (rarely needed: only for a claim that is refused). */
static void job_name(sq *s, int64_t id, char *buf, size_t size)
{
    sqlite3_bind_int64(s->job_name, 1, id);
    if (sqlite3_step(s->job_name) == SQLITE_ROW && sqlite3_column_text(s->job_name, 0))
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s->job_name, 0));
    else
        snprintf(buf, size, "job #%lld", (long long)id);
    sqlite3_reset(s->job_name);
}

/* Binds the parameters of lookup and grant for one channel of a claim. */
static void bind_claim(sqlite3_stmt *st, sq *s, const ledger_claim_item *it, unsigned bit, int64_t since, int64_t now)
{
    bind_key(st, it->id, it->idlen, bit, s->job_id, it->row);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_int64(st, 4, s->job_id);
    sqlite3_bind_int64(st, 5, it->row);
    sqlite3_bind_int(st, 6, it->resend_own != 0);
    bind_api(st, 7, s->api);
    sqlite3_bind_int64(st, 8, now);
}

/* Says who blocks a claim on one channel of an item (the newest such record). */
static int describe_blocker(sq *s, ledger_claim_item *it, unsigned i, int64_t since, int64_t now)
{
    bind_claim(s->lookup, s, it, 1u << i, since, now);
    int rc = sqlite3_step(s->lookup);
    it->blocked_kind[i] = LEDGER_CLAIMED;
    if (rc == SQLITE_ROW && sqlite3_column_type(s->lookup, 1) != SQLITE_NULL) {
        const char *state = (const char *)sqlite3_column_text(s->lookup, 0);
        int64_t owner = sqlite3_column_int64(s->lookup, 2);
        /* A claim of a dead job (or of this job's earlier run) is maybe-sent. */
        int dead = owner != s->job_id && !sqlite3_column_int(s->lookup, 3);
        it->blocked_kind[i] = !state                                 ? LEDGER_CLAIMED
                              : strcmp(state, "sent") == 0           ? LEDGER_SENT
                              : strcmp(state, "maybe") == 0 || dead ? LEDGER_MAYBE
                                                                     : LEDGER_CLAIMED;
        it->blocked_at_ms[i] = sqlite3_column_int64(s->lookup, 1);
        if (owner != s->job_id)
            job_name(s, owner, it->blocked_job[i], sizeof it->blocked_job[i]);
    }
    sqlite3_reset(s->lookup);
    sqlite3_bind_null(s->lookup, 1);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Claims (or in peek mode only looks up) the channels of one item: a channel no record
 * blocks is granted (and without peek, claimed); for a blocked one the look-up says who
 * blocked it. A record of this row already sent or maybe sent, outside the cooldown, does
 * not block: the channel is granted and that history kept. */
static int claim_one(sq *s, ledger_claim_item *it, int64_t now, int64_t cooldown, int peek)
{
    int64_t since = cooldown > 0 ? now - cooldown : INT64_MAX;
    for (unsigned i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        if (!(it->channels & bit))
            continue;
        if (!s->db) { /* read-only, no ledger file yet: nothing recorded, nothing blocks */
            it->granted |= bit;
            continue;
        }
        bind_claim(s->blocked, s, it, bit, since, now);
        int rc = sqlite3_step(s->blocked);
        sqlite3_reset(s->blocked);
        sqlite3_bind_null(s->blocked, 1);
        if (rc == SQLITE_ROW) {
            if ((rc = describe_blocker(s, it, i, since, now)) != SQLITE_OK)
                return rc;
            continue;
        }
        if (rc != SQLITE_DONE)
            return rc;
        if (!peek) {
            bind_claim(s->grant, s, it, bit, since, now);
            if ((rc = sq_step_done(s->grant)) != SQLITE_OK)
                return rc;
        }
        it->granted |= bit;
    }
    return SQLITE_OK;
}

static int sq_write(void *be, const ledger_settlement *p, size_t np, const char *text, ledger_claim_item *items,
                    size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
                    size_t errlen)
{
    sq *s = be;
    long long added = 0;
    const char *doing = "locking";
    int rc = SQLITE_OK;
    for (size_t k = 0; k < ni; k++) {
        if (items[k].idlen > (size_t)INT32_MAX) {
            ledger_set_err(err, errlen, "ledger %s: identifier too long", s->path);
            return -1;
        }
    }
    if (peek) {
        int own = s->db && sqlite3_get_autocommit(s->db);
        /* One read transaction: one snapshot, and one WAL read lock instead of one per lookup. */
        if (own)
            sq_exec(s->db, "BEGIN");
        for (size_t k = 0; k < ni && rc == SQLITE_OK; k++)
            rc = claim_one(s, &items[k], now_ms, cooldown_ms, 1);
        if (own && !sqlite3_get_autocommit(s->db))
            sq_exec(s->db, "COMMIT");
        if (rc != SQLITE_OK) {
            sq_db_error(s->db, s->path, "looking up claims", rc, err, errlen);
            return -1;
        }
        return 0;
    }
    /* Claims must be on the disk before their requests go out (FULL: the WAL is fsynced
     * at commit); settlements alone may wait for the next sync (NORMAL): a settlement
     * lost to a power cut leaves its claim, which still blocks other jobs, and the
     * journal still knows the outcome. */
    if (ni > 0 ? !s->full : s->full) {
        sq_exec(s->db, ni > 0 ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        s->full = ni > 0;
    }
    /* IMMEDIATE: the write lock is taken before the lookups, so no other process can
     * claim the same (identifier, channel) between our check and our insert. */
    if ((rc = sq_exec(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK)
        goto fail;
    doing = "recording outcomes";
    if ((rc = apply_settlements(s, p, np, text, &added)) != SQLITE_OK)
        goto fail;
    doing = "claiming";
    for (size_t k = 0; k < ni && rc == SQLITE_OK; k++)
        rc = claim_one(s, &items[k], now_ms, cooldown_ms, 0);
    if (rc != SQLITE_OK)
        goto fail;
    doing = "committing";
    if ((rc = sq_exec(s->db, "COMMIT")) != SQLITE_OK)
        goto fail;
    *written += added;
    return 0;
fail:
    sq_db_error(s->db, s->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        sq_exec(s->db, "ROLLBACK");
    for (size_t k = 0; k < ni; k++)
        items[k].granted = 0;
    return -1;
}

const ledger_ops ledger_sqlite_ops = {sq_write, sq_budget, sq_stats, sq_prune, sq_close, sq_lease, sq_release,
                                      sq_identity, sq_set_api};
