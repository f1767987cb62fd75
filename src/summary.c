/* summary — end-of-job counts, latency percentiles, failure reasons and the monitoring JSON. */
#include "summary.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request.h"
#include "paths.h"
#include "rules.h"
#include "writer.h"

void summary_init(summary *s)
{
    memset(s, 0, sizeof *s);
    memset(s->reason_index, 0xff, sizeof s->reason_index);
    s->started_ns = clock_mono_ns();
}

void summary_set_stop(summary *s, const char *by, int64_t resume_after_ms)
{
    snprintf(s->stopped_by, sizeof s->stopped_by, "%s", by ? by : "");
    s->resume_after_ms = resume_after_ms > 0 ? resume_after_ms : 0;
}

/* A postgresql:// URL may carry a password (user:secret@host) or one in its query
 * (?password=...): neither belongs in a summary that monitoring systems collect. */
void summary_set_ledger(summary *s, const char *ledger)
{
    if (!ledger) {
        snprintf(s->ledger, sizeof s->ledger, "off");
        return;
    }
    const char *scheme = strstr(ledger, "://");
    if (!scheme) {
        snprintf(s->ledger, sizeof s->ledger, "%s", ledger);
        return;
    }
    const char *auth = scheme + 3;
    size_t authlen = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', authlen);
    size_t n = 0;
    int w = snprintf(s->ledger, sizeof s->ledger, "%.*s", (int)(auth - ledger), ledger);
    n = w > 0 ? (size_t)w : 0;
    if (at) {
        size_t userlen = strcspn(auth, ":@");
        w = snprintf(s->ledger + n, sizeof s->ledger - n, "%.*s@", (int)userlen, auth);
        n += w > 0 ? (size_t)w : 0;
        auth = at + 1;
    }
    if (n < sizeof s->ledger)
        snprintf(s->ledger + n, sizeof s->ledger - n, "%.*s", (int)strcspn(auth, "?#"), auth);
}

static int is_sep(unsigned char c)
{
    return c <= ' ' || c == 0x7f || strchr(",;:()[]{}=<>", c) != NULL;
}

/* What a token of a reason says about one customer: an e-mail address, a phone number,
 * an identifier (an order number, a session id) -- masked so that rows group -- or
 * nothing (a word, an HTTP status, a count, a duration): kept, it is the message. */
typedef enum { TK_KEEP, TK_EMAIL, TK_PHONE, TK_ID } token_kind;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static token_kind classify(const char *t, size_t n)
{
    size_t digits = 0, run = 0, maxrun = 0, dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '@')
            return TK_EMAIL;
        if (is_digit(t[i])) {
            digits++;
            maxrun = ++run > maxrun ? run : maxrun;
        } else {
            run = 0;
            dots += t[i] == '.';
        }
    }
    if (!digits)
        return TK_KEEP;
    size_t lead = t[0] == '+';
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++)
        spaces += t[i] == ' ';
    if (lead + digits + spaces == n) /* +965 5555 1234, 96555551234, 2048 */
        return (lead && digits >= 6) || digits >= 8 ? TK_PHONE : digits >= 6 ? TK_ID : TK_KEEP;
    size_t k = 0;
    while (k < n && is_digit(t[k]))
        k++;
    int unit = k > 0 && k <= 5 && n - k <= 3;
    for (size_t i = k; unit && i < n; i++)
        unit = is_alpha(t[i]);
    if (unit || digits + dots == n) /* 30s, 120ms, 5xx; 1.5, 1.1. */
        return digits <= 5 ? TK_KEEP : TK_ID;
    /* a session id, a UUID: long, many digits; windows-1256, U+0001, HTTP/1.1 stay */
    return n >= 16 && digits >= 4 ? TK_ID : TK_KEEP;
}

/* Appends what fits, keeping room for the NUL. */
static size_t put(char *out, size_t size, size_t n, const char *s, size_t len)
{
    if (n + len >= size)
        len = size - 1 - n;
    memcpy(out + n, s, len);
    return n + len;
}

/* Bytes of s[0..n) that end on a UTF-8 character boundary. */
static size_t utf8_floor(const char *s, size_t n)
{
    size_t lead = n;
    while (lead && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead && (unsigned char)s[lead - 1] >= 0xc0) {
        unsigned char c = (unsigned char)s[lead - 1];
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (n - (lead - 1) < need)
            return lead - 1;
    }
    return n;
}

/* Shortens s (n bytes) to fit size with "…": at the last word boundary that fits, never
 * inside a word (unless one word fills it all) nor a UTF-8 sequence. */
static size_t shorten(char *s, size_t n, size_t size)
{
    static const char ell[] = "\xe2\x80\xa6";
    if (n < size)
        return n;
    size_t room = size > sizeof ell ? size - sizeof ell : 0; /* bytes before the "…" and the NUL */
    size_t cut = room;
    while (cut > 0 && s[cut] != ' ')
        cut--;
    if (cut < room / 2)
        cut = utf8_floor(s, room); /* one very long word: cut it, on a character */
    while (cut > 0 && (s[cut - 1] == ' ' || s[cut - 1] == ',' || s[cut - 1] == ';' || s[cut - 1] == ':'))
        cut--;
    if (size < sizeof ell) {
        cut = utf8_floor(s, size - 1);
        s[cut] = '\0';
        return cut;
    }
    memcpy(s + cut, ell, sizeof ell);
    return cut + sizeof ell - 1;
}

size_t summary_reason_key(const char *detail, const char *ident, char *out, size_t size)
{
    size_t identlen = ident ? strlen(ident) : 0;
    /* built whole first, then shortened at a word */
    char full[2048];
    size_t n = 0;
    const char *p = detail ? detail : "";
    if (!size)
        return 0;
    while (*p && n < sizeof full - 8) {
        unsigned char c = (unsigned char)*p;
        if (is_sep(c)) {
            /* one space for a run of blanks and controls; other separators kept */
            if (c <= ' ' || c == 0x7f) {
                if (n && full[n - 1] != ' ')
                    n = put(full, sizeof full, n, " ", 1);
            } else {
                n = put(full, sizeof full, n, p, 1);
            }
            p++;
            continue;
        }
        if (c == '"' || (c == '\'' && (p == detail || is_sep((unsigned char)p[-1])))) {
            const char *end = strchr(p + 1, (char)c);
            if (end) {
                n = put(full, sizeof full, n, c == '"' ? "\"…\"" : "'…'", 5); /* 5 bytes: … is 3 */
                p = end + 1;
                continue;
            }
        }
        if (identlen && strncmp(p, ident, identlen) == 0) { /* the row's order number or session id */
            n = put(full, sizeof full, n, "<id>", 4);
            p += identlen;
            continue;
        }
        size_t len = 0;
        while (p[len] && !is_sep((unsigned char)p[len]))
            len++;
        /* a phone number written in groups: +965 5555 1234 is one token */
        if (p[0] == '+' && len > 1 && strspn(p + 1, "0123456789") == len - 1)
            while (p[len] == ' ' && is_digit(p[len + 1])) {
                len++;
                while (is_digit(p[len]))
                    len++;
            }
        switch (classify(p, len)) {
        case TK_EMAIL: n = put(full, sizeof full, n, "<email>", 7); break;
        case TK_PHONE: n = put(full, sizeof full, n, "<phone>", 7); break;
        case TK_ID: n = put(full, sizeof full, n, "<id>", 4); break;
        default: n = put(full, sizeof full, n, p, len); break;
        }
        p += len;
    }
    while (n && full[n - 1] == ' ')
        n--;
    n = utf8_floor(full, n);
    n = shorten(full, n, size);
    memcpy(out, full, n);
    out[n] = '\0';
    return n;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void add_reason(summary *s, const char *detail, const char *ident)
{
    char key[SUMMARY_REASON_LEN];
    summary_reason_key(detail, ident, key, sizeof key);
    if (!key[0])
        snprintf(key, sizeof key, "(no detail)");
    const size_t slots = sizeof s->reason_index / sizeof s->reason_index[0];
    size_t i = (size_t)(fnv1a(key) % slots);
    for (;; i = (i + 1) % slots) {
        short r = s->reason_index[i];
        if (r < 0)
            break;
        if (strcmp(s->reasons[r].text, key) == 0) {
            s->reasons[r].count++;
            return;
        }
    }
    if (s->nreasons == SUMMARY_REASONS) {
        s->other_reasons++;
        return;
    }
    s->reason_index[i] = (short)s->nreasons;
    snprintf(s->reasons[s->nreasons].text, SUMMARY_REASON_LEN, "%s", key);
    s->reasons[s->nreasons++].count = 1;
}

int summary_top_reasons(const summary *s, const summary_reason **out, int max)
{
    int n = 0;
    for (int r = 0; r < s->nreasons; r++) {
        /* insertion into the short sorted list; a stable order for ties (first seen) */
        int at = n;
        while (at > 0 && out[at - 1]->count < s->reasons[r].count)
            at--;
        if (at >= max)
            continue;
        int last = n < max ? n : max - 1;
        for (int k = last; k > at; k--)
            out[k] = out[k - 1];
        out[at] = &s->reasons[r];
        if (n < max)
            n++;
    }
    return n;
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
        unsigned sent = j->status == RS_SENT ? j->channels : j->sent_channels;
        /* a failed row that does not say which channel failed failed in all those not
         * sent or maybe sent */
        unsigned failed = j->status == RS_FAILED
                              ? (j->failed_channels ? j->failed_channels
                                                    : j->channels & ~(j->sent_channels | j->maybe_channels))
                              : 0;
        for (int i = 0; i < 3; i++) {
            unsigned bit = 1u << i;
            if (j->channels & bit)
                s->channel_requested[i]++;
            if (sent & bit)
                s->channel_sent[i]++;
            if (failed & bit)
                s->channel_failed[i]++;
        }
    }
    if (j->status == RS_FAILED || j->status == RS_INVALID || j->status == RS_UNKNOWN)
        add_reason(s, j->detail, j->req.ident);
    if (j->http_status > 0 && j->http_status < 600)
        s->http[j->http_status]++;
    else if (j->http_status)
        s->http_other++;
    if (j->latency_ms >= 0 && j->attempts > 0) {
        s->lat[lat_bucket(j->latency_ms)]++;
        s->lat_count++;
    }
}

void summary_attempt(summary *s, int status)
{
    if (status > 0 && status < 600)
        atomic_fetch_add(&s->http_attempts[status], 1);
    else
        atomic_fetch_add(&s->http_no_answer, 1);
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

void summary_note_ids(summary *s, unsigned id_kinds)
{
    if (id_kinds == REQUEST_ID_ORDER_NO)
        s->only_order_no++;
    else if (id_kinds == REQUEST_ID_SESSION_ID)
        s->only_session_id++;
}

size_t summary_id_warning(const summary *s, char *out, size_t size)
{
    if (!size)
        return 0;
    out[0] = '\0';
    if (!s->only_order_no || !s->only_session_id)
        return 0;
    int n = snprintf(out, size, "rows with only an order_no: %ld, with only a session_id: %ld; a transaction "
                     "named both ways is notified twice (without a lookup the two cannot be linked; see "
                     "docs/formats.md)", s->only_order_no, s->only_session_id);
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

double summary_elapsed_s(const summary *s) { return (double)(clock_mono_ns() - s->started_ns) / 1e9; }

int summary_exit_code(const summary *s)
{
    for (int i = 0; i < RS_COUNT; i++)
        if (s->status[i] && job_status_exit((row_status)i) != EXIT_DONE)
            return job_status_exit((row_status)i);
    return EXIT_DONE;
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
        if (s->channel_failed[0] || s->channel_failed[1] || s->channel_failed[2]) {
            fprintf(out, "  channels failed:");
            for (int i = 0; i < 3; i++)
                fprintf(out, " %s %ld", rules_channel_name(1u << i), s->channel_failed[i]);
            fputc('\n', out);
        }
        /* every attempt's answer: 110 attempts answered 503 show as 503×110, though the
         * rows' last answers were 200 */
        int any = 0;
        for (int i = 0; i < 600; i++) {
            long k = atomic_load(&s->http_attempts[i]);
            if (k)
                fprintf(out, "%s %d×%ld", any++ ? "" : "  HTTP:", i, k);
        }
        long none = atomic_load(&s->http_no_answer);
        if (none)
            fprintf(out, "%s no answer×%ld", any++ ? "," : "  HTTP:", none);
        if (any)
            fputc('\n', out);
    }
    long lk = atomic_load(&s->lookups);
    if (lk || s->unverified)
        fprintf(out, "  --verify: lookups %ld (retries %ld); rows without a session_id (unverified) %ld\n", lk,
                atomic_load(&s->lookup_retries), s->unverified);
    const summary_reason *top[SUMMARY_TOP_REASONS];
    int ntop = summary_top_reasons(s, top, SUMMARY_TOP_REASONS);
    if (ntop) {
        fprintf(out, "  why rows failed (most frequent first):\n");
        for (int i = 0; i < ntop; i++)
            fprintf(out, "    %6ld  %s\n", top[i]->count, top[i]->text);
    }
    if (s->stopped_by[0]) {
        char when[40] = "";
        if (s->resume_after_ms)
            clock_format_iso(s->resume_after_ms, when, sizeof when);
        fprintf(out, "  stopped by the %s%s%s: --resume continues the job\n",
                strcmp(s->stopped_by, "quota") == 0   ? "API's quota"
                : strcmp(s->stopped_by, "budget") == 0 ? "daily budget"
                : strcmp(s->stopped_by, "limit") == 0  ? "--limit"
                                                       : s->stopped_by,
                when[0] ? "; the API takes requests again after " : "", when);
    }
    if (s->ledger[0])
        fprintf(out, "  ledger: %s\n", s->ledger);
    char warn[400];
    if (summary_id_warning(s, warn, sizeof warn))
        fprintf(out, "  warning: %s\n", warn);
    if (output)
        fprintf(out, "  results: %s\n", strcmp(output, "-") ? output : "(standard output)");
    if (failures)
        fprintf(out, "  failures: %s\n", failures);
    fprintf(out, "  exit status %d\n", exit_code);
}

int summary_write_json(const summary *s, const char *path, int exit_code, char *err, size_t errlen)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", (double)s->rows);
    for (int i = 1; i < RS_COUNT; i++) /* every status but pending, by its name */
        cJSON_AddNumberToObject(o, job_status_name((row_status)i), (double)s->status[i]);
    cJSON_AddNumberToObject(o, "requests", (double)atomic_load(&s->requests));
    cJSON_AddNumberToObject(o, "retries", (double)atomic_load(&s->retries));
    cJSON_AddNumberToObject(o, "lookups", (double)atomic_load(&s->lookups));
    cJSON_AddNumberToObject(o, "lookup_retries", (double)atomic_load(&s->lookup_retries));
    cJSON_AddNumberToObject(o, "unverified", (double)s->unverified);
    cJSON_AddNumberToObject(o, "exit_code", exit_code);
    cJSON_AddNumberToObject(o, "elapsed_s", (double)(long)(summary_elapsed_s(s) * 1000) / 1000.0);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddNumberToObject(lat, "p50", (double)summary_percentile(s, 50));
    cJSON_AddNumberToObject(lat, "p95", (double)summary_percentile(s, 95));
    cJSON_AddNumberToObject(lat, "p99", (double)summary_percentile(s, 99));
    cJSON *ch = cJSON_AddObjectToObject(o, "channels_sent");
    for (int i = 0; i < 3; i++)
        cJSON_AddNumberToObject(ch, rules_channel_name(1u << i), (double)s->channel_sent[i]);
    cJSON *chf = cJSON_AddObjectToObject(o, "channels_failed");
    for (int i = 0; i < 3; i++)
        cJSON_AddNumberToObject(chf, rules_channel_name(1u << i), (double)s->channel_failed[i]);
    const summary_reason *top[SUMMARY_TOP_REASONS];
    int ntop = summary_top_reasons(s, top, SUMMARY_TOP_REASONS);
    cJSON *reasons = cJSON_AddArrayToObject(o, "failure_reasons");
    for (int i = 0; i < ntop; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "reason", top[i]->text);
        cJSON_AddNumberToObject(r, "count", (double)top[i]->count);
        cJSON_AddItemToArray(reasons, r);
    }
    if (s->stopped_by[0]) {
        cJSON_AddStringToObject(o, "stopped_by", s->stopped_by);
        if (s->resume_after_ms) {
            char when[40];
            clock_format_iso(s->resume_after_ms, when, sizeof when);
            cJSON_AddStringToObject(o, "resume_after", when);
        }
    }
    if (s->ledger[0])
        cJSON_AddStringToObject(o, "ledger", s->ledger);
    cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
    char warn[400];
    if (summary_id_warning(s, warn, sizeof warn))
        cJSON_AddItemToArray(warnings, cJSON_CreateString(warn));
    cJSON *http = cJSON_AddObjectToObject(o, "http_status");
    cJSON *att = cJSON_AddObjectToObject(o, "http_attempts");
    for (int i = 0; i < 600; i++) {
        char k[8];
        snprintf(k, sizeof k, "%d", i);
        if (s->http[i])
            cJSON_AddNumberToObject(http, k, (double)s->http[i]);
        if (atomic_load(&s->http_attempts[i]))
            cJSON_AddNumberToObject(att, k, (double)atomic_load(&s->http_attempts[i]));
    }
    if (atomic_load(&s->http_no_answer))
        cJSON_AddNumberToObject(att, "none", (double)atomic_load(&s->http_no_answer));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    if (strcmp(path, "-") == 0 || writer_is_stream(path)) {
        FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
        if (!f || fprintf(f, "%s\n", text) < 0 || (f != stdout ? fclose(f) : fflush(f)) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            rc = -1;
        }
    } else {
        /* A new file renamed over path: a link planted at path is replaced, its target untouched. */
        char *tmp;
        int fd = paths_temp_beside(path, 0666, &tmp);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        int ok = f && fprintf(f, "%s\n", text) >= 0;
        int e = errno;
        if (f && fclose(f) != 0 && ok) {
            ok = 0;
            e = errno;
        }
        if (!f && fd >= 0)
            close(fd);
        if (ok && rename(tmp, path) != 0) {
            ok = 0;
            e = errno;
        }
        if (!ok) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
            rc = -1;
            if (tmp)
                unlink(tmp);
        }
        free(tmp);
    }
    free(text);
    return rc;
}
