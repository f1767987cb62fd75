/* ledger_pg — the PostgreSQL store of the ledger (postgresql:// specs), through libpq. */
#include <stdio.h>

#include "ledger_backend.h"

void *ledger_pg_open(const char *uri, const char *job_id, int mode, char *err, size_t errlen)
{
    snprintf(err, errlen, "ledger: PostgreSQL is not built in");
    return NULL;
}

static int pg_write(void *be, const ledger_settlement *s, size_t ns, const char *text, ledger_claim_item *items,
                    size_t ni, int64_t now_ms, int64_t cooldown_ms, int peek, long long *written, char *err,
                    size_t errlen)
{
    return -1;
}
static long long pg_budget(void *be, int op, const char *scope, const char *day, long n, long long limit, char *err,
                           size_t errlen)
{
    return -1;
}
static int pg_stats(void *be, const char *today, ledger_stats *st, char *err, size_t errlen) { return -1; }
static long long pg_prune(void *be, int64_t cutoff_ms, int dry_run, long long *left, char *err, size_t errlen)
{
    return -1;
}
static void pg_close(void *be) {}
const ledger_ops ledger_pg_ops = {pg_write, pg_budget, pg_stats, pg_prune, pg_close};
