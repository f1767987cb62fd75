/* test_text — unit tests of secret scrubbing (the key never reaches results or logs
 * through the API's words) and of text_printable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "text.h"

static void test_scrub_basic(void **state)
{
    (void)state;
    char s[256];
    snprintf(s, sizeof s, "bad key sk_live_123456 here; again sk_live_123456.");
    assert_int_equal(text_scrub_secret(s, sizeof s, "sk_live_123456"), 2);
    assert_string_equal(s, "bad key [redacted] here; again [redacted].");
    /* the header form goes whole, any case */
    snprintf(s, sizeof s, "{\"detail\": \"Invalid header Api-Key sk_live_123456\", \"h\": \"api-key sk_live_123456\"}");
    assert_int_equal(text_scrub_secret(s, sizeof s, "sk_live_123456"), 2);
    assert_string_equal(s, "{\"detail\": \"Invalid header [redacted]\", \"h\": \"[redacted]\"}");
    /* nothing to do */
    snprintf(s, sizeof s, "clean");
    assert_int_equal(text_scrub_secret(s, sizeof s, "sk_live_123456"), 0);
    assert_int_equal(text_scrub_secret(s, sizeof s, ""), 0);
    assert_int_equal(text_scrub_secret(s, sizeof s, NULL), 0);
    assert_int_equal(text_scrub_secret(NULL, 0, "x"), 0);
    assert_string_equal(s, "clean");
}

static void test_scrub_short_secret_grows_within_size(void **state)
{
    (void)state;
    /* a key shorter than the marker: the text grows, and is cut at size */
    char s[24];
    memset(s, '#', sizeof s);
    snprintf(s, 16, "k1 k1 k1 k1 k1");
    int n = text_scrub_secret(s, 16, "k1");
    assert_true(n >= 1);
    assert_true(strlen(s) <= 15);
    assert_null(strstr(s, "k1"));
    for (size_t i = 16; i < sizeof s; i++)
        assert_int_equal(s[i], '#'); /* nothing written past size */
    /* a secret that is part of the marker cannot loop */
    char t[64];
    snprintf(t, sizeof t, "red red");
    assert_int_equal(text_scrub_secret(t, sizeof t, "red"), 2);
    assert_string_equal(t, "[redacted] [redacted]");
    /* the marker at the very end, cut */
    char u[8];
    snprintf(u, sizeof u, "abSECRE");
    assert_int_equal(text_scrub_secret(u, sizeof u, "SECRE"), 1);
    assert_null(strstr(u, "SECRE"));
    assert_true(strlen(u) <= 7);
}

static void test_printable(void **state)
{
    (void)state;
    char out[32];
    size_t n = text_printable("a\tb\x1b[2J\xff", 8, out, sizeof out);
    assert_int_equal(strlen(out), n);
    assert_string_equal(out, "a b?[2J?");
    n = text_printable("\xd8\xb9\xc2\x85", 4, out, sizeof out); /* Arabic kept, C1 replaced */
    assert_memory_equal(out, "\xd8\xb9", 2);
    assert_int_equal(out[2], '?');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub_basic),
        cmocka_unit_test(test_scrub_short_secret_grows_within_size),
        cmocka_unit_test(test_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
