/* test_rules — unit tests of the pure API rules: channels, states, identifiers, headers,
 * recipients, the shard hash and log masking. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules.h"

/* Parses a NUL-terminated channels cell; returns the mask or -1 (err filled). */
static long parse_ch(const char *s, char *err, size_t errlen)
{
    unsigned m = 0xdead;
    err[0] = '\0';
    if (rules_parse_channels(s, strlen(s), &m, err, errlen) < 0)
        return -1;
    return (long)m;
}

static void test_channel_names_any_case(void **state)
{
    (void)state;
    assert_int_equal(rules_channel_from_name("sms", 3), RULES_SMS);
    assert_int_equal(rules_channel_from_name("SMS", 3), RULES_SMS);
    assert_int_equal(rules_channel_from_name("Email", 5), RULES_EMAIL);
    assert_int_equal(rules_channel_from_name("wHaTsApP", 8), RULES_WHATSAPP);
    assert_int_equal(rules_channel_from_name("fax", 3), 0);
    assert_int_equal(rules_channel_from_name("sm", 2), 0);
    assert_int_equal(rules_channel_from_name("smss", 4), 0);
    assert_int_equal(rules_channel_from_name("", 0), 0);
    /* length is honoured, not the NUL */
    assert_int_equal(rules_channel_from_name("smsx", 3), RULES_SMS);
    assert_string_equal(rules_channel_name(RULES_SMS), "sms");
    assert_string_equal(rules_channel_name(RULES_EMAIL), "email");
    assert_string_equal(rules_channel_name(RULES_WHATSAPP), "whatsapp");
    assert_null(rules_channel_name(RULES_SMS | RULES_EMAIL));
    assert_null(rules_channel_name(0));
}

static void test_channels_separators(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(parse_ch("sms", err, sizeof err), RULES_SMS);
    assert_int_equal(parse_ch("SMS,Email", err, sizeof err), RULES_SMS | RULES_EMAIL);
    assert_int_equal(parse_ch("sms;whatsapp", err, sizeof err), RULES_SMS | RULES_WHATSAPP);
    assert_int_equal(parse_ch("email|whatsapp", err, sizeof err), RULES_EMAIL | RULES_WHATSAPP);
    assert_int_equal(parse_ch("email whatsapp", err, sizeof err), RULES_EMAIL | RULES_WHATSAPP);
    assert_int_equal(parse_ch("  sms , ;| EMAIL   whatsapp ;", err, sizeof err), RULES_ALL_CHANNELS);
    assert_int_equal(parse_ch(",;|", err, sizeof err), 0);
    assert_int_equal(parse_ch("", err, sizeof err), 0);
    assert_int_equal(parse_ch("   ", err, sizeof err), 0);
}

static void test_channels_repeats_collapse(void **state)
{
    (void)state;
    char err[200], buf[64];
    long m = parse_ch("sms,SMS;Sms|sms sms", err, sizeof err);
    assert_int_equal(m, RULES_SMS);
    assert_int_equal(rules_format_channels((unsigned)m, buf, sizeof buf), 3);
    assert_string_equal(buf, "sms");
    m = parse_ch("email,sms,email,sms", err, sizeof err);
    assert_int_equal(m, RULES_SMS | RULES_EMAIL);
}

static void test_channels_bad_token_named(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(parse_ch("sms,fax", err, sizeof err), -1);
    assert_non_null(strstr(err, "\"fax\""));
    assert_int_equal(parse_ch("e-mail", err, sizeof err), -1);
    assert_non_null(strstr(err, "e-mail"));
    assert_int_equal(parse_ch("sms,,smsx,email", err, sizeof err), -1);
    assert_non_null(strstr(err, "smsx"));
    /* the first bad token is the one named */
    assert_int_equal(parse_ch("telegram;pigeon", err, sizeof err), -1);
    assert_non_null(strstr(err, "telegram"));
    assert_null(strstr(err, "pigeon"));
    /* a hostile token never puts control bytes into the message */
    assert_int_equal(parse_ch("sms,\x1b[31mred", err, sizeof err), -1);
    for (const char *p = err; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
}

static void test_format_channels_order(void **state)
{
    (void)state;
    char buf[64], err[200];
    assert_int_equal(rules_format_channels(RULES_ALL_CHANNELS, buf, sizeof buf), 18);
    assert_string_equal(buf, "sms;email;whatsapp");
    rules_format_channels(RULES_WHATSAPP | RULES_EMAIL, buf, sizeof buf);
    assert_string_equal(buf, "email;whatsapp");
    rules_format_channels(RULES_WHATSAPP | RULES_SMS, buf, sizeof buf);
    assert_string_equal(buf, "sms;whatsapp");
    assert_int_equal(rules_format_channels(0, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    long m = parse_ch("whatsapp,email,sms", err, sizeof err);
    rules_format_channels((unsigned)m, buf, sizeof buf);
    assert_string_equal(buf, "sms;email;whatsapp");
}

/* A buffer too small for every channel: the returned length must match what is in the
 * buffer, and no half channel name may be left in it. */
static void test_format_channels_small_buffer(void **state)
{
    (void)state;
    char small[6];
    size_t n = rules_format_channels(RULES_ALL_CHANNELS, small, sizeof small);
    assert_true(n < sizeof small);
    assert_int_equal(strlen(small), n);
    assert_string_equal(small, "sms");
}

static void test_states_any_case(void **state)
{
    (void)state;
    static const char *names[] = {"created", "paid", "canceled", "failed", "expired",
                                  "authorized", "voided", "refunded", "captured", "pending",
                                  "attempted", "cod", "invalided", "refund_queued", "refund_rejected"};
    assert_int_equal(sizeof names / sizeof names[0], RULES_STATE_COUNT);
    for (int i = 0; i < RULES_STATE_COUNT; i++) {
        char up[32];
        size_t n = strlen(names[i]);
        for (size_t k = 0; k <= n; k++)
            up[k] = (char)(names[i][k] >= 'a' && names[i][k] <= 'z' ? names[i][k] - 32 : names[i][k]);
        assert_int_equal(rules_parse_state(names[i], n), i);
        assert_int_equal(rules_parse_state(up, n), i);
        assert_string_equal(rules_state_name((rules_state)i), names[i]);
    }
    assert_int_equal(rules_parse_state(" Paid\t", 6), RULES_STATE_PAID);
    assert_int_equal(rules_parse_state("cancelled", 9), RULES_STATE_NONE);
    assert_int_equal(rules_parse_state("pai", 3), RULES_STATE_NONE);
    assert_int_equal(rules_parse_state("", 0), RULES_STATE_NONE);
    assert_null(rules_state_name(RULES_STATE_NONE));
    assert_null(rules_state_name(RULES_STATE_COUNT));
}

/* Transaction states Ottu sends no notification for: known, but no channel supports them. */
static void test_states_without_notification(void **state)
{
    (void)state;
    static const char *none[] = {"pending", "attempted", "COD", "invalided", "Refund_Queued", "refund_rejected"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        rules_state st = rules_parse_state(none[i], strlen(none[i]));
        assert_int_not_equal(st, RULES_STATE_NONE);
        assert_false(rules_state_has_notification(st));
        assert_int_equal(rules_channels_for_state(st), 0);
    }
    for (int st = RULES_STATE_CREATED; st <= RULES_STATE_CAPTURED; st++)
        assert_true(rules_state_has_notification((rules_state)st));
    assert_false(rules_state_has_notification(RULES_STATE_NONE));
}

static void test_state_channel_support(void **state)
{
    (void)state;
    static const rules_state all[] = {RULES_STATE_CREATED, RULES_STATE_PAID, RULES_STATE_CANCELED,
                                      RULES_STATE_FAILED, RULES_STATE_EXPIRED, RULES_STATE_AUTHORIZED};
    static const rules_state no_wa[] = {RULES_STATE_VOIDED, RULES_STATE_REFUNDED, RULES_STATE_CAPTURED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        assert_int_equal(rules_channels_for_state(all[i]), RULES_SMS | RULES_EMAIL | RULES_WHATSAPP);
    for (size_t i = 0; i < sizeof no_wa / sizeof no_wa[0]; i++)
        assert_int_equal(rules_channels_for_state(no_wa[i]), RULES_SMS | RULES_EMAIL);
}

static void test_trim(void **state)
{
    (void)state;
    const char *s = " \t ab c \t";
    size_t n = strlen(s);
    rules_trim(&s, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "ab c", 4);
    s = "   ";
    n = 3;
    rules_trim(&s, &n);
    assert_int_equal(n, 0);
}

/* n copies of a UTF-8 sequence. */
static size_t repeat(char *out, const char *seq, int n)
{
    size_t l = strlen(seq), o = 0;
    for (int i = 0; i < n; i++, o += l)
        memcpy(out + o, seq, l);
    out[o] = '\0';
    return o;
}

static void test_identifier_length(void **state)
{
    (void)state;
    char buf[1024], err[200];
    size_t n = repeat(buf, "a", 128);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), 0);
    n = repeat(buf, "a", 129);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), -1);
    assert_non_null(strstr(err, "129"));
    /* Arabic letters are two bytes each but one character */
    n = repeat(buf, "\xd8\xb9", 128);
    assert_int_equal(n, 256);
    assert_int_equal(rules_utf8_count(buf, n, NULL), 128);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), 0);
    n = repeat(buf, "\xd8\xb9", 129);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), -1);
    /* three- and four-byte characters */
    n = repeat(buf, "\xe2\x82\xac", 128);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), 0);
    n = repeat(buf, "\xf0\x9f\x98\x80", 128);
    assert_int_equal(rules_utf8_count(buf, n, NULL), 128);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), 0);
    n = repeat(buf, "\xf0\x9f\x98\x80", 129);
    assert_int_equal(rules_check_identifier(buf, n, err, sizeof err), -1);
}

static void assert_no_raw_bytes(const char *err)
{
    for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_identifier_invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *s; size_t bad_at; } cases[] = {
        {"ab\xc0\xaf", 2},             /* overlong '/' (2 bytes) */
        {"\xc1\xbf", 0},               /* overlong, 2 bytes */
        {"x\xe0\x80\xaf", 1},          /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 0},       /* overlong, 4 bytes */
        {"a\xed\xa0\x80", 1},          /* UTF-16 surrogate U+D800 */
        {"\xed\xbf\xbf", 0},           /* surrogate U+DFFF */
        {"abc\xd8", 3},                /* truncated at the end */
        {"ab\xe2\x82", 2},             /* truncated 3-byte */
        {"\xe2\x82x", 0},              /* bad continuation */
        {"a\x80", 1},                  /* lone continuation byte */
        {"\xf4\x90\x80\x80", 0},       /* above U+10FFFF */
        {"\xff", 0},
        {"\xfe", 0},
    };
    char err[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s), bad = 999;
        assert_int_equal(rules_utf8_count(cases[i].s, n, &bad), -1);
        assert_int_equal(bad, cases[i].bad_at);
        err[0] = '\0';
        assert_int_equal(rules_check_identifier(cases[i].s, n, err, sizeof err), -1);
        assert_non_null(strstr(err, "UTF-8"));
        assert_no_raw_bytes(err);
    }
    /* the largest valid values pass */
    assert_int_equal(rules_utf8_count("\xf4\x8f\xbf\xbf", 4, NULL), 1);
    assert_int_equal(rules_utf8_count("\xef\xbf\xbf", 3, NULL), 1);
    assert_int_equal(rules_utf8_count("\xed\x9f\xbf", 3, NULL), 1); /* U+D7FF */
}

static void test_identifier_controls(void **state)
{
    (void)state;
    static const char *bad[] = {"a\x01", "\tA1", "A\n1", "A\r", "x\x1f", "x\x7f", "x\xc2\x80y",
                                "\xc2\x85", "x\xc2\x9f"};
    char err[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(rules_check_identifier(bad[i], strlen(bad[i]), err, sizeof err), -1);
        assert_non_null(strstr(err, "control"));
        assert_no_raw_bytes(err);
    }
    /* NUL inside the value is C0 too */
    assert_int_equal(rules_check_identifier("a\0b", 3, err, sizeof err), -1);
    /* U+00A0 (after the C1 range), U+0100 and ordinary text are fine */
    static const char *good[] = {"x\xc2\xa0y", "\xc2\xbf", "\xc4\x80", "ORD-2026/11 #5", "\xd8\xb7\xd9\x84\xd8\xa8"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(rules_check_identifier(good[i], strlen(good[i]), err, sizeof err), 0);
}

static void norm_is(const char *in, const char *want)
{
    char out[64];
    size_t n = rules_normalize_header(in, strlen(in), out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_header_normalisation(void **state)
{
    (void)state;
    norm_is("  Order No ", "order_no");
    norm_is("Session-ID", "session_id");
    norm_is("order--no", "order_no");
    norm_is("ORDER_NO", "order_no");
    norm_is("order - _ no", "order_no");
    norm_is("channels", "channels");
    norm_is("\tTemplate Id\t", "template_id");
    norm_is("context.FirstName", "context.firstname");
    norm_is("", "");
    /* truncation keeps the output NUL-terminated */
    char small[5];
    size_t n = rules_normalize_header("Order No", 8, small, sizeof small);
    assert_true(n < sizeof small);
    assert_int_equal(strlen(small), n);
}

static void test_email_validation(void **state)
{
    (void)state;
    static const char *good[] = {"a@b.co", "first.last+tag@sub.example.com", "USER@EXAMPLE.COM",
                                 "x_y-z@domain-name.org"};
    static const char *bad[] = {"", "a", "a@b", "@b.com", "a@.com", "a@b.com.", "a b@c.com",
                                "a@@b.com", "a@b@c.com", "a@b..com", "a@b.com,c@d.com", "a.@b.com",
                                ".a@b.com", "a@b.com\n", "\xd8\xb9@b.com", "<a@b.com>"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!rules_is_email(good[i], strlen(good[i])))
            fail_msg("\"%s\" should be an email address", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rules_is_email(bad[i], strlen(bad[i])))
            fail_msg("\"%s\" should not be an email address", bad[i]);
    }
}

static int phone(const char *in, char *out, size_t size, char *err)
{
    err[0] = '\0';
    return rules_normalize_phone(in, strlen(in), out, size, err, 200);
}

static void test_phone_normalisation(void **state)
{
    (void)state;
    char out[40], err[200];
    assert_int_equal(phone("+965 (9999) 99-99", out, sizeof out, err), 0);
    assert_string_equal(out, "+96599999999");
    assert_int_equal(phone(" +965.5000.0123 ", out, sizeof out, err), 0);
    assert_string_equal(out, "+96550000123");
    assert_int_equal(phone("+12345678", out, sizeof out, err), 0);          /* 8 digits */
    assert_string_equal(out, "+12345678");
    assert_int_equal(phone("+123456789012345", out, sizeof out, err), 0);   /* 15 digits */
    assert_int_equal(phone("+1234567", out, sizeof out, err), -1);          /* 7 digits */
    assert_non_null(strstr(err, "7"));
    assert_int_equal(phone("+1234567890123456", out, sizeof out, err), -1); /* 16 digits */
    assert_non_null(strstr(err, "16"));
    assert_int_equal(phone("96599999999", out, sizeof out, err), -1);       /* no + */
    assert_non_null(strstr(err, "+"));
    assert_int_equal(phone("00965 9999 9999", out, sizeof out, err), -1);
    assert_int_equal(phone("+965-abc-9999", out, sizeof out, err), -1);
    assert_int_equal(phone("965+99999999", out, sizeof out, err), -1);
    assert_int_equal(phone("++96599999999", out, sizeof out, err), -1);
    assert_int_equal(phone("", out, sizeof out, err), -1);
    assert_int_equal(phone("+", out, sizeof out, err), -1);
}

static void test_parse_int_and_language(void **state)
{
    (void)state;
    long long v = 0;
    assert_int_equal(rules_parse_int("12", 2, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(rules_parse_int(" -3 ", 4, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(rules_parse_int("+7", 2, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(rules_parse_int("1.5", 3, &v), -1);
    assert_int_equal(rules_parse_int("", 0, &v), -1);
    assert_int_equal(rules_parse_int("-", 1, &v), -1);
    assert_int_equal(rules_parse_int("12a", 3, &v), -1);
    assert_int_equal(rules_parse_int("99999999999999999999", 20, &v), -1);
    assert_int_equal(rules_parse_int("9223372036854775807", 19, &v), 0);
    assert_true(v == 9223372036854775807LL);

    assert_string_equal(rules_parse_language("", 0), "en");
    assert_string_equal(rules_parse_language("  ", 2), "en");
    assert_string_equal(rules_parse_language("EN", 2), "en");
    assert_string_equal(rules_parse_language("Ar", 2), "ar");
    assert_null(rules_parse_language("fr", 2));
    assert_null(rules_parse_language("english", 7));
}

static void test_fnv1a64_vectors(void **state)
{
    (void)state;
    assert_true(rules_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(rules_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(rules_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
    uint64_t h = rules_fnv1a64("foo", 3);
    assert_true(rules_fnv1a64_update(h, "bar", 3) == rules_fnv1a64("foobar", 6));
    assert_true(rules_fnv1a64_update(RULES_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cULL);
    /* bytes, not a C string: an embedded NUL changes the hash */
    assert_true(rules_fnv1a64("a\0", 2) != rules_fnv1a64("a", 1));
}

static void test_masking(void **state)
{
    (void)state;
    char out[96];
    size_t n = rules_mask_phone("+96550000123", 12, out, sizeof out);
    assert_string_equal(out, "+9655****123");
    assert_int_equal(n, 12);
    n = rules_mask_email("foo@example.com", 15, out, sizeof out);
    assert_string_equal(out, "f***@example.com");
    assert_int_equal(n, strlen("f***@example.com"));
    /* nothing of the number leaks for short inputs */
    rules_mask_phone("+12345", 6, out, sizeof out);
    assert_null(strstr(out, "2345"));
    rules_mask_email("noatsign", 8, out, sizeof out);
    assert_null(strstr(out, "noatsign"));
    /* a small buffer stays NUL-terminated */
    char small[6];
    n = rules_mask_phone("+96550000123", 12, small, sizeof small);
    assert_int_equal(strlen(small), n);
    n = rules_mask_email("foo@example.com", 15, small, sizeof small);
    assert_int_equal(strlen(small), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_names_any_case),
        cmocka_unit_test(test_channels_separators),
        cmocka_unit_test(test_channels_repeats_collapse),
        cmocka_unit_test(test_channels_bad_token_named),
        cmocka_unit_test(test_format_channels_order),
        cmocka_unit_test(test_format_channels_small_buffer),
        cmocka_unit_test(test_states_any_case),
        cmocka_unit_test(test_state_channel_support),
        cmocka_unit_test(test_states_without_notification),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_identifier_length),
        cmocka_unit_test(test_identifier_invalid_utf8),
        cmocka_unit_test(test_identifier_controls),
        cmocka_unit_test(test_header_normalisation),
        cmocka_unit_test(test_email_validation),
        cmocka_unit_test(test_phone_normalisation),
        cmocka_unit_test(test_parse_int_and_language),
        cmocka_unit_test(test_fnv1a64_vectors),
        cmocka_unit_test(test_masking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
