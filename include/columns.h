/* columns — maps a CSV header to the columns the tool understands (pure). */
#ifndef OTTU_COLUMNS_H
#define OTTU_COLUMNS_H

#include <stddef.h>

#include "reader.h"

typedef enum { MODE_AUTO = -1, MODE_MESSAGE = 0, MODE_TEMPLATE = 1 } job_mode;

typedef enum {
    COL_EXTRA = 0, /* carried through unchanged */
    COL_RESULT,    /* result_* from an earlier run: ignored */
    COL_ORDER_NO,
    COL_SESSION_ID,
    COL_CHANNELS,  /* message mode: channels/channel; template mode: channel */
    COL_STATE,
    COL_TEMPLATE_ID,
    COL_TO,
    COL_LANGUAGE,
    COL_UNIT_CONFIG,
    COL_SUBJECT,
    COL_BODY,
    COL_CC,
    COL_BCC,
    COL_TRACE_ID,
    COL_TAGS,
    COL_ATTACHMENTS,
    COL_CONTEXT,   /* context.NAME: one per column, may repeat */
    COL_ROLE_COUNT
} col_role;

typedef struct columns {
    size_t n;                 /* fields in the header */
    col_role *role;           /* role of each input column */
    char **name;              /* original header names */
    char **context_name;      /* NAME of context.NAME columns, else NULL */
    int idx[COL_ROLE_COUNT];  /* input column of each single-use role, or -1 */
    size_t *out;              /* input columns written to the output, in order */
    size_t nout;
    job_mode mode;
} columns;

/* Interprets the header. mode MODE_AUTO picks template mode when a template_id column
 * exists. maps: nmaps --map strings 'HEADER=name', each reading the column HEADER (matched
 * as recognised names are) as the recognised name (or context.NAME); c->name keeps the
 * original header. Returns 0, or -1 with err (two columns for one name, no identifier
 * column, a map whose header is missing or whose name is not recognised ...). */
int columns_parse(columns *c, const record *header, job_mode mode, const char **maps, int nmaps, char *err,
                  size_t errlen);
/* Reads the input's header row from in and interprets it (columns_parse), then checks
 * what the header must hold for the job: a channels column unless default_channels
 * (message mode), message mode for verify. input names the file in messages ("-" =
 * standard input). Returns 0, or -1 with err. */
int columns_read_header(columns *c, reader *in, const char *input, job_mode mode, const char **maps, int nmaps,
                        unsigned default_channels, int verify, char *err, size_t errlen);
void columns_free(columns *c);
const char *columns_role_name(col_role r);

#endif
