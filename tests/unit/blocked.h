/* blocked.h — "the other thread waits" without a fixed sleep: wait until the thread sleeps
 * in the kernel (blocked on a lock or a condition variable), seen a few times in a row,
 * or until it shows progress it must not make. A loaded machine or a sanitizer only makes
 * the wait longer; a broken gate is seen as progress, not missed by a short sleep. */
#ifndef OTTU_TEST_BLOCKED_H
#define OTTU_TEST_BLOCKED_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The calling thread's id, for blocked_wait (the thread stores it first thing). */
static inline long blocked_self(void) { return (long)syscall(SYS_gettid); }

/* The scheduler state of thread TID of this process ('R', 'S', ...), 0 when gone. */
static inline char blocked_state(long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return p && p[1] == ' ' ? p[2] : 0;
}

/* Waits until thread *TID sleeps (5 looks in a row, 1 ms apart) while *PROGRESS stays
 * AT: returns 1. Returns 0 as soon as *PROGRESS moves (the thread got past the gate), or
 * after 30 s. */
static inline int blocked_wait(atomic_long *tid, atomic_int *progress, int at)
{
    const struct timespec ms1 = {0, 1000000};
    int asleep = 0;
    for (int i = 0; i < 30000; i++) {
        if (atomic_load(progress) != at)
            return 0;
        long t = atomic_load(tid);
        if (t && blocked_state(t) == 'S') {
            if (++asleep >= 5)
                return atomic_load(progress) == at;
        } else {
            asleep = 0;
        }
        nanosleep(&ms1, NULL);
    }
    return 0;
}

/* Waits until thread *TID sleeps (5 looks in a row, 1 ms apart), however far it got:
 * returns 1, or 0 after 30 s. */
static inline int blocked_settle(atomic_long *tid)
{
    const struct timespec ms1 = {0, 1000000};
    int asleep = 0;
    for (int i = 0; i < 30000; i++) {
        long t = atomic_load(tid);
        if (t && blocked_state(t) == 'S') {
            if (++asleep >= 5)
                return 1;
        } else {
            asleep = 0;
        }
        nanosleep(&ms1, NULL);
    }
    return 0;
}

#endif
