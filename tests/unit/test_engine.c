/* test_engine — the worker pool end to end, through both of its drivers (threads, and the
 * --http2 loop), against fakes (engine_fake.h) that answer, fail, lose answers and stall on
 * command: every classification path (status, channel bits, attempts), what is retried and
 * what is not, every way the job stops, and that the loop's thread judges nothing. Run it
 * under TSan too (see docs/design.md). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTDIR_NAME "engine"
#include "testdir.h"

#include "engine.h"
#include "engine_fake.h"
#include "journal.h"
#include "log.h"
#include "rules.h"

#define SMS RULES_SMS
#define EMAIL RULES_EMAIL
#define KEY "sk_test_SECRET_0123456789"

/* ---- one job through the engine ---- */

static int through_loop; /* the driver under test: 0 = threads, 1 = loop (--http2) */

typedef struct setup {
    int rows, workers, max_attempts, retry_ambiguous;
    unsigned channels[MAX_ROWS + 1]; /* 0 = sms */
    int64_t max_pause_ms;
    int (*take_request)(void *ctx, char *msg, size_t msglen);
    void *take_ctx;
    int with_journal, journal_broken;
    void (*during)(stop *st, fake *f); /* after the rows are queued */
    int during_after; /* ... after only these rows (0 = all): with a few feeders (the loop
                         driver), a later row could otherwise overtake them into flight */
} setup;

typedef struct outcome {
    row_status st;
    unsigned sent, maybe, failed;
    int attempts, http;
    char detail[640];
} outcome;

typedef struct result {
    outcome row[MAX_ROWS + 1];
    stop_reason reason;
    int64_t resume_after_ms;
    char message[512];
    long requests, retries;
    int degraded;
} result;

static void run_job(const setup *s, fake *f, result *out)
{
    memset(out, 0, sizeof *out);
    queue *q = queue_new(MAX_ROWS);
    reorder *ro = reorder_new(MAX_ROWS);
    throttle *thr = throttle_new(0, 1, 1, 5);
    summary sum;
    summary_init(&sum);
    assert_non_null(q);
    assert_non_null(ro);
    assert_non_null(thr);
    journal *jn = NULL;
    if (s->with_journal) {
        static int seq;
        char name[32];
        snprintf(name, sizeof name, "job%d.journal", ++seq);
        journal_file = strdup(testdir_path(name));
        journal_header h;
        memset(&h, 0, sizeof h);
        snprintf(h.job_id, sizeof h.job_id, "test");
        snprintf(h.input_fp, sizeof h.input_fp, "0");
        char err[256];
        jn = journal_create(journal_file, &h, err, sizeof err);
        assert_non_null(jn);
        if (s->journal_broken)
            break_journal(journal_file);
    }
    stop *st = stop_new();
    assert_non_null(st);
    stop_set_secret(st, KEY);
    engine_opts o = {.thr = thr, .q = q, .stop = st, .ro = ro, .jn = jn, .sum = &sum,
                     .workers = s->workers ? s->workers : 1,
                     .max_attempts = s->max_attempts ? s->max_attempts : 3,
                     .backoff_base_ms = 1, .backoff_max_ms = 2,
                     .retry_ambiguous = s->retry_ambiguous, .max_pause_ms = s->max_pause_ms,
                     .api_key = KEY, .take_request = s->take_request, .take_request_ctx = s->take_ctx,
                     .sender = {fake_open, fake_send, fake_close, f}, .async = through_loop,
                     .loop = {floop_open, floop_reserve, floop_post, floop_release, floop_close, f}};
    char err[256];
    engine *e = engine_start(&o, err, sizeof err);
    assert_non_null(e);
    for (int i = 1; i <= s->rows; i++) {
        if (s->during && i == s->during_after + 1 && s->during_after)
            s->during(st, f);
        job *j = reorder_acquire(ro);
        job_reset(j, i);
        j->channels = j->req.channels = s->channels[i] ? s->channels[i] : SMS;
        snprintf(j->req.path, sizeof j->req.path, "/b/pbl/v2/notifications/resend/");
        snprintf(j->req.log_ident, sizeof j->req.log_ident, "row%d", i);
        j->req.detail[0] = '\0';
        queue_push(q, j);
    }
    if (s->during && !s->during_after)
        s->during(st, f);
    queue_close(q);
    engine_join(e);
    reorder_close(ro);
    job *j;
    while ((j = reorder_next(ro)) != NULL) {
        outcome *r = &out->row[j->rowno];
        r->st = j->status;
        r->sent = j->sent_channels;
        r->maybe = j->maybe_channels;
        r->failed = j->failed_channels;
        r->attempts = j->attempts;
        r->http = j->http_status;
        snprintf(r->detail, sizeof r->detail, "%s", j->detail);
        reorder_release(ro, j);
    }
    out->reason = stop_message(st, out->message, sizeof out->message);
    out->resume_after_ms = stop_resume_after_ms(st);
    out->requests = atomic_load(&sum.requests);
    out->retries = atomic_load(&sum.retries);
    int64_t paused;
    throttle_status(thr, &paused, &out->degraded);
    engine_free(e);
    stop_free(st);
    if (jn)
        journal_close(jn, 0);
    free((char *)journal_file);
    journal_file = NULL;
    throttle_free(thr);
    queue_free(q);
    reorder_free(ro);
}

#define ASSERT_ROW(res, i, status, sent_, maybe_, failed_, attempts_)                                         \
    do {                                                                                                      \
        const outcome *r_ = &(res).row[i];                                                                    \
        if (r_->st != (status) || r_->sent != (sent_) || r_->maybe != (maybe_) || r_->failed != (failed_) ||  \
            r_->attempts != (attempts_))                                                                      \
            fail_msg("row %d: %s sent=%u maybe=%u failed=%u attempts=%d (%s); want %s %u %u %u %d", i,         \
                     job_status_name(r_->st), r_->sent, r_->maybe, r_->failed, r_->attempts, r_->detail,       \
                     job_status_name(status), (unsigned)(sent_), (unsigned)(maybe_), (unsigned)(failed_),      \
                     attempts_);                                                                              \
    } while (0)

/* ---- classification, end to end ---- */

static void test_every_answer(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 12, .workers = 3, .max_attempts = 3};
    for (int i = 1; i <= 12; i++)
        s.channels[i] = SMS | EMAIL;
    step r1[] = {ANSWER(200, OK_BODY)};
    step r2[] = {ANSWER(200, "{}")};
    step r3[] = {ANSWER(200, "{\"detail\": \"Template not found.\", \"result\": \"failed\"}")};
    step r4[] = {ANSWER(400, "{\"order_no\": \"A4\", \"channels\": \"email\", \"result\": \"failed\"}")};
    step r5[] = {ANSWER(404, "{\"detail\": \"Not found.\"}")};
    step r6[] = {ANSWER(502, "<html>Bad Gateway</html>")};
    step r7[] = {MAYBE_SENT};
    step r8[] = {NOT_SENT, NOT_SENT, ANSWER(200, OK_BODY)};
    step r9[] = {ANSWER(503, NULL), ANSWER(200, OK_BODY)};
    step r10[] = {ANSWER(408, NULL), ANSWER(201, "{\"result\": \"success\"}")};
    step r11[] = {NOT_SENT};
    step r12[] = {ANSWER(200, "<html>login</html>")};
    script(&f, 1, 1, r1);
    script(&f, 2, 1, r2);
    script(&f, 3, 1, r3);
    script(&f, 4, 1, r4);
    script(&f, 5, 1, r5);
    script(&f, 6, 1, r6);
    script(&f, 7, 1, r7);
    script(&f, 8, 3, r8);
    script(&f, 9, 2, r9);
    script(&f, 10, 2, r10);
    script(&f, 11, 1, r11);
    script(&f, 12, 1, r12);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    const unsigned both = SMS | EMAIL;
    ASSERT_ROW(*res, 1, RS_SENT, both, 0, 0, 1);
    ASSERT_ROW(*res, 2, RS_UNKNOWN, 0, both, 0, 1);
    assert_non_null(strstr(res->row[2].detail, "may have been notified"));
    ASSERT_ROW(*res, 3, RS_FAILED, 0, 0, both, 1);
    ASSERT_ROW(*res, 4, RS_FAILED, 0, SMS, EMAIL, 1);
    assert_non_null(strstr(res->row[4].detail, "email failed"));
    assert_non_null(strstr(res->row[4].detail, "sms may have been sent"));
    ASSERT_ROW(*res, 5, RS_FAILED, 0, 0, both, 1);
    ASSERT_ROW(*res, 6, RS_UNKNOWN, 0, both, 0, 1);
    assert_non_null(strstr(res->row[6].detail, "outcome unknown: HTTP 502 after the request was sent"));
    assert_non_null(strstr(res->row[6].detail, "not retried"));
    ASSERT_ROW(*res, 7, RS_UNKNOWN, 0, both, 0, 1);
    assert_non_null(strstr(res->row[7].detail, "Timeout was reached after the request was sent"));
    ASSERT_ROW(*res, 8, RS_SENT, both, 0, 0, 3);
    ASSERT_ROW(*res, 9, RS_SENT, both, 0, 0, 2);
    ASSERT_ROW(*res, 10, RS_SENT, both, 0, 0, 2);
    ASSERT_ROW(*res, 11, RS_FAILED, 0, 0, both, 3);
    assert_non_null(strstr(res->row[11].detail, "gave up after 3 attempts"));
    ASSERT_ROW(*res, 12, RS_UNKNOWN, 0, both, 0, 1);
    /* exactly the sends the rows say: ambiguous answers were sent once */
    for (int i = 1; i <= 12; i++)
        assert_int_equal(fake_sends(&f, i), res->row[i].attempts);
    assert_int_equal(res->requests, 1 + 1 + 1 + 1 + 1 + 1 + 1 + 3 + 2 + 2 + 3 + 1);
    assert_int_equal(res->retries, 2 + 1 + 1 + 2);
    assert_int_equal(res->reason, STOP_NONE);
    free(res);
    fake_free(&f);
}

static void test_retry_ambiguous(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 4, .workers = 2, .max_attempts = 3, .retry_ambiguous = 1};
    step r1[] = {ANSWER(502, NULL), ANSWER(200, OK_BODY)};
    step r2[] = {MAYBE_SENT};                                    /* every attempt lost */
    step r3[] = {ANSWER(504, NULL), ANSWER(400, "{\"detail\": \"bad\"}")};
    step r4[] = {MAYBE_SENT, NOT_SENT};                          /* lost, then never sent again */
    script(&f, 1, 2, r1);
    script(&f, 2, 1, r2);
    script(&f, 3, 2, r3);
    script(&f, 4, 2, r4);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 2);
    ASSERT_ROW(*res, 2, RS_UNKNOWN, 0, SMS, 0, 3);
    /* the 400 is definite for its attempt, but the 504 before it may have notified */
    ASSERT_ROW(*res, 3, RS_FAILED, 0, SMS, 0, 2);
    assert_non_null(strstr(res->row[3].detail, "earlier attempt may have notified"));
    ASSERT_ROW(*res, 4, RS_UNKNOWN, 0, SMS, 0, 3);
    assert_int_equal(fake_sends(&f, 0), 2 + 3 + 2 + 3);
    free(res);
    fake_free(&f);
}

static void test_key_scrubbed(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 2, .workers = 1};
    step r1[] = {ANSWER(400, "{\"detail\": \"Invalid key: Api-Key " KEY "\"}")};
    step r2[] = {ANSWER(200, "<html>echo: Authorization: Api-Key " KEY "</html>")}; /* summarised as text */
    script(&f, 1, 1, r1);
    script(&f, 2, 1, r2);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 2; i++) {
        assert_null(strstr(res->row[i].detail, KEY));
        assert_null(strstr(res->row[i].detail, "SECRET"));
        assert_non_null(strstr(res->row[i].detail, "[redacted]"));
    }
    free(res);
    fake_free(&f);
}

/* ---- stops ---- */

static void test_abort_on_401(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 6, .workers = 1};
    step r2[] = {ANSWER(401, "{\"detail\": \"Invalid API key.\"}")};
    script(&f, 2, 1, r2);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 1);
    ASSERT_ROW(*res, 2, RS_FAILED, 0, 0, SMS, 1);
    for (int i = 3; i <= 6; i++) {
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
        assert_non_null(strstr(res->row[i].detail, "API key rejected"));
    }
    assert_int_equal(fake_sends(&f, 0), 2);
    assert_int_equal(res->reason, STOP_KEY_REJECTED);
    free(res);
    fake_free(&f);
}

static void test_quota_stop(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 6, .workers = 1, .max_pause_ms = 300000};
    step r2[] = {{HTTP_ANSWERED, 429, "{\"detail\": \"Request was throttled.\"}", 7200, HTTP_ERR_NONE, 0}};
    script(&f, 2, 1, r2);
    result *res = calloc(1, sizeof *res);
    int64_t before = clock_now_ms();
    run_job(&s, &f, res);
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 1);
    ASSERT_ROW(*res, 2, RS_NOT_ATTEMPTED, 0, 0, 0, 1);
    for (int i = 3; i <= 6; i++)
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
    assert_int_equal(fake_sends(&f, 0), 2);
    assert_int_equal(res->reason, STOP_QUOTA);
    assert_true(res->resume_after_ms >= before + 7200000 && res->resume_after_ms <= clock_now_ms() + 7200000);
    assert_non_null(strstr(res->message, "quota"));
    free(res);

    /* DRF's body alone says how long */
    fake_free(&f);
    fake_init(&f);
    step drf[] = {ANSWER(429, "{\"detail\": \"Request was throttled. Expected available in 86400 seconds.\"}")};
    script(&f, 1, 1, drf);
    res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 6; i++)
        assert_int_equal(res->row[i].st, RS_NOT_ATTEMPTED);
    assert_int_equal(fake_sends(&f, 0), 1);
    assert_int_equal(res->reason, STOP_QUOTA);
    assert_true(res->resume_after_ms >= before + 86400000);
    free(res);
    fake_free(&f);
}

static void test_short_retry_after_pauses(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 2, .workers = 1, .max_pause_ms = 300000};
    step r1[] = {{HTTP_ANSWERED, 429, NULL, 1, HTTP_ERR_NONE, 0}, ANSWER(200, OK_BODY)};
    script(&f, 1, 2, r1);
    result *res = calloc(1, sizeof *res);
    int64_t t0 = clock_mono_ns();
    run_job(&s, &f, res);
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 2);
    ASSERT_ROW(*res, 2, RS_SENT, SMS, 0, 0, 1);
    assert_true(clock_mono_ns() - t0 >= 900000000LL); /* the whole job waited */
    assert_int_equal(res->reason, STOP_NONE);
    free(res);
    fake_free(&f);
}

static void test_config_error_stops(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 4, .workers = 1};
    step r1[] = {{HTTP_NOT_SENT, 0, NULL, 0, HTTP_ERR_DNS, 0}};
    script(&f, 1, 1, r1);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(res->row[i].st, RS_NOT_ATTEMPTED);
    assert_int_equal(fake_sends(&f, 0), 1);
    assert_int_equal(res->reason, STOP_CONFIG);
    assert_non_null(strstr(res->message, "does not resolve"));
    assert_non_null(strstr(res->message, "merchnat.ottu.net"));
    free(res);
    fake_free(&f);
}

static atomic_int budget_left;

static int take_budget(void *ctx, char *msg, size_t msglen)
{
    (void)ctx;
    (void)msg;
    (void)msglen;
    return atomic_fetch_sub(&budget_left, 1) > 0 ? 1 : 0;
}

static int take_broken(void *ctx, char *msg, size_t msglen)
{
    (void)ctx;
    snprintf(msg, msglen, "cannot write the ledger /x/ledger.db: disk full");
    return -1;
}

static void test_budget(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    atomic_store(&budget_left, 3);
    setup s = {.rows = 6, .workers = 1, .take_request = take_budget};
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 3; i++)
        ASSERT_ROW(*res, i, RS_SENT, SMS, 0, 0, 1);
    for (int i = 4; i <= 6; i++) {
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
        assert_non_null(strstr(res->row[i].detail, "budget"));
    }
    assert_int_equal(fake_sends(&f, 0), 3);
    assert_int_equal(res->reason, STOP_BUDGET);
    free(res);
    fake_free(&f);

    /* a retry takes from the budget too: the row waiting for it is not sent again */
    fake_init(&f);
    atomic_store(&budget_left, 1);
    step r1[] = {ANSWER(503, NULL), ANSWER(200, OK_BODY)};
    script(&f, 1, 2, r1);
    setup s1 = {.rows = 1, .workers = 1, .take_request = take_budget};
    res = calloc(1, sizeof *res);
    run_job(&s1, &f, res);
    ASSERT_ROW(*res, 1, RS_NOT_ATTEMPTED, 0, 0, 0, 1);
    assert_int_equal(fake_sends(&f, 0), 1);
    assert_int_equal(res->reason, STOP_BUDGET);
    free(res);
    fake_free(&f);

    fake_init(&f);
    s.take_request = take_broken;
    res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 6; i++)
        assert_int_equal(res->row[i].st, RS_NOT_ATTEMPTED);
    assert_int_equal(fake_sends(&f, 0), 0);
    assert_int_equal(res->reason, STOP_STORAGE);
    assert_non_null(strstr(res->message, "ledger.db"));
    free(res);
    fake_free(&f);
}

static void test_journal_failure(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    /* the journal breaks while row 3 is in flight: its outcome cannot be recorded, so the
     * job stops; row 3 keeps its outcome and nothing is sent after it */
    f.swap_journal_at = 3;
    setup s = {.rows = 6, .workers = 1, .with_journal = 1};
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 3; i++)
        ASSERT_ROW(*res, i, RS_SENT, SMS, 0, 0, 1);
    for (int i = 4; i <= 6; i++)
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
    assert_int_equal(fake_sends(&f, 0), 3);
    assert_int_equal(res->reason, STOP_STORAGE);
    assert_non_null(strstr(res->message, "journal"));
    free(res);
    fake_free(&f);
}

static void test_journal_begin_failure(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    /* broken before the first send: journal_begin fails, nothing is sent */
    setup s = {.rows = 3, .workers = 1, .with_journal = 1, .journal_broken = 1};
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    for (int i = 1; i <= 3; i++)
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
    assert_int_equal(fake_sends(&f, 0), 0);
    assert_int_equal(res->reason, STOP_STORAGE);
    assert_non_null(strstr(res->message, "No space left"));
    free(res);
    fake_free(&f);

    /* broken while a row waits for its retry: its release cannot be recorded; the job
     * stops and the row is not sent again */
    fake_init(&f);
    f.swap_journal_at = 1;
    step r1[] = {ANSWER(503, NULL)};
    script(&f, 1, 1, r1);
    setup s2 = {.rows = 3, .workers = 1, .with_journal = 1};
    res = calloc(1, sizeof *res);
    run_job(&s2, &f, res);
    ASSERT_ROW(*res, 1, RS_NOT_ATTEMPTED, 0, 0, 0, 1);
    for (int i = 2; i <= 3; i++)
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
    assert_int_equal(fake_sends(&f, 0), 1);
    assert_int_equal(res->reason, STOP_STORAGE);
    free(res);
    fake_free(&f);
}

/* Every attempt, retries included, is on record (a durable B line) before it goes out. */
static void test_journal_begun_before_send(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    f.check_begun = 1;
    step r2[] = {ANSWER(503, NULL), NOT_SENT, ANSWER(200, OK_BODY)};
    script(&f, 2, 3, r2);
    setup s = {.rows = 12, .workers = 3, .with_journal = 1};
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    ASSERT_ROW(*res, 2, RS_SENT, SMS, 0, 0, 3);
    for (int i = 1; i <= 12; i++)
        assert_int_equal(res->row[i].st, RS_SENT);
    assert_int_equal(fake_sends(&f, 0), 14);
    assert_int_equal(f.unbegun, 0);
    free(res);
    fake_free(&f);
}

static void interrupt_while_stalled(stop *st, fake *f)
{
    fake_wait_stalled(f, 2);
    stop_request(st, STOP_INTERRUPT, 0, NULL);
    fake_release(f);
}

static void test_interrupt(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    setup s = {.rows = 10, .workers = 2, .during = interrupt_while_stalled, .during_after = 2};
    step stall[] = {{HTTP_ANSWERED, 200, OK_BODY, 0, HTTP_ERR_NONE, 1}};
    step lost[] = {{HTTP_MAYBE_SENT, 0, NULL, 0, HTTP_ERR_TIMEOUT, 1}};
    script(&f, 1, 1, stall);
    script(&f, 2, 1, lost);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    /* the attempts in flight finish with their answers; nothing else is sent */
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 1);
    ASSERT_ROW(*res, 2, RS_UNKNOWN, 0, SMS, 0, 1);
    for (int i = 3; i <= 10; i++) {
        ASSERT_ROW(*res, i, RS_NOT_ATTEMPTED, 0, 0, 0, 0);
        assert_non_null(strstr(res->row[i].detail, "interrupted"));
    }
    assert_int_equal(fake_sends(&f, 0), 2);
    assert_int_equal(res->reason, STOP_INTERRUPT);
    free(res);
    fake_free(&f);
}

/* An outage of lost answers trips the breaker, which then lets one probe at a time. */
static void test_ambiguous_outage_trips_breaker(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    step bad = ANSWER(502, NULL);
    f.dflt = bad;
    setup s = {.rows = 24, .workers = 4};
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    assert_int_equal(res->degraded, 1);
    for (int i = 1; i <= 24; i++)
        ASSERT_ROW(*res, i, RS_UNKNOWN, 0, SMS, 0, 1);
    assert_int_equal(fake_sends(&f, 0), 24);
    free(res);
    fake_free(&f);
}

/* ---- the loop driver: its thread only hands answers over ---- */

static atomic_int on_loop, logged;

static void log_seen(void)
{
    atomic_fetch_add(&logged, 1);
    if (pthread_equal(pthread_self(), floop_thread))
        atomic_fetch_add(&on_loop, 1);
}

/* Every row's sent/failed/unknown line is logged where it is judged (journalled, settled):
 * none of them on the loop's thread. */
static void test_judged_off_the_loop(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    step r2[] = {ANSWER(400, "{\"detail\": \"bad\"}")};
    step r3[] = {MAYBE_SENT};
    step r4[] = {ANSWER(503, NULL), ANSWER(200, OK_BODY)};
    script(&f, 2, 1, r2);
    script(&f, 3, 1, r3);
    script(&f, 4, 2, r4);
    setup s = {.rows = 40, .workers = 8, .with_journal = 1};
    atomic_store(&on_loop, 0);
    atomic_store(&logged, 0);
    log_set_level(LOG_VERBOSE);
    log_set_hook(log_seen);
    fflush(stderr);
    int saved = dup(2), quiet = open("/dev/null", O_WRONLY); /* the lines are counted, not shown */
    assert_true(saved >= 0 && quiet >= 0 && dup2(quiet, 2) == 2);
    result *res = calloc(1, sizeof *res);
    run_job(&s, &f, res);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(quiet);
    log_set_hook(NULL);
    log_set_level(LOG_NORMAL);
    ASSERT_ROW(*res, 1, RS_SENT, SMS, 0, 0, 1);
    ASSERT_ROW(*res, 2, RS_FAILED, 0, 0, SMS, 1);
    ASSERT_ROW(*res, 3, RS_UNKNOWN, 0, SMS, 0, 1);
    ASSERT_ROW(*res, 4, RS_SENT, SMS, 0, 0, 2);
    assert_true(atomic_load(&logged) >= 40);
    assert_int_equal(atomic_load(&on_loop), 0);
    free(res);
    fake_free(&f);
}

static int as_threads(void **state)
{
    through_loop = 0;
    return group_setup(state);
}

static int as_loop(void **state)
{
    through_loop = 1;
    return group_setup(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_answer),
        cmocka_unit_test(test_retry_ambiguous),
        cmocka_unit_test(test_key_scrubbed),
        cmocka_unit_test(test_abort_on_401),
        cmocka_unit_test(test_quota_stop),
        cmocka_unit_test(test_short_retry_after_pauses),
        cmocka_unit_test(test_config_error_stops),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_journal_failure),
        cmocka_unit_test(test_journal_begin_failure),
        cmocka_unit_test(test_journal_begun_before_send),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_ambiguous_outage_trips_breaker),
    };
    const struct CMUnitTest loop_only[] = {
        cmocka_unit_test(test_judged_off_the_loop),
    };
    /* every scenario through both drivers */
    int failed = cmocka_run_group_tests_name("threads driver", tests, as_threads, group_teardown);
    failed += cmocka_run_group_tests_name("loop driver", tests, as_loop, group_teardown);
    failed += cmocka_run_group_tests_name("loop driver only", loop_only, as_loop, group_teardown);
    return failed;
}
