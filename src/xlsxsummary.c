/* xlsxsummary — the workbook's Summary sheet: what the job's end means, the counts per
 * status, channel and HTTP status, and a chart of outcomes per channel. */
#include "xlsxsummary.h"

#include <string.h>
#include <time.h>

#include "clock.h"
#include "exitcode.h"
#include "rules.h"
#include "xlsxout_internal.h"

typedef struct {
    xlsxout *x;
    lxw_worksheet *ws;
    lxw_row_t r;
    int rc;
    double w[4]; /* the widest text of columns A..D, in characters: the widths at the end */
} sheet;

/* Texts longer than this wrap within their column on the Summary (its row made taller),
 * instead of running over the cells beside them. */
#define SUMMARY_WRAP 45

static size_t chars(const char *t)
{
    size_t n = 0;
    for (; *t; t++)
        n += ((unsigned char)*t & 0xc0) != 0x80;
    return n;
}

static void put_cell(sheet *s, lxw_col_t c, const char *text, lxw_format *f)
{
    double w = (double)chars(text) * (f == s->x->f_bold ? 1.15 : 1.0) + 2;
    double cap = f == s->x->f_wrap ? SUMMARY_WRAP + 2 : 90; /* wrapped: its column's width */
    if (c < 4 && w > s->w[c])
        s->w[c] = w > cap ? cap : w;
    if (xlsx_write_text(s->x, s->ws, s->r, c, text, strlen(text), f, NULL) < 0)
        s->rc = -1;
}

static void put_num(sheet *s, lxw_col_t c, double v)
{
    if (c < 4 && s->w[c] < 10)
        s->w[c] = 10;
    if (xlsx_write_num(s->x, s->ws, s->r, c, v, s->x->f_left) < 0)
        s->rc = -1;
}

/* A label and its value; a long value wraps in column B, on a row as tall as it needs
 * (set before the row's first cell: rows are streamed). */
static void put_pair(sheet *s, const char *label, const char *value)
{
    size_t n = chars(value);
    lxw_format *f = NULL;
    if (n > SUMMARY_WRAP) {
        worksheet_set_row(s->ws, s->r, 15.0 * (double)((n + SUMMARY_WRAP - 11) / (SUMMARY_WRAP - 10)), NULL);
        f = s->x->f_wrap;
    }
    put_cell(s, 0, label, f ? s->x->f_top : NULL);
    put_cell(s, 1, value, f);
    s->r++;
}

static void put_count(sheet *s, const char *label, lxw_format *f, unsigned long n)
{
    put_cell(s, 0, label, f);
    put_num(s, 1, (double)n);
    s->r++;
}

static void put_heading(sheet *s, const char *a, const char *b, const char *c, const char *d)
{
    if (s->r > 0)
        s->r++; /* a blank row between sections */
    put_cell(s, 0, a, s->x->f_bold);
    put_cell(s, 1, b, s->x->f_bold);
    if (c)
        put_cell(s, 2, c, s->x->f_bold);
    if (d)
        put_cell(s, 3, d, s->x->f_bold);
    s->r++;
}

/* A time in UTC (a date-time cell) and beside it in the local zone (text with its offset). */
static void put_time(sheet *s, const char *label, int64_t ms)
{
    char local[64];
    put_cell(s, 0, label, NULL);
    if (xlsx_write_time(s->x, s->ws, s->r, 1, ms, 0, s->x->f_dt_left) < 0)
        s->rc = -1;
    clock_format_local(ms, local, sizeof local);
    put_cell(s, 2, local, NULL);
    s->r++;
}

static void put_job(sheet *s, const xlsxout_end *end)
{
    xlsxout *x = s->x;
    char zone[80] = "local time";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) && tm.tm_zone)
        snprintf(zone, sizeof zone, "local time (%s)", tm.tm_zone);
    put_heading(s, "Job", "", zone, NULL);
    if (end) {
        put_cell(s, 0, "exit status", NULL);
        put_num(s, 1, end->exit_code);
        put_cell(s, 2, exit_meaning(end->exit_code), x->f_status[end->exit_code == 0 ? ST_GOOD : ST_WARN]);
        s->r++;
        put_pair(s, "what to do next", exit_next_step(end->exit_code));
        for (size_t i = 0; i < end->ninfo; i++)
            put_pair(s, end->info[i].key ? end->info[i].key : "", end->info[i].value ? end->info[i].value : "");
        if (end->shard_n > 1) {
            char shard[64];
            snprintf(shard, sizeof shard, "%u of %u (K = 0..%u)", end->shard_k, end->shard_n, end->shard_n - 1);
            put_cell(s, 0, "shard", NULL);
            put_cell(s, 1, shard, NULL);
            s->r++;
        }
    }
    put_count(s, "rows", NULL, x->rows);
    put_count(s, "results sheets", NULL, x->nsheets);
    if (x->first_ms) {
        put_time(s, "first finished (UTC)", x->first_ms);
        put_time(s, "last finished (UTC)", x->last_ms);
    }
    if (x->truncated)
        put_count(s, "cells cut to 32,767 characters", NULL, x->truncated);
    if (x->replaced)
        put_count(s, "cells with unreadable text (shown as \xef\xbf\xbd)", NULL, x->replaced);
}

/* A stacked bar per channel: sent, and requested but not sent, from the channel table at
 * rows first..first+2 (0-based), placed to its right where no cell is. */
static void put_channel_chart(sheet *s, lxw_row_t heading, lxw_row_t first)
{
    lxw_chart *ch = workbook_add_chart(s->x->wb, LXW_CHART_BAR_STACKED);
    if (!ch) {
        s->rc = -1;
        return;
    }
    char cats[64], vals[64];
    static const struct {
        char col;
        const char *name;
        lxw_color_t colour;
    } series[] = {{'B', "sent", 0x70AD47}, {'D', "not sent", 0xC00000}};
    snprintf(cats, sizeof cats, "=Summary!$A$%u:$A$%u", first + 1, first + 3);
    for (int i = 0; i < 2; i++) {
        snprintf(vals, sizeof vals, "=Summary!$%c$%u:$%c$%u", series[i].col, first + 1, series[i].col, first + 3);
        lxw_chart_series *se = chart_add_series(ch, cats, vals);
        if (!se) {
            s->rc = -1;
            return;
        }
        chart_series_set_name(se, series[i].name);
        lxw_chart_fill fill = {.color = series[i].colour};
        chart_series_set_fill(se, &fill);
    }
    chart_title_set_name(ch, "Notifications per channel");
    chart_axis_set_name(ch->x_axis, "notifications");
    chart_legend_set_position(ch, LXW_CHART_LEGEND_BOTTOM);
    lxw_chart_options at = {.x_offset = 10, .y_offset = 2, .x_scale = 1, .y_scale = 1};
    if (worksheet_insert_chart_opt(s->ws, heading, 5, ch, &at) != LXW_NO_ERROR)
        s->rc = -1;
}

int xlsxsummary_write(xlsxout *x, const xlsxout_end *end)
{
    sheet s = {x, workbook_add_worksheet(x->wb, "Summary"), 0, 0, {0}};
    if (!s.ws) {
        snprintf(x->err, sizeof x->err, "xlsx: cannot add the Summary sheet");
        return -1;
    }
    worksheet_fit_to_pages(s.ws, 1, 0);
    worksheet_set_landscape(s.ws);
    put_job(&s, end);

    /* Every status with its zero, so a glance shows nothing is missing. */
    put_heading(&s, "result_status", "rows", NULL, NULL);
    for (int st = RS_SENT; st < RS_COUNT; st++)
        put_count(&s, job_status_name((row_status)st), x->f_status[xlsx_status_kind((row_status)st)],
                  x->status[st]);
    if (x->status[RS_PENDING])
        put_count(&s, "(no outcome)", NULL, x->status[RS_PENDING]);

    if (end) {
        /* As stderr counts them: of the rows sent or failed, channels sent of requested. */
        put_heading(&s, "channel", "sent", "requested", "not sent");
        lxw_row_t heading = s.r - 1, first = s.r;
        for (int i = 0; i < 3; i++) {
            put_cell(&s, 0, rules_channel_name(1u << i), NULL);
            put_num(&s, 1, (double)end->channel_sent[i]);
            put_num(&s, 2, (double)end->channel_requested[i]);
            put_num(&s, 3, (double)(end->channel_requested[i] - end->channel_sent[i]));
            s.r++;
        }
        put_channel_chart(&s, heading, first);
    }

    put_heading(&s, "result_http_status", "rows", NULL, NULL);
    for (int code = 0; code < 600; code++) {
        if (!x->http[code])
            continue;
        put_num(&s, 0, code);
        put_num(&s, 1, (double)x->http[code]);
        s.r++;
    }
    if (x->http_other)
        put_count(&s, "(other values)", NULL, x->http_other);
    if (x->http_none)
        put_count(&s, "(none)", NULL, x->http_none);
    /* Each column as wide as its widest text (long values wrap at SUMMARY_WRAP): no text
     * runs over a cell beside it. */
    static const double min_w[4] = {20, 12, 12, 10};
    for (lxw_col_t c = 0; c < 4; c++)
        worksheet_set_column(s.ws, c, c, s.w[c] > min_w[c] ? s.w[c] : min_w[c], NULL);
    return s.rc;
}
