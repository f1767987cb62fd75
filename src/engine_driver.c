/* engine_driver — the engine's two drivers of one sending contract: threads (a blocking
 * send per worker) and loop (an event loop whose thread only hands answers to completers). */
#include "engine_driver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct driver_ops {
    void *(*reserve)(driver *d, driver_worker *w);
    void (*cancel)(driver *d, void *slot);
    void (*submit)(driver *d, void *slot, job *j);
    void (*free)(driver *d);
} driver_ops;

/* An answer the loop handed over, waiting for a completer. */
typedef struct answer {
    void *slot;
    job *j;
    http_result *res; /* the slot's: valid until the slot is released */
} answer;

struct driver {
    const driver_ops *ops;
    driver_done done;
    void *owner;
    engine_sender sender; /* threads */
    /* --- loop --- */
    engine_loop loop;
    void *lp;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    answer *ring; /* a place per slot: a slot carries one answer until it is released */
    int cap, head, count;
    int in_flight; /* submitted, answer not handled yet */
    int quit;
    pthread_t *completers;
    int ncompleters;
};

static driver *driver_new(const driver_ops *ops, driver_done done, void *owner, char *err, size_t errlen)
{
    driver *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->ops = ops;
    d->done = done;
    d->owner = owner;
    return d;
}

void driver_worker_open(driver *d, driver_worker *w)
{
    memset(w, 0, sizeof *w);
    if (d->sender.open)
        w->client = d->sender.open(d->sender.arg);
}

void driver_worker_close(driver *d, driver_worker *w)
{
    if (w->client)
        d->sender.close(w->client);
    http_result_free(&w->res);
}

void *driver_reserve(driver *d, driver_worker *w) { return d->ops->reserve(d, w); }
void driver_cancel(driver *d, void *slot) { d->ops->cancel(d, slot); }
void driver_submit(driver *d, void *slot, job *j) { d->ops->submit(d, slot, j); }

void driver_free(driver *d)
{
    if (!d)
        return;
    d->ops->free(d);
    free(d);
}

/* ---- threads: the worker sends and judges on its own thread ---- */

static void reset_result(http_result *res)
{
    res->status = 0;
    res->transport_error = 0;
    res->outcome = HTTP_ANSWERED;
    res->error_kind = HTTP_ERR_NONE;
    res->retry_after_s = -1;
    res->error[0] = '\0';
    res->bodylen = 0;
    if (res->body)
        res->body[0] = '\0';
    res->retry_after[0] = '\0';
}

static void *th_reserve(driver *d, driver_worker *w)
{
    (void)d;
    return w->client ? w : NULL;
}

static void th_cancel(driver *d, void *slot)
{
    (void)d;
    (void)slot;
}

static void th_submit(driver *d, void *slot, job *j)
{
    driver_worker *w = slot;
    reset_result(&w->res);
    d->sender.send(w->client, j, &w->res);
    d->done(d->owner, j, &w->res);
}

static void th_free(driver *d) { (void)d; }

static const driver_ops threads_ops = {th_reserve, th_cancel, th_submit, th_free};

driver *driver_threads(const engine_sender *s, driver_done done, void *owner, char *err, size_t errlen)
{
    driver *d = driver_new(&threads_ops, done, owner, err, errlen);
    if (d)
        d->sender = *s;
    return d;
}

/* ---- loop: the loop's thread hands answers over; completer threads judge them ---- */

/* On the loop's thread: queue the answer, nothing else (whatever this did would hold up
 * every transfer in flight). */
static void lp_answer(void *owner, void *slot, void *item, http_result *res)
{
    driver *d = owner;
    pthread_mutex_lock(&d->mu);
    answer a = {slot, item, res};
    d->ring[(d->head + d->count) % d->cap] = a;
    d->count++;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void *completer(void *p)
{
    driver *d = p;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->count && !(d->quit && !d->in_flight))
            pthread_cond_wait(&d->cv, &d->mu);
        if (!d->count)
            break; /* quitting, and no answer is owed */
        answer a = d->ring[d->head];
        d->head = (d->head + 1) % d->cap;
        d->count--;
        pthread_mutex_unlock(&d->mu);
        d->done(d->owner, a.j, a.res);
        d->loop.release(d->lp, a.slot); /* only now: res was the slot's */
        pthread_mutex_lock(&d->mu);
        if (--d->in_flight == 0 && d->quit)
            pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static void *lp_reserve(driver *d, driver_worker *w)
{
    (void)w;
    return d->loop.reserve(d->lp);
}

static void lp_cancel(driver *d, void *slot) { d->loop.release(d->lp, slot); }

static void lp_submit(driver *d, void *slot, job *j)
{
    pthread_mutex_lock(&d->mu);
    d->in_flight++;
    pthread_mutex_unlock(&d->mu);
    d->loop.post(d->lp, slot, j);
}

static void lp_free(driver *d)
{
    pthread_mutex_lock(&d->mu);
    d->quit = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->ncompleters; i++)
        pthread_join(d->completers[i], NULL);
    if (d->lp)
        d->loop.close(d->lp);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->completers);
    free(d->ring);
}

static const driver_ops loop_ops = {lp_reserve, lp_cancel, lp_submit, lp_free};

driver *driver_loop(const engine_loop *l, int slots, int completers_wanted, driver_done done, void *owner, char *err,
                    size_t errlen)
{
    driver *d = driver_new(&loop_ops, done, owner, err, errlen);
    if (!d)
        return NULL;
    d->loop = *l;
    d->cap = slots > 0 ? slots : 1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->ring = calloc((size_t)d->cap, sizeof *d->ring);
    d->completers = calloc((size_t)(completers_wanted > 0 ? completers_wanted : 1), sizeof *d->completers);
    if (!d->ring || !d->completers) {
        snprintf(err, errlen, "out of memory");
        driver_free(d);
        return NULL;
    }
    if (!(d->lp = l->open(l->arg, d->cap, lp_answer, d, err, errlen))) {
        driver_free(d);
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int rc = 0;
    while (d->ncompleters < (completers_wanted > 0 ? completers_wanted : 1) &&
           (rc = pthread_create(&d->completers[d->ncompleters], &attr, completer, d)) == 0)
        d->ncompleters++;
    pthread_attr_destroy(&attr);
    if (d->ncompleters == 0) {
        snprintf(err, errlen, "cannot start the threads that judge answers: %s", strerror(rc));
        driver_free(d);
        return NULL;
    }
    return d;
}
