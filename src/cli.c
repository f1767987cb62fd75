/* cli — parses options (contract.md) into a config; reads the key file safely. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "units.h"
#include "rules.h"

void cli_usage(FILE *out)
{
    fputs("usage: ottu-resend [OPTIONS] INPUT.csv        (INPUT may be - for standard input)\n"
          "       ottu-resend ledger stats|prune --older-than D LEDGER.db\n"
          "Resends Ottu notifications (SMS, email, WhatsApp) for every row of a CSV, at most once per\n"
          "customer and channel. The key is never an option: --api-key-file, $OTTU_API_KEY_FILE,\n"
          "systemd's $CREDENTIALS_DIRECTORY/ottu-api-key, then $OTTU_API_KEY.\n"
          "  --base-url URL          merchant URL, e.g. https://merchant.ottu.net ($OTTU_BASE_URL)\n"
          "  --api-key-file PATH     key file; refused if others (or the group, except on a read-only\n"
          "                          mount) can read it.   --cacert PATH   --no-preflight\n"
          "  --http2                 HTTPS requests multiplexed over shared HTTP/2 connections\n"
          "                          (for -j in the hundreds)\n"
          "  -j, --concurrency N     in flight (8); -r, --rate R per second, 0 = unlimited (10); --burst N\n"
          "  --max-attempts N (5)  --backoff-base-ms 500  --backoff-max-ms 30000  --timeout S (30)\n"
          "  --retry-ambiguous       also retry answers lost after sending (MAY NOTIFY TWICE)\n"
          "  --verify[=strict]       read each session_id row's transaction first (one GET each):\n"
          "                          skip drifted states, drop channels it does not enable; strict:\n"
          "                          rows without session_id invalid. --verify-accept-current: send\n"
          "                          a drifted row for the transaction's current state\n"
          "  --daily-budget N        requests per UTC day for this URL and key, shared via the ledger\n"
          "                          (45000 = half of Ottu's quota; 0 = none)\n"
          "  --max-pause S           a Retry-After longer than S stops the job (300)\n"
          "  --limit N               canary: send N rows, then stop; --resume sends the rest\n"
          "  --ledger PATH|URL       SQLite file or postgresql://... ($OTTU_LEDGER, else\n"
          "                          $XDG_STATE_HOME/ottu-resend/ledger.db); --no-ledger: none\n"
          "  --cooldown D            skip channels sent within D (90m, 24h, 7d; 0 = never; 24h)\n"
          "  --resume                continue a stopped job; --resend-unknown: resend lost outcomes\n"
          "  --overwrite             replace a finished job's results   --dry-run  send nothing\n"
          "  -o, --output PATH       result CSV (INPUT.results.csv; - = stdout); --failures PATH\n"
          "  --mode message|template --per-channel-endpoint --channels LIST --delimiter C --shard K/N\n"
          "  --encoding NAME  --map 'HEADER=name'  --excel  --xlsx PATH  --yes  --progress auto|always|never\n"
          "  --summary-json PATH     summary: counts, failed channels, failure reasons, stopped_by\n"
          "  --metrics-file PATH     Prometheus textfile metrics; --job-name NAME (input's base name)\n"
          "  -q, --quiet  -v, --verbose  -V, --version  -h, --help\n"
          "Examples:\n"
          "  OTTU_API_KEY=... ottu-resend --base-url https://m.ottu.net --dry-run failed.csv\n"
          "  ottu-resend --base-url https://m.ottu.net --api-key-file ~/.ottu-key --limit 20 failed.csv\n"
          "  ottu-resend --resume --base-url https://m.ottu.net failed.csv   # after 4, 130 or a crash\n"
          "Exit: 0 all done, 1 some rows failed/invalid/unknown, 2 usage/input error (nothing sent),\n"
          "3 key rejected, 4 stopped by a limit (quota, budget, --limit): resume later with --resume\n"
          "(cron: resume on the next run), 130 interrupted (--resume). See man ottu-resend.\n",
          out);
}

enum {
    OPT_BASE_URL = 256, OPT_KEY_FILE, OPT_FAILURES, OPT_BURST, OPT_MAX_ATTEMPTS, OPT_BACKOFF_BASE,
    OPT_BACKOFF_MAX, OPT_TIMEOUT, OPT_DRY_RUN, OPT_RESUME, OPT_RESEND_UNKNOWN, OPT_MODE, OPT_PER_CHANNEL,
    OPT_CHANNELS, OPT_DELIMITER, OPT_SHARD, OPT_SUMMARY_JSON, OPT_PROGRESS, OPT_EXCEL, OPT_XLSX,
    OPT_LEDGER, OPT_COOLDOWN, OPT_CACERT, OPT_API_KEY, OPT_NO_LEDGER, OPT_OVERWRITE, OPT_RETRY_AMBIGUOUS,
    OPT_NO_PREFLIGHT, OPT_HTTP2, OPT_MAX_PAUSE, OPT_DAILY_BUDGET, OPT_LIMIT, OPT_ENCODING, OPT_MAP, OPT_YES,
    OPT_METRICS_FILE, OPT_JOB_NAME, OPT_VERIFY, OPT_VERIFY_ACCEPT_CURRENT
};

static const struct option longopts[] = {
    {"base-url", required_argument, 0, OPT_BASE_URL},
    {"api-key-file", required_argument, 0, OPT_KEY_FILE},
    {"api-key", required_argument, 0, OPT_API_KEY},
    {"output", required_argument, 0, 'o'},
    {"failures", required_argument, 0, OPT_FAILURES},
    {"concurrency", required_argument, 0, 'j'},
    {"rate", required_argument, 0, 'r'},
    {"burst", required_argument, 0, OPT_BURST},
    {"max-attempts", required_argument, 0, OPT_MAX_ATTEMPTS},
    {"backoff-base-ms", required_argument, 0, OPT_BACKOFF_BASE},
    {"backoff-max-ms", required_argument, 0, OPT_BACKOFF_MAX},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"dry-run", no_argument, 0, OPT_DRY_RUN},
    {"resume", no_argument, 0, OPT_RESUME},
    {"resend-unknown", no_argument, 0, OPT_RESEND_UNKNOWN},
    {"mode", required_argument, 0, OPT_MODE},
    {"per-channel-endpoint", no_argument, 0, OPT_PER_CHANNEL},
    {"channels", required_argument, 0, OPT_CHANNELS},
    {"delimiter", required_argument, 0, OPT_DELIMITER},
    {"shard", required_argument, 0, OPT_SHARD},
    {"summary-json", required_argument, 0, OPT_SUMMARY_JSON},
    {"progress", required_argument, 0, OPT_PROGRESS},
    {"excel", no_argument, 0, OPT_EXCEL},
    {"xlsx", required_argument, 0, OPT_XLSX},
    {"ledger", required_argument, 0, OPT_LEDGER},
    {"cooldown", required_argument, 0, OPT_COOLDOWN},
    {"cacert", required_argument, 0, OPT_CACERT},
    {"no-ledger", no_argument, 0, OPT_NO_LEDGER},
    {"overwrite", no_argument, 0, OPT_OVERWRITE},
    {"retry-ambiguous", no_argument, 0, OPT_RETRY_AMBIGUOUS},
    {"no-preflight", no_argument, 0, OPT_NO_PREFLIGHT},
    {"http2", no_argument, 0, OPT_HTTP2},
    {"verify", optional_argument, 0, OPT_VERIFY},
    {"verify-accept-current", no_argument, 0, OPT_VERIFY_ACCEPT_CURRENT},
    {"max-pause", required_argument, 0, OPT_MAX_PAUSE},
    {"daily-budget", required_argument, 0, OPT_DAILY_BUDGET},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"encoding", required_argument, 0, OPT_ENCODING},
    {"map", required_argument, 0, OPT_MAP},
    {"yes", no_argument, 0, OPT_YES},
    {"metrics-file", required_argument, 0, OPT_METRICS_FILE},
    {"job-name", required_argument, 0, OPT_JOB_NAME},
    {"quiet", no_argument, 0, 'q'},
    {"verbose", no_argument, 0, 'v'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

/* The long name of an option, for messages ("concurrency" for -j). */
static const char *option_name(int c)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

static const char *option_hint(int c)
{
    switch (c) {
    case 'j': return " (1..1024)";
    case 'r': return " (requests per second, decimals allowed, 0 = unlimited)";
    case OPT_COOLDOWN: return " (a duration such as 90m, 24h, 7d; 0 = never skip)";
    case OPT_SHARD: return " (K/N with 0 <= K < N, e.g. 0/4)";
    case OPT_MODE: return " (message or template)";
    case OPT_PROGRESS: return " (auto, always or never)";
    case OPT_DELIMITER: return " (one of , ; | or tab)";
    case OPT_TIMEOUT: return " (seconds, e.g. 30 or 2.5)";
    case OPT_MAX_PAUSE: return " (seconds, e.g. 300)";
    case OPT_DAILY_BUDGET: return " (requests per UTC day, 0 = no budget)";
    case OPT_LIMIT: return " (rows to send at most, >= 1)";
    case OPT_MAP: return " (HEADER=name, e.g. 'Merchant Ref=order_no')";
    case OPT_VERIFY: return " (--verify, or --verify=strict)";
    default: return "";
    }
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    long long v;
    if (rules_parse_int(s, strlen(s), &v) < 0 || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse(int argc, char **argv, config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->concurrency = 8;
    cfg->rate = 10;
    cfg->burst = 1;
    cfg->max_attempts = 5;
    cfg->backoff_base_ms = 500;
    cfg->backoff_max_ms = 30000;
    cfg->timeout_s = 30;
    cfg->mode = MODE_AUTO;
    cfg->progress = PROGRESS_AUTO;
    cfg->cooldown_ms = 24LL * 3600 * 1000;
    cfg->verbosity = 1;
    cfg->max_pause_ms = CLI_DEFAULT_MAX_PAUSE_MS;
    cfg->daily_budget = CLI_DEFAULT_DAILY_BUDGET;
    const char *output = NULL;
    long v;
    double d;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:j:r:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BASE_URL: cfg->base_url = optarg; break;
        case OPT_KEY_FILE: cfg->api_key_file = optarg; break;
        case OPT_API_KEY:
            snprintf(err, errlen, "--api-key is not accepted: a key on the command line is visible to "
                                  "every user (ps); use $OTTU_API_KEY or --api-key-file");
            return -1;
        case 'o': output = optarg; break;
        case OPT_FAILURES: cfg->failures = optarg; break;
        case 'j':
            if (parse_long(optarg, 1, 1024, &v) < 0)
                goto bad;
            cfg->concurrency = (int)v;
            break;
        case 'r':
            if (parse_double(optarg, 0, 1e6, &d) < 0)
                goto bad;
            cfg->rate = d;
            break;
        case OPT_BURST:
            if (parse_long(optarg, 1, 100000, &v) < 0)
                goto bad;
            cfg->burst = (unsigned)v;
            break;
        case OPT_MAX_ATTEMPTS:
            if (parse_long(optarg, 1, 100, &v) < 0)
                goto bad;
            cfg->max_attempts = (int)v;
            break;
        case OPT_BACKOFF_BASE:
            if (parse_long(optarg, 0, 3600000, &v) < 0)
                goto bad;
            cfg->backoff_base_ms = v;
            break;
        case OPT_BACKOFF_MAX:
            if (parse_long(optarg, 0, 3600000, &v) < 0)
                goto bad;
            cfg->backoff_max_ms = v;
            break;
        case OPT_TIMEOUT:
            if (parse_double(optarg, 0.001, 3600, &d) < 0)
                goto bad;
            cfg->timeout_s = d;
            break;
        case OPT_DRY_RUN: cfg->dry_run = 1; break;
        case OPT_RESUME: cfg->resume = 1; break;
        case OPT_RESEND_UNKNOWN: cfg->resend_unknown = 1; break;
        case OPT_MODE:
            if (strcmp(optarg, "message") == 0)
                cfg->mode = MODE_MESSAGE;
            else if (strcmp(optarg, "template") == 0)
                cfg->mode = MODE_TEMPLATE;
            else
                goto bad;
            break;
        case OPT_PER_CHANNEL: cfg->per_channel_endpoint = 1; break;
        case OPT_CHANNELS: {
            char why[200];
            if (rules_parse_channels(optarg, strlen(optarg), &cfg->default_channels, why, sizeof why) < 0) {
                snprintf(err, errlen, "--channels: %s", why);
                return -1;
            }
            break;
        }
        case OPT_DELIMITER:
            if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\\t") == 0)
                cfg->delimiter = '\t';
            else if (strlen(optarg) == 1 && strchr(",;\t|", optarg[0]))
                cfg->delimiter = optarg[0];
            else
                goto bad;
            break;
        case OPT_SHARD: {
            unsigned long k, n;
            char *end;
            k = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '/')
                goto bad;
            const char *ns = end + 1;
            n = strtoul(ns, &end, 10);
            if (end == ns || *end || n < 1 || n > 100000 || k >= n)
                goto bad;
            cfg->shard_k = (unsigned)k;
            cfg->shard_n = (unsigned)n;
            break;
        }
        case OPT_SUMMARY_JSON: cfg->summary_json = optarg; break;
        case OPT_PROGRESS:
            if (strcmp(optarg, "auto") == 0)
                cfg->progress = PROGRESS_AUTO;
            else if (strcmp(optarg, "always") == 0)
                cfg->progress = PROGRESS_ALWAYS;
            else if (strcmp(optarg, "never") == 0)
                cfg->progress = PROGRESS_NEVER;
            else
                goto bad;
            break;
        case OPT_EXCEL: cfg->excel = 1; break;
        case OPT_XLSX: cfg->xlsx = optarg; break;
        case OPT_LEDGER: cfg->ledger = optarg; break;
        case OPT_COOLDOWN:
            if (units_parse_duration(optarg, &cfg->cooldown_ms) < 0)
                goto bad;
            break;
        case OPT_CACERT: cfg->cacert = optarg; break;
        case OPT_NO_LEDGER: cfg->no_ledger = 1; break;
        case OPT_OVERWRITE: cfg->overwrite = 1; break;
        case OPT_RETRY_AMBIGUOUS: cfg->retry_ambiguous = 1; break;
        case OPT_NO_PREFLIGHT: cfg->no_preflight = 1; break;
        case OPT_HTTP2: cfg->http2 = 1; break;
        case OPT_VERIFY:
            if (!optarg)
                cfg->verify = 1;
            else if (strcmp(optarg, "strict") == 0)
                cfg->verify = 2;
            else
                goto bad;
            break;
        case OPT_VERIFY_ACCEPT_CURRENT: cfg->verify_accept_current = 1; break;
        case OPT_MAX_PAUSE:
            if (parse_double(optarg, 0, 7 * 86400, &d) < 0)
                goto bad;
            cfg->max_pause_ms = (int64_t)(d * 1000);
            break;
        case OPT_DAILY_BUDGET:
            if (parse_long(optarg, 0, 1000000000L, &v) < 0)
                goto bad;
            cfg->daily_budget = v;
            break;
        case OPT_LIMIT:
            if (parse_long(optarg, 1, 1000000000L, &v) < 0)
                goto bad;
            cfg->limit = v;
            break;
        case OPT_ENCODING: cfg->encoding = optarg; break;
        case OPT_MAP: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1])
                goto bad;
            const char **m = realloc(cfg->maps, (size_t)(cfg->nmaps + 1) * sizeof *m);
            if (!m) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            cfg->maps = m;
            cfg->maps[cfg->nmaps++] = optarg;
            break;
        }
        case OPT_YES: cfg->yes = 1; break;
        case OPT_METRICS_FILE: cfg->metrics_file = optarg; break;
        case OPT_JOB_NAME: cfg->job_name = optarg; break;
        case 'q': cfg->verbosity = 0; break;
        case 'v': cfg->verbosity = 2; break;
        case 'h': cli_usage(stdout); return 1;
        case 'V': printf("ottu-resend %s\n", OTTU_VERSION); return 1;
        case ':':
            snprintf(err, errlen, "option %s needs a value", argv[optind - 1]);
            return -1;
        default: {
            /* Name the option only: "--api=sk-..." must not echo a key into logs. */
            const char *bad = argv[optind - 1];
            int n = (int)strcspn(bad, "=");
            if (optopt && optopt < 256 && bad[0] == '-' && bad[1] != '-')
                snprintf(err, errlen, "unknown option -%c (see --help)", optopt);
            else
                snprintf(err, errlen, "unknown option %.*s (see --help)", n > 60 ? 60 : n, bad);
            return -1;
        }
        }
    }
    if (optind != argc - 1) {
        snprintf(err, errlen, optind >= argc ? "no input file given (see --help)"
                                             : "one input file expected, got several (see --help)");
        return -1;
    }
    cfg->input = argv[optind];
    if (!cfg->base_url)
        cfg->base_url = getenv("OTTU_BASE_URL");
    if (cfg->resend_unknown && !cfg->resume) {
        snprintf(err, errlen, "--resend-unknown only makes sense with --resume");
        return -1;
    }
    if (cfg->verify_accept_current && !cfg->verify) {
        snprintf(err, errlen, "--verify-accept-current only makes sense with --verify");
        return -1;
    }
    if (cfg->verify && cfg->http2) {
        snprintf(err, errlen, "--verify and --http2 cannot be combined yet: the lookups run on the worker threads");
        return -1;
    }
    if (cfg->no_ledger && cfg->ledger) {
        snprintf(err, errlen, "--ledger and --no-ledger contradict each other: give one");
        return -1;
    }
    if (!cfg->no_ledger && !cfg->ledger) {
        cfg->ledger = getenv("OTTU_LEDGER");
        if (!cfg->ledger || !cfg->ledger[0]) {
            cfg->ledger_default = cli_default_ledger();
            cfg->ledger = cfg->ledger_default;
            if (!cfg->ledger) {
                snprintf(err, errlen, "no place for the ledger: set HOME, XDG_STATE_HOME or OTTU_LEDGER, "
                                      "give --ledger PATH, or --no-ledger");
                return -1;
            }
        }
    }
    if (cfg->backoff_max_ms < cfg->backoff_base_ms)
        cfg->backoff_max_ms = cfg->backoff_base_ms;
    if (output) {
        cfg->output = strdup(output);
    } else if (strcmp(cfg->input, "-") == 0) {
        cfg->output = strdup("-");
    } else {
        size_t n = strlen(cfg->input);
        int has_ext = n >= 4 && strcasecmp(cfg->input + n - 4, ".csv") == 0;
        if (asprintf(&cfg->output, "%.*s.results.csv", (int)(has_ext ? n - 4 : n), cfg->input) < 0)
            cfg->output = NULL;
    }
    if (!cfg->output) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Two streams interleaved on stdout could be read as neither (issue 18). */
    const char *on_stdout[3];
    int n_stdout = 0;
    if (strcmp(cfg->output, "-") == 0)
        on_stdout[n_stdout++] = strcmp(cfg->input, "-") == 0 && !output ? "the results (-o, standard output for standard input)" : "-o -";
    if (cfg->failures && strcmp(cfg->failures, "-") == 0)
        on_stdout[n_stdout++] = "--failures -";
    if (cfg->summary_json && strcmp(cfg->summary_json, "-") == 0)
        on_stdout[n_stdout++] = "--summary-json -";
    if (n_stdout > 1) {
        snprintf(err, errlen, "%s%s%s and %s would %s write to standard output: give %s a file path", on_stdout[0],
                 n_stdout == 3 ? ", " : "", n_stdout == 3 ? on_stdout[1] : "", on_stdout[n_stdout - 1],
                 n_stdout == 3 ? "all" : "both", n_stdout == 3 ? "all but one of them" : "one of them");
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "invalid value \"%.100s\" for --%s%s", optarg, option_name(c), option_hint(c));
    return -1;
}

/* Whether a key file the group may read is still private. A Kubernetes Secret mounted with
 * an fsGroup is root-owned and group-readable (0440) on a read-only tmpfs that only the
 * pod's containers see, and every process holding that group is in the pod: the group
 * grants nothing the mount does not already. So: read-only filesystem, owned by root or by
 * us, and its group one of ours. Anywhere else a group bit is a mistake (docs/security.md). */
static int group_read_ok(int fd, const struct stat *st)
{
    struct statvfs vfs;
    if (fstatvfs(fd, &vfs) < 0 || !(vfs.f_flag & ST_RDONLY))
        return 0;
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return 0;
    if (st->st_gid == getegid())
        return 1;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == st->st_gid)
            return 1;
    return 0;
}

/* Keys are pasted into files by editors that add a BOM or a line end, and from password
 * managers that add spaces: those are trimmed. Anything inside the key is refused. */
static int key_clean(char *buf, size_t n, const char *what, char *err, size_t errlen)
{
    size_t start = 0;
    if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    while (start < n && strchr(" \t\r\n", buf[start]))
        start++;
    while (n > start && strchr(" \t\r\n", buf[n - 1]))
        n--;
    memmove(buf, buf + start, n - start);
    n -= start;
    buf[n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "%s is empty: it should hold the API key on one line", what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c <= 0x20 || c == 0x7f) {
            /* say where, never what: the message goes to logs */
            snprintf(err, errlen, "the API key in %s has a %s at character %zu: a key is one word with no spaces, "
                                  "line breaks or control characters; keep only the key in it",
                     what, c == ' ' || c == '\t' ? "space" : c == '\n' || c == '\r' ? "line break"
                                                                                     : "control character",
                     i + 1);
            return -1;
        }
    }
    return 0;
}

/* Reads a key file (what names its source for messages); returns a malloc'd key or NULL. */
static char *key_from_file(const char *path, const char *what, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO in place of the key must not hang the job; a symlink (Kubernetes
     * Secret) is fine: the file it points to is checked */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s is not a regular file", what, path);
        close(fd);
        return NULL;
    }
    /* Like ssh with private keys: a key others can read is already leaked. */
    if ((st.st_mode & 007) || ((st.st_mode & 070) && !group_read_ok(fd, &st))) {
        snprintf(err, errlen, "%s %s is readable by %s (mode %04o); run: chmod 600 %s%s", what, path,
                 (st.st_mode & 007) ? "others" : "group or others", (unsigned)(st.st_mode & 07777), path,
                 (st.st_mode & 007) ? ""
                                    : " (a group-readable key is accepted only on a read-only mount, owned by root, "
                                      "in one of this process's groups: see docs/security.md)");
        close(fd);
        return NULL;
    }
    char buf[4097];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    int too_long = n == sizeof buf - 1;
    close(fd);
    char *key = NULL;
    char label[1200];
    snprintf(label, sizeof label, "%s %s", what, path);
    if (too_long)
        snprintf(err, errlen, "%s is over 4 KiB: it should hold only the API key", label);
    else if (key_clean(buf, n, label, err, errlen) == 0 && !(key = strdup(buf)))
        snprintf(err, errlen, "out of memory");
    explicit_bzero(buf, sizeof buf);
    return key;
}

int cli_load_key(config *cfg, char *err, size_t errlen)
{
    /* The order services hand keys over: an explicit file, the file an environment names,
     * systemd's LoadCredential=, then the variable itself. */
    const char *env_file = getenv("OTTU_API_KEY_FILE");
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    char *cred_path = NULL;
    if (cfg->api_key_file) {
        cfg->api_key = key_from_file(cfg->api_key_file, "--api-key-file", err, errlen);
    } else if (env_file && env_file[0]) {
        cfg->api_key = key_from_file(env_file, "OTTU_API_KEY_FILE", err, errlen);
    } else if (creds && creds[0] && asprintf(&cred_path, "%s/ottu-api-key", creds) >= 0 &&
               access(cred_path, F_OK) == 0) {
        cfg->api_key = key_from_file(cred_path, "the systemd credential", err, errlen);
    } else if (getenv("OTTU_API_KEY")) {
        const char *env = getenv("OTTU_API_KEY");
        size_t n = strlen(env);
        char *k = malloc(n + 1);
        if (!k) {
            snprintf(err, errlen, "out of memory");
            free(cred_path);
            return -1;
        }
        memcpy(k, env, n + 1);
        if (key_clean(k, n, "OTTU_API_KEY", err, errlen) < 0) {
            explicit_bzero(k, n);
            free(k);
            k = NULL;
        }
        cfg->api_key = k;
    } else {
        snprintf(err, errlen, "no API key: set OTTU_API_KEY or use --api-key-file PATH (or OTTU_API_KEY_FILE, "
                              "or systemd's LoadCredential=ottu-api-key:PATH)");
    }
    free(cred_path);
    return cfg->api_key ? 0 : -1;
}

char *cli_default_ledger(void)
{
    const char *env = getenv("OTTU_LEDGER");
    char *path = NULL;
    if (env && env[0])
        return strdup(env);
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (state && state[0] == '/') {
        if (asprintf(&path, "%s/ottu-resend/ledger.db", state) < 0)
            path = NULL;
    } else if (home && home[0]) {
        if (asprintf(&path, "%s/.local/state/ottu-resend/ledger.db", home) < 0)
            path = NULL;
    }
    return path;
}

void cli_free(config *cfg)
{
    if (cfg->api_key) {
        explicit_bzero(cfg->api_key, strlen(cfg->api_key));
        free(cfg->api_key);
    }
    free(cfg->output);
    free(cfg->ledger_default);
    free(cfg->maps);
    cfg->ledger_default = NULL;
    cfg->maps = NULL;
    cfg->api_key = NULL;
    cfg->output = NULL;
}
