/* ledger — SQLite record of sends across jobs: cooldown lookups, batched idempotent inserts, and the `ledger stats|prune` subcommand. */
#include "ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rules.h"
#include "units.h"

/* PRAGMA application_id of a ledger ("OtRL"), so a foreign SQLite file is never mistaken
 * for one (and never switched to WAL or given our tables). */
#define LEDGER_APP_ID 1333023308 /* 0x4f74524c, "OtRL" */
/* Rows deleted per transaction by prune, so a running job never waits long for the lock. */
#define PRUNE_CHUNK 5000
#define STR(x) #x
#define XSTR(x) STR(x)

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS jobs (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  name          TEXT NOT NULL UNIQUE,\n"
    "  started_at_ms INTEGER NOT NULL,\n"
    "  started_at    TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS sends (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  identifier TEXT NOT NULL,\n"
    "  channel    TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),\n"
    "  sent_at_ms INTEGER NOT NULL,\n"
    "  sent_at    TEXT NOT NULL,\n"
    "  job_id     INTEGER NOT NULL REFERENCES jobs (id),\n"
    "  row_no     INTEGER NOT NULL,\n"
    "  UNIQUE (job_id, row_no, channel)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS sends_lookup ON sends (identifier, channel, sent_at_ms);\n"
    "CREATE INDEX IF NOT EXISTS sends_time ON sends (sent_at_ms);\n"
    "CREATE VIEW IF NOT EXISTS send_log AS\n"
    "  SELECT s.sent_at, s.channel, s.identifier, j.name AS job, s.row_no, s.sent_at_ms\n"
    "  FROM sends s LEFT JOIN jobs j ON j.id = s.job_id;\n"
    "INSERT OR IGNORE INTO meta (key, value) VALUES\n"
    "  ('application', 'ottu-resend ledger'),\n"
    "  ('schema_version', '" XSTR(LEDGER_SCHEMA_VERSION) "'),\n"
    "  ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n"
    "PRAGMA application_id = " XSTR(LEDGER_APP_ID) ";\n"
    "PRAGMA user_version = " XSTR(LEDGER_SCHEMA_VERSION) ";\n";

/* One ledger_record call waiting for the next commit; the identifier lives in text. */
typedef struct {
    size_t off, len;
    unsigned channels;
    int64_t at_ms;
    long row;
} pending;

struct ledger {
    pthread_mutex_t mu;
    sqlite3 *db;
    char *path;
    int64_t job_id;
    sqlite3_stmt *ins, *recent, *begin, *commit, *rollback;
    pending *pend;
    size_t npend, cappend;
    char *text;
    size_t ntext, captext;
    int64_t batch_start_ms; /* monotonic time of the oldest pending record */
    long long written;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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
        set_err(err, errlen,
                "ledger %s: not an SQLite database (%s); give --ledger a new file or move "
                "this one away", path, msg);
        break;
    case SQLITE_CORRUPT:
        set_err(err, errlen,
                "ledger %s: the database is damaged (%s); restore it from a backup or start "
                "a new ledger", path, msg);
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        set_err(err, errlen,
                "ledger %s: %s: another process kept the ledger locked for more than %d s",
                path, doing, LEDGER_BUSY_TIMEOUT_MS / 1000);
        break;
    case SQLITE_CANTOPEN: {
        char why[256];
        explain_cantopen(path, sys, why, sizeof why);
        set_err(err, errlen, "ledger %s: cannot open (%s%s%s)", path, msg, why[0] ? ": " : "",
                why);
        break;
    }
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        set_err(err, errlen,
                "ledger %s: cannot write (%s); check the permissions of the file and of its "
                "directory", path, msg);
        break;
    case SQLITE_FULL:
        set_err(err, errlen, "ledger %s: %s: disk or quota full", path, doing);
        break;
    case SQLITE_IOERR:
        set_err(err, errlen, "ledger %s: %s: I/O error (%s%s%s)", path, doing, msg,
                sys ? ": " : "", sys ? strerror(sys) : "");
        break;
    default:
        set_err(err, errlen, "ledger %s: %s: %s", path, doing, msg);
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

/* What the file holds: 1 a ledger, 0 nothing yet (new or empty file). Anything else is an
 * error naming the path. */
static int identify(sqlite3 *db, const char *path, int *is_ledger, char *err, size_t errlen)
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
        rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
    if (own && !sqlite3_get_autocommit(db))
        exec_sql(db, "COMMIT");
    if (rc != SQLITE_OK) {
        db_error(db, path, "reading the schema", rc, err, errlen);
        return -1;
    }
    if (app == LEDGER_APP_ID) {
        if (ver > LEDGER_SCHEMA_VERSION) {
            set_err(err, errlen,
                    "ledger %s: written by a newer ottu-resend (schema %" PRId64
                    ", this one knows %d); upgrade, or use another file", path, ver,
                    LEDGER_SCHEMA_VERSION);
            return -1;
        }
        if (ver < 1 || objects == 0) {
            set_err(err, errlen, "ledger %s: the ledger's schema is incomplete (version %" PRId64
                    "); restore it from a backup or start a new ledger", path, ver);
            return -1;
        }
        *is_ledger = 1;
        return 0;
    }
    if (app == 0 && objects == 0) {
        *is_ledger = 0;
        return 0;
    }
    set_err(err, errlen,
            "ledger %s: an SQLite database, but not an ottu-resend ledger; give --ledger a "
            "new file", path);
    return -1;
}

/* Opens the file and checks it is a ledger (or, with create, nothing yet). */
static sqlite3 *db_open(const char *path, int flags, int *is_ledger, char *err, size_t errlen)
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
    if (identify(db, path, is_ledger, err, errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* Creates the schema if needed and registers the job, in one write transaction: the
 * write lock also proves the file, the WAL and the directory are writable now, at start,
 * rather than at the first commit. */
static int init_schema(ledger *l, const char *job_name, char *err, size_t errlen)
{
    sqlite3 *db = l->db;
    sqlite3_stmt *st = NULL;
    int is_ledger = 0;
    char iso[40];
    int64_t now = clock_now_ms();
    int rc = exec_sql(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        db_error(db, l->path, "locking", rc, err, errlen);
        return -1;
    }
    /* Again under the lock: another job may have created the schema meanwhile. */
    if (identify(db, l->path, &is_ledger, err, errlen) != 0)
        goto fail_quiet;
    if (!is_ledger && (rc = exec_sql(db, schema_sql)) != SQLITE_OK)
        goto fail;
    rc = prepare(db, "INSERT OR IGNORE INTO jobs (name, started_at_ms, started_at) "
                     "VALUES (?1, ?2, ?3)", &st);
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
    rc = prepare(db, "SELECT id FROM jobs WHERE name = ?1", &st);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, job_name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        goto fail;
    l->job_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    rc = exec_sql(db, "COMMIT");
    if (rc != SQLITE_OK)
        goto fail;
    return 0;
fail:
    db_error(db, l->path, "preparing the ledger", rc, err, errlen);
fail_quiet:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return -1;
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
        set_err(err, errlen,
                "ledger %s: cannot use WAL mode (journal mode stays \"%s\"); keep the ledger "
                "on a local file system", path, mode);
        return -1;
    }
    /* NORMAL: commits do not wait for the disk; a power loss can undo the latest ones,
     * which --resume records again, but never corrupts the file. */
    exec_sql(db, "PRAGMA synchronous = NORMAL");
    return 0;
}

static void free_ledger(ledger *l)
{
    sqlite3_finalize(l->ins);
    sqlite3_finalize(l->recent);
    sqlite3_finalize(l->begin);
    sqlite3_finalize(l->commit);
    sqlite3_finalize(l->rollback);
    sqlite3_close(l->db);
    pthread_mutex_destroy(&l->mu);
    free(l->pend);
    free(l->text);
    free(l->path);
    free(l);
}

ledger *ledger_open(const char *path, const char *job_id, ledger_mode mode, char *err, size_t errlen)
{
    ledger *l;
    int is_ledger = 0, rc;
    if (!path || !*path) {
        set_err(err, errlen, "ledger: the path is empty");
        return NULL;
    }
    if (!job_id || !*job_id) {
        set_err(err, errlen, "ledger %s: no job name", path);
        return NULL;
    }
    l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        set_err(err, errlen, "ledger %s: out of memory", path);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->db = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &is_ledger, err, errlen);
    if (!l->db)
        goto fail_quiet;
    /* "Opened" read-only means the OS refused writing; say so now, not at the first commit. */
    if (sqlite3_db_readonly(l->db, "main") == 1) {
        set_err(err, errlen,
                "ledger %s: cannot write (the file is read-only); check its permissions", path);
        goto fail_quiet;
    }
    if (set_wal(l->db, path, err, errlen) != 0)
        goto fail_quiet;
    if (init_schema(l, job_id, err, errlen) != 0)
        goto fail_quiet;
    if ((rc = prepare(l->db, "INSERT OR IGNORE INTO sends (identifier, channel, sent_at_ms, "
                             "sent_at, job_id, row_no) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &l->ins)) != SQLITE_OK ||
        (rc = prepare(l->db, "SELECT channel, max(sent_at_ms) FROM sends "
                             "WHERE identifier = ?1 AND sent_at_ms > ?2 GROUP BY channel",
                      &l->recent)) != SQLITE_OK ||
        (rc = prepare(l->db, "BEGIN IMMEDIATE", &l->begin)) != SQLITE_OK ||
        (rc = prepare(l->db, "COMMIT", &l->commit)) != SQLITE_OK ||
        (rc = prepare(l->db, "ROLLBACK", &l->rollback)) != SQLITE_OK) {
        db_error(l->db, path, "preparing statements", rc, err, errlen);
        goto fail_quiet;
    }
    sqlite3_bind_int64(l->ins, 5, l->job_id); /* bindings survive sqlite3_reset */
    return l;
fail_quiet:
    free_ledger(l);
    return NULL;
}

/* ---- lookups ----------------------------------------------------------------------- */

static int channel_index(unsigned bit)
{
    return bit == RULES_SMS ? 0 : bit == RULES_EMAIL ? 1 : bit == RULES_WHATSAPP ? 2 : -1;
}

int ledger_recent(ledger *l, const char *id, size_t idlen, unsigned channels, int64_t now_ms,
                  int64_t cooldown_ms, unsigned *recent, int64_t sent_at_ms[3], char *err,
                  size_t errlen)
{
    int64_t since;
    unsigned found = 0;
    int rc, ret = 0;
    sent_at_ms[0] = sent_at_ms[1] = sent_at_ms[2] = 0;
    *recent = 0;
    channels &= RULES_ALL_CHANNELS;
    if (cooldown_ms <= 0 || channels == 0)
        return 0;
    if (idlen > (size_t)INT32_MAX) {
        set_err(err, errlen, "ledger %s: identifier too long", l->path);
        return -1;
    }
    since = now_ms < INT64_MIN + cooldown_ms ? INT64_MIN : now_ms - cooldown_ms;

    pthread_mutex_lock(&l->mu);
    sqlite3_bind_text(l->recent, 1, id, (int)idlen, SQLITE_STATIC);
    sqlite3_bind_int64(l->recent, 2, since);
    while ((rc = sqlite3_step(l->recent)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(l->recent, 0);
        unsigned bit = name ? rules_channel_from_name(name, strlen(name)) : 0;
        int i = channel_index(bit);
        if (i < 0 || !(bit & channels))
            continue;
        found |= bit;
        sent_at_ms[i] = sqlite3_column_int64(l->recent, 1);
    }
    if (rc != SQLITE_DONE) {
        db_error(l->db, l->path, "looking up recent sends", rc, err, errlen);
        ret = -1;
    }
    sqlite3_reset(l->recent);
    sqlite3_bind_null(l->recent, 1); /* drop the pointer to the caller's buffer */
    /* Sends of this job that are still waiting for the next commit. */
    for (size_t k = 0; ret == 0 && k < l->npend; k++) {
        const pending *p = &l->pend[k];
        unsigned both = p->channels & channels;
        if (!both || p->at_ms <= since || p->len != idlen ||
            memcmp(l->text + p->off, id, idlen) != 0)
            continue;
        for (int i = 0; i < 3; i++) {
            if ((both & (1u << i)) && p->at_ms > sent_at_ms[i]) {
                found |= 1u << i;
                sent_at_ms[i] = p->at_ms;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (ret == 0)
        *recent = found;
    else
        sent_at_ms[0] = sent_at_ms[1] = sent_at_ms[2] = 0;
    return ret;
}

/* ---- batched writes ---------------------------------------------------------------- */

/* Writes the batch in one transaction; on failure nothing is written and the batch stays
 * for the next attempt. Caller holds the lock. */
static int commit_locked(ledger *l, char *err, size_t errlen)
{
    sqlite3 *db = l->db;
    long long added = 0;
    const char *doing = "starting a transaction";
    char iso[40];
    int rc;
    if (l->npend == 0)
        return 0;
    rc = sqlite3_step(l->begin);
    sqlite3_reset(l->begin);
    if (rc != SQLITE_DONE)
        goto fail;
    doing = "recording sends";
    for (size_t k = 0; k < l->npend; k++) {
        const pending *p = &l->pend[k];
        clock_format_iso(p->at_ms, iso, sizeof iso);
        sqlite3_bind_text(l->ins, 1, l->text + p->off, (int)p->len, SQLITE_STATIC);
        sqlite3_bind_int64(l->ins, 3, p->at_ms);
        sqlite3_bind_text(l->ins, 4, iso, -1, SQLITE_STATIC);
        sqlite3_bind_int64(l->ins, 6, p->row);
        for (unsigned i = 0; i < 3; i++) {
            if (!(p->channels & (1u << i)))
                continue;
            sqlite3_bind_text(l->ins, 2, rules_channel_name(1u << i), -1, SQLITE_STATIC);
            rc = sqlite3_step(l->ins);
            sqlite3_reset(l->ins);
            if (rc != SQLITE_DONE)
                goto fail;
            added += sqlite3_changes(db);
        }
    }
    doing = "committing";
    rc = sqlite3_step(l->commit);
    sqlite3_reset(l->commit);
    if (rc != SQLITE_DONE)
        goto fail;
    l->written += added;
    l->npend = 0;
    l->ntext = 0;
    return 0;
fail:
    db_error(db, l->path, doing, rc, err, errlen);
    if (!sqlite3_get_autocommit(db)) {
        sqlite3_step(l->rollback);
        sqlite3_reset(l->rollback);
    }
    return -1;
}

static int due_locked(const ledger *l)
{
    return l->npend >= LEDGER_BATCH_RECORDS ||
           (l->npend > 0 && (clock_mono_ns() / 1000000) - l->batch_start_ms >= LEDGER_BATCH_MS);
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 64;
    void *p;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    p = realloc(*buf, n * elem);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

int ledger_record(ledger *l, const char *id, size_t idlen, unsigned channels, int64_t at_ms,
                  long row, char *err, size_t errlen)
{
    int ret = 0;
    channels &= RULES_ALL_CHANNELS;
    if (channels == 0)
        return 0;
    if (idlen > (size_t)INT32_MAX) {
        set_err(err, errlen, "ledger %s: identifier too long", l->path);
        return -1;
    }
    pthread_mutex_lock(&l->mu);
    if (grow((void **)&l->pend, &l->cappend, l->npend + 1, sizeof *l->pend) != 0 ||
        grow((void **)&l->text, &l->captext, l->ntext + idlen + 1, 1) != 0) {
        set_err(err, errlen, "ledger %s: out of memory", l->path);
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    if (l->npend == 0)
        l->batch_start_ms = (clock_mono_ns() / 1000000);
    l->pend[l->npend++] = (pending){l->ntext, idlen, channels, at_ms, row};
    memcpy(l->text + l->ntext, id, idlen);
    l->ntext += idlen;
    if (due_locked(l))
        ret = commit_locked(l, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return ret;
}

int ledger_tick(ledger *l, char *err, size_t errlen)
{
    int ret = 0;
    pthread_mutex_lock(&l->mu);
    if (due_locked(l))
        ret = commit_locked(l, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return ret;
}

int ledger_flush(ledger *l, char *err, size_t errlen)
{
    int ret;
    pthread_mutex_lock(&l->mu);
    ret = commit_locked(l, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return ret;
}

long long ledger_written(ledger *l)
{
    long long n;
    pthread_mutex_lock(&l->mu);
    n = l->written;
    pthread_mutex_unlock(&l->mu);
    return n;
}

int ledger_close(ledger *l)
{
    char err[512];
    int rc = 0;
    if (!l)
        return 0;
    if (ledger_flush(l, err, sizeof err) != 0) {
        fprintf(stderr, "ottu-resend: %s; the last %zu sends are not in the ledger\n", err,
                l->npend);
        rc = -1;
    }
    free_ledger(l);
    return rc;
}

/* ---- `ottu-resend ledger` ---------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: ottu-resend ledger stats PATH\n"
          "       ottu-resend ledger prune --older-than DURATION [--dry-run] PATH\n"
          "\n"
          "  stats   records per channel and day, total, oldest and newest send\n"
          "  prune   delete records sent more than DURATION ago (90m, 36h, 7d, ...)\n"
          "          and print how many; --dry-run only counts them\n",
          f);
}

/* Opens an existing ledger for the subcommands; never creates a file. */
static sqlite3 *open_existing(const char *path, int writable)
{
    char err[512];
    int is_ledger = 0;
    sqlite3 *db = db_open(path, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
                          &is_ledger, err, sizeof err);
    if (db && !is_ledger) {
        snprintf(err, sizeof err, "ledger %s: empty, not a ledger yet", path);
        sqlite3_close(db);
        db = NULL;
    }
    if (!db)
        fprintf(stderr, "ottu-resend: %s\n", err);
    return db;
}

static int sub_fail(sqlite3 *db, const char *path, const char *doing, int rc)
{
    char err[512];
    db_error(db, path, doing, rc, err, sizeof err);
    fprintf(stderr, "ottu-resend: %s\n", err);
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    sqlite3_close(db);
    return 1;
}

static void print_day(const char *day, const long long n[3])
{
    printf("%-10s %10lld %10lld %10lld %10lld\n", day, n[0], n[1], n[2], n[0] + n[1] + n[2]);
}

static int ledger_stats(const char *path)
{
    sqlite3 *db = open_existing(path, 0);
    sqlite3_stmt *st = NULL;
    int64_t total = 0, ids = 0, jobs = 0, oldest = 0, newest = 0;
    long long day_n[3] = {0, 0, 0}, ch_n[3] = {0, 0, 0};
    char day[16] = "", a[40], b[40];
    int rc;
    if (!db)
        return 2;
    /* One read transaction, so the numbers agree with each other while a job writes. */
    if ((rc = exec_sql(db, "BEGIN")) != SQLITE_OK ||
        (rc = query_int(db, "SELECT count(*) FROM sends", &total)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT count(DISTINCT identifier) FROM sends", &ids)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT count(DISTINCT job_id) FROM sends", &jobs)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT min(sent_at_ms) FROM sends", &oldest)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT max(sent_at_ms) FROM sends", &newest)) != SQLITE_OK)
        return sub_fail(db, path, "reading", rc);
    printf("ledger:      %s\n", path);
    printf("records:     %" PRId64 "\n", total);
    printf("identifiers: %" PRId64 "\n", ids);
    printf("jobs:        %" PRId64 "\n", jobs);
    if (total > 0) {
        clock_format_iso(oldest, a, sizeof a);
        clock_format_iso(newest, b, sizeof b);
    } else {
        strcpy(a, "-");
        strcpy(b, "-");
    }
    printf("oldest:      %s\n", a);
    printf("newest:      %s\n", b);
    if (total == 0) {
        exec_sql(db, "COMMIT");
        sqlite3_close(db);
        return 0;
    }
    printf("\n%-10s %10s %10s %10s %10s\n", "day (UTC)", "sms", "email", "whatsapp", "total");
    rc = sqlite3_prepare_v2(db,
                            "SELECT substr(sent_at, 1, 10) AS day, channel, count(*) FROM sends "
                            "GROUP BY day, channel ORDER BY day",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sub_fail(db, path, "reading", rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        const char *c = (const char *)sqlite3_column_text(st, 1);
        int i = c ? channel_index(rules_channel_from_name(c, strlen(c))) : -1;
        if (!d)
            d = "?";
        if (day[0] && strcmp(day, d) != 0) {
            print_day(day, day_n);
            memset(day_n, 0, sizeof day_n);
        }
        snprintf(day, sizeof day, "%s", d);
        if (i >= 0) {
            day_n[i] += sqlite3_column_int64(st, 2);
            ch_n[i] += sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sub_fail(db, path, "reading", rc);
    if (day[0])
        print_day(day, day_n);
    print_day("total", ch_n);
    exec_sql(db, "COMMIT");
    sqlite3_close(db);
    return 0;
}

static int ledger_prune(const char *path, int64_t older_ms, int dry_run)
{
    sqlite3 *db = open_existing(path, !dry_run);
    sqlite3_stmt *count = NULL, *del = NULL;
    int64_t cutoff = clock_now_ms() - older_ms, n = 0, left = 0;
    long long removed = 0;
    char iso[40];
    int rc;
    if (!db)
        return 2;
    clock_format_iso(cutoff, iso, sizeof iso);
    rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sends WHERE sent_at_ms < ?1", -1,
                            &count, NULL);
    if (rc != SQLITE_OK)
        return sub_fail(db, path, "counting", rc);
    sqlite3_bind_int64(count, 1, cutoff);
    rc = sqlite3_step(count);
    n = rc == SQLITE_ROW ? sqlite3_column_int64(count, 0) : 0;
    sqlite3_finalize(count);
    if (rc != SQLITE_ROW)
        return sub_fail(db, path, "counting", rc);
    if (dry_run) {
        printf("would prune %" PRId64 " records sent before %s\n", n, iso);
        sqlite3_close(db);
        return 0;
    }
    /* Small transactions, so a job writing to the same ledger waits milliseconds. */
    rc = sqlite3_prepare_v2(db,
                            "DELETE FROM sends WHERE id IN (SELECT id FROM sends "
                            "WHERE sent_at_ms < ?1 LIMIT " XSTR(PRUNE_CHUNK) ")",
                            -1, &del, NULL);
    if (rc != SQLITE_OK)
        return sub_fail(db, path, "pruning", rc);
    sqlite3_bind_int64(del, 1, cutoff);
    for (;;) {
        int changed;
        if ((rc = exec_sql(db, "BEGIN IMMEDIATE")) != SQLITE_OK)
            break;
        rc = sqlite3_step(del);
        sqlite3_reset(del);
        if (rc != SQLITE_DONE)
            break;
        changed = sqlite3_changes(db);
        if ((rc = exec_sql(db, "COMMIT")) != SQLITE_OK)
            break;
        removed += changed;
        if (changed < PRUNE_CHUNK)
            break;
    }
    sqlite3_finalize(del);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "ottu-resend: pruned %lld records before the error below\n", removed);
        return sub_fail(db, path, "pruning", rc);
    }
    rc = query_int(db, "SELECT count(*) FROM sends", &left);
    if (rc != SQLITE_OK)
        return sub_fail(db, path, "counting", rc);
    printf("pruned %lld records sent before %s; %" PRId64 " remain\n", removed, iso, left);
    sqlite3_close(db);
    return 0;
}

int ledger_main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL, *path = NULL, *older = NULL;
    int dry_run = 0;
    int64_t older_ms = 0;
    if (!cmd) {
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "stats") != 0 && strcmp(cmd, "prune") != 0) {
        fprintf(stderr, "ottu-resend ledger: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int is_prune = strcmp(cmd, "prune") == 0;
        if (is_prune && strcmp(a, "--older-than") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ottu-resend ledger: --older-than needs a duration\n");
                return 2;
            }
            older = argv[++i];
        } else if (is_prune && strncmp(a, "--older-than=", 13) == 0) {
            older = a + 13;
        } else if (is_prune && strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0) {
            fprintf(stderr, "ottu-resend ledger %s: unknown option %s\n", cmd, a);
            usage(stderr);
            return 2;
        } else {
            if (strcmp(a, "--") == 0 && i + 1 < argc)
                a = argv[++i];
            if (path) {
                fprintf(stderr, "ottu-resend ledger %s: one PATH only\n", cmd);
                return 2;
            }
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "ottu-resend ledger %s: PATH is missing\n", cmd);
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "stats") == 0)
        return ledger_stats(path);
    if (!older) {
        fprintf(stderr, "ottu-resend ledger prune: --older-than DURATION is required\n");
        return 2;
    }
    if (units_parse_duration(older, &older_ms) != 0) {
        fprintf(stderr,
                "ottu-resend ledger prune: bad duration \"%s\" (use e.g. 90m, 36h, 7d)\n",
                older);
        return 2;
    }
    return ledger_prune(path, older_ms, dry_run);
}
