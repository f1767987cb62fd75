/* test_mock — unit tests of ottu-mock's pure parts: request validation, the transactions
 * loader and lookup, fault draws (old and answer faults), the daily quota, the endpoints'
 * answers under --fail-channel and --false-200, CSV quoting of the deliveries log and the
 * timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/mock/mock_api.h"
#include "../../src/mock/mock_deliveries.h"
#include "../../src/mock/mock_faults.h"
#include "../../src/mock/mock_quota.h"
#include "../../src/mock/mock_stats.h"
#include "../../src/mock/mock_timer.h"
#include "../../src/mock/mock_txn.h"
#include "../../src/mock/mock_validate.h"
#include "rules.h"

/* Validates a message body; returns the errors as compact JSON ("" when valid). */
static char *message_errors(const char *json, mock_message_req *req)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    cJSON *errs = mock_validate_message(body, req);
    char *out = errs ? cJSON_PrintUnformatted(errs) : strdup("");
    cJSON_Delete(errs);
    /* req points into body: the callers only look at lengths and masks afterwards. */
    cJSON_Delete(body);
    return out;
}

static char *template_errors(const char *json, const char *path_channel, mock_template_req *req)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    cJSON *errs = mock_validate_template(body, path_channel, req);
    char *out = errs ? cJSON_PrintUnformatted(errs) : strdup("");
    cJSON_Delete(errs);
    cJSON_Delete(body);
    return out;
}

#define EXPECT_MSG(json, want)                                   \
    do {                                                         \
        mock_message_req r_;                                     \
        char *got_ = message_errors(json, &r_);                  \
        assert_string_equal(got_, want);                         \
        free(got_);                                              \
    } while (0)

#define EXPECT_TPL(json, ch, want)                               \
    do {                                                         \
        mock_template_req r_;                                    \
        char *got_ = template_errors(json, ch, &r_);             \
        assert_string_equal(got_, want);                         \
        free(got_);                                              \
    } while (0)

static void test_message_valid(void **state)
{
    (void)state;
    mock_message_req r;
    char *e = message_errors("{\"order_no\": \" A-1 \", \"channels\": [\"whatsapp\", \"sms\", \"whatsapp\"]}", &r);
    assert_string_equal(e, "");
    free(e);
    assert_int_equal(r.order_no_len, 3); /* trimmed */
    assert_int_equal(r.channels, RULES_SMS | RULES_WHATSAPP);
    assert_int_equal(r.n_channels, 2);
    assert_int_equal(r.order[0], RULES_WHATSAPP);
    assert_int_equal(r.order[1], RULES_SMS);
}

static void test_message_errors(void **state)
{
    (void)state;
    EXPECT_MSG("{}", "{\"channels\":[\"This field is required.\"]}");
    EXPECT_MSG("{\"order_no\":\"a\",\"channels\":[]}", "{\"channels\":[\"This selection may not be empty.\"]}");
    EXPECT_MSG("{\"order_no\":\"a\",\"channels\":[\"sms\",1.5]}", "{\"channels\":[\"\\\"1.5\\\" is not a valid choice.\"]}");
    EXPECT_MSG("{\"order_no\":\"a\",\"channels\":{}}",
               "{\"channels\":[\"Expected a list of items but got type \\\"dict\\\".\"]}");
    EXPECT_MSG("{\"channels\":[\"sms\"]}",
               "{\"non_field_errors\":[\"Either order_no or session_id must be provided.\"]}");
    EXPECT_MSG("{\"order_no\":null,\"session_id\":\"\",\"channels\":[\"sms\"]}",
               "{\"order_no\":[\"This field may not be null.\"],\"session_id\":[\"This field may not be blank.\"]}");
}

static void test_message_length_counts_characters(void **state)
{
    (void)state;
    char json[2048];
    char id[600] = "";
    for (int i = 0; i < 128; i++)
        strcat(id, "\xd8\xb9"); /* U+0639, two bytes */
    snprintf(json, sizeof json, "{\"order_no\":\"%s\",\"channels\":[\"sms\"]}", id);
    EXPECT_MSG(json, "");
    strcat(id, "x");
    snprintf(json, sizeof json, "{\"order_no\":\"%s\",\"channels\":[\"sms\"]}", id);
    EXPECT_MSG(json, "{\"order_no\":[\"Ensure this field has no more than 128 characters.\"]}");
}

static void test_template_rules(void **state)
{
    (void)state;
    mock_template_req r;
    char *e = template_errors("{\"channel\":\"whatsapp\",\"template_id\":\"t\",\"to\":\"+96599999999\",\"unit_config\":4,\"language\":\"ar\"}",
                              NULL, &r);
    assert_string_equal(e, "");
    free(e);
    assert_int_equal(r.channel, RULES_WHATSAPP);
    assert_int_equal(r.unit_config, 4);
    assert_string_equal(r.language, "ar");
    EXPECT_TPL("{\"channel\":\"whatsapp\",\"template_id\":\"t\",\"to\":\"+96599999999\"}", NULL,
               "{\"unit_config\":[\"This field is required for whatsapp.\"]}");
    EXPECT_TPL("{\"template_id\":\"t\",\"to\":\"+96599999999\",\"unit_config\":\"4\"}", "sms",
               "{\"unit_config\":[\"A valid integer is required.\"]}");
    EXPECT_TPL("{\"channel\":\"email\",\"template_id\":\"t\",\"to\":\"a@example.com\"}", "SMS",
               "{\"channel\":[\"\\\"SMS\\\" is not a valid choice.\"]}");
    EXPECT_TPL("{\"template_id\":\"t\",\"to\":\"a@example.com\",\"bcc\":[\"x@y\"]}", "email",
               "{\"bcc\":[\"bcc[0]: Enter a valid email address.\"]}");
    EXPECT_TPL("{\"template_id\":\"t\",\"to\":\"a@example.com\",\"context\":null,\"language\":null}", "email",
               "{\"language\":[\"This field may not be null.\"],\"context\":[\"This field may not be null.\"]}");
}

static void test_phone(void **state)
{
    (void)state;
    assert_true(mock_is_phone("+12345678", 9));
    assert_true(mock_is_phone("+123456789012345", 16));
    assert_false(mock_is_phone("+1234567", 8));
    assert_false(mock_is_phone("+1234567890123456", 17));
    assert_false(mock_is_phone("12345678", 8));
    assert_false(mock_is_phone("+1234 5678", 10));
}

static void test_py_str(void **state)
{
    (void)state;
    char buf[96];
    cJSON *v = cJSON_Parse("[1, 0.1, true, null, \"x\", 1e300, [1]]");
    const char *want[] = {"1", "0.1", "True", "None", "x", "1e+300", "[...]"};
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        mock_json_py_str(item, buf, sizeof buf);
        assert_string_equal(buf, want[i++]);
    }
    cJSON_Delete(v);
}

static const char txn_csv[] =
    "\xef\xbb\xbf" "Order No, session_id, STATE, customer_email, notify_email, notify_SMS, notify_whatsapp\r\n"
    "A-1, s-1, paid, a@example.com, created;paid, paid, paid\r\n"
    "\r\n"
    "R-1, s-2, refunded, , refunded, , refunded;paid\r\n"
    "\"Q,\"\"1\"\"\", , , , Paid, , \r\n";

static void test_txn_load_and_find(void **state)
{
    (void)state;
    mock_txn_table t;
    char err[256] = "";
    assert_int_equal(mock_txn_load_buffer(&t, txn_csv, strlen(txn_csv), err, sizeof err), 0);
    assert_int_equal(t.count, 3);
    const mock_txn *a = mock_txn_find(&t, "A-1", 3, NULL, 0);
    assert_non_null(a);
    assert_ptr_equal(mock_txn_find(&t, NULL, 0, "s-1", 3), a);
    assert_ptr_equal(mock_txn_find(&t, "A-1", 3, "s-1", 3), a);
    assert_null(mock_txn_find(&t, "A-1", 3, "s-2", 3));
    assert_null(mock_txn_find(&t, "A-2", 3, NULL, 0));
    assert_int_equal(mock_txn_channels_now(a), RULES_ALL_CHANNELS);
    const mock_txn *r = mock_txn_find(&t, "R-1", 3, NULL, 0);
    assert_non_null(r);
    assert_int_equal(r->state, RULES_STATE_REFUNDED);
    /* sms enabled for no state; whatsapp enabled but not supported when refunded */
    assert_int_equal(mock_txn_channels_now(r), RULES_EMAIL);
    assert_string_equal(r->email, "");
    assert_null(r->phone); /* no customer_phone column */
    const mock_txn *q = mock_txn_find(&t, "Q,\"1\"", 5, NULL, 0);
    assert_non_null(q);
    assert_int_equal(q->state, RULES_STATE_PAID); /* empty state cell */
    assert_int_equal(mock_txn_channels_now(q), RULES_EMAIL);
    mock_txn_free(&t);
}

static void test_txn_errors(void **state)
{
    (void)state;
    mock_txn_table t;
    char err[256];
    const char *bad[] = {
        "state\npaid\n",                      /* no identifier column */
        "order_no,state\nA,sold\n",           /* unknown state */
        "order_no,notify_sms\nA,paid;later\n", /* unknown state in a notify list */
        "order_no,state\nA,paid,extra\n",     /* more fields than the header */
        "order_no,session_id\nA,s\nA,t\n",    /* duplicate order_no */
        "order_no,session_id\n,\n",           /* no identifier in a row */
        "order_no,order_no\nA,B\n",           /* a column twice */
        "order_no\n\"A\n",                    /* unterminated quote */
        "",                                   /* empty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(mock_txn_load_buffer(&t, bad[i], strlen(bad[i]), err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        assert_null(t.rows);
    }
}

static void test_faults_repeatable(void **state)
{
    (void)state;
    mock_faults a, b;
    int fails = 0, drops = 0;
    assert_int_equal(mock_faults_init(&a, 10, 20, 0, 0, 0.3, 0.1, 42, 0), 0);
    assert_int_equal(mock_faults_init(&b, 10, 20, 0, 0, 0.3, 0.1, 42, 0), 0);
    for (int i = 0; i < 10000; i++) {
        mock_fault_decision x = mock_faults_decide(&a, 1000), y = mock_faults_decide(&b, 1000);
        assert_int_equal(x.kind, y.kind);
        assert_int_equal(x.delay_ms, y.delay_ms);
        assert_in_range(x.delay_ms, 10, 30);
        fails += x.kind == MOCK_FAULT_FAIL;
        drops += x.kind == MOCK_FAULT_DROP;
    }
    /* 10% drops; 30% of the rest fail */
    assert_in_range(drops, 850, 1150);
    assert_in_range(fails, 2500, 2900);
    mock_faults_destroy(&a);
    mock_faults_destroy(&b);
}

static void test_faults_outage_and_rate(void **state)
{
    (void)state;
    mock_faults f;
    assert_int_equal(mock_faults_init(&f, 0, 0, 500, 3, 0, 0, 1, 1000), 0);
    assert_int_equal(mock_faults_decide(&f, 1499).kind, MOCK_FAULT_OUTAGE);
    assert_int_equal(mock_faults_decide(&f, 1500).kind, MOCK_FAULT_NONE);
    for (int i = 0; i < 3; i++)
        assert_false(mock_faults_over_rate(&f, 5000 + i));
    assert_true(mock_faults_over_rate(&f, 5999));
    assert_false(mock_faults_over_rate(&f, 6000)); /* a new second */
    mock_faults_destroy(&f);
}

static void test_lost_parse(void **state)
{
    (void)state;
    unsigned m = 0;
    assert_int_equal(mock_lost_parse("500,502,504,drop,stall", &m), 0);
    assert_int_equal(m, MOCK_LOST_ALL);
    assert_int_equal(mock_lost_parse("drop", &m), 0);
    assert_int_equal(m, 1u << MOCK_LOST_DROP);
    assert_int_equal(mock_lost_parse(" 504 , stall", &m), 0);
    assert_int_equal(m, (1u << MOCK_LOST_504) | (1u << MOCK_LOST_STALL));
    assert_int_equal(mock_lost_parse("", &m), -1);
    assert_int_equal(mock_lost_parse("503", &m), -1);
    assert_int_equal(mock_lost_parse("drop,", &m), -1);
    assert_string_equal(mock_lost_name(MOCK_LOST_STALL), "stall");
    assert_int_equal(mock_false200_parse("result-failed"), MOCK_FALSE200_RESULT_FAILED);
    assert_int_equal(mock_false200_parse("html"), MOCK_FALSE200_HTML);
    assert_int_equal(mock_false200_parse("empty"), MOCK_FALSE200_EMPTY);
    assert_int_equal(mock_false200_parse("HTML"), MOCK_FALSE200_NONE);
}

static void test_answer_faults(void **state)
{
    (void)state;
    mock_faults plain, with;
    int lost = 0, per_kind[MOCK_LOST_COUNT] = {0}, failch = 0, f200 = 0;
    assert_int_equal(mock_faults_init(&plain, 10, 20, 0, 0, 0.3, 0.1, 42, 0), 0);
    assert_int_equal(mock_faults_init(&with, 10, 20, 0, 0, 0.3, 0.1, 42, 0), 0);
    mock_answer_faults a = {0.2, MOCK_LOST_ALL, RULES_EMAIL, 0.5, MOCK_FALSE200_HTML, 0.1};
    mock_faults_set_answer(&with, &a);
    for (int i = 0; i < 10000; i++) {
        mock_fault_decision x = mock_faults_decide(&plain, 1000), y = mock_faults_decide(&with, 1000);
        /* the answer faults draw after the old ones: those keep their sequence */
        assert_int_equal(x.kind, y.kind);
        assert_int_equal(x.delay_ms, y.delay_ms);
        assert_int_equal(x.lost, MOCK_LOST_NONE);
        assert_int_equal(x.fail_channel, 0);
        assert_int_equal(x.false200, MOCK_FALSE200_NONE);
        lost += y.lost != MOCK_LOST_NONE;
        per_kind[y.lost]++;
        failch += y.fail_channel == RULES_EMAIL;
        f200 += y.false200 == MOCK_FALSE200_HTML;
    }
    assert_in_range(lost, 1800, 2200);
    for (int k = MOCK_LOST_500; k <= MOCK_LOST_STALL; k++)
        assert_in_range(per_kind[k], 300, 500); /* one fifth each */
    assert_in_range(failch, 4700, 5300);
    assert_in_range(f200, 850, 1150);
    mock_faults_destroy(&plain);
    mock_faults_destroy(&with);

    /* one kind chosen: every lost answer is of that kind */
    mock_faults one;
    assert_int_equal(mock_faults_init(&one, 0, 0, 0, 0, 0, 0, 7, 0), 0);
    mock_answer_faults b = {1.0, 1u << MOCK_LOST_STALL, 0, 1.0, MOCK_FALSE200_NONE, 1.0};
    mock_faults_set_answer(&one, &b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mock_faults_decide(&one, 0).lost, MOCK_LOST_STALL);
    mock_faults_destroy(&one);
}

static void test_quota(void **state)
{
    (void)state;
    mock_quota q;
    const long long day = 20000LL * 86400; /* a UTC midnight */
    assert_int_equal(mock_seconds_to_utc_midnight(day), 86400);
    assert_int_equal(mock_seconds_to_utc_midnight(day + 1), 86399);
    assert_int_equal(mock_seconds_to_utc_midnight(day + 86399), 1);
    assert_int_equal(mock_quota_init(&q, 2), 0);
    assert_int_equal(mock_quota_take(&q, day + 100), 0);
    assert_int_equal(mock_quota_take(&q, day + 200), 0);
    assert_int_equal(mock_quota_take(&q, day + 300), 86400 - 300);
    assert_int_equal(mock_quota_take(&q, day + 86399), 1);
    assert_int_equal(mock_quota_used(&q, day + 86399), 2); /* refusals are not counted */
    /* the next UTC day starts from 0 */
    assert_int_equal(mock_quota_used(&q, day + 86400), 0);
    assert_int_equal(mock_quota_take(&q, day + 86400), 0);
    assert_int_equal(mock_quota_take(&q, day + 86401), 0);
    assert_int_equal(mock_quota_take(&q, day + 86402), 86400 - 2);
    mock_quota_reset(&q);
    assert_int_equal(mock_quota_used(&q, day + 86403), 0);
    assert_int_equal(mock_quota_take(&q, day + 86403), 0);
    mock_quota_destroy(&q);
    /* no quota: counted, never refused; a quota of 0 refuses everything */
    assert_int_equal(mock_quota_init(&q, -1), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mock_quota_take(&q, day), 0);
    assert_int_equal(mock_quota_used(&q, day), 1000);
    mock_quota_destroy(&q);
    assert_int_equal(mock_quota_init(&q, 0), 0);
    assert_true(mock_quota_take(&q, day + 5) > 0);
    mock_quota_destroy(&q);
}

/* An API with a deliveries log in a temporary file, for the endpoint tests. */
typedef struct api_fixture {
    char path[64];
    mock_deliveries dlv;
    mock_stats stats;
    mock_api api;
} api_fixture;

static void fixture_open(api_fixture *f)
{
    char err[128];
    snprintf(f->path, sizeof f->path, "/tmp/test_mock_dlv.%ld", (long)getpid());
    unlink(f->path);
    assert_int_equal(mock_deliveries_open(&f->dlv, f->path, err, sizeof err), 0);
    mock_stats_init(&f->stats, 0);
    assert_int_equal(mock_api_init(&f->api, NULL, &f->dlv, &f->stats, NULL, 0), 0);
}

static void fixture_close(api_fixture *f)
{
    mock_api_destroy(&f->api);
    mock_deliveries_close(&f->dlv);
    unlink(f->path);
}

/* The deliveries file without the time column, lines joined with '|'. */
static char *deliveries(const api_fixture *f)
{
    FILE *fp = fopen(f->path, "r");
    char line[256];
    char *out = calloc(1, 4096);
    assert_non_null(fp);
    assert_non_null(out);
    while (fgets(line, sizeof line, fp)) {
        char *rest = strchr(line, ',');
        assert_non_null(rest);
        line[strcspn(line, "\n")] = '\0';
        if (*out)
            strcat(out, "|");
        strcat(out, rest + 1);
    }
    fclose(fp);
    return out;
}

static void notify(api_fixture *f, mock_endpoint ep, const char *body, mock_plan plan, mock_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    mock_api_notify(&f->api, ep, NULL, body, strlen(body), &plan, ans);
}

static void test_fail_channel(void **state)
{
    (void)state;
    api_fixture f;
    mock_answer ans;
    char *d;
    fixture_open(&f);
    mock_plan plan = {RULES_EMAIL, MOCK_FALSE200_NONE};
    /* email among others: the others go out, the answer names email */
    notify(&f, MOCK_EP_MESSAGE, "{\"order_no\": \"P-1\", \"session_id\": \"s-1\", \"channels\": [\"email\", \"sms\", \"whatsapp\"]}",
           plan, &ans);
    assert_int_equal(ans.status, 400);
    assert_string_equal(ans.body, "{\"order_no\":\"P-1\",\"session_id\":\"s-1\",\"channels\":\"email\",\"result\":\"failed\"}");
    mock_answer_free(&ans);
    /* email alone: the same answer, nothing delivered */
    notify(&f, MOCK_EP_MESSAGE, "{\"session_id\": \"s-2\", \"channels\": [\"email\"]}", plan, &ans);
    assert_int_equal(ans.status, 400);
    assert_string_equal(ans.body, "{\"session_id\":\"s-2\",\"channels\":\"email\",\"result\":\"failed\"}");
    mock_answer_free(&ans);
    /* a request without email is untouched */
    notify(&f, MOCK_EP_MESSAGE, "{\"order_no\": \"P-3\", \"channels\": [\"sms\"]}", plan, &ans);
    assert_int_equal(ans.status, 200);
    mock_answer_free(&ans);
    /* templates are not affected */
    notify(&f, MOCK_EP_SEND, "{\"channel\": \"email\", \"template_id\": \"t\", \"to\": \"a@example.com\"}", plan, &ans);
    assert_int_equal(ans.status, 200);
    mock_answer_free(&ans);
    d = deliveries(&f);
    assert_string_equal(d, "message,P-1,sms,paid|message,P-1,whatsapp,paid|message,P-3,sms,paid|send,a@example.com,email,t");
    free(d);
    assert_int_equal(atomic_load(&f.stats.partial), 2);
    assert_int_equal(atomic_load(&f.stats.delivered), 4);
    fixture_close(&f);
}

static void test_false_200(void **state)
{
    (void)state;
    api_fixture f;
    mock_answer ans;
    char *d;
    fixture_open(&f);
    notify(&f, MOCK_EP_MESSAGE, "{\"order_no\": \"F-1\", \"channels\": [\"sms\"]}",
           (mock_plan){0, MOCK_FALSE200_RESULT_FAILED}, &ans);
    assert_int_equal(ans.status, 200);
    assert_string_equal(ans.body, "{\"result\":\"failed\"}");
    assert_null(ans.content_type);
    mock_answer_free(&ans);
    notify(&f, MOCK_EP_MESSAGE, "{\"order_no\": \"F-2\", \"channels\": [\"sms\"]}",
           (mock_plan){0, MOCK_FALSE200_HTML}, &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "<form"));
    assert_string_equal(ans.content_type, "text/html; charset=utf-8");
    mock_answer_free(&ans);
    notify(&f, MOCK_EP_SEND, "{\"channel\": \"sms\", \"template_id\": \"t\", \"to\": \"+96599999999\"}",
           (mock_plan){0, MOCK_FALSE200_EMPTY}, &ans);
    assert_int_equal(ans.status, 200);
    assert_int_equal(ans.len, 0);
    mock_answer_free(&ans);
    notify(&f, MOCK_EP_SEND, "{\"channel\": \"sms\", \"template_id\": \"t\", \"to\": \"+96599999998\"}",
           (mock_plan){0, MOCK_FALSE200_RESULT_FAILED}, &ans);
    assert_string_equal(ans.body, "{\"result\":\"failed\"}");
    mock_answer_free(&ans);
    /* a request that is refused anyway stays refused */
    notify(&f, MOCK_EP_MESSAGE, "{\"channels\": [\"fax\"]}", (mock_plan){0, MOCK_FALSE200_HTML}, &ans);
    assert_int_equal(ans.status, 400);
    mock_answer_free(&ans);
    d = deliveries(&f);
    assert_string_equal(d, "message,F-2,sms,paid|send,+96599999999,sms,t");
    free(d);
    assert_int_equal(atomic_load(&f.stats.false_200), 4);
    fixture_close(&f);
}

static void test_csv_field(void **state)
{
    (void)state;
    char buf[64];
    size_t o = 0;
    assert_int_equal(mock_csv_field(buf, sizeof buf, &o, "plain", 5), 0);
    buf[o++] = ',';
    assert_int_equal(mock_csv_field(buf, sizeof buf, &o, "a,\"b\"\n", 6), 0);
    buf[o] = '\0';
    assert_string_equal(buf, "plain,\"a,\"\"b\"\"\n\"");
    o = 0;
    assert_int_equal(mock_csv_field(buf, 4, &o, "abcd", 4), -1);
}

static void test_utc_format(void **state)
{
    (void)state;
    char buf[40];
    size_t n = mock_format_utc_now(buf, sizeof buf);
    assert_int_equal(n, 24);
    assert_int_equal(buf[10], 'T');
    assert_int_equal(buf[19], '.');
    assert_int_equal(buf[23], 'Z');
}

static void count_fire(void *arg)
{
    int *n = arg;
    (*n)++;
}

static void test_timer(void **state)
{
    (void)state;
    mock_timer t;
    int fired = 0;
    assert_int_equal(mock_timer_start(&t), 0);
    long long now = mock_now_us();
    assert_int_equal(mock_timer_add(&t, now + 1000, count_fire, &fired), 0);
    assert_int_equal(mock_timer_add(&t, now + 60 * 1000000LL, count_fire, &fired), 0);
    usleep(50000);
    /* the first has fired; stopping fires the far one at once */
    mock_timer_stop(&t);
    assert_int_equal(fired, 2);
    assert_int_equal(mock_timer_add(&t, now, count_fire, &fired), -1);
    mock_timer_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_valid),
        cmocka_unit_test(test_message_errors),
        cmocka_unit_test(test_message_length_counts_characters),
        cmocka_unit_test(test_template_rules),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_py_str),
        cmocka_unit_test(test_txn_load_and_find),
        cmocka_unit_test(test_txn_errors),
        cmocka_unit_test(test_faults_repeatable),
        cmocka_unit_test(test_faults_outage_and_rate),
        cmocka_unit_test(test_lost_parse),
        cmocka_unit_test(test_answer_faults),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_fail_channel),
        cmocka_unit_test(test_false_200),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_utc_format),
        cmocka_unit_test(test_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
