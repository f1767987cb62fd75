/* ledger_cmd — `ottu-resend ledger stats|prune|release SPEC`: what a ledger holds,
 * clean-up, and a dead job's claims let go (a subcommand in its own file, as git's
 * builtin/ commands are). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ledger.h"
#include "ledger_backend.h"
#include "units.h"

static void usage(FILE *f)
{
    fputs("usage: ottu-resend ledger stats PATH|URL\n"
          "       ottu-resend ledger prune --older-than DURATION [--cooldown D] [--force] [--dry-run] PATH|URL\n"
          "       ottu-resend ledger release --job NAME [--force] [--dry-run] PATH|URL\n"
          "\n"
          "  stats    sent / maybe-sent / open claims, records per API, jobs holding open\n"
          "           claims (running or dead), records per channel and day, oldest and\n"
          "           newest send, and today's daily-budget use per scope\n"
          "  prune    delete records older than DURATION (90m, 36h, 7d, ...) and print how\n"
          "           many; refused when DURATION is shorter than the cooldown the jobs use\n"
          "           (--cooldown, default 24h), which it would break, unless --force;\n"
          "           a running job's open claims are kept; --dry-run only counts them\n"
          "  release  let go of the open claims of job NAME, which stopped without settling\n"
          "           them (they count as maybe sent until its --resume or the cooldown):\n"
          "           only when you know those requests did not reach the API. Refused for\n"
          "           a running job unless --force\n",
          f);
}

static void print_day(const char *day, const long long n[3])
{
    printf("%-10s %10lld %10lld %10lld %10lld\n", day, n[0], n[1], n[2], n[0] + n[1] + n[2]);
}

static void print_stats(const char *spec, const ledger_stats *st, const char *today)
{
    char a[40] = "-", b[40] = "-";
    long long tot[3] = {0, 0, 0};
    if (st->sent + st->maybe > 0) {
        clock_format_iso(st->oldest_ms, a, sizeof a);
        clock_format_iso(st->newest_ms, b, sizeof b);
    }
    printf("ledger:      %s\n", spec);
    printf("records:     %lld\n", st->sent + st->maybe);
    printf("sent:        %lld\n", st->sent);
    printf("maybe sent:  %lld\n", st->maybe);
    printf("open claims: %lld\n", st->claimed);
    printf("released:    %lld\n", st->released);
    printf("identifiers: %lld\n", st->identifiers);
    printf("jobs:        %lld\n", st->jobs);
    printf("oldest:      %s\n", a);
    printf("newest:      %s\n", b);
    printf("\nbudget used today (%s UTC):", today);
    if (st->nbudget == 0)
        printf(" none\n");
    else
        printf("\n");
    for (size_t k = 0; k < st->nbudget; k++)
        printf("  %-40s %10lld\n", st->budget[k].scope, st->budget[k].used);
    if (st->ndays == 0)
        return;
    printf("\n%-10s %10s %10s %10s %10s\n", "day (UTC)", "sms", "email", "whatsapp", "total");
    for (size_t k = 0; k < st->ndays; k++) {
        print_day(st->days[k].day, st->days[k].n);
        for (int i = 0; i < 3; i++)
            tot[i] += st->days[k].n[i];
    }
    print_day("total", tot);
}

/* Per API, and the jobs holding open claims: what `release` needs to know. */
static void print_apis(const ledger_stats *st)
{
    if (st->napis > 0)
        printf("\n%-48s %10s %10s %10s\n", "API", "sent", "maybe", "claimed");
    for (size_t k = 0; k < st->napis; k++)
        printf("%-48s %10lld %10lld %10lld\n",
               st->apis[k].api[0] ? st->apis[k].api : "(unknown: before per-API records; blocks every API)",
               st->apis[k].sent, st->apis[k].maybe, st->apis[k].claimed);
    if (st->nopen > 0)
        printf("\njobs with open claims:\n");
    for (size_t k = 0; k < st->nopen; k++)
        printf("  %-40s %10lld  %s\n", st->open_jobs[k].name, st->open_jobs[k].claims,
               st->open_jobs[k].live ? "running" : "dead: maybe sent (--resume the job, or `ledger release`)");
}

static int cmd_stats(const char *spec)
{
    char err[512], today[11];
    ledger_stats st;
    int64_t now = clock_now_ms();
    ledger *l = ledger_open_admin(spec, 0, err, sizeof err);
    if (!l) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        return 2;
    }
    if (ledger_get_stats(l, now, &st, err, sizeof err) != 0) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        ledger_stats_free(&st);
        ledger_close(l);
        return 1;
    }
    clock_format_day(now, today);
    print_stats(spec, &st, today);
    print_apis(&st);
    ledger_stats_free(&st);
    return ledger_close(l) == 0 ? 0 : 1;
}

static int cmd_prune(const char *spec, int64_t older_ms, int dry_run)
{
    char err[512], iso[40];
    int64_t cutoff = clock_now_ms() - older_ms;
    long long left = 0, n;
    ledger *l = ledger_open_admin(spec, !dry_run, err, sizeof err);
    if (!l) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        return 2;
    }
    clock_format_iso(cutoff, iso, sizeof iso);
    n = ledger_prune_before(l, cutoff, dry_run, &left, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        ledger_close(l);
        return 1;
    }
    if (dry_run)
        printf("would prune %lld records older than %s\n", n, iso);
    else
        printf("pruned %lld records older than %s; %lld remain\n", n, iso, left);
    return ledger_close(l) == 0 ? 0 : 1;
}

static int cmd_release(const char *spec, const char *job, int force, int dry_run)
{
    char err[512];
    long long n;
    ledger *l = ledger_open_admin(spec, !dry_run, err, sizeof err);
    if (!l) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        return 2;
    }
    n = ledger_release_job(l, job, force, dry_run, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "ottu-resend: %s\n", err);
        ledger_close(l);
        return 2;
    }
    if (dry_run)
        printf("would release %lld open claims of job %s\n", n, job);
    else
        printf("released %lld open claims of job %s\n", n, job);
    return ledger_close(l) == 0 ? 0 : 1;
}

int ledger_main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL, *path = NULL, *older = NULL, *cooldown = NULL, *job = NULL;
    int dry_run = 0, is_prune, is_release, force = 0;
    int64_t older_ms = 0, cooldown_ms = LEDGER_DEFAULT_COOLDOWN_MS;
    if (!cmd) {
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "stats") != 0 && strcmp(cmd, "prune") != 0 && strcmp(cmd, "release") != 0) {
        fprintf(stderr, "ottu-resend ledger: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return 2;
    }
    is_prune = strcmp(cmd, "prune") == 0;
    is_release = strcmp(cmd, "release") == 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (is_prune && strcmp(a, "--older-than") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ottu-resend ledger: --older-than needs a duration\n");
                return 2;
            }
            older = argv[++i];
        } else if (is_prune && strncmp(a, "--older-than=", 13) == 0) {
            older = a + 13;
        } else if (is_prune && (strcmp(a, "--cooldown") == 0 || strncmp(a, "--cooldown=", 11) == 0)) {
            if (a[10] == '=') {
                cooldown = a + 11;
            } else if (i + 1 >= argc) {
                fprintf(stderr, "ottu-resend ledger: --cooldown needs a duration\n");
                return 2;
            } else {
                cooldown = argv[++i];
            }
        } else if (is_release && (strcmp(a, "--job") == 0 || strncmp(a, "--job=", 6) == 0)) {
            if (a[5] == '=') {
                job = a + 6;
            } else if (i + 1 >= argc) {
                fprintf(stderr, "ottu-resend ledger: --job needs a job name\n");
                return 2;
            } else {
                job = argv[++i];
            }
        } else if ((is_prune || is_release) && strcmp(a, "--force") == 0) {
            force = 1;
        } else if ((is_prune || is_release) && strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0) {
            fprintf(stderr, "ottu-resend ledger %s: unknown option %s\n", cmd, a);
            usage(stderr);
            return 2;
        } else {
            if (strcmp(a, "--") == 0 && i + 1 < argc)
                a = argv[++i];
            if (path) {
                fprintf(stderr, "ottu-resend ledger %s: one PATH only\n", cmd);
                return 2;
            }
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "ottu-resend ledger %s: PATH is missing\n", cmd);
        usage(stderr);
        return 2;
    }
    if (is_release) {
        if (!job || !*job) {
            fprintf(stderr, "ottu-resend ledger release: --job NAME is required (`ottu-resend ledger stats` lists "
                            "the jobs with open claims)\n");
            return 2;
        }
        return cmd_release(path, job, force, dry_run);
    }
    if (!is_prune)
        return cmd_stats(path);
    if (!older) {
        fprintf(stderr, "ottu-resend ledger prune: --older-than DURATION is required\n");
        return 2;
    }
    if (units_parse_duration(older, &older_ms) != 0) {
        fprintf(stderr, "ottu-resend ledger prune: bad duration \"%s\" (use e.g. 90m, 36h, 7d)\n", older);
        return 2;
    }
    if (cooldown && units_parse_duration(cooldown, &cooldown_ms) != 0) {
        fprintf(stderr, "ottu-resend ledger prune: bad --cooldown \"%s\" (use e.g. 90m, 24h, 7d)\n", cooldown);
        return 2;
    }
    /* A record younger than the cooldown is what stops a second send within it: pruning it
     * is a promise broken, so it takes --force. */
    if (older_ms < cooldown_ms && !force && !dry_run) {
        fprintf(stderr,
                "ottu-resend ledger prune: --older-than %s is shorter than the cooldown (%s%s): the records it would "
                "remove still stop customers being notified twice. Use --older-than at least the --cooldown your "
                "jobs use (give it with --cooldown D), or --force if you mean it\n",
                older, cooldown ? cooldown : "24h", cooldown ? "" : ", the default");
        return 2;
    }
    return cmd_prune(path, older_ms, dry_run);
}
