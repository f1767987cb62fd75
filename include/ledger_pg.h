/* ledger_pg — private to the PostgreSQL store of the ledger (ledger_pg*.c): its handle, the
 * statement builder and the helpers its files share. The rest of the program includes
 * ledger.h only. */
#ifndef OTTU_LEDGER_PG_H
#define OTTU_LEDGER_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_backend.h"

/* The server's clock in ms: leases are written and read by it, never by a host's own. */
#define PG_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
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
} pg;



/* A statement being built: SQL text, and its parameters kept in one pool. */
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

/* ledger_pg_stmt.c: errors, the statement builder, small result helpers */
/* libpq's message on one line (it never holds the password: libpq does not echo it). */
void pg_one_line(const char *msg, char *buf, size_t size);
void pg_error(pg *g, const char *doing, const PGresult *res, char *err, size_t errlen);
void st_reset(stmt *s);
void st_free(stmt *s);
int st_sql(stmt *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int st_param(stmt *s, const char *v, size_t len);
int st_int(stmt *s, int64_t v);
void st_arr_begin(stmt *s);
void st_arr_text(stmt *s, const char *v, size_t len);
void st_arr_int(stmt *s, int64_t v);
int st_arr_end(stmt *s);
PGresult *st_exec(pg *g, stmt *s);
int exec_ok(pg *g, const char *sql, const char *doing, char *err, size_t errlen);
int res_ok(PGresult *r);
int64_t val_int(PGresult *r, int row, int col);

/* ledger_pg.c */
int pg_ensure_conn(pg *g, char *err, size_t errlen);

/* ledger_pg_admin.c: budget, stats, prune, lease, release */
long long pg_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                    size_t errlen);
int pg_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen);
long long pg_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen);
int pg_lease(void *be, int op, char *err, size_t errlen);
long long pg_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen);
const char *pg_identity(void *be);
void pg_set_api(void *be, const char *api);

#endif
