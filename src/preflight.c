/* preflight — the side-effect-free GET that checks URL, TLS and key before a job sends. */
#include "preflight.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "jsonutil.h"
#include "log.h"
#include "retry.h"

preflight_result preflight_judge(const http_result *res, const char *url, int64_t max_pause_ms, time_t now,
                                 int64_t *wait_ms, char *err, size_t errlen)
{
    *wait_ms = 0;
    if (res->outcome != HTTP_ANSWERED) {
        snprintf(err, errlen, "cannot reach the API at %s: %s", url, res->error[0] ? res->error : "no answer");
        return PREFLIGHT_REFUSED;
    }
    switch (res->status) {
    case 405:
        return PREFLIGHT_GO;
    case 401:
    case 403:
        snprintf(err, errlen, "the API at %s rejected the key (HTTP %d): no notification was sent; check "
                              "the key (OTTU_API_KEY or --api-key-file)", url, res->status);
        return PREFLIGHT_KEY_REJECTED;
    case 404:
        snprintf(err, errlen, "no Ottu API at %s (HTTP 404): check --base-url (e.g. https://MERCHANT.ottu.net)",
                 url);
        return PREFLIGHT_REFUSED;
    default:
        break;
    }
    /* The day's quota already spent (DRF throttles before it checks the method): stop as
     * the job would at its first row, without sending it. A shorter wait, or an outage:
     * the job's own pauses and probing deal with those. */
    if (res->status == 429) {
        int64_t w = retry_server_wait_ms(res->retry_after_s, res->retry_after, res->body, res->bodylen, now);
        if (w > max_pause_ms) {
            char at[40];
            *wait_ms = w;
            clock_format_iso((int64_t)now * 1000 + w, at, sizeof at);
            snprintf(err, errlen, "the API's quota is exhausted (HTTP 429 to the preflight, available again in "
                                  "%lld s, at %s): no notification was sent; --resume continues",
                     (long long)(w / 1000), at);
            return PREFLIGHT_QUOTA;
        }
        return PREFLIGHT_GO;
    }
    if (res->status >= 500)
        return PREFLIGHT_GO;
    snprintf(err, errlen, "%s does not answer like the Ottu API (HTTP %d to a GET, expected 405): check "
                          "--base-url", url, res->status);
    return PREFLIGHT_REFUSED;
}

preflight_result preflight_run(http_shared *http, const char *base_url, const char *path, int64_t max_pause_ms,
                               int64_t *wait_ms, char *err, size_t errlen)
{
    *wait_ms = 0;
    http_client *client = http_client_new(http);
    if (!client) {
        snprintf(err, errlen, "cannot create an HTTP client");
        return PREFLIGHT_REFUSED;
    }
    http_result res = {0};
    http_get(client, path, &res);
    char url[512];
    size_t n = strlen(base_url);
    snprintf(url, sizeof url, "%.*s%s", (int)(n && base_url[n - 1] == '/' ? n - 1 : n), base_url, path);
    preflight_result r = preflight_judge(&res, url, max_pause_ms, time(NULL), wait_ms, err, errlen);
    http_result_free(&res);
    http_client_free(client);
    return r;
}

int preflight_start(http_shared *http, budget *bud, stop *st, const char *base_url, const char *path,
                    int64_t max_pause_ms, char *err, size_t errlen)
{
    if (bud) {
        char msg[512];
        int ok = budget_take(bud, msg, sizeof msg);
        if (ok < 0) {
            snprintf(err, errlen, "ledger: %s", msg);
            return -1;
        }
        if (ok == 0) {
            static const char spent[] = "today's --daily-budget is spent: no request was made; --resume continues "
                                        "tomorrow (UTC), or raise --daily-budget";
            stop_request(st, STOP_BUDGET, 0, spent);
            log_msg(LOG_QUIET, 0, "%s", spent);
            return 0;
        }
    }
    char msg[768];
    int64_t wait_ms = 0;
    switch (preflight_run(http, base_url, path, max_pause_ms, &wait_ms, msg, sizeof msg)) {
    case PREFLIGHT_GO:
        return 0;
    case PREFLIGHT_QUOTA:
        stop_request(st, STOP_QUOTA, clock_now_ms() + wait_ms, msg);
        log_msg(LOG_QUIET, 0, "%s", msg);
        return 0;
    case PREFLIGHT_KEY_REJECTED:
        stop_request(st, STOP_KEY_REJECTED, 0, msg);
        log_msg(LOG_QUIET, 0, "%s", msg);
        return 0;
    case PREFLIGHT_REFUSED:
        break;
    }
    snprintf(err, errlen, "%s", msg);
    return -1;
}
