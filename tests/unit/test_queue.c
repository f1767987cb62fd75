/* test_queue — unit tests of the work queue: new rows in order, due retries first, a row
 * in backoff holds no worker, the end when closed and every row is done, and stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_then_end),
        cmocka_unit_test(test_due_retry_first),
        cmocka_unit_test(test_retries_in_due_order),
        cmocka_unit_test(test_stop_makes_retries_due),
        cmocka_unit_test(test_workers_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
