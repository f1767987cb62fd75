/* main — wires the pipeline: cli → reader → (validate, dedupe, resume, ledger) → queue →
 * workers → reorder → writer, with the journal, progress and signals watching. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "columns.h"
#include "confirm.h"
#include "dedupe.h"
#include "engine.h"
#include "journal.h"
#include "ledger.h"
#include "log.h"
#include "progress.h"
#include "reader.h"
#include "reorder.h"
#include "request.h"
#include "resume.h"
#include "rules.h"
#include "summary.h"
#include "writer.h"
#include "xlsxout.h"

#define EXIT_USAGE 2
#define EXIT_ABORTED 3
#define EXIT_INTERRUPTED 130

typedef struct job_ctx {
    config *cfg;
    columns cols;
    reader *in;
    resume rs;            /* earlier runs of this job, and this run's journal */
    ledger *led;
    dedupe *seen;
    dedupe *requested;    /* with --ledger: identifier+channel already requested in this job */
    reorder *ro;
    queue *q;
    throttle *thr;
    http_shared *http;
    engine *eng;
    writer *out, *fail;
    xlsxout *xl;
    summary sum;
    progress *prog;
    request_opts ropts;
    char *attach_dir;     /* the input's folder, for template attachments */
    char job_id[40];
    atomic_int interrupted;
    atomic_int fatal;      /* the writer could not write */
    char fatal_msg[512];
    pthread_t writer_thread, watch_thread;
    int watch_started;
} job_ctx;

static int fail_usage(const char *msg)
{
    fprintf(stderr, "ottu-resend: %s\n", msg);
    return EXIT_USAGE;
}

/* ---- writer thread: rows in input order to the CSV, failures, workbook, ledger ---- */

static int is_failure(row_status s)
{
    return s == RS_FAILED || s == RS_INVALID || s == RS_NOT_ATTEMPTED || s == RS_UNKNOWN;
}

static void *writer_main(void *p)
{
    job_ctx *c = p;
    row_cells rc;
    char err[512];
    if (row_cells_init(&rc, &c->cols) < 0)
        abort();
    job *j;
    while ((j = reorder_next(c->ro)) != NULL) {
        row_cells_fill(&rc, &c->cols, j);
        int bad = writer_cells(c->out, &rc) < 0;
        if (c->fail && is_failure(j->status))
            bad |= writer_cells(c->fail, &rc) < 0;
        if (c->xl && xlsxout_row(c->xl, rc.cell, rc.len, j) < 0 && !atomic_load(&c->fatal)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "--xlsx: %s", xlsxout_error(c->xl));
            atomic_store(&c->fatal, 1);
        }
        /* An unknown row may have reached the customer: the ledger assumes it did, so the
         * next job does not notify them again within the cooldown. */
        if (c->led && (j->status == RS_SENT || j->status == RS_UNKNOWN) && !c->cfg->dry_run &&
            ledger_record(c->led, j->req.ledger_key, strlen(j->req.ledger_key), j->channels, j->finished_at_ms,
                          j->rowno, err, sizeof err) < 0)
            log_msg(LOG_QUIET, j->rowno, "ledger: %s", err);
        if (bad && !atomic_load(&c->fatal)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "cannot write the results: %s", strerror(errno));
            atomic_store(&c->fatal, 1);
        }
        summary_add(&c->sum, j);
        progress_row_done(c->prog, j->status);
        reorder_release(c->ro, j);
    }
    row_cells_free(&rc);
    return NULL;
}

/* ---- watcher thread: SIGINT/SIGTERM, and the progress line a few times a second ---- */

static void *watch_main(void *p)
{
    job_ctx *c = p;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    struct timespec tick = {0, 250 * 1000 * 1000};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGUSR1)
            break; /* the job is over */
        if (sig == SIGINT || sig == SIGTERM) {
            if (atomic_exchange(&c->interrupted, 1)) {
                /* Second signal: stop at once. Rows in flight become "unknown" on resume. */
                static const char msg[] = "\nottu-resend: second signal, stopping at once\n";
                if (write(2, msg, sizeof msg - 1) < 0) {
                }
                _exit(EXIT_INTERRUPTED);
            }
            log_msg(LOG_QUIET, 0, "interrupted: finishing requests in flight; the rest will be not_attempted "
                                  "(signal again to stop at once)");
            if (c->eng)
                engine_stop(c->eng);
            continue;
        }
        if (c->led) {
            char err[256];
            if (ledger_tick(c->led, err, sizeof err) < 0)
                log_msg(LOG_QUIET, 0, "ledger: %s", err);
        }
        progress_draw(c->prog, 0);
    }
    return NULL;
}

/* ---- setup ---- */

/* Two paths name the same file (existing: same inode; new: same directory and name). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ca = realpath(a, NULL), *cb = realpath(b, NULL);
    int same = 0;
    if (!ca || !cb) {
        /* A file still to be created: compare its directory and name. */
        char *da = strdup(a), *db = strdup(b), *ba = strdup(a), *bb = strdup(b);
        if (da && db && ba && bb) {
            char *ra = realpath(dirname(da), NULL), *rb = realpath(dirname(db), NULL);
            same = ra && rb && strcmp(ra, rb) == 0 && strcmp(basename(ba), basename(bb)) == 0;
            free(ra);
            free(rb);
        }
        free(da);
        free(db);
        free(ba);
        free(bb);
    } else {
        same = strcmp(ca, cb) == 0;
    }
    free(ca);
    free(cb);
    return same;
}

/* Every file the job writes must be its own: an output naming the input would destroy
 * it, and the summary must be writable before anything is sent. */
static int check_paths(const config *cfg, char *err, size_t errlen)
{
    const struct {
        const char *opt, *path;
    } files[] = {
        {"the input", strcmp(cfg->input, "-") ? cfg->input : NULL},
        {"-o/--output", writer_is_stream(cfg->output) ? NULL : cfg->output},
        {"--failures", cfg->failures && !writer_is_stream(cfg->failures) ? cfg->failures : NULL},
        {"--summary-json", cfg->summary_json && strcmp(cfg->summary_json, "-") ? cfg->summary_json : NULL},
        {"--xlsx", cfg->xlsx},
        {"--ledger", cfg->ledger},
        {"--api-key-file", cfg->api_key_file},
    };
    size_t n = sizeof files / sizeof files[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = i + 1; files[i].path && k < n; k++) {
            if (files[k].path && same_file(files[i].path, files[k].path)) {
                snprintf(err, errlen, "%s and %s are the same file (%s); give each its own path", files[i].opt,
                         files[k].opt, files[k].path);
                return -1;
            }
        }
    }
    if (cfg->summary_json && strcmp(cfg->summary_json, "-") != 0) {
        FILE *f = fopen(cfg->summary_json, "a");
        if (!f) {
            snprintf(err, errlen, "cannot write --summary-json %s: %s", cfg->summary_json, strerror(errno));
            return -1;
        }
        fclose(f);
    }
    return 0;
}

/* ---- the reader stage: every row is decided here or handed to the workers ---- */

/* Drops channels the ledger saw within the cooldown. Returns 1 when nothing is left. */
static int consult_ledger(job_ctx *c, job *j, char *err, size_t errlen)
{
    unsigned recent = 0;
    int64_t at[3] = {0, 0, 0};
    if (ledger_recent(c->led, j->req.ledger_key, strlen(j->req.ledger_key), j->req.channels, clock_now_ms(),
                      c->cfg->cooldown_ms, &recent, at, err, errlen) < 0)
        return -1;
    /* An earlier row of this job may have asked for the same channel moments ago, its
     * answer not yet in the ledger: count it as sent, so the outcome does not depend on
     * timing. (--cooldown 0 never skips.) */
    long by_row[3] = {0, 0, 0};
    if (c->cfg->cooldown_ms > 0) {
        uint64_t key = rules_fnv1a64(j->req.ledger_key, strlen(j->req.ledger_key));
        for (int i = 0; i < 3; i++) {
            unsigned char bit = (unsigned char)(1u << i);
            if (!(j->req.channels & bit) || (recent & bit))
                continue;
            long first = dedupe_check(c->requested, rules_fnv1a64_update(key, &bit, 1), j->rowno);
            if (first < 0)
                return -1;
            if (first > 0) {
                recent |= bit;
                by_row[i] = first;
            }
        }
    }
    if (!recent)
        return 0;
    char note[300];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!(recent & (1u << i)))
            continue;
        char ts[32];
        if (by_row[i])
            snprintf(ts, sizeof ts, "by row %ld of this job", by_row[i]);
        else
            clock_format_iso(at[i], ts, sizeof ts);
        n += (size_t)snprintf(note + n, sizeof note - n, "%s%s sent %s", n ? ", " : "", rules_channel_name(1u << i), ts);
        if (n >= sizeof note)
            n = sizeof note - 1;
    }
    if (!(j->req.channels & ~recent)) {
        /* Nothing left: no need to build the request again (or re-read attachments). */
        j->req.channels = 0;
        snprintf(j->detail, sizeof j->detail, "already sent within the cooldown: %s", note);
        return 1;
    }
    char prev[640];
    snprintf(prev, sizeof prev, "%s", j->req.detail);
    if (request_build(&c->cols, &j->rec, &c->ropts, recent, &j->req) < 0)
        return -1;
    snprintf(j->req.detail, sizeof j->req.detail, "%.300s%sskipped %.300s (within the cooldown)", prev,
             prev[0] ? "; " : "", note);
    return 0;
}

static int decide(job_ctx *c, job *j, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    if (!j->req.valid) {
        snprintf(j->detail, sizeof j->detail, "%s", j->req.detail);
        j->status = RS_INVALID;
        log_msg(LOG_VERBOSE, j->rowno, "invalid: %s", j->detail);
        return 0;
    }
    j->channels = j->req.channels;
    long first = dedupe_check(c->seen, j->req.fingerprint, j->rowno);
    if (first < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (first > 0) {
        snprintf(j->detail, sizeof j->detail, "duplicate of row %ld", first);
        j->status = RS_DUPLICATE;
        return 0;
    }
    int kept = resume_row(&c->rs, j, err, errlen);
    if (kept < 0)
        return -1;
    if (kept)
        return 0;
    if (c->led) {
        int none = consult_ledger(c, j, err, errlen);
        if (none < 0)
            return -1;
        j->channels = j->req.channels;
        if (none) {
            j->status = RS_SKIPPED;
            return 0;
        }
    }
    snprintf(j->detail, sizeof j->detail, "%s", j->req.detail);
    if (cfg->dry_run) {
        j->status = RS_DRY_RUN;
        return 0;
    }
    if (atomic_load(&c->interrupted) || (c->eng && engine_stopping(c->eng))) {
        snprintf(j->detail, sizeof j->detail, "not sent: the job was %s",
                 c->eng && engine_aborted(c->eng) ? "aborted (API key rejected)" : "interrupted");
        j->status = RS_NOT_ATTEMPTED;
        return 0;
    }
    return 1; /* to the workers */
}

static int read_rows(job_ctx *c, char *err, size_t errlen)
{
    record rec;
    request req;
    record_init(&rec);
    request_init(&req);
    int rc = 0, got;
    while (!atomic_load(&c->fatal) && (got = reader_next(c->in, &rec, err, errlen)) == 1) {
        if (request_build(&c->cols, &rec, &c->ropts, 0, &req) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (c->cfg->shard_n > 1 &&
            rules_fnv1a64(req.ident, strlen(req.ident)) % c->cfg->shard_n != c->cfg->shard_k)
            continue;
        progress_row_read(c->prog, reader_bytes(c->in));
        if (resume_advance(&c->rs, &rec, err, errlen) < 0) {
            rc = -1; /* cannot happen after verify_old_output, unless a file changed meanwhile */
            break;
        }
        job *j = reorder_acquire(c->ro);
        job_reset(j, rec.rowno);
        /* Swap buffers instead of copying: the slot keeps ours, we keep its old ones. */
        record tr = j->rec;
        j->rec = rec;
        rec = tr;
        request tq = j->req;
        j->req = req;
        req = tq;
        int to_send = decide(c, j, err, errlen);
        if (to_send < 0) {
            rc = -1;
            j->status = RS_NOT_ATTEMPTED;
            snprintf(j->detail, sizeof j->detail, "not sent: the job stopped on an error");
            reorder_complete(c->ro, j);
            break;
        }
        if (to_send) {
            queue_push(c->q, j);
        } else {
            if (!j->finished_at_ms)
                j->finished_at_ms = clock_now_ms();
            reorder_complete(c->ro, j);
        }
    }
    if (rc == 0 && got < 0)
        rc = -1;
    record_free(&rec);
    request_free(&req);
    return rc;
}

/* ---- the job ---- */

static int open_outputs(job_ctx *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    c->out = writer_open(cfg->output, cfg->excel, err, errlen);
    if (!c->out)
        return -1;
    row_cells hdr;
    if (row_cells_init(&hdr, &c->cols) < 0)
        return -1;
    row_cells_header(&hdr, &c->cols);
    writer_cells(c->out, &hdr);
    if (cfg->failures) {
        c->fail = writer_open(cfg->failures, cfg->excel, err, errlen);
        if (c->fail)
            writer_cells(c->fail, &hdr);
    }
    if (c->fail || !cfg->failures) {
        if (cfg->xlsx)
            c->xl = xlsxout_open(cfg->xlsx, hdr.cell, c->cols.nout, err, errlen);
    }
    row_cells_free(&hdr);
    if ((cfg->failures && !c->fail) || (cfg->xlsx && !c->xl))
        return -1;
    return 0;
}

static int close_outputs(job_ctx *c, int commit, int exit_code, char *err, size_t errlen)
{
    int rc = 0;
    char e2[512];
    if (writer_close(c->out, commit, err, errlen) < 0)
        rc = -1;
    if (c->fail && writer_close(c->fail, commit, e2, sizeof e2) < 0 && rc == 0) {
        snprintf(err, errlen, "%s", e2);
        rc = -1;
    }
    c->out = c->fail = NULL;
    if (c->xl) {
        if (!commit) {
            xlsxout_discard(c->xl);
        } else {
            char rate[32], conc[16];
            snprintf(rate, sizeof rate, "%g/s", c->cfg->rate);
            snprintf(conc, sizeof conc, "%d", c->cfg->concurrency);
            xlsxout_kv info[] = {
                {"input", c->cfg->input},
                {"mode", c->cols.mode == MODE_TEMPLATE ? "template" : "message"},
                {"dry run", c->cfg->dry_run ? "yes" : "no"},
                {"rate", c->cfg->rate > 0 ? rate : "unlimited"},
                {"concurrency", conc},
                {"job", c->job_id},
            };
            xlsxout_end end = {.exit_code = exit_code, .shard_k = c->cfg->shard_k, .shard_n = c->cfg->shard_n,
                               .info = info, .ninfo = sizeof info / sizeof info[0]};
            memcpy(end.channel_sent, c->sum.channel_sent, sizeof end.channel_sent);
            memcpy(end.channel_requested, c->sum.channel_requested, sizeof end.channel_requested);
            if (xlsxout_close(c->xl, &end, e2, sizeof e2) < 0 && rc == 0) {
                snprintf(err, errlen, "--xlsx: %s", e2);
                rc = -1;
            }
        }
        c->xl = NULL;
    }
    return rc;
}

static int run(config *cfg)
{
    job_ctx *c = calloc(1, sizeof *c);
    char err[1024] = "";
    int exit_code = EXIT_USAGE;
    int sending_started = 0;
    int paths_ok = 0; /* the summary file may be written even for a usage error */
    if (!c)
        return fail_usage("out of memory");
    c->cfg = cfg;
    summary_init(&c->sum);

    /* Configuration errors first: nothing is read or sent before they are clear. */
    if (check_paths(cfg, err, sizeof err) < 0)
        goto done;
    paths_ok = 1;
    if (!cfg->dry_run) {
        if (!cfg->base_url || !cfg->base_url[0]) {
            snprintf(err, sizeof err, "no base URL: use --base-url https://MERCHANT.ottu.net or set OTTU_BASE_URL");
            goto done;
        }
        if (http_check_url(cfg->base_url, err, sizeof err) < 0 || cli_load_key(cfg, err, sizeof err) < 0)
            goto done;
    }
    c->in = reader_open(cfg->input, cfg->delimiter, err, sizeof err);
    if (!c->in)
        goto done;
    record header;
    record_init(&header);
    int got = reader_next(c->in, &header, err, sizeof err);
    if (got <= 0 || header.malformed || header.n == 0) {
        if (got == 0)
            snprintf(err, sizeof err, "%s is empty: expected a header row (e.g. order_no,channels)",
                     strcmp(cfg->input, "-") ? cfg->input : "standard input");
        else if (got > 0)
            snprintf(err, sizeof err, "%s: the header row is not valid CSV (%s)", cfg->input, header.problem);
        record_free(&header);
        goto done;
    }
    int cols_rc = columns_parse(&c->cols, &header, cfg->mode, err, sizeof err);
    record_free(&header);
    if (cols_rc < 0)
        goto done;
    if (c->cols.mode == MODE_MESSAGE && c->cols.idx[COL_CHANNELS] < 0 && !cfg->default_channels) {
        snprintf(err, sizeof err, "the header has no channels column: add one, or give --channels (e.g. --channels sms,email)");
        goto done;
    }
    c->ropts.mode = c->cols.mode;
    c->ropts.default_channels = cfg->default_channels;
    c->ropts.per_channel_endpoint = cfg->per_channel_endpoint;
    c->ropts.job_id = c->job_id;
    if (strcmp(cfg->input, "-") != 0) {
        char *copy = strdup(cfg->input);
        c->attach_dir = copy ? realpath(dirname(copy), NULL) : NULL;
        free(copy);
        c->ropts.attach_dir = c->attach_dir;
    }
    /* ---- issue 18: confirmation at a terminal (port to the restructured main) ---- */
    if (confirm_needed(cfg)) {
        long rows, ch[3];
        if (confirm_count(cfg, &c->cols, &c->ropts, &rows, ch, err, sizeof err) < 0)
            goto done;
        if (rows > 0 && !confirm_send(stdin, stderr, rows, ch, cfg->base_url)) {
            snprintf(err, sizeof err, "not confirmed: nothing sent (--yes sends without asking)");
            goto done;
        }
    }
    /* ---- end of the confirmation ---- */
    if (resume_open(&c->rs, cfg, &c->cols, &c->ropts, c->job_id, sizeof c->job_id, err, sizeof err) < 0)
        goto done;
    if (cfg->ledger && cfg->dry_run) {
        log_msg(LOG_NORMAL, 0, "--dry-run: the ledger is not consulted or written");
    } else if (cfg->ledger) {
        c->led = ledger_open(cfg->ledger, c->job_id, LEDGER_READWRITE, err, sizeof err);
        if (!c->led)
            goto done;
    }
    if (open_outputs(c, err, sizeof err) < 0)
        goto done;

    size_t window = cfg->concurrency * 4 > 4096 ? (size_t)cfg->concurrency * 4 : 4096;
    c->seen = dedupe_new();
    if (c->led && !(c->requested = dedupe_new())) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    c->ro = reorder_new(window);
    c->q = queue_new(window);
    c->prog = progress_new(cfg->progress, reader_size(c->in), &c->sum);
    if (!c->seen || !c->ro || !c->q || !c->prog) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    if (!cfg->dry_run) {
        c->http = http_shared_new(cfg->base_url, cfg->api_key, cfg->cacert, (long)(cfg->timeout_s * 1000), err,
                                  sizeof err);
        c->thr = throttle_new(cfg->rate, cfg->burst, cfg->backoff_base_ms, cfg->backoff_max_ms);
        if (!c->http || !c->thr)
            goto done;
        progress_set_throttle(c->prog, c->thr, c->q);
        engine_opts eo = {c->http, c->thr, c->q, c->ro, c->rs.jn, &c->sum, cfg->concurrency, cfg->max_attempts,
                          cfg->backoff_base_ms, cfg->backoff_max_ms};
        c->eng = engine_start(&eo, err, sizeof err);
        if (!c->eng)
            goto done;
    }
    sending_started = 1;
    pthread_create(&c->writer_thread, NULL, writer_main, c);
    c->watch_started = pthread_create(&c->watch_thread, NULL, watch_main, c) == 0;

    int read_rc = read_rows(c, err, sizeof err);

    queue_close(c->q);
    if (c->eng)
        engine_join(c->eng);
    reorder_close(c->ro);
    pthread_join(c->writer_thread, NULL);
    if (c->watch_started) {
        pthread_kill(c->watch_thread, SIGUSR1);
        pthread_join(c->watch_thread, NULL);
    }

    int interrupted = atomic_load(&c->interrupted);
    int aborted = c->eng && engine_aborted(c->eng);
    if (read_rc < 0 || atomic_load(&c->fatal)) {
        if (atomic_load(&c->fatal))
            snprintf(err, sizeof err, "%s", c->fatal_msg);
        /* Keep the journal: what was sent is on record, --resume continues. */
        progress_finish(c->prog, EXIT_USAGE); /* issue 18: the last progress line */
        close_outputs(c, 0, EXIT_USAGE, err + strlen(err), 0);
        resume_close(&c->rs, 0);
        exit_code = EXIT_USAGE;
        goto done;
    }
    if (aborted)
        exit_code = EXIT_ABORTED;
    else if (interrupted)
        exit_code = EXIT_INTERRUPTED;
    else
        exit_code = summary_exit_code(&c->sum);
    progress_finish(c->prog, exit_code); /* issue 18: the last line says what was not sent, and --resume */
    if (close_outputs(c, 1, exit_code, err, sizeof err) < 0) {
        resume_close(&c->rs, 0);
        exit_code = EXIT_USAGE;
        goto done;
    }
    /* The journal goes only when the job ran to the end; otherwise --resume needs it. */
    resume_close(&c->rs, !aborted && !interrupted);
    if (aborted)
        log_msg(LOG_QUIET, 0, "the API rejected the key (401/403): job aborted. The rows that got 401/403 are "
                              "failed (see --failures); after fixing the key, --resume sends the rows not attempted");
    if (cfg->verbosity > 0 || exit_code != 0)
        summary_print(&c->sum, stderr, cfg->output, cfg->failures, exit_code);
    if (cfg->summary_json && summary_write_json(&c->sum, cfg->summary_json, exit_code, err, sizeof err) < 0) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        err[0] = '\0';
    }
    err[0] = '\0';

done:
    if (err[0])
        fprintf(stderr, "ottu-resend: %s\n", err);
    if (exit_code == EXIT_USAGE && !sending_started && cfg->summary_json && paths_ok) {
        char e2[256];
        summary_write_json(&c->sum, cfg->summary_json, exit_code, e2, sizeof e2);
    }
    if (c->out || c->fail || c->xl)
        close_outputs(c, 0, exit_code, err, 0);
    resume_close(&c->rs, !sending_started && c->rs.jn_new);
    if (c->led)
        ledger_close(c->led);
    engine_free(c->eng);
    throttle_free(c->thr);
    http_shared_free(c->http);
    queue_free(c->q);
    reorder_free(c->ro);
    dedupe_free(c->seen);
    dedupe_free(c->requested);
    progress_free(c->prog);
    reader_close(c->in);
    free(c->attach_dir);
    columns_free(&c->cols);
    free(c);
    return exit_code;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "ledger") == 0)
        return ledger_main(argc - 1, argv + 1);
    /* The key lives in this process's memory: keep it out of core dumps. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    config cfg;
    char err[512];
    int rc = cli_parse(argc, argv, &cfg, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "ottu-resend: %s\n", err);
        cli_free(&cfg);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    log_set_level(cfg.verbosity);
    /* Signals are taken by the watcher thread only (sigtimedwait), never asynchronously. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (http_global_init() < 0) {
        fprintf(stderr, "ottu-resend: cannot initialise libcurl\n");
        return EXIT_USAGE;
    }
    rc = run(&cfg);
    http_global_cleanup();
    cli_free(&cfg);
    return rc;
}
