/* ledger_sqlite_admin — the SQLite ledger's daily budget, and what the `ledger` subcommand
 * runs on it: stats, prune, release, and the job leases. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "ledger_backend.h"
#include "ledger_sqlite.h"
#include "rules.h"

/* Rows deleted per transaction by prune, so a running job never waits long for the lock. */
#define PRUNE_CHUNK 5000
#define STR(x) #x
#define XSTR(x) STR(x)

/* ---- budget ------------------------------------------------------------------------ */

long long sq_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                           size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *get = NULL, *put = NULL;
    long long used = 0, r = 0;
    int rc, own = 0;
    if (!s->db)
        return op == LEDGER_BUDGET_TAKE ? n : 0;
    rc = sqlite3_prepare_v2(s->db, "SELECT used FROM budget WHERE scope = ?1 AND day = ?2", -1, &get, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if (op != LEDGER_BUDGET_USED) {
        if ((rc = sq_exec(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK)
            goto fail;
        own = 1;
    }
    sqlite3_bind_text(get, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, day, -1, SQLITE_STATIC);
    rc = sqlite3_step(get);
    if (rc == SQLITE_ROW)
        used = sqlite3_column_int64(get, 0);
    else if (rc != SQLITE_DONE)
        goto fail;
    rc = SQLITE_OK;
    if (op == LEDGER_BUDGET_USED) {
        sqlite3_finalize(get);
        return used;
    }
    if (op == LEDGER_BUDGET_TAKE) {
        r = limit <= 0 ? n : used >= limit ? 0 : (limit - used < n ? limit - used : n);
        used += r;
    } else {
        used = used > n ? used - n : 0;
    }
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO budget (scope, day, used) VALUES (?1, ?2, ?3) "
                            "ON CONFLICT (scope, day) DO UPDATE SET used = excluded.used",
                            -1, &put, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(put, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 2, day, -1, SQLITE_STATIC);
    sqlite3_bind_int64(put, 3, used);
    if ((rc = sq_step_done(put)) != SQLITE_OK || (rc = sq_exec(s->db, "COMMIT")) != SQLITE_OK)
        goto fail;
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    return r;
fail:
    sq_db_error(s->db, s->path, "counting the daily budget", rc, err, errlen);
    if (own && !sqlite3_get_autocommit(s->db))
        sq_exec(s->db, "ROLLBACK");
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    return -1;
}

/* ---- stats and prune (the `ledger` subcommand) ------------------------------------- */

static int channel_index(const char *name)
{
    unsigned bit = name ? rules_channel_from_name(name, strlen(name)) : 0;
    return bit == RULES_SMS ? 0 : bit == RULES_EMAIL ? 1 : bit == RULES_WHATSAPP ? 2 : -1;
}

static int stats_days(sq *s, ledger_stats *st)
{
    sqlite3_stmt *q = NULL;
    int64_t last = INT64_MIN;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT at_ms / 86400000 AS d, channel, count(*) FROM claims "
                                "WHERE state IN ('sent', 'maybe') GROUP BY d, channel ORDER BY d",
                                -1, &q, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t d = sqlite3_column_int64(q, 0);
        int i = channel_index((const char *)sqlite3_column_text(q, 1));
        if (d != last) {
            ledger_day_count *nd = realloc(st->days, (st->ndays + 1) * sizeof *nd);
            if (!nd) {
                rc = SQLITE_NOMEM;
                break;
            }
            st->days = nd;
            memset(&nd[st->ndays], 0, sizeof *nd);
            clock_format_day(d * CLOCK_DAY_MS, nd[st->ndays++].day);
            last = d;
        }
        if (i >= 0)
            st->days[st->ndays - 1].n[i] += sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int stats_budget(sq *s, const char *today, ledger_stats *st)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT scope, used FROM budget WHERE day = ?1 ORDER BY scope", -1, &q, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(q, 1, today, -1, SQLITE_STATIC);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        ledger_budget_row *nb = realloc(st->budget, (st->nbudget + 1) * sizeof *nb);
        if (!nb) {
            rc = SQLITE_NOMEM;
            break;
        }
        st->budget = nb;
        snprintf(nb[st->nbudget].scope, sizeof nb->scope, "%s", (const char *)sqlite3_column_text(q, 0));
        nb[st->nbudget++].used = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int stats_apis(sq *s, ledger_stats *st)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT api, count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = "
                                "'maybe'), count(*) FILTER (WHERE state = 'claimed') FROM claims GROUP BY api "
                                "ORDER BY api",
                                -1, &q, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        ledger_api_row *na = realloc(st->apis, (st->napis + 1) * sizeof *na);
        if (!na) {
            rc = SQLITE_NOMEM;
            break;
        }
        st->apis = na;
        na += st->napis++;
        snprintf(na->api, sizeof na->api, "%s", (const char *)sqlite3_column_text(q, 0));
        na->sent = sqlite3_column_int64(q, 1);
        na->maybe = sqlite3_column_int64(q, 2);
        na->claimed = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int stats_open_jobs(sq *s, ledger_stats *st)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT coalesce(j.name, '#' || c.job_id), count(*), "
                                "coalesce(" SQ_LIVE("j", "?1") ", 0) FROM claims c LEFT JOIN jobs j ON j.id = c.job_id "
                                "WHERE c.state = 'claimed' GROUP BY c.job_id ORDER BY 1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(q, 1, clock_now_ms());
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        ledger_job_row *nj = realloc(st->open_jobs, (st->nopen + 1) * sizeof *nj);
        if (!nj) {
            rc = SQLITE_NOMEM;
            break;
        }
        st->open_jobs = nj;
        nj += st->nopen++;
        snprintf(nj->name, sizeof nj->name, "%s", (const char *)sqlite3_column_text(q, 0));
        nj->claims = sqlite3_column_int64(q, 1);
        nj->live = sqlite3_column_int(q, 2);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *q = NULL;
    int64_t v[5] = {0};
    int rc;
    if (!s->db)
        return 0;
    /* One read transaction, so the numbers agree with each other while a job writes. */
    if ((rc = sq_exec(s->db, "BEGIN")) != SQLITE_OK)
        goto fail;
    rc = sqlite3_prepare_v2(s->db, "SELECT state, count(*) FROM claims GROUP BY state", -1, &q, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(q, 0);
        long long n = sqlite3_column_int64(q, 1);
        if (!state)
            continue;
        if (strcmp(state, "sent") == 0)
            st->sent = n;
        else if (strcmp(state, "maybe") == 0)
            st->maybe = n;
        else if (strcmp(state, "claimed") == 0)
            st->claimed = n;
        else
            st->released = n;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        goto fail;
    if ((rc = sq_query_int(s->db, "SELECT count(DISTINCT identifier) FROM claims WHERE state IN ('sent', 'maybe')",
                        &v[0])) != SQLITE_OK ||
        (rc = sq_query_int(s->db, "SELECT count(DISTINCT job_id) FROM claims", &v[1])) != SQLITE_OK ||
        (rc = sq_query_int(s->db, "SELECT min(at_ms) FROM claims WHERE state IN ('sent', 'maybe')", &v[2])) !=
            SQLITE_OK ||
        (rc = sq_query_int(s->db, "SELECT max(at_ms) FROM claims WHERE state IN ('sent', 'maybe')", &v[3])) !=
            SQLITE_OK ||
        (rc = stats_days(s, st)) != SQLITE_OK || (rc = stats_budget(s, today, st)) != SQLITE_OK ||
        (rc = stats_apis(s, st)) != SQLITE_OK || (rc = stats_open_jobs(s, st)) != SQLITE_OK)
        goto fail;
    st->identifiers = v[0];
    st->jobs = v[1];
    st->oldest_ms = v[2];
    st->newest_ms = v[3];
    sq_exec(s->db, "COMMIT");
    return 0;
fail:
    sq_db_error(s->db, s->path, "reading", rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        sq_exec(s->db, "ROLLBACK");
    return -1;
}

/* A live job's open claim is never pruned, however old: it is the job's until settled. */
#define NOT_LIVE_CLAIM                                                                                        \
    "NOT (state = 'claimed' AND job_id IN (SELECT id FROM jobs j WHERE "                                      \
    SQ_LIVE("j", "CAST(unixepoch('subsec') * 1000 AS INTEGER)") "))"

long long sq_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *count = NULL, *del = NULL;
    long long removed = 0;
    int64_t n = 0;
    char day[11];
    int rc;
    const char *doing = "counting";
    if (!s->db) {
        *left = 0;
        return 0;
    }
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM claims WHERE at_ms < ?1 AND " NOT_LIVE_CLAIM, -1, &count,
                            NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(count, 1, cutoff);
        rc = sqlite3_step(count);
        n = rc == SQLITE_ROW ? sqlite3_column_int64(count, 0) : 0;
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_finalize(count);
    if (rc != SQLITE_OK)
        goto fail;
    if (dry_run) {
        int64_t total = 0;
        if ((rc = sq_query_int(s->db, "SELECT count(*) FROM claims", &total)) != SQLITE_OK)
            goto fail;
        *left = total - n;
        return n;
    }
    /* Small transactions, so a job writing to the same ledger waits milliseconds. */
    doing = "pruning";
    rc = sqlite3_prepare_v2(s->db,
                            "DELETE FROM claims WHERE (identifier, channel, job_id, row_no) IN "
                            "(SELECT identifier, channel, job_id, row_no FROM claims WHERE at_ms < ?1 AND " NOT_LIVE_CLAIM " "
                            "LIMIT " XSTR(PRUNE_CHUNK) ")",
                            -1, &del, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(del, 1, cutoff);
    for (;;) {
        int changed;
        if ((rc = sq_exec(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK || (rc = sq_step_done(del)) != SQLITE_OK)
            break;
        changed = sqlite3_changes(s->db);
        if ((rc = sq_exec(s->db, "COMMIT")) != SQLITE_OK)
            break;
        removed += changed;
        if (changed < PRUNE_CHUNK)
            break;
    }
    sqlite3_finalize(del);
    del = NULL;
    if (rc != SQLITE_OK)
        goto fail;
    /* Budget days before the cutoff's day count nothing any more. */
    clock_format_day(cutoff, day);
    if ((rc = sqlite3_prepare_v2(s->db, "DELETE FROM budget WHERE day < ?1", -1, &del, NULL)) == SQLITE_OK) {
        sqlite3_bind_text(del, 1, day, -1, SQLITE_STATIC);
        rc = sq_step_done(del);
    }
    sqlite3_finalize(del);
    if (rc != SQLITE_OK || (rc = sq_query_int(s->db, "SELECT count(*) FROM claims", &n)) != SQLITE_OK)
        goto fail;
    *left = n;
    return removed;
fail:
    sq_db_error(s->db, s->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        sq_exec(s->db, "ROLLBACK");
    if (removed > 0)
        fprintf(stderr, "ottu-resend: pruned %lld records before the error below\n", removed);
    return -1;
}

/* ---- job leases and `ledger release` -------------------------------------------------- */

int sq_lease(void *be, int op, char *err, size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *st = NULL;
    int rc;
    if (!s->db || s->job_id < 0)
        return 0;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET lease_until_ms = ?1, host = ?3, pid = ?4 WHERE id = ?2", -1, &st,
                            NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, op == LEDGER_LEASE_RENEW ? clock_now_ms() + LEDGER_LEASE_MS : 0);
        sqlite3_bind_int64(st, 2, s->job_id);
        sqlite3_bind_text(st, 3, host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (int64_t)getpid());
        rc = sq_step_done(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        sq_db_error(s->db, s->path, "renewing the job's lease", rc, err, errlen);
        return -1;
    }
    return 0;
}

long long sq_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *q = NULL;
    int64_t id = -1, until = 0, now = clock_now_ms();
    long long n = -1;
    int rc = sq_exec(s->db, dry_run ? "BEGIN" : "BEGIN IMMEDIATE");
    const char *doing = "releasing";
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT id, CASE WHEN ottu_alive(host, pid) THEN coalesce(lease_until_ms, 0) "
                                "ELSE 0 END FROM jobs WHERE name = ?1", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            id = sqlite3_column_int64(q, 0);
            until = sqlite3_column_int64(q, 1);
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc != SQLITE_OK)
        goto fail;
    if (id < 0) {
        ledger_set_err(err, errlen, "ledger %s: no job named \"%s\" (`ottu-resend ledger stats` lists the jobs with "
                                    "open claims)", s->path, name);
        sq_exec(s->db, "ROLLBACK");
        return -1;
    }
    if (until > now && !force) {
        ledger_set_err(err, errlen,
                       "ledger %s: job %s is running (its lease is live for %lld s more): its claims are its own "
                       "until it settles them; stop it first, or --force",
                       s->path, name, (long long)((until - now + 999) / 1000));
        sq_exec(s->db, "ROLLBACK");
        return -2;
    }
    rc = sqlite3_prepare_v2(s->db,
                            dry_run ? "SELECT count(*) FROM claims WHERE job_id = ?1 AND state = 'claimed'"
                                    : "UPDATE claims SET state = 'released', at_ms = ?2 WHERE job_id = ?1 AND "
                                      "state = 'claimed'",
                            -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, id);
        if (!dry_run)
            sqlite3_bind_int64(q, 2, now);
        rc = sqlite3_step(q);
        n = dry_run && rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : sqlite3_changes(s->db);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_OK)
        rc = sq_exec(s->db, "COMMIT");
    if (rc == SQLITE_OK)
        return n;
fail:
    sq_db_error(s->db, s->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        sq_exec(s->db, "ROLLBACK");
    return -1;
}
