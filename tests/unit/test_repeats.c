/* test_repeats — unit tests of the job's memory of earlier rows: the same request
 * (duplicate of row N) and the same identifier+channel (sent by row N of this job), in
 * exact mode (two tables) and shared mode (one tagged table, exact fingerprints only for
 * the rows it cannot stand for), and the memory per row of each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repeats.h"
#include "rules.h"

#define SMS RULES_SMS
#define EMAIL RULES_EMAIL
#define WA RULES_WHATSAPP

/* Fingerprints: A, B differ in their top byte (the tag); A2 has A's top byte, not A. */
#define FP_A 0x11000000000000a1ULL
#define FP_B 0x22000000000000b2ULL
#define FP_A2 0x11000000000000a2ULL
#define FP_C 0x33000000000000c3ULL

static long dup(repeats *r, uint64_t fp, const char *id, unsigned ch, long row)
{
    return repeats_duplicate(r, fp, id, strlen(id), ch, row);
}

/* The row's turn (as decide_late): the earlier rows per channel, "s1 e0 w0" style. */
static const char *req(repeats *r, uint64_t fp, const char *id, unsigned ch, long row)
{
    static char out[64];
    long first[3];
    assert_int_equal(repeats_requested(r, fp, id, strlen(id), ch, row, first), 0);
    snprintf(out, sizeof out, "s%ld e%ld w%ld", first[0], first[1], first[2]);
    return out;
}

/* One row through the reader as it goes without --verify: duplicate? else its turn. */
static const char *row(repeats *r, uint64_t fp, const char *id, unsigned ch, long n)
{
    static char out[64];
    long d = dup(r, fp, id, ch, n);
    if (d) {
        snprintf(out, sizeof out, "dup %ld", d);
        return out;
    }
    return req(r, fp, id, ch, n);
}

static void both_modes(repeats_mode mode)
{
    repeats *r = repeats_new(mode);
    assert_non_null(r);
    assert_int_equal(repeats_get_mode(r), mode);
    assert_string_equal(row(r, FP_A, "L1", SMS, 1), "s0 e0 w0");
    assert_string_equal(row(r, FP_A, "L1", SMS, 2), "dup 1");
    assert_string_equal(row(r, FP_B, "L1", SMS | EMAIL, 3), "s1 e0 w0");
    assert_string_equal(row(r, FP_C, "L2", EMAIL, 4), "s0 e0 w0");
    assert_string_equal(row(r, FP_B, "L1", SMS | EMAIL, 5), "dup 3"); /* its first row, not row 1 */
    assert_string_equal(row(r, FP_A, "L1", SMS, 6), "dup 1");
    assert_string_equal(row(r, 0x44ULL << 56, "L1", EMAIL, 7), "s0 e3 w0");
    assert_string_equal(row(r, 0x55ULL << 56, "L1", WA | SMS, 8), "s1 e0 w0");
    assert_string_equal(row(r, 0x66ULL << 56, "L1", WA, 9), "s0 e0 w8");
    assert_int_equal(dup(r, 0x66ULL << 56, "L1", WA, 10), 9);
    assert_int_equal(dup(r, FP_C, "L2", EMAIL, 11), 4);
    repeats_free(r);
    repeats_free(NULL);
}

static void test_exact(void **state)
{
    (void)state;
    both_modes(REPEATS_EXACT);
}

static void test_shared(void **state)
{
    (void)state;
    both_modes(REPEATS_SHARED);
}

static void test_seen_only(void **state)
{
    (void)state;
    repeats *r = repeats_new(REPEATS_SEEN_ONLY);
    assert_non_null(r);
    assert_string_equal(row(r, FP_A, "L1", SMS, 1), "s0 e0 w0");
    assert_string_equal(row(r, FP_B, "L1", SMS, 2), "s0 e0 w0"); /* no identifier+channel memory */
    assert_string_equal(row(r, FP_B, "L1", SMS, 3), "dup 2");
    assert_int_equal(repeats_kept(r, FP_C, 4), 0);
    repeats_free(r);
}

/* Shared mode answers "duplicate" from 8 bits only where every channel of the row was
 * asked first by that one earlier row: a row with a channel more is never dropped. */
static void test_shared_tag_match_needs_every_channel(void **state)
{
    (void)state;
    repeats *r = repeats_new(REPEATS_SHARED);
    assert_non_null(r);
    assert_string_equal(row(r, FP_A, "L1", SMS, 1), "s0 e0 w0");
    /* A2 shares A's tag, and asks for email too: not a duplicate, its email goes */
    assert_string_equal(row(r, FP_A2, "L1", SMS | EMAIL, 2), "s1 e0 w0");
    /* its repeat is still exact: row 2, from the fingerprints kept apart */
    assert_int_equal(dup(r, FP_A2, "L1", SMS | EMAIL, 3), 2);
    /* sms and email asked first by different rows: no one row stands for the request */
    assert_string_equal(row(r, FP_B, "L3", SMS, 4), "s0 e0 w0");
    assert_string_equal(row(r, FP_B | 1, "L3", EMAIL, 5), "s0 e0 w0");
    assert_int_equal(dup(r, FP_B, "L3", SMS | EMAIL, 6), 0);
    /* another identifier with the same fingerprint (a 64-bit collision) is not a duplicate */
    assert_int_equal(dup(r, FP_A, "L9", SMS, 7), 0);
    repeats_free(r);
}

/* The documented label change: another request for the same identifier and channels
 * whose fingerprint has the first row's top byte reads "duplicate of row 1", not
 * "skipped: sms sent by row 1" — not sent either way (cooldown > 0). */
static void test_shared_tag_collision_is_only_a_label(void **state)
{
    (void)state;
    repeats *r = repeats_new(REPEATS_SHARED);
    assert_non_null(r);
    assert_string_equal(row(r, FP_A, "L1", SMS, 1), "s0 e0 w0");
    assert_string_equal(row(r, FP_A2, "L1", SMS, 2), "dup 1");
    /* exact mode says what it is */
    repeats *x = repeats_new(REPEATS_EXACT);
    assert_string_equal(row(x, FP_A, "L1", SMS, 1), "s0 e0 w0");
    assert_string_equal(row(x, FP_A2, "L1", SMS, 2), "s1 e0 w0");
    repeats_free(x);
    repeats_free(r);
}

/* Rows kept by --resume are duplicates' first rows, but asked for no channel. */
static void test_shared_kept(void **state)
{
    (void)state;
    repeats *r = repeats_new(REPEATS_SHARED);
    assert_non_null(r);
    assert_int_equal(dup(r, FP_A, "L1", SMS, 1), 0);
    assert_int_equal(repeats_kept(r, FP_A, 1), 0);
    assert_int_equal(dup(r, FP_A, "L1", SMS, 2), 1);
    assert_string_equal(row(r, FP_B, "L1", SMS, 3), "s0 e0 w0");
    assert_string_equal(row(r, FP_A, "L1", SMS, 4), "dup 1");
    assert_string_equal(row(r, FP_B, "L1", SMS, 5), "dup 3");
    repeats_free(r);
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A million distinct orders, one channel each, then each again: every repeat names its
 * row; shared mode holds them in under 14 bytes a row, exact mode in about twice that. */
static size_t million(repeats_mode mode)
{
    const long n = 1000000;
    repeats *r = repeats_new(mode);
    assert_non_null(r);
    char id[32];
    for (long i = 0; i < n; i++) {
        int len = snprintf(id, sizeof id, "ORD-%08ld", i + 1);
        unsigned ch = 1u << (i % 3);
        long first[3];
        if (repeats_duplicate(r, mix((uint64_t)i), id, (size_t)len, ch, i + 1) != 0)
            fail_msg("row %ld: a duplicate", i + 1);
        assert_int_equal(repeats_requested(r, mix((uint64_t)i), id, (size_t)len, ch, i + 1, first), 0);
        if (first[0] || first[1] || first[2])
            fail_msg("row %ld: asked before", i + 1);
    }
    size_t bytes = repeats_bytes(r);
    for (long i = 0; i < n; i += 7) {
        int len = snprintf(id, sizeof id, "ORD-%08ld", i + 1);
        long d = repeats_duplicate(r, mix((uint64_t)i), id, (size_t)len, 1u << (i % 3), n + 1);
        if (d != i + 1)
            fail_msg("row %ld again: duplicate of %ld", i + 1, d);
    }
    repeats_free(r);
    return bytes;
}

static void test_memory_per_row(void **state)
{
    (void)state;
    size_t shared = million(REPEATS_SHARED), exact = million(REPEATS_EXACT);
    if (shared >= 14 * 1000000UL)
        fail_msg("shared: %.2f bytes a row (want < 14)", shared / 1e6);
    assert_true(exact > shared * 3 / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_shared),
        cmocka_unit_test(test_seen_only),
        cmocka_unit_test(test_shared_tag_match_needs_every_channel),
        cmocka_unit_test(test_shared_tag_collision_is_only_a_label),
        cmocka_unit_test(test_shared_kept),
        cmocka_unit_test(test_memory_per_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
