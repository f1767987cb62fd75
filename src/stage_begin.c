/* stage_begin — begin records for the rows about to start, a group at a time (issue 28). */
#include "stage_begin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stage_begin {
    queue *q;
    journal *jn;
    pthread_t thread;
};

static void *run(void *arg)
{
    stage_begin *s = arg;
    job *rows[JOURNAL_BEGIN_MAX], *todo[JOURNAL_BEGIN_MAX];
    size_t n;
    while ((n = queue_take(s->q, rows, JOURNAL_BEGIN_MAX)) > 0) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!rows[i]->lookup && !rows[i]->begun) /* --verify's reads are not sends */
                todo[m++] = rows[i];
        /* A failed write or sync leaves the rows not begun: the worker's own begin then
         * fails too, and stops the job without sending them. */
        if (m)
            journal_begin_many(s->jn, todo, m);
        queue_ready(s->q, rows, n);
    }
    return NULL;
}

stage_begin *stage_begin_start(queue *q, journal *jn, size_t limit, char *err, size_t errlen)
{
    stage_begin *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->q = q;
    s->jn = jn;
    queue_stage(q, limit);
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0) {
        queue_stage(q, 0);
        snprintf(err, errlen, "cannot start the journal's begin thread: %s", strerror(rc));
        free(s);
        return NULL;
    }
    return s;
}

void stage_begin_join(stage_begin *s)
{
    if (!s)
        return;
    pthread_join(s->thread, NULL);
    free(s);
}
