/* retry — classification of answers, backoff and Retry-After (pure). */
#include "retry.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

static retry_decision decide(retry_verdict v, unsigned sent, unsigned maybe, unsigned failed)
{
    retry_decision d = {v, maybe != 0, sent, maybe, failed};
    return d;
}

/* An answer after which the API may have acted: unknown, or retried when asked to. */
static retry_decision ambiguous(unsigned channels, int retry_ambiguous)
{
    retry_decision d = decide(retry_ambiguous ? RETRY_AGAIN : RETRY_UNKNOWN, 0, channels, 0);
    d.ambiguous = 1;
    return d;
}

/* A definite failure: the body may name the channels that failed; the others of a
 * multi-channel request may have gone out. */
static retry_decision failure(const char *body, size_t len, unsigned channels)
{
    unsigned failed = 0;
    if (jsonutil_confirmation(body, len, channels, &failed) != JSONUTIL_FAILED)
        failed = channels;
    return decide(RETRY_FAIL, 0, channels & ~failed, failed);
}

retry_decision retry_classify(http_outcome outcome, int status, const char *body, size_t len, unsigned channels,
                              int retry_ambiguous)
{
    if (outcome == HTTP_NOT_SENT)
        return decide(RETRY_AGAIN, 0, 0, 0);
    if (outcome != HTTP_ANSWERED || status <= 0)
        return ambiguous(channels, retry_ambiguous);
    if (status >= 200 && status < 300) {
        unsigned failed = 0;
        switch (jsonutil_confirmation(body, len, channels, &failed)) {
        case JSONUTIL_CONFIRMED:
            return decide(RETRY_SUCCESS, channels, 0, 0);
        case JSONUTIL_FAILED:
            return decide(RETRY_FAIL, 0, channels & ~failed, failed);
        default:
            return ambiguous(channels, retry_ambiguous);
        }
    }
    switch (status) {
    case 401:
    case 403:
        return decide(RETRY_ABORT, 0, 0, 0);
    case 408: /* the server gave up waiting for the request: it did not act */
    case 429:
    case 503:
        return decide(RETRY_AGAIN, 0, 0, 0);
    case 501: /* the server cannot handle the method or protocol: nothing was done */
    case 505:
    case 507:
        return decide(RETRY_FAIL, 0, 0, channels);
    default:
        break;
    }
    if (status >= 500) /* 500, 502, 504 and the proxies' 52x: the request may have been handled */
        return ambiguous(channels, retry_ambiguous);
    if (status >= 400)
        return failure(body, len, channels);
    return decide(RETRY_FAIL, 0, 0, channels); /* 1xx, 3xx: not an answer to a POST we follow */
}

int64_t retry_backoff_ms(int attempt, int64_t base, int64_t max, double u)
{
    if (attempt < 1)
        attempt = 1;
    int64_t cap = base;
    for (int i = 1; i < attempt && cap < max; i++)
        cap = cap > max / 2 ? max : cap * 2;
    if (cap > max)
        cap = max;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (int64_t)(u * (double)(cap + 1));
}

#define WAIT_MAX_S (400LL * 86400) /* a bound that keeps ms arithmetic far from overflow */

/* Retry-After text -> ms, uncapped; -1 when not understood. */
static int64_t after_ms(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    if (*value >= '0' && *value <= '9') {
        char *end;
        unsigned long long secs = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end)
            return -1;
        return secs > WAIT_MAX_S ? WAIT_MAX_S * 1000 : (int64_t)secs * 1000;
    }
    /* An HTTP date; libcurl already parses every form the RFCs allow. */
    time_t t = curl_getdate(value, &now);
    if (t == (time_t)-1)
        return -1;
    if (t <= now)
        return 0;
    return t - now > WAIT_MAX_S ? WAIT_MAX_S * 1000 : (int64_t)(t - now) * 1000;
}

int64_t retry_after_ms(const char *value, time_t now)
{
    int64_t ms = after_ms(value, now);
    return ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : ms;
}

int64_t retry_server_wait_ms(long long retry_after_s, const char *header, const char *body, size_t len,
                             time_t now)
{
    if (retry_after_s >= 0)
        return retry_after_s > WAIT_MAX_S ? WAIT_MAX_S * 1000 : retry_after_s * 1000;
    int64_t ms = after_ms(header && header[0] ? header : NULL, now);
    if (ms >= 0)
        return ms;
    long long s = jsonutil_throttle_wait_s(body, len);
    if (s < 0)
        return -1;
    return s > WAIT_MAX_S ? WAIT_MAX_S * 1000 : s * 1000;
}
