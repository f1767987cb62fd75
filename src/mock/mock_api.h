/* mock_api — what the three notification endpoints answer once a request has passed the
 * server's checks (route, auth, faults): parse, validate, look up, deliver, reply. */
#ifndef OTTU_MOCK_API_H
#define OTTU_MOCK_API_H

#include <pthread.h>
#include <stddef.h>

#include "mock_deliveries.h"
#include "mock_stats.h"
#include "mock_txn.h"

struct cJSON;

/* An HTTP answer with a JSON body. */
typedef struct mock_answer {
    unsigned status;         /* 0 = close the connection without answering */
    char *body;              /* malloc'd JSON text */
    size_t len;
    int retry_after;         /* seconds for a Retry-After header; 0 = none */
    const char *allow;       /* an Allow header (405), or NULL */
    int www_authenticate;    /* add "WWW-Authenticate: Api-Key" (401) */
    int close;               /* close the connection after answering */
} mock_answer;

typedef struct mock_api {
    const mock_txn_table *txns;   /* NULL: every identifier exists, paid, all channels on */
    mock_deliveries *deliveries;
    mock_stats *stats;
    char **templates;             /* template ids that exist; NULL = every id exists */
    size_t n_templates;
    int require_contact;
    pthread_mutex_t parse_lock;   /* cJSON's parser writes a global error position */
} mock_api;

int mock_api_init(mock_api *api, const mock_txn_table *txns, mock_deliveries *deliveries,
                  mock_stats *stats, const char *templates, int require_contact);
void mock_api_destroy(mock_api *api);
/* Handles a POST to a notification endpoint. path_channel is the {channel} of
 * /notifications/send/{channel}/ (NULL otherwise). Fills ans (never fails: out of memory
 * becomes a 500). */
void mock_api_notify(mock_api *api, mock_endpoint ep, const char *path_channel, const char *body,
                     size_t len, mock_answer *ans);

/* {"detail": detail} with the status. */
void mock_answer_detail(mock_answer *ans, unsigned status, const char *detail);
/* The status with obj as body; takes ownership of obj. */
void mock_answer_json(mock_answer *ans, unsigned status, struct cJSON *obj);
void mock_answer_free(mock_answer *ans);

#endif
