/* bench_xlsxout — writes N typical result rows with xlsxout, to measure time and peak
 * memory (run under /usr/bin/time -v). Not part of the build:
 *   make all && cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude tests/xlsx/bench_xlsxout.c build/libottu.a \
 *      -lxlsxwriter -lcsv -lcurl -lcjson -lsqlite3 -lm -pthread -o /tmp/bench_xlsxout &&
 *   /usr/bin/time -v /tmp/bench_xlsxout out.xlsx 200000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "xlsxout.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT.xlsx ROWS\n", argv[0]);
        return 2;
    }
    static const char *const hdr[] = {"order_no", "session_id", "channels", "state"};
    static const row_status statuses[] = {RS_SENT, RS_SENT, RS_SENT, RS_FAILED, RS_INVALID,
                                          RS_NOT_ATTEMPTED, RS_SENT, RS_UNKNOWN};
    char err[256];
    unsigned long rows = strtoul(argv[2], NULL, 10);
    xlsxout *x = xlsxout_open(argv[1], hdr, 4, err, sizeof err);
    if (!x) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    job j;
    job_init(&j);
    for (unsigned long i = 0; i < rows; i++) {
        char order[32], session[48];
        snprintf(order, sizeof order, "ORD-%08lu", i);
        snprintf(session, sizeof session, "5f1c%012lx9a7e4b2d", i * 2654435761UL);
        job_reset(&j, (long)i + 1);
        j.status = statuses[i % 8];
        j.http_status = j.status == RS_INVALID || j.status == RS_NOT_ATTEMPTED ? 0 : 200;
        j.attempts = j.status == RS_INVALID ? 0 : 1;
        j.channels = RULES_SMS | RULES_EMAIL;
        snprintf(j.detail, sizeof j.detail, "%s",
                 j.status == RS_SENT ? "Notification sent" : "Order not found in merchant");
        j.latency_ms = (int64_t)(40 + i % 900);
        j.finished_at_ms = 1795290000000LL + (int64_t)i;
        const char *cells[] = {order, session, "sms;email", "paid"};
        size_t lens[4];
        for (int c = 0; c < 4; c++)
            lens[c] = strlen(cells[c]);
        if (xlsxout_row(x, cells, lens, &j) < 0) {
            fprintf(stderr, "%s\n", xlsxout_error(x));
            return 1;
        }
    }
    job_free(&j);
    xlsxout_kv info[] = {{"input", "bench.csv"}, {"mode", "message"}};
    xlsxout_end end = {.exit_code = 0, .info = info, .ninfo = 2};
    if (xlsxout_close(x, &end, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
