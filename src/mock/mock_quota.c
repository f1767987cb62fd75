/* mock_quota — a per-UTC-day request counter with a limit, shared by every HTTP thread. */
#include "mock_quota.h"

#include "clock.h"

int mock_quota_init(mock_quota *q, long limit)
{
    q->limit = limit;
    q->day = -1;
    q->used = 0;
    return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : -1;
}

void mock_quota_destroy(mock_quota *q)
{
    pthread_mutex_destroy(&q->lock);
}

long mock_seconds_to_utc_midnight(long long now_s)
{
    /* Unix time has no leap seconds, so every UTC day is exactly 86400 of them. */
    long long into = now_s % 86400;
    if (into < 0)
        into += 86400;
    return (long)(86400 - into);
}

/* Caller holds the lock. */
static void roll(mock_quota *q, long long now_s)
{
    long long day = clock_utc_day(now_s * 1000);
    if (day != q->day) {
        q->day = day;
        q->used = 0;
    }
}

long mock_quota_take(mock_quota *q, long long now_s)
{
    long wait = 0;
    pthread_mutex_lock(&q->lock);
    roll(q, now_s);
    if (q->limit >= 0 && q->used >= q->limit)
        wait = mock_seconds_to_utc_midnight(now_s);
    else
        q->used++;
    pthread_mutex_unlock(&q->lock);
    return wait;
}

long mock_quota_used(mock_quota *q, long long now_s)
{
    pthread_mutex_lock(&q->lock);
    roll(q, now_s);
    long used = q->used;
    pthread_mutex_unlock(&q->lock);
    return used;
}

void mock_quota_reset(mock_quota *q)
{
    pthread_mutex_lock(&q->lock);
    q->used = 0;
    pthread_mutex_unlock(&q->lock);
}
