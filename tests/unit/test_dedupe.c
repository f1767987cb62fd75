/* test_dedupe — unit tests of the key set: first row wins, growth to a million entries
 * without false "seen", tags kept beside keys without merging keys, and its memory per
 * entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "dedupe.h"

#define MILLION 1000000L

/* A bijective 64-bit mix, so distinct i give distinct keys. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void test_new_then_repeat(void **state)
{
    (void)state;
    dedupe *d = dedupe_new();
    assert_non_null(d);
    assert_int_equal(dedupe_check(d, 0x1234, 1), 0);
    assert_int_equal(dedupe_check(d, 0x5678, 2), 0);
    assert_int_equal(dedupe_check(d, 0x1234, 3), 1);
    assert_int_equal(dedupe_check(d, 0x5678, 4), 2);
    /* the first row stays the answer, however often the fingerprint comes back */
    assert_int_equal(dedupe_check(d, 0x1234, 5), 1);
    assert_int_equal(dedupe_check(d, 0x1234, 6), 1);
    /* keys differing in one bit are different */
    assert_int_equal(dedupe_check(d, 0x1235, 7), 0);
    assert_int_equal(dedupe_check(d, 0x1234ULL | (1ULL << 63), 8), 0);
    assert_int_equal(dedupe_check(d, UINT64_MAX, 9), 0);
    assert_int_equal(dedupe_check(d, UINT64_MAX, 10), 9);
    /* a fingerprint of 0 is remembered like any other */
    assert_int_equal(dedupe_check(d, 0, 11), 0);
    assert_int_equal(dedupe_check(d, 0, 12), 11);
    dedupe_free(d);
    dedupe_free(NULL);
}

static void test_million_distinct_no_false_seen(void **state)
{
    (void)state;
    dedupe *d = dedupe_new();
    assert_non_null(d);
    for (long i = 0; i < MILLION; i++) {
        long r = dedupe_check(d, mix((uint64_t)i), i + 1);
        if (r != 0)
            fail_msg("distinct key %ld (row %ld) reported as seen at row %ld", i, i + 1, r);
    }
    /* every key is still there, with its own row, after all the growth */
    for (long i = 0; i < MILLION; i++) {
        long r = dedupe_check(d, mix((uint64_t)i), MILLION + i + 1);
        if (r != i + 1)
            fail_msg("key %ld: row %ld, want %ld", i, r, i + 1);
    }
    dedupe_free(d);
}

static void test_clustered_keys(void **state)
{
    (void)state;
    /* sequential and strided keys (no randomness to hide behind) */
    dedupe *d = dedupe_new();
    assert_non_null(d);
    const long n = 200000;
    for (long i = 0; i < n; i++) {
        assert_int_equal(dedupe_check(d, (uint64_t)i + 2, i + 1), 0);
        assert_int_equal(dedupe_check(d, ((uint64_t)i + 1) << 32, n + i + 1), 0);
    }
    for (long i = 0; i < n; i++) {
        if (dedupe_check(d, (uint64_t)i + 2, 0) != i + 1)
            fail_msg("sequential key %ld lost", i);
        if (dedupe_check(d, ((uint64_t)i + 1) << 32, 0) != n + i + 1)
            fail_msg("strided key %ld lost", i);
    }
    dedupe_free(d);
}

/* The tag rides in the top byte of a slot: it must not make two keys one, nor one key two,
 * and must come back as stored, through growth. */
static void test_tags(void **state)
{
    (void)state;
    dedupe *d = dedupe_new();
    assert_non_null(d);
    unsigned tag = 999;
    assert_int_equal(dedupe_find(d, 0x1234, &tag), 0);
    assert_int_equal(tag, 999); /* untouched when not there */
    assert_int_equal(dedupe_check_tag(d, 0x1234, 1, 0xab, &tag), 0);
    assert_int_equal(dedupe_find(d, 0x1234, &tag), 1);
    assert_int_equal(tag, 0xab);
    /* the same key with another tag is the same key: first row and first tag stay */
    assert_int_equal(dedupe_check_tag(d, 0x1234, 2, 0x01, &tag), 1);
    assert_int_equal(tag, 0xab);
    assert_int_equal(dedupe_check(d, 0x1234, 3), 1);
    /* keys equal in their low 56 bits but not in the top byte are different keys */
    assert_int_equal(dedupe_check_tag(d, 0xab00000000001234ULL, 4, 0x00, &tag), 0);
    assert_int_equal(dedupe_find(d, 0xab00000000001234ULL, &tag), 4);
    assert_int_equal(tag, 0);
    assert_int_equal(dedupe_find(d, 0x1234, &tag), 1);
    assert_int_equal(tag, 0xab);
    /* a key whose low 56 bits are 0, with tag 0 */
    assert_int_equal(dedupe_check_tag(d, 0x7700000000000000ULL, 5, 0, NULL), 0);
    assert_int_equal(dedupe_find(d, 0x7700000000000000ULL, &tag), 5);
    assert_int_equal(tag, 0);
    /* through growth: every tag as stored */
    for (long i = 0; i < 100000; i++)
        assert_int_equal(dedupe_check_tag(d, mix((uint64_t)i), 10 + i, (unsigned)(i * 7) & 0xff, NULL), 0);
    for (long i = 0; i < 100000; i++) {
        if (dedupe_find(d, mix((uint64_t)i), &tag) != 10 + i || tag != ((unsigned)(i * 7) & 0xff))
            fail_msg("key %ld: row or tag %u lost", i, tag);
    }
    assert_int_equal(dedupe_find(d, 0x1234, &tag), 1);
    assert_int_equal(tag, 0xab);
    dedupe_free(d);
}

static void test_memory_per_entry_at_a_million(void **state)
{
    (void)state;
    dedupe *d = dedupe_new();
    assert_non_null(d);
    for (long i = 0; i < MILLION; i++)
        assert_int_equal(dedupe_check(d, mix((uint64_t)i), i + 1), 0);
    size_t bytes = dedupe_bytes(d);
    dedupe_free(d);
    assert_true(bytes >= (size_t)MILLION * 12); /* it does hold every key and row */
    if (bytes >= (size_t)MILLION * 14)
        fail_msg("%zu bytes for %ld entries = %.2f bytes per entry (want < 14)", bytes, MILLION,
                 (double)bytes / MILLION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_then_repeat),
        cmocka_unit_test(test_million_distinct_no_false_seen),
        cmocka_unit_test(test_clustered_keys),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_memory_per_entry_at_a_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
