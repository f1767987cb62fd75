/* test_http — the base URL rule: https anywhere, plain http only for loopback hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "http.h"

static void test_allowed(void **state)
{
    (void)state;
    static const char *ok[] = {
        "https://merchant.ottu.net", "https://sandbox.ottu.net/", "http://127.0.0.1:8080",
        "http://127.1.2.3", "http://[::1]:8080/", "http://localhost:9000", "HTTP://LOCALHOST",
    };
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (http_check_url(ok[i], err, sizeof err) != 0)
            fail_msg("%s refused: %s", ok[i], err);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const struct { const char *url, *says; } bad[] = {
        {"http://example.com", "loopback"},
        {"http://127.evil.example", "loopback"},
        {"http://127.0.0.1.example.com", "loopback"},
        {"http://localhost.example.com", "loopback"},
        {"http://10.0.0.1", "loopback"},
        {"ftp://127.0.0.1", "not supported"},
        {"merchant.ottu.net", ""},
        {"", ""},
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (http_check_url(bad[i].url, err, sizeof err) == 0)
            fail_msg("%s accepted", bad[i].url);
        if (!strstr(err, bad[i].says) || !err[0])
            fail_msg("%s: message \"%s\" does not say \"%s\"", bad[i].url, err, bad[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
