/* ledger_pg — the PostgreSQL store of the ledger (postgresql:// and postgres:// specs),
 * through libpq: the schema ottu_resend, and every PostgreSQL statement the ledger runs. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ledger_backend.h"
#include "rules.h"

/* Version of the ottu_resend schema (its own numbering, in ottu_resend.version). */
#define PG_SCHEMA_VERSION 2
/* Attempts of a transaction PostgreSQL aborted to break a deadlock between two jobs. */
#define PG_ATTEMPTS 5
/* The server's clock in ms: leases are written and read by it, never by a host's own. */
#define PG_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define STR(x) #x
#define XSTR(x) STR(x)

/* One row per (identifier, channel) in `gate` holds the newest send and the one open
 * claim: a claim is an upsert on it whose WHERE says "free", so two processes on any
 * hosts serialise on that row and only one is granted. `claims` keeps the history. */
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
    "  identifier   text NOT NULL,\n"
    "  channel      text NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"
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
    "  identifier    text NOT NULL,\n"
    "  channel       text NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"
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
 * job, and the ledger's identity. A new schema is made as version 1, then migrated. */
static const char migrate_v1_sql[] =
    "CREATE TABLE ottu_resend.meta (key text PRIMARY KEY, value text NOT NULL);\n"
    "INSERT INTO ottu_resend.meta (key, value) VALUES ('ledger_id', md5(random()::text || clock_timestamp()::text));\n"
    "ALTER TABLE ottu_resend.jobs ADD COLUMN lease_until_ms bigint;\n"
    "ALTER TABLE ottu_resend.claims ADD COLUMN api text NOT NULL DEFAULT '';\n"
    "ALTER TABLE ottu_resend.gate ADD COLUMN api text NOT NULL DEFAULT '';\n"
    "ALTER TABLE ottu_resend.gate DROP CONSTRAINT gate_pkey;\n"
    "ALTER TABLE ottu_resend.gate ADD PRIMARY KEY (api, identifier, channel);\n"
    "CREATE OR REPLACE VIEW ottu_resend.send_log AS\n"
    "  SELECT to_char(to_timestamp(c.at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS sent_at,\n"
    "         c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.at_ms AS sent_at_ms, c.job_id, c.api\n"
    "  FROM ottu_resend.claims c LEFT JOIN ottu_resend.jobs j ON j.id = c.job_id\n"
    "  WHERE c.state IN ('sent', 'maybe');\n"
    "INSERT INTO ottu_resend.version (version) VALUES (2);\n";

typedef struct {
    PGconn *conn;
    char *spec;
    char *job_name;
    int mode;
    int have_schema; /* read-only: 0 when the database has no ledger yet (empty) */
    int64_t job_id;  /* -1: this job has no row (read-only) */
    int version;     /* of the schema (an old one read-only: no api, lease or identity) */
    char *api;       /* this job's API; NULL: lookups match every API */
    char ident[40];  /* meta ledger_id */
    int legacy;      /* gate rows of no API exist (from before schema 2): check them */
} pg;


/* libpq's message on one line (it never holds the password: libpq does not echo it). */
static void one_line(const char *msg, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *p = msg ? msg : ""; *p && n + 1 < size; p++)
        buf[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
}

static void pg_error(pg *g, const char *doing, const PGresult *res, char *err, size_t errlen)
{
    char msg[400];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    one_line(primary ? primary : PQerrorMessage(g->conn), msg, sizeof msg);
    if (PQstatus(g->conn) != CONNECTION_OK)
        ledger_set_err(err, errlen, "ledger %s: %s: connection lost (%s)", g->spec, doing, msg);
    else if (state && strcmp(state, "55P03") == 0)
        ledger_set_err(err, errlen, "ledger %s: %s: another process kept the ledger locked for more than %d s", g->spec,
                doing, LEDGER_BUSY_TIMEOUT_MS / 1000);
    else
        ledger_set_err(err, errlen, "ledger %s: %s: %s", g->spec, doing, msg);
}

/* ---- parameters: values kept in one pool, pointers made at exec time ------------------- */

typedef struct {
    char *pool;
    size_t pn, pcap;
    size_t *off;
    int n, cap;
    char *sql;
    size_t sn, scap;
    size_t arr_start, arr_n; /* the array parameter being built (st_arr_*) */
    int oom;                 /* a parameter could not be stored: the statement must not run */
} stmt;

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 256;
    void *p;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    if (!(p = realloc(*buf, n * elem)))
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static void st_reset(stmt *s)
{
    s->pn = 0;
    s->n = 0;
    s->sn = 0;
    s->oom = 0;
    if (s->sql)
        s->sql[0] = '\0';
}

static void st_free(stmt *s)
{
    free(s->pool);
    free(s->off);
    free(s->sql);
}

/* Appends SQL text. */
static int st_sql(stmt *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int st_sql(stmt *s, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow((void **)&s->sql, &s->scap, s->sn + (size_t)n + 1, 1) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(s->sql + s->sn, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->sn += (size_t)n;
    return 0;
}

/* Appends bytes to the parameter being built. */
static void st_put(stmt *s, const char *v, size_t len)
{
    if (s->oom || grow((void **)&s->pool, &s->pcap, s->pn + len + 1, 1) != 0) {
        s->oom = 1;
        return;
    }
    memcpy(s->pool + s->pn, v, len);
    s->pn += len;
}

/* Ends the parameter that began at pool offset start; returns its number ($n). */
static int st_end(stmt *s, size_t start)
{
    size_t cap = (size_t)s->cap;
    st_put(s, "", 1); /* its NUL */
    if (s->oom || grow((void **)&s->off, &cap, (size_t)s->n + 1, sizeof *s->off) != 0) {
        s->oom = 1;
        return 0;
    }
    s->cap = (int)cap;
    s->off[s->n++] = start;
    return s->n;
}

/* Adds a text parameter; returns its number ($n). */
static int st_param(stmt *s, const char *v, size_t len)
{
    size_t start = s->pn;
    st_put(s, v, len);
    return st_end(s, start);
}

static int st_int(stmt *s, int64_t v)
{
    char b[24];
    return st_param(s, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v));
}

/* Array parameters, one per column of a batch: a statement's text stays the same
 * whatever the batch's size (a VALUES list of a thousand parameters cost the server more
 * to parse and plan than to run), and unnest() turns the arrays back into rows. Build one
 * array at a time: st_arr_begin, elements, st_arr_end (returns its $n). */
static void st_arr_begin(stmt *s)
{
    s->arr_start = s->pn;
    s->arr_n = 0;
    st_put(s, "{", 1);
}

static void st_arr_sep(stmt *s)
{
    if (s->arr_n++)
        st_put(s, ",", 1);
}

/* A text element, quoted: only " and \ are escaped inside quotes. */
static void st_arr_text(stmt *s, const char *v, size_t len)
{
    size_t from = 0;
    st_arr_sep(s);
    st_put(s, "\"", 1);
    for (size_t i = 0; i < len; i++)
        if (v[i] == '"' || v[i] == '\\') {
            st_put(s, v + from, i - from);
            st_put(s, "\\", 1);
            from = i;
        }
    st_put(s, v + from, len - from);
    st_put(s, "\"", 1);
}

static void st_arr_int(stmt *s, int64_t v)
{
    char b[24];
    st_arr_sep(s);
    st_put(s, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v));
}

static int st_arr_end(stmt *s)
{
    st_put(s, "}", 1);
    return st_end(s, s->arr_start);
}

static PGresult *st_exec(pg *g, stmt *s)
{
    const char **vals = s->oom ? NULL : calloc((size_t)s->n + 1, sizeof *vals);
    PGresult *r;
    if (!vals)
        return NULL;
    for (int i = 0; i < s->n; i++)
        vals[i] = s->pool + s->off[i];
    r = PQexecParams(g->conn, s->sql, s->n, NULL, vals, NULL, NULL, 0);
    free(vals);
    return r;
}

/* Runs SQL without parameters; 0 when it succeeded. */
static int exec_ok(pg *g, const char *sql, const char *doing, char *err, size_t errlen)
{
    PGresult *r = PQexec(g->conn, sql);
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        pg_error(g, doing, r, err, errlen);
    PQclear(r);
    return ok ? 0 : -1;
}

static int res_ok(PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

static int64_t val_int(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- opening ------------------------------------------------------------------------- */

/* A password in the URI would sit in argv, shell history and logs. */
static int has_password(const char *uri, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &msg);
    int found = 0;
    if (!opts) {
        char line[300];
        one_line(msg, line, sizeof line);
        ledger_set_err(err, errlen, "ledger: not a valid PostgreSQL URI (%s)", line);
        PQfreemem(msg);
        return -1;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            found = 1;
    PQconninfoFree(opts);
    if (found) {
        ledger_set_err(err, errlen,
                "ledger: the PostgreSQL URI contains a password; remove it and use PGPASSFILE, ~/.pgpass or "
                "PGPASSWORD instead");
        return -1;
    }
    return 0;
}

/* The connection's settings; the URI's own values (given later) take precedence. */
static int connect_db(pg *g, char *err, size_t errlen)
{
    const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *vals[] = {"ottu-resend", "10", g->spec, NULL};
    char msg[400], sql[96];
    if (g->conn)
        PQfinish(g->conn);
    g->conn = PQconnectdbParams(keys, vals, 1);
    if (!g->conn || PQstatus(g->conn) != CONNECTION_OK) {
        one_line(g->conn ? PQerrorMessage(g->conn) : "out of memory", msg, sizeof msg);
        ledger_set_err(err, errlen, "ledger %s: cannot connect: %s", g->spec, msg);
        return -1;
    }
    /* Waiting on another job's row lock longer than this is "busy", as with SQLite. */
    snprintf(sql, sizeof sql, "SET lock_timeout = %d; SET client_min_messages = warning", LEDGER_BUSY_TIMEOUT_MS);
    if (exec_ok(g, sql, "configuring the session", err, errlen) != 0)
        return -1;
    /* A job's statements look up at most a few hundred rows by key. The statistics of
     * tables that grow by thousands of rows a second lag behind (autovacuum), and with a
     * stale estimate the planner scans the whole table once per batch: measured 40-90 ms
     * per batch of 256 at 30,000 rows, growing with the table. Index lookups only. */
    if (g->mode == LEDGER_READWRITE || g->mode == LEDGER_READONLY)
        return exec_ok(g, "SET enable_seqscan = off",
                       "configuring the session", err, errlen);
    return 0;
}

/* Reconnects when the connection dropped since the last call (the server restarted). */
static int ensure_conn(pg *g, char *err, size_t errlen)
{
    if (PQstatus(g->conn) == CONNECTION_OK)
        return 0;
    return connect_db(g, err, errlen);
}

static int find_job(pg *g, int create, char *err, size_t errlen)
{
    const char *sql = create ? "INSERT INTO ottu_resend.jobs (name) VALUES ($1) ON CONFLICT (name) DO UPDATE "
                               "SET name = excluded.name RETURNING id"
                             : "SELECT id FROM ottu_resend.jobs WHERE name = $1";
    const char *vals[1] = {g->job_name};
    PGresult *r = PQexecParams(g->conn, sql, 1, NULL, vals, NULL, NULL, 0);
    g->job_id = -1;
    if (!res_ok(r)) {
        pg_error(g, "registering the job", r, err, errlen);
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) > 0)
        g->job_id = val_int(r, 0, 0);
    PQclear(r);
    return 0;
}

/* Creates the schema on first use, under an advisory lock so that jobs starting together
 * do not race; refuses a schema newer than this program. */
static int init_schema(pg *g, int create, int migrate, char *err, size_t errlen)
{
    PGresult *r;
    int version = 0;
    migrate = migrate || create;
    if (migrate && (exec_ok(g, "BEGIN", "starting", err, errlen) != 0 ||
                   exec_ok(g, "SELECT pg_advisory_xact_lock(4242001)", "locking the schema", err, errlen) != 0))
        goto fail;
    r = PQexec(g->conn, "SELECT to_regclass('ottu_resend.version') IS NOT NULL");
    if (!res_ok(r)) {
        pg_error(g, "reading the schema", r, err, errlen);
        PQclear(r);
        goto fail;
    }
    g->have_schema = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (g->have_schema) {
        r = PQexec(g->conn, "SELECT max(version) FROM ottu_resend.version");
        if (!res_ok(r)) {
            pg_error(g, "reading the schema version", r, err, errlen);
            PQclear(r);
            goto fail;
        }
        version = (int)val_int(r, 0, 0);
        PQclear(r);
        if (version > PG_SCHEMA_VERSION) {
            ledger_set_err(err, errlen,
                    "ledger %s: written by a newer ottu-resend (schema %d, this one knows %d); upgrade, or use "
                    "another database",
                    g->spec, version, PG_SCHEMA_VERSION);
            goto fail;
        }
    } else if (create) {
        if (exec_ok(g, schema_sql, "creating the schema ottu_resend", err, errlen) != 0)
            goto fail;
        g->have_schema = 1;
        version = 1;
    }
    if (migrate && version == 1) {
        if (exec_ok(g, migrate_v1_sql, "migrating the schema ottu_resend from 1 to 2", err, errlen) != 0)
            goto fail;
        version = 2;
    }
    g->version = version;
    if (g->have_schema && version >= 2) {
        r = PQexec(g->conn, "SELECT value FROM ottu_resend.meta WHERE key = 'ledger_id'");
        if (!res_ok(r)) {
            pg_error(g, "reading the ledger's identity", r, err, errlen);
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
        if (!res_ok(r)) {
            pg_error(g, "reading the schema", r, err, errlen);
            PQclear(r);
            goto fail;
        }
        g->legacy = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    if (migrate && exec_ok(g, "COMMIT", "creating the schema ottu_resend", err, errlen) != 0)
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
    free(g->spec);
    free(g->job_name);
    free(g->api);
    free(g);
}

void *ledger_pg_open(const char *uri, const char *job_id, int mode, char *err, size_t errlen)
{
    int writable = mode == LEDGER_READWRITE || mode == LEDGER_ADMIN_WRITE;
    pg *g;
    if (has_password(uri, err, errlen) != 0)
        return NULL;
    if (!(g = calloc(1, sizeof *g)) || !(g->spec = strdup(uri)) || !(g->job_name = strdup(job_id ? job_id : ""))) {
        pg_close(g);
        ledger_set_err(err, errlen, "ledger %s: out of memory", uri);
        return NULL;
    }
    g->mode = mode;
    g->job_id = -1;
    if (connect_db(g, err, errlen) != 0 || init_schema(g, mode == LEDGER_READWRITE, mode == LEDGER_ADMIN_WRITE, err, errlen) != 0)
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

/* ---- claims ---------------------------------------------------------------------------- */

/* One (item, channel) of a claim batch. */
typedef struct {
    size_t item;
    int ch; /* channel index 0..2 */
    int dup; /* the same (identifier, channel) appears earlier in the batch */
} centry;

static int same_key(const ledger_claim_item *a, const ledger_claim_item *b)
{
    return a->idlen == b->idlen && memcmp(a->id, b->id, a->idlen) == 0;
}

/* Fills the blocked_* fields of the entries not granted, and in peek mode decides the
 * grants, from each (identifier, channel)'s gate row. */
static int read_blockers(pg *g, ledger_claim_item *items, centry *e, size_t ne, int64_t cutoff, int peek,
                         stmt *s, char *err, size_t errlen)
{
    PGresult *r;
    int any = 0;
    st_reset(s);
    for (int col = 0; col < 3; col++) {
        st_arr_begin(s);
        for (size_t k = 0; k < ne; k++) {
            ledger_claim_item *it = &items[e[k].item];
            const char *ch = rules_channel_name(1u << e[k].ch);
            if (e[k].dup || (!peek && (it->granted & (1u << e[k].ch))))
                continue;
            if (col == 0)
                st_arr_text(s, it->id, it->idlen);
            else if (col == 1)
                st_arr_text(s, ch, strlen(ch));
            else
                st_arr_int(s, (int64_t)k);
            any = 1;
        }
        st_arr_end(s);
    }
    if (!any)
        return 0;
    /* This API's gate rows, and those from before per-API records (api ''), which block
     * every API; 10th column: the claim's job is live (its lease, by the server's clock). */
    if (g->version >= 2)
        st_sql(s, "SELECT i.k, g.sent_ms, g.sent_state, coalesce(sj.name, ''), g.sent_job, g.sent_row, g.claim_ms, "
                  "coalesce(cj.name, ''), g.claim_job, g.claim_row, coalesce(cj.lease_until_ms > " PG_NOW ", false) "
                  "FROM unnest($1::text[], $2::text[], $3::int[]) AS i (identifier, channel, k) "
                  "JOIN ottu_resend.gate g ON g.identifier = i.identifier AND g.channel = i.channel %s "
                  "LEFT JOIN ottu_resend.jobs sj ON sj.id = g.sent_job LEFT JOIN ottu_resend.jobs cj ON cj.id = g.claim_job",
               /* = ANY on the key's first column: an index lookup per (api, identifier, channel). */
               g->api ? "AND g.api = ANY (ARRAY[$4::text, ''])" : "");
    else
        st_sql(s, "SELECT i.k, g.sent_ms, g.sent_state, coalesce(sj.name, ''), g.sent_job, g.sent_row, g.claim_ms, "
                  "coalesce(cj.name, ''), g.claim_job, g.claim_row, false "
                  "FROM unnest($1::text[], $2::text[], $3::int[]) AS i (identifier, channel, k) "
                  "JOIN ottu_resend.gate g USING (identifier, channel) "
                  "LEFT JOIN ottu_resend.jobs sj ON sj.id = g.sent_job LEFT JOIN ottu_resend.jobs cj ON cj.id = g.claim_job");
    if (g->version >= 2 && g->api)
        st_param(s, g->api, strlen(g->api));
    r = st_exec(g, s);
    if (!res_ok(r)) {
        pg_error(g, "looking up claims", r, err, errlen);
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
        size_t k = (size_t)val_int(r, t, 0);
        if (k >= ne)
            continue;
        ledger_claim_item *it = &items[e[k].item];
        int i = e[k].ch;
        int own_maybe = it->resend_own && !PQgetisnull(r, t, 2) && strcmp(PQgetvalue(r, t, 2), "maybe") == 0 &&
                        val_int(r, t, 4) == g->job_id && val_int(r, t, 5) == it->row;
        int own_claim = val_int(r, t, 8) == g->job_id && val_int(r, t, 9) == it->row;
        int other = val_int(r, t, 8) != g->job_id;
        int live = other && strcmp(PQgetvalue(r, t, 10), "t") == 0;
        if (!PQgetisnull(r, t, 1) && val_int(r, t, 1) > cutoff && !own_maybe) {
            it->blocked_kind[i] = strcmp(PQgetvalue(r, t, 2), "maybe") == 0 ? LEDGER_MAYBE : LEDGER_SENT;
            it->blocked_at_ms[i] = val_int(r, t, 1);
            snprintf(it->blocked_job[i], sizeof it->blocked_job[i], "%s",
                     val_int(r, t, 4) == g->job_id ? "" : PQgetvalue(r, t, 3));
            blocked[k] = 1;
        } else if (!PQgetisnull(r, t, 8) && !own_claim && (live || val_int(r, t, 6) > cutoff)) {
            /* A live job's claim is its own; a dead job's counts as maybe-sent. */
            it->blocked_kind[i] = live || !other ? LEDGER_CLAIMED : LEDGER_MAYBE;
            it->blocked_at_ms[i] = val_int(r, t, 6);
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
    st_reset(s);
    /* $1..$5: the columns of the input, one array each. */
    for (int col = 0; col < 5; col++) {
        st_arr_begin(s);
        for (size_t k = 0; k < ne; k++) {
            ledger_claim_item *it = &items[e[k].item];
            const char *ch = rules_channel_name(1u << e[k].ch);
            if (e[k].dup)
                continue;
            switch (col) {
            case 0: st_arr_text(s, it->id, it->idlen); break;
            case 1: st_arr_text(s, ch, strlen(ch)); break;
            case 2: st_arr_int(s, it->row); break;
            case 3: st_arr_text(s, it->resend_own ? "t" : "f", 1); break;
            default: st_arr_int(s, (int64_t)k); break;
            }
            any = 1;
        }
        st_arr_end(s);
    }
    if (!any)
        return 0;
    st_int(s, g->job_id);
    st_int(s, now);
    st_int(s, cooldown > 0 ? now - cooldown : INT64_MAX);
    st_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0);
    /* $6 job, $7 now, $8 cutoff (cooldown 0: none), $9 this job's API. Gate rows from
     * before per-API records (api '') block within the cooldown (they are immutable: no
     * lock needed). Then the upsert on this API's row is the race-free check: free when
     * its send is older than the cutoff (or is this row's own maybe-send, with
     * --resend-unknown), and its claim is none, this row's, this job's older than the
     * cutoff, or another job's older than the cutoff whose lease has ended (dead). A live
     * job's claim never yields. ORDER BY: every process locks gate rows in the same order
     * (fewer deadlocks). */
    st_sql(s, "WITH input (identifier, channel, row_no, resend, k) AS (SELECT * FROM unnest($1::text[], "
              "$2::text[], $3::bigint[], $4::boolean[], $5::int[])), "
              "%s", g->legacy ? "fresh AS (SELECT * FROM input i WHERE $9::text = '' OR NOT EXISTS (SELECT 1 FROM "
              "ottu_resend.gate l WHERE l.api = '' AND l.identifier = i.identifier AND l.channel = i.channel AND "
              "(l.sent_ms > $8::bigint OR l.claim_ms > $8::bigint))), " : "fresh AS (SELECT * FROM input), ");
    st_sql(s, "granted AS (INSERT INTO ottu_resend.gate AS g (api, identifier, channel, claim_job, claim_row, "
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
    st_sql(s, "hist AS (INSERT INTO ottu_resend.claims AS c (identifier, channel, job_id, row_no, state, "
              "claimed_at_ms, at_ms, api) SELECT identifier, channel, $6::bigint, row_no, 'claimed', $7::bigint, "
              "$7::bigint, $9::text FROM won ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET "
              "state = 'claimed', claimed_at_ms = excluded.claimed_at_ms, at_ms = excluded.at_ms, api = excluded.api "
              "WHERE c.state <> 'sent') "
              "SELECT k FROM won");
    return 1;
}

/* The granted pairs from the claim statement's result. */
static void claim_apply(PGresult *r, ledger_claim_item *items, centry *e, size_t ne)
{
    for (int t = 0; t < PQntuples(r); t++) {
        size_t k = (size_t)val_int(r, t, 0);
        if (k < ne)
            items[e[k].item].granted |= 1u << e[k].ch;
    }
}

/* ---- settlements ------------------------------------------------------------------------ */

/* SQL for the rules.h bit of the channel column of table alias t. */
#define CHANNEL_BIT(t) "(CASE " t ".channel WHEN 'sms' THEN 1 WHEN 'email' THEN 2 ELSE 4 END)"

/* One channel of a settlement that is sent or maybe-sent. */
typedef struct {
    size_t s; /* settlement index */
    int ch;
    int dup_gate, dup_hist; /* a later entry has the same gate key / history key */
} sentry;

/* Runs one write transaction in ONE round trip (libpq's pipeline mode): BEGIN, the
 * statements, COMMIT, one sync. Each round trip costs a wake-up of the server process,
 * milliseconds on a busy machine; this was 5-6 of them per batch. The result of statement
 * keep (-1: none) is handed back in *kept. After a failure, nothing was applied and the
 * transaction is rolled back. *deadlock: PostgreSQL broke a deadlock (worth a retry). */
static int pipeline_tx(pg *g, int settle_only, stmt *q, int nq, const char *const *doing, int keep,
                       PGresult **kept, int *deadlock, char *err, size_t errlen)
{
    int ok = 1, failed = 0, n = 0, oom = 0;
    *kept = NULL;
    *deadlock = 0;
    if (!PQenterPipelineMode(g->conn)) {
        pg_error(g, "starting a transaction", NULL, err, errlen);
        return -1;
    }
    /* Settlements alone need not wait for the disk, as SQLite's NORMAL for them: a lost
     * one leaves its claim blocking, never a double send (docs/ledger.md). A claim commits
     * with the server's synchronous_commit: durable before its request goes out. */
    ok = PQsendQueryParams(g->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
         (!settle_only || PQsendQueryParams(g->conn, "SET LOCAL synchronous_commit = off", 0, NULL, NULL, NULL,
                                            NULL, 0));
    n = 1 + settle_only;
    for (int i = 0; ok && i < nq; i++, n++) {
        const char **vals = q[i].oom ? NULL : calloc((size_t)q[i].n + 1, sizeof *vals);
        if (!vals) {
            ok = 0;
            oom = 1;
            break;
        }
        for (int k = 0; k < q[i].n; k++)
            vals[k] = q[i].pool + q[i].off[k];
        ok = PQsendQueryParams(g->conn, q[i].sql, q[i].n, NULL, vals, NULL, NULL, 0);
        free(vals);
    }
    ok = ok && PQsendQueryParams(g->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(g->conn);
    n++;
    if (!ok) {
        if (oom)
            ledger_set_err(err, errlen, "ledger %s: sending to the ledger: out of memory", g->spec);
        else
            pg_error(g, "sending to the ledger", NULL, err, errlen);
        failed = 1;
    }
    /* One result (then NULL) per statement, then the sync; a statement after a failed one
     * comes back PGRES_PIPELINE_ABORTED. */
    for (int i = 0; ok && i < n; i++) {
        PGresult *r = PQgetResult(g->conn);
        int st = i - 1 - settle_only; /* index into q, or <0 / >= nq for BEGIN, SET, COMMIT */
        if (!r) {
            pg_error(g, "committing", NULL, err, errlen);
            failed = 1;
            break;
        }
        if (!res_ok(r) && !failed) {
            const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            pg_error(g, st >= 0 && st < nq ? doing[st] : st >= nq ? "committing" : "starting a transaction", r, err,
                     errlen);
            *deadlock = code && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0);
            failed = 1;
        }
        if (!failed && st == keep)
            *kept = r;
        else
            PQclear(r);
        PQclear(PQgetResult(g->conn)); /* the NULL after each statement's result */
    }
    if (ok) {
        PGresult *r = PQgetResult(g->conn); /* PGRES_PIPELINE_SYNC */
        PQclear(r);
    }
    if (PQstatus(g->conn) == CONNECTION_OK && !PQexitPipelineMode(g->conn)) {
        /* Results still unread (a broken exchange): nothing more can be trusted here. */
        if (!failed)
            pg_error(g, "committing", NULL, err, errlen);
        failed = 1;
        PQreset(g->conn);
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

#define NEWER "(g.sent_ms IS NULL OR g.sent_ms <= excluded.sent_ms)"
#define OWN "(g.claim_job = excluded.sent_job AND g.claim_row = excluded.sent_row)"
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
    /* One statement may not touch a row twice: the latest entry per key wins. */
    for (size_t a = 0; a < ne; a++)
        for (size_t b = a + 1; b < ne; b++)
            if (e[a].ch == e[b].ch && p[e[a].s].len == p[e[b].s].len &&
                memcmp(text + p[e[a].s].off, text + p[e[b].s].off, p[e[a].s].len) == 0) {
                e[a].dup_gate = 1;
                if (p[e[a].s].row == p[e[b].s].row)
                    e[a].dup_hist = 1;
            }
    /* Every other claim of the rows: released, in the history and the gate. The channels
     * sent or maybe sent are left to the upserts below, so each row version is written
     * once (each one costs); in the gate, a channel whose upsert is another row's (the
     * latest wins) is released here. The job is a column of v, not a constant, and the
     * state is tested in SET, not in WHERE: with either restriction on claims, stale
     * statistics (see connect_db) make the planner expect a handful of rows and scan
     * them all once per batch; without, it looks v's rows up by key. */
    st_reset(s);
    unsigned *gate_kept = calloc(np, sizeof *gate_kept);
    if (!gate_kept) {
        free(e);
        ledger_set_err(err, errlen, "ledger: out of memory");
        return -1;
    }
    for (size_t i = 0; i < ne; i++)
        if (!e[i].dup_gate)
            gate_kept[e[i].s] |= 1u << e[i].ch;
    for (int col = 0; col < 6; col++) {
        st_arr_begin(s);
        for (size_t k = 0; k < np; k++)
            switch (col) {
            case 0: st_arr_text(s, text + p[k].off, p[k].len); break;
            case 1: st_arr_int(s, p[k].row); break;
            case 2: st_arr_int(s, p[k].at_ms); break;
            case 3: st_arr_int(s, g->job_id); break;
            case 4: st_arr_int(s, (int64_t)(p[k].sent | p[k].maybe)); break;
            default: st_arr_int(s, (int64_t)gate_kept[k]); break;
            }
        st_arr_end(s);
    }
    st_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0); /* $7 */
    free(gate_kept);
    st_sql(s, "WITH v (identifier, row_no, at, job, hist_kept, gate_kept) AS MATERIALIZED (SELECT * FROM "
              "unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::int[])), "
              "h AS (UPDATE ottu_resend.claims c SET state = CASE WHEN c.state = 'claimed' THEN 'released' "
              "ELSE c.state END, at_ms = CASE WHEN c.state = 'claimed' THEN v.at ELSE c.at_ms END FROM v "
              "WHERE c.identifier = v.identifier AND c.job_id = v.job AND c.row_no = v.row_no "
              "AND v.hist_kept & " CHANNEL_BIT("c") " = 0) "
              "UPDATE ottu_resend.gate g SET claim_job = NULL, claim_row = NULL, claim_ms = NULL, "
              "claim_resend = false FROM v WHERE g.api = $7::text AND g.identifier = v.identifier AND g.claim_job = v.job "
              "AND g.claim_row = v.row_no AND v.gate_kept & " CHANNEL_BIT("g") " = 0");
    (*nq)++;
    /* ... then the sent and maybe-sent channels recorded: $1..$5 identifier, channel,
     * row, state, time; $6 the job, $7 its API. */
    for (int pass = 0; pass < 2 && ne > 0; pass++) {
        s = &out[*nq];
        st_reset(s);
        for (int col = 0; col < 5; col++) {
            st_arr_begin(s);
            for (size_t k = 0; k < ne; k++) {
                const ledger_settlement *q = &p[e[k].s];
                const char *ch = rules_channel_name(1u << e[k].ch);
                const char *state = (q->sent & (1u << e[k].ch)) ? "sent" : "maybe";
                if (pass == 0 ? e[k].dup_hist : e[k].dup_gate)
                    continue;
                switch (col) {
                case 0: st_arr_text(s, text + q->off, q->len); break;
                case 1: st_arr_text(s, ch, strlen(ch)); break;
                case 2: st_arr_int(s, q->row); break;
                case 3: st_arr_text(s, state, strlen(state)); break;
                default: st_arr_int(s, q->at_ms); break;
                }
            }
            st_arr_end(s);
        }
        st_int(s, g->job_id);
        st_param(s, g->api ? g->api : "", g->api ? strlen(g->api) : 0); /* $7 */
        if (pass == 0)
            st_sql(s, "INSERT INTO ottu_resend.claims AS c (identifier, channel, job_id, row_no, state, "
                      "claimed_at_ms, at_ms, api) SELECT u.identifier, u.channel, $6::bigint, u.row_no, u.state, u.at, "
                      "u.at, $7::text FROM " SETTLED_ROWS " ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET "
                      "state = CASE WHEN excluded.state = 'maybe' AND c.state = 'sent' THEN 'sent' "
                      "ELSE excluded.state END, at_ms = excluded.at_ms");
        else
            /* The newest send stays; this row's own claim goes in any case. */
            st_sql(s, "INSERT INTO ottu_resend.gate AS g (api, identifier, channel, sent_job, sent_row, sent_state, "
                      "sent_ms) SELECT $7::text, u.identifier, u.channel, $6::bigint, u.row_no, u.state, u.at FROM "
                      SETTLED_ROWS " ON CONFLICT (api, identifier, channel) DO UPDATE SET "
                      "sent_job = CASE WHEN " NEWER " THEN excluded.sent_job ELSE g.sent_job END, "
                      "sent_row = CASE WHEN " NEWER " THEN excluded.sent_row ELSE g.sent_row END, "
                      "sent_state = CASE WHEN " NEWER " THEN excluded.sent_state ELSE g.sent_state END, "
                      "sent_ms = CASE WHEN " NEWER " THEN excluded.sent_ms ELSE g.sent_ms END, "
                      "claim_job = CASE WHEN " OWN " THEN NULL ELSE g.claim_job END, "
                      "claim_row = CASE WHEN " OWN " THEN NULL ELSE g.claim_row END, "
                      "claim_ms = CASE WHEN " OWN " THEN NULL ELSE g.claim_ms END, "
                      "claim_resend = CASE WHEN " OWN " THEN false ELSE g.claim_resend END");
        (*nq)++;
    }
    *written += (long long)ne;
    free(e);
    return 0;
}

static int pg_write(void *be, const ledger_settlement *p, size_t np, const char *text, ledger_claim_item *items,
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
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < a && !e[a].dup; b++)
            if (e[a].ch == e[b].ch && same_key(&items[e[a].item], &items[e[b].item]))
                e[a].dup = 1 + (items[e[a].item].row == items[e[b].item].row);
    if (ensure_conn(g, err, errlen) != 0)
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
        int deadlock = 0, nq = 0, keep = -1;
        const char *doing[4] = {"recording outcomes", "recording outcomes", "recording outcomes", "claiming"};
        PGresult *granted = NULL;
        added = 0;
        for (size_t k = 0; k < ni; k++)
            items[k].granted = 0;
        for (int i = 0; i < 4; i++)
            st_reset(&q[i]);
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
        ret = pipeline_tx(g, ni == 0, q, nq, doing, keep, &granted, &deadlock, err, errlen);
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
        if (!deadlock)
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
    st_free(&s);
    for (int i = 0; i < 4; i++)
        st_free(&q[i]);
    free(e);
    return ret;
}

/* ---- budget ------------------------------------------------------------------------------ */

static long long pg_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                           size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long used = 0, taken = 0;
    int ok = 0;
    if (!g->have_schema)
        return op == LEDGER_BUDGET_TAKE ? n : 0;
    if (ensure_conn(g, err, errlen) != 0)
        return -1;
    if (op == LEDGER_BUDGET_USED) {
        st_sql(&s, "SELECT used FROM ottu_resend.budget WHERE scope = $%d AND day = $%d::date",
               st_param(&s, scope, strlen(scope)), st_param(&s, day, strlen(day)));
        r = st_exec(g, &s);
        ok = res_ok(r);
        used = ok && PQntuples(r) > 0 ? val_int(r, 0, 0) : 0;
        goto out;
    }
    /* The row locked for the whole transaction: concurrent takers queue on it. */
    if (exec_ok(g, "BEGIN", "starting a transaction", err, errlen) != 0) {
        st_free(&s);
        return -1;
    }
    int a = st_param(&s, scope, strlen(scope)), b = st_param(&s, day, strlen(day));
    st_sql(&s, "INSERT INTO ottu_resend.budget (scope, day, used) VALUES ($%d, $%d::date, 0) "
               "ON CONFLICT (scope, day) DO UPDATE SET used = ottu_resend.budget.used RETURNING used", a, b);
    r = st_exec(g, &s);
    if (!(ok = res_ok(r)))
        goto out;
    used = val_int(r, 0, 0);
    PQclear(r);
    if (op == LEDGER_BUDGET_TAKE) {
        taken = limit <= 0 ? n : used >= limit ? 0 : (limit - used < n ? limit - used : n);
        used += taken;
    } else {
        used = used > n ? used - n : 0;
    }
    st_reset(&s);
    a = st_param(&s, scope, strlen(scope));
    b = st_param(&s, day, strlen(day));
    st_sql(&s, "UPDATE ottu_resend.budget SET used = $%d::bigint WHERE scope = $%d AND day = $%d::date",
           st_int(&s, used), a, b);
    r = st_exec(g, &s);
    if ((ok = res_ok(r))) {
        PQclear(r);
        r = PQexec(g->conn, "COMMIT");
        ok = res_ok(r);
    }
out:
    if (!ok) {
        pg_error(g, "counting the daily budget", r, err, errlen);
        if (PQstatus(g->conn) == CONNECTION_OK && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
            PQclear(PQexec(g->conn, "ROLLBACK"));
    }
    PQclear(r);
    st_free(&s);
    if (!ok)
        return -1;
    return op == LEDGER_BUDGET_TAKE ? taken : op == LEDGER_BUDGET_USED ? used : 0;
}

/* ---- stats and prune ----------------------------------------------------------------------- */

static int pg_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen)
{
    pg *g = be;
    PGresult *r;
    const char *vals[1] = {today};
    if (ensure_conn(g, err, errlen) != 0)
        return -1;
    /* One snapshot, so the numbers agree with each other while jobs write. */
    if (exec_ok(g, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "reading", err, errlen) != 0)
        return -1;
    r = PQexec(g->conn,
               "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'maybe'), "
               "count(*) FILTER (WHERE state = 'claimed'), count(*) FILTER (WHERE state = 'released'), "
               "count(DISTINCT identifier) FILTER (WHERE state IN ('sent', 'maybe')), count(DISTINCT job_id), "
               "min(at_ms) FILTER (WHERE state IN ('sent', 'maybe')), max(at_ms) FILTER (WHERE state IN ('sent', "
               "'maybe')) FROM ottu_resend.claims");
    if (!res_ok(r))
        goto fail;
    st->sent = val_int(r, 0, 0);
    st->maybe = val_int(r, 0, 1);
    st->claimed = val_int(r, 0, 2);
    st->released = val_int(r, 0, 3);
    st->identifiers = val_int(r, 0, 4);
    st->jobs = val_int(r, 0, 5);
    st->oldest_ms = val_int(r, 0, 6);
    st->newest_ms = val_int(r, 0, 7);
    PQclear(r);
    r = PQexec(g->conn, "SELECT at_ms / 86400000 AS d, channel, count(*) FROM ottu_resend.claims "
                        "WHERE state IN ('sent', 'maybe') GROUP BY d, channel ORDER BY d");
    if (!res_ok(r))
        goto fail;
    int64_t last = INT64_MIN;
    for (int t = 0; t < PQntuples(r); t++) {
        int64_t d = val_int(r, t, 0);
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
                st->days[st->ndays - 1].n[i] += val_int(r, t, 2);
    }
    PQclear(r);
    r = PQexecParams(g->conn, "SELECT scope, used FROM ottu_resend.budget WHERE day = $1::date ORDER BY scope", 1,
                     NULL, vals, NULL, NULL, 0);
    if (!res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_budget_row *nb = realloc(st->budget, (st->nbudget + 1) * sizeof *nb);
        if (!nb)
            goto fail;
        st->budget = nb;
        snprintf(nb[st->nbudget].scope, sizeof nb->scope, "%s", PQgetvalue(r, t, 0));
        nb[st->nbudget++].used = val_int(r, t, 1);
    }
    PQclear(r);
    r = PQexec(g->conn, "SELECT api, count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'maybe'), "
                        "count(*) FILTER (WHERE state = 'claimed') FROM ottu_resend.claims GROUP BY api ORDER BY api");
    if (!res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_api_row *na = realloc(st->apis, (st->napis + 1) * sizeof *na);
        if (!na)
            goto fail;
        st->apis = na;
        na += st->napis++;
        snprintf(na->api, sizeof na->api, "%s", PQgetvalue(r, t, 0));
        na->sent = val_int(r, t, 1);
        na->maybe = val_int(r, t, 2);
        na->claimed = val_int(r, t, 3);
    }
    PQclear(r);
    r = PQexec(g->conn, "SELECT coalesce(j.name, '#' || c.job_id), count(*), coalesce(j.lease_until_ms > " PG_NOW
                        ", false) FROM ottu_resend.claims c LEFT JOIN ottu_resend.jobs j ON j.id = c.job_id "
                        "WHERE c.state = 'claimed' GROUP BY 1, 3 ORDER BY 1");
    if (!res_ok(r))
        goto fail;
    for (int t = 0; t < PQntuples(r); t++) {
        ledger_job_row *nj = realloc(st->open_jobs, (st->nopen + 1) * sizeof *nj);
        if (!nj)
            goto fail;
        st->open_jobs = nj;
        nj += st->nopen++;
        snprintf(nj->name, sizeof nj->name, "%s", PQgetvalue(r, t, 0));
        nj->claims = val_int(r, t, 1);
        nj->live = strcmp(PQgetvalue(r, t, 2), "t") == 0;
    }
    PQclear(r);
    PQclear(PQexec(g->conn, "COMMIT"));
    return 0;
fail:
    pg_error(g, "reading", r, err, errlen);
    PQclear(r);
    PQclear(PQexec(g->conn, "ROLLBACK"));
    return -1;
}

static long long pg_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long n = -1;
    char day[11];
    if (ensure_conn(g, err, errlen) != 0)
        return -1;
    clock_format_day(cutoff, day);
    int a = st_int(&s, cutoff);
    if (dry_run)
        st_sql(&s, "SELECT count(*) FILTER (WHERE at_ms < $%d::bigint AND NOT (state = 'claimed' AND job_id IN "
                   "(SELECT id FROM ottu_resend.jobs WHERE lease_until_ms > " PG_NOW "))), count(*) FROM "
                   "ottu_resend.claims", a);
    else
        /* The gate rows go too once both their send and their claim are older. */
        st_sql(&s,
               "WITH live AS (SELECT id FROM ottu_resend.jobs WHERE lease_until_ms > " PG_NOW "), "
               "d AS (DELETE FROM ottu_resend.claims WHERE at_ms < $%d::bigint AND NOT (state = 'claimed' AND "
               "job_id IN (SELECT id FROM live)) RETURNING 1), "
               "gd AS (DELETE FROM ottu_resend.gate WHERE coalesce(sent_ms, 0) < $%d::bigint AND "
               "coalesce(claim_ms, 0) < $%d::bigint AND (claim_job IS NULL OR claim_job NOT IN (SELECT id FROM live))), "
               "bd AS (DELETE FROM ottu_resend.budget WHERE day < $%d::date) "
               "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM ottu_resend.claims)",
               a, a, a, st_param(&s, day, strlen(day)));
    r = st_exec(g, &s);
    if (!res_ok(r)) {
        pg_error(g, "pruning", r, err, errlen);
    } else {
        n = val_int(r, 0, 0);
        /* The count in the same statement still sees the rows being deleted. */
        *left = dry_run ? val_int(r, 0, 1) - n : val_int(r, 0, 1) - n;
    }
    PQclear(r);
    st_free(&s);
    return n;
}

/* ---- job leases and `ledger release` ----------------------------------------------------- */

static int pg_lease(void *be, int op, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r;
    int ok;
    if (!g->have_schema || g->job_id < 0)
        return 0;
    if (ensure_conn(g, err, errlen) != 0)
        return -1;
    /* A lease lost to a crash of the server only makes the job look dead sooner, and a
     * dead job's claims still block (maybe-sent); one small commit per 5 s either way. */
    st_sql(&s, "UPDATE ottu_resend.jobs SET lease_until_ms = %s WHERE id = $%d::bigint",
           op == LEDGER_LEASE_RENEW ? PG_NOW " + " XSTR(LEDGER_LEASE_MS) : "0", st_int(&s, g->job_id));
    r = st_exec(g, &s);
    if (!(ok = res_ok(r)))
        pg_error(g, "renewing the job's lease", r, err, errlen);
    PQclear(r);
    st_free(&s);
    return ok ? 0 : -1;
}

static long long pg_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen)
{
    pg *g = be;
    stmt s = {0};
    PGresult *r = NULL;
    long long n = -1;
    int64_t id, left_ms;
    if (ensure_conn(g, err, errlen) != 0)
        return -1;
    if (exec_ok(g, "BEGIN", "releasing", err, errlen) != 0)
        return -1;
    /* The job's row locked: a renewal waits until the release is decided. */
    st_sql(&s, "SELECT id, coalesce(lease_until_ms, 0) - " PG_NOW " FROM ottu_resend.jobs WHERE name = $%d FOR UPDATE",
           st_param(&s, name, strlen(name)));
    r = st_exec(g, &s);
    if (!res_ok(r)) {
        pg_error(g, "releasing", r, err, errlen);
        goto out;
    }
    if (PQntuples(r) == 0) {
        ledger_set_err(err, errlen, "ledger %s: no job named \"%s\" (`ottu-resend ledger stats` lists the jobs with "
                                    "open claims)", g->spec, name);
        goto out;
    }
    id = val_int(r, 0, 0);
    left_ms = val_int(r, 0, 1);
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
    st_reset(&s);
    int a = st_int(&s, id);
    if (dry_run)
        st_sql(&s, "SELECT count(*) FROM ottu_resend.claims WHERE job_id = $%d::bigint AND state = 'claimed'", a);
    else
        st_sql(&s, "WITH gr AS (UPDATE ottu_resend.gate SET claim_job = NULL, claim_row = NULL, claim_ms = NULL, "
                   "claim_resend = false WHERE claim_job = $%d::bigint), "
                   "c AS (UPDATE ottu_resend.claims SET state = 'released', at_ms = " PG_NOW " WHERE job_id = "
                   "$%d::bigint AND state = 'claimed' RETURNING 1) SELECT count(*) FROM c",
               a, a);
    r = st_exec(g, &s);
    if (!res_ok(r)) {
        pg_error(g, "releasing", r, err, errlen);
        goto out;
    }
    n = val_int(r, 0, 0);
    PQclear(r);
    r = PQexec(g->conn, "COMMIT");
    if (!res_ok(r)) {
        pg_error(g, "releasing", r, err, errlen);
        n = -1;
    }
out:
    PQclear(r);
    if (PQstatus(g->conn) == CONNECTION_OK && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
        PQclear(PQexec(g->conn, "ROLLBACK"));
    st_free(&s);
    return n;
}

static const char *pg_identity(void *be) { return ((pg *)be)->ident; }

static void pg_set_api(void *be, const char *api)
{
    pg *g = be;
    free(g->api);
    g->api = api ? strdup(api) : NULL;
}

const ledger_ops ledger_pg_ops = {pg_write, pg_budget, pg_stats, pg_prune, pg_close,
                                  pg_lease, pg_release, pg_identity, pg_set_api};
