/* http_internal — what http.c and http_async.c share: the client and the shared
 * settings, and the steps of one transfer (not for other modules). */
#ifndef OTTU_HTTP_INTERNAL_H
#define OTTU_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "http.h"

struct http_shared {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    struct curl_slist *headers; /* holds the key: never logged */
    char *base;                 /* without a trailing slash */
    char host[256];             /* for messages */
    X509_STORE *store;          /* https: the trust store, loaded once for every connection */
    long timeout_ms;
    int http2;                  /* --http2: the loop's HTTPS transfers share HTTP/2 connections */
};

struct http_client {
    http_shared *s;
    /* http_async only: the transfer's result and who is told, the free/pending lists */
    http_result res;
    void *item;
    struct http_client *next;
    CURL *curl;
    char url[2048];
    char errbuf[CURL_ERROR_SIZE];
    http_result *cur;
    int is_post;        /* the transfer is a POST: libcurl may not repeat it */
    int attempts;       /* requests libcurl began in this transfer (CURLOPT_PREREQFUNCTION) */
    int resend_refused; /* libcurl tried to repeat the POST: refused, may have been sent */
};

/* in_loop: a slot of http_async (HTTP/2 with --http2 when the server offers it), else a
 * worker's. */
http_client *client_new(http_shared *s, int in_loop);
/* A POST of body to path on c: the URL and the body set (body must outlive the transfer). */
void post_begin(http_client *c, const char *path, const char *body, size_t len);
/* Before a transfer: r emptied and attached to c. */
void result_begin(http_client *c, http_result *r);
/* After it: status, outcome, error kind and retry-after filled from rc and c. */
void result_end(http_client *c, http_result *r, CURLcode rc);

#endif
