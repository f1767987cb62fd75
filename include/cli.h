/* cli — command-line options and environment into one plain config (no I/O but reading
 * the key file). */
#ifndef OTTU_CLI_H
#define OTTU_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "columns.h"

/* Defaults the contract names. */
#define CLI_DEFAULT_MAX_PAUSE_MS (300LL * 1000)
#define CLI_DEFAULT_DAILY_BUDGET 45000LL

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
    /* at most once (issue 15) */
    int no_ledger;            /* --no-ledger: cfg->ledger is NULL */
    char *ledger_default;     /* the resolved default ledger path (owned), when used */
    int overwrite;            /* --overwrite: replace a finished job's results */
    int retry_ambiguous;      /* --retry-ambiguous: retry answers lost after sending */
    /* the API's limits (issue 16) */
    int no_preflight;
    int http2;                /* --http2: one event loop, HTTP/2 multiplexed over HTTPS */
    /* know the transaction first (issue 29) */
    int verify;               /* --verify: 0 off, 1 on, 2 strict (rows without session_id invalid) */
    int verify_accept_current;/* --verify-accept-current: send a drifted row for the current state */
    int64_t max_pause_ms;     /* --max-pause: a longer Retry-After stops the job (exit 4) */
    long long daily_budget;   /* --daily-budget: requests per UTC day, 0 = none */
    long long limit;          /* --limit: rows to send at most, 0 = no limit */
    /* spreadsheets and terminals (issue 18) */
    const char *encoding;     /* --encoding NAME, NULL = UTF-8 (UTF-16 with a BOM detected) */
    const char **maps;        /* --map 'HEADER=name', nmaps of them (argv strings) */
    int nmaps;
    int yes;                  /* --yes: no confirmation at a terminal */
    /* monitoring (issue 19) */
    const char *metrics_file; /* --metrics-file PATH */
    const char *job_name;     /* --job-name, NULL = the input's base name */
    char *api_key;            /* loaded from the file or the environment; wiped at exit */
} config;

/* Returns 0 to run, 1 when --help/--version was printed (exit 0), -1 on a usage error
 * (err says what; exit 2). */
int cli_parse(int argc, char **argv, config *cfg, char *err, size_t errlen);
/* Loads the API key (file refused when group/other may read it, else $OTTU_API_KEY). */
int cli_load_key(config *cfg, char *err, size_t errlen);
void cli_free(config *cfg);
/* The default ledger: $OTTU_LEDGER, else ${XDG_STATE_HOME:-$HOME/.local/state}/ottu-resend/ledger.db.
 * Returns a malloc'd string, or NULL when neither HOME nor XDG_STATE_HOME is set. */
char *cli_default_ledger(void);
void cli_usage(FILE *out);

#endif
