/* reader — streaming CSV input on libcsv, one record per call, with per-record recovery:
 * opening (a FIFO waited for), encoding conversion, parsing. The record type is in record.c,
 * the look at the input's head (not CSV, delimiter, not UTF-8) in reader_detect.c. */
#include "reader.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoding.h"
#include "reader_detect.h"
#include "text.h"

#define CHUNK (64 * 1024)

struct reader {
    FILE *fp;
    int is_stdin;       /* the stream is not ours to close */
    int seekable;       /* a broken quote can be re-read line by line (a regular file, unconverted) */
    char *label;        /* the input's name in messages */
    char *encoding;     /* --encoding, NULL when not given */
    encoding_conv *conv; /* to UTF-8, when the input is in another encoding */
    char *raw;          /* CHUNK bytes of input before conversion */
    size_t rpos, rend;
    int raw_eof;
    unsigned long long raw_read;
    record hdr;         /* the header, for naming columns in messages */
    int fifo;           /* wait for a writer before the first read */
    int regular;        /* a regular file, opened by path: it can be read again */
    int (*cancel)(void *);
    void *cancel_arg;
    struct csv_parser csv;
    unsigned char opts;
    char delim;
    char *buf;          /* CHUNK bytes read from the file */
    size_t pos, end;    /* unconsumed bytes are buf[pos..end) */
    int eof;
    int started;        /* BOM and delimiter handled */
    unsigned long long consumed, size;
    long rows;          /* records returned so far, header included */
    size_t ncols;       /* fields in the header */
    /* state of the record being parsed */
    record *cur;
    int done;           /* cur is complete */
    int oversize;
    int skipping;       /* cur is too large: parse on to its end, keep nothing */
};

size_t reader_unguard(char *s, size_t len)
{
    if (len >= 2 && s[0] == '\'' &&
        (s[1] == '=' || s[1] == '+' || s[1] == '-' || s[1] == '@' || s[1] == '\t' || s[1] == '\r')) {
        memmove(s, s + 1, len - 1);
        s[len - 1] = '\0';
        return len - 1;
    }
    return len;
}

/* libcsv trims spaces around unquoted fields by default; values must round-trip exactly. */
static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static int is_term(unsigned char c) { return c == '\n' || c == '\r'; }

static void on_field(void *s, size_t len, void *data)
{
    reader *r = data;
    if (r->skipping)
        return;
    if (r->cur->len + len > READER_MAX_RECORD) {
        r->oversize = 1;
        len = 0;
    }
    if (record_push(r->cur, s ? s : "", len) < 0)
        r->oversize = 1;
}

static void on_row(int c, void *data)
{
    (void)c;
    reader *r = data;
    r->done = 1;
}

static void parser_reset(reader *r)
{
    csv_free(&r->csv);
    csv_init(&r->csv, r->opts);
    csv_set_space_func(&r->csv, no_space);
    csv_set_delim(&r->csv, (unsigned char)r->delim);
    /* libcsv grows its field buffer by a fixed step (128 bytes by default): a large field
     * would cost a realloc every 128 bytes. */
    csv_set_blk_size(&r->csv, 256 * 1024);
}

static reader *reader_new(char delim, const char *encoding, const char *label)
{
    reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->buf = malloc(CHUNK);
    r->label = strdup(label);
    r->encoding = encoding ? strdup(encoding) : NULL;
    if (!r->buf || !r->label || (encoding && !r->encoding)) {
        free(r->buf);
        free(r->label);
        free(r->encoding);
        free(r);
        return NULL;
    }
    record_init(&r->hdr);
    r->delim = delim;
    r->opts = CSV_STRICT | CSV_STRICT_FINI;
    csv_init(&r->csv, r->opts);
    return r;
}

/* Opens path without blocking: a FIFO with no writer yet would otherwise hang in open(2),
 * where no signal can be taken. Reads block again once it is open. */
static FILE *open_input(const char *path, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, st) < 0 || S_ISDIR(st->st_mode)) {
        snprintf(err, errlen, "cannot read %s: %s", path, S_ISDIR(st->st_mode) ? "it is a directory" : strerror(errno));
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *fp = NULL;
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || !(fp = fdopen(fd, "rb"))) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    return fp;
}

reader *reader_open(const char *path, char delim, const char *encoding, char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    if (encoding && !encoding_is_utf8(encoding)) {
        /* A name iconv does not know is a usage error, BOM or not. */
        encoding_conv *probe = encoding_conv_open(encoding, err, errlen);
        if (!probe)
            return NULL;
        encoding_conv_close(probe);
    }
    reader *r = reader_new(delim, encoding, is_stdin ? "standard input" : path);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (is_stdin) {
        r->fp = stdin;
        r->is_stdin = 1;
        return r;
    }
    struct stat st;
    memset(&st, 0, sizeof st);
    r->fp = open_input(path, &st, err, errlen);
    if (!r->fp) {
        reader_close(r);
        return NULL;
    }
    /* FIFOs, character devices and sockets are read once, like standard input. */
    if (S_ISREG(st.st_mode)) {
        r->size = (unsigned long long)st.st_size;
        r->seekable = 1;
        r->regular = 1;
    }
    r->fifo = S_ISFIFO(st.st_mode);
    return r;
}

void reader_set_cancel(reader *r, int (*cancel)(void *), void *arg)
{
    r->cancel = cancel;
    r->cancel_arg = arg;
}

/* A FIFO opened before its writer reads as empty: wait until the writer has written (or
 * come and gone), asking the cancel hook between short waits. */
static int wait_writer(reader *r, char *err, size_t errlen)
{
    struct pollfd pfd = {.fd = fileno(r->fp), .events = POLLIN};
    for (;;) {
        int rc = poll(&pfd, 1, r->cancel ? 200 : -1);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR) {
            snprintf(err, errlen, "cannot read %s: %s", r->label, strerror(errno));
            return -1;
        }
        if (r->cancel && r->cancel(r->cancel_arg)) {
            snprintf(err, errlen, "interrupted while waiting for a writer on %s", r->label);
            return -1;
        }
    }
}

/* Converts the next stretch of raw input into buf. */
static int decode(reader *r, char *err, size_t errlen)
{
    char *out = r->buf;
    size_t outleft = CHUNK;
    for (;;) {
        const char *in = r->raw + r->rpos;
        size_t inleft = r->rend - r->rpos;
        encoding_conv_step(r->conv, &in, &inleft, &out, &outleft, r->raw_eof);
        r->rpos = r->rend - inleft;
        if (out > r->buf || r->raw_eof)
            break;
        /* Nothing came out: the input is used up or ends inside a character. */
        memmove(r->raw, r->raw + r->rpos, inleft);
        r->rpos = 0;
        r->rend = inleft;
        size_t n = fread(r->raw + inleft, 1, CHUNK - inleft, r->fp);
        if (n == 0) {
            if (ferror(r->fp)) {
                snprintf(err, errlen, "read error: %s", strerror(errno));
                return -1;
            }
            r->raw_eof = 1;
        }
        r->rend += n;
        r->raw_read += n;
    }
    r->pos = 0;
    r->end = (size_t)(out - r->buf);
    if (r->end == 0)
        r->eof = 1;
    return 0;
}

static int fill(reader *r, char *err, size_t errlen)
{
    if (r->pos < r->end || r->eof)
        return 0;
    if (r->conv)
        return decode(r, err, errlen);
    size_t n = fread(r->buf, 1, CHUNK, r->fp);
    if (n == 0) {
        if (ferror(r->fp)) {
            snprintf(err, errlen, "read error: %s", strerror(errno));
            return -1;
        }
        r->eof = 1;
    }
    r->pos = 0;
    r->end = n;
    return 0;
}

/* Takes the input's encoding from a byte order mark or --encoding; sets up conversion. */
static int pick_encoding(reader *r, char *err, size_t errlen)
{
    size_t bomlen;
    const char *bom = encoding_from_bom((const unsigned char *)r->buf, r->end, &bomlen);
    const char *name = NULL;
    if (bom && strcmp(bom, "UTF-8") == 0) {
        /* A BOM says what the file is, whatever --encoding says. */
        r->pos += 3;
        r->consumed += 3;
        return 0;
    }
    if (bom)
        name = bom;
    else if (r->encoding && !encoding_is_utf8(r->encoding))
        name = r->encoding;
    else
        return 0;
    r->conv = encoding_conv_open(name, err, errlen);
    if (!r->conv)
        return -1;
    if (!r->raw && !(r->raw = malloc(CHUNK))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* What was read is raw input: hand it to the converter. Offsets in the converted text
     * are not file offsets, so the re-reading recovery is off. */
    memcpy(r->raw, r->buf + bomlen, r->end - bomlen);
    r->rpos = 0;
    r->rend = r->end - bomlen;
    r->raw_read = r->end;
    r->raw_eof = r->end < CHUNK; /* fread stops short only at the end of the input */
    r->pos = r->end = 0;
    r->eof = 0;
    r->seekable = 0;
    if (decode(r, err, errlen) < 0)
        return -1;
    if (r->end - r->pos >= 3 && memcmp(r->buf + r->pos, "\xef\xbb\xbf", 3) == 0)
        r->pos += 3; /* iconv may pass a BOM through as U+FEFF */
    return 0;
}

static int start(reader *r, char *err, size_t errlen)
{
    if (r->fifo && wait_writer(r, err, errlen) < 0)
        return -1;
    if (fill(r, err, errlen) < 0)
        return -1;
    if (reader_check_text(r->label, r->buf + r->pos, r->end - r->pos, r->encoding != NULL, err, errlen) < 0)
        return -1;
    int full = r->end - r->pos == CHUNK;
    if (pick_encoding(r, err, errlen) < 0)
        return -1;
    if (!r->delim)
        r->delim = reader_detect_delimiter(r->buf + r->pos, r->end - r->pos);
    /* With --encoding the user has said what the file is: bad bytes make rows invalid. */
    int final = r->conv ? r->raw_eof && r->rpos == r->rend : !full;
    if (!r->encoding && reader_check_utf8(r->label, r->buf + r->pos, r->end - r->pos, r->delim, final,
                                          r->conv ? encoding_conv_name(r->conv) : NULL, err, errlen) < 0)
        return -1;
    parser_reset(r);
    r->started = 1;
    return 0;
}

/* Every field must be UTF-8 (output is always UTF-8). A bad header stops the job; in a row
 * the bad sequences become U+FFFD and the row is invalid, naming the column. */
static int check_record(reader *r, record *rec, char *err, size_t errlen)
{
    size_t first = 0, bad = 0;
    int found = 0;
    for (size_t i = 0; i < rec->n && !found; i++)
        if (!encoding_utf8_ok(record_field(rec, i), rec->flen[i], 1, &bad)) {
            first = i;
            found = 1;
        }
    if (!found)
        return 0;
    const char *cellp = record_field(rec, first);
    if (r->rows == 0) {
        if (r->conv)
            snprintf(err, errlen, "%s: the header (column %zu) has bytes that are not valid %s", r->label, first + 1,
                     encoding_conv_name(r->conv));
        else
            snprintf(err, errlen, "%s: the header (column %zu) is not UTF-8 text: run again with --encoding %s, or "
                                  "save the file as \"CSV UTF-8 (Comma delimited)\"", r->label, first + 1,
                     encoding_guess(cellp, rec->flen[first]));
        return -1;
    }
    if (!rec->malformed) {
        char name[48];
        if (first < r->hdr.n)
            text_printable(record_field(&r->hdr, first), r->hdr.flen[first], name, sizeof name);
        else
            snprintf(name, sizeof name, "%zu", first + 1);
        if (r->conv)
            snprintf(rec->problem, sizeof rec->problem, "column %s has bytes that are not valid %s (byte %zu of the "
                     "cell)", name, encoding_conv_name(r->conv), bad + 1);
        else
            snprintf(rec->problem, sizeof rec->problem, "column %s is not valid UTF-8 (byte %zu of the cell): if the "
                     "file is in another encoding, give --encoding (e.g. %s)", name, bad + 1,
                     encoding_guess(cellp, rec->flen[first]));
        rec->malformed = 1;
    }
    record fixed;
    record_init(&fixed);
    int rc = 0;
    for (size_t i = 0; i < rec->n && rc == 0; i++) {
        const char *f = record_field(rec, i);
        size_t fl = rec->flen[i];
        if (encoding_utf8_ok(f, fl, 1, NULL)) {
            rc = record_push(&fixed, f, fl);
            continue;
        }
        char *tmp = malloc(3 * fl + 1);
        rc = tmp ? record_push(&fixed, tmp, encoding_utf8_repair(f, fl, tmp)) : -1;
        free(tmp);
    }
    if (rc == 0) {
        fixed.rowno = rec->rowno;
        fixed.malformed = rec->malformed;
        memcpy(fixed.problem, rec->problem, sizeof fixed.problem);
        rc = record_copy(rec, &fixed);
    }
    record_free(&fixed);
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* Marks the current record malformed, keeps the unparsed rest of the line in the
 * current field so nothing the user wrote disappears, and restarts the parser. */
static void recover(reader *r, const char *rest, size_t restlen, const char *why)
{
    record *rec = r->cur;
    size_t have = r->csv.entry_pos;
    size_t field = rec->n + 1;
    char tmp[64];
    /* Whatever libcsv had buffered for the broken field, then the raw remainder. */
    if (!r->skipping && rec->len + have + restlen < READER_MAX_RECORD) {
        char *joined = malloc(have + restlen + 1);
        if (joined) {
            memcpy(joined, r->csv.entry_buf ? (char *)r->csv.entry_buf : "", have);
            memcpy(joined + have, rest, restlen);
            while (restlen && is_term((unsigned char)joined[have + restlen - 1]))
                restlen--;
            record_push(rec, joined, have + restlen);
            free(joined);
        }
    }
    if (!rec->malformed) {
        snprintf(tmp, sizeof tmp, "%zu", field);
        snprintf(rec->problem, sizeof rec->problem, "malformed CSV in field %s: %s", tmp, why);
    }
    rec->malformed = 1;
    parser_reset(r);
}

/* A quote opened at start_off is never closed: per RFC 4180 the rest of the file would be
 * one field, swallowing every later row. In a file we can seek, keep only the first
 * physical line of that record (as one malformed field) and go on reading after it. */
static int reread_open_line(reader *r, record *rec, unsigned long long start_off, const char *why)
{
    if (fseeko(r->fp, (off_t)start_off, SEEK_SET) != 0)
        return -1;
    size_t cap = 256, n = 0;
    char *line = malloc(cap);
    int c;
    unsigned long long pos = start_off;
    if (!line)
        return -1;
    while ((c = getc(r->fp)) != EOF && is_term((unsigned char)c))
        pos++;
    while (c != EOF && !is_term((unsigned char)c)) {
        pos++;
        if (n < READER_MAX_RECORD) {
            if (n + 1 >= cap) {
                char *l = realloc(line, cap * 2);
                if (!l) {
                    free(line);
                    return -1;
                }
                line = l;
                cap *= 2;
            }
            line[n++] = (char)c;
        }
        c = getc(r->fp);
    }
    if (c != EOF)
        pos++;
    record_clear(rec);
    record_push(rec, line, n);
    free(line);
    rec->malformed = 1;
    snprintf(rec->problem, sizeof rec->problem, "malformed CSV: %s (the rows after it are read on their own)", why);
    if (fseeko(r->fp, (off_t)pos, SEEK_SET) != 0)
        return -1;
    r->consumed = pos;
    r->pos = r->end = 0;
    r->eof = 0;
    return 0;
}

int reader_next(reader *r, record *rec, char *err, size_t errlen)
{
    if (!r->started && start(r, err, errlen) < 0)
        return -1;
    record_clear(rec);
    r->cur = rec;
    r->done = 0;
    r->oversize = 0;
    r->skipping = 0;
    unsigned long long start_off = r->consumed; /* where this record begins */
    for (;;) {
        if (fill(r, err, errlen) < 0)
            return -1;
        if (r->csv.pstate == 0 && rec->n == 0 && !rec->malformed)
            start_off = r->consumed;
        if (r->pos == r->end) {
            /* End of input: an unterminated quote is a malformed last record. */
            size_t pending = r->csv.entry_pos;
            int quoted = r->csv.quoted;
            if (quoted && r->seekable &&
                reread_open_line(r, rec, start_off, "a quote opened in this row is never closed") == 0) {
                parser_reset(r);
                break; /* the rows after the broken line are read on their own */
            }
            if (csv_fini(&r->csv, on_field, on_row, r) != 0) {
                if (quoted || pending) {
                    r->csv.entry_pos = pending;
                    recover(r, "", 0, "a quoted field is not closed before the end of the file");
                    r->done = 1;
                }
            }
            parser_reset(r);
            if (!r->done || rec->n == 0)
                return 0;
            break;
        }
        /* Feed one line at a time (up to and including one CR or LF), so at most one
         * record completes per feed and no queue of parsed records is needed. */
        const char *p = r->buf + r->pos;
        size_t avail = r->end - r->pos, n = 0;
        while (n < avail && !is_term((unsigned char)p[n]))
            n++;
        if (n < avail)
            n++;
        size_t used = csv_parse(&r->csv, p, n, on_field, on_row, r);
        if (used < n && r->seekable && start_off < r->consumed &&
            reread_open_line(r, rec, start_off, "a quoted field opened in this row runs over the next lines "
                                                "and is not closed properly") == 0) {
            /* The broken quote spans lines that are likely rows of their own. */
            parser_reset(r);
            break;
        }
        if (used < n) {
            /* Strict mode found a stray quote: the record is broken; skip the rest of
             * this physical line and carry it through in the record. */
            const char *why = r->csv.pstate == 3 ? "text after a closing quote (a quote inside a field must be doubled)"
                                                 : "a quote inside an unquoted field (quote the whole field and double the quote)";
            recover(r, p + used, n - used, why);
            r->done = is_term((unsigned char)p[n - 1]);
        }
        r->pos += n;
        r->consumed += n;
        if (!r->skipping && (r->oversize || r->cur->len + r->csv.entry_pos > READER_MAX_RECORD)) {
            /* Too large to keep: parse on to the record's real end (a quoted field may
             * span many lines, which must not come back as rows), keeping nothing. */
            record_clear(rec);
            rec->malformed = 1;
            snprintf(rec->problem, sizeof rec->problem, "record larger than %u MiB", READER_MAX_RECORD >> 20);
            r->skipping = 1;
        }
        if (r->skipping) {
            r->csv.entry_pos = 0; /* drop what libcsv buffered; its quote state stays */
            if (r->done)
                r->skipping = 0;
        }
        if (r->done) {
            /* A line holding only spaces counts as blank when the file has several
             * columns; a one-column file keeps it (it is then an empty identifier). */
            if (!rec->malformed && rec->n == 1 && r->rows > 0 && r->ncols > 1 &&
                strspn(rec->data, " \t") == rec->flen[0]) {
                record_clear(rec);
                r->done = 0;
                continue;
            }
            break;
        }
    }
    if (check_record(r, rec, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < rec->n; i++) {
        size_t nl = reader_unguard(rec->data + rec->off[i], rec->flen[i]);
        rec->flen[i] = nl;
    }
    if (r->rows == 0) {
        r->ncols = rec->n;
        if (record_copy(&r->hdr, rec) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    rec->rowno = r->rows++;
    return 1;
}

reader *reader_from_stream(FILE *fp, char delim)
{
    reader *r = reader_new(delim, NULL, "the input");
    if (!r)
        return NULL;
    r->fp = fp;
    r->is_stdin = 1; /* the caller owns the stream */
    struct stat st;
    r->seekable = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && fseeko(fp, 0, SEEK_CUR) == 0;
    return r;
}

char reader_delimiter(const reader *r) { return r->delim; }
unsigned long long reader_bytes(const reader *r)
{
    /* Converted text is longer than the file: count the file's bytes handed on. */
    return r->conv ? r->raw_read - (r->rend - r->rpos) : r->consumed;
}
unsigned long long reader_size(const reader *r) { return r->size; }
int reader_is_regular(const reader *r) { return r->regular; }

long reader_data_rows(const reader *r) { return r->rows > 0 ? r->rows - 1 : 0; }

void reader_close(reader *r)
{
    if (!r)
        return;
    csv_free(&r->csv);
    if (r->fp && !r->is_stdin)
        fclose(r->fp);
    encoding_conv_close(r->conv);
    record_free(&r->hdr);
    free(r->raw);
    free(r->label);
    free(r->encoding);
    free(r->buf);
    free(r);
}

int reader_path_is_regular(const char *path)
{
    struct stat st;
    return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

long long reader_count_lines(const char *path)
{
    if (!reader_path_is_regular(path))
        return -1;
    char *buf = malloc(CHUNK);
    int fd = buf ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        free(buf);
        return -1;
    }
    long long lines = 0;
    char last = '\n';
    ssize_t n;
    while ((n = read(fd, buf, CHUNK)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            free(buf);
            return -1;
        }
        for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            lines++;
        last = buf[n - 1];
    }
    close(fd);
    free(buf);
    return lines + (last != '\n');
}
