/* summary — the job's counters: per status, channel and HTTP status, requests, retries,
 * latency percentiles; printed at the end and written as JSON for monitoring. Row counts
 * are added by the writer thread alone; requests/retries are atomics bumped by workers. */
#ifndef OTTU_SUMMARY_H
#define OTTU_SUMMARY_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "job.h"

#define SUMMARY_LAT_BUCKETS 1700

typedef struct summary {
    long rows;
    long status[RS_COUNT];
    long channel_sent[3];      /* sms, email, whatsapp among sent rows */
    long channel_requested[3]; /* among rows that were sent or failed */
    long http[600];
    long http_other;
    _Atomic long requests, retries;
    long lat[SUMMARY_LAT_BUCKETS];
    long lat_count;
    int64_t started_ns;
} summary;

void summary_init(summary *s);
void summary_add(summary *s, const job *j);
/* Latency percentile in ms (p in 0..100), -1 when nothing was sent. */
long summary_percentile(const summary *s, double p);
double summary_elapsed_s(const summary *s);
/* Human summary (stderr). */
void summary_print(const summary *s, FILE *out, const char *output, const char *failures, int exit_code);
/* Machine summary. Returns 0 or -1. */
int summary_write_json(const summary *s, const char *path, int exit_code, char *err, size_t errlen);
/* Exit code from the counts (0 or 1). */
int summary_exit_code(const summary *s);

#endif
