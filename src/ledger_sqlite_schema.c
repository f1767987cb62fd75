/* ledger_sqlite_schema — the SQLite ledger file: created whole or not at all, its schema,
 * the migrations from versions 1 and 2, and WAL mode. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "clock.h"
#include "ledger_backend.h"
#include "ledger_sqlite.h"
#include "rules.h"

/* PRAGMA application_id of a ledger ("OtRL"), so a foreign SQLite file is never mistaken
 * for one (and never switched to WAL or given our tables). */
#define LEDGER_APP_ID 1333023308 /* 0x4f74524c, "OtRL" */
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
    "PRAGMA user_version = 2;\n"

/* A new file is made as version 2, then migrated like an old one: one path to test. */
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
    "  ('schema_version', '2'),\n"
    "  ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n"
    "PRAGMA application_id = " XSTR(LEDGER_APP_ID) ";\n";

/* Version 1 kept one row per channel sent in `sends`; each becomes a `sent` claim. */
static const char migrate_v1_sql[] =
    TABLES_V2
    "INSERT OR IGNORE INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms)\n"
    "  SELECT identifier, channel, job_id, row_no, 'sent', sent_at_ms, sent_at_ms FROM sends;\n"
    "DROP TABLE sends;\n" VIEWS_V2
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2'),\n"
    "  ('migrated_from_1_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n";

/* Version 3: records per API (api '' = recorded before: blocks every API), a lease per
 * job, and the ledger's identity. Cheap on a big file: columns added, no table rebuilt. */
static const char migrate_v2_sql[] =
    "ALTER TABLE jobs ADD COLUMN lease_until_ms INTEGER;\n"
    "ALTER TABLE jobs ADD COLUMN host TEXT;\n"
    "ALTER TABLE jobs ADD COLUMN pid INTEGER;\n"
    "ALTER TABLE claims ADD COLUMN api TEXT NOT NULL DEFAULT '';\n"
    "DROP VIEW IF EXISTS send_log;\n"
    "DROP VIEW IF EXISTS sends;\n"
    "CREATE VIEW send_log AS\n"
    "  SELECT strftime('%Y-%m-%dT%H:%M:%S', c.at_ms / 1000, 'unixepoch') ||\n"
    "         printf('.%03dZ', c.at_ms % 1000) AS sent_at,\n"
    "         c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.at_ms AS sent_at_ms,\n"
    "         c.job_id, c.api\n"
    "  FROM claims c LEFT JOIN jobs j ON j.id = c.job_id\n"
    "  WHERE c.state IN ('sent', 'maybe');\n"
    "CREATE VIEW sends AS\n"
    "  SELECT identifier, channel, at_ms AS sent_at_ms,\n"
    "         strftime('%Y-%m-%dT%H:%M:%S', at_ms / 1000, 'unixepoch') ||\n"
    "         printf('.%03dZ', at_ms % 1000) AS sent_at, job_id, row_no, state, api\n"
    "  FROM claims WHERE state IN ('sent', 'maybe');\n"
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_id', lower(hex(randomblob(16))));\n"
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '" XSTR(LEDGER_SCHEMA_VERSION) "'),\n"
    "  ('migrated_to_3_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n"
    "PRAGMA user_version = " XSTR(LEDGER_SCHEMA_VERSION) ";\n";

/* An old file opened read-only cannot be migrated: the current names, as temporary
 * objects over the old tables (temp comes first in name lookups), let every query read it
 * unchanged. */
static const char compat_v1_sql[] =
    "CREATE TEMP VIEW claims AS SELECT identifier, channel, job_id, row_no, 'sent' AS state,\n"
    "  sent_at_ms AS claimed_at_ms, sent_at_ms AS at_ms, '' AS api FROM main.sends;\n"
    "CREATE TEMP TABLE budget (scope TEXT, day TEXT, used INTEGER, PRIMARY KEY (scope, day));\n"
    "CREATE TEMP VIEW jobs AS SELECT *, NULL AS lease_until_ms, NULL AS host, NULL AS pid FROM main.jobs;\n";
static const char compat_v2_sql[] =
    "CREATE TEMP VIEW claims AS SELECT *, '' AS api FROM main.claims;\n"
    "CREATE TEMP VIEW jobs AS SELECT *, NULL AS lease_until_ms, NULL AS host, NULL AS pid FROM main.jobs;\n";

void sq_empty_error(const char *path, char *err, size_t errlen)
{
    ledger_set_err(err, errlen,
                   "ledger %s: the file exists but is empty (0 bytes): not a ledger; it may have been truncated, and "
                   "re-creating it would forget every send it recorded. Restore it from a backup, or remove it "
                   "(and its -wal file) to start a new ledger (customers sent to within the cooldown may then be "
                   "notified again)",
                   path);
}

/* What the file holds: *version > 0 a ledger of that schema. Anything else -- an empty
 * file included: a ledger is never created in place (sq_create_file) -- is an error
 * naming the path. */
static int sq_identify(sqlite3 *db, const char *path, int *version, char *err, size_t errlen)
{
    int64_t app = 0, ver = 0, objects = 0;
    /* One read transaction, or a job creating the schema meanwhile could be seen half
     * done (tables, but not yet the application id). */
    int own = sqlite3_get_autocommit(db);
    int rc = own ? sq_exec(db, "BEGIN") : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sq_query_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = sq_query_int(db, "PRAGMA user_version", &ver);
    if (rc == SQLITE_OK)
        rc = sq_query_int(db, "SELECT count(*) FROM main.sqlite_master", &objects);
    if (own && !sqlite3_get_autocommit(db))
        sq_exec(db, "COMMIT");
    if (rc != SQLITE_OK) {
        sq_db_error(db, path, "reading the schema", rc, err, errlen);
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
        struct stat sb;
        if (stat(path, &sb) == 0 && sb.st_size == 0)
            sq_empty_error(path, err, errlen);
        else
            ledger_set_err(err, errlen,
                    "ledger %s: an empty SQLite database, not an ottu-resend ledger; restore the ledger from a "
                    "backup, or remove the file to start a new ledger", path);
        return -1;
    }
    ledger_set_err(err, errlen, "ledger %s: an SQLite database, but not an ottu-resend ledger; give --ledger a new file",
            path);
    return -1;
}

/* ottu_alive(host, pid): 0 only when the job ran on this host and its process is gone;
 * 1 otherwise (another host, or unknown: its lease decides). */
static char this_host[256];
static void find_host(void) { gethostname(this_host, sizeof this_host - 1); }

static void fn_alive(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const unsigned char *host = sqlite3_value_text(argv[0]);
    int64_t pid = sqlite3_value_int64(argv[1]);
    const char *me = this_host;
    (void)argc;
    pthread_once(&once, find_host);
    if (!host || sqlite3_value_type(argv[1]) == SQLITE_NULL || pid <= 0 || strcmp((const char *)host, me) != 0) {
        sqlite3_result_int(ctx, 1);
        return;
    }
    sqlite3_result_int(ctx, kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Opens the file and checks it is a ledger. */
sqlite3 *sq_db_open(const char *path, int flags, int *version, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sq_db_error(db, path, "opening", rc, err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
    /* A ledger is data, not code: views and triggers someone slipped into the file may not
     * call functions with side effects. */
    sq_exec(db, "PRAGMA trusted_schema = OFF");
    sqlite3_create_function(db, "ottu_alive", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, fn_alive, NULL, NULL);
    if (sq_identify(db, path, version, err, errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}


/* Migrates a version 1 or 2 file, and registers the job (job_name may be NULL), in one
 * write transaction: the write lock also proves the file, the WAL and the directory are
 * writable now, at start, rather than at the first commit. */
int sq_init_schema(sq *s, const char *job_name, char *err, size_t errlen)
{
    sqlite3 *db = s->db;
    sqlite3_stmt *st = NULL;
    char iso[40];
    int64_t now = clock_now_ms();
    const char *doing = "preparing the ledger";
    int rc = sq_exec(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        sq_db_error(db, s->path, "locking", rc, err, errlen);
        return -1;
    }
    /* Again under the lock: another job may have created or migrated it meanwhile. */
    if (sq_identify(db, s->path, &s->version, err, errlen) != 0)
        goto fail_quiet;
    if (s->version == 1) {
        doing = "migrating the ledger from schema 1 to 2";
        if ((rc = sq_exec(db, "DROP VIEW IF EXISTS send_log")) != SQLITE_OK ||
            (rc = sq_exec(db, migrate_v1_sql)) != SQLITE_OK)
            goto fail;
        s->version = 2;
    }
    if (s->version == 2) {
        doing = "migrating the ledger from schema 2 to 3";
        if ((rc = sq_exec(db, migrate_v2_sql)) != SQLITE_OK)
            goto fail;
    }
    s->version = LEDGER_SCHEMA_VERSION;
    s->job_id = -1;
    if (job_name) {
        rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO jobs (name, started_at_ms, started_at) VALUES (?1, ?2, ?3)", -1, &st,
                                NULL);
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
    if ((rc = sq_exec(db, "COMMIT")) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    sq_db_error(db, s->path, doing, rc, err, errlen);
fail_quiet:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        sq_exec(db, "ROLLBACK");
    return -1;
}

/* This job's id in the file, -1 when it has none (a read-only ledger). */
int sq_find_job(sq *s, const char *job_name)
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
int sq_set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
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
        sq_db_error(db, path, "switching to WAL mode", rc, err, errlen);
        return -1;
    }
    if (strcasecmp(mode, "wal") != 0) {
        ledger_set_err(err, errlen,
                "ledger %s: cannot use WAL mode (journal mode stays \"%s\"); keep the ledger "
                "on a local file system", path, mode);
        return -1;
    }
    /* FULL until sq_write says otherwise: the schema and the job are on the disk. */
    sq_exec(db, "PRAGMA synchronous = FULL");
    return 0;
}

/* mkdir -p of path's folder: the folders it creates are 0700 (the ledger holds every
 * identifier sent to); existing ones are left as they are. */
int sq_make_parent(const char *path, char *err, size_t errlen)
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

/* Creates a missing ledger whole, or not at all: the schema is written into a temporary
 * file beside it, which is then linked into place (link fails when another job was
 * quicker: theirs is used). So an existing file is always a complete ledger, and an empty
 * or foreign one is refused rather than re-created. 0600 whatever the umask. */
int sq_create_file(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    char *tmp = NULL;
    sqlite3 *db = NULL;
    int fd, rc, ret = -1;
    if (stat(path, &sb) == 0) {
        /* Refused before SQLite opens it: with a WAL file beside it, SQLite would fill an
         * emptied ledger with what the WAL still holds, and call that the ledger. */
        if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
            sq_empty_error(path, err, errlen);
            return -1;
        }
        return 0; /* exists: opening it says what it is */
    }
    if (errno != ENOENT) {
        ledger_set_err(err, errlen, "ledger %s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    if (asprintf(&tmp, "%s.new-XXXXXX", path) < 0) {
        ledger_set_err(err, errlen, "ledger %s: out of memory", path);
        return -1;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        ledger_set_err(err, errlen, "ledger %s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    fchmod(fd, 0600);
    close(fd);
    rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sq_exec(db, "BEGIN");
    if (rc == SQLITE_OK && (rc = sq_exec(db, schema_sql)) == SQLITE_OK && (rc = sq_exec(db, migrate_v2_sql)) == SQLITE_OK &&
        (rc = sq_exec(db, "DELETE FROM meta WHERE key = 'migrated_to_3_at'")) == SQLITE_OK)
        rc = sq_exec(db, "COMMIT");
    if (rc != SQLITE_OK) {
        sq_db_error(db, path, "creating", rc, err, errlen);
    } else if ((rc = sqlite3_close(db)) != SQLITE_OK) {
        ledger_set_err(err, errlen, "ledger %s: creating: %s", path, sqlite3_errstr(rc));
    } else {
        db = NULL;
        if (link(tmp, path) == 0 || errno == EEXIST) {
            ret = 0;
        } else {
            ledger_set_err(err, errlen, "ledger %s: cannot create: %s", path, strerror(errno));
        }
    }
    if (db)
        sqlite3_close(db);
    unlink(tmp);
    free(tmp);
    return ret;
}

int sq_read_only_compat(sq *s)
{
    if (s->version == 1)
        return sq_exec(s->db, compat_v1_sql);
    if (s->version == 2)
        return sq_exec(s->db, compat_v2_sql);
    return SQLITE_OK;
}

void sq_read_identity(sq *s)
{
    sqlite3_stmt *st = NULL;
    s->ident[0] = '\0';
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'ledger_id'", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(s->ident, sizeof s->ident, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}
