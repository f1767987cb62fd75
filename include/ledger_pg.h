/* ledger_pg — private to the PostgreSQL store of the ledger (ledger_pg*.c): its handle,
 * the statement builder and the connection its files share (ledger_pg_sql.c, the bottom of
 * the store), and the ops its top (ledger_pg.c) puts in the table. The rest of the program
 * includes ledger.h only. */
#ifndef OTTU_LEDGER_PG_H
#define OTTU_LEDGER_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_backend.h"

/* Version of the ottu_resend schema (its own numbering, in ottu_resend.version). */
#define PG_SCHEMA_VERSION 2
/* Attempts of a transaction PostgreSQL aborted to break a deadlock between two jobs. */
#define PG_ATTEMPTS 5
/* The server's clock in ms: leases are written and read by it, never by a host's own. */
#define PG_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
/* Statement texts of the write path kept prepared (more are sent unprepared). */
#define PG_PREPARED_MAX 12
#define STR(x) #x
#define XSTR(x) STR(x)

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
    int fresh_job;   /* this process registered the job: it has no record yet */
    /* The write path's statements, prepared once per connection (pipeline_tx): a text of
     * its own (a few, by API and legacy), the name it was prepared under on connection
     * number conn_gen, 0: not on this connection. */
    struct {
        char *sql;
        unsigned gen;
        char name[24];
    } prep[PG_PREPARED_MAX];
    int nprep;
    unsigned conn_gen; /* counts (re)connections: a new one has no prepared statement */
    unsigned prep_seq; /* names prepared statements, never twice on a connection */
} pg;

/* ---- ledger_pg_sql.c: the connection and the statements sent over it ---- */

/* A statement's text and its parameters, values kept in one pool, pointers made at exec
 * time. */
typedef struct {
    char *pool;
    size_t pn, pcap;
    size_t *off;
    int n, cap;
    char *sql;
    size_t sn, scap;
    size_t arr_start, arr_n; /* the array parameter being built (pgs_arr_*) */
    int oom;                 /* a parameter could not be stored: the statement must not run */
} stmt;

void pgs_reset(stmt *s);
void pgs_free(stmt *s);
/* Appends SQL text. */
int pgs_sql(stmt *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a text or integer parameter; returns its number ($n). */
int pgs_param(stmt *s, const char *v, size_t len);
int pgs_int(stmt *s, int64_t v);
/* Array parameters, one per column of a batch: a statement's text stays the same
 * whatever the batch's size (a VALUES list of a thousand parameters cost the server more
 * to parse and plan than to run), and unnest() turns the arrays back into rows. Build one
 * array at a time: pgs_arr_begin, elements, pgs_arr_end (returns its $n). */
void pgs_arr_begin(stmt *s);
void pgs_arr_text(stmt *s, const char *v, size_t len);
void pgs_arr_int(stmt *s, int64_t v);
int pgs_arr_end(stmt *s);
/* Runs the statement (NULL when out of memory); the caller clears the result. */
PGresult *pgs_exec(pg *g, stmt *s);

/* The failure of doing (res may be NULL) as a message naming the ledger, never a password. */
void pgl_error(pg *g, const char *doing, const PGresult *res, char *err, size_t errlen);
/* Runs SQL without parameters; 0 when it succeeded. */
int pgl_exec_ok(pg *g, const char *sql, const char *doing, char *err, size_t errlen);
/* 1 when r is a success (a command or rows). */
int pgl_res_ok(PGresult *r);
/* An integer cell, 0 when NULL. */
int64_t pgl_val_int(PGresult *r, int row, int col);
/* -1 with err when the URI holds a password (or is not a URI). */
int pgl_has_password(const char *uri, char *err, size_t errlen);
/* (Re)connects and configures the session; 0 or -1 with err. */
int pgl_connect(pg *g, char *err, size_t errlen);
/* Reconnects when the connection dropped since the last call (the server restarted). */
int pgl_ensure_conn(pg *g, char *err, size_t errlen);

/* ---- ledger_pg_dups.c: the entries of a batch that repeat a key ---- */
/* One (item, channel) of a claim batch. */
typedef struct {
    size_t item;
    int ch; /* channel index 0..2 */
    int dup; /* the same (identifier, channel) appears earlier in the batch */
} centry;

/* One channel of a settlement that is sent or maybe-sent. */
typedef struct {
    size_t s; /* settlement index */
    int ch;
    int dup_gate, dup_hist; /* another entry with the same gate / history key is kept */
} sentry;

/* Set e[k].dup of each claim entry whose (identifier, channel) an earlier entry has, and
 * dup_gate / dup_hist of each settlement entry another entry of its key is kept over.
 * 0, or -1 when out of memory. */
int pgl_mark_claim_dups(const ledger_claim_item *items, centry *e, size_t ne);
int pgl_mark_settle_dups(const ledger_settlement *p, const char *text, sentry *e, size_t ne);

/* ---- ledger_pg_write.c: claims and settlements (ledger_ops.write) ---- */
int pgl_write(void *be, const ledger_settlement *p, size_t np, const char *text, ledger_claim_item *items,
              size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
              size_t errlen);

/* ---- ledger_pg_admin.c: budget, stats, prune, leases and release ---- */
long long pgl_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                     size_t errlen);
int pgl_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen);
long long pgl_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen);
int pgl_lease(void *be, int op, char *err, size_t errlen);
long long pgl_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen);

#endif
