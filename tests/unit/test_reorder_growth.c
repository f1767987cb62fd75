/* test_reorder_growth — the window grows only when finished rows pile up behind an unfinished
 * head, never past its limit, and rows come back in input order across a growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>

#include "blocked.h"
#include "clock.h"
#include "reorder.h"

#define S REORDER_START /* the ring's size at start */
#define W (3 * S)       /* a window it doubles into once, then is capped at */

/* The reader side in a thread, so that a full window (the reader blocks) can be seen. */
typedef struct {
    reorder *r;
    job **got;
    int want;
    atomic_int n;
    atomic_long tid; /* the filler thread, for settle */
} filler;

static void *fill(void *arg)
{
    filler *f = arg;
    atomic_store(&f->tid, blocked_self());
    while (atomic_load(&f->n) < f->want) {
        int i = atomic_load(&f->n);
        job *j = reorder_acquire(f->r);
        f->got[i] = j;
        j->rowno = i + 1;
        atomic_store(&f->n, i + 1);
    }
    return NULL;
}

/* How far the filler got once it waits for a slot (not after a fixed sleep: a sanitizer
 * or a loaded machine only makes this wait longer). */
static int settle(filler *f)
{
    assert_int_equal(blocked_settle(&f->tid), 1);
    return atomic_load(&f->n);
}

static void test_no_growth_when_rows_are_in_flight(void **state)
{
    (void)state;
    reorder *r = reorder_new(4 * S);
    job *got[S + 1];
    filler f = {r, got, S + 1, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, fill, &f);
    /* Nothing completes: the ring stays at its starting size and the reader waits. */
    assert_int_equal(settle(&f), S);
    reorder_complete(r, got[0]);
    job *j = reorder_next(r);
    assert_ptr_equal(j, got[0]);
    reorder_release(r, j); /* one slot free: the reader takes row S + 1 */
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&f.n), S + 1);
    reorder_free(r);
}

/* A window of W whose first S rows are taken and all done but the head: the reader (f,
 * wanting `want` rows in all) is about to find the ring full. */
static reorder *piled_up(long patience_ms, job **got, int want, filler *f)
{
    reorder *r = reorder_new(W);
    reorder_set_patience(r, patience_ms);
    *f = (filler){r, got, S, 0, 0};
    fill(f);
    for (int i = 1; i < S; i++)
        reorder_complete(r, got[i]);
    f->want = want;
    atomic_store(&f->tid, 0);
    return r;
}

static void test_grows_behind_a_slow_head_and_keeps_order(void **state)
{
    (void)state;
    job **got = calloc(W + 1, sizeof *got);
    filler f;
    reorder *r = piled_up(0, got, W + 1, &f);
    pthread_t th;
    pthread_create(&th, NULL, fill, &f);
    assert_int_equal(settle(&f), W); /* doubled to 2 S, then capped at the window */
    for (int i = S; i < W; i++)
        reorder_complete(r, got[i]);
    reorder_complete(r, got[0]);
    for (int i = 0; i < W; i++) {
        job *j = reorder_next(r);
        assert_non_null(j);
        assert_int_equal(j->rowno, i + 1);
        reorder_release(r, j);
        if (i == 0) {
            pthread_join(th, NULL);
            assert_int_equal(atomic_load(&f.n), W + 1);
        }
    }
    reorder_complete(r, got[W]);
    reorder_close(r);
    job *last = reorder_next(r);
    assert_non_null(last);
    assert_int_equal(last->rowno, W + 1);
    reorder_release(r, last);
    assert_null(reorder_next(r));
    reorder_free(r);
    free(got);
}

/* A head held up for less than the patience does not grow the ring: memory does not
 * depend on a scheduler's moment. Held up longer, it grows, and never earlier. */
static void test_grows_only_after_patience(void **state)
{
    (void)state;
    job **got = calloc(W + 1, sizeof *got);
    filler f;
    reorder *r = piled_up(300, got, W, &f);
    int64_t t0 = clock_mono_ns();
    pthread_t th;
    pthread_create(&th, NULL, fill, &f);
    while (atomic_load(&f.n) == S && clock_mono_ns() - t0 < 10000000000LL) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    int64_t waited_ms = (clock_mono_ns() - t0) / 1000000;
    assert_true(atomic_load(&f.n) > S); /* it did grow */
    assert_true(waited_ms >= 290);         /* but not before its patience ran out */
    pthread_join(th, NULL);                /* each doubling waits its own patience */
    assert_int_equal(atomic_load(&f.n), W);
    for (int i = S; i < W; i++)
        reorder_complete(r, got[i]);
    reorder_complete(r, got[0]);
    for (int i = 0; i < W; i++) {
        job *j = reorder_next(r);
        assert_int_equal(j->rowno, i + 1);
        reorder_release(r, j);
    }
    reorder_free(r);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_growth_when_rows_are_in_flight),
        cmocka_unit_test(test_grows_behind_a_slow_head_and_keeps_order),
        cmocka_unit_test(test_grows_only_after_patience),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
