/* confirm — "type yes to send" at a terminal, so a typo never becomes 50,000 SMS. */
#include "confirm.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "dedupe.h"
#include "journal.h"
#include "reader.h"
#include "rules.h"

int confirm_needed(const config *cfg)
{
    /* The count reads the input a second time: only a regular file can be. */
    return reader_path_is_regular(cfg->input) && !cfg->yes && !cfg->dry_run && isatty(0) && isatty(2);
}

int confirm_count(const config *cfg, const columns *cols, const request_opts *ro, long *rows,
                  long channels[3], char *err, size_t errlen)
{
    return confirm_count_left(cfg, cols, ro, NULL, rows, channels, err, errlen);
}

/* 1 when --resume keeps the row as an earlier run decided it (resume_row's rule): it is
 * not sent again and the question must not count it. */
static int kept_by_journal(resume *rs, long rowno)
{
    if (!rs || !rs->jn || rs->jn_new)
        return 0;
    job j;
    memset(&j, 0, sizeof j);
    journal_row_state st = journal_lookup(rs->jn, rowno, &j);
    if (st == JR_DECIDED)
        return !(j.status == RS_UNKNOWN && rs->cfg->resend_unknown);
    return st == JR_BEGUN && !rs->cfg->resend_unknown;
}

static int kept_by_results(const resume *rs, const record *old)
{
    row_status st = job_status_from_name(record_field(old, rs->old_first_result));
    return !(st == RS_PENDING || st == RS_NOT_ATTEMPTED || (st == RS_UNKNOWN && rs->cfg->resend_unknown));
}

int confirm_count_left(const config *cfg, const columns *cols, const request_opts *ro, resume *rs, long *rows,
                       long channels[3], char *err, size_t errlen)
{
    *rows = 0;
    channels[0] = channels[1] = channels[2] = 0;
    reader *in = reader_open(cfg->input, cfg->delimiter, cfg->encoding, err, errlen);
    if (!in)
        return -1;
    /* A finished job's results, read along (one row per row of this shard, checked by resume_open). */
    reader *old = rs && rs->old ? reader_open(cfg->output, ',', NULL, err, errlen) : NULL;
    dedupe *seen = dedupe_new();
    record rec, oldrec;
    request req;
    record_init(&rec);
    record_init(&oldrec);
    request_init(&req);
    int rc = seen && (old || !(rs && rs->old)) ? 0 : -1, got;
    if (!seen)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && (got = reader_next(in, &rec, err, errlen)) <= 0) /* the header */
        rc = -1;
    if (rc == 0 && old && reader_next(old, &oldrec, err, errlen) != 1)
        rc = -1;
    while (rc == 0 && (got = reader_next(in, &rec, err, errlen)) == 1) {
        if (request_build(cols, &rec, ro, 0, &req) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (cfg->shard_n > 1 && rules_fnv1a64(req.ident, strlen(req.ident)) % cfg->shard_n != cfg->shard_k)
            continue;
        int kept = 0;
        if (old) {
            if (reader_next(old, &oldrec, err, errlen) != 1 || oldrec.n <= rs->old_first_result) {
                snprintf(err, errlen, "--resume: %s has fewer rows than %s", cfg->output, cfg->input);
                rc = -1;
                break;
            }
            kept = kept_by_results(rs, &oldrec);
        }
        if (!req.valid)
            continue;
        long first = dedupe_check(seen, req.fingerprint, rec.rowno);
        if (first < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else if (first == 0 && !kept && !kept_by_journal(rs, rec.rowno)) {
            (*rows)++;
            for (int i = 0; i < 3; i++)
                channels[i] += (req.channels >> i) & 1u;
        }
    }
    if (rc == 0 && got < 0)
        rc = -1;
    record_free(&rec);
    record_free(&oldrec);
    request_free(&req);
    dedupe_free(seen);
    reader_close(in);
    reader_close(old);
    return rc;
}

/* scheme://host[:port] of url: no path, and never the user or password of user:pass@host. */
static void show_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    size_t o = 0;
    const char *host = p ? p + 3 : url;
    size_t hlen = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hlen);
    if (at) {
        hlen -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    if (p)
        for (const char *s = url; s < p + 3 && o + 1 < size; s++)
            out[o++] = *s;
    for (size_t i = 0; i < hlen && o + 1 < size; i++)
        out[o++] = (unsigned char)host[i] < 0x20 || host[i] == 0x7f ? '?' : host[i];
    out[o] = '\0';
}

/* Waits until a line can be read; 0 when SIGINT/SIGTERM arrived meanwhile. */
static int wait_line(FILE *in)
{
    int fd = fileno(in);
    if (fd < 0)
        return 1; /* not a file (a test's memory stream): just read */
    for (;;) {
        sigset_t pend;
        if (sigpending(&pend) == 0 && (sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM)))
            return 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        int n = poll(&pfd, 1, 200);
        if (n > 0 || (n < 0 && errno != EINTR))
            return 1;
    }
}

int confirm_send(FILE *in, FILE *out, long rows, const long channels[3], const char *base_url)
{
    char host[256], line[64];
    show_host(base_url ? base_url : "", host, sizeof host);
    fprintf(out,
            "About to send %ld notification%s (sms %ld, email %ld, whatsapp %ld) for %ld row%s to %s "
            "\xe2\x80\x94 type yes to send: ",
            channels[0] + channels[1] + channels[2], channels[0] + channels[1] + channels[2] == 1 ? "" : "s",
            channels[0], channels[1], channels[2], rows, rows == 1 ? "" : "s", host);
    fflush(out);
    if (!wait_line(in) || !fgets(line, sizeof line, in)) {
        fputc('\n', out);
        return 0;
    }
    size_t n = strlen(line);
    if (n && line[n - 1] != '\n' && !feof(in))
        return 0; /* longer than any yes */
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return strcmp(s, "yes") == 0;
}
