/* http_async — the event loop every job sends through: one thread drives the transfers
 * in flight with curl_multi_socket_action over epoll, so each event costs work on its own
 * socket only (curl_multi_perform walked every transfer, and poll every socket, on each
 * wake-up: the loop's thread was the job's bottleneck at -j 64). */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "http_internal.h"

struct http_async {
    http_shared *s;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t free_cv;
    http_client **all;
    int n;
    http_client *idle;    /* clients free for a transfer */
    http_client *pending; /* handed over, not yet added to the multi handle */
    int quit;
    int capped; /* connections per host limited until a transfer shows HTTP/1.x */
    int ep;     /* epoll: the transfers' sockets, and wake */
    int wake;   /* eventfd: posts and quit wake the loop */
    unsigned *armed; /* per socket (by fd): the events it is in the epoll set for, 0 = not in it */
    int narmed;
    int64_t deadline_ns; /* libcurl's timer (monotonic), -1 = none */
    int started;
    http_async_done done;
    void *owner;
};

/* A transfer that ran over HTTP/1.x: the server does not multiplex, so every transfer
 * needs a connection of its own and the per-host limit would hold the job back. */
static void async_check_version(http_async *a, CURL *e)
{
    long v = 0;
    if (!a->capped || curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v) != CURLE_OK || v == 0)
        return;
    if (v != CURL_HTTP_VERSION_2_0 && v != CURL_HTTP_VERSION_3) {
        curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
        a->capped = 0;
    }
}

/* The transfer of c ended: tell the owner, who gives c back (http_async_release) once it
 * has handled the answer in c->res. */
static void async_finished(http_async *a, http_client *c, CURLcode rc)
{
    result_end(c, &c->res, rc);
    a->done(a->owner, c, c->item, &c->res);
}

/* libcurl says which socket to watch for what (CURLMOPT_SOCKETFUNCTION). libcurl says
 * REMOVE before it closes a socket, so a socket in the set is one it still has open. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    http_async *a = userp;
    (void)e;
    (void)socketp;
    if (fd < 0)
        return 0;
    if (fd >= a->narmed) {
        int n = fd + 64;
        unsigned *grown = realloc(a->armed, (size_t)n * sizeof *grown);
        if (!grown)
            return -1; /* libcurl fails the transfers on this socket */
        memset(grown + a->narmed, 0, (size_t)(n - a->narmed) * sizeof *grown);
        a->armed = grown;
        a->narmed = n;
    }
    if (what == CURL_POLL_REMOVE) {
        if (a->armed[fd])
            epoll_ctl(a->ep, EPOLL_CTL_DEL, fd, NULL);
        a->armed[fd] = 0;
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    /* Only a change costs a system call: a reused connection's socket is added once per
     * transfer and removed once (three calls before: a MOD that failed, the ADD, the DEL). */
    if (a->armed[fd] == ev.events)
        return 0;
    int op = a->armed[fd] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(a->ep, op, fd, &ev) < 0 &&
        epoll_ctl(a->ep, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1; /* libcurl fails the transfers on this socket */
    a->armed[fd] = ev.events;
    return 0;
}

/* libcurl's one timer (CURLMOPT_TIMERFUNCTION): -1 none, 0 at once. */
static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    http_async *a = userp;
    (void)m;
    a->deadline_ns = timeout_ms < 0 ? -1 : clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void wake_loop(http_async *a)
{
    uint64_t one = 1;
    if (write(a->wake, &one, sizeof one) < 0) {
        /* the counter is full: the loop is awake already */
    }
}

/* Hands every transfer that ended to the owner. */
static void reap(http_async *a)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(a->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle; /* m is gone once the handle is removed */
        CURLcode rc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        if (rc == CURLE_OK)
            async_check_version(a, e);
        curl_multi_remove_handle(a->multi, e);
        async_finished(a, (http_client *)(void *)priv, rc);
    }
}

static void *async_run(void *arg)
{
    http_async *a = arg;
    int running = 0;
    struct epoll_event evs[64];
    for (;;) {
        pthread_mutex_lock(&a->mu);
        http_client *add = a->pending;
        int quit = a->quit;
        a->pending = NULL;
        pthread_mutex_unlock(&a->mu);
        while (add) {
            http_client *c = add;
            add = c->next;
            if (curl_multi_add_handle(a->multi, c->curl) != CURLM_OK)
                async_finished(a, c, CURLE_OUT_OF_MEMORY); /* judged "may have been sent": safe */
            else
                running++;
        }
        if (quit && running == 0)
            break;
        int wait_ms = 1000;
        if (a->deadline_ns >= 0) {
            int64_t left = a->deadline_ns - clock_mono_ns();
            wait_ms = left <= 0 ? 0 : left >= 1000000000 ? 1000 : (int)((left + 999999) / 1000000);
        }
        int n = epoll_wait(a->ep, evs, (int)(sizeof evs / sizeof evs[0]), wait_ms);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == a->wake) {
                uint64_t v;
                if (read(a->wake, &v, sizeof v) < 0) {
                    /* nothing to read: woken already */
                }
                continue;
            }
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(a->multi, evs[i].data.fd, flags, &running);
        }
        if (a->deadline_ns >= 0 && clock_mono_ns() >= a->deadline_ns) {
            a->deadline_ns = -1; /* libcurl sets the next one */
            curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap(a);
    }
    return NULL;
}

http_async *http_async_new(http_shared *s, int concurrency, http_async_done done, void *owner, char *err,
                           size_t errlen)
{
    http_async *a = calloc(1, sizeof *a);
    if (!a || !(a->all = calloc((size_t)(concurrency > 0 ? concurrency : 1), sizeof *a->all)) ||
        !(a->multi = curl_multi_init())) {
        if (a)
            free(a->all);
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->s = s;
    a->done = done;
    a->owner = owner;
    a->deadline_ns = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->free_cv, NULL);
    a->ep = epoll_create1(EPOLL_CLOEXEC);
    a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = a->wake};
    if (a->ep < 0 || a->wake < 0 || epoll_ctl(a->ep, EPOLL_CTL_ADD, a->wake, &wev) < 0) {
        snprintf(err, errlen, "cannot start the HTTP event loop: %s", strerror(errno));
        http_async_free(a);
        return NULL;
    }
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
    for (a->n = 0; a->n < concurrency; a->n++) {
        http_client *c = client_new(s, 1);
        if (!c) {
            snprintf(err, errlen, "out of memory");
            http_async_free(a);
            return NULL;
        }
        a->all[a->n] = c;
        c->next = a->idle;
        a->idle = c;
    }
    /* Without it libcurl keeps at most 4 idle connections per transfer in flight: when the
     * job briefly has few in flight it closes the rest, and opens them again a moment
     * later (measured: 8,624 connections for 100k rows at -j 64, against 65 with it). */
    curl_multi_setopt(a->multi, CURLMOPT_MAXCONNECTS, (long)(concurrency > 0 ? concurrency : 1));
    curl_multi_setopt(a->multi, CURLMOPT_PIPELINING, (long)(s->http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING));
    curl_multi_setopt(a->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)HTTP_STREAMS_PER_CONN);
    if (s->http2 && s->store && concurrency > HTTP_STREAMS_PER_CONN) {
        /* Without a limit every waiting transfer opens its own connection before the first
         * has learnt (ALPN) that it could share: measured 925 connections for 1,024. */
        curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)((concurrency + HTTP_STREAMS_PER_CONN - 1) / HTTP_STREAMS_PER_CONN));
        a->capped = 1;
    }
    int rc = pthread_create(&a->thread, NULL, async_run, a);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the HTTP thread: %s", strerror(rc));
        http_async_free(a);
        return NULL;
    }
    a->started = 1;
    return a;
}

http_client *http_async_reserve(http_async *a)
{
    pthread_mutex_lock(&a->mu);
    while (!a->idle)
        pthread_cond_wait(&a->free_cv, &a->mu);
    http_client *c = a->idle;
    a->idle = c->next;
    pthread_mutex_unlock(&a->mu);
    return c;
}

void http_async_release(http_async *a, http_client *c)
{
    pthread_mutex_lock(&a->mu);
    c->next = a->idle;
    a->idle = c;
    pthread_cond_signal(&a->free_cv);
    pthread_mutex_unlock(&a->mu);
}

void http_async_post(http_async *a, http_client *c, const char *path, const char *body, size_t len, void *item)
{
    post_begin(c, path, body, len);
    result_begin(c, &c->res);
    c->item = item;
    pthread_mutex_lock(&a->mu);
    /* The loop takes the whole list at once: only the first of a batch needs to wake it
     * (a wake-up stays pending until the loop polls). */
    int wake = a->pending == NULL;
    c->next = a->pending;
    a->pending = c;
    pthread_mutex_unlock(&a->mu);
    if (wake)
        wake_loop(a);
}

void http_async_free(http_async *a)
{
    if (!a)
        return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->quit = 1;
        pthread_mutex_unlock(&a->mu);
        wake_loop(a);
        pthread_join(a->thread, NULL);
    }
    for (int i = 0; i < a->n; i++) {
        http_result_free(&a->all[i]->res);
        http_client_free(a->all[i]);
    }
    curl_multi_cleanup(a->multi);
    if (a->ep >= 0)
        close(a->ep);
    if (a->wake >= 0)
        close(a->wake);
    pthread_cond_destroy(&a->free_cv);
    pthread_mutex_destroy(&a->mu);
    free(a->armed);
    free(a->all);
    free(a);
}
