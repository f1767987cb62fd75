/* clock — wall and monotonic time, ISO 8601 formatting, the UTC day. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Splits ms into whole seconds and a non-negative millisecond part (times before 1970). */
static time_t split_ms(int64_t ms, int *frac)
{
    int64_t secs = ms / 1000, f = ms % 1000;
    if (f < 0) {
        f += 1000;
        secs--;
    }
    *frac = (int)f;
    return (time_t)secs;
}

size_t clock_format_iso(int64_t ms, char *buf, size_t size)
{
    int frac;
    time_t t = split_ms(ms, &frac);
    struct tm tm;
    if (size == 0)
        return 0;
    if (!gmtime_r(&t, &tm)) {
        buf[0] = '\0';
        return 0;
    }
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

int64_t clock_parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

size_t clock_format_local(int64_t ms, char *buf, size_t size)
{
    int frac;
    time_t t = split_ms(ms, &frac);
    struct tm tm;
    if (size == 0)
        return 0;
    if (!localtime_r(&t, &tm)) {
        buf[0] = '\0';
        return 0;
    }
    size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm);
    if (n == 0)
        buf[0] = '\0';
    return n;
}

int64_t clock_utc_day(int64_t ms)
{
    return ms >= 0 ? ms / CLOCK_DAY_MS : (ms - (CLOCK_DAY_MS - 1)) / CLOCK_DAY_MS;
}

void clock_format_day(int64_t ms, char day[11])
{
    time_t t = (time_t)(clock_utc_day(ms) * (CLOCK_DAY_MS / 1000));
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(day, 11, "%Y-%m-%d", &tm) == 0)
        day[0] = '\0';
}
