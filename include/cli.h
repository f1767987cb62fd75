/* cli — command-line options and environment into one plain config (no I/O but reading
 * the key file). */
#ifndef OTTU_CLI_H
#define OTTU_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "columns.h"

typedef enum { PROGRESS_AUTO, PROGRESS_ALWAYS, PROGRESS_NEVER } progress_mode;

typedef struct config {
    const char *input;
    char *output;             /* resolved default: INPUT.results.csv, or "-" */
    const char *failures;
    const char *base_url;
    const char *api_key_file;
    const char *cacert;
    const char *summary_json;
    const char *xlsx;
    const char *ledger;
    int concurrency;
    double rate;
    unsigned burst;
    int max_attempts;
    int64_t backoff_base_ms, backoff_max_ms;
    double timeout_s;
    int dry_run, resume, resend_unknown;
    job_mode mode;
    int per_channel_endpoint;
    unsigned default_channels;
    char delimiter;           /* 0 = detect */
    unsigned shard_k, shard_n;
    progress_mode progress;
    int excel;
    int64_t cooldown_ms;
    int verbosity;            /* 0 quiet, 1 normal, 2 verbose */
    char *api_key;            /* loaded from the file or the environment; wiped at exit */
} config;

/* Returns 0 to run, 1 when --help/--version was printed (exit 0), -1 on a usage error
 * (err says what; exit 2). */
int cli_parse(int argc, char **argv, config *cfg, char *err, size_t errlen);
/* Loads the API key (file refused when group/other may read it, else $OTTU_API_KEY). */
int cli_load_key(config *cfg, char *err, size_t errlen);
void cli_free(config *cfg);
void cli_usage(FILE *out);

#endif
