/* ledger_backend — the helpers every ledger store shares (ledger_backend.h): below both
 * ledger.c and the stores, so neither calls up into the other's file. */
#include "ledger_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ledger_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int ledger_is_pg(const char *spec)
{
    return strncmp(spec, "postgresql://", 13) == 0 || strncmp(spec, "postgres://", 11) == 0;
}

int ledger_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 64;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    void *p = realloc(*buf, n * elem);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}
