/* test_request — unit tests of columns (header → roles) and request (row → validated
 * API request): message and template bodies, every validation rule of the contract,
 * fingerprints, attachments, base64, and the bodies checked against Ottu's published
 * request schemas. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "columns.h"
#include "reader.h"
#include "request.h"
#include "rules.h"

#define OPENAPI_DIR "tests/data/ottu-openapi"
#define PATH_MESSAGE "/b/pbl/v2/message-notification/"
#define PATH_SEND "/b/pbl/v2/send-notification/"

#define TESTDIR_NAME "request"
#include "testdir.h"

/* ---- helpers ---- */

/* A record from a NULL-terminated list of fields. */
static void rec_v(record *r, long rowno, va_list ap)
{
    record_clear(r);
    const char *f;
    while ((f = va_arg(ap, const char *)) != NULL)
        assert_int_equal(record_push(r, f, strlen(f)), 0);
    r->rowno = rowno;
}

static void rec_of(record *r, long rowno, ...)
{
    va_list ap;
    va_start(ap, rowno);
    rec_v(r, rowno, ap);
    va_end(ap);
}

/* Parses a header given as a NULL-terminated list; returns columns_parse's result. */
static int hdr(columns *c, job_mode mode, char *err, size_t errlen, ...)
{
    record h;
    record_init(&h);
    va_list ap;
    va_start(ap, errlen);
    rec_v(&h, 0, ap);
    va_end(ap);
    err[0] = '\0';
    int rc = columns_parse(c, &h, mode, NULL, 0, err, errlen);
    record_free(&h);
    return rc;
}

static request_opts msg_opts(void)
{
    request_opts o = {.mode = MODE_MESSAGE, .default_channels = 0, .per_channel_endpoint = 0, .job_id = "job-1"};
    return o;
}

static cJSON *body_json(const request *r)
{
    assert_non_null(r->body);
    assert_int_equal(strlen(r->body), r->bodylen);
    cJSON *j = cJSON_Parse(r->body);
    if (!cJSON_IsObject(j))
        fail_msg("body is not a JSON object: %s", r->body);
    return j;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int nkeys(const cJSON *o)
{
    int n = 0;
    for (const cJSON *it = o->child; it; it = it->next)
        n++;
    return n;
}

/* Asserts that key is an array of exactly these strings (NULL-terminated). */
static void str_array_is(const cJSON *o, const char *key, ...)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a))
        fail_msg("\"%s\" is not an array", key);
    va_list ap;
    va_start(ap, key);
    const char *want;
    int i = 0;
    while ((want = va_arg(ap, const char *)) != NULL) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
            fail_msg("%s[%d] is not \"%s\"", key, i, want);
        i++;
    }
    va_end(ap);
    assert_int_equal(cJSON_GetArraySize(a), i);
}

/* ---- message mode fixture ---- */

static columns mcols;

static void mcols_setup(void)
{
    char err[256];
    if (hdr(&mcols, MODE_AUTO, err, sizeof err, "order_no", "session_id", "channels", "state", "note", NULL) != 0)
        fail_msg("header: %s", err);
    assert_int_equal(mcols.mode, MODE_MESSAGE);
}

/* Builds a message row: order_no, session_id, channels, state. */
static int mbuild(request *r, long rowno, const char *ord, const char *sess, const char *ch, const char *st,
                  const request_opts *o, unsigned drop)
{
    record rec;
    record_init(&rec);
    rec_of(&rec, rowno, ord, sess, ch, st, "n", NULL);
    int rc = request_build(&mcols, &rec, o, drop, r);
    record_free(&rec);
    return rc;
}

/* ---- template mode fixture ---- */

static const char *const TH[] = {"channel", "template_id", "to", "language", "unit_config", "subject",
                                 "body", "cc", "bcc", "trace_id", "tags", "attachments",
                                 "context.FirstName", "Context.amount"};
#define TN (sizeof TH / sizeof TH[0])

static columns tcols;

static void tcols_setup(void)
{
    record h;
    record_init(&h);
    for (size_t i = 0; i < TN; i++)
        record_push(&h, TH[i], strlen(TH[i]));
    char err[256];
    if (columns_parse(&tcols, &h, MODE_AUTO, NULL, 0, err, sizeof err) != 0)
        fail_msg("header: %s", err);
    record_free(&h);
    assert_int_equal(tcols.mode, MODE_TEMPLATE);
}

/* A template row from name/value pairs (NULL-terminated); other cells empty. */
static void trow_v(record *r, long rowno, va_list ap)
{
    const char *val[TN] = {0};
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        size_t i;
        for (i = 0; i < TN && strcmp(TH[i], k) != 0; i++)
            ;
        if (i == TN)
            fail_msg("no template column %s", k);
        val[i] = v;
    }
    record_clear(r);
    for (size_t i = 0; i < TN; i++)
        record_push(r, val[i] ? val[i] : "", val[i] ? strlen(val[i]) : 0);
    r->rowno = rowno;
}

static int tbuild(request *r, const request_opts *o, long rowno, ...)
{
    record rec;
    record_init(&rec);
    va_list ap;
    va_start(ap, rowno);
    trow_v(&rec, rowno, ap);
    va_end(ap);
    int rc = request_build(&tcols, &rec, o, 0, r);
    if (rc == 0)
        rc = request_load_attachments(r, &tcols, &rec, o); /* the step for rows that will be sent */
    record_free(&rec);
    return rc;
}

static request_opts tmpl_opts(void)
{
    request_opts o = {.mode = MODE_TEMPLATE, .default_channels = 0, .per_channel_endpoint = 0,
                      .job_id = "20261123-abcdef0123456789"};
    return o;
}

static int setup_fixtures(void **state)
{
    (void)state;
    mcols_setup();
    tcols_setup();
    return 0;
}

static int teardown_fixtures(void **state)
{
    (void)state;
    columns_free(&mcols);
    columns_free(&tcols);
    return 0;
}

/* Asserts an invalid row whose detail contains every given fragment (NULL-terminated). */
static void invalid_with(int rc, const request *r, ...)
{
    if (rc != 1 || r->valid)
        fail_msg("row should be invalid (rc %d, valid %d, detail \"%s\", body %s)", rc, r->valid, r->detail,
                 r->body ? r->body : "-");
    va_list ap;
    va_start(ap, r);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL) {
        if (!strstr(r->detail, frag))
            fail_msg("detail \"%s\" does not mention \"%s\"", r->detail, frag);
    }
    va_end(ap);
}

static void valid_ok(int rc, const request *r)
{
    if (rc != 0 || !r->valid)
        fail_msg("row should be valid (rc %d): %s", rc, r->detail);
}

/* ======================= columns ======================= */

static void test_columns_message_needs_identifier(void **state)
{
    (void)state;
    columns c;
    char err[256];
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "channels", "state", NULL), -1);
    assert_non_null(strstr(err, "order_no"));
    columns_free(&c);
    assert_int_equal(hdr(&c, MODE_MESSAGE, err, sizeof err, "Session-ID", "Channels", NULL), 0);
    assert_int_equal(c.mode, MODE_MESSAGE);
    assert_int_equal(c.idx[COL_SESSION_ID], 0);
    assert_int_equal(c.idx[COL_CHANNELS], 1);
    assert_int_equal(c.idx[COL_ORDER_NO], -1);
    assert_int_equal(c.idx[COL_STATE], -1);
    columns_free(&c);
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "  Order No ", "channel", "State", NULL), 0);
    assert_int_equal(c.idx[COL_ORDER_NO], 0);
    assert_int_equal(c.idx[COL_CHANNELS], 1);
    assert_int_equal(c.idx[COL_STATE], 2);
    assert_string_equal(c.name[0], "  Order No "); /* original names are kept for the output */
    columns_free(&c);
}

static void test_columns_duplicates_rejected(void **state)
{
    (void)state;
    columns c;
    char err[256];
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "order_no", "channels", "channel", NULL), -1);
    assert_non_null(strstr(err, "\"channels\""));
    assert_non_null(strstr(err, "\"channel\""));
    assert_non_null(strstr(err, "2"));
    assert_non_null(strstr(err, "3"));
    columns_free(&c);
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "Order No", "channels", "order_no", NULL), -1);
    assert_non_null(strstr(err, "Order No"));
    assert_non_null(strstr(err, "\"order_no\""));
    columns_free(&c);
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "session_id", "Session ID", "channels", NULL), -1);
    assert_non_null(strstr(err, "Session ID"));
    columns_free(&c);
    /* template mode: two context columns with one NAME */
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "channel", "template_id", "to", "context.a",
                         "context.a", NULL), -1);
    assert_non_null(strstr(err, "context.a"));
    columns_free(&c);
}


/* Parses a header with --map strings; returns columns_parse's result. */
static int hdr_maps(columns *c, const char **maps, int nmaps, char *err, size_t errlen, ...)
{
    record h;
    record_init(&h);
    va_list ap;
    va_start(ap, errlen);
    rec_v(&h, 0, ap);
    va_end(ap);
    err[0] = '\0';
    int rc = columns_parse(c, &h, MODE_AUTO, maps, nmaps, err, errlen);
    record_free(&h);
    return rc;
}

static void test_columns_map(void **state)
{
    (void)state;
    columns c;
    char err[400];
    const char *m1[] = {"merchant ref=order_no", "Notify-Via = Channels"};
    assert_int_equal(hdr_maps(&c, m1, 2, err, sizeof err, "Merchant Ref", "Notify Via", "Customer", NULL), 0);
    assert_int_equal(c.mode, MODE_MESSAGE);
    assert_int_equal(c.idx[COL_ORDER_NO], 0);
    assert_int_equal(c.idx[COL_CHANNELS], 1);
    assert_int_equal(c.role[2], COL_EXTRA);
    assert_string_equal(c.name[0], "Merchant Ref"); /* the output keeps the original header */
    columns_free(&c);
    /* mapping onto template_id switches to template mode; context.NAME keeps its case */
    const char *m2[] = {"Template=template_id", "Mobile=to", "Via=channel", "Customer Name=context.FirstName"};
    assert_int_equal(hdr_maps(&c, m2, 4, err, sizeof err, "Via", "Template", "Mobile", "Customer Name", NULL), 0);
    assert_int_equal(c.mode, MODE_TEMPLATE);
    assert_int_equal(c.idx[COL_TEMPLATE_ID], 1);
    assert_int_equal(c.idx[COL_TO], 2);
    assert_int_equal(c.role[3], COL_CONTEXT);
    assert_string_equal(c.context_name[3], "FirstName");
    columns_free(&c);
    /* a header the file does not have */
    const char *m3[] = {"Order Ref=order_no"};
    assert_int_equal(hdr_maps(&c, m3, 1, err, sizeof err, "order_no", "channels", NULL), -1);
    assert_non_null(strstr(err, "no column \"Order Ref\""));
    columns_free(&c);
    /* a target that is not a recognised name, and a map without '=' */
    const char *m4[] = {"channels=channelz"};
    assert_int_equal(hdr_maps(&c, m4, 1, err, sizeof err, "order_no", "channels", NULL), -1);
    assert_non_null(strstr(err, "\"channelz\" is not a column ottu-resend knows"));
    columns_free(&c);
    const char *m5[] = {"order_no"};
    assert_int_equal(hdr_maps(&c, m5, 1, err, sizeof err, "order_no", "channels", NULL), -1);
    assert_non_null(strstr(err, "HEADER=name"));
    columns_free(&c);
    /* mapped onto a name another column already has */
    const char *m6[] = {"Ref=order_no"};
    assert_int_equal(hdr_maps(&c, m6, 1, err, sizeof err, "order_no", "Ref", "channels", NULL), -1);
    assert_non_null(strstr(err, "both mean order_no"));
    columns_free(&c);
}

static void test_columns_result_ignored(void **state)
{
    (void)state;
    columns c;
    char err[256];
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "order_no", "result_status", "channels", "Result Detail",
                         "note", "result_finished_at", NULL), 0);
    assert_int_equal(c.n, 6);
    assert_int_equal(c.role[1], COL_RESULT);
    assert_int_equal(c.role[3], COL_RESULT);
    assert_int_equal(c.role[5], COL_RESULT);
    assert_int_equal(c.role[4], COL_EXTRA);
    assert_int_equal(c.nout, 3);
    assert_int_equal(c.out[0], 0);
    assert_int_equal(c.out[1], 2);
    assert_int_equal(c.out[2], 4);
    columns_free(&c);
}

static void test_columns_template_autodetect(void **state)
{
    (void)state;
    columns c;
    char err[256];
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "Channel", "Template ID", "TO", "context.FirstName",
                         "Context.Order_Total", "order_no", NULL), 0);
    assert_int_equal(c.mode, MODE_TEMPLATE);
    assert_int_equal(c.idx[COL_CHANNELS], 0);
    assert_int_equal(c.idx[COL_TEMPLATE_ID], 1);
    assert_int_equal(c.idx[COL_TO], 2);
    assert_int_equal(c.role[3], COL_CONTEXT);
    assert_int_equal(c.role[4], COL_CONTEXT);
    assert_string_equal(c.context_name[3], "FirstName");
    assert_string_equal(c.context_name[4], "Order_Total");
    assert_null(c.context_name[0]);
    assert_int_equal(c.role[5], COL_EXTRA); /* order_no means nothing in template mode */
    assert_int_equal(c.nout, 6);
    columns_free(&c);
    /* without template_id: message mode, and context.* is an extra column */
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "order_no", "channels", "context.x", "to", NULL), 0);
    assert_int_equal(c.mode, MODE_MESSAGE);
    assert_int_equal(c.role[2], COL_EXTRA);
    assert_int_equal(c.role[3], COL_EXTRA);
    columns_free(&c);
    /* --mode message overrides the detection */
    assert_int_equal(hdr(&c, MODE_MESSAGE, err, sizeof err, "order_no", "channels", "template_id", NULL), 0);
    assert_int_equal(c.mode, MODE_MESSAGE);
    assert_int_equal(c.role[2], COL_EXTRA);
    columns_free(&c);
    /* template mode needs channel, template_id and to */
    assert_int_equal(hdr(&c, MODE_AUTO, err, sizeof err, "channel", "template_id", NULL), -1);
    assert_non_null(strstr(err, "to"));
    columns_free(&c);
    assert_int_equal(hdr(&c, MODE_TEMPLATE, err, sizeof err, "template_id", "to", NULL), -1);
    assert_non_null(strstr(err, "channel"));
    columns_free(&c);
}

/* ======================= message mode ======================= */

static void test_message_body_exact(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    valid_ok(mbuild(&r, 1, "A1", "", "Email, SMS", "", &o, 0), &r);
    assert_string_equal(r.path, PATH_MESSAGE);
    assert_int_equal(r.channels, RULES_SMS | RULES_EMAIL);
    assert_string_equal(r.ident, "A1");
    assert_string_equal(r.ledger_key, "A1");
    assert_string_equal(r.detail, "");
    cJSON *j = body_json(&r);
    assert_string_equal(jstr(j, "order_no"), "A1");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "session_id"));
    str_array_is(j, "channels", "sms", "email", NULL);
    assert_int_equal(nkeys(j), 2);
    cJSON_Delete(j);

    /* session_id only */
    valid_ok(mbuild(&r, 2, "", "sess-9", "whatsapp email", "", &o, 0), &r);
    j = body_json(&r);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "order_no"));
    assert_string_equal(jstr(j, "session_id"), "sess-9");
    str_array_is(j, "channels", "email", "whatsapp", NULL);
    assert_int_equal(nkeys(j), 2);
    assert_string_equal(r.ident, "sess-9");
    cJSON_Delete(j);

    /* both, trimmed; the identifier is order_no */
    valid_ok(mbuild(&r, 3, "  A2 ", "\tS2 ", "whatsapp|sms|email", "", &o, 0), &r);
    j = body_json(&r);
    assert_string_equal(jstr(j, "order_no"), "A2");
    assert_string_equal(jstr(j, "session_id"), "S2");
    str_array_is(j, "channels", "sms", "email", "whatsapp", NULL);
    assert_int_equal(nkeys(j), 3);
    assert_string_equal(r.ident, "A2");
    cJSON_Delete(j);

    /* characters JSON must escape survive the round trip */
    valid_ok(mbuild(&r, 4, "A\"\\/\xd8\xb9", "", "sms", "", &o, 0), &r);
    j = body_json(&r);
    assert_string_equal(jstr(j, "order_no"), "A\"\\/\xd8\xb9");
    cJSON_Delete(j);
    request_free(&r);
}

static void test_message_identifier_rules(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    char id[600];
    invalid_with(mbuild(&r, 1, "", "  ", "sms", "", &o, 0), &r, "order_no", "session_id", NULL);
    memset(id, 'x', 129);
    id[129] = '\0';
    invalid_with(mbuild(&r, 1, id, "", "sms", "", &o, 0), &r, "order_no", "129", NULL);
    invalid_with(mbuild(&r, 1, "", id, "sms", "", &o, 0), &r, "session_id", NULL);
    id[128] = '\0';
    valid_ok(mbuild(&r, 1, id, "", "sms", "", &o, 0), &r);
    /* 128 Arabic letters = 256 bytes, still valid */
    for (int i = 0; i < 128; i++)
        memcpy(id + 2 * i, "\xd8\xb9", 2);
    id[256] = '\0';
    valid_ok(mbuild(&r, 1, id, "", "sms", "", &o, 0), &r);
    invalid_with(mbuild(&r, 1, "A\x01", "", "sms", "", &o, 0), &r, "order_no", "control", NULL);
    invalid_with(mbuild(&r, 1, "A\xc2\x85" "B", "", "sms", "", &o, 0), &r, "order_no", NULL);
    invalid_with(mbuild(&r, 1, "A1", "S\x7f", "sms", "", &o, 0), &r, "session_id", NULL);
    invalid_with(mbuild(&r, 1, "A\xc0\xaf", "", "sms", "", &o, 0), &r, "order_no", "UTF-8", NULL);
    /* the detail never carries the raw bytes */
    for (const unsigned char *p = (const unsigned char *)r.detail; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    request_free(&r);
}

/* Identity as the API sees it: an identifier with Unicode spaces at its ends is the same
 * order (sent, compared, sharded and recorded trimmed). */
static void test_message_identifier_unicode_trim(void **state)
{
    (void)state;
    request r, r2;
    request_init(&r);
    request_init(&r2);
    request_opts o = msg_opts();
    valid_ok(mbuild(&r, 1, "O-7", "", "sms", "", &o, 0), &r);
    assert_int_equal(r.id_kinds, REQUEST_ID_ORDER_NO);
    const char *variants[] = {"O-7\xc2\xa0", "O-7\xe3\x80\x80", "\tO-7", " O-7 ", "\xe2\x80\x83O-7\xc2\x85"};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        valid_ok(mbuild(&r2, 2, variants[i], "", "sms", "", &o, 0), &r2);
        assert_string_equal(r2.body, r.body);
        assert_string_equal(r2.ident, "O-7");
        assert_string_equal(r2.ledger_key, "O-7");
        assert_true(r2.fingerprint == r.fingerprint);
    }
    /* session_id too, and both kinds are told apart */
    valid_ok(mbuild(&r2, 3, "", "S-1\xe3\x80\x80", "sms", "", &o, 0), &r2);
    assert_string_equal(r2.ident, "S-1");
    assert_int_equal(r2.id_kinds, REQUEST_ID_SESSION_ID);
    cJSON *j = body_json(&r2);
    assert_string_equal(jstr(j, "session_id"), "S-1");
    cJSON_Delete(j);
    valid_ok(mbuild(&r2, 4, "O-7", "S-1", "sms", "", &o, 0), &r2);
    assert_int_equal(r2.id_kinds, REQUEST_ID_ORDER_NO | REQUEST_ID_SESSION_ID);
    /* a space inside stays: another order */
    valid_ok(mbuild(&r2, 5, "O\xc2\xa0-7", "", "sms", "", &o, 0), &r2);
    assert_true(r2.fingerprint != r.fingerprint);
    /* nothing but spaces is empty */
    invalid_with(mbuild(&r2, 6, "\xc2\xa0", "\xe3\x80\x80", "sms", "", &o, 0), &r2, "order_no", "session_id",
                 NULL);
    request_free(&r);
    request_free(&r2);
}

static void test_message_channels_rules(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    invalid_with(mbuild(&r, 1, "A1", "", "sms,fax", "", &o, 0), &r, "fax", NULL);
    invalid_with(mbuild(&r, 1, "A1", "", "", "", &o, 0), &r, "--channels", NULL);
    invalid_with(mbuild(&r, 1, "A1", "", " ; ", "", &o, 0), &r, "channels", NULL);
    /* --channels default is used when the cell is empty ... */
    o.default_channels = RULES_EMAIL | RULES_WHATSAPP;
    valid_ok(mbuild(&r, 1, "A1", "", "", "", &o, 0), &r);
    assert_int_equal(r.channels, RULES_EMAIL | RULES_WHATSAPP);
    cJSON *j = body_json(&r);
    str_array_is(j, "channels", "email", "whatsapp", NULL);
    cJSON_Delete(j);
    /* ... and only then */
    valid_ok(mbuild(&r, 1, "A1", "", "SMS", "", &o, 0), &r);
    assert_int_equal(r.channels, RULES_SMS);
    j = body_json(&r);
    str_array_is(j, "channels", "sms", NULL);
    cJSON_Delete(j);
    request_free(&r);
}

static void test_message_state_drops_channels(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    /* voided: whatsapp dropped with a note */
    valid_ok(mbuild(&r, 1, "A1", "", "sms,whatsapp", "Voided", &o, 0), &r);
    assert_int_equal(r.channels, RULES_SMS);
    assert_non_null(strstr(r.detail, "whatsapp"));
    assert_non_null(strstr(r.detail, "voided"));
    cJSON *j = body_json(&r);
    str_array_is(j, "channels", "sms", NULL);
    cJSON_Delete(j);
    /* refunded with only whatsapp: nothing left, invalid */
    invalid_with(mbuild(&r, 1, "A1", "", "whatsapp", "refunded", &o, 0), &r, "whatsapp", "refunded", NULL);
    invalid_with(mbuild(&r, 1, "A1", "", "WhatsApp", " CAPTURED ", &o, 0), &r, "whatsapp", NULL);
    /* a state every channel supports changes nothing */
    valid_ok(mbuild(&r, 1, "A1", "", "sms,email,whatsapp", "PAID", &o, 0), &r);
    assert_int_equal(r.channels, RULES_ALL_CHANNELS);
    assert_string_equal(r.detail, "");
    valid_ok(mbuild(&r, 1, "A1", "", "email", "refunded", &o, 0), &r);
    assert_int_equal(r.channels, RULES_EMAIL);
    assert_string_equal(r.detail, "");
    /* not a state */
    invalid_with(mbuild(&r, 1, "A1", "", "sms", "cancelled", &o, 0), &r, "state", "cancelled", NULL);
    /* the state also applies to the --channels default */
    o.default_channels = RULES_ALL_CHANNELS;
    valid_ok(mbuild(&r, 1, "A1", "", "", "voided", &o, 0), &r);
    assert_int_equal(r.channels, RULES_SMS | RULES_EMAIL);
    request_free(&r);
}

static void test_message_fingerprints(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    valid_ok(mbuild(&r, 1, "A1", "", "sms,email", "", &o, 0), &r);
    uint64_t f1 = r.fingerprint;
    valid_ok(mbuild(&r, 7, "A1", "", "sms,email", "", &o, 0), &r);
    assert_true(r.fingerprint == f1); /* identical rows, other row number */
    valid_ok(mbuild(&r, 8, " A1", "", "Email;SMS;sms", "", &o, 0), &r);
    assert_true(r.fingerprint == f1); /* the same request, spelled differently */
    valid_ok(mbuild(&r, 9, "A1", "", "sms", "", &o, 0), &r);
    assert_true(r.fingerprint != f1);
    valid_ok(mbuild(&r, 9, "A1", "", "sms,email,whatsapp", "", &o, 0), &r);
    assert_true(r.fingerprint != f1);
    valid_ok(mbuild(&r, 10, "A2", "", "sms,email", "", &o, 0), &r);
    assert_true(r.fingerprint != f1);
    valid_ok(mbuild(&r, 11, "", "A1", "sms,email", "", &o, 0), &r);
    assert_true(r.fingerprint != f1); /* order_no A1 is not session_id A1 */
    valid_ok(mbuild(&r, 12, "A1", "S", "sms,email", "", &o, 0), &r);
    assert_true(r.fingerprint != f1);
    valid_ok(mbuild(&r, 13, "A", "1S", "sms", "", &o, 0), &r);
    uint64_t f2 = r.fingerprint;
    valid_ok(mbuild(&r, 14, "A1", "S", "sms", "", &o, 0), &r);
    assert_true(r.fingerprint != f2); /* fields do not run into each other */
    request_free(&r);
}

static void test_message_drop_mask(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    valid_ok(mbuild(&r, 1, "A1", "", "sms,email", "", &o, 0), &r);
    uint64_t f = r.fingerprint;
    valid_ok(mbuild(&r, 1, "A1", "", "sms,email", "", &o, RULES_SMS), &r);
    assert_int_equal(r.channels, RULES_EMAIL);
    assert_true(r.fingerprint == f); /* duplicates are found whatever the ledger drops */
    cJSON *j = body_json(&r);
    str_array_is(j, "channels", "email", NULL);
    cJSON_Delete(j);
    /* everything dropped: still valid, nothing to send */
    int rc = mbuild(&r, 1, "A1", "", "sms,email", "", &o, RULES_SMS | RULES_EMAIL);
    assert_int_equal(rc, 0);
    assert_true(r.valid);
    assert_int_equal(r.channels, 0);
    request_free(&r);
}

static void test_message_field_count_and_malformed(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    record rec;
    record_init(&rec);
    rec_of(&rec, 3, "A1", "", "sms", NULL); /* 3 fields, header has 5 */
    invalid_with(request_build(&mcols, &rec, &o, 0, &r), &r, "3", "5", NULL);
    assert_string_equal(r.ident, "A1"); /* still has its shard identifier */
    rec_of(&rec, 4, "A1", "", "sms", "", "n", "extra", NULL);
    invalid_with(request_build(&mcols, &rec, &o, 0, &r), &r, "6", NULL);
    rec_of(&rec, 5, "B7", "", "sms", "", "n", NULL);
    rec.malformed = 1;
    snprintf(rec.problem, sizeof rec.problem, "malformed CSV in field 2: text after a closing quote");
    invalid_with(request_build(&mcols, &rec, &o, 0, &r), &r, "malformed CSV in field 2", NULL);
    assert_string_equal(r.ident, "B7");
    record_free(&rec);
    request_free(&r);
}

/* ======================= template mode ======================= */

/* One mailbox whatever the case: the comparison forms (fingerprint, shard identifier,
 * ledger key) are lower-cased, the body sends the address as written. */
static void test_template_email_case(void **state)
{
    (void)state;
    request a, b;
    request_init(&a);
    request_init(&b);
    request_opts o = tmpl_opts();
    valid_ok(tbuild(&a, &o, 1, "channel", "email", "template_id", "T", "to", "alice@example.com", "cc",
                    "bob@example.com", NULL), &a);
    const char *tos[] = {"Alice@Example.com", "alice@EXAMPLE.COM", "alice@example.com\xc2\xa0",
                         "\t ALICE@example.com\xe3\x80\x80"};
    for (size_t i = 0; i < sizeof tos / sizeof tos[0]; i++) {
        valid_ok(tbuild(&b, &o, 2, "channel", "email", "template_id", "T", "to", tos[i], "cc",
                        "Bob@Example.COM", NULL), &b);
        assert_true(b.fingerprint == a.fingerprint);
        assert_string_equal(b.ident, "alice@example.com");
        assert_string_equal(b.ledger_key, a.ledger_key);
        cJSON *j = body_json(&b);
        static const char *const sent[] = {"Alice@Example.com", "alice@EXAMPLE.COM", "alice@example.com",
                                           "ALICE@example.com"};
        assert_string_equal(jstr(j, "to"), sent[i]); /* as written, trimmed */
        str_array_is(j, "cc", "Bob@Example.COM", NULL);
        cJSON_Delete(j);
    }
    /* another template or another mailbox is another request */
    valid_ok(tbuild(&b, &o, 3, "channel", "email", "template_id", "T", "to", "alice2@example.com", NULL), &b);
    assert_true(b.fingerprint != a.fingerprint);
    /* phone numbers keep their normalisation */
    valid_ok(tbuild(&a, &o, 4, "channel", "sms", "template_id", "T", "to", "+965 9999-9999\xc2\xa0", NULL), &a);
    assert_string_equal(a.ident, "+96599999999");
    request_free(&a);
    request_free(&b);
}

static void test_template_email_body(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    valid_ok(tbuild(&r, &o, 1, "channel", "Email", "template_id", "tpl-1", "to", " ali@example.com ",
                    "cc", "c1@example.com; c2@example.com", "bcc", "b@example.com", "subject", "Hi",
                    "body", "fallback", "tags", "a; b,c ,", "context.FirstName", "Ali", NULL),
             &r);
    assert_string_equal(r.path, PATH_SEND);
    assert_int_equal(r.channels, RULES_EMAIL);
    assert_string_equal(r.ident, "ali@example.com");
    assert_string_equal(r.ledger_key, "email|tpl-1|ali@example.com");
    assert_null(strstr(r.log_ident, "ali@"));
    cJSON *j = body_json(&r);
    assert_string_equal(jstr(j, "channel"), "email");
    assert_string_equal(jstr(j, "template_id"), "tpl-1");
    assert_string_equal(jstr(j, "to"), "ali@example.com");
    assert_string_equal(jstr(j, "language"), "en");
    assert_string_equal(jstr(j, "subject"), "Hi");
    assert_string_equal(jstr(j, "body"), "fallback");
    str_array_is(j, "cc", "c1@example.com", "c2@example.com", NULL);
    str_array_is(j, "bcc", "b@example.com", NULL);
    str_array_is(j, "tags", "a", "b", "c", NULL);
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(j, "context");
    assert_true(cJSON_IsObject(ctx));
    assert_string_equal(jstr(ctx, "FirstName"), "Ali");
    assert_null(cJSON_GetObjectItemCaseSensitive(ctx, "amount")); /* empty cell left out */
    assert_int_equal(nkeys(ctx), 1);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "unit_config"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "attachments"));
    assert_non_null(jstr(j, "trace_id"));
    cJSON_Delete(j);
    request_free(&r);
}

static void test_template_sms_and_whatsapp_body(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    valid_ok(tbuild(&r, &o, 1, "channel", "SMS", "template_id", "t-sms", "to", "+965 (9999) 99-99",
                    "language", "AR", NULL), &r);
    cJSON *j = body_json(&r);
    assert_string_equal(jstr(j, "channel"), "sms");
    assert_string_equal(jstr(j, "to"), "+96599999999");
    assert_string_equal(jstr(j, "language"), "ar");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "unit_config"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "cc"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "bcc"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "context")); /* all context cells empty */
    assert_string_equal(r.ident, "+96599999999");
    assert_string_equal(r.ledger_key, "sms|t-sms|+96599999999");
    assert_null(strstr(r.log_ident, "96599999999"));
    cJSON_Delete(j);

    valid_ok(tbuild(&r, &o, 2, "channel", "whatsapp", "template_id", "t-wa", "to", "+965.5000.0123",
                    "unit_config", " 12 ", "Context.amount", "5.000 KWD", NULL), &r);
    j = body_json(&r);
    assert_string_equal(jstr(j, "channel"), "whatsapp");
    assert_string_equal(jstr(j, "to"), "+96550000123");
    const cJSON *uc = cJSON_GetObjectItemCaseSensitive(j, "unit_config");
    assert_true(cJSON_IsNumber(uc)); /* a number, not a string */
    assert_true(uc->valuedouble == 12.0);
    assert_non_null(strstr(r.body, "\"unit_config\":12"));
    assert_null(strstr(r.body, "\"unit_config\":\"12\""));
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(j, "context");
    assert_string_equal(jstr(ctx, "amount"), "5.000 KWD");
    assert_null(cJSON_GetObjectItemCaseSensitive(ctx, "FirstName"));
    cJSON_Delete(j);

    /* unit_config is optional for sms, but sent (as a number) when given */
    valid_ok(tbuild(&r, &o, 3, "channel", "sms", "template_id", "t", "to", "+96599999999", "unit_config", "7",
                    NULL), &r);
    j = body_json(&r);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "unit_config")));
    cJSON_Delete(j);
    request_free(&r);
}

/* A context cell of only spaces is as empty as an empty one (every other cell is
 * trimmed before use): it must be left out, and with no other value, no context key. */
static void test_template_context_blank_cell_left_out(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    valid_ok(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+96599999999", "context.FirstName",
                    "   ", "subject", "  ", NULL), &r);
    cJSON *j = body_json(&r);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "subject")); /* trimmed to empty: left out */
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(j, "context");
    int has_ctx = ctx != NULL;
    cJSON_Delete(j);
    char body[300];
    snprintf(body, sizeof body, "%s", r.body);
    request_free(&r);
    if (has_ctx)
        fail_msg("a context cell of spaces was sent: %s", body);
}

static void test_template_validation_messages(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    /* channel */
    invalid_with(tbuild(&r, &o, 1, "channel", "fax", "template_id", "t", "to", "a@b.com", NULL), &r, "fax", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "", "template_id", "t", "to", "a@b.com", NULL), &r, "channel", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "sms,email", "template_id", "t", "to", "a@b.com", NULL), &r,
                 "channel", NULL);
    /* --channels does not apply in template mode */
    request_opts od = o;
    od.default_channels = RULES_SMS;
    invalid_with(tbuild(&r, &od, 1, "channel", "", "template_id", "t", "to", "+96599999999", NULL), &r, "channel",
                 NULL);
    /* template_id, to */
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", " ", "to", "a@b.com", NULL), &r,
                 "template_id", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "", NULL), &r, "to", NULL);
    /* to: an email address for email */
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "not-an-email", NULL), &r,
                 "not-an-email", "email", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "+96599999999", NULL), &r,
                 "email", NULL);
    /* to: + and 8-15 digits for sms/whatsapp */
    invalid_with(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "96599999999", NULL), &r, "to", "+",
                 NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+1234567", NULL), &r, "to", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+1234567890123456",
                        "unit_config", "1", NULL), &r, "to", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "a@b.com", NULL), &r, "to", NULL);
    valid_ok(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+12345678", NULL), &r);
    valid_ok(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+123456789012345", NULL), &r);
    /* whatsapp needs an integer unit_config */
    invalid_with(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+96599999999", NULL), &r,
                 "unit_config", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+96599999999", "unit_config",
                        "unit-config-identifier", NULL), &r, "unit_config", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+96599999999", "unit_config",
                        "1.5", NULL), &r, "unit_config", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+96599999999", "unit_config",
                        "x", NULL), &r, "unit_config", NULL);
    /* language */
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "language", "fr",
                        NULL), &r, "language", "fr", NULL);
    /* cc/bcc: email only, and email addresses */
    invalid_with(tbuild(&r, &o, 1, "channel", "sms", "template_id", "t", "to", "+96599999999", "cc", "c@d.com",
                        NULL), &r, "cc", "email", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+96599999999", "unit_config",
                        "1", "bcc", "c@d.com", NULL), &r, "bcc", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "cc",
                        "c@d.com;bogus", NULL), &r, "cc", "bogus", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "bcc", "x@", NULL), &r,
                 "bcc", NULL);
    request_free(&r);
}

static void test_template_per_channel_endpoint(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    o.per_channel_endpoint = 1;
    valid_ok(tbuild(&r, &o, 1, "channel", "SMS", "template_id", "t", "to", "+96599999999", NULL), &r);
    assert_string_equal(r.path, "/b/pbl/v2/notifications/send/sms/");
    cJSON *j = body_json(&r);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "channel"));
    assert_string_equal(jstr(j, "to"), "+96599999999");
    cJSON_Delete(j);
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    assert_string_equal(r.path, "/b/pbl/v2/notifications/send/email/");
    valid_ok(tbuild(&r, &o, 1, "channel", "whatsapp", "template_id", "t", "to", "+96599999999", "unit_config", "3",
                    NULL), &r);
    assert_string_equal(r.path, "/b/pbl/v2/notifications/send/whatsapp/");
    request_free(&r);
}

static char *trace_of(const request *r)
{
    cJSON *j = body_json(r);
    const char *t = jstr(j, "trace_id");
    assert_non_null(t);
    char *d = strdup(t);
    cJSON_Delete(j);
    return d;
}

static void test_template_trace_id(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    o.job_id = "0123456789abcdef0123456789abcdef01234567"; /* 40 characters */
    valid_ok(tbuild(&r, &o, 41, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    char *t1 = trace_of(&r);
    uint64_t f1 = r.fingerprint;
    assert_true(strlen(t1) > 0 && strlen(t1) <= 60);
    valid_ok(tbuild(&r, &o, 41, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    char *t2 = trace_of(&r);
    assert_string_equal(t1, t2); /* stable: a resume derives the same */
    valid_ok(tbuild(&r, &o, 9999999, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    char *t3 = trace_of(&r);
    assert_string_not_equal(t1, t3); /* another row, another trace_id */
    assert_true(strlen(t3) <= 60);
    assert_true(r.fingerprint == f1); /* but the same request: a duplicate */
    request_opts o2 = o;
    o2.job_id = "ffffffffffffffff-other-job";
    valid_ok(tbuild(&r, &o2, 41, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    char *t4 = trace_of(&r);
    assert_string_not_equal(t1, t4); /* another job, another trace_id */
    free(t1);
    free(t2);
    free(t3);
    free(t4);

    /* an explicit trace_id: 60 characters kept as is, 61 rejected */
    char tr[200];
    memset(tr, 'T', 60);
    tr[60] = '\0';
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "trace_id", tr, NULL), &r);
    char *t5 = trace_of(&r);
    assert_string_equal(t5, tr);
    free(t5);
    uint64_t fa = r.fingerprint;
    memcpy(tr, "U", 1);
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "trace_id", tr, NULL), &r);
    assert_true(r.fingerprint != fa); /* an explicit trace_id is part of the request */
    tr[60] = 'T';
    tr[61] = '\0';
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "trace_id", tr, NULL),
                 &r, "trace_id", "61", NULL);
    /* 60 Arabic letters are 60 characters */
    for (int i = 0; i < 60; i++)
        memcpy(tr + 2 * i, "\xd8\xb9", 2);
    tr[120] = '\0';
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "trace_id", tr, NULL), &r);
    request_free(&r);
}

static void test_template_attachments(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    char *dir = realpath(tmpdir, NULL);
    assert_non_null(dir);
    o.attach_dir = dir; /* attachments must sit in the input's folder */
    const char *p1 = testdir_write("hello.txt", "hello world", 11);
    char p1c[300];
    snprintf(p1c, sizeof p1c, "%s", p1);
    const unsigned char bin[] = {0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10};
    const char *p2 = testdir_write("Invoice 7.PDF", bin, sizeof bin);
    char list[700];
    snprintf(list, sizeof list, " %s ; %s", p1c, p2);
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments", list, NULL),
             &r);
    cJSON *j = body_json(&r);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attachments");
    assert_true(cJSON_IsArray(att));
    assert_int_equal(cJSON_GetArraySize(att), 2);
    const cJSON *a0 = cJSON_GetArrayItem(att, 0), *a1 = cJSON_GetArrayItem(att, 1);
    assert_string_equal(jstr(a0, "filename"), "hello.txt");
    assert_string_equal(jstr(a0, "content"), "aGVsbG8gd29ybGQ=");
    assert_string_equal(jstr(a0, "content_type"), "text/plain");
    assert_string_equal(jstr(a1, "filename"), "Invoice 7.PDF");
    assert_string_equal(jstr(a1, "content"), "JVBERgD/EA==");
    assert_string_equal(jstr(a1, "content_type"), "application/pdf");
    cJSON_Delete(j);

    /* a missing file is a clear error naming it */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope.pdf", tmpdir);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments", missing,
                        NULL), &r, "attachments", "nope.pdf", NULL);
    /* a file outside the input's folder is refused, relative or absolute */
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments",
                        "/etc/hostname", NULL), &r, "outside the input file's folder", NULL);
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments",
                        "../../etc/hostname", NULL), &r, "outside the input file's folder", NULL);
    /* relative paths are taken from the input's folder */
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments", "hello.txt",
                    NULL), &r);
    o.attach_dir = NULL;
    invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", "attachments",
                        "hello.txt", NULL), &r, "standard input", NULL);
    free(dir);
    request_free(&r);
}


/* Every transaction state Ottu documents is known; those with no notification event make
 * the row invalid, naming the state. */
static void test_message_states_without_notification(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    static const char *none[] = {"pending", "attempted", "COD", "invalided", "refund_queued", "Refund_Rejected"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        char low[32];
        size_t k;
        for (k = 0; none[i][k]; k++)
            low[k] = (char)(none[i][k] >= 'A' && none[i][k] <= 'Z' ? none[i][k] + 32 : none[i][k]);
        low[k] = '\0';
        invalid_with(mbuild(&r, 1, "A1", "", "sms", none[i], &o, 0), &r, low, "Ottu has no notification", NULL);
        assert_string_equal(r.ident, "A1");
    }
    static const char *events[] = {"created", "paid", "canceled", "failed", "expired", "authorized"};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        valid_ok(mbuild(&r, 1, "A1", "", "sms,email,whatsapp", events[i], &o, 0), &r);
        assert_int_equal(r.channels, RULES_ALL_CHANNELS);
    }
    valid_ok(mbuild(&r, 1, "A1", "", "sms,email,whatsapp", "captured", &o, 0), &r);
    assert_int_equal(r.channels, RULES_SMS | RULES_EMAIL);
    invalid_with(mbuild(&r, 1, "A1", "", "sms", "shipped", &o, 0), &r, "shipped", "refund_queued", NULL);
    request_free(&r);
}

/* Every cell a template request carries must be UTF-8: the row is invalid naming the
 * column, never a 400 from the API. */
static void test_template_cells_utf8(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    static const char *cols[] = {"subject", "body", "tags", "cc", "context.FirstName", "Context.amount",
                                 "template_id", "trace_id", "language", "unit_config"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        invalid_with(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", cols[i],
                            "x\xe1\xc7", NULL), &r, cols[i], "not valid UTF-8", NULL);
        assert_string_equal(r.ident, "a@b.com");
        assert_int_equal(r.bodylen, 0); /* nothing rendered for an invalid row */
    }
    /* the extra columns that are only carried through are not part of the request */
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "t", "to", "a@b.com", NULL), &r);
    request_free(&r);
}

/* request_build reads no file; request_load_attachments does, once, for a valid row. */
static void test_attachments_read_only_when_asked(void **state)
{
    (void)state;
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    char *dir = realpath(tmpdir, NULL);
    o.attach_dir = dir;
    testdir_write("a.txt", "abc", 3);
    record rec;
    record_init(&rec);
    /* an invalid row with a missing attachment: invalid for its own reason, no file touched */
    record_clear(&rec);
    for (size_t i = 0; i < TN; i++) {
        const char *v = strcmp(TH[i], "channel") == 0 ? "email" : strcmp(TH[i], "template_id") == 0 ? "t"
                        : strcmp(TH[i], "to") == 0 ? "not-an-email" : strcmp(TH[i], "attachments") == 0 ? "nope.pdf" : "";
        record_push(&rec, v, strlen(v));
    }
    rec.rowno = 1;
    invalid_with(request_build(&tcols, &rec, &o, 0, &r), &r, "not an email address", NULL);
    /* a valid row: the body waits for its attachments; the paths are in the fingerprint */
    record_clear(&rec);
    for (size_t i = 0; i < TN; i++) {
        const char *v = strcmp(TH[i], "channel") == 0 ? "email" : strcmp(TH[i], "template_id") == 0 ? "t"
                        : strcmp(TH[i], "to") == 0 ? "a@b.com" : strcmp(TH[i], "attachments") == 0 ? "a.txt" : "";
        record_push(&rec, v, strlen(v));
    }
    rec.rowno = 2;
    valid_ok(request_build(&tcols, &rec, &o, 0, &r), &r);
    assert_true(r.attachments);
    assert_null(strstr(r.body, "attachments"));
    uint64_t f = r.fingerprint;
    assert_int_equal(request_load_attachments(&r, &tcols, &rec, &o), 0);
    assert_false(r.attachments);
    cJSON *j = body_json(&r);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attachments");
    assert_int_equal(cJSON_GetArraySize(att), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(att, 0), "content"), "YWJj");
    assert_non_null(jstr(j, "trace_id")); /* the derived trace_id is still there */
    cJSON_Delete(j);
    assert_true(r.fingerprint == f);
    /* a second call adds nothing */
    size_t len = r.bodylen;
    assert_int_equal(request_load_attachments(&r, &tcols, &rec, &o), 0);
    assert_int_equal(r.bodylen, len);
    /* another row number: another trace_id, the same request (a duplicate) */
    rec.rowno = 3;
    valid_ok(request_build(&tcols, &rec, &o, 0, &r), &r);
    assert_true(r.fingerprint == f);
    /* a file that cannot be attached makes the row invalid at that step */
    record_clear(&rec);
    for (size_t i = 0; i < TN; i++) {
        const char *v = strcmp(TH[i], "channel") == 0 ? "email" : strcmp(TH[i], "template_id") == 0 ? "t"
                        : strcmp(TH[i], "to") == 0 ? "a@b.com" : strcmp(TH[i], "attachments") == 0 ? "gone.pdf" : "";
        record_push(&rec, v, strlen(v));
    }
    valid_ok(request_build(&tcols, &rec, &o, 0, &r), &r);
    assert_int_equal(request_load_attachments(&r, &tcols, &rec, &o), 1);
    assert_false(r.valid);
    assert_non_null(strstr(r.detail, "gone.pdf"));
    record_free(&rec);
    request_free(&r);
    free(dir);
}

static void test_base64_vectors(void **state)
{
    (void)state;
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char buf[32];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        memset(buf, 'X', sizeof buf);
        size_t n = request_base64((const unsigned char *)in[i], strlen(in[i]), buf);
        assert_string_equal(buf, out[i]);
        assert_int_equal(n, strlen(out[i]));
    }
    const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    request_base64(hi, 3, buf);
    assert_string_equal(buf, "+/+/");
}

/* ======================= the published schemas ======================= */

static cJSON *load_schema(const char *file, cJSON **root)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", OPENAPI_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("schema test data missing: %s (run from the repository root, as make test does)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *root = cJSON_Parse(b);
    free(b);
    assert_non_null(*root);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(*root, "body");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(body, "content");
    cJSON *aj = cJSON_GetObjectItemCaseSensitive(content, "application/json");
    cJSON *schema = cJSON_GetObjectItemCaseSensitive(aj, "schema");
    if (!cJSON_IsObject(schema))
        fail_msg("%s: no body.content[\"application/json\"].schema", path);
    return schema;
}

/* A small JSON-schema checker: type, required, no keys outside properties, enum,
 * maxLength (in code points), array items. Returns 0 or -1 with why. */
static int conforms(const cJSON *schema, const cJSON *v, const char *where, char *why, size_t whylen)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
    if (t) {
        int ok = strcmp(t, "object") == 0    ? cJSON_IsObject(v)
                 : strcmp(t, "array") == 0   ? cJSON_IsArray(v)
                 : strcmp(t, "string") == 0  ? cJSON_IsString(v)
                 : strcmp(t, "boolean") == 0 ? cJSON_IsBool(v)
                 : strcmp(t, "number") == 0  ? cJSON_IsNumber(v)
                 : strcmp(t, "integer") == 0 ? cJSON_IsNumber(v) && floor(v->valuedouble) == v->valuedouble &&
                                                   fabs(v->valuedouble) < 9007199254740992.0
                                             : 1;
        if (!ok) {
            snprintf(why, whylen, "%s is not of type %s", where, t);
            return -1;
        }
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (cJSON_IsArray(en)) {
        int found = 0;
        for (const cJSON *e = en->child; e && !found; e = e->next)
            found = cJSON_IsString(e) && cJSON_IsString(v) && strcmp(e->valuestring, v->valuestring) == 0;
        if (!found) {
            snprintf(why, whylen, "%s is not one of the enum values", where);
            return -1;
        }
    }
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
    if (cJSON_IsNumber(ml) && cJSON_IsString(v)) {
        long n = rules_utf8_count(v->valuestring, strlen(v->valuestring), NULL);
        if (n < 0 || n > ml->valueint) {
            snprintf(why, whylen, "%s is longer than %d characters", where, ml->valueint);
            return -1;
        }
    }
    if (cJSON_IsObject(v) && t && strcmp(t, "object") == 0) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
        for (const cJSON *rq = req ? req->child : NULL; rq; rq = rq->next) {
            if (!cJSON_GetObjectItemCaseSensitive(v, rq->valuestring)) {
                snprintf(why, whylen, "%s lacks the required \"%s\"", where, rq->valuestring);
                return -1;
            }
        }
        if (props) {
            for (const cJSON *it = v->child; it; it = it->next) {
                const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, it->string);
                if (!ps) {
                    snprintf(why, whylen, "%s has \"%s\", which the schema does not define", where, it->string);
                    return -1;
                }
                char sub[200];
                snprintf(sub, sizeof sub, "%s.%s", where, it->string);
                if (conforms(ps, it, sub, why, whylen) < 0)
                    return -1;
            }
        }
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        int i = 0;
        for (const cJSON *it = v->child; it && items; it = it->next, i++) {
            char sub[200];
            snprintf(sub, sizeof sub, "%s[%d]", where, i);
            if (conforms(items, it, sub, why, whylen) < 0)
                return -1;
        }
    }
    return 0;
}

static void body_conforms(const cJSON *schema, const request *r)
{
    cJSON *j = body_json(r);
    char why[300] = "";
    int rc = conforms(schema, j, "body", why, sizeof why);
    cJSON_Delete(j);
    if (rc < 0)
        fail_msg("%s: %s (body %s)", r->path, why, r->body);
}

static void body_fails(const cJSON *schema, const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    char why[300] = "";
    int rc = conforms(schema, j, "body", why, sizeof why);
    cJSON_Delete(j);
    if (rc == 0)
        fail_msg("the schema checker accepted %s", json);
}

/* The checker itself must be able to say no. */
static void test_schema_checker_rejects(void **state)
{
    (void)state;
    cJSON *root1, *root2;
    const cJSON *ms = load_schema("message-notifications.request.json", &root1);
    const cJSON *ts = load_schema("send-notification.request.json", &root2);
    body_fails(ms, "{\"order_no\":\"A1\"}");
    body_fails(ms, "{\"order_no\":\"A1\",\"channels\":[\"fax\"]}");
    body_fails(ms, "{\"order_no\":\"A1\",\"channels\":\"sms\"}");
    body_fails(ms, "{\"order_no\":\"A1\",\"channels\":[\"sms\"],\"state\":\"paid\"}");
    char longid[300];
    memset(longid, 'x', 129);
    longid[129] = '\0';
    char buf[400];
    snprintf(buf, sizeof buf, "{\"order_no\":\"%s\",\"channels\":[\"sms\"]}", longid);
    body_fails(ms, buf);
    body_fails(ms, "{\"order_no\":7,\"channels\":[\"sms\"]}");
    body_fails(ts, "{\"channel\":\"whatsapp\",\"template_id\":\"t\",\"to\":\"+1\",\"unit_config\":\"12\"}");
    body_fails(ts, "{\"channel\":\"whatsapp\",\"template_id\":\"t\",\"to\":\"+1\",\"unit_config\":1.5}");
    body_fails(ts, "{\"channel\":\"sms\",\"template_id\":\"t\",\"to\":\"+1\",\"language\":\"fr\"}");
    body_fails(ts, "{\"channel\":\"fax\",\"template_id\":\"t\",\"to\":\"+1\"}");
    body_fails(ts, "{\"template_id\":\"t\",\"to\":\"+1\"}");
    body_fails(ts, "{\"channel\":\"sms\",\"template_id\":\"t\",\"to\":\"+1\",\"cc\":[1]}");
    snprintf(buf, sizeof buf, "{\"channel\":\"sms\",\"template_id\":\"t\",\"to\":\"+1\",\"trace_id\":\"%.61s\"}",
             longid);
    body_fails(ts, buf);
    cJSON_Delete(root1);
    cJSON_Delete(root2);
}

static void test_message_bodies_match_schema(void **state)
{
    (void)state;
    cJSON *root;
    const cJSON *schema = load_schema("message-notifications.request.json", &root);
    request r;
    request_init(&r);
    request_opts o = msg_opts();
    char arabic[300];
    for (int i = 0; i < 128; i++)
        memcpy(arabic + 2 * i, "\xd8\xb9", 2);
    arabic[256] = '\0';
    char ascii[130];
    memset(ascii, 'Z', 128);
    ascii[128] = '\0';
    static const char *ch[] = {"sms", "email", "whatsapp", "sms,email", "whatsapp;email;sms"};
    for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++) {
        valid_ok(mbuild(&r, 1, "A1", "", ch[i], "", &o, 0), &r);
        body_conforms(schema, &r);
        valid_ok(mbuild(&r, 1, "", "S1", ch[i], "paid", &o, 0), &r);
        body_conforms(schema, &r);
        valid_ok(mbuild(&r, 1, arabic, ascii, ch[i], "", &o, 0), &r);
        body_conforms(schema, &r);
    }
    valid_ok(mbuild(&r, 1, "A1", "", "sms,whatsapp", "voided", &o, 0), &r);
    body_conforms(schema, &r);
    request_free(&r);
    cJSON_Delete(root);
}

static void template_rows_conform(const cJSON *schema, int per_channel)
{
    request r;
    request_init(&r);
    request_opts o = tmpl_opts();
    o.per_channel_endpoint = per_channel;
    char *dir = realpath(tmpdir, NULL);
    o.attach_dir = dir;
    const char *p = testdir_write("receipt.csv", "a,b\n1,2\n", 8);
    char att[400];
    snprintf(att, sizeof att, "%s", p);
    char trace[61];
    memset(trace, 'q', 60);
    trace[60] = '\0';
    valid_ok(tbuild(&r, &o, 1, "channel", "email", "template_id", "communication-notification-email", "to",
                    "initial_user@domain.com", "language", "ar", "cc", "user@domain.com,user2@domain.com", "bcc",
                    "user3@domain.com", "subject", "Your receipt", "body", "plain text", "tags", "resend;q4",
                    "attachments", att, "context.FirstName", "\xd8\xb9\xd9\x84\xd9\x8a", "Context.amount", "5",
                    "unit_config", "4", "trace_id", trace, NULL),
             &r);
    body_conforms(schema, &r);
    valid_ok(tbuild(&r, &o, 2, "channel", "sms", "template_id", "communication-notification-sms", "to",
                    "+965 9999 9999", NULL), &r);
    body_conforms(schema, &r);
    valid_ok(tbuild(&r, &o, 3, "channel", "WhatsApp", "template_id", "communication-notification-whatsapp", "to",
                    "+96599999999", "unit_config", "2147483648", "context.FirstName", "x", NULL), &r);
    body_conforms(schema, &r);
    request_free(&r);
    free(dir);
}

static void test_template_bodies_match_schema(void **state)
{
    (void)state;
    cJSON *root;
    const cJSON *schema = load_schema("send-notification.request.json", &root);
    template_rows_conform(schema, 0);
    cJSON_Delete(root);
}

static void test_per_channel_bodies_match_schema(void **state)
{
    (void)state;
    cJSON *root;
    const cJSON *schema = load_schema("send-specific-notification.request.json", &root);
    template_rows_conform(schema, 1);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_message_needs_identifier),
        cmocka_unit_test(test_columns_duplicates_rejected),
        cmocka_unit_test(test_columns_result_ignored),
        cmocka_unit_test(test_columns_template_autodetect),
        cmocka_unit_test_setup_teardown(test_message_body_exact, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_identifier_rules, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_identifier_unicode_trim, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_email_case, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_channels_rules, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_state_drops_channels, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_fingerprints, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_states_without_notification, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_cells_utf8, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_attachments_read_only_when_asked, setup_fixtures, teardown_fixtures),
        cmocka_unit_test(test_columns_map),
        cmocka_unit_test_setup_teardown(test_message_drop_mask, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_message_field_count_and_malformed, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_email_body, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_sms_and_whatsapp_body, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_context_blank_cell_left_out, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_validation_messages, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_per_channel_endpoint, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_trace_id, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_attachments, setup_fixtures, teardown_fixtures),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_schema_checker_rejects),
        cmocka_unit_test_setup_teardown(test_message_bodies_match_schema, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_template_bodies_match_schema, setup_fixtures, teardown_fixtures),
        cmocka_unit_test_setup_teardown(test_per_channel_bodies_match_schema, setup_fixtures, teardown_fixtures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
