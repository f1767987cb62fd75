/* http — libcurl transfers for the workers: reused handles, shared DNS/TLS caches, one
 * shared trust store, and an honest account of whether a failed request may have gone out. */
#include "http.h"
#include "http_internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Fills scheme_https and host (when given) from a checked base URL. */
static int url_parts(const char *base, int *https, char *host, size_t hostlen, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL;
    int rc = -1;
    if (!strstr(base, "://")) {
        /* merchant.ottu.net: what was meant is nearly always the HTTPS site */
        snprintf(err, errlen, "--base-url %.200s has no scheme: did you mean https://%.200s ?", base, base);
        goto out;
    }
    if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
        snprintf(err, errlen, "--base-url is not a URL (e.g. https://merchant.ottu.net)");
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &h, 0);
    if (!scheme || !h) {
        snprintf(err, errlen, "--base-url needs a scheme and a host");
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0) {
        *https = 1;
        rc = 0;
    } else if (strcasecmp(scheme, "http") == 0) {
        *https = 0;
        /* Plain HTTP would expose the key: only for a server on this machine. */
        struct in_addr a4;
        int loopback = strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 ||
                       (inet_pton(AF_INET, h, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
        if (loopback)
            rc = 0;
        else
            snprintf(err, errlen, "--base-url: plain http:// is only allowed for loopback hosts "
                                  "(127.0.0.0/8, ::1, localhost); use https://");
    } else {
        snprintf(err, errlen, "--base-url: scheme %s is not supported (use https://)", scheme);
    }
    if (rc == 0 && host)
        snprintf(host, hostlen, "%s", h);
out:
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

int http_check_url(const char *base, char *err, size_t errlen)
{
    int https;
    return url_parts(base, &https, NULL, 0, err, errlen);
}

/* The trust store libcurl would build for each connection — --cacert, else libcurl's own
 * default bundle and folder — built once. Every worker's connections then share it instead
 * of parsing the ~140 system certificates again (45–130 ms of CPU and ~830 KB each). */
static X509_STORE *load_store(const char *cacert, char *err, size_t errlen)
{
    char *def_file = NULL, *def_path = NULL;
    CURL *h = curl_easy_init();
    if (h) {
        curl_easy_getinfo(h, CURLINFO_CAINFO, &def_file);
        curl_easy_getinfo(h, CURLINFO_CAPATH, &def_path);
    }
    const char *file = cacert ? cacert : def_file;
    const char *path = cacert ? NULL : def_path; /* --cacert replaces the system's CAs, as with curl */
    X509_STORE *st = X509_STORE_new();
    if (!st) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!file && !path) {
        snprintf(err, errlen, "no CA certificates to verify the server with: give --cacert FILE");
        goto fail;
    }
    if (file && !X509_STORE_load_file(st, file)) {
        snprintf(err, errlen, "%s %s: cannot read CA certificates from it (a PEM file is expected)",
                 cacert ? "--cacert" : "the system's CA bundle", file);
        goto fail;
    }
    if (path && !X509_STORE_load_path(st, path) && !file) {
        snprintf(err, errlen, "the system's CA folder %s cannot be used", path);
        goto fail;
    }
    /* As libcurl does by default (since 7.68): an intermediate in the store is a trust anchor. */
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    goto out;
fail:
    X509_STORE_free(st);
    st = NULL;
out:
    curl_easy_cleanup(h);
    return st;
}

http_shared *http_shared_new(const char *base, const char *api_key, const char *cacert,
                             long timeout_ms, char *err, size_t errlen)
{
    int https = 0;
    char host[256];
    if (url_parts(base, &https, host, sizeof host, err, errlen) < 0)
        return NULL;
    http_shared *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    snprintf(s->host, sizeof s->host, "%s", host);
    s->base = strdup(base);
    if (!s->base)
        goto oom;
    size_t bl = strlen(s->base);
    while (bl && s->base[bl - 1] == '/')
        s->base[--bl] = '\0';
    if (https && !(s->store = load_store(cacert, err, errlen))) {
        http_shared_free(s);
        return NULL;
    }
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
    X509_STORE_free(s->store);
    curl_slist_free_all(s->headers);
    free(s->base);
    free(s);
}

static CURLcode on_ssl_ctx(CURL *h, void *sslctx, void *userptr)
{
    (void)h;
    http_shared *s = userptr;
    /* The connection's context gets the shared store (the context takes a reference). */
    if (!X509_STORE_up_ref(s->store))
        return CURLE_SSL_CERTPROBLEM;
    SSL_CTX_set_cert_store(sslctx, s->store);
    return CURLE_OK;
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

/* The POST body is handed over whole (CURLOPT_POSTFIELDS, not copied), so libcurl sends
 * it with the headers in one write. libcurl would re-send that request by itself when a
 * reused keep-alive connection dies before any byte of the answer: a second copy on a new
 * connection, possibly a second notification. Every attempt on a connection passes here
 * first; a POST's second attempt within one transfer is refused before a byte of it goes,
 * and the transfer ends "may have been sent" (the first copy may have reached the API). A
 * GET (a read) may be repeated. */
static int on_prereq(void *userdata, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    http_client *c = userdata;
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    if (c->is_post && c->attempts++ > 0) {
        c->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

http_client *client_new(http_shared *s, int in_loop)
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
    /* Each transfer has its own connection: HTTP/2 would multiplex nothing and costs more
     * CPU. With --http2, the loop's HTTPS transfers wait for a connection they can share. */
    if (in_loop)
        curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    if (in_loop && s->http2) {
        /* Plain http stays HTTP/1.1, a connection per transfer: waiting for a connection
         * to share would only queue transfers behind each other. */
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(h, CURLOPT_PIPEWAIT, s->store ? 1L : 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->store) {
        /* libcurl loads nothing itself; on_ssl_ctx hands every connection the shared store
         * (verification stays on: an empty store would trust nothing). */
        curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, s);
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
    return c;
}

http_client *http_client_new(http_shared *s) { return client_new(s, 0); }

void http_shared_set_http2(http_shared *s, int on) { s->http2 = on; }

void http_client_free(http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

/* Failures that happen before a request can be on the wire: resolving, connecting, the TLS
 * handshake and its certificate check. */
static http_error_kind kind_of(CURLcode rc, int *before_request)
{
    *before_request = 1;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_ERR_DNS;
    case CURLE_COULDNT_CONNECT:
        return HTTP_ERR_CONNECT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return HTTP_ERR_TLS_CERT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
        return HTTP_ERR_TLS;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_ERR_TIMEOUT; /* before the request only if nothing was handed over */
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HTTP_ERR_OTHER;
    default:
        *before_request = 0;
        return HTTP_ERR_OTHER;
    }
}

static const char *kind_words(http_error_kind k)
{
    switch (k) {
    case HTTP_ERR_DNS: return "the host name does not resolve";
    case HTTP_ERR_CONNECT: return "cannot connect";
    case HTTP_ERR_TLS_CERT: return "the server's certificate is not trusted";
    case HTTP_ERR_TLS: return "the TLS handshake failed";
    case HTTP_ERR_TIMEOUT: return "timed out";
    default: return "transfer failed";
    }
}

/* Before a transfer: the result emptied, the URL set. */
void result_begin(http_client *c, http_result *r)
{
    r->status = 0;
    r->transport_error = 0;
    r->outcome = HTTP_ANSWERED;
    r->error_kind = HTTP_ERR_NONE;
    r->retry_after_s = -1;
    r->error[0] = '\0';
    r->bodylen = 0;
    if (r->body)
        r->body[0] = '\0';
    r->retry_after[0] = '\0';
    c->cur = r;
    c->errbuf[0] = '\0';
    c->attempts = 0;
    c->resend_refused = 0;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
}

/* After it: what came back, or how it failed and whether the request may have gone out. */
void result_end(http_client *c, http_result *r, CURLcode rc)
{
    if (rc == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
        if (r->retry_after[0]) {
            curl_off_t ra = 0;
            curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &ra);
            r->retry_after_s = ra > 0 ? (long long)ra : 0;
        }
        return;
    }
    /* No complete answer (an answer whose body broke off counts as none: it may be cut
     * anywhere, and its status alone proves nothing). */
    int before = 0;
    r->error_kind = kind_of(rc, &before);
    long reqsize = 0;
    curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &reqsize);
    /* Not sent only when the failure is of a kind that happens before the request and not
     * one byte of it was handed to the socket: everything else may have reached the API. */
    r->outcome = before && reqsize == 0 && !c->resend_refused ? HTTP_NOT_SENT : HTTP_MAYBE_SENT;
    if (r->error_kind == HTTP_ERR_NONE)
        r->error_kind = HTTP_ERR_OTHER;
    /* Retrying cannot fix a certificate, a CA file or a bad URL. */
    r->transport_error = !(r->error_kind == HTTP_ERR_TLS_CERT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
                           rc == CURLE_URL_MALFORMAT);
    const char *detail = c->resend_refused ? "the reused connection died after the request went out"
                         : c->errbuf[0]                ? c->errbuf
                                                       : curl_easy_strerror(rc);
    snprintf(r->error, sizeof r->error, "%.60s: %s (%.100s; %s)", c->s->host,
             r->error_kind == HTTP_ERR_OTHER ? "no complete answer" : kind_words(r->error_kind), detail,
             r->outcome == HTTP_NOT_SENT ? "not sent" : "may have been sent");
}

static void perform(http_client *c, http_result *r)
{
    result_begin(c, r);
    result_end(c, r, curl_easy_perform(c->curl));
}

void post_begin(http_client *c, const char *path, const char *body, size_t len)
{
    snprintf(c->url, sizeof c->url, "%s%s", c->s->base, path);
    c->is_post = 1;
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
}

void http_post(http_client *c, const char *path, const char *body, size_t len, http_result *r)
{
    post_begin(c, path, body, len);
    perform(c, r);
}

void http_get(http_client *c, const char *path, http_result *r)
{
    snprintf(c->url, sizeof c->url, "%s%s", c->s->base, path);
    c->is_post = 0;
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    perform(c, r);
}

void http_result_free(http_result *r)
{
    free(r->body);
    r->body = NULL;
}

