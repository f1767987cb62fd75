/* stage_read — the reader stage: read a record, build its request, pick this shard's rows,
 * then decide it here (invalid, duplicate, kept by resume, dry run, job stopping, over
 * --limit) or claim its channels in the ledger — in batches, one transaction each — and
 * hand it to the workers (or, in a dry run, say what a real run would be granted). Runs
 * on the main thread; rows leave in input order through the reorder window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "lookup.h"
#include "pipeline.h"
#include "rules.h"
#include "text.h"

/* Claims are taken in batches so the ledger costs one transaction per this many rows
 * (PostgreSQL: ~1 ms of the server's time per transaction besides its rows; 512 rather
 * than 256 took ~6% off the server's CPU per row); a batch also goes when its oldest row
 * has waited CLAIM_BATCH_MS, or once CLAIM_SPAN rows have been read since it: its first
 * row may be the oldest row of the reorder window, which nothing behind it can leave, so
 * the rows read meanwhile (decided ones too) must stay well below the window's smallest
 * size (2048 slots, reorder.c) or the reader would wait for a slot forever. */
#define CLAIM_BATCH 512
#define CLAIM_BATCH_MS 50
#define CLAIM_SPAN 512

/* --verify: rows read ahead while the workers look their transactions up. Rows are
 * decided (and claimed) in input order, so this many GETs can be in flight from the
 * reader's side; well below the reorder window (the claim batch's span beside it). */
#define VERIFY_AHEAD 128

typedef struct ahead {
    job *rows[VERIFY_AHEAD];
    lookup_entry *entry[VERIFY_AHEAD]; /* NULL: the row needs no lookup */
    size_t head, n;
} ahead;

typedef struct claim_batch {
    job *rows[CLAIM_BATCH];
    ledger_claim_item items[CLAIM_BATCH];
    size_t n;
    int64_t first_ns;
    long first_row;
} claim_batch;

static void complete_now(pipeline *c, job *j)
{
    if (!j->finished_at_ms)
        j->finished_at_ms = clock_now_ms();
    reorder_complete(c->ro, j);
}

static void not_attempted(pipeline *c, job *j, const char *why)
{
    j->claimed = 0;
    job_decide(j, RS_NOT_ATTEMPTED, "not sent: %s", why);
    complete_now(c, j);
}

/* An earlier row of this job asked for the same identifier and channel: that channel
 * counts as sent, whatever the ledger says yet (--cooldown 0 never skips). Returns the
 * channels left, and notes the others in j->req.detail. -1: out of memory. */
static long drop_requested_in_job(pipeline *c, job *j)
{
    unsigned left = j->req.channels;
    long first[3];
    if (repeats_requested(c->rep, j->req.fingerprint, j->req.ledger_key, strlen(j->req.ledger_key), left,
                          j->rowno, first) < 0)
        return -1;
    char note[200] = "";
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        unsigned bit = 1u << i;
        if (!(left & bit) || !first[i])
            continue;
        left &= ~bit;
        n += (size_t)snprintf(note + n, sizeof note - n, "%s%s sent by row %ld of this job", n ? ", " : "",
                              rules_channel_name(bit), first[i]);
        if (n >= sizeof note)
            n = sizeof note - 1;
    }
    if (note[0]) {
        size_t d = strlen(j->req.detail);
        snprintf(j->req.detail + d, sizeof j->req.detail - d, "%sskipped %s", d ? "; " : "", note);
    }
    return left;
}

/* Rebuilds j's request without the channels in drop (request_build starts its note
 * afresh): the earlier note is kept and `more` ("" = nothing) appended to it. 0, or -1
 * when out of memory. */
static int rebuild_without(pipeline *c, job *j, unsigned drop, const char *more)
{
    char prev[sizeof j->req.detail], ident[sizeof j->req.ident], key[sizeof j->req.ledger_key];
    snprintf(prev, sizeof prev, "%s", j->req.detail);
    /* The identity stays what it was (--verify may have made it the transaction's). */
    memcpy(ident, j->req.ident, sizeof ident);
    memcpy(key, j->req.ledger_key, sizeof key);
    if (request_build(&c->cols, &j->rec, &c->ropts, drop, &j->req) < 0)
        return -1;
    memcpy(j->req.ident, ident, sizeof ident);
    memcpy(j->req.ledger_key, key, sizeof key);
    j->channels = j->req.channels;
    snprintf(j->req.detail, sizeof j->req.detail, "%.*s%s%s", more[0] ? 300 : (int)sizeof prev, prev,
             prev[0] && more[0] ? "; " : "", more);
    return 0;
}

/* "sms sent 2026-11-29T20:00:00.000Z, email claimed by job X at ..." for the blocked channels. */
static void describe_blocked(const ledger_claim_item *it, unsigned blocked, const char *job_id, char *out,
                             size_t size)
{
    static const char *kind[] = {"free", "sent", "maybe sent (outcome unknown)", "claimed"};
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < 3 && n < size; i++) {
        if (!(blocked & (1u << i)))
            continue;
        char ts[32];
        clock_format_iso(it->blocked_at_ms[i], ts, sizeof ts);
        const char *other = it->blocked_job[i];
        int mine = !other[0] || strcmp(other, job_id) == 0;
        n += (size_t)snprintf(out + n, size - n, "%s%s %s %s%s%s", n ? ", " : "", rules_channel_name(1u << i),
                              kind[it->blocked_kind[i] & 3], ts, mine ? "" : " by job ", mine ? "" : other);
    }
}

/* Applies one granted claim to its row: send the granted channels, skip the row when
 * none is left. Returns 1 when the row is to be sent, 0 when decided, -1 out of memory. */
static int apply_claim(pipeline *c, job *j, const ledger_claim_item *it)
{
    unsigned blocked = j->req.channels & ~it->granted;
    j->claimed = c->cfg->dry_run ? 0 : it->granted;
    if (!blocked)
        return 1;
    char note[400];
    describe_blocked(it, blocked, c->job_id, note, sizeof note);
    if (!it->granted && resume_lost_claims(&c->rs, it, blocked)) {
        /* may have gone out in the run whose journal was lost */
        job_decide(j, RS_UNKNOWN, "outcome lost: %s, and that job's journal is missing: the request "
                   "may have reached the API; not sent (use the API's records to decide)", note);
        return 0;
    }
    if (!it->granted) {
        j->channels = j->req.channels = 0;
        const char *api = ledger_api(c->led);
        job_decide(j, RS_SKIPPED, "already sent or claimed within the cooldown%s%s: %s",
                   api[0] ? " for API " : "", api, note);
        return 0;
    }
    char more[sizeof note + 40];
    snprintf(more, sizeof more, "skipped %.300s (within the cooldown)", note);
    return rebuild_without(c, j, blocked, more) < 0 ? -1 : 1;
}

/* A row cleared to go: its attachments read (only now, for rows that will go out), then
 * to the workers, or (dry run) decided as what would be sent. Returns 0, or -1 when out
 * of memory. */
static int dispatch(pipeline *c, job *j)
{
    if (request_load_attachments(&j->req, &c->cols, &j->rec, &c->ropts) < 0)
        return -1;
    if (!j->req.valid) {
        /* An attachment that cannot be read: the row's claim is released by the writer. */
        job_decide(j, RS_INVALID, "%s", j->req.detail);
        complete_now(c, j);
        return 0;
    }
    if (c->cfg->dry_run) {
        job_decide(j, RS_DRY_RUN, "%s", j->req.detail);
        complete_now(c, j);
        return 0;
    }
    job_note(j, "%s", j->req.detail);
    const char *stopped = stop_words(c->stop);
    if (stopped) {
        not_attempted(c, j, stopped);
        return 0;
    }
    queue_push(c->q, j);
    return 0;
}

/* Claims every row of the batch in one ledger transaction, then dispatches them in input
 * order. A ledger that cannot be written stops the job: nothing of the batch is sent. */
static int flush_claims(pipeline *c, claim_batch *b, char *err, size_t errlen)
{
    if (!b->n)
        return 0;
    int rc = 0;
    char lerr[512];
    if (ledger_claim(c->led, b->items, b->n, clock_now_ms(), c->cfg->cooldown_ms, lerr, sizeof lerr) < 0) {
        stop_fail(c->stop, "ledger: %s; no further notification is sent (fix it, then --resume)", lerr);
        for (size_t i = 0; i < b->n; i++)
            not_attempted(c, b->rows[i], "the ledger could not record the claim");
        b->n = 0;
        return 0;
    }
    for (size_t i = 0; i < b->n; i++) {
        job *j = b->rows[i];
        if (rc < 0) {
            not_attempted(c, j, "the job stopped on an error");
            continue;
        }
        int go = apply_claim(c, j, &b->items[i]);
        if (go > 0)
            go = dispatch(c, j);
        else if (go == 0)
            complete_now(c, j);
        if (go < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            not_attempted(c, j, "the job stopped on an error");
        }
    }
    b->n = 0;
    return rc;
}

static int add_claim(pipeline *c, claim_batch *b, job *j, char *err, size_t errlen)
{
    if (!b->n) {
        b->first_ns = clock_mono_ns();
        b->first_row = j->rowno;
    }
    ledger_claim_item *it = &b->items[b->n];
    memset(it, 0, sizeof *it);
    it->id = j->req.ledger_key;
    it->idlen = strlen(j->req.ledger_key);
    it->channels = j->req.channels;
    it->row = j->rowno;
    /* --resend-unknown asks for this job's own unknown rows again: their maybe-sent record
     * must not block them (other jobs' records still do). */
    it->resend_own = c->cfg->resend_unknown;
    b->rows[b->n++] = j;
    if (b->n == CLAIM_BATCH || clock_mono_ns() - b->first_ns >= CLAIM_BATCH_MS * 1000000LL)
        return flush_claims(c, b, err, errlen);
    return 0;
}

/* A row kept from an earlier run of this job: its outcome goes into the ledger again (a
 * crash may have lost the settlement; settling twice is harmless). */
static void reconcile_kept(pipeline *c, job *j)
{
    if (!c->led || c->cfg->dry_run)
        return;
    job_settle(j, j->status, 0, NULL); /* its per-channel bits, from the status it keeps */
    if (j->status == RS_SENT || j->status == RS_UNKNOWN)
        j->claimed = j->channels;
}

/* What is decided as the row is read: invalid, duplicate, kept by resume. Returns 1 to
 * go on, 0 decided, -1 error. */
static int decide_early(pipeline *c, job *j, char *err, size_t errlen)
{
    if (!j->req.valid) {
        job_decide(j, RS_INVALID, "%s", j->req.detail);
        log_msg(LOG_VERBOSE, j->rowno, "invalid: %s", j->detail);
        return 0;
    }
    if (c->cfg->verify == 2 && c->cols.mode == MODE_MESSAGE && !(j->req.id_kinds & REQUEST_ID_SESSION_ID)) {
        job_decide(j, RS_INVALID, "no session_id: --verify=strict reads every transaction first, and "
                                     "the API reads them by session_id only");
        return 0;
    }
    if (!c->lk) /* --verify links the two names of a transaction: nothing to warn about */
        summary_note_ids(&c->sum, j->req.id_kinds);
    j->channels = j->req.channels;
    long first = repeats_duplicate(c->rep, j->req.fingerprint, j->req.ledger_key, strlen(j->req.ledger_key),
                                   j->req.channels, j->rowno);
    if (first < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (first > 0) {
        job_decide(j, RS_DUPLICATE, "duplicate of row %ld", first);
        return 0;
    }
    int kept = resume_row(&c->rs, j, err, errlen);
    if (kept < 0)
        return -1;
    if (kept) {
        reconcile_kept(c, j);
        if (repeats_kept(c->rep, j->req.fingerprint, j->rowno) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    return 1;
}

/* What is decided once the row's turn comes (in input order, its transaction known):
 * channels requested earlier in the job, the job stopping, --limit. Returns 1 to
 * claim/send, 0 decided, -1 error. */
static int decide_late(pipeline *c, job *j, long *to_send, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    long left = drop_requested_in_job(c, j);
    if (left < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (left == 0) {
        j->channels = 0;
        job_decide(j, RS_SKIPPED, "%s", j->req.detail);
        return 0;
    }
    if ((unsigned)left != j->req.channels && rebuild_without(c, j, j->req.channels & ~(unsigned)left, "") < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *stopped = cfg->dry_run ? NULL : stop_words(c->stop);
    if (stopped) {
        job_decide(j, RS_NOT_ATTEMPTED, "not sent: %s", stopped);
        return 0;
    }
    if (cfg->limit > 0 && *to_send >= cfg->limit) {
        char words[96];
        stop_limit(c->stop, cfg->limit, words, sizeof words);
        job_decide(j, RS_NOT_ATTEMPTED, "not sent: %s", words);
        return 0;
    }
    ++*to_send;
    return 1;
}

/* Takes a slot in the reorder window and moves the row's buffers into it (swapping, so
 * the slot's old buffers are reused for the next record). */
static job *take_slot(pipeline *c, record *rec, request *req)
{
    job *j = reorder_acquire(c->ro);
    job_reset(j, rec->rowno);
    record tr = j->rec;
    j->rec = *rec;
    *rec = tr;
    request tq = j->req;
    j->req = *req;
    *req = tq;
    return j;
}

/* --verify: the row's session_id, when it has one to look up (message mode). */
static const char *row_session(pipeline *c, const job *j, char *buf, size_t size)
{
    int i = c->cols.idx[COL_SESSION_ID];
    if (!c->lk || c->cols.mode != MODE_MESSAGE || i < 0 || (size_t)i >= j->rec.n)
        return NULL;
    const char *s = record_field(&j->rec, (size_t)i);
    size_t n = j->rec.flen[i];
    text_trim_space(&s, &n);
    if (!n || n >= size)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* Starts the row's lookup: NULL entry when it needs none (no session_id: counted
 * unverified; or a session_id no transaction can have: *bad). -1 out of memory. */
static int start_lookup(pipeline *c, job *j, lookup_entry **out, int *bad)
{
    char sid[RULES_ID_MAX_CHARS * 4 + 1], path[sizeof LOOKUP_PATH_BASE + RULES_ID_MAX_CHARS + 2];
    *out = NULL;
    *bad = 0;
    if (!c->lk)
        return 0;
    if (!row_session(c, j, sid, sizeof sid)) {
        c->sum.unverified++;
        return 0;
    }
    if (lookup_path(sid, path, sizeof path) < 0) {
        *bad = 1;
        return 0;
    }
    int fresh;
    lookup_entry *e = lookup_get(c->lk, sid, &fresh);
    if (!e)
        return -1;
    if (fresh) {
        j->lookup = e; /* the workers' lookup pass; the row comes back through lookup_wait */
        queue_push(c->q, j);
    }
    *out = e;
    return 0;
}

static void lookup_failed(job *j, const char *fmt, const char *a, const char *b)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a, b);
    j->channels = j->req.channels;
    job_settle(j, RS_FAILED, j->channels, "%s; nothing sent", msg);
}

/* The row's transaction is known: what --verify makes of the row (docs/formats.md). The
 * transaction's order_no (else its session_id) becomes the row's identity for the rest
 * of the job and the ledger, so rows naming it either way are one customer. Returns 1
 * to go on, 0 decided, -1 out of memory. */
static int apply_lookup(pipeline *c, job *j, lookup_entry *e)
{
    const lookup_txn *t;
    const char *why;
    lookup_status st = lookup_wait(c->lk, e, &t, &why);
    j->lookup = NULL;
    char sid[RULES_ID_MAX_CHARS * 4 + 1];
    row_session(c, j, sid, sizeof sid);
    int rc = 0;
    if (st == LOOKUP_STOPPED) {
        const char *stopped = stop_words(c->stop);
        job_decide(j, RS_NOT_ATTEMPTED, "not sent: %s", stopped ? stopped : "the job stopped");
    } else if (st == LOOKUP_NOT_FOUND) {
        j->http_status = 404;
        lookup_failed(j, "no such transaction: GET pymt-txn/%.150s/ answered 404%s", sid, "");
    } else if (st == LOOKUP_FAILED) {
        lookup_failed(j, "could not read the transaction %.150s: %.200s", sid, why);
    } else {
        size_t olen;
        int oi = c->cols.idx[COL_ORDER_NO];
        const char *ord = oi >= 0 && (size_t)oi < j->rec.n ? record_field(&j->rec, (size_t)oi) : "";
        olen = oi >= 0 && (size_t)oi < j->rec.n ? j->rec.flen[oi] : 0;
        text_trim_space(&ord, &olen);
        char rowno[RULES_ID_MAX_CHARS * 4 + 1];
        snprintf(rowno, sizeof rowno, "%.*s", (int)olen, ord);
        if (olen && t->order_no[0] && strcmp(rowno, t->order_no) != 0) {
            lookup_failed(j, "no such transaction: session_id %.150s belongs to another order_no (the row says %.150s)", sid,
                          rowno);
            lookup_release(c->lk, e);
            return 0;
        }
        int si = c->cols.idx[COL_STATE];
        rules_state row_state = si >= 0 && (size_t)si < j->rec.n && j->rec.flen[si]
                                    ? rules_parse_state(record_field(&j->rec, (size_t)si), j->rec.flen[si])
                                    : RULES_STATE_NONE;
        lookup_verdict v;
        lookup_judge(t, j->req.channels, row_state, c->cfg->verify_accept_current, &v);
        const char *canon = t->order_no[0] ? t->order_no : sid;
        snprintf(j->req.ident, sizeof j->req.ident, "%.259s", canon);
        snprintf(j->req.ledger_key, sizeof j->req.ledger_key, "%.399s", canon);
        if (!v.go) {
            j->channels = 0;
            job_decide(j, RS_SKIPPED, "%s", v.note);
        } else if (v.keep != j->req.channels) {
            rc = rebuild_without(c, j, j->req.channels & ~v.keep, v.note) < 0 ? -1 : 1;
        } else {
            size_t d = strlen(j->req.detail);
            if (v.note[0])
                snprintf(j->req.detail + d, sizeof j->req.detail - d, "%s%s", d ? "; " : "", v.note);
            rc = 1;
        }
    }
    lookup_release(c->lk, e);
    return rc;
}

/* The rest of a row's way, in input order: its lookup applied (--verify), the checks of
 * its turn, then its claim (batched) or straight to the workers. 0, or -1 with err. */
static int finish_row(pipeline *c, claim_batch *batch, job *j, lookup_entry *e, long *to_send, char *err,
                      size_t errlen)
{
    int go = e ? apply_lookup(c, j, e) : 1;
    if (go > 0)
        go = decide_late(c, j, to_send, err, errlen);
    if (go < 0) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        not_attempted(c, j, "the job stopped on an error");
        return -1;
    }
    if (!go) {
        complete_now(c, j);
        return 0;
    }
    if (batch)
        return add_claim(c, batch, j, err, errlen);
    if (dispatch(c, j) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Decides the rows read ahead whose turn has come: the first while its lookup is done
 * (or, with wait, until none is left or, with full, until there is room). */
static int drain_ahead(pipeline *c, ahead *a, claim_batch *batch, long *to_send, int wait, int failed, char *err,
                       size_t errlen)
{
    int rc = failed ? -1 : 0;
    while (a && a->n) {
        job *j = a->rows[a->head];
        lookup_entry *e = a->entry[a->head];
        if (e && !lookup_done(c->lk, e)) {
            if (!wait && a->n < VERIFY_AHEAD)
                break;
            /* About to wait for an answer: the rows claimed meanwhile go first. */
            if (rc == 0 && batch && batch->n)
                rc = flush_claims(c, batch, err, errlen);
        }
        a->head = (a->head + 1) % VERIFY_AHEAD;
        a->n--;
        if (rc == 0)
            rc = finish_row(c, batch, j, e, to_send, err, errlen);
        else {
            if (e) {
                const lookup_txn *t;
                const char *why;
                lookup_wait(c->lk, e, &t, &why); /* the workers are done with the row */
                j->lookup = NULL;
                lookup_release(c->lk, e);
            }
            not_attempted(c, j, "the job stopped on an error");
        }
    }
    return rc;
}

int stage_read_run(pipeline *c, char *err, size_t errlen)
{
    record rec;
    request req;
    record_init(&rec);
    request_init(&req);
    claim_batch *batch = c->led ? calloc(1, sizeof *batch) : NULL;
    int rc = 0, got = 0;
    long to_send = 0;
    ahead *aq = c->lk ? calloc(1, sizeof *aq) : NULL;
    if ((c->led && !batch) || (c->lk && !aq)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    while (rc == 0 && !stop_failed(c->stop) && (got = reader_next(c->in, &rec, err, errlen)) == 1) {
        if (request_build(&c->cols, &rec, &c->ropts, 0, &req) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (c->cfg->shard_n > 1 && rules_fnv1a64(req.ident, strlen(req.ident)) % c->cfg->shard_n != c->cfg->shard_k)
            continue;
        progress_row_read(c->prog, reader_bytes(c->in));
        if (resume_advance(&c->rs, &rec, err, errlen) < 0) {
            rc = -1; /* cannot happen after verify_old_output, unless a file changed meanwhile */
            break;
        }
        if (batch && batch->n &&
            (rec.rowno - batch->first_row >= CLAIM_SPAN || clock_mono_ns() - batch->first_ns >= CLAIM_BATCH_MS * 1000000LL) &&
            (rc = flush_claims(c, batch, err, errlen)) < 0)
            break;
        job *j = take_slot(c, &rec, &req);
        int go = decide_early(c, j, err, errlen);
        lookup_entry *e = NULL;
        int bad = 0;
        if (go > 0 && start_lookup(c, j, &e, &bad) < 0) {
            snprintf(err, errlen, "out of memory");
            go = -1;
        }
        if (go > 0 && bad) {
            lookup_failed(j, "no such transaction: a session_id has only letters, digits, - and _%s%s", "", "");
            go = 0;
        }
        if (go < 0) {
            rc = -1;
            not_attempted(c, j, "the job stopped on an error");
        } else if (!go) {
            complete_now(c, j);
        } else if (c->lk) {
            /* --verify: in line behind the rows whose transactions are being read */
            size_t at = (aq->head + aq->n) % VERIFY_AHEAD;
            aq->rows[at] = j;
            aq->entry[at] = e;
            aq->n++;
            rc = drain_ahead(c, aq, batch, &to_send, 0, 0, err, errlen);
        } else {
            rc = finish_row(c, batch, j, NULL, &to_send, err, errlen);
        }
    }
    int drc = drain_ahead(c, aq, batch, &to_send, 1, rc != 0, err, errlen);
    if (rc == 0)
        rc = drc;
    free(aq);
    if (rc == 0 && got < 0)
        rc = -1;
    if (batch) {
        if (rc == 0)
            rc = flush_claims(c, batch, err, errlen);
        else
            for (size_t i = 0; i < batch->n; i++)
                not_attempted(c, batch->rows[i], "the job stopped on an error");
        free(batch);
    }
    record_free(&rec);
    request_free(&req);
    return rc;
}
