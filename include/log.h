/* log — timestamped lines on stderr ("2026-11-23T19:40:00.123Z row 12: ..."), at three
 * levels; callers pass masked identifiers only, never the key. Thread-safe. */
#ifndef OTTU_LOG_H
#define OTTU_LOG_H

#include <stddef.h>

enum { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 };

void log_set_level(int level);
/* row 0 = not about a row. Printed when level <= the configured level. */
void log_msg(int level, long row, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Masks email addresses and +phone numbers in text and replaces control characters (pure). */
size_t log_mask(const char *in, char *out, size_t size);
/* Called before a log line is written (e.g. to clear a progress line). */
void log_set_hook(void (*clear)(void));

#endif
