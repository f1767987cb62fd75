/* summary — end-of-job counts, latency percentiles and the monitoring JSON. */
#include "summary.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

void summary_init(summary *s)
{
    memset(s, 0, sizeof *s);
    s->started_ns = clock_mono_ns();
}

/* 1 ms buckets to 1 s, then 100 ms buckets to 70 s, then one overflow bucket. */
static int lat_bucket(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1000)
        return (int)ms;
    int64_t b = 1000 + (ms - 1000) / 100;
    return b >= SUMMARY_LAT_BUCKETS ? SUMMARY_LAT_BUCKETS - 1 : (int)b;
}

static long bucket_ms(int b) { return b < 1000 ? b : 1000 + (long)(b - 1000) * 100; }

void summary_add(summary *s, const job *j)
{
    s->rows++;
    s->status[j->status]++;
    if (j->status == RS_SENT || j->status == RS_FAILED) {
        for (int i = 0; i < 3; i++) {
            if (j->channels & (1u << i)) {
                s->channel_requested[i]++;
                if (j->status == RS_SENT)
                    s->channel_sent[i]++;
            }
        }
    }
    if (j->http_status > 0 && j->http_status < 600)
        s->http[j->http_status]++;
    else if (j->http_status)
        s->http_other++;
    if (j->latency_ms >= 0 && j->attempts > 0) {
        s->lat[lat_bucket(j->latency_ms)]++;
        s->lat_count++;
    }
}

long summary_percentile(const summary *s, double p)
{
    if (!s->lat_count)
        return -1;
    long want = (long)((p / 100.0) * (double)s->lat_count + 0.999999);
    if (want < 1)
        want = 1;
    long seen = 0;
    for (int b = 0; b < SUMMARY_LAT_BUCKETS; b++) {
        seen += s->lat[b];
        if (seen >= want)
            return bucket_ms(b);
    }
    return bucket_ms(SUMMARY_LAT_BUCKETS - 1);
}

double summary_elapsed_s(const summary *s) { return (double)(clock_mono_ns() - s->started_ns) / 1e9; }

int summary_exit_code(const summary *s)
{
    return (s->status[RS_FAILED] || s->status[RS_INVALID] || s->status[RS_UNKNOWN] ||
            s->status[RS_NOT_ATTEMPTED])
               ? 1
               : 0;
}

void summary_print(const summary *s, FILE *out, const char *output, const char *failures, int exit_code)
{
    double el = summary_elapsed_s(s);
    long req = atomic_load(&s->requests);
    fprintf(out, "ottu-resend: %ld rows in %.1fs:", s->rows, el);
    for (int i = 1; i < RS_COUNT; i++)
        if (s->status[i])
            fprintf(out, " %s %ld", job_status_name((row_status)i), s->status[i]);
    fputc('\n', out);
    if (req) {
        fprintf(out, "  requests %ld (retries %ld), %.1f/s", req, atomic_load(&s->retries),
                el > 0 ? (double)req / el : 0.0);
        fprintf(out, "; latency p50 %ldms p95 %ldms p99 %ldms\n", summary_percentile(s, 50),
                summary_percentile(s, 95), summary_percentile(s, 99));
        fprintf(out, "  channels sent:");
        for (int i = 0; i < 3; i++)
            fprintf(out, " %s %ld/%ld", rules_channel_name(1u << i), s->channel_sent[i], s->channel_requested[i]);
        fputc('\n', out);
        int any = 0;
        for (int i = 0; i < 600; i++) {
            if (s->http[i])
                fprintf(out, "%s %d×%ld", any++ ? "" : "  HTTP:", i, s->http[i]);
        }
        if (any)
            fputc('\n', out);
    }
    if (output)
        fprintf(out, "  results: %s\n", strcmp(output, "-") ? output : "(standard output)");
    if (failures)
        fprintf(out, "  failures: %s\n", failures);
    fprintf(out, "  exit status %d\n", exit_code);
}

int summary_write_json(const summary *s, const char *path, int exit_code, char *err, size_t errlen)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const keys[RS_COUNT] = {NULL, "sent", "failed", "invalid", "duplicate",
                                               "skipped", "not_attempted", "unknown", "dry_run"};
    cJSON_AddNumberToObject(o, "rows", (double)s->rows);
    for (int i = 1; i < RS_COUNT; i++)
        cJSON_AddNumberToObject(o, keys[i], (double)s->status[i]);
    cJSON_AddNumberToObject(o, "requests", (double)atomic_load(&s->requests));
    cJSON_AddNumberToObject(o, "retries", (double)atomic_load(&s->retries));
    cJSON_AddNumberToObject(o, "exit_code", exit_code);
    cJSON_AddNumberToObject(o, "elapsed_s", (double)(long)(summary_elapsed_s(s) * 1000) / 1000.0);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddNumberToObject(lat, "p50", (double)summary_percentile(s, 50));
    cJSON_AddNumberToObject(lat, "p95", (double)summary_percentile(s, 95));
    cJSON_AddNumberToObject(lat, "p99", (double)summary_percentile(s, 99));
    cJSON *ch = cJSON_AddObjectToObject(o, "channels_sent");
    for (int i = 0; i < 3; i++)
        cJSON_AddNumberToObject(ch, rules_channel_name(1u << i), (double)s->channel_sent[i]);
    cJSON *http = cJSON_AddObjectToObject(o, "http_status");
    for (int i = 0; i < 600; i++) {
        if (s->http[i]) {
            char k[8];
            snprintf(k, sizeof k, "%d", i);
            cJSON_AddNumberToObject(http, k, (double)s->http[i]);
        }
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || (f != stdout && fclose(f) != 0)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    } else if (f == stdout) {
        fflush(stdout);
    }
    free(text);
    return rc;
}
