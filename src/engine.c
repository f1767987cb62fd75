/* engine — worker threads: throttle → budget → journal → submit (engine_driver.h); each
 * answer comes back off any event loop's thread: classify → retry or finish. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_driver.h"
#include "jsonutil.h"
#include "log.h"
#include "retry.h"
#include "rules.h"
#include "text.h"

#define DEFAULT_MAX_PAUSE_MS (300LL * 1000)

struct engine {
    engine_opts o;
    pthread_t *threads;
    int started;
    driver *drv; /* how attempts go out and answers come back */
    int feed_begins; /* the loop's feeder begins its rows a group at a time (next_rows) */
};

/* Threads that feed the event loop. With a journal, one: it takes every row there is room
 * for, makes their begin records durable with one fdatasync and posts them (next_rows);
 * measured at -j 64, 2 feeders split the groups and cost more context switches than they
 * saved. Without one (results on stdout), 8 share the checks before each post. */
#define ASYNC_FEEDERS 8
/* Threads that judge the loop's answers (their journal records need no fdatasync): one
 * keeps up with the loop (as the loop's own thread did when it judged them); measured at
 * -j 64 against ottu-mock, 2 or 4 only cost CPU in hand-overs. */
#define ASYNC_COMPLETERS 1

/* xorshift64*: per-thread randomness for backoff jitter, no shared state; answers are
 * judged on workers and completers alike. */
static _Thread_local uint64_t jitter_state;

static double next_u01(void)
{
    if (!jitter_state) {
        jitter_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&jitter_state ^ (uint64_t)clock_mono_ns();
        if (!jitter_state)
            jitter_state = 1;
    }
    uint64_t *s = &jitter_state;
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- the default sender: libcurl ---- */

static void *curl_open(void *arg) { return http_client_new(arg); }
static void curl_send(void *client, const job *j, http_result *res)
{
    http_post(client, j->req.path, j->req.body, j->req.bodylen, res);
}
static void curl_close(void *client) { http_client_free(client); }

/* ---- the default event loop (--http2): http_async ---- */

static void *ha_open(void *arg, int slots, engine_loop_done done, void *owner, char *err, size_t errlen)
{
    return http_async_new(arg, slots, done, owner, err, errlen);
}
static void *ha_reserve(void *loop) { return http_async_reserve(loop); }
static void ha_post(void *loop, void *slot, job *j)
{
    http_async_post(loop, slot, j->req.path, j->req.body, j->req.bodylen, j);
}
static void ha_release(void *loop, void *slot) { http_async_release(loop, slot); }
static void ha_close(void *loop) { http_async_free(loop); }

/* ---- stopping: why is the stop module's (stop.h); the engine only wakes its waiters ---- */

static void wake(void *ctx)
{
    engine *e = ctx;
    queue_stop(e->o.q);
    throttle_stop(e->o.thr);
}

static int halted(engine *e) { return stop_stopping(e->o.stop); }

/* ---- a row's outcome, for every row that reached a worker (settled by job_settle) ---- */

/* The journal refused a write: stop at once (a row whose attempt is not on record must
 * not be sent), and say so once, naming the file and the error. */
static void journal_failed(engine *e)
{
    char why[400], msg[512];
    if (journal_error(e->o.jn, why, sizeof why) == 0)
        snprintf(why, sizeof why, "cannot write the journal");
    snprintf(msg, sizeof msg, "%s: stopping; no new requests (free the space, then --resume)", why);
    if (stop_request(e->o.stop, STOP_STORAGE, 0, msg))
        log_msg(LOG_QUIET, 0, "%s", msg);
}

/* The row is settled (job_settle): timed, journalled, handed on to the writer. */
static void finish(engine *e, job *j)
{
    row_status st = j->status;
    j->finished_at_ms = clock_now_ms();
    if (j->first_attempt_ns)
        j->latency_ms = (clock_mono_ns() - j->first_attempt_ns) / 1000000;
    if (e->o.api_key)
        job_scrub_detail(j, e->o.api_key);
    /* A not_attempted row needs no outcome record: its last attempt (if any) was
     * released with an F line when it failed; one begun in the feeder's group
     * (feed_group) but stopped before it went is released here. */
    if (e->o.jn && (st == RS_SENT || st == RS_FAILED || st == RS_UNKNOWN) && journal_outcome(e->o.jn, j) < 0)
        journal_failed(e);
    else if (e->o.jn && st == RS_NOT_ATTEMPTED && j->begun && journal_release_unsent(e->o.jn, j->rowno) < 0)
        journal_failed(e);
    j->begun = 0;
    queue_done(e->o.q);
    reorder_complete(e->o.ro, j);
}

/* The row ends without a new attempt because the job stopped. */
static void stop_row(engine *e, job *j, const char *why)
{
    char words[160];
    if (!why) {
        const char *w = stop_words(e->o.stop);
        snprintf(words, sizeof words, "not sent: %s", w ? w : "the job stopped");
        why = words;
    }
    if (j->maybe_channels)
        job_settle(j, RS_NOT_ATTEMPTED, 0,
                   "outcome unknown: an earlier attempt may have notified the customer; not retried (%.100s); "
                   "last attempt: %.380s",
                   why, j->detail);
    else if (j->attempts > j->attempts_before)
        job_settle(j, RS_NOT_ATTEMPTED, 0, "%.100s; %.500s", why, j->detail);
    else
        job_settle(j, RS_NOT_ATTEMPTED, 0, "%s", why);
    finish(e, j);
}

/* ---- one attempt ---- */

static void describe(job *j, const http_result *res, const char *prefix)
{
    char msg[480];
    if (res->status) {
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        job_note(j, "%sHTTP %d%s%s", prefix, res->status, msg[0] ? ": " : "", msg);
    } else {
        text_printable(res->error[0] ? res->error : "no answer", strlen(res->error[0] ? res->error : "no answer"),
                       msg, sizeof msg);
        job_note(j, "%s%s", prefix, msg);
    }
}

/* The key never travels further than the answer it came in: scrubbed from the body and
 * the transport error before anything reads them. */
static void scrub_answer(engine *e, http_result *res)
{
    const char *key = e->o.api_key;
    if (!key || !*key)
        return;
    text_scrub_secret(res->error, sizeof res->error, key);
    size_t klen = strlen(key);
    if (!res->body || res->bodylen < klen || !memmem(res->body, res->bodylen, key, klen))
        return;
    /* "[redacted]" may be longer than the key: room for every occurrence to grow. The
     * buffer only grows, so a sender that reuses it keeps at least what it allocated. */
    size_t cap = res->bodylen * (sizeof TEXT_REDACTED) + 1;
    if (cap < HTTP_MAX_BODY + 1)
        cap = HTTP_MAX_BODY + 1;
    char *b = realloc(res->body, cap);
    if (!b) {
        res->body[0] = '\0'; /* no memory to scrub it: drop it rather than leak the key */
        res->bodylen = 0;
        return;
    }
    res->body = b;
    b[res->bodylen] = '\0';
    text_scrub_secret(b, cap, key);
    res->bodylen = strlen(b);
}

static void on_sent(engine *e, job *j, const http_result *res)
{
    char msg[480];
    jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
    /* The validation note (dropped channels, ledger) in front of the API's message;
     * whatever an earlier attempt said ("retrying after ...") is no longer true. */
    const char *note = j->req.detail;
    job_settle(j, RS_SENT, 0, "%.300s%s%.300s", note, note[0] && msg[0] ? "; " : "", msg);
    log_msg(LOG_VERBOSE, j->rowno, "sent (%s) HTTP %d", j->req.log_ident, res->status);
    finish(e, j);
}

static void on_failed(engine *e, job *j, const http_result *res, const retry_decision *d)
{
    job_note_maybe(j, d->maybe);
    if (d->maybe && d->failed) {
        /* One channel failed beside others that may have gone out: say both, so nobody
         * feeds the row back for the channels that may have reached the customer. */
        char failed[32], maybe[32], msg[300];
        rules_format_channels(d->failed, failed, sizeof failed);
        rules_format_channels(d->maybe, maybe, sizeof maybe);
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        job_note(j,
                 "HTTP %d: %s failed (the transaction may not have %s enabled for its state; drop the channel "
                 "rather than retry); %s may have been sent%s%.300s",
                 res->status, failed, failed, maybe, msg[0] ? "; " : "", msg);
    } else {
        describe(j, res, "");
    }
    if (j->maybe_channels & ~d->maybe)
        job_settle(j, RS_FAILED, d->failed, "%s; an earlier attempt may have notified the customer", j->detail);
    else
        job_settle(j, RS_FAILED, d->failed, NULL);
    log_msg(LOG_VERBOSE, j->rowno, "failed (%s): %s", j->req.log_ident, j->detail);
    finish(e, j);
}

static void on_unknown(engine *e, job *j, const http_result *res)
{
    char what[520];
    if (res->outcome == HTTP_ANSWERED && res->status >= 200 && res->status < 300) {
        char msg[400];
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        snprintf(what, sizeof what, "HTTP %d without a confirmation%s%s%s", res->status, msg[0] ? " (" : "",
                 msg, msg[0] ? ")" : "");
    } else if (res->outcome == HTTP_ANSWERED && res->status) {
        snprintf(what, sizeof what, "HTTP %d after the request was sent", res->status);
    } else {
        char err[300];
        const char *s = res->error[0] ? res->error : "no answer";
        text_printable(s, strlen(s), err, sizeof err);
        snprintf(what, sizeof what, "%s after the request was sent", err);
    }
    job_settle(j, RS_UNKNOWN, 0, "outcome unknown: %.500s; the customer may have been notified; not retried", what);
    log_msg(LOG_VERBOSE, j->rowno, "%s", j->detail);
    finish(e, j);
}

static void on_abort(engine *e, job *j, const http_result *res)
{
    describe(j, res, "the API rejected the key: ");
    char msg[160];
    snprintf(msg, sizeof msg, "the API rejected the key (HTTP %d): stopping the job; no further requests",
             res->status);
    /* Stop first, log after: no worker may start another request in between. */
    if (stop_request(e->o.stop, STOP_KEY_REJECTED, 0, msg))
        log_msg(LOG_QUIET, 0, "%s", msg);
    job_settle(j, RS_FAILED, j->channels, NULL);
    finish(e, j);
}

/* DNS and certificate failures do not heal by probing: the configuration is wrong. */
static int config_error(engine *e, job *j, const http_result *res)
{
    if (res->outcome != HTTP_NOT_SENT || (res->error_kind != HTTP_ERR_DNS && res->error_kind != HTTP_ERR_TLS_CERT))
        return 0;
    char err[200], msg[400];
    text_printable(res->error, strlen(res->error), err, sizeof err);
    snprintf(msg, sizeof msg, "%s (%s): a configuration error, not an outage; stopping the job (check %s)",
             res->error_kind == HTTP_ERR_DNS ? "the API's host name does not resolve"
                                             : "the API's TLS certificate is not trusted",
             err, res->error_kind == HTTP_ERR_DNS ? "--base-url" : "--base-url and --cacert");
    if (stop_request(e->o.stop, STOP_CONFIG, 0, msg)) /* once, however many workers see it */
        log_msg(LOG_QUIET, 0, "%s", msg);
    if (e->o.jn)
        journal_release(e->o.jn, j->rowno); /* nothing left: the row is to do on --resume */
    j->begun = 0;
    describe(j, res, "last attempt: ");
    stop_row(e, j, "not sent: the job stopped on a configuration error");
    return 1;
}

/* A 429 asking for more than max_pause: the quota is spent; stop for a later --resume. */
static int quota_stop(engine *e, job *j, const http_result *res, int64_t wait_ms)
{
    int64_t max = e->o.max_pause_ms > 0 ? e->o.max_pause_ms : DEFAULT_MAX_PAUSE_MS;
    if (res->status != 429 || wait_ms <= max)
        return 0;
    int64_t when = clock_now_ms() + wait_ms;
    char at[40], msg[300];
    clock_format_iso(when, at, sizeof at);
    snprintf(msg, sizeof msg,
             "the API's quota is exhausted (HTTP 429, available again in %lld s, at %s): stopping; no new "
             "requests; --resume continues",
             (long long)(wait_ms / 1000), at);
    if (stop_request(e->o.stop, STOP_QUOTA, when, msg))
        log_msg(LOG_QUIET, 0, "%s", msg);
    if (e->o.jn && journal_release(e->o.jn, j->rowno) < 0)
        journal_failed(e);
    j->begun = 0;
    describe(j, res, "last attempt: ");
    stop_row(e, j, NULL);
    return 1;
}

static void on_again(engine *e, job *j, http_result *res, const retry_decision *d)
{
    int64_t wait = retry_server_wait_ms(res->retry_after_s, res->retry_after, res->body, res->bodylen, time(NULL));
    if (quota_stop(e, j, res, wait))
        return;
    int64_t max = e->o.max_pause_ms > 0 ? e->o.max_pause_ms : DEFAULT_MAX_PAUSE_MS;
    int64_t after = wait > max ? max : wait;
    if (after > 0)
        throttle_pause(e->o.thr, after); /* the whole job waits, not just this row */
    int made = j->attempts - j->attempts_before;
    if (made >= e->o.max_attempts) {
        if (j->maybe_channels) {
            describe(j, res, "");
            job_settle(j, RS_UNKNOWN, 0,
                       "outcome unknown: gave up after %d attempts, some of which may have reached the API; the "
                       "customer may have been notified; last attempt: %.400s",
                       made, j->detail);
            finish(e, j);
            return;
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "gave up after %d attempts: ", made);
        describe(j, res, prefix);
        log_msg(LOG_VERBOSE, j->rowno, "%s", j->detail);
        job_settle(j, RS_FAILED, j->channels, NULL);
        finish(e, j);
        return;
    }
    if (e->o.jn && journal_release(e->o.jn, j->rowno) < 0)
        journal_failed(e);
    j->begun = 0;
    if (halted(e)) {
        describe(j, res, "last attempt: ");
        stop_row(e, j, NULL);
        return;
    }
    int64_t backoff = retry_backoff_ms(made, e->o.backoff_base_ms, e->o.backoff_max_ms, next_u01());
    if (after > backoff)
        backoff = after;
    describe(j, res, d->ambiguous ? "retrying (--retry-ambiguous: may notify twice) after " : "retrying after ");
    log_msg(LOG_VERBOSE, j->rowno, "%s; next attempt in %lld ms", j->detail, (long long)backoff);
    j->ready_at_ns = clock_mono_ns() + backoff * 1000000;
    queue_push_delayed(e->o.q, j);
}

static throttle_health health_of(const retry_decision *d, const http_result *res)
{
    switch (d->verdict) {
    case RETRY_AGAIN:
        return res->status == 429 ? THROTTLE_RATE_LIMITED : THROTTLE_TRANSIENT;
    case RETRY_UNKNOWN:
        /* An outage of lost answers must slow the job to one probe at a time, or every
         * row in flight ends unknown. */
        return THROTTLE_TRANSIENT;
    default:
        return THROTTLE_OK;
    }
}

/* Before the request goes out: the budget, then the journal. 0 = go. */
static int may_send(engine *e, job *j)
{
    char msg[300] = "";
    if (e->o.take_request) {
        int t = e->o.take_request(e->o.take_request_ctx, msg, sizeof msg);
        if (t <= 0) {
            if (t == 0 && !msg[0])
                snprintf(msg, sizeof msg, "the daily budget of requests is spent: stopping; --resume continues");
            else if (!msg[0])
                snprintf(msg, sizeof msg, "cannot record the request in the ledger: stopping; no new requests");
            if (stop_request(e->o.stop, t == 0 ? STOP_BUDGET : STOP_STORAGE, 0, msg))
                log_msg(LOG_QUIET, 0, "%s", msg); /* once, however many workers see it */
            return -1;
        }
    }
    /* Usually the feeder made the record durable with its group (feed_group). */
    if (e->o.jn && !j->begun) {
        if (journal_begin(e->o.jn, j->rowno) < 0) {
            /* No record of the attempt, no attempt: a resume could not tell it was sent. */
            journal_failed(e);
            return -1;
        }
        j->begun = 1;
    }
    return 0;
}

/* Before an attempt goes out (the throttle passed): 0 = send it, -1 = the row was
 * stopped instead. */
static int attempt_begin(engine *e, job *j)
{
    if (may_send(e, j) < 0) {
        throttle_release(e->o.thr, THROTTLE_OK);
        stop_row(e, j, NULL);
        return -1;
    }
    if (!j->first_attempt_ns)
        j->first_attempt_ns = clock_mono_ns();
    if (j->attempts > 0)
        atomic_fetch_add(&e->o.sum->retries, 1);
    atomic_fetch_add(&e->o.sum->requests, 1);
    j->attempts++;
    return 0;
}

/* After an attempt (driver_done): judge the answer (or its absence) and decide the row's
 * fate. On the worker that sent it, or on a completer with --http2: never on the loop. */
static void attempt_end(void *owner, job *j, http_result *res)
{
    engine *e = owner;
    scrub_answer(e, res);
    summary_attempt(e->o.sum, res->status); /* the summary's HTTP line counts every attempt */
    if (res->status)
        j->http_status = res->status;
    if (config_error(e, j, res)) {
        throttle_release(e->o.thr, THROTTLE_OK);
        return;
    }
    retry_decision d =
        retry_classify(res->outcome, res->status, res->body, res->bodylen, j->channels, e->o.retry_ambiguous);
    if (d.verdict == RETRY_AGAIN)
        job_note_maybe(j, d.maybe); /* --retry-ambiguous: remembered if it never succeeds */
    throttle_release(e->o.thr, health_of(&d, res));
    switch (d.verdict) {
    case RETRY_SUCCESS:
        on_sent(e, j, res);
        return;
    case RETRY_FAIL:
        on_failed(e, j, res, &d);
        return;
    case RETRY_UNKNOWN:
        on_unknown(e, j, res);
        return;
    case RETRY_ABORT:
        on_abort(e, j, res);
        return;
    case RETRY_AGAIN:
        on_again(e, j, res, &d);
        return;
    }
}

/* Everything before an attempt but the budget and journal: 1 = the throttle let it go,
 * 0 = the row was stopped instead. held: the throttle was acquired already. */
static int may_start(engine *e, int have_client, job *j, int stopping, int held)
{
    if (!have_client || stopping || halted(e)) {
        if (held)
            throttle_release(e->o.thr, THROTTLE_OK);
        stop_row(e, j, have_client ? NULL : "not sent: could not create an HTTP client");
        return 0;
    }
    if (!held && throttle_acquire(e->o.thr) < 0) {
        stop_row(e, j, NULL);
        return 0;
    }
    if (halted(e)) {
        /* stopped while this worker waited for its turn: never send after a stop */
        throttle_release(e->o.thr, THROTTLE_OK);
        stop_row(e, j, NULL);
        return 0;
    }
    return 1;
}

/* One row a worker took: --verify's read, or an attempt through the driver. held: the
 * throttle was acquired for it already. */
static void one_row(engine *e, driver_worker *w, job *j, int stopping, int held)
{
    if (j->lookup && e->o.lookup_pass) {
        /* --verify: read the row's transaction; the reader then claims and queues it. */
        e->o.lookup_pass(e->o.lookup_ctx, w->client, j, stopping || halted(e));
        return;
    }
    /* A place among the attempts in flight first (the loop waits for one here), so that
     * the checks below are the last word before the request goes. */
    void *slot = driver_reserve(e->drv, w);
    if (!may_start(e, slot != NULL, j, stopping, held) || attempt_begin(e, j) < 0) {
        if (slot)
            driver_cancel(e->drv, slot);
        return;
    }
    driver_submit(e->drv, slot, j); /* attempt_end follows, here or on a completer */
}

/* The loop's feeder with a journal: takes every row the queue has room for (at most -j
 * begun and not ended: queue_stage), and of those, the ones the throttle lets go now get
 * their begin records in one write and one fdatasync and are posted at once; the rest go
 * one at a time (a row waiting for its turn is never begun ahead: after a crash only rows
 * about to start can be unknown). No thread between the sync and the post: each hand-over
 * held a row's place for a scheduler turn (issue 28). */
static void feed_group(engine *e, driver_worker *w, job **rows, size_t n)
{
    size_t k = 0;
    while (k < n && !rows[k]->lookup && !rows[k]->begun && throttle_try_acquire(e->o.thr) == 1)
        k++;
    /* A failed write or sync leaves them not begun: attempt_begin's own begin then fails
     * too and stops the job without sending them. */
    if (k)
        journal_begin_many(e->o.jn, rows, k);
    for (size_t i = 0; i < n; i++)
        one_row(e, w, rows[i], 0, i < k);
}

static void *worker(void *p)
{
    engine *e = p;
    driver_worker w;
    driver_worker_open(e->drv, &w);
    int stopping;
    job *j, *rows[JOURNAL_BEGIN_MAX];
    size_t n;
    /* Until the queue stops or every row is done; then (a stop) one row at a time. */
    while (e->feed_begins && (n = queue_take(e->o.q, rows, JOURNAL_BEGIN_MAX)) > 0)
        feed_group(e, &w, rows, n);
    while ((j = queue_pop(e->o.q, &stopping)) != NULL)
        one_row(e, &w, j, stopping, 0);
    driver_worker_close(e->drv, &w);
    return NULL;
}

engine *engine_start(const engine_opts *o, char *err, size_t errlen)
{
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!o->stop) {
        free(e);
        snprintf(err, errlen, "no stop authority");
        return NULL;
    }
    e->o = *o;
    int threads = o->workers;
    if (o->async) {
        /* The loop carries every attempt in flight; a few threads feed it (the throttle,
         * the budget and the journal come before each attempt, as in the workers) and
         * completers judge its answers. */
        engine_loop curl = {ha_open, ha_reserve, ha_post, ha_release, ha_close, o->http};
        int completers = o->workers < ASYNC_COMPLETERS ? o->workers : ASYNC_COMPLETERS;
        e->drv = driver_loop(o->loop.open ? &o->loop : &curl, o->workers, completers, attempt_end, e, err, errlen);
        threads = o->workers < ASYNC_FEEDERS ? o->workers : ASYNC_FEEDERS;
        if (o->jn) {
            e->feed_begins = 1;
            threads = 1;
            queue_stage(o->q, (size_t)o->workers);
        }
    } else {
        engine_sender curl = {curl_open, curl_send, curl_close, o->http};
        e->drv = driver_threads(o->sender.send ? &o->sender : &curl, attempt_end, e, err, errlen);
    }
    if (!e->drv) {
        free(e);
        return NULL;
    }
    e->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof *e->threads);
    if (!e->threads) {
        driver_free(e->drv);
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024); /* -j 1024 must not reserve 8 GiB */
    int rc = 0;
    for (int i = 0; i < threads; i++) {
        if ((rc = pthread_create(&e->threads[i], &attr, worker, e)) != 0)
            break;
        e->started++;
    }
    pthread_attr_destroy(&attr);
    if (e->started == 0) {
        snprintf(err, errlen, "cannot start worker threads: %s", strerror(rc ? rc : EINVAL));
        driver_free(e->drv);
        free(e->threads);
        free(e);
        return NULL;
    }
    if (e->started < threads)
        log_msg(LOG_NORMAL, 0, "started %d of %d workers (%s): sending with fewer", e->started, threads,
                strerror(rc));
    stop_on_request(e->o.stop, wake, e); /* a stop wakes the workers that wait */
    return e;
}

void engine_join(engine *e)
{
    for (int i = 0; i < e->started; i++)
        pthread_join(e->threads[i], NULL);
    /* The workers end when every row is finished, so nothing is in flight any more. */
    driver_free(e->drv);
    e->drv = NULL;
}

void engine_free(engine *e)
{
    if (!e)
        return;
    stop_on_request(e->o.stop, NULL, NULL);
    free(e->threads);
    free(e);
}
