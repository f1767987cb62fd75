/* main — wires the pipeline: cli → reader → (validate, dedupe, resume, ledger) → queue →
 * workers → reorder → writer, with the journal, progress and signals watching. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "budget.h"
#include "confirm.h"
#include "exitcode.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "pipeline.h"
#include "preflight.h"

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

/* Everything that can be refused before a row is sent (exit 2). */
static int setup(pipeline *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    if (check_config(cfg, err, errlen) < 0 || pipeline_open_input(c, err, errlen) < 0 ||
        (!cfg->resume && confirm(c, err, errlen) < 0))
        return -1;
    pipeline_block_signals();
    if (pipeline_open_state(c, err, errlen) < 0 || (cfg->resume && confirm(c, err, errlen) < 0) ||
        stage_write_open(c, err, errlen) < 0 || pipeline_build(c, err, errlen) < 0)
        return -1;
    if (c->bud && !cfg->dry_run)
        budget_warn(c->bud, cfg->input, cfg->limit, !cfg->no_preflight);
    if (cfg->dry_run || cfg->no_preflight)
        return 0;
    int64_t max_pause = cfg->max_pause_ms > 0 ? cfg->max_pause_ms : 1; /* as the engine's */
    return preflight_start(c->http, c->bud, c->stop, cfg->base_url, request_endpoint(&c->ropts), max_pause, err,
                           errlen);
}

/* After the stages: settle the files and pick the exit status. */
static exit_status finish(pipeline *c, int read_rc, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    exit_causes why = {.storage_failed = read_rc < 0};
    const char *by;
    stop_reason first = stop_causes(c->stop, &why, &by); /* why the job stopped, read once */
    if (by) {
        /* The summary says what stopped the job early and when the API expects requests again. */
        int64_t after = stop_resume_after_ms(c->stop);
        if (first == STOP_BUDGET && after <= 0)
            after = budget_day_end_ms(clock_now_ms()); /* a new UTC day, a new budget */
        summary_set_stop(&c->sum, by, after);
    }
    /* The stop's message was logged once when it happened (the summary repeats the cause). */
    why.rows_need_attention = summary_exit_code(&c->sum) != 0;
    if (stop_failed(c->stop))
        stop_fail_message(c->stop, err, errlen);
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
    if (reader_data_rows(c->in) == 0)
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

static int run(config *cfg)
{
    pipeline *c = pipeline_new(cfg);
    char err[1024] = "";
    if (!c) {
        fprintf(stderr, "ottu-resend: out of memory\n");
        return EXIT_USAGE;
    }
    exit_status code = EXIT_USAGE;
    /* The summary file may be written for a usage error, unless it is itself the problem. */
    int paths_ok = paths_check(cfg, err, sizeof err) == 0;
    if (!paths_ok || setup(c, err, sizeof err) < 0) {
        /* Nothing was sent. The workers and the watcher (when they had started) end; a
         * journal this run created goes; an earlier run's stays. */
        pipeline_stop(c);
        resume_close(&c->rs, c->rs.jn_new);
        char e2[256];
        if (cfg->summary_json && paths_ok)
            summary_write_json(&c->sum, cfg->summary_json, code, e2, sizeof e2);
    } else {
        int read_rc = pipeline_run(c, err, sizeof err);
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
