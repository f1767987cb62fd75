/* resume — what earlier runs of a job decided. A sending run keeps a journal beside its
 * output; --resume reads it back (interrupted run), or reads the result file of a finished
 * run after checking, before anything is sent, that it belongs to this input. */
#ifndef OTTU_RESUME_H
#define OTTU_RESUME_H

#include <stddef.h>

#include "cli.h"
#include "columns.h"
#include "job.h"
#include "journal.h"
#include "ledger.h"
#include "reader.h"
#include "request.h"

typedef struct resume {
    const config *cfg;
    const columns *cols;
    const request_opts *ropts;
    char *job_id;              /* the caller's buffer: new, or the interrupted run's id */
    size_t job_id_size;
    journal *jn;               /* this run's journal (NULL: dry run or output to a stream) */
    int jn_new;                /* created by this run */
    char lost_job[40];         /* an unfinished job of this output whose journal is missing */
    journal_header jh;         /* the job's header: OUTPUT.job is rewritten from it at the end */
    reader *old;               /* the finished run's results, when resuming from them */
    record old_rec;            /* their row for the row being decided */
    size_t old_first_result;   /* its result_status column: the input columns come first */
} resume;

/* Opens or creates the journal, checks a resume (same input, mode and shard; a finished
 * result file matching the input row by row) and sets job_id. Returns 0, or -1 with err
 * (exit 2: nothing was sent). */
int resume_open(resume *rs, const config *cfg, const columns *cols, const request_opts *ropts, char *job_id,
                size_t job_id_size, char *err, size_t errlen);
/* Refuses (-1, err) to start a job whose output already holds a finished job's sends
 * (no journal, no --resume, no --overwrite): a repeated command must not notify anyone
 * twice nor destroy the record of the first send. Returns 0 when the run may go on. */
int resume_refuse_finished(const config *cfg, char *err, size_t errlen);
/* After the ledger is open (not in a dry run): with --resume, or when the output of an
 * earlier run exists (--overwrite), the ledger must be the one the job file (OUTPUT.job)
 * recorded, if any -- else -1 with err naming both (exit 2, nothing sent). The ledger is
 * recorded there from now on. */
int resume_check_ledger(resume *rs, const char *backend, const char *identity, const char *location, char *err,
                        size_t errlen);
/* For every row of this shard, in input order, before resume_row: steps the finished
 * results along. Returns 0, or -1 with err. */
int resume_advance(resume *rs, const record *rec, char *err, size_t errlen);
/* Fills j with the earlier outcome. Returns 1 when the row is kept as it was (decided, or
 * unknown), 0 when it is to be processed. */
int resume_row(resume *rs, job *j, char *err, size_t errlen);
/* 1 when every blocked channel of a claim is blocked by lost_job's claim or maybe-sent
 * record: the row may have gone out in that job, whose journal is missing (unknown). */
int resume_lost_claims(const resume *rs, const ledger_claim_item *it, unsigned blocked);
/* remove_journal: the job finished (or never started): the journal goes. */
void resume_close(resume *rs, int remove_journal);

#endif
