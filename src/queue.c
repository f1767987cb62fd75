/* queue — bounded work queue: a FIFO of new rows and a min-heap of delayed retries. */
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
    pthread_condattr_destroy(&ca);
    return q;
}

void queue_free(queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
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
    pthread_cond_signal(&q->cv);
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

void queue_push_delayed(queue *q, job *j)
{
    pthread_mutex_lock(&q->mu);
    q->heap[q->hcount] = j;
    heap_up(q, q->hcount++);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

job *queue_pop(queue *q, int *stopping)
{
    job *j = NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int64_t now = clock_mono_ns();
        if (q->hcount && (q->stopping || q->heap[0]->ready_at_ns <= now)) {
            j = heap_pop(q);
            break;
        }
        if (q->count) {
            j = q->fifo[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
            break;
        }
        if (q->closed && q->outstanding == 0)
            break;
        if (q->hcount) {
            int64_t due = q->heap[0]->ready_at_ns;
            struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        } else {
            pthread_cond_wait(&q->cv, &q->mu);
        }
    }
    *stopping = q->stopping;
    pthread_mutex_unlock(&q->mu);
    return j;
}

void queue_done(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->outstanding--;
    if (q->outstanding == 0)
        pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void queue_close(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void queue_stop(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t queue_retrying(queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->hcount;
    pthread_mutex_unlock(&q->mu);
    return n;
}
