/* repeats — what the earlier rows of a job asked for, in input order: the same request
 * (`duplicate of row N`) and the same identifier+channel (`sms sent by row N of this
 * job`). Single-threaded: the reader's.
 *
 * Exact mode: two tables, one key per request and one per identifier+channel (about 14
 * bytes each a row). Shared mode: one table per identifier+channel holds the first row
 * and 8 bits of its request's fingerprint, and answers both; an exact table of
 * fingerprints takes only the rows that one cannot stand for (kept by --resume, or whose
 * identifier+channel came before). Shared mode is for a reader where (1) every row that
 * repeats_duplicate passes is either kept (repeats_kept) or next given to
 * repeats_requested, with the same identifier, and (2) a row whose every channel an
 * earlier row asked for is not sent (cooldown > 0): then "duplicate" from 8 matching bits
 * can only be a row that would be skipped anyway (docs/design.md). */
#ifndef OTTU_REPEATS_H
#define OTTU_REPEATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct repeats repeats;

typedef enum { REPEATS_SEEN_ONLY, REPEATS_EXACT, REPEATS_SHARED } repeats_mode;

/* SEEN_ONLY: repeats_requested answers nothing and remembers nothing. NULL: no memory. */
repeats *repeats_new(repeats_mode mode);
void repeats_free(repeats *r);
repeats_mode repeats_get_mode(const repeats *r);

/* The earliest row with the same request as this one (fp: its fingerprint; key, len: its
 * ledger identifier; channels: its RULES_* bits), or 0; -1: no memory. Exact mode
 * remembers the row here; shared mode only looks (repeats_kept or repeats_requested
 * remember it). */
long repeats_duplicate(repeats *r, uint64_t fp, const char *key, size_t len, unsigned channels, long row);
/* The row, not a duplicate, is decided here (kept by --resume). 0, or -1: no memory. */
int repeats_kept(repeats *r, uint64_t fp, long row);
/* For each of channels (bit 1 << i), the first earlier row that asked for the identifier
 * and that channel in first[i], or 0 after remembering this row for it. 0, or -1: no
 * memory. */
int repeats_requested(repeats *r, uint64_t fp, const char *key, size_t len, unsigned channels, long row,
                      long first[3]);
size_t repeats_bytes(const repeats *r);

#endif
