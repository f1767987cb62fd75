/* reader_detect — what the head of an input is, before any record is parsed: a workbook or
 * a binary file instead of CSV text, its delimiter, and where it stops being UTF-8 (with
 * the likely encoding). Pure functions of the first chunk's bytes. */
#include "reader_detect.h"

#include <stdio.h>
#include <string.h>

#include "encoding.h"
#include "text.h"

/* Picks the delimiter that occurs most often outside quotes in the header line. */
char reader_detect_delimiter(const char *s, size_t len)
{
    static const char cands[] = {',', ';', '\t', '|'};
    size_t counts[4] = {0};
    int inq = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            inq = !inq;
        else if (!inq && (s[i] == '\n' || s[i] == '\r'))
            break;
        else if (!inq)
            for (int k = 0; k < 4; k++)
                counts[k] += s[i] == cands[k];
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (counts[k] > counts[best])
            best = k;
    return cands[best];
}

/* Where byte off of s (the start of the input) is: the data row (0 = the header) and
 * column, and the column's header name. A light scan that follows quotes and skips blank
 * lines as the parser does; used only to word an error. */
static void locate(const char *s, size_t off, char delim, long *row, size_t *col, char *name, size_t namesz)
{
    long rw = 0;
    size_t cl = 0, fstart = 0, hdr_end = 0;
    int inq = 0, content = 0;
    for (size_t i = 0; i < off; i++) {
        char c = s[i];
        if (inq) {
            if (c == '"')
                inq = 0; /* a doubled quote reopens at once: same state in the end */
            continue;
        }
        if (c == '"') {
            inq = 1;
            content = 1;
        } else if (c == delim) {
            cl++;
            content = 1;
        } else if (c == '\r' || c == '\n') {
            if (content) {
                if (rw == 0)
                    hdr_end = i;
                rw++;
            }
            cl = 0;
            content = 0;
        } else {
            content = 1;
        }
    }
    *row = rw;
    *col = cl + 1;
    name[0] = '\0';
    if (rw == 0)
        return;
    /* The header's field number cl: between the cl-th delimiter and the next. */
    size_t k = 0, i = 0;
    inq = 0;
    for (; i < hdr_end && k < cl; i++) {
        if (s[i] == '"')
            inq = !inq;
        else if (!inq && s[i] == delim)
            k++;
    }
    fstart = i;
    while (i < hdr_end && (inq || s[i] != delim)) {
        if (s[i] == '"')
            inq = !inq;
        i++;
    }
    const char *f = s + fstart;
    size_t fl = i - fstart;
    while (fl && (*f == '"' || *f == ' ')) {
        f++;
        fl--;
    }
    while (fl && (f[fl - 1] == '"' || f[fl - 1] == ' '))
        fl--;
    text_printable(f, fl, name, namesz);
}

/* A file that is not UTF-8 is refused before anything is sent when the header or the first
 * chunk (64 KiB) shows it, naming the spot and the likely encoding; later rows are checked
 * one by one (check_record). */
int reader_check_utf8(const char *label, const char *s, size_t len, char delim, int final, const char *conv_name,
                      char *err, size_t errlen)
{
    size_t bad = 0;
    if (encoding_utf8_ok(s, len, final, &bad))
        return 0;
    long row;
    size_t col;
    char name[48], where[120];
    locate(s, bad, delim, &row, &col, name, sizeof name);
    if (row == 0)
        snprintf(where, sizeof where, "the header (column %zu)", col);
    else if (name[0])
        snprintf(where, sizeof where, "row %ld, column %zu (\"%s\")", row, col, name);
    else
        snprintf(where, sizeof where, "row %ld, column %zu", row, col);
    if (conv_name) {
        snprintf(err, errlen, "%s: %s has bytes that are not valid %s: check how the file was saved, or give "
                              "--encoding with its real encoding", label, where, conv_name);
        return -1;
    }
    const char *guess = encoding_guess(s, len);
    int arabic = strcmp(guess, "windows-1256") == 0;
    snprintf(err, errlen, "%s: %s is not UTF-8 text (byte 0x%02X); the file looks saved as %s (%s Windows/Excel): "
                          "run again with --encoding %s, or save it from the spreadsheet as \"CSV UTF-8 (Comma "
                          "delimited)\"", label, where, (unsigned char)s[bad], guess, arabic ? "Arabic" : "Western",
             guess);
    return -1;
}

static int is_workbook(const char *p, size_t n, const char **kind)
{
    if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0) {
        *kind = ".xlsx or .ods";
        return 1;
    }
    if (n >= 8 && memcmp(p, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0) {
        *kind = ".xls";
        return 1;
    }
    return 0;
}

/* A compressed file or a document, by its first bytes: not text at all, so no encoding
 * could read it. */
static const char *binary_kind(const char *p, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *kind;
    } known[] = {
        {"\x1f\x8b", 2, "gzip-compressed data: gunzip it first"},
        {"BZh", 3, "bzip2-compressed data: bunzip2 it first"},
        {"\xfd" "7zXZ\x00", 6, "xz-compressed data: unxz it first"},
        {"\x28\xb5\x2f\xfd", 4, "zstd-compressed data: unzstd it first"},
        {"7z\xbc\xaf\x27\x1c", 6, "a 7-Zip archive: extract the CSV file first"},
        {"%PDF-", 5, "a PDF document: export the data as CSV instead"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(p, known[i].magic, known[i].len) == 0)
            return known[i].kind;
    return NULL;
}

int reader_check_text(const char *label, const char *p, size_t n, int encoding_given, char *err, size_t errlen)
{
    const char *kind;
    if (is_workbook(p, n, &kind)) {
        snprintf(err, errlen, "%s is a spreadsheet workbook (%s), not a CSV file: save it as CSV first, in Excel "
                              "with File > Save As > \"CSV UTF-8 (Comma delimited) (*.csv)\", in LibreOffice with File "
                              "> Save As > \"Text CSV (.csv)\" and character set \"Unicode (UTF-8)\"; then give the "
                              ".csv file", label, kind);
        return -1;
    }
    const char *bin = binary_kind(p, n);
    size_t bomlen, head = n;
    const char *nl = memchr(p, '\n', head);
    if (nl)
        head = (size_t)(nl - p);
    /* NUL in the header: no CSV text has one there (a stray NUL in a row only makes that row invalid) */
    if (!bin && !encoding_given && !encoding_from_bom((const unsigned char *)p, n, &bomlen) &&
        memchr(p, '\0', head))
        bin = "NUL bytes: a binary file, or UTF-16 text without a byte order mark (then give --encoding "
              "UTF-16LE)";
    if (bin) {
        snprintf(err, errlen, "%s is not CSV text (looks like %s)", label, bin);
        return -1;
    }
    return 0;
}
