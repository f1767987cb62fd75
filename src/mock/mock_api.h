/* mock_api — what the three notification endpoints answer once a request has passed the
 * server's checks (route, auth, faults): parse, validate, look up, deliver, reply. */
#ifndef OTTU_MOCK_API_H
#define OTTU_MOCK_API_H

#include <pthread.h>
#include <stddef.h>

#include "mock_deliveries.h"
#include "mock_faults.h"
#include "mock_stats.h"
#include "mock_txn.h"

struct cJSON;

/* An HTTP answer, JSON unless content_type says otherwise. */
typedef struct mock_answer {
    unsigned status;         /* 0 = close the connection without answering */
    char *body;              /* malloc'd text (JSON unless content_type is set) */
    size_t len;
    const char *content_type; /* NULL = application/json */
    int retry_after;         /* seconds for a Retry-After header; 0 = none */
    const char *allow;       /* an Allow header (405), or NULL */
    int www_authenticate;    /* add "WWW-Authenticate: Api-Key" (401) */
    int close;               /* close the connection after answering */
} mock_answer;

typedef struct mock_api {
    const mock_txn_table *txns;   /* NULL: every identifier exists, paid, all channels on */
    mock_deliveries *deliveries;
    mock_deliveries *requests;    /* --requests log (the server writes it); fd -1 = none */
    mock_stats *stats;
    char **templates;             /* template ids that exist; NULL = every id exists */
    size_t n_templates;
    int require_contact;
    pthread_mutex_t parse_lock;   /* cJSON's parser writes a global error position */
} mock_api;

int mock_api_init(mock_api *api, const mock_txn_table *txns, mock_deliveries *deliveries,
                  mock_stats *stats, const char *templates, int require_contact);
void mock_api_destroy(mock_api *api);
/* What the injected faults ask of one request's processing. */
typedef struct mock_plan {
    unsigned fail_channel;         /* message: fail this channel bit, deliver the others */
    mock_false200_kind false200;   /* answer a successful request with this 200 */
} mock_plan;

/* Handles a POST to a notification endpoint. path_channel is the {channel} of
 * /notifications/send/{channel}/ (NULL otherwise); plan may be NULL (no faults). Fills ans
 * (never fails: out of memory becomes a 500). */
void mock_api_notify(mock_api *api, mock_endpoint ep, const char *path_channel, const char *body,
                     size_t len, const mock_plan *plan, mock_answer *ans);

/* GET /b/checkout/v1/pymt-txn/{session_id}/ (tail = what follows pymt-txn/): the
 * transaction as Ottu's Checkout API shows it (CheckoutGETResponse: session_id, order_no,
 * state, notifications, customer_email, customer_phone), or 404. */
void mock_api_lookup(mock_api *api, const char *tail, mock_answer *ans);

/* {"detail": detail} with the status. */
void mock_answer_detail(mock_answer *ans, unsigned status, const char *detail);
/* The status with obj as body; takes ownership of obj. */
void mock_answer_json(mock_answer *ans, unsigned status, struct cJSON *obj);
/* The status with a copy of text as body, of the given Content-Type. */
void mock_answer_text(mock_answer *ans, unsigned status, const char *content_type, const char *text);
void mock_answer_free(mock_answer *ans);

#endif
