/* metrics — the run's summary as Prometheus text exposition, for node_exporter's
 * textfile collector: written to a temporary file beside PATH, synced, then renamed over
 * it, so the collector never reads half a file. */
#ifndef OTTU_METRICS_H
#define OTTU_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "summary.h"

/* The default job label: the input's base name without a trailing .csv (any case);
 * "stdin" for "-". Returns the length written. */
size_t metrics_default_job(const char *input, char *out, size_t size);
/* Writes a label value escaped per the exposition format (\\ \" \n). */
void metrics_put_label(FILE *f, const char *value);
/* Pure formatter: every family with HELP and TYPE. now_ms is the wall clock at the end of
 * the run; last_success_s is the end of the last run that ran to the end (exit 0 or 1),
 * 0 = never (the family is then left out). */
int metrics_format(FILE *f, const summary *s, const char *jobname, int exit_code, int64_t now_ms,
                   double last_success_s);
/* Writes PATH atomically. jobname NULL = metrics_default_job(input). The last success time is
 * carried over from the file being replaced when this run did not run to the end.
 * Returns 0, or -1 with err naming the file and the error. */
int metrics_write(const char *path, const summary *s, const char *jobname, const char *input, int exit_code,
                  char *err, size_t errlen);

#endif
