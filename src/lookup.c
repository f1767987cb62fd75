/* lookup — --verify: the Checkout API's view of a transaction, cached per job, read by the
 * engine's workers (a "lookup pass" of a row before the reader claims and sends it). */
#include "lookup.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "stop.h"
#include "http.h"
#include "job.h"
#include "jsonutil.h"
#include "log.h"
#include "queue.h"
#include "retry.h"
#include "summary.h"
#include "text.h"
#include "throttle.h"

/* ---- pure: path, answer, verdict ---- */

int lookup_path(const char *sid, char *out, size_t size)
{
    size_t n = strlen(sid);
    if (!n || n > RULES_ID_MAX_CHARS || sizeof LOOKUP_PATH_BASE + n + 1 > size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = sid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return -1;
    }
    snprintf(out, size, LOOKUP_PATH_BASE "%s/", sid);
    return 0;
}

void lookup_txn_clear(lookup_txn *t)
{
    free(t->order_no);
    memset(t, 0, sizeof *t);
    t->state = RULES_STATE_NONE;
}

static int nonempty_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return 0;
    const char *s = v->valuestring;
    size_t n = strlen(s);
    text_trim_space(&s, &n);
    return n > 0;
}

int lookup_parse(const char *body, size_t len, lookup_txn *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->state = RULES_STATE_NONE;
    cJSON *o = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(err, errlen, "the answer is not a transaction (no JSON object)");
        return -1;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (!cJSON_IsString(st) || (t->state = rules_parse_state(st->valuestring, strlen(st->valuestring))) ==
                                   RULES_STATE_NONE) {
        char shown[40] = "";
        if (cJSON_IsString(st))
            jsonutil_printable(st->valuestring, strlen(st->valuestring), shown, sizeof shown);
        snprintf(err, errlen, cJSON_IsString(st) ? "the transaction's state \"%s\" is not a payment state"
                                                 : "the answer has no transaction state%s", shown);
        cJSON_Delete(o);
        return -1;
    }
    /* notifications: {"email": [events], "sms": [...], "whatsapp": [...]}; Ottu's own
     * example spells "SMS", so channel keys are matched in any case. null or absent: no
     * channel is enabled for any event. */
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(o, "notifications");
    if (!cJSON_IsObject(nt))
        nt = NULL;
    const cJSON *ch;
    cJSON_ArrayForEach(ch, nt) {
        unsigned bit = ch->string ? rules_channel_from_name(ch->string, strlen(ch->string)) : 0;
        const cJSON *ev, *list = cJSON_IsArray(ch) ? ch : NULL;
        for (int i = 0; bit && i < 3; i++) {
            if (bit != 1u << i)
                continue;
            cJSON_ArrayForEach(ev, list) {
                rules_state e = cJSON_IsString(ev) ? rules_parse_state(ev->valuestring, strlen(ev->valuestring))
                                                   : RULES_STATE_NONE;
                if (e != RULES_STATE_NONE)
                    t->events[i] |= (uint16_t)(1u << e);
            }
        }
    }
    t->has_email = nonempty_string(o, "customer_email");
    t->has_phone = nonempty_string(o, "customer_phone");
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "order_no");
    const char *ord = cJSON_IsString(on) ? on->valuestring : "";
    size_t olen = strlen(ord);
    text_trim_space(&ord, &olen); /* as the API compares it */
    t->order_no = strndup(ord, olen);
    cJSON_Delete(o);
    if (!t->order_no) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Appends "; " and a formatted note. */
__attribute__((format(printf, 3, 4))) static void note_add(char *note, size_t size, const char *fmt, ...)
{
    size_t n = strlen(note);
    if (n && n + 2 < size) {
        memcpy(note + n, "; ", 3);
        n += 2;
    }
    if (n >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note + n, size - n, fmt, ap);
    va_end(ap);
}

void lookup_judge(const lookup_txn *t, unsigned channels, rules_state row_state, int accept_current,
                  lookup_verdict *v)
{
    rules_state cur = t->state;
    const char *now = rules_state_name(cur);
    memset(v, 0, sizeof *v);
    if (row_state != RULES_STATE_NONE && row_state != cur) {
        if (!accept_current) {
            snprintf(v->note, sizeof v->note, "state is %s now, the row says %s (--verify-accept-current sends it "
                     "for the current state)", now, rules_state_name(row_state));
            return;
        }
        snprintf(v->note, sizeof v->note, "sent for the current state %s (the row says %s; "
                 "--verify-accept-current)", now, rules_state_name(row_state));
    } else if (row_state == RULES_STATE_NONE) {
        snprintf(v->note, sizeof v->note, "sent for the current state %s", now);
    }
    if (!rules_state_has_notification(cur)) {
        snprintf(v->note, sizeof v->note, "the transaction is %s now: Ottu has no notification for that state", now);
        return;
    }
    unsigned disabled = 0, no_contact = 0;
    for (int i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        if (!(channels & bit))
            continue;
        if (!(t->events[i] & (1u << cur)) || !(rules_channels_for_state(cur) & bit))
            disabled |= bit;
        else if ((bit == RULES_EMAIL && !t->has_email) || (bit != RULES_EMAIL && !t->has_phone))
            no_contact |= bit;
    }
    v->keep = channels & ~disabled & ~no_contact;
    char list[40];
    if (disabled) {
        rules_format_channels(disabled, list, sizeof list);
        note_add(v->note, sizeof v->note, "%s %s not enabled for %s", v->keep ? "dropped" : "no channel left:", list,
                 now);
    }
    for (int i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        if (no_contact & bit)
            note_add(v->note, sizeof v->note, "%s%s: no %s", v->keep || disabled ? "" : "no channel left: ",
                     rules_channel_name(bit), bit == RULES_EMAIL ? "customer_email" : "customer_phone");
    }
    v->go = v->keep != 0;
}

/* ---- the cache ---- */

struct lookup_entry {
    char *session_id;      /* NULL: the slot is free */
    lookup_status status;
    lookup_txn txn;
    char *detail;          /* why FAILED (owned) */
    int refs;              /* rows holding it (reader) */
    int attempts;          /* GETs made for it (worker; one row at a time does them) */
    int next;              /* hash chain, -1 = end */
};

struct lookup {
    lookup_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lookup_entry *e;
    size_t cap, count, hand; /* hand: the next slot to consider for reuse (insertion order) */
    int *bucket;             /* cap * 2 chain heads */
    size_t nbuckets;
};

lookup *lookup_new(const lookup_opts *o)
{
    lookup *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->o = *o;
    l->cap = o->capacity ? o->capacity : LOOKUP_DEFAULT_CAPACITY;
    l->nbuckets = l->cap * 2;
    l->e = calloc(l->cap, sizeof *l->e);
    l->bucket = malloc(l->nbuckets * sizeof *l->bucket);
    if (!l->e || !l->bucket) {
        free(l->e);
        free(l->bucket);
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < l->nbuckets; i++)
        l->bucket[i] = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return l;
}


static void entry_clear(lookup_entry *e)
{
    free(e->session_id);
    free(e->detail);
    lookup_txn_clear(&e->txn);
    memset(e, 0, sizeof *e);
    e->next = -1;
}

void lookup_free(lookup *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->cap; i++)
        entry_clear(&l->e[i]);
    free(l->e);
    free(l->bucket);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

static size_t bucket_of(const lookup *l, const char *sid)
{
    return (size_t)(rules_fnv1a64(sid, strlen(sid)) % l->nbuckets);
}

static void unlink_entry(lookup *l, int idx)
{
    int *p = &l->bucket[bucket_of(l, l->e[idx].session_id)];
    while (*p != idx)
        p = &l->e[*p].next;
    *p = l->e[idx].next;
}

/* A slot for a new entry: a free one, else the oldest answered one nobody holds (the
 * rows holding entries are few, bounded by the reader's look-ahead). -1: none. */
static int take_slot(lookup *l)
{
    for (size_t k = 0; k < l->cap; k++) {
        size_t i = (l->hand + k) % l->cap;
        lookup_entry *e = &l->e[i];
        if (e->session_id && (e->refs || e->status == LOOKUP_PENDING))
            continue;
        if (e->session_id) {
            unlink_entry(l, (int)i);
            entry_clear(e);
            l->count--;
        }
        l->hand = (i + 1) % l->cap;
        return (int)i;
    }
    return -1;
}

lookup_entry *lookup_get(lookup *l, const char *sid, int *fresh)
{
    *fresh = 0;
    pthread_mutex_lock(&l->mu);
    size_t b = bucket_of(l, sid);
    for (int i = l->bucket[b]; i >= 0; i = l->e[i].next) {
        if (strcmp(l->e[i].session_id, sid) == 0) {
            l->e[i].refs++;
            pthread_mutex_unlock(&l->mu);
            return &l->e[i];
        }
    }
    int i = take_slot(l);
    char *copy = i >= 0 ? strdup(sid) : NULL;
    if (!copy) {
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    lookup_entry *e = &l->e[i];
    e->session_id = copy;
    e->status = LOOKUP_PENDING;
    e->refs = 1;
    e->next = l->bucket[b];
    l->bucket[b] = i;
    l->count++;
    *fresh = 1;
    pthread_mutex_unlock(&l->mu);
    return e;
}

lookup_status lookup_wait(lookup *l, lookup_entry *e, const lookup_txn **t, const char **detail)
{
    pthread_mutex_lock(&l->mu);
    while (e->status == LOOKUP_PENDING)
        pthread_cond_wait(&l->cv, &l->mu);
    lookup_status st = e->status;
    pthread_mutex_unlock(&l->mu);
    *t = &e->txn;
    *detail = e->detail ? e->detail : "";
    return st;
}

int lookup_done(lookup *l, lookup_entry *e)
{
    pthread_mutex_lock(&l->mu);
    int done = e->status != LOOKUP_PENDING;
    pthread_mutex_unlock(&l->mu);
    return done;
}

void lookup_release(lookup *l, lookup_entry *e)
{
    pthread_mutex_lock(&l->mu);
    e->refs--;
    /* A lookup that did not get its answer is not remembered: a later row asks again. */
    if (!e->refs && (e->status == LOOKUP_STOPPED || e->status == LOOKUP_FAILED)) {
        unlink_entry(l, (int)(e - l->e));
        entry_clear(e);
        l->count--;
    }
    pthread_mutex_unlock(&l->mu);
}

size_t lookup_cached(lookup *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->count;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* ---- the pass (worker threads) ---- */

/* The row's lookup is over: the entry gets its answer, the reader is woken, the queue
 * learns that the row left the workers (the reader queues it again to send it). */
static void complete(lookup *l, job *j, lookup_status st, lookup_txn *t, const char *detail)
{
    lookup_entry *e = j->lookup;
    size_t dsz = detail && *detail ? strlen(detail) * 2 + 32 : 0; /* room for "[redacted]" markers */
    char *d = dsz ? malloc(dsz) : NULL;
    if (d) {
        snprintf(d, dsz, "%s", detail);
        if (l->o.api_key)
            text_scrub_secret(d, dsz, l->o.api_key);
    }
    pthread_mutex_lock(&l->mu);
    if (t) {
        e->txn = *t;
        memset(t, 0, sizeof *t);
    }
    free(e->detail);
    e->detail = d;
    e->status = st;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    queue_done(l->o.q);
}

/* What an answer said, for a detail or a log line; the key scrubbed off (a server may
 * echo it). */
static void describe(const lookup *l, const http_result *res, char *out, size_t size)
{
    char msg[260];
    if (res->status) {
        jsonutil_response_message(res->body, res->bodylen, msg, sizeof msg);
        snprintf(out, size, "HTTP %d%s%s", res->status, msg[0] ? ": " : "", msg);
    } else {
        const char *s = res->error[0] ? res->error : "no answer";
        text_printable(s, strlen(s), out, size);
    }
    if (l->o.api_key)
        text_scrub_secret(out, size, l->o.api_key);
}

/* Stops the job for reason (the first stop's message is kept and logged once). */
static void stop_job(lookup *l, stop_reason reason, int64_t when, const char *msg)
{
    if (stop_request(l->o.stop, reason, when, msg))
        log_msg(LOG_QUIET, 0, "%s", msg);
}

/* The budget before a GET, as before a send: 0 = go, -1 = the job stopped. */
static int take_budget(lookup *l)
{
    if (!l->o.take_request)
        return 0;
    char msg[300] = "";
    int t = l->o.take_request(l->o.take_request_ctx, msg, sizeof msg);
    if (t > 0)
        return 0;
    if (!msg[0])
        snprintf(msg, sizeof msg, t == 0 ? "the daily budget of requests is spent: stopping; --resume continues"
                                         : "cannot record the request in the ledger: stopping; no new requests");
    stop_job(l, t == 0 ? STOP_BUDGET : STOP_STORAGE, 0, msg);
    return -1;
}

/* A GET that may be tried again (it has no side effect): back into the queue after the
 * backoff, or FAILED once the job's attempts are spent. */
static void again(lookup *l, job *j, const http_result *res, int64_t server_wait_ms)
{
    lookup_entry *e = j->lookup;
    char what[300], detail[400];
    describe(l, res, what, sizeof what);
    if (e->attempts >= l->o.max_attempts) {
        snprintf(detail, sizeof detail, "gave up after %d attempts: %s", e->attempts, what);
        complete(l, j, LOOKUP_FAILED, NULL, detail);
        return;
    }
    uint64_t seed = (uint64_t)clock_mono_ns() ^ ((uint64_t)j->rowno * 0x9E3779B97F4A7C15ULL);
    double u = (double)((seed * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
    int64_t backoff = retry_backoff_ms(e->attempts, l->o.backoff_base_ms, l->o.backoff_max_ms, u);
    if (server_wait_ms > backoff)
        backoff = server_wait_ms;
    log_msg(LOG_VERBOSE, j->rowno, "transaction lookup: %s; next attempt in %lld ms", what, (long long)backoff);
    j->ready_at_ns = clock_mono_ns() + backoff * 1000000;
    queue_push_delayed(l->o.q, j);
}

/* Judges one GET's answer. */
static void judge_answer(lookup *l, job *j, http_result *res)
{
    char what[300];
    if (res->outcome == HTTP_NOT_SENT && (res->error_kind == HTTP_ERR_DNS || res->error_kind == HTTP_ERR_TLS_CERT)) {
        char msg[400];
        describe(l, res, what, sizeof what);
        snprintf(msg, sizeof msg, "%s (%s): a configuration error, not an outage; stopping the job",
                 res->error_kind == HTTP_ERR_DNS ? "the API's host name does not resolve"
                                                 : "the API's TLS certificate is not trusted", what);
        throttle_release(l->o.thr, THROTTLE_OK);
        stop_job(l, STOP_CONFIG, 0, msg);
        complete(l, j, LOOKUP_STOPPED, NULL, NULL);
        return;
    }
    int st = res->outcome == HTTP_ANSWERED ? res->status : 0;
    if (st == 401 || st == 403) {
        char msg[200];
        snprintf(msg, sizeof msg, "the API rejected the key (HTTP %d): stopping the job; no further requests", st);
        throttle_release(l->o.thr, THROTTLE_OK);
        stop_job(l, STOP_KEY_REJECTED, 0, msg); /* stop first: no worker may start another */
        complete(l, j, LOOKUP_STOPPED, NULL, NULL);
        return;
    }
    if (st == 200) {
        lookup_txn t;
        char err[200];
        if (lookup_parse(res->body, res->bodylen, &t, err, sizeof err) == 0) {
            throttle_release(l->o.thr, THROTTLE_OK);
            complete(l, j, LOOKUP_FOUND, &t, NULL);
            return;
        }
        /* A 200 that is no transaction (a login page from a proxy): worth another try. */
        throttle_release(l->o.thr, THROTTLE_TRANSIENT);
        http_result shown = *res;
        shown.status = 0;
        snprintf(shown.error, sizeof shown.error, "HTTP 200, but %s", err);
        again(l, j, &shown, 0);
        return;
    }
    if (st == 404) {
        throttle_release(l->o.thr, THROTTLE_OK);
        complete(l, j, LOOKUP_NOT_FOUND, NULL, NULL);
        return;
    }
    if (st && st != 408 && st != 429 && st < 500) {
        describe(l, res, what, sizeof what);
        throttle_release(l->o.thr, THROTTLE_OK);
        complete(l, j, LOOKUP_FAILED, NULL, what);
        return;
    }
    /* No answer, 408, 429, 5xx: a read has no side effect, so every one is retried. */
    throttle_release(l->o.thr, st == 429 ? THROTTLE_RATE_LIMITED : THROTTLE_TRANSIENT);
    int64_t wait = 0;
    if (st == 429) {
        wait = retry_server_wait_ms(res->retry_after_s, res->retry_after, res->body, res->bodylen, time(NULL));
        if (wait > l->o.max_pause_ms) {
            int64_t when = clock_now_ms() + wait;
            char at[40], msg[300];
            clock_format_iso(when, at, sizeof at);
            snprintf(msg, sizeof msg, "the API's quota is exhausted (HTTP 429, available again in %lld s, at %s): "
                     "stopping; no new requests; --resume continues", (long long)(wait / 1000), at);
            stop_job(l, STOP_QUOTA, when, msg);
            complete(l, j, LOOKUP_STOPPED, NULL, NULL);
            return;
        }
        if (wait > 0)
            throttle_pause(l->o.thr, wait); /* the whole job waits, as for a send */
    }
    again(l, j, res, wait);
}

void lookup_pass(void *ctx, void *client, job *j, int stopping)
{
    lookup *l = ctx;
    lookup_entry *e = j->lookup;
    char path[sizeof LOOKUP_PATH_BASE + RULES_ID_MAX_CHARS + 2];
    if (stopping || stop_stopping(l->o.stop) || !client || lookup_path(e->session_id, path, sizeof path) < 0) {
        complete(l, j, LOOKUP_STOPPED, NULL, NULL);
        return;
    }
    if (throttle_acquire(l->o.thr) < 0) {
        complete(l, j, LOOKUP_STOPPED, NULL, NULL);
        return;
    }
    if (stop_stopping(l->o.stop) || take_budget(l) < 0) {
        throttle_release(l->o.thr, THROTTLE_OK);
        complete(l, j, LOOKUP_STOPPED, NULL, NULL);
        return;
    }
    if (e->attempts++ > 0)
        atomic_fetch_add(&l->o.sum->lookup_retries, 1);
    atomic_fetch_add(&l->o.sum->lookups, 1);
    http_result res;
    memset(&res, 0, sizeof res);
    res.retry_after_s = -1;
    http_get(client, path, &res);
    judge_answer(l, j, &res);
    http_result_free(&res);
}
