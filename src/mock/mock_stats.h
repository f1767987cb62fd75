/* mock_stats — ottu-mock's request counters, lock-free, rendered for GET /__mock/stats. */
#ifndef OTTU_MOCK_STATS_H
#define OTTU_MOCK_STATS_H

#include <stdatomic.h>
#include <stddef.h>

/* Where a request went; "other" is any path that is not one of the three endpoints. */
typedef enum {
    MOCK_EP_MESSAGE = 0,
    MOCK_EP_SEND,
    MOCK_EP_SEND_CHANNEL,
    MOCK_EP_OTHER,
    MOCK_EP_COUNT
} mock_endpoint;

#define MOCK_STATUS_SLOTS 600

typedef struct mock_stats {
    atomic_ullong requests;            /* API requests received (not /__mock/...) */
    atomic_ullong delivered;           /* notifications delivered, one per channel */
    atomic_ullong dropped;             /* connections closed without an answer */
    atomic_ullong delayed;             /* answers waiting out --latency-ms right now */
    atomic_ullong status[MOCK_STATUS_SLOTS];
    atomic_ullong ep_requests[MOCK_EP_COUNT];
    atomic_ullong ep_ok[MOCK_EP_COUNT];
    atomic_ullong channel[3];          /* delivered per channel: sms, email, whatsapp */
    long long started_ms;              /* monotonic, for uptime */
} mock_stats;

void mock_stats_init(mock_stats *s, long long now_ms);
/* Zeroes the counters (not the gauge of delayed answers, which still drains). */
void mock_stats_reset(mock_stats *s);
void mock_stats_add(atomic_ullong *counter, unsigned long long n);
void mock_stats_count_status(mock_stats *s, unsigned status);
/* The stats as a JSON object (malloc'd, NUL-terminated); NULL when out of memory. */
char *mock_stats_json(mock_stats *s, long long now_ms, size_t *len);
/* "message", "send", "send-channel", "other". */
const char *mock_endpoint_name(mock_endpoint ep);

#endif
