/* writer — the result CSV: input columns as read, then the result_* columns, one row per
 * input row in input order. Written to PATH.partial and renamed into place when the job
 * ends, so PATH is never a half-written file. */
#ifndef OTTU_WRITER_H
#define OTTU_WRITER_H

#include <stddef.h>

#include "columns.h"
#include "job.h"

#define WRITER_RESULT_COLUMNS 7
extern const char *const writer_result_names[WRITER_RESULT_COLUMNS];

/* The cells of one output row (input columns, then result columns). */
typedef struct row_cells {
    const char **cell;
    size_t *len;
    size_t n;
    char scratch[160]; /* numbers and the timestamp */
} row_cells;

int row_cells_init(row_cells *rc, const columns *c);
void row_cells_free(row_cells *rc);
void row_cells_fill(row_cells *rc, const columns *c, const job *j);
/* The output header (input names, then result_* names). */
void row_cells_header(row_cells *rc, const columns *c);
/* Reads back the result columns of a row this writer wrote, from cell `first` on (the
 * row has at least WRITER_RESULT_COLUMNS there): --resume keeps what it says. -1 when
 * result_channels names no channel known (o->channels is then left as it was). */
int writer_result_parse(const record *row, size_t first, job_outcome *o);

typedef struct writer writer;

/* 1 when path is "-" or an existing device/FIFO: written in place, no .partial, no journal. */
int writer_is_stream(const char *path);
/* path "-" = stdout. excel: BOM, CRLF and the formula guard. */
writer *writer_open(const char *path, int excel, char *err, size_t errlen);
int writer_cells(writer *w, const row_cells *rc);
/* commit: flush and rename PATH.partial to PATH (or just flush stdout). */
int writer_close(writer *w, int commit, char *err, size_t errlen);

/* RFC 4180 quoting of one cell (pure): quotes only when needed; with excel, a leading
 * = + - @ tab or CR gets a ' first. Returns the length needed (may exceed size). */
size_t writer_quote(const char *s, size_t len, int excel, char *out, size_t size);

#endif
