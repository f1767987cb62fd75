/* ledger_pg_write — the PostgreSQL store's one write path (ledger_ops.write): a batch of
 * claims and the settlements buffered before it, in one pipelined transaction. */
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

/* ---- claims ---------------------------------------------------------------------------- */

/* Fills the blocked_* fields of the entries not granted, and in peek mode decides the
 * grants, from each (identifier, channel)'s gate row. */
static int read_blockers(pg *g, ledger_claim_item *items, centry *e, size_t ne, int64_t cutoff, int peek,
                         stmt *s, char *err, size_t errlen)
{
    PGresult *r;
    int any = 0;
    pgs_reset(s);
    for (int col = 0; col < 3; col++) {
        pgs_arr_begin(s);
        for (size_t k = 0; k < ne; k++) {
            ledger_claim_item *it = &items[e[k].item];
            const char *ch = rules_channel_name(1u << e[k].ch);
            if (e[k].dup || (!peek && (it->granted & (1u << e[k].ch))))
                continue;
            if (col == 0)
                pgs_arr_text(s, it->id, it->idlen);
            else if (col == 1)
                pgs_arr_text(s, ch, strlen(ch));
            else
                pgs_arr_int(s, (int64_t)k);
            any = 1;
        }
        pgs_arr_end(s);
    }
    if (!any)
        return 0;
    /* This API's gate rows, and those from before per-API records (api ''), which block
     * every API; 10th column: the claim's job is live (its lease, by the server's clock).
     * The API is a column of the looked-up keys (i, materialized), not a constant or a
     * relation of its own: with g.api = ANY (...), or joined to unnest(ARRAY[...]), and no
     * statistics yet (a table growing faster than autovacuum analyses it), the planner
     * expected a few hundred gate rows per API and hashed every gate row of the API per
     * batch (12-25 ms per batch of 256 at 30k-50k rows, growing with the ledger); with
     * nothing but i's keys to go by, it looks each (api, identifier, channel) up. */
    if (g->version >= 2)
        pgs_sql(s, "WITH i AS MATERIALIZED (SELECT %s, u.* FROM unnest($1::text[], $2::text[], $3::int[]) AS u "
                  "(identifier, channel, k)%s) "
                  "SELECT i.k, g.sent_ms, g.sent_state, coalesce(sj.name, ''), g.sent_job, g.sent_row, g.claim_ms, "
                  "coalesce(cj.name, ''), g.claim_job, g.claim_row, coalesce(cj.lease_until_ms > " PG_NOW ", false) "
                  "FROM i JOIN ottu_resend.gate g ON g.identifier = i.identifier AND g.channel = i.channel %s "
                  "LEFT JOIN ottu_resend.jobs sj ON sj.id = g.sent_job LEFT JOIN ottu_resend.jobs cj ON cj.id = g.claim_job",
               g->api ? "a.api" : "''::text AS api", g->api ? " CROSS JOIN unnest(ARRAY[$4::text, '']) AS a (api)" : "",
               g->api ? "AND g.api = i.api" : "");
    else
        pgs_sql(s, "SELECT i.k, g.sent_ms, g.sent_state, coalesce(sj.name, ''), g.sent_job, g.sent_row, g.claim_ms, "
                  "coalesce(cj.name, ''), g.claim_job, g.claim_row, false "
                  "FROM unnest($1::text[], $2::text[], $3::int[]) AS i (identifier, channel, k) "
                  "JOIN ottu_resend.gate g USING (identifier, channel) "
                  "LEFT JOIN ottu_resend.jobs sj ON sj.id = g.sent_job LEFT JOIN ottu_resend.jobs cj ON cj.id = g.claim_job");
    if (g->version >= 2 && g->api)
        pgs_param(s, g->api, strlen(g->api));
    r = pgs_exec(g, s);
    if (!pgl_res_ok(r)) {
        pgl_error(g, "looking up claims", r, err, errlen);
        PQclear(r);
        return -1;
    }
    unsigned *blocked = calloc(ne, sizeof *blocked);
    if (!blocked) {
        PQclear(r);
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    for (int t = 0; t < PQntuples(r); t++) {
        size_t k = (size_t)pgl_val_int(r, t, 0);
        if (k >= ne)
            continue;
        ledger_claim_item *it = &items[e[k].item];
        int i = e[k].ch;
        int own_maybe = it->resend_own && !PQgetisnull(r, t, 2) && strcmp(PQgetvalue(r, t, 2), "maybe") == 0 &&
                        pgl_val_int(r, t, 4) == g->job_id && pgl_val_int(r, t, 5) == it->row;
        int own_claim = pgl_val_int(r, t, 8) == g->job_id && pgl_val_int(r, t, 9) == it->row;
        int other = pgl_val_int(r, t, 8) != g->job_id;
        int live = other && strcmp(PQgetvalue(r, t, 10), "t") == 0;
        if (!PQgetisnull(r, t, 1) && pgl_val_int(r, t, 1) > cutoff && !own_maybe) {
            it->blocked_kind[i] = strcmp(PQgetvalue(r, t, 2), "maybe") == 0 ? LEDGER_MAYBE : LEDGER_SENT;
            it->blocked_at_ms[i] = pgl_val_int(r, t, 1);
            snprintf(it->blocked_job[i], sizeof it->blocked_job[i], "%s",
                     pgl_val_int(r, t, 4) == g->job_id ? "" : PQgetvalue(r, t, 3));
            blocked[k] = 1;
        } else if (!PQgetisnull(r, t, 8) && !own_claim && (live || pgl_val_int(r, t, 6) > cutoff)) {
            /* A live job's claim is its own; a dead job's counts as maybe-sent. */
            it->blocked_kind[i] = live || !other ? LEDGER_CLAIMED : LEDGER_MAYBE;
            it->blocked_at_ms[i] = pgl_val_int(r, t, 6);
            snprintf(it->blocked_job[i], sizeof it->blocked_job[i], "%s", other ? PQgetvalue(r, t, 7) : "");
            blocked[k] = 1;
        }
    }
    PQclear(r);
    if (peek)
        for (size_t k = 0; k < ne; k++)
            if (!e[k].dup && !blocked[k])
                items[e[k].item].granted |= 1u << e[k].ch;
    free(blocked);
    return 0;
}

/* Builds the claim statement: gate upsert (the race-free check), history upsert, and
 * which were granted. 0 when there is nothing to claim. */
static int claim_batch(pg *g, ledger_claim_item *items, centry *e, size_t ne, int64_t now, int64_t cooldown,
                       stmt *s)
{
    int any = 0;
    pgs_reset(s);
    /* $1..$5: the columns of the input, one array each. */
    for (int col = 0; col < 5; col++) {
        pgs_arr_begin(s);
        for (size_t k = 0; k < ne; k++) {
            ledger_claim_item *it = &items[e[k].item];
            const char *ch = rules_channel_name(1u << e[k].ch);
            if (e[k].dup)
                continue;
            switch (col) {
            case 0: pgs_arr_text(s, it->id, it->idlen); break;
            case 1: pgs_arr_text(s, ch, strlen(ch)); break;
            case 2: pgs_arr_int(s, it->row); break;
            case 3: pgs_arr_text(s, it->resend_own ? "t" : "f", 1); break;
            default: pgs_arr_int(s, (int64_t)k); break;
            }
            any = 1;
        }
        pgs_arr_end(s);
    }
    if (!any)
        return 0;
    pgs_int(s, g->job_id);
    pgs_int(s, now);
    pgs_int(s, cooldown > 0 ? now - cooldown : INT64_MAX);
    pgs_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0);
    /* $6 job, $7 now, $8 cutoff (cooldown 0: none), $9 this job's API. Gate rows from
     * before per-API records (api '') block within the cooldown (they are immutable: no
     * lock needed). Then the upsert on this API's row is the race-free check: free when
     * its send is older than the cutoff (or is this row's own maybe-send, with
     * --resend-unknown), and its claim is none, this row's, this job's older than the
     * cutoff, or another job's older than the cutoff whose lease has ended (dead). A live
     * job's claim never yields. ORDER BY: every process locks gate rows in the same order
     * (fewer deadlocks). The legacy probe's api '' is a column of input (noapi), not a
     * constant: with l.api = '' the planner hashed every legacy gate row once per batch
     * (the statistics of a table growing this fast are missing or stale); as a column, it
     * is one lookup in the key per pair. */
    pgs_sql(s, "WITH input (identifier, channel, row_no, resend, k, noapi) AS MATERIALIZED (SELECT *, ''::text FROM "
              "unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[], $5::int[])), "
              "%s", g->legacy ? "fresh AS (SELECT * FROM input i WHERE $9::text = '' OR NOT EXISTS (SELECT 1 FROM "
              "ottu_resend.gate l WHERE l.api = i.noapi AND l.identifier = i.identifier AND l.channel = i.channel AND "
              "(l.sent_ms > $8::bigint OR l.claim_ms > $8::bigint))), " : "fresh AS (SELECT * FROM input), ");
    pgs_sql(s, "granted AS (INSERT INTO ottu_resend.gate AS g (api, identifier, channel, claim_job, claim_row, "
              "claim_ms, claim_resend) SELECT $9::text, identifier, channel, $6::bigint, row_no, $7::bigint, resend "
              "FROM fresh ORDER BY identifier, channel "
              "ON CONFLICT (api, identifier, channel) DO UPDATE SET claim_job = excluded.claim_job, "
              "claim_row = excluded.claim_row, claim_ms = excluded.claim_ms, claim_resend = excluded.claim_resend "
              "WHERE (g.sent_ms IS NULL OR g.sent_ms <= $8::bigint OR (excluded.claim_resend AND "
              "g.sent_state = 'maybe' AND g.sent_job = excluded.claim_job AND g.sent_row = excluded.claim_row)) "
              "AND (g.claim_job IS NULL OR (g.claim_job = excluded.claim_job AND (g.claim_row = excluded.claim_row "
              "OR g.claim_ms <= $8::bigint)) OR (g.claim_ms <= $8::bigint AND NOT EXISTS (SELECT 1 FROM "
              "ottu_resend.jobs j WHERE j.id = g.claim_job AND j.lease_until_ms > " PG_NOW "))) "
              "RETURNING identifier, channel), "
              "won AS (SELECT i.* FROM granted JOIN input i USING (identifier, channel)), ");
    /* The history: a job registered by this process has no record yet, and claims each
     * of its rows once, so its records go in as they are; an insert that may meet an
     * existing record (ON CONFLICT) first probes the key, a fifth of this statement's
     * server time. Another job (--resume, or a name used before) may have records. */
    pgs_sql(s, "hist AS (INSERT INTO ottu_resend.claims AS c (identifier, channel, job_id, row_no, state, "
              "claimed_at_ms, at_ms, api) SELECT identifier, channel, $6::bigint, row_no, 'claimed', $7::bigint, "
              "$7::bigint, $9::text FROM won%s) SELECT k FROM won",
           g->fresh_job ? "" : " ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET "
              "state = 'claimed', claimed_at_ms = excluded.claimed_at_ms, at_ms = excluded.at_ms, "
              "api = excluded.api WHERE c.state <> 'sent'");
    return 1;
}

/* The granted pairs from the claim statement's result. */
static void claim_apply(PGresult *r, ledger_claim_item *items, centry *e, size_t ne)
{
    for (int t = 0; t < PQntuples(r); t++) {
        size_t k = (size_t)pgl_val_int(r, t, 0);
        if (k < ne)
            items[e[k].item].granted |= 1u << e[k].ch;
    }
}

/* ---- settlements ------------------------------------------------------------------------ */

/* SQL for the rules.h bit of the channel column of table alias t. */
#define CHANNEL_BIT(t) "(CASE " t ".channel WHEN 'sms' THEN 1 WHEN 'email' THEN 2 ELSE 4 END)"

enum { RETRY_DEADLOCK = 1, RETRY_DUPLICATE = 2 };

/* The cache entry of sql's prepared statement, -1: send it unprepared (the cache is full,
 * or out of memory). *prepare = 1 when it is not prepared on this connection yet: then it
 * gets a fresh name (one prepared in a transaction that failed may exist, or not), to be
 * prepared in the same pipeline. Parsing, analysing and planning these statements anew
 * each time was ~5 µs of the server's time per row. */
static int prepared(pg *g, const char *sql, int *prepare)
{
    int i;
    *prepare = 0;
    for (i = 0; i < g->nprep && strcmp(g->prep[i].sql, sql) != 0; i++)
        ;
    if (i == g->nprep) {
        if (i == PG_PREPARED_MAX || !(g->prep[i].sql = strdup(sql)))
            return -1;
        g->prep[i].gen = 0;
        g->nprep++;
    }
    if (g->prep[i].gen != g->conn_gen) {
        snprintf(g->prep[i].name, sizeof g->prep[i].name, "ottu_resend_%u", ++g->prep_seq);
        *prepare = 1;
    }
    return i;
}

/* Runs one write transaction in ONE round trip (libpq's pipeline mode): BEGIN, the
 * statements (each prepared first on a connection that has not seen it), COMMIT, one
 * sync. Each round trip costs a wake-up of the server process, milliseconds on a busy
 * machine; this was 5-6 of them per batch. The result of statement keep (-1: none) is
 * handed back in *kept. After a failure, nothing was applied and the transaction is
 * rolled back. *retry: PostgreSQL broke a deadlock (RETRY_DEADLOCK), or a record was
 * already there (RETRY_DUPLICATE): worth another attempt. */
static int pipeline_tx(pg *g, int settle_only, stmt *q, int nq, const char *const *doing, int keep,
                       PGresult **kept, int *retry, char *err, size_t errlen)
{
    int ok = 1, failed = 0, n = 0, oom = 0;
    /* What each result answers: a statement's index, or one of these. */
    enum { R_BEGIN = -1, R_SET = -2, R_COMMIT = -3, R_PREPARE = -4 };
    int what[2 * 4 + 3], entry[2 * 4 + 3]; /* entry: the cache entry an R_PREPARE prepared */
    *kept = NULL;
    *retry = 0;
    if (nq > 4 || !PQenterPipelineMode(g->conn)) {
        pgl_error(g, "starting a transaction", NULL, err, errlen);
        return -1;
    }
    /* Settlements alone need not wait for the disk, as SQLite's NORMAL for them: a lost
     * one leaves its claim blocking, never a double send (docs/ledger.md). A claim commits
     * with the server's synchronous_commit: durable before its request goes out. */
    ok = PQsendQueryParams(g->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    what[n++] = R_BEGIN;
    if (ok && settle_only) {
        ok = PQsendQueryParams(g->conn, "SET LOCAL synchronous_commit = off", 0, NULL, NULL, NULL, NULL, 0);
        what[n++] = R_SET;
    }
    for (int i = 0; ok && i < nq; i++) {
        const char **vals = q[i].oom ? NULL : calloc((size_t)q[i].n + 1, sizeof *vals);
        int prepare = 0;
        if (!vals) {
            ok = 0;
            oom = 1;
            break;
        }
        for (int k = 0; k < q[i].n; k++)
            vals[k] = q[i].pool + q[i].off[k];
        int p = prepared(g, q[i].sql, &prepare);
        if (p >= 0 && prepare) {
            ok = PQsendPrepare(g->conn, g->prep[p].name, q[i].sql, q[i].n, NULL);
            entry[n] = p;
            what[n++] = R_PREPARE;
        }
        if (ok)
            ok = p >= 0 ? PQsendQueryPrepared(g->conn, g->prep[p].name, q[i].n, vals, NULL, NULL, 0)
                        : PQsendQueryParams(g->conn, q[i].sql, q[i].n, NULL, vals, NULL, NULL, 0);
        what[n++] = i;
        free(vals);
    }
    ok = ok && PQsendQueryParams(g->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(g->conn);
    what[n++] = R_COMMIT;
    if (!ok) {
        if (oom)
            ledger_set_err(err, errlen, "ledger %s: sending to the ledger: out of memory", g->spec);
        else
            pgl_error(g, "sending to the ledger", NULL, err, errlen);
        failed = 1;
    }
    /* One result (then NULL) per command, then the sync; a command after a failed one
     * comes back PGRES_PIPELINE_ABORTED. */
    for (int i = 0; ok && i < n; i++) {
        PGresult *r = PQgetResult(g->conn);
        int st = what[i];
        if (!r) {
            pgl_error(g, "committing", NULL, err, errlen);
            failed = 1;
            break;
        }
        if (!pgl_res_ok(r) && !failed) {
            const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            pgl_error(g, st >= 0 ? doing[st] : st == R_COMMIT ? "committing" : "starting a transaction", r, err,
                      errlen);
            *retry = !code                                                            ? 0
                     : strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0 ? RETRY_DEADLOCK
                     : strcmp(code, "23505") == 0                               ? RETRY_DUPLICATE
                                                                                : 0;
            failed = 1;
        }
        /* A statement prepared stays prepared, whatever becomes of the transaction. */
        if (st == R_PREPARE && pgl_res_ok(r))
            g->prep[entry[i]].gen = g->conn_gen;
        if (!failed && st == keep)
            *kept = r;
        else
            PQclear(r);
        PQclear(PQgetResult(g->conn)); /* the NULL after each command's result */
    }
    if (ok) {
        PGresult *r = PQgetResult(g->conn); /* PGRES_PIPELINE_SYNC */
        PQclear(r);
    }
    if (PQstatus(g->conn) == CONNECTION_OK && !PQexitPipelineMode(g->conn)) {
        /* Results still unread (a broken exchange): nothing more can be trusted here. */
        if (!failed)
            pgl_error(g, "committing", NULL, err, errlen);
        failed = 1;
        PQreset(g->conn);
        g->conn_gen++; /* a new session: nothing prepared */
    }
    if (failed) {
        PQclear(*kept);
        *kept = NULL;
        if (PQstatus(g->conn) == CONNECTION_OK && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
            PQclear(PQexec(g->conn, "ROLLBACK"));
        return -1;
    }
    return 0;
}

/* The SET lists of a settlement, from a row S named as the table's columns (the batch's
 * rows, or an upsert's excluded). claims: a maybe-send never turns a send back into maybe.
 * gate: the newest send stays; this row's own claim goes in any case. */
#define CLAIMS_SETTLED(S) \
    "state = CASE WHEN " S ".state = 'maybe' AND c.state = 'sent' THEN 'sent' ELSE " S ".state END, " \
    "at_ms = " S ".at_ms"
#define NEWER(S) "(g.sent_ms IS NULL OR g.sent_ms <= " S ".sent_ms)"
#define OWN(S) "(g.claim_job = " S ".sent_job AND g.claim_row = " S ".sent_row)"
#define GATE_SETTLED(S)                                                                               \
    "sent_job = CASE WHEN " NEWER(S) " THEN " S ".sent_job ELSE g.sent_job END, "                     \
    "sent_row = CASE WHEN " NEWER(S) " THEN " S ".sent_row ELSE g.sent_row END, "                     \
    "sent_state = CASE WHEN " NEWER(S) " THEN " S ".sent_state ELSE g.sent_state END, "               \
    "sent_ms = CASE WHEN " NEWER(S) " THEN " S ".sent_ms ELSE g.sent_ms END, "                        \
    "claim_job = CASE WHEN " OWN(S) " THEN NULL ELSE g.claim_job END, "                               \
    "claim_row = CASE WHEN " OWN(S) " THEN NULL ELSE g.claim_row END, "                               \
    "claim_ms = CASE WHEN " OWN(S) " THEN NULL ELSE g.claim_ms END, "                                 \
    "claim_resend = CASE WHEN " OWN(S) " THEN false ELSE g.claim_resend END"
#define SETTLED_ROWS                                                                                        \
    "unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u (identifier, channel, row_no, " \
    "state, at)"

/* Builds the settlement statements into q[*nq...] (up to 3). */
static int settle_batch(pg *g, const ledger_settlement *p, size_t np, const char *text, long long *written,
                        stmt *out, int *nq, char *err, size_t errlen)
{
    stmt *s = &out[*nq];
    size_t ne = 0;
    sentry *e;
    if (np == 0)
        return 0;
    if (!(e = calloc(np * 3, sizeof *e))) {
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    for (size_t k = 0; k < np; k++)
        for (int i = 0; i < 3; i++)
            if ((p[k].sent | p[k].maybe) & (1u << i))
                e[ne++] = (sentry){k, i, 0, 0};
    if (pgl_mark_settle_dups(p, text, e, ne) != 0) {
        free(e);
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    /* The claims of the rows not sent nor maybe sent: released, in the history and the
     * gate. The channels sent or maybe sent are left to the upserts below, so each row
     * version is written once (each one costs); in the gate, a channel whose upsert is
     * another row's (the one pgl_mark_settle_dups kept) is released here. Only rows with
     * something to release are looked up (a one-channel row sent has nothing: those
     * lookups were 14% of the server's time per row). The job and the API are columns of v, not constants,
     * and the state is tested in SET, not in WHERE: with any such restriction, stale or
     * missing statistics (see pgl_connect) make the planner expect a handful of rows and
     * scan them all once per batch (the API as a constant on gate: a merge join over every
     * gate row of the API, 46 ms per batch at 100k rows); without, it looks v's rows up by
     * key. */
    unsigned *gate_rel = calloc(np, sizeof *gate_rel);
    if (!gate_rel) {
        free(e);
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    size_t nrel = 0;
    for (size_t k = 0; k < np; k++)
        gate_rel[k] = p[k].release;
    for (size_t i = 0; i < ne; i++)
        if (e[i].dup_gate)
            gate_rel[e[i].s] |= 1u << e[i].ch;
    for (size_t k = 0; k < np; k++)
        nrel += gate_rel[k] != 0;
    if (nrel > 0) {
        pgs_reset(s);
        for (int col = 0; col < 6; col++) {
            pgs_arr_begin(s);
            for (size_t k = 0; k < np; k++) {
                if (!gate_rel[k])
                    continue;
                switch (col) {
                case 0: pgs_arr_text(s, text + p[k].off, p[k].len); break;
                case 1: pgs_arr_int(s, p[k].row); break;
                case 2: pgs_arr_int(s, p[k].at_ms); break;
                case 3: pgs_arr_int(s, g->job_id); break;
                case 4: pgs_arr_int(s, (int64_t)p[k].release); break;
                default: pgs_arr_int(s, (int64_t)gate_rel[k]); break;
                }
            }
            pgs_arr_end(s);
        }
        pgs_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0); /* $7 */
        pgs_sql(s, "WITH v (identifier, row_no, at, job, hist_rel, gate_rel, api) AS MATERIALIZED (SELECT *, "
                  "$7::text FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::int[])), "
                  "h AS (UPDATE ottu_resend.claims c SET state = CASE WHEN c.state = 'claimed' THEN 'released' "
                  "ELSE c.state END, at_ms = CASE WHEN c.state = 'claimed' THEN v.at ELSE c.at_ms END FROM v "
                  "WHERE c.identifier = v.identifier AND c.job_id = v.job AND c.row_no = v.row_no "
                  "AND v.hist_rel & " CHANNEL_BIT("c") " <> 0) "
                  "UPDATE ottu_resend.gate g SET claim_job = NULL, claim_row = NULL, claim_ms = NULL, "
                  "claim_resend = false FROM v WHERE g.api = v.api AND g.identifier = v.identifier AND g.claim_job = v.job "
                  "AND g.claim_row = v.row_no AND v.gate_rel & " CHANNEL_BIT("g") " <> 0");
        (*nq)++;
    }
    free(gate_rel);
    /* ... then the sent and maybe-sent channels recorded: $1..$5 identifier, channel,
     * row, state, time; $6 the job, $7 its API. */
    for (int pass = 0; pass < 2 && ne > 0; pass++) {
        s = &out[*nq];
        pgs_reset(s);
        for (int col = 0; col < 5; col++) {
            pgs_arr_begin(s);
            for (size_t k = 0; k < ne; k++) {
                const ledger_settlement *q = &p[e[k].s];
                const char *ch = rules_channel_name(1u << e[k].ch);
                const char *state = (q->sent & (1u << e[k].ch)) ? "sent" : "maybe";
                if (pass == 0 ? e[k].dup_hist : e[k].dup_gate)
                    continue;
                switch (col) {
                case 0: pgs_arr_text(s, text + q->off, q->len); break;
                case 1: pgs_arr_text(s, ch, strlen(ch)); break;
                case 2: pgs_arr_int(s, q->row); break;
                case 3: pgs_arr_text(s, state, strlen(state)); break;
                default: pgs_arr_int(s, q->at_ms); break;
                }
            }
            pgs_arr_end(s);
        }
        pgs_int(s, g->job_id);
        pgs_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0); /* $7 */
        /* Each is an UPDATE by key, the record's row being there (the claim made it):
         * an upsert that meets its row locks it first, one more WAL record per row and
         * per table. The rows the UPDATE did not find (a row settled that no claim of
         * this job made) go in by the upsert after it. The batch's columns are named as
         * the table's, so the UPDATE (from u) and the upsert (from excluded) share one
         * SET list. */
        if (pass == 0)
            pgs_sql(s, "WITH u (identifier, channel, row_no, state, at_ms, job_id, api) AS MATERIALIZED (SELECT u.*, "
                      "$6::bigint, $7::text FROM " SETTLED_ROWS "), "
                      "up AS (UPDATE ottu_resend.claims c SET " CLAIMS_SETTLED("u") " FROM u WHERE "
                      "c.identifier = u.identifier AND c.channel = u.channel AND c.job_id = u.job_id AND "
                      "c.row_no = u.row_no RETURNING c.identifier, c.channel, c.row_no) "
                      "INSERT INTO ottu_resend.claims AS c (identifier, channel, job_id, row_no, state, "
                      "claimed_at_ms, at_ms, api) SELECT u.identifier, u.channel, u.job_id, u.row_no, u.state, "
                      "u.at_ms, u.at_ms, u.api FROM u WHERE NOT EXISTS (SELECT 1 FROM up WHERE "
                      "up.identifier = u.identifier AND up.channel = u.channel AND up.row_no = u.row_no) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET " CLAIMS_SETTLED("excluded"));
        else
            pgs_sql(s, "WITH u (identifier, channel, sent_row, sent_state, sent_ms, sent_job, api) AS MATERIALIZED "
                      "(SELECT u.*, $6::bigint, $7::text FROM " SETTLED_ROWS "), "
                      "up AS (UPDATE ottu_resend.gate g SET " GATE_SETTLED("u") " FROM u WHERE g.api = u.api AND "
                      "g.identifier = u.identifier AND g.channel = u.channel RETURNING g.identifier, g.channel) "
                      "INSERT INTO ottu_resend.gate AS g (api, identifier, channel, sent_job, sent_row, sent_state, "
                      "sent_ms) SELECT u.api, u.identifier, u.channel, u.sent_job, u.sent_row, u.sent_state, "
                      "u.sent_ms FROM u WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.identifier = u.identifier AND "
                      "up.channel = u.channel) "
                      "ON CONFLICT (api, identifier, channel) DO UPDATE SET " GATE_SETTLED("excluded"));
        (*nq)++;
    }
    *written += (long long)ne;
    free(e);
    return 0;
}

int pgl_write(void *be, const ledger_settlement *p, size_t np, const char *text, ledger_claim_item *items,
                    size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
                    size_t errlen)
{
    pg *g = be;
    stmt s = {0}, q[4] = {{0}};
    centry *e = NULL;
    size_t ne = 0;
    int ret = -1;
    long long added = 0;
    int64_t cutoff = cooldown_ms > 0 ? now_ms - cooldown_ms : INT64_MAX;
    if (ni > 0 && !(e = calloc(ni * 3, sizeof *e))) {
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    for (size_t k = 0; k < ni; k++)
        for (int i = 0; i < 3; i++)
            if (items[k].channels & (1u << i))
                e[ne++] = (centry){k, i, 0};
    /* A second row of this batch with the same (identifier, channel): blocked by the
     * first, as a second row of this job would be (with cooldown 0, granted). */
    if (pgl_mark_claim_dups(items, e, ne) != 0) {
        ledger_set_err(err, errlen, "ledger: out of memory");
        goto out;
    }
    if (pgl_ensure_conn(g, err, errlen) != 0)
        goto out;
    if (peek) {
        ret = !g->have_schema ? 0 : read_blockers(g, items, e, ne, cutoff, 1, &s, err, errlen);
        if (!g->have_schema)
            for (size_t k = 0; k < ne; k++)
                if (!e[k].dup)
                    items[e[k].item].granted |= 1u << e[k].ch;
        goto dups;
    }
    for (int attempt = 1; attempt <= PG_ATTEMPTS; attempt++) {
        int retry = 0, nq = 0, keep = -1;
        const char *doing[4] = {"recording outcomes", "recording outcomes", "recording outcomes", "claiming"};
        PGresult *granted = NULL;
        added = 0;
        for (size_t k = 0; k < ni; k++)
            items[k].granted = 0;
        for (int i = 0; i < 4; i++)
            pgs_reset(&q[i]);
        if (settle_batch(g, p, np, text, &added, q, &nq, err, errlen) != 0)
            goto out;
        if (claim_batch(g, items, e, ne, now_ms, cooldown_ms, &q[nq])) {
            doing[nq] = "claiming";
            keep = nq++;
        }
        if (nq == 0) {
            ret = 0;
            break;
        }
        ret = pipeline_tx(g, ni == 0, q, nq, doing, keep, &granted, &retry, err, errlen);
        if (ret == 0) {
            if (granted)
                claim_apply(granted, items, e, ne);
            PQclear(granted);
            /* Who blocked what was not granted, for result_detail (read committed: as
             * current as it would be inside the transaction). */
            if (read_blockers(g, items, e, ne, cutoff, 0, &q[0], err, errlen) != 0)
                ret = -1;
            break;
        }
        /* A fresh job's history goes in without a probe (claim_batch); a caller that
         * claims a row twice meets its own record: from then on, with the probe. */
        if (retry == RETRY_DUPLICATE && g->fresh_job)
            g->fresh_job = 0;
        else if (retry != RETRY_DEADLOCK)
            break;
    }
dups:
    if (ret == 0) {
        *written += added;
        for (size_t k = 0; k < ne; k++) {
            ledger_claim_item *it = &items[e[k].item];
            if (!e[k].dup)
                continue;
            if (cooldown_ms <= 0) {
                it->granted |= 1u << e[k].ch;
            } else {
                it->blocked_kind[e[k].ch] = LEDGER_CLAIMED;
                it->blocked_at_ms[e[k].ch] = now_ms;
                it->blocked_job[e[k].ch][0] = '\0';
            }
        }
    }
out:
    if (ret != 0)
        for (size_t k = 0; k < ni; k++)
            items[k].granted = 0;
    pgs_free(&s);
    for (int i = 0; i < 4; i++)
        pgs_free(&q[i]);
    free(e);
    return ret;
}
