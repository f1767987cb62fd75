/* xlsxout — writes result rows to an .xlsx workbook (libxlsxwriter, constant memory):
 * typed cells that are never formulas, a "Results" sheet (continued on "Results 2" …
 * past Excel's row limit) and a "Summary" sheet written when the workbook is closed. */
#ifndef OTTU_XLSXOUT_H
#define OTTU_XLSXOUT_H

#include <stddef.h>

typedef struct xlsxout xlsxout;
typedef struct { const char *key; const char *value; } xlsxout_kv;

/* Data rows per Results sheet: Excel's 1,048,576 rows minus the header row. */
#define XLSXOUT_SHEET_ROWS 1048575UL
/* Excel's limit on the text of one cell, in characters (UTF-16 code units). */
#define XLSXOUT_CELL_CHARS 32767

/* Starts a workbook at path. header: all output column names (input columns, then the
 * result_* columns, which are recognised by name). Checks at once that path can be
 * written, so a bad path fails before any work; the file itself is written by
 * xlsxout_close. NULL with a message in err on failure. */
xlsxout *xlsxout_open(const char *path, const char *const *header, size_t ncols, char *err,
                      size_t errlen);
/* One output row, in order: ncols cells (cells[i] has lens[i] bytes, any bytes: invalid
 * UTF-8 and characters XML cannot hold become U+FFFD). Returns 0, or -1 (the reason is in
 * xlsxout_error). */
int xlsxout_row(xlsxout *x, const char *const *cells, const size_t *lens);
/* Writes the Summary sheet (the info pairs, e.g. input file, mode, rate, concurrency,
 * then counts from the rows seen) and the file. Frees x. 0, or -1 with err; after a failed
 * xlsxout_row the file is still written, with the rows before it, and -1 returned. */
int xlsxout_close(xlsxout *x, const xlsxout_kv *info, size_t ninfo, char *err, size_t errlen);
/* Frees x without writing the file (a job that stopped before it started). */
void xlsxout_discard(xlsxout *x);
/* Why the latest failed call failed ("" while none has). */
const char *xlsxout_error(const xlsxout *x);
/* For tests: data rows per sheet before continuing on "Results 2" (default
 * XLSXOUT_SHEET_ROWS; clamped to 1..XLSXOUT_SHEET_ROWS). */
void xlsxout_set_sheet_limit(xlsxout *x, unsigned long rows);
/* Called with a message when a new Results sheet is started or a cell is first
 * truncated; fn may be NULL to stay silent (default: the message on stderr). */
void xlsxout_set_notice(xlsxout *x, void (*fn)(void *ctx, const char *msg), void *ctx);

#endif
