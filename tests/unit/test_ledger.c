/* test_ledger — unit tests of the ledger: claims and settlements, schema v1 migration, sharing a file between processes, budget, errors (disk full), stats/prune, speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <libpq-fe.h>
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
#include <sys/mount.h>
#include <sys/resource.h>

/* With OTTU_TEST_PG set (tests/integration/test_pg.sh), the tests of the shared
 * semantics run against that PostgreSQL server instead of an SQLite file. */
static const char *pg_uri;
#define SPEC(name) (pg_uri ? pg_uri : spec_path(name))

/* A test's ledger path, in buffers of its own (testdir_path's four rotate quickly). */
static const char *spec_path(const char *name)
{
    static char buf[8][320];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s", testdir_path(name));
    return p;
}

static PGconn *pg_admin(void)
{
    PGconn *c = PQconnectdb(pg_uri);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", pg_uri, PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning; SET search_path = ottu_resend"));
    return c;
}

/* Removes what an earlier run may have left at path (or the whole PostgreSQL ledger). */
static void fresh(const char *path)
{
    char b[300];
    if (strncmp(path, "postgres", 8) == 0) {
        PGconn *c = pg_admin();
        PGresult *r = PQexec(c, "DROP SCHEMA IF EXISTS ottu_resend CASCADE");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("drop schema: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
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

static ledger *open_mode_ok(const char *path, const char *job, ledger_mode mode)
{
    char err[512] = "";
    ledger *l = ledger_open(path, job, mode, err, sizeof err);
    if (!l)
        fail_msg("ledger_open(%s): %s", path, err);
    return l;
}

static ledger *open_ok(const char *path, const char *job)
{
    return open_mode_ok(path, job, LEDGER_READWRITE);
}

/* Claims one row; returns the granted channels, item filled for the details. */
static unsigned claim1(ledger *l, ledger_claim_item *it, const char *id, unsigned ch, long row, int64_t now,
                       int64_t cool)
{
    char err[512] = "";
    memset(it, 0, sizeof *it);
    it->id = id;
    it->idlen = strlen(id);
    it->channels = ch;
    it->row = row;
    if (ledger_claim(l, it, 1, now, cool, err, sizeof err) != 0)
        fail_msg("ledger_claim: %s", err);
    return it->granted;
}

static void settle_ok(ledger *l, const char *id, long row, unsigned sent, unsigned maybe, int64_t at)
{
    char err[512] = "";
    if (ledger_settle(l, id, strlen(id), row, RULES_ALL_CHANNELS, sent, maybe, at, err, sizeof err) != 0)
        fail_msg("ledger_settle: %s", err);
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
    if (strncmp(path, "postgres", 8) == 0) {
        PGconn *c = pg_admin();
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        PQfinish(c);
        return v;
    }
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

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* ---- claims ------------------------------------------------------------------------- */

static void test_claim_blocks_other_jobs(void **state)
{
    (void)state;
    const char *p = SPEC("claims.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "job-a"), *b = open_ok(p, "job-b");
    assert_int_equal(claim1(a, &it, "ORD-1", RULES_SMS | RULES_EMAIL, 1, now, DAY), RULES_SMS | RULES_EMAIL);
    assert_int_equal(claim1(a, &it, "ORD-2", RULES_WHATSAPP, 2, now, DAY), RULES_WHATSAPP);
    /* Another job: blocked by the open claims, told by whom and when. */
    assert_int_equal(claim1(b, &it, "ORD-1", RULES_ALL_CHANNELS, 7, now + 10, DAY), RULES_WHATSAPP);
    assert_int_equal(it.blocked_kind[0], LEDGER_CLAIMED);
    assert_int_equal(it.blocked_at_ms[0], now);
    assert_string_equal(it.blocked_job[0], "job-a");
    assert_int_equal(it.blocked_kind[1], LEDGER_CLAIMED);
    assert_int_equal(it.blocked_kind[2], LEDGER_FREE);
    /* a settles: sms sent, email maybe, ORD-2 released. */
    settle_ok(a, "ORD-1", 1, RULES_SMS, RULES_EMAIL, now + 100);
    settle_ok(a, "ORD-2", 2, 0, 0, now + 100);
    flush_ok(a);
    assert_int_equal(claim1(b, &it, "ORD-1", RULES_SMS | RULES_EMAIL, 8, now + 200, DAY), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_int_equal(it.blocked_at_ms[0], now + 100);
    assert_int_equal(it.blocked_kind[1], LEDGER_MAYBE);
    assert_string_equal(it.blocked_job[1], "job-a");
    assert_int_equal(claim1(b, &it, "ORD-2", RULES_WHATSAPP, 9, now + 200, DAY), RULES_WHATSAPP);
    /* Strictly within the cooldown: a send exactly one cooldown ago no longer counts. */
    assert_int_equal(claim1(b, &it, "ORD-1", RULES_SMS, 10, now + 100 + DAY - 1, DAY), 0);
    assert_int_equal(claim1(b, &it, "ORD-1", RULES_SMS, 10, now + 100 + DAY, DAY), RULES_SMS);
    assert_int_equal(ledger_written(a), 2);
    assert_int_equal(ledger_close(a), 0);
    assert_int_equal(ledger_close(b), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'sent'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'maybe'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'released'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = 'ORD-1'"), 2);
}

/* A settlement releases the channels the row claimed and did not send, and looks at no
 * other: a channel the caller does not name as claimed keeps its claim. */
static void test_settle_releases_claimed_only(void **state)
{
    (void)state;
    const char *p = SPEC("release-mask.db");
    int64_t now = now_ms();
    char err[512] = "";
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "job-a"), *b = open_ok(p, "job-b");
    assert_int_equal(claim1(a, &it, "ORD-1", RULES_SMS | RULES_EMAIL, 1, now, DAY), RULES_SMS | RULES_EMAIL);
    assert_int_equal(claim1(a, &it, "ORD-2", RULES_SMS | RULES_EMAIL, 2, now, DAY), RULES_SMS | RULES_EMAIL);
    /* ORD-1: sms sent, email claimed and not sent: released. */
    assert_int_equal(ledger_settle(a, "ORD-1", 5, 1, RULES_SMS | RULES_EMAIL, RULES_SMS, 0, now + 100, err, sizeof err), 0);
    /* ORD-2: only sms named as claimed, nothing sent: sms released, email left claimed. */
    assert_int_equal(ledger_settle(a, "ORD-2", 5, 2, RULES_SMS, 0, 0, now + 100, err, sizeof err), 0);
    flush_ok(a);
    assert_int_equal(claim1(b, &it, "ORD-1", RULES_SMS | RULES_EMAIL, 7, now + 200, DAY), RULES_EMAIL);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_int_equal(claim1(b, &it, "ORD-2", RULES_SMS | RULES_EMAIL, 8, now + 200, DAY), RULES_SMS);
    assert_int_equal(it.blocked_kind[1], LEDGER_CLAIMED);
    assert_string_equal(it.blocked_job[1], "job-a");
    assert_int_equal(ledger_close(a), 0);
    assert_int_equal(ledger_close(b), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'released'"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'claimed' AND row_no = 2"), 1);
}

static void test_claim_same_job(void **state)
{
    (void)state;
    const char *p = SPEC("same.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "job-a");
    assert_int_equal(claim1(a, &it, "X", RULES_SMS, 1, now, DAY), RULES_SMS);
    ledger_close(a);
    /* The same job again (--resume): its own open claim on the row is taken over ... */
    a = open_ok(p, "job-a");
    assert_int_equal(claim1(a, &it, "X", RULES_SMS, 1, now + 5, DAY), RULES_SMS);
    /* ... but another row of the same job with the same identifier and channel is not. */
    assert_int_equal(claim1(a, &it, "X", RULES_SMS, 2, now + 6, DAY), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_CLAIMED);
    assert_string_equal(it.blocked_job[0], "");
    /* A row this job sent is never granted again, a maybe-sent one only with resend_own. */
    settle_ok(a, "X", 1, RULES_SMS, 0, now + 10);
    assert_int_equal(claim1(a, &it, "X", RULES_SMS, 1, now + 20, DAY), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_int_equal(claim1(a, &it, "Y", RULES_EMAIL, 3, now, DAY), RULES_EMAIL);
    settle_ok(a, "Y", 3, 0, RULES_EMAIL, now + 10);
    assert_int_equal(claim1(a, &it, "Y", RULES_EMAIL, 3, now + 20, DAY), 0);
    assert_int_equal(it.blocked_kind[1], LEDGER_MAYBE);
    memset(&it, 0, sizeof it);
    it.id = "Y";
    it.idlen = 1;
    it.channels = RULES_EMAIL;
    it.row = 3;
    it.resend_own = 1;
    char err[256];
    assert_int_equal(ledger_claim(a, &it, 1, now + 30, DAY, err, sizeof err), 0);
    assert_int_equal(it.granted, RULES_EMAIL);
    /* ... and not for another job's maybe-send. */
    ledger *b = open_ok(p, "job-b");
    it.row = 3;
    settle_ok(a, "Y", 3, 0, RULES_EMAIL, now + 40);
    flush_ok(a);
    assert_int_equal(ledger_claim(b, &it, 1, now + 50, DAY, err, sizeof err), 0);
    assert_int_equal(it.granted, 0);
    assert_int_equal(it.blocked_kind[1], LEDGER_MAYBE);
    ledger_close(b);
    ledger_close(a);
}

/* Identifiers with the characters that need quoting somewhere (SQL strings, PostgreSQL's
 * array literals): each one is its own key, claimed, blocked and settled exactly. */
static void test_claim_odd_identifiers(void **state)
{
    (void)state;
    static const char *const ids[] = {"q\"uote", "back\\slash", "comma,{brace} space", "'single'", "NULL",
                                      "\\\"", "\xd8\xaa\xd8\xb3\xd8\xaa-1", "trailing\\"};
    enum { N = sizeof ids / sizeof ids[0] };
    const char *p = SPEC("odd.db");
    int64_t now = now_ms();
    ledger_claim_item it[N];
    char err[256];
    fresh(p);
    ledger *a = open_ok(p, "job-a"), *b = open_ok(p, "job-b");
    memset(it, 0, sizeof it);
    for (int i = 0; i < N; i++) {
        it[i].id = ids[i];
        it[i].idlen = strlen(ids[i]);
        it[i].channels = RULES_SMS | RULES_EMAIL;
        it[i].row = i + 1;
    }
    assert_int_equal(ledger_claim(a, it, N, now, DAY, err, sizeof err), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(it[i].granted, RULES_SMS | RULES_EMAIL);
    for (int i = 0; i < N; i++)
        settle_ok(a, ids[i], i + 1, RULES_SMS, i % 2 ? RULES_EMAIL : 0, now + 10);
    flush_ok(a);
    /* Another job, one batch: every key blocked as a's, never confused with another. */
    assert_int_equal(ledger_claim(b, it, N, now + 20, DAY, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(it[i].granted, i % 2 ? 0 : RULES_EMAIL);
        assert_int_equal(it[i].blocked_kind[0], LEDGER_SENT);
        assert_string_equal(it[i].blocked_job[0], "job-a");
    }
    /* A near-miss of each key is free. */
    for (int i = 0; i < N; i++) {
        char near[64];
        ledger_claim_item one;
        snprintf(near, sizeof near, "%s.", ids[i]);
        assert_int_equal(claim1(b, &one, near, RULES_SMS, 100 + i, now + 30, DAY), RULES_SMS);
    }
    assert_int_equal(ledger_close(a), 0);
    assert_int_equal(ledger_close(b), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = 'q\"uote'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = 'back\\slash'"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = 'comma,{brace} space'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = '''single'''"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log WHERE identifier = 'trailing\\'"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log"), N + N / 2);
}

static void test_cooldown_zero(void **state)
{
    (void)state;
    const char *p = SPEC("zero.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "a"), *b = open_ok(p, "b");
    assert_int_equal(claim1(a, &it, "Z", RULES_ALL_CHANNELS, 1, now, 0), RULES_ALL_CHANNELS);
    settle_ok(a, "Z", 1, RULES_SMS, 0, now);
    flush_ok(a);
    assert_int_equal(claim1(b, &it, "Z", RULES_ALL_CHANNELS, 1, now, 0), RULES_ALL_CHANNELS);
    /* --cooldown 0 forgets the history, not a claim in flight: b is running and its claim
     * is its own until settled. */
    assert_int_equal(claim1(a, &it, "Z", RULES_SMS, 1, now + 1, 0), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_CLAIMED);
    assert_string_equal(it.blocked_job[0], "b");
    settle_ok(b, "Z", 1, 0, 0, now + 2);
    flush_ok(b);
    assert_int_equal(claim1(a, &it, "Z", RULES_SMS, 1, now + 3, 0), RULES_SMS);
    ledger_close(a);
    ledger_close(b);
    /* Still recorded; a's send keeps its state. */
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 6);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'sent'"), 1);
}

/* The cooldown counts from the newest send, whatever order the sends were settled in, and
 * a maybe-sent outcome settled later never turns a send's record back into maybe. */
static void test_newest_send_counts(void **state)
{
    (void)state;
    const char *p = SPEC("newest.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "a"), *b = open_ok(p, "b"), *c = open_ok(p, "c");
    assert_int_equal(claim1(a, &it, "N", RULES_SMS, 1, now, 0), RULES_SMS);
    settle_ok(a, "N", 1, RULES_SMS, 0, now);
    flush_ok(a);
    /* b (--cooldown 0) sends too; its send is settled after a's with an older time. */
    assert_int_equal(claim1(b, &it, "N", RULES_SMS, 1, now, 0), RULES_SMS);
    settle_ok(b, "N", 1, RULES_SMS, 0, now - 10000);
    flush_ok(b);
    /* A 5 s cooldown: a's send (now) blocks; b's alone (10 s before) would not. */
    assert_int_equal(claim1(c, &it, "N", RULES_SMS, 1, now + 1, 5000), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_true(it.blocked_at_ms[0] == now);
    settle_ok(a, "N", 1, 0, RULES_SMS, now + 2);
    flush_ok(a);
    ledger_close(a);
    ledger_close(b);
    ledger_close(c);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'sent'"), 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'maybe'"), 0);
}

/* Repeats inside one batch. A claim batch holding one (identifier, channel) twice grants
 * the first row only (with no cooldown, both: as separate claims would). A settlement batch
 * holding one key twice records each row, and what stands is what settling them one by one
 * would leave: the newest send, even when it came first in the batch; a maybe-send of a row
 * never over its send. */
static void test_batch_repeats(void **state)
{
    (void)state;
    const char *p = SPEC("repeats.db");
    const char *ids[4] = {"R", "S", "R", "R"};
    const unsigned ch[4] = {RULES_SMS, RULES_SMS, RULES_SMS | RULES_EMAIL, RULES_EMAIL};
    int64_t now = now_ms();
    char err[512] = "";
    ledger_claim_item it[4], one;
    for (int zero = 0; zero < 2; zero++) {
        fresh(p);
        ledger *a = open_ok(p, "a");
        memset(it, 0, sizeof it);
        for (int i = 0; i < 4; i++) {
            it[i].id = ids[i];
            it[i].idlen = 1;
            it[i].channels = ch[i];
            it[i].row = i + 1;
        }
        if (ledger_claim(a, it, 4, now, zero ? 0 : DAY, err, sizeof err) != 0)
            fail_msg("ledger_claim: %s", err);
        assert_int_equal(it[0].granted, RULES_SMS);
        assert_int_equal(it[1].granted, RULES_SMS);
        assert_int_equal(it[2].granted, zero ? RULES_SMS | RULES_EMAIL : RULES_EMAIL);
        assert_int_equal(it[3].granted, zero ? RULES_EMAIL : 0);
        if (!zero) {
            assert_int_equal(it[2].blocked_kind[0], LEDGER_CLAIMED);
            assert_int_equal(it[3].blocked_kind[1], LEDGER_CLAIMED);
            assert_string_equal(it[3].blocked_job[1], "");
        }
        ledger_close(a);
    }
    /* R's sms: row 3 sent at now+4, settled before row 1 sent at now+1 and then maybe-sent
     * at now+2 (the send is not taken back). R's email: row 3 sent at now+4, row 4
     * maybe-sent at now+5. */
    ledger *a = open_ok(p, "a");
    settle_ok(a, "R", 3, RULES_SMS | RULES_EMAIL, 0, now + 4);
    assert_int_equal(ledger_settle(a, "R", 1, 1, RULES_SMS, RULES_SMS, 0, now + 1, err, sizeof err), 0);
    assert_int_equal(ledger_settle(a, "R", 1, 1, RULES_SMS, 0, RULES_SMS, now + 2, err, sizeof err), 0);
    assert_int_equal(ledger_settle(a, "R", 1, 4, RULES_EMAIL, 0, RULES_EMAIL, now + 5, err, sizeof err), 0);
    flush_ok(a);
    ledger_close(a);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE identifier = 'R' AND state = 'sent'"), 3);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE identifier = 'R' AND state = 'maybe'"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'claimed'"), 1); /* S, row 2 */
    /* With a 10 s cooldown, another job meets R's newest sms send (row 3's) and R's newest
     * email outcome (row 4's maybe-send). */
    ledger *b = open_ok(p, "b");
    assert_int_equal(claim1(b, &one, "R", RULES_SMS | RULES_EMAIL, 1, now + 6, 10000), 0);
    assert_int_equal(one.blocked_kind[0], LEDGER_SENT);
    assert_true(one.blocked_at_ms[0] == now + 4);
    assert_int_equal(one.blocked_kind[1], LEDGER_MAYBE);
    assert_true(one.blocked_at_ms[1] == now + 5);
    ledger_close(b);
}

/* Settlements wait for LEDGER_BATCH_RECORDS or LEDGER_BATCH_MS; a claim commits them too. */
static void test_settle_batching(void **state)
{
    (void)state;
    const char *p = SPEC("batch.db");
    int64_t now = now_ms();
    char id[32], err[256];
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "a");
    for (int i = 0; i < LEDGER_BATCH_RECORDS - 1; i++) {
        snprintf(id, sizeof id, "B-%d", i);
        settle_ok(a, id, i, RULES_SMS, 0, now);
    }
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 0);
    settle_ok(a, "B-last", 999, RULES_SMS, 0, now);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), LEDGER_BATCH_RECORDS);
    settle_ok(a, "T-1", 1000, RULES_EMAIL, 0, now);
    assert_int_equal(ledger_tick(a, err, sizeof err), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), LEDGER_BATCH_RECORDS);
    usleep((LEDGER_BATCH_MS + 20) * 1000);
    assert_int_equal(ledger_tick(a, err, sizeof err), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), LEDGER_BATCH_RECORDS + 1);
    settle_ok(a, "T-2", 1001, RULES_EMAIL, 0, now);
    assert_int_equal(claim1(a, &it, "T-3", RULES_SMS, 1002, now, DAY), RULES_SMS);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), LEDGER_BATCH_RECORDS + 3);
    settle_ok(a, "T-4", 1003, RULES_EMAIL, 0, now);
    assert_int_equal(ledger_close(a), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), LEDGER_BATCH_RECORDS + 4);
}

static void test_readonly(void **state)
{
    (void)state;
    const char *p = testdir_path("ro/sub/ledger.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    char err[256];
    /* Missing: an empty ledger, nothing created. */
    ledger *r = open_mode_ok(p, "dry", LEDGER_READONLY);
    assert_int_equal(claim1(r, &it, "A", RULES_ALL_CHANNELS, 1, now, DAY), RULES_ALL_CHANNELS);
    settle_ok(r, "A", 1, RULES_SMS, 0, now);
    assert_int_equal(ledger_budget_take(r, "scope", 10, 5, now, err, sizeof err), 10);
    assert_int_equal(ledger_budget_used(r, "scope", now, err, sizeof err), 0);
    assert_int_equal(ledger_close(r), 0);
    assert_int_equal(access(testdir_path("ro"), F_OK), -1);
    /* An existing one: consulted, never written. */
    p = testdir_path("ro.db");
    fresh(p);
    ledger *a = open_ok(p, "a");
    assert_int_equal(claim1(a, &it, "A", RULES_SMS, 1, now, DAY), RULES_SMS);
    settle_ok(a, "A", 1, RULES_SMS, 0, now);
    assert_int_equal(ledger_close(a), 0);
    chmod(p, 0444);
    r = open_mode_ok(p, "dry", LEDGER_READONLY);
    assert_int_equal(claim1(r, &it, "A", RULES_SMS | RULES_EMAIL, 1, now + 1, DAY), RULES_EMAIL);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_string_equal(it.blocked_job[0], "a");
    assert_int_equal(ledger_close(r), 0);
    chmod(p, 0644);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 1);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), 1);
}

/* The version 1 schema as ottu-resend 0.1 wrote it. */
static const char v1_sql[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, started_at_ms INTEGER NOT NULL,"
    "  started_at TEXT NOT NULL);"
    "CREATE TABLE sends (id INTEGER PRIMARY KEY, identifier TEXT NOT NULL, channel TEXT NOT NULL CHECK (channel IN"
    "  ('sms', 'email', 'whatsapp')), sent_at_ms INTEGER NOT NULL, sent_at TEXT NOT NULL,"
    "  job_id INTEGER NOT NULL REFERENCES jobs (id), row_no INTEGER NOT NULL, UNIQUE (job_id, row_no, channel));"
    "CREATE INDEX sends_lookup ON sends (identifier, channel, sent_at_ms);"
    "CREATE INDEX sends_time ON sends (sent_at_ms);"
    "CREATE VIEW send_log AS SELECT s.sent_at, s.channel, s.identifier, j.name AS job, s.row_no, s.sent_at_ms"
    "  FROM sends s LEFT JOIN jobs j ON j.id = s.job_id;"
    "INSERT INTO meta VALUES ('application', 'ottu-resend ledger'), ('schema_version', '1'),"
    "  ('created_at', '2026-11-01T00:00:00.000Z');"
    "PRAGMA application_id = 1333023308; PRAGMA user_version = 1;";

static void test_migrate_v1(void **state)
{
    (void)state;
    const char *p = testdir_path("v1.db");
    int64_t now = now_ms();
    char sql[1024];
    ledger_claim_item it;
    fresh(p);
    sql_exec(p, v1_sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO jobs VALUES (1, 'old-job', %lld, 'x');"
             "INSERT INTO sends (identifier, channel, sent_at_ms, sent_at, job_id, row_no) VALUES"
             " ('V-1', 'sms', %lld, 'x', 1, 1), ('V-1', 'email', %lld, 'x', 1, 1), ('V-2', 'sms', %lld, 'x', 1, 2);",
             (long long)now, (long long)(now - HOUR), (long long)(now - HOUR), (long long)(now - 3 * DAY));
    sql_exec(p, sql);
    /* Read-only: read as it is, left as it is. */
    ledger *r = open_mode_ok(p, "dry", LEDGER_READONLY);
    assert_int_equal(claim1(r, &it, "V-1", RULES_ALL_CHANNELS, 1, now, DAY), RULES_WHATSAPP);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_string_equal(it.blocked_job[0], "old-job");
    assert_int_equal(claim1(r, &it, "V-2", RULES_SMS, 1, now, DAY), RULES_SMS);
    ledger_close(r);
    assert_int_equal(sql_int(p, "PRAGMA user_version"), 1);
    /* Read-write: migrated on open. */
    ledger *a = open_ok(p, "new-job");
    assert_int_equal(sql_int(p, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'sends' AND type = 'table'"), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM sends"), 3); /* the compatibility view */
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE state = 'sent'"), 3);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM send_log"), 3);
    char *v = sql_text(p, "SELECT value FROM meta WHERE key = 'schema_version'");
    assert_string_equal(v, "3");
    free(v);
    assert_int_equal(claim1(a, &it, "V-1", RULES_ALL_CHANNELS, 1, now, DAY), RULES_WHATSAPP);
    assert_string_equal(it.blocked_job[1], "old-job");
    assert_int_equal(claim1(a, &it, "V-2", RULES_SMS, 2, now, DAY), RULES_SMS);
    assert_int_equal(ledger_close(a), 0);
    /* Opening again does nothing more. */
    ledger_close(open_ok(p, "new-job"));
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 5);
}

static void test_default_path_modes(void **state)
{
    (void)state;
    char p[400];
    struct stat sb;
    mode_t old = umask(0);
    snprintf(p, sizeof p, "%s/state/ottu-resend/ledger.db", tmpdir);
    ledger *l = open_ok(p, "job");
    umask(old);
    ledger_close(l);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(testdir_path("state/ottu-resend"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(testdir_path("state"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
}

/* ---- several processes on one file ---------------------------------------------------- */

enum { KIDS = 4, IDS = 500, CLAIM_BATCH = 37 };

/* Each child claims all IDS identifiers (sms and email) in batches and writes one line per
 * granted pair to its own file. */
static void child_claims(const char *path, int k, int gofd)
{
    char err[512], job[32], out[400], c;
    static char ids[IDS][16];
    ledger_claim_item items[CLAIM_BATCH];
    if (read(gofd, &c, 1) != 0)
        _exit(6);
    snprintf(job, sizeof job, "job-%d", k);
    ledger *l = ledger_open(path, job, LEDGER_READWRITE, err, sizeof err);
    if (!l) {
        fprintf(stderr, "# child %d: %s\n", k, err);
        _exit(3);
    }
    snprintf(out, sizeof out, "%s", testdir_path("grants"));
    snprintf(out + strlen(out), sizeof out - strlen(out), ".%d", k);
    FILE *f = fopen(out, "w");
    if (!f)
        _exit(5);
    for (int i = 0; i < IDS; i += CLAIM_BATCH) {
        int n = IDS - i < CLAIM_BATCH ? IDS - i : CLAIM_BATCH;
        for (int j = 0; j < n; j++) {
            /* Children walk the identifiers in different orders, to meet in the middle. */
            int x = (k % 2) ? IDS - 1 - (i + j) : i + j;
            snprintf(ids[x], sizeof ids[x], "ID-%d", x);
            items[j] = (ledger_claim_item){.id = ids[x], .idlen = strlen(ids[x]), .channels = RULES_SMS | RULES_EMAIL,
                                           .row = x + 1};
        }
        if (ledger_claim(l, items, (size_t)n, now_ms(), DAY, err, sizeof err) != 0) {
            fprintf(stderr, "# child %d: %s\n", k, err);
            _exit(4);
        }
        for (int j = 0; j < n; j++) {
            if (items[j].granted & RULES_SMS)
                fprintf(f, "%s sms\n", items[j].id);
            if (items[j].granted & RULES_EMAIL)
                fprintf(f, "%s email\n", items[j].id);
            if (j % 3 == 0) /* some sent, some released: a released pair is free again */
                ledger_settle(l, items[j].id, items[j].idlen, items[j].row, items[j].granted, items[j].granted, 0, now_ms(), err,
                              sizeof err);
        }
    }
    fclose(f);
    _exit(ledger_close(l) == 0 ? 0 : 7);
}

static void start_kids(pid_t *kids, int n, void (*fn)(const char *, int, int), const char *path)
{
    int go[2];
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    for (int k = 0; k < n; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            close(go[1]);
            fn(path, k, go[0]);
        }
    }
    close(go[0]);
    close(go[1]); /* all start at once */
    for (int k = 0; k < n; k++) {
        int st = 0;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static void test_fork_claims(void **state)
{
    (void)state;
    const char *p = SPEC("fork.db");
    pid_t kids[KIDS];
    static int count[IDS][2];
    char line[64], name[400];
    int total = 0;
    fresh(p);
    memset(count, 0, sizeof count);
    start_kids(kids, KIDS, child_claims, p);
    for (int k = 0; k < KIDS; k++) {
        snprintf(name, sizeof name, "%s.%d", testdir_path("grants"), k);
        FILE *f = fopen(name, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            int x;
            char ch[16];
            assert_int_equal(sscanf(line, "ID-%d %15s", &x, ch), 2);
            count[x][strcmp(ch, "sms") == 0 ? 0 : 1]++;
            total++;
        }
        fclose(f);
    }
    for (int x = 0; x < IDS; x++)
        for (int c = 0; c < 2; c++)
            if (count[x][c] != 1)
                fail_msg("ID-%d %s granted %d times", x, c ? "email" : "sms", count[x][c]);
    assert_int_equal(total, IDS * 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), IDS * 2);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), KIDS);
}

enum { BUDGET_LIMIT = 1000, BUDGET_BLOCK = 7 };

static void child_budget(const char *path, int k, int gofd)
{
    char err[512], c;
    long total = 0, n;
    if (read(gofd, &c, 1) != 0)
        _exit(6);
    ledger *l = ledger_open(path, "budget", LEDGER_READWRITE, err, sizeof err);
    if (!l)
        _exit(3);
    int returned = 0;
    while ((n = ledger_budget_take(l, "scope-1", BUDGET_BLOCK, BUDGET_LIMIT, now_ms(), err, sizeof err)) > 0) {
        total += n;
        /* One child gives a little back now and then, as a job does with an unused block. */
        if (k == 0 && returned < 20 && ledger_budget_return(l, "scope-1", 1, now_ms(), err, sizeof err) == 0) {
            total -= 1;
            returned++;
        }
    }
    if (n < 0) {
        fprintf(stderr, "# child %d: %s\n", k, err);
        _exit(4);
    }
    ledger_close(l);
    char name[400];
    snprintf(name, sizeof name, "%s.%d", testdir_path("took"), k);
    FILE *f = fopen(name, "w");
    fprintf(f, "%ld\n", total);
    fclose(f);
    _exit(0);
}

static void test_budget(void **state)
{
    (void)state;
    const char *p = SPEC("budget.db");
    char err[256], name[400];
    int64_t now = now_ms();
    pid_t kids[KIDS];
    long sum = 0;
    fresh(p);
    ledger *l = open_ok(p, "b");
    assert_int_equal(ledger_budget_used(l, "s", now, err, sizeof err), 0);
    assert_int_equal(ledger_budget_take(l, "s", 40, 100, now, err, sizeof err), 40);
    assert_int_equal(ledger_budget_take(l, "s", 80, 100, now, err, sizeof err), 60);
    assert_int_equal(ledger_budget_take(l, "s", 1, 100, now, err, sizeof err), 0);
    assert_int_equal(ledger_budget_return(l, "s", 5, now, err, sizeof err), 0);
    assert_int_equal(ledger_budget_used(l, "s", now, err, sizeof err), 95);
    /* Another UTC day, another scope: their own budgets. */
    assert_int_equal(ledger_budget_take(l, "s", 10, 100, now + DAY, err, sizeof err), 10);
    assert_int_equal(ledger_budget_take(l, "t", 10, 100, now, err, sizeof err), 10);
    /* No limit: taken and counted. */
    assert_int_equal(ledger_budget_take(l, "u", 10, 0, now, err, sizeof err), 10);
    assert_int_equal(ledger_budget_used(l, "u", now, err, sizeof err), 10);
    ledger_close(l);
    start_kids(kids, KIDS, child_budget, p);
    for (int k = 0; k < KIDS; k++) {
        snprintf(name, sizeof name, "%s.%d", testdir_path("took"), k);
        FILE *f = fopen(name, "r");
        long n = 0;
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%ld", &n), 1);
        fclose(f);
        sum += n;
    }
    assert_int_equal(sum, BUDGET_LIMIT);
    l = open_ok(p, "b");
    assert_int_equal(ledger_budget_used(l, "scope-1", now_ms(), err, sizeof err), BUDGET_LIMIT);
    ledger_close(l);
}

/* ---- storage errors ------------------------------------------------------------------ */

/* Fills the file system of dir; returns the filler's path. */
static const char *fill_fs(const char *dir)
{
    static char filler[400];
    static char block[65536];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(fd >= 0);
    while (write(fd, block, sizeof block) > 0)
        ;
    while (write(fd, block, 512) > 0)
        ;
    close(fd);
    return filler;
}

static void test_disk_full(void **state)
{
    (void)state;
    char dir[300], p[400], err[512], id[64];
    int64_t now = now_ms();
    int failed = 0;
    if (geteuid() != 0) {
        print_message("ok - # SKIP disk-full ledger test needs root (mount -t tmpfs)\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0) {
        print_message("ok - # SKIP disk-full ledger test: mount tmpfs: %s\n", strerror(errno));
        skip();
    }
    snprintf(p, sizeof p, "%s/ledger.db", dir);
    ledger *l = open_ok(p, "job");
    const char *filler = fill_fs(dir);
    /* Settlements fail once a commit is due, and stay buffered. */
    for (int i = 0; i < 20000 && !failed; i++) {
        snprintf(id, sizeof id, "FULL-%06d-padding-padding-padding-padding", i);
        if (ledger_settle(l, id, strlen(id), i, RULES_ALL_CHANNELS, RULES_ALL_CHANNELS, 0, now, err, sizeof err) != 0)
            failed = i + 1;
    }
    print_message("# after %d settlements: %s\n", failed, err);
    assert_true(failed > 0);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "full"));
    /* A claim cannot be made either: nothing may be sent. */
    ledger_claim_item it = {.id = "C", .idlen = 1, .channels = RULES_SMS, .row = 1};
    assert_int_equal(ledger_claim(l, &it, 1, now, DAY, err, sizeof err), -1);
    assert_int_equal(it.granted, 0);
    /* Outcomes settled meanwhile wait behind the ones whose commit failed. */
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "AFTER-%d", i);
        settle_ok(l, id, 30000 + i, RULES_ALL_CHANNELS, 0, now);
    }
    /* Space again: the buffer is committed, nothing lost. */
    unlink(filler);
    flush_ok(l);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims WHERE identifier LIKE 'AFTER-%'"), 6);
    assert_int_equal(ledger_close(l), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), (int64_t)(failed + 2) * 3);
    /* close reports a final flush that fails. */
    l = open_ok(p, "job2");
    fill_fs(dir);
    settle_ok(l, "LAST", 1, RULES_SMS, 0, now);
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "MORE-%06d-padding-padding-padding-padding", i);
        ledger_settle(l, id, strlen(id), i, RULES_ALL_CHANNELS, RULES_ALL_CHANNELS, 0, now, err, sizeof err);
    }
    assert_int_equal(ledger_close(l), -1);
    unlink(filler);
    assert_int_equal(umount(dir), 0);
}

/* ---- speed ----------------------------------------------------------------------------- */

static void test_claim_speed(void **state)
{
    (void)state;
    enum { BATCH = 256 };
    /* (the sanitizer tiers set OTTU_TEST_SMALL: the same path, a tenth of the rows) */
    const int ROWS = getenv("OTTU_TEST_SMALL") ? 10000 : 100000;
    const char *p = SPEC("speed.db");
    static char ids[BATCH][24];
    ledger_claim_item items[BATCH];
    char err[256];
    struct rusage r0, r1;
    int64_t now = now_ms(), t0 = clock_mono_ns();
    long granted = 0;
    fresh(p);
    ledger *l = open_ok(p, "speed");
    getrusage(RUSAGE_SELF, &r0);
    for (int i = 0; i < ROWS; i += BATCH) {
        int n = ROWS - i < BATCH ? ROWS - i : BATCH;
        for (int j = 0; j < n; j++) {
            snprintf(ids[j], sizeof ids[j], "ORDER-%08d", i + j);
            items[j] = (ledger_claim_item){.id = ids[j], .idlen = strlen(ids[j]), .channels = RULES_SMS, .row = i + j};
        }
        assert_int_equal(ledger_claim(l, items, (size_t)n, now, DAY, err, sizeof err), 0);
        for (int j = 0; j < n; j++) {
            granted += items[j].granted != 0;
            ledger_settle(l, ids[j], strlen(ids[j]), i + j, RULES_SMS, RULES_SMS, 0, now, err, sizeof err);
        }
    }
    assert_int_equal(ledger_close(l), 0);
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    double wall = (double)(clock_mono_ns() - t0) / 1e9;
    print_message("# ledger: %d rows claimed (batches of %d) and settled: %.3f s CPU, %.3f s wall\n", ROWS, BATCH,
                  cpu, wall);
    assert_int_equal(granted, ROWS);
    /* The time is reported, not asserted: speed is measured in make bench (a timed test
     * fails on a loaded machine or under a sanitizer, and proves nothing there). */
}

static void test_concurrent_create(void **state)
{
    (void)state;
    const char *p = testdir_path("create.db");
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
                    if (ledger_settle(l, job, strlen(job), i, RULES_SMS, RULES_SMS, 0, now_ms(), err,
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
        assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), KIDS * 500);
        assert_int_equal(sql_int(p, "SELECT count(*) FROM jobs"), KIDS);
        assert_int_equal(sql_int(p, "SELECT count(*) FROM meta"), 4);
        assert_int_equal(sql_int(p, "SELECT count(DISTINCT value) FROM meta WHERE key = 'ledger_id'"), 1);
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

    /* An empty file is not a ledger (a truncated one?): refused, never re-created. */
    p = testdir_path("empty.db");
    fresh(p);
    write_file(p, "", 0);
    expect_open_error(p, "empty (0 bytes)");
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    /* Nor is an SQLite database without tables. */
    p = testdir_path("emptydb.db");
    fresh(p);
    sql_exec(p, "PRAGMA user_version = 0; CREATE TABLE t (x); DROP TABLE t; VACUUM");
    expect_open_error(p, "not an ottu-resend ledger");
}

static void test_unwritable(void **state)
{
    (void)state;
    char dir[300];
    /* A directory where the file should be. */
    snprintf(dir, sizeof dir, "%s/adir", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    expect_open_error(dir, "cannot open");
    /* A regular file used as a directory. */
    const char *f = testdir_path("plain");
    write_file(f, "x", 1);
    expect_open_error(testdir_path("plain/ledger.db"), "cannot create");
    expect_open_error(testdir_path("plain/sub/ledger.db"), "cannot create the folder");
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
    const char *p0 = SPEC("stats.db");
    char p[256], *out, *err, day10[16], day2[16], today[16], iso[40], line[128];
    int64_t now = now_ms();
    ledger_claim_item it;
    snprintf(p, sizeof p, "%s", p0);
    fresh(p);
    ledger *l = open_ok(p, "job-old");
    settle_ok(l, "OLD-1", 1, RULES_SMS | RULES_EMAIL, 0, now - 10 * DAY);
    settle_ok(l, "OLD-2", 2, 0, RULES_WHATSAPP, now - 10 * DAY + 1);
    ledger_close(l);
    l = open_ok(p, "job-new");
    settle_ok(l, "MID-1", 1, RULES_EMAIL, 0, now - 2 * DAY);
    settle_ok(l, "NEW-1", 2, RULES_SMS | RULES_EMAIL | RULES_WHATSAPP, 0, now - 1000);
    assert_int_equal(claim1(l, &it, "OPEN-1", RULES_SMS, 3, now - 500, DAY), RULES_SMS);
    char e2[256];
    assert_int_equal(ledger_budget_take(l, "api.example:abcd", 42, 1000, now, e2, sizeof e2), 42);
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
    assert_non_null(strstr(out, "sent:        6\n"));
    assert_non_null(strstr(out, "maybe sent:  1\n"));
    assert_non_null(strstr(out, "open claims: 1\n"));
    assert_non_null(strstr(out, "identifiers: 4\n"));
    assert_non_null(strstr(out, "jobs:        2\n"));
    assert_non_null(strstr(out, "api.example:abcd"));
    assert_non_null(strstr(out, "42\n"));
    clock_format_iso(now - 10 * DAY, iso, sizeof iso);
    assert_non_null(strstr(out, iso));
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
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 8);
    assert_int_equal(run_main(&out, &err, 4, "ledger", "prune", "--older-than=7d", p), 0);
    print_message("# %s", out);
    assert_non_null(strstr(out, "pruned 3 records"));
    assert_non_null(strstr(out, "5 remain"));
    free(out);
    free(err);
    /* Shorter than the cooldown it would break (24h by default, or --cooldown): refused. */
    assert_int_equal(run_main(&out, &err, 5, "ledger", "prune", "--older-than", "1d", p, NULL), 0);
    assert_non_null(strstr(out, "pruned 1 records"));
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 5, "ledger", "prune", "--older-than", "1h", p, NULL), 2);
    assert_non_null(strstr(err, "shorter than the cooldown"));
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 7, "ledger", "prune", "--older-than", "1h", "--cooldown", "2h", p, NULL),
                     2);
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 7, "ledger", "prune", "--older-than", "1h", "--cooldown", "1h", p, NULL),
                     0);
    free(out);
    free(err);
    /* Pruning keeps the cooldown working for what is left. */
    l = open_ok(p, "job-after");
    assert_int_equal(claim1(l, &it, "NEW-1", RULES_ALL_CHANNELS, 1, now, DAY), 0);
    assert_int_equal(claim1(l, &it, "MID-1", RULES_ALL_CHANNELS, 2, now, 3 * DAY), RULES_ALL_CHANNELS);
    ledger_close(l);

    /* Prune everything, then stats of an empty ledger. */
    assert_int_equal(run_main(&out, &err, 6, "ledger", "prune", "--older-than", "0", "--force", p, NULL), 0);
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
        {3, {"ledger", "stats", missing}, 2, "No such file"},
        {5, {"ledger", "prune", "--older-than", "1d", missing}, 2, "No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[6] = {0};
        for (int k = 0; k < cases[i].argc; k++)
            argv[k] = (char *)cases[i].argv[k];
        int rc = run_main(&out, &err, cases[i].argc, argv[0], argv[1], argv[2], argv[3], argv[4]);
        if (rc != cases[i].code || !strcasestr(err, cases[i].want))
            fail_msg("case %zu: exit %d, stderr: %s", i, rc, err);
        free(out);
        free(err);
    }
    /* stats and prune never create a file. */
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

/* Claims, settlements, ticks and budget from several threads of one process at once. */
typedef struct {
    ledger *l;
    int which;
    int failures;
} thread_arg;

static void *worker(void *p)
{
    thread_arg *a = p;
    char err[256], id[32];
    ledger_claim_item it;
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "T%d-%d", a->which, i);
        if (a->which == 0) {
            it = (ledger_claim_item){.id = id, .idlen = strlen(id), .channels = RULES_SMS, .row = i};
            if (ledger_claim(a->l, &it, 1, now_ms(), DAY, err, sizeof err) != 0 || it.granted != RULES_SMS)
                a->failures++;
        } else if (a->which == 1) {
            if (ledger_settle(a->l, id, strlen(id), i, RULES_EMAIL, RULES_EMAIL, 0, now_ms(), err, sizeof err) != 0)
                a->failures++;
        } else if (a->which == 2) {
            if (ledger_tick(a->l, err, sizeof err) != 0)
                a->failures++;
        } else if (ledger_budget_take(a->l, "threads", 1, 0, now_ms(), err, sizeof err) != 1) {
            a->failures++;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *p = SPEC("threads.db");
    pthread_t th[4];
    thread_arg args[4];
    fresh(p);
    ledger *l = open_ok(p, "threads");
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){l, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(ledger_close(l), 0);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM claims"), 4000);
    assert_int_equal(sql_int(p, "SELECT used FROM budget WHERE scope = 'threads'"), 2000);
}

/* ---- PostgreSQL only ------------------------------------------------------------------ */

static void test_pg_password_refused(void **state)
{
    (void)state;
    char err[512] = "", uri[600];
    ledger *l = ledger_open("postgresql://ottu:s3cret-pw@127.0.0.1:1/db", "j", LEDGER_READWRITE, err, sizeof err);
    assert_null(l);
    print_message("# %s\n", err);
    assert_non_null(strstr(err, "PGPASSFILE"));
    assert_null(strstr(err, "s3cret-pw"));
    snprintf(uri, sizeof uri, "%s%spassword=s3cret-pw", pg_uri, strchr(pg_uri, '?') ? "&" : "?");
    assert_null(ledger_open(uri, "j", LEDGER_READWRITE, err, sizeof err));
    assert_null(strstr(err, "s3cret-pw"));
    assert_non_null(strstr(err, "PGPASSWORD"));
}

static void test_pg_unreachable(void **state)
{
    (void)state;
    char err[512] = "";
    /* Port 1 on loopback: nothing listens there. */
    assert_null(ledger_open("postgresql://127.0.0.1:1/db?connect_timeout=2", "j", LEDGER_READWRITE, err, sizeof err));
    print_message("# %s\n", err);
    assert_non_null(strstr(err, "cannot connect"));
    assert_non_null(strstr(err, "127.0.0.1:1"));
}

/* The connection dropped mid-job: the call that finds out fails (fail-stop), the next
 * one reconnects; nothing granted twice. */
static void test_pg_reconnect(void **state)
{
    (void)state;
    ledger_claim_item it;
    char err[512] = "";
    int64_t now = now_ms();
    fresh(pg_uri);
    ledger *a = open_ok(pg_uri, "reconnect");
    assert_int_equal(claim1(a, &it, "R-1", RULES_SMS, 1, now, DAY), RULES_SMS);
    PGconn *c = pg_admin();
    PQclear(PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                      "'ottu-resend'"));
    PQfinish(c);
    it = (ledger_claim_item){.id = "R-2", .idlen = 3, .channels = RULES_SMS, .row = 2};
    assert_int_equal(ledger_claim(a, &it, 1, now, DAY, err, sizeof err), -1);
    print_message("# %s\n", err);
    assert_int_equal(it.granted, 0);
    assert_non_null(strstr(err, "ledger postgresql://"));
    assert_int_equal(claim1(a, &it, "R-2", RULES_SMS, 2, now, DAY), RULES_SMS);
    assert_int_equal(claim1(a, &it, "R-1", RULES_SMS, 3, now, DAY), 0);
    ledger_close(a);
}

/* Read-only on a database without the schema: empty, and nothing created. */
static void test_pg_readonly(void **state)
{
    (void)state;
    ledger_claim_item it;
    int64_t now = now_ms();
    fresh(pg_uri);
    ledger *r = open_mode_ok(pg_uri, "dry", LEDGER_READONLY);
    assert_int_equal(claim1(r, &it, "A", RULES_ALL_CHANNELS, 1, now, DAY), RULES_ALL_CHANNELS);
    ledger_close(r);
    assert_int_equal(sql_int(pg_uri, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ottu_resend'"), 0);
    ledger *a = open_ok(pg_uri, "a");
    assert_int_equal(claim1(a, &it, "A", RULES_SMS, 1, now, DAY), RULES_SMS);
    settle_ok(a, "A", 1, RULES_SMS, 0, now);
    ledger_close(a);
    r = open_mode_ok(pg_uri, "dry", LEDGER_READONLY);
    assert_int_equal(claim1(r, &it, "A", RULES_SMS | RULES_EMAIL, 1, now + 1, DAY), RULES_EMAIL);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_string_equal(it.blocked_job[0], "a");
    ledger_close(r);
    assert_int_equal(sql_int(pg_uri, "SELECT count(*) FROM claims"), 1);
}

/* ---- issue 32: whose claim, which API --------------------------------------------- */

static void test_api_normalise(void **state)
{
    (void)state;
    char b[256];
    static const char *const cases[][2] = {
        {"https://merchant.ottu.net", "https://merchant.ottu.net:443/"},
        {"HTTPS://Merchant.Ottu.NET/", "https://merchant.ottu.net:443/"},
        {"https://merchant.ottu.net:443//", "https://merchant.ottu.net:443/"},
        {"https://merchant.ottu.net:8443/b/", "https://merchant.ottu.net:8443/b/"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
        {"http://localhost", "http://localhost:80/"},
        {"http://[::1]:9000/x//?q=1#f", "http://[::1]:9000/x/"},
        {"https://user@Host.example:/", "https://host.example:443/"},
        {"https://h.example/Path/", "https://h.example:443/Path/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ledger_api_normalise(cases[i][0], b, sizeof b), 0);
        assert_string_equal(b, cases[i][1]);
    }
    assert_int_equal(ledger_api_normalise("ftp://x", b, sizeof b), -1);
    assert_int_equal(ledger_api_normalise("merchant.ottu.net", b, sizeof b), -1);
    assert_int_equal(ledger_api_normalise("https://h:99999/", b, sizeof b), -1);
    assert_int_equal(ledger_api_normalise("https:///", b, sizeof b), -1);
}

/* A live job's open claim blocks whatever the cooldown; a dead job's is maybe-sent from
 * its claim time; the cooldown counts from the settlement, not the claim. */
static void test_claim_owner_live_dead(void **state)
{
    (void)state;
    const char *p = SPEC("owner.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *a = open_ok(p, "a"), *b = open_ok(p, "b");
    assert_int_equal(claim1(a, &it, "O-1", RULES_SMS, 1, now - 10000, DAY), RULES_SMS);
    assert_int_equal(claim1(a, &it, "O-2", RULES_SMS, 2, now - 10000, DAY), RULES_SMS);
    /* b's cooldown (3 s) is shorter than the claim's age (10 s): a runs, its claim holds. */
    assert_int_equal(claim1(b, &it, "O-1", RULES_SMS, 1, now, 3000), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_CLAIMED);
    assert_string_equal(it.blocked_job[0], "a");
    assert_int_equal(claim1(b, &it, "O-1", RULES_SMS, 1, now, 0), 0);
    /* Settled 2 s ago, claimed 10 s ago: a 3 s cooldown counts from the settlement. */
    settle_ok(a, "O-1", 1, RULES_SMS, 0, now - 2000);
    flush_ok(a);
    assert_int_equal(claim1(b, &it, "O-1", RULES_SMS, 1, now, 3000), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_int_equal(claim1(b, &it, "O-1", RULES_SMS, 1, now + 1500, 3000), RULES_SMS);
    /* a ends without settling O-2 (as a crash would leave it): a dead job's claim is maybe
     * sent from its claim time -- blocks within the cooldown, not beyond. */
    ledger_close(a);
    assert_int_equal(claim1(b, &it, "O-2", RULES_SMS, 2, now, DAY), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_MAYBE);
    assert_string_equal(it.blocked_job[0], "a");
    assert_int_equal(it.blocked_at_ms[0], now - 10000);
    assert_int_equal(claim1(b, &it, "O-2", RULES_SMS, 2, now, 3000), RULES_SMS);
    /* The same job again (its --resume) takes its own claim over. */
    a = open_ok(p, "a");
    assert_int_equal(claim1(a, &it, "O-3", RULES_EMAIL, 3, now, DAY), RULES_EMAIL);
    ledger_close(a);
    ledger_close(b);
}

/* Records are per API; the same API spelled otherwise is one; a record of no API (from
 * before per-API records) blocks every API. */
static void test_claim_per_api(void **state)
{
    (void)state;
    const char *p = SPEC("api.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    fresh(p);
    ledger *mock = open_ok(p, "rehearsal"), *real = open_ok(p, "real"), *again = open_ok(p, "again");
    ledger_set_api(mock, "http://127.0.0.1:8080");
    ledger_set_api(real, "https://merchant.ottu.net");
    ledger_set_api(again, "HTTPS://Merchant.Ottu.net:443//");
    assert_string_equal(ledger_api(real), "https://merchant.ottu.net:443/");
    assert_int_equal(claim1(mock, &it, "P-1", RULES_SMS, 1, now, DAY), RULES_SMS);
    settle_ok(mock, "P-1", 1, RULES_SMS, 0, now);
    flush_ok(mock);
    assert_int_equal(claim1(real, &it, "P-1", RULES_SMS, 1, now + 1, DAY), RULES_SMS);
    settle_ok(real, "P-1", 1, RULES_SMS, 0, now + 1);
    flush_ok(real);
    assert_int_equal(claim1(again, &it, "P-1", RULES_SMS, 1, now + 2, DAY), 0);
    assert_int_equal(it.blocked_kind[0], LEDGER_SENT);
    assert_string_equal(it.blocked_job[0], "real");
    ledger_close(mock);
    ledger_close(real);
    ledger_close(again);
    if (!pg_uri) {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "INSERT INTO claims (identifier, channel, job_id, row_no, state, claimed_at_ms, at_ms, api) "
                 "VALUES ('OLD-1', 'email', 1, 9, 'sent', %lld, %lld, '')",
                 (long long)(now - 3600000), (long long)(now - 3600000));
        sql_exec(p, sql);
        ledger *l = open_ok(p, "later");
        ledger_set_api(l, "https://other.example");
        assert_int_equal(claim1(l, &it, "OLD-1", RULES_EMAIL, 1, now, DAY), 0);
        assert_int_equal(it.blocked_kind[1], LEDGER_SENT);
        assert_int_equal(claim1(l, &it, "OLD-1", RULES_EMAIL, 1, now, 1800000), RULES_EMAIL);
        ledger_close(l);
    }
}

/* `ledger release`: refused while the job runs, then releases its open claims. */
static void test_release(void **state)
{
    (void)state;
    const char *p = SPEC("release.db");
    int64_t now = now_ms();
    ledger_claim_item it;
    char *out, *err;
    fresh(p);
    ledger *a = open_ok(p, "job-a");
    assert_int_equal(claim1(a, &it, "R-1", RULES_SMS | RULES_EMAIL, 1, now, DAY), RULES_SMS | RULES_EMAIL);
    flush_ok(a);
    assert_int_equal(run_main(&out, &err, 5, "ledger", "release", "--job", "job-a", p), 2);
    assert_non_null(strstr(err, "is running"));
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 5, "ledger", "release", "--job", "nobody", p), 2);
    free(out);
    free(err);
    ledger_close(a); /* unsettled: dead now */
    ledger *b = open_ok(p, "job-b");
    assert_int_equal(claim1(b, &it, "R-1", RULES_SMS, 1, now + 10, DAY), 0);
    assert_int_equal(run_main(&out, &err, 6, "ledger", "release", "--job", "job-a", "--dry-run", p), 0);
    assert_non_null(strstr(out, "would release 2 open claims of job job-a"));
    free(out);
    free(err);
    assert_int_equal(run_main(&out, &err, 5, "ledger", "release", "--job", "job-a", p), 0);
    assert_non_null(strstr(out, "released 2 open claims of job job-a"));
    free(out);
    free(err);
    assert_int_equal(claim1(b, &it, "R-1", RULES_SMS, 1, now + 20, DAY), RULES_SMS);
    ledger_close(b);
}

/* The identity: created with the ledger, kept across opens, new for a new ledger. */
static void test_identity(void **state)
{
    (void)state;
    const char *p = SPEC("ident.db");
    fresh(p);
    ledger *a = open_ok(p, "a");
    char first[64];
    snprintf(first, sizeof first, "%s", ledger_identity(a));
    assert_int_equal(strlen(first), 32);
    assert_string_equal(ledger_backend_name(a), pg_uri ? "postgresql" : "sqlite");
    ledger_close(a);
    a = open_ok(p, "b");
    assert_string_equal(ledger_identity(a), first);
    ledger_close(a);
    fresh(p);
    a = open_ok(p, "c");
    assert_string_not_equal(ledger_identity(a), first);
    ledger_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_blocks_other_jobs),
        cmocka_unit_test(test_claim_same_job),
        cmocka_unit_test(test_settle_releases_claimed_only),
        cmocka_unit_test(test_claim_odd_identifiers),
        cmocka_unit_test(test_cooldown_zero),
        cmocka_unit_test(test_newest_send_counts),
        cmocka_unit_test(test_batch_repeats),
        cmocka_unit_test(test_settle_batching),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_migrate_v1),
        cmocka_unit_test(test_default_path_modes),
        cmocka_unit_test(test_fork_claims),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_concurrent_create),
        cmocka_unit_test(test_corrupt_file),
        cmocka_unit_test(test_foreign_and_newer),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_stats_prune),
        cmocka_unit_test(test_main_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_claim_speed),
        cmocka_unit_test(test_api_normalise),
        cmocka_unit_test(test_claim_owner_live_dead),
        cmocka_unit_test(test_claim_per_api),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_identity),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_claim_owner_live_dead),
        cmocka_unit_test(test_claim_per_api),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_pg_password_refused),
        cmocka_unit_test(test_pg_unreachable),
        cmocka_unit_test(test_pg_readonly),
        cmocka_unit_test(test_pg_reconnect),
        cmocka_unit_test(test_claim_blocks_other_jobs),
        cmocka_unit_test(test_claim_same_job),
        cmocka_unit_test(test_settle_releases_claimed_only),
        cmocka_unit_test(test_claim_odd_identifiers),
        cmocka_unit_test(test_cooldown_zero),
        cmocka_unit_test(test_newest_send_counts),
        cmocka_unit_test(test_batch_repeats),
        cmocka_unit_test(test_settle_batching),
        cmocka_unit_test(test_fork_claims),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_stats_prune),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_claim_speed),
    };
    if ((pg_uri = getenv("OTTU_TEST_PG")) && *pg_uri)
        return cmocka_run_group_tests_name("ledger-pg", pg_tests, group_setup, group_teardown);
    pg_uri = NULL;
    return cmocka_run_group_tests_name("ledger", tests, group_setup, group_teardown);
}
