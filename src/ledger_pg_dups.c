/* ledger_pg_dups — which entries of a batch repeat a key: one statement may not touch a
 * table row twice, so of a claim batch the first entry per (identifier, channel) goes in,
 * and of a settlement batch one entry per key of each table. In one pass each (a hash set
 * of entries, ledger_keyset), not by comparing every pair. */
#include <stdint.h>
#include <string.h>

#include "ledger_backend.h"
#include "ledger_pg.h"
#include "rules.h"

/* A batch entry's key: the identifier's bytes and the channel. */
static uint64_t key_hash(const char *id, size_t len, int ch)
{
    return rules_fnv1a64(id, len) ^ (uint64_t)(ch + 1) * 0x9e3779b97f4a7c15ULL;
}

typedef struct {
    const ledger_claim_item *items;
    const centry *e;
} claim_keys;

static int claim_key_eq(const void *ctx, size_t a, size_t b)
{
    const claim_keys *c = ctx;
    const ledger_claim_item *x = &c->items[c->e[a].item], *y = &c->items[c->e[b].item];
    return c->e[a].ch == c->e[b].ch && x->idlen == y->idlen && memcmp(x->id, y->id, x->idlen) == 0;
}

/* e[k].dup for each entry whose (identifier, channel) an earlier entry has. */
int pgl_mark_claim_dups(const ledger_claim_item *items, centry *e, size_t ne)
{
    ledger_keyset ks;
    claim_keys c = {items, e};
    if (ledger_keyset_init(&ks, ne) != 0)
        return -1;
    for (size_t a = 0; a < ne; a++) {
        const ledger_claim_item *it = &items[e[a].item];
        e[a].dup = *ledger_keyset_slot(&ks, key_hash(it->id, it->idlen, e[a].ch), a, claim_key_eq, &c) != (long)a;
    }
    ledger_keyset_free(&ks);
    return 0;
}

typedef struct {
    const ledger_settlement *p;
    const char *text;
    const sentry *e;
    int row; /* the row is part of the key */
} settle_keys;

static int settle_key_eq(const void *ctx, size_t a, size_t b)
{
    const settle_keys *c = ctx;
    const ledger_settlement *x = &c->p[c->e[a].s], *y = &c->p[c->e[b].s];
    return c->e[a].ch == c->e[b].ch && x->len == y->len && memcmp(c->text + x->off, c->text + y->off, x->len) == 0 &&
           (!c->row || x->row == y->row);
}

/* One statement may not touch a table row twice, so of the entries with one key one is
 * kept, the one the rules would leave standing had each been settled in turn: in the gate
 * (identifier, channel) the newest send (of equal times, the later entry); in the history
 * (identifier, channel, row) the later entry, but never a maybe-send over a send. The
 * others get dup_gate / dup_hist. */
int pgl_mark_settle_dups(const ledger_settlement *p, const char *text, sentry *e, size_t ne)
{
    ledger_keyset gate, hist;
    settle_keys g = {p, text, e, 0}, h = {p, text, e, 1};
    if (ledger_keyset_init(&gate, ne) != 0)
        return -1;
    if (ledger_keyset_init(&hist, ne) != 0) {
        ledger_keyset_free(&gate);
        return -1;
    }
    for (size_t b = 0; b < ne; b++) {
        const ledger_settlement *q = &p[e[b].s];
        uint64_t k = key_hash(text + q->off, q->len, e[b].ch);
        long *kept = ledger_keyset_slot(&gate, k, b, settle_key_eq, &g);
        size_t a = (size_t)*kept;
        if (a != b) {
            int later_wins = p[e[b].s].at_ms >= p[e[a].s].at_ms;
            e[later_wins ? a : b].dup_gate = 1;
            if (later_wins)
                *kept = (long)b;
        }
        kept = ledger_keyset_slot(&hist, k ^ (uint64_t)q->row * 0xff51afd7ed558ccdULL, b, settle_key_eq, &h);
        a = (size_t)*kept;
        if (a != b) {
            unsigned bit = 1u << e[b].ch;
            int later_wins = !((p[e[a].s].sent & bit) && !(q->sent & bit));
            e[later_wins ? a : b].dup_hist = 1;
            if (later_wins)
                *kept = (long)b;
        }
    }
    ledger_keyset_free(&gate);
    ledger_keyset_free(&hist);
    return 0;
}
