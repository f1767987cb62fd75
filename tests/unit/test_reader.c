/* test_reader — unit tests of the streaming CSV reader: the csv-spectrum acid test, BOM,
 * delimiters, line ends, blank lines, malformed records, the ' guard, big records and
 * standard input from a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader.h"

#define SPECTRUM_DIR "tests/data/csv-spectrum"

#define TESTDIR_NAME "reader"
#include "testdir.h"

static const char *write_str(const char *name, const char *data)
{
    return testdir_write(name, data, strlen(data));
}

/* All records of a file. */
typedef struct {
    record *r;
    size_t n, cap;
} recs;

static void recs_free(recs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        record_free(&rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static void read_all_from(reader *rd, recs *rs)
{
    char err[256];
    record rec;
    record_init(&rec);
    memset(rs, 0, sizeof *rs);
    int rc;
    while ((rc = reader_next(rd, &rec, err, sizeof err)) == 1) {
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 8;
            rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
            assert_non_null(rs->r);
        }
        record_init(&rs->r[rs->n]);
        assert_int_equal(record_copy(&rs->r[rs->n], &rec), 0);
        rs->n++;
    }
    if (rc < 0)
        fail_msg("reader_next failed: %s", err);
    /* end of input is sticky */
    assert_int_equal(reader_next(rd, &rec, err, sizeof err), 0);
    record_free(&rec);
}

static void read_all(const char *path, char delim, recs *rs)
{
    char err[256] = "";
    reader *rd = reader_open(path, delim, NULL, err, sizeof err);
    if (!rd)
        fail_msg("reader_open(%s): %s", path, err);
    read_all_from(rd, rs);
    reader_close(rd);
}

static void field_is(const record *r, size_t i, const char *want)
{
    if (i >= r->n)
        fail_msg("record %ld has %zu fields, wanted field %zu = \"%s\"", r->rowno, r->n, i, want);
    size_t wl = strlen(want);
    if (r->flen[i] != wl || memcmp(record_field(r, i), want, wl) != 0)
        fail_msg("record %ld field %zu: got \"%.*s\" (%zu bytes), want \"%s\"", r->rowno, i,
                 (int)(r->flen[i] > 200 ? 200 : r->flen[i]), record_field(r, i), r->flen[i], want);
    /* fields are NUL-terminated for convenience */
    assert_int_equal(record_field(r, i)[r->flen[i]], '\0');
}

static void fields_are(const record *r, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    if (r->n != n)
        fail_msg("record %ld: %zu fields, want %zu", r->rowno, r->n, n);
    for (size_t i = 0; i < n; i++)
        field_is(r, i, va_arg(ap, const char *));
    va_end(ap);
}

/* ---- csv-spectrum ---- */

/* Compares the records of csv against the JSON array of objects; returns the number of
 * mismatches (each printed). */
static int spectrum_case(const char *name, const char *csvpath, const char *jsontext)
{
    cJSON *exp = cJSON_Parse(jsontext);
    if (!cJSON_IsArray(exp) || cJSON_GetArraySize(exp) == 0) {
        print_error("%s: expectation is not a non-empty JSON array\n", name);
        cJSON_Delete(exp);
        return 1;
    }
    recs rs;
    read_all(csvpath, 0, &rs);
    int bad = 0;
    size_t want_n = (size_t)cJSON_GetArraySize(exp) + 1;
    if (rs.n != want_n) {
        print_error("%s: %zu records (header included), want %zu\n", name, rs.n, want_n);
        bad++;
    }
    /* the header: the keys of the first object, in order */
    const cJSON *first = cJSON_GetArrayItem(exp, 0);
    size_t k = 0;
    for (const cJSON *it = first->child; it && rs.n > 0; it = it->next, k++) {
        if (k >= rs.r[0].n || strcmp(record_field(&rs.r[0], k), it->string) != 0) {
            print_error("%s: header field %zu is not \"%s\"\n", name, k, it->string);
            bad++;
        }
    }
    if (rs.n > 0 && rs.r[0].n != k) {
        print_error("%s: header has %zu fields, want %zu\n", name, rs.r[0].n, k);
        bad++;
    }
    size_t row = 1;
    for (const cJSON *obj = exp->child; obj && row < rs.n; obj = obj->next, row++) {
        const record *r = &rs.r[row];
        if (r->malformed) {
            print_error("%s: row %zu is malformed: %s\n", name, row, r->problem);
            bad++;
        }
        size_t i = 0;
        for (const cJSON *v = obj->child; v; v = v->next, i++) {
            const char *want = cJSON_IsString(v) ? v->valuestring : "";
            if (i >= r->n || r->flen[i] != strlen(want) || memcmp(record_field(r, i), want, r->flen[i]) != 0) {
                print_error("%s: row %zu field %zu (%s) is \"%s\", want \"%s\"\n", name, row, i, v->string,
                            i < r->n ? record_field(r, i) : "(missing)", want);
                bad++;
            }
        }
        if (r->n != i) {
            print_error("%s: row %zu has %zu fields, want %zu\n", name, row, r->n, i);
            bad++;
        }
    }
    recs_free(&rs);
    cJSON_Delete(exp);
    return bad;
}

static void test_csv_spectrum(void **state)
{
    (void)state;
    DIR *d = opendir(SPECTRUM_DIR);
    if (!d)
        fail_msg("csv-spectrum test data missing: %s (run from the repository root, as make test does)",
                 SPECTRUM_DIR);
    int cases = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".csv") != 0)
            continue;
        char base[200], csvp[400], jsonp[400];
        snprintf(base, sizeof base, "%.*s", (int)(nl - 4), e->d_name);
        snprintf(csvp, sizeof csvp, "%s/%s.csv", SPECTRUM_DIR, base);
        snprintf(jsonp, sizeof jsonp, "%s/%s.json", SPECTRUM_DIR, base);
        size_t jl = 0, cl = 0;
        char *json = testdir_slurp(jsonp, &jl);
        if (!json) {
            print_error("%s: no %s\n", base, jsonp);
            bad++;
            continue;
        }
        char *csv = testdir_slurp(csvp, &cl);
        assert_non_null(csv);
        const char *path = csvp;
        size_t blen = strlen(base);
        if (blen > 5 && strcmp(base + blen - 5, "_crlf") == 0 && !memchr(csv, '\r', cl)) {
            /* The stored *_crlf files have lost their CRs (the upstream files use CRLF
             * throughout, inside quoted fields too, and newlines_crlf.json expects
             * "\r\n" in a field): test the upstream bytes. */
            char *crlf = malloc(2 * cl + 1);
            size_t o = 0;
            assert_non_null(crlf);
            for (size_t i = 0; i < cl; i++) {
                if (csv[i] == '\n')
                    crlf[o++] = '\r';
                crlf[o++] = csv[i];
            }
            char name[256];
            snprintf(name, sizeof name, "%s.csv", base);
            path = testdir_write(name, crlf, o);
            free(crlf);
            print_message("# note: %s.csv has no CR in the test data; tested with LF -> CRLF restored\n", base);
        }
        bad += spectrum_case(base, path, json);
        cases++;
        free(json);
        free(csv);
    }
    closedir(d);
    if (cases < 10)
        fail_msg("only %d csv-spectrum cases found in %s", cases, SPECTRUM_DIR);
    assert_int_equal(bad, 0);
}

/* ---- reader behaviour ---- */

static void test_bom_skipped(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("bom.csv", "\xef\xbb\xbforder_no,channels\nA1,sms\n"), 0, &rs);
    assert_int_equal(rs.n, 2);
    fields_are(&rs.r[0], 2, "order_no", "channels");
    fields_are(&rs.r[1], 2, "A1", "sms");
    recs_free(&rs);
    /* a BOM with a ; file: detection looks past the BOM */
    read_all(write_str("bom2.csv", "\xef\xbb\xbf" "a;b\n1;2\n"), 0, &rs);
    assert_int_equal(rs.n, 2);
    fields_are(&rs.r[0], 2, "a", "b");
    recs_free(&rs);
    /* only a leading BOM is special */
    read_all(write_str("bom3.csv", "a,b\n\xef\xbb\xbfx,y\n"), 0, &rs);
    fields_are(&rs.r[1], 2, "\xef\xbb\xbfx", "y");
    recs_free(&rs);
}

static void delim_case(const char *name, const char *text, char delim, char want_delim, size_t nf,
                       const char *f0, const char *f1)
{
    char err[256];
    const char *p = write_str(name, text);
    reader *rd = reader_open(p, delim, NULL, err, sizeof err);
    assert_non_null(rd);
    recs rs;
    read_all_from(rd, &rs);
    assert_int_equal(reader_delimiter(rd), want_delim);
    reader_close(rd);
    assert_true(rs.n >= 2);
    assert_int_equal(rs.r[1].n, nf);
    field_is(&rs.r[1], 0, f0);
    if (nf > 1)
        field_is(&rs.r[1], 1, f1);
    recs_free(&rs);
}

static void test_delimiter_detection(void **state)
{
    (void)state;
    delim_case("comma.csv", "order_no,channels\nA1,sms\n", 0, ',', 2, "A1", "sms");
    delim_case("semi.csv", "order_no;channels\nA1;sms,email\n", 0, ';', 2, "A1", "sms,email");
    delim_case("tab.csv", "order_no\tchannels\nA1\tsms|email\n", 0, '\t', 2, "A1", "sms|email");
    delim_case("pipe.csv", "order_no|channels\nA1|sms;email\n", 0, '|', 2, "A1", "sms;email");
    /* delimiters inside quoted header names do not count */
    delim_case("quoted.csv", "\"a,b,c\";d;e\n1;2;3\n", 0, ';', 3, "1", "2");
    /* only the header line decides */
    delim_case("first.csv", "a;b\n1,2,3,4;5\n", 0, ';', 2, "1,2,3,4", "5");
}

static void test_delimiter_override(void **state)
{
    (void)state;
    /* --delimiter , on a ; file: one field */
    delim_case("ov1.csv", "order_no;channels\nA1;sms\n", ',', ',', 1, "A1;sms", NULL);
    /* --delimiter ; although the header has more commas */
    delim_case("ov2.csv", "a,b,c;d\n1,2,3;4\n", ';', ';', 2, "1,2,3", "4");
    delim_case("ov3.csv", "a|b\n1|2\n", '|', '|', 2, "1", "2");
}

static void test_crlf(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("crlf.csv", "a,b\r\n1,2\r\n\"x\r\ny\",3\r\n4,5\r\n"), 0, &rs);
    assert_int_equal(rs.n, 4);
    fields_are(&rs.r[0], 2, "a", "b");
    fields_are(&rs.r[1], 2, "1", "2");
    fields_are(&rs.r[2], 2, "x\r\ny", "3"); /* newlines inside cells as they were read */
    fields_are(&rs.r[3], 2, "4", "5");
    for (size_t i = 0; i < rs.n; i++) {
        assert_int_equal(rs.r[i].rowno, (long)i);
        assert_false(rs.r[i].malformed);
    }
    recs_free(&rs);
    /* last line without a line end */
    read_all(write_str("crlf2.csv", "a,b\r\n1,2"), 0, &rs);
    assert_int_equal(rs.n, 2);
    fields_are(&rs.r[1], 2, "1", "2");
    recs_free(&rs);
    /* old Mac CR-only line ends */
    read_all(write_str("cr.csv", "a,b\r1,2\r3,4\r"), 0, &rs);
    assert_int_equal(rs.n, 3);
    fields_are(&rs.r[2], 2, "3", "4");
    recs_free(&rs);
}

static void test_blank_lines_skipped(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("blank.csv", "a,b\n\n1,2\n   \n\t \r\n\r\n3,4\n\n\n"), 0, &rs);
    assert_int_equal(rs.n, 3);
    fields_are(&rs.r[1], 2, "1", "2");
    fields_are(&rs.r[2], 2, "3", "4");
    assert_int_equal(rs.r[1].rowno, 1);
    assert_int_equal(rs.r[2].rowno, 2); /* skipped lines are not counted */
    recs_free(&rs);
    /* blank lines before the header too */
    read_all(write_str("blank2.csv", "\n\na,b\n1,2\n"), 0, &rs);
    assert_int_equal(rs.n, 2);
    fields_are(&rs.r[0], 2, "a", "b");
    recs_free(&rs);
    /* a quoted field of spaces is data, not a blank line */
    read_all(write_str("blank3.csv", "a,b\n\"  \",x\n"), 0, &rs);
    assert_int_equal(rs.n, 2);
    fields_are(&rs.r[1], 2, "  ", "x");
    recs_free(&rs);
}

static void test_whitespace_line_one_column_kept(void **state)
{
    (void)state;
    /* with one column, a line of spaces is a (blank) identifier, kept as a row */
    recs rs;
    read_all(write_str("onecol.csv", "order_no\n  \nA1\n"), 0, &rs);
    assert_int_equal(rs.n, 3);
    fields_are(&rs.r[1], 1, "  ");
    fields_are(&rs.r[2], 1, "A1");
    recs_free(&rs);
}

static void test_malformed_quote_recovers(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("bad.csv", "a,b,c\nx,\"b\"c,d\n1,y\"z,w\n4,5,6\n\"q\",\"r\",\"s\"\n"), 0, &rs);
    assert_int_equal(rs.n, 5);
    /* text after a closing quote */
    assert_true(rs.r[1].malformed);
    assert_true(strlen(rs.r[1].problem) > 10);
    assert_non_null(strstr(rs.r[1].problem, "field 2"));
    field_is(&rs.r[1], 0, "x");
    /* what the user wrote is kept in the record, not dropped */
    assert_non_null(strstr(record_field(&rs.r[1], rs.r[1].n - 1), "c,d"));
    assert_int_equal(rs.r[1].rowno, 1);
    /* a quote inside an unquoted field */
    assert_true(rs.r[2].malformed);
    assert_true(strlen(rs.r[2].problem) > 10);
    assert_non_null(strstr(rs.r[2].problem, "field 2"));
    field_is(&rs.r[2], 0, "1");
    assert_non_null(strstr(record_field(&rs.r[2], rs.r[2].n - 1), "z,w"));
    assert_int_equal(rs.r[2].rowno, 2);
    /* the following rows still parse */
    fields_are(&rs.r[3], 3, "4", "5", "6");
    assert_false(rs.r[3].malformed);
    assert_int_equal(rs.r[3].problem[0], '\0');
    assert_int_equal(rs.r[3].rowno, 3);
    fields_are(&rs.r[4], 3, "q", "r", "s");
    assert_false(rs.r[4].malformed);
    recs_free(&rs);
}

static void test_unterminated_quote_at_eof(void **state)
{
    (void)state;
    recs rs;
    /* In a file the broken line alone is the malformed record; the rows after it are
     * read on their own instead of vanishing into one endless quoted field. */
    read_all(write_str("unterm.csv", "a,b\n1,2\n3,\"open\n4,5\n"), 0, &rs);
    assert_int_equal(rs.n, 4);
    fields_are(&rs.r[1], 2, "1", "2");
    assert_false(rs.r[1].malformed);
    assert_true(rs.r[2].malformed);
    assert_non_null(strstr(rs.r[2].problem, "never closed"));
    field_is(&rs.r[2], 0, "3,\"open");
    fields_are(&rs.r[3], 2, "4", "5");
    assert_false(rs.r[3].malformed);
    recs_free(&rs);
    /* the same without a final newline */
    read_all(write_str("unterm2.csv", "a,b\n3,\"open"), 0, &rs);
    assert_int_equal(rs.n, 2);
    assert_true(rs.r[1].malformed);
    assert_true(rs.r[1].problem[0] != '\0');
    recs_free(&rs);
}

static void test_guard_removed(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("guard.csv", "a,b,c\n'=1+1,'abc,'+x\n'-y,'@z,\"'\tt\"\n\"'=A,B\",'',''''\n"), 0, &rs);
    assert_int_equal(rs.n, 4);
    fields_are(&rs.r[1], 3, "=1+1", "'abc", "+x");
    fields_are(&rs.r[2], 3, "-y", "@z", "\tt");
    fields_are(&rs.r[3], 3, "=A,B", "''", "''''");
    recs_free(&rs);

    char s1[] = "'=1+1";
    assert_int_equal(reader_unguard(s1, 5), 4);
    assert_string_equal(s1, "=1+1");
    char s2[] = "'abc";
    assert_int_equal(reader_unguard(s2, 4), 4);
    assert_string_equal(s2, "'abc");
    char s3[] = "'\rx";
    assert_int_equal(reader_unguard(s3, 3), 2);
    assert_string_equal(s3, "\rx");
    char s4[] = "'";
    assert_int_equal(reader_unguard(s4, 1), 1);
    char s5[] = "x'=";
    assert_int_equal(reader_unguard(s5, 3), 3);
}

static void test_big_field(void **state)
{
    (void)state;
    const size_t big = 4u << 20;
    size_t cap = big * 2 + 1024, o = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    o += (size_t)sprintf(buf + o, "id,note\n1,");
    memset(buf + o, 'x', big);
    o += big;
    o += (size_t)sprintf(buf + o, "\n2,\"");
    /* a quoted 4 MB field full of delimiters, doubled quotes and newlines */
    size_t qstart = o;
    for (size_t i = 0; o - qstart < big; i++) {
        static const char pat[] = "ab,\"\"c\nd";
        memcpy(buf + o, pat, sizeof pat - 1);
        o += sizeof pat - 1;
    }
    size_t qraw = o - qstart;
    o += (size_t)sprintf(buf + o, "\"\n3,end\n");
    const char *p = testdir_write("big.csv", buf, o);
    recs rs;
    read_all(p, 0, &rs);
    assert_int_equal(rs.n, 4);
    assert_int_equal(rs.r[1].n, 2);
    assert_false(rs.r[1].malformed);
    assert_int_equal(rs.r[1].flen[1], big);
    const char *f = record_field(&rs.r[1], 1);
    for (size_t i = 0; i < big; i++)
        if (f[i] != 'x')
            fail_msg("byte %zu of the big field is 0x%02x", i, (unsigned char)f[i]);
    assert_false(rs.r[2].malformed);
    assert_int_equal(rs.r[2].n, 2);
    /* each 8-byte pattern unquotes to 7 bytes */
    assert_int_equal(rs.r[2].flen[1], qraw / 8 * 7);
    assert_memory_equal(record_field(&rs.r[2], 1), "ab,\"c\ndab,\"c\nd", 14);
    fields_are(&rs.r[3], 2, "3", "end");
    recs_free(&rs);
    free(buf);
}

/* A record over READER_MAX_RECORD is one malformed record; the rows after it parse. */
static void test_oversize_record(void **state)
{
    (void)state;
    const size_t big = READER_MAX_RECORD + (1u << 20);
    char *buf = malloc(big + 64);
    assert_non_null(buf);
    size_t o = (size_t)sprintf(buf, "id,note\n1,");
    memset(buf + o, 'x', big);
    o += big;
    o += (size_t)sprintf(buf + o, "\n2,ok\n");
    recs rs;
    read_all(testdir_write("over1.csv", buf, o), 0, &rs);
    free(buf);
    size_t n = rs.n;
    int bad_ok = n >= 2 && rs.r[1].malformed && strstr(rs.r[1].problem, "larger") != NULL;
    int tail_ok = n >= 3 && rs.r[2].n == 2 && !rs.r[2].malformed && rs.r[2].rowno == 2 &&
                  strcmp(record_field(&rs.r[2], 0), "2") == 0 && strcmp(record_field(&rs.r[2], 1), "ok") == 0;
    recs_free(&rs);
    if (n != 3)
        fail_msg("%zu records (want 3: header, one malformed record, 2,ok): the rest of the oversized line "
                 "came back as a row", n);
    assert_true(bad_ok);
    assert_true(tail_ok);
}

/* The same with the oversized field quoted and spanning many lines: the lines inside the
 * quotes must not come back as rows of their own (each would look like "ORD-n,sms" and
 * could be sent). */
static void test_oversize_quoted_multiline_record(void **state)
{
    (void)state;
    const size_t big = READER_MAX_RECORD + (1u << 20);
    char *buf = malloc(big + 4096);
    assert_non_null(buf);
    size_t o = (size_t)sprintf(buf, "order_no,channels\nA1,\"");
    size_t start = o;
    long k = 0;
    while (o - start < big)
        o += (size_t)sprintf(buf + o, "ORD-%09ld,sms\n", k++);
    o += (size_t)sprintf(buf + o, "\"\nA2,email\n");
    recs rs;
    read_all(testdir_write("over2.csv", buf, o), 0, &rs);
    free(buf);
    size_t n = rs.n;
    int tail_ok = n >= 1 && rs.r[n - 1].n == 2 && strcmp(record_field(&rs.r[n - 1], 0), "A2") == 0;
    int first_bad = n >= 2 && rs.r[1].malformed;
    recs_free(&rs);
    if (n != 3)
        fail_msg("%zu records (want 3: header, one malformed record, A2): lines inside the oversized "
                 "quoted field came back as rows", n);
    assert_true(first_bad);
    assert_true(tail_ok);
}

static void test_twenty_thousand_columns(void **state)
{
    (void)state;
    const int cols = 20000;
    size_t cap = (size_t)cols * 16 + 16, o = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < cols; i++)
        o += (size_t)sprintf(buf + o, "%sc%d", i ? "," : "", i);
    buf[o++] = '\n';
    for (int i = 0; i < cols; i++)
        o += (size_t)sprintf(buf + o, "%s%d", i ? "," : "", i);
    buf[o++] = '\n';
    const char *p = testdir_write("wide.csv", buf, o);
    free(buf);
    char err[256];
    reader *rd = reader_open(p, 0, NULL, err, sizeof err);
    assert_non_null(rd);
    recs rs;
    read_all_from(rd, &rs);
    assert_int_equal(reader_delimiter(rd), ',');
    assert_int_equal(reader_bytes(rd), reader_size(rd));
    assert_int_equal(reader_size(rd), o);
    reader_close(rd);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.r[0].n, (size_t)cols);
    assert_int_equal(rs.r[1].n, (size_t)cols);
    char want[32];
    for (int i = 0; i < cols; i += 997) {
        snprintf(want, sizeof want, "c%d", i);
        field_is(&rs.r[0], (size_t)i, want);
        snprintf(want, sizeof want, "%d", i);
        field_is(&rs.r[1], (size_t)i, want);
    }
    field_is(&rs.r[0], (size_t)cols - 1, "c19999");
    field_is(&rs.r[1], (size_t)cols - 1, "19999");
    recs_free(&rs);
}

/* Feeds text into our standard input through a pipe from a child process. */
static void test_stdin_pipe(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    const int rows = 20000; /* ~400 KB: more than a pipe buffer and the reader's chunk */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        FILE *w = fdopen(pfd[1], "w");
        fputs("\xef\xbb\xbforder_no;channels\r\n", w);
        for (int i = 1; i <= rows; i++)
            fprintf(w, "ORD-%06d;\"sms;email\"\r\n", i);
        fclose(w);
        _exit(0);
    }
    close(pfd[1]);
    int saved = dup(0);
    assert_true(saved >= 0);
    assert_int_equal(dup2(pfd[0], 0), 0);
    close(pfd[0]);
    clearerr(stdin);

    char err[256];
    reader *rd = reader_open("-", 0, NULL, err, sizeof err);
    assert_non_null(rd);
    record rec;
    record_init(&rec);
    long n = 0;
    int rc, ok = 1;
    while ((rc = reader_next(rd, &rec, err, sizeof err)) == 1) {
        char want[32];
        if (n == 0) {
            ok = ok && rec.n == 2 && strcmp(record_field(&rec, 0), "order_no") == 0;
        } else {
            snprintf(want, sizeof want, "ORD-%06ld", n);
            ok = ok && rec.n == 2 && !rec.malformed && strcmp(record_field(&rec, 0), want) == 0 &&
                 strcmp(record_field(&rec, 1), "sms;email") == 0 && rec.rowno == n;
        }
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(reader_delimiter(rd), ';');
    assert_int_equal(reader_size(rd), 0); /* unknown for a pipe */
    assert_true(reader_bytes(rd) > 0);
    reader_close(rd);
    record_free(&rec);

    int status;
    waitpid(pid, &status, 0);
    dup2(saved, 0);
    close(saved);
    clearerr(stdin);
    assert_int_equal(n, rows + 1);
    assert_true(ok);
}


/* ---- encodings (issue 18) ---- */

/* Reads all records of path with --encoding enc; returns reader_next's last result and
 * leaves the first error in err. */
static int read_enc(const char *path, const char *enc, recs *rs, char *err, size_t errlen)
{
    reader *rd = reader_open(path, 0, enc, err, errlen);
    assert_non_null(rd);
    record rec;
    record_init(&rec);
    memset(rs, 0, sizeof *rs);
    int rc;
    while ((rc = reader_next(rd, &rec, err, errlen)) == 1) {
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 8;
            rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
            assert_non_null(rs->r);
        }
        record_init(&rs->r[rs->n]);
        assert_int_equal(record_copy(&rs->r[rs->n], &rec), 0);
        rs->n++;
    }
    record_free(&rec);
    reader_close(rd);
    return rc;
}

/* UTF-16 (both byte orders, BOM) of a long file: characters split across the 64 KiB
 * chunks and surrogate pairs come out as the same UTF-8. */
static void test_utf16_bom_streams(void **state)
{
    (void)state;
    /* "أحمد 😀 Zoë" in UTF-8, and its UTF-16 code units. */
    static const char name8[] = "\xd8\xa3\xd8\xad\xd9\x85\xd8\xaf \xf0\x9f\x98\x80 Zo\xc3\xab";
    static const unsigned units[] = {0x0623, 0x062d, 0x0645, 0x062f, ' ', 0xd83d, 0xde00, ' ', 'Z', 'o', 0xeb};
    for (int be = 0; be <= 1; be++) {
        size_t cap = 4u << 20, o = 0;
        unsigned char *buf = malloc(cap);
        assert_non_null(buf);
        buf[o++] = be ? 0xfe : 0xff;
        buf[o++] = be ? 0xff : 0xfe;
#define PUT(u)                                                                                       \
    do {                                                                                             \
        buf[o++] = (unsigned char)(be ? (u) >> 8 : (u)&0xff);                                        \
        buf[o++] = (unsigned char)(be ? (u)&0xff : (u) >> 8);                                        \
    } while (0)
        const char *hdr = "order_no\tname\r\n";
        for (const char *p = hdr; *p; p++)
            PUT((unsigned)*p);
        long rows = 6000;
        for (long i = 0; i < rows; i++) {
            char id[32];
            snprintf(id, sizeof id, "R%ld\t", i);
            for (const char *p = id; *p; p++)
                PUT((unsigned)*p);
            for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
                PUT(units[k]);
            PUT('\r');
            PUT('\n');
        }
#undef PUT
        const char *path = testdir_write(be ? "u16be.csv" : "u16le.csv", buf, o);
        free(buf);
        recs rs;
        char err[512] = "";
        assert_int_equal(read_enc(path, NULL, &rs, err, sizeof err), 0);
        assert_int_equal(rs.n, rows + 1);
        assert_string_equal(record_field(&rs.r[0], 1), "name");
        int ok = 1;
        for (long i = 1; i <= rows; i++)
            ok = ok && rs.r[i].n == 2 && !rs.r[i].malformed && strcmp(record_field(&rs.r[i], 1), name8) == 0;
        assert_true(ok);
        recs_free(&rs);
    }
}

/* --encoding windows-1256 / windows-1252 / iso-8859-6: converted as it streams. */
static void test_encoding_option(void **state)
{
    (void)state;
    recs rs;
    char err[512] = "";
    /* "order_no,name\nA1,أحمد\n" in windows-1256 */
    const char *p = write_str("w1256.csv", "order_no,name\nA1,\xc3\xcd\xe3\xcf\n");
    assert_int_equal(read_enc(p, "windows-1256", &rs, err, sizeof err), 0);
    assert_int_equal(rs.n, 2);
    assert_string_equal(record_field(&rs.r[1], 1), "\xd8\xa3\xd8\xad\xd9\x85\xd8\xaf");
    recs_free(&rs);
    p = write_str("w1252.csv", "order_no,name\nA1,Zo\xeb M\xfcller\n");
    assert_int_equal(read_enc(p, "WINDOWS-1252", &rs, err, sizeof err), 0);
    assert_string_equal(record_field(&rs.r[1], 1), "Zo\xc3\xab M\xc3\xbcller");
    recs_free(&rs);
    /* a UTF-8 BOM says what the file is, whatever --encoding says */
    p = write_str("bom8.csv", "\xef\xbb\xbforder_no,name\nA1,Zo\xc3\xab\n");
    assert_int_equal(read_enc(p, "windows-1252", &rs, err, sizeof err), 0);
    assert_string_equal(record_field(&rs.r[0], 0), "order_no");
    assert_string_equal(record_field(&rs.r[1], 1), "Zo\xc3\xab");
    recs_free(&rs);
    /* an unknown name is refused at once, saying where to look */
    assert_null(reader_open(p, 0, "no-such-encoding", err, sizeof err));
    assert_non_null(strstr(err, "no-such-encoding"));
    assert_non_null(strstr(err, "iconv -l"));
}

/* Not UTF-8 in the first 64 KiB, without --encoding: the first read fails naming the row,
 * the column and the likely encoding. */
static void test_not_utf8_early(void **state)
{
    (void)state;
    recs rs;
    char err[512] = "";
    const char *p = write_str("early1256.csv", "order_no,channels,name\nA1,sms,Ali\n\"A2\",\"sms\",\xc3\xcd\xe3\xcf\n");
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
    assert_int_equal(rs.n, 0); /* not even the header: nothing may start */
    assert_non_null(strstr(err, "row 2, column 3 (\"name\")"));
    assert_non_null(strstr(err, "--encoding windows-1256"));
    p = write_str("early1252.csv", "order_no;name\n\nA1;Fran\xe7ois\n");
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "row 1, column 2 (\"name\")"));
    assert_non_null(strstr(err, "--encoding windows-1252"));
    p = write_str("hdr.csv", "order_no,\xe1\xc7\xd3\xe3\nA1,x\n");
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "the header (column 2)"));
    /* a UTF-8 character cut by the end of the file is not UTF-8 either */
    p = write_str("cut.csv", "order_no\nA\xd8");
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "row 1, column 1"));
}

/* Past the first 64 KiB, a row that is not UTF-8 comes back malformed naming its column,
 * its bad bytes replaced by U+FFFD; the rows around it are untouched. */
static void test_not_utf8_late(void **state)
{
    (void)state;
    size_t cap = 200000, o = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    o += (size_t)snprintf(buf + o, cap - o, "order_no,name\n");
    for (int i = 0; o < 70000; i++)
        o += (size_t)snprintf(buf + o, cap - o, "R%05d,\xd8\xb3\xd8\xa7\n", i);
    o += (size_t)snprintf(buf + o, cap - o, "BAD,x\xe1\xc7y\nNEXT,ok\n");
    const char *p = testdir_write("late.csv", buf, o);
    free(buf);
    recs rs;
    char err[512] = "";
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), 0);
    record *bad = &rs.r[rs.n - 2], *next = &rs.r[rs.n - 1];
    assert_string_equal(record_field(bad, 0), "BAD");
    assert_true(bad->malformed);
    assert_non_null(strstr(bad->problem, "column name is not valid UTF-8"));
    assert_string_equal(record_field(bad, 1), "x\xef\xbf\xbd\xef\xbf\xbdy");
    assert_false(next->malformed);
    assert_string_equal(record_field(next, 1), "ok");
    recs_free(&rs);
}

/* With --encoding the user said what the file is: bytes that are not valid in it make rows
 * invalid instead of stopping the job. */
static void test_explicit_encoding_rows_invalid(void **state)
{
    (void)state;
    recs rs;
    char err[512] = "";
    const char *p = write_str("explicit.csv", "order_no,name\nA1,\xff\xfe\nA2,ok\n");
    assert_int_equal(read_enc(p, "utf-8", &rs, err, sizeof err), 0);
    assert_int_equal(rs.n, 3);
    assert_true(rs.r[1].malformed);
    assert_non_null(strstr(rs.r[1].problem, "column name"));
    assert_false(rs.r[2].malformed);
    recs_free(&rs);
    /* bytes the named encoding does not define: that row only, naming the encoding */
    p = write_str("ascii.csv", "order_no,name\nA1,caf\xe9\nA2,ok\n");
    assert_int_equal(read_enc(p, "ASCII", &rs, err, sizeof err), 0);
    assert_int_equal(rs.n, 3);
    assert_true(rs.r[1].malformed);
    assert_non_null(strstr(rs.r[1].problem, "column name has bytes that are not valid ASCII"));
    assert_string_equal(record_field(&rs.r[1], 1), "caf\xef\xbf\xbd");
    assert_false(rs.r[2].malformed);
    recs_free(&rs);
    /* UTF-16 cut in the middle of a code unit at the end of the file */
    p = testdir_write("odd16.csv", "\xff\xfeo\0\n\0A\0\n\0B", 11);
    assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
    assert_non_null(strstr(err, "not valid UTF-16LE"));
}

/* Workbooks are refused on the first read, saying how to save them as CSV UTF-8. */
static void test_workbook_refused(void **state)
{
    (void)state;
    static const struct { const char *name, *bytes, *kind; size_t len; } books[] = {
        {"book.xlsx", "PK\x03\x04\x14\x00\x06\x00", ".xlsx or .ods", 8},
        {"book.xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", ".xls", 10},
    };
    for (size_t i = 0; i < 2; i++) {
        const char *p = testdir_write(books[i].name, books[i].bytes, books[i].len);
        recs rs;
        char err[512] = "";
        assert_int_equal(read_enc(p, NULL, &rs, err, sizeof err), -1);
        assert_non_null(strstr(err, "spreadsheet workbook"));
        assert_non_null(strstr(err, books[i].kind));
        assert_non_null(strstr(err, "CSV UTF-8 (Comma delimited)"));
    }
}

static int cancel_now(void *arg)
{
    return ++*(int *)arg >= 2;
}

/* A FIFO: opened at once without a writer; read once (no re-reading recovery) when the
 * writer comes; the wait can be cancelled. */
static void test_fifo_input(void **state)
{
    (void)state;
    char path[300], err[256] = "";
    snprintf(path, sizeof path, "%s/in.fifo", tmpdir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* no writer: open returns, and a cancelled wait ends the first read */
    reader *rd = reader_open(path, 0, NULL, err, sizeof err);
    assert_non_null(rd);
    assert_false(reader_is_regular(rd));
    int calls = 0;
    reader_set_cancel(rd, cancel_now, &calls);
    record rec;
    record_init(&rec);
    assert_int_equal(reader_next(rd, &rec, err, sizeof err), -1);
    assert_non_null(strstr(err, "waiting for a writer"));
    reader_close(rd);

    rd = reader_open(path, 0, NULL, err, sizeof err);
    assert_non_null(rd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        usleep(200 * 1000);
        int fd = open(path, O_WRONLY);
        /* an unclosed quote: on a file the line would be re-read; here RFC 4180 applies */
        const char *text = "order_no,channels\nA1,sms\n\"A2,sms\nA3,sms\n";
        ssize_t w = write(fd, text, strlen(text));
        _exit(w == (ssize_t)strlen(text) ? 0 : 1);
    }
    recs rs;
    read_all_from(rd, &rs);
    reader_close(rd);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(rs.n, 3);
    assert_string_equal(record_field(&rs.r[1], 0), "A1");
    assert_true(rs.r[2].malformed);
    recs_free(&rs);
    record_free(&rec);
    unlink(path);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256] = "", path[300];
    snprintf(path, sizeof path, "%s/does-not-exist.csv", tmpdir);
    assert_null(reader_open(path, 0, NULL, err, sizeof err));
    assert_non_null(strstr(err, "does-not-exist.csv"));
    err[0] = '\0';
    assert_null(reader_open(tmpdir, 0, NULL, err, sizeof err));
    assert_true(err[0] != '\0');
}

static void test_empty_file(void **state)
{
    (void)state;
    recs rs;
    read_all(write_str("empty.csv", ""), 0, &rs);
    assert_int_equal(rs.n, 0);
    recs_free(&rs);
    read_all(write_str("hdronly.csv", "order_no,channels"), 0, &rs);
    assert_int_equal(rs.n, 1);
    fields_are(&rs.r[0], 2, "order_no", "channels");
    recs_free(&rs);
}

/* The budget warning's cheap upper bound of the rows: lines, a last one without a newline
 * included; never a pipe. */
static void test_count_lines(void **state)
{
    (void)state;
    assert_int_equal(reader_count_lines(write_str("cl0.csv", "")), 0);
    assert_int_equal(reader_count_lines(write_str("cl1.csv", "order_no")), 1);
    assert_int_equal(reader_count_lines(write_str("cl2.csv", "order_no\nA\n")), 2);
    assert_int_equal(reader_count_lines(write_str("cl3.csv", "order_no\r\nA\r\nB")), 3);
    /* a quoted newline is one record but two lines: an upper bound */
    assert_int_equal(reader_count_lines(write_str("cl4.csv", "a,b\n\"x\ny\",1\n")), 3);
    /* more lines than one read chunk */
    size_t n = 200000;
    char *big = malloc(n * 2);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[2 * i] = 'x', big[2 * i + 1] = '\n';
    assert_int_equal(reader_count_lines(testdir_write("cl5.csv", big, n * 2)), (long long)n);
    free(big);
    assert_int_equal(reader_count_lines("-"), -1);
    assert_int_equal(reader_count_lines(testdir_path("no-such-file.csv")), -1);
    const char *fifo = testdir_path("cl.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(reader_count_lines(fifo), -1); /* returns at once: never opened */
}

static void test_record_helpers(void **state)
{
    (void)state;
    record a, b;
    record_init(&a);
    record_init(&b);
    for (int i = 0; i < 40; i++) {
        char f[16];
        int n = snprintf(f, sizeof f, "f%d", i);
        assert_int_equal(record_push(&a, f, (size_t)n), 0);
    }
    assert_int_equal(record_push(&a, "", 0), 0);
    a.rowno = 7;
    a.malformed = 1;
    snprintf(a.problem, sizeof a.problem, "why");
    assert_int_equal(record_copy(&b, &a), 0);
    assert_int_equal(b.n, 41);
    assert_int_equal(b.rowno, 7);
    assert_true(b.malformed);
    assert_string_equal(b.problem, "why");
    assert_string_equal(record_field(&b, 39), "f39");
    assert_int_equal(b.flen[40], 0);
    record_clear(&b);
    assert_int_equal(b.n, 0);
    assert_false(b.malformed);
    record_free(&a);
    record_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_spectrum),
        cmocka_unit_test(test_bom_skipped),
        cmocka_unit_test(test_delimiter_detection),
        cmocka_unit_test(test_delimiter_override),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_blank_lines_skipped),
        cmocka_unit_test(test_whitespace_line_one_column_kept),
        cmocka_unit_test(test_malformed_quote_recovers),
        cmocka_unit_test(test_unterminated_quote_at_eof),
        cmocka_unit_test(test_guard_removed),
        cmocka_unit_test(test_big_field),
        cmocka_unit_test(test_oversize_record),
        cmocka_unit_test(test_oversize_quoted_multiline_record),
        cmocka_unit_test(test_twenty_thousand_columns),
        cmocka_unit_test(test_stdin_pipe),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_utf16_bom_streams),
        cmocka_unit_test(test_encoding_option),
        cmocka_unit_test(test_not_utf8_early),
        cmocka_unit_test(test_not_utf8_late),
        cmocka_unit_test(test_explicit_encoding_rows_invalid),
        cmocka_unit_test(test_workbook_refused),
        cmocka_unit_test(test_fifo_input),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_count_lines),
        cmocka_unit_test(test_record_helpers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
