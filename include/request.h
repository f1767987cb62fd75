/* request — turns one input record into a validated API request (endpoint, JSON body,
 * channels, identifiers), or says exactly why the row is invalid. Pure: no network. */
#ifndef OTTU_REQUEST_H
#define OTTU_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "columns.h"
#include "reader.h"

#define REQUEST_MAX_ATTACHMENT (5u << 20) /* bytes per attached file */

typedef struct request_opts {
    job_mode mode;
    unsigned default_channels;  /* --channels, for an empty channels cell (message mode) */
    int per_channel_endpoint;   /* template mode: /notifications/send/{channel}/ */
    const char *job_id;         /* stable across resumes; seeds derived trace_ids */
    const char *attach_dir;     /* attachments must resolve inside this folder (absolute, no
                                   trailing slash); NULL = attachments refused */
} request_opts;

typedef struct request {
    int valid;
    char detail[640];     /* invalid: why; valid: notes such as dropped channels */
    unsigned channels;    /* channels requested (message) or the one channel (template) */
    char path[64];        /* endpoint path below the base URL */
    char *body;           /* JSON body, NUL-terminated */
    size_t bodylen, bodycap;
    uint64_t fingerprint; /* equal fingerprints = the same request */
    int attachments;      /* the body still lacks its attachments (request_load_attachments) */
    char ident[260];      /* shard identifier: order_no, else session_id (Unicode-trimmed);
                             template: normalised to (phone digits, email lower-cased) */
    char ledger_key[400]; /* ledger identifier: as ident; template: channel|template_id|to */
    char log_ident[96];   /* identifier for logs, with phone numbers/emails masked */
    unsigned id_kinds;    /* message mode: which identifiers the row gives (REQUEST_ID_*) */
} request;

enum { REQUEST_ID_ORDER_NO = 1, REQUEST_ID_SESSION_ID = 2 };

void request_init(request *r);
void request_free(request *r);

/* Validates rec (a data row), then renders its body once. drop removes channels (e.g. those
 * the ledger says were sent recently) from what is sent, not from the fingerprint. No I/O:
 * a template row's attachments are left out of the body (out->attachments is set) until
 * request_load_attachments. Returns 0 when valid, 1 when the row is invalid (detail says
 * why), -1 when out of memory. */
int request_build(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                  request *out);
/* Reads the files a valid template row attaches (only beside the input: o->attach_dir) and
 * adds them to its body. Call it only for rows that will be sent (or dry-run), after
 * dedupe and the ledger. A no-op without attachments. Returns 0, 1 when a file cannot be
 * attached (the request becomes invalid, detail says why), -1 when out of memory. */
int request_load_attachments(request *r, const columns *c, const record *rec, const request_opts *o);

/* The endpoint path the job sends to (the preflight GET checks it). */
const char *request_endpoint(const request_opts *o);

/* Base64 (RFC 4648) of len bytes into out (size >= 4 * ((len + 2) / 3) + 1). */
size_t request_base64(const unsigned char *in, size_t len, char *out);

#endif
