/* pipeline — the context the stages of one job share: configuration, the parts of the
 * diagram (reader → queue → engine → reorder → writer, journal and ledger beside them)
 * and the job-wide flags. main.c builds it and wires the stages; stage_read.c and
 * stage_write.c run in it. Nothing here reaches back into main.c. */
#ifndef OTTU_PIPELINE_H
#define OTTU_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "cli.h"
#include "budget.h"
#include "columns.h"
#include "dedupe.h"
#include "engine.h"
#include "joblock.h"
#include "ledger.h"
#include "lookup.h"
#include "progress.h"
#include "queue.h"
#include "reader.h"
#include "reorder.h"
#include "request.h"
#include "resume.h"
#include "summary.h"
#include "writer.h"
#include "xlsxout.h"

typedef struct pipeline {
    config *cfg;
    columns cols;
    request_opts ropts;
    char job_id[40];
    char *attach_dir;      /* the input's folder, for template attachments */
    /* stages and what flows between them */
    reader *in;
    resume rs;             /* earlier runs of this job, and this run's journal */
    dedupe *seen;          /* identical requests: duplicate of row N */
    dedupe *requested;     /* identifier+channel already requested in this job */
    ledger *led;           /* NULL with --no-ledger */
    budget *bud;           /* --daily-budget over the ledger; NULL: none */
    lookup *lk;            /* --verify: the transactions read in this job; NULL: off */
    reorder *ro;
    queue *q;
    throttle *thr;
    http_shared *http;
    engine *eng;           /* NULL in a dry run */
    writer *out, *fail;
    xlsxout *xl;
    summary sum;
    progress *prog;
    joblock *lock;         /* one process per job */
    pthread_t watch_thread; /* signals, progress, ledger commits (main.c) */
    int watching;
    /* job-wide state */
    atomic_int interrupted;
    atomic_int fatal;      /* a result file or the ledger could not be written: stop sending */
    atomic_int limited;    /* --limit reached: rows left not_attempted (exit 4) */
    char fatal_msg[512];
} pipeline;

/* Records the first fatal storage error and stops sending: no new request starts,
 * requests in flight finish. Any thread. */
void pipeline_fail(pipeline *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The job is stopping (interrupt, abort, limit, storage): rows not yet sent are
 * not_attempted, and this says why. */
const char *pipeline_stop_reason(pipeline *p);

/* The reader stage, on the calling thread: every row of this shard is decided here
 * (invalid, duplicate, kept by resume, skipped by the ledger, dry_run, not_attempted) or
 * claimed in the ledger and queued for the workers. Returns 0, or -1 with err. */
int stage_read_run(pipeline *p, char *err, size_t errlen);

/* Opens the result CSV (header written), the failures CSV and the workbook. 0 or -1. */
int stage_write_open(pipeline *p, char *err, size_t errlen);
/* Closes them; commit = the job ran (else the files are discarded); exit_code goes into
 * the workbook's Summary. err may be NULL. Returns 0, or -1 with err. */
int stage_write_close(pipeline *p, int commit, int exit_code, char *err, size_t errlen);

/* The writer stage, a thread of its own: rows in input order to the result CSV, the
 * failures CSV and the workbook; their outcomes into the ledger and the summary. */
void *stage_write_main(void *pipeline_ptr);

#endif
