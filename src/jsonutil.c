/* jsonutil — reads the human-readable message out of the API's response shapes (pure). */
#include "jsonutil.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

size_t jsonutil_printable(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0, i = 0;
    if (size == 0)
        return 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = 1;
        if (c >= 0x80) {
            /* Keep whole valid UTF-8 sequences (Arabic text in messages), replace the rest. */
            size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            if (want && i + want <= len && rules_utf8_count(s + i, want, NULL) == 1 &&
                !(c == 0xc2 && (unsigned char)s[i + 1] < 0xa0))
                n = want;
            else
                n = 0;
        } else if (c < 0x20 || c == 0x7f) {
            n = 0;
        }
        if (o + (n ? n : 1) + 1 > size) {
            /* Out of room: end with "...", backing up to a character boundary. */
            if (size >= 4) {
                if (o > size - 4)
                    o = size - 4;
                while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
                    o--;
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            out[o++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : '?';
            i++;
        }
    }
    out[o] = '\0';
    return o;
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
    /* cJSON's parser records its error position in a process-wide variable: workers
     * parse answers one at a time (parsing takes microseconds). */
    static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;
    cJSON *root = NULL;
    if (body && len) {
        pthread_mutex_lock(&parse_lock);
        root = cJSON_ParseWithLength(body, len);
        pthread_mutex_unlock(&parse_lock);
    }
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
