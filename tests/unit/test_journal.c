/* test_journal — unit tests of the crash journal: create, begin/release/outcome, resume
 * (header and per-row state), torn last lines, and removal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "journal.h"
#include "rules.h"

#define TESTDIR_NAME "journal"
#include "testdir.h"

/* fdatasync as the journal sees it (this definition wins over libc's at link time): it
 * notes how much of the file it makes durable (the size when the sync starts), and fails
 * with EIO while fail_syncs is set. */
static _Atomic long long durable_bytes;
static atomic_int fail_syncs;
static atomic_int syncs_seen;

int fdatasync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (atomic_load(&fail_syncs)) {
        errno = EIO;
        return -1;
    }
    if (syscall(SYS_fdatasync, fd) < 0)
        return -1;
    atomic_fetch_add(&syncs_seen, 1);
    long long cur = atomic_load(&durable_bytes);
    while (st.st_size > cur && !atomic_compare_exchange_weak(&durable_bytes, &cur, (long long)st.st_size))
        ;
    return 0;
}

static const char *jpath(const char *name)
{
    const char *p = testdir_path(name);
    unlink(p);
    return p;
}

static journal_header test_header(void)
{
    journal_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.job_id, sizeof h.job_id, "20261123T194000-4f2a9c");
    h.input_size = 123456789012ULL;
    snprintf(h.input_fp, sizeof h.input_fp, "0123456789abcdef");
    h.mode = 1;
    h.shard_k = 2;
    h.shard_n = 5;
    return h;
}

static const char *const DETAIL1 = "Customer notified, \"twice\"\nsecond line";

static void set_outcome(job *j, long row, row_status st, int http, int attempts, unsigned ch, int64_t lat,
                        int64_t fin, const char *detail)
{
    job_reset(j, row);
    j->status = st;
    j->http_status = http;
    j->attempts = attempts;
    j->channels = ch;
    j->latency_ms = lat;
    j->finished_at_ms = fin;
    snprintf(j->detail, sizeof j->detail, "%s", detail);
}

static void append_raw(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

/* Writes the journal of the brief: rows 1-3 begun, 1 decided, 2 released. */
static void write_basic(const char *path)
{
    char err[256] = "";
    journal_header h = test_header();
    journal *jn = journal_create(path, &h, err, sizeof err);
    if (!jn)
        fail_msg("journal_create: %s", err);
    assert_int_equal(journal_begin(jn, 1), 0);
    assert_int_equal(journal_begin(jn, 2), 0);
    assert_int_equal(journal_begin(jn, 3), 0);
    job j;
    job_init(&j);
    set_outcome(&j, 1, RS_SENT, 200, 2, RULES_SMS | RULES_EMAIL, 345, 1795462800123LL, DETAIL1);
    assert_int_equal(journal_outcome(jn, &j), 0);
    job_free(&j);
    assert_int_equal(journal_release(jn, 2), 0);
    assert_int_equal(journal_sync(jn), 0);
    assert_int_equal(journal_close(jn, 0), 0);
    assert_int_equal(access(path, F_OK), 0); /* kept */
}

static journal *resume_ok(const char *path, journal_header *h)
{
    char err[256] = "";
    journal *jn = journal_resume(path, h, err, sizeof err);
    if (!jn)
        fail_msg("journal_resume: %s", err);
    return jn;
}

static void test_create_and_resume(void **state)
{
    (void)state;
    const char *path = jpath("basic.journal");
    write_basic(path);
    /* the file is private */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);

    journal_header h, want = test_header();
    journal *jn = resume_ok(path, &h);
    assert_string_equal(h.job_id, want.job_id);
    assert_true(h.input_size == want.input_size);
    assert_string_equal(h.input_fp, want.input_fp);
    assert_int_equal(h.mode, want.mode);
    assert_int_equal(h.shard_k, want.shard_k);
    assert_int_equal(h.shard_n, want.shard_n);

    job j;
    job_init(&j);
    job_reset(&j, 1);
    assert_int_equal(journal_lookup(jn, 1, &j), JR_DECIDED);
    assert_int_equal(j.status, RS_SENT);
    assert_int_equal(j.http_status, 200);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(j.channels, RULES_SMS | RULES_EMAIL);
    assert_true(j.latency_ms == 345);
    assert_true(j.finished_at_ms == 1795462800123LL);
    assert_string_equal(j.detail, DETAIL1);
    assert_int_equal(journal_lookup(jn, 2, &j), JR_RELEASED);
    assert_int_equal(journal_lookup(jn, 3, &j), JR_BEGUN);
    assert_int_equal(journal_lookup(jn, 4, &j), JR_NONE);
    assert_int_equal(journal_lookup(jn, 0, &j), JR_NONE);
    assert_int_equal(journal_lookup(jn, -1, &j), JR_NONE);
    assert_int_equal(journal_lookup(jn, 1000000, &j), JR_NONE);
    job_free(&j);
    assert_int_equal(journal_close(jn, 0), 0);
}

static void test_create_is_exclusive(void **state)
{
    (void)state;
    const char *path = jpath("excl.journal");
    write_basic(path);
    char err[256] = "";
    journal_header h = test_header();
    assert_null(journal_create(path, &h, err, sizeof err));
    assert_non_null(strstr(err, "excl.journal"));
    /* the existing journal is untouched */
    journal *jn = resume_ok(path, &h);
    job j;
    job_init(&j);
    assert_int_equal(journal_lookup(jn, 1, &j), JR_DECIDED);
    job_free(&j);
    journal_close(jn, 0);
}

static void test_torn_last_line(void **state)
{
    (void)state;
    const char *path = jpath("torn.journal");
    write_basic(path);
    append_raw(path, "O,3,sen"); /* a crash in the middle of writing row 3's outcome */
    journal_header h;
    journal *jn = resume_ok(path, &h);
    job j;
    job_init(&j);
    assert_int_equal(journal_lookup(jn, 3, &j), JR_BEGUN);
    assert_int_equal(journal_lookup(jn, 1, &j), JR_DECIDED);
    assert_string_equal(j.detail, DETAIL1);
    assert_int_equal(journal_lookup(jn, 2, &j), JR_RELEASED);
    /* the resumed run carries on; its records are readable next time */
    set_outcome(&j, 3, RS_FAILED, 422, 1, RULES_WHATSAPP, 12, 1795462801000LL, "to: Enter a valid phone number.");
    assert_int_equal(journal_outcome(jn, &j), 0);
    assert_int_equal(journal_begin(jn, 4), 0);
    assert_int_equal(journal_close(jn, 0), 0);

    jn = resume_ok(path, &h);
    job_reset(&j, 3);
    assert_int_equal(journal_lookup(jn, 3, &j), JR_DECIDED);
    assert_int_equal(j.status, RS_FAILED);
    assert_int_equal(j.http_status, 422);
    assert_int_equal(j.channels, RULES_WHATSAPP);
    assert_string_equal(j.detail, "to: Enter a valid phone number.");
    assert_int_equal(journal_lookup(jn, 4, &j), JR_BEGUN);
    assert_int_equal(journal_lookup(jn, 1, &j), JR_DECIDED);
    assert_string_equal(h.job_id, test_header().job_id);
    job_free(&j);
    journal_close(jn, 0);
}

/* The crash can also cut an outcome inside its quoted detail. The records written after
 * the resume must not be swallowed by that open quote on the next resume. */
static void test_torn_line_inside_quotes(void **state)
{
    (void)state;
    const char *path = jpath("torn-quote.journal");
    write_basic(path);
    append_raw(path, "O,3,sent,200,1,1,5,1795462800999,\"Customer, not");
    journal_header h;
    journal *jn = resume_ok(path, &h);
    job j;
    job_init(&j);
    assert_int_equal(journal_lookup(jn, 3, &j), JR_BEGUN);
    assert_int_equal(journal_begin(jn, 4), 0);
    set_outcome(&j, 4, RS_SENT, 200, 1, RULES_EMAIL, 7, 1795462802000LL, "Customer notified.");
    assert_int_equal(journal_outcome(jn, &j), 0);
    assert_int_equal(journal_begin(jn, 5), 0);
    assert_int_equal(journal_release(jn, 5), 0);
    assert_int_equal(journal_close(jn, 0), 0);

    jn = resume_ok(path, &h);
    journal_row_state s3 = journal_lookup(jn, 3, &j);
    job_reset(&j, 4);
    journal_row_state s4 = journal_lookup(jn, 4, &j);
    journal_row_state s5 = journal_lookup(jn, 5, &j);
    journal_row_state s1 = journal_lookup(jn, 1, &j);
    journal_close(jn, 0);
    if (s1 != JR_DECIDED || s3 == JR_NONE || s4 != JR_DECIDED || s5 != JR_RELEASED)
        job_free(&j);
    assert_int_equal(s1, JR_DECIDED);
    assert_int_not_equal(s3, JR_NONE); /* it was begun: never "to do" */
    if (s4 != JR_DECIDED || s5 != JR_RELEASED)
        fail_msg("after a torn quoted line and a resume, row 4 is %d (want %d = decided) and row 5 is %d "
                 "(want %d = released)", s4, JR_DECIDED, s5, JR_RELEASED);
    job_reset(&j, 4);
    jn = resume_ok(path, &h);
    assert_int_equal(journal_lookup(jn, 4, &j), JR_DECIDED);
    assert_string_equal(j.detail, "Customer notified.");
    journal_close(jn, 0);
    job_free(&j);
}

static void test_outcome_edge_values(void **state)
{
    (void)state;
    const char *path = jpath("edge.journal");
    char err[256];
    journal_header h = test_header();
    journal *jn = journal_create(path, &h, err, sizeof err);
    assert_non_null(jn);
    job j;
    job_init(&j);
    /* nothing sent: no status, latency -1 */
    set_outcome(&j, 1, RS_NOT_ATTEMPTED, 0, 0, 0, -1, 1795462800000LL, "");
    assert_int_equal(journal_outcome(jn, &j), 0);
    /* the longest detail, all quotes (doubled on disk) */
    char longd[640];
    memset(longd, '"', sizeof longd - 1);
    longd[sizeof longd - 1] = '\0';
    set_outcome(&j, 2, RS_FAILED, 503, 5, RULES_ALL_CHANNELS, 30000, 1795462800001LL, longd);
    assert_int_equal(journal_outcome(jn, &j), 0);
    /* CR, LF, commas and UTF-8 */
    set_outcome(&j, 3, RS_UNKNOWN, 0, 1, RULES_SMS, -1, 1795462800002LL, "a\r\nb,,c \xd8\xb9\"");
    assert_int_equal(journal_outcome(jn, &j), 0);
    /* many rows */
    for (long r = 10; r < 5010; r++) {
        assert_int_equal(journal_begin(jn, r), 0);
        set_outcome(&j, r, RS_SENT, 200, 1, RULES_EMAIL, r, 1795462800000LL + r, "ok");
        assert_int_equal(journal_outcome(jn, &j), 0);
    }
    assert_int_equal(journal_close(jn, 0), 0);

    jn = resume_ok(path, &h);
    job_reset(&j, 1);
    assert_int_equal(journal_lookup(jn, 1, &j), JR_DECIDED);
    assert_int_equal(j.status, RS_NOT_ATTEMPTED);
    assert_int_equal(j.http_status, 0);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.channels, 0);
    assert_true(j.latency_ms == -1);
    assert_string_equal(j.detail, "");
    assert_int_equal(journal_lookup(jn, 2, &j), JR_DECIDED);
    assert_int_equal(j.status, RS_FAILED);
    assert_int_equal(j.http_status, 503);
    assert_int_equal(j.channels, RULES_ALL_CHANNELS);
    assert_string_equal(j.detail, longd);
    assert_int_equal(journal_lookup(jn, 3, &j), JR_DECIDED);
    assert_int_equal(j.status, RS_UNKNOWN);
    assert_string_equal(j.detail, "a\r\nb,,c \xd8\xb9\"");
    for (long r = 10; r < 5010; r += 499) {
        assert_int_equal(journal_lookup(jn, r, &j), JR_DECIDED);
        assert_true(j.latency_ms == r);
        assert_true(j.finished_at_ms == 1795462800000LL + r);
    }
    assert_int_equal(journal_lookup(jn, 5009, &j), JR_DECIDED);
    assert_int_equal(journal_lookup(jn, 5010, &j), JR_NONE);
    assert_int_equal(journal_lookup(jn, 5, &j), JR_NONE);
    job_free(&j);
    journal_close(jn, 0);
}

static void test_close_remove(void **state)
{
    (void)state;
    const char *path = jpath("remove.journal");
    write_basic(path);
    journal_header h;
    journal *jn = resume_ok(path, &h);
    assert_int_equal(journal_begin(jn, 4), 0);
    assert_int_equal(journal_close(jn, 1), 0);
    assert_int_equal(access(path, F_OK), -1);
    /* a fresh journal can then be created at the same path */
    char err[256];
    h = test_header();
    jn = journal_create(path, &h, err, sizeof err);
    assert_non_null(jn);
    assert_int_equal(journal_close(jn, 1), 0);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_resume_rejects_other_files(void **state)
{
    (void)state;
    char err[256] = "";
    journal_header h;
    const char *p = jpath("missing.journal");
    assert_null(journal_resume(p, &h, err, sizeof err));
    assert_non_null(strstr(err, "missing.journal"));
    p = jpath("notajournal.csv");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("order_no,channels\nA1,sms\n", f);
    fclose(f);
    err[0] = '\0';
    assert_null(journal_resume(p, &h, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_int_equal(access(p, F_OK), 0); /* not removed */
}

static void test_fingerprint(void **state)
{
    (void)state;
    const char *p = jpath("input.csv");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("order_no,channels\nA1,sms\n", f);
    fclose(f);
    journal_header h;
    memset(&h, 0, sizeof h);
    char err[256];
    assert_int_equal(journal_fingerprint(p, &h, err, sizeof err), 0);
    assert_true(h.input_size == 25);
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)rules_fnv1a64("order_no,channels\nA1,sms\n", 25));
    assert_string_equal(h.input_fp, want);
    /* another content, another fingerprint */
    f = fopen(p, "w");
    fputs("order_no,channels\nA2,sms\n", f);
    fclose(f);
    journal_header h2;
    memset(&h2, 0, sizeof h2);
    assert_int_equal(journal_fingerprint(p, &h2, err, sizeof err), 0);
    assert_string_not_equal(h.input_fp, h2.input_fp);
    assert_int_equal(journal_fingerprint(jpath("nope.csv"), &h2, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope.csv"));
}

/* Many workers begin at once: each begin returns only once its own record is inside what
 * an fdatasync made durable; syncs are shared (fewer than the records); every record is
 * there on resume, and outcomes and releases (lazy) are too after a clean close. */
#define CT_THREADS 16
#define CT_ROWS 200

struct ct_arg {
    journal *jn;
    const char *path;
    int t;
    int bad;
};

/* The end offset of the line "B,row" appended at or after `from`; -1 if not found. */
static long long find_begin(int fd, long long from, long row)
{
    char want[32], buf[65536];
    int wl = snprintf(want, sizeof want, "\nB,%ld\n", row);
    long long start = from > 0 ? from - 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, start);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = memmem(buf, (size_t)n, want, (size_t)wl);
    return p ? start + (p - buf) + wl : -1;
}

static void *ct_worker(void *p)
{
    struct ct_arg *a = p;
    int fd = open(a->path, O_RDONLY);
    job j;
    job_init(&j);
    for (int i = 0; i < CT_ROWS; i++) {
        long row = (long)a->t * CT_ROWS + i + 1;
        struct stat st;
        fstat(fd, &st);
        if (journal_begin(a->jn, row) != 0) {
            a->bad++;
            continue;
        }
        long long end = find_begin(fd, st.st_size, row);
        if (end < 0 || end > atomic_load(&durable_bytes))
            a->bad++; /* begun, and not (yet) on the disk */
        if (i % 3 == 0) {
            journal_release(a->jn, row);
        } else {
            set_outcome(&j, row, RS_SENT, 200, 1, RULES_SMS, 1, 1795462800123LL, "ok");
            journal_outcome(a->jn, &j);
        }
    }
    job_free(&j);
    close(fd);
    return NULL;
}

static void test_concurrent_begins_group_commit(void **state)
{
    (void)state;
    const char *path = jpath("concurrent.journal");
    char err[256] = "";
    journal_header h = test_header();
    atomic_store(&durable_bytes, 0);
    journal *jn = journal_create(path, &h, err, sizeof err);
    assert_non_null(jn);
    pthread_t th[CT_THREADS];
    struct ct_arg args[CT_THREADS];
    for (int t = 0; t < CT_THREADS; t++) {
        args[t] = (struct ct_arg){jn, path, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, ct_worker, &args[t]), 0);
    }
    for (int t = 0; t < CT_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].bad, 0);
    }
    unsigned long long begins, syncs;
    journal_stats(jn, &begins, &syncs);
    assert_int_equal(begins, CT_THREADS * CT_ROWS);
    assert_true(syncs >= 1 && syncs <= begins);
    print_message("# %llu begin records, %llu fdatasyncs (%.1f per sync)\n", begins, syncs,
                  (double)begins / (double)syncs);
    assert_int_equal(journal_close(jn, 0), 0);
    journal_header h2;
    jn = journal_resume(path, &h2, err, sizeof err);
    assert_non_null(jn);
    job j;
    job_init(&j);
    for (long row = 1; row <= CT_THREADS * CT_ROWS; row++) {
        journal_row_state st = journal_lookup(jn, row, &j);
        assert_int_equal(st, (row - 1) % CT_ROWS % 3 == 0 ? JR_RELEASED : JR_DECIDED);
        if (st != JR_DECIDED)
            assert_int_equal(j.attempts, 1);
    }
    job_free(&j);
    journal_close(jn, 1);
}

/* A failed fdatasync fails the journal for good: the begin that waited on it, and every
 * later write, even once the disk is well again. */
static void test_failed_sync_stops_everything(void **state)
{
    (void)state;
    const char *path = jpath("failsync.journal");
    char err[256] = "";
    journal_header h = test_header();
    journal *jn = journal_create(path, &h, err, sizeof err);
    assert_non_null(jn);
    assert_int_equal(journal_begin(jn, 1), 0);
    assert_int_equal(journal_error(jn, err, sizeof err), 0);
    atomic_store(&fail_syncs, 1);
    assert_int_equal(journal_begin(jn, 2), -1);
    atomic_store(&fail_syncs, 0);
    assert_int_equal(journal_error(jn, err, sizeof err), -1);
    assert_non_null(strstr(err, "failsync.journal"));
    assert_non_null(strstr(err, strerror(EIO)));
    assert_int_equal(journal_begin(jn, 3), -1);
    assert_int_equal(journal_release(jn, 1), -1);
    assert_int_equal(journal_sync(jn), -1);
    journal_close(jn, 1);
}

/* The feeder's group: one write and one fdatasync make every row's record durable,
 * each row is marked begun only then, and a failed sync marks none. */
static void test_begin_many_one_sync(void **state)
{
    (void)state;
    const char *path = jpath("many.journal");
    char err[256] = "";
    journal_header h = test_header();
    atomic_store(&durable_bytes, 0);
    journal *jn = journal_create(path, &h, err, sizeof err);
    assert_non_null(jn);
    job rows[3], *p[3];
    for (int i = 0; i < 3; i++) {
        job_init(&rows[i]);
        rows[i].rowno = 10 + i;
        p[i] = &rows[i];
    }
    int before = atomic_load(&syncs_seen);
    assert_int_equal(journal_begin_many(jn, p, 3), 0);
    assert_int_equal(atomic_load(&syncs_seen), before + 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(atomic_load(&durable_bytes), (long long)st.st_size); /* on the disk on return */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rows[i].begun, 1);
    unsigned long long begins, syncs;
    journal_stats(jn, &begins, &syncs);
    assert_int_equal(begins, 3);
    job q[2], *pq[2] = {&q[0], &q[1]};
    job_init(&q[0]);
    job_init(&q[1]);
    q[0].rowno = 20;
    q[1].rowno = 21;
    atomic_store(&fail_syncs, 1);
    assert_int_equal(journal_begin_many(jn, pq, 2), -1);
    atomic_store(&fail_syncs, 0);
    assert_int_equal(q[0].begun, 0);
    assert_int_equal(q[1].begun, 0);
    assert_int_equal(journal_begin_many(jn, p, JOURNAL_BEGIN_MAX + 1), -1); /* more than a batch: refused */
    journal_close(jn, 0);
    journal_header h2;
    jn = resume_ok(path, &h2);
    job j;
    job_init(&j);
    for (long row = 10; row <= 12; row++) {
        assert_int_equal(journal_lookup(jn, row, &j), JR_BEGUN);
        assert_int_equal(j.attempts, 1);
    }
    /* Row 10 stopped before it went: released, and not an attempt; row 11 went and was
     * released for a retry: one attempt. */
    assert_int_equal(journal_release_unsent(jn, 10), 0);
    assert_int_equal(journal_release(jn, 11), 0);
    journal_close(jn, 0);
    jn = resume_ok(path, &h2);
    assert_int_equal(journal_lookup(jn, 10, &j), JR_RELEASED);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(journal_lookup(jn, 11, &j), JR_RELEASED);
    assert_int_equal(j.attempts, 1);
    job_free(&j);
    for (int i = 0; i < 3; i++)
        job_free(&rows[i]);
    job_free(&q[0]);
    job_free(&q[1]);
    journal_close(jn, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_resume),
        cmocka_unit_test(test_create_is_exclusive),
        cmocka_unit_test(test_torn_last_line),
        cmocka_unit_test(test_torn_line_inside_quotes),
        cmocka_unit_test(test_outcome_edge_values),
        cmocka_unit_test(test_close_remove),
        cmocka_unit_test(test_resume_rejects_other_files),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_concurrent_begins_group_commit),
        cmocka_unit_test(test_failed_sync_stops_everything),
        cmocka_unit_test(test_begin_many_one_sync),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
