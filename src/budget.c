/* budget — blocks of the daily budget taken from the ledger, handed out one by one. */
#include "budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "reader.h"
#include "rules.h"

/* Requests taken from the ledger at a time: one transaction per block, and at most this
 * many requests of a day's budget held unused by a job that stops. */
#define BUDGET_BLOCK 16

struct budget {
    ledger *led;
    char scope[40];
    long long limit;
    pthread_mutex_t mu;
    long held;            /* taken from the ledger, not yet used */
    int64_t day;          /* UTC day the held block belongs to */
};

budget *budget_new(ledger *led, const char *base_url, const char *api_key, long long limit)
{
    budget *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->led = led;
    b->limit = limit;
    uint64_t h = rules_fnv1a64(base_url, strlen(base_url));
    h = rules_fnv1a64_update(h, "\n", 1);
    h = rules_fnv1a64_update(h, api_key, strlen(api_key));
    snprintf(b->scope, sizeof b->scope, "api-%016llx", (unsigned long long)h);
    pthread_mutex_init(&b->mu, NULL);
    return b;
}

int64_t budget_day_end_ms(int64_t now_ms) { return (clock_utc_day(now_ms) + 1) * CLOCK_DAY_MS; }

int budget_take(budget *b, char *err, size_t errlen)
{
    int64_t now = clock_now_ms();
    int rc = 1;
    pthread_mutex_lock(&b->mu);
    if (b->held > 0 && b->day != clock_utc_day(now))
        b->held = 0; /* a new day: yesterday's block is spent, today's count starts afresh */
    if (b->held == 0) {
        long got = ledger_budget_take(b->led, b->scope, BUDGET_BLOCK, b->limit, now, err, errlen);
        if (got < 0) {
            rc = -1;
        } else {
            b->held = got;
            b->day = clock_utc_day(now);
        }
    }
    if (rc == 1 && b->held == 0)
        rc = 0;
    if (rc == 1)
        b->held--;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

long long budget_left(budget *b, char *err, size_t errlen)
{
    long long used = ledger_budget_used(b->led, b->scope, clock_now_ms(), err, errlen);
    if (used < 0)
        return -1;
    pthread_mutex_lock(&b->mu);
    long long left = b->limit - used + b->held;
    pthread_mutex_unlock(&b->mu);
    return left < 0 ? 0 : left;
}

void budget_free(budget *b)
{
    if (!b)
        return;
    char err[256];
    int64_t now = clock_now_ms();
    if (b->held > 0 && b->day == clock_utc_day(now) &&
        ledger_budget_return(b->led, b->scope, b->held, now, err, sizeof err) < 0)
        fprintf(stderr, "ottu-resend: ledger: %s (the day's budget counts %ld unused requests)\n", err, b->held);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void budget_warn(budget *b, const char *input, long long limit, int preflight)
{
    long long lines = reader_count_lines(input);
    if (lines < 1)
        return;
    long long rows = lines - 1; /* the header */
    if (limit > 0 && rows > limit)
        rows = limit;
    char msg[256];
    long long left = budget_left(b, msg, sizeof msg);
    long long need = rows + (preflight ? 1 : 0);
    /* left == 0: the preflight (or the first row) stops the job at once, saying why. */
    if (left <= 0 || need <= left)
        return;
    log_msg(LOG_NORMAL, 0,
            "warning: up to %lld rows to send, but today's --daily-budget %lld has %lld requests left (UTC day; "
            "the preflight and every retry count): the job will stop with exit 4 when it is spent, and --resume "
            "continues it",
            rows, b->limit, left);
}
