/* stage_write — the writer stage: rows leave the reorder window in input order and go to
 * the result CSV, the failures CSV and the workbook; their outcomes to the ledger and the
 * summary. One thread; a write error stops the job (stop_fail). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"

static int is_failure(row_status s)
{
    return job_status_needs_attention(s);
}

void *stage_write_main(void *p)
{
    pipeline *c = p;
    row_cells rc;
    char err[512];
    if (row_cells_init(&rc, &c->cols) < 0)
        abort();
    job *j;
    while ((j = reorder_next(c->ro)) != NULL) {
        row_cells_fill(&rc, &c->cols, j);
        int bad = writer_cells(c->out, &rc) < 0;
        if (c->fail && is_failure(j->status))
            bad |= writer_cells(c->fail, &rc) < 0;
        if (c->xl && xlsxout_row(c->xl, rc.cell, rc.len, j) < 0)
            stop_fail(c->stop, "--xlsx: %s", xlsxout_error(c->xl));
        /* The claim becomes what happened: sent, maybe sent (unknown, or beside a failed
         * channel: it blocks like a send), or released. A ledger that cannot record it
         * stops the job: the next night would notify these customers again. */
        if (c->led && j->claimed &&
            ledger_settle(c->led, j->req.ledger_key, strlen(j->req.ledger_key), j->rowno, j->claimed,
                          j->sent_channels & j->claimed, j->maybe_channels & j->claimed, j->finished_at_ms, err,
                          sizeof err) < 0)
            stop_fail(c->stop, "ledger: %s; no further notification is sent (fix it, then --resume)", err);
        if (bad)
            stop_fail(c->stop, "cannot write the results: %s", strerror(errno));
        summary_add(&c->sum, j);
        progress_row_done(c->prog, j->status);
        reorder_release(c->ro, j);
    }
    row_cells_free(&rc);
    return NULL;
}

int stage_write_open(pipeline *c, char *err, size_t errlen)
{
    config *cfg = c->cfg;
    c->out = writer_open(cfg->output, cfg->excel, err, errlen);
    if (!c->out)
        return -1;
    row_cells hdr;
    if (row_cells_init(&hdr, &c->cols) < 0)
        return -1;
    row_cells_header(&hdr, &c->cols);
    writer_cells(c->out, &hdr);
    if (cfg->failures) {
        c->fail = writer_open(cfg->failures, cfg->excel, err, errlen);
        if (c->fail)
            writer_cells(c->fail, &hdr);
    }
    if (c->fail || !cfg->failures) {
        if (cfg->xlsx)
            c->xl = xlsxout_open(cfg->xlsx, hdr.cell, c->cols.nout, err, errlen);
    }
    row_cells_free(&hdr);
    if ((cfg->failures && !c->fail) || (cfg->xlsx && !c->xl))
        return -1;
    return 0;
}

int stage_write_close(pipeline *c, int commit, int exit_code, char *err, size_t errlen)
{
    int rc = 0;
    char e2[512];
    if (writer_close(c->out, commit, err, errlen) < 0)
        rc = -1;
    if (c->fail && writer_close(c->fail, commit, e2, sizeof e2) < 0 && rc == 0) {
        snprintf(err, errlen, "%s", e2);
        rc = -1;
    }
    c->out = c->fail = NULL;
    if (c->xl) {
        if (!commit) {
            xlsxout_discard(c->xl);
        } else {
            char rate[32], conc[16];
            snprintf(rate, sizeof rate, "%g/s", c->cfg->rate);
            snprintf(conc, sizeof conc, "%d", c->cfg->concurrency);
            xlsxout_kv info[] = {
                {"input", c->cfg->input},
                {"mode", c->cols.mode == MODE_TEMPLATE ? "template" : "message"},
                {"dry run", c->cfg->dry_run ? "yes" : "no"},
                {"rate", c->cfg->rate > 0 ? rate : "unlimited"},
                {"concurrency", conc},
                {"job", c->job_id},
            };
            xlsxout_end end = {.exit_code = exit_code, .shard_k = c->cfg->shard_k, .shard_n = c->cfg->shard_n,
                               .info = info, .ninfo = sizeof info / sizeof info[0]};
            memcpy(end.channel_sent, c->sum.channel_sent, sizeof end.channel_sent);
            memcpy(end.channel_requested, c->sum.channel_requested, sizeof end.channel_requested);
            if (xlsxout_close(c->xl, &end, e2, sizeof e2) < 0 && rc == 0) {
                snprintf(err, errlen, "--xlsx: %s", e2);
                rc = -1;
            }
        }
        c->xl = NULL;
    }
    return rc;
}
