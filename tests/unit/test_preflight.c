/* test_preflight — unit tests of what an answer to the preflight GET means: 405 go,
 * 401/403 key rejected, 404 not the API, unreachable refused naming the URL, 429 go or
 * quota stop against --max-pause (header, HTTP date, DRF's body), outages go. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "preflight.h"

#define URL "https://merchant.ottu.net/b/pbl/v2/message-notification/"
#define NOW ((time_t)1764500000) /* 2025-11-30T10:53:20Z */

static http_result answered(int status)
{
    http_result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.outcome = HTTP_ANSWERED;
    r.retry_after_s = -1;
    return r;
}

static preflight_result judge(const http_result *r, int64_t max_pause_ms, int64_t *wait, char *err, size_t n)
{
    err[0] = '\0';
    return preflight_judge(r, URL, max_pause_ms, NOW, wait, err, n);
}

static void test_statuses(void **state)
{
    (void)state;
    char err[512];
    int64_t wait = -1;
    http_result r = answered(405);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_GO);
    assert_int_equal(wait, 0);
    r = answered(401);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_KEY_REJECTED);
    assert_non_null(strstr(err, "rejected the key (HTTP 401)"));
    r = answered(403);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_KEY_REJECTED);
    r = answered(404);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_REFUSED);
    assert_non_null(strstr(err, "no Ottu API at " URL));
    r = answered(200); /* a web site, not the API */
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_REFUSED);
    assert_non_null(strstr(err, "HTTP 200"));
    for (int s = 500; s <= 504; s++) { /* an outage: the job's probing deals with it */
        r = answered(s);
        assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_GO);
    }
}

static void test_unreachable(void **state)
{
    (void)state;
    char err[512];
    int64_t wait;
    http_result r = answered(0);
    r.outcome = HTTP_NOT_SENT;
    snprintf(r.error, sizeof r.error, "merchnat.ottu.net: the host name does not resolve");
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_REFUSED);
    assert_non_null(strstr(err, "cannot reach the API at " URL));
    assert_non_null(strstr(err, "merchnat.ottu.net: the host name does not resolve"));
}

static void test_quota(void **state)
{
    (void)state;
    char err[512];
    int64_t wait;
    /* Retry-After of hours: the day's quota is spent */
    http_result r = answered(429);
    r.retry_after_s = 36000;
    snprintf(r.retry_after, sizeof r.retry_after, "36000");
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_QUOTA);
    assert_int_equal(wait, 36000000);
    assert_non_null(strstr(err, "quota is exhausted"));
    assert_non_null(strstr(err, "2025-11-30T20:53:20.000Z"));
    /* the same wait under a longer --max-pause: the job pauses instead */
    assert_int_equal(judge(&r, 36000000, &wait, err, sizeof err), PREFLIGHT_GO);
    assert_int_equal(wait, 0);
    /* a short Retry-After: go, the job's pause deals with it */
    r.retry_after_s = 1;
    snprintf(r.retry_after, sizeof r.retry_after, "1");
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_GO);
    /* --max-pause 0 (1 ms): any wait stops */
    assert_int_equal(judge(&r, 1, &wait, err, sizeof err), PREFLIGHT_QUOTA);
    /* an HTTP date (libcurl's parsed seconds absent) */
    r = answered(429);
    snprintf(r.retry_after, sizeof r.retry_after, "Sun, 30 Nov 2025 12:53:20 GMT");
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_QUOTA);
    assert_int_equal(wait, 7200000);
    /* no header, DRF's body only */
    char body[] = "{\"detail\": \"Request was throttled. Expected available in 4000 seconds.\"}";
    r = answered(429);
    r.body = body;
    r.bodylen = strlen(body);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_QUOTA);
    assert_int_equal(wait, 4000000);
    /* a 429 that says nothing of when: go (the job backs off) */
    r = answered(429);
    assert_int_equal(judge(&r, 300000, &wait, err, sizeof err), PREFLIGHT_GO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
