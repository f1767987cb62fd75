/* test_jsonutil — unit tests of the message read out of every documented API response
 * shape, of the printable-text helper (control characters, UTF-8, truncation), of what
 * confirms a send and of DRF's throttle wait. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "rules.h"

/* Every byte printable ASCII or part of valid UTF-8; no C0, DEL or C1. */
static void assert_clean(const char *s, size_t n)
{
    assert_int_equal(strlen(s), n);
    assert_true(rules_utf8_count(s, n, NULL) >= 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fail_msg("control byte 0x%02x at %zu in \"%s\"", c, i, s);
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0)
            fail_msg("C1 control at %zu in \"%s\"", i, s);
    }
}

static const char *msg(const char *body, char *out, size_t size)
{
    size_t n = jsonutil_response_message(body, strlen(body), out, size);
    assert_clean(out, n);
    return out;
}

static void test_message_and_detail(void **state)
{
    (void)state;
    char out[640];
    assert_string_equal(msg("{\"message\": \"Customer notified.\"}", out, sizeof out), "Customer notified.");
    assert_string_equal(msg("{\"detail\": \"Not found.\"}", out, sizeof out), "Not found.");
    assert_string_equal(msg("{\"detail\": \"Authentication credentials were not provided.\"}", out, sizeof out),
                        "Authentication credentials were not provided.");
    assert_string_equal(msg("{\"message\":\"Notification sent.\",\"result\":\"success\"}", out, sizeof out),
                        "Notification sent.");
    assert_string_equal(msg("{\"detail\":\"Template not found.\",\"result\":\"failed\"}", out, sizeof out),
                        "Template not found.");
    /* Arabic text is kept as is */
    assert_string_equal(msg("{\"detail\":\"\xd8\xba\xd9\x8a\xd8\xb1 \xd9\x85\xd9\x88\xd8\xac\xd9\x88\xd8\xaf\"}", out,
                            sizeof out),
                        "\xd8\xba\xd9\x8a\xd8\xb1 \xd9\x85\xd9\x88\xd8\xac\xd9\x88\xd8\xaf");
}

static void test_field_errors(void **state)
{
    (void)state;
    char out[640];
    assert_string_equal(msg("{\"channels\": [\"\\\"fax\\\" is not a valid choice.\"]}", out, sizeof out),
                        "channels: \"fax\" is not a valid choice.");
    msg("{\"order_no\": [\"This field is required.\"], \"channels\": [\"This list may not be empty.\"]}", out,
        sizeof out);
    assert_non_null(strstr(out, "order_no: This field is required."));
    assert_non_null(strstr(out, "channels: This list may not be empty."));
    /* several messages for one field all appear */
    msg("{\"to\": [\"Enter a valid phone number.\", \"Too short.\"]}", out, sizeof out);
    assert_non_null(strstr(out, "to: "));
    assert_non_null(strstr(out, "Enter a valid phone number."));
    assert_non_null(strstr(out, "Too short."));
    /* a field with a plain string */
    msg("{\"unit_config\": \"A valid integer is required.\"}", out, sizeof out);
    assert_non_null(strstr(out, "unit_config"));
    assert_non_null(strstr(out, "A valid integer is required."));
}

static void test_failure_shape_mentions_channel(void **state)
{
    (void)state;
    char out[640];
    msg("{\"order_no\": \"A1\", \"session_id\": \"\", \"channels\": \"sms\", \"result\": \"failed\"}", out,
        sizeof out);
    assert_non_null(strstr(out, "sms"));
    assert_non_null(strstr(out, "fail"));
    msg("{\"order_no\": \"A1\", \"channels\": \"whatsapp\", \"result\": \"failed\"}", out, sizeof out);
    assert_non_null(strstr(out, "whatsapp"));
    assert_null(strstr(out, "sms"));
}

static void test_error_object_shape(void **state)
{
    (void)state;
    char out[640];
    msg("{\"error\": {\"type\": \"validation_error\", \"code\": \"invalid_choice\", \"message\": \"Not a valid "
        "channel.\", \"field\": \"channel\"}}",
        out, sizeof out);
    assert_non_null(strstr(out, "channel"));
    assert_non_null(strstr(out, "Not a valid channel."));
    assert_non_null(strstr(out, "invalid_choice"));
    msg("{\"error\": {\"message\": \"Rate limit exceeded.\"}}", out, sizeof out);
    assert_string_equal(out, "Rate limit exceeded.");
    msg("{\"error\": {\"code\": \"throttled\"}}", out, sizeof out);
    assert_non_null(strstr(out, "throttled"));
}

static void test_not_json_and_controls(void **state)
{
    (void)state;
    char out[640];
    msg("<html><body><h1>502 Bad Gateway</h1></body></html>\r\n", out, sizeof out);
    assert_non_null(strstr(out, "502 Bad Gateway"));
    msg("upstream \x1b[31mred\x1b[0m\x07 done\x7f", out, sizeof out);
    assert_non_null(strstr(out, "upstream"));
    assert_non_null(strstr(out, "done"));
    assert_null(strchr(out, 0x1b));
    /* control characters escaped inside a JSON string are sanitised too */
    msg("{\"detail\": \"a\\u001b[2Jb\\nc\\u0085d\\u0000e\"}", out, sizeof out);
    assert_non_null(strstr(out, "a"));
    assert_non_null(strstr(out, "[2Jb"));
    /* invalid UTF-8 is replaced */
    msg("bad \xff\xfe bytes \xc0\xaf", out, sizeof out);
    assert_non_null(strstr(out, "bad "));
    assert_non_null(strstr(out, " bytes "));
    /* JSON that is not an object is summarised as text */
    msg("[\"x\", 1]", out, sizeof out);
    assert_non_null(strstr(out, "\"x\""));
    /* nothing */
    assert_int_equal(jsonutil_response_message("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(jsonutil_response_message(NULL, 0, out, sizeof out), 0);
    /* the body length is honoured, not a NUL */
    assert_int_equal(jsonutil_response_message("{\"detail\":\"x\"}GARBAGE", 14, out, sizeof out), 1);
    assert_string_equal(out, "x");
}

static void test_truncation(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'w', sizeof big);
    int n = snprintf(big, sizeof big, "{\"detail\": \"");
    memset(big + n, 'x', 3000);
    snprintf(big + n + 3000, sizeof big - (size_t)n - 3000, "\"}");
    char out[64];
    memset(out, '#', sizeof out);
    size_t len = jsonutil_response_message(big, strlen(big), out, 40);
    assert_true(len <= 39);
    assert_int_equal(strlen(out), len);
    for (size_t i = 40; i < sizeof out; i++)
        assert_int_equal(out[i], '#'); /* nothing written past size */
    assert_clean(out, len);
    /* a long non-JSON body too */
    len = jsonutil_response_message(big + n, 3000, out, 40);
    assert_true(len <= 39);
    assert_int_equal(strlen(out), len);
    assert_non_null(strstr(out, "..."));
    /* size 1: just the NUL */
    assert_int_equal(jsonutil_response_message("{\"detail\":\"abc\"}", 16, out, 1), 0);
    assert_string_equal(out, "");
}

static void test_printable_truncates_with_ellipsis(void **state)
{
    (void)state;
    char out[32];
    const char *s = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t n = jsonutil_printable(s, strlen(s), out, 16);
    assert_true(n <= 15);
    assert_int_equal(strlen(out), n);
    assert_true(n >= 3 && memcmp(out + n - 3, "...", 3) == 0);
    assert_memory_equal(out, "abcdefghij", 10);
    /* multi-byte characters are never cut in half */
    char arabic[200];
    for (int i = 0; i < 40; i++)
        memcpy(arabic + 2 * i, "\xd8\xb9", 2);
    for (size_t size = 5; size < 30; size++) {
        n = jsonutil_printable(arabic, 80, out, size);
        assert_true(n < size);
        assert_true(rules_utf8_count(out, n, NULL) >= 0);
    }
    /* replacements */
    n = jsonutil_printable("a\tb\nc\rd\x01" "e", 9, out, sizeof out);
    assert_clean(out, n);
    assert_memory_equal(out, "a b c d", 7);
    assert_int_equal(out[7], '?');
}

/* Text that fits is copied whole: truncation (and its "...") is only for text that does
 * not fit. */
static void test_printable_fitting_text_not_truncated(void **state)
{
    (void)state;
    char out[16];
    for (size_t len = 1; len < sizeof out; len++) {
        char s[16];
        memset(s, 'a', len);
        s[len] = '\0';
        size_t n = jsonutil_printable(s, len, out, len + 1); /* exactly room for s and its NUL */
        if (n != len || strcmp(out, s) != 0)
            fail_msg("%zu bytes into a %zu-byte buffer became \"%s\"", len, len + 1, out);
    }
}

static void test_confirmation(void **state)
{
    (void)state;
    unsigned failed = 99;
    const unsigned both = RULES_SMS | RULES_EMAIL;
#define CONF(b) jsonutil_confirmation(b, strlen(b), both, &failed)
    assert_int_equal(CONF("{\"message\": \"Notification sent.\", \"result\": \"success\"}"), JSONUTIL_CONFIRMED);
    assert_int_equal(failed, 0);
    assert_int_equal(CONF("{\"message\": \"Customer notified.\"}"), JSONUTIL_CONFIRMED);
    assert_int_equal(CONF("{\"result\": \"success\"}"), JSONUTIL_CONFIRMED);
    assert_int_equal(CONF("{\"result\": \"failed\"}"), JSONUTIL_FAILED);
    assert_int_equal(failed, both);
    assert_int_equal(CONF("{\"channels\": \"email\", \"result\": \"failed\"}"), JSONUTIL_FAILED);
    assert_int_equal(failed, RULES_EMAIL);
    assert_int_equal(CONF("{\"channels\": \"SMS; email\", \"result\": \"failed\"}"), JSONUTIL_FAILED);
    assert_int_equal(failed, both);
    assert_int_equal(CONF("{\"channels\": [\"email\"], \"result\": \"failed\"}"), JSONUTIL_FAILED);
    assert_int_equal(failed, RULES_EMAIL);
    assert_int_equal(CONF("{\"channels\": \"fax\", \"result\": \"failed\"}"), JSONUTIL_FAILED);
    assert_int_equal(failed, both);
    static const char *no[] = {"", "{}", "null", "[1]", "<html>login</html>", "{\"detail\": \"Not found.\"}",
                               "{\"message\": \"ok\", \"result\": \"queued\"}", "{\"message\": null}",
                               "{\"result\": 1}"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (CONF(no[i]) != JSONUTIL_NOT_A_CONFIRMATION)
            fail_msg("'%s' should not be a confirmation", no[i]);
        assert_int_equal(failed, 0);
    }
    assert_int_equal(jsonutil_confirmation(NULL, 0, both, &failed), JSONUTIL_NOT_A_CONFIRMATION);
    /* the length is honoured: a confirmation cut short is none */
    assert_int_equal(jsonutil_confirmation("{\"message\": \"x\"}", 10, both, &failed), JSONUTIL_NOT_A_CONFIRMATION);
#undef CONF
}

static void test_throttle_wait(void **state)
{
    (void)state;
    const char *b = "{\"detail\": \"Request was throttled. Expected available in 86400 seconds.\"}";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), 86400);
    b = "{\"detail\": \"Request was throttled. Expected available in 1 second.\"}";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), 1);
    b = "Request was throttled. Expected available in 2.5 seconds.";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), 3);
    b = "Expected available in 7.0 seconds.";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), 7);
    b = "{\"detail\": \"Request was throttled.\"}";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), -1);
    b = "Expected available in soon";
    assert_int_equal(jsonutil_throttle_wait_s(b, strlen(b)), -1);
    b = "Expected available in 99999999999999999999999 seconds";
    assert_true(jsonutil_throttle_wait_s(b, strlen(b)) >= 1000000000LL);
    assert_int_equal(jsonutil_throttle_wait_s(NULL, 0), -1);
    /* the phrase cut by the length is not read */
    b = "Expected available in 30 seconds";
    assert_int_equal(jsonutil_throttle_wait_s(b, 20), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_and_detail),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_failure_shape_mentions_channel),
        cmocka_unit_test(test_error_object_shape),
        cmocka_unit_test(test_not_json_and_controls),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_printable_truncates_with_ellipsis),
        cmocka_unit_test(test_printable_fitting_text_not_truncated),
        cmocka_unit_test(test_confirmation),
        cmocka_unit_test(test_throttle_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
