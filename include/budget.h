/* budget — the daily request budget (--daily-budget) of one base URL and key, shared
 * through the ledger by every job of the day: workers take requests one at a time from a
 * small local block, the block is taken from the ledger in one transaction. */
#ifndef OTTU_BUDGET_H
#define OTTU_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

typedef struct budget budget;

/* limit > 0 requests per UTC day; led must outlive the budget. The scope stored in the
 * ledger is a hash of base URL and key, never the key. */
budget *budget_new(ledger *led, const char *base_url, const char *api_key, long long limit);
/* One request: 1 = go, 0 = today's budget is spent, -1 = the ledger failed (err). Any thread. */
int budget_take(budget *b, char *err, size_t errlen);
/* Requests still available today (ledger view, this process's block included), -1 on error. */
long long budget_left(budget *b, char *err, size_t errlen);
/* When the UTC day of now_ms ends: a spent budget allows requests again then (pure). */
int64_t budget_day_end_ms(int64_t now_ms);
/* Contract (Sending): at start, warns when the rows to send exceed what is left of today's
 * budget, so an operator learns before the job stops half-way. The rows are bounded from
 * above by input's lines (a record may span lines, some rows may be done or invalid) and
 * by limit (> 0); a regular file is counted with one cheap pass, a pipe is never read
 * ahead (no warning). preflight: the preflight GET counts too. */
void budget_warn(budget *b, const char *input, long long limit, int preflight);
/* Gives back what was taken and not used; frees. */
void budget_free(budget *b);

#endif
