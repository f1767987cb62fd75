/* dedupe — open-addressing set of 64-bit keys with the first row that had each (and a tag). */
#include "dedupe.h"

#include <stdlib.h>
#include <sys/mman.h>

/* 256 independent tables, chosen by the key's top byte. A table doubles while it has
 * fewer than SMALL slots, then grows by 1/16 at 92% load (growing by 1/16 from 64 slots
 * was ~30 mappings made and unmapped per table by 400 keys, 8,000 per 100k rows, each
 * unmapping a TLB shootdown that stops every thread). Past that, memory stays between 13
 * and 14 bytes a key (keys and rows in separate arrays: 8 + 4 bytes a slot, no padding; a
 * miss probes about 80 keys, 640 bytes in a row, when a table is fullest), and a growth
 * step holds old and new arrays of one table only: 1/256 of the set,
 * not all of it twice. The arrays are mapped straight from the kernel, not malloc'd:
 * growing tables would otherwise leave a trail of freed blocks in the heap that ever
 * larger requests cannot reuse (measured: +12 bytes a row).
 *
 * Within a table every key has the same top byte, so a slot keeps the key's other 56 bits
 * and, in the top byte, the tag: no bit of the key is lost. */
#define PARTS 256
#define SMALL 1024 /* slots: 12 KiB */
#define LOW 0x00ffffffffffffffULL

typedef struct part {
    uint64_t *keys; /* tag << 56 | the key's low 56 bits; 0 = empty (low bits 0 are stored as 1) */
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

static size_t slot_of(uint64_t low, size_t cap)
{
    /* multiply-shift range reduction: works for any capacity, not only powers of two */
    return (size_t)(((unsigned __int128)(low * 0x9e3779b97f4a7c15ULL) * cap) >> 64);
}

static void insert(uint64_t *keys, uint32_t *rows, size_t cap, uint64_t word, uint32_t row)
{
    size_t i = slot_of(word & LOW, cap);
    while (keys[i]) {
        i++;
        if (i == cap)
            i = 0;
    }
    keys[i] = word;
    rows[i] = row;
}

static int grow(part *p)
{
    size_t nc = !p->cap ? 64 : p->cap < SMALL ? p->cap * 2 : p->cap + p->cap / 16;
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

/* The slot holding key's low bits in p, or p->cap when there is none. */
static size_t find(const part *p, uint64_t low)
{
    if (!p->cap)
        return p->cap;
    size_t i = slot_of(low, p->cap);
    while (p->keys[i]) {
        if ((p->keys[i] & LOW) == low)
            return i;
        i++;
        if (i == p->cap)
            i = 0;
    }
    return p->cap;
}

static uint64_t low_of(uint64_t key) { return key & LOW ? key & LOW : 1; }

long dedupe_find(const dedupe *d, uint64_t key, unsigned *tag)
{
    const part *p = &d->parts[key >> 56];
    size_t i = find(p, low_of(key));
    if (i == p->cap)
        return 0;
    if (tag)
        *tag = (unsigned)(p->keys[i] >> 56);
    return (long)p->rows[i];
}

long dedupe_check_tag(dedupe *d, uint64_t key, long row, unsigned tag, unsigned *old)
{
    part *p = &d->parts[key >> 56];
    uint64_t low = low_of(key);
    size_t i = find(p, low);
    if (i < p->cap) {
        if (old)
            *old = (unsigned)(p->keys[i] >> 56);
        return (long)p->rows[i];
    }
    if ((p->count + 1) * 25 > p->cap * 23 && grow(p) < 0)
        return -1;
    insert(p->keys, p->rows, p->cap, (uint64_t)(tag & 0xff) << 56 | low, (uint32_t)row);
    p->count++;
    return 0;
}

long dedupe_check(dedupe *d, uint64_t key, long row) { return dedupe_check_tag(d, key, row, 0, NULL); }

size_t dedupe_bytes(const dedupe *d)
{
    size_t n = 0;
    for (int i = 0; i < PARTS; i++)
        n += map_size(d->parts[i].cap);
    return n;
}
