/* engine_fake — the fakes test_engine.c runs the engine against: a scripted sender (the
 * threads driver's engine_sender) and a scripted event loop (the loop driver's engine_loop,
 * as http_async is for --http2) that answers posted requests on its own thread after a
 * short delay, out of order, and remembers that thread. Include after cmocka.h. */
#ifndef OTTU_ENGINE_FAKE_H
#define OTTU_ENGINE_FAKE_H

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#define MAX_ROWS 64
#define MAX_STEPS 8
#define OK_BODY "{\"message\": \"Notification sent.\", \"result\": \"success\"}"

/* One scripted answer. */
typedef struct step {
    http_outcome outcome;
    int status;
    const char *body;
    long long retry_after_s; /* 0 = no Retry-After */
    http_error_kind kind;
    int stall;               /* block until fake_release */
} step;

#define ANSWER(st, b) {HTTP_ANSWERED, st, b, 0, HTTP_ERR_NONE, 0}
#define NOT_SENT {HTTP_NOT_SENT, 0, NULL, 0, HTTP_ERR_CONNECT, 0}
#define MAYBE_SENT {HTTP_MAYBE_SENT, 0, NULL, 0, HTTP_ERR_TIMEOUT, 0}

typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    step script[MAX_ROWS + 1][MAX_STEPS]; /* per row, per attempt; the last step repeats */
    int nsteps[MAX_ROWS + 1];
    step dflt;                            /* rows without a script */
    int sends[MAX_ROWS + 1];
    int total, stalled, released;
    long swap_journal_at;                 /* at this row's first send, the journal breaks */
    int check_begun, unbegun;             /* count sends whose B record is not in the journal */
} fake;

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    step ok = ANSWER(200, OK_BODY);
    f->dflt = ok;
}

static void fake_free(fake *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

static void script(fake *f, long row, int n, const step *steps)
{
    for (int i = 0; i < n; i++)
        f->script[row][i] = steps[i];
    f->nsteps[row] = n;
}

/* Points the journal's file descriptor at /dev/full: every later write fails (ENOSPC). */
static void break_journal(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *de;
    int done = 0;
    while ((de = readdir(d)) != NULL) {
        char link[300], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0) {
            int full = open("/dev/full", O_WRONLY);
            assert_true(full >= 0);
            assert_true(dup2(full, atoi(de->d_name)) >= 0);
            close(full);
            done = 1;
        }
    }
    closedir(d);
    assert_true(done);
}

static const char *journal_file;

/* The B records of row in the journal file. */
static int begun_records(long row)
{
    FILE *fp = fopen(journal_file, "r");
    assert_non_null(fp);
    char line[4200], want[32];
    int k = snprintf(want, sizeof want, "B,%ld\n", row), n = 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, want, (size_t)k) == 0 && line[k] == '\0')
            n++;
    fclose(fp);
    return n;
}

static void *fake_open(void *arg) { return arg; }
static void fake_close(void *client) { (void)client; }

/* The scripted answer to j's next attempt, counted; *stall = it must wait for fake_release.
 * Called with f->mu held. */
static void fake_answer(fake *f, const job *j, http_result *res, int *stall)
{
    long row = j->rowno;
    int n = f->sends[row]++;
    f->total++;
    step s = f->nsteps[row] ? f->script[row][n < f->nsteps[row] ? n : f->nsteps[row] - 1] : f->dflt;
    if (f->swap_journal_at == row && n == 0)
        break_journal(journal_file);
    if (f->check_begun && begun_records(row) < n + 1)
        f->unbegun++; /* this attempt goes out with no record that it began */
    *stall = s.stall;
    res->outcome = s.outcome;
    res->status = s.outcome == HTTP_ANSWERED ? s.status : 0;
    res->transport_error = s.outcome != HTTP_ANSWERED;
    res->error_kind = s.kind;
    res->retry_after_s = s.retry_after_s ? s.retry_after_s : -1;
    if (s.outcome != HTTP_ANSWERED)
        snprintf(res->error, sizeof res->error, "%s",
                 s.kind == HTTP_ERR_DNS ? "Could not resolve host: merchnat.ottu.net" : "Timeout was reached");
    if (s.body) {
        size_t len = strlen(s.body);
        char *b = realloc(res->body, len + 1);
        assert_non_null(b);
        memcpy(b, s.body, len + 1);
        res->body = b;
        res->bodylen = len;
    }
}

/* The threads driver's sender: answers on the worker's thread. */
static void fake_send(void *client, const job *j, http_result *res)
{
    fake *f = client;
    int stall;
    pthread_mutex_lock(&f->mu);
    fake_answer(f, j, res, &stall);
    if (stall) {
        f->stalled++;
        pthread_cond_broadcast(&f->cv);
        while (!f->released)
            pthread_cond_wait(&f->cv, &f->mu);
        f->stalled--;
    }
    pthread_mutex_unlock(&f->mu);
}

static void fake_wait_stalled(fake *f, int n)
{
    pthread_mutex_lock(&f->mu);
    while (f->stalled < n)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void fake_release(fake *f)
{
    pthread_mutex_lock(&f->mu);
    f->released = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int fake_sends(fake *f, long row)
{
    pthread_mutex_lock(&f->mu);
    int n = row ? f->sends[row] : f->total;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* ---- the fake event loop ---- */

typedef struct fslot {
    http_result res;
    job *j;
    struct fslot *next;
} fslot;

typedef struct floop {
    fake *f; /* its lock guards the loop too: fake_release wakes both */
    engine_loop_done done;
    void *owner;
    fslot *slots;
    int n;
    fslot *idle, *posted, *held; /* held: stalled until fake_release */
    int quit;
    pthread_cond_t free_cv;
    pthread_t thread;
} floop;

static pthread_t floop_thread; /* the last fake loop's thread, for the test that judging is off it */

static void floop_reset(http_result *r)
{
    char *b = r->body;
    memset(r, 0, sizeof *r);
    r->body = b;
    r->retry_after_s = -1;
    if (b)
        b[0] = '\0';
}

static void *floop_run(void *p)
{
    floop *l = p;
    fake *f = l->f;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!l->posted && !(l->held && f->released) && !l->quit)
            pthread_cond_wait(&f->cv, &f->mu);
        if (l->quit && !l->posted && !l->held)
            break;
        /* what was posted so far, answered after a short delay, newest first (a real loop
         * answers in any order) */
        fslot *batch = l->posted, *ready = NULL;
        l->posted = NULL;
        while (batch) {
            fslot *s = batch;
            batch = s->next;
            int stall;
            floop_reset(&s->res);
            fake_answer(f, s->j, &s->res, &stall);
            if (stall) {
                f->stalled++;
                pthread_cond_broadcast(&f->cv);
                s->next = l->held;
                l->held = s;
            } else {
                s->next = ready;
                ready = s;
            }
        }
        if (f->released) {
            while (l->held) {
                fslot *s = l->held;
                l->held = s->next;
                f->stalled--;
                s->next = ready;
                ready = s;
            }
        }
        pthread_mutex_unlock(&f->mu);
        struct timespec delay = {0, 200 * 1000};
        nanosleep(&delay, NULL);
        while (ready) {
            fslot *s = ready;
            ready = s->next; /* read before done: the slot may be reused at once */
            l->done(l->owner, s, s->j, &s->res);
        }
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void *floop_open(void *arg, int slots, engine_loop_done done, void *owner, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    floop *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->f = arg;
    l->done = done;
    l->owner = owner;
    l->n = slots;
    l->slots = calloc((size_t)slots, sizeof *l->slots);
    assert_non_null(l->slots);
    for (int i = 0; i < slots; i++) {
        l->slots[i].next = l->idle;
        l->idle = &l->slots[i];
    }
    pthread_cond_init(&l->free_cv, NULL);
    assert_int_equal(pthread_create(&l->thread, NULL, floop_run, l), 0);
    floop_thread = l->thread;
    return l;
}

static void *floop_reserve(void *loop)
{
    floop *l = loop;
    pthread_mutex_lock(&l->f->mu);
    while (!l->idle)
        pthread_cond_wait(&l->free_cv, &l->f->mu);
    fslot *s = l->idle;
    l->idle = s->next;
    pthread_mutex_unlock(&l->f->mu);
    return s;
}

static void floop_post(void *loop, void *slot, job *j)
{
    floop *l = loop;
    fslot *s = slot;
    pthread_mutex_lock(&l->f->mu);
    s->j = j;
    s->next = l->posted;
    l->posted = s;
    pthread_cond_broadcast(&l->f->cv);
    pthread_mutex_unlock(&l->f->mu);
}

static void floop_release(void *loop, void *slot)
{
    floop *l = loop;
    fslot *s = slot;
    pthread_mutex_lock(&l->f->mu);
    s->next = l->idle;
    l->idle = s;
    pthread_cond_signal(&l->free_cv);
    pthread_mutex_unlock(&l->f->mu);
}

static void floop_close(void *loop)
{
    floop *l = loop;
    pthread_mutex_lock(&l->f->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->f->cv);
    pthread_mutex_unlock(&l->f->mu);
    pthread_join(l->thread, NULL);
    for (int i = 0; i < l->n; i++)
        http_result_free(&l->slots[i].res);
    pthread_cond_destroy(&l->free_cv);
    free(l->slots);
    free(l);
}

#endif
