/* record — one CSV record as the reader returns it and the stages pass it on. */
#ifndef OTTU_RECORD_H
#define OTTU_RECORD_H

#include <stddef.h>

/* One record: the fields' bytes back to back (each NUL-terminated for convenience). */
typedef struct record {
    char *data;
    size_t len, cap;
    size_t *off, *flen; /* field i is data + off[i], flen[i] bytes */
    size_t n, ncap;
    long rowno;         /* 0 for the header, then 1, 2, ... */
    int malformed;      /* the CSV syntax of this record was broken */
    char problem[200];  /* what was broken, when malformed */
} record;

void record_init(record *r);
void record_free(record *r);
void record_clear(record *r);
int record_push(record *r, const char *s, size_t len);
static inline const char *record_field(const record *r, size_t i) { return r->data + r->off[i]; }
/* Copies src into dst (dst keeps its buffers). */
int record_copy(record *dst, const record *src);

#endif
