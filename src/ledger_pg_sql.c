/* ledger_pg_sql — the bottom of the ledger's PostgreSQL store: the connection (no password
 * in the URI, the session's settings, reconnecting), the statement builder (parameters in
 * one pool, array parameters for batches) and libpq's errors as messages. */
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

void pgl_error(pg *g, const char *doing, const PGresult *res, char *err, size_t errlen)
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

void pgs_reset(stmt *s)
{
    s->pn = 0;
    s->n = 0;
    s->sn = 0;
    s->oom = 0;
    if (s->sql)
        s->sql[0] = '\0';
}

void pgs_free(stmt *s)
{
    free(s->pool);
    free(s->off);
    free(s->sql);
}

/* Appends SQL text. */
int pgs_sql(stmt *s, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ledger_grow((void **)&s->sql, &s->scap, s->sn + (size_t)n + 1, 1) != 0)
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
    if (s->oom || ledger_grow((void **)&s->pool, &s->pcap, s->pn + len + 1, 1) != 0) {
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
    if (s->oom || ledger_grow((void **)&s->off, &cap, (size_t)s->n + 1, sizeof *s->off) != 0) {
        s->oom = 1;
        return 0;
    }
    s->cap = (int)cap;
    s->off[s->n++] = start;
    return s->n;
}

/* Adds a text parameter; returns its number ($n). */
int pgs_param(stmt *s, const char *v, size_t len)
{
    size_t start = s->pn;
    st_put(s, v, len);
    return st_end(s, start);
}

int pgs_int(stmt *s, int64_t v)
{
    char b[24];
    return pgs_param(s, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v));
}

/* Array parameters, one per column of a batch: a statement's text stays the same
 * whatever the batch's size (a VALUES list of a thousand parameters cost the server more
 * to parse and plan than to run), and unnest() turns the arrays back into rows. Build one
 * array at a time: pgs_arr_begin, elements, pgs_arr_end (returns its $n). */
void pgs_arr_begin(stmt *s)
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
void pgs_arr_text(stmt *s, const char *v, size_t len)
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

void pgs_arr_int(stmt *s, int64_t v)
{
    char b[24];
    st_arr_sep(s);
    st_put(s, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v));
}

int pgs_arr_end(stmt *s)
{
    st_put(s, "}", 1);
    return st_end(s, s->arr_start);
}

PGresult *pgs_exec(pg *g, stmt *s)
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
int pgl_exec_ok(pg *g, const char *sql, const char *doing, char *err, size_t errlen)
{
    PGresult *r = PQexec(g->conn, sql);
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        pgl_error(g, doing, r, err, errlen);
    PQclear(r);
    return ok ? 0 : -1;
}

int pgl_res_ok(PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

int64_t pgl_val_int(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- the connection -------------------------------------------------------------------- */

/* A password in the URI would sit in argv, shell history and logs. */
int pgl_has_password(const char *uri, char *err, size_t errlen)
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
int pgl_connect(pg *g, char *err, size_t errlen)
{
    const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *vals[] = {"ottu-resend", "10", g->spec, NULL};
    char msg[400], sql[96];
    if (g->conn)
        PQfinish(g->conn);
    g->conn_gen++; /* its prepared statements went with it */
    g->conn = PQconnectdbParams(keys, vals, 1);
    if (!g->conn || PQstatus(g->conn) != CONNECTION_OK) {
        one_line(g->conn ? PQerrorMessage(g->conn) : "out of memory", msg, sizeof msg);
        ledger_set_err(err, errlen, "ledger %s: cannot connect: %s", g->spec, msg);
        return -1;
    }
    /* Waiting on another job's row lock longer than this is "busy", as with SQLite. */
    snprintf(sql, sizeof sql, "SET lock_timeout = %d; SET client_min_messages = warning", LEDGER_BUSY_TIMEOUT_MS);
    if (pgl_exec_ok(g, sql, "configuring the session", err, errlen) != 0)
        return -1;
    /* A job's statements look up at most a few hundred rows by key. The statistics of
     * tables that grow by thousands of rows a second lag behind (autovacuum), and with a
     * stale estimate the planner scans the whole table once per batch: measured 40-90 ms
     * per batch of 256 at 30,000 rows, growing with the table. Index lookups only. */
    if (g->mode == LEDGER_READWRITE || g->mode == LEDGER_READONLY)
        return pgl_exec_ok(g, "SET enable_seqscan = off",
                       "configuring the session", err, errlen);
    return 0;
}

/* Reconnects when the connection dropped since the last call (the server restarted). */
int pgl_ensure_conn(pg *g, char *err, size_t errlen)
{
    if (PQstatus(g->conn) == CONNECTION_OK)
        return 0;
    return pgl_connect(g, err, errlen);
}
