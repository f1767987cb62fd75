/* ledger_pg — the PostgreSQL store of the ledger (postgresql:// and postgres:// specs),
 * through libpq: the schema ottu_resend, opening, and the ops table. Claims and settlements
 * are in ledger_pg_write.c, budget, stats, prune and leases in ledger_pg_admin.c, the
 * connection and the statement builder in ledger_pg_sql.c. */
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

/* One row per (identifier, channel) in `gate` holds the newest send and the one open
 * claim: a claim is an upsert on it whose WHERE says "free", so two processes on any
 * hosts serialise on that row and only one is granted. `claims` keeps the history. The
 * key columns compare bytes (COLLATE "C"): equality is the same under any deterministic
 * collation, and the locale's strcoll() was ~10% of the server's time per row. */
static const char schema_sql[] =
    "CREATE SCHEMA IF NOT EXISTS ottu_resend;\n"
    "CREATE TABLE ottu_resend.version (\n"
    "  version    integer NOT NULL,\n"
    "  applied_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE TABLE ottu_resend.jobs (\n"
    "  id         bigserial PRIMARY KEY,\n"
    "  name       text NOT NULL UNIQUE,\n"
    "  started_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE TABLE ottu_resend.gate (\n"
    "  identifier   text COLLATE \"C\" NOT NULL,\n"
    "  channel      text COLLATE \"C\" NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"
    "  sent_ms      bigint,\n"
    "  sent_state   text CHECK (sent_state IN ('sent', 'maybe')),\n"
    "  sent_job     bigint,\n"
    "  sent_row     bigint,\n"
    "  claim_job    bigint,\n"
    "  claim_row    bigint,\n"
    "  claim_ms     bigint,\n"
    "  claim_resend boolean NOT NULL DEFAULT false,\n"
    "  PRIMARY KEY (identifier, channel)\n"
    ");\n"
    "CREATE TABLE ottu_resend.claims (\n"
    "  identifier    text COLLATE \"C\" NOT NULL,\n"
    "  channel       text COLLATE \"C\" NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"
    "  job_id        bigint NOT NULL REFERENCES ottu_resend.jobs (id),\n"
    "  row_no        bigint NOT NULL,\n"
    "  state         text NOT NULL CHECK (state IN ('claimed', 'sent', 'maybe', 'released')),\n"
    "  claimed_at_ms bigint NOT NULL,\n"
    "  at_ms         bigint NOT NULL,\n"
    "  PRIMARY KEY (identifier, channel, job_id, row_no)\n"
    ");\n"
    "CREATE INDEX claims_time ON ottu_resend.claims (at_ms);\n"
    "CREATE TABLE ottu_resend.budget (\n"
    "  scope text NOT NULL,\n"
    "  day   date NOT NULL,\n"
    "  used  bigint NOT NULL,\n"
    "  PRIMARY KEY (scope, day)\n"
    ");\n"
    "CREATE VIEW ottu_resend.send_log AS\n"
    "  SELECT to_char(to_timestamp(c.at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS sent_at,\n"
    "         c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.at_ms AS sent_at_ms, c.job_id\n"
    "  FROM ottu_resend.claims c LEFT JOIN ottu_resend.jobs j ON j.id = c.job_id\n"
    "  WHERE c.state IN ('sent', 'maybe');\n"
    "INSERT INTO ottu_resend.version (version) VALUES (1);\n";

/* Version 2: records per API (api '' = recorded before: blocks every API), a lease per
 * job, and the ledger's identity. A new schema is made as version 1, then migrated.
 * gate's and claims' pages are left 55% free (fillfactor, a storage setting, not part of
 * the schema's shape): a claim inserts a row and its settlement updates it moments later,
 * and with room on the page the update is HOT (no new key entry). A batch's rows share
 * pages and settle in one transaction, so no old version on the page can be pruned in
 * between: a page filled to F% takes HOT updates for (100-F)/F of its rows. 60: 68%; 45:
 * all of them, for about a fifth more disk once vacuum has freed the old versions.
 * Ledgers migrated to 2 before this keep what they had; `ALTER TABLE ottu_resend.gate SET
 * (fillfactor = 45)` (and claims) gives them the same for the pages written after it. */
static const char migrate_v1_sql[] =
    "CREATE TABLE ottu_resend.meta (key text PRIMARY KEY, value text NOT NULL);\n"
    "INSERT INTO ottu_resend.meta (key, value) VALUES ('ledger_id', md5(random()::text || clock_timestamp()::text));\n"
    "ALTER TABLE ottu_resend.jobs ADD COLUMN lease_until_ms bigint;\n"
    "ALTER TABLE ottu_resend.claims ADD COLUMN api text COLLATE \"C\" NOT NULL DEFAULT '';\n"
    "ALTER TABLE ottu_resend.gate ADD COLUMN api text COLLATE \"C\" NOT NULL DEFAULT '';\n"
    "ALTER TABLE ottu_resend.gate DROP CONSTRAINT gate_pkey;\n"
    "ALTER TABLE ottu_resend.gate ADD PRIMARY KEY (api, identifier, channel);\n"
    "ALTER TABLE ottu_resend.gate SET (fillfactor = 45);\n"
    "DROP INDEX IF EXISTS ottu_resend.claims_time;\n"
    "ALTER TABLE ottu_resend.claims SET (fillfactor = 45);\n"
    "ALTER TABLE ottu_resend.claims DROP CONSTRAINT IF EXISTS claims_job_id_fkey;\n"
    "CREATE OR REPLACE VIEW ottu_resend.send_log AS\n"
    "  SELECT to_char(to_timestamp(c.at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS sent_at,\n"
    "         c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.at_ms AS sent_at_ms, c.job_id, c.api\n"
    "  FROM ottu_resend.claims c LEFT JOIN ottu_resend.jobs j ON j.id = c.job_id\n"
    "  WHERE c.state IN ('sent', 'maybe');\n"
    "INSERT INTO ottu_resend.version (version) VALUES (2);\n";

/* This job's id: an existing row of that name, else (create) a new one. g->fresh_job when
 * this process made the row: no record of the job can exist yet. */
static int find_job(pg *g, int create, char *err, size_t errlen)
{
    static const char *const sql[] = {
        "SELECT id, false FROM ottu_resend.jobs WHERE name = $1",
        "INSERT INTO ottu_resend.jobs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, true",
    };
    const char *vals[1] = {g->job_name};
    g->job_id = -1;
    g->fresh_job = 0;
    /* Look, make, look again: another process may make it between the first two. */
    for (int step = 0; step < (create ? 3 : 1) && g->job_id < 0; step++) {
        PGresult *r = PQexecParams(g->conn, sql[step & 1], 1, NULL, vals, NULL, NULL, 0);
        if (!pgl_res_ok(r)) {
            pgl_error(g, "registering the job", r, err, errlen);
            PQclear(r);
            return -1;
        }
        if (PQntuples(r) > 0) {
            g->job_id = pgl_val_int(r, 0, 0);
            g->fresh_job = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        }
        PQclear(r);
    }
    return 0;
}

/* Creates the schema on first use, under an advisory lock so that jobs starting together
 * do not race; refuses a schema newer than this program. */
static int init_schema(pg *g, int create, int migrate, char *err, size_t errlen)
{
    PGresult *r;
    int version = 0;
    migrate = migrate || create;
    if (migrate && (pgl_exec_ok(g, "BEGIN", "starting", err, errlen) != 0 ||
                   pgl_exec_ok(g, "SELECT pg_advisory_xact_lock(4242001)", "locking the schema", err, errlen) != 0))
        goto fail;
    r = PQexec(g->conn, "SELECT to_regclass('ottu_resend.version') IS NOT NULL");
    if (!pgl_res_ok(r)) {
        pgl_error(g, "reading the schema", r, err, errlen);
        PQclear(r);
        goto fail;
    }
    g->have_schema = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (g->have_schema) {
        r = PQexec(g->conn, "SELECT max(version) FROM ottu_resend.version");
        if (!pgl_res_ok(r)) {
            pgl_error(g, "reading the schema version", r, err, errlen);
            PQclear(r);
            goto fail;
        }
        version = (int)pgl_val_int(r, 0, 0);
        PQclear(r);
        if (version > PG_SCHEMA_VERSION) {
            ledger_set_err(err, errlen,
                    "ledger %s: written by a newer ottu-resend (schema %d, this one knows %d); upgrade, or use "
                    "another database",
                    g->spec, version, PG_SCHEMA_VERSION);
            goto fail;
        }
    } else if (create) {
        if (pgl_exec_ok(g, schema_sql, "creating the schema ottu_resend", err, errlen) != 0)
            goto fail;
        g->have_schema = 1;
        version = 1;
    }
    if (migrate && version == 1) {
        if (pgl_exec_ok(g, migrate_v1_sql, "migrating the schema ottu_resend from 1 to 2", err, errlen) != 0)
            goto fail;
        version = 2;
    }
    g->version = version;
    if (g->have_schema && version >= 2) {
        r = PQexec(g->conn, "SELECT value FROM ottu_resend.meta WHERE key = 'ledger_id'");
        if (!pgl_res_ok(r)) {
            pgl_error(g, "reading the ledger's identity", r, err, errlen);
            PQclear(r);
            goto fail;
        }
        if (PQntuples(r) > 0)
            snprintf(g->ident, sizeof g->ident, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    /* Records of no API are only ever written before the migration (or by a job that has
     * no API): when there are none, a claim need not look for them. */
    if (g->have_schema && version >= 2) {
        r = PQexec(g->conn, "SELECT EXISTS (SELECT 1 FROM ottu_resend.gate WHERE api = '')");
        if (!pgl_res_ok(r)) {
            pgl_error(g, "reading the schema", r, err, errlen);
            PQclear(r);
            goto fail;
        }
        g->legacy = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    if (migrate && pgl_exec_ok(g, "COMMIT", "creating the schema ottu_resend", err, errlen) != 0)
        goto fail;
    return 0;
fail:
    if (migrate && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
        PQclear(PQexec(g->conn, "ROLLBACK"));
    return -1;
}

static void pg_close(void *be)
{
    pg *g = be;
    if (!g)
        return;
    if (g->conn)
        PQfinish(g->conn);
    for (int i = 0; i < g->nprep; i++)
        free(g->prep[i].sql);
    free(g->spec);
    free(g->job_name);
    free(g->api);
    free(g);
}

void *ledger_pg_open(const char *uri, const char *job_id, int mode, char *err, size_t errlen)
{
    int writable = mode == LEDGER_READWRITE || mode == LEDGER_ADMIN_WRITE;
    pg *g;
    if (pgl_has_password(uri, err, errlen) != 0)
        return NULL;
    if (!(g = calloc(1, sizeof *g)) || !(g->spec = strdup(uri)) || !(g->job_name = strdup(job_id ? job_id : ""))) {
        pg_close(g);
        ledger_set_err(err, errlen, "ledger %s: out of memory", uri);
        return NULL;
    }
    g->mode = mode;
    g->job_id = -1;
    if (pgl_connect(g, err, errlen) != 0 || init_schema(g, mode == LEDGER_READWRITE, mode == LEDGER_ADMIN_WRITE, err, errlen) != 0)
        goto fail;
    if (!g->have_schema && (mode == LEDGER_ADMIN_READ || mode == LEDGER_ADMIN_WRITE)) {
        ledger_set_err(err, errlen, "ledger %s: no ottu_resend schema in this database (not a ledger yet)", uri);
        goto fail;
    }
    if (g->have_schema && job_id && find_job(g, writable, err, errlen) != 0)
        goto fail;
    return g;
fail:
    pg_close(g);
    return NULL;
}

static const char *pg_identity(void *be) { return ((pg *)be)->ident; }

static void pg_set_api(void *be, const char *api)
{
    pg *g = be;
    free(g->api);
    g->api = api ? strdup(api) : NULL;
}

const ledger_ops ledger_pg_ops = {pgl_write, pgl_budget, pgl_stats, pgl_prune, pg_close,
                                  pgl_lease, pgl_release, pg_identity, pg_set_api};
