/* retry — classification of answers, backoff and Retry-After (pure). */
#include "retry.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

retry_verdict retry_classify(int status, int transport_error)
{
    if (status == 0)
        return transport_error ? RETRY_AGAIN : RETRY_FAIL;
    if (status >= 200 && status < 300)
        return RETRY_SUCCESS;
    switch (status) {
    case 401:
    case 403:
        return RETRY_ABORT;
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return RETRY_AGAIN;
    default:
        return RETRY_FAIL;
    }
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

int64_t retry_after_ms(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    int64_t ms;
    if (*value >= '0' && *value <= '9') {
        char *end;
        unsigned long long secs = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end)
            return -1;
        ms = secs > RETRY_AFTER_CAP_MS / 1000 ? RETRY_AFTER_CAP_MS : (int64_t)secs * 1000;
    } else {
        /* An HTTP date; libcurl already parses every form the RFCs allow. */
        time_t t = curl_getdate(value, &now);
        if (t == (time_t)-1)
            return -1;
        ms = t <= now ? 0 : (int64_t)(t - now) * 1000;
    }
    return ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : ms;
}
