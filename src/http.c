/* http — libcurl transfers for the workers: reused handles, shared DNS/TLS caches. */
#include "http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_shared {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    struct curl_slist *headers; /* holds the key: never logged */
    char *base;                 /* without a trailing slash */
    char *cacert;
    long timeout_ms;
};

struct http_client {
    http_shared *s;
    CURL *curl;
    char url[2048];
    http_result *cur;
};

int http_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1; }
void http_global_cleanup(void) { curl_global_cleanup(); }

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
    (void)h;
    (void)access;
    http_shared *s = userptr;
    pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    (void)h;
    http_shared *s = userptr;
    pthread_mutex_unlock(&s->locks[data]);
}

int http_check_url(const char *base, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
        snprintf(err, errlen, "--base-url is not a URL (e.g. https://merchant.ottu.net)");
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (!scheme || !host) {
        snprintf(err, errlen, "--base-url needs a scheme and a host");
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0) {
        rc = 0;
    } else if (strcasecmp(scheme, "http") == 0) {
        /* Plain HTTP would expose the key: only for a server on this machine. */
        struct in_addr a4;
        int loopback = strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
                       (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
        if (loopback)
            rc = 0;
        else
            snprintf(err, errlen, "--base-url: plain http:// is only allowed for loopback hosts "
                                  "(127.0.0.0/8, ::1, localhost); use https://");
    } else {
        snprintf(err, errlen, "--base-url: scheme %s is not supported (use https://)", scheme);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

http_shared *http_shared_new(const char *base, const char *api_key, const char *cacert,
                             long timeout_ms, char *err, size_t errlen)
{
    if (http_check_url(base, err, errlen) < 0)
        return NULL;
    http_shared *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->base = strdup(base);
    if (!s->base)
        goto oom;
    size_t bl = strlen(s->base);
    while (bl && s->base[bl - 1] == '/')
        s->base[--bl] = '\0';
    if (cacert && !(s->cacert = strdup(cacert)))
        goto oom;
    s->timeout_ms = timeout_ms;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    s->share = curl_share_init();
    if (s->share) {
        curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    char auth[1100];
    if (api_key) {
        snprintf(auth, sizeof auth, "Authorization: Api-Key %s", api_key);
        s->headers = curl_slist_append(s->headers, auth);
        memset(auth, 0, sizeof auth);
    }
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, "Accept: application/json");
    s->headers = curl_slist_append(s->headers, "Expect:");
    if (!s->headers)
        goto oom;
    return s;
oom:
    snprintf(err, errlen, "out of memory");
    http_shared_free(s);
    return NULL;
}

void http_shared_free(http_shared *s)
{
    if (!s)
        return;
    if (s->share) {
        curl_share_cleanup(s->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&s->locks[i]);
    }
    curl_slist_free_all(s->headers);
    free(s->base);
    free(s->cacert);
    free(s);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_client *c = userdata;
    http_result *r = c->cur;
    size_t n = size * nmemb;
    size_t room = HTTP_MAX_BODY - r->bodylen;
    size_t take = n < room ? n : room;
    if (take) {
        if (!r->body && !(r->body = malloc(HTTP_MAX_BODY + 1)))
            return 0;
        memcpy(r->body + r->bodylen, ptr, take);
        r->bodylen += take;
        r->body[r->bodylen] = '\0';
    }
    return n; /* the rest of a huge answer is read and dropped */
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    http_client *c = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
        size_t vlen = n - (sizeof name - 1);
        const char *v = buf + sizeof name - 1;
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen >= sizeof c->cur->retry_after)
            vlen = sizeof c->cur->retry_after - 1;
        memcpy(c->cur->retry_after, v, vlen);
        c->cur->retry_after[vlen] = '\0';
    } else if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        c->cur->retry_after[0] = '\0'; /* a new response (after 100-continue) */
    }
    return n;
}

http_client *http_client_new(http_shared *s)
{
    http_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return NULL;
    }
    CURL *h = c->curl;
    if (s->share)
        curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ottu-resend/" OTTU_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not a hop */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->cacert);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void http_post(http_client *c, const char *path, const char *body, size_t len, http_result *r)
{
    r->status = 0;
    r->transport_error = 0;
    r->error[0] = '\0';
    r->bodylen = 0;
    if (r->body)
        r->body[0] = '\0';
    r->retry_after[0] = '\0';
    c->cur = r;
    snprintf(c->url, sizeof c->url, "%s%s", c->s->base, path);
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(c->curl);
    long code = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK) {
        r->status = (int)code;
        return;
    }
    /* An answer whose body broke off still has its status; transport errors otherwise. */
    r->transport_error = 1;
    r->status = 0;
    switch (rc) {
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        r->transport_error = 0; /* retrying cannot fix these */
        break;
    default:
        break;
    }
    snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
}

void http_result_free(http_result *r)
{
    free(r->body);
    r->body = NULL;
}
