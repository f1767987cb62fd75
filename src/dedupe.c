/* dedupe — open-addressing set of request fingerprints with the row that sent each. */
#include "dedupe.h"

#include <stdlib.h>
#include <sys/mman.h>

/* 256 independent tables, chosen by the fingerprint's top byte. Each grows by 1.25x at
 * 90% load, so memory stays between 13 and 17 bytes a row (keys and rows in separate
 * arrays: 8 + 4 bytes a slot, no padding), and a growth step holds old and new arrays of
 * one table only: 1/256 of the set, not all of it twice. The arrays are mapped straight
 * from the kernel, not malloc'd: growing tables would otherwise leave a trail of freed
 * blocks in the heap that ever larger requests cannot reuse (measured: +12 bytes a row). */
#define PARTS 256

typedef struct part {
    uint64_t *keys; /* 0 = empty (a real fingerprint of 0 is stored as 1) */
    uint32_t *rows; /* in the same mapping, after the keys */
    size_t cap, count;
} part;

static size_t map_size(size_t cap) { return cap * (sizeof(uint64_t) + sizeof(uint32_t)); }

struct dedupe {
    part parts[PARTS];
};

dedupe *dedupe_new(void) { return calloc(1, sizeof(dedupe)); }

void dedupe_free(dedupe *d)
{
    if (!d)
        return;
    for (int i = 0; i < PARTS; i++)
        if (d->parts[i].keys)
            munmap(d->parts[i].keys, map_size(d->parts[i].cap));
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

static int grow(part *p)
{
    size_t nc = p->cap ? p->cap + p->cap / 4 : 64;
    void *m = mmap(NULL, map_size(nc), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    uint64_t *k = m; /* zero-filled by the kernel */
    uint32_t *r = (uint32_t *)(k + nc);
    for (size_t i = 0; i < p->cap; i++)
        if (p->keys[i])
            insert(k, r, nc, p->keys[i], p->rows[i]);
    if (p->keys)
        munmap(p->keys, map_size(p->cap));
    p->keys = k;
    p->rows = r;
    p->cap = nc;
    return 0;
}

long dedupe_check(dedupe *d, uint64_t fp, long row)
{
    if (!fp)
        fp = 1;
    part *p = &d->parts[fp >> 56];
    if (p->cap) {
        size_t i = slot_of(fp, p->cap);
        while (p->keys[i]) {
            if (p->keys[i] == fp)
                return (long)p->rows[i];
            i++;
            if (i == p->cap)
                i = 0;
        }
    }
    if ((p->count + 1) * 10 > p->cap * 9 && grow(p) < 0)
        return -1;
    insert(p->keys, p->rows, p->cap, fp, (uint32_t)row);
    p->count++;
    return 0;
}

size_t dedupe_bytes(const dedupe *d)
{
    size_t n = 0;
    for (int i = 0; i < PARTS; i++)
        n += d->parts[i].cap * (sizeof(uint64_t) + sizeof(uint32_t));
    return n;
}
