/* exitcode — the exit-status policy of a job that started, and what each status means to
 * the people reading it (contract: Exit status). */
#include "exitcode.h"

exit_status exit_decide(const exit_causes *c)
{
    /* A storage failure first: the record of what was sent is incomplete, and saying
     * "interrupted" or "limit" would invite a --resume before the disk is fixed. */
    if (c->storage_failed || c->config_error)
        return EXIT_USAGE;
    if (c->key_rejected)
        return EXIT_ABORTED;
    if (c->interrupted)
        return EXIT_INTERRUPTED;
    if (c->limited)
        return EXIT_LIMIT;
    return c->rows_need_attention ? EXIT_ROWS : EXIT_DONE;
}

int exit_ran_to_end(int code) { return code == EXIT_DONE || code == EXIT_ROWS; }

const char *exit_meaning(int code)
{
    switch (code) {
    case EXIT_DONE: return "done: every row sent, or nothing left to send";
    case EXIT_ROWS: return "finished, but some rows need attention";
    case EXIT_USAGE: return "stopped by an error (see the message on the terminal)";
    case EXIT_ABORTED: return "aborted: the API rejected the key (401/403)";
    case EXIT_LIMIT: return "stopped early by a limit (the API's quota, --daily-budget or --limit)";
    case EXIT_INTERRUPTED: return "interrupted";
    default: return "ended with an unexpected status";
    }
}

const char *exit_next_step(int code)
{
    switch (code) {
    case EXIT_DONE: return "nothing to do";
    case EXIT_ROWS: return "see the failures: filter result_status for failed, invalid and unknown (or open "
                   "the --failures file), fix them, and send only those rows";
    case EXIT_USAGE: return "fix the error, then run again (--resume continues a job that had started)";
    case EXIT_ABORTED: return "fix the API key, then run again with --resume to send the rows not attempted";
    case EXIT_LIMIT: return "run again with --resume (once the quota resets, or with a higher --daily-budget "
                   "or --limit) to send the rows not attempted";
    case EXIT_INTERRUPTED: return "run the same command again with --resume to send the rows not attempted";
    default: return "read the messages on the terminal";
    }
}
