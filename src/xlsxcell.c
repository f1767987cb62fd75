/* xlsxcell — the workbook's cell writers: text made safe for Excel and its XML, numbers,
 * times and the colour of a status. Below both xlsxout.c (Results) and xlsxsummary.c
 * (Summary), so neither calls up into the other. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "rules.h"
#include "xlsxout_internal.h"

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
        size_t n = rules_utf8_decode(p + i, len - i, &cp);
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

int xlsx_status_kind(row_status s)
{
    switch (s) {
    case RS_SENT: return ST_GOOD;
    case RS_FAILED: return ST_BAD;
    case RS_INVALID:
    case RS_UNKNOWN: return ST_WARN;
    case RS_NOT_ATTEMPTED: return ST_GREY;
    default: return ST_NONE;
    }
}

/* An instant as a spreadsheet date-time, in UTC or in the local zone (TZ); 0 outside the
 * years Excel can show. */
static int to_datetime(int64_t ms, int local, lxw_datetime *dt)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0)
        frac += 1000, secs--;
    time_t t = (time_t)secs;
    struct tm tm;
    if (!(local ? localtime_r(&t, &tm) : gmtime_r(&t, &tm)))
        return 0;
    if (tm.tm_year + 1900 < 1900 || tm.tm_year + 1900 > 9999)
        return 0;
    *dt = (lxw_datetime){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec + (double)frac / 1000.0};
    return 1;
}

static int lxw_fail(xlsxout *x, lxw_error e, const char *what)
{
    snprintf(x->err, sizeof x->err, "xlsx: %s: %s", what, lxw_strerror(e));
    return -1;
}

int xlsx_write_text(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *s,
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

int xlsx_write_num(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, double v,
                     lxw_format *f)
{
    lxw_error e = worksheet_write_number(ws, r, c, v, f);
    return e == LXW_NO_ERROR ? 0 : lxw_fail(x, e, "writing a number");
}

int xlsx_write_time(xlsxout *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, int64_t ms, int local,
                      lxw_format *f)
{
    lxw_datetime dt;
    if (!to_datetime(ms, local, &dt))
        return 0;
    lxw_error e = worksheet_write_datetime(ws, r, c, &dt, f);
    return e == LXW_NO_ERROR ? 0 : lxw_fail(x, e, "writing a date");
}

