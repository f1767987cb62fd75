/* ottu-mock — a local stand-in for the Ottu Notifications API. main() wires the pieces
 * together: options -> transactions -> deliveries log -> faults -> HTTP server, then waits
 * for SIGINT/SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mock_api.h"
#include "mock_cli.h"
#include "mock_deliveries.h"
#include "mock_faults.h"
#include "mock_server.h"
#include "mock_stats.h"
#include "mock_timer.h"
#include "mock_txn.h"

static int fail(const char *msg)
{
    fprintf(stderr, "ottu-mock: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    mock_config cfg;
    char err[512];
    sigset_t stop_signals;
    int sig = 0;

    mock_cli_defaults(&cfg);
    int rc = mock_cli_parse(argc, argv, &cfg, err, sizeof err);
    if (rc > 0)
        return 0;
    if (rc < 0)
        return fail(err);

    /* Blocked before any thread starts, so every thread inherits the mask and the signals
     * are taken only by sigwait below. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    mock_txn_table txns;
    if (cfg.transactions && mock_txn_load(&txns, cfg.transactions, err, sizeof err) != 0)
        return fail(err);

    mock_deliveries deliveries;
    if (mock_deliveries_open(&deliveries, cfg.deliveries, err, sizeof err) != 0) {
        if (cfg.transactions)
            mock_txn_free(&txns);
        return fail(err);
    }

    mock_deliveries requests;
    if (mock_deliveries_open(&requests, cfg.requests, err, sizeof err) != 0) {
        mock_deliveries_close(&deliveries);
        if (cfg.transactions)
            mock_txn_free(&txns);
        return fail(err);
    }

    long long now = mock_now_ms();
    uint64_t seed = cfg.seed_given ? cfg.seed
                                   : (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    mock_stats stats;
    mock_faults faults;
    mock_api api;
    mock_server server;
    mock_stats_init(&stats, now);
    rc = 2;
    if (mock_faults_init(&faults, cfg.latency_ms, cfg.jitter_ms, cfg.outage_ms, cfg.rate_limit,
                         cfg.fail_rate, cfg.drop_rate, seed, now) != 0) {
        fail("cannot initialise the fault injector");
        goto out_deliveries;
    }
    mock_answer_faults answer_faults = {
        cfg.ambiguous_rate, cfg.ambiguous_kinds, cfg.fail_channel, cfg.fail_channel_rate,
        (mock_false200_kind)cfg.false200, cfg.false200_rate,
    };
    mock_faults_set_answer(&faults, &answer_faults);
    if (mock_api_init(&api, cfg.transactions ? &txns : NULL, &deliveries, &stats, cfg.templates,
                      cfg.require_contact) != 0) {
        fail("out of memory");
        goto out_faults;
    }
    api.requests = &requests;
    if (mock_server_start(&server, &cfg, &api, &faults, &stats, err, sizeof err) != 0) {
        fail(err);
        goto out_api;
    }

    printf("listening on http://127.0.0.1:%u\n", server.port);
    fflush(stdout);

    while (sigwait(&stop_signals, &sig) != 0)
        ;
    mock_server_stop(&server);
    rc = 0;
out_api:
    mock_api_destroy(&api);
out_faults:
    mock_faults_destroy(&faults);
out_deliveries:
    mock_deliveries_close(&requests);
    mock_deliveries_close(&deliveries);
    if (cfg.transactions)
        mock_txn_free(&txns);
    return rc;
}
