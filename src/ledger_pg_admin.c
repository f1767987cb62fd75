/* ledger_pg_admin — the PostgreSQL ledger's daily budget, and what the `ledger` subcommand
 * runs on it: stats, prune, release, and the job leases. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ledger_backend.h"
#include "ledger_pg.h"
#include "rules.h"

/* ---- budget ------------------------------------------------------------------------------ */

long long pgl_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                           size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long used = 0, taken = 0;
    int ok = 0;
    if (!g->have_schema)
        return op == LEDGER_BUDGET_TAKE ? n : 0;
    if (pgl_ensure_conn(g, err, errlen) != 0)
        return -1;
    if (op == LEDGER_BUDGET_USED) {
        pgs_sql(&s, "SELECT used FROM ottu_resend.budget WHERE scope = $%d AND day = $%d::date",
               pgs_param(&s, scope, strlen(scope)), pgs_param(&s, day, strlen(day)));
        r = pgs_exec(g, &s);
        ok = pgl_res_ok(r);
        used = ok && PQntuples(r) > 0 ? pgl_val_int(r, 0, 0) : 0;
        goto out;
    }
    /* The row locked for the whole transaction: concurrent takers queue on it. */
    if (pgl_exec_ok(g, "BEGIN", "starting a transaction", err, errlen) != 0) {
        pgs_free(&s);
        return -1;
    }
    int a = pgs_param(&s, scope, strlen(scope)), b = pgs_param(&s, day, strlen(day));
    pgs_sql(&s, "INSERT INTO ottu_resend.budget (scope, day, used) VALUES ($%d, $%d::date, 0) "
               "ON CONFLICT (scope, day) DO UPDATE SET used = ottu_resend.budget.used RETURNING used", a, b);
    r = pgs_exec(g, &s);
    if (!(ok = pgl_res_ok(r)))
        goto out;
    used = pgl_val_int(r, 0, 0);
    PQclear(r);
    if (op == LEDGER_BUDGET_TAKE) {
        taken = limit <= 0 ? n : used >= limit ? 0 : (limit - used < n ? limit - used : n);
        used += taken;
    } else {
        used = used > n ? used - n : 0;
    }
    pgs_reset(&s);
    a = pgs_param(&s, scope, strlen(scope));
    b = pgs_param(&s, day, strlen(day));
    pgs_sql(&s, "UPDATE ottu_resend.budget SET used = $%d::bigint WHERE scope = $%d AND day = $%d::date",
           pgs_int(&s, used), a, b);
    r = pgs_exec(g, &s);
    if ((ok = pgl_res_ok(r))) {
        PQclear(r);
        r = PQexec(g->conn, "COMMIT");
        ok = pgl_res_ok(r);
    }
out:
    if (!ok) {
        pgl_error(g, "counting the daily budget", r, err, errlen);
        if (PQstatus(g->conn) == CONNECTION_OK && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
            PQclear(PQexec(g->conn, "ROLLBACK"));
    }
    PQclear(r);
    pgs_free(&s);
    if (!ok)
        return -1;
    return op == LEDGER_BUDGET_TAKE ? taken : op == LEDGER_BUDGET_USED ? used : 0;
}

/* ---- stats and prune ----------------------------------------------------------------------- */

int pgl_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen)
{
    pg *g = be;
    PGresult *r;
    const char *vals[1] = {today};
    if (pgl_ensure_conn(g, err, errlen) != 0)
        return -1;
    /* One snapshot, so the numbers agree with each other while jobs write. */
    if (pgl_exec_ok(g, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "reading", err, errlen) != 0)
        return -1;
    r = PQexec(g->conn,
               "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'maybe'), "
               "count(*) FILTER (WHERE state = 'claimed'), count(*) FILTER (WHERE state = 'released'), "
               "count(DISTINCT identifier) FILTER (WHERE state IN ('sent', 'maybe')), count(DISTINCT job_id), "
               "min(at_ms) FILTER (WHERE state IN ('sent', 'maybe')), max(at_ms) FILTER (WHERE state IN ('sent', "
               "'maybe')) FROM ottu_resend.claims");
    if (!pgl_res_ok(r))
        goto fail;
    st->sent = pgl_val_int(r, 0, 0);
    st->maybe = pgl_val_int(r, 0, 1);
    st->claimed = pgl_val_int(r, 0, 2);
    st->released = pgl_val_int(r, 0, 3);
    st->identifiers = pgl_val_int(r, 0, 4);
    st->jobs = pgl_val_int(r, 0, 5);
    st->oldest_ms = pgl_val_int(r, 0, 6);
    st->newest_ms = pgl_val_int(r, 0, 7);
    PQclear(r);
    r = PQexec(g->conn, "SELECT at_ms / 86400000 AS d, channel, count(*) FROM ottu_resend.claims "
                        "WHERE state IN ('sent', 'maybe') GROUP BY d, channel ORDER BY d");
    if (!pgl_res_ok(r))
        goto fail;
    int64_t last = INT64_MIN;
    for (int t = 0; t < PQntuples(r); t++) {
        int64_t d = pgl_val_int(r, t, 0);
        const char *ch = PQgetvalue(r, t, 1);
        unsigned bit = rules_channel_from_name(ch, strlen(ch));
        if (d != last) {
            ledger_day_count *nd = realloc(st->days, (st->ndays + 1) * sizeof *nd);
            if (!nd)
                goto fail;
            st->days = nd;
            memset(&nd[st->ndays], 0, sizeof *nd);
            clock_format_day(d * CLOCK_DAY_MS, nd[st->ndays++].day);
            last = d;
        }
        for (int i = 0; i < 3; i++)
            if (bit == 1u << i)
                st->days[st->ndays - 1].n[i] += pgl_val_int(r, t, 2);
    }
    PQclear(r);
    r = PQexecParams(g->conn, "SELECT scope, used FROM ottu_resend.budget WHERE day = $1::date ORDER BY scope", 1,
                     NULL, vals, NULL, NULL, 0);
    if (!pgl_res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_budget_row *nb = realloc(st->budget, (st->nbudget + 1) * sizeof *nb);
        if (!nb)
            goto fail;
        st->budget = nb;
        snprintf(nb[st->nbudget].scope, sizeof nb->scope, "%s", PQgetvalue(r, t, 0));
        nb[st->nbudget++].used = pgl_val_int(r, t, 1);
    }
    PQclear(r);
    r = PQexec(g->conn, "SELECT api, count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'maybe'), "
                        "count(*) FILTER (WHERE state = 'claimed') FROM ottu_resend.claims GROUP BY api ORDER BY api");
    if (!pgl_res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_api_row *na = realloc(st->apis, (st->napis + 1) * sizeof *na);
        if (!na)
            goto fail;
        st->apis = na;
        na += st->napis++;
        snprintf(na->api, sizeof na->api, "%s", PQgetvalue(r, t, 0));
        na->sent = pgl_val_int(r, t, 1);
        na->maybe = pgl_val_int(r, t, 2);
        na->claimed = pgl_val_int(r, t, 3);
    }
    PQclear(r);
    r = PQexec(g->conn, "SELECT coalesce(j.name, '#' || c.job_id), count(*), coalesce(j.lease_until_ms > " PG_NOW
                        ", false) FROM ottu_resend.claims c LEFT JOIN ottu_resend.jobs j ON j.id = c.job_id "
                        "WHERE c.state = 'claimed' GROUP BY 1, 3 ORDER BY 1");
    if (!pgl_res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_job_row *nj = realloc(st->open_jobs, (st->nopen + 1) * sizeof *nj);
        if (!nj)
            goto fail;
        st->open_jobs = nj;
        nj += st->nopen++;
        snprintf(nj->name, sizeof nj->name, "%s", PQgetvalue(r, t, 0));
        nj->claims = pgl_val_int(r, t, 1);
        nj->live = strcmp(PQgetvalue(r, t, 2), "t") == 0;
    }
    PQclear(r);
    PQclear(PQexec(g->conn, "COMMIT"));
    return 0;
fail:
    pgl_error(g, "reading", r, err, errlen);
    PQclear(r);
    PQclear(PQexec(g->conn, "ROLLBACK"));
    return -1;
}

long long pgl_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long n = -1;
    char day[11];
    if (pgl_ensure_conn(g, err, errlen) != 0)
        return -1;
    clock_format_day(cutoff, day);
    int a = pgs_int(&s, cutoff);
    if (dry_run)
        pgs_sql(&s, "SELECT count(*) FILTER (WHERE at_ms < $%d::bigint AND NOT (state = 'claimed' AND job_id IN "
                   "(SELECT id FROM ottu_resend.jobs WHERE lease_until_ms > " PG_NOW "))), count(*) FROM "
                   "ottu_resend.claims", a);
    else
        /* The gate rows go too once both their send and their claim are older. */
        pgs_sql(&s,
               "WITH live AS (SELECT id FROM ottu_resend.jobs WHERE lease_until_ms > " PG_NOW "), "
               "d AS (DELETE FROM ottu_resend.claims WHERE at_ms < $%d::bigint AND NOT (state = 'claimed' AND "
               "job_id IN (SELECT id FROM live)) RETURNING 1), "
               "gd AS (DELETE FROM ottu_resend.gate WHERE coalesce(sent_ms, 0) < $%d::bigint AND "
               "coalesce(claim_ms, 0) < $%d::bigint AND (claim_job IS NULL OR claim_job NOT IN (SELECT id FROM live))), "
               "bd AS (DELETE FROM ottu_resend.budget WHERE day < $%d::date) "
               "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM ottu_resend.claims)",
               a, a, a, pgs_param(&s, day, strlen(day)));
    r = pgs_exec(g, &s);
    if (!pgl_res_ok(r)) {
        pgl_error(g, "pruning", r, err, errlen);
    } else {
        n = pgl_val_int(r, 0, 0);
        /* The count in the same statement still sees the rows being deleted. */
        *left = dry_run ? pgl_val_int(r, 0, 1) - n : pgl_val_int(r, 0, 1) - n;
    }
    PQclear(r);
    pgs_free(&s);
    return n;
}

/* ---- job leases and `ledger release` ----------------------------------------------------- */

int pgl_lease(void *be, int op, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r;
    int ok;
    if (!g->have_schema || g->job_id < 0)
        return 0;
    if (pgl_ensure_conn(g, err, errlen) != 0)
        return -1;
    /* A lease lost to a crash of the server only makes the job look dead sooner, and a
     * dead job's claims still block (maybe-sent); one small commit per 5 s either way. */
    pgs_sql(&s, "UPDATE ottu_resend.jobs SET lease_until_ms = %s WHERE id = $%d::bigint",
           op == LEDGER_LEASE_RENEW ? PG_NOW " + " XSTR(LEDGER_LEASE_MS) : "0", pgs_int(&s, g->job_id));
    r = pgs_exec(g, &s);
    if (!(ok = pgl_res_ok(r)))
        pgl_error(g, "renewing the job's lease", r, err, errlen);
    PQclear(r);
    pgs_free(&s);
    return ok ? 0 : -1;
}

long long pgl_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long n = -1;
    int64_t id, left_ms;
    if (pgl_ensure_conn(g, err, errlen) != 0)
        return -1;
    if (pgl_exec_ok(g, "BEGIN", "releasing", err, errlen) != 0)
        return -1;
    /* The job's row locked: a renewal waits until the release is decided. */
    pgs_sql(&s, "SELECT id, coalesce(lease_until_ms, 0) - " PG_NOW " FROM ottu_resend.jobs WHERE name = $%d FOR UPDATE",
           pgs_param(&s, name, strlen(name)));
    r = pgs_exec(g, &s);
    if (!pgl_res_ok(r)) {
        pgl_error(g, "releasing", r, err, errlen);
        goto out;
    }
    if (PQntuples(r) == 0) {
        ledger_set_err(err, errlen, "ledger %s: no job named \"%s\" (`ottu-resend ledger stats` lists the jobs with "
                                    "open claims)", g->spec, name);
        goto out;
    }
    id = pgl_val_int(r, 0, 0);
    left_ms = pgl_val_int(r, 0, 1);
    PQclear(r);
    r = NULL;
    if (left_ms > 0 && !force) {
        ledger_set_err(err, errlen,
                       "ledger %s: job %s is running (its lease is live for %lld s more): its claims are its own "
                       "until it settles them; stop it first, or --force",
                       g->spec, name, (long long)((left_ms + 999) / 1000));
        n = -2;
        goto out;
    }
    pgs_reset(&s);
    int a = pgs_int(&s, id);
    if (dry_run)
        pgs_sql(&s, "SELECT count(*) FROM ottu_resend.claims WHERE job_id = $%d::bigint AND state = 'claimed'", a);
    else
        pgs_sql(&s, "WITH gr AS (UPDATE ottu_resend.gate SET claim_job = NULL, claim_row = NULL, claim_ms = NULL, "
                   "claim_resend = false WHERE claim_job = $%d::bigint), "
                   "c AS (UPDATE ottu_resend.claims SET state = 'released', at_ms = " PG_NOW " WHERE job_id = "
                   "$%d::bigint AND state = 'claimed' RETURNING 1) SELECT count(*) FROM c",
               a, a);
    r = pgs_exec(g, &s);
    if (!pgl_res_ok(r)) {
        pgl_error(g, "releasing", r, err, errlen);
        goto out;
    }
    n = pgl_val_int(r, 0, 0);
    PQclear(r);
    r = PQexec(g->conn, "COMMIT");
    if (!pgl_res_ok(r)) {
        pgl_error(g, "releasing", r, err, errlen);
        n = -1;
    }
out:
    PQclear(r);
    if (PQstatus(g->conn) == CONNECTION_OK && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
        PQclear(PQexec(g->conn, "ROLLBACK"));
    pgs_free(&s);
    return n;
}
