/* units — durations as operators write them. */
#include "units.h"

#include <string.h>
#include <strings.h>

int units_parse_duration(const char *s, int64_t *ms)
{
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    while (*p) {
        int64_t v = 0, mult;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (strncasecmp(p, "ms", 2) == 0) {
            mult = 1;
            p += 2;
        } else {
            switch (*p) {
            case 's': case 'S': mult = 1000; break;
            case 'm': case 'M': mult = 60 * 1000; break;
            case 'h': case 'H': mult = 3600 * 1000; break;
            case 'd': case 'D': mult = 86400 * 1000; break;
            case 'w': case 'W': mult = 7LL * 86400 * 1000; break;
            default: return -1; /* no unit, or an unknown one */
            }
            p++;
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult)
            return -1;
        total += v * mult;
    }
    *ms = total;
    return 0;
}
