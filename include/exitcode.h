/* exitcode — the exit statuses of the contract, and the one place that picks among them. */
#ifndef OTTU_EXITCODE_H
#define OTTU_EXITCODE_H

typedef enum {
    EXIT_DONE = 0,         /* every row sent, dry_run, duplicate or skipped */
    EXIT_ROWS = 1,         /* ran to the end; some rows need attention (job_status_exit) */
    EXIT_USAGE = 2,        /* usage, configuration, input or storage error */
    EXIT_ABORTED = 3,      /* the API rejected the key (401/403) */
    EXIT_LIMIT = 4,        /* stopped early by a limit (quota, budget, --limit); --resume continues */
    EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM */
} exit_status;

/* Why a job that started sending ended; the first cause found, in this order, decides. */
typedef struct exit_causes {
    int storage_failed;    /* a result file, the journal or the ledger could not be written */
    int key_rejected;
    int config_error;      /* DNS or certificate failure found while sending */
    int interrupted;
    int limited;           /* quota, budget or --limit */
    int rows_need_attention; /* rows whose status asks for EXIT_ROWS (job_status_exit) */
} exit_causes;

exit_status exit_decide(const exit_causes *c);

/* 1 when a job that exits with code went to the end (0 or 1): its outcome is complete. */
int exit_ran_to_end(int code);
/* What code means, and what to do next, in words (the workbook's Summary sheet). */
const char *exit_meaning(int code);
const char *exit_next_step(int code);

#endif
