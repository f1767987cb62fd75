/* test_ledger — unit tests of the ledger: cooldown lookups, batching, idempotence, sharing a file, errors, stats/prune. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "clock.h"
#include "units.h"
#include "rules.h"

#define HOUR (3600LL * 1000)
#define DAY (24 * HOUR)

#define TESTDIR_NAME "ledger"
#include "testdir.h"

/* Removes what an earlier run may have left at path. */
static void fresh(const char *path)
{
    char b[300];
    unlink(path);
    snprintf(b, sizeof b, "%s-wal", path);
    unlink(b);
    snprintf(b, sizeof b, "%s-shm", path);
    unlink(b);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ledger *open_ok(const char *path, const char *job)
{
    char err[512] = "";
    ledger *l = ledger_open(path, job, LEDGER_READWRITE, err, sizeof err);
    if (!l)
        fail_msg("ledger_open(%s): %s", path, err);
    return l;
}

static void record_ok(ledger *l, const char *id, unsigned ch, int64_t at, long row)
{
    char err[512] = "";
    if (ledger_record(l, id, strlen(id), ch, at, row, err, sizeof err) != 0)
        fail_msg("ledger_record: %s", err);
}

static unsigned recent_ok(ledger *l, const char *id, unsigned ch, int64_t now, int64_t cool,
                          int64_t at[3])
{
    char err[512] = "";
    unsigned r = 99;
    int64_t dummy[3];
    if (ledger_recent(l, id, strlen(id), ch, now, cool, &r, at ? at : dummy, err, sizeof err) != 0)
        fail_msg("ledger_recent: %s", err);
    return r;
}

static void flush_ok(ledger *l)
{
    char err[512] = "";
    if (ledger_flush(l, err, sizeof err) != 0)
        fail_msg("ledger_flush: %s", err);
}

/* Runs one integer query on the file with a separate plain SQLite connection. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static char *sql_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* ---- cooldown lookups -------------------------------------------------------------- */

static void test_record_then_recent(void **state)
{
    (void)state;
    const char *p = testdir_path("basic.db");
    int64_t t = now_ms() - 5 * HOUR, at[3];
    fresh(p);
    ledger *l = open_ok(p, "job-basic");
    record_ok(l, "ORD-1", RULES_SMS | RULES_EMAIL, t, 1);
    flush_ok(l);

    /* Within the cooldown: both channels, with the time they were sent. */
    assert_int_equal(recent_ok(l, "ORD-1", RULES_ALL_CHANNELS, t + HOUR, DAY, at),
                     RULES_SMS | RULES_EMAIL);
    assert_true(at[0] == t && at[1] == t && at[2] == 0);
    /* Only the channels asked about. */
    assert_int_equal(recent_ok(l, "ORD-1", RULES_EMAIL | RULES_WHATSAPP, t + HOUR, DAY, at),
                     RULES_EMAIL);
    assert_true(at[0] == 0 && at[1] == t);
    assert_int_equal(recent_ok(l, "ORD-1", RULES_WHATSAPP, t + HOUR, DAY, NULL), 0);
    /* Outside: 25 h later, and exactly at the boundary (sent_at must be > now - cooldown). */
    assert_int_equal(recent_ok(l, "ORD-1", RULES_ALL_CHANNELS, t + 25 * HOUR, DAY, at), 0);
    assert_true(at[0] == 0 && at[1] == 0 && at[2] == 0);
    assert_int_equal(recent_ok(l, "ORD-1", RULES_ALL_CHANNELS, t + DAY, DAY, NULL), 0);
    assert_int_equal(recent_ok(l, "ORD-1", RULES_ALL_CHANNELS, t + DAY - 1, DAY, NULL),
                     RULES_SMS | RULES_EMAIL);
    /* A shorter cooldown. */
    assert_int_equal(recent_ok(l, "ORD-1", RULES_SMS, t + 2 * HOUR, 90 * 60 * 1000, NULL), 0);
    /* Another identifier, and a prefix of this one, are not the same. */
    assert_int_equal(recent_ok(l, "ORD-2", RULES_ALL_CHANNELS, t + HOUR, DAY, NULL), 0);
    assert_int_equal(recent_ok(l, "ORD-", RULES_ALL_CHANNELS, t + HOUR, DAY, NULL), 0);
    /* Identifiers are compared by length, not C string: "ORD-1" + NUL + junk is not ORD-1. */
    {
        char err[256];
        unsigned r = 9;
        int64_t a3[3];
        assert_int_equal(ledger_recent(l, "ORD-1\0x", 7, RULES_ALL_CHANNELS, t + HOUR, DAY, &r,
                                       a3, err, sizeof err), 0);
        assert_int_equal(r, 0);
        assert_int_equal(ledger_recent(l, "ORD-1xyz", 5, RULES_ALL_CHANNELS, t + HOUR, DAY, &r,
                                       a3, err, sizeof err), 0);
        assert_int_equal(r, RULES_SMS | RULES_EMAIL);
    }
    ledger_close(l);

    /* The readable columns an operator sees. */
    char *s = sql_text(p, "SELECT channel || ' ' || identifier || ' ' || job || ' ' || row_no "
                          "FROM send_log ORDER BY channel LIMIT 1");
    assert_string_equal(s, "email ORD-1 job-basic 1");
    free(s);
    s = sql_text(p, "SELECT sent_at FROM sends LIMIT 1");
    char iso[40];
    clock_format_iso(t, iso, sizeof iso);
    assert_string_equal(s, iso);
    free(s);
}

/* Email went out yesterday; today's row asks for sms+email: only email is recent. */
static void test_channel_level(void **state)
{
    (void)state;
    const char *p = testdir_path("channels.db");
    int64_t now = now_ms(), at[3];
    fresh(p);
    ledger *l = open_ok(p, "job-yesterday");
    record_ok(l, "ORD-7", RULES_EMAIL, now - 20 * HOUR, 3);
    record_ok(l, "ORD-7", RULES_SMS, now - 30 * HOUR, 9); /* outside a 24 h cooldown */
    ledger_close(l);

    l = open_ok(p, "job-today");
    assert_int_equal(recent_ok(l, "ORD-7", RULES_SMS | RULES_EMAIL, now, DAY, at), RULES_EMAIL);
    assert_true(at[0] == 0 && at[1] == now - 20 * HOUR && at[2] == 0);
    /* With 36 h both were recent; the latest time per channel is reported. */
    record_ok(l, "ORD-7", RULES_EMAIL, now - HOUR, 1);
    assert_int_equal(recent_ok(l, "ORD-7", RULES_SMS | RULES_EMAIL, now, 36 * HOUR, at),
                     RULES_SMS | RULES_EMAIL);
    assert_true(at[0] == now - 30 * HOUR && at[1] == now - HOUR);
    ledger_close(l);
}

static void test_cooldown_zero(void **state)
{
    (void)state;
    const char *p = testdir_path("zero.db");
    int64_t now = now_ms(), at[3] = {1, 1, 1};
    fresh(p);
    ledger *l = open_ok(p, "job-zero");
    record_ok(l, "ORD-0", RULES_ALL_CHANNELS, now, 1);
    flush_ok(l);
    /* 0 records but never skips. */
    assert_int_equal(recent_ok(l, "ORD-0", RULES_ALL_CHANNELS, now + 1, 0, at), 0);
    assert_true(at[0] == 0 && at[1] == 0 && at[2] == 0);
    assert_int_equal(recent_ok(l, "ORD-0", RULES_ALL_CHANNELS, now + 1, -5, NULL), 0);
    assert_int_equal(recent_ok(l, "ORD-0", RULES_ALL_CHANNELS, now + 1, 1000, NULL),
                     RULES_ALL_CHANNELS);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 3);
}

/* ---- batching and idempotence ------------------------------------------------------- */

static void test_uncommitted_visible(void **state)
{
    (void)state;
    const char *p = testdir_path("pending.db");
    int64_t now = now_ms(), at[3];
    fresh(p);
    ledger *a = open_ok(p, "job-a");
    ledger *b = open_ok(p, "job-b");
    record_ok(a, "ORD-P", RULES_WHATSAPP, now, 1);
    /* a sees its own buffered record; b (another connection) cannot yet. */
    assert_int_equal(recent_ok(a, "ORD-P", RULES_ALL_CHANNELS, now + 1, DAY, at), RULES_WHATSAPP);
    assert_true(at[2] == now);
    assert_int_equal(recent_ok(b, "ORD-P", RULES_ALL_CHANNELS, now + 1, DAY, NULL), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 0);
    flush_ok(a);
    assert_int_equal(recent_ok(b, "ORD-P", RULES_ALL_CHANNELS, now + 1, DAY, NULL),
                     RULES_WHATSAPP);
    assert_int_equal(recent_ok(a, "ORD-P", RULES_ALL_CHANNELS, now + 1, DAY, NULL),
                     RULES_WHATSAPP);
    ledger_close(a);
    ledger_close(b);
}

static void test_batch_commits(void **state)
{
    (void)state;
    const char *p = testdir_path("batch.db");
    char id[32], err[256];
    int64_t now = now_ms();
    fresh(p);
    ledger *l = open_ok(p, "job-batch");
    /* By count: nothing reaches the file until the batch holds LEDGER_BATCH_RECORDS. */
    for (int i = 0; i < LEDGER_BATCH_RECORDS - 1; i++) {
        snprintf(id, sizeof id, "B-%d", i);
        record_ok(l, id, RULES_SMS, now, i + 1);
    }
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 0);
    record_ok(l, "B-last", RULES_SMS, now, LEDGER_BATCH_RECORDS);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), LEDGER_BATCH_RECORDS);
    assert_int_equal(ledger_written(l), LEDGER_BATCH_RECORDS);

    /* By age: a record older than LEDGER_BATCH_MS is committed by the next tick... */
    record_ok(l, "AGE-1", RULES_EMAIL, now, 1000);
    assert_int_equal(ledger_tick(l, err, sizeof err), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends WHERE identifier = 'AGE-1'"), 0);
    usleep((LEDGER_BATCH_MS + 50) * 1000);
    assert_int_equal(ledger_tick(l, err, sizeof err), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends WHERE identifier = 'AGE-1'"), 1);
    /* ...or by the next record. */
    record_ok(l, "AGE-2", RULES_EMAIL, now, 1001);
    usleep((LEDGER_BATCH_MS + 50) * 1000);
    record_ok(l, "AGE-3", RULES_EMAIL, now, 1002);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends WHERE identifier LIKE 'AGE-%'"), 3);
    /* Close flushes. */
    record_ok(l, "AGE-4", RULES_EMAIL, now, 1003);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), LEDGER_BATCH_RECORDS + 4);
}

static void test_idempotent(void **state)
{
    (void)state;
    const char *p = testdir_path("idem.db");
    int64_t now = now_ms();
    fresh(p);
    ledger *l = open_ok(p, "job-idem");
    record_ok(l, "ORD-I", RULES_SMS | RULES_EMAIL, now, 5);
    record_ok(l, "ORD-I", RULES_SMS | RULES_EMAIL, now + 10, 5); /* same batch */
    flush_ok(l);
    record_ok(l, "ORD-I", RULES_SMS, now + 20, 5); /* later batch */
    flush_ok(l);
    assert_int_equal(ledger_written(l), 2);
    ledger_close(l);
    /* A resumed job (same name) replaying the row adds nothing; the first time stays. */
    l = open_ok(p, "job-idem");
    record_ok(l, "ORD-I", RULES_SMS | RULES_EMAIL, now + 30, 5);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), 1);
    assert_int_equal(sql_int(p, "SELECT max(sent_at_ms) FROM sends"), now);
    /* Another job sending the same identifier is a new record. */
    l = open_ok(p, "job-other");
    record_ok(l, "ORD-I", RULES_SMS, now + 40, 5);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 3);
    /* Empty channel set records nothing. */
    l = open_ok(p, "job-other");
    record_ok(l, "ORD-J", 0, now, 6);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 3);
}

/* ---- several jobs on one file ------------------------------------------------------- */

static void test_two_handles_sequential(void **state)
{
    (void)state;
    const char *p = testdir_path("seq.db");
    int64_t now = now_ms();
    fresh(p);
    ledger *a = open_ok(p, "job-1");
    record_ok(a, "ORD-S", RULES_SMS, now - HOUR, 1);
    ledger_close(a);
    ledger *b = open_ok(p, "job-2");
    assert_int_equal(recent_ok(b, "ORD-S", RULES_ALL_CHANNELS, now, DAY, NULL), RULES_SMS);
    record_ok(b, "ORD-S", RULES_EMAIL, now, 1);
    ledger_close(b);
    ledger *c = open_ok(p, "job-3");
    assert_int_equal(recent_ok(c, "ORD-S", RULES_ALL_CHANNELS, now, DAY, NULL),
                     RULES_SMS | RULES_EMAIL);
    ledger_close(c);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), 3);
    char *m = sql_text(p, "PRAGMA journal_mode");
    assert_string_equal(m, "wal");
    free(m);
    m = sql_text(p, "SELECT value FROM meta WHERE key = 'schema_version'");
    assert_string_equal(m, "1");
    free(m);
}

static void test_two_handles_interleaved(void **state)
{
    (void)state;
    const char *p = testdir_path("inter.db");
    char id[32];
    int64_t now = now_ms();
    fresh(p);
    ledger *a = open_ok(p, "job-a");
    ledger *b = open_ok(p, "job-b");
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "ORD-%d", i);
        record_ok(i % 2 ? a : b, id, RULES_SMS, now, i);
        if (i % 97 == 0) {
            flush_ok(a);
            flush_ok(b);
            /* Each sees every committed record of the other. */
            assert_int_equal(recent_ok(a, id, RULES_SMS, now + 1, DAY, NULL), RULES_SMS);
            assert_int_equal(recent_ok(b, id, RULES_SMS, now + 1, DAY, NULL), RULES_SMS);
        }
    }
    ledger_close(a);
    ledger_close(b);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 1000);
    char *ok = sql_text(p, "PRAGMA integrity_check");
    assert_string_equal(ok, "ok");
    free(ok);
}

/* Two processes writing the same ledger at the same time (POSIX locks are per process, so
 * this is the real case of two jobs, not just two connections). */
static void test_two_processes(void **state)
{
    (void)state;
    const char *p = testdir_path("procs.db");
    const int n = 3000;
    char id[32];
    int64_t now = now_ms();
    fresh(p);
    ledger_close(open_ok(p, "creator"));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[512];
        ledger *c = ledger_open(p, "child", LEDGER_READWRITE, err, sizeof err);
        if (!c)
            _exit(3);
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof id, "C-%d", i);
            if (ledger_record(c, id, strlen(id), RULES_SMS | RULES_EMAIL, now, i, err,
                              sizeof err) != 0)
                _exit(4);
        }
        if (ledger_flush(c, err, sizeof err) != 0)
            _exit(5);
        ledger_close(c);
        _exit(0);
    }
    ledger *l = open_ok(p, "parent");
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "P-%d", i);
        record_ok(l, id, RULES_SMS | RULES_EMAIL, now, i);
    }
    ledger_close(l);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 4 * n);
    char *ok = sql_text(p, "PRAGMA integrity_check");
    assert_string_equal(ok, "ok");
    free(ok);
    l = open_ok(p, "after");
    assert_int_equal(recent_ok(l, "C-17", RULES_ALL_CHANNELS, now + 1, DAY, NULL),
                     RULES_SMS | RULES_EMAIL);
    ledger_close(l);
}

/* Several jobs starting at once on a ledger that does not exist yet: exactly one creates
 * the schema, all of them work. */
static void test_concurrent_create(void **state)
{
    (void)state;
    const char *p = testdir_path("create.db");
    enum { KIDS = 6 };
    for (int round = 0; round < 3; round++) {
        int go[2];
        pid_t kids[KIDS];
        fresh(p);
        assert_int_equal(pipe(go), 0);
        fflush(NULL);
        for (int k = 0; k < KIDS; k++) {
            kids[k] = fork();
            assert_true(kids[k] >= 0);
            if (kids[k] == 0) {
                char err[512], job[32], c;
                close(go[1]);
                if (read(go[0], &c, 1) != 0) /* returns 0 when the parent closes: start */
                    _exit(6);
                snprintf(job, sizeof job, "job-%d", k);
                ledger *l = ledger_open(p, job, LEDGER_READWRITE, err, sizeof err);
                if (!l) {
                    fprintf(stderr, "# child %d: %s\n", k, err);
                    _exit(3);
                }
                for (int i = 0; i < 500; i++)
                    if (ledger_record(l, job, strlen(job), RULES_SMS, now_ms(), i, err,
                                      sizeof err) != 0)
                        _exit(4);
                ledger_close(l);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]);
        for (int k = 0; k < KIDS; k++) {
            int st = 0;
            assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
            assert_true(WIFEXITED(st));
            assert_int_equal(WEXITSTATUS(st), 0);
        }
        assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), KIDS * 500);
        assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), KIDS);
        assert_int_equal(sql_int(p, "SELECT count(*) FROM meta"), 3);
    }
}

/* ---- bad files ---------------------------------------------------------------------- */

static void expect_open_error(const char *path, const char *want)
{
    char err[512] = "";
    ledger *l = ledger_open(path, "job", LEDGER_READWRITE, err, sizeof err);
    if (l) {
        ledger_close(l);
        fail_msg("ledger_open(%s) succeeded", path);
    }
    if (!strstr(err, path) || !strstr(err, want))
        fail_msg("error for %s lacks the path or \"%s\": %s", path, want, err);
    print_message("# %s\n", err);
}

static void test_corrupt_file(void **state)
{
    (void)state;
    const char *p = testdir_path("random.db");
    unsigned char junk[8192];
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(rand_r(&seed) >> 7);
    write_file(p, junk, sizeof junk);
    expect_open_error(p, "not an SQLite database");
    /* Left as it was. */
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, sizeof junk);

    /* Text that is not a database at all. */
    p = testdir_path("text.db");
    write_file(p, "order_no,channels\n1,sms\n", 24);
    expect_open_error(p, "not an SQLite database");

    /* A real ledger whose first page was damaged: the header survives, the schema does not. */
    p = testdir_path("damaged.db");
    fresh(p);
    ledger_close(open_ok(p, "job"));
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, 1024, 100), 1024);
    close(fd);
    expect_open_error(p, "damaged");
}

static void test_foreign_and_newer(void **state)
{
    (void)state;
    const char *p = testdir_path("foreign.db");
    sqlite3 *db;
    fresh(p);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_error(p, "not an ottu-resend ledger");
    /* Someone else's database is not touched (still in its own journal mode). */
    char *m = sql_text(p, "PRAGMA journal_mode");
    assert_string_equal(m, "delete");
    free(m);

    p = testdir_path("newer.db");
    fresh(p);
    ledger_close(open_ok(p, "job"));
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_error(p, "newer");

    /* An empty file is a new ledger. */
    p = testdir_path("empty.db");
    fresh(p);
    write_file(p, "", 0);
    ledger_close(open_ok(p, "job"));
    assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), 1);
}

static void test_unwritable(void **state)
{
    (void)state;
    char dir[300];
    expect_open_error(testdir_path("no/such/dir/ledger.db"), "cannot open");
    /* A directory where the file should be. */
    snprintf(dir, sizeof dir, "%s/adir", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    expect_open_error(dir, "cannot open");
    /* A regular file used as a directory. */
    const char *f = testdir_path("plain");
    write_file(f, "x", 1);
    expect_open_error(testdir_path("plain/ledger.db"), "cannot open");
    /* Permissions only bind a non-root user. */
    if (geteuid() != 0) {
        const char *p = testdir_path("readonly.db");
        fresh(p);
        ledger_close(open_ok(p, "job"));
        chmod(p, 0444);
        expect_open_error(p, "cannot write");
        snprintf(dir, sizeof dir, "%s/rodir", tmpdir);
        mkdir(dir, 0555);
        char in[400];
        snprintf(in, sizeof in, "%s/ledger.db", dir);
        expect_open_error(in, "cannot create");
        chmod(dir, 0755);
    }
    char err[256] = "";
    assert_null(ledger_open("", "job", LEDGER_READWRITE, err, sizeof err));
    assert_non_null(strstr(err, "empty"));
    assert_null(ledger_open(testdir_path("x.db"), "", LEDGER_READWRITE, err, sizeof err));
}

/* ---- durations and times ------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"0", 0},          {"30s", 30000},         {"90m", 5400000},       {"24h", 86400000},
        {"36h", 129600000}, {"7d", 604800000},      {"1w", 604800000},      {"1h30m", 5400000},
        {"1d12h", 129600000}, {"250ms", 250},       {"0s", 0},              {"24H", 86400000},
        {"1D", 86400000},  {"007m", 420000},
    };
    static const char *const bad[] = {
        "", "24", "1", "-1h", "h", "1x", "1.5h", " 1h", "1h ", "1 h", "1hh", "1m5", "+3d",
        "99999999999999999999s", "9223372036854775807d",
    };
    int64_t ms;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ms = -1;
        if (units_parse_duration(good[i].s, &ms) != 0 || ms != good[i].ms)
            fail_msg("\"%s\" -> %lld", good[i].s, (long long)ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (units_parse_duration(bad[i], &ms) == 0)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)ms);
    }
    assert_int_equal(units_parse_duration(NULL, &ms), -1);
    assert_int_equal(LEDGER_DEFAULT_COOLDOWN_MS, 86400000);
}

static void test_format_time(void **state)
{
    (void)state;
    char b[40];
    assert_int_equal(clock_format_iso(0, b, sizeof b), 24);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    clock_format_iso(1795462800123LL, b, sizeof b);
    assert_string_equal(b, "2026-11-23T19:40:00.123Z");
    clock_format_iso(-1, b, sizeof b);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
    assert_int_equal(clock_format_iso(0, b, 5), 4);
    assert_string_equal(b, "1970");
}

/* ---- stats and prune ------------------------------------------------------------------ */

/* Runs ledger_main with stdout and stderr going to files; returns the exit code. */
static int run_main(char **out, char **errout, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 15; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    const char *names[2] = {testdir_path("stdout.txt"), testdir_path("stderr.txt")};
    char **dest[2] = {out, errout};
    int saved[2], rc;
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k < 2; k++) {
        int fd = open(names[k], O_RDWR | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        saved[k] = dup(k + 1);
        dup2(fd, k + 1);
        close(fd);
    }
    rc = ledger_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k < 2; k++) {
        dup2(saved[k], k + 1);
        close(saved[k]);
        FILE *f = fopen(names[k], "rb");
        assert_non_null(f);
        char *buf = calloc(1, 65536);
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
        *dest[k] = buf;
    }
    return rc;
}

static void test_stats_prune(void **state)
{
    (void)state;
    const char *p0 = testdir_path("stats.db");
    char p[256], *out, *err, day10[16], day2[16], today[16], iso[40];
    int64_t now = now_ms();
    snprintf(p, sizeof p, "%s", p0);
    fresh(p);
    ledger *l = open_ok(p, "job-old");
    record_ok(l, "OLD-1", RULES_SMS | RULES_EMAIL, now - 10 * DAY, 1);
    record_ok(l, "OLD-2", RULES_WHATSAPP, now - 10 * DAY + 1, 2);
    ledger_close(l);
    l = open_ok(p, "job-new");
    record_ok(l, "MID-1", RULES_EMAIL, now - 2 * DAY, 1);
    record_ok(l, "NEW-1", RULES_SMS | RULES_EMAIL | RULES_WHATSAPP, now - 1000, 2);
    ledger_close(l);
    clock_format_iso(now - 10 * DAY, iso, sizeof iso);
    snprintf(day10, sizeof day10, "%.10s", iso);
    clock_format_iso(now - 2 * DAY, iso, sizeof iso);
    snprintf(day2, sizeof day2, "%.10s", iso);
    clock_format_iso(now - 1000, iso, sizeof iso);
    snprintf(today, sizeof today, "%.10s", iso);

    assert_int_equal(run_main(&out, &err, 3, "ledger", "stats", p), 0);
    print_message("# stats output:\n%s", out);
    assert_non_null(strstr(out, "records:     7\n"));
    assert_non_null(strstr(out, "identifiers: 4\n"));
    assert_non_null(strstr(out, "jobs:        2\n"));
    clock_format_iso(now - 10 * DAY, iso, sizeof iso);
    assert_non_null(strstr(out, iso));
    clock_format_iso(now - 1000, iso, sizeof iso);
    assert_non_null(strstr(out, iso));
    char line[128];
    snprintf(line, sizeof line, "%-10s %10d %10d %10d %10d\n", day10, 1, 1, 1, 3);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "%-10s %10d %10d %10d %10d\n", day2, 0, 1, 0, 1);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "%-10s %10d %10d %10d %10d\n", today, 1, 1, 1, 3);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "%-10s %10d %10d %10d %10d\n", "total", 2, 3, 2, 7);
    assert_non_null(strstr(out, line));
    assert_string_equal(err, "");
    free(out);
    free(err);

    /* Dry run counts, prune deletes, and says how many. */
    if (run_main(&out, &err, 6, "ledger", "prune", "--older-than", "7d", "--dry-run", p) != 0)
        fail_msg("dry run: %s", err);
    assert_non_null(strstr(out, "would prune 3 records"));
    free(out);
    free(err);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 7);
    assert_int_equal(run_main(&out, &err, 4, "ledger", "prune", "--older-than=7d", p), 0);
    print_message("# %s", out);
    assert_non_null(strstr(out, "pruned 3 records"));
    assert_non_null(strstr(out, "4 remain"));
    free(out);
    free(err);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 4);
    assert_int_equal(run_main(&out, &err, 5, "ledger", "prune", "--older-than", "1d", p, NULL), 0);
    assert_non_null(strstr(out, "pruned 1 records"));
    free(out);
    free(err);
    /* Pruning keeps the cooldown working for what is left. */
    l = open_ok(p, "job-after");
    assert_int_equal(recent_ok(l, "NEW-1", RULES_ALL_CHANNELS, now, DAY, NULL), RULES_ALL_CHANNELS);
    assert_int_equal(recent_ok(l, "MID-1", RULES_ALL_CHANNELS, now, 3 * DAY, NULL), 0);
    ledger_close(l);

    /* Prune everything, then stats of an empty ledger. */
    assert_int_equal(run_main(&out, &err, 5, "ledger", "prune", "--older-than", "0", p, NULL), 0);
    assert_non_null(strstr(out, "pruned 3 records"));
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 3, "ledger", "stats", p), 0);
    assert_non_null(strstr(out, "records:     0\n"));
    assert_non_null(strstr(out, "oldest:      -\n"));
    free(out);
    free(err);
}

static void test_main_errors(void **state)
{
    (void)state;
    char *out, *err, missing[256];
    snprintf(missing, sizeof missing, "%s", testdir_path("missing.db"));
    fresh(missing);
    struct {
        int argc;
        const char *argv[6];
        int code;
        const char *want;
    } cases[] = {
        {1, {"ledger"}, 2, "usage"},
        {2, {"ledger", "frob"}, 2, "unknown command"},
        {2, {"ledger", "stats"}, 2, "PATH is missing"},
        {4, {"ledger", "stats", "a.db", "b.db"}, 2, "one PATH"},
        {3, {"ledger", "prune", "x.db"}, 2, "--older-than"},
        {5, {"ledger", "prune", "--older-than", "24", "x.db"}, 2, "bad duration"},
        {3, {"ledger", "prune", "--older-than"}, 2, "needs a duration"},
        {4, {"ledger", "stats", "--bogus", "x.db"}, 2, "unknown option"},
        {3, {"ledger", "stats", missing}, 2, "cannot open"},
        {5, {"ledger", "prune", "--older-than", "1d", missing}, 2, "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[6] = {0};
        for (int k = 0; k < cases[i].argc; k++)
            argv[k] = (char *)cases[i].argv[k];
        int rc = run_main(&out, &err, cases[i].argc, argv[0], argv[1], argv[2], argv[3], argv[4]);
        if (rc != cases[i].code || !strstr(err, cases[i].want))
            fail_msg("case %zu: exit %d, stderr: %s", i, rc, err);
        free(out);
        free(err);
    }
    /* stats never creates a file. */
    assert_int_equal(access(missing, F_OK), -1);
    assert_int_equal(run_main(&out, &err, 2, "ledger", "--help"), 0);
    assert_non_null(strstr(out, "prune --older-than"));
    free(out);
    free(err);
    /* Non-ledgers are refused by the subcommands too. */
    const char *f = testdir_path("notes.txt");
    write_file(f, "hello, this is not a database at all......................................"
                  "..........................................................", 130);
    assert_int_equal(run_main(&out, &err, 3, "ledger", "stats", f), 2);
    assert_non_null(strstr(err, "not an SQLite database"));
    free(out);
    free(err);
}

/* ---- threads and throughput ----------------------------------------------------------- */

typedef struct {
    ledger *l;
    int n;
    int64_t now;
    int failures;
    long hits;
} thread_arg;

static void *reader_thread(void *p)
{
    thread_arg *a = p;
    char id[32], err[256];
    for (int i = 0; i < a->n; i++) {
        unsigned r;
        int64_t at[3];
        snprintf(id, sizeof id, "T-%d", i / 2);
        if (ledger_recent(a->l, id, strlen(id), RULES_ALL_CHANNELS, a->now, DAY, &r, at, err,
                          sizeof err) != 0)
            a->failures++;
        if (r)
            a->hits++;
    }
    return NULL;
}

static void *writer_thread(void *p)
{
    thread_arg *a = p;
    char id[32], err[256];
    for (int i = 0; i < a->n; i++) {
        snprintf(id, sizeof id, "T-%d", i);
        if (ledger_record(a->l, id, strlen(id), RULES_SMS, a->now, i, err, sizeof err) != 0)
            a->failures++;
        if (i % 1000 == 0 && ledger_tick(a->l, err, sizeof err) != 0)
            a->failures++;
    }
    if (ledger_flush(a->l, err, sizeof err) != 0)
        a->failures++;
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *p = testdir_path("threads.db");
    fresh(p);
    ledger *l = open_ok(p, "job-threads");
    thread_arg r = {l, 20000, now_ms(), 0, 0}, w = {l, 10000, now_ms(), 0, 0};
    pthread_t tr, tw;
    assert_int_equal(pthread_create(&tr, NULL, reader_thread, &r), 0);
    assert_int_equal(pthread_create(&tw, NULL, writer_thread, &w), 0);
    pthread_join(tr, NULL);
    pthread_join(tw, NULL);
    assert_int_equal(r.failures + w.failures, 0);
    assert_int_equal(ledger_written(l), 10000);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 10000);
}

/* The job's pattern: a lookup before each row, a record after each confirmed send. */
static void test_throughput(void **state)
{
    (void)state;
    const char *p = testdir_path("bench.db");
    const char *env = getenv("OTTU_LEDGER_BENCH");
    int n = env ? atoi(env) : 20000;
    char id[32], err[256];
    struct timespec t0, t1;
    if (n <= 0)
        n = 20000;
    fresh(p);
    ledger *l = open_ok(p, "job-bench");
    int64_t now = now_ms();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        unsigned r;
        int64_t at[3];
        int len = snprintf(id, sizeof id, "ORD-%08d", i);
        if (ledger_recent(l, id, (size_t)len, RULES_SMS | RULES_EMAIL, now, DAY, &r, at, err,
                          sizeof err) != 0 || r != 0)
            fail_msg("recent %d: %s", i, err);
        if (ledger_record(l, id, (size_t)len, RULES_SMS | RULES_EMAIL, now + i, i + 1, err,
                          sizeof err) != 0)
            fail_msg("record %d: %s", i, err);
    }
    flush_ok(l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("# ledger: %d rows (recent + record of 2 channels) in %.3f s = %.0f rows/s\n",
                  n, s, n / s);
    /* A second pass: every lookup is a hit now. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        unsigned r;
        int64_t at[3];
        int len = snprintf(id, sizeof id, "ORD-%08d", i);
        if (ledger_recent(l, id, (size_t)len, RULES_ALL_CHANNELS, now + n, DAY, &r, at, err,
                          sizeof err) != 0 || r != (RULES_SMS | RULES_EMAIL))
            fail_msg("recent hit %d", i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("# ledger: %d lookups that hit in %.3f s = %.0f/s\n", n, s, n / s);
    ledger_close(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 2 * (int64_t)n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_then_recent),
        cmocka_unit_test(test_channel_level),
        cmocka_unit_test(test_cooldown_zero),
        cmocka_unit_test(test_uncommitted_visible),
        cmocka_unit_test(test_batch_commits),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_two_handles_sequential),
        cmocka_unit_test(test_two_handles_interleaved),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_concurrent_create),
        cmocka_unit_test(test_corrupt_file),
        cmocka_unit_test(test_foreign_and_newer),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_stats_prune),
        cmocka_unit_test(test_main_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests_name("ledger", tests, group_setup, group_teardown);
}
