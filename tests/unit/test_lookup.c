/* test_lookup — --verify's pure parts: the GET's path (Ottu's published parameter pattern),
 * reading a CheckoutGETResponse, the verdict on a row (drift, channels dropped, contacts),
 * and the cache's one entry per session_id. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "rules.h"

static void test_path(void **state)
{
    (void)state;
    char p[200];
    assert_int_equal(lookup_path("a1B2-c_3", p, sizeof p), 0);
    assert_string_equal(p, "/b/checkout/v1/pymt-txn/a1B2-c_3/");
    /* ^[-\w]+$: nothing that could leave the path segment or need escaping */
    const char *bad[] = {"", "a/b", "a b", "a?b", "a%2F", "..", "a.b", "\xd8\xb9", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lookup_path(bad[i], p, sizeof p), -1);
    char longid[200];
    memset(longid, 'x', 129);
    longid[129] = '\0';
    assert_int_equal(lookup_path(longid, p, sizeof p), -1);
    assert_int_equal(lookup_path("abc", p, 10), -1); /* no room: refused, not cut */
}

static const char full[] =
    "{\"session_id\": \"S-1\", \"order_no\": \"O-1\\u00a0\", \"state\": \"refunded\", \"amount\": \"10.000\","
    " \"notifications\": {\"email\": [\"created\", \"refunded\"], \"SMS\": [\"paid\", \"bogus\", 7],"
    " \"whatsapp\": [\"paid\"], \"fax\": [\"paid\"]},"
    " \"customer_email\": \"a@example.com\", \"customer_phone\": \" \"}";

static void test_parse(void **state)
{
    (void)state;
    lookup_txn t;
    char err[200];
    assert_int_equal(lookup_parse(full, strlen(full), &t, err, sizeof err), 0);
    assert_int_equal(t.state, RULES_STATE_REFUNDED);
    assert_string_equal(t.order_no, "O-1"); /* trimmed as the API compares it */
    assert_int_equal(t.events[1], (1u << RULES_STATE_CREATED) | (1u << RULES_STATE_REFUNDED)); /* email */
    assert_int_equal(t.events[0], 1u << RULES_STATE_PAID); /* "SMS" in Ottu's spelling; junk ignored */
    assert_int_equal(t.events[2], 1u << RULES_STATE_PAID);
    assert_true(t.has_email);
    assert_false(t.has_phone); /* blank is none */
    lookup_txn_clear(&t);

    const char *nonotify = "{\"state\": \"paid\", \"notifications\": null}";
    assert_int_equal(lookup_parse(nonotify, strlen(nonotify), &t, err, sizeof err), 0);
    assert_int_equal(t.events[0] | t.events[1] | t.events[2], 0);
    assert_string_equal(t.order_no, "");
    lookup_txn_clear(&t);

    const char *bad[] = {"", "<html>Sign in</html>", "[]", "{}", "{\"state\": 3}", "{\"state\": \"lost\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(lookup_parse(bad[i], strlen(bad[i]), &t, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        lookup_txn_clear(&t);
    }
}

static lookup_txn txn(rules_state st, uint16_t sms, uint16_t email, uint16_t wa, int has_email, int has_phone)
{
    lookup_txn t = {.order_no = NULL, .state = st, .events = {sms, email, wa}, .has_email = has_email,
                    .has_phone = has_phone};
    return t;
}

#define EV(s) ((uint16_t)(1u << (s)))

static void test_judge(void **state)
{
    (void)state;
    lookup_verdict v;
    const unsigned all = RULES_ALL_CHANNELS;
    lookup_txn paid = txn(RULES_STATE_PAID, EV(RULES_STATE_PAID), EV(RULES_STATE_PAID), EV(RULES_STATE_PAID), 1, 1);
    /* same state: everything goes, no note */
    lookup_judge(&paid, all, RULES_STATE_PAID, 0, &v);
    assert_true(v.go);
    assert_int_equal(v.keep, all);
    assert_string_equal(v.note, "");
    /* no state column: sent for the current state, said so */
    lookup_judge(&paid, RULES_SMS, RULES_STATE_NONE, 0, &v);
    assert_true(v.go);
    assert_string_equal(v.note, "sent for the current state paid");
    /* drift: skipped naming both, unless the current state is accepted */
    lookup_txn refunded = txn(RULES_STATE_REFUNDED, EV(RULES_STATE_REFUNDED), EV(RULES_STATE_REFUNDED),
                              EV(RULES_STATE_PAID), 1, 1);
    lookup_judge(&refunded, all, RULES_STATE_PAID, 0, &v);
    assert_false(v.go);
    assert_non_null(strstr(v.note, "state is refunded now, the row says paid"));
    lookup_judge(&refunded, all, RULES_STATE_PAID, 1, &v);
    assert_true(v.go);
    assert_int_equal(v.keep, RULES_SMS | RULES_EMAIL); /* whatsapp: no refunded notification */
    assert_non_null(strstr(v.note, "sent for the current state refunded (the row says paid"));
    assert_non_null(strstr(v.note, "dropped whatsapp not enabled for refunded"));
    /* channels not enabled, or without a contact, are dropped; none left: skipped */
    lookup_txn noemail = txn(RULES_STATE_PAID, EV(RULES_STATE_PAID), EV(RULES_STATE_PAID), 0, 0, 1);
    lookup_judge(&noemail, all, RULES_STATE_PAID, 0, &v);
    assert_true(v.go);
    assert_int_equal(v.keep, RULES_SMS);
    assert_string_equal(v.note, "dropped whatsapp not enabled for paid; email: no customer_email");
    lookup_judge(&noemail, RULES_EMAIL | RULES_WHATSAPP, RULES_STATE_PAID, 0, &v);
    assert_false(v.go);
    assert_non_null(strstr(v.note, "no channel left"));
    lookup_txn nophone = txn(RULES_STATE_PAID, EV(RULES_STATE_PAID), 0, 0, 1, 0);
    lookup_judge(&nophone, RULES_SMS, RULES_STATE_PAID, 0, &v);
    assert_false(v.go);
    assert_string_equal(v.note, "no channel left: sms: no customer_phone");
    /* a state without notification: nothing can be sent */
    lookup_txn pending = txn(RULES_STATE_PENDING, 0xffff, 0xffff, 0xffff, 1, 1);
    lookup_judge(&pending, all, RULES_STATE_NONE, 0, &v);
    assert_false(v.go);
    assert_non_null(strstr(v.note, "pending now: Ottu has no notification"));
}

static void test_cache_one_entry_per_session(void **state)
{
    (void)state;
    lookup_opts o = {.capacity = 4};
    lookup *l = lookup_new(&o);
    assert_non_null(l);
    int fresh;
    lookup_entry *a = lookup_get(l, "S-1", &fresh);
    assert_non_null(a);
    assert_true(fresh);
    lookup_entry *b = lookup_get(l, "S-1", &fresh);
    assert_ptr_equal(a, b);
    assert_false(fresh); /* the second row waits for the first row's GET */
    assert_false(lookup_done(l, a));
    lookup_entry *c = lookup_get(l, "S-2", &fresh);
    assert_true(fresh && c != a);
    assert_int_equal(lookup_cached(l), 2);
    /* a full cache of entries still waited for refuses more rather than growing */
    assert_non_null(lookup_get(l, "S-3", &fresh));
    assert_non_null(lookup_get(l, "S-4", &fresh));
    assert_null(lookup_get(l, "S-5", &fresh));
    assert_int_equal(lookup_cached(l), 4);
    lookup_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_cache_one_entry_per_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
