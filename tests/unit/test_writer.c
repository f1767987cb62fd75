/* test_writer — unit tests of the result CSV: RFC 4180 quoting with the --excel guard,
 * the result_* cells of a row and their reading back, and a file written and read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "columns.h"
#include "job.h"
#include "reader.h"
#include "rules.h"
#include "writer.h"

#define TESTDIR_NAME "writer"
#include "testdir.h"

/* Quotes s (NUL-terminated) and checks the exact output. */
static void quote_is(const char *s, int excel, const char *want)
{
    char out[256];
    memset(out, '#', sizeof out);
    size_t n = writer_quote(s, strlen(s), excel, out, sizeof out - 1);
    out[n < sizeof out ? n : sizeof out - 1] = '\0';
    if (n != strlen(want) || strcmp(out, want) != 0)
        fail_msg("writer_quote(\"%s\", excel=%d) = [%s] (%zu), want [%s]", s, excel, out, n, want);
}

static void test_quote_plain_cells_unquoted(void **state)
{
    (void)state;
    quote_is("abc", 0, "abc");
    quote_is("", 0, "");
    quote_is("with space", 0, "with space");
    quote_is("semi;colon|pipe\ttab", 0, "semi;colon|pipe\ttab");
    quote_is("\xd8\xb9\xd9\x84\xd9\x8a", 0, "\xd8\xb9\xd9\x84\xd9\x8a");
    quote_is("it's", 0, "it's");
    /* without --excel, formulas are left alone */
    quote_is("=1+1", 0, "=1+1");
    quote_is("+96599999999", 0, "+96599999999");
}

static void test_quote_special_cells(void **state)
{
    (void)state;
    quote_is("a,b", 0, "\"a,b\"");
    quote_is("say \"hi\"", 0, "\"say \"\"hi\"\"\"");
    quote_is("\"", 0, "\"\"\"\"");
    quote_is("line1\nline2", 0, "\"line1\nline2\"");
    quote_is("a\rb", 0, "\"a\rb\"");
    quote_is("a\r\nb", 0, "\"a\r\nb\"");
    quote_is(",", 0, "\",\"");
}

static void test_quote_excel_guard(void **state)
{
    (void)state;
    quote_is("=1+1", 1, "'=1+1");
    quote_is("+96599999999", 1, "'+96599999999");
    quote_is("-5", 1, "'-5");
    quote_is("@SUM(A1)", 1, "'@SUM(A1)");
    quote_is("\tx", 1, "'\tx");
    /* CR needs quotes: the guard goes inside them */
    quote_is("\rx", 1, "\"'\rx\"");
    quote_is("=a,b", 1, "\"'=a,b\"");
    quote_is("=HYPERLINK(\"x\")", 1, "\"'=HYPERLINK(\"\"x\"\")\"");
    quote_is("-\n", 1, "\"'-\n\"");
    /* only the first character matters */
    quote_is("a=1", 1, "a=1");
    quote_is("x,=1", 1, "\"x,=1\"");
    quote_is("", 1, "");
    quote_is("'=already", 1, "'=already");
}

static void test_quote_small_buffer(void **state)
{
    (void)state;
    char out[16];
    /* the length needed is returned and nothing past size is written */
    static const struct { const char *s; int excel; size_t need; } cases[] = {
        {"abcdef", 0, 6}, {"a,b", 0, 5}, {"=1", 1, 3}, {"=a,b", 1, 7}, {"x\"y", 0, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(out, '#', sizeof out);
        size_t n = writer_quote(cases[i].s, strlen(cases[i].s), cases[i].excel, out, 2);
        assert_int_equal(n, cases[i].need);
        for (size_t k = 2; k < sizeof out; k++)
            if (out[k] != '#')
                fail_msg("writer_quote(\"%s\") wrote byte %zu with size 2", cases[i].s, k);
        memset(out, '#', sizeof out);
        assert_int_equal(writer_quote(cases[i].s, strlen(cases[i].s), cases[i].excel, out, 0), cases[i].need);
        assert_int_equal(out[0], '#');
    }
}

/* ---- row cells ---- */

static void make_columns(columns *c)
{
    record h;
    record_init(&h);
    static const char *names[] = {"order_no", "channels", "result_status", "note"};
    for (size_t i = 0; i < 4; i++)
        record_push(&h, names[i], strlen(names[i]));
    char err[256];
    if (columns_parse(c, &h, MODE_AUTO, NULL, 0, err, sizeof err) != 0)
        fail_msg("header: %s", err);
    record_free(&h);
}

static void cell_is(const row_cells *rc, size_t i, const char *want)
{
    assert_true(i < rc->n);
    size_t wl = strlen(want);
    if (rc->len[i] != wl || memcmp(rc->cell[i], want, wl) != 0)
        fail_msg("cell %zu is \"%.*s\", want \"%s\"", i, (int)rc->len[i], rc->cell[i], want);
}

static int64_t epoch_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void test_row_cells_fill(void **state)
{
    (void)state;
    columns c;
    make_columns(&c);
    assert_int_equal(c.nout, 3);
    row_cells rc;
    assert_int_equal(row_cells_init(&rc, &c), 0);
    assert_int_equal(rc.n, 3 + WRITER_RESULT_COLUMNS);

    row_cells_header(&rc, &c);
    cell_is(&rc, 0, "order_no");
    cell_is(&rc, 1, "channels");
    cell_is(&rc, 2, "note");
    static const char *names[] = {"result_status", "result_http_status", "result_attempts", "result_channels",
                                  "result_detail", "result_latency_ms", "result_finished_at"};
    for (size_t i = 0; i < 7; i++)
        cell_is(&rc, 3 + i, names[i]);

    job j;
    job_init(&j);
    job_reset(&j, 1);
    record_push(&j.rec, "A1", 2);
    record_push(&j.rec, "sms,whatsapp", 12);
    record_push(&j.rec, "old-status", 10);
    record_push(&j.rec, "a note, with comma", 18);
    j.status = RS_SENT;
    j.http_status = 200;
    j.attempts = 3;
    j.channels = RULES_WHATSAPP | RULES_SMS;
    snprintf(j.detail, sizeof j.detail, "Customer notified.");
    j.latency_ms = 1234;
    j.finished_at_ms = epoch_ms(2026, 11, 23, 19, 40, 0, 123);
    row_cells_fill(&rc, &c, &j);
    cell_is(&rc, 0, "A1");
    cell_is(&rc, 1, "sms,whatsapp");
    cell_is(&rc, 2, "a note, with comma"); /* the old result_status is not carried */
    cell_is(&rc, 3, "sent");
    cell_is(&rc, 4, "200");
    cell_is(&rc, 5, "3");
    cell_is(&rc, 6, "sms;whatsapp");
    cell_is(&rc, 7, "Customer notified.");
    cell_is(&rc, 8, "1234");
    cell_is(&rc, 9, "2026-11-23T19:40:00.123Z");

    /* nothing sent: empty http status, 0 attempts, empty latency */
    job_reset(&j, 2);
    j.status = RS_INVALID;
    j.channels = 0;
    snprintf(j.detail, sizeof j.detail, "channels: unknown channel \"fax\"");
    j.finished_at_ms = epoch_ms(2026, 1, 2, 3, 4, 5, 6);
    row_cells_fill(&rc, &c, &j);
    cell_is(&rc, 3, "invalid");
    cell_is(&rc, 4, "");
    cell_is(&rc, 5, "0");
    cell_is(&rc, 6, "");
    cell_is(&rc, 7, "channels: unknown channel \"fax\"");
    cell_is(&rc, 8, "");
    cell_is(&rc, 9, "2026-01-02T03:04:05.006Z");

    /* latency 0 is a value, not "none"; every status has its name */
    j.latency_ms = 0;
    j.http_status = 503;
    j.attempts = 5;
    j.channels = RULES_ALL_CHANNELS;
    static const struct { row_status st; const char *name; } st[] = {
        {RS_SENT, "sent"}, {RS_FAILED, "failed"}, {RS_INVALID, "invalid"}, {RS_DUPLICATE, "duplicate"},
        {RS_SKIPPED, "skipped"}, {RS_NOT_ATTEMPTED, "not_attempted"}, {RS_UNKNOWN, "unknown"},
        {RS_DRY_RUN, "dry_run"},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        j.status = st[i].st;
        row_cells_fill(&rc, &c, &j);
        cell_is(&rc, 3, st[i].name);
        cell_is(&rc, 4, "503");
        cell_is(&rc, 5, "5");
        cell_is(&rc, 6, "sms;email;whatsapp");
        cell_is(&rc, 8, "0");
    }
    /* a row with fewer fields than the header: the missing cells are empty */
    record_clear(&j.rec);
    record_push(&j.rec, "A9", 2);
    row_cells_fill(&rc, &c, &j);
    cell_is(&rc, 0, "A9");
    cell_is(&rc, 1, "");
    cell_is(&rc, 2, "");
    /* no outcome time: empty */
    j.finished_at_ms = 0;
    row_cells_fill(&rc, &c, &j);
    cell_is(&rc, 9, "");

    job_free(&j);
    row_cells_free(&rc);
    columns_free(&c);
}

/* What the writer writes, writer_result_parse reads back (--resume keeps it). */
static void test_result_parse_round_trip(void **state)
{
    (void)state;
    columns c;
    make_columns(&c);
    row_cells rc;
    assert_int_equal(row_cells_init(&rc, &c), 0);
    job j;
    job_init(&j);
    job_reset(&j, 4);
    record_push(&j.rec, "A4", 2);
    j.status = RS_FAILED;
    j.http_status = 422;
    j.attempts = 2;
    j.channels = RULES_SMS | RULES_EMAIL;
    snprintf(j.detail, sizeof j.detail, "HTTP 422: email failed, \"quoted\"\nsecond line");
    j.latency_ms = 0;
    j.finished_at_ms = epoch_ms(2026, 11, 23, 19, 40, 0, 123);
    row_cells_fill(&rc, &c, &j);
    record row;
    record_init(&row);
    for (size_t i = 0; i < rc.n; i++)
        record_push(&row, rc.cell[i], rc.len[i]);
    job_outcome o;
    memset(&o, 0, sizeof o);
    assert_int_equal(writer_result_parse(&row, c.nout, &o), 0);
    assert_int_equal(o.status, RS_FAILED);
    assert_int_equal(o.http_status, 422);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.channels, RULES_SMS | RULES_EMAIL);
    assert_string_equal(o.detail, j.detail);
    assert_int_equal(o.latency_ms, 0);
    assert_int_equal(o.finished_at_ms, j.finished_at_ms);

    /* taken as a row's outcome: as recorded, and no channel bits to settle */
    job k;
    job_init(&k);
    job_reset(&k, 4);
    job_restore(&k, &o);
    assert_int_equal(k.status, RS_FAILED);
    assert_int_equal(k.http_status, 422);
    assert_int_equal(k.attempts, 2);
    assert_int_equal(k.channels, RULES_SMS | RULES_EMAIL);
    assert_string_equal(k.detail, j.detail);
    assert_int_equal(k.latency_ms, 0);
    assert_int_equal(k.finished_at_ms, j.finished_at_ms);
    assert_int_equal(k.sent_channels | k.maybe_channels | k.failed_channels, 0);

    /* nothing sent: empty cells read back as none; an unknown name as pending */
    job_reset(&j, 5);
    j.status = RS_DUPLICATE;
    row_cells_fill(&rc, &c, &j);
    record_clear(&row);
    for (size_t i = 0; i < rc.n; i++)
        record_push(&row, i == c.nout ? "no-such-status" : rc.cell[i], i == c.nout ? 14 : rc.len[i]);
    assert_int_equal(writer_result_parse(&row, c.nout, &o), 0);
    assert_int_equal(o.status, RS_PENDING);
    assert_int_equal(o.http_status, 0);
    assert_int_equal(o.channels, 0);
    assert_int_equal(o.latency_ms, -1);
    assert_int_equal(o.finished_at_ms, 0);

    /* a channel no one knows: -1, and the channels stay as they were */
    record_clear(&row);
    for (size_t i = 0; i < rc.n; i++)
        record_push(&row, i == c.nout + 3 ? "fax" : rc.cell[i], i == c.nout + 3 ? 3 : rc.len[i]);
    o.channels = RULES_WHATSAPP;
    assert_int_equal(writer_result_parse(&row, c.nout, &o), -1);
    assert_int_equal(o.channels, RULES_WHATSAPP);

    record_free(&row);
    job_free(&k);
    job_free(&j);
    row_cells_free(&rc);
    columns_free(&c);
}

static void test_format_time(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(clock_format_iso(epoch_ms(2026, 11, 23, 19, 40, 0, 123), buf, sizeof buf), 24);
    assert_string_equal(buf, "2026-11-23T19:40:00.123Z");
    clock_format_iso(epoch_ms(2024, 2, 29, 23, 59, 59, 999), buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T23:59:59.999Z");
    clock_format_iso(1, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.001Z");
}

/* ---- a whole file ---- */

static void write_rows(const char *path, int excel, int commit, const char *const *cells, size_t ncells)
{
    char err[256];
    writer *w = writer_open(path, excel, err, sizeof err);
    if (!w)
        fail_msg("writer_open: %s", err);
    row_cells rc = {0};
    rc.n = ncells;
    rc.cell = calloc(ncells, sizeof *rc.cell);
    rc.len = calloc(ncells, sizeof *rc.len);
    for (size_t i = 0; i < ncells; i++) {
        rc.cell[i] = cells[i];
        rc.len[i] = strlen(cells[i]);
    }
    assert_int_equal(writer_cells(w, &rc), 0);
    assert_int_equal(writer_cells(w, &rc), 0);
    assert_int_equal(writer_close(w, commit, err, sizeof err), 0);
    free(rc.cell);
    free(rc.len);
}

static void test_file_round_trip(void **state)
{
    (void)state;
    static const char *cells[] = {"=1+1", "a,b", "say \"hi\"", "two\nlines", "-5", "plain", "",
                                  "\xd8\xb9", "cr\r\nlf", "@x", "+965"};
    const size_t n = sizeof cells / sizeof cells[0];
    char path[300], partial[320];
    for (int excel = 0; excel <= 1; excel++) {
        snprintf(path, sizeof path, "%s/out%d.csv", tmpdir, excel);
        snprintf(partial, sizeof partial, "%s.partial", path);
        write_rows(path, excel, 1, cells, n);
        assert_int_equal(access(partial, F_OK), -1); /* renamed into place */
        size_t len;
        char *text = testdir_slurp(path, &len);
        assert_non_null(text);
        if (excel) {
            assert_memory_equal(text, "\xef\xbb\xbf'=1+1,", 9);
            assert_non_null(strstr(text, "\r\n'=1+1,"));
        } else {
            assert_memory_equal(text, "=1+1,\"a,b\",", 11);
            assert_null(strstr(text, "\xef\xbb\xbf"));
            assert_non_null(strstr(text, "+965\n=1+1,"));
        }
        free(text);
        /* what the reader gets back is what was written (the guard undone) */
        char err[256];
        reader *rd = reader_open(path, 0, NULL, err, sizeof err);
        assert_non_null(rd);
        record rec;
        record_init(&rec);
        int rows = 0;
        while (reader_next(rd, &rec, err, sizeof err) == 1) {
            assert_false(rec.malformed);
            assert_int_equal(rec.n, n);
            for (size_t i = 0; i < n; i++) {
                if (rec.flen[i] != strlen(cells[i]) || memcmp(record_field(&rec, i), cells[i], rec.flen[i]) != 0)
                    fail_msg("excel=%d row %d cell %zu read back as \"%s\", want \"%s\"", excel, rows, i,
                             record_field(&rec, i), cells[i]);
            }
            rows++;
        }
        assert_int_equal(rows, 2);
        record_free(&rec);
        reader_close(rd);
    }
    /* without commit, neither the file nor the partial is left */
    snprintf(path, sizeof path, "%s/aborted.csv", tmpdir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    write_rows(path, 0, 0, cells, n);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(partial, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_plain_cells_unquoted),
        cmocka_unit_test(test_quote_special_cells),
        cmocka_unit_test(test_quote_excel_guard),
        cmocka_unit_test(test_quote_small_buffer),
        cmocka_unit_test(test_row_cells_fill),
        cmocka_unit_test(test_result_parse_round_trip),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_file_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
