/* mock_cli — ottu-mock's command-line options: parsing and the usage text. */
#ifndef OTTU_MOCK_CLI_H
#define OTTU_MOCK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MOCK_DEFAULT_PORT 8080
#define MOCK_DEFAULT_MAX_BODY (1024u * 1024u)
#define MOCK_DEFAULT_STALL_MS 120000L

typedef struct mock_config {
    unsigned port;              /* 0 = any free port */
    const char *api_key;        /* the key answered 200 */
    const char *forbidden_key;  /* a key that authenticates but is answered 403; NULL = none */
    const char *transactions;   /* CSV path or NULL */
    const char *deliveries;     /* CSV path or NULL */
    const char *requests;       /* CSV path of the request log, or NULL */
    const char *templates;      /* comma-separated template ids that exist; NULL = all exist */
    long latency_ms, jitter_ms, outage_ms;
    double fail_rate, drop_rate;
    long rate_limit;            /* requests per second, 0 = unlimited */
    uint64_t seed;
    int seed_given;
    unsigned threads;           /* MHD thread-pool size, 0 = number of CPUs */
    size_t max_body;
    int require_contact;        /* fail a channel whose customer contact cell is empty */
    double ambiguous_rate;      /* deliver, then lose the answer */
    unsigned ambiguous_kinds;   /* bits 1 << mock_lost_kind */
    long stall_ms;              /* how long a "stall" lasts */
    unsigned fail_channel;      /* RULES_* bit, 0 = none */
    double fail_channel_rate;
    int false200;               /* mock_false200_kind */
    double false200_rate;
    int echo_auth;              /* 401 details repeat the Authorization header */
    long daily_quota;           /* requests per UTC day, -1 = none */
} mock_config;

/* Fills cfg with the defaults. */
void mock_cli_defaults(mock_config *cfg);
/* Parses argv into cfg. Returns 0 to run, 1 when help/version was printed (exit 0), or
 * -1 with err set (exit 2). */
int mock_cli_parse(int argc, char **argv, mock_config *cfg, char *err, size_t errlen);
void mock_cli_usage(FILE *out);

#endif
