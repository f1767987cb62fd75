/* pipeline — the shared context of one job: created, built (the parts between the stages,
 * the workers, the watcher thread), run, stopped and freed here (pipeline.h). */
#include "pipeline.h"

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"

pipeline *pipeline_new(config *cfg)
{
    pipeline *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->stop = stop_new())) {
        free(c);
        return NULL;
    }
    c->cfg = cfg;
    summary_init(&c->sum);
    summary_set_ledger(&c->sum, cfg->no_ledger ? NULL : cfg->ledger);
    return c;
}

/* ---- signals, and the watcher thread: SIGINT/SIGTERM, the progress line a few times a
 * second, the ledger's tick ---- */

/* The signals the watcher takes; SIGUSR1 ends it. */
static void job_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
}

void pipeline_block_signals(void)
{
    sigset_t set;
    job_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *watch_main(void *p)
{
    pipeline *c = p;
    sigset_t set;
    job_signals(&set);
    struct timespec tick = {0, 250 * 1000 * 1000};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGUSR1)
            break; /* the job is over */
        if (sig == SIGINT || sig == SIGTERM) {
            if (stop_interrupt(c->stop) > 0) {
                /* Second signal: stop at once. Rows in flight become "unknown" on resume. */
                static const char msg[] = "\nottu-resend: second signal, stopping at once\n";
                if (write(2, msg, sizeof msg - 1) < 0) {
                }
                _exit(EXIT_INTERRUPTED);
            }
            log_msg(LOG_QUIET, 0, "interrupted: finishing requests in flight; the rest will be not_attempted "
                                  "(signal again to stop at once)");
            continue;
        }
        char err[256];
        if (c->led && !c->cfg->dry_run && ledger_tick(c->led, err, sizeof err) < 0)
            stop_fail(c->stop, "ledger: %s; no further notification is sent (fix it, then --resume)", err);
        progress_draw(c->prog, 0);
    }
    return NULL;
}

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

/* ---- building ---- */

int pipeline_open_input(pipeline *c, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    c->in = reader_open(cfg->input, cfg->delimiter, cfg->encoding, err, errlen);
    if (!c->in || columns_read_header(&c->cols, c->in, cfg->input, cfg->mode, cfg->maps, cfg->nmaps,
                                      cfg->default_channels, cfg->verify, err, errlen) < 0)
        return -1;
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

int pipeline_open_state(pipeline *c, char *err, size_t errlen)
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

static int build_parts(pipeline *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    size_t window = cfg->concurrency * 4 > 4096 ? (size_t)cfg->concurrency * 4 : 4096;
    /* --verify links a transaction's two names within the job even without a ledger; it
     * also changes a row's identity between its duplicate check and its turn, and rows
     * wait for their lookups meanwhile: one shared table only without it. --cooldown 0
     * never skips a channel for an earlier row's. */
    repeats_mode mode = !(c->led || cfg->verify) || cfg->cooldown_ms <= 0 ? REPEATS_SEEN_ONLY
                        : cfg->verify                                     ? REPEATS_EXACT
                                                                          : REPEATS_SHARED;
    c->rep = repeats_new(mode);
    c->ro = reorder_new(window);
    c->q = queue_new(window);
    c->prog = progress_new(cfg->progress, reader_size(c->in), &c->sum);
    if (!c->rep || !c->ro || !c->q || !c->prog) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->dry_run && !cfg->verify)
        return 0;
    stop_set_secret(c->stop, cfg->api_key); /* loaded by now */
    c->http = http_shared_new(cfg->base_url, cfg->api_key, cfg->cacert, (long)(cfg->timeout_s * 1000), err, errlen);
    c->thr = throttle_new(cfg->rate, cfg->burst, cfg->backoff_base_ms, cfg->backoff_max_ms);
    if (!c->http || !c->thr)
        return -1;
    http_shared_set_http2(c->http, cfg->http2);
    /* The daily budget lives in the ledger, so the jobs (and hosts) of a day share it. */
    if (c->led && !cfg->dry_run && cfg->daily_budget > 0 && !(c->bud = budget_new(c->led, cfg->base_url, cfg->api_key, cfg->daily_budget))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    progress_set_throttle(c->prog, c->thr, c->q, cfg->rate);
    engine_opts eo = {.http = c->http, .thr = c->thr, .q = c->q, .stop = c->stop, .ro = c->ro, .jn = c->rs.jn,
                      .sum = &c->sum, .workers = cfg->concurrency, .max_attempts = cfg->max_attempts,
                      .backoff_base_ms = cfg->backoff_base_ms, .backoff_max_ms = cfg->backoff_max_ms,
                      .retry_ambiguous = cfg->retry_ambiguous,
                      /* One event loop carries the requests in flight (a thread each cost
                       * two context switches a row: issue 28); --verify's lookups still
                       * run on worker threads. */
                      .async = !cfg->verify,
                      .max_pause_ms = cfg->max_pause_ms > 0 ? cfg->max_pause_ms : 1, /* 0 would mean the default */
                      .api_key = cfg->api_key,
                      .take_request = c->bud || c->led ? take_request : NULL, .take_request_ctx = c};
    if (cfg->verify) {
        /* --verify: the workers also read transactions, under the same throttle, budget
         * and -j as the sends (lookup.h; docs/design.md). */
        lookup_opts lo = {.thr = c->thr, .q = c->q, .stop = c->stop, .sum = &c->sum, .max_attempts = cfg->max_attempts,
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
    return c->eng ? 0 : -1;
}

int pipeline_build(pipeline *c, char *err, size_t errlen)
{
    if (build_parts(c, err, errlen) < 0)
        return -1;
    start_watcher(c);
    return 0;
}

/* ---- running and stopping ---- */

/* Ends the workers of a job that stops before its rows are read. */
static void stop_workers(pipeline *c)
{
    if (!c->eng)
        return;
    stop_request(c->stop, STOP_INTERRUPT, 0, NULL);
    queue_close(c->q);
    engine_join(c->eng);
}

void pipeline_stop(pipeline *c)
{
    stop_workers(c);
    stop_watcher(c);
}

int pipeline_run(pipeline *c, char *err, size_t errlen)
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

void pipeline_free(pipeline *c)
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
    repeats_free(c->rep);
    progress_free(c->prog);
    reader_close(c->in);
    joblock_release(c->lock);
    free(c->attach_dir);
    columns_free(&c->cols);
    stop_free(c->stop);
    free(c);
}
