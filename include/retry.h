/* retry — what an attempt's answer means for the row, and how long to wait before the
 * next one (pure: plain values in, plain values out). The rule that keeps the promise
 * "at most once": retry only what proves the API did not act; an answer that may hide a
 * send is `unknown` and is not retried unless the operator asked (--retry-ambiguous). */
#ifndef OTTU_RETRY_H
#define OTTU_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http.h"

typedef enum {
    RETRY_SUCCESS, /* a 2xx that confirms ("message", or "result": "success"): sent */
    RETRY_AGAIN,   /* the API cannot have acted: not sent, 408, 429, 503 (or, with
                      --retry-ambiguous, an ambiguous answer: ambiguous is set) */
    RETRY_UNKNOWN, /* may have acted: sent then no answer, 500, 502, 504, other 5xx but
                      501/505/507, a 2xx that is no confirmation. Never retried by default */
    RETRY_FAIL,    /* definite failure: other 4xx (and 501/505/507, 1xx, 3xx), or
                      "result": "failed"; some channels may still be maybe (see below) */
    RETRY_ABORT    /* 401/403: the key is rejected; stop the job */
} retry_verdict;

typedef struct retry_decision {
    retry_verdict verdict;
    int ambiguous;   /* the API may have acted on this attempt (UNKNOWN, or AGAIN under
                        --retry-ambiguous) */
    /* This attempt's per-channel outcome (RULES_* bits, subsets of the requested ones):
     * SUCCESS: sent = all; UNKNOWN/ambiguous: maybe = all; FAIL: failed = the channels
     * the answer names (all when it names none), maybe = the others of the request;
     * AGAIN (not ambiguous) and ABORT: none. */
    unsigned sent, maybe, failed;
} retry_decision;

/* outcome/status as http_result reports them (status is read only for HTTP_ANSWERED),
 * body the answer, channels the requested ones. */
retry_decision retry_classify(http_outcome outcome, int status, const char *body, size_t len, unsigned channels,
                              int retry_ambiguous);

/* Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
 * attempt is the number of attempts made so far (>= 1); u is uniform in [0, 1). */
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double u);
/* A Retry-After value: delta seconds or an HTTP date. Returns ms to wait (capped at
 * 300 s, never negative), or -1 when the value is not understood. */
int64_t retry_after_ms(const char *value, time_t now);
/* How long the server asked us to wait, uncapped (the quota stop compares it with
 * --max-pause): Retry-After in seconds as libcurl parsed it (retry_after_s, -1 = none),
 * else the header text, else DRF's "Expected available in N seconds" in the body.
 * Returns ms, or -1 when the answer names no wait. */
int64_t retry_server_wait_ms(long long retry_after_s, const char *header, const char *body, size_t len,
                             time_t now);

#define RETRY_AFTER_CAP_MS 300000

#endif
