/* test_progress — the line fits the terminal at every width, and drawing while other
 * threads log is race-free (run this one under TSan: see docs/design.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "progress.h"

static progress_view busy(void)
{
    progress_view v = {.done = 123456, .total = 5000000, .estimated = 1, .rate = 1234.5, .eta_s = 4000,
                       .sent = 120000, .failed = 3400, .invalid = 56, .throttled = 1, .retrying = 812,
                       .degraded = 1, .paused_s = 30};
    return v;
}

static void test_fits_every_width(void **state)
{
    (void)state;
    progress_view v = busy();
    char buf[512];
    for (int w = 1; w <= 220; w++) {
        size_t n = progress_format(&v, w, buf, sizeof buf);
        assert_int_equal(n, strlen(buf));
        if (n > (size_t)(w - 1))
            fail_msg("width %d: %zu characters: %s", w, n, buf);
        for (size_t i = 0; i < n; i++)
            assert_true(buf[i] >= 0x20 && buf[i] < 0x7f); /* no newline, no escape */
    }
}

static void test_words_shorten_when_narrow(void **state)
{
    (void)state;
    progress_view v = {.done = 1234, .total = 5000, .estimated = 1, .rate = 10, .eta_s = 123, .sent = 1200,
                       .failed = 30, .invalid = 4, .throttled = 1, .retrying = 3, .degraded = 1, .paused_s = 12};
    char buf[512];
    progress_format(&v, 0, buf, sizeof buf); /* not a terminal: everything */
    assert_string_equal(buf, "progress: 1234/~5000 rows, 10.0 rows/s, ETA 2m03s, sent 1200 failed 30 unknown 0 invalid 4, "
                             "retrying 3 [API failing: slowed down, paused]");
    progress_format(&v, 140, buf, sizeof buf);
    assert_non_null(strstr(buf, "progress: 1234/~5000 rows"));
    progress_format(&v, 80, buf, sizeof buf);
    assert_string_equal(buf, "1234/~5000 10.0/s ETA 2m03s ok 1200 fail 30 inv 4 retry 3 [failing, paused]");
    progress_format(&v, 40, buf, sizeof buf);
    assert_string_equal(buf, "1234/~5000 ETA 2m03s fail 30 [paused]");
    progress_format(&v, 10, buf, sizeof buf);
    assert_string_equal(buf, "1234/~500");
    /* nothing known yet */
    progress_view z = {.eta_s = -1};
    progress_format(&z, 80, buf, sizeof buf);
    assert_string_equal(buf, "progress: 0/? rows, 0.0 rows/s, sent 0 failed 0 unknown 0 invalid 0");
    /* paused, not failing, full width */
    v.degraded = 0;
    progress_format(&v, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, " [paused 12s by the API]"));
}

/* ---- drawing from one thread while others log ---- */

typedef struct {
    progress *p;
    atomic_int stop;
} shared;

static void *drawer(void *arg)
{
    shared *s = arg;
    while (!atomic_load(&s->stop)) {
        progress_draw(s->p, 0);
        usleep(1000);
    }
    return NULL;
}

static void *logger(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < 400; i++) {
        progress_row_done(s->p, i % 3 ? RS_SENT : RS_FAILED);
        log_msg(LOG_QUIET, i + 1, "row done");
        if (i % 50 == 0)
            usleep(20000); /* let the drawer redraw between bursts */
    }
    return NULL;
}

/* unknown (the riskiest status) and skipped rows show as they happen, at every width */
static void test_unknown_and_skipped_shown(void **state)
{
    (void)state;
    progress_view v = {.done = 740, .total = 4465, .rate = 20, .eta_s = 186, .sent = 600, .failed = 0,
                       .invalid = 0, .unknown = 65, .skipped = 75};
    char buf[512];
    progress_format(&v, 0, buf, sizeof buf);
    assert_string_equal(buf, "progress: 740/4465 rows, 20.0 rows/s, ETA 3m06s, sent 600 failed 0 unknown 65 invalid 0 "
                             "skipped 75");
    progress_format(&v, 80, buf, sizeof buf);
    assert_string_equal(buf, "740/4465 20.0/s ETA 3m06s ok 600 fail 0 unk 65 skip 75 inv 0");
    progress_format(&v, 30, buf, sizeof buf);
    assert_string_equal(buf, "740/4465 ETA 3m06s unk 65");
}

/* The ETA: withheld for the first 2 s without a rate limit; from the rate limit at once
 * with one; a burst of rows kept at the start (resume, skipped) leaves the rate window. */
static void test_eta_sane_from_the_start(void **state)
{
    (void)state;
    summary sum;
    summary_init(&sum);
    double rate;
    long eta;
    progress *p = progress_new(PROGRESS_NEVER, 0, &sum);
    int64_t t0 = clock_mono_ns(), s = 1000000000LL;
    progress_rate(p, t0 + s / 2, 2000, &rate, &eta, 4000); /* 2000 kept rows in half a second */
    assert_int_equal(eta, -1);
    /* then 20 rows/s for 20 s: the estimate is the 2000 left at 20/s */
    for (int i = 1; i <= 80; i++)
        progress_rate(p, t0 + s / 2 + i * s / 4, 2000 + i * 5, &rate, &eta, 4000);
    assert_true(rate > 19.5 && rate < 20.5);
    assert_true(eta > 1500 / 20 - 3 && eta < 1600 / 20 + 3);
    progress_free(p);

    p = progress_new(PROGRESS_NEVER, 0, &sum);
    progress_set_throttle(p, NULL, NULL, 20);
    t0 = clock_mono_ns();
    progress_rate(p, t0 + s / 2, 2000, &rate, &eta, 4000); /* the same burst, with -r 20 */
    assert_int_equal(eta, 100);                          /* 2000 left at 20/s, not 2000 at 4000/s */
    progress_rate(p, t0 + 3 * s, 2050, &rate, &eta, 4000);
    assert_int_equal(eta, 98); /* 1950 left at 20/s, rounded */
    progress_free(p);
}

static void test_draw_while_logging(void **state)
{
    (void)state;
    summary sum;
    summary_init(&sum);
    progress *p = progress_new(PROGRESS_NEVER, 1000, &sum);
    assert_non_null(p);
    FILE *out = tmpfile();
    assert_non_null(out);
    progress_set_output(p, out, 1, 40);
    for (int i = 0; i < 1000; i++)
        progress_row_read(p, (unsigned long long)i + 1);
    /* the log lines go to stderr: keep them out of the TAP output */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, 2);
    shared s = {p, 0};
    pthread_t d, l[3];
    assert_int_equal(pthread_create(&d, NULL, drawer, &s), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&l[i], NULL, logger, &s), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(l[i], NULL);
    atomic_store(&s.stop, 1);
    pthread_join(d, NULL);
    progress_finish(p, 130);
    dup2(saved, 2);
    close(saved), close(devnull);

    /* What the terminal got: every line starts again at column 0 and erases to its end,
     * and none is wider than the window. */
    rewind(out);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, out);
    buf[n] = '\0';
    fclose(out);
    assert_true(n > 0);
    int draws = 0;
    for (char *seg = buf; *seg;) {
        size_t len = strcspn(seg, "\r\n");
        if (strncmp(seg, "\033[K", 3) == 0) {
            draws++;
            seg += 3, len -= 3;
        }
        if (len > 39 && strncmp(seg, "interrupted:", 12) != 0)
            fail_msg("line of %zu characters: %.*s", len, (int)len, seg);
        seg += len;
        if (*seg)
            seg++;
    }
    assert_true(draws >= 2);
    assert_non_null(strstr(buf, "1200/1000 ")); /* the last draw counted every row */
    progress_free(p);
}

static void test_finish_says_how_to_resume(void **state)
{
    (void)state;
    summary sum;
    summary_init(&sum);
    progress *p = progress_new(PROGRESS_NEVER, 0, &sum);
    FILE *out = tmpfile();
    progress_set_output(p, out, 1, 80);
    progress_row_done(p, RS_SENT);
    progress_row_done(p, RS_NOT_ATTEMPTED);
    progress_row_done(p, RS_NOT_ATTEMPTED);
    progress_finish(p, 130);
    rewind(out);
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, out);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\ninterrupted: 2 rows not sent; run the same command again with --resume to send them\n"));
    fclose(out);
    /* a job that ran to the end says nothing more */
    out = tmpfile();
    progress_set_output(p, out, 1, 80);
    progress_finish(p, 1);
    rewind(out);
    n = fread(buf, 1, sizeof buf - 1, out);
    buf[n] = '\0';
    assert_null(strstr(buf, "--resume"));
    fclose(out);
    progress_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_every_width),
        cmocka_unit_test(test_words_shorten_when_narrow),
        cmocka_unit_test(test_unknown_and_skipped_shown),
        cmocka_unit_test(test_eta_sane_from_the_start),
        cmocka_unit_test(test_draw_while_logging),
        cmocka_unit_test(test_finish_says_how_to_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
