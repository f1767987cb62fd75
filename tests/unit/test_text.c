/* test_text — unit tests of secret scrubbing (the key never reaches results or logs
 * through the API's words), of text_printable, and of the Unicode trim identifiers get. */
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

/* Exactly the code points Python's str.isspace() accepts (python3 -c "import sys;
 * print([hex(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()])"). */
static void test_is_space_matches_python(void **state)
{
    (void)state;
    static const uint32_t py[] = {0x9,    0xa,    0xb,    0xc,    0xd,    0x1c,   0x1d,   0x1e,
                                  0x1f,   0x20,   0x85,   0xa0,   0x1680, 0x2000, 0x2001, 0x2002,
                                  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
                                  0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    size_t k = 0;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        int want = k < sizeof py / sizeof py[0] && py[k] == cp;
        if (text_is_space(cp) != want)
            fail_msg("U+%04X: text_is_space %d, Python %d", cp, text_is_space(cp), want);
        k += (size_t)want;
    }
    assert_int_equal(k, sizeof py / sizeof py[0]);
}

static void trimmed_is(const char *in, const char *want)
{
    const char *s = in;
    size_t n = strlen(in);
    text_trim_space(&s, &n);
    if (n != strlen(want) || memcmp(s, want, n) != 0)
        fail_msg("trim of \"%s\" gave \"%.*s\", want \"%s\"", in, (int)n, s, want);
}

static void test_trim_space(void **state)
{
    (void)state;
    trimmed_is("O-7\xc2\xa0", "O-7");                   /* U+00A0 from a spreadsheet */
    trimmed_is("O-7\xe3\x80\x80", "O-7");               /* U+3000 ideographic space */
    trimmed_is("\t O-7", "O-7");
    trimmed_is("\xe2\x80\xaf\xc2\x85O 7\xe2\x80\xa8\r\n", "O 7"); /* inner space kept */
    trimmed_is("O\xc2\xa0" "7", "O\xc2\xa0" "7");
    trimmed_is("\xe2\x80\x8bO-7\xef\xbb\xbf", "\xe2\x80\x8bO-7\xef\xbb\xbf"); /* ZWSP, BOM: not spaces */
    trimmed_is(" \xc2\xa0\xe3\x80\x80 ", "");
    trimmed_is("", "");
    trimmed_is("\xff O-7 \xc2", "\xff O-7 \xc2"); /* invalid bytes stay for validation to name */
    trimmed_is("\xd8\xb9\xd9\x84\xd9\x8a \xc2\xa0", "\xd8\xb9\xd9\x84\xd9\x8a");
}

static void test_lower_ascii(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(text_lower_ascii("Alice@EXAMPLE.com", 17, out, sizeof out), 17);
    assert_string_equal(out, "alice@example.com");
    assert_int_equal(text_lower_ascii("ABCDEF", 6, out, 4), 3);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub_basic),
        cmocka_unit_test(test_scrub_short_secret_grows_within_size),
        cmocka_unit_test(test_printable),
        cmocka_unit_test(test_is_space_matches_python),
        cmocka_unit_test(test_trim_space),
        cmocka_unit_test(test_lower_ascii),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
