/* retry — what to do with an attempt's answer, and how long to wait before the next
 * one (pure: plain values in, plain values out). */
#ifndef OTTU_RETRY_H
#define OTTU_RETRY_H

#include <stdint.h>
#include <time.h>

typedef enum {
    RETRY_SUCCESS,  /* 2xx: sent */
    RETRY_AGAIN,    /* transient: connection error, time-out, 408, 429, 500, 502, 503, 504 */
    RETRY_FAIL,     /* permanent: other 4xx/5xx, not retried */
    RETRY_ABORT     /* 401/403: the key is rejected; stop the job */
} retry_verdict;

/* http_status 0 = no answer (transport_error says why). */
retry_verdict retry_classify(int http_status, int transport_error);
/* Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
 * attempt is the number of attempts made so far (>= 1); u is uniform in [0, 1). */
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double u);
/* A Retry-After value: delta seconds or an HTTP date. Returns ms to wait (capped at
 * 300 s, never negative), or -1 when the value is not understood. */
int64_t retry_after_ms(const char *value, time_t now);

#define RETRY_AFTER_CAP_MS 300000

#endif
