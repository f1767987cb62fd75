/* progress — the live line on stderr: rows done of total (estimated from bytes read
 * when unknown), rate, ETA, counts, and whether the API has paused the job. Counters are
 * atomics fed by the reader and the writer; only the watcher thread draws. On a terminal
 * the line is redrawn in place and never wider than the terminal (its width is read again
 * at every draw, so a resized window needs no signal); elsewhere it is a plain line every
 * 10 s. The module's own lock keeps the line and log lines (log_set_hook) apart. */
#ifndef OTTU_PROGRESS_H
#define OTTU_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "job.h"
#include "queue.h"
#include "summary.h"
#include "throttle.h"

typedef struct progress progress;

progress *progress_new(progress_mode mode, unsigned long long input_size, summary *sum);
void progress_free(progress *p);
/* rate_limit: rows per second at most (-r), 0 = none: the ETA never assumes faster. */
void progress_set_throttle(progress *p, throttle *t, queue *q, double rate_limit);
void progress_row_read(progress *p, unsigned long long bytes_read);
void progress_row_done(progress *p, row_status st);
/* Redraws (rate-limited to a few times a second, or every 10 s when not a terminal);
 * final = last draw, ends the line. */
void progress_draw(progress *p, int final);
/* The last draw, once the exit status is known: after an interrupt (130) or a limit (4)
 * it adds how many rows were not sent and that --resume sends them. */
void progress_finish(progress *p, int exit_code);
/* The rate over the last 10 s of draws (rows done at now), and the ETA for total rows:
 * -1 while less than 2 s were measured and there is no rate limit; never faster than the
 * rate limit. Records a sample; the caller holds the drawing lock (tests call it alone). */
void progress_rate(progress *p, int64_t now, long done, double *rate, long *eta_s, long total);
/* For tests: draw to out instead of stderr, as a terminal of width columns when tty
 * (width 0 = ask the terminal), and enable drawing. */
void progress_set_output(progress *p, FILE *out, int tty, int width);

/* What the line shows, for the pure formatter. */
typedef struct progress_view {
    long done, total;     /* total 0 = not known yet */
    int estimated;        /* total is estimated from the bytes read */
    double rate;          /* rows per second */
    long eta_s;           /* -1 = unknown */
    long sent, failed, invalid;
    long unknown, skipped;  /* unknown: the answer was lost (may have been sent) */
    int throttled;        /* sending: the fields below mean something */
    size_t retrying;
    int degraded;         /* the API is failing: slowed down */
    long paused_s;        /* paused by the API for this long, 0 = not paused */
} progress_view;

/* The line for v in at most width - 1 characters (the cursor never reaches the last
 * column, where terminals wrap), width <= 0 = no limit: full words from about 100
 * columns, abbreviations at 80, the essentials at 40, cut below that. ASCII only, so
 * characters are columns. Returns the length (pure). */
size_t progress_format(const progress_view *v, int width, char *buf, size_t size);

#endif
