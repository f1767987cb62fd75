/* test_summary — failure reasons group equal causes, failed channels are counted per
 * channel, the ledger's password never reaches the summary, and the JSON has the keys
 * monitoring reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTDIR_NAME "summary"
#include "testdir.h"

#include "request.h"
#include "rules.h"
#include "summary.h"

static const char *key(const char *detail)
{
    static char out[SUMMARY_REASON_LEN];
    summary_reason_key(detail, NULL, out, sizeof out);
    return out;
}

static void test_reason_key(void **state)
{
    (void)state;
    /* the HTTP status stays: it is the cause */
    assert_string_equal(key("HTTP 404: Not found."), "HTTP 404: Not found.");
    /* numbers that are the message stay (counts, durations, codes) */
    assert_string_equal(key("gave up after 5 attempts: HTTP 503 Service Unavailable"),
                        "gave up after 5 attempts: HTTP 503 Service Unavailable");
    assert_string_equal(key("outcome unknown: 502: no complete answer after 30s (e.g. 120ms)"),
                        "outcome unknown: 502: no complete answer after 30s (e.g. 120ms)");
    /* order numbers, phone numbers, e-mail addresses and quoted values are row-specific */
    static char a[SUMMARY_REASON_LEN], b[SUMMARY_REASON_LEN];
    summary_reason_key("order ORD-3999 not found", "ORD-3999", a, sizeof a);
    summary_reason_key("order ORD-4000 not found", "ORD-4000", b, sizeof b);
    assert_string_equal(a, b);
    assert_string_equal(a, "order <id> not found");
    /* names with digits are not identifiers */
    assert_string_equal(key("not valid UTF-8: give --encoding (e.g. windows-1256)"),
                        "not valid UTF-8: give --encoding (e.g. windows-1256)");
    assert_string_equal(key("order_no contains a control character (U+0001) at character 2"),
                        "order_no contains a control character (U+0001) at character 2");
    assert_string_equal(key("to: \"+965 1234\" is not a phone number"), "to: \"…\" is not a phone number");
    assert_string_equal(key("invalid email a.b@example.com"), "invalid email <email>");
    assert_string_equal(key("no customer for +965 5555 1234 (session 9f8e7d6c1a2b4c3d9e8f)"),
                        "no customer for <phone> (session <id>)");
    assert_string_equal(key("phone 96555551234 unreachable"), "phone <phone> unreachable");
    assert_string_equal(key("HTTP/1.1 v2 endpoint"), "HTTP/1.1 v2 endpoint");
    assert_string_equal(key("channel 'whatsapp' needs unit_config"), "channel '…' needs unit_config");
    /* an apostrophe inside a word is not a quote */
    assert_string_equal(key("the order doesn't exist"), "the order doesn't exist");
    /* control characters and runs of blanks become one space; nothing trails */
    assert_string_equal(key("a\n\tb  c \r\n"), "a b c");
    assert_string_equal(key(""), "");
    /* shortened with "…": at a word, never inside a word or a UTF-8 sequence */
    char small[8];
    summary_reason_key("abcdef\xd8\xb9\xd8\xb1", NULL, small, sizeof small);
    assert_string_equal(small, "abcd\xe2\x80\xa6"); /* one long word: cut on a character */
    summary_reason_key("ab\xd8\xb9\xd8\xb1\xd8\xb9", NULL, small, sizeof small);
    assert_string_equal(small, "ab\xd8\xb9\xe2\x80\xa6");
    char mid[40];
    summary_reason_key("the transaction was refunded, captured and then voided by the bank", NULL, mid, sizeof mid);
    assert_string_equal(mid, "the transaction was refunded\xe2\x80\xa6");
    static char longer[SUMMARY_REASON_LEN];
    char detail[400];
    snprintf(detail, sizeof detail, "HTTP 400: %s", "the session is in a state that does not allow this "
             "notification: it was paid, then partly refunded, captured, voided and finally expired by the "
             "payment gateway after the merchant asked for a reversal");
    size_t ln = summary_reason_key(detail, NULL, longer, sizeof longer);
    assert_true(ln < SUMMARY_REASON_LEN && ln > SUMMARY_REASON_LEN - 20);
    assert_string_equal(longer + ln - 3, "\xe2\x80\xa6");
    longer[ln - 3] = '\0';
    assert_non_null(strstr(detail, longer));                 /* a prefix of the text */
    char after = detail[ln - 3];
    assert_true(after == ' ' || after == ',');               /* that ends at a word */
}

static job row(row_status st, unsigned channels, unsigned failed, const char *detail)
{
    job j;
    memset(&j, 0, sizeof j);
    j.status = st;
    j.channels = channels;
    j.failed_channels = failed;
    j.latency_ms = -1;
    snprintf(j.detail, sizeof j.detail, "%s", detail);
    return j;
}

static void add(summary *s, job j) { summary_add(s, &j); }

static void test_counts_and_reasons(void **state)
{
    (void)state;
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    add(s, row(RS_SENT, RULES_SMS | RULES_EMAIL, 0, "Customer notified."));
    for (int i = 0; i < 5; i++) {
        char d[64];
        snprintf(d, sizeof d, "HTTP 404: order ORD-%d not found", 100 + i);
        job j = row(RS_FAILED, RULES_SMS, 0, d);
        snprintf(j.req.ident, sizeof j.req.ident, "ORD-%d", 100 + i); /* the row's own identifier */
        summary_add(s, &j);
    }
    /* one channel of two failed: only that one counts as failed */
    job partial = row(RS_FAILED, RULES_SMS | RULES_EMAIL, RULES_EMAIL, "email failed; sms may have been sent");
    partial.maybe_channels = RULES_SMS;
    summary_add(s, &partial);
    add(s, row(RS_INVALID, 0, 0, "order_no and session_id are both empty (one is required)"));
    add(s, row(RS_INVALID, 0, 0, "order_no and session_id are both empty (one is required)"));
    add(s, row(RS_DUPLICATE, RULES_SMS, 0, "duplicate of row 2"));
    assert_int_equal(s->channel_failed[0], 5);
    assert_int_equal(s->channel_failed[1], 1);
    assert_int_equal(s->channel_failed[2], 0);
    assert_int_equal(s->channel_sent[0], 1);
    const summary_reason *top[SUMMARY_TOP_REASONS];
    int n = summary_top_reasons(s, top, SUMMARY_TOP_REASONS);
    assert_int_equal(n, 3); /* duplicates are not failures */
    assert_string_equal(top[0]->text, "HTTP 404: order <id> not found");
    assert_int_equal(top[0]->count, 5);
    assert_int_equal(top[1]->count, 2);
    assert_int_equal(top[2]->count, 1);
    free(s);
}

static void test_top_ten_of_many(void **state)
{
    (void)state;
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    /* 300 distinct causes (more than are kept), cause k seen (k % 20) + 1 times */
    char d[64];
    for (int k = 0; k < 300; k++) {
        snprintf(d, sizeof d, "cause %c%c%c", 'a' + k % 26, 'a' + (k / 26) % 26, 'a' + k / 676);
        for (int r = 0; r <= k % 20; r++)
            add(s, row(RS_UNKNOWN, RULES_SMS, 0, d));
    }
    assert_int_equal(s->nreasons, SUMMARY_REASONS);
    assert_true(s->other_reasons > 0);
    const summary_reason *top[SUMMARY_TOP_REASONS];
    int n = summary_top_reasons(s, top, SUMMARY_TOP_REASONS);
    assert_int_equal(n, 10);
    for (int i = 0; i < n; i++)
        assert_int_equal(top[i]->count, 20);
    /* ties keep the order first seen: cause 19 came before cause 39 */
    snprintf(d, sizeof d, "cause %c%c%c", 'a' + 19, 'a', 'a');
    assert_string_equal(top[0]->text, d);
    free(s);
}

static void test_ledger_password_removed(void **state)
{
    (void)state;
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    summary_set_ledger(s, "postgresql://ottu:s3cret@db.internal:5432/ottu?sslmode=require&password=x");
    assert_string_equal(s->ledger, "postgresql://ottu@db.internal:5432/ottu");
    summary_set_ledger(s, "postgresql://db.internal/ottu");
    assert_string_equal(s->ledger, "postgresql://db.internal/ottu");
    summary_set_ledger(s, "/var/lib/ottu-resend/ledger.db");
    assert_string_equal(s->ledger, "/var/lib/ottu-resend/ledger.db");
    summary_set_ledger(s, NULL);
    assert_string_equal(s->ledger, "off");
    free(s);
}

static void test_json_keys(void **state)
{
    (void)state;
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    add(s, row(RS_FAILED, RULES_WHATSAPP, 0, "HTTP 400: unit_config 12 not found"));
    add(s, row(RS_NOT_ATTEMPTED, RULES_SMS, 0, "stopped"));
    summary_set_stop(s, "quota", 1795478400000LL); /* 2026-11-24T00:00:00Z */
    summary_set_ledger(s, NULL);
    char err[256];
    const char *p = testdir_path("summary.json");
    assert_int_equal(summary_write_json(s, p, 4, err, sizeof err), 0);
    size_t len;
    char *text = testdir_slurp(p, &len);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    static const char *const ints[] = {"rows", "sent", "failed", "invalid", "duplicate", "skipped",
                                       "not_attempted", "unknown", "dry_run", "requests", "retries",
                                       "exit_code"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, ints[i])));
    assert_int_equal(cJSON_GetObjectItem(o, "exit_code")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "channels_failed"), "whatsapp")->valueint, 1);
    cJSON *reasons = cJSON_GetObjectItem(o, "failure_reasons");
    assert_int_equal(cJSON_GetArraySize(reasons), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reasons, 0), "reason")->valuestring,
                        "HTTP 400: unit_config 12 not found");
    assert_string_equal(cJSON_GetObjectItem(o, "stopped_by")->valuestring, "quota");
    assert_string_equal(cJSON_GetObjectItem(o, "resume_after")->valuestring, "2026-11-24T00:00:00.000Z");
    assert_string_equal(cJSON_GetObjectItem(o, "ledger")->valuestring, "off");
    cJSON_Delete(o);
    free(text);

    /* the text summary says the same */
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    atomic_store(&s->requests, 1);
    summary_print(s, m, "out.csv", NULL, 4);
    fclose(m);
    assert_non_null(strstr(buf, "channels failed: sms 0 email 0 whatsapp 1"));
    assert_non_null(strstr(buf, "HTTP 400: unit_config 12 not found"));
    assert_non_null(strstr(buf, "stopped by the API's quota"));
    assert_non_null(strstr(buf, "2026-11-24T00:00:00.000Z"));
    assert_non_null(strstr(buf, "ledger: off"));
    free(buf);
    free(s);
}

/* A job naming some transactions only by order_no and others only by session_id is
 * warned (they may be one transaction); one kind alone, or rows naming both, are not. */
static void test_mixed_identifier_warning(void **state)
{
    (void)state;
    summary *s = malloc(sizeof *s);
    assert_non_null(s);
    summary_init(s);
    char w[400];
    summary_note_ids(s, REQUEST_ID_ORDER_NO);
    summary_note_ids(s, REQUEST_ID_ORDER_NO | REQUEST_ID_SESSION_ID);
    summary_note_ids(s, 0); /* template rows */
    assert_int_equal(summary_id_warning(s, w, sizeof w), 0);
    summary_note_ids(s, REQUEST_ID_ORDER_NO);
    summary_note_ids(s, REQUEST_ID_SESSION_ID);
    assert_true(summary_id_warning(s, w, sizeof w) > 0);
    assert_non_null(strstr(w, "rows with only an order_no: 2, with only a session_id: 1;"));
    char err[256];
    const char *p = testdir_path("warn.json");
    assert_int_equal(summary_write_json(s, p, 0, err, sizeof err), 0);
    size_t len;
    char *text = testdir_slurp(p, &len);
    cJSON *o = cJSON_Parse(text);
    cJSON *ws = cJSON_GetObjectItem(o, "warnings");
    assert_int_equal(cJSON_GetArraySize(ws), 1);
    assert_string_equal(cJSON_GetArrayItem(ws, 0)->valuestring, w);
    cJSON_Delete(o);
    free(text);
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    summary_print(s, m, NULL, NULL, 0);
    fclose(m);
    assert_non_null(strstr(buf, "warning: rows with only an order_no: 2"));
    free(buf);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_key),
        cmocka_unit_test(test_counts_and_reasons),
        cmocka_unit_test(test_top_ten_of_many),
        cmocka_unit_test(test_ledger_password_removed),
        cmocka_unit_test(test_json_keys),
        cmocka_unit_test(test_mixed_identifier_warning),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
