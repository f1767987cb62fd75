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

int ledger_keyset_init(ledger_keyset *s, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    s->mask = cap - 1;
    if (!(s->slot = malloc(cap * sizeof *s->slot)))
        return -1;
    for (size_t k = 0; k < cap; k++)
        s->slot[k] = -1;
    return 0;
}

void ledger_keyset_free(ledger_keyset *s)
{
    free(s->slot);
    s->slot = NULL;
}

long *ledger_keyset_slot(ledger_keyset *s, uint64_t hash, size_t i, ledger_key_eq eq, const void *ctx)
{
    for (size_t k = hash & s->mask;; k = (k + 1) & s->mask) {
        if (s->slot[k] < 0) {
            s->slot[k] = (long)i;
            return &s->slot[k];
        }
        if (eq(ctx, (size_t)s->slot[k], i))
            return &s->slot[k];
    }
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
