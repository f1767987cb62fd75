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

#include "budget.h"
#include "confirm.h"
#include "exitcode.h"
#include "joblock.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "pipeline.h"
#include "preflight.h"

static int fail_usage(const char *msg)
{
    fprintf(stderr, "ottu-resend: %s\n", msg);
    return EXIT_USAGE;
}

/* ---- watcher thread: SIGINT/SIGTERM, and the progress line a few times a second ---- */

static void *watch_main(void *p)
{
    pipeline *c = p;
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
        char err[256];
        if (c->led && !c->cfg->dry_run && ledger_tick(c->led, err, sizeof err) < 0)
            pipeline_fail(c, "ledger: %s; no further notification is sent (fix it, then --resume)", err);
        progress_draw(c->prog, 0);
    }
    return NULL;
}

/* ---- setup ---- */

/* ---- setup: everything that can be refused before a row is read or sent ---- */

/* Options, URL and key: configuration errors first. */
static int check_config(config *cfg, char *err, size_t errlen)
{
    if (cfg->dry_run && !cfg->verify) /* --dry-run --verify reads the transactions: it needs both */
        return 0;
    if (!cfg->base_url || !cfg->base_url[0]) {
        snprintf(err, errlen, "no base URL: use --base-url https://MERCHANT.ottu.net or set OTTU_BASE_URL");
        return -1;
    }
    return http_check_url(cfg->base_url, err, errlen) < 0 || cli_load_key(cfg, err, errlen) < 0 ? -1 : 0;
}

/* The input's header decides the columns and the mode. */
static int open_input(pipeline *c, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    c->in = reader_open(cfg->input, cfg->delimiter, cfg->encoding, err, errlen);
    if (!c->in)
        return -1;
    record header;
    record_init(&header);
    int got = reader_next(c->in, &header, err, errlen);
    int rc = -1;
    if (got == 0)
        snprintf(err, errlen, "%s is empty: expected a header row (e.g. order_no,channels)",
                 strcmp(cfg->input, "-") ? cfg->input : "standard input");
    else if (got > 0 && (header.malformed || header.n == 0))
        snprintf(err, errlen, "%s: the header row is not valid CSV (%s)", cfg->input, header.problem);
    else if (got > 0)
        rc = columns_parse(&c->cols, &header, cfg->mode, cfg->maps, cfg->nmaps, err, errlen);
    record_free(&header);
    if (rc < 0)
        return -1;
    if (c->cols.mode == MODE_MESSAGE && c->cols.idx[COL_CHANNELS] < 0 && !cfg->default_channels) {
        snprintf(err, errlen, "the header has no channels column: add one, or give --channels (e.g. --channels sms,email)");
        return -1;
    }
    if (cfg->verify && c->cols.mode != MODE_MESSAGE) {
        snprintf(err, errlen, "--verify reads transactions: it applies to message mode only (a template row names "
                              "no transaction)");
        return -1;
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
    return 0;
}

/* At a terminal, nothing stands between a typo and 50,000 real SMS but this question:
 * validate the whole input first, then ask (never under cron, in a dry run or with --yes).
 * Asked before any journal or output exists, so "no" leaves nothing behind; on --resume
 * once the journal is read, to count only the rows left (a "no" keeps the journal). */
static int confirm(pipeline *c, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    long rows, ch[3];
    if (!confirm_needed(cfg))
        return 0;
    if (confirm_count_left(cfg, &c->cols, &c->ropts, cfg->resume ? &c->rs : NULL, &rows, ch, err, errlen) < 0)
        return -1;
    if (rows > 0 && !confirm_send(stdin, stderr, rows, ch, cfg->base_url)) {
        snprintf(err, errlen, "not confirmed: nothing sent (--yes sends without asking)");
        return -1;
    }
    return 0;
}

/* What the job remembers: one process per job, a finished job not run again by accident,
 * the journal of earlier runs, the ledger. */
static int open_state(pipeline *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    if (!writer_is_stream(cfg->output) && !(c->lock = joblock_acquire(cfg->output, err, errlen)))
        return -1;
    if (resume_refuse_finished(cfg, err, errlen) < 0)
        return -1;
    if (resume_open(&c->rs, cfg, &c->cols, &c->ropts, c->job_id, sizeof c->job_id, err, errlen) < 0)
        return -1;
    if (cfg->ledger) {
        c->led = ledger_open(cfg->ledger, c->job_id, cfg->dry_run ? LEDGER_READONLY : LEDGER_READWRITE, err, errlen);
        if (!c->led)
            return -1;
        /* Records are per API: a rehearsal against ottu-mock never blocks the real one. */
        ledger_set_api(c->led, cfg->base_url);
        if (!cfg->dry_run && resume_check_ledger(&c->rs, ledger_backend_name(c->led), ledger_identity(c->led),
                                                 ledger_location(c->led), err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The engine's hook before every attempt: the job's lease on its claims still holds (a job
 * that could not renew it stops before another may take its claims over), then one
 * request of today's budget. */
static int take_request(void *ctx, char *msg, size_t msglen)
{
    pipeline *c = ctx;
    if (c->led && !ledger_lease_ok(c->led)) {
        snprintf(msg, msglen, "ledger: this job's lease on its claims was not renewed in time (ledger unreachable?): "
                              "no new request is sent (fix it, then --resume)");
        return -1;
    }
    return c->bud ? budget_take(c->bud, msg, msglen) : 1;
}

/* The parts between the stages, and the workers. */
static int build_pipeline(pipeline *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    size_t window = cfg->concurrency * 4 > 4096 ? (size_t)cfg->concurrency * 4 : 4096;
    c->seen = dedupe_new();
    /* --verify links a transaction's two names within the job even without a ledger. */
    c->requested = c->led || cfg->verify ? dedupe_new() : NULL;
    c->ro = reorder_new(window);
    c->q = queue_new(window);
    c->prog = progress_new(cfg->progress, reader_size(c->in), &c->sum);
    if (!c->seen || ((c->led || cfg->verify) && !c->requested) || !c->ro || !c->q || !c->prog) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->dry_run && !cfg->verify)
        return 0;
    c->http = http_shared_new(cfg->base_url, cfg->api_key, cfg->cacert, (long)(cfg->timeout_s * 1000), err, errlen);
    c->thr = throttle_new(cfg->rate, cfg->burst, cfg->backoff_base_ms, cfg->backoff_max_ms);
    if (!c->http || !c->thr)
        return -1;
    /* The daily budget lives in the ledger, so the jobs (and hosts) of a day share it. */
    if (c->led && !cfg->dry_run && cfg->daily_budget > 0 && !(c->bud = budget_new(c->led, cfg->base_url, cfg->api_key, cfg->daily_budget))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    progress_set_throttle(c->prog, c->thr, c->q, cfg->rate);
    engine_opts eo = {.http = c->http, .thr = c->thr, .q = c->q, .ro = c->ro, .jn = c->rs.jn, .sum = &c->sum,
                      .workers = cfg->concurrency, .max_attempts = cfg->max_attempts,
                      .backoff_base_ms = cfg->backoff_base_ms, .backoff_max_ms = cfg->backoff_max_ms,
                      .retry_ambiguous = cfg->retry_ambiguous,
                      .async = cfg->http2,
                      .max_pause_ms = cfg->max_pause_ms > 0 ? cfg->max_pause_ms : 1, /* 0 would mean the default */
                      .api_key = cfg->api_key,
                      .take_request = c->bud || c->led ? take_request : NULL, .take_request_ctx = c};
    if (cfg->verify) {
        /* --verify: the workers also read transactions, under the same throttle, budget
         * and -j as the sends (lookup.h; docs/design.md). */
        lookup_opts lo = {.thr = c->thr, .q = c->q, .sum = &c->sum, .max_attempts = cfg->max_attempts,
                          .backoff_base_ms = cfg->backoff_base_ms, .backoff_max_ms = cfg->backoff_max_ms,
                          .max_pause_ms = eo.max_pause_ms, .api_key = cfg->api_key,
                          .take_request = eo.take_request, .take_request_ctx = eo.take_request_ctx};
        if (!(c->lk = lookup_new(&lo))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        eo.lookup_pass = lookup_pass;
        eo.lookup_ctx = c->lk;
    }
    c->eng = engine_start(&eo, err, errlen);
    if (c->lk && c->eng)
        lookup_bind_engine(c->lk, c->eng);
    return c->eng ? 0 : -1;
}

/* Contract (Sending): at start, warn when the rows to send exceed what is left of today's
 * budget, so an operator learns before the job stops half-way. The rows are bounded from
 * above by the input's lines (a record may span lines, some rows may be done or invalid):
 * a regular file is counted with one cheap pass; a pipe is never read ahead, so no warning. */
static void warn_budget(pipeline *c)
{
    const config *cfg = c->cfg;
    if (!c->bud || cfg->dry_run)
        return;
    long long lines = reader_count_lines(cfg->input);
    if (lines < 1)
        return;
    long long rows = lines - 1; /* the header */
    if (cfg->limit > 0 && rows > cfg->limit)
        rows = cfg->limit;
    char msg[256];
    long long left = budget_left(c->bud, msg, sizeof msg);
    long long need = rows + (cfg->no_preflight ? 0 : 1); /* the preflight GET counts */
    /* left == 0: the preflight (or the first row) stops the job at once, saying why. */
    if (left <= 0 || need <= left)
        return;
    log_msg(LOG_NORMAL, 0,
            "warning: up to %lld rows to send, but today's --daily-budget %lld has %lld requests left (UTC day; "
            "the preflight and every retry count): the job will stop with exit 4 when it is spent, and --resume "
            "continues it",
            rows, cfg->daily_budget, left);
}

/* The GET before the first row (contract: Sending). Returns 0 to go on (a rejected key or a
 * spent budget has then stopped the engine, so every row becomes not_attempted and the
 * exit status says why), or -1 with err: exit 2, nothing sent. */
static int preflight(pipeline *c, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    if (cfg->dry_run || cfg->no_preflight)
        return 0;
    if (c->bud) {
        char msg[512];
        int ok = budget_take(c->bud, msg, sizeof msg);
        if (ok < 0) {
            snprintf(err, errlen, "ledger: %s", msg);
            return -1;
        }
        if (ok == 0) {
            static const char spent[] = "today's --daily-budget is spent: no request was made; --resume continues "
                                        "tomorrow (UTC), or raise --daily-budget";
            engine_stop_because(c->eng, ENGINE_STOP_BUDGET, 0, spent);
            log_msg(LOG_QUIET, 0, "%s", spent);
            return 0;
        }
    }
    char msg[768];
    int64_t wait_ms = 0;
    int64_t max_pause = cfg->max_pause_ms > 0 ? cfg->max_pause_ms : 1; /* as the engine's */
    switch (preflight_run(c->http, cfg->base_url, request_endpoint(&c->ropts), max_pause, &wait_ms, msg, sizeof msg)) {
    case PREFLIGHT_GO:
        return 0;
    case PREFLIGHT_QUOTA:
        engine_stop_because(c->eng, ENGINE_STOP_QUOTA, clock_now_ms() + wait_ms, msg);
        log_msg(LOG_QUIET, 0, "%s", msg);
        return 0;
    case PREFLIGHT_KEY_REJECTED:
        engine_stop_because(c->eng, ENGINE_STOP_KEY_REJECTED, 0, msg);
        log_msg(LOG_QUIET, 0, "%s", msg);
        return 0;
    case PREFLIGHT_REFUSED:
        break;
    }
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* ---- the run ---- */

/* The watcher runs from the moment the workers exist (before the preflight, which may
 * wait for a slow server) to the end: signals are handled throughout. */
static void start_watcher(pipeline *c)
{
    c->watching = pthread_create(&c->watch_thread, NULL, watch_main, c) == 0;
}

static void stop_watcher(pipeline *c)
{
    if (!c->watching)
        return;
    pthread_kill(c->watch_thread, SIGUSR1);
    pthread_join(c->watch_thread, NULL);
    c->watching = 0;
}

/* Ends the workers of a job that stops before its rows are read. */
static void stop_workers(pipeline *c)
{
    if (!c->eng)
        return;
    engine_stop(c->eng);
    queue_close(c->q);
    engine_join(c->eng);
}

/* Reader on this thread, workers, writer and watcher beside it; returns when every row
 * is written. */
static int run_stages(pipeline *c, char *err, size_t errlen)
{
    pthread_t writer_thread;
    if (pthread_create(&writer_thread, NULL, stage_write_main, c) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        stop_workers(c);
        return -1;
    }
    int rc = stage_read_run(c, err, errlen);
    queue_close(c->q);
    if (c->eng)
        engine_join(c->eng);
    reorder_close(c->ro);
    pthread_join(writer_thread, NULL);
    stop_watcher(c);
    return rc;
}

/* Why the engine stopped, as the exit policy sees it; the summary learns what stopped a
 * job early and when the API expects requests again. */
static void engine_causes(pipeline *c, exit_causes *why)
{
    engine_reason r = c->eng ? engine_stop_reason(c->eng) : ENGINE_STOP_NONE;
    const char *by = NULL;
    switch (r) {
    case ENGINE_STOP_KEY_REJECTED: why->key_rejected = 1; break;
    case ENGINE_STOP_INTERRUPT: why->interrupted = 1; break;
    case ENGINE_STOP_CONFIG: why->config_error = 1; break;
    case ENGINE_STOP_STORAGE: why->storage_failed = 1; break;
    case ENGINE_STOP_QUOTA: by = "quota"; break;
    case ENGINE_STOP_BUDGET: by = "budget"; break;
    case ENGINE_STOP_LIMIT: by = "limit"; break;
    case ENGINE_STOP_NONE: break;
    }
    if (!by && atomic_load(&c->limited))
        by = "limit";
    if (by) {
        why->limited = 1;
        int64_t after = c->eng ? engine_resume_after_ms(c->eng) : 0;
        if (r == ENGINE_STOP_BUDGET && after <= 0)
            after = budget_day_end_ms(clock_now_ms()); /* a new UTC day, a new budget */
        summary_set_stop(&c->sum, by, after);
    }
    /* The stop's message was logged once when it happened (the summary repeats the cause). */
}

/* After the stages: settle the files and pick the exit status. */
static exit_status finish(pipeline *c, int read_rc, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    exit_causes why = {0};
    why.storage_failed = read_rc < 0 || atomic_load(&c->fatal);
    why.interrupted = atomic_load(&c->interrupted);
    engine_causes(c, &why);
    why.rows_need_attention = summary_exit_code(&c->sum) != 0;
    if (atomic_load(&c->fatal))
        snprintf(err, errlen, "%s", c->fatal_msg);
    int complete = !why.storage_failed && !why.key_rejected && !why.interrupted && !why.limited && !why.config_error;
    /* The results are written whatever stopped the job (every row once, those not sent
     * not_attempted). A storage failure keeps the journal: what was sent is on record,
     * and --resume continues once the disk is fixed. */
    char werr[512] = "";
    if (stage_write_close(c, 1, exit_decide(&why), werr, sizeof werr) < 0) {
        why.storage_failed = 1;
        if (!err[0])
            snprintf(err, errlen, "%s", werr);
    }
    budget_free(c->bud); /* gives back the unused part of its block, before the ledger closes */
    c->bud = NULL;
    if (c->led && ledger_close(c->led) < 0)
        why.storage_failed = 1; /* never exit 0 with sends missing from the ledger */
    c->led = NULL;
    resume_close(&c->rs, complete && !why.storage_failed);
    exit_status code = exit_decide(&why);
    progress_finish(c->prog, code); /* the last line says what was not sent, and --resume */
    if (why.key_rejected)
        log_msg(LOG_QUIET, 0, "the API rejected the key (401/403): job aborted. The rows that got 401/403 are "
                              "failed (see --failures); after fixing the key, --resume sends the rows not attempted");
    if (why.storage_failed)
        return code;
    if (reader_data_rows(c->in) == 0 && !why.storage_failed)
        /* a nightly query that found nothing: say so, rather than "0 rows" alone */
        log_msg(LOG_QUIET, 0, "%s has a header and no rows: nothing to send",
                strcmp(cfg->input, "-") ? cfg->input : "standard input");
    if (cfg->verbosity > 0 || code != EXIT_DONE)
        summary_print(&c->sum, stderr, cfg->output, cfg->failures, code);
    char e2[512];
    if (cfg->summary_json && summary_write_json(&c->sum, cfg->summary_json, code, e2, sizeof e2) < 0)
        fprintf(stderr, "ottu-resend: %s\n", e2);
    return code;
}

static void pipeline_free(pipeline *c)
{
    if (c->out || c->fail || c->xl)
        stage_write_close(c, 0, EXIT_USAGE, NULL, 0);
    resume_close(&c->rs, 0);
    budget_free(c->bud); /* gives back the unused part of its block, before the ledger closes */
    if (c->led)
        ledger_close(c->led);
    engine_free(c->eng);
    lookup_free(c->lk);
    throttle_free(c->thr);
    http_shared_free(c->http);
    queue_free(c->q);
    reorder_free(c->ro);
    dedupe_free(c->seen);
    dedupe_free(c->requested);
    progress_free(c->prog);
    reader_close(c->in);
    joblock_release(c->lock);
    free(c->attach_dir);
    columns_free(&c->cols);
    free(c);
}

/* From here on signals are taken by the watcher thread only (sigtimedwait), never
 * asynchronously. Before it, while the input is opened and its header read (a FIFO may
 * wait for a writer), Ctrl-C simply ends the process: nothing has been written yet. */
static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Everything that can be refused before a row is sent (exit 2). */
static int setup(pipeline *c, char *err, size_t errlen)
{
    int resuming = c->cfg->resume;
    if (check_config(c->cfg, err, errlen) < 0 || open_input(c, err, errlen) < 0 || (!resuming && confirm(c, err, errlen) < 0))
        return -1;
    block_signals();
    if (open_state(c, err, errlen) < 0 || (resuming && confirm(c, err, errlen) < 0) || stage_write_open(c, err, errlen) < 0)
        return -1;
    if (build_pipeline(c, err, errlen) < 0)
        return -1;
    start_watcher(c);
    warn_budget(c);
    return preflight(c, err, errlen);
}

static int run(config *cfg)
{
    pipeline *c = calloc(1, sizeof *c);
    char err[1024] = "";
    if (!c)
        return fail_usage("out of memory");
    c->cfg = cfg;
    summary_init(&c->sum);
    summary_set_ledger(&c->sum, cfg->no_ledger ? NULL : cfg->ledger);
    exit_status code = EXIT_USAGE;
    /* The summary file may be written for a usage error, unless it is itself the problem. */
    int paths_ok = paths_check(cfg, err, sizeof err) == 0;
    if (!paths_ok || setup(c, err, sizeof err) < 0) {
        /* Nothing was sent. The workers and the watcher (when they had started) end; a
         * journal this run created goes; an earlier run's stays. */
        stop_workers(c);
        stop_watcher(c);
        resume_close(&c->rs, c->rs.jn_new);
        char e2[256];
        if (cfg->summary_json && paths_ok)
            summary_write_json(&c->sum, cfg->summary_json, code, e2, sizeof e2);
    } else {
        int read_rc = run_stages(c, err, sizeof err);
        code = finish(c, read_rc, err, sizeof err);
    }
    if (err[0])
        fprintf(stderr, "ottu-resend: %s\n", err);
    /* Written on every exit (2, 3, 4 and 130 included): monitoring must see failures. */
    char merr[512];
    if (cfg->metrics_file && paths_ok &&
        metrics_write(cfg->metrics_file, &c->sum, cfg->job_name, cfg->input, code, merr, sizeof merr) < 0)
        fprintf(stderr, "ottu-resend: %s\n", merr);
    pipeline_free(c);
    return code;
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
