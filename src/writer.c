/* writer — RFC 4180 result files (and the failures file), with the --excel flavour. */
#include "writer.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules.h"

const char *const writer_result_names[WRITER_RESULT_COLUMNS] = {
    "result_status", "result_http_status", "result_attempts", "result_channels",
    "result_detail", "result_latency_ms",  "result_finished_at",
};

struct writer {
    FILE *fp;
    int to_stdout;
    int excel;
    char *path, *partial;
    char *buf;       /* one quoted cell */
    size_t bufcap;
    int failed;
    int close_stream; /* a device or FIFO opened by path */
};

int writer_is_stream(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0)
        return 1;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

int row_cells_init(row_cells *rc, const columns *c)
{
    rc->n = c->nout + WRITER_RESULT_COLUMNS;
    rc->cell = calloc(rc->n, sizeof *rc->cell);
    rc->len = calloc(rc->n, sizeof *rc->len);
    return rc->cell && rc->len ? 0 : -1;
}

void row_cells_free(row_cells *rc)
{
    free(rc->cell);
    free(rc->len);
    rc->cell = NULL;
    rc->len = NULL;
}

void row_cells_header(row_cells *rc, const columns *c)
{
    for (size_t i = 0; i < c->nout; i++) {
        rc->cell[i] = c->name[c->out[i]];
        rc->len[i] = strlen(rc->cell[i]);
    }
    for (size_t i = 0; i < WRITER_RESULT_COLUMNS; i++) {
        rc->cell[c->nout + i] = writer_result_names[i];
        rc->len[c->nout + i] = strlen(writer_result_names[i]);
    }
}

void row_cells_fill(row_cells *rc, const columns *c, const job *j)
{
    for (size_t i = 0; i < c->nout; i++) {
        size_t k = c->out[i];
        if (k < j->rec.n) {
            rc->cell[i] = record_field(&j->rec, k);
            rc->len[i] = j->rec.flen[k];
        } else {
            rc->cell[i] = "";
            rc->len[i] = 0;
        }
    }
    const char **cell = rc->cell + c->nout;
    size_t *len = rc->len + c->nout;
    char *s = rc->scratch;
    size_t room = sizeof rc->scratch;
    cell[0] = job_status_name(j->status);
    len[0] = strlen(cell[0]);
    /* result_http_status, result_attempts, result_channels, latency, finished_at */
    int n = j->http_status ? snprintf(s, room, "%d", j->http_status) : 0;
    cell[1] = s;
    len[1] = (size_t)n;
    s += n + 1;
    room -= (size_t)n + 1;
    n = snprintf(s, room, "%d", j->attempts);
    cell[2] = s;
    len[2] = (size_t)n;
    s += n + 1;
    room -= (size_t)n + 1;
    n = (int)rules_format_channels(j->channels, s, room);
    cell[3] = s;
    len[3] = (size_t)n;
    s += n + 1;
    room -= (size_t)n + 1;
    cell[4] = j->detail;
    len[4] = strlen(j->detail);
    n = j->latency_ms >= 0 ? snprintf(s, room, "%lld", (long long)j->latency_ms) : 0;
    cell[5] = s;
    len[5] = (size_t)n;
    s += n + 1;
    room -= (size_t)n + 1;
    n = j->finished_at_ms ? (int)clock_format_iso(j->finished_at_ms, s, room) : 0;
    cell[6] = s;
    len[6] = (size_t)n;
}

int writer_result_parse(const record *row, size_t first, job_outcome *o)
{
    /* the cells row_cells_fill writes: status, http_status, attempts, channels, detail,
     * latency_ms, finished_at */
    char err[160];
    o->status = job_status_from_name(record_field(row, first));
    o->http_status = atoi(record_field(row, first + 1));
    o->attempts = atoi(record_field(row, first + 2));
    int rc = rules_parse_channels(record_field(row, first + 3), row->flen[first + 3], &o->channels, err, sizeof err);
    snprintf(o->detail, sizeof o->detail, "%s", record_field(row, first + 4));
    o->latency_ms = row->flen[first + 5] ? atoll(record_field(row, first + 5)) : -1;
    o->finished_at_ms = clock_parse_iso(record_field(row, first + 6));
    return rc;
}

size_t writer_quote(const char *s, size_t len, int excel, char *out, size_t size)
{
    int guard = excel && len && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                                 s[0] == '\t' || s[0] == '\r');
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        size_t need = len + (size_t)guard;
        if (need <= size) {
            if (guard)
                out[0] = '\'';
            memcpy(out + guard, s, len);
        }
        return need;
    }
    if (!guard)
        return csv_write(out, size, s, len);
    /* The guard goes inside the quotes: '"'=a,b"' would not be read back as one cell. */
    if (size < 2)
        return csv_write(NULL, 0, s, len) + 1;
    size_t need = csv_write(out + 1, size - 1, s, len) + 1;
    if (need <= size) {
        out[0] = '"';
        out[1] = '\'';
    }
    return need;
}

writer *writer_open(const char *path, int excel, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w)
        goto oom;
    w->excel = excel;
    w->bufcap = 4096;
    w->buf = malloc(w->bufcap);
    if (!w->buf)
        goto oom;
    if (strcmp(path, "-") == 0) {
        w->fp = stdout;
        w->to_stdout = 1;
    } else if (writer_is_stream(path)) {
        /* A device or a pipe (/dev/null, a FIFO): write to it directly; renaming a file
         * over it would replace the device. */
        w->fp = fopen(path, "wb");
        if (!w->fp) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            free(w->buf);
            free(w);
            return NULL;
        }
        w->to_stdout = 1;
        w->close_stream = 1;
    } else {
        w->path = strdup(path);
        if (!w->path || asprintf(&w->partial, "%s.partial", path) < 0)
            goto oom;
        /* Results hold customer data: readable by the operator only (chmod to share). */
        unlink(w->partial); /* a leftover keeps its old mode: start from a new file */
        int fd = open(w->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        w->fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!w->fp) {
            if (fd >= 0)
                close(fd);
            snprintf(err, errlen, "cannot write %s: %s", w->partial, strerror(errno));
            free(w->buf);
            free(w->path);
            free(w->partial);
            free(w);
            return NULL;
        }
        setvbuf(w->fp, NULL, _IOFBF, 256 * 1024);
    }
    if (excel)
        fputs("\xef\xbb\xbf", w->fp);
    return w;
oom:
    snprintf(err, errlen, "out of memory");
    if (w) {
        free(w->buf);
        free(w->path);
        free(w);
    }
    return NULL;
}

int writer_cells(writer *w, const row_cells *rc)
{
    for (size_t i = 0; i < rc->n; i++) {
        if (i)
            putc(',', w->fp);
        size_t need = writer_quote(rc->cell[i], rc->len[i], w->excel, w->buf, w->bufcap);
        if (need > w->bufcap) {
            size_t nc = w->bufcap;
            while (nc < need)
                nc *= 2;
            char *b = realloc(w->buf, nc);
            if (!b)
                return -1;
            w->buf = b;
            w->bufcap = nc;
            writer_quote(rc->cell[i], rc->len[i], w->excel, w->buf, w->bufcap);
        }
        fwrite(w->buf, 1, need, w->fp);
    }
    if (w->excel)
        putc('\r', w->fp);
    if (putc('\n', w->fp) == EOF)
        w->failed = 1;
    return w->failed ? -1 : 0;
}

int writer_close(writer *w, int commit, char *err, size_t errlen)
{
    int rc = 0;
    if (!w)
        return 0;
    if (fflush(w->fp) != 0 || ferror(w->fp) || w->failed) {
        snprintf(err, errlen, "cannot write %s: %s", w->to_stdout ? "standard output" : w->partial,
                 strerror(errno ? errno : EIO));
        rc = -1;
    }
    if (w->close_stream)
        fclose(w->fp);
    if (!w->to_stdout) {
        if (rc == 0 && commit && fsync(fileno(w->fp)) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", w->partial, strerror(errno));
            rc = -1;
        }
        fclose(w->fp);
        if (rc == 0 && commit && rename(w->partial, w->path) != 0) {
            snprintf(err, errlen, "cannot rename %s to %s: %s", w->partial, w->path, strerror(errno));
            rc = -1;
        }
        if (!commit)
            unlink(w->partial);
    }
    free(w->buf);
    free(w->path);
    free(w->partial);
    free(w);
    return rc;
}
