/* preflight — one GET on the job's endpoint before the first notification request. Ottu's
 * framework authenticates (and throttles) before it checks the method, so the answer
 * tells a wrong host, a wrong base URL and a wrong key apart without sending anything. */
#ifndef OTTU_PREFLIGHT_H
#define OTTU_PREFLIGHT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "budget.h"
#include "http.h"
#include "stop.h"

typedef enum {
    PREFLIGHT_GO = 0,         /* 405: the API is there and takes the key */
    PREFLIGHT_KEY_REJECTED,   /* 401/403: exit 3, no notification request made */
    PREFLIGHT_REFUSED,        /* not the API, or unreachable: exit 2; err says why */
    PREFLIGHT_QUOTA           /* 429 asking for longer than --max-pause: the day's quota is
                                 spent; exit 4 before any notification request */
} preflight_result;

/* What an answer to the preflight GET means (pure; now reads an HTTP-date Retry-After).
 * err gets the message for the operator (host and reason), never the key. For
 * PREFLIGHT_QUOTA, *wait_ms is how long the API asks to wait. */
preflight_result preflight_judge(const http_result *res, const char *url, int64_t max_pause_ms, time_t now,
                                 int64_t *wait_ms, char *err, size_t errlen);
/* Sends the GET on base URL + path and judges it. */
preflight_result preflight_run(http_shared *http, const char *base_url, const char *path, int64_t max_pause_ms,
                               int64_t *wait_ms, char *err, size_t errlen);

/* The job's policy before its first row (contract: Sending): one request of the budget
 * (bud may be NULL), then the GET. Returns 0 to go on — a spent budget, a rejected key or
 * a spent quota has then stopped the job (st; said once), so every row becomes
 * not_attempted and the exit status says why — or -1 with err: exit 2, nothing sent. */
int preflight_start(http_shared *http, budget *bud, stop *st, const char *base_url, const char *path,
                    int64_t max_pause_ms, char *err, size_t errlen);

#endif
