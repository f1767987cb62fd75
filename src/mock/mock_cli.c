/* mock_cli — parses ottu-mock's options into a mock_config and prints the usage text. */
#include "mock_cli.h"
#include "mock_faults.h"
#include "rules.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef OTTU_VERSION
#define OTTU_VERSION "dev"
#endif

void mock_cli_defaults(mock_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = MOCK_DEFAULT_PORT;
    cfg->api_key = "test-key";
    cfg->max_body = MOCK_DEFAULT_MAX_BODY;
    cfg->ambiguous_kinds = MOCK_LOST_ALL;
    cfg->stall_ms = MOCK_DEFAULT_STALL_MS;
    cfg->fail_channel_rate = 1.0;
    cfg->false200_rate = 1.0;
    cfg->daily_quota = -1;
}

void mock_cli_usage(FILE *out)
{
    fputs("Usage: ottu-mock [OPTIONS]\n"
          "A local stand-in for the Ottu Notifications API, listening on 127.0.0.1 only.\n"
          "Prints 'listening on http://127.0.0.1:PORT' first; SIGINT/SIGTERM stop it.\n"
          "\n"
          "  --port N              port on 127.0.0.1; 0 picks a free one (default 8080)\n"
          "  --api-key KEY         the key accepted in 'Authorization: Api-Key KEY' (default test-key)\n"
          "  --forbidden-key KEY   a key that authenticates but is answered 403\n"
          "  --transactions FILE   CSV: order_no, session_id, state, customer_email, customer_phone,\n"
          "                        notify_email, notify_sms, notify_whatsapp (states ';'-separated);\n"
          "                        without it every identifier exists, state paid, all channels on\n"
          "  --require-contact     with --transactions: a channel fails when the customer's email or\n"
          "                        phone cell is empty\n"
          "  --templates IDS       comma-separated template ids that exist (default: every id exists)\n"
          "  --deliveries FILE     append 'time,endpoint,identifier,channel,detail' per notification\n"
          "  --requests FILE       append 'time,method,path,status,body' per API request answered\n"
          "  --latency-ms N        delay every API answer by N ms\n"
          "  --jitter-ms N         plus a uniformly random 0..N ms\n"
          "  --fail-rate P         answer this fraction (0..1) with 503\n"
          "  --drop-rate P         close this fraction of connections without answering\n"
          "  --rate-limit N        answer 429 (Retry-After: 1) above N requests per second\n"
          "  --outage-ms N         answer 503 to everything for the first N ms\n"
          "  --ambiguous-rate P    deliver, then lose the answer of this fraction of requests\n"
          "  --ambiguous-kinds L   how: comma list of 500,502,504,drop,stall (default all)\n"
          "  --stall-ms N          how long a stall answers nothing before closing (default 120000)\n"
          "  --fail-channel CH     sms|email|whatsapp: fail CH in a message request, deliver the\n"
          "                        other channels, answer 400 {..., \"channels\": CH, \"result\": \"failed\"}\n"
          "  --fail-channel-rate P the fraction of requests naming CH that fail so (default 1)\n"
          "  --false-200 KIND      result-failed (200 {\"result\": \"failed\"}, nothing delivered), html\n"
          "                        (deliver, then a 200 HTML login page) or empty (deliver, empty 200)\n"
          "  --false-200-rate P    the fraction of successful requests so answered (default 1)\n"
          "  --echo-auth           401 details repeat the Authorization header the client sent\n"
          "  --daily-quota N       after N authenticated requests in a UTC day, 429 with Retry-After\n"
          "                        until the next UTC midnight\n"
          "  --seed N              makes the random faults repeatable\n"
          "  --threads N           HTTP worker threads (default: number of CPUs)\n"
          "  --max-body BYTES      larger request bodies get 413 (default 1048576)\n"
          "  -h, --help            this text\n"
          "  -V, --version         print the version\n"
          "\n"
          "GET /__mock/stats answers counters as JSON; POST /__mock/reset zeroes them;\n"
          "POST /__mock/quota-reset forgets the day's --daily-quota count.\n",
          out);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    long long v;
    if (rules_parse_int(s, strlen(s), &v) < 0 || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

/* A fraction 0..1; "5%" is accepted too because people write it that way. */
static int parse_fraction(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v))
        return -1;
    if (*end == '%' && end[1] == '\0') {
        v /= 100.0;
    } else if (*end) {
        return -1;
    }
    if (v < 0.0 || v > 1.0)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_PORT = 256, OPT_API_KEY, OPT_FORBIDDEN_KEY, OPT_TRANSACTIONS, OPT_DELIVERIES,
    OPT_TEMPLATES, OPT_LATENCY, OPT_JITTER, OPT_FAIL_RATE, OPT_DROP_RATE, OPT_RATE_LIMIT,
    OPT_OUTAGE, OPT_SEED, OPT_THREADS, OPT_MAX_BODY, OPT_REQUIRE_CONTACT, OPT_AMBIGUOUS_RATE,
    OPT_AMBIGUOUS_KINDS, OPT_STALL, OPT_FAIL_CHANNEL, OPT_FAIL_CHANNEL_RATE, OPT_FALSE200,
    OPT_FALSE200_RATE, OPT_ECHO_AUTH, OPT_DAILY_QUOTA, OPT_REQUESTS
};

int mock_cli_parse(int argc, char **argv, mock_config *cfg, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"forbidden-key", required_argument, NULL, OPT_FORBIDDEN_KEY},
        {"transactions", required_argument, NULL, OPT_TRANSACTIONS},
        {"deliveries", required_argument, NULL, OPT_DELIVERIES},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"templates", required_argument, NULL, OPT_TEMPLATES},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"jitter-ms", required_argument, NULL, OPT_JITTER},
        {"fail-rate", required_argument, NULL, OPT_FAIL_RATE},
        {"drop-rate", required_argument, NULL, OPT_DROP_RATE},
        {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
        {"outage-ms", required_argument, NULL, OPT_OUTAGE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"require-contact", no_argument, NULL, OPT_REQUIRE_CONTACT},
        {"ambiguous-rate", required_argument, NULL, OPT_AMBIGUOUS_RATE},
        {"ambiguous-kinds", required_argument, NULL, OPT_AMBIGUOUS_KINDS},
        {"stall-ms", required_argument, NULL, OPT_STALL},
        {"fail-channel", required_argument, NULL, OPT_FAIL_CHANNEL},
        {"fail-channel-rate", required_argument, NULL, OPT_FAIL_CHANNEL_RATE},
        {"false-200", required_argument, NULL, OPT_FALSE200},
        {"false-200-rate", required_argument, NULL, OPT_FALSE200_RATE},
        {"echo-auth", no_argument, NULL, OPT_ECHO_AUTH},
        {"daily-quota", required_argument, NULL, OPT_DAILY_QUOTA},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* A day is far beyond any client time-out; the caps keep arithmetic in range. */
    const long day_ms = 86400000L;
    long v;
    int c, idx = -1;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hV", opts, &idx)) != -1) {
        /* After "--opt VALUE" argv[optind - 1] is the value, so name options by index. */
        const char *bad = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
        switch (c) {
        case 'h':
            mock_cli_usage(stdout);
            return 1;
        case 'V':
            printf("ottu-mock %s\n", OTTU_VERSION);
            return 1;
        case OPT_PORT:
            if (parse_long(optarg, 0, 65535, &v)) goto bad_value;
            cfg->port = (unsigned)v;
            break;
        case OPT_API_KEY:
            if (!*optarg) goto bad_value;
            cfg->api_key = optarg;
            break;
        case OPT_FORBIDDEN_KEY:
            if (!*optarg) goto bad_value;
            cfg->forbidden_key = optarg;
            break;
        case OPT_TRANSACTIONS: cfg->transactions = optarg; break;
        case OPT_DELIVERIES: cfg->deliveries = optarg; break;
        case OPT_REQUESTS: cfg->requests = optarg; break;
        case OPT_TEMPLATES: cfg->templates = optarg; break;
        case OPT_LATENCY:
            if (parse_long(optarg, 0, day_ms, &cfg->latency_ms)) goto bad_value;
            break;
        case OPT_JITTER:
            if (parse_long(optarg, 0, day_ms, &cfg->jitter_ms)) goto bad_value;
            break;
        case OPT_OUTAGE:
            if (parse_long(optarg, 0, day_ms, &cfg->outage_ms)) goto bad_value;
            break;
        case OPT_FAIL_RATE:
            if (parse_fraction(optarg, &cfg->fail_rate)) goto bad_value;
            break;
        case OPT_DROP_RATE:
            if (parse_fraction(optarg, &cfg->drop_rate)) goto bad_value;
            break;
        case OPT_RATE_LIMIT:
            if (parse_long(optarg, 0, 100000000L, &cfg->rate_limit)) goto bad_value;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || *optarg == '-') goto bad_value;
            cfg->seed = s;
            cfg->seed_given = 1;
            break;
        }
        case OPT_THREADS:
            if (parse_long(optarg, 1, 256, &v)) goto bad_value;
            cfg->threads = (unsigned)v;
            break;
        case OPT_MAX_BODY:
            if (parse_long(optarg, 1, 1L << 30, &v)) goto bad_value;
            cfg->max_body = (size_t)v;
            break;
        case OPT_REQUIRE_CONTACT: cfg->require_contact = 1; break;
        case OPT_AMBIGUOUS_RATE:
            if (parse_fraction(optarg, &cfg->ambiguous_rate)) goto bad_value;
            break;
        case OPT_AMBIGUOUS_KINDS:
            if (mock_lost_parse(optarg, &cfg->ambiguous_kinds)) goto bad_value;
            break;
        case OPT_STALL:
            if (parse_long(optarg, 1, day_ms, &cfg->stall_ms)) goto bad_value;
            break;
        case OPT_FAIL_CHANNEL: {
            unsigned m = 0;
            char why[64];
            /* Exactly one channel: the failure shape names one. */
            if (rules_parse_channels(optarg, strlen(optarg), &m, why, sizeof why) || !m || (m & (m - 1)))
                goto bad_value;
            cfg->fail_channel = m;
            break;
        }
        case OPT_FAIL_CHANNEL_RATE:
            if (parse_fraction(optarg, &cfg->fail_channel_rate)) goto bad_value;
            break;
        case OPT_FALSE200:
            cfg->false200 = (int)mock_false200_parse(optarg);
            if (!cfg->false200) goto bad_value;
            break;
        case OPT_FALSE200_RATE:
            if (parse_fraction(optarg, &cfg->false200_rate)) goto bad_value;
            break;
        case OPT_ECHO_AUTH: cfg->echo_auth = 1; break;
        case OPT_DAILY_QUOTA:
            if (parse_long(optarg, 0, 1000000000L, &cfg->daily_quota)) goto bad_value;
            break;
        case ':':
            snprintf(err, errlen, "option %s needs a value (see --help)", bad);
            return -1;
        default:
            snprintf(err, errlen, "unknown option %s (see --help)", bad);
            return -1;
        }
        idx = -1;
        continue;
    bad_value:
        snprintf(err, errlen, "invalid value '%s' for --%s (see --help)", optarg,
                 idx >= 0 ? opts[idx].name : "?");
        return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (ottu-mock takes only options)", argv[optind]);
        return -1;
    }
    return 0;
}
