/* ledger_sqlite — private to the SQLite store of the ledger (ledger_sqlite*.c): its handle
 * and the helpers its files share. The rest of the program includes ledger.h only. */
#ifndef OTTU_LEDGER_SQLITE_H
#define OTTU_LEDGER_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_backend.h"

typedef struct {
    sqlite3 *db; /* NULL: a read-only ledger that does not exist (yet): empty */
    char *path;
    int mode;
    int version;
    int64_t job_id; /* -1 when this job is not in a read-only ledger */
    int full;       /* PRAGMA synchronous is FULL now (else NORMAL) */
    char *api;      /* this job's API; NULL: lookups match every API */
    char ident[40]; /* meta ledger_id: the ledger's identity ("" in an old file read-only) */
    sqlite3_stmt *lookup, *job_name, *blocked, *grant, *update_sent, *insert_sent, *set_maybe, *release;
} sq;


/* SQL: job alias t is live at time now -- its lease has not ended and, when it runs on this
 * host, its process exists (an SQLite ledger is on one host: a job killed there is dead
 * at once, not a lease later). ottu_alive() is registered by sq_db_open. */
#define SQ_LIVE(t, now) "(" t ".lease_until_ms > " now " AND ottu_alive(" t ".host, " t ".pid))"

/* ledger_sqlite_db.c: errors and statements */
void sq_db_error(sqlite3 *db, const char *path, const char *doing, int rc, char *err, size_t errlen);
int sq_exec(sqlite3 *db, const char *sql);
int sq_query_int(sqlite3 *db, const char *sql, int64_t *out);
int sq_step_done(sqlite3_stmt *st);

/* ledger_sqlite_schema.c: the file, its schema and migrations */
sqlite3 *sq_db_open(const char *path, int flags, int *version, char *err, size_t errlen);
int sq_init_schema(sq *s, const char *job_name, char *err, size_t errlen);
int sq_find_job(sq *s, const char *job_name);
int sq_set_wal(sqlite3 *db, const char *path, char *err, size_t errlen);
int sq_make_parent(const char *path, char *err, size_t errlen);
void sq_empty_error(const char *path, char *err, size_t errlen);
int sq_create_file(const char *path, char *err, size_t errlen);
int sq_read_only_compat(sq *s);
void sq_read_identity(sq *s);

/* ledger_sqlite_admin.c: budget, stats, prune, lease and release */
long long sq_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                    size_t errlen);
int sq_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen);
long long sq_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen);
int sq_lease(void *be, int op, char *err, size_t errlen);
long long sq_release(void *be, const char *name, int force, int dry_run, char *err, size_t errlen);

#endif
