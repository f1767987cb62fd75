/* dedupe — remembers 64-bit keys (a request's fingerprint, an identifier+channel) and the
 * first row that had each, with an 8-bit tag beside it for free: 12 bytes a slot, not the
 * row. Single-threaded: only the reader uses it, in input order, so "first" is exact. */
#ifndef OTTU_DEDUPE_H
#define OTTU_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dedupe dedupe;

dedupe *dedupe_new(void);
void dedupe_free(dedupe *d);
/* Returns the row that first had key, or 0 after remembering key for row (-1: no memory). */
long dedupe_check(dedupe *d, uint64_t key, long row);
/* As dedupe_check, remembering tag (0..255) with a new key; *old gets the tag stored with
 * the key when it was there already. */
long dedupe_check_tag(dedupe *d, uint64_t key, long row, unsigned tag, unsigned *old);
/* The row that first had key and its tag (*tag), or 0 when key is not there (remembers
 * nothing). */
long dedupe_find(const dedupe *d, uint64_t key, unsigned *tag);
size_t dedupe_bytes(const dedupe *d);

#endif
