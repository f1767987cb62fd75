/* engine — worker threads: throttle → journal → send → classify → retry or finish. */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"
#include "log.h"
#include "retry.h"

struct engine {
    engine_opts o;
    pthread_t *threads;
    int started;
    atomic_int stopping;
    atomic_int aborted;
};

/* xorshift64*: per-worker randomness for backoff jitter, no shared state. */
static double next_u01(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void finish(engine *e, job *j, row_status st)
{
    j->status = st;
    j->finished_at_ms = clock_now_ms();
    if (j->first_attempt_ns)
        j->latency_ms = (clock_mono_ns() - j->first_attempt_ns) / 1000000;
    /* A not_attempted row needs no record: its last attempt (if any) was already
     * released with an F line when it failed. */
    if (e->o.jn && (st == RS_SENT || st == RS_FAILED))
        journal_outcome(e->o.jn, j);
    queue_done(e->o.q);
    reorder_complete(e->o.ro, j);
}

static void describe(job *j, const http_result *res, const char *prefix)
{
    char msg[480];
    if (res->status) {
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        snprintf(j->detail, sizeof j->detail, "%sHTTP %d%s%s", prefix, res->status, msg[0] ? ": " : "", msg);
    } else {
        snprintf(j->detail, sizeof j->detail, "%s%s", prefix, res->error[0] ? res->error : "no answer");
    }
}

static void attempt(engine *e, http_client *client, job *j, uint64_t *rng, http_result *res)
{
    if (e->o.jn)
        journal_begin(e->o.jn, j->rowno);
    if (!j->first_attempt_ns)
        j->first_attempt_ns = clock_mono_ns();
    if (j->attempts > 0)
        atomic_fetch_add(&e->o.sum->retries, 1);
    atomic_fetch_add(&e->o.sum->requests, 1);
    j->attempts++;
    http_post(client, j->req.path, j->req.body, j->req.bodylen, res);
    if (res->status)
        j->http_status = res->status;
    retry_verdict v = retry_classify(res->status, res->transport_error);
    throttle_release(e->o.thr, v == RETRY_AGAIN ? (res->status == 429 ? THROTTLE_RATE_LIMITED : THROTTLE_TRANSIENT)
                                                : THROTTLE_OK);
    switch (v) {
    case RETRY_SUCCESS: {
        char msg[480];
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        /* The validation note (dropped channels, ledger) in front of the API's message;
         * whatever an earlier attempt said ("retrying after ...") is no longer true. */
        const char *note = j->req.detail;
        snprintf(j->detail, sizeof j->detail, "%.300s%s%.300s", note, note[0] && msg[0] ? "; " : "", msg);
        log_msg(LOG_VERBOSE, j->rowno, "sent (%s) HTTP %d", j->req.log_ident, res->status);
        finish(e, j, RS_SENT);
        return;
    }
    case RETRY_FAIL:
        describe(j, res, "");
        log_msg(LOG_VERBOSE, j->rowno, "failed (%s): %s", j->req.log_ident, j->detail);
        finish(e, j, RS_FAILED);
        return;
    case RETRY_ABORT:
        describe(j, res, "the API rejected the key: ");
        /* Stop first, log after: no worker may start another request in between. */
        int first = !atomic_exchange(&e->aborted, 1);
        engine_stop(e);
        if (first)
            log_msg(LOG_QUIET, 0, "the API rejected the key (HTTP %d): stopping the job; no further requests",
                    res->status);
        finish(e, j, RS_FAILED);
        return;
    case RETRY_AGAIN:
        break;
    }
    int64_t after = retry_after_ms(res->retry_after[0] ? res->retry_after : NULL, time(NULL));
    if (after > 0)
        throttle_pause(e->o.thr, after); /* the whole job waits, not just this row */
    if (j->attempts - j->attempts_before >= e->o.max_attempts) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "gave up after %d attempts: ", j->attempts - j->attempts_before);
        describe(j, res, prefix);
        log_msg(LOG_VERBOSE, j->rowno, "%s", j->detail);
        finish(e, j, RS_FAILED);
        return;
    }
    if (e->o.jn)
        journal_release(e->o.jn, j->rowno);
    if (atomic_load(&e->stopping)) {
        describe(j, res, "interrupted while waiting to retry; last attempt: ");
        finish(e, j, RS_NOT_ATTEMPTED);
        return;
    }
    int64_t wait = retry_backoff_ms(j->attempts - j->attempts_before, e->o.backoff_base_ms, e->o.backoff_max_ms, next_u01(rng));
    if (after > wait)
        wait = after;
    describe(j, res, "retrying after ");
    log_msg(LOG_VERBOSE, j->rowno, "%s; next attempt in %lld ms", j->detail, (long long)wait);
    j->ready_at_ns = clock_mono_ns() + wait * 1000000;
    queue_push_delayed(e->o.q, j);
}

struct worker_arg {
    engine *e;
    int index;
};

static void *worker(void *p)
{
    struct worker_arg *wa = p;
    engine *e = wa->e;
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)wa->index * 0xD1B54A32D192ED03ULL) ^ (uint64_t)clock_mono_ns();
    if (!rng)
        rng = 1;
    free(wa);
    http_client *client = http_client_new(e->o.http);
    http_result res;
    memset(&res, 0, sizeof res);
    int stopping;
    job *j;
    while ((j = queue_pop(e->o.q, &stopping)) != NULL) {
        if (!client || stopping || atomic_load(&e->stopping)) {
            const char *why = atomic_load(&e->aborted) ? "not sent: the job was aborted (API key rejected)"
                                                       : "not sent: the job was interrupted";
            if (!client)
                why = "not sent: could not create an HTTP client";
            if (j->attempts > 0) {
                char prev[640];
                snprintf(prev, sizeof prev, "%s", j->detail);
                snprintf(j->detail, sizeof j->detail, "%.100s; %.500s", why, prev);
            } else {
                snprintf(j->detail, sizeof j->detail, "%s", why);
            }
            finish(e, j, RS_NOT_ATTEMPTED);
            continue;
        }
        if (throttle_acquire(e->o.thr) < 0) {
            snprintf(j->detail, sizeof j->detail, "not sent: the job was %s",
                     atomic_load(&e->aborted) ? "aborted (API key rejected)" : "interrupted");
            finish(e, j, RS_NOT_ATTEMPTED);
            continue;
        }
        if (atomic_load(&e->stopping)) {
            /* stopped while this worker waited for its turn: never send after an abort */
            throttle_release(e->o.thr, THROTTLE_OK);
            snprintf(j->detail, sizeof j->detail, "not sent: the job was %s",
                     atomic_load(&e->aborted) ? "aborted (API key rejected)" : "interrupted");
            finish(e, j, RS_NOT_ATTEMPTED);
            continue;
        }
        attempt(e, client, j, &rng, &res);
    }
    http_result_free(&res);
    http_client_free(client);
    return NULL;
}

engine *engine_start(const engine_opts *o, char *err, size_t errlen)
{
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->o = *o;
    e->threads = calloc((size_t)o->workers, sizeof *e->threads);
    if (!e->threads) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024); /* -j 1024 must not reserve 8 GiB */
    for (int i = 0; i < o->workers; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            break;
        wa->e = e;
        wa->index = i;
        if (pthread_create(&e->threads[i], &attr, worker, wa) != 0) {
            free(wa);
            break;
        }
        e->started++;
    }
    pthread_attr_destroy(&attr);
    if (e->started == 0) {
        snprintf(err, errlen, "cannot start worker threads");
        free(e->threads);
        free(e);
        return NULL;
    }
    return e;
}

void engine_stop(engine *e)
{
    atomic_store(&e->stopping, 1);
    queue_stop(e->o.q);
    throttle_stop(e->o.thr);
}

int engine_stopping(engine *e) { return atomic_load(&e->stopping); }
int engine_aborted(engine *e) { return atomic_load(&e->aborted); }

void engine_join(engine *e)
{
    for (int i = 0; i < e->started; i++)
        pthread_join(e->threads[i], NULL);
}

void engine_free(engine *e)
{
    if (!e)
        return;
    free(e->threads);
    free(e);
}
