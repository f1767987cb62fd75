/* xlsxout — writes result rows to an .xlsx workbook (libxlsxwriter, constant memory):
 * typed cells that are never formulas, a "Results" sheet (continued on "Results 2" …
 * past Excel's row limit) and a "Summary" sheet written when the workbook is closed.
 * It takes the typed outcome (const job *): statuses, channels and times are formatted
 * here, at the edge, never parsed back from the CSV's text. */
#ifndef OTTU_XLSXOUT_H
#define OTTU_XLSXOUT_H

#include <stddef.h>

#include "job.h"

typedef struct xlsxout xlsxout;
typedef struct { const char *key; const char *value; } xlsxout_kv;

/* What the job's end tells the Summary sheet, as typed values. */
typedef struct xlsxout_end {
    int exit_code;                /* the job's exit status: a line saying what it means and what to do */
    unsigned shard_k, shard_n;    /* shard_n < 2: not sharded, no shard line */
    long channel_sent[3];         /* sms, email, whatsapp: as stderr counts them (summary's */
    long channel_requested[3];    /* channel_sent / channel_requested) */
    const xlsxout_kv *info;       /* other lines: input file, mode, rate, concurrency, job … */
    size_t ninfo;
} xlsxout_end;

/* Data rows per Results sheet: Excel's 1,048,576 rows minus the header row. */
#define XLSXOUT_SHEET_ROWS 1048575UL
/* Excel's limit on the text of one cell, in characters (UTF-16 code units). */
#define XLSXOUT_CELL_CHARS 32767

/* Starts a workbook at path. input: the input column names, as the result CSV writes them;
 * the result_* columns (and the finish time in the local zone) follow them. Checks at once
 * that path can be written, so a bad path fails before any work; the file itself is
 * written by xlsxout_close. NULL with a message in err on failure. */
xlsxout *xlsxout_open(const char *path, const char *const *input, size_t ninput, char *err,
                      size_t errlen);
/* One output row, in order: the ninput input cells (cells[i] has lens[i] bytes, any bytes:
 * invalid UTF-8 and characters XML cannot hold become U+FFFD), then j's outcome. Returns
 * 0, or -1 (the reason is in xlsxout_error). */
int xlsxout_row(xlsxout *x, const char *const *cells, const size_t *lens, const job *j);
/* Writes the Summary sheet (end may be NULL: counts only) and the file. Frees x. 0, or -1
 * with err; after a failed xlsxout_row the file is still written, with the rows before
 * it, and -1 returned. */
int xlsxout_close(xlsxout *x, const xlsxout_end *end, char *err, size_t errlen);
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
