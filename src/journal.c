/* journal — append-only crash record of a sending job, and its index for --resume. */
#include "journal.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rules.h"

#define MAGIC "ottu-resend-journal 1"

struct journal {
    int fd;
    char *path;
    /* Appends and the durability bookkeeping. fdatasync runs outside it (group commit). */
    pthread_mutex_t mu;
    pthread_cond_t synced_cv; /* signalled when a sync ends: `synced` moved, or `error` set */
    uint64_t written;         /* bytes this handle appended */
    uint64_t synced;          /* of those, bytes known to be on the disk */
    int syncing;              /* a thread is in fdatasync now (the group's leader) */
    unsigned long long begins, syncs; /* B records made durable, and the fdatasyncs that did it */
    /* resume index: per row, (offset of its latest O line << 2) | state */
    uint64_t *index;
    unsigned char *tries; /* attempts started per row (B lines), saturating at 255 */
    long index_rows;
    int rfd;          /* read side for outcome lines */
    int error;        /* errno of the first failed write or sync: every later write fails too */
};

int journal_fingerprint(const char *path, journal_header *h, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    fstat(fd, &st);
    h->input_size = (unsigned long long)st.st_size;
    static char buf[64 * 1024];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(h->input_fp, sizeof h->input_fp, "%016llx",
             (unsigned long long)rules_fnv1a64(buf, (size_t)n));
    return 0;
}

/* Appends one record (caller holds mu). A journal that failed once stays failed: after a
 * short write (disk full) the file ends in half a line, and a row "begun" that was never
 * recorded must not be sent. */
static int write_all(journal *jn, const char *s, size_t len)
{
    if (jn->error)
        return -1;
    while (len) {
        ssize_t n = write(jn->fd, s, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            jn->error = errno;
            return -1;
        }
        s += n;
        len -= (size_t)n;
        jn->written += (uint64_t)n;
    }
    return 0;
}

/* Group commit (caller holds mu): returns once the first `end` bytes are on the disk. The
 * first thread to need a sync leads: it notes how far the file is written, drops the lock,
 * runs fdatasync and publishes the new durable offset; the records appended by every other
 * worker meanwhile wait for it, or for the next leader. So one fdatasync covers the "begun"
 * records of all the requests about to start, not one each. A failed sync fails the
 * journal for good: nothing waiting on it, nor after it, may send. */
static int wait_durable(journal *jn, uint64_t end)
{
    while (!jn->error && jn->synced < end) {
        if (jn->syncing) {
            pthread_cond_wait(&jn->synced_cv, &jn->mu);
            continue;
        }
        jn->syncing = 1;
        uint64_t target = jn->written;
        pthread_mutex_unlock(&jn->mu);
        int rc = fdatasync(jn->fd);
        int e = errno;
        pthread_mutex_lock(&jn->mu);
        jn->syncing = 0;
        jn->syncs++;
        if (rc < 0 && !jn->error)
            jn->error = e;
        else if (rc == 0 && target > jn->synced)
            jn->synced = target;
        pthread_cond_broadcast(&jn->synced_cv);
    }
    return jn->error ? -1 : 0;
}

/* A record that may be lost to a power cut (the next durable one, or closing, syncs it). */
static int append(journal *jn, const char *s, size_t len)
{
    pthread_mutex_lock(&jn->mu);
    int rc = write_all(jn, s, len);
    pthread_mutex_unlock(&jn->mu);
    return rc;
}

/* A record on the disk before this returns, with every record appended before it. */
static int append_durable(journal *jn, const char *s, size_t len)
{
    pthread_mutex_lock(&jn->mu);
    int rc = write_all(jn, s, len);
    if (rc == 0)
        rc = wait_durable(jn, jn->written);
    if (rc == 0)
        jn->begins++;
    pthread_mutex_unlock(&jn->mu);
    return rc;
}

/* fsync of the folder holding path: a file created, renamed or removed there stays so
 * across a power cut. Filesystems that cannot sync a folder (EINVAL) are let be. */
int journal_sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd) < 0 && errno != EINVAL ? -1 : 0;
    close(fd);
    return rc;
}

static journal *alloc_journal(const char *path, int fd)
{
    journal *jn = calloc(1, sizeof *jn);
    if (!jn)
        return NULL;
    jn->path = strdup(path);
    jn->fd = fd;
    jn->rfd = -1;
    pthread_mutex_init(&jn->mu, NULL);
    pthread_cond_init(&jn->synced_cv, NULL);
    return jn;
}

journal *journal_create(const char *path, const journal_header *h, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create journal %s: %s", path, strerror(errno));
        return NULL;
    }
    journal *jn = alloc_journal(path, fd);
    if (!jn) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char line[256];
    int n = snprintf(line, sizeof line, "%s\nJ,%s,%llu,%s,%d,%u,%u\n", MAGIC, h->job_id, h->input_size,
                     h->input_fp, h->mode, h->shard_k, h->shard_n);
    /* The header on the disk, and the file's name in its folder: a power cut must not
     * leave a job whose claims are in the ledger and whose journal never existed. */
    if (write_all(jn, line, (size_t)n) < 0 || fdatasync(fd) < 0 || journal_sync_dir(path) < 0) {
        snprintf(err, errlen, "cannot write journal %s: %s", path, strerror(jn->error ? jn->error : errno));
        journal_close(jn, 1);
        return NULL;
    }
    return jn;
}

/* Parsing state while indexing an existing journal. */
struct scan {
    journal *jn;
    journal_header *h;
    char f[10][48];     /* first fields of the current line (the detail is not needed) */
    size_t nf;
    long long line_off; /* offset where the current line started */
    long long pos;      /* offset of the byte being parsed */
    int header_seen;
    int bad;
};

static void scan_field(void *s, size_t len, void *data)
{
    struct scan *sc = data;
    if (sc->nf < 10) {
        size_t n = len < 47 ? len : 47;
        memcpy(sc->f[sc->nf], s, n);
        sc->f[sc->nf][n] = '\0';
    }
    sc->nf++;
}

static int set_row(journal *jn, long row, journal_row_state st, long long off)
{
    if (row < 1)
        return -1;
    if (row >= jn->index_rows) {
        long nr = jn->index_rows ? jn->index_rows : 1024;
        while (nr <= row)
            nr *= 2;
        uint64_t *ix = realloc(jn->index, (size_t)nr * sizeof *ix);
        if (!ix)
            return -1;
        memset(ix + jn->index_rows, 0, (size_t)(nr - jn->index_rows) * sizeof *ix);
        jn->index = ix;
        unsigned char *tr = realloc(jn->tries, (size_t)nr);
        if (!tr)
            return -1;
        memset(tr + jn->index_rows, 0, (size_t)(nr - jn->index_rows));
        jn->tries = tr;
        jn->index_rows = nr;
    }
    jn->index[row] = ((uint64_t)off << 2) | (uint64_t)st;
    if (st == JR_BEGUN && jn->tries[row] < 255)
        jn->tries[row]++;
    return 0;
}

static void scan_row(int c, void *data)
{
    (void)c;
    struct scan *sc = data;
    if (sc->nf == 0) {
        return;
    }
    const char *kind = sc->f[0];
    if (strcmp(kind, MAGIC) == 0) {
        /* the first line */
    } else if (strcmp(kind, "J") == 0 && sc->nf >= 7 && !sc->header_seen) {
        snprintf(sc->h->job_id, sizeof sc->h->job_id, "%.39s", sc->f[1]);
        sc->h->input_size = strtoull(sc->f[2], NULL, 10);
        snprintf(sc->h->input_fp, sizeof sc->h->input_fp, "%.16s", sc->f[3]);
        sc->h->mode = atoi(sc->f[4]);
        sc->h->shard_k = (unsigned)strtoul(sc->f[5], NULL, 10);
        sc->h->shard_n = (unsigned)strtoul(sc->f[6], NULL, 10);
        sc->header_seen = 1;
    } else if (sc->nf >= 2 && (kind[0] == 'B' || kind[0] == 'F' || kind[0] == 'O') && !kind[1]) {
        long row = strtol(sc->f[1], NULL, 10);
        journal_row_state st = kind[0] == 'B' ? JR_BEGUN : kind[0] == 'F' ? JR_RELEASED : JR_DECIDED;
        /* An outcome line cut short by a crash is ignored: the row stays "begun". */
        if ((st != JR_DECIDED || sc->nf >= 9) && set_row(sc->jn, row, st, sc->line_off) == 0 && st == JR_RELEASED &&
            sc->nf >= 3 && strcmp(sc->f[2], "unsent") == 0 && row >= 0 && sc->jn->tries[row] > 0)
            sc->jn->tries[row]--; /* begun ahead, never sent: not an attempt */
    } else {
        sc->bad++;
    }
    sc->nf = 0;
}

journal *journal_resume(const char *path, journal_header *h, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open journal %s: %s", path, strerror(errno));
        return NULL;
    }
    journal *jn = alloc_journal(path, fd);
    FILE *in = fopen(path, "rb");
    if (!jn || !in) {
        snprintf(err, errlen, "cannot read journal %s: %s", path, strerror(errno));
        if (in)
            fclose(in);
        journal_close(jn, 0);
        return NULL;
    }
    struct scan sc = {.jn = jn, .h = h};
    memset(h, 0, sizeof *h);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long off = 0;
    int last_complete = 1;
    /* Every record is one physical line (details never hold a newline), parsed on its
     * own: a line torn by a crash cannot swallow the lines after it. */
    while ((n = getline(&line, &cap, in)) > 0) {
        last_complete = line[n - 1] == '\n';
        if (last_complete) {
            struct csv_parser p;
            csv_init(&p, 0);
            sc.nf = 0;
            sc.line_off = off;
            csv_parse(&p, line, (size_t)n, scan_field, scan_row, &sc);
            csv_fini(&p, scan_field, scan_row, &sc);
            csv_free(&p);
        }
        off += n;
    }
    free(line);
    fclose(in);
    if (!sc.header_seen) {
        if (off == 0)
            snprintf(err, errlen, "journal %s is empty: it cannot tell which rows its job sent, so nothing is "
                                  "sent (a journal is synced to the disk when it is created: the disk lost it, or "
                                  "someone emptied it). See docs/journal.md, \"When the journal is lost\"", path);
        else
            snprintf(err, errlen, "journal %s is not an ottu-resend journal (no header)", path);
        journal_close(jn, 0);
        return NULL;
    }
    jn->rfd = open(path, O_RDONLY | O_CLOEXEC);
    /* A crash may have left a partial last line: start our records on a fresh line. */
    if (!last_complete)
        write_all(jn, "\n", 1);
    return jn;
}

struct line_reader {
    record *rec;
    int done;
};

static void line_field(void *s, size_t len, void *data)
{
    struct line_reader *lr = data;
    if (!lr->done)
        record_push(lr->rec, s ? s : "", len);
}

static void line_end(int c, void *data)
{
    (void)c;
    ((struct line_reader *)data)->done = 1;
}

/* Reads back the outcome line at off into j. */
static int load_outcome(journal *jn, long long off, job *j)
{
    char buf[8192];
    ssize_t n = pread(jn->rfd, buf, sizeof buf, off);
    if (n <= 0)
        return -1;
    record rec;
    record_init(&rec);
    struct line_reader lr = {&rec, 0};
    struct csv_parser p;
    csv_init(&p, 0);
    const char *nl = memchr(buf, '\n', (size_t)n);
    size_t len = nl ? (size_t)(nl - buf) : (size_t)n;
    csv_parse(&p, buf, len, line_field, line_end, &lr);
    csv_fini(&p, line_field, line_end, &lr);
    csv_free(&p);
    int rc = -1;
    if (lr.done && rec.n >= 9) {
        job_outcome o;
        o.status = job_status_from_name(record_field(&rec, 2));
        o.http_status = atoi(record_field(&rec, 3));
        o.attempts = atoi(record_field(&rec, 4));
        o.channels = (unsigned)strtoul(record_field(&rec, 5), NULL, 10);
        o.latency_ms = strtoll(record_field(&rec, 6), NULL, 10);
        o.finished_at_ms = strtoll(record_field(&rec, 7), NULL, 10);
        const char *q = record_field(&rec, 8);
        size_t d = 0;
        for (; *q && d + 1 < sizeof o.detail; q++) {
            if (*q == '\\' && q[1]) {
                q++;
                o.detail[d++] = *q == 'n' ? '\n' : *q == 'r' ? '\r' : *q;
            } else {
                o.detail[d++] = *q;
            }
        }
        o.detail[d] = '\0';
        job_restore(j, &o);
        rc = o.status == RS_PENDING ? -1 : 0;
    }
    record_free(&rec);
    return rc;
}

journal_row_state journal_lookup(journal *jn, long rowno, job *j)
{
    if (!jn->index || rowno < 1 || rowno >= jn->index_rows)
        return JR_NONE;
    uint64_t v = jn->index[rowno];
    journal_row_state st = (journal_row_state)(v & 3);
    if (st == JR_DECIDED && load_outcome(jn, (long long)(v >> 2), j) < 0)
        st = JR_BEGUN; /* unreadable outcome: treat as lost, never as "to do" */
    if (st != JR_DECIDED)
        j->attempts = jn->tries[rowno]; /* what earlier runs spent on the row */
    return st;
}

static int simple(journal *jn, char kind, long rowno)
{
    char line[48];
    int n = snprintf(line, sizeof line, "%c,%ld\n", kind, rowno);
    return append(jn, line, (size_t)n);
}

/* Durable before the request is handed to the network: a --resume after a power cut reads
 * "no B line" as "never sent", so a B line must never be lost while its request went out. */
int journal_begin(journal *jn, long rowno)
{
    char line[48];
    int n = snprintf(line, sizeof line, "B,%ld\n", rowno);
    return append_durable(jn, line, (size_t)n);
}
int journal_begin_many(journal *jn, job **rows, size_t n)
{
    char buf[JOURNAL_BEGIN_MAX * 24];
    size_t len = 0;
    if (n > JOURNAL_BEGIN_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "B,%ld\n", rows[i]->rowno);
    pthread_mutex_lock(&jn->mu);
    int rc = write_all(jn, buf, len);
    if (rc == 0)
        rc = wait_durable(jn, jn->written);
    if (rc == 0)
        jn->begins += n;
    pthread_mutex_unlock(&jn->mu);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rows[i]->begun = 1;
    return rc;
}

int journal_release(journal *jn, long rowno) { return simple(jn, 'F', rowno); }

int journal_release_unsent(journal *jn, long rowno)
{
    char line[48];
    int n = snprintf(line, sizeof line, "F,%ld,unsent\n", rowno);
    return append(jn, line, (size_t)n);
}

int journal_outcome(journal *jn, const job *j)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "O,%ld,%s,%d,%d,%u,%lld,%lld,", j->rowno, job_status_name(j->status),
                     j->http_status, j->attempts, j->channels, (long long)j->latency_ms,
                     (long long)j->finished_at_ms);
    size_t len = (size_t)n;
    /* One record, one line: backslash, CR and LF are escaped as \\ \r \n. */
    char detail[2 * sizeof j->detail];
    size_t d = 0;
    for (const char *q = j->detail; *q && d + 2 < sizeof detail; q++) {
        if (*q == '\\' || *q == '\n' || *q == '\r') {
            detail[d++] = '\\';
            detail[d++] = *q == '\n' ? 'n' : *q == '\r' ? 'r' : '\\';
        } else {
            detail[d++] = *q;
        }
    }
    detail[d] = '\0';
    len += csv_write(line + len, sizeof line - len - 2, detail, d);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* cannot happen: detail is at most 640 bytes */
    line[len++] = '\n';
    return append(jn, line, len);
}

int journal_error(journal *jn, char *err, size_t errlen)
{
    pthread_mutex_lock(&jn->mu);
    int e = jn->error;
    pthread_mutex_unlock(&jn->mu);
    if (e)
        snprintf(err, errlen, "cannot write the journal %s: %s", jn->path, strerror(e));
    return e ? -1 : 0;
}

int journal_sync(journal *jn)
{
    pthread_mutex_lock(&jn->mu);
    int rc = wait_durable(jn, jn->written);
    pthread_mutex_unlock(&jn->mu);
    return rc;
}

void journal_stats(journal *jn, unsigned long long *begins, unsigned long long *syncs)
{
    pthread_mutex_lock(&jn->mu);
    *begins = jn->begins;
    *syncs = jn->syncs;
    pthread_mutex_unlock(&jn->mu);
}

int journal_close(journal *jn, int remove)
{
    if (!jn)
        return 0;
    int rc = 0;
    if (jn->begins)
        log_msg(LOG_VERBOSE, 0, "journal: %llu begin records made durable by %llu fdatasyncs (%.1f per sync)",
                jn->begins, jn->syncs, jn->syncs ? (double)jn->begins / (double)jn->syncs : 0.0);
    if (!remove)
        rc = fdatasync(jn->fd);
    close(jn->fd);
    if (jn->rfd >= 0)
        close(jn->rfd);
    if (remove) {
        /* The result file was renamed into place before: make that stick before the
         * journal goes, or a power cut could leave neither. */
        journal_sync_dir(jn->path);
        unlink(jn->path);
    }
    pthread_cond_destroy(&jn->synced_cv);
    pthread_mutex_destroy(&jn->mu);
    free(jn->index);
    free(jn->tries);
    free(jn->path);
    free(jn);
    return rc;
}
