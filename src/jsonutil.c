/* jsonutil — reads the API's response shapes (pure): the human-readable message, whether a
 * 2xx confirms a send, which channels a failure names, and DRF's throttle wait. */
#include "jsonutil.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"
#include "text.h"

size_t jsonutil_printable(const char *s, size_t len, char *out, size_t size)
{
    return text_printable(s, len, out, size);
}

/* Appends "text" to out at *o, with a separator when something is already there. */
static void append(char *out, size_t size, size_t *o, const char *sep, const char *text)
{
    if (*o >= size - 1)
        return;
    char tmp[512];
    jsonutil_printable(text, strlen(text), tmp, sizeof tmp);
    int n = snprintf(out + *o, size - *o, "%s%s", *o ? sep : "", tmp);
    if (n > 0)
        *o += (size_t)n < size - *o ? (size_t)n : size - *o - 1;
}

/* cJSON's parser records its error position in a process-wide variable: workers parse
 * answers one at a time (parsing takes microseconds). */
static cJSON *parse(const char *body, size_t len)
{
    static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;
    if (!body || !len)
        return NULL;
    pthread_mutex_lock(&parse_lock);
    cJSON *root = cJSON_ParseWithLength(body, len);
    pthread_mutex_unlock(&parse_lock);
    return root;
}

static const char *string_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

size_t jsonutil_response_message(const char *body, size_t len, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return 0;
    out[0] = '\0';
    cJSON *root = parse(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        if (!body || !len)
            return 0;
        return jsonutil_printable(body, len, out, size);
    }
    const char *s;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsObject(err)) {
        /* Ottu's newer shape: {"error": {"type", "code", "message", "field"}} */
        const char *field = string_of(err, "field");
        const char *msg = string_of(err, "message");
        const char *code = string_of(err, "code");
        if (field)
            append(out, size, &o, "", field);
        if (msg)
            append(out, size, &o, ": ", msg);
        if (code)
            append(out, size, &o, " ", code[0] ? code : "");
    } else if ((s = string_of(root, "detail")) != NULL) {
        append(out, size, &o, "", s);
    } else if ((s = string_of(root, "result")) != NULL && strcmp(s, "failed") == 0) {
        /* Failure to notify: {"order_no", "session_id", "channels": "sms", "result": "failed"} */
        const char *ch = string_of(root, "channels");
        char tmp[128];
        snprintf(tmp, sizeof tmp, "notification failed%s%s%s", ch ? " (channel " : "", ch ? ch : "",
                 ch ? ")" : "");
        append(out, size, &o, "", tmp);
    } else if ((s = string_of(root, "message")) != NULL) {
        append(out, size, &o, "", s);
    } else {
        /* Field errors: {"field": ["msg", ...], ...} */
        for (const cJSON *it = root->child; it; it = it->next) {
            if (!it->string)
                continue;
            append(out, size, &o, "; ", it->string);
            const char *sep = ": ";
            if (cJSON_IsArray(it)) {
                for (const cJSON *m = it->child; m; m = m->next) {
                    if (cJSON_IsString(m)) {
                        append(out, size, &o, sep, m->valuestring);
                        sep = " ";
                    }
                }
            } else if (cJSON_IsString(it)) {
                append(out, size, &o, sep, it->valuestring);
            }
        }
    }
    cJSON_Delete(root);
    return o;
}

/* The channels a failure answer names: "sms", "sms,email" or ["sms", "email"]. 0 when
 * none (or nothing that is a channel). */
static unsigned named_channels(const cJSON *v)
{
    unsigned mask = 0;
    if (cJSON_IsString(v)) {
        char err[8];
        if (rules_parse_channels(v->valuestring, strlen(v->valuestring), &mask, err, sizeof err) < 0)
            mask = 0;
    } else if (cJSON_IsArray(v)) {
        for (const cJSON *it = v->child; it; it = it->next)
            if (cJSON_IsString(it))
                mask |= rules_channel_from_name(it->valuestring, strlen(it->valuestring));
    }
    return mask;
}

jsonutil_confirmation_kind jsonutil_confirmation(const char *body, size_t len, unsigned requested,
                                                 unsigned *failed_channels)
{
    *failed_channels = 0;
    cJSON *root = parse(body, len);
    jsonutil_confirmation_kind k = JSONUTIL_NOT_A_CONFIRMATION;
    if (cJSON_IsObject(root)) {
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
        if (cJSON_IsString(result) && strcmp(result->valuestring, "failed") == 0) {
            k = JSONUTIL_FAILED;
            unsigned named = named_channels(cJSON_GetObjectItemCaseSensitive(root, "channels")) & requested;
            /* Naming none of the requested channels says nothing about which went out: the
             * request as a whole failed. */
            *failed_channels = named ? named : requested;
        } else if (cJSON_IsString(result)) {
            if (strcmp(result->valuestring, "success") == 0)
                k = JSONUTIL_CONFIRMED;
            /* any other result ("pending", ...) is not a confirmation, message or not */
        } else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "message"))) {
            k = JSONUTIL_CONFIRMED;
        }
    }
    cJSON_Delete(root);
    return k;
}

long long jsonutil_throttle_wait_s(const char *body, size_t len)
{
    static const char phrase[] = "Expected available in ";
    const size_t plen = sizeof phrase - 1;
    if (!body)
        return -1;
    for (size_t i = 0; i + plen <= len; i++) {
        if (memcmp(body + i, phrase, plen) != 0)
            continue;
        size_t k = i + plen;
        long long secs = 0;
        int digits = 0;
        while (k < len && body[k] >= '0' && body[k] <= '9') {
            if (secs < 1000000000LL)
                secs = secs * 10 + (body[k] - '0');
            k++;
            digits++;
        }
        if (!digits)
            return -1;
        if (k < len && body[k] == '.') {
            /* DRF rounds up; a fraction here (older versions) waits the whole second */
            int frac = 0;
            for (k++; k < len && body[k] >= '0' && body[k] <= '9'; k++)
                frac |= body[k] != '0';
            secs += frac;
        }
        return secs;
    }
    return -1;
}
