/* mock_server — libmicrohttpd glue: one request's life from headers to answer.
 *
 * Order of checks for the API paths (everything outside /__mock/), modelled on a load
 * balancer in front of a Django REST framework service:
 *   edge:  Content-Length over --max-body -> 413 (at once, connection closed)
 *          --drop-rate -> close; --outage-ms / --fail-rate -> 503 (GETs: the outage only)
 *   app:   unknown path -> 404; auth -> 401/403; --daily-quota, --rate-limit -> 429;
 *          method -> 405 (OPTIONS -> 200); media type -> 415; body too big (chunked) -> 413;
 *          then the endpoint (mock_api), with --fail-channel and --false-200;
 *   after: --ambiguous-rate loses the answer of a processed request (5xx, drop, stall).
 * Every answer (and drop) of an API path waits --latency-ms (+ jitter), except the early
 * 413; a stall waits --stall-ms instead. /__mock/ paths get no faults, no auth and no delay.
 * GET and HEAD are counted apart (a client's preflight is not a notification request) and
 * draw no random faults, so a preflight does not shift a seeded sequence. */
#include "mock_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jsonutil.h"

#define API_PREFIX "/b/pbl/v2/"
#define SEND_CHANNEL_PREFIX API_PREFIX "notifications/send/"
#define LOOKUP_PREFIX "/b/checkout/v1/pymt-txn/"
/* How much of a rejected body is read (to keep the connection usable) before giving up
 * and closing it. */
#define DISCARD_LIMIT (64u * 1024u * 1024u)

typedef struct mock_request {
    mock_server *server;
    struct MHD_Connection *conn;
    int internal;               /* a /__mock/ path */
    int get;                    /* GET or HEAD on an API path: counted apart */
    int lookup;                 /* GET pymt-txn/{session_id}/ with --transactions: faults apply */
    int lost;                   /* --ambiguous-rate: lose the answer (not a --drop-rate drop) */
    mock_fault_decision fd;
    mock_endpoint ep;
    char path_channel[40];      /* {channel} of /notifications/send/{channel}/ */
    int decided;                /* ans holds the answer already; the body is ignored */
    int drop;
    int waiting;                /* suspended until the delay is over */
    long delay_ms;
    mock_answer ans;
    char *buf;                  /* the body, NUL-terminated */
    size_t len, cap;
    size_t discarded;
} mock_request;

static mock_endpoint route(const char *url, char *channel, size_t size)
{
    if (strcmp(url, API_PREFIX "message-notification/") == 0)
        return MOCK_EP_MESSAGE;
    if (strcmp(url, API_PREFIX "send-notification/") == 0)
        return MOCK_EP_SEND;
    size_t plen = strlen(SEND_CHANNEL_PREFIX);
    if (strncmp(url, SEND_CHANNEL_PREFIX, plen) == 0) {
        const char *seg = url + plen;
        const char *slash = strchr(seg, '/');
        if (slash && slash > seg && slash[1] == '\0') {
            size_t n = (size_t)(slash - seg);
            /* A longer segment is no channel anyway; keep a prefix for the message. */
            if (n >= size)
                n = size - 1;
            memcpy(channel, seg, n);
            channel[n] = '\0';
            return MOCK_EP_SEND_CHANNEL;
        }
    }
    return MOCK_EP_OTHER;
}

static void decide(mock_request *r, unsigned status, const char *detail)
{
    mock_answer_detail(&r->ans, status, detail);
    r->decided = 1;
}

/* Compares without an early exit, so response times do not reveal how much of a guessed
 * key was right. */
static int same_key(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[blen ? i % blen : 0]);
    return diff == 0 && blen > 0;
}

/* 0 = ok, else the status (401/403) with r->ans filled. */
static int check_auth(mock_request *r, const char *header)
{
    const mock_config *cfg = r->server->cfg;
    if (!header) {
        decide(r, 401, "Authentication credentials were not provided.");
        r->ans.www_authenticate = 1;
        return 401;
    }
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *scheme = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t slen = (size_t)(p - scheme);
    while (*p == ' ' || *p == '\t')
        p++;
    size_t klen = strlen(p);
    while (klen && (p[klen - 1] == ' ' || p[klen - 1] == '\t'))
        klen--;
    if (slen == 7 && strncasecmp(scheme, "Api-Key", 7) == 0) {
        if (same_key(p, klen, cfg->api_key))
            return 0;
        if (cfg->forbidden_key && same_key(p, klen, cfg->forbidden_key)) {
            decide(r, 403, "You do not have permission to perform this action.");
            return 403;
        }
        decide(r, 401, "Invalid API key.");
    } else if (slen == 5 && strncasecmp(scheme, "Basic", 5) == 0) {
        decide(r, 401, "Invalid username/password.");
    } else {
        decide(r, 401, "Authentication credentials were not provided.");
    }
    if (cfg->echo_auth) {
        /* A careless server (or a debugging proxy) repeating the credentials it refused:
         * the client must scrub its key from every text it keeps of an answer. */
        size_t hlen = strlen(header);
        char *msg = malloc(hlen + 96);
        if (msg) {
            snprintf(msg, hlen + 96, "Invalid API key. The Authorization header was \"%s\".", header);
            decide(r, 401, msg);
            free(msg);
        }
    }
    r->ans.www_authenticate = 1;
    return 401;
}

static int is_json_type(const char *ct)
{
    static const char json[] = "application/json";
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, json, sizeof json - 1) != 0)
        return 0;
    char c = ct[sizeof json - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

static long long header_length(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return -1;
    char *end;
    unsigned long long v = strtoull(cl, &end, 10);
    return (end == cl) ? -1 : (v > (1ULL << 62) ? (long long)(1ULL << 62) : (long long)v);
}

static enum MHD_Result send_answer(mock_request *r)
{
    mock_server *s = r->server;
    if (r->drop) {
        if (!r->lost)
            mock_stats_add(&s->stats->dropped, 1);
        return MHD_NO; /* MHD closes the connection without a response */
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(r->ans.len, r->ans.body, &free);
    if (!resp)
        return MHD_NO;
    r->ans.body = NULL; /* owned by the response now */
    r->ans.len = 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->ans.content_type ? r->ans.content_type : "application/json");
    if (r->ans.retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", r->ans.retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (r->ans.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->ans.allow);
    if (r->ans.www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Api-Key");
    if (r->ans.close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(r->conn, r->ans.status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES && !r->internal) {
        if (r->get) {
            mock_stats_count_get_status(s->stats, r->ans.status);
        } else {
            mock_stats_count_status(s->stats, r->ans.status);
            if (r->ans.status == 200)
                mock_stats_add(&s->stats->ep_ok[r->ep], 1);
        }
    }
    return rc;
}

/* DRF's metadata answer to OPTIONS (SimpleMetadata), enough for a client that looks. */
static void answer_options(mock_request *r)
{
    static const char *const names[MOCK_EP_COUNT] = {
        "Message Notification", "Send Notification", "Send Specific Notification", ""};
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\": \"%s\", \"description\": \"\", \"renders\": [\"application/json\"], "
             "\"parses\": [\"application/json\"]}", names[r->ep]);
    mock_answer_text(&r->ans, 200, NULL, body);
    r->ans.allow = "POST, OPTIONS";
    r->decided = 1;
}

/* First call for a request: only the headers are known. */
static enum MHD_Result begin(mock_request *r, const char *url, const char *method)
{
    mock_server *s = r->server;
    struct MHD_Connection *conn = r->conn;
    long long now = mock_now_ms();

    if (strncmp(url, "/__mock/", 8) == 0) {
        r->internal = 1;
        return MHD_YES;
    }
    r->get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    r->ep = route(url, r->path_channel, sizeof r->path_channel);
    /* The Checkout API's read of a transaction (--verify): a request like any other for the
     * faults (latency, 5xx, drops, lost answers, quota), counted with the GETs. */
    r->lookup = s->api->txns && strncmp(url, LOOKUP_PREFIX, sizeof LOOKUP_PREFIX - 1) == 0;
    if (r->lookup) {
        mock_stats_add(&s->stats->get_requests, 1);
        mock_stats_add(&s->stats->lookups, 1);
        r->fd = mock_faults_decide(s->faults, now);
    } else if (r->get) {
        mock_stats_add(&s->stats->get_requests, 1);
        r->fd.kind = mock_faults_in_outage(s->faults, now) ? MOCK_FAULT_OUTAGE : MOCK_FAULT_NONE;
        r->fd.delay_ms = s->faults->latency_ms;
    } else {
        mock_stats_add(&s->stats->requests, 1);
        mock_stats_add(&s->stats->ep_requests[r->ep], 1);
        r->fd = mock_faults_decide(s->faults, now);
    }
    r->delay_ms = r->fd.delay_ms;

    long long clen = header_length(conn);
    if (clen > (long long)s->cfg->max_body) {
        /* Answered before the body is read; MHD then closes the connection. */
        char msg[96];
        snprintf(msg, sizeof msg, "Request body too large (limit %zu bytes).", s->cfg->max_body);
        decide(r, 413, msg);
        r->ans.close = 1;
        return send_answer(r);
    }
    if (r->fd.kind == MOCK_FAULT_DROP) {
        r->drop = r->decided = 1;
        return MHD_YES;
    }
    if (r->fd.kind == MOCK_FAULT_OUTAGE || r->fd.kind == MOCK_FAULT_FAIL) {
        decide(r, 503, "Service temporarily unavailable, try again later.");
        return MHD_YES;
    }
    if (r->ep == MOCK_EP_OTHER && !r->lookup) {
        decide(r, 404, "Not found.");
        return MHD_YES;
    }
    if (check_auth(r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
        return MHD_YES;
    /* DRF runs the throttles after authentication and before it looks at the method, so
     * every authenticated request counts against the day, a GET included. */
    long wait = mock_quota_take(&s->quota, (long long)time(NULL));
    if (wait > 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "Request was throttled. Expected available in %ld second%s.", wait,
                 wait == 1 ? "" : "s");
        decide(r, 429, msg);
        r->ans.retry_after = (int)wait;
        return MHD_YES;
    }
    if (mock_faults_over_rate(s->faults, now)) {
        decide(r, 429, "Request was throttled. Expected available in 1 second.");
        r->ans.retry_after = 1;
        return MHD_YES;
    }
    if (r->lookup) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
            decide(r, 405, "Method not allowed.");
            r->ans.allow = "GET";
        }
        return MHD_YES; /* answered in on_request, where a lost answer can follow */
    }
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) {
        answer_options(r);
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        char msg[96], shown[40];
        jsonutil_printable(method, strlen(method), shown, sizeof shown);
        snprintf(msg, sizeof msg, "Method \"%s\" not allowed.", shown);
        decide(r, 405, msg);
        r->ans.allow = "POST, OPTIONS";
        return MHD_YES;
    }
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int has_body = clen > 0 || (te && strcasestr(te, "chunked"));
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (has_body && !(ct && is_json_type(ct))) {
        char msg[128], shown[64];
        jsonutil_printable(ct ? ct : "", ct ? strlen(ct) : 0, shown, sizeof shown);
        snprintf(msg, sizeof msg, "Unsupported media type \"%s\" in request.", shown);
        decide(r, 415, msg);
        return MHD_YES;
    }
    if (clen > 0) {
        /* Trust a declared length only so far: slow clients announcing 1 MiB each should
         * not pin that much memory before sending it. */
        r->cap = (size_t)clen + 1 < 65536 ? (size_t)clen + 1 : 65536;
        r->buf = malloc(r->cap);
        if (!r->buf)
            return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result take_body(mock_request *r, const char *data, size_t n)
{
    size_t max = r->server->cfg->max_body;
    if (r->decided || r->internal) {
        r->discarded += n;
        return r->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
    }
    if (r->len + n > max) {
        /* Chunked bodies have no Content-Length to refuse up front. */
        char msg[96];
        free(r->buf);
        r->buf = NULL;
        r->len = r->cap = 0;
        snprintf(msg, sizeof msg, "Request body too large (limit %zu bytes).", max);
        decide(r, 413, msg);
        r->ans.close = 1;
        r->discarded += n;
        return MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *b = realloc(r->buf, cap);
        if (!b)
            return MHD_NO;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result answer_internal(mock_request *r, const char *url, const char *method)
{
    mock_server *s = r->server;
    if (strcmp(url, "/__mock/stats") == 0 || strcmp(url, "/__mock/stats/") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
            mock_answer_detail(&r->ans, 405, "Method not allowed: use GET.");
            r->ans.allow = "GET";
            return send_answer(r);
        }
        size_t len = 0;
        long long now_s = (long long)time(NULL);
        char *json = mock_stats_json(s->stats, mock_now_ms(), mock_quota_used(&s->quota, now_s),
                                     s->quota.limit, &len);
        if (!json) {
            mock_answer_detail(&r->ans, 500, "Out of memory.");
        } else {
            free(r->ans.body);
            r->ans.body = json;
            r->ans.len = len;
            r->ans.status = 200;
        }
        return send_answer(r);
    }
    if (strcmp(url, "/__mock/reset") == 0 || strcmp(url, "/__mock/reset/") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            mock_answer_detail(&r->ans, 405, "Method not allowed: use POST.");
            r->ans.allow = "POST";
            return send_answer(r);
        }
        mock_stats_reset(s->stats);
        mock_answer_detail(&r->ans, 200, "Counters reset.");
        return send_answer(r);
    }
    if (strcmp(url, "/__mock/quota-reset") == 0 || strcmp(url, "/__mock/quota-reset/") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            mock_answer_detail(&r->ans, 405, "Method not allowed: use POST.");
            r->ans.allow = "POST";
            return send_answer(r);
        }
        mock_quota_reset(&s->quota);
        mock_answer_detail(&r->ans, 200, "Daily quota reset.");
        return send_answer(r);
    }
    mock_answer_detail(&r->ans, 404, "Not found.");
    return send_answer(r);
}

/* What a gateway in front of the API answers when the API worker died or timed out after
 * acting: HTML, not the API's JSON. */
static const char page_500[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n"
    "<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
static const char page_502[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
static const char page_504[] =
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/* --ambiguous-rate: the request has been processed (and delivered, when valid); now the
 * client is not told. */
static void lose_answer(mock_request *r)
{
    mock_server *s = r->server;
    mock_stats_add(&s->stats->ambiguous, 1);
    if (r->fd.lost < MOCK_STATS_LOST_KINDS)
        mock_stats_add(&s->stats->lost_kind[r->fd.lost], 1);
    r->lost = 1;
    switch (r->fd.lost) {
    case MOCK_LOST_500:
        mock_answer_text(&r->ans, 500, "text/html; charset=utf-8", page_500);
        break;
    case MOCK_LOST_502:
        mock_answer_text(&r->ans, 502, "text/html", page_502);
        break;
    case MOCK_LOST_504:
        mock_answer_text(&r->ans, 504, "text/html", page_504);
        break;
    case MOCK_LOST_STALL:
        /* Suspended like any delay, so no thread is held and shutdown cuts it short. */
        r->delay_ms = s->cfg->stall_ms;
        r->drop = 1;
        break;
    default:
        r->drop = 1;
        break;
    }
    r->ans.retry_after = 0;
    r->ans.allow = NULL;
}

static void resume_cb(void *arg)
{
    mock_request *r = arg;
    /* Counted down here, not in the resumed handler: MHD may close a connection whose
     * client went away without calling the handler again. */
    atomic_fetch_sub_explicit(&r->server->stats->delayed, 1, memory_order_relaxed);
    MHD_resume_connection(r->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    mock_server *s = cls;
    mock_request *r = *con_cls;
    (void)version;

    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->server = s;
        r->conn = conn;
        *con_cls = r;
        return begin(r, url, method);
    }
    if (*upload_data_size) {
        enum MHD_Result rc = take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc;
    }
    if (r->waiting) {
        /* Called again after MHD_resume_connection: the delay is over. */
        r->waiting = 0;
        return send_answer(r);
    }
    if (r->internal)
        return answer_internal(r, url, method);
    if (!r->decided) {
        mock_plan plan = {r->fd.fail_channel, r->fd.false200};
        if (r->lookup)
            mock_api_lookup(s->api, url + sizeof LOOKUP_PREFIX - 1, &r->ans);
        else
            mock_api_notify(s->api, r->ep, r->path_channel, r->buf ? r->buf : "", r->len, &plan, &r->ans);
        if (r->fd.lost)
            lose_answer(r);
    }
    if (s->api->requests && mock_requests_write(s->api->requests, method, url, r->drop ? 0 : r->ans.status,
                                                r->buf, r->buf ? r->len : 0) != 0)
        fprintf(stderr, "ottu-mock: cannot write the requests log\n");
    free(r->buf);
    r->buf = NULL;
    if (r->delay_ms > 0) {
        /* Suspend rather than sleep: the pool thread goes on serving other connections and
         * the timer thread resumes this one when the delay is over. */
        r->waiting = 1;
        mock_stats_add(&s->stats->delayed, 1);
        MHD_suspend_connection(conn);
        if (mock_timer_add(&s->timer, mock_now_us() + r->delay_ms * 1000LL, resume_cb, r) != 0)
            resume_cb(r); /* shutting down: answer now */
        return MHD_YES;
    }
    return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    mock_request *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    free(r->buf);
    mock_answer_free(&r->ans);
    free(r);
    *con_cls = NULL;
}

/* MHD's error log, minus the line it writes for every --drop-rate drop (our MHD_NO). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (strstr(msg, "Application reported internal error"))
        return;
    size_t n = strlen(msg);
    fprintf(stderr, "ottu-mock: %s%s", msg, n && msg[n - 1] == '\n' ? "" : "\n");
}

static unsigned pool_size(const mock_config *cfg)
{
    if (cfg->threads)
        return cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

/* Benchmarks open many connections; take what the hard limit allows and keep headroom
 * for the deliveries file and MHD's own descriptors. */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t n = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 16;
    return n > 60000 ? 60000 : (unsigned)n;
}

int mock_server_start(mock_server *s, const mock_config *cfg, mock_api *api, mock_faults *faults,
                      mock_stats *stats, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->api = api;
    s->faults = faults;
    s->stats = stats;
    s->listen_fd = -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)cfg->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (mock_quota_init(&s->quota, cfg->daily_quota) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        return -1;
    }
    if (mock_timer_start(&s->timer) != 0) {
        mock_quota_destroy(&s->quota);
        snprintf(err, errlen, "cannot start the timer thread");
        return -1;
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)cfg->port, NULL, NULL, &on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, NULL, /* first, or MHD warns */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, pool_size(cfg),
        MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, &on_completed, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        mock_timer_stop(&s->timer);
        mock_timer_destroy(&s->timer);
        mock_quota_destroy(&s->quota);
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%u (port in use?)", cfg->port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    return 0;
}

void mock_server_stop(mock_server *s)
{
    if (!s->daemon)
        return;
    s->listen_fd = MHD_quiesce_daemon(s->daemon);
    /* MHD must not be stopped with suspended connections: resume them all first. */
    mock_timer_stop(&s->timer);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    mock_timer_destroy(&s->timer);
    mock_quota_destroy(&s->quota);
}
