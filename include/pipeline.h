/* pipeline — the context the stages of one job share: configuration, the parts of the
 * diagram (reader → queue → engine → reorder → writer, journal and ledger beside them)
 * and why the job stops (stop.h). pipeline.c creates, builds, runs and frees it, with the
 * watcher thread beside the stages; main.c wires the steps in order; stage_read.c and
 * stage_write.c run in it. Nothing here reaches back into main.c. */
#ifndef OTTU_PIPELINE_H
#define OTTU_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "cli.h"
#include "budget.h"
#include "columns.h"
#include "repeats.h"
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
#include "stop.h"
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
    repeats *rep;          /* identical requests (duplicate of row N), identifier+channel
                            * already requested in this job */
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
    pthread_t watch_thread; /* signals, progress, ledger commits */
    int watching;
    stop *stop;            /* why the job stops: interrupt, storage, key, quota, budget, --limit */
} pipeline;

/* A context for cfg (the summary started), or NULL when out of memory. */
pipeline *pipeline_new(config *cfg);
/* Everything the context holds is closed or freed (files not committed are discarded). */
void pipeline_free(pipeline *p);

/* From here on signals are taken by the watcher thread only (sigtimedwait), never
 * asynchronously. Before it, while the input is opened and its header read (a FIFO may
 * wait for a writer), Ctrl-C simply ends the process: nothing has been written yet. */
void pipeline_block_signals(void);
/* The input, its header: the columns and the mode. 0, or -1 with err. */
int pipeline_open_input(pipeline *p, char *err, size_t errlen);
/* What the job remembers: the job lock, the journal of earlier runs, the ledger. */
int pipeline_open_state(pipeline *p, char *err, size_t errlen);
/* The parts between the stages, and the workers (and the watcher, from then on). */
int pipeline_build(pipeline *p, char *err, size_t errlen);
/* Reader on this thread, workers, writer and watcher beside it; returns when every row
 * is written (the watcher stopped): 0, or -1 with err when the reader failed. */
int pipeline_run(pipeline *p, char *err, size_t errlen);
/* A job that stops before its rows are read: its workers and watcher end. */
void pipeline_stop(pipeline *p);

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
