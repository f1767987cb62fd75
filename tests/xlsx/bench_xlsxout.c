/* bench_xlsxout — writes N typical result rows with xlsxout, to measure time and peak
 * memory (run under /usr/bin/time -v). Not part of the build:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude src/xlsxout.c tests/xlsx/bench_xlsxout.c \
 *      -lxlsxwriter -o /tmp/bench_xlsxout && /usr/bin/time -v /tmp/bench_xlsxout out.xlsx 200000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xlsxout.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT.xlsx ROWS\n", argv[0]);
        return 2;
    }
    static const char *const hdr[] = {"order_no", "session_id", "channels", "state",
                                      "result_status", "result_http_status", "result_attempts",
                                      "result_channels", "result_detail", "result_latency_ms",
                                      "result_finished_at"};
    static const char *const statuses[] = {"sent", "sent", "sent", "failed", "invalid",
                                           "not_attempted", "sent", "unknown"};
    char err[256];
    unsigned long rows = strtoul(argv[2], NULL, 10);
    xlsxout *x = xlsxout_open(argv[1], hdr, 11, err, sizeof err);
    if (!x) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (unsigned long i = 0; i < rows; i++) {
        char order[32], session[48], latency[16], when[32];
        snprintf(order, sizeof order, "ORD-%08lu", i);
        snprintf(session, sizeof session, "5f1c%012lx9a7e4b2d", i * 2654435761UL);
        snprintf(latency, sizeof latency, "%lu", 40 + i % 900);
        snprintf(when, sizeof when, "2026-11-23T%02lu:%02lu:%02lu.%03luZ", i / 3600000 % 24,
                 i / 60000 % 60, i / 1000 % 60, i % 1000);
        const char *st = statuses[i % 8];
        const char *cells[] = {order, session, "sms;email", "paid", st,
                               st[0] == 'i' || st[0] == 'n' ? "" : "200",
                               st[0] == 'i' ? "0" : "1", "sms;email",
                               st[0] == 's' ? "Notification sent" : "Order not found in merchant",
                               latency, when};
        size_t lens[11];
        for (int c = 0; c < 11; c++)
            lens[c] = strlen(cells[c]);
        if (xlsxout_row(x, cells, lens) < 0) {
            fprintf(stderr, "%s\n", xlsxout_error(x));
            return 1;
        }
    }
    xlsxout_kv info[] = {{"input", "bench.csv"}, {"mode", "message"}};
    if (xlsxout_close(x, info, 2, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
