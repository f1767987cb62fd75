/* throttle — shared rate limiter, job-wide pause and outage slow-down. */
#include "throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "job.h"

#define HEALTH_WINDOW 20   /* recent attempts the outage detector looks at */
#define HEALTH_MIN 10      /* samples before it may decide */
#define HEALTH_FAIL_PCT 70 /* failing share that means "the API is down" */

struct throttle {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double interval_ns;      /* 0 = unlimited */
    double burst;
    double next_ns;          /* GCRA: the next free slot */
    int64_t pause_until_ns;
    int stopped;
    int inflight;
    /* outage detector */
    unsigned char window[HEALTH_WINDOW];
    int wpos, wcount, wfail;
    int degraded;
    int64_t outage_pause_ms, base_ms, max_ms;
};

throttle *throttle_new(double rate, unsigned burst, int64_t base_ms, int64_t max_ms)
{
    throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    t->interval_ns = rate > 0 ? 1e9 / rate : 0;
    t->burst = burst ? burst : 1;
    t->base_ms = base_ms > 0 ? base_ms : 1;
    t->max_ms = max_ms > t->base_ms ? max_ms : t->base_ms;
    t->next_ns = 0;
    return t;
}

void throttle_free(throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

static void wait_until(throttle *t, int64_t when_ns)
{
    struct timespec ts = {(time_t)(when_ns / 1000000000), (long)(when_ns % 1000000000)};
    pthread_cond_timedwait(&t->cv, &t->mu, &ts);
}

int throttle_acquire(throttle *t)
{
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (t->stopped) {
            pthread_mutex_unlock(&t->mu);
            return -1;
        }
        int64_t now = clock_mono_ns();
        if (now < t->pause_until_ns) {
            wait_until(t, t->pause_until_ns);
            continue;
        }
        if (t->degraded && t->inflight > 0) {
            /* Outage: one probe at a time, so rows do not burn their attempts. */
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        break;
    }
    t->inflight++;
    int64_t slot = 0;
    if (t->interval_ns > 0) {
        double now = (double)clock_mono_ns();
        double earliest = now - (t->burst - 1) * t->interval_ns;
        double s = t->next_ns > earliest ? t->next_ns : earliest;
        t->next_ns = s + t->interval_ns;
        slot = (int64_t)s;
    }
    /* Wait for the slot; a pause that starts meanwhile (Retry-After) holds this request
     * too, even though its slot was already reserved. */
    for (;;) {
        if (t->stopped) {
            t->inflight--;
            pthread_cond_broadcast(&t->cv);
            pthread_mutex_unlock(&t->mu);
            return -1;
        }
        int64_t now = clock_mono_ns();
        if (now < t->pause_until_ns)
            wait_until(t, t->pause_until_ns);
        else if (now < slot)
            wait_until(t, slot);
        else
            break;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int throttle_try_acquire(throttle *t)
{
    pthread_mutex_lock(&t->mu);
    int rc = 1;
    int64_t now = clock_mono_ns();
    if (t->stopped)
        rc = -1;
    else if (now < t->pause_until_ns || (t->degraded && t->inflight > 0))
        rc = 0;
    else if (t->interval_ns > 0) {
        double earliest = (double)now - (t->burst - 1) * t->interval_ns;
        double s = t->next_ns > earliest ? t->next_ns : earliest;
        if (s > (double)now)
            rc = 0; /* its slot is still to come */
        else
            t->next_ns = s + t->interval_ns;
    }
    if (rc == 1)
        t->inflight++;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static void record_health(throttle *t, int failed)
{
    if (t->wcount == HEALTH_WINDOW)
        t->wfail -= t->window[t->wpos];
    else
        t->wcount++;
    t->window[t->wpos] = (unsigned char)failed;
    t->wfail += failed;
    t->wpos = (t->wpos + 1) % HEALTH_WINDOW;
}

void throttle_release(throttle *t, throttle_health h)
{
    pthread_mutex_lock(&t->mu);
    t->inflight--;
    if (h == THROTTLE_OK) {
        record_health(t, 0);
        if (t->degraded) {
            /* The API answers again: full speed, and forget the outage. */
            t->degraded = 0;
            t->wpos = t->wcount = t->wfail = 0;
        }
        t->outage_pause_ms = 0;
    } else if (h == THROTTLE_TRANSIENT) {
        record_health(t, 1);
        if (!t->degraded && t->wcount >= HEALTH_MIN && t->wfail * 100 >= HEALTH_FAIL_PCT * t->wcount)
            t->degraded = 1;
        /* Failures of requests that were already under way when the pause began do not
         * lengthen it: only a probe sent after the pause can show the API is still down. */
        if (t->degraded && clock_mono_ns() >= t->pause_until_ns) {
            t->outage_pause_ms = t->outage_pause_ms ? t->outage_pause_ms * 2 : t->base_ms;
            if (t->outage_pause_ms > t->max_ms)
                t->outage_pause_ms = t->max_ms;
            int64_t until = clock_mono_ns() + t->outage_pause_ms * 1000000;
            if (until > t->pause_until_ns)
                t->pause_until_ns = until;
        }
    }
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void throttle_pause(throttle *t, int64_t ms)
{
    pthread_mutex_lock(&t->mu);
    int64_t until = clock_mono_ns() + ms * 1000000;
    if (until > t->pause_until_ns)
        t->pause_until_ns = until;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void throttle_stop(throttle *t)
{
    pthread_mutex_lock(&t->mu);
    t->stopped = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void throttle_status(throttle *t, int64_t *paused_ms, int *degraded)
{
    pthread_mutex_lock(&t->mu);
    int64_t left = t->pause_until_ns - clock_mono_ns();
    *paused_ms = left > 0 ? left / 1000000 : 0;
    *degraded = t->degraded;
    pthread_mutex_unlock(&t->mu);
}
