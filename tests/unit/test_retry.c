/* test_retry — unit tests of answer classification (retry only what the API cannot have
 * acted on; unknown otherwise; per-channel failures), exponential backoff with full
 * jitter, Retry-After parsing and the server's requested wait. */
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
#include "rules.h"

#define ALL (RULES_SMS | RULES_EMAIL | RULES_WHATSAPP)
#define OK_BODY "{\"message\": \"Notification sent.\", \"result\": \"success\"}"

static retry_decision answered(int status, const char *body)
{
    return retry_classify(HTTP_ANSWERED, status, body, body ? strlen(body) : 0, RULES_SMS, 0);
}

/* The old table, with the rule of issue 15: 500/502/504 may have been acted on, so they
 * are `unknown` (they were retried, which notified customers twice); a 2xx needs a
 * confirming body to be a success. */
static void test_classify_table(void **state)
{
    (void)state;
    static const int success[] = {200, 201, 202, 204};
    static const int again[] = {408, 429, 503};
    static const int unknown[] = {500, 502, 504, 520, 524};
    static const int failed[] = {400, 404, 405, 409, 410, 413, 415, 422, 501, 505, 507, 302, 100};
    static const int abort_[] = {401, 403};
    for (size_t i = 0; i < sizeof success / sizeof success[0]; i++)
        if (answered(success[i], OK_BODY).verdict != RETRY_SUCCESS)
            fail_msg("%d with a confirmation should be a success", success[i]);
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
        if (answered(again[i], NULL).verdict != RETRY_AGAIN)
            fail_msg("%d should be retried", again[i]);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        if (answered(unknown[i], NULL).verdict != RETRY_UNKNOWN)
            fail_msg("%d should be unknown, not retried", unknown[i]);
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++)
        if (answered(failed[i], NULL).verdict != RETRY_FAIL)
            fail_msg("%d should fail without retry", failed[i]);
    for (size_t i = 0; i < sizeof abort_ / sizeof abort_[0]; i++)
        if (answered(abort_[i], NULL).verdict != RETRY_ABORT)
            fail_msg("%d should abort the job", abort_[i]);
}

static void test_classify_transport_errors(void **state)
{
    (void)state;
    /* failed before the request left (DNS, connect, TLS handshake): retried, nothing sent */
    retry_decision d = retry_classify(HTTP_NOT_SENT, 0, NULL, 0, ALL, 0);
    assert_int_equal(d.verdict, RETRY_AGAIN);
    assert_int_equal(d.ambiguous, 0);
    assert_int_equal(d.sent | d.maybe | d.failed, 0);
    /* a time-out or reset after sending: unknown, every channel maybe sent (the old rule
     * retried it: the bug of issue 15) */
    d = retry_classify(HTTP_MAYBE_SENT, 0, NULL, 0, ALL, 0);
    assert_int_equal(d.verdict, RETRY_UNKNOWN);
    assert_int_equal(d.maybe, ALL);
    assert_int_equal(d.sent | d.failed, 0);
    /* an answer's status is read only when there is an answer */
    assert_int_equal(retry_classify(HTTP_MAYBE_SENT, 200, OK_BODY, strlen(OK_BODY), ALL, 0).verdict, RETRY_UNKNOWN);
    assert_int_equal(retry_classify(HTTP_NOT_SENT, 401, NULL, 0, ALL, 0).verdict, RETRY_AGAIN);
    /* "answered" without a status cannot be trusted either */
    assert_int_equal(retry_classify(HTTP_ANSWERED, 0, NULL, 0, ALL, 0).verdict, RETRY_UNKNOWN);
}

static void test_classify_retry_ambiguous(void **state)
{
    (void)state;
    static const int amb[] = {500, 502, 504};
    for (size_t i = 0; i < sizeof amb / sizeof amb[0]; i++) {
        retry_decision d = retry_classify(HTTP_ANSWERED, amb[i], NULL, 0, RULES_SMS, 1);
        assert_int_equal(d.verdict, RETRY_AGAIN);
        assert_int_equal(d.ambiguous, 1);
        assert_int_equal(d.maybe, RULES_SMS);
    }
    retry_decision d = retry_classify(HTTP_MAYBE_SENT, 0, NULL, 0, RULES_SMS, 1);
    assert_int_equal(d.verdict, RETRY_AGAIN);
    assert_int_equal(d.ambiguous, 1);
    d = retry_classify(HTTP_ANSWERED, 200, "", 0, RULES_SMS, 1);
    assert_int_equal(d.verdict, RETRY_AGAIN);
    assert_int_equal(d.ambiguous, 1);
    /* definite answers are unchanged by the option */
    assert_int_equal(retry_classify(HTTP_ANSWERED, 503, NULL, 0, RULES_SMS, 1).ambiguous, 0);
    assert_int_equal(retry_classify(HTTP_ANSWERED, 400, NULL, 0, RULES_SMS, 1).verdict, RETRY_FAIL);
    assert_int_equal(retry_classify(HTTP_ANSWERED, 200, OK_BODY, strlen(OK_BODY), RULES_SMS, 1).verdict,
                     RETRY_SUCCESS);
}

static void test_classify_2xx_needs_confirmation(void **state)
{
    (void)state;
    static const char *confirm[] = {OK_BODY, "{\"message\": \"Customer notified.\"}", "{\"result\": \"success\"}"};
    static const char *not_confirm[] = {"", "{}", "<html><body>Login</body></html>", "{\"detail\": \"ok\"}",
                                        "[\"message\"]", "{\"message\": \"x\", \"result\": \"pending\"}",
                                        "{\"message\": 5}", "not json"};
    for (size_t i = 0; i < sizeof confirm / sizeof confirm[0]; i++) {
        retry_decision d = retry_classify(HTTP_ANSWERED, 200, confirm[i], strlen(confirm[i]), ALL, 0);
        if (d.verdict != RETRY_SUCCESS)
            fail_msg("200 %s should be sent", confirm[i]);
        assert_int_equal(d.sent, ALL);
    }
    for (size_t i = 0; i < sizeof not_confirm / sizeof not_confirm[0]; i++) {
        retry_decision d = retry_classify(HTTP_ANSWERED, 200, not_confirm[i], strlen(not_confirm[i]), ALL, 0);
        if (d.verdict != RETRY_UNKNOWN || d.maybe != ALL)
            fail_msg("200 '%s' should be unknown", not_confirm[i]);
    }
    /* a 2xx that says it failed: failed, nothing sent */
    const char *f = "{\"detail\": \"Template not found.\", \"result\": \"failed\"}";
    retry_decision d = retry_classify(HTTP_ANSWERED, 200, f, strlen(f), RULES_SMS | RULES_EMAIL, 0);
    assert_int_equal(d.verdict, RETRY_FAIL);
    assert_int_equal(d.failed, RULES_SMS | RULES_EMAIL);
    assert_int_equal(d.maybe | d.sent, 0);
    /* "result": "failed" wins over a message */
    f = "{\"message\": \"x\", \"result\": \"failed\"}";
    assert_int_equal(retry_classify(HTTP_ANSWERED, 200, f, strlen(f), RULES_SMS, 0).verdict, RETRY_FAIL);
}

static void test_classify_partial_channel_failure(void **state)
{
    (void)state;
    const char *b = "{\"order_no\": \"A1\", \"session_id\": \"\", \"channels\": \"email\", \"result\": \"failed\"}";
    retry_decision d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), RULES_SMS | RULES_EMAIL, 0);
    assert_int_equal(d.verdict, RETRY_FAIL);
    assert_int_equal(d.failed, RULES_EMAIL);
    assert_int_equal(d.maybe, RULES_SMS);
    assert_int_equal(d.sent, 0);
    /* every requested channel named: all failed, nothing maybe */
    b = "{\"channels\": \"sms,email\", \"result\": \"failed\"}";
    d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), RULES_SMS | RULES_EMAIL, 0);
    assert_int_equal(d.failed, RULES_SMS | RULES_EMAIL);
    assert_int_equal(d.maybe, 0);
    /* a list works too */
    b = "{\"channels\": [\"whatsapp\", \"sms\"], \"result\": \"failed\"}";
    d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), ALL, 0);
    assert_int_equal(d.failed, RULES_WHATSAPP | RULES_SMS);
    assert_int_equal(d.maybe, RULES_EMAIL);
    /* naming no channel, or none that was requested: the whole request failed */
    b = "{\"detail\": \"Template not found.\", \"result\": \"failed\"}";
    d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), RULES_SMS | RULES_EMAIL, 0);
    assert_int_equal(d.failed, RULES_SMS | RULES_EMAIL);
    assert_int_equal(d.maybe, 0);
    b = "{\"channels\": \"whatsapp\", \"result\": \"failed\"}";
    d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), RULES_SMS, 0);
    assert_int_equal(d.failed, RULES_SMS);
    assert_int_equal(d.maybe, 0);
    /* field errors are not a per-channel failure */
    b = "{\"channels\": [\"\\\"fax\\\" is not a valid choice.\"]}";
    d = retry_classify(HTTP_ANSWERED, 400, b, strlen(b), RULES_SMS | RULES_EMAIL, 0);
    assert_int_equal(d.failed, RULES_SMS | RULES_EMAIL);
    assert_int_equal(d.maybe, 0);
}

static void test_server_wait(void **state)
{
    (void)state;
    time_t now = 1795462800;
    const char *drf = "{\"detail\": \"Request was throttled. Expected available in 86400 seconds.\"}";
    /* libcurl's parsed value first, uncapped */
    assert_int_equal(retry_server_wait_ms(7200, "5", drf, strlen(drf), now), 7200000);
    assert_int_equal(retry_server_wait_ms(0, NULL, NULL, 0, now), 0);
    /* then the header text, uncapped (retry_after_ms caps at 300 s) */
    assert_int_equal(retry_server_wait_ms(-1, "3600", drf, strlen(drf), now), 3600000);
    assert_int_equal(retry_server_wait_ms(-1, "Mon, 23 Nov 2026 20:40:00 GMT", NULL, 0, now), 3600000);
    /* then DRF's body */
    assert_int_equal(retry_server_wait_ms(-1, "", drf, strlen(drf), now), 86400000);
    assert_int_equal(retry_server_wait_ms(-1, "soon", drf, strlen(drf), now), 86400000);
    /* nothing */
    assert_int_equal(retry_server_wait_ms(-1, "", "{\"detail\": \"slow down\"}", 23, now), -1);
    assert_int_equal(retry_server_wait_ms(-1, NULL, NULL, 0, now), -1);
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
        cmocka_unit_test(test_classify_retry_ambiguous),
        cmocka_unit_test(test_classify_2xx_needs_confirmation),
        cmocka_unit_test(test_classify_partial_channel_failure),
        cmocka_unit_test(test_server_wait),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_http_date),
        cmocka_unit_test(test_retry_after_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
