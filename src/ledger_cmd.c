/* ledger_cmd — `ottu-resend ledger stats|prune SPEC`: what a ledger holds, and clean-up
 * (a subcommand in its own file, as git's builtin/ commands are). */
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
          "       ottu-resend ledger prune --older-than DURATION [--dry-run] PATH|URL\n"
          "\n"
          "  stats   sent / maybe-sent / open claims, records per channel and day, oldest and\n"
          "          newest send, and today's daily-budget use per scope\n"
          "  prune   delete records older than DURATION (90m, 36h, 7d, ...) and print how\n"
          "          many; --dry-run only counts them\n",
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
        free(st.days);
        free(st.budget);
        ledger_close(l);
        return 1;
    }
    ledger_utc_day(now, today);
    print_stats(spec, &st, today);
    free(st.days);
    free(st.budget);
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

int ledger_main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL, *path = NULL, *older = NULL;
    int dry_run = 0, is_prune;
    int64_t older_ms = 0;
    if (!cmd) {
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "stats") != 0 && strcmp(cmd, "prune") != 0) {
        fprintf(stderr, "ottu-resend ledger: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return 2;
    }
    is_prune = strcmp(cmd, "prune") == 0;
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
        } else if (is_prune && strcmp(a, "--dry-run") == 0) {
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
    return cmd_prune(path, older_ms, dry_run);
}
