/* test_reorder — unit tests of the reorder window: rows completed in any order come out
 * in input order, and the reader waits while the window is full. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "blocked.h"
#include "reorder.h"

static void test_input_order(void **state)
{
    (void)state;
    reorder *r = reorder_new(4);
    assert_non_null(r);
    job *js[4];
    for (int i = 0; i < 4; i++) {
        js[i] = reorder_acquire(r);
        js[i]->rowno = i + 1;
    }
    static const int done_order[] = {2, 0, 3, 1};
    for (int i = 0; i < 4; i++)
        reorder_complete(r, js[done_order[i]]);
    reorder_close(r);
    for (int i = 0; i < 4; i++) {
        job *j = reorder_next(r);
        assert_non_null(j);
        assert_int_equal(j->rowno, i + 1);
        reorder_release(r, j);
    }
    assert_null(reorder_next(r));
    reorder_free(r);
}

static atomic_int acquired;

static atomic_long reader_tid;

static void *read_rows(void *p)
{
    reorder *r = p;
    atomic_store(&reader_tid, blocked_self());
    for (int i = 0; i < 6; i++) {
        job *j = reorder_acquire(r);
        j->rowno = i + 1;
        atomic_fetch_add(&acquired, 1);
        reorder_complete(r, j);
    }
    reorder_close(r);
    return NULL;
}

static void test_window_bounds_the_reader(void **state)
{
    (void)state;
    reorder *r = reorder_new(2);
    atomic_store(&acquired, 0);
    atomic_store(&reader_tid, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_rows, r), 0);
    /* nothing taken yet: the reader gets 2 slots and waits */
    while (atomic_load(&acquired) < 2) {
    }
    /* the reader blocks on the third slot (a window that let it through shows as progress) */
    assert_int_equal(blocked_wait(&reader_tid, &acquired, 2), 1);
    assert_int_equal(atomic_load(&acquired), 2);
    long expect = 1;
    job *j;
    while ((j = reorder_next(r)) != NULL) {
        assert_int_equal(j->rowno, expect++);
        reorder_release(r, j);
    }
    assert_int_equal(expect, 7);
    assert_int_equal(pthread_join(t, NULL), 0);
    reorder_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_order),
        cmocka_unit_test(test_window_bounds_the_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
