/* stage_read — the reader stage: read a record, build its request, pick this shard's rows,
 * then decide it here (invalid, duplicate, kept by resume, skipped by the ledger, dry run,
 * job stopping) or hand it to the workers. Runs on the main thread; rows leave in input
 * order through the reorder window. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pipeline.h"
#include "rules.h"

/* Drops channels the ledger saw within the cooldown. Returns 1 when nothing is left. */
static int consult_ledger(pipeline *c, job *j, char *err, size_t errlen)
{
    unsigned recent = 0;
    int64_t at[3] = {0, 0, 0};
    if (ledger_recent(c->led, j->req.ledger_key, strlen(j->req.ledger_key), j->req.channels, clock_now_ms(),
                      c->cfg->cooldown_ms, &recent, at, err, errlen) < 0)
        return -1;
    /* An earlier row of this job may have asked for the same channel moments ago, its
     * answer not yet in the ledger: count it as sent, so the outcome does not depend on
     * timing. (--cooldown 0 never skips.) */
    long by_row[3] = {0, 0, 0};
    if (c->cfg->cooldown_ms > 0) {
        uint64_t key = rules_fnv1a64(j->req.ledger_key, strlen(j->req.ledger_key));
        for (int i = 0; i < 3; i++) {
            unsigned char bit = (unsigned char)(1u << i);
            if (!(j->req.channels & bit) || (recent & bit))
                continue;
            long first = dedupe_check(c->requested, rules_fnv1a64_update(key, &bit, 1), j->rowno);
            if (first < 0)
                return -1;
            if (first > 0) {
                recent |= bit;
                by_row[i] = first;
            }
        }
    }
    if (!recent)
        return 0;
    char note[300];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!(recent & (1u << i)))
            continue;
        char ts[32];
        if (by_row[i])
            snprintf(ts, sizeof ts, "by row %ld of this job", by_row[i]);
        else
            clock_format_iso(at[i], ts, sizeof ts);
        n += (size_t)snprintf(note + n, sizeof note - n, "%s%s sent %s", n ? ", " : "", rules_channel_name(1u << i), ts);
        if (n >= sizeof note)
            n = sizeof note - 1;
    }
    if (!(j->req.channels & ~recent)) {
        /* Nothing left: no need to build the request again (or re-read attachments). */
        j->req.channels = 0;
        snprintf(j->detail, sizeof j->detail, "already sent within the cooldown: %s", note);
        return 1;
    }
    char prev[640];
    snprintf(prev, sizeof prev, "%s", j->req.detail);
    if (request_build(&c->cols, &j->rec, &c->ropts, recent, &j->req) < 0)
        return -1;
    snprintf(j->req.detail, sizeof j->req.detail, "%.300s%sskipped %.300s (within the cooldown)", prev,
             prev[0] ? "; " : "", note);
    return 0;
}

static int decide(pipeline *c, job *j, char *err, size_t errlen)
{
    const config *cfg = c->cfg;
    if (!j->req.valid) {
        snprintf(j->detail, sizeof j->detail, "%s", j->req.detail);
        j->status = RS_INVALID;
        log_msg(LOG_VERBOSE, j->rowno, "invalid: %s", j->detail);
        return 0;
    }
    j->channels = j->req.channels;
    long first = dedupe_check(c->seen, j->req.fingerprint, j->rowno);
    if (first < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (first > 0) {
        snprintf(j->detail, sizeof j->detail, "duplicate of row %ld", first);
        j->status = RS_DUPLICATE;
        return 0;
    }
    int kept = resume_row(&c->rs, j, err, errlen);
    if (kept < 0)
        return -1;
    if (kept)
        return 0;
    if (c->led) {
        int none = consult_ledger(c, j, err, errlen);
        if (none < 0)
            return -1;
        j->channels = j->req.channels;
        if (none) {
            j->status = RS_SKIPPED;
            return 0;
        }
    }
    snprintf(j->detail, sizeof j->detail, "%s", j->req.detail);
    if (cfg->dry_run) {
        j->status = RS_DRY_RUN;
        return 0;
    }
    const char *stop = pipeline_stop_reason(c);
    if (stop) {
        snprintf(j->detail, sizeof j->detail, "not sent: %s", stop);
        j->status = RS_NOT_ATTEMPTED;
        return 0;
    }
    return 1; /* to the workers */
}

int stage_read_run(pipeline *c, char *err, size_t errlen)
{
    record rec;
    request req;
    record_init(&rec);
    request_init(&req);
    int rc = 0, got;
    while (!atomic_load(&c->fatal) && (got = reader_next(c->in, &rec, err, errlen)) == 1) {
        if (request_build(&c->cols, &rec, &c->ropts, 0, &req) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (c->cfg->shard_n > 1 &&
            rules_fnv1a64(req.ident, strlen(req.ident)) % c->cfg->shard_n != c->cfg->shard_k)
            continue;
        progress_row_read(c->prog, reader_bytes(c->in));
        if (resume_advance(&c->rs, &rec, err, errlen) < 0) {
            rc = -1; /* cannot happen after verify_old_output, unless a file changed meanwhile */
            break;
        }
        job *j = reorder_acquire(c->ro);
        job_reset(j, rec.rowno);
        /* Swap buffers instead of copying: the slot keeps ours, we keep its old ones. */
        record tr = j->rec;
        j->rec = rec;
        rec = tr;
        request tq = j->req;
        j->req = req;
        req = tq;
        int to_send = decide(c, j, err, errlen);
        if (to_send < 0) {
            rc = -1;
            j->status = RS_NOT_ATTEMPTED;
            snprintf(j->detail, sizeof j->detail, "not sent: the job stopped on an error");
            reorder_complete(c->ro, j);
            break;
        }
        if (to_send) {
            queue_push(c->q, j);
        } else {
            if (!j->finished_at_ms)
                j->finished_at_ms = clock_now_ms();
            reorder_complete(c->ro, j);
        }
    }
    if (rc == 0 && got < 0)
        rc = -1;
    record_free(&rec);
    request_free(&req);
    return rc;
}
