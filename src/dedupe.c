/* dedupe — open-addressing set of request fingerprints with the row that sent each. */
#include "dedupe.h"

#include <stdlib.h>

/* Keys and rows live in separate arrays (8 + 4 bytes a slot, no padding); the table
 * grows by 1.25x at 90% load, so memory stays between 13 and 17 bytes a row: a million
 * rows cost about 15 MB. Linear probing stays cheap at that load (a few cache lines). */
struct dedupe {
    uint64_t *keys;  /* 0 = empty (a real fingerprint of 0 is stored as 1) */
    uint32_t *rows;
    size_t cap, count;
};

dedupe *dedupe_new(void) { return calloc(1, sizeof(dedupe)); }

void dedupe_free(dedupe *d)
{
    if (!d)
        return;
    free(d->keys);
    free(d->rows);
    free(d);
}

static size_t slot_of(uint64_t key, size_t cap)
{
    /* multiply-shift range reduction: works for any capacity, not only powers of two */
    return (size_t)(((unsigned __int128)(key * 0x9e3779b97f4a7c15ULL) * cap) >> 64);
}

static void insert(uint64_t *keys, uint32_t *rows, size_t cap, uint64_t key, uint32_t row)
{
    size_t i = slot_of(key, cap);
    while (keys[i]) {
        i++;
        if (i == cap)
            i = 0;
    }
    keys[i] = key;
    rows[i] = row;
}

static int grow(dedupe *d)
{
    size_t nc = d->cap ? d->cap + d->cap / 4 : 1024;
    uint64_t *k = calloc(nc, sizeof *k);
    uint32_t *r = malloc(nc * sizeof *r);
    if (!k || !r) {
        free(k);
        free(r);
        return -1;
    }
    for (size_t i = 0; i < d->cap; i++)
        if (d->keys[i])
            insert(k, r, nc, d->keys[i], d->rows[i]);
    free(d->keys);
    free(d->rows);
    d->keys = k;
    d->rows = r;
    d->cap = nc;
    return 0;
}

long dedupe_check(dedupe *d, uint64_t fp, long row)
{
    if (!fp)
        fp = 1;
    if (d->cap) {
        size_t i = slot_of(fp, d->cap);
        while (d->keys[i]) {
            if (d->keys[i] == fp)
                return (long)d->rows[i];
            i++;
            if (i == d->cap)
                i = 0;
        }
    }
    if ((d->count + 1) * 10 > d->cap * 9 && grow(d) < 0)
        return -1;
    insert(d->keys, d->rows, d->cap, fp, (uint32_t)row);
    d->count++;
    return 0;
}

size_t dedupe_bytes(const dedupe *d) { return d->cap * (sizeof(uint64_t) + sizeof(uint32_t)); }
