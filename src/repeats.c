/* repeats — duplicates and identifier+channel repeats within a job, in one table where the
 * reader allows it (include/repeats.h). */
#include "repeats.h"

#include <stdlib.h>

#include "dedupe.h"
#include "rules.h"

struct repeats {
    repeats_mode mode;
    dedupe *seen;      /* fingerprint → first row: every row (exact), rows apart (shared) */
    dedupe *requested; /* identifier+channel → first row, tagged (shared) with its fingerprint */
};

repeats *repeats_new(repeats_mode mode)
{
    repeats *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mode = mode;
    r->seen = dedupe_new();
    r->requested = mode != REPEATS_SEEN_ONLY ? dedupe_new() : NULL;
    if (!r->seen || (mode != REPEATS_SEEN_ONLY && !r->requested)) {
        repeats_free(r);
        return NULL;
    }
    return r;
}

void repeats_free(repeats *r)
{
    if (!r)
        return;
    dedupe_free(r->seen);
    dedupe_free(r->requested);
    free(r);
}

repeats_mode repeats_get_mode(const repeats *r) { return r->mode; }

/* The fingerprint's bits a shared slot keeps: the top byte (FNV-1a mixes every input byte
 * into it; its low byte hangs on the inputs' low bits only). */
static unsigned tag_of(uint64_t fp) { return (unsigned)(fp >> 56); }

static uint64_t channel_key(uint64_t ident, unsigned bit)
{
    unsigned char b = (unsigned char)bit;
    return rules_fnv1a64_update(ident, &b, 1);
}

long repeats_duplicate(repeats *r, uint64_t fp, const char *key, size_t len, unsigned channels, long row)
{
    if (r->mode != REPEATS_SHARED)
        return dedupe_check(r->seen, fp, row);
    long first = dedupe_find(r->seen, fp, NULL);
    if (first)
        return first;
    /* The same request has the same identifier and channels. An earlier row stands for it
     * when it was first for every one of them, its tag the same: the first row with this
     * fingerprint (a later one would have gone to seen), or one with another request whose
     * top byte matches — then it asked for all these channels, and this row would be
     * skipped anyway. */
    uint64_t ident = rules_fnv1a64(key, len);
    for (unsigned bit = 1; bit <= 4; bit <<= 1) {
        if (!(channels & bit))
            continue;
        unsigned tag = 0;
        long at = dedupe_find(r->requested, channel_key(ident, bit), &tag);
        if (!at || tag != tag_of(fp) || (first && at != first))
            return 0;
        first = at;
    }
    return first;
}

int repeats_kept(repeats *r, uint64_t fp, long row)
{
    if (r->mode != REPEATS_SHARED)
        return 0; /* remembered by repeats_duplicate */
    return dedupe_check(r->seen, fp, row) < 0 ? -1 : 0;
}

int repeats_requested(repeats *r, uint64_t fp, const char *key, size_t len, unsigned channels, long row,
                      long first[3])
{
    first[0] = first[1] = first[2] = 0;
    if (r->mode == REPEATS_SEEN_ONLY)
        return 0;
    uint64_t ident = rules_fnv1a64(key, len);
    int after = 0;
    for (int i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        if (!(channels & bit))
            continue;
        first[i] = dedupe_check_tag(r->requested, channel_key(ident, bit), row, tag_of(fp), NULL);
        if (first[i] < 0)
            return -1;
        after |= first[i] > 0;
    }
    /* Not first for every channel: the table above cannot stand for this row's request. */
    if (r->mode == REPEATS_SHARED && after && dedupe_check(r->seen, fp, row) < 0)
        return -1;
    return 0;
}

size_t repeats_bytes(const repeats *r)
{
    return dedupe_bytes(r->seen) + (r->requested ? dedupe_bytes(r->requested) : 0);
}
