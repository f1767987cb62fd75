/* clock — the two clocks the tool uses and the one way it writes a time (and reads it back). */
#ifndef OTTU_CLOCK_H
#define OTTU_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_now_ms(void);  /* wall clock, ms since the epoch (UTC) */
int64_t clock_mono_ns(void); /* monotonic clock, for durations and deadlines */
/* ms since the epoch as "2026-11-23T19:40:00.123Z" (UTC); returns the length. */
size_t clock_format_iso(int64_t epoch_ms, char *buf, size_t size);
/* Reads clock_format_iso's text back; 0 when it is not one. */
int64_t clock_parse_iso(const char *s);
/* The same instant in the local zone (TZ), "2026-11-23 22:40:00 +03"; returns the length. */
size_t clock_format_local(int64_t epoch_ms, char *buf, size_t size);
/* A UTC day is exactly this long (Unix time has no leap seconds). */
#define CLOCK_DAY_MS 86400000LL
/* The UTC day of ms since the epoch: its number (days since 1970-01-01, rounded down) and
 * as "YYYY-MM-DD" (the daily budget's day). The one place the tool says what a day is. */
int64_t clock_utc_day(int64_t epoch_ms);
void clock_format_day(int64_t epoch_ms, char day[11]);

#endif
