/* mock_quota — ottu-mock's --daily-quota: requests counted per UTC day, as Ottu's API
 * limits an API user (90,000 a day), refused with the wait until the next UTC midnight. */
#ifndef OTTU_MOCK_QUOTA_H
#define OTTU_MOCK_QUOTA_H

#include <pthread.h>

typedef struct mock_quota {
    long limit;             /* requests per UTC day; -1 = no quota (still counted) */
    pthread_mutex_t lock;   /* guards day and used */
    long long day;          /* the UTC day (Unix seconds / 86400) that used counts */
    long used;
} mock_quota;

int mock_quota_init(mock_quota *q, long limit);
void mock_quota_destroy(mock_quota *q);
/* Counts one request at Unix time now_s. Returns 0 when it is allowed (and counted), else
 * the seconds until the next UTC midnight (>= 1): the request is refused, not counted. */
long mock_quota_take(mock_quota *q, long long now_s);
/* The requests counted today (a new day counts from 0). */
long mock_quota_used(mock_quota *q, long long now_s);
/* Forgets today's count: "the next day" for tests. */
void mock_quota_reset(mock_quota *q);
/* Seconds from now_s to the next UTC midnight, 1..86400. */
long mock_seconds_to_utc_midnight(long long now_s);

#endif
