/* test_retry — unit tests of answer classification, exponential backoff with full jitter
 * and Retry-After parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retry.h"

static void test_classify_table(void **state)
{
    (void)state;
    static const int success[] = {200, 201, 202, 204};
    static const int again[] = {408, 429, 500, 502, 503, 504};
    static const int failed[] = {400, 404, 405, 409, 410, 413, 415, 422, 501, 505, 507, 302, 100};
    static const int abort_[] = {401, 403};
    for (size_t i = 0; i < sizeof success / sizeof success[0]; i++)
        if (retry_classify(success[i], 0) != RETRY_SUCCESS)
            fail_msg("%d should be a success", success[i]);
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
        if (retry_classify(again[i], 0) != RETRY_AGAIN)
            fail_msg("%d should be retried", again[i]);
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++)
        if (retry_classify(failed[i], 0) != RETRY_FAIL)
            fail_msg("%d should fail without retry", failed[i]);
    for (size_t i = 0; i < sizeof abort_ / sizeof abort_[0]; i++)
        if (retry_classify(abort_[i], 0) != RETRY_ABORT)
            fail_msg("%d should abort the job", abort_[i]);
}

static void test_classify_transport_errors(void **state)
{
    (void)state;
    /* no answer: connection refused, reset, time-out ... (curl codes 7, 28, 52, 56) */
    static const int errs[] = {1, 6, 7, 28, 35, 52, 56};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        assert_int_equal(retry_classify(0, errs[i]), RETRY_AGAIN);
    /* an answer wins over a transport error code */
    assert_int_equal(retry_classify(200, 28), RETRY_SUCCESS);
    assert_int_equal(retry_classify(401, 56), RETRY_ABORT);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    const double almost1 = nextafter(1.0, 0.0);
    /* u = 0 waits nothing; u -> 1 waits the cap */
    for (int a = 1; a <= 12; a++)
        assert_int_equal(retry_backoff_ms(a, 500, 30000, 0.0), 0);
    assert_int_equal(retry_backoff_ms(1, 500, 30000, almost1), 500);
    assert_int_equal(retry_backoff_ms(1, 500, 30000, 0.5), 250);
    /* the cap doubles per attempt up to the maximum */
    static const int64_t caps[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    for (int a = 1; a <= 9; a++) {
        int64_t hi = retry_backoff_ms(a, 500, 30000, almost1);
        if (hi != caps[a - 1])
            fail_msg("attempt %d: u->1 gives %lld, want %lld", a, (long long)hi, (long long)caps[a - 1]);
        int64_t mid = retry_backoff_ms(a, 500, 30000, 0.5);
        assert_true(mid >= caps[a - 1] / 2 - 1 && mid <= caps[a - 1] / 2 + 1);
    }
    /* huge attempt counts neither overflow nor exceed the maximum */
    assert_int_equal(retry_backoff_ms(1000, 500, 30000, almost1), 30000);
    assert_int_equal(retry_backoff_ms(64, 1, 1LL << 40, almost1), 1LL << 40);
    assert_int_equal(retry_backoff_ms(100000, 500, 30000, 0.25), 7500);
    /* a base above the maximum is held to the maximum */
    assert_int_equal(retry_backoff_ms(1, 5000, 1000, almost1), 1000);
    /* always within [0, cap] over a sweep of u */
    for (int a = 1; a <= 8; a++) {
        for (double u = 0; u < 1.0; u += 0.01) {
            int64_t v = retry_backoff_ms(a, 100, 5000, u);
            int64_t cap = 100LL << (a - 1);
            if (cap > 5000)
                cap = 5000;
            if (v < 0 || v > cap)
                fail_msg("attempt %d u %.2f: %lld outside [0, %lld]", a, u, (long long)v, (long long)cap);
        }
    }
}

static void http_date(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    time_t now = 1795462800; /* 2026-11-23 */
    assert_int_equal(retry_after_ms("5", now), 5000);
    assert_int_equal(retry_after_ms("0", now), 0);
    assert_int_equal(retry_after_ms("120", now), 120000);
    assert_int_equal(retry_after_ms("300", now), 300000);
    assert_int_equal(retry_after_ms("301", now), RETRY_AFTER_CAP_MS);
    assert_int_equal(retry_after_ms("999", now), 300000);
    assert_int_equal(retry_after_ms("99999999999999999999999", now), RETRY_AFTER_CAP_MS);
    assert_int_equal(retry_after_ms(" 7\r\n", now), 7000);
}

static void test_retry_after_http_date(void **state)
{
    (void)state;
    time_t now = time(NULL);
    char buf[64];
    http_date(now + 10, buf, sizeof buf);
    assert_int_equal(retry_after_ms(buf, now), 10000);
    http_date(now + 90, buf, sizeof buf);
    assert_int_equal(retry_after_ms(buf, now), 90000);
    /* in the past: no wait, never negative */
    http_date(now - 3600, buf, sizeof buf);
    assert_int_equal(retry_after_ms(buf, now), 0);
    /* far future: capped */
    http_date(now + 86400, buf, sizeof buf);
    assert_int_equal(retry_after_ms(buf, now), RETRY_AFTER_CAP_MS);
    /* a fixed date against a fixed clock */
    assert_int_equal(retry_after_ms("Mon, 23 Nov 2026 19:40:10 GMT", 1795462800), 10000);
}

static void test_retry_after_garbage(void **state)
{
    (void)state;
    time_t now = 1795462800;
    static const char *bad[] = {"", "   ", "soon", "5s", "5 seconds", "1.5", "later please", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = retry_after_ms(bad[i], now);
        if (v != -1)
            fail_msg("Retry-After \"%s\" gave %lld, want -1", bad[i], (long long)v);
    }
    assert_int_equal(retry_after_ms(NULL, now), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_classify_transport_errors),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_http_date),
        cmocka_unit_test(test_retry_after_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
