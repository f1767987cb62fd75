/* request_internal — what request.c and request_attach.c share: private to them. */
#ifndef OTTU_REQUEST_INTERNAL_H
#define OTTU_REQUEST_INTERNAL_H

#include <stddef.h>

#include "request.h"

/* A list cell's items as add_list / attachments walk them (request_each_item's ctx). */
struct list_ctx {
    cJSON *arr;
    int emails;         /* validate each item as an email address */
    request *r;
    const char *what;
    const char *attach_dir;
};

/* Marks r invalid with detail fmt; returns 1 (the "row is invalid" result). */
int request_invalid(request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The trimmed cell of a role, or "" when the column is absent (identifiers lose every
 * Unicode space at their ends, as the API strips them). */
const char *request_cell(const columns *c, const record *rec, col_role role, size_t *len);
/* Splits a list cell on ';' or ',' into trimmed, non-empty items; calls fn for each and
 * stops at the first non-zero result, which it returns. */
int request_each_item(const char *s, size_t len, int (*fn)(void *, const char *, size_t), void *ctx);

#endif
