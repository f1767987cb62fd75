/* exitcode — the exit-status policy of a job that started (contract: Exit status). */
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
