/* test_job — the one place a row's outcome is decided: the per-channel bits the ledger
 * settles from follow its status (a maybe-sent channel stays maybe sent), a row decided
 * without a request has none, and each status's name and exit meaning are written once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "job.h"
#include "rules.h"

#define BITS(j) ((j)->sent_channels), ((j)->maybe_channels), ((j)->failed_channels)

static void bits_are(const job *j, unsigned sent, unsigned maybe, unsigned failed)
{
    if (j->sent_channels != sent || j->maybe_channels != maybe || j->failed_channels != failed)
        fail_msg("bits sent %u maybe %u failed %u, want %u %u %u", BITS(j), sent, maybe, failed);
}

static void fresh(job *j, unsigned channels)
{
    job_reset(j, 1);
    j->channels = channels;
}

static void test_settle_bits(void **state)
{
    (void)state;
    const unsigned all = RULES_SMS | RULES_EMAIL | RULES_WHATSAPP;
    job j;
    job_init(&j);

    fresh(&j, all);
    assert_int_equal(job_settle(&j, RS_SENT, 0, "ok %d", 1), RS_SENT);
    assert_string_equal(j.detail, "ok 1");
    bits_are(&j, all, 0, 0);

    /* sent after an ambiguous attempt: confirmed now, nothing left maybe */
    fresh(&j, all);
    job_note_maybe(&j, RULES_SMS);
    job_settle(&j, RS_SENT, 0, NULL);
    bits_are(&j, all, 0, 0);

    fresh(&j, RULES_SMS | RULES_EMAIL);
    job_settle(&j, RS_UNKNOWN, 0, "lost");
    bits_are(&j, 0, RULES_SMS | RULES_EMAIL, 0);

    /* failed: the channels named, except what may have gone out, which stays maybe */
    fresh(&j, all);
    job_note_maybe(&j, RULES_SMS);
    job_settle(&j, RS_FAILED, RULES_SMS | RULES_WHATSAPP, NULL);
    assert_int_equal(j.status, RS_FAILED);
    bits_are(&j, 0, RULES_SMS, RULES_WHATSAPP);
    /* never a channel that was not requested */
    fresh(&j, RULES_EMAIL);
    job_settle(&j, RS_FAILED, all, NULL);
    bits_are(&j, 0, 0, RULES_EMAIL);

    /* stopped after an ambiguous attempt: unknown, every channel maybe sent */
    fresh(&j, RULES_SMS | RULES_EMAIL);
    job_note_maybe(&j, RULES_EMAIL);
    assert_int_equal(job_settle(&j, RS_NOT_ATTEMPTED, 0, "stopped"), RS_UNKNOWN);
    assert_int_equal(j.status, RS_UNKNOWN);
    bits_are(&j, 0, RULES_SMS | RULES_EMAIL, 0);
    fresh(&j, RULES_SMS);
    assert_int_equal(job_settle(&j, RS_NOT_ATTEMPTED, 0, "stopped"), RS_NOT_ATTEMPTED);
    bits_are(&j, 0, 0, 0);

    /* the detail may quote itself */
    fresh(&j, RULES_SMS);
    job_note(&j, "HTTP 503");
    job_settle(&j, RS_NOT_ATTEMPTED, 0, "not sent: interrupted; %s", j.detail);
    assert_string_equal(j.detail, "not sent: interrupted; HTTP 503");
    /* and is cut to its size */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    job_settle(&j, RS_FAILED, RULES_SMS, "%s", big);
    assert_int_equal(strlen(j.detail), sizeof j.detail - 1);

    /* a kept row's bits come back from its status (what the ledger settles again) */
    fresh(&j, RULES_SMS);
    job_decide(&j, RS_SENT, "kept");
    bits_are(&j, 0, 0, 0);
    job_settle(&j, j.status, 0, NULL);
    bits_are(&j, RULES_SMS, 0, 0);
    assert_string_equal(j.detail, "kept");

    /* decided without a request: no bits, whatever the status */
    fresh(&j, RULES_SMS);
    job_decide(&j, RS_UNKNOWN, "outcome lost");
    assert_int_equal(j.status, RS_UNKNOWN);
    bits_are(&j, 0, 0, 0);

    snprintf(j.detail, sizeof j.detail, "key sk_live_123 in it");
    job_scrub_detail(&j, "sk_live_123");
    assert_null(strstr(j.detail, "sk_live_123"));
    job_free(&j);
}

static void test_status_table(void **state)
{
    (void)state;
    static const char *const names[RS_COUNT] = {"pending", "sent", "failed", "invalid", "duplicate",
                                                "skipped", "not_attempted", "unknown", "dry_run"};
    for (int i = 0; i < RS_COUNT; i++) {
        assert_string_equal(job_status_name((row_status)i), names[i]);
        assert_int_equal(job_status_from_name(names[i]), i);
    }
    assert_int_equal(job_status_from_name("sent "), RS_PENDING);
    assert_string_equal(job_status_name(RS_COUNT), "pending");
    /* the rows that need attention: exit 1, and the --failures file */
    for (int i = 0; i < RS_COUNT; i++) {
        int want = i == RS_FAILED || i == RS_INVALID || i == RS_NOT_ATTEMPTED || i == RS_UNKNOWN;
        assert_int_equal(job_status_needs_attention((row_status)i), want);
        assert_int_equal(job_status_exit((row_status)i), want ? EXIT_ROWS : EXIT_DONE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_bits),
        cmocka_unit_test(test_status_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
