/* ledger_sqlite — the SQLite store of the ledger (the default): the file, its schema and
 * its migration from version 1, and every SQLite statement the ledger runs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "ledger.h"
#include "ledger_backend.h"
#include "rules.h"

/* PRAGMA application_id of a ledger ("OtRL"), so a foreign SQLite file is never mistaken
 * for one (and never switched to WAL or given our tables). */
#define LEDGER_APP_ID 1333023308 /* 0x4f74524c, "OtRL" */
/* Rows deleted per transaction by prune, so a running job never waits long for the lock. */
#define PRUNE_CHUNK 5000
#define STR(x) #x
#define XSTR(x) STR(x)

/* The version 2 tables, shared by a new file and by the migration of a version 1 file. */
#define TABLES_V2                                                                              \
    "CREATE TABLE claims (\n"                                                                  \
    "  identifier    TEXT NOT NULL,\n"                                                         \
    "  channel       TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"         \
    "  job_id        INTEGER NOT NULL REFERENCES jobs (id),\n"                                 \
    "  row_no        INTEGER NOT NULL,\n"                                                      \
    "  state         TEXT NOT NULL CHECK (state IN ('claimed', 'sent', 'maybe', 'released')),\n" \
    "  claimed_at_ms INTEGER NOT NULL,\n"                                                      \
    "  at_ms         INTEGER NOT NULL,\n"                                                      \
    "  PRIMARY KEY (identifier, channel, job_id, row_no)\n"                                    \
    ") WITHOUT ROWID;\n"                                                                       \
    /* no index on at_ms: it would double the cost of each claim; prune and stats scan */  \
    "CREATE TABLE budget (\n"                                                                  \
    "  scope TEXT NOT NULL,\n"                                                                 \
    "  day   TEXT NOT NULL,\n"                                                                 \
    "  used  INTEGER NOT NULL,\n"                                                              \
    "  PRIMARY KEY (scope, day)\n"                                                             \
    ") WITHOUT ROWID;\n"                                                                       \
    ""
#define VIEWS_V2                                                                               \
    "CREATE VIEW send_log AS\n"                                                                \
    "  SELECT strftime('%Y-%m-%dT%H:%M:%S', c.at_ms / 1000, 'unixepoch') ||\n"                  \
    "         printf('.%03dZ', c.at_ms % 1000) AS sent_at,\n"                                     \
    "         c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.at_ms AS sent_at_ms,\n"  \
    "         c.job_id\n"                                                                        \
    "  FROM claims c LEFT JOIN jobs j ON j.id = c.job_id\n"                                    \
    "  WHERE c.state IN ('sent', 'maybe');\n"                                                  \
    /* version 1's table, as a view: operators' queries of `sends` keep working */              \
    "CREATE VIEW sends AS\n"                                                                   \
    "  SELECT identifier, channel, at_ms AS sent_at_ms,\n"                                     \
    "         strftime('%Y-%m-%dT%H:%M:%S', at_ms / 1000, 'unixepoch') ||\n"                    \
    "         printf('.%03dZ', at_ms % 1000) AS sent_at, job_id, row_no, state\n"               \
    "  FROM claims WHERE state IN ('sent', 'maybe');\n"                                        \
    "PRAGMA user_version = " XSTR(LEDGER_SCHEMA_VERSION) ";\n"

static const char schema_sql[] =
    "CREATE TABLE meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE jobs (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  name          TEXT NOT NULL UNIQUE,\n"
    "  started_at_ms INTEGER NOT NULL,\n"
    "  started_at    TEXT NOT NULL\n"
    ");\n" TABLES_V2 VIEWS_V2
    "INSERT INTO meta (key, value) VALUES\n"
    "  ('application', 'ottu-resend ledger'),\n"
    "  ('schema_version', '" XSTR(LEDGER_SCHEMA_VERSION) "'),\n"
    "  ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n"
    "PRAGMA application_id = " XSTR(LEDGER_APP_ID) ";\n";

/* Version 1 kept one row per channel sent in `sends`; each becomes a `sent` claim. */
static const char migrate_v1_sql[] =
    TABLES_V2
    "INSERT OR IGNORE INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms)\n"
    "  SELECT identifier, channel, job_id, row_no, 'sent', sent_at_ms, sent_at_ms FROM sends;\n"
    "DROP TABLE sends;\n" VIEWS_V2
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '" XSTR(LEDGER_SCHEMA_VERSION) "'),\n"
    "  ('migrated_from_1_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n";

/* A version 1 file opened read-only cannot be migrated: the version 2 names, as
 * temporary objects over the old table, let every query below read it unchanged. */
static const char compat_v1_sql[] =
    "CREATE TEMP VIEW claims AS SELECT identifier, channel, job_id, row_no, 'sent' AS state,\n"
    "  sent_at_ms AS claimed_at_ms, sent_at_ms AS at_ms FROM main.sends;\n"
    "CREATE TEMP TABLE budget (scope TEXT, day TEXT, used INTEGER, PRIMARY KEY (scope, day));\n";

typedef struct {
    sqlite3 *db; /* NULL: a read-only ledger that does not exist (yet): empty */
    char *path;
    int mode;
    int version;
    int64_t job_id; /* -1 when this job is not in a read-only ledger */
    int full;       /* PRAGMA synchronous is FULL now (else NORMAL) */
    sqlite3_stmt *lookup, *job_name, *grant, *set_sent, *set_maybe, *release;
} sq;


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
static void db_error(sqlite3 *db, const char *path, const char *doing, int rc, char *err,
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

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs a query whose first row's first column is an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
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

/* What the file holds: *version > 0 a ledger of that schema, 0 nothing yet (new or empty
 * file). Anything else is an error naming the path. */
static int identify(sqlite3 *db, const char *path, int *version, char *err, size_t errlen)
{
    int64_t app = 0, ver = 0, objects = 0;
    /* One read transaction, or a job creating the schema meanwhile could be seen half
     * done (tables, but not yet the application id). */
    int own = sqlite3_get_autocommit(db);
    int rc = own ? exec_sql(db, "BEGIN") : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA user_version", &ver);
    if (rc == SQLITE_OK)
        rc = query_int(db, "SELECT count(*) FROM main.sqlite_master", &objects);
    if (own && !sqlite3_get_autocommit(db))
        exec_sql(db, "COMMIT");
    if (rc != SQLITE_OK) {
        db_error(db, path, "reading the schema", rc, err, errlen);
        return -1;
    }
    if (app == LEDGER_APP_ID) {
        if (ver > LEDGER_SCHEMA_VERSION) {
            ledger_set_err(err, errlen,
                    "ledger %s: written by a newer ottu-resend (schema %" PRId64
                    ", this one knows %d); upgrade, or use another file",
                    path, ver, LEDGER_SCHEMA_VERSION);
            return -1;
        }
        if (ver < 1 || objects == 0) {
            ledger_set_err(err, errlen,
                    "ledger %s: the ledger's schema is incomplete (version %" PRId64
                    "); restore it from a backup or start a new ledger",
                    path, ver);
            return -1;
        }
        *version = (int)ver;
        return 0;
    }
    if (app == 0 && objects == 0) {
        *version = 0;
        return 0;
    }
    ledger_set_err(err, errlen, "ledger %s: an SQLite database, but not an ottu-resend ledger; give --ledger a new file",
            path);
    return -1;
}

/* Opens the file and checks it is a ledger (or nothing yet). */
static sqlite3 *db_open(const char *path, int flags, int *version, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(db, path, "opening", rc, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
    /* A ledger is data, not code: views and triggers someone slipped into the file may not
     * call functions with side effects. */
    exec_sql(db, "PRAGMA trusted_schema = OFF");
    if (identify(db, path, version, err, errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* Creates the schema, or migrates a version 1 file, and registers the job (job_name may
 * be NULL), in one write transaction: the write lock also proves the file, the WAL and
 * the directory are writable now, at start, rather than at the first commit. */
static int init_schema(sq *s, const char *job_name, char *err, size_t errlen)
{
    sqlite3 *db = s->db;
    sqlite3_stmt *st = NULL;
    char iso[40];
    int64_t now = clock_now_ms();
    const char *doing = "preparing the ledger";
    int rc = exec_sql(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        db_error(db, s->path, "locking", rc, err, errlen);
        return -1;
    }
    /* Again under the lock: another job may have created or migrated it meanwhile. */
    if (identify(db, s->path, &s->version, err, errlen) != 0)
        goto fail_quiet;
    if (s->version == 0 && (rc = exec_sql(db, schema_sql)) != SQLITE_OK)
        goto fail;
    if (s->version == 1) {
        doing = "migrating the ledger from schema 1 to 2";
        if ((rc = exec_sql(db, "DROP VIEW IF EXISTS send_log")) != SQLITE_OK ||
            (rc = exec_sql(db, migrate_v1_sql)) != SQLITE_OK)
            goto fail;
    }
    s->version = LEDGER_SCHEMA_VERSION;
    s->job_id = -1;
    if (job_name) {
        rc = prepare(db, "INSERT OR IGNORE INTO jobs (name, started_at_ms, started_at) VALUES (?1, ?2, ?3)", &st);
        if (rc != SQLITE_OK)
            goto fail;
        clock_format_iso(now, iso, sizeof iso);
        sqlite3_bind_text(st, 1, job_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_text(st, 3, iso, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if ((rc = exec_sql(db, "COMMIT")) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    db_error(db, s->path, doing, rc, err, errlen);
fail_quiet:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return -1;
}

/* This job's id in the file, -1 when it has none (a read-only ledger). */
static int find_job(sq *s, const char *job_name)
{
    sqlite3_stmt *st = NULL;
    int rc;
    s->job_id = -1;
    if (!job_name)
        return SQLITE_OK;
    if ((rc = sqlite3_prepare_v2(s->db, "SELECT id FROM jobs WHERE name = ?1", -1, &st, NULL)) != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, job_name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s->job_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* WAL: the reader's lookups never wait for a commit, and other jobs' readers never block
 * ours. Switching a new file needs an exclusive lock, and when several jobs create the
 * same ledger at once SQLite reports that contention as SQLITE_BUSY without waiting, so
 * retry for as long as the busy timeout. */
static int set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char mode[16] = "";
    int64_t deadline = (clock_mono_ns() / 1000000) + LEDGER_BUSY_TIMEOUT_MS;
    int rc;
    for (;;) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *m = sqlite3_column_text(st, 0);
            snprintf(mode, sizeof mode, "%s", m ? (const char *)m : "");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
            (clock_mono_ns() / 1000000) >= deadline)
            break;
        /* Spread the retries of racing jobs. */
        usleep(5000 + (unsigned)(((clock_mono_ns() / 1000000) * 7919 + getpid()) % 20000));
    }
    if (rc != SQLITE_OK) {
        db_error(db, path, "switching to WAL mode", rc, err, errlen);
        return -1;
    }
    if (strcasecmp(mode, "wal") != 0) {
        ledger_set_err(err, errlen,
                "ledger %s: cannot use WAL mode (journal mode stays \"%s\"); keep the ledger "
                "on a local file system", path, mode);
        return -1;
    }
    /* FULL until sq_write says otherwise: the schema and the job are on the disk. */
    exec_sql(db, "PRAGMA synchronous = FULL");
    return 0;
}

/* mkdir -p of path's folder: the folders it creates are 0700 (the ledger holds every
 * identifier sent to); existing ones are left as they are. */
static int make_parent(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path), *slash;
    struct stat sb;
    int ret = 0;
    if (!dir) {
        ledger_set_err(err, errlen, "ledger %s: out of memory", path);
        return -1;
    }
    slash = strrchr(dir, '/');
    if (!slash || slash == dir || stat((*slash = '\0', dir), &sb) == 0) {
        free(dir);
        return 0;
    }
    for (char *p = dir + 1; ret == 0; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            ledger_set_err(err, errlen, "ledger %s: cannot create the folder %s: %s", path, dir, strerror(errno));
            ret = -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(dir);
    return ret;
}

/* Creates the file 0600 when missing, whatever the umask, before SQLite opens it. */
static int make_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        fchmod(fd, 0600);
        close(fd);
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    ledger_set_err(err, errlen, "ledger %s: cannot create: %s", path, strerror(errno));
    return -1;
}

static void sq_close(void *be)
{
    sq *s = be;
    if (!s)
        return;
    sqlite3_finalize(s->lookup);
    sqlite3_finalize(s->job_name);
    sqlite3_finalize(s->grant);
    sqlite3_finalize(s->set_sent);
    sqlite3_finalize(s->set_maybe);
    sqlite3_finalize(s->release);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

static int prepare_all(sq *s)
{
    int rc;
    /* (max() rather than ORDER BY: no temporary b-tree per lookup; SQLite takes the
     * other columns from the row with the maximum.) The newest record that blocks a claim on (identifier, channel) by job ?4, row ?5:
     * a send or maybe-send of anyone, or a claim of anyone else (another job, or another
     * row of this job); ?6 = this row's own maybe-send does not count (--resend-unknown). */
    if ((rc = prepare(s->db,
                      "SELECT c.state, max(c.at_ms), c.job_id FROM claims c WHERE c.identifier = ?1 AND c.channel = ?2 AND c.at_ms > ?3 AND c.state <> 'released' "
                      "AND NOT (c.job_id = ?4 AND c.row_no = ?5 AND (c.state = 'claimed' OR (?6 AND c.state = 'maybe')))",
                      &s->lookup)) != SQLITE_OK)
        return rc;
    if ((rc = prepare(s->db, "SELECT name FROM jobs WHERE id = ?1", &s->job_name)) != SQLITE_OK)
        return rc;
    if (s->mode == LEDGER_READONLY || s->mode == LEDGER_ADMIN_READ)
        return SQLITE_OK;
    /* A record already sent or maybe-sent is never turned back into a claim (with
     * --cooldown 0 everything is granted, but the history stays). */
    if ((rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms) "
                      "VALUES (?1, ?2, ?3, ?4, 'claimed', ?5, ?5) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET state = 'claimed', "
                      "claimed_at_ms = excluded.claimed_at_ms, at_ms = excluded.at_ms "
                      "WHERE state IN ('claimed', 'released') OR (?6 AND state = 'maybe')",
                      &s->grant)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms) "
                      "VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?5) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET state = 'sent', "
                      "at_ms = excluded.at_ms",
                      &s->set_sent)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms) "
                      "VALUES (?1, ?2, ?3, ?4, 'maybe', ?5, ?5) "
                      "ON CONFLICT (identifier, channel, job_id, row_no) DO UPDATE SET state = 'maybe', "
                      "at_ms = excluded.at_ms WHERE state <> 'sent'",
                      &s->set_maybe)) != SQLITE_OK ||
        (rc = prepare(s->db,
                      /* One statement settles every channel of the row: ?4 sent bits, ?5 maybe bits. */
                      "UPDATE claims SET (state, at_ms) = ("
                      "SELECT CASE WHEN ?4 & b THEN 'sent' WHEN ?5 & b AND state <> 'sent' THEN 'maybe' "
                      "WHEN state = 'claimed' AND NOT (?5 & b) THEN 'released' ELSE state END, "
                      "CASE WHEN ?4 & b OR (?5 & b AND state <> 'sent') OR state = 'claimed' THEN ?3 ELSE at_ms END "
                      "FROM (SELECT CASE channel WHEN 'sms' THEN 1 WHEN 'email' THEN 2 ELSE 4 END AS b)) "
                      "WHERE identifier = ?1 AND job_id = ?2 AND row_no = ?6 "
                      "RETURNING channel, state",
                      &s->release)) != SQLITE_OK)
        return rc;
    return SQLITE_OK;
}

/* Read-only: a missing or empty file is an empty ledger; never creates anything. */
static int open_readonly(sq *s, const char *job_id, char *err, size_t errlen)
{
    struct stat sb;
    int rc;
    if (stat(s->path, &sb) != 0 && errno == ENOENT) {
        if (s->mode == LEDGER_ADMIN_READ) {
            ledger_set_err(err, errlen, "ledger %s: no such file", s->path);
            return -1;
        }
        return 0;
    }
    s->db = db_open(s->path, SQLITE_OPEN_READONLY, &s->version, err, errlen);
    if (!s->db)
        return -1;
    if (s->version == 0) {
        sqlite3_close(s->db);
        s->db = NULL;
        if (s->mode == LEDGER_ADMIN_READ) {
            ledger_set_err(err, errlen, "ledger %s: empty, not a ledger yet", s->path);
            return -1;
        }
        return 0;
    }
    if ((s->version == 1 && (rc = exec_sql(s->db, compat_v1_sql)) != SQLITE_OK) ||
        (rc = find_job(s, job_id)) != SQLITE_OK) {
        db_error(s->db, s->path, "reading the schema", rc, err, errlen);
        return -1;
    }
    return 0;
}

static int open_readwrite(sq *s, const char *job_id, char *err, size_t errlen)
{
    struct stat sb;
    if (s->mode == LEDGER_ADMIN_WRITE) {
        if (stat(s->path, &sb) != 0) {
            ledger_set_err(err, errlen, "ledger %s: %s", s->path, strerror(errno));
            return -1;
        }
    } else if (make_parent(s->path, err, errlen) != 0 || make_file(s->path, err, errlen) != 0) {
        return -1;
    }
    s->db = db_open(s->path, SQLITE_OPEN_READWRITE, &s->version, err, errlen);
    if (!s->db)
        return -1;
    if (s->mode == LEDGER_ADMIN_WRITE && s->version == 0) {
        ledger_set_err(err, errlen, "ledger %s: empty, not a ledger yet", s->path);
        return -1;
    }
    /* "Opened" read-only means the OS refused writing; say so now, not at the first commit. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        ledger_set_err(err, errlen, "ledger %s: cannot write (the file is read-only); check its permissions", s->path);
        return -1;
    }
    if (set_wal(s->db, s->path, err, errlen) != 0 || init_schema(s, job_id, err, errlen) != 0)
        return -1;
    if (find_job(s, job_id) != SQLITE_OK) {
        db_error(s->db, s->path, "reading the schema", SQLITE_ERROR, err, errlen);
        return -1;
    }
    return 0;
}

/* SQLite allocates and frees buffers of a few hundred KiB at the top of the heap in every
 * transaction, and glibc gives them back to the kernel each time (brk, a TLB flush): that
 * was a third of the CPU time of a claim. Keep up to 64 MiB of freed heap instead. */
static void keep_heap(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

void *ledger_sqlite_open(const char *path, const char *job_id, int mode, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, keep_heap);
    sq *s = calloc(1, sizeof *s);
    int rc, ro = mode == LEDGER_READONLY || mode == LEDGER_ADMIN_READ;
    if (!s || !(s->path = strdup(path))) {
        free(s);
        ledger_set_err(err, errlen, "ledger %s: out of memory", path);
        return NULL;
    }
    s->mode = mode;
    s->job_id = -1;
    s->full = 1;
    if ((ro ? open_readonly(s, job_id, err, errlen) : open_readwrite(s, job_id, err, errlen)) != 0) {
        sq_close(s);
        return NULL;
    }
    if (s->db && (rc = prepare_all(s)) != SQLITE_OK) {
        db_error(s->db, s->path, "preparing statements", rc, err, errlen);
        sq_close(s);
        return NULL;
    }
    return s;
}

/* ---- claims and settlements -------------------------------------------------------- */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_key(sqlite3_stmt *st, const char *id, size_t len, unsigned bit, int64_t job, long row)
{
    sqlite3_bind_text(st, 1, id, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rules_channel_name(bit), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, job);
    sqlite3_bind_int64(st, 4, row);
}

/* Per row: one UPDATE settles the channels that have a record (normally all: they were
 * claimed); a sent or maybe channel without one (the legacy path) is inserted. */
static int apply_settlements(sq *s, const ledger_settlement *p, size_t n, const char *text, long long *written)
{
    int rc = SQLITE_OK;
    for (size_t k = 0; k < n && rc == SQLITE_OK; k++) {
        unsigned want = p[k].sent | p[k].maybe, found = 0;
        sqlite3_bind_text(s->release, 1, text + p[k].off, (int)p[k].len, SQLITE_STATIC);
        sqlite3_bind_int64(s->release, 2, s->job_id);
        sqlite3_bind_int64(s->release, 3, p[k].at_ms);
        sqlite3_bind_int(s->release, 4, (int)p[k].sent);
        sqlite3_bind_int(s->release, 5, (int)p[k].maybe);
        sqlite3_bind_int64(s->release, 6, p[k].row);
        while ((rc = sqlite3_step(s->release)) == SQLITE_ROW) {
            const char *ch = (const char *)sqlite3_column_text(s->release, 0);
            const char *st = (const char *)sqlite3_column_text(s->release, 1);
            unsigned bit = ch ? rules_channel_from_name(ch, strlen(ch)) : 0;
            if (st && (strcmp(st, "sent") == 0 || strcmp(st, "maybe") == 0) && (bit & want)) {
                found |= bit;
                (*written)++;
            }
        }
        sqlite3_reset(s->release);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        for (unsigned i = 0; i < 3 && rc == SQLITE_OK; i++) {
            unsigned bit = 1u << i;
            sqlite3_stmt *st = (p[k].sent & bit) ? s->set_sent : (p[k].maybe & bit) ? s->set_maybe : NULL;
            if (!st || (found & bit))
                continue;
            bind_key(st, text + p[k].off, p[k].len, bit, s->job_id, p[k].row);
            sqlite3_bind_int64(st, 5, p[k].at_ms);
            rc = step_done(st);
            if (rc == SQLITE_OK)
                *written += sqlite3_changes(s->db);
        }
    }
    return rc;
}

/* The name of job id (rarely needed: only for a claim that is refused). */
static void job_name(sq *s, int64_t id, char *buf, size_t size)
{
    sqlite3_bind_int64(s->job_name, 1, id);
    if (sqlite3_step(s->job_name) == SQLITE_ROW && sqlite3_column_text(s->job_name, 0))
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s->job_name, 0));
    else
        snprintf(buf, size, "job #%lld", (long long)id);
    sqlite3_reset(s->job_name);
}

static int claim_one(sq *s, ledger_claim_item *it, int64_t now, int64_t cooldown, int peek)
{
    int64_t since = cooldown > 0 ? now - cooldown : INT64_MAX;
    for (unsigned i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        int rc;
        if (!(it->channels & bit))
            continue;
        if (cooldown > 0 && s->db) {
            bind_key(s->lookup, it->id, it->idlen, bit, s->job_id, it->row);
            sqlite3_bind_int64(s->lookup, 3, since);
            sqlite3_bind_int64(s->lookup, 4, s->job_id);
            sqlite3_bind_int64(s->lookup, 5, it->row);
            sqlite3_bind_int(s->lookup, 6, it->resend_own != 0);
            rc = sqlite3_step(s->lookup);
            if (rc == SQLITE_ROW && sqlite3_column_type(s->lookup, 1) == SQLITE_NULL)
                rc = SQLITE_DONE; /* the aggregate's row over nothing */
            if (rc == SQLITE_ROW) {
                const char *state = (const char *)sqlite3_column_text(s->lookup, 0);
                it->blocked_kind[i] = !state ? LEDGER_CLAIMED
                                      : strcmp(state, "sent") == 0  ? LEDGER_SENT
                                      : strcmp(state, "maybe") == 0 ? LEDGER_MAYBE
                                                                    : LEDGER_CLAIMED;
                it->blocked_at_ms[i] = sqlite3_column_int64(s->lookup, 1);
                if (sqlite3_column_int64(s->lookup, 2) != s->job_id)
                    job_name(s, sqlite3_column_int64(s->lookup, 2), it->blocked_job[i], sizeof it->blocked_job[i]);
            }
            sqlite3_reset(s->lookup);
            sqlite3_bind_null(s->lookup, 1);
            if (rc == SQLITE_ROW)
                continue;
            if (rc != SQLITE_DONE)
                return rc;
        }
        if (!peek) {
            bind_key(s->grant, it->id, it->idlen, bit, s->job_id, it->row);
            sqlite3_bind_int64(s->grant, 5, now);
            sqlite3_bind_int(s->grant, 6, it->resend_own != 0);
            if ((rc = step_done(s->grant)) != SQLITE_OK)
                return rc;
        }
        it->granted |= bit;
    }
    return SQLITE_OK;
}

static int sq_write(void *be, const ledger_settlement *p, size_t np, const char *text, ledger_claim_item *items,
                    size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
                    size_t errlen)
{
    sq *s = be;
    long long added = 0;
    const char *doing = "locking";
    int rc = SQLITE_OK;
    for (size_t k = 0; k < ni; k++) {
        if (items[k].idlen > (size_t)INT32_MAX) {
            ledger_set_err(err, errlen, "ledger %s: identifier too long", s->path);
            return -1;
        }
    }
    if (peek) {
        int own = s->db && sqlite3_get_autocommit(s->db);
        /* One read transaction: one snapshot, and one WAL read lock instead of one per lookup. */
        if (own)
            exec_sql(s->db, "BEGIN");
        for (size_t k = 0; k < ni && rc == SQLITE_OK; k++)
            rc = claim_one(s, &items[k], now_ms, cooldown_ms, 1);
        if (own && !sqlite3_get_autocommit(s->db))
            exec_sql(s->db, "COMMIT");
        if (rc != SQLITE_OK) {
            db_error(s->db, s->path, "looking up claims", rc, err, errlen);
            return -1;
        }
        return 0;
    }
    /* Claims must be on the disk before their requests go out (FULL: the WAL is fsynced
     * at commit); settlements alone may wait for the next sync (NORMAL): a settlement
     * lost to a power cut leaves its claim, which still blocks other jobs, and the
     * journal still knows the outcome. */
    if (ni > 0 ? !s->full : s->full) {
        exec_sql(s->db, ni > 0 ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        s->full = ni > 0;
    }
    /* IMMEDIATE: the write lock is taken before the lookups, so no other process can
     * claim the same (identifier, channel) between our check and our insert. */
    if ((rc = exec_sql(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK)
        goto fail;
    doing = "recording outcomes";
    if ((rc = apply_settlements(s, p, np, text, &added)) != SQLITE_OK)
        goto fail;
    doing = "claiming";
    for (size_t k = 0; k < ni && rc == SQLITE_OK; k++)
        rc = claim_one(s, &items[k], now_ms, cooldown_ms, 0);
    if (rc != SQLITE_OK)
        goto fail;
    doing = "committing";
    if ((rc = exec_sql(s->db, "COMMIT")) != SQLITE_OK)
        goto fail;
    *written += added;
    return 0;
fail:
    db_error(s->db, s->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        exec_sql(s->db, "ROLLBACK");
    for (size_t k = 0; k < ni; k++)
        items[k].granted = 0;
    return -1;
}

/* ---- budget ------------------------------------------------------------------------ */

static long long sq_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
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
        if ((rc = exec_sql(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK)
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
    if ((rc = step_done(put)) != SQLITE_OK || (rc = exec_sql(s->db, "COMMIT")) != SQLITE_OK)
        goto fail;
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    return r;
fail:
    db_error(s->db, s->path, "counting the daily budget", rc, err, errlen);
    if (own && !sqlite3_get_autocommit(s->db))
        exec_sql(s->db, "ROLLBACK");
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
            ledger_utc_day(d * 86400000, nd[st->ndays++].day);
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

static int sq_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen)
{
    sq *s = be;
    sqlite3_stmt *q = NULL;
    int64_t v[5] = {0};
    int rc;
    if (!s->db)
        return 0;
    /* One read transaction, so the numbers agree with each other while a job writes. */
    if ((rc = exec_sql(s->db, "BEGIN")) != SQLITE_OK)
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
    if ((rc = query_int(s->db, "SELECT count(DISTINCT identifier) FROM claims WHERE state IN ('sent', 'maybe')",
                        &v[0])) != SQLITE_OK ||
        (rc = query_int(s->db, "SELECT count(DISTINCT job_id) FROM claims", &v[1])) != SQLITE_OK ||
        (rc = query_int(s->db, "SELECT min(at_ms) FROM claims WHERE state IN ('sent', 'maybe')", &v[2])) !=
            SQLITE_OK ||
        (rc = query_int(s->db, "SELECT max(at_ms) FROM claims WHERE state IN ('sent', 'maybe')", &v[3])) !=
            SQLITE_OK ||
        (rc = stats_days(s, st)) != SQLITE_OK || (rc = stats_budget(s, today, st)) != SQLITE_OK)
        goto fail;
    st->identifiers = v[0];
    st->jobs = v[1];
    st->oldest_ms = v[2];
    st->newest_ms = v[3];
    exec_sql(s->db, "COMMIT");
    return 0;
fail:
    db_error(s->db, s->path, "reading", rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        exec_sql(s->db, "ROLLBACK");
    return -1;
}

static long long sq_prune(void *be, int64_t cutoff, int dry_run, long long *left, char *err, size_t errlen)
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
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM claims WHERE at_ms < ?1", -1, &count, NULL);
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
        if ((rc = query_int(s->db, "SELECT count(*) FROM claims", &total)) != SQLITE_OK)
            goto fail;
        *left = total - n;
        return n;
    }
    /* Small transactions, so a job writing to the same ledger waits milliseconds. */
    doing = "pruning";
    rc = sqlite3_prepare_v2(s->db,
                            "DELETE FROM claims WHERE (identifier, channel, job_id, row_no) IN "
                            "(SELECT identifier, channel, job_id, row_no FROM claims WHERE at_ms < ?1 "
                            "LIMIT " XSTR(PRUNE_CHUNK) ")",
                            -1, &del, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(del, 1, cutoff);
    for (;;) {
        int changed;
        if ((rc = exec_sql(s->db, "BEGIN IMMEDIATE")) != SQLITE_OK || (rc = step_done(del)) != SQLITE_OK)
            break;
        changed = sqlite3_changes(s->db);
        if ((rc = exec_sql(s->db, "COMMIT")) != SQLITE_OK)
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
    ledger_utc_day(cutoff, day);
    if ((rc = sqlite3_prepare_v2(s->db, "DELETE FROM budget WHERE day < ?1", -1, &del, NULL)) == SQLITE_OK) {
        sqlite3_bind_text(del, 1, day, -1, SQLITE_STATIC);
        rc = step_done(del);
    }
    sqlite3_finalize(del);
    if (rc != SQLITE_OK || (rc = query_int(s->db, "SELECT count(*) FROM claims", &n)) != SQLITE_OK)
        goto fail;
    *left = n;
    return removed;
fail:
    db_error(s->db, s->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        exec_sql(s->db, "ROLLBACK");
    if (removed > 0)
        fprintf(stderr, "ottu-resend: pruned %lld records before the error below\n", removed);
    return -1;
}

const ledger_ops ledger_sqlite_ops = {sq_write, sq_budget, sq_stats, sq_prune, sq_close};
