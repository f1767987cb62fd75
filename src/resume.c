/* resume — what earlier runs of a job decided: the journal of an interrupted run, or the
 * result file of a finished one (verified against the input before anything is sent). */
#include "resume.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rules.h"
#include "writer.h"

static void make_job_id(char *out, size_t size, const journal_header *h)
{
    uint64_t x = rules_fnv1a64(h->input_fp, strlen(h->input_fp));
    int64_t now = clock_now_ms();
    pid_t pid = getpid();
    x = rules_fnv1a64_update(x, &now, sizeof now);
    x = rules_fnv1a64_update(x, &pid, sizeof pid);
    snprintf(out, size, "%016llx", (unsigned long long)x);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* OUTPUT.job: the job's id, its input's fingerprint and whether it is still open (its
 * journal exists) or done (it finished and removed its journal). Written, synced, when the
 * job starts and when it ends, and kept after it finished (the journal is not), so that
 * `--resume --resend-unknown` on a finished job is the same job to the ledger: its own
 * maybe-sent records of those rows must not block them (contract: "sends this job's
 * unknown rows again"). An open job without its journal lost the record of what it sent:
 * its id is never taken again, so the claims it holds in the ledger stay another job's and
 * keep blocking those rows (see docs/journal.md, "When the journal is lost"). */
static void job_file_path(const char *output, char *buf, size_t size) { snprintf(buf, size, "%s.job", output); }

/* Replaces OUTPUT.job with text: a fresh temporary (O_EXCL never follows a planted link),
 * synced, renamed into place, its folder synced. Only --resend-unknown after the job ended
 * and the ledger check need the file: when it cannot be written, it is a new job. */
static void job_file_put(const char *output, const char *text)
{
    char path[4096], tmp[4200];
    job_file_path(output, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp); /* a leftover, or a link planted there */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f)
        return;
    int ok = fputs(text, f) >= 0;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
    else
        journal_sync_dir(path);
}

/* The job file's lines: *first (the job) and *second (its ledger, or NULL). Malloc'd. */
static void job_file_lines(const char *output, char **first, char **second)
{
    char path[4096];
    size_t cap = 0;
    *first = *second = NULL;
    job_file_path(output, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (getline(first, &cap, f) < 0) {
        free(*first);
        *first = NULL;
    }
    cap = 0;
    if (*first && (getline(second, &cap, f) < 0 || strncmp(*second, "ledger ", 7) != 0)) {
        free(*second);
        *second = NULL;
    }
    fclose(f);
}

/* Its first line: the job, its input and open/done. Its second line, "ledger BACKEND
 * IDENTITY LOCATION", names the ledger the job recorded its claims and sends in
 * (resume_check_ledger): kept as it was, so a job is refused on another ledger. */
static void job_file_write(const char *output, const journal_header *h, int done)
{
    char *first, *second, text[4400];
    job_file_lines(output, &first, &second);
    snprintf(text, sizeof text, "%s %s %llu %s\n%s", h->job_id, h->input_fp, h->input_size, done ? "done" : "open",
             second ? second : "");
    free(first);
    free(second);
    job_file_put(output, text);
}

/* The id of the job whose results are (or were to be) at output, when its input is the
 * same; *open = it had not finished (a file without the state is from a finished job). */
static int job_file_read(const char *output, const journal_header *h, char *job_id, size_t size, int *open)
{
    char path[4096], id[40], fp[17], state[8] = "done";
    unsigned long long n = 0;
    job_file_path(output, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int got = fscanf(f, "%39s %16s %llu %7s", id, fp, &n, state);
    fclose(f);
    if (got < 3 || strcmp(fp, h->input_fp) != 0 || n != h->input_size)
        return 0;
    snprintf(job_id, size, "%s", id);
    *open = strcmp(state, "open") == 0;
    return 1;
}

/* Reads the results row that belongs to input row rec and checks that its input columns
 * are the same. Returns 0, or -1 with err. */
static int read_old_row(resume *rs, reader *old, record *out, const record *rec, char *err, size_t errlen)
{
    int got = reader_next(old, out, err, errlen);
    if (got != 1 || out->n < rs->old_first_result + WRITER_RESULT_COLUMNS) {
        snprintf(err, errlen, "--resume: %s has fewer rows than %s (row %ld missing); it is not this input's "
                              "result file", rs->cfg->output, rs->cfg->input, rec->rowno);
        return -1;
    }
    for (size_t i = 0; i < rs->cols->nout; i++) {
        size_t k = rs->cols->out[i];
        const char *now = k < rec->n ? record_field(rec, k) : "";
        if (strcmp(now, record_field(out, i)) != 0) {
            snprintf(err, errlen, "--resume: row %ld of %s differs from the results in %s: the input changed "
                                  "since they were written", rec->rowno, rs->cfg->input, rs->cfg->output);
            return -1;
        }
    }
    return 0;
}

/* Before anything is sent: every input row of this shard has its row in the results,
 * unchanged, and nothing more. */
static int verify_old_output(resume *rs, char *err, size_t errlen)
{
    reader *in = reader_open(rs->cfg->input, rs->cfg->delimiter, rs->cfg->encoding, err, errlen);
    reader *old = reader_open(rs->cfg->output, ',', NULL, err, errlen);
    record rec, oldrec;
    request req;
    record_init(&rec);
    record_init(&oldrec);
    request_init(&req);
    int rc = in && old ? 0 : -1;
    if (rc == 0 && (reader_next(in, &rec, err, errlen) != 1 || reader_next(old, &oldrec, err, errlen) != 1))
        rc = -1; /* the headers, checked by the caller */
    int got;
    while (rc == 0 && (got = reader_next(in, &rec, err, errlen)) == 1) {
        if (request_build(rs->cols, &rec, rs->ropts, 0, &req) < 0) {
            rc = -1;
            break;
        }
        if (rs->cfg->shard_n > 1 && rules_fnv1a64(req.ident, strlen(req.ident)) % rs->cfg->shard_n != rs->cfg->shard_k)
            continue;
        rc = read_old_row(rs, old, &oldrec, &rec, err, errlen);
    }
    if (rc == 0 && got < 0)
        rc = -1;
    if (rc == 0 && reader_next(old, &oldrec, err, errlen) == 1) {
        snprintf(err, errlen, "--resume: %s has more rows than %s; it is not this input's result file",
                 rs->cfg->output, rs->cfg->input);
        rc = -1;
    }
    record_free(&rec);
    record_free(&oldrec);
    request_free(&req);
    reader_close(in);
    reader_close(old);
    return rc;
}

/* A finished job's results (no journal): does the file record sends? Fills what the
 * refusal message says. Returns 1 when it does, 0 when not (or not a result file). */
static int finished_sends(const char *path, long *sent, long *unknown, int64_t *last_ms)
{
    char err[256];
    reader *r = reader_open(path, ',', NULL, err, sizeof err);
    if (!r)
        return 0;
    record rec;
    record_init(&rec);
    long st_col = -1, at_col = -1;
    if (reader_next(r, &rec, err, sizeof err) == 1) {
        for (size_t i = 0; i < rec.n; i++) {
            if (strcmp(record_field(&rec, i), "result_status") == 0)
                st_col = (long)i;
            else if (strcmp(record_field(&rec, i), "result_finished_at") == 0)
                at_col = (long)i;
        }
    }
    *sent = *unknown = 0;
    *last_ms = 0;
    while (st_col >= 0 && reader_next(r, &rec, err, sizeof err) == 1) {
        if ((size_t)st_col >= rec.n)
            continue;
        row_status st = job_status_from_name(record_field(&rec, (size_t)st_col));
        if (st != RS_SENT && st != RS_UNKNOWN)
            continue;
        ++*(st == RS_SENT ? sent : unknown);
        int64_t at = at_col >= 0 && (size_t)at_col < rec.n ? clock_parse_iso(record_field(&rec, (size_t)at_col)) : 0;
        if (at > *last_ms)
            *last_ms = at;
    }
    record_free(&rec);
    reader_close(r);
    return *sent + *unknown > 0;
}

int resume_refuse_finished(const config *cfg, char *err, size_t errlen)
{
    if (cfg->resume || cfg->overwrite || writer_is_stream(cfg->output) || !file_exists(cfg->output))
        return 0;
    long sent, unknown;
    int64_t last;
    if (!finished_sends(cfg->output, &sent, &unknown, &last))
        return 0;
    char when[40] = "at an unknown time";
    if (last)
        clock_format_iso(last, when, sizeof when);
    snprintf(err, errlen,
             "%s holds the results of a finished job (last outcome %s: %ld rows sent, %ld unknown); running it "
             "again could notify those customers twice. Nothing was sent and the file is untouched. To go on: "
             "-o NEW.csv writes elsewhere; --overwrite replaces the file (the ledger still skips what was sent); "
             "--resume continues that job (rows not yet done)",
             cfg->output, when, sent, unknown);
    return -1;
}

int resume_open(resume *rs, const config *cfg, const columns *cols, const request_opts *ropts, char *job_id,
                size_t job_id_size, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    rs->cfg = cfg;
    rs->cols = cols;
    rs->ropts = ropts;
    rs->job_id = job_id;
    rs->job_id_size = job_id_size;
    record_init(&rs->old_rec);
    journal_header h;
    memset(&h, 0, sizeof h);
    h.mode = rs->cols->mode;
    h.shard_k = cfg->shard_k;
    h.shard_n = cfg->shard_n;
    int can_journal = !cfg->dry_run && !writer_is_stream(cfg->output);
    if (cfg->resume && !reader_path_is_regular(cfg->input)) {
        snprintf(err, errlen, "--resume needs an input file, not standard input or a pipe (it must be read again)");
        return -1;
    }
    if (cfg->resume && writer_is_stream(cfg->output)) {
        snprintf(err, errlen, "--resume needs an output file (-o PATH), not standard output or a device");
        return -1;
    }
    /* A pipe or FIFO cannot be read twice: no fingerprint, and no --resume (above). */
    if (reader_path_is_regular(cfg->input) && journal_fingerprint(cfg->input, &h, err, errlen) < 0)
        return -1;
    make_job_id(rs->job_id, rs->job_id_size, &h);
    if (!can_journal)
        return 0;
    char *jpath;
    if (asprintf(&jpath, "%s.journal", cfg->output) < 0)
        return -1;
    int rc = -1;
    if (file_exists(jpath)) {
        if (!cfg->resume) {
            snprintf(err, errlen, "an unfinished job exists for %s (journal %s): continue it with --resume, "
                                  "or delete the journal to start over", cfg->output, jpath);
            goto out;
        }
        journal_header old;
        rs->jn = journal_resume(jpath, &old, err, errlen);
        if (!rs->jn)
            goto out;
        if (old.input_size != h.input_size || strcmp(old.input_fp, h.input_fp) != 0) {
            snprintf(err, errlen, "--resume: %s changed since the interrupted run (journal %s belongs to "
                                  "another input); use the same file, or delete the journal to start over",
                     cfg->input, jpath);
            goto out;
        }
        if (old.mode != h.mode || old.shard_k != h.shard_k || old.shard_n != h.shard_n) {
            snprintf(err, errlen, "--resume: the interrupted run used another mode or --shard; use the same");
            goto out;
        }
        snprintf(rs->job_id, rs->job_id_size, "%s", old.job_id);
        rs->jh = old;
        log_msg(LOG_NORMAL, 0, "resuming job %s from %s", rs->job_id, jpath);
    } else {
        char old_id[40];
        int unfinished = 0;
        int known = job_file_read(cfg->output, &h, old_id, sizeof old_id, &unfinished);
        if (known && unfinished) {
            snprintf(rs->lost_job, sizeof rs->lost_job, "%s", old_id);
            log_msg(LOG_QUIET, 0, "job %s did not finish (%s.job) and its journal %s is missing: which of its "
                                  "rows went out cannot be told, so this run is a new job (%s) and never takes "
                                  "over that job's claims: the rows it claimed stay blocked in the ledger "
                                  "within the cooldown, and are unknown here",
                    old_id, cfg->output, jpath, rs->job_id);
        }
        if (cfg->resume && file_exists(cfg->output)) {
            /* A finished job: its results say what was decided. */
            rs->old = reader_open(cfg->output, ',', NULL, err, errlen);
            if (!rs->old)
                goto out;
            record hdr;
            record_init(&hdr);
            int got = reader_next(rs->old, &hdr, err, errlen);
            int found = 0;
            for (size_t i = 0; got == 1 && i < hdr.n; i++) {
                if (strcmp(record_field(&hdr, i), "result_status") == 0) {
                    rs->old_first_result = i;
                    found = 1;
                }
            }
            int same = found && rs->old_first_result == rs->cols->nout;
            for (size_t i = 0; same && i < rs->cols->nout; i++)
                same = strcmp(record_field(&hdr, i), rs->cols->name[rs->cols->out[i]]) == 0;
            record_free(&hdr);
            if (!same) {
                snprintf(err, errlen, "--resume: %s is not a result file of %s (its columns differ); "
                                      "choose another -o or delete it", cfg->output, cfg->input);
                goto out;
            }
            if (verify_old_output(rs, err, errlen) < 0)
                goto out;
            if (known && !unfinished) {
                snprintf(rs->job_id, rs->job_id_size, "%s", old_id);
                log_msg(LOG_NORMAL, 0, "resuming job %s from the results in %s", rs->job_id, cfg->output);
            } else {
                log_msg(LOG_NORMAL, 0, "resuming from the results in %s", cfg->output);
            }
        }
        snprintf(h.job_id, sizeof h.job_id, "%s", rs->job_id);
        rs->jn = journal_create(jpath, &h, err, errlen);
        if (!rs->jn)
            goto out;
        rs->jn_new = 1;
        rs->jh = h;
        job_file_write(cfg->output, &h, 0); /* keeps the ledger line until resume_check_ledger agrees */
    }
    rc = 0;
out:
    free(jpath);
    return rc;
}

int resume_check_ledger(resume *rs, const char *backend, const char *identity, const char *location, char *err,
                        size_t errlen)
{
    const config *cfg = rs->cfg;
    char *first = NULL, *second = NULL, b0[32] = "", id0[64] = "";
    int n = 0, rc = 0;
    if (cfg->dry_run || writer_is_stream(cfg->output))
        return 0;
    job_file_lines(cfg->output, &first, &second);
    if (!first)
        goto out; /* no job file (could not be written): nothing to compare */
    /* A new job whose output is gone (deleted to start over) is not the recorded job: only
     * --resume, or --overwrite of results that record sends, must stay on its ledger. */
    if (second && identity[0] && (cfg->resume || file_exists(cfg->output)) && sscanf(second, "ledger %31s %63s %n", b0, id0, &n) == 2 && n > 0 &&
        strcmp(id0, identity) != 0) {
        char *loc0 = second + n;
        loc0[strcspn(loc0, "\n")] = '\0';
        if (cfg->resume)
            snprintf(err, errlen,
                     "--resume: this job recorded its claims and sends in the %s ledger %s (identity %s), but this "
                     "run's ledger is the %s ledger %s (identity %s): another, replaced or emptied ledger would let "
                     "customers already notified be notified again. Nothing was sent. Resume with --ledger %s; if "
                     "that ledger was lost, restore it from a backup",
                     b0, loc0, id0, backend, location, identity, loc0);
        else
            snprintf(err, errlen,
                     "%s.job: the job writing to %s recorded its claims and sends in the %s ledger %s (identity %s), "
                     "but this run's ledger is the %s ledger %s (identity %s): the customers that job notified would "
                     "not be skipped. Nothing was sent. Use --ledger %s, or -o NEW.csv, or delete %s.job to start a "
                     "new job on this ledger knowingly",
                     cfg->output, cfg->output, b0, loc0, id0, backend, location, identity, loc0, cfg->output);
        rc = -1;
        goto out;
    }
    if (identity[0]) {
        /* Rewrite the job file with this ledger: the job's first line, then the ledger. */
        char text[4400];
        snprintf(text, sizeof text, "%s%sledger %s %s %s\n", first, first[strlen(first) - 1] == '\n' ? "" : "\n",
                 backend, identity, location);
        job_file_put(cfg->output, text);
    }
out:
    free(first);
    free(second);
    return rc;
}

int resume_advance(resume *rs, const record *rec, char *err, size_t errlen)
{
    return rs->old ? read_old_row(rs, rs->old, &rs->old_rec, rec, err, errlen) : 0;
}

int resume_row(resume *rs, job *j, char *err, size_t errlen)
{
    if (rs->jn) {
        journal_row_state st = journal_lookup(rs->jn, j->rowno, j);
        j->attempts_before = st == JR_DECIDED ? 0 : j->attempts;
        if (st == JR_DECIDED && !(j->status == RS_UNKNOWN && rs->cfg->resend_unknown))
            return 1;
        if (st == JR_BEGUN || st == JR_DECIDED) {
            if (rs->cfg->resend_unknown)
                return 0;
            job_decide(j, RS_UNKNOWN, "outcome lost: the request may have reached the API before the "
                                         "earlier run stopped; not sent again (use --resend-unknown)");
            return 1;
        }
    }
    if (rs->old) {
        /* The row of the finished results (verified against the input before sending). */
        job_outcome o;
        o.channels = j->channels; /* kept when result_channels cannot be read */
        writer_result_parse(&rs->old_rec, rs->old_first_result, &o);
        row_status st = o.status;
        if (st == RS_PENDING || st == RS_NOT_ATTEMPTED || (st == RS_UNKNOWN && rs->cfg->resend_unknown)) {
            j->attempts = j->attempts_before = o.attempts;
            return 0;
        }
        job_restore(j, &o);
        return 1;
    }
    return 0;
}

int resume_lost_claims(const resume *rs, const ledger_claim_item *it, unsigned blocked)
{
    if (!rs->lost_job[0] || !blocked)
        return 0;
    for (int i = 0; i < 3; i++) {
        if (!(blocked & (1u << i)))
            continue;
        ledger_kind k = it->blocked_kind[i];
        if ((k != LEDGER_CLAIMED && k != LEDGER_MAYBE) || strcmp(it->blocked_job[i], rs->lost_job) != 0)
            return 0;
    }
    return 1;
}

void resume_close(resume *rs, int remove_journal)
{
    if (rs->jn && remove_journal)
        job_file_write(rs->cfg->output, &rs->jh, 1); /* done: before its journal goes */
    if (rs->jn)
        journal_close(rs->jn, remove_journal);
    rs->jn = NULL;
    reader_close(rs->old);
    rs->old = NULL;
    record_free(&rs->old_rec);
}
