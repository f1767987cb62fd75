/* progress — live progress on stderr (one redrawn line on a terminal, plain lines else). */
#include "progress.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct progress {
    int enabled, tty;
    unsigned long long size;
    _Atomic unsigned long long bytes;
    atomic_long read, done, sent, failed, invalid, other;
    summary *sum;
    throttle *thr;
    queue *q;
    int64_t start_ns, last_draw_ns;
    int drawn;
};

static progress *the_progress; /* for the log hook, which takes no argument */

static void clear_line(void)
{
    if (the_progress && the_progress->tty && the_progress->drawn)
        fputs("\r\033[K", stderr);
}

progress *progress_new(progress_mode mode, unsigned long long size, summary *sum)
{
    progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tty = isatty(2);
    p->enabled = mode == PROGRESS_ALWAYS || (mode == PROGRESS_AUTO && p->tty);
    p->size = size;
    p->sum = sum;
    p->start_ns = clock_mono_ns();
    if (p->enabled && p->tty) {
        the_progress = p;
        log_set_hook(clear_line);
    }
    return p;
}

void progress_free(progress *p)
{
    if (p && the_progress == p) {
        log_set_hook(NULL);
        the_progress = NULL;
    }
    free(p);
}

void progress_set_throttle(progress *p, throttle *t, queue *q)
{
    p->thr = t;
    p->q = q;
}

void progress_row_read(progress *p, unsigned long long bytes)
{
    atomic_store(&p->bytes, bytes);
    atomic_fetch_add(&p->read, 1);
}

void progress_row_done(progress *p, row_status st)
{
    atomic_fetch_add(&p->done, 1);
    if (st == RS_SENT)
        atomic_fetch_add(&p->sent, 1);
    else if (st == RS_FAILED)
        atomic_fetch_add(&p->failed, 1);
    else if (st == RS_INVALID)
        atomic_fetch_add(&p->invalid, 1);
    else
        atomic_fetch_add(&p->other, 1);
}

void progress_draw(progress *p, int final)
{
    if (!p || !p->enabled)
        return;
    int64_t now = clock_mono_ns();
    int64_t every = p->tty ? 200000000LL : 10000000000LL;
    if (!final && now - p->last_draw_ns < every)
        return;
    p->last_draw_ns = now;
    double el = (double)(now - p->start_ns) / 1e9;
    long done = atomic_load(&p->done), rd = atomic_load(&p->read);
    unsigned long long bytes = atomic_load(&p->bytes);
    long total = 0;
    if (p->size && bytes >= p->size)
        total = rd;
    else if (p->size && bytes > 0)
        total = (long)((double)rd * (double)p->size / (double)bytes); /* estimate */
    double rate = el > 0 ? (double)done / el : 0;
    char eta[32] = "";
    if (total > done && rate > 0) {
        long s = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, " ETA %ldm%02lds", s / 60, s % 60);
    }
    char state[96] = "";
    if (p->thr) {
        int64_t paused;
        int degraded;
        throttle_status(p->thr, &paused, &degraded);
        size_t retrying = p->q ? queue_retrying(p->q) : 0;
        int n = snprintf(state, sizeof state, " retrying %zu", retrying);
        if (degraded)
            snprintf(state + n, sizeof state - (size_t)n, " [API failing: slowed down%s]", paused ? ", paused" : "");
        else if (paused)
            snprintf(state + n, sizeof state - (size_t)n, " [paused %llds by the API]", (long long)(paused / 1000 + 1));
    }
    char tot[32];
    if (total)
        snprintf(tot, sizeof tot, "%s%ld", p->size && bytes >= p->size ? "" : "~", total);
    else
        snprintf(tot, sizeof tot, "?");
    if (p->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "progress: %ld/%s rows, %.1f rows/s%s, sent %ld failed %ld invalid %ld%s", done, tot, rate, eta,
            atomic_load(&p->sent), atomic_load(&p->failed), atomic_load(&p->invalid), state);
    if (!p->tty || final)
        fputc('\n', stderr);
    p->drawn = 1;
    fflush(stderr);
}
