/* queue — bounded work queue: a FIFO of new rows and a min-heap of delayed retries; in
 * staged mode, a bound on the rows taken and not yet let go. */
#include "queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job **fifo;       /* ring of new rows */
    size_t cap, head, count;
    job **heap;       /* delayed rows, earliest ready_at first */
    size_t hcount;
    size_t outstanding; /* pushed, not yet done */
    int closed, stopping;
    /* staged mode (limit > 0): rows are taken in groups (queue_take) within the limit */
    size_t limit;       /* rows taken and not yet done or pushed back, at most */
    size_t busy;        /* rows taken or popped, not yet done or pushed back */
    pthread_cond_t stage_cv; /* queue_take waits here: rows due, room, close or stop */
};

queue *queue_new(size_t cap)
{
    queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->fifo = calloc(cap, sizeof *q->fifo);
    q->heap = calloc(cap, sizeof *q->heap);
    if (!q->fifo || !q->heap) {
        free(q->fifo);
        free(q->heap);
        free(q);
        return NULL;
    }
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_cond_init(&q->stage_cv, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void queue_free(queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    pthread_cond_destroy(&q->stage_cv);
    free(q->fifo);
    free(q->heap);
    free(q);
}

void queue_push(queue *q, job *j)
{
    pthread_mutex_lock(&q->mu);
    /* The reorder window bounds rows in flight to cap, so this never overflows. */
    q->fifo[(q->head + q->count) % q->cap] = j;
    q->count++;
    q->outstanding++;
    pthread_cond_signal(q->limit ? &q->stage_cv : &q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void heap_up(queue *q, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (q->heap[p]->ready_at_ns <= q->heap[i]->ready_at_ns)
            break;
        job *t = q->heap[p];
        q->heap[p] = q->heap[i];
        q->heap[i] = t;
        i = p;
    }
}

static job *heap_pop(queue *q)
{
    job *top = q->heap[0];
    q->heap[0] = q->heap[--q->hcount];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->hcount && q->heap[l]->ready_at_ns < q->heap[m]->ready_at_ns)
            m = l;
        if (r < q->hcount && q->heap[r]->ready_at_ns < q->heap[m]->ready_at_ns)
            m = r;
        if (m == i)
            break;
        job *t = q->heap[m];
        q->heap[m] = q->heap[i];
        q->heap[i] = t;
        i = m;
    }
    return top;
}

/* A worker let go of a row (done, or back for a retry): room for the stage. */
static void unbusy(queue *q)
{
    if (q->busy)
        q->busy--;
    if (q->limit)
        pthread_cond_signal(&q->stage_cv);
}

void queue_push_delayed(queue *q, job *j)
{
    pthread_mutex_lock(&q->mu);
    q->heap[q->hcount] = j;
    heap_up(q, q->hcount++);
    unbusy(q);
    pthread_cond_broadcast(q->limit ? &q->stage_cv : &q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* The next due retry, or else the next new row (caller holds mu); NULL = none now. */
static job *take_one(queue *q, int64_t now)
{
    job *j = NULL;
    if (q->hcount && (q->stopping || q->heap[0]->ready_at_ns <= now)) {
        j = heap_pop(q);
    } else if (q->count) {
        j = q->fifo[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    return j;
}

/* Sleeps on cv until signalled, or until the earliest retry is due (caller holds mu). */
static void wait_for_rows(queue *q, pthread_cond_t *cv)
{
    if (q->hcount) {
        int64_t due = q->heap[0]->ready_at_ns;
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        pthread_cond_timedwait(cv, &q->mu, &ts);
    } else {
        pthread_cond_wait(cv, &q->mu);
    }
}

job *queue_pop(queue *q, int *stopping)
{
    job *j = NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        /* Staged, rows are taken in groups (queue_take); popped only once stopping. */
        if ((!q->limit || q->stopping) && (j = take_one(q, clock_mono_ns())) != NULL)
            break;
        if (q->closed && q->outstanding == 0)
            break;
        if (q->limit && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        else
            wait_for_rows(q, &q->cv);
    }
    if (j)
        q->busy++;
    *stopping = q->stopping;
    pthread_mutex_unlock(&q->mu);
    return j;
}

void queue_done(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->outstanding--;
    unbusy(q);
    if (q->outstanding == 0) {
        pthread_cond_broadcast(&q->cv);
        pthread_cond_broadcast(&q->stage_cv);
    }
    pthread_mutex_unlock(&q->mu);
}

void queue_close(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_cond_broadcast(&q->stage_cv);
    pthread_mutex_unlock(&q->mu);
}

void queue_stop(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_cond_broadcast(&q->stage_cv);
    pthread_mutex_unlock(&q->mu);
}

void queue_stage(queue *q, size_t limit)
{
    pthread_mutex_lock(&q->mu);
    q->limit = limit; /* 0: not staged */
    pthread_mutex_unlock(&q->mu);
}

size_t queue_take(queue *q, job **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->stopping || (q->closed && q->outstanding == 0))
            break;
        size_t room = q->busy < q->limit ? q->limit - q->busy : 0;
        if (room) {
            int64_t now = clock_mono_ns();
            job *j;
            while (n < max && n < room && (j = take_one(q, now)) != NULL)
                out[n++] = j;
            if (n)
                break;
            wait_for_rows(q, &q->stage_cv);
        } else {
            pthread_cond_wait(&q->stage_cv, &q->mu);
        }
    }
    /* Taken rows count as held from now: the room is not given twice. */
    q->busy += n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t queue_retrying(queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->hcount;
    pthread_mutex_unlock(&q->mu);
    return n;
}
