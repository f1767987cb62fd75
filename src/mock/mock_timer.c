/* mock_timer — a min-heap of deadlines served by one thread. A thread sleeping per delayed
 * request would cap concurrency at the pool size; this costs one heap entry instead. */
#include "mock_timer.h"

#include <stdlib.h>
#include <time.h>

long long mock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int before(const mock_timer_entry *a, const mock_timer_entry *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->order < b->order);
}

static void swap(mock_timer_entry *a, mock_timer_entry *b)
{
    mock_timer_entry t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(mock_timer *t, mock_timer_entry e)
{
    size_t i = t->count++;
    t->heap[i] = e;
    while (i > 0 && before(&t->heap[i], &t->heap[(i - 1) / 2])) {
        swap(&t->heap[i], &t->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static mock_timer_entry heap_pop(mock_timer *t)
{
    mock_timer_entry top = t->heap[0];
    t->heap[0] = t->heap[--t->count];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->count && before(&t->heap[l], &t->heap[m]))
            m = l;
        if (r < t->count && before(&t->heap[r], &t->heap[m]))
            m = r;
        if (m == i)
            break;
        swap(&t->heap[i], &t->heap[m]);
        i = m;
    }
    return top;
}

/* Fires the callbacks outside the lock, so a callback that takes other locks (MHD's) can
 * never deadlock against a thread adding an entry. */
static void fire_batch(mock_timer *t, long long now, int all)
{
    mock_timer_entry batch[64];
    size_t n = 0;
    while (t->count && n < 64 && (all || t->heap[0].due_us <= now))
        batch[n++] = heap_pop(t);
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++)
        batch[i].fn(batch[i].arg);
    pthread_mutex_lock(&t->lock);
}

static void *timer_main(void *arg)
{
    mock_timer *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        long long now = mock_now_us();
        if (!t->count) {
            pthread_cond_wait(&t->wake, &t->lock);
        } else if (t->heap[0].due_us > now) {
            long long due = t->heap[0].due_us;
            struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000L};
            pthread_cond_timedwait(&t->wake, &t->lock, &ts);
        } else {
            fire_batch(t, now, 0);
        }
    }
    while (t->count)
        fire_batch(t, 0, 1);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int mock_timer_start(mock_timer *t)
{
    pthread_condattr_t attr;
    t->heap = NULL;
    t->count = t->cap = 0;
    t->added = 0;
    t->stopping = 0;
    t->started = 0;
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&t->wake, &attr) != 0) {
        pthread_mutex_destroy(&t->lock);
        return -1;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        return -1;
    }
    t->started = 1;
    return 0;
}

int mock_timer_add(mock_timer *t, long long due_us, mock_timer_fn fn, void *arg)
{
    pthread_mutex_lock(&t->lock);
    if (t->stopping) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        mock_timer_entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&t->lock);
            return -1;
        }
        t->heap = h;
        t->cap = cap;
    }
    mock_timer_entry e = {due_us, t->added++, fn, arg};
    heap_push(t, e);
    /* Only a new earliest deadline changes how long the thread should sleep. */
    if (t->heap[0].order == e.order)
        pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void mock_timer_stop(mock_timer *t)
{
    if (!t->started || t->stopping)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
}

void mock_timer_destroy(mock_timer *t)
{
    if (!t->started)
        return;
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t->heap);
    t->heap = NULL;
    t->started = 0;
}
