/* ledger_sqlite_db — the SQLite calls every file of the ledger's SQLite store shares: an
 * error turned into a message that names the file, and running a statement. The bottom of
 * the store: ledger_sqlite.c, ledger_sqlite_schema.c and ledger_sqlite_admin.c use it. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger_backend.h"
#include "ledger_sqlite.h"

/* SQLite's errno for a file that cannot be created is the one of its last attempt (a
 * read-only open: ENOENT), which hides the real cause; look at the directory instead. */
static void explain_cantopen(const char *path, int sys, char *buf, size_t size)
{
    struct stat sb;
    const char *slash = strrchr(path, '/');
    char *dir;
    int dlen;
    if (stat(path, &sb) == 0 || errno != ENOENT) {
        snprintf(buf, size, "%s", sys ? strerror(sys) : "");
        return;
    }
    dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir) {
        snprintf(buf, size, "%s", sys ? strerror(sys) : "");
        return;
    }
    dlen = (int)strlen(dir);
    if (stat(dir, &sb) != 0)
        snprintf(buf, size, "directory %.*s: %s", dlen, dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        snprintf(buf, size, "%.*s is not a directory", dlen, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        snprintf(buf, size, "no such file, and cannot create one in %.*s: %s", dlen, dir,
                 strerror(errno));
    else
        snprintf(buf, size, "no such file");
    free(dir);
}

/* Turns an SQLite failure into a message that names the file and says what to do. */
void sq_db_error(sqlite3 *db, const char *path, const char *doing, int rc, char *err,
                     size_t errlen)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (sqlite3_errcode(db) == SQLITE_OK || strcmp(msg, "not an error") == 0)
        msg = sqlite3_errstr(rc); /* the handle's message was reset by a later call */
    int sys = db ? sqlite3_system_errno(db) : 0;
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        ledger_set_err(err, errlen,
                "ledger %s: not an SQLite database (%s); give --ledger a new file or move "
                "this one away", path, msg);
        break;
    case SQLITE_CORRUPT:
        ledger_set_err(err, errlen,
                "ledger %s: the database is damaged (%s); restore it from a backup or start "
                "a new ledger", path, msg);
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        ledger_set_err(err, errlen,
                "ledger %s: %s: another process kept the ledger locked for more than %d s",
                path, doing, LEDGER_BUSY_TIMEOUT_MS / 1000);
        break;
    case SQLITE_CANTOPEN: {
        char why[256];
        explain_cantopen(path, sys, why, sizeof why);
        ledger_set_err(err, errlen, "ledger %s: cannot open (%s%s%s)", path, msg, why[0] ? ": " : "",
                why);
        break;
    }
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        ledger_set_err(err, errlen,
                "ledger %s: cannot write (%s); check the permissions of the file and of its "
                "directory", path, msg);
        break;
    case SQLITE_FULL:
        ledger_set_err(err, errlen, "ledger %s: %s: disk or quota full", path, doing);
        break;
    case SQLITE_IOERR:
        ledger_set_err(err, errlen, "ledger %s: %s: I/O error (%s%s%s)", path, doing, msg,
                sys ? ": " : "", sys ? strerror(sys) : "");
        break;
    default:
        ledger_set_err(err, errlen, "ledger %s: %s: %s", path, doing, msg);
        break;
    }
}

/* ---- statements -------------------------------------------------------------------- */

int sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs a query whose first row's first column is an integer. */
int sq_query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int sq_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}
