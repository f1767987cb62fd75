/* xlsxout — the --xlsx workbook: typed result cells, Results sheets, a Summary sheet. */
#include "xlsxout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "paths.h"
#include "rules.h"
#include "writer.h"
#include "xlsxout_internal.h"
#include "xlsxsummary.h"

#define WIDTH_MIN 8.0
#define WIDTH_MAX 40.0 /* wider texts run into the next empty cell or are cut on screen; a page stays readable */
#define EXCEL_MAX_COLS 16384

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void notice_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s\n", msg);
}

/* ---- text: what Excel and XML can hold ------------------------------------------ */

static int is_digit_c(char c) { return c >= '0' && c <= '9'; }

/* An amount column by its name (amount, context.amount, total, price, fee, balance):
 * its plain decimal cells are numbers, so they add up and sort. Identifiers never are:
 * a number would lose leading zeros and digits past 15. */
static int amount_column(const char *name)
{
    static const char *const words[] = {"amount", "total", "price", "fee", "balance"};
    char low[64];
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < sizeof low; p++)
        low[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(low, words[i]))
            return 1;
    return 0;
}


static unsigned digits(long long v)
{
    unsigned n = v < 0 ? 2 : 1;
    while (v >= 10 || v <= -10)
        v /= 10, n++;
    return n;
}

/* ---- sheets -------------------------------------------------------------------- */

static void sheet_name(size_t k, char *name, size_t size)
{
    if (k == 1)
        snprintf(name, size, "Results");
    else
        snprintf(name, size, "Results %zu", k);
}

/* Printed, a sheet of results is wide: landscape, one page across, the header on every
 * page. */
static void print_setup(lxw_worksheet *ws)
{
    worksheet_set_landscape(ws);
    worksheet_set_paper(ws, 9); /* A4 */
    worksheet_set_margins(ws, 0.3, 0.3, 0.5, 0.5);
    worksheet_fit_to_pages(ws, 1, 0);
    worksheet_repeat_rows(ws, 0, 0);
    worksheet_set_footer(ws, "&L&A&RPage &P of &N");
}

static int start_sheet(xlsxout *x)
{
    char name[32];
    size_t k = x->nsheets + 1;
    sheet_name(k, name, sizeof name);
    lxw_worksheet **s = realloc(x->sheets, k * sizeof *s);
    if (!s)
        goto oom;
    x->sheets = s;
    unsigned long *n = realloc(x->sheet_rows, k * sizeof *n);
    if (!n)
        goto oom;
    x->sheet_rows = n;
    lxw_worksheet *ws = workbook_add_worksheet(x->wb, name);
    if (!ws) {
        snprintf(x->err, sizeof x->err, "xlsx: cannot add sheet \"%s\" (temporary file: %s)",
                 name, strerror(errno));
        return -1;
    }
    x->sheets[x->nsheets] = ws;
    x->sheet_rows[x->nsheets] = 0;
    x->nsheets = k;
    worksheet_set_row(ws, 0, 30, NULL); /* two lines: the header wraps (rows are streamed: set first) */
    for (size_t c = 0; c < x->ncols; c++)
        if (xlsx_write_text(x, ws, 0, (lxw_col_t)c, x->header[c], strlen(x->header[c]), x->f_header,
                       NULL) < 0)
            return -1;
    /* Only <sheetData> is streamed in constant-memory mode; panes, filter, column widths
     * and the page setup are kept and written when the workbook is closed. */
    worksheet_freeze_panes(ws, 1, 0);
    print_setup(ws);
    return 0;
oom:
    snprintf(x->err, sizeof x->err, "xlsx: out of memory");
    return -1;
}

static lxw_format *colour_format(lxw_workbook *wb, lxw_color_t bg, lxw_color_t fg)
{
    lxw_format *f = workbook_add_format(wb);
    format_set_bg_color(f, bg);
    format_set_font_color(f, fg);
    return f;
}

/* Checks that path can be created or overwritten now, rather than at the end of a job;
 * a file created only for the check is removed again. */
static int check_writable(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        return 0;
    }
    if (errno == EEXIST) {
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block */
        if (fd >= 0) {
            close(fd);
            return 0;
        }
    }
    seterr(err, errlen, "xlsx: cannot write %s: %s", path, strerror(errno));
    return -1;
}

static void free_x(xlsxout *x)
{
    if (x->header)
        for (size_t i = 0; i < x->ncols; i++)
            free(x->header[i]);
    free(x->header);
    free(x->width);
    free(x->amount);
    free(x->sheets);
    free(x->sheet_rows);
    free(x->buf);
    free(x->tmpdir);
    if (x->partial)
        unlink(x->partial); /* still there: the workbook was not finished */
    free(x->partial);
    free(x->path);
    free(x);
}

/* The result columns, after the input's: the CSV's names, then the local time. */
#define LOCAL_NAME "result_finished_local"
enum { RC_STATUS, RC_HTTP, RC_ATTEMPTS, RC_CHANNELS, RC_DETAIL, RC_LATENCY, RC_FINISHED, RC_LOCAL, RC_N };

xlsxout *xlsxout_open(const char *path, const char *const *input, size_t ninput, char *err,
                      size_t errlen)
{
    if (!path || !*path || !input || ninput == 0 || ninput + RC_N > EXCEL_MAX_COLS) {
        seterr(err, errlen, "xlsx: need a path and 1..%d input columns", EXCEL_MAX_COLS - RC_N);
        return NULL;
    }
    int stream = writer_is_stream(path);
    if (stream && check_writable(path, err, errlen) < 0)
        return NULL;
    xlsxout *x = calloc(1, sizeof *x);
    if (!x)
        goto oom;
    if (!stream) {
        /* Written beside path and renamed over it at the end, like the results: a link
         * planted at path is replaced, never written through. Customer data: the
         * operator's only, as the results CSV. */
        int fd = paths_temp_beside(path, 0600, &x->partial);
        if (fd < 0) {
            seterr(err, errlen, "xlsx: cannot write %s: %s", path, strerror(errno));
            free(x);
            return NULL;
        }
        close(fd);
        if (!(x->path = strdup(path)))
            goto oom;
    }
    x->ninput = ninput;
    x->ncols = ninput + RC_N;
    x->limit = XLSXOUT_SHEET_ROWS;
    x->notice = notice_stderr;
    x->header = calloc(x->ncols, sizeof *x->header);
    x->width = calloc(x->ncols, sizeof *x->width);
    x->amount = calloc(x->ncols, 1);
    if (!x->header || !x->width || !x->amount)
        goto oom;
    for (size_t i = 0; i < ninput; i++)
        x->amount[i] = input[i] && amount_column(input[i]);
    for (size_t i = 0; i < x->ncols; i++) {
        const char *h = i < ninput ? (input[i] ? input[i] : "")
                        : i - ninput < WRITER_RESULT_COLUMNS ? writer_result_names[i - ninput]
                                                             : LOCAL_NAME;
        if (!(x->header[i] = strdup(h)))
            goto oom;
        /* room for half the name (the header wraps onto two lines: "result_http_status"
         * need not make a column of 3-digit numbers that wide, nor the page's text
         * small) and the filter button; the cells widen the column further */
        double w = 0;
        for (const char *p = h; *p; p++)
            w += ((unsigned char)*p & 0xc0) != 0x80;
        w = (w + 1) / 2 + 3;
        x->width[i] = w < WIDTH_MIN ? WIDTH_MIN : w > WIDTH_MAX ? WIDTH_MAX : w;
    }
    for (int i = RC_FINISHED; i <= RC_LOCAL; i++)
        if (x->width[ninput + i] < 24)
            x->width[ninput + i] = 24;

    /* Temporary row data goes where the user keeps temporary files; glibc's tmpfile()
     * would ignore TMPDIR. */
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir && *tmpdir && !(x->tmpdir = strdup(tmpdir)))
        goto oom;
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = x->tmpdir};
    x->wb = workbook_new_opt(x->partial ? x->partial : path, &opt);
    if (!x->wb)
        goto oom;
    x->f_header = workbook_add_format(x->wb);
    format_set_bold(x->f_header);
    format_set_bg_color(x->f_header, 0xD9E1F2);
    format_set_bottom(x->f_header, LXW_BORDER_THIN);
    format_set_text_wrap(x->f_header);
    format_set_align(x->f_header, LXW_ALIGN_VERTICAL_TOP);
    x->f_bold = workbook_add_format(x->wb);
    format_set_bold(x->f_bold);
    x->f_datetime = workbook_add_format(x->wb);
    format_set_num_format(x->f_datetime, "yyyy-mm-dd hh:mm:ss.000");
    x->f_local = workbook_add_format(x->wb);
    format_set_num_format(x->f_local, "yyyy-mm-dd hh:mm:ss");
    x->f_wrap = workbook_add_format(x->wb);
    format_set_text_wrap(x->f_wrap);
    format_set_align(x->f_wrap, LXW_ALIGN_VERTICAL_TOP);
    x->f_top = workbook_add_format(x->wb);
    format_set_align(x->f_top, LXW_ALIGN_VERTICAL_TOP);
    x->f_dt_left = workbook_add_format(x->wb);
    format_set_num_format(x->f_dt_left, "yyyy-mm-dd hh:mm:ss.000");
    format_set_align(x->f_dt_left, LXW_ALIGN_LEFT);
    x->f_left = workbook_add_format(x->wb);
    format_set_align(x->f_left, LXW_ALIGN_LEFT);
    static const char *const amount_fmt[4] = {"#,##0", "#,##0.0", "#,##0.00", "#,##0.000"};
    for (int d = 0; d < 4; d++) {
        x->f_amount[d] = workbook_add_format(x->wb);
        format_set_num_format(x->f_amount[d], amount_fmt[d]);
    }
    /* Excel's own Good / Bad / Neutral cell-style colours, and a grey. */
    x->f_status[ST_NONE] = NULL;
    x->f_status[ST_GOOD] = colour_format(x->wb, 0xC6EFCE, 0x006100);
    x->f_status[ST_BAD] = colour_format(x->wb, 0xFFC7CE, 0x9C0006);
    x->f_status[ST_WARN] = colour_format(x->wb, 0xFFEB9C, 0x9C5700);
    x->f_status[ST_GREY] = colour_format(x->wb, 0xD9D9D9, 0x404040);
    if (start_sheet(x) < 0) {
        seterr(err, errlen, "%s", x->err);
        xlsxout_discard(x);
        return NULL;
    }
    return x;
oom:
    seterr(err, errlen, "xlsx: out of memory");
    if (x)
        xlsxout_discard(x);
    return NULL;
}

void xlsxout_set_sheet_limit(xlsxout *x, unsigned long rows)
{
    x->limit = rows < 1 ? 1 : rows > XLSXOUT_SHEET_ROWS ? XLSXOUT_SHEET_ROWS : rows;
}

void xlsxout_set_notice(xlsxout *x, void (*fn)(void *ctx, const char *msg), void *ctx)
{
    x->notice = fn;
    x->notice_ctx = ctx;
}

const char *xlsxout_error(const xlsxout *x)
{
    return x->err;
}

/* A column name for a message: a header cell may hold terminal escapes. */
static void terminal_safe(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 1 < size; s++)
        out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    out[o] = '\0';
}

static void notify(xlsxout *x, const char *msg)
{
    if (x->notice)
        x->notice(x->notice_ctx, msg);
}

static void widen(xlsxout *x, size_t c, double w)
{
    if (w > x->width[c])
        x->width[c] = w > WIDTH_MAX ? WIDTH_MAX : w;
}

/* Text cell c of the row: sanitised, widths and the Summary's counts kept. */
static int put_text(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, size_t c, const char *s, size_t len,
                    lxw_format *f)
{
    text_info ti;
    int rc = xlsx_write_text(x, ws, r, (lxw_col_t)c, s, len, f, &ti);
    if (ti.truncated && x->truncated++ == 0) {
        char msg[240], name[64];
        terminal_safe(x->header[c], name, sizeof name);
        snprintf(msg, sizeof msg,
                 "xlsx: row %lu, column \"%s\": text cut to Excel's %d characters "
                 "(cut cells are counted on the Summary sheet)",
                 x->rows + 1, name, XLSXOUT_CELL_CHARS);
        notify(x, msg);
    }
    x->replaced += (unsigned long)ti.replaced;
    widen(x, c, ti.width + 1);
    return rc;
}

/* A plain decimal as a CSV writes an amount: -?(0|[1-9][0-9]*)(.[0-9]{1,3})?, at most 15
 * digits (what a double keeps exactly). Returns the decimals, or -1. */
static int plain_decimal(const char *s, size_t len)
{
    size_t i = s[0] == '-' ? 1 : 0, int_digits = 0, dec = 0;
    if (i >= len || !is_digit_c(s[i]) || (s[i] == '0' && i + 1 < len && s[i + 1] != '.'))
        return -1;
    while (i < len && is_digit_c(s[i]))
        i++, int_digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit_c(s[i]))
            i++, dec++;
        if (dec == 0 || dec > 3)
            return -1;
    }
    return i == len && int_digits + dec <= 15 ? (int)dec : -1;
}

static int put_number(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, size_t c, long long v)
{
    widen(x, c, digits(v) + 1);
    return xlsx_write_num(x, ws, r, (lxw_col_t)c, (double)v, NULL);
}

/* The outcome columns, from the typed job: formatted here and nowhere else. */
static int put_outcome(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, const job *j)
{
    size_t c = x->ninput;
    const char *st = job_status_name(j->status);
    char ch[32];
    size_t chlen = rules_format_channels(j->channels, ch, sizeof ch);
    int rc = put_text(x, ws, r, c + RC_STATUS, st, strlen(st), x->f_status[xlsx_status_kind(j->status)]);
    if (j->http_status)
        rc |= put_number(x, ws, r, c + RC_HTTP, j->http_status);
    rc |= put_number(x, ws, r, c + RC_ATTEMPTS, j->attempts);
    rc |= put_text(x, ws, r, c + RC_CHANNELS, ch, chlen < sizeof ch ? chlen : 0, NULL);
    rc |= put_text(x, ws, r, c + RC_DETAIL, j->detail, strnlen(j->detail, sizeof j->detail), NULL);
    if (j->latency_ms >= 0)
        rc |= put_number(x, ws, r, c + RC_LATENCY, j->latency_ms);
    if (j->finished_at_ms) {
        rc |= xlsx_write_time(x, ws, r, (lxw_col_t)(c + RC_FINISHED), j->finished_at_ms, 0, x->f_datetime);
        rc |= xlsx_write_time(x, ws, r, (lxw_col_t)(c + RC_LOCAL), j->finished_at_ms, 1, x->f_local);
        if (!x->first_ms || j->finished_at_ms < x->first_ms)
            x->first_ms = j->finished_at_ms;
        if (!x->last_ms || j->finished_at_ms > x->last_ms)
            x->last_ms = j->finished_at_ms;
    }
    return rc ? -1 : 0;
}

int xlsxout_row(xlsxout *x, const char *const *cells, const size_t *lens, const job *j)
{
    if (x->sheet_rows[x->nsheets - 1] >= x->limit) {
        char full[32], next[32], msg[160];
        if (start_sheet(x) < 0)
            return -1;
        sheet_name(x->nsheets - 1, full, sizeof full);
        sheet_name(x->nsheets, next, sizeof next);
        snprintf(msg, sizeof msg, "xlsx: sheet \"%s\" is full (%lu rows); continuing on \"%s\"",
                 full, x->limit, next);
        notify(x, msg);
    }
    lxw_worksheet *ws = x->sheets[x->nsheets - 1];
    lxw_row_t r = (lxw_row_t)(x->sheet_rows[x->nsheets - 1] + 1);
    for (size_t c = 0; c < x->ninput; c++) {
        const char *s = cells[c] ? cells[c] : "";
        int dec = x->amount[c] && cells[c] && lens[c] ? plain_decimal(s, lens[c]) : -1;
        if (dec >= 0) {
            char num[32];
            snprintf(num, sizeof num, "%.*s", (int)lens[c], s);
            widen(x, c, (double)lens[c] + 3);
            if (xlsx_write_num(x, ws, r, (lxw_col_t)c, strtod(num, NULL), x->f_amount[dec]) < 0)
                return -1;
        } else if (put_text(x, ws, r, c, s, cells[c] ? lens[c] : 0, NULL) < 0) {
            return -1;
        }
    }
    if (put_outcome(x, ws, r, j) < 0)
        return -1;
    x->sheet_rows[x->nsheets - 1]++;
    x->rows++;
    x->status[j->status < RS_COUNT ? j->status : RS_PENDING]++;
    if (j->http_status > 0 && j->http_status < 600)
        x->http[j->http_status]++;
    else if (j->http_status)
        x->http_other++;
    else
        x->http_none++;
    return 0;
}

int xlsxout_close(xlsxout *x, const xlsxout_end *end, char *err, size_t errlen)
{
    int rc = x->err[0] ? -1 : 0; /* an earlier row failed: still write what we have */
    char first_err[sizeof x->err];
    memcpy(first_err, x->err, sizeof first_err);
    for (size_t k = 0; k < x->nsheets; k++) {
        lxw_worksheet *ws = x->sheets[k];
        for (size_t c = 0; c < x->ncols; c++)
            worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, x->width[c], NULL);
        worksheet_autofilter(ws, 0, 0, (lxw_row_t)x->sheet_rows[k], (lxw_col_t)(x->ncols - 1));
    }
    if (xlsxsummary_write(x, end) < 0 && rc == 0) {
        rc = -1;
        memcpy(first_err, x->err, sizeof first_err);
    }
    /* ZIP64 only when the parts may pass 4 GB (counted uncompressed, so also the
     * archive): Excel is strict about ZIP64 records, files that do not need them are
     * better without. */
    long long bytes = 0;
    for (size_t k = 0; k < x->nsheets; k++) {
        FILE *tmp = x->sheets[k]->optimize_tmpfile;
        off_t n = tmp ? ftello(tmp) : 0;
        bytes += n > 0 ? (long long)n : 0;
    }
    if (bytes > 4000000000LL)
        x->wb->options.use_zip64 = LXW_TRUE;
    errno = 0;
    lxw_error e = workbook_close(x->wb);
    x->wb = NULL;
    if (e != LXW_NO_ERROR && rc == 0) {
        rc = -1;
        if (errno)
            snprintf(first_err, sizeof first_err, "xlsx: writing the workbook: %s (%s)",
                     lxw_strerror(e), strerror(errno));
        else
            snprintf(first_err, sizeof first_err, "xlsx: writing the workbook: %s",
                     lxw_strerror(e));
    }
    if (x->partial && e == LXW_NO_ERROR) {
        if (rename(x->partial, x->path) == 0) {
            free(x->partial);
            x->partial = NULL;
        } else if (rc == 0) {
            rc = -1;
            snprintf(first_err, sizeof first_err, "xlsx: cannot rename %s to %s: %s", x->partial, x->path,
                     strerror(errno));
        }
    }
    if (rc < 0)
        seterr(err, errlen, "%s", first_err);
    free_x(x);
    return rc;
}

void xlsxout_discard(xlsxout *x)
{
    if (!x)
        return;
    if (x->wb)
        lxw_workbook_free(x->wb);
    free_x(x);
}
