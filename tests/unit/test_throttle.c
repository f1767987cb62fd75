/* test_throttle — unit tests of the one gate every request passes: the shared rate,
 * job-wide pauses, stop, and the outage detector's one probe at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "blocked.h"
#include "job.h"
#include "throttle.h"

static int64_t ms_since(int64_t t0) { return (clock_mono_ns() - t0) / 1000000; }

static void test_rate(void **state)
{
    (void)state;
    throttle *t = throttle_new(100, 1, 1, 5); /* 10 ms apart */
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < 11; i++) {
        assert_int_equal(throttle_acquire(t), 0);
        throttle_release(t, THROTTLE_OK);
    }
    int64_t el = ms_since(t0);
    assert_true(el >= 95);  /* 10 intervals after the first */
    assert_true(el < 1000); /* and not absurdly slow */
    throttle_free(t);
}

static void test_pause_and_stop(void **state)
{
    (void)state;
    throttle *t = throttle_new(0, 1, 1, 5);
    throttle_pause(t, 50);
    int64_t paused;
    int degraded;
    throttle_status(t, &paused, &degraded);
    assert_true(paused > 0 && paused <= 50);
    int64_t t0 = clock_mono_ns();
    assert_int_equal(throttle_acquire(t), 0);
    assert_true(ms_since(t0) >= 45);
    throttle_release(t, THROTTLE_OK);
    throttle_stop(t);
    assert_int_equal(throttle_acquire(t), -1);
    throttle_free(t);
}

static void *acquire_one(void *p)
{
    throttle *t = p;
    return (void *)(long)throttle_acquire(t);
}

static void test_stop_wakes_waiters(void **state)
{
    (void)state;
    throttle *t = throttle_new(0, 1, 1, 5);
    throttle_pause(t, 3600 * 1000);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, acquire_one, t), 0);
    throttle_stop(t);
    void *rc;
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((long)rc, -1);
    throttle_free(t);
}

static atomic_int second_in;

static atomic_long second_tid;

static void *second(void *p)
{
    throttle *t = p;
    atomic_store(&second_tid, blocked_self());
    if (throttle_acquire(t) == 0) {
        atomic_store(&second_in, 1);
        throttle_release(t, THROTTLE_OK);
    }
    return NULL;
}

static void test_outage_one_probe(void **state)
{
    (void)state;
    throttle *t = throttle_new(0, 1, 1, 2);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(throttle_acquire(t), 0);
        throttle_release(t, THROTTLE_TRANSIENT);
    }
    int64_t paused;
    int degraded;
    throttle_status(t, &paused, &degraded);
    assert_int_equal(degraded, 1);
    /* one probe in flight: a second request waits for it */
    assert_int_equal(throttle_acquire(t), 0);
    atomic_store(&second_in, 0);
    atomic_store(&second_tid, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second, t), 0);
    assert_int_equal(blocked_wait(&second_tid, &second_in, 0), 1);
    assert_int_equal(atomic_load(&second_in), 0);
    /* the probe succeeds: full speed again */
    throttle_release(t, THROTTLE_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&second_in), 1);
    throttle_status(t, &paused, &degraded);
    assert_int_equal(degraded, 0);
    throttle_free(t);
}

/* try_acquire takes a turn only when one is free now: within the burst yes, past it no
 * (and nothing is taken, so the next free turn is unchanged), a pause no, a stop -1. */
static void test_try_acquire(void **state)
{
    (void)state;
    throttle *t = throttle_new(10, 2, 1, 5); /* 100 ms apart, a burst of 2 */
    assert_int_equal(throttle_try_acquire(t), 1);
    assert_int_equal(throttle_try_acquire(t), 1);
    assert_int_equal(throttle_try_acquire(t), 0); /* the third turn is 100 ms away */
    assert_int_equal(throttle_try_acquire(t), 0);
    int64_t t0 = clock_mono_ns();
    assert_int_equal(throttle_acquire(t), 0); /* took that turn: it waited for it */
    assert_true(clock_mono_ns() - t0 >= 50 * 1000000LL);
    throttle_release(t, THROTTLE_OK);
    throttle_release(t, THROTTLE_OK);
    throttle_release(t, THROTTLE_OK);
    throttle *u = throttle_new(0, 1, 1, 5); /* unlimited */
    for (int i = 0; i < 100; i++)
        assert_int_equal(throttle_try_acquire(u), 1);
    throttle_pause(u, 1000);
    assert_int_equal(throttle_try_acquire(u), 0);
    throttle_stop(u);
    assert_int_equal(throttle_try_acquire(u), -1);
    throttle_free(u);
    throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_try_acquire),
        cmocka_unit_test(test_pause_and_stop),
        cmocka_unit_test(test_stop_wakes_waiters),
        cmocka_unit_test(test_outage_one_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
