/* reorder — a ring of job slots: acquired in input order, completed in any order,
 * released in input order. The ring starts small and grows (up to the window given) only
 * when rows finished out of order pile up behind a slow head. */
#include "reorder.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

/* How long the reader waits on a full ring with finished rows piling up before it grows
 * the ring: a head held up for a scheduler's turn or a slow writer frees up within it, so
 * a healthy job's memory does not depend on such moments (measured: 200k- and 1M-row
 * runs of one binary differed by 5-10 MB, by whether and how often the ring had doubled).
 * A row that is really slow (a retry's back-off, an API taking seconds) outlasts it. */
#define REORDER_PATIENCE_MS 250

struct reorder {
    pthread_mutex_t mu;
    pthread_cond_t not_full, head_done;
    job **slots;             /* ring of cap pointers; the jobs never move */
    size_t cap, max;
    job **chunks;            /* the job arrays, freed at the end */
    size_t nchunks;
    unsigned long long head; /* next row the writer takes */
    unsigned long long tail; /* next row the reader acquires */
    size_t ndone;            /* complete rows not yet released */
    long patience_ms;
    int reader_waiting;
    int closed;
};

static int add_chunk(reorder *r, job *chunk)
{
    job **c = realloc(r->chunks, (r->nchunks + 1) * sizeof *c);
    if (!c)
        return -1;
    r->chunks = c;
    r->chunks[r->nchunks++] = chunk;
    return 0;
}

reorder *reorder_new(size_t window)
{
    reorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->max = window ? window : 1;
    r->patience_ms = REORDER_PATIENCE_MS;
    r->cap = r->max < REORDER_START ? r->max : REORDER_START;
    r->slots = calloc(r->cap, sizeof *r->slots);
    job *chunk = calloc(r->cap, sizeof *chunk); /* == job_init for each */
    if (!r->slots || !chunk || add_chunk(r, chunk) < 0) {
        free(chunk);
        free(r->slots);
        free(r->chunks);
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->cap; i++)
        r->slots[i] = &chunk[i];
    pthread_mutex_init(&r->mu, NULL);
    /* The reader's patience is timed on the monotonic clock: a wall-clock step must not
     * stretch or cut it. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->not_full, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&r->head_done, NULL);
    return r;
}

void reorder_free(reorder *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++)
        job_free(r->slots[i]);
    for (size_t i = 0; i < r->nchunks; i++)
        free(r->chunks[i]);
    free(r->chunks);
    free(r->slots);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->not_full);
    pthread_cond_destroy(&r->head_done);
    free(r);
}

/* The ring is full and a quarter of it is finished rows waiting for the head: more room
 * lets the other workers go on. When the rows are merely queued or in flight, a bigger
 * ring would only hold more of them, so it stays as it is. */
static int should_grow(const reorder *r) { return r->cap < r->max && r->ndone * 4 >= r->cap; }

/* Doubles the ring (up to max) while it is full; the live rows keep their jobs. */
static int grow(reorder *r)
{
    size_t ncap = r->cap * 2 < r->max ? r->cap * 2 : r->max;
    job **ns = calloc(ncap, sizeof *ns);
    job *chunk = calloc(ncap - r->cap, sizeof *chunk);
    if (!ns || !chunk || add_chunk(r, chunk) < 0) {
        free(ns);
        free(chunk);
        return -1; /* no memory: keep waiting in the ring we have */
    }
    for (unsigned long long i = r->head; i < r->tail; i++)
        ns[i % ncap] = r->slots[i % r->cap];
    size_t k = 0;
    for (unsigned long long i = r->tail; i < r->head + ncap; i++)
        ns[i % ncap] = &chunk[k++];
    free(r->slots);
    r->slots = ns;
    r->cap = ncap;
    return 0;
}

void reorder_set_patience(reorder *r, long ms) { r->patience_ms = ms; }

job *reorder_acquire(reorder *r)
{
    pthread_mutex_lock(&r->mu);
    int64_t piled_since = -1; /* when the full ring was first seen with rows piled up */
    while (r->tail - r->head >= r->cap) {
        r->reader_waiting = 1;
        if (!should_grow(r)) {
            piled_since = -1;
            pthread_cond_wait(&r->not_full, &r->mu);
        } else {
            int64_t now = clock_mono_ns();
            if (piled_since < 0)
                piled_since = now;
            int64_t left = piled_since + (int64_t)r->patience_ms * 1000000 - now;
            if (left <= 0 && grow(r) == 0) {
                r->reader_waiting = 0;
                break;
            }
            if (left <= 0)
                left = 1000000000; /* no memory to grow: wait for the writer */
            int64_t until = now + left;
            struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
            pthread_cond_timedwait(&r->not_full, &r->mu, &ts);
        }
        r->reader_waiting = 0;
    }
    job *j = r->slots[r->tail % r->cap];
    j->done = 0;
    r->tail++;
    pthread_mutex_unlock(&r->mu);
    return j;
}

void reorder_complete(reorder *r, job *j)
{
    pthread_mutex_lock(&r->mu);
    j->done = 1;
    r->ndone++;
    if (j == r->slots[r->head % r->cap])
        pthread_cond_signal(&r->head_done);
    else if (r->reader_waiting && should_grow(r) && (r->ndone - 1) * 4 < r->cap)
        pthread_cond_signal(&r->not_full); /* the rows just piled up: the reader's patience starts */
    pthread_mutex_unlock(&r->mu);
}

job *reorder_next(reorder *r)
{
    job *j = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->head < r->tail && r->slots[r->head % r->cap]->done) {
            j = r->slots[r->head % r->cap];
            break;
        }
        if (r->closed && r->head == r->tail)
            break;
        pthread_cond_wait(&r->head_done, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return j;
}

void reorder_release(reorder *r, job *j)
{
    (void)j;
    pthread_mutex_lock(&r->mu);
    r->head++;
    r->ndone--;
    pthread_cond_signal(&r->not_full);
    pthread_mutex_unlock(&r->mu);
}

void reorder_close(reorder *r)
{
    pthread_mutex_lock(&r->mu);
    r->closed = 1;
    pthread_cond_signal(&r->head_done);
    pthread_mutex_unlock(&r->mu);
}
