/* progress — live progress on stderr (one redrawn line on a terminal, plain lines else). */
#include "progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

/* Rate window: 10 s back; no estimate from less than 2 s of it. */
#define RATE_SAMPLES 64
#define RATE_WINDOW_NS 10000000000LL
#define RATE_MIN_NS 2000000000LL
#define SAMPLE_EVERY_NS 250000000LL

struct progress {
    int enabled, tty;
    FILE *out;
    int width; /* fixed width for tests, 0 = ask the terminal */
    unsigned long long size;
    _Atomic unsigned long long bytes;
    atomic_long read, done, sent, failed, invalid, unknown, skipped, not_attempted, other;
    summary *sum;
    throttle *thr;
    queue *q;
    double limit; /* rows per second at most (the rate limit), 0 = none */
    int64_t start_ns;
    /* Rows done at recent draws (under mu): the rate is measured over the last seconds,
     * not since the start, when rows kept by --resume or skipped end in a burst. */
    struct {
        int64_t t;
        long done;
    } ring[RATE_SAMPLES];
    int nsamples, head;
    /* The watcher draws while any thread may log: mu keeps the line and the log's
     * clearing of it apart, and guards the fields below. */
    pthread_mutex_t mu;
    int64_t last_draw_ns;
    int drawn; /* a line is on the screen, without its newline */
};

/* For the log hook, which takes no argument; set before any thread starts. */
static progress *_Atomic the_progress;

/* Before a log line: take the progress line off the screen; the next draw puts it back. */
static void clear_line(void)
{
    progress *p = atomic_load(&the_progress);
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->tty && p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
        p->drawn = 0;
    }
    pthread_mutex_unlock(&p->mu);
}

progress *progress_new(progress_mode mode, unsigned long long size, summary *sum)
{
    progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->out = stderr;
    p->tty = isatty(2);
    p->enabled = mode == PROGRESS_ALWAYS || (mode == PROGRESS_AUTO && p->tty);
    p->size = size;
    p->sum = sum;
    p->start_ns = clock_mono_ns();
    if (p->enabled && p->tty) {
        atomic_store(&the_progress, p);
        log_set_hook(clear_line);
    }
    return p;
}

void progress_set_output(progress *p, FILE *out, int tty, int width)
{
    p->out = out;
    p->tty = tty;
    p->width = width;
    p->enabled = 1;
    if (tty) {
        atomic_store(&the_progress, p);
        log_set_hook(clear_line);
    }
}

void progress_free(progress *p)
{
    if (!p)
        return;
    if (atomic_load(&the_progress) == p) {
        log_set_hook(NULL);
        atomic_store(&the_progress, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void progress_set_throttle(progress *p, throttle *t, queue *q, double rate_limit)
{
    p->thr = t;
    p->q = q;
    p->limit = rate_limit > 0 ? rate_limit : 0;
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
    else if (st == RS_UNKNOWN)
        atomic_fetch_add(&p->unknown, 1);
    else if (st == RS_SKIPPED)
        atomic_fetch_add(&p->skipped, 1);
    else if (st == RS_NOT_ATTEMPTED)
        atomic_fetch_add(&p->not_attempted, 1);
    else
        atomic_fetch_add(&p->other, 1);
}

/* ---- the line (pure) ---- */

static void fmt_eta(long s, char *buf, size_t size)
{
    if (s < 3600)
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
}

/* Level 0: full words; 1: abbreviations; 2: the essentials. */
static int format_level(const progress_view *v, int level, char *buf, size_t size)
{
    char tot[32], eta[32] = "", state[64] = "";
    if (v->total)
        snprintf(tot, sizeof tot, "%s%ld", v->estimated ? "~" : "", v->total);
    else
        snprintf(tot, sizeof tot, "?");
    if (v->eta_s >= 0)
        fmt_eta(v->eta_s, eta, sizeof eta);
    if (v->throttled) {
        if (level == 2 && (v->degraded || v->paused_s))
            snprintf(state, sizeof state, v->paused_s ? " [paused]" : " [failing]");
        else if (v->degraded)
            snprintf(state, sizeof state, level == 0 ? " [API failing: slowed down%s]" : " [failing%s]",
                     v->paused_s ? ", paused" : "");
        else if (v->paused_s)
            snprintf(state, sizeof state, level == 0 ? " [paused %lds by the API]" : level == 1 ? " [paused %lds]" : " [paused]",
                     v->paused_s);
    }
    /* unknown: the request may have reached the customer; shown as it happens. */
    char more[64] = "";
    switch (level) {
    case 0: {
        char retry[32] = "";
        if (v->throttled)
            snprintf(retry, sizeof retry, ", retrying %zu", v->retrying);
        if (v->skipped)
            snprintf(more, sizeof more, " skipped %ld", v->skipped);
        return snprintf(buf, size, "progress: %ld/%s rows, %.1f rows/s%s%s, sent %ld failed %ld unknown %ld invalid %ld%s%s%s",
                        v->done, tot, v->rate, eta[0] ? ", ETA " : "", eta, v->sent, v->failed, v->unknown, v->invalid,
                        more, retry, state);
    }
    case 1: {
        char retry[32] = "";
        if (v->throttled && v->retrying)
            snprintf(retry, sizeof retry, " retry %zu", v->retrying);
        int n = v->unknown ? snprintf(more, sizeof more, " unk %ld", v->unknown) : 0;
        if (v->skipped)
            snprintf(more + n, sizeof more - (size_t)n, " skip %ld", v->skipped);
        return snprintf(buf, size, "%ld/%s %.1f/s%s%s ok %ld fail %ld%s inv %ld%s%s", v->done, tot, v->rate,
                        eta[0] ? " ETA " : "", eta, v->sent, v->failed, more, v->invalid, retry, state);
    }
    default: {
        char fail[32] = "";
        if (v->failed)
            snprintf(fail, sizeof fail, " fail %ld", v->failed);
        if (v->unknown)
            snprintf(more, sizeof more, " unk %ld", v->unknown);
        return snprintf(buf, size, "%ld/%s%s%s%s%s%s", v->done, tot, eta[0] ? " ETA " : "", eta, fail, more, state);
    }
    }
}

size_t progress_format(const progress_view *v, int width, char *buf, size_t size)
{
    char tmp[512];
    if (size == 0)
        return 0;
    size_t max = width > 0 ? (size_t)width - 1 : (size_t)-1;
    int n = 0;
    for (int level = 0; level < 3; level++) {
        n = format_level(v, level, tmp, sizeof tmp);
        if (n < 0)
            n = 0;
        if ((size_t)n >= sizeof tmp)
            n = (int)sizeof tmp - 1;
        if ((size_t)n <= max)
            break;
    }
    size_t len = (size_t)n;
    if (len > max)
        len = max; /* a very narrow window: cut, rather than wrap */
    if (len >= size)
        len = size - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}

/* ---- drawing ---- */

void progress_rate(progress *p, int64_t now, long done, double *rate, long *eta_s, long total)
{
    if (p->nsamples == 0 || now - p->ring[p->head].t >= SAMPLE_EVERY_NS) {
        if (p->nsamples == 0) {
            p->ring[0].t = p->start_ns;
            p->ring[0].done = 0;
            p->nsamples = 1;
        }
        p->head = (p->head + 1) % RATE_SAMPLES;
        p->ring[p->head].t = now;
        p->ring[p->head].done = done;
        if (p->nsamples < RATE_SAMPLES)
            p->nsamples++;
    }
    /* The newest sample at least a window old, else the oldest one kept. */
    int base = (p->head - p->nsamples + 1 + RATE_SAMPLES) % RATE_SAMPLES;
    for (int k = 0; k < p->nsamples; k++) {
        int i = (p->head - k + RATE_SAMPLES) % RATE_SAMPLES;
        if (now - p->ring[i].t >= RATE_WINDOW_NS) {
            base = i;
            break;
        }
    }
    int64_t span = now - p->ring[base].t;
    double r = span > 0 ? (double)(done - p->ring[base].done) * 1e9 / (double)span : 0;
    *rate = r;
    *eta_s = -1;
    if (total <= done)
        return;
    /* Never faster than the rate limit; no estimate from less than 2 s of data, except
     * the rate limit's own (the rows left cannot go faster). */
    double est = span >= RATE_MIN_NS ? r : 0;
    if (p->limit > 0 && (est <= 0 || est > p->limit))
        est = p->limit;
    if (est > 0)
        *eta_s = (long)((double)(total - done) / est + 0.5);
}

static void take_view(progress *p, int64_t now, progress_view *v)
{
    memset(v, 0, sizeof *v);
    long rd = atomic_load(&p->read);
    unsigned long long bytes = atomic_load(&p->bytes);
    v->done = atomic_load(&p->done);
    if (p->size && bytes >= p->size) {
        v->total = rd;
    } else if (p->size && bytes > 0) {
        v->total = (long)((double)rd * (double)p->size / (double)bytes);
        v->estimated = 1;
    }
    progress_rate(p, now, v->done, &v->rate, &v->eta_s, v->total);
    v->sent = atomic_load(&p->sent);
    v->unknown = atomic_load(&p->unknown);
    v->skipped = atomic_load(&p->skipped);
    v->failed = atomic_load(&p->failed);
    v->invalid = atomic_load(&p->invalid);
    if (p->thr) {
        int64_t paused;
        throttle_status(p->thr, &paused, &v->degraded);
        v->throttled = 1;
        v->retrying = p->q ? queue_retrying(p->q) : 0;
        v->paused_s = paused ? (long)(paused / 1000 + 1) : 0;
    }
}

/* Columns of the terminal now (read at every draw: an ioctl a few times a second is
 * cheaper than wiring SIGWINCH through the watcher). */
static int term_width(progress *p)
{
    if (!p->tty)
        return 0;
    if (p->width > 0)
        return p->width;
    struct winsize ws;
    if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void draw_locked(progress *p, int final, int64_t now)
{
    progress_view v;
    char line[512];
    take_view(p, now, &v);
    size_t n = progress_format(&v, term_width(p), line, sizeof line);
    if (p->tty)
        fputs("\r\033[K", p->out); /* back to the start of the line, erase to its end */
    fwrite(line, 1, n, p->out);
    p->drawn = p->tty && !final;
    if (!p->tty || final)
        fputc('\n', p->out);
    fflush(p->out);
}

void progress_draw(progress *p, int final)
{
    if (!p || !p->enabled)
        return;
    int64_t now = clock_mono_ns();
    int64_t every = p->tty ? 200000000LL : 10000000000LL;
    pthread_mutex_lock(&p->mu);
    if (final || now - p->last_draw_ns >= every) {
        p->last_draw_ns = now;
        draw_locked(p, final, now);
    }
    pthread_mutex_unlock(&p->mu);
}

void progress_finish(progress *p, int exit_code)
{
    if (!p || !p->enabled)
        return;
    progress_draw(p, 1);
    long left = atomic_load(&p->not_attempted);
    if ((exit_code != 130 && exit_code != 4) || left == 0)
        return;
    pthread_mutex_lock(&p->mu);
    fprintf(p->out, "%s: %ld row%s not sent; run the same command again with --resume to send %s\n",
            exit_code == 130 ? "interrupted" : "stopped by a limit", left, left == 1 ? "" : "s",
            left == 1 ? "it" : "them");
    fflush(p->out);
    pthread_mutex_unlock(&p->mu);
}
