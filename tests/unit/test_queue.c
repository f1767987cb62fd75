/* test_queue — unit tests of the work queue: new rows in order, due retries first, a row
 * in backoff holds no worker, the end when closed and every row is done, and stop; in
 * staged mode, rows taken in groups within the limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "queue.h"

static job jobs[8];

static void reset_jobs(void)
{
    for (int i = 0; i < 8; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].rowno = i + 1;
    }
}

static void test_fifo_then_end(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    assert_non_null(q);
    for (int i = 0; i < 4; i++)
        queue_push(q, &jobs[i]);
    queue_close(q);
    int stopping = -1;
    for (int i = 0; i < 4; i++) {
        job *j = queue_pop(q, &stopping);
        assert_ptr_equal(j, &jobs[i]);
        assert_int_equal(stopping, 0);
        queue_done(q);
    }
    /* closed and every row done: the end */
    assert_null(queue_pop(q, &stopping));
    queue_free(q);
}

static void test_due_retry_first(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    queue_push(q, &jobs[0]);
    queue_push(q, &jobs[1]);
    int stopping;
    job *j = queue_pop(q, &stopping);
    assert_ptr_equal(j, &jobs[0]);
    /* row 1 waits 30 ms: row 2 goes meanwhile; once due, the retry goes before row 3 */
    j->ready_at_ns = clock_mono_ns() + 30 * 1000000LL;
    queue_push_delayed(q, j);
    assert_int_equal(queue_retrying(q), 1);
    assert_ptr_equal(queue_pop(q, &stopping), &jobs[1]);
    queue_done(q);
    queue_push(q, &jobs[2]);
    int64_t t0 = clock_mono_ns();
    while (clock_mono_ns() - t0 < 40 * 1000000LL) {
    }
    assert_ptr_equal(queue_pop(q, &stopping), &jobs[0]);
    queue_done(q);
    assert_ptr_equal(queue_pop(q, &stopping), &jobs[2]);
    queue_done(q);
    queue_close(q);
    assert_null(queue_pop(q, &stopping));
    queue_free(q);
}

static void test_retries_in_due_order(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    int64_t now = clock_mono_ns();
    static const int order[] = {5, 1, 4, 2, 3}; /* ms */
    for (int i = 0; i < 5; i++) {
        queue_push(q, &jobs[i]);
        int stopping;
        job *j = queue_pop(q, &stopping);
        j->ready_at_ns = now + order[i] * 1000000LL;
        queue_push_delayed(q, j);
    }
    queue_close(q);
    int stopping;
    int64_t last = 0;
    for (int i = 0; i < 5; i++) {
        job *j = queue_pop(q, &stopping);
        assert_non_null(j);
        assert_true(j->ready_at_ns >= last);
        assert_true(clock_mono_ns() >= j->ready_at_ns); /* never before it is due */
        last = j->ready_at_ns;
        queue_done(q);
    }
    assert_null(queue_pop(q, &stopping));
    queue_free(q);
}

static void *pop_one(void *p)
{
    queue *q = p;
    int stopping;
    job *j = queue_pop(q, &stopping);
    return j && stopping ? j : NULL;
}

static void test_stop_makes_retries_due(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    queue_push(q, &jobs[0]);
    int stopping;
    job *j = queue_pop(q, &stopping);
    j->ready_at_ns = clock_mono_ns() + 3600 * 1000000000LL; /* an hour away */
    queue_push_delayed(q, j);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pop_one, q), 0);
    queue_stop(q);
    void *got;
    assert_int_equal(pthread_join(t, &got), 0);
    assert_ptr_equal(got, &jobs[0]); /* at once, with stopping set */
    queue_done(q);
    queue_close(q);
    assert_null(queue_pop(q, &stopping));
    queue_free(q);
}

static void *pop_until_end(void *p)
{
    queue *q = p;
    int stopping;
    long n = 0;
    while (queue_pop(q, &stopping)) {
        n++;
        queue_done(q);
    }
    return (void *)n;
}

static void test_workers_drain(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pop_until_end, q), 0);
    for (int i = 0; i < 8; i++)
        queue_push(q, &jobs[i]);
    queue_close(q);
    long total = 0;
    for (int i = 0; i < 3; i++) {
        void *n;
        assert_int_equal(pthread_join(t[i], &n), 0);
        total += (long)n;
    }
    assert_int_equal(total, 8);
    queue_free(q);
}

/* Staged: at most `limit` rows are taken and not let go, due retries first; a row done
 * or pushed back frees room. */
static void test_staged_limit(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    queue_stage(q, 2);
    for (int i = 0; i < 5; i++)
        queue_push(q, &jobs[i]);
    job *got[8];
    assert_int_equal(queue_take(q, got, 8), 2); /* the limit, not the 5 waiting */
    assert_ptr_equal(got[0], &jobs[0]);
    assert_ptr_equal(got[1], &jobs[1]);
    /* both held: no room until one lets go */
    jobs[0].ready_at_ns = clock_mono_ns() - 1;
    queue_push_delayed(q, &jobs[0]); /* back for a retry: room for one, the retry first */
    assert_int_equal(queue_take(q, got, 8), 1);
    assert_ptr_equal(got[0], &jobs[0]);
    queue_done(q);              /* jobs[1] done: room for one more */
    assert_int_equal(queue_take(q, got, 8), 0 + 1);
    assert_ptr_equal(got[0], &jobs[2]);
    queue_free(q);
}

/* Staged, a stop ends the taking (take returns 0) and gives every row left to queue_pop
 * at once, so each is finished without a send. */
static void test_staged_stop(void **state)
{
    (void)state;
    reset_jobs();
    queue *q = queue_new(8);
    queue_stage(q, 4);
    for (int i = 0; i < 3; i++)
        queue_push(q, &jobs[i]);
    job *got[8];
    assert_int_equal(queue_take(q, got, 1), 1);
    assert_ptr_equal(got[0], &jobs[0]);
    queue_stop(q);
    assert_int_equal(queue_take(q, got, 8), 0);
    int stopping = 0;
    for (int i = 1; i < 3; i++) {
        assert_ptr_equal(queue_pop(q, &stopping), &jobs[i]);
        assert_int_equal(stopping, 1);
        queue_done(q);
    }
    queue_done(q); /* the row taken before the stop */
    queue_close(q);
    assert_null(queue_pop(q, &stopping));
    queue_free(q);
}

/* Two feeders taking groups: every row taken once, never more than the limit held at a
 * time, and both end when the queue is closed and every row is done. */
struct staged_ctx {
    queue *q;
    atomic_int held, max_held, taken;
};

static void *staged_feeder(void *p)
{
    struct staged_ctx *c = p;
    job *got[8];
    size_t n;
    while ((n = queue_take(c->q, got, 8)) > 0) {
        int h = atomic_fetch_add(&c->held, (int)n) + (int)n;
        int m = atomic_load(&c->max_held);
        while (h > m && !atomic_compare_exchange_weak(&c->max_held, &m, h))
            ;
        atomic_fetch_add(&c->taken, (int)n);
        for (size_t i = 0; i < n; i++) {
            atomic_fetch_sub(&c->held, 1);
            queue_done(c->q);
        }
    }
    return NULL;
}

static void test_staged_threads(void **state)
{
    (void)state;
    static job many[200];
    queue *q = queue_new(256);
    queue_stage(q, 3);
    struct staged_ctx c = {.q = q};
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&w[i], NULL, staged_feeder, &c), 0);
    for (int i = 0; i < 200; i++) {
        memset(&many[i], 0, sizeof many[i]);
        many[i].rowno = i + 1;
        queue_push(q, &many[i]);
    }
    queue_close(q);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    assert_int_equal(atomic_load(&c.taken), 200);
    assert_true(atomic_load(&c.max_held) <= 3);
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_then_end),
        cmocka_unit_test(test_due_retry_first),
        cmocka_unit_test(test_retries_in_due_order),
        cmocka_unit_test(test_stop_makes_retries_due),
        cmocka_unit_test(test_workers_drain),
        cmocka_unit_test(test_staged_limit),
        cmocka_unit_test(test_staged_stop),
        cmocka_unit_test(test_staged_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
