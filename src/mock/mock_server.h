/* mock_server — ottu-mock's HTTP side on libmicrohttpd: routing, the checks made before a
 * body is read (faults, auth, rate limit, method, media type, size), body collection and
 * delayed answers via suspend/resume. */
#ifndef OTTU_MOCK_SERVER_H
#define OTTU_MOCK_SERVER_H

#include <stddef.h>

#include "mock_api.h"
#include "mock_cli.h"
#include "mock_faults.h"
#include "mock_quota.h"
#include "mock_stats.h"
#include "mock_timer.h"

struct MHD_Daemon;

typedef struct mock_server {
    const mock_config *cfg;
    mock_api *api;
    mock_faults *faults;
    mock_stats *stats;
    mock_timer timer;
    mock_quota quota;       /* --daily-quota */
    struct MHD_Daemon *daemon;
    int listen_fd;          /* kept after quiescing, closed once the daemon has stopped */
    unsigned port;          /* the port actually bound */
} mock_server;

/* Binds 127.0.0.1:cfg->port and starts serving on a thread pool. Returns 0, or -1 with err. */
int mock_server_start(mock_server *s, const mock_config *cfg, mock_api *api, mock_faults *faults,
                      mock_stats *stats, char *err, size_t errlen);
/* Stops accepting, answers every delayed request at once, then stops the threads. */
void mock_server_stop(mock_server *s);

#endif
