/* confirm — the question asked before real sends at a terminal ("type yes to send"), and
 * the count of what would be sent that it shows. */
#ifndef OTTU_CONFIRM_H
#define OTTU_CONFIRM_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "columns.h"
#include "request.h"
#include "resume.h"

/* 1 when the question must be asked: the input is a file, stdin and stderr are terminals,
 * and neither --yes nor --dry-run was given. Never asked without a terminal (cron). */
int confirm_needed(const config *cfg);
/* Reads the input once, as the job will: the rows of this shard that are valid and not
 * duplicates, and their channels (sms, email, whatsapp). The ledger's cooldown and --resume
 * may still skip some, so these are at most what will be sent. 0, or -1 with err. */
int confirm_count(const config *cfg, const columns *cols, const request_opts *ro, long *rows,
                  long channels[3], char *err, size_t errlen);
/* The same for --resume, once rs is open: only the rows left to send, not those an
 * earlier run of the job decided (its journal, or its finished results). rs NULL =
 * confirm_count. */
int confirm_count_left(const config *cfg, const columns *cols, const request_opts *ro, resume *rs, long *rows,
                       long channels[3], char *err, size_t errlen);
/* Writes "About to send N notifications (sms a, email b, whatsapp c) for M rows to
 * https://host — type yes to send: " to out and reads one line from in. 1 only for "yes"
 * (surrounding spaces ignored, lower case exactly); 0 for anything else, end of input, or
 * SIGINT/SIGTERM pending while waiting (they are blocked in every thread, so a pending
 * one is how Ctrl-C shows here). The URL is shown as scheme://host[:port], never with a
 * user or password in it. */
int confirm_send(FILE *in, FILE *out, long rows, const long channels[3], const char *base_url);

#endif
