/* reader — streaming CSV input on libcsv, one record per call, with per-record recovery. */
#include "reader.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK (64 * 1024)

struct reader {
    FILE *fp;
    int is_stdin;       /* the stream is not ours to close */
    int seekable;       /* a broken quote can be re-read line by line */
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

void record_init(record *r) { memset(r, 0, sizeof *r); }

void record_free(record *r)
{
    free(r->data);
    free(r->off);
    free(r->flen);
    record_init(r);
}

void record_clear(record *r)
{
    r->len = 0;
    r->n = 0;
    r->malformed = 0;
    r->problem[0] = '\0';
}

int record_push(record *r, const char *s, size_t len)
{
    if (r->n == r->ncap) {
        size_t nc = r->ncap ? r->ncap * 2 : 16;
        size_t *o = realloc(r->off, nc * sizeof *o);
        if (!o)
            return -1;
        r->off = o;
        size_t *l = realloc(r->flen, nc * sizeof *l);
        if (!l)
            return -1;
        r->flen = l;
        r->ncap = nc;
    }
    if (r->len + len + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 256;
        while (nc < r->len + len + 1)
            nc *= 2;
        char *d = realloc(r->data, nc);
        if (!d)
            return -1;
        r->data = d;
        r->cap = nc;
    }
    if (len)
        memcpy(r->data + r->len, s, len);
    r->off[r->n] = r->len;
    r->flen[r->n] = len;
    r->len += len;
    r->data[r->len++] = '\0';
    r->n++;
    return 0;
}

int record_copy(record *dst, const record *src)
{
    record_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        if (record_push(dst, record_field(src, i), src->flen[i]) < 0)
            return -1;
    }
    dst->rowno = src->rowno;
    dst->malformed = src->malformed;
    memcpy(dst->problem, src->problem, sizeof dst->problem);
    return 0;
}

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

reader *reader_open(const char *path, char delim, char *err, size_t errlen)
{
    reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->buf = malloc(CHUNK);
    if (!r->buf) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (strcmp(path, "-") == 0) {
        r->fp = stdin;
        r->is_stdin = 1;
    } else {
        r->fp = fopen(path, "rb");
        if (!r->fp) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            free(r->buf);
            free(r);
            return NULL;
        }
        struct stat st;
        if (fstat(fileno(r->fp), &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot read %s: it is a directory", path);
            fclose(r->fp);
            free(r->buf);
            free(r);
            return NULL;
        }
        if (S_ISREG(st.st_mode)) {
            r->size = (unsigned long long)st.st_size;
            r->seekable = 1;
        }
    }
    r->delim = delim;
    r->opts = CSV_STRICT | CSV_STRICT_FINI;
    csv_init(&r->csv, r->opts);
    return r;
}

static int fill(reader *r, char *err, size_t errlen)
{
    if (r->pos < r->end || r->eof)
        return 0;
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

/* Picks the delimiter that occurs most often outside quotes in the header line. */
static char detect_delimiter(const char *s, size_t len)
{
    static const char cands[] = {',', ';', '\t', '|'};
    size_t counts[4] = {0};
    int inq = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            inq = !inq;
        else if (!inq && is_term((unsigned char)s[i]))
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

static int start(reader *r, char *err, size_t errlen)
{
    if (fill(r, err, errlen) < 0)
        return -1;
    if (r->end - r->pos >= 3 && memcmp(r->buf + r->pos, "\xef\xbb\xbf", 3) == 0) {
        r->pos += 3;
        r->consumed += 3;
    }
    if (!r->delim)
        r->delim = detect_delimiter(r->buf + r->pos, r->end - r->pos);
    parser_reset(r);
    r->started = 1;
    return 0;
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
    for (size_t i = 0; i < rec->n; i++) {
        size_t nl = reader_unguard(rec->data + rec->off[i], rec->flen[i]);
        rec->flen[i] = nl;
    }
    if (r->rows == 0)
        r->ncols = rec->n;
    rec->rowno = r->rows++;
    return 1;
}

reader *reader_from_stream(FILE *fp, char delim)
{
    reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->buf = malloc(CHUNK);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->fp = fp;
    r->is_stdin = 1; /* the caller owns the stream */
    r->seekable = fseeko(fp, 0, SEEK_CUR) == 0;
    r->delim = delim;
    r->opts = CSV_STRICT | CSV_STRICT_FINI;
    csv_init(&r->csv, r->opts);
    return r;
}

char reader_delimiter(const reader *r) { return r->delim; }
unsigned long long reader_bytes(const reader *r) { return r->consumed; }
unsigned long long reader_size(const reader *r) { return r->size; }

void reader_close(reader *r)
{
    if (!r)
        return;
    csv_free(&r->csv);
    if (r->fp && !r->is_stdin)
        fclose(r->fp);
    free(r->buf);
    free(r);
}
