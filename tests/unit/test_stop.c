/* test_stop — unit tests of the stop authority: the first hard stop wins (reason, message,
 * resume-after time), a storage failure and a signal name the stop whatever came first,
 * --limit is the reader's soft stop, the exit causes, the wake-up hook, secrets scrubbed,
 * and many threads stopping at once (run under TSan: one reason wins, readers always see
 * a reason with its own message). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "stop.h"

static void test_nothing_stopped(void **state)
{
    (void)state;
    stop *s = stop_new();
    assert_non_null(s);
    char msg[64] = "x";
    assert_int_equal(stop_first(s), STOP_NONE);
    assert_false(stop_stopping(s));
    assert_null(stop_words(s));
    assert_int_equal(stop_message(s, msg, sizeof msg), STOP_NONE);
    assert_string_equal(msg, "");
    exit_causes why = {0};
    const char *by = "x";
    assert_int_equal(stop_causes(s, &why, &by), STOP_NONE);
    assert_null(by);
    assert_int_equal(exit_decide(&why), EXIT_DONE);
    stop_free(s);
}

static void test_first_wins(void **state)
{
    (void)state;
    stop *s = stop_new();
    assert_int_equal(stop_request(s, STOP_QUOTA, 12345, "quota message"), 1);
    assert_int_equal(stop_request(s, STOP_KEY_REJECTED, 0, "key message"), 0);
    assert_int_equal(stop_request(s, STOP_BUDGET, 999, "budget message"), 0);
    char msg[64];
    assert_int_equal(stop_message(s, msg, sizeof msg), STOP_QUOTA);
    assert_string_equal(msg, "quota message");
    assert_int_equal(stop_resume_after_ms(s), 12345);
    assert_true(stop_stopping(s));
    assert_string_equal(stop_words(s), "the API's quota is spent; --resume continues when it allows");
    exit_causes why = {0};
    const char *by;
    assert_int_equal(stop_causes(s, &why, &by), STOP_QUOTA);
    assert_string_equal(by, "quota");
    assert_false(why.key_rejected); /* a later reason is not a cause */
    assert_int_equal(exit_decide(&why), EXIT_LIMIT);
    /* neither NONE nor LIMIT is a hard stop */
    stop *t = stop_new();
    assert_int_equal(stop_request(t, STOP_NONE, 0, "x"), 0);
    assert_int_equal(stop_request(t, STOP_LIMIT, 0, "x"), 0);
    assert_false(stop_stopping(t));
    stop_free(t);
    stop_free(s);
}

/* Each reason's one wording and exit status. */
static void test_words_and_exit(void **state)
{
    (void)state;
    static const struct {
        stop_reason r;
        const char *words, *by;
        exit_status code;
    } cases[] = {
        {STOP_INTERRUPT, "the job was interrupted", NULL, EXIT_INTERRUPTED},
        {STOP_KEY_REJECTED, "the job was aborted (API key rejected)", NULL, EXIT_ABORTED},
        {STOP_CONFIG, "the job stopped on a configuration error (see the message)", NULL, EXIT_USAGE},
        {STOP_QUOTA, "the API's quota is spent; --resume continues when it allows", "quota", EXIT_LIMIT},
        {STOP_BUDGET, "today's --daily-budget is spent; --resume continues", "budget", EXIT_LIMIT},
        {STOP_STORAGE, "the job stopped: its state could not be recorded", NULL, EXIT_USAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stop *s = stop_new();
        stop_request(s, cases[i].r, 0, NULL);
        assert_string_equal(stop_words(s), cases[i].words);
        exit_causes why = {0};
        const char *by;
        stop_causes(s, &why, &by);
        if (cases[i].by)
            assert_string_equal(by, cases[i].by);
        else
            assert_null(by);
        assert_int_equal(exit_decide(&why), cases[i].code);
        stop_free(s);
    }
}

/* A storage failure and a signal stay true whatever stopped the job first. */
static void test_fail_and_signal_override(void **state)
{
    (void)state;
    stop *s = stop_new();
    stop_request(s, STOP_BUDGET, 0, "budget");
    assert_int_equal(stop_interrupt(s), 0);
    assert_string_equal(stop_words(s), "the job was interrupted");
    assert_int_equal(stop_interrupt(s), 1); /* the second signal is told apart */
    exit_causes why = {0};
    const char *by;
    stop_causes(s, &why, &by);
    assert_true(why.interrupted);
    assert_string_equal(by, "budget");
    assert_int_equal(exit_decide(&why), EXIT_INTERRUPTED);

    stop_fail(s, "ledger: %s", "disk full");
    stop_fail(s, "cannot write the results: %s", "later"); /* the first failure is kept */
    assert_true(stop_failed(s));
    char msg[64];
    stop_fail_message(s, msg, sizeof msg);
    assert_string_equal(msg, "ledger: disk full");
    assert_string_equal(stop_words(s), "the job stopped: its state could not be recorded");
    assert_int_equal(stop_message(s, msg, sizeof msg), STOP_BUDGET); /* the first stop stays first */
    memset(&why, 0, sizeof why);
    stop_causes(s, &why, &by);
    assert_true(why.storage_failed);
    assert_int_equal(exit_decide(&why), EXIT_USAGE);
    stop_free(s);

    /* a storage failure first: it is the stop, with its message */
    s = stop_new();
    stop_fail(s, "cannot write the results: %s", "No space left on device");
    assert_int_equal(stop_message(s, msg, sizeof msg), STOP_STORAGE);
    assert_string_equal(msg, "cannot write the results: No space left on device");
    stop_free(s);
}

/* --limit is the reader's: rows past it are not sent, the job is not stopped, and it
 * names the stop (exit 4, stopped_by limit) only when nothing else did. The engine never
 * counted rows for --limit (the reader never queues them): this replaces its test. */
static void test_limit(void **state)
{
    (void)state;
    stop *s = stop_new();
    char words[96];
    stop_limit(s, 5, words, sizeof words);
    assert_string_equal(words, "--limit 5 reached; --resume continues");
    assert_false(stop_stopping(s)); /* the rows already queued finish, retries included */
    assert_null(stop_words(s));
    exit_causes why = {0};
    const char *by;
    assert_int_equal(stop_causes(s, &why, &by), STOP_NONE);
    assert_string_equal(by, "limit");
    assert_int_equal(exit_decide(&why), EXIT_LIMIT);
    /* a quota stop after the limit names the stop */
    stop_request(s, STOP_QUOTA, 7, "q");
    stop_causes(s, &why, &by);
    assert_string_equal(by, "quota");
    /* a rejected key after the limit: exit 3, and the limit is still a cause */
    stop *t = stop_new();
    stop_limit(t, 1, words, sizeof words);
    stop_request(t, STOP_KEY_REJECTED, 0, "k");
    memset(&why, 0, sizeof why);
    stop_causes(t, &why, &by);
    assert_string_equal(by, "limit");
    assert_true(why.key_rejected && why.limited);
    assert_int_equal(exit_decide(&why), EXIT_ABORTED);
    stop_free(t);
    stop_free(s);
}

static void count_wake(void *ctx) { atomic_fetch_add((atomic_int *)ctx, 1); }

static void test_wake_and_secret(void **state)
{
    (void)state;
    stop *s = stop_new();
    atomic_int woken = 0;
    stop_set_secret(s, "sk_live_SECRET");
    stop_request(s, STOP_KEY_REJECTED, 0, "the key sk_live_SECRET was rejected");
    char msg[128];
    stop_message(s, msg, sizeof msg);
    assert_null(strstr(msg, "sk_live_SECRET"));
    /* a listener that comes after the stop is woken at once, then on every request */
    stop_on_request(s, count_wake, &woken);
    assert_int_equal(atomic_load(&woken), 1);
    stop_request(s, STOP_QUOTA, 0, NULL);
    assert_int_equal(atomic_load(&woken), 2);
    stop_limit(s, 1, msg, sizeof msg); /* not a hard stop: nobody is woken */
    assert_int_equal(atomic_load(&woken), 2);
    stop_on_request(s, NULL, NULL);
    stop_interrupt(s);
    assert_int_equal(atomic_load(&woken), 2);
    stop_free(s);
}

/* ---- many threads at once ---- */

#define THREADS 8
#define ROUNDS 200

typedef struct racer {
    stop *s;
    int index;
    atomic_int *go;
    atomic_int *firsts;
    atomic_int *torn;
} racer;

static const stop_reason race_reasons[] = {STOP_INTERRUPT, STOP_KEY_REJECTED, STOP_CONFIG, STOP_QUOTA,
                                           STOP_BUDGET,    STOP_STORAGE,      STOP_QUOTA,  STOP_BUDGET};

static void *race_stop(void *p)
{
    racer *r = p;
    while (!atomic_load(r->go)) {
    }
    stop_reason why = race_reasons[r->index];
    char msg[64];
    snprintf(msg, sizeof msg, "reason %d from thread %d", (int)why, r->index);
    if (stop_request(r->s, why, 1000 + r->index, msg))
        atomic_fetch_add(r->firsts, 1);
    /* readers: a reason is always seen with its own message (counted here, asserted on
     * the test's thread: cmocka's asserts must not jump from another thread) */
    for (int i = 0; i < 50; i++) {
        char seen[64];
        stop_reason got = stop_message(r->s, seen, sizeof seen);
        int n = -1, t = -1;
        if (sscanf(seen, "reason %d from thread %d", &n, &t) != 2 || n != (int)got || t < 0 || t >= THREADS ||
            race_reasons[t] != got || !stop_words(r->s))
            atomic_fetch_add(r->torn, 1);
    }
    return NULL;
}

static void test_concurrent_stops(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        stop *s = stop_new();
        atomic_int go = 0, firsts = 0, woken = 0, torn = 0;
        stop_on_request(s, count_wake, &woken);
        pthread_t th[THREADS];
        racer rs[THREADS];
        for (int i = 0; i < THREADS; i++) {
            rs[i] = (racer){s, i, &go, &firsts, &torn};
            assert_int_equal(pthread_create(&th[i], NULL, race_stop, &rs[i]), 0);
        }
        atomic_store(&go, 1);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&firsts), 1); /* one reason wins */
        assert_int_equal(atomic_load(&torn), 0);
        assert_int_equal(atomic_load(&woken), THREADS);
        char msg[64];
        stop_reason r = stop_message(s, msg, sizeof msg);
        int n, t;
        assert_int_equal(sscanf(msg, "reason %d from thread %d", &n, &t), 2);
        assert_int_equal(n, (int)r);
        assert_int_equal(stop_resume_after_ms(s), 1000 + t); /* the winner's time, too */
        stop_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_stopped),
        cmocka_unit_test(test_first_wins),
        cmocka_unit_test(test_words_and_exit),
        cmocka_unit_test(test_fail_and_signal_override),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_wake_and_secret),
        cmocka_unit_test(test_concurrent_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
