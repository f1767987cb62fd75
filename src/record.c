/* record — one CSV record: its fields' bytes back to back in one growing buffer. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

void record_init(record *r) { memset(r, 0, sizeof *r); }

void record_free(record *r)
{
    free(r->data);
    free(r->off);
    free(r->flen);
    record_init(r);
}

void record_clear(record *r)
{
    r->len = 0;
    r->n = 0;
    r->malformed = 0;
    r->problem[0] = '\0';
}

int record_push(record *r, const char *s, size_t len)
{
    if (r->n == r->ncap) {
        size_t nc = r->ncap ? r->ncap * 2 : 16;
        size_t *o = realloc(r->off, nc * sizeof *o);
        if (!o)
            return -1;
        r->off = o;
        size_t *l = realloc(r->flen, nc * sizeof *l);
        if (!l)
            return -1;
        r->flen = l;
        r->ncap = nc;
    }
    if (r->len + len + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 256;
        while (nc < r->len + len + 1)
            nc *= 2;
        char *d = realloc(r->data, nc);
        if (!d)
            return -1;
        r->data = d;
        r->cap = nc;
    }
    if (len)
        memcpy(r->data + r->len, s, len);
    r->off[r->n] = r->len;
    r->flen[r->n] = len;
    r->len += len;
    r->data[r->len++] = '\0';
    r->n++;
    return 0;
}

int record_copy(record *dst, const record *src)
{
    record_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        if (record_push(dst, record_field(src, i), src->flen[i]) < 0)
            return -1;
    }
    dst->rowno = src->rowno;
    dst->malformed = src->malformed;
    memcpy(dst->problem, src->problem, sizeof dst->problem);
    return 0;
}
