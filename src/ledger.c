/* ledger — the ledger's interface: one lock, the settle buffer and its batching, and
 * dispatch to a store (ledger_sqlite.c, ledger_pg.c) through the ops table. */
#include "ledger.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ledger_backend.h"
#include "rules.h"

/* Two locks. mu: the store (its connection) and what is being written, the in-flight
 * settlements (fly). bufmu: the settlements buffered since (pend), which the writer thread
 * adds to while a claim's transaction is in flight. With one lock the writer waited for
 * every claim's round trip to the server, holding its rows' slots in the reorder window,
 * which the reader, its claim done, then waited for (on PostgreSQL the reader waits for
 * the server ~45% of the time, for slots ~30%). Order: mu before bufmu. */
struct ledger {
    pthread_mutex_t mu, bufmu;
    const ledger_ops *ops;
    void *be;
    int mode;
    ledger_settlement *pend, *fly; /* buffered (bufmu); being written (mu) */
    size_t npend, cappend, nfly, capfly;
    char *text, *flytext; /* their identifiers */
    size_t ntext, captext, capflytext;
    int64_t batch_start_ms; /* monotonic time of the oldest buffered settlement (bufmu) */
    int64_t last_claim_ms;  /* monotonic time of the last claim written; long ago at first (bufmu) */
    long long written;
    char *api;                     /* normalised; NULL: every API */
    char *location;                /* absolute path or URI */
    int64_t renewed_ms;            /* monotonic time the last lease renewal started */
    _Atomic int64_t lease_ok_until; /* monotonic ms: no new request after this */
};

static ledger *open_mode(const char *spec, const char *job_id, int mode, char *err, size_t errlen)
{
    ledger *l;
    if (!spec || !*spec) {
        ledger_set_err(err, errlen, "ledger: the path is empty");
        return NULL;
    }
    if (mode < LEDGER_ADMIN_READ && (!job_id || !*job_id)) {
        ledger_set_err(err, errlen, "ledger %s: no job name", spec);
        return NULL;
    }
    l = calloc(1, sizeof *l);
    if (!l) {
        ledger_set_err(err, errlen, "ledger %s: out of memory", spec);
        return NULL;
    }
    l->mode = mode;
    if (ledger_is_pg(spec)) {
        l->ops = &ledger_pg_ops;
        l->be = ledger_pg_open(spec, job_id, mode, err, errlen);
    } else {
        l->ops = &ledger_sqlite_ops;
        l->be = ledger_sqlite_open(spec, job_id, mode, err, errlen);
    }
    if (!l->be) {
        free(l);
        return NULL;
    }
    l->last_claim_ms = INT64_MIN / 2;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->bufmu, NULL);
    if (ledger_is_pg(spec)) {
        l->location = strdup(spec);
    } else {
        l->location = realpath(spec, NULL);
        if (!l->location)
            l->location = strdup(spec);
    }
    atomic_store(&l->lease_ok_until, INT64_MAX);
    if (mode == LEDGER_READWRITE) {
        /* The lease starts with the job: its claims are live from the first one. */
        int64_t t = clock_mono_ns() / 1000000;
        if (l->ops->lease(l->be, LEDGER_LEASE_RENEW, err, errlen) != 0) {
            ledger_close(l);
            return NULL;
        }
        l->renewed_ms = t;
        atomic_store(&l->lease_ok_until, t + LEDGER_LEASE_MS - LEDGER_LEASE_MARGIN_MS);
    }
    if (!l->location) {
        ledger_set_err(err, errlen, "ledger %s: out of memory", spec);
        ledger_close(l);
        return NULL;
    }
    return l;
}

/* ---- API, identity, lease ------------------------------------------------------------ */

int ledger_api_normalise(const char *url, char *out, size_t size)
{
    const char *p = url, *host, *hend, *port = NULL, *path, *pend;
    char scheme[8];
    size_t n = 0;
    int def;
    while (*p && *p != ':' && n + 1 < sizeof scheme)
        scheme[n++] = (char)tolower((unsigned char)*p++);
    scheme[n] = '\0';
    if (strncmp(p, "://", 3) != 0)
        return -1;
    if (strcmp(scheme, "https") == 0)
        def = 443;
    else if (strcmp(scheme, "http") == 0)
        def = 80;
    else
        return -1;
    host = p + 3;
    pend = host + strcspn(host, "/?#");
    for (const char *at = host; at < pend; at++)
        if (*at == '@')
            host = at + 1; /* userinfo is not part of the API's name */
    path = pend;
    if (*host == '[') {
        hend = strchr(host, ']');
        if (!hend || hend >= pend)
            return -1;
        hend++;
    } else {
        hend = host;
        while (hend < pend && *hend != ':')
            hend++;
    }
    if (hend == host || (hend < pend && *hend != ':'))
        return -1;
    if (hend < pend) {
        port = hend + 1;
        for (const char *d = port; d < pend; d++)
            if (!isdigit((unsigned char)*d))
                return -1;
        if (port == pend)
            port = NULL; /* "host:" is the default port */
    }
    pend = path + strcspn(path, "?#");
    while (pend > path && pend[-1] == '/')
        pend--;
    n = (size_t)snprintf(out, size, "%s://", scheme);
    for (const char *c = host; c < hend && n + 1 < size; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    if (n >= size)
        return -1;
    out[n] = '\0';
    if (port) {
        long v = strtol(port, NULL, 10);
        if (v <= 0 || v > 65535)
            return -1;
        def = (int)v;
    }
    n += (size_t)snprintf(out + n, size - n, ":%d%.*s/", def, (int)(pend - path), path);
    return n < size ? 0 : -1;
}

void ledger_set_api(ledger *l, const char *base_url)
{
    char buf[1024];
    pthread_mutex_lock(&l->mu);
    free(l->api);
    l->api = NULL;
    if (base_url && *base_url)
        l->api = strdup(ledger_api_normalise(base_url, buf, sizeof buf) == 0 ? buf : base_url);
    l->ops->set_api(l->be, l->api);
    pthread_mutex_unlock(&l->mu);
}

const char *ledger_api(const ledger *l) { return l->api ? l->api : ""; }

int ledger_lease_ok(ledger *l) { return clock_mono_ns() / 1000000 < atomic_load(&l->lease_ok_until); }

const char *ledger_identity(const ledger *l) { return l->ops->identity(l->be); }

const char *ledger_backend_name(const ledger *l) { return l->ops == &ledger_pg_ops ? "postgresql" : "sqlite"; }

const char *ledger_location(const ledger *l) { return l->location; }

/* Renews the lease when due. A failed renewal stops the job at once (as any ledger
 * failure does); a renewal that hangs is caught by ledger_lease_ok. Caller holds the lock. */
static int renew_locked(ledger *l, char *err, size_t errlen)
{
    int64_t t = clock_mono_ns() / 1000000;
    if (l->mode != LEDGER_READWRITE || t - l->renewed_ms < LEDGER_LEASE_RENEW_MS)
        return 0;
    if (l->ops->lease(l->be, LEDGER_LEASE_RENEW, err, errlen) != 0) {
        atomic_store(&l->lease_ok_until, INT64_MIN);
        return -1;
    }
    l->renewed_ms = t;
    if (atomic_load(&l->lease_ok_until) != INT64_MIN)
        atomic_store(&l->lease_ok_until, t + LEDGER_LEASE_MS - LEDGER_LEASE_MARGIN_MS);
    return 0;
}

ledger *ledger_open(const char *spec, const char *job_id, ledger_mode mode, char *err, size_t errlen)
{
    return open_mode(spec, job_id, mode == LEDGER_READONLY ? LEDGER_READONLY : LEDGER_READWRITE, err, errlen);
}

ledger *ledger_open_admin(const char *spec, int writable, char *err, size_t errlen)
{
    return open_mode(spec, NULL, writable ? LEDGER_ADMIN_WRITE : LEDGER_ADMIN_READ, err, errlen);
}

/* ---- claims ------------------------------------------------------------------------ */

/* Commits the buffered settlements together with the claims (either may be empty). The
 * buffer is taken as it is (swapped for the empty in-flight one) and written without
 * bufmu. After a failure the settlements taken stay in flight, to go first next time, and
 * what is buffered meanwhile waits behind them. Caller holds mu. */
static int write_locked(ledger *l, ledger_claim_item *items, size_t n, int64_t now_ms, int64_t cooldown_ms,
                        char *err, size_t errlen)
{
    int peek = l->mode != LEDGER_READWRITE;
    if (!peek && l->nfly == 0) {
        pthread_mutex_lock(&l->bufmu);
        ledger_settlement *p = l->fly;
        char *t = l->flytext;
        size_t cp = l->capfly, ct = l->capflytext;
        l->fly = l->pend, l->capfly = l->cappend, l->nfly = l->npend;
        l->flytext = l->text, l->capflytext = l->captext;
        l->pend = p, l->cappend = cp, l->npend = 0;
        l->text = t, l->captext = ct, l->ntext = 0;
        pthread_mutex_unlock(&l->bufmu);
    }
    if (peek && n == 0)
        return 0;
    if (!peek && l->nfly == 0 && n == 0)
        return 0;
    if (l->ops->write(l->be, peek ? NULL : l->fly, peek ? 0 : l->nfly, l->flytext, items, n, now_ms, cooldown_ms,
                      peek, &l->written, err, errlen) != 0)
        return -1;
    l->nfly = 0;
    return 0;
}

int ledger_claim(ledger *l, ledger_claim_item *items, size_t n, int64_t now_ms, int64_t cooldown_ms, char *err,
                 size_t errlen)
{
    int ret;
    for (size_t k = 0; k < n; k++) {
        items[k].channels &= RULES_ALL_CHANNELS;
        items[k].granted = 0;
        for (int i = 0; i < 3; i++) {
            items[k].blocked_kind[i] = LEDGER_FREE;
            items[k].blocked_at_ms[i] = 0;
            items[k].blocked_job[i][0] = '\0';
        }
    }
    pthread_mutex_lock(&l->mu);
    ret = write_locked(l, items, n, now_ms, cooldown_ms, err, errlen);
    pthread_mutex_unlock(&l->mu);
    if (n > 0) {
        pthread_mutex_lock(&l->bufmu);
        l->last_claim_ms = clock_mono_ns() / 1000000;
        pthread_mutex_unlock(&l->bufmu);
    }
    if (ret != 0)
        for (size_t k = 0; k < n; k++)
            items[k].granted = 0;
    return ret;
}

/* ---- settlements ------------------------------------------------------------------- */

/* Whether the buffered settlements should be committed on their own now. While claims
 * come often they ride on the next claim's transaction instead (write_locked): one commit
 * instead of two, and a claim never waits behind a settlement's commit -- on PostgreSQL
 * that halved the ledger's cost. They go alone when claims pause for LEDGER_BATCH_MS (the
 * end of the input, a stopped job) or the buffer reaches LEDGER_SETTLE_MAX. */
static int due_locked(const ledger *l)
{
    int64_t now = clock_mono_ns() / 1000000;
    if (l->npend == 0)
        return 0;
    if (l->npend >= LEDGER_SETTLE_MAX)
        return 1;
    if (now - l->last_claim_ms < LEDGER_BATCH_MS)
        return 0;
    return l->npend >= LEDGER_BATCH_RECORDS || now - l->batch_start_ms >= LEDGER_BATCH_MS;
}

static int due(ledger *l)
{
    pthread_mutex_lock(&l->bufmu);
    int d = due_locked(l);
    pthread_mutex_unlock(&l->bufmu);
    return d;
}

int ledger_settle(ledger *l, const char *id, size_t idlen, long row, unsigned claimed, unsigned sent, unsigned maybe,
                  int64_t at_ms, char *err, size_t errlen)
{
    int ret = 0, now_due;
    if (l->mode != LEDGER_READWRITE)
        return 0;
    pthread_mutex_lock(&l->bufmu);
    if (ledger_grow((void **)&l->pend, &l->cappend, l->npend + 1, sizeof *l->pend) != 0 ||
        ledger_grow((void **)&l->text, &l->captext, l->ntext + idlen + 1, 1) != 0) {
        ledger_set_err(err, errlen, "ledger: out of memory");
        pthread_mutex_unlock(&l->bufmu);
        return -1;
    }
    if (l->npend == 0)
        l->batch_start_ms = clock_mono_ns() / 1000000;
    sent &= RULES_ALL_CHANNELS;
    maybe &= RULES_ALL_CHANNELS & ~sent;
    l->pend[l->npend++] = (ledger_settlement){.off = l->ntext,
                                              .len = idlen,
                                              .row = row,
                                              .sent = sent,
                                              .maybe = maybe,
                                              .release = claimed & RULES_ALL_CHANNELS & ~(sent | maybe),
                                              .at_ms = at_ms};
    memcpy(l->text + l->ntext, id, idlen);
    l->ntext += idlen;
    now_due = due_locked(l);
    pthread_mutex_unlock(&l->bufmu);
    if (now_due) {
        pthread_mutex_lock(&l->mu);
        ret = write_locked(l, NULL, 0, at_ms, 0, err, errlen);
        pthread_mutex_unlock(&l->mu);
    }
    return ret;
}

int ledger_tick(ledger *l, char *err, size_t errlen)
{
    int ret = 0;
    pthread_mutex_lock(&l->mu);
    if (l->nfly > 0 || due(l))
        ret = write_locked(l, NULL, 0, clock_now_ms(), 0, err, errlen);
    if (ret == 0)
        ret = renew_locked(l, err, errlen);
    if (ret == 0 && !ledger_lease_ok(l)) {
        ledger_set_err(err, errlen,
                       "ledger %s: this job's lease was not renewed for %d s: other jobs may take its claims over",
                       l->location, (LEDGER_LEASE_MS - LEDGER_LEASE_MARGIN_MS) / 1000);
        ret = -1;
    }
    pthread_mutex_unlock(&l->mu);
    return ret;
}

/* Writes what is in flight and what is buffered. */
int ledger_flush(ledger *l, char *err, size_t errlen)
{
    int ret;
    pthread_mutex_lock(&l->mu);
    ret = write_locked(l, NULL, 0, clock_now_ms(), 0, err, errlen);
    if (ret == 0)
        ret = write_locked(l, NULL, 0, clock_now_ms(), 0, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return ret;
}

long long ledger_written(ledger *l)
{
    long long n;
    pthread_mutex_lock(&l->mu);
    n = l->written;
    pthread_mutex_unlock(&l->mu);
    return n;
}

int ledger_close(ledger *l)
{
    char err[512];
    int rc = 0;
    if (!l)
        return 0;
    if (ledger_flush(l, err, sizeof err) != 0) {
        fprintf(stderr, "ottu-resend: %s; the last %zu settlements are not in the ledger\n", err, l->nfly + l->npend);
        rc = -1;
    } else if (l->mode == LEDGER_READWRITE && l->renewed_ms) {
        /* Settled: the job's lease ends now (an unsettled claim would be maybe-sent). */
        l->ops->lease(l->be, LEDGER_LEASE_END, err, sizeof err);
    }
    l->ops->close(l->be);
    free(l->api);
    free(l->location);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->bufmu);
    free(l->pend);
    free(l->text);
    free(l->fly);
    free(l->flytext);
    free(l);
    return rc;
}

/* ---- budget ------------------------------------------------------------------------ */

static long long budget_call(ledger *l, int op, const char *scope, long n, long long limit, int64_t now_ms,
                             char *err, size_t errlen)
{
    char day[11];
    long long r;
    if (l->mode != LEDGER_READWRITE && op != LEDGER_BUDGET_USED)
        return op == LEDGER_BUDGET_TAKE ? n : 0; /* a dry run spends nothing */
    clock_format_day(now_ms, day);
    pthread_mutex_lock(&l->mu);
    r = l->ops->budget(l->be, op, scope, day, n, limit, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return r;
}

long ledger_budget_take(ledger *l, const char *scope, long want, long long limit, int64_t now_ms, char *err,
                        size_t errlen)
{
    if (want <= 0)
        return 0;
    return (long)budget_call(l, LEDGER_BUDGET_TAKE, scope, want, limit, now_ms, err, errlen);
}

int ledger_budget_return(ledger *l, const char *scope, long n, int64_t now_ms, char *err, size_t errlen)
{
    if (n <= 0)
        return 0;
    return budget_call(l, LEDGER_BUDGET_RETURN, scope, n, 0, now_ms, err, errlen) < 0 ? -1 : 0;
}

long long ledger_budget_used(ledger *l, const char *scope, int64_t now_ms, char *err, size_t errlen)
{
    return budget_call(l, LEDGER_BUDGET_USED, scope, 0, 0, now_ms, err, errlen);
}

/* ---- for the subcommand ------------------------------------------------------------ */

int ledger_get_stats(ledger *l, int64_t now_ms, ledger_stats *st, char *err, size_t errlen)
{
    char day[11];
    int r;
    clock_format_day(now_ms, day);
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&l->mu);
    r = l->ops->stats(l->be, day, st, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return r;
}

void ledger_stats_free(ledger_stats *st)
{
    free(st->days);
    free(st->budget);
    free(st->apis);
    free(st->open_jobs);
    memset(st, 0, sizeof *st);
}

long long ledger_release_job(ledger *l, const char *name, int force, int dry_run, char *err, size_t errlen)
{
    long long r;
    pthread_mutex_lock(&l->mu);
    r = l->ops->release(l->be, name, force, dry_run, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return r;
}

long long ledger_prune_before(ledger *l, int64_t cutoff_ms, int dry_run, long long *left, char *err, size_t errlen)
{
    long long r;
    pthread_mutex_lock(&l->mu);
    r = l->ops->prune(l->be, cutoff_ms, dry_run, left, err, errlen);
    pthread_mutex_unlock(&l->mu);
    return r;
}
