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
/* Ways an answer is lost (mock_lost_kind 1..5: 500, 502, 504, drop, stall). */
#define MOCK_STATS_LOST_KINDS 6

typedef struct mock_stats {
    atomic_ullong requests;            /* API requests other than GET/HEAD (not /__mock/...) */
    atomic_ullong get_requests;        /* GET/HEAD on API paths: counted apart */
    atomic_ullong lookups;             /* of those, GET pymt-txn/{session_id}/ (--transactions) */
    atomic_ullong get_status[MOCK_STATUS_SLOTS];
    atomic_ullong delivered;           /* notifications delivered, one per channel */
    atomic_ullong dropped;             /* connections closed without an answer */
    atomic_ullong delayed;             /* answers waiting out --latency-ms right now */
    atomic_ullong status[MOCK_STATUS_SLOTS];
    atomic_ullong ep_requests[MOCK_EP_COUNT];
    atomic_ullong ep_ok[MOCK_EP_COUNT];
    atomic_ullong channel[3];          /* delivered per channel: sms, email, whatsapp */
    atomic_ullong ambiguous;           /* answers lost after processing (--ambiguous-rate) */
    atomic_ullong lost_kind[MOCK_STATS_LOST_KINDS];
    atomic_ullong partial;             /* requests failed by --fail-channel */
    atomic_ullong false_200;           /* 200s that confirm nothing (--false-200) */
    long long started_ms;              /* monotonic, for uptime */
} mock_stats;

void mock_stats_init(mock_stats *s, long long now_ms);
/* Zeroes the counters (not the gauge of delayed answers, which still drains). */
void mock_stats_reset(mock_stats *s);
void mock_stats_add(atomic_ullong *counter, unsigned long long n);
void mock_stats_count_status(mock_stats *s, unsigned status);
void mock_stats_count_get_status(mock_stats *s, unsigned status);
/* The stats as a JSON object (malloc'd, NUL-terminated); NULL when out of memory.
 * quota_used and quota_limit (-1 = none) come from the quota, which is not a counter. */
char *mock_stats_json(mock_stats *s, long long now_ms, long quota_used, long quota_limit, size_t *len);
/* "message", "send", "send-channel", "other". */
const char *mock_endpoint_name(mock_endpoint ep);

#endif
