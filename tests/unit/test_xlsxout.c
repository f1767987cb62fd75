/* test_xlsxout — writes workbooks with xlsxout and reads them back with unzip and a
 * small independent reader of the sheet XML: typed cells, no formulas, sheets, Summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "xlsxout.h"

/* ---- reading the workbook back --------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[128];
} tmpbook;

/* Each test gets its own directory, removed by the teardown even when the test fails. */
static int book_setup(void **state)
{
    tmpbook *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    strcpy(b->dir, "/tmp/test_xlsxout.XXXXXX");
    if (!mkdtemp(b->dir)) {
        free(b);
        return -1;
    }
    snprintf(b->path, sizeof b->path, "%s/out.xlsx", b->dir);
    *state = b;
    return 0;
}

static int book_teardown(void **state)
{
    tmpbook *b = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    int rc = system(cmd);
    free(b);
    return rc == 0 ? 0 : -1;
}

static char *run_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (status)
        *status = st;
    return buf;
}

/* One part of the .xlsx, through unzip: an independent reader of the container. */
static char *part(const tmpbook *b, const char *name)
{
    char cmd[512];
    int st;
    snprintf(cmd, sizeof cmd, "unzip -p '%s' '%s' 2>/dev/null", b->path, name);
    char *xml = run_capture(cmd, &st);
    if (st != 0 || xml[0] == '\0')
        fail_msg("cannot read %s from %s", name, b->path);
    return xml;
}

static void put_utf8(char **o, unsigned long cp)
{
    unsigned char *p = (unsigned char *)*o;
    if (cp < 0x80) {
        *p++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *p++ = (unsigned char)(0xc0 | cp >> 6);
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *p++ = (unsigned char)(0xe0 | cp >> 12);
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *p++ = (unsigned char)(0xf0 | cp >> 18);
        *p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = (char *)p;
}

static int hex4(const char *s, unsigned long *v)
{
    char tmp[5];
    for (int i = 0; i < 4; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
            return 0;
    memcpy(tmp, s, 4);
    tmp[4] = '\0';
    *v = strtoul(tmp, NULL, 16);
    return 1;
}

/* Text as a spreadsheet program shows it: XML entities, then Excel's _xHHHH_ escapes. */
static char *decode_text(const char *s, size_t len, int excel)
{
    char *out = malloc(len * 4 + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < len;) {
        if (s[i] == '&') {
            const char *semi = memchr(s + i, ';', len - i);
            assert_non_null(semi);
            size_t n = (size_t)(semi - (s + i)) + 1;
            if (n == 5 && !strncmp(s + i, "&amp;", 5))
                *o++ = '&';
            else if (n == 4 && !strncmp(s + i, "&lt;", 4))
                *o++ = '<';
            else if (n == 4 && !strncmp(s + i, "&gt;", 4))
                *o++ = '>';
            else if (n == 6 && !strncmp(s + i, "&quot;", 6))
                *o++ = '"';
            else if (n == 6 && !strncmp(s + i, "&apos;", 6))
                *o++ = '\'';
            else if (s[i + 1] == '#')
                put_utf8(&o, s[i + 2] == 'x' ? strtoul(s + i + 3, NULL, 16)
                                             : strtoul(s + i + 2, NULL, 10));
            else
                fail_msg("unknown entity in %.*s", (int)n, s + i);
            i += n;
        } else {
            *o++ = s[i++];
        }
    }
    *o = '\0';
    if (!excel)
        return out;
    /* second pass: _xHHHH_ → the character (Excel's ST_Xstring escape) */
    char *res = malloc(strlen(out) * 4 + 1), *r = res;
    assert_non_null(res);
    for (size_t i = 0; out[i];) {
        unsigned long v;
        if (out[i] == '_' && out[i + 1] == 'x' && hex4(out + i + 2, &v) && out[i + 6] == '_') {
            put_utf8(&r, v);
            i += 7;
        } else {
            *r++ = out[i++];
        }
    }
    *r = '\0';
    free(out);
    return res;
}

typedef struct {
    int found;
    char type[16];  /* the t attribute: "" for a number, "inlineStr", "s", … */
    int styled;     /* has an s attribute */
    char style[16];
    char *text;     /* decoded string, or the <v> text of a number */
} cell;

/* Finds <c r="REF" …> in a sheet and reads its type, style and value. */
static cell get_cell(const char *xml, const char *ref)
{
    cell c = {0};
    char pat[32];
    snprintf(pat, sizeof pat, "<c r=\"%s\"", ref);
    const char *p = strstr(xml, pat);
    if (!p)
        return c;
    c.found = 1;
    const char *end_tag = strchr(p, '>');
    assert_non_null(end_tag);
    const char *t = strstr(p, " t=\"");
    if (t && t < end_tag)
        sscanf(t + 4, "%15[^\"]", c.type);
    const char *s = strstr(p, " s=\"");
    if (s && s < end_tag) {
        c.styled = 1;
        sscanf(s + 4, "%15[^\"]", c.style);
    }
    if (end_tag[-1] == '/') {
        c.text = strdup("");
        return c;
    }
    const char *close = strstr(p, "</c>");
    assert_non_null(close);
    const char *open, *stop;
    if (strcmp(c.type, "inlineStr") == 0) {
        open = strstr(p, "<t");
        assert_true(open && open < close);
        open = strchr(open, '>') + 1;
        stop = strstr(open, "</t>");
        c.text = decode_text(open, (size_t)(stop - open), 1);
    } else {
        open = strstr(p, "<v>");
        assert_true(open && open < close);
        open += 3;
        stop = strstr(open, "</v>");
        c.text = decode_text(open, (size_t)(stop - open), 0);
    }
    return c;
}

static void want_string(const char *xml, const char *ref, const char *want)
{
    cell c = get_cell(xml, ref);
    if (!c.found)
        fail_msg("%s: no cell, want string \"%s\"", ref, want);
    if (strcmp(c.type, "inlineStr") != 0 && strcmp(c.type, "s") != 0)
        fail_msg("%s: type \"%s\", want a string cell", ref, c.type);
    if (strcmp(c.text, want) != 0)
        fail_msg("%s: \"%s\", want \"%s\"", ref, c.text, want);
    free(c.text);
}

static void want_number(const char *xml, const char *ref, const char *want)
{
    cell c = get_cell(xml, ref);
    if (!c.found)
        fail_msg("%s: no cell, want number %s", ref, want);
    if (c.type[0] != '\0' && strcmp(c.type, "n") != 0)
        fail_msg("%s: type \"%s\", want a number", ref, c.type);
    if (strcmp(c.text, want) != 0)
        fail_msg("%s: %s, want %s", ref, c.text, want);
    free(c.text);
}

static void want_blank(const char *xml, const char *ref)
{
    cell c = get_cell(xml, ref);
    if (c.found && c.text[0])
        fail_msg("%s: \"%s\", want blank", ref, c.text);
    free(c.text);
}

static double number_at(const char *xml, const char *ref)
{
    cell c = get_cell(xml, ref);
    if (!c.found || c.type[0])
        fail_msg("%s: not a number cell", ref);
    double v = strtod(c.text, NULL);
    free(c.text);
    return v;
}

/* The value in column B beside the first column-A cell reading label, or NULL. */
static char *summary_value(const char *xml, const char *label)
{
    for (int r = 1; r < 200; r++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "A%d", r);
        snprintf(b, sizeof b, "B%d", r);
        cell ca = get_cell(xml, a);
        int hit = ca.found && strcmp(ca.text, label) == 0;
        free(ca.text);
        if (hit) {
            cell cb = get_cell(xml, b);
            return cb.found ? cb.text : strdup("");
        }
    }
    return NULL;
}

/* The reference of the cell in column col on the row whose column A reads label. */
static char *row_of(const char *xml, const char *label, char col)
{
    for (int r = 1; r < 200; r++) {
        char a[16];
        snprintf(a, sizeof a, "A%d", r);
        cell ca = get_cell(xml, a);
        int hit = ca.found && strcmp(ca.text, label) == 0;
        free(ca.text);
        if (hit) {
            char *ref = malloc(16);
            snprintf(ref, 16, "%c%d", col, r);
            return ref;
        }
    }
    fail_msg("no row \"%s\"", label);
    return NULL;
}

static void want_summary(const char *xml, const char *label, const char *want)
{
    char *v = summary_value(xml, label);
    if (!v)
        fail_msg("Summary has no row \"%s\"", label);
    if (strcmp(v, want) != 0)
        fail_msg("Summary \"%s\" = \"%s\", want \"%s\"", label, v, want);
    free(v);
}

static void want_no_formula(const char *xml)
{
    assert_null(strstr(xml, "<f>"));
    assert_null(strstr(xml, "<f "));
}

/* What a reader needs of every part: well-formed UTF-8 and only the control characters
 * XML allows; xmllint, where installed, checks the rest. */
static void want_well_formed(const tmpbook *b, const char *name, const char *xml)
{
    const unsigned char *p = (const unsigned char *)xml;
    while (*p) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            fail_msg("%s: raw control byte 0x%02x", name, *p);
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0)
            fail_msg("%s: invalid UTF-8 lead byte 0x%02x", name, *p);
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                fail_msg("%s: invalid UTF-8 continuation", name);
        if (n == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
            fail_msg("%s: U+FFFE/U+FFFF in XML", name);
        if (n == 3 && p[0] == 0xed && p[1] >= 0xa0)
            fail_msg("%s: surrogate in XML", name);
        p += n;
    }
    if (system("command -v xmllint >/dev/null 2>&1") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "unzip -p '%s' '%s' | xmllint --noout - 2>&1", b->path, name);
        int st;
        char *out = run_capture(cmd, &st);
        if (st != 0)
            fail_msg("%s: xmllint: %s", name, out);
        free(out);
    }
}

/* ---- writing ------------------------------------------------------------------- */

/* A row's typed outcome, as the pipeline decides it. */
typedef struct {
    row_status status;
    int http, attempts;
    unsigned channels;
    const char *detail;
    long latency_ms;      /* -1 = not sent */
    int64_t finished_ms;  /* 0 = none */
} outcome;

static void make_job(job *j, const outcome *o)
{
    job_init(j);
    job_reset(j, 1);
    j->status = o->status;
    j->http_status = o->http;
    j->attempts = o->attempts;
    j->channels = o->channels;
    snprintf(j->detail, sizeof j->detail, "%s", o->detail ? o->detail : "");
    j->latency_ms = o->latency_ms;
    j->finished_at_ms = o->finished_ms;
}

static const outcome sent_ok = {RS_SENT, 200, 1, RULES_SMS, "ok", 10, 0};

static void put_row_as(xlsxout *x, size_t n, const char *const *cells, const outcome *o)
{
    size_t lens[32];
    job j;
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(cells[i]);
    make_job(&j, o);
    assert_int_equal(xlsxout_row(x, cells, lens, &j), 0);
    job_free(&j);
}

static void put_row(xlsxout *x, size_t n, const char *const *cells)
{
    put_row_as(x, n, cells, &sent_ok);
}

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&t) * 1000 + ms;
}

typedef struct {
    int n;
    char last[256];
} notices;

static void on_notice(void *ctx, const char *msg)
{
    notices *n = ctx;
    n->n++;
    snprintf(n->last, sizeof n->last, "%s", msg);
}

/* Input columns A-D; xlsxout adds the result columns E-K and the local time L. */
static const char *const header4[] = {"order_no", "phone", "note", "customer"};

static const char *const rows4[][4] = {
    {"=1+1", "+96550000003", "line one\nline two", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7"},
    {"000123", "=HYPERLINK(\"http://x\";\"y\")", "  padded  ", "a&b<c>"},
    {"-5", "@SUM(A1)", "", "x"},
    {"42", "1e5", "\t tab", "y"},
    {"7", "0x10", "", ""},
};

static outcome outcomes5[5];

static void init_outcomes(void)
{
    outcomes5[0] = (outcome){RS_SENT, 200, 1, RULES_SMS | RULES_EMAIL, "ok", 153, utc_ms(2026, 11, 23, 19, 40, 0, 123)};
    outcomes5[1] = (outcome){RS_FAILED, 400, 1, RULES_WHATSAPP, "Bad request", 87, utc_ms(2026, 11, 23, 19, 40, 1, 500)};
    outcomes5[2] = (outcome){RS_INVALID, 0, 0, 0, "order_no: missing", -1, 0};
    outcomes5[3] = (outcome){RS_NOT_ATTEMPTED, 0, 0, RULES_SMS, "", -1, 0};
    outcomes5[4] = (outcome){RS_SENT, 200, 2, RULES_SMS, "ok", 1000, utc_ms(2026, 11, 22, 8, 0, 0, 0)};
}

static double excel_serial(int y, int mo, int d, int h, int mi, double s)
{
    struct tm a = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    struct tm e = {.tm_year = -1, .tm_mon = 11, .tm_mday = 30}; /* 1899-12-30 */
    return (double)(timegm(&a) - timegm(&e)) / 86400.0 + (h * 3600 + mi * 60 + s) / 86400.0;
}

/* The job's end as the lead passes it: exit 1, not sharded, channels from the summary. */
static void write_book11_end(const tmpbook *b, const xlsxout_end *end)
{
    char err[256] = "";
    init_outcomes();
    xlsxout *x = xlsxout_open(b->path, header4, 4, err, sizeof err);
    if (!x)
        fail_msg("open: %s", err);
    for (size_t r = 0; r < sizeof rows4 / sizeof *rows4; r++)
        put_row_as(x, 4, rows4[r], &outcomes5[r]);
    if (xlsxout_close(x, end, err, sizeof err) != 0)
        fail_msg("close: %s", err);
}

static const xlsxout_kv info3[] = {{"input", "in.csv"}, {"mode", "message"}, {"rate", "10"}};

static void write_book11(const tmpbook *b)
{
    xlsxout_end end = {.exit_code = 1, .shard_k = 0, .shard_n = 1, .channel_sent = {2, 1, 0},
                       .channel_requested = {2, 1, 1}, .info = info3, .ninfo = 3};
    write_book11_end(b, &end);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_input_cells_stay_text(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    write_book11(&b);
    char *s1 = part(&b, "xl/worksheets/sheet1.xml");

    want_string(s1, "A1", "order_no");
    want_string(s1, "K1", "result_finished_at");
    want_string(s1, "A2", "=1+1");
    want_string(s1, "B2", "+96550000003");
    want_string(s1, "C2", "line one\nline two");
    want_string(s1, "D2", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
    want_string(s1, "A3", "000123");
    want_string(s1, "B3", "=HYPERLINK(\"http://x\";\"y\")");
    want_string(s1, "C3", "  padded  ");
    want_string(s1, "D3", "a&b<c>");
    want_string(s1, "A4", "-5");
    want_string(s1, "B4", "@SUM(A1)");
    want_string(s1, "A5", "42");
    want_string(s1, "B5", "1e5");
    want_string(s1, "C5", "\t tab");
    want_string(s1, "B6", "0x10");
    want_blank(s1, "C4");
    want_no_formula(s1);
    /* the raw XML holds the text itself, with no quote prefix */
    assert_non_null(strstr(s1, ">=1+1</t>"));
    assert_non_null(strstr(s1, ">000123</t>"));
    char *styles = part(&b, "xl/styles.xml");
    assert_null(strstr(styles, "quotePrefix"));
    free(styles);
    want_well_formed(&b, "xl/worksheets/sheet1.xml", s1);
    free(s1);
}

static void test_result_cells_typed(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    write_book11(&b);
    char *s1 = part(&b, "xl/worksheets/sheet1.xml");
    char *styles = part(&b, "xl/styles.xml");

    want_number(s1, "F2", "200");
    want_number(s1, "G2", "1");
    want_number(s1, "J2", "153");
    want_number(s1, "F3", "400");
    want_number(s1, "G4", "0");
    want_number(s1, "J6", "1000");
    want_blank(s1, "F4");
    want_blank(s1, "J4");
    want_string(s1, "E2", "sent");
    want_string(s1, "H2", "sms;email");
    want_string(s1, "I3", "Bad request");

    /* result_finished_at: a date-time number with a date-time format */
    assert_true(fabs(number_at(s1, "K2") - excel_serial(2026, 11, 23, 19, 40, 0.123)) < 1e-9);
    assert_true(fabs(number_at(s1, "K6") - excel_serial(2026, 11, 22, 8, 0, 0)) < 1e-9);
    cell k2 = get_cell(s1, "K2");
    assert_true(k2.styled);
    free(k2.text);
    assert_non_null(strstr(styles, "formatCode=\"yyyy-mm-dd hh:mm:ss.000\""));
    want_blank(s1, "K5"); /* no time: blank, never text */
    want_blank(s1, "K4");

    /* status colours: sent and failed styled differently, both sent rows alike */
    cell sent = get_cell(s1, "E2"), failed = get_cell(s1, "E3"), sent2 = get_cell(s1, "E6");
    cell amber = get_cell(s1, "E4"), grey = get_cell(s1, "E5");
    assert_true(sent.styled && failed.styled && amber.styled && grey.styled);
    assert_string_equal(sent.style, sent2.style);
    assert_string_not_equal(sent.style, failed.style);
    assert_string_not_equal(sent.style, amber.style);
    assert_string_not_equal(failed.style, grey.style);
    free(sent.text), free(failed.text), free(sent2.text), free(amber.text), free(grey.text);
    assert_non_null(strstr(styles, "FFC6EFCE")); /* green */
    assert_non_null(strstr(styles, "FFFFC7CE")); /* red */
    assert_non_null(strstr(styles, "<b/>"));     /* bold header */

    /* header frozen, filter over all columns and rows, widths set */
    assert_non_null(strstr(s1, "<pane ySplit=\"1\""));
    assert_non_null(strstr(s1, "state=\"frozen\""));
    assert_non_null(strstr(s1, "<autoFilter ref=\"A1:L6\"/>"));
    assert_non_null(strstr(s1, "<cols>"));
    cell a1 = get_cell(s1, "A1");
    assert_true(a1.styled);
    free(a1.text);
    free(styles);
    free(s1);
}

static void test_summary_sheet(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    write_book11(&b);
    char *wbx = part(&b, "xl/workbook.xml");
    const char *r = strstr(wbx, "<sheet name=\"Results\"");
    const char *s = strstr(wbx, "<sheet name=\"Summary\"");
    assert_non_null(r);
    assert_non_null(s);
    assert_true(r < s);
    assert_non_null(strstr(wbx, "_xlnm._FilterDatabase")); /* the autofilter's name */
    free(wbx);

    char *s1 = part(&b, "xl/worksheets/sheet1.xml");
    char *s2 = part(&b, "xl/worksheets/sheet2.xml");
    want_no_formula(s2);
    want_well_formed(&b, "xl/worksheets/sheet2.xml", s2);
    want_summary(s2, "input", "in.csv");
    want_summary(s2, "mode", "message");
    want_summary(s2, "rate", "10");
    want_summary(s2, "rows", "5");
    want_summary(s2, "results sheets", "1");
    want_summary(s2, "sent", "2");
    want_summary(s2, "failed", "1");
    want_summary(s2, "invalid", "1");
    want_summary(s2, "not_attempted", "1");
    want_summary(s2, "duplicate", "0");
    want_summary(s2, "dry_run", "0");
    /* channels as stderr counts them: sent (B) of requested (C) */
    want_summary(s2, "sms", "2");
    want_summary(s2, "email", "1");
    want_summary(s2, "whatsapp", "0");
    char *ref = row_of(s2, "whatsapp", 'C');
    want_number(s2, ref, "1");
    free(ref);
    want_summary(s2, "200", "2");
    want_summary(s2, "400", "1");
    want_summary(s2, "(none)", "2");
    /* the time range: the earliest and latest result_finished_at, as date-times */
    char *first = summary_value(s2, "first finished (UTC)");
    char *last = summary_value(s2, "last finished (UTC)");
    assert_non_null(first);
    assert_non_null(last);
    assert_true(fabs(strtod(first, NULL) - number_at(s1, "K6")) < 1e-9);
    assert_true(fabs(strtod(last, NULL) - number_at(s1, "K3")) < 1e-9);
    free(first), free(last);
    free(s1), free(s2);
}

static void test_sheet_limit(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    static const char *const hdr[] = {"order_no"};
    char err[256] = "";
    notices n = {0};
    xlsxout *x = xlsxout_open(b.path, hdr, 1, err, sizeof err);
    assert_non_null(x);
    xlsxout_set_sheet_limit(x, 3);
    xlsxout_set_notice(x, on_notice, &n);
    for (int i = 1; i <= 7; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        const char *row[] = {id};
        put_row(x, 1, row);
    }
    assert_int_equal(n.n, 2);
    assert_non_null(strstr(n.last, "Results 3"));
    assert_int_equal(xlsxout_close(x, NULL, err, sizeof err), 0);

    char *wbx = part(&b, "xl/workbook.xml");
    const char *p1 = strstr(wbx, "<sheet name=\"Results\"");
    const char *p2 = strstr(wbx, "<sheet name=\"Results 2\"");
    const char *p3 = strstr(wbx, "<sheet name=\"Results 3\"");
    const char *p4 = strstr(wbx, "<sheet name=\"Summary\"");
    assert_true(p1 && p2 && p3 && p4);
    assert_true(p1 < p2 && p2 < p3 && p3 < p4);
    assert_null(strstr(wbx, "Results 4"));
    free(wbx);

    static const char *const first[] = {"r1", "r4", "r7"};
    static const char *const filter[] = {"A1:I4", "A1:I4", "A1:I2"};
    for (int k = 0; k < 3; k++) {
        char name[64], ref[64];
        snprintf(name, sizeof name, "xl/worksheets/sheet%d.xml", k + 1);
        char *xml = part(&b, name);
        want_string(xml, "A1", "order_no");
        want_string(xml, "B1", "result_status");
        want_string(xml, "A2", first[k]);
        assert_non_null(strstr(xml, "state=\"frozen\""));
        snprintf(ref, sizeof ref, "<autoFilter ref=\"%s\"/>", filter[k]);
        assert_non_null(strstr(xml, ref));
        cell extra = get_cell(xml, k < 2 ? "A5" : "A3");
        assert_false(extra.found);
        free(xml);
    }
    char *sum = part(&b, "xl/worksheets/sheet4.xml");
    want_summary(sum, "rows", "7");
    want_summary(sum, "results sheets", "3");
    want_summary(sum, "sent", "7");
    free(sum);
}

static void test_unreadable_text_sanitised(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    static const char *const hdr[] = {"a", "col\xff", "c", "d", "e", "f", "g", "h"};
    const char *row[] = {
        ("ok\xff\xfe" "bad"),       /* stray bytes */
        "\xed\xa0\x80",             /* a UTF-16 surrogate */
        "\xc0\xaf",                 /* overlong '/' */
        "a\0b",                     /* NUL inside the cell */
        "\xef\xbf\xbe",             /* U+FFFE, not an XML character */
        "x\x01y\x1b\r\n",           /* control characters Excel can hold */
        "_x0041_ and _x005F_",      /* text that looks like Excel's escapes */
        "\xf0\x9f\x98\x80 emoji",
    };
    size_t lens[] = {7, 3, 2, 3, 3, 6, 19, 10};
    char err[256] = "";
    xlsxout *x = xlsxout_open(b.path, hdr, 8, err, sizeof err);
    assert_non_null(x);
    job j;
    make_job(&j, &sent_ok);
    assert_int_equal(xlsxout_row(x, row, lens, &j), 0);
    job_free(&j);
    xlsxout_kv info[] = {{"input", "file\xff.csv"}};
    xlsxout_end end = {.exit_code = 0, .info = info, .ninfo = 1};
    assert_int_equal(xlsxout_close(x, &end, err, sizeof err), 0);

    char *s1 = part(&b, "xl/worksheets/sheet1.xml");
    want_well_formed(&b, "xl/worksheets/sheet1.xml", s1);
#define FFFD "\xef\xbf\xbd"
    want_string(s1, "B1", "col" FFFD);
    want_string(s1, "A2", "ok" FFFD FFFD "bad");
    want_string(s1, "B2", FFFD FFFD FFFD);
    want_string(s1, "C2", FFFD FFFD);
    want_string(s1, "D2", "a" FFFD "b");
    want_string(s1, "E2", FFFD);
    want_string(s1, "F2", "x\x01y\x1b\r\n");
    want_string(s1, "G2", "_x0041_ and _x005F_");
    want_string(s1, "H2", "\xf0\x9f\x98\x80 emoji");
    char *s2 = part(&b, "xl/worksheets/sheet2.xml");
    want_well_formed(&b, "xl/worksheets/sheet2.xml", s2);
    want_summary(s2, "input", "file" FFFD ".csv");
    want_summary(s2, "cells with unreadable text (shown as " FFFD ")", "5");
#undef FFFD
    free(s1), free(s2);
}

static size_t utf16_units(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            n += *p >= 0xf0 ? 2 : 1;
    return n;
}

static void test_long_cells_cut(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    static const char *const hdr[] = {"a", "b", "c", "d"};
    size_t na = 40000, nb = 20000 * 4, nc = 5000 * 7, nd = XLSXOUT_CELL_CHARS;
    char *a = malloc(na + 1), *bb = malloc(nb + 1), *c = malloc(nc + 1), *d = malloc(nd + 1);
    assert_true(a && bb && c && d);
    memset(a, 'a', na), a[na] = '\0';
    for (size_t i = 0; i < nb; i += 4)
        memcpy(bb + i, "\xf0\x9f\x98\x80", 4);
    bb[nb] = '\0';
    for (size_t i = 0; i < nc; i += 7)
        memcpy(c + i, "_x0041_", 7);
    c[nc] = '\0';
    memset(d, 'd', nd), d[nd] = '\0';
    const char *row[] = {a, bb, c, d};
    size_t lens[] = {na, nb, nc, nd};
    char err[256] = "";
    notices n = {0};
    xlsxout *x = xlsxout_open(b.path, hdr, 4, err, sizeof err);
    assert_non_null(x);
    xlsxout_set_notice(x, on_notice, &n);
    job j;
    make_job(&j, &sent_ok);
    assert_int_equal(xlsxout_row(x, row, lens, &j), 0);
    assert_int_equal(xlsxout_row(x, row, lens, &j), 0);
    job_free(&j);
    assert_int_equal(n.n, 1); /* told once, counted on the Summary */
    assert_non_null(strstr(n.last, "32767"));
    assert_int_equal(xlsxout_close(x, NULL, err, sizeof err), 0);

    char *s1 = part(&b, "xl/worksheets/sheet1.xml");
    cell ca = get_cell(s1, "A2"), cb = get_cell(s1, "B2"), cc = get_cell(s1, "C2"),
         cd = get_cell(s1, "D2");
    assert_int_equal(strlen(ca.text), XLSXOUT_CELL_CHARS);
    assert_int_equal(utf16_units(cb.text), 16383 * 2); /* a pair is never split */
    /* "_x0041_" is written as "_x005F_x0041_" (13 characters), and libxlsxwriter counts
     * what it is given against 32,767: 2,520 repeats and one '_' fit. */
    assert_int_equal(utf16_units(cc.text), 2520 * 7 + 1);
    assert_memory_equal(cc.text, c, strlen(cc.text)); /* still the text, just shorter */
    assert_string_equal(cd.text, d);                  /* exactly at the limit: kept */
    free(ca.text), free(cb.text), free(cc.text), free(cd.text);
    char *s2 = part(&b, "xl/worksheets/sheet2.xml");
    want_summary(s2, "cells cut to 32,767 characters", "6");
    free(s1), free(s2);
    free(a), free(bb), free(c), free(d);
}

static void test_open_errors(void **state)
{
    (void)state;
    static const char *const hdr[] = {"a"};
    char err[256] = "";
    assert_null(xlsxout_open("/nonexistent-dir/out.xlsx", hdr, 1, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/out.xlsx"));
    err[0] = '\0';
    assert_null(xlsxout_open("/tmp", hdr, 1, err, sizeof err));
    assert_true(err[0] != '\0');
    err[0] = '\0';
    assert_null(xlsxout_open("/tmp/x.xlsx", hdr, 0, err, sizeof err));
    assert_true(err[0] != '\0');
}

static void test_discard_and_late_failure(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    static const char *const hdr[] = {"a"};
    const char *row[] = {"1"};
    char err[256] = "";
    struct stat st;

    /* discard: no file is left behind, not even the one made to check the path */
    xlsxout *x = xlsxout_open(b.path, hdr, 1, err, sizeof err);
    assert_non_null(x);
    put_row(x, 1, row);
    xlsxout_discard(x);
    assert_int_equal(stat(b.path, &st), -1);

    /* the directory disappears during the job: close reports it */
    char sub[160], path[200];
    snprintf(sub, sizeof sub, "%s/gone", b.dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/out.xlsx", sub);
    x = xlsxout_open(path, hdr, 1, err, sizeof err);
    assert_non_null(x);
    put_row(x, 1, row);
    /* the workbook being written (beside the path, renamed at the end) goes with it */
    DIR *d = opendir(sub);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", sub, de->d_name);
        if (de->d_name[0] != '.')
            unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(sub), 0);
    err[0] = '\0';
    /* libxlsxwriter prints its own [ERROR] line; keep it out of the TAP output */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, 2);
    int rc = xlsxout_close(x, NULL, err, sizeof err);
    dup2(saved, 2);
    close(saved), close(devnull);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "xlsx"));
}

static void test_summary_speaks_to_people(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    setenv("TZ", "XYZ-3", 1); /* UTC+3, as in Kuwait, without needing tzdata */
    tzset();
    write_book11(&b);
    char *s1 = part(&b, "xl/worksheets/sheet1.xml");
    char *s2 = part(&b, "xl/worksheets/sheet2.xml");
    char *wbx = part(&b, "xl/workbook.xml");

    /* the exit status, what it means and what to do */
    char *ref = row_of(s2, "exit status", 'B');
    want_number(s2, ref, "1");
    ref[0] = 'C';
    cell meaning = get_cell(s2, ref);
    assert_non_null(strstr(meaning.text, "some rows need attention"));
    free(meaning.text), free(ref);
    char *next = summary_value(s2, "what to do next");
    assert_non_null(next);
    assert_non_null(strstr(next, "failures"));
    free(next);
    /* not sharded: no shard line */
    assert_null(summary_value(s2, "shard"));

    /* times in the local zone beside UTC: the Results column and the Summary */
    want_string(s1, "L1", "result_finished_local");
    assert_true(fabs(number_at(s1, "L2") - excel_serial(2026, 11, 23, 22, 40, 0.123)) < 1e-9);
    assert_true(fabs(number_at(s1, "K2") - excel_serial(2026, 11, 23, 19, 40, 0.123)) < 1e-9);
    want_blank(s1, "L4");
    ref = row_of(s2, "first finished (UTC)", 'C');
    cell local = get_cell(s2, ref);
    assert_string_equal(local.text, "2026-11-22 11:00:00 +0300");
    free(local.text), free(ref);

    /* prints well: landscape, one page wide, the header row on every page */
    assert_non_null(strstr(s1, "orientation=\"landscape\""));
    assert_non_null(strstr(s1, "<pageSetUpPr fitToPage=\"1\"/>"));
    assert_non_null(strstr(s1, "fitToHeight=\"0\""));
    assert_non_null(strstr(wbx, "_xlnm.Print_Titles"));
    assert_non_null(strstr(wbx, "Results!$1:$1"));
    free(s1), free(s2), free(wbx);
    unsetenv("TZ");
    tzset();
}

static void test_summary_exit_and_shard(void **state)
{
    const tmpbook b = *(const tmpbook *)*state;
    static const struct {
        int code;
        const char *meaning, *next;
    } cases[] = {
        {130, "interrupted", "--resume"},
        {4, "stopped early by a limit", "--resume"},
        {3, "rejected the key", "--resume"},
        {0, "done", "nothing to do"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        xlsxout_end end = {.exit_code = cases[i].code, .shard_k = 2, .shard_n = 4};
        write_book11_end(&b, &end);
        char *s2 = part(&b, "xl/worksheets/sheet2.xml");
        char *ref = row_of(s2, "exit status", 'C');
        cell meaning = get_cell(s2, ref);
        if (!strstr(meaning.text, cases[i].meaning))
            fail_msg("exit %d: \"%s\"", cases[i].code, meaning.text);
        free(meaning.text), free(ref);
        char *next = summary_value(s2, "what to do next");
        assert_non_null(strstr(next, cases[i].next));
        free(next);
        want_summary(s2, "shard", "2 of 4 (K = 0..3)");
        free(s2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_input_cells_stay_text, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_result_cells_typed, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_summary_sheet, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_sheet_limit, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_text_sanitised, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_long_cells_cut, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_summary_speaks_to_people, book_setup, book_teardown),
        cmocka_unit_test_setup_teardown(test_summary_exit_and_shard, book_setup, book_teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_discard_and_late_failure, book_setup, book_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
