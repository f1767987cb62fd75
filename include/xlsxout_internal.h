/* xlsxout_internal — the workbook writer's state and its cell writers (xlsxcell.c), shared
 * by xlsxout.c (the Results sheets) and xlsxsummary.c (the Summary sheet). Not for other
 * modules. */
#ifndef OTTU_XLSXOUT_INTERNAL_H
#define OTTU_XLSXOUT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <xlsxwriter.h>

#include "job.h"
#include "xlsxout.h"

enum { ST_NONE, ST_GOOD, ST_BAD, ST_WARN, ST_GREY };

struct xlsxout {
    lxw_workbook *wb;
    lxw_worksheet **sheets;       /* Results, Results 2, … */
    unsigned long *sheet_rows;    /* data rows written on each */
    size_t nsheets;
    char **header;                /* input columns, result columns, the local time */
    size_t ninput, ncols;
    double *width;
    lxw_format *f_header, *f_datetime, *f_local, *f_bold, *f_wrap, *f_status[5];
    lxw_format *f_left, *f_top, *f_dt_left; /* Summary: numbers and times under their headings */
    lxw_format *f_amount[4];      /* #,##0 with 0..3 decimals, as the cell had them */
    unsigned char *amount;        /* per input column: an amount-like name, numbers written as numbers */
    unsigned long limit;
    unsigned long rows;
    unsigned long truncated, replaced;
    unsigned long status[RS_COUNT];
    unsigned long http[600], http_none, http_other;
    int64_t first_ms, last_ms;    /* result_finished_at range, 0 = none yet */
    char *buf;
    size_t bufcap;
    char *tmpdir;
    char *path, *partial;         /* partial: the file being written, renamed to path at the end */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
    char err[256];
};

/* The colour of a status (ST_*). */
int xlsx_status_kind(row_status s);
/* A text cell: sanitised (well-formed UTF-8, Excel's escapes, its length limit); an empty
 * text leaves the cell blank. ti (may be NULL) tells what was cut or replaced. 0, or -1
 * with x->err. */
typedef struct text_info {
    int truncated, replaced;
    double width; /* characters on the longest line */
} text_info;
int xlsx_write_text(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *s, size_t len,
                    lxw_format *f, text_info *ti);
int xlsx_write_num(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, double v, lxw_format *f);
/* An instant as a date-time cell, in UTC or the local zone; nothing outside Excel's years. */
int xlsx_write_time(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, int64_t ms, int local,
                    lxw_format *f);

#endif
