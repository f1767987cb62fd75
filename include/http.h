/* http — posts JSON bodies to the API with libcurl: one reusable handle per worker
 * (keep-alive, HTTP/1.1), DNS, TLS sessions and the trust store shared, answers capped in
 * size, and for every failure whether the request may have reached the API. */
#ifndef OTTU_HTTP_H
#define OTTU_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_BODY (64 * 1024) /* bytes of an answer kept; the rest is discarded */

typedef struct http_shared http_shared;
typedef struct http_client http_client;

/* Where a transfer that got no answer stopped: what decides whether a retry is safe. */
typedef enum {
    HTTP_ANSWERED = 0, /* status holds the HTTP status */
    HTTP_NOT_SENT,     /* failed before any byte of the request left: DNS, connect, TLS handshake */
    HTTP_MAYBE_SENT    /* the request may have reached the server, no complete answer came back
                          (time-out or reset after sending, empty reply, a resend libcurl refused) */
} http_outcome;

/* What kind of transport failure, for messages and for stopping on configuration errors. */
typedef enum {
    HTTP_ERR_NONE = 0,
    HTTP_ERR_DNS,       /* the host name does not resolve */
    HTTP_ERR_CONNECT,   /* refused or unreachable */
    HTTP_ERR_TLS_CERT,  /* the server's certificate is not trusted / does not match */
    HTTP_ERR_TLS,       /* other TLS handshake failure */
    HTTP_ERR_TIMEOUT,
    HTTP_ERR_OTHER
} http_error_kind;

typedef struct http_result {
    int status;            /* HTTP status, 0 when no answer */
    int transport_error;   /* no answer: connection error, time-out, reset (outcome != HTTP_ANSWERED) */
    http_outcome outcome;
    http_error_kind error_kind;
    long long retry_after_s; /* Retry-After in seconds (CURLINFO_RETRY_AFTER), -1 when absent */
    char error[256];       /* what went wrong at transport level */
    char *body;            /* the answer, NUL-terminated, at most HTTP_MAX_BODY */
    size_t bodylen;
    char retry_after[64];  /* Retry-After header value, "" when absent */
} http_result;

/* Checks the base URL (https, or http only for loopback hosts) and prepares what the
 * workers share; for https it loads the trust store once (cacert, else the system's CAs).
 * api_key may be NULL (dry run). Returns NULL with err on a bad URL or an unreadable CA file. */
http_shared *http_shared_new(const char *base_url, const char *api_key, const char *cacert,
                             long timeout_ms, char *err, size_t errlen);
void http_shared_free(http_shared *s);
/* --http2: the event loop's HTTPS transfers share HTTP/2 connections (set before
 * http_async_new); off, every transfer has an HTTP/1.1 connection of its own. */
void http_shared_set_http2(http_shared *s, int on);
/* 0 when base_url may be used; -1 with err otherwise (pure check, no network). */
int http_check_url(const char *base_url, char *err, size_t errlen);

http_client *http_client_new(http_shared *s);
void http_client_free(http_client *c);
/* One attempt. Always returns with res filled (status or transport error, outcome,
 * error_kind). libcurl never re-sends the body by itself: a reused connection that died
 * after the request went out is HTTP_MAYBE_SENT, not a hidden second request. */
void http_post(http_client *c, const char *path, const char *body, size_t len, http_result *res);
/* A GET on path (the preflight): same headers, key and time-out, res filled as by
 * http_post. Ottu's API (DRF) answers 405 for a good key, 401/403 for a bad one, 404 when
 * the base URL is not the API. */
void http_get(http_client *c, const char *path, http_result *res);
void http_result_free(http_result *res);

/* The event loop: one thread drives every transfer through one curl multi handle, so a
 * job needs no thread per request in flight. Each transfer has an HTTP/1.1 connection of
 * its own; with --http2 (http_shared_set_http2), HTTPS transfers share HTTP/2 connections
 * (HTTP_STREAMS_PER_CONN streams each) when the server offers HTTP/2. Answers are judged
 * exactly as http_post's. */
#define HTTP_STREAMS_PER_CONN 32
typedef struct http_async http_async;
/* Called on the loop's thread when a transfer ended, with its slot (an http_client). res
 * is the slot's: valid, and left alone by the loop, until the slot is given back with
 * http_async_release. The callback should only hand the answer over (engine_driver.c):
 * whatever it does holds up every transfer in flight. */
typedef void (*http_async_done)(void *owner, void *slot, void *item, http_result *res);
/* concurrency: transfers at once (slots). NULL with err. */
http_async *http_async_new(http_shared *s, int concurrency, http_async_done done, void *owner, char *err,
                           size_t errlen);
/* Takes a free slot, waiting while `concurrency` are taken: take it BEFORE the last checks
 * that may cancel an attempt (a job stopping), so nothing waits for a slot past them. */
http_client *http_async_reserve(http_async *a);
/* Gives a slot back: unused, or once its answer has been handled. */
void http_async_release(http_async *a, http_client *slot);
/* Starts a POST on a reserved slot; done(owner, slot, item, res) follows on the loop's
 * thread. body must stay valid until then. */
void http_async_post(http_async *a, http_client *slot, const char *path, const char *body, size_t len,
                     void *item);
/* Waits for the transfers in flight (each ends within its time-out), then frees. */
void http_async_free(http_async *a);

/* curl_global_init / cleanup, once per process. */
int http_global_init(void);
void http_global_cleanup(void);

#endif
