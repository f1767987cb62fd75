/* mock_stats — counters updated by every HTTP thread; atomics so no lock is shared. */
#include "mock_stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const endpoint_names[MOCK_EP_COUNT] = {"message", "send", "send-channel", "other"};

const char *mock_endpoint_name(mock_endpoint ep)
{
    return (ep >= 0 && ep < MOCK_EP_COUNT) ? endpoint_names[ep] : "other";
}

static void zero(atomic_ullong *c)
{
    atomic_store_explicit(c, 0, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void mock_stats_reset(mock_stats *s)
{
    zero(&s->requests);
    zero(&s->get_requests);
    zero(&s->lookups);
    zero(&s->delivered);
    zero(&s->dropped);
    zero(&s->ambiguous);
    zero(&s->partial);
    zero(&s->false_200);
    for (int i = 0; i < MOCK_STATS_LOST_KINDS; i++)
        zero(&s->lost_kind[i]);
    for (int i = 0; i < MOCK_STATUS_SLOTS; i++) {
        zero(&s->status[i]);
        zero(&s->get_status[i]);
    }
    for (int i = 0; i < MOCK_EP_COUNT; i++) {
        zero(&s->ep_requests[i]);
        zero(&s->ep_ok[i]);
    }
    for (int i = 0; i < 3; i++)
        zero(&s->channel[i]);
}

void mock_stats_init(mock_stats *s, long long now_ms)
{
    atomic_init(&s->requests, 0);
    atomic_init(&s->get_requests, 0);
    atomic_init(&s->lookups, 0);
    atomic_init(&s->delivered, 0);
    atomic_init(&s->dropped, 0);
    atomic_init(&s->delayed, 0);
    atomic_init(&s->ambiguous, 0);
    atomic_init(&s->partial, 0);
    atomic_init(&s->false_200, 0);
    for (int i = 0; i < MOCK_STATS_LOST_KINDS; i++)
        atomic_init(&s->lost_kind[i], 0);
    for (int i = 0; i < MOCK_STATUS_SLOTS; i++) {
        atomic_init(&s->status[i], 0);
        atomic_init(&s->get_status[i], 0);
    }
    for (int i = 0; i < MOCK_EP_COUNT; i++) {
        atomic_init(&s->ep_requests[i], 0);
        atomic_init(&s->ep_ok[i], 0);
    }
    for (int i = 0; i < 3; i++)
        atomic_init(&s->channel[i], 0);
    s->started_ms = now_ms;
}

void mock_stats_add(atomic_ullong *counter, unsigned long long n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void mock_stats_count_status(mock_stats *s, unsigned status)
{
    if (status < MOCK_STATUS_SLOTS)
        mock_stats_add(&s->status[status], 1);
}

void mock_stats_count_get_status(mock_stats *s, unsigned status)
{
    if (status < MOCK_STATUS_SLOTS)
        mock_stats_add(&s->get_status[status], 1);
}

/* Appends to a fixed buffer; the stats are a few hundred bytes, and mock_stats_json
 * refuses a result that did not fit rather than sending truncated JSON. */
__attribute__((format(printf, 4, 5)))
static void put(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
    va_list ap;
    if (*o >= size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, size - *o, fmt, ap);
    va_end(ap);
    if (n > 0)
        *o += (size_t)n;
}

/* "name": {"code": n, ...} with the non-zero slots. */
static void put_statuses(char *buf, size_t size, size_t *o, const char *name, atomic_ullong *slots)
{
    int first = 1;
    put(buf, size, o, ", \"%s\": {", name);
    for (unsigned i = 0; i < MOCK_STATUS_SLOTS; i++) {
        unsigned long long n = get(&slots[i]);
        if (!n)
            continue;
        put(buf, size, o, "%s\"%u\": %llu", first ? "" : ", ", i, n);
        first = 0;
    }
    put(buf, size, o, "}");
}

char *mock_stats_json(mock_stats *s, long long now_ms, long quota_used, long quota_limit, size_t *len)
{
    /* 2 x 600 statuses * ~16 bytes worst case plus the rest stays well below this. */
    const size_t size = 32768;
    static const char *const lost[MOCK_STATS_LOST_KINDS] = {"", "500", "502", "504", "drop", "stall"};
    char *buf = malloc(size);
    size_t o = 0;
    if (!buf)
        return NULL;
    put(buf, size, &o, "{\"requests\": %llu", get(&s->requests));
    put(buf, size, &o, ", \"delivered\": %llu", get(&s->delivered));
    put(buf, size, &o, ", \"dropped\": %llu", get(&s->dropped));
    put(buf, size, &o, ", \"delayed_now\": %llu", get(&s->delayed));
    put(buf, size, &o, ", \"uptime_ms\": %llu",
        (unsigned long long)(now_ms > s->started_ms ? now_ms - s->started_ms : 0));
    put_statuses(buf, size, &o, "status", s->status);
    put(buf, size, &o, ", \"get_requests\": %llu", get(&s->get_requests));
    put(buf, size, &o, ", \"lookups\": %llu", get(&s->lookups));
    put_statuses(buf, size, &o, "get_status", s->get_status);
    put(buf, size, &o, ", \"ambiguous\": %llu, \"ambiguous_kinds\": {", get(&s->ambiguous));
    for (int i = 1; i < MOCK_STATS_LOST_KINDS; i++)
        put(buf, size, &o, "%s\"%s\": %llu", i > 1 ? ", " : "", lost[i], get(&s->lost_kind[i]));
    put(buf, size, &o, "}, \"partial\": %llu", get(&s->partial));
    put(buf, size, &o, ", \"false_200\": %llu", get(&s->false_200));
    put(buf, size, &o, ", \"quota_used\": %ld", quota_used);
    if (quota_limit >= 0)
        put(buf, size, &o, ", \"quota_limit\": %ld", quota_limit);
    else
        put(buf, size, &o, ", \"quota_limit\": null");
    put(buf, size, &o, ", \"endpoints\": {");
    for (int i = 0; i < MOCK_EP_COUNT; i++) {
        put(buf, size, &o, "%s\"%s\": {\"requests\": %llu, \"ok\": %llu}", i ? ", " : "",
            endpoint_names[i], get(&s->ep_requests[i]), get(&s->ep_ok[i]));
    }
    put(buf, size, &o, "}, \"channels\": {\"sms\": %llu", get(&s->channel[0]));
    put(buf, size, &o, ", \"email\": %llu", get(&s->channel[1]));
    put(buf, size, &o, ", \"whatsapp\": %llu}}", get(&s->channel[2]));
    if (o >= size) {
        free(buf);
        return NULL;
    }
    *len = o;
    return buf;
}
