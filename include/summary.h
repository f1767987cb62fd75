/* summary — the job's counters: per status, channel and HTTP status, requests, retries,
 * latency percentiles, why rows failed; printed at the end and written as JSON for
 * monitoring. Row counts are added by the writer thread alone; requests/retries are
 * atomics bumped by workers. */
#ifndef OTTU_SUMMARY_H
#define OTTU_SUMMARY_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "job.h"

#define SUMMARY_LAT_BUCKETS 1700
/* Distinct failure reasons kept; later new ones count under SUMMARY_OTHER_REASON. */
#define SUMMARY_REASONS 256
#define SUMMARY_REASON_LEN 160
#define SUMMARY_TOP_REASONS 10
#define SUMMARY_OTHER_REASON "(other reasons)"

typedef struct summary_reason {
    char text[SUMMARY_REASON_LEN];
    long count;
} summary_reason;

typedef struct summary {
    long rows;
    long status[RS_COUNT];
    long channel_sent[3];      /* sms, email, whatsapp confirmed sent (sent rows, and the sent
                                  channels of partly failed rows) */
    long channel_requested[3]; /* among rows that were sent or failed */
    long channel_failed[3];    /* failed channels of failed rows (job->failed_channels) */
    long http[600];
    long http_other;
    _Atomic long requests, retries;
    _Atomic long lookups, lookup_retries; /* --verify: transaction GETs made (retries included) */
    long unverified;           /* --verify: rows sent without a lookup (no session_id; reader) */
    /* every attempt's answer, retries included (the engine's workers): the HTTP line */
    _Atomic long http_attempts[600];
    _Atomic long http_no_answer;
    long lat[SUMMARY_LAT_BUCKETS];
    long lat_count;
    int64_t started_ns;
    /* why rows were failed, invalid or unknown, with row-specific parts taken out */
    summary_reason reasons[SUMMARY_REASONS];
    int nreasons;
    long other_reasons;
    short reason_index[SUMMARY_REASONS * 2]; /* open addressing into reasons, -1 = empty */
    /* exit 4: what stopped the job, and when the API takes requests again (0 = unknown) */
    char stopped_by[16];
    int64_t resume_after_ms;
    char ledger[256];          /* the ledger in use (password removed), "off", "" = not said */
    /* valid message rows naming their transaction only by order_no / only by session_id
     * (reader thread): both kinds in one job cannot be linked without a lookup */
    long only_order_no, only_session_id;
} summary;

void summary_init(summary *s);
void summary_add(summary *s, const job *j);
/* One attempt's answer (status 0 = none: a timeout, a closed connection), from any thread. */
void summary_attempt(summary *s, int status);
/* Exit 4: by is "quota", "budget" or "limit"; resume_after_ms is UTC epoch ms, 0 = not known. */
void summary_set_stop(summary *s, const char *by, int64_t resume_after_ms);
/* The ledger in use (a path or a postgresql:// URL: its password and query are left out),
 * or NULL for "off" (--no-ledger). */
void summary_set_ledger(summary *s, const char *ledger);
/* Counts a valid row's identifiers (request.id_kinds) for the mixed-identifier warning. */
void summary_note_ids(summary *s, unsigned id_kinds);
/* The warning for a job that names some transactions only by order_no and others only by
 * session_id, into out; returns its length (0: no warning). */
size_t summary_id_warning(const summary *s, char *out, size_t size);
/* Latency percentile in ms (p in 0..100), -1 when nothing was sent. */
long summary_percentile(const summary *s, double p);
double summary_elapsed_s(const summary *s);
/* The most frequent failure reasons, most frequent first (ties: first seen first); fills
 * at most max pointers into s and returns how many. */
int summary_top_reasons(const summary *s, const summary_reason **out, int max);
/* Pure: a result_detail with what identifies a customer replaced, so equal causes group:
 * the row's identifier ident (NULL: none) wherever it appears, e-mail addresses, phone
 * numbers, long numbers and long hex/UUID-like tokens, quoted values. Counts, durations,
 * HTTP statuses and names such as windows-1256 stay: they are the message. Shortened at a
 * word with "…" to fit size, never inside a UTF-8 sequence. */
size_t summary_reason_key(const char *detail, const char *ident, char *out, size_t size);
/* Human summary (stderr). */
void summary_print(const summary *s, FILE *out, const char *output, const char *failures, int exit_code);
/* Machine summary. Returns 0 or -1. */
int summary_write_json(const summary *s, const char *path, int exit_code, char *err, size_t errlen);
/* Exit code from the counts: EXIT_ROWS when a row's status asks for it (job_status_exit),
 * else EXIT_DONE. */
int summary_exit_code(const summary *s);

#endif
