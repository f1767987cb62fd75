/* preflight — the side-effect-free GET that checks URL, TLS and key before a job sends. */
#include "preflight.h"

#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

preflight_result preflight_judge(const http_result *res, const char *url, char *err, size_t errlen)
{
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
    /* An outage or the quota: the job's own probing and pauses deal with those. */
    if (res->status == 429 || res->status >= 500)
        return PREFLIGHT_GO;
    snprintf(err, errlen, "%s does not answer like the Ottu API (HTTP %d to a GET, expected 405): check "
                          "--base-url", url, res->status);
    return PREFLIGHT_REFUSED;
}

preflight_result preflight_run(http_shared *http, const char *base_url, const char *path, char *err, size_t errlen)
{
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
    preflight_result r = preflight_judge(&res, url, err, errlen);
    http_result_free(&res);
    http_client_free(client);
    return r;
}
