/* stop — why the job is stopping: the first reason, its message and resume-after time
 * under one lock; the wording of the rows not sent; the exit causes (stop.h). */
#include "stop.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "text.h"

struct stop {
    pthread_mutex_t mu;      /* reason, resume_after_ms, message, fail_message, wake */
    atomic_int reason;       /* stop_reason: written under mu, read without it */
    atomic_int interrupted;  /* signals received */
    atomic_int failed;       /* stop_fail was called */
    atomic_int limited;      /* --limit reached */
    int64_t resume_after_ms;
    char message[512];
    char fail_message[512];
    const char *secret;
    void (*wake)(void *ctx);
    void *wake_ctx;
};

stop *stop_new(void)
{
    stop *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void stop_set_secret(stop *s, const char *secret)
{
    pthread_mutex_lock(&s->mu);
    s->secret = secret;
    pthread_mutex_unlock(&s->mu);
}

void stop_free(stop *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void stop_on_request(stop *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->mu);
    s->wake = fn;
    s->wake_ctx = ctx;
    int stopping = atomic_load(&s->reason) != STOP_NONE;
    pthread_mutex_unlock(&s->mu);
    if (fn && stopping)
        fn(ctx); /* a stop requested before the listener came */
}

int stop_request(stop *s, stop_reason reason, int64_t resume_after_ms, const char *message)
{
    if (reason == STOP_NONE || reason == STOP_LIMIT)
        return 0;
    pthread_mutex_lock(&s->mu);
    int first = atomic_load(&s->reason) == STOP_NONE;
    if (first) {
        s->resume_after_ms = resume_after_ms;
        snprintf(s->message, sizeof s->message, "%s", message ? message : "");
        if (s->secret)
            text_scrub_secret(s->message, sizeof s->message, s->secret);
        atomic_store(&s->reason, (int)reason); /* last: a reader that sees it sees the rest */
    }
    void (*wake)(void *) = s->wake;
    void *ctx = s->wake_ctx;
    pthread_mutex_unlock(&s->mu);
    if (wake)
        wake(ctx); /* every time, as a listener may have come after the first */
    return first;
}

int stop_interrupt(stop *s)
{
    int before = atomic_fetch_add(&s->interrupted, 1);
    stop_request(s, STOP_INTERRUPT, 0, NULL);
    return before;
}

void stop_fail(stop *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->mu);
    int first = !atomic_load(&s->failed);
    if (first) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->fail_message, sizeof s->fail_message, fmt, ap);
        va_end(ap);
        if (s->secret)
            text_scrub_secret(s->fail_message, sizeof s->fail_message, s->secret);
        atomic_store(&s->failed, 1);
    }
    pthread_mutex_unlock(&s->mu);
    if (!first)
        return; /* the first error is the one to report */
    char msg[512];
    stop_fail_message(s, msg, sizeof msg);
    stop_request(s, STOP_STORAGE, 0, msg);
}

void stop_limit(stop *s, long long limit, char *words, size_t size)
{
    atomic_store(&s->limited, 1);
    snprintf(words, size, "--limit %lld reached; --resume continues", limit);
}

stop_reason stop_first(stop *s) { return (stop_reason)atomic_load(&s->reason); }
int stop_stopping(stop *s) { return atomic_load(&s->reason) != STOP_NONE; }
int stop_failed(stop *s) { return atomic_load(&s->failed); }

int64_t stop_resume_after_ms(stop *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t t = s->resume_after_ms;
    pthread_mutex_unlock(&s->mu);
    return t;
}

stop_reason stop_message(stop *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->mu);
    stop_reason r = (stop_reason)atomic_load(&s->reason);
    snprintf(buf, size, "%s", s->message);
    pthread_mutex_unlock(&s->mu);
    return r;
}

void stop_fail_message(stop *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->mu);
    snprintf(buf, size, "%s", s->fail_message);
    pthread_mutex_unlock(&s->mu);
}

static const char *words_of(stop_reason r)
{
    switch (r) {
    case STOP_NONE: return NULL;
    case STOP_INTERRUPT: return "the job was interrupted";
    case STOP_KEY_REJECTED: return "the job was aborted (API key rejected)";
    case STOP_CONFIG: return "the job stopped on a configuration error (see the message)";
    case STOP_QUOTA: return "the API's quota is spent; --resume continues when it allows";
    case STOP_BUDGET: return "today's --daily-budget is spent; --resume continues";
    case STOP_LIMIT: return "--limit reached; --resume continues";
    case STOP_STORAGE: return "the job stopped: its state could not be recorded";
    }
    return "the job stopped";
}

const char *stop_words(stop *s)
{
    if (atomic_load(&s->failed))
        return words_of(STOP_STORAGE);
    if (atomic_load(&s->interrupted))
        return words_of(STOP_INTERRUPT);
    return words_of(stop_first(s));
}

stop_reason stop_causes(stop *s, exit_causes *why, const char **by)
{
    stop_reason r = stop_first(s);
    *by = NULL;
    why->storage_failed |= atomic_load(&s->failed) || r == STOP_STORAGE;
    why->interrupted |= atomic_load(&s->interrupted) > 0 || r == STOP_INTERRUPT;
    why->key_rejected |= r == STOP_KEY_REJECTED;
    why->config_error |= r == STOP_CONFIG;
    if (r == STOP_QUOTA)
        *by = "quota";
    else if (r == STOP_BUDGET)
        *by = "budget";
    else if (atomic_load(&s->limited))
        *by = "limit";
    if (*by)
        why->limited = 1;
    return r;
}
