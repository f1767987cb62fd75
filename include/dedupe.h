/* dedupe — remembers the fingerprint of every request sent in a job (12 bytes a row, not
 * the row) and answers "which earlier row sent exactly this?". Single-threaded: only the
 * reader uses it, in input order, so "earlier" is exact. */
#ifndef OTTU_DEDUPE_H
#define OTTU_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dedupe dedupe;

dedupe *dedupe_new(void);
void dedupe_free(dedupe *d);
/* Returns the row that first had fp, or 0 after remembering fp for row (-1: no memory). */
long dedupe_check(dedupe *d, uint64_t fp, long row);
size_t dedupe_bytes(const dedupe *d);

#endif
