/* test_http — the base URL rule (https anywhere, plain http only for loopback hosts), and
 * what a failed transfer reports against a scripted server on 127.0.0.1: whether the
 * request may have gone out, the error kind, no hidden resend, Retry-After, the GET. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static void test_allowed(void **state)
{
    (void)state;
    static const char *ok[] = {
        "https://merchant.ottu.net", "https://sandbox.ottu.net/", "http://127.0.0.1:8080",
        "http://127.1.2.3", "http://[::1]:8080/", "http://localhost:9000", "HTTP://LOCALHOST",
    };
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (http_check_url(ok[i], err, sizeof err) != 0)
            fail_msg("%s refused: %s", ok[i], err);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const struct { const char *url, *says; } bad[] = {
        {"http://example.com", "loopback"},
        {"http://127.evil.example", "loopback"},
        {"http://127.0.0.1.example.com", "loopback"},
        {"http://localhost.example.com", "loopback"},
        {"http://10.0.0.1", "loopback"},
        {"ftp://127.0.0.1", "not supported"},
        {"merchant.ottu.net", ""},
        {"", ""},
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (http_check_url(bad[i].url, err, sizeof err) == 0)
            fail_msg("%s accepted", bad[i].url);
        if (!strstr(err, bad[i].says) || !err[0])
            fail_msg("%s: message \"%s\" does not say \"%s\"", bad[i].url, err, bad[i].says);
    }
}

/* ---- a scripted HTTP/1.1 server, one connection at a time ---- */

typedef enum {
    SRV_CLOSE_AFTER_READ, /* reads the whole request, closes without a word */
    SRV_HANG,             /* reads the request, never answers */
    SRV_DIE_ON_SECOND,    /* answers the first request (keep-alive), closes on the second */
    SRV_ANSWER,           /* 200 to POST, 405 to GET; 429 + Retry-After to order "RA" */
} srv_mode;

typedef struct {
    int fd, port;
    srv_mode mode;
    atomic_int stop;
    atomic_int requests;    /* complete requests (headers and whole body) received */
    atomic_int connections;
    atomic_long stray;      /* bytes received that never made a complete request */
    atomic_int drained;     /* srv_drain's marker connection was reached */
    pthread_mutex_t mu;     /* guards last: written by the server thread, read by the test */
    char last[2048];        /* the last request's head and body */
    pthread_t th;
} srv;

/* A copy of the last request the server received (the socket orders it for us, but not
 * for ThreadSanitizer: take the lock). */
static const char *srv_last(srv *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->mu);
    snprintf(buf, size, "%s", s->last);
    pthread_mutex_unlock(&s->mu);
    return buf;
}

/* Reads one request into buf; returns its length, 0 on EOF/stop. */
static size_t read_request(srv *s, int c, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t need = (size_t)(end + 4 - buf);
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl)
                need += (size_t)atol(cl + 17);
            if (n >= need)
                return n;
        }
        struct pollfd p = {c, POLLIN, 0};
        if (atomic_load(&s->stop)) {
            atomic_fetch_add(&s->stray, (long)n);
            return 0;
        }
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(c, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            atomic_fetch_add(&s->stray, (long)n);
            return 0;
        }
        n += (size_t)r;
    }
}

static void answer(int c, const char *status, const char *extra, const char *body)
{
    char out[512];
    int n = snprintf(out, sizeof out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                     status, strlen(body), extra, body);
    if (send(c, out, (size_t)n, MSG_NOSIGNAL) < 0)
        return;
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    char buf[4096];
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        size_t n;
        while ((n = read_request(s, c, buf, sizeof buf)) > 0) {
            if (strncmp(buf, "DRAIN\r\n", 7) == 0) {
                atomic_store(&s->drained, 1);
                break;
            }
            int k = atomic_fetch_add(&s->requests, 1) + 1;
            pthread_mutex_lock(&s->mu);
            snprintf(s->last, sizeof s->last, "%.*s", (int)n, buf);
            pthread_mutex_unlock(&s->mu);
            if (s->mode == SRV_CLOSE_AFTER_READ || (s->mode == SRV_DIE_ON_SECOND && k == 2))
                break;
            if (s->mode == SRV_HANG) {
                while (!atomic_load(&s->stop) && recv(c, buf, sizeof buf, MSG_DONTWAIT) != 0)
                    usleep(10000);
                break;
            }
            if (strncmp(buf, "GET ", 4) == 0)
                answer(c, "405 Method Not Allowed", "Allow: POST\r\n", "{\"detail\": \"Method \\\"GET\\\" not allowed.\"}");
            else if (strstr(buf, "\"RA\""))
                answer(c, "429 Too Many Requests", "Retry-After: 120\r\n", "{}");
            else
                answer(c, "200 OK", "", "{\"message\": \"Customer notified.\"}");
        }
        close(c);
    }
    return NULL;
}

static srv *srv_start(srv_mode mode)
{
    srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, srv_main, s);
    return s;
}

/* Returns once the server has handled every connection made before the call: it takes
 * them one at a time, in order, so when a marker connection made now is reached, whatever
 * came before (a hidden resend) has been read to its end. No fixed sleep; 30 s at most. */
static void srv_drain(srv *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd, "DRAIN\r\n\r\n", 9, MSG_NOSIGNAL), 9);
    for (int i = 0; i < 30000 && !atomic_load(&s->drained); i++)
        usleep(1000);
    close(fd);
    assert_int_equal(atomic_load(&s->drained), 1);
}

/* Stops the server thread (counters are final afterwards). */
static void srv_halt(srv *s)
{
    if (!atomic_exchange(&s->stop, 1))
        pthread_join(s->th, NULL);
}

static void srv_stop(srv *s)
{
    srv_halt(s);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static http_shared *shared_for(int port, long timeout_ms)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    http_shared *sh = http_shared_new(url, "test-key", NULL, timeout_ms, err, sizeof err);
    if (!sh)
        fail_msg("http_shared_new: %s", err);
    return sh;
}

static const char BODY[] = "{\"order_no\":\"A1\",\"channels\":[\"sms\"]}";

static void test_refused_connect_not_sent(void **state)
{
    (void)state;
    /* A port nobody listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    close(fd);
    http_shared *sh = shared_for(port, 2000);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.outcome, HTTP_NOT_SENT);
    assert_int_equal(r.error_kind, HTTP_ERR_CONNECT);
    assert_int_equal(r.transport_error, 1);
    if (!strstr(r.error, "127.0.0.1") || !strstr(r.error, "not sent"))
        fail_msg("error does not name the host and say not sent: %s", r.error);
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
}

static void test_closed_after_request_maybe_sent(void **state)
{
    (void)state;
    srv *s = srv_start(SRV_CLOSE_AFTER_READ);
    http_shared *sh = shared_for(s->port, 5000);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.outcome, HTTP_MAYBE_SENT);
    assert_int_equal(r.error_kind, HTTP_ERR_OTHER);
    assert_int_equal(atomic_load(&s->requests), 1);
    char last[2048];
    assert_non_null(strstr(srv_last(s, last, sizeof last), BODY)); /* the body did arrive: "maybe" was right */
    assert_non_null(strstr(r.error, "may have been sent"));
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
    srv_stop(s);
}

static void test_no_answer_timeout_maybe_sent(void **state)
{
    (void)state;
    srv *s = srv_start(SRV_HANG);
    http_shared *sh = shared_for(s->port, 300);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.outcome, HTTP_MAYBE_SENT);
    assert_int_equal(r.error_kind, HTTP_ERR_TIMEOUT);
    assert_int_equal(atomic_load(&s->requests), 1);
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
    srv_stop(s);
}

static void test_connect_timeout_not_sent(void **state)
{
    (void)state;
    /* A listener that never accepts, its backlog filled: further SYNs are dropped, so the
     * connect itself times out and nothing can have been sent. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    listen(fd, 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int fillers[8], nf = 0;
    for (; nf < 8; nf++) {
        fillers[nf] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fillers[nf], (struct sockaddr *)&a, sizeof a) < 0) {
            /* in progress: the queue is full once a connect cannot complete at once */
            struct pollfd p = {fillers[nf], POLLOUT, 0};
            if (poll(&p, 1, 100) == 0) {
                nf++;
                break;
            }
        }
    }
    http_shared *sh = shared_for(ntohs(a.sin_port), 300);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.error_kind, HTTP_ERR_TIMEOUT);
    assert_int_equal(r.outcome, HTTP_NOT_SENT);
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
    for (int i = 0; i < nf; i++)
        close(fillers[i]);
    close(fd);
}

static void test_dead_keepalive_no_hidden_resend(void **state)
{
    (void)state;
    srv *s = srv_start(SRV_DIE_ON_SECOND);
    http_shared *sh = shared_for(s->port, 5000);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.outcome, HTTP_ANSWERED);
    assert_int_equal(r.retry_after_s, -1);
    /* The second request goes out on the reused connection, which the server drops after
     * reading it. libcurl would normally resend it on a new connection by itself. */
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.outcome, HTTP_MAYBE_SENT);
    /* libcurl resends, if at all, inside http_post: once the client's connections are
     * closed and the server reached a marker sent after them, a resend would be counted */
    http_client_free(c);
    c = NULL;
    srv_drain(s);
    srv_halt(s);
    assert_int_equal(atomic_load(&s->requests), 2); /* one body per http_post, no third */
    /* libcurl may open a fresh connection to retry, but refuses to rewind before sending:
     * not one byte of a second copy arrives. */
    assert_int_equal(atomic_load(&s->stray), 0);
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
    srv_stop(s);
}

static void test_get_and_retry_after(void **state)
{
    (void)state;
    srv *s = srv_start(SRV_ANSWER);
    http_shared *sh = shared_for(s->port, 5000);
    http_client *c = http_client_new(sh);
    http_result r = {0};
    http_get(c, "/b/pbl/v2/message-notification/", &r);
    assert_int_equal(r.status, 405);
    assert_int_equal(r.outcome, HTTP_ANSWERED);
    assert_int_equal(r.error_kind, HTTP_ERR_NONE);
    assert_non_null(strstr(r.body, "not allowed"));
    char last[2048];
    srv_last(s, last, sizeof last);
    assert_int_equal(strncmp(last, "GET /b/pbl/v2/message-notification/ HTTP/1.1\r\n", 46), 0);
    assert_non_null(strstr(last, "Authorization: Api-Key test-key\r\n"));
    /* The same handle posts again afterwards (a POST, with its body). */
    static const char ra[] = "{\"order_no\":\"RA\"}";
    http_post(c, "/b/pbl/v2/message-notification/", ra, strlen(ra), &r);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after_s, 120);
    assert_string_equal(r.retry_after, "120");
    srv_last(s, last, sizeof last);
    assert_int_equal(strncmp(last, "POST ", 5), 0);
    assert_non_null(strstr(last, ra));
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.retry_after_s, -1); /* not carried over from the previous answer */
    assert_string_equal(r.retry_after, "");
    assert_int_equal(atomic_load(&s->requests), 3);
    /* The server goes away: the handle's next request is refused at connect, and what the
     * earlier transfers sent does not count for this one. */
    srv_stop(s);
    http_post(c, "/b/pbl/v2/message-notification/", BODY, strlen(BODY), &r);
    assert_int_equal(r.error_kind, HTTP_ERR_CONNECT);
    assert_int_equal(r.outcome, HTTP_NOT_SENT);
    http_result_free(&r);
    http_client_free(c);
    http_shared_free(sh);
}

static void test_bad_cacert_refused_up_front(void **state)
{
    (void)state;
    char err[256] = "";
    http_shared *sh = http_shared_new("https://127.0.0.1:1", "k", "/nonexistent/ca.pem", 1000, err, sizeof err);
    assert_null(sh);
    if (!strstr(err, "--cacert") || !strstr(err, "/nonexistent/ca.pem"))
        fail_msg("message does not name the option and the file: %s", err);
}

int main(void)
{
    http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_refused_connect_not_sent),
        cmocka_unit_test(test_closed_after_request_maybe_sent),
        cmocka_unit_test(test_no_answer_timeout_maybe_sent),
        cmocka_unit_test(test_connect_timeout_not_sent),
        cmocka_unit_test(test_dead_keepalive_no_hidden_resend),
        cmocka_unit_test(test_get_and_retry_after),
        cmocka_unit_test(test_bad_cacert_refused_up_front),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_global_cleanup();
    return rc;
}
