/* units — reading the quantities operators type: durations ("90m", "1d12h"). */
#ifndef OTTU_UNITS_H
#define OTTU_UNITS_H

#include <stdint.h>

/* Parses a duration: a non-negative integer with a unit, ms s m h d w (any case), units
 * may be combined ("1h30m", "1d12h"). "0" alone means zero; any other number without a
 * unit is refused, because "24" is as likely to mean hours as seconds. Returns 0 with
 * *ms, or -1. */
int units_parse_duration(const char *s, int64_t *ms);

#endif
