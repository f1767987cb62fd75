/* mock_timer — one thread that fires callbacks at given monotonic times; ottu-mock uses it
 * to resume suspended connections when their --latency-ms delay is over. */
#ifndef OTTU_MOCK_TIMER_H
#define OTTU_MOCK_TIMER_H

#include <pthread.h>
#include <stddef.h>

typedef void (*mock_timer_fn)(void *arg);

typedef struct mock_timer_entry {
    long long due_us;
    unsigned long long order;   /* ties fire in the order they were added */
    mock_timer_fn fn;
    void *arg;
} mock_timer_entry;

typedef struct mock_timer {
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* on CLOCK_MONOTONIC */
    pthread_t thread;
    mock_timer_entry *heap;     /* min-heap on (due_us, order) */
    size_t count, cap;
    unsigned long long added;
    int stopping, started;
} mock_timer;

int mock_timer_start(mock_timer *t);
/* Schedules fn(arg) at due_us (mock_now_us clock). Returns -1 when the timer is stopping or
 * out of memory: the caller must then do the work itself. fn runs on the timer thread and
 * must not call back into the timer. */
int mock_timer_add(mock_timer *t, long long due_us, mock_timer_fn fn, void *arg);
/* Fires everything still pending at once and joins the thread; later adds fail. */
void mock_timer_stop(mock_timer *t);
/* Frees the timer once no thread can call mock_timer_add any more. */
void mock_timer_destroy(mock_timer *t);

/* Milliseconds and microseconds on CLOCK_MONOTONIC. */
long long mock_now_ms(void);
long long mock_now_us(void);

#endif
