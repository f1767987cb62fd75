/* reorder — a ring of job slots: acquired in input order, completed in any order,
 * released in input order. */
#include "reorder.h"

#include <pthread.h>
#include <stdlib.h>

struct reorder {
    pthread_mutex_t mu;
    pthread_cond_t not_full, head_done;
    job *slots;
    size_t window;
    unsigned long long head; /* next row the writer takes */
    unsigned long long tail; /* next row the reader acquires */
    int closed;
};

reorder *reorder_new(size_t window)
{
    reorder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->slots = calloc(window, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < window; i++)
        job_init(&r->slots[i]);
    r->window = window;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->not_full, NULL);
    pthread_cond_init(&r->head_done, NULL);
    return r;
}

void reorder_free(reorder *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->window; i++)
        job_free(&r->slots[i]);
    free(r->slots);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->not_full);
    pthread_cond_destroy(&r->head_done);
    free(r);
}

job *reorder_acquire(reorder *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->tail - r->head >= r->window)
        pthread_cond_wait(&r->not_full, &r->mu);
    job *j = &r->slots[r->tail % r->window];
    j->done = 0;
    r->tail++;
    pthread_mutex_unlock(&r->mu);
    return j;
}

void reorder_complete(reorder *r, job *j)
{
    pthread_mutex_lock(&r->mu);
    j->done = 1;
    if (j == &r->slots[r->head % r->window])
        pthread_cond_signal(&r->head_done);
    pthread_mutex_unlock(&r->mu);
}

job *reorder_next(reorder *r)
{
    job *j = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->head < r->tail && r->slots[r->head % r->window].done) {
            j = &r->slots[r->head % r->window];
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
