/* xlsxout — the --xlsx workbook: typed result cells, Results sheets, a Summary sheet. */
#include "xlsxout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xlsxwriter.h>

/* Bounds on what the Summary remembers, so a hostile result column cannot grow memory
 * with the number of rows. */
#define TALLY_MAX_KEYS 200
#define TALLY_MAX_KEY_BYTES 64
#define WIDTH_MIN 8.0
#define WIDTH_MAX 60.0
#define EXCEL_MAX_COLS 16384

typedef struct {
    char *key;
    unsigned long n;
} tally_item;

/* Counts per distinct value, in first-seen order; values past TALLY_MAX_KEYS go to other. */
typedef struct {
    tally_item *v;
    size_t n, cap;
    unsigned long other;
} tally;

/* A result_finished_at value: the cell value and a key that orders instants. */
typedef struct {
    lxw_datetime dt;
    int64_t ms; /* milliseconds since 0000-03-01, only for comparing */
} stamp;

enum { ST_NONE, ST_GOOD, ST_BAD, ST_WARN, ST_GREY };

struct xlsxout {
    lxw_workbook *wb;
    lxw_worksheet **sheets;       /* Results, Results 2, … */
    unsigned long *sheet_rows;    /* data rows written on each */
    size_t nsheets;
    char **header;
    size_t ncols;
    double *width;
    long col_status, col_http, col_attempts, col_latency, col_channels, col_finished;
    lxw_format *f_header, *f_datetime, *f_bold, *f_status[5];
    unsigned long limit;
    unsigned long rows;
    unsigned long truncated, replaced;
    tally status, channels, http;
    stamp first, last;
    int have_time;
    char *buf;
    size_t bufcap;
    char *tmpdir;
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
    char err[256];
};

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

/* Decodes one UTF-8 sequence at s[0..len); returns its length, or 0 when it is not
 * well-formed (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Excel reads "_xHHHH_" in cell text as an escaped character, so such text written
 * literally would come back changed; its '_' has to be written as "_x005F_". */
static int looks_like_escape(const unsigned char *s, size_t len)
{
    return len >= 7 && s[0] == '_' && (s[1] == 'x' || s[1] == 'X') && is_hex(s[2]) &&
           is_hex(s[3]) && is_hex(s[4]) && is_hex(s[5]) && s[6] == '_';
}

typedef struct {
    int truncated, replaced;
    double width; /* characters on the longest line */
} text_info;

static int buf_reserve(xlsxout *x, size_t need)
{
    if (need <= x->bufcap)
        return 0;
    size_t cap = x->bufcap ? x->bufcap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(x->buf, cap);
    if (!p)
        return -1;
    x->buf = p, x->bufcap = cap;
    return 0;
}

/* Copies s into x->buf as text Excel keeps exactly: well-formed UTF-8 (anything else,
 * NUL, U+FFFE and U+FFFF become U+FFFD), "_xHHHH_" protected, and at most
 * XLSXOUT_CELL_CHARS characters. libxlsxwriter itself writes other control characters
 * as _xHHHH_, escapes & < >, and refuses strings over 32,767 code points (counted
 * before its own escaping), so the output stays within both its count and Excel's
 * UTF-16 count. */
static int sanitise(xlsxout *x, const char *s, size_t len, text_info *ti)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, units = 0, points = 0;
    double line = 0;
    memset(ti, 0, sizeof *ti);
    /* worst case: each byte becomes U+FFFD (3 bytes) or "_x005F_" (7 bytes for 1) */
    if (buf_reserve(x, (len < XLSXOUT_CELL_CHARS + 8 ? len : XLSXOUT_CELL_CHARS + 8) * 7 + 1) < 0)
        return -1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        int bad = n == 0 || cp == 0 || cp == 0xfffe || cp == 0xffff;
        int esc = !bad && looks_like_escape(p + i, len - i);
        size_t u = cp >= 0x10000 && !bad ? 2 : 1, pts = esc ? 7 : 1;
        if (units + u > XLSXOUT_CELL_CHARS || points + pts > XLSXOUT_CELL_CHARS) {
            ti->truncated = 1;
            break;
        }
        units += u, points += pts;
        if (bad) {
            memcpy(x->buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            ti->replaced = 1;
            i += n ? n : 1;
        } else {
            if (esc) {
                memcpy(x->buf + o, "_x005F", 6);
                o += 6;
            }
            memcpy(x->buf + o, p + i, n);
            o += n;
            i += n;
        }
        if (!bad && cp == '\n') {
            line = 0;
        } else if (++line > ti->width) {
            ti->width = line;
        }
    }
    x->buf[o] = '\0';
    return 0;
}

/* ---- typed result cells -------------------------------------------------------- */

/* A plain decimal number of at most 15 significant digits, so the value is exact. */
static int parse_number(const char *s, size_t len, double *out)
{
    size_t i = 0, digits = 0;
    char tmp[40];
    if (len == 0 || len >= sizeof tmp)
        return 0;
    if (s[i] == '-')
        i++;
    size_t int_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i == int_start)
        return 0;
    if (i < len && s[i] == '.') {
        size_t frac_start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
        if (i == frac_start)
            return 0;
    }
    if (i != len || digits > 15)
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *out = strtod(tmp, NULL);
    return 1;
}

static int digits_at(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe;
}

/* result_finished_at as written by the writer: YYYY-MM-DDTHH:MM:SS[.fff…][Z] in UTC.
 * Years outside Excel's 1900..9999 and other offsets stay text. */
static int parse_stamp(const char *s, size_t len, stamp *st)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (len && s[len - 1] == 'Z')
        len--;
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    if (!digits_at(s, 4, &y) || !digits_at(s + 5, 2, &mo) || !digits_at(s + 8, 2, &d) ||
        !digits_at(s + 11, 2, &h) || !digits_at(s + 14, 2, &mi) || !digits_at(s + 17, 2, &se))
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 || se > 59)
        return 0;
    double frac = 0, scale = 0.1;
    int ms = 0;
    if (len > 19) {
        if (s[19] != '.' || len == 20 || len > 29)
            return 0;
        for (size_t i = 20; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            frac += (s[i] - '0') * scale;
            if (i < 23)
                ms = ms * 10 + (s[i] - '0');
            scale /= 10;
        }
        for (size_t i = len; i < 23; i++)
            ms *= 10;
    }
    st->dt = (lxw_datetime){y, mo, d, h, mi, se + frac};
    st->ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + se * 1000 + ms;
    return 1;
}

static int status_kind(const char *s, size_t len)
{
#define IS(lit) (len == sizeof lit - 1 && memcmp(s, lit, len) == 0)
    if (IS("sent"))
        return ST_GOOD;
    if (IS("failed"))
        return ST_BAD;
    if (IS("invalid") || IS("unknown"))
        return ST_WARN;
    if (IS("not_attempted"))
        return ST_GREY;
    return ST_NONE;
#undef IS
}

/* ---- tallies for the Summary --------------------------------------------------- */

static int tally_add(tally *t, const char *k, size_t klen)
{
    const char *nul = memchr(k, '\0', klen);
    if (nul)
        klen = (size_t)(nul - k); /* keys are C strings */
    if (klen > TALLY_MAX_KEY_BYTES) {
        klen = TALLY_MAX_KEY_BYTES;
        while (klen && ((unsigned char)k[klen] & 0xc0) == 0x80)
            klen--; /* cut on a character boundary */
    }
    for (size_t i = 0; i < t->n; i++) {
        if (strlen(t->v[i].key) == klen && memcmp(t->v[i].key, k, klen) == 0) {
            t->v[i].n++;
            return 0;
        }
    }
    if (t->n == TALLY_MAX_KEYS) {
        t->other++;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        tally_item *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v, t->cap = cap;
    }
    char *key = malloc(klen + 1);
    if (!key)
        return -1;
    memcpy(key, k, klen);
    key[klen] = '\0';
    t->v[t->n++] = (tally_item){key, 1};
    return 0;
}

static unsigned long tally_get(const tally *t, const char *k)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, k) == 0)
            return t->v[i].n;
    return 0;
}

static void tally_free(tally *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].key);
    free(t->v);
}

/* ---- sheets -------------------------------------------------------------------- */

static int lxw_fail(xlsxout *x, lxw_error e, const char *what)
{
    snprintf(x->err, sizeof x->err, "xlsx: %s: %s", what, lxw_strerror(e));
    return -1;
}

static int write_text(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *s,
                      size_t len, lxw_format *f, text_info *ti)
{
    text_info local;
    if (!ti)
        ti = &local;
    if (sanitise(x, s, len, ti) < 0) {
        snprintf(x->err, sizeof x->err, "xlsx: out of memory");
        return -1;
    }
    if (x->buf[0] == '\0')
        return 0; /* an empty cell stays blank */
    lxw_error e = worksheet_write_string(ws, r, c, x->buf, f);
    return e == LXW_NO_ERROR ? 0 : lxw_fail(x, e, "writing a cell");
}

static int write_num(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, double v,
                     lxw_format *f)
{
    lxw_error e = worksheet_write_number(ws, r, c, v, f);
    return e == LXW_NO_ERROR ? 0 : lxw_fail(x, e, "writing a number");
}

static void sheet_name(size_t k, char *name, size_t size)
{
    if (k == 1)
        snprintf(name, size, "Results");
    else
        snprintf(name, size, "Results %zu", k);
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
    for (size_t c = 0; c < x->ncols; c++)
        if (write_text(x, ws, 0, (lxw_col_t)c, x->header[c], strlen(x->header[c]), x->f_header,
                       NULL) < 0)
            return -1;
    /* Only <sheetData> is streamed in constant-memory mode; panes, filter and column
     * widths are kept and written when the workbook is closed. */
    worksheet_freeze_panes(ws, 1, 0);
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

static long find_col(char *const *header, size_t ncols, const char *name)
{
    /* The result_* columns come last, so search from the end. */
    for (size_t i = ncols; i-- > 0;)
        if (strcmp(header[i], name) == 0)
            return (long)i;
    return -1;
}

static void free_x(xlsxout *x)
{
    if (x->header)
        for (size_t i = 0; i < x->ncols; i++)
            free(x->header[i]);
    free(x->header);
    free(x->width);
    free(x->sheets);
    free(x->sheet_rows);
    free(x->buf);
    free(x->tmpdir);
    tally_free(&x->status);
    tally_free(&x->channels);
    tally_free(&x->http);
    free(x);
}

xlsxout *xlsxout_open(const char *path, const char *const *header, size_t ncols, char *err,
                      size_t errlen)
{
    if (!path || !*path || !header || ncols == 0 || ncols > EXCEL_MAX_COLS) {
        seterr(err, errlen, "xlsx: need a path and 1..%d columns", EXCEL_MAX_COLS);
        return NULL;
    }
    if (check_writable(path, err, errlen) < 0)
        return NULL;
    xlsxout *x = calloc(1, sizeof *x);
    if (!x)
        goto oom;
    x->ncols = ncols;
    x->limit = XLSXOUT_SHEET_ROWS;
    x->notice = notice_stderr;
    x->header = calloc(ncols, sizeof *x->header);
    x->width = calloc(ncols, sizeof *x->width);
    if (!x->header || !x->width)
        goto oom;
    for (size_t i = 0; i < ncols; i++) {
        const char *h = header[i] ? header[i] : "";
        if (!(x->header[i] = strdup(h)))
            goto oom;
        /* room for the name (in characters) and the filter button */
        double w = 3;
        for (const char *p = h; *p; p++)
            w += ((unsigned char)*p & 0xc0) != 0x80;
        x->width[i] = w < WIDTH_MIN ? WIDTH_MIN : w > WIDTH_MAX ? WIDTH_MAX : w;
    }
    x->col_status = find_col(x->header, ncols, "result_status");
    x->col_http = find_col(x->header, ncols, "result_http_status");
    x->col_attempts = find_col(x->header, ncols, "result_attempts");
    x->col_latency = find_col(x->header, ncols, "result_latency_ms");
    x->col_channels = find_col(x->header, ncols, "result_channels");
    x->col_finished = find_col(x->header, ncols, "result_finished_at");
    if (x->col_finished >= 0 && x->width[x->col_finished] < 25)
        x->width[x->col_finished] = 25;

    /* Temporary row data goes where the user keeps temporary files; glibc's tmpfile()
     * would ignore TMPDIR. */
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir && *tmpdir && !(x->tmpdir = strdup(tmpdir)))
        goto oom;
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = x->tmpdir};
    x->wb = workbook_new_opt(path, &opt);
    if (!x->wb)
        goto oom;
    x->f_header = workbook_add_format(x->wb);
    format_set_bold(x->f_header);
    format_set_bg_color(x->f_header, 0xD9E1F2);
    format_set_bottom(x->f_header, LXW_BORDER_THIN);
    x->f_bold = workbook_add_format(x->wb);
    format_set_bold(x->f_bold);
    x->f_datetime = workbook_add_format(x->wb);
    format_set_num_format(x->f_datetime, "yyyy-mm-dd hh:mm:ss.000");
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

/* A cell by column number; a NULL cell reads as empty. */
static const char *cell_at(const char *const *cells, const size_t *lens, long col, size_t *len)
{
    *len = cells[col] ? lens[col] : 0;
    return cells[col] ? cells[col] : "";
}

static int count_row(xlsxout *x, const char *const *cells, const size_t *lens)
{
    int rc = 0;
    size_t n;
    const char *s;
    if (x->col_status >= 0) {
        s = cell_at(cells, lens, x->col_status, &n);
        rc |= n ? tally_add(&x->status, s, n) : tally_add(&x->status, "(empty)", 7);
    }
    if (x->col_http >= 0) {
        s = cell_at(cells, lens, x->col_http, &n);
        rc |= n ? tally_add(&x->http, s, n) : tally_add(&x->http, "(none)", 6);
    }
    if (x->col_channels >= 0) {
        size_t len;
        s = cell_at(cells, lens, x->col_channels, &len);
        for (size_t i = 0; i < len;) {
            size_t j = i;
            while (j < len && s[j] != ';')
                j++;
            size_t a = i, b = j;
            while (a < b && s[a] == ' ')
                a++;
            while (b > a && s[b - 1] == ' ')
                b--;
            if (b > a)
                rc |= tally_add(&x->channels, s + a, b - a);
            i = j + 1;
        }
    }
    if (rc)
        snprintf(x->err, sizeof x->err, "xlsx: out of memory");
    return rc ? -1 : 0;
}

int xlsxout_row(xlsxout *x, const char *const *cells, const size_t *lens)
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
    for (size_t c = 0; c < x->ncols; c++) {
        long lc = (long)c;
        size_t len;
        const char *s = cell_at(cells, lens, lc, &len);
        double v, w;
        stamp st;
        int rc;
        if (len && (lc == x->col_http || lc == x->col_attempts || lc == x->col_latency) &&
            parse_number(s, len, &v)) {
            rc = write_num(x, ws, r, (lxw_col_t)c, v, NULL);
            w = (double)len;
        } else if (len && lc == x->col_finished && parse_stamp(s, len, &st)) {
            lxw_error e = worksheet_write_datetime(ws, r, (lxw_col_t)c, &st.dt, x->f_datetime);
            rc = e == LXW_NO_ERROR ? 0 : lxw_fail(x, e, "writing a date");
            if (!x->have_time || st.ms < x->first.ms)
                x->first = st;
            if (!x->have_time || st.ms > x->last.ms)
                x->last = st;
            x->have_time = 1;
            w = 23;
        } else {
            text_info ti;
            lxw_format *f = lc == x->col_status ? x->f_status[status_kind(s, len)] : NULL;
            rc = write_text(x, ws, r, (lxw_col_t)c, s, len, f, &ti);
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
            w = ti.width + 1;
        }
        if (rc < 0)
            return -1;
        if (w > x->width[c])
            x->width[c] = w > WIDTH_MAX ? WIDTH_MAX : w;
    }
    x->sheet_rows[x->nsheets - 1]++;
    x->rows++;
    return count_row(x, cells, lens);
}

/* ---- Summary sheet ------------------------------------------------------------- */

typedef struct {
    xlsxout *x;
    lxw_worksheet *ws;
    lxw_row_t r;
    int rc;
} summary;

static void put_label(summary *s, const char *label, lxw_format *f)
{
    if (write_text(s->x, s->ws, s->r, 0, label, strlen(label), f, NULL) < 0)
        s->rc = -1;
}

static void put_count(summary *s, const char *label, lxw_format *f, unsigned long n)
{
    put_label(s, label, f);
    if (write_num(s->x, s->ws, s->r, 1, (double)n, NULL) < 0)
        s->rc = -1;
    s->r++;
}

static void put_heading(summary *s, const char *a, const char *b)
{
    if (s->r > 0)
        s->r++; /* a blank row between sections */
    put_label(s, a, s->x->f_bold);
    if (write_text(s->x, s->ws, s->r, 1, b, strlen(b), s->x->f_bold, NULL) < 0)
        s->rc = -1;
    s->r++;
}

static void put_time(summary *s, const char *label, const stamp *st)
{
    lxw_datetime dt = st->dt; /* the library takes a non-const pointer */
    put_label(s, label, NULL);
    lxw_error e = worksheet_write_datetime(s->ws, s->r, 1, &dt, s->x->f_datetime);
    if (e != LXW_NO_ERROR)
        s->rc = lxw_fail(s->x, e, "writing the Summary");
    s->r++;
}

static int http_order(const void *a, const void *b)
{
    const tally_item *p = a, *q = b;
    double u, v;
    int pn = parse_number(p->key, strlen(p->key), &u);
    int qn = parse_number(q->key, strlen(q->key), &v);
    if (pn != qn)
        return pn ? -1 : 1; /* numbers first, then "(none)" and anything else */
    if (pn && u != v)
        return u < v ? -1 : 1;
    return strcmp(p->key, q->key);
}

static int in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

/* The fixed names first (with their zeros, so a glance shows nothing is missing), then
 * any other value seen. */
static void put_tally(summary *s, const tally *t, const char *const *fixed, size_t nfixed,
                      int coloured)
{
    for (size_t i = 0; i < nfixed; i++) {
        lxw_format *f = coloured ? s->x->f_status[status_kind(fixed[i], strlen(fixed[i]))] : NULL;
        put_count(s, fixed[i], f, tally_get(t, fixed[i]));
    }
    for (size_t i = 0; i < t->n; i++) {
        if (in_list(t->v[i].key, fixed, nfixed))
            continue;
        const char *k = t->v[i].key;
        lxw_format *f = coloured ? s->x->f_status[status_kind(k, strlen(k))] : NULL;
        put_count(s, k, f, t->v[i].n);
    }
    if (t->other)
        put_count(s, "(other values)", NULL, t->other);
}

static int write_summary(xlsxout *x, const xlsxout_kv *info, size_t ninfo)
{
    static const char *const statuses[] = {"sent",          "failed",  "invalid", "duplicate",
                                           "skipped",       "not_attempted", "unknown",
                                           "dry_run"};
    static const char *const channels[] = {"sms", "email", "whatsapp"};
    summary s = {x, workbook_add_worksheet(x->wb, "Summary"), 0, 0};
    if (!s.ws) {
        snprintf(x->err, sizeof x->err, "xlsx: cannot add the Summary sheet");
        return -1;
    }
    worksheet_set_column(s.ws, 0, 0, 34, NULL);
    worksheet_set_column(s.ws, 1, 1, 40, NULL);

    put_heading(&s, "Job", "");
    for (size_t i = 0; i < ninfo; i++) {
        const char *k = info[i].key ? info[i].key : "";
        const char *v = info[i].value ? info[i].value : "";
        put_label(&s, k, NULL);
        if (write_text(x, s.ws, s.r, 1, v, strlen(v), NULL, NULL) < 0)
            s.rc = -1;
        s.r++;
    }
    put_count(&s, "rows", NULL, x->rows);
    put_count(&s, "results sheets", NULL, x->nsheets);
    if (x->have_time) {
        put_time(&s, "first finished (UTC)", &x->first);
        put_time(&s, "last finished (UTC)", &x->last);
    }
    if (x->truncated)
        put_count(&s, "cells cut to 32,767 characters", NULL, x->truncated);
    if (x->replaced)
        put_count(&s, "cells with unreadable text (shown as \xef\xbf\xbd)", NULL, x->replaced);

    if (x->col_status >= 0) {
        put_heading(&s, "result_status", "rows");
        put_tally(&s, &x->status, statuses, sizeof statuses / sizeof *statuses, 1);
    }
    if (x->col_channels >= 0) {
        put_heading(&s, "result_channels", "rows");
        put_tally(&s, &x->channels, channels, sizeof channels / sizeof *channels, 0);
    }
    if (x->col_http >= 0) {
        put_heading(&s, "result_http_status", "rows");
        qsort(x->http.v, x->http.n, sizeof *x->http.v, http_order);
        for (size_t i = 0; i < x->http.n && s.rc == 0; i++) {
            double v;
            const char *k = x->http.v[i].key;
            if (parse_number(k, strlen(k), &v)) {
                if (write_num(x, s.ws, s.r, 0, v, NULL) < 0)
                    s.rc = -1;
                if (write_num(x, s.ws, s.r, 1, (double)x->http.v[i].n, NULL) < 0)
                    s.rc = -1;
                s.r++;
            } else {
                put_count(&s, k, NULL, x->http.v[i].n);
            }
        }
        if (x->http.other)
            put_count(&s, "(other values)", NULL, x->http.other);
    }
    return s.rc;
}

int xlsxout_close(xlsxout *x, const xlsxout_kv *info, size_t ninfo, char *err, size_t errlen)
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
    if (write_summary(x, info, ninfo) < 0 && rc == 0) {
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
