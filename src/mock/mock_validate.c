/* mock_validate — field-by-field validation of notification requests (pure). The
 * messages are Django REST framework's, which is what the real API answers with. */
#include "mock_validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "rules.h"
#include "text.h"

#define MSG_REQUIRED "This field is required."
#define MSG_NULL "This field may not be null."
#define MSG_BLANK "This field may not be blank."
#define MSG_NOT_STRING "Not a valid string."
#define MSG_EMAIL "Enter a valid email address."
#define MSG_INTEGER "A valid integer is required."

__attribute__((format(printf, 3, 4)))
static void add_error(cJSON **errs, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!*errs && !(*errs = cJSON_CreateObject()))
        return;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(*errs, field);
    if (!list) {
        list = cJSON_AddArrayToObject(*errs, field);
        if (!list)
            return;
    }
    cJSON_AddItemToArray(list, cJSON_CreateString(msg));
}

const char *mock_json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "str";
    if (cJSON_IsBool(v)) return "bool";
    if (cJSON_IsNull(v)) return "NoneType";
    if (cJSON_IsArray(v)) return "list";
    if (cJSON_IsObject(v)) return "dict";
    if (cJSON_IsNumber(v))
        return (isfinite(v->valuedouble) && v->valuedouble == trunc(v->valuedouble)) ? "int" : "float";
    return "object";
}

size_t mock_json_py_str(const cJSON *v, char *out, size_t size)
{
    char tmp[64];
    if (cJSON_IsString(v))
        return jsonutil_printable(v->valuestring, strlen(v->valuestring), out, size < 64 ? size : 64);
    if (cJSON_IsBool(v))
        return (size_t)snprintf(out, size, "%s", cJSON_IsTrue(v) ? "True" : "False");
    if (cJSON_IsNull(v))
        return (size_t)snprintf(out, size, "None");
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == trunc(d) && fabs(d) < 1e15)
            return (size_t)snprintf(out, size, "%.0f", d);
        /* Shortest text that reads back the same, like Python's repr(). */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        return (size_t)snprintf(out, size, "%s", tmp);
    }
    return (size_t)snprintf(out, size, "%s", cJSON_IsArray(v) ? "[...]" : "{...}");
}

int mock_is_phone(const char *s, size_t len)
{
    if (len < 9 || len > 16 || s[0] != '+')
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

enum { FIELD_ABSENT = 0, FIELD_OK = 1, FIELD_BAD = -1 };

/* A CharField: returns FIELD_OK with the trimmed value, FIELD_ABSENT, or FIELD_BAD after
 * recording the error. max_chars 0 = no limit. */
static int get_string(const cJSON *body, const char *key, int required, int allow_blank,
                      long max_chars, cJSON **errs, const char **s, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!v) {
        if (!required)
            return FIELD_ABSENT;
        add_error(errs, key, MSG_REQUIRED);
        return FIELD_BAD;
    }
    if (cJSON_IsNull(v)) {
        add_error(errs, key, MSG_NULL);
        return FIELD_BAD;
    }
    if (!cJSON_IsString(v)) {
        add_error(errs, key, MSG_NOT_STRING);
        return FIELD_BAD;
    }
    const char *p = v->valuestring;
    size_t n = strlen(p);
    text_trim_space(&p, &n); /* CharField: Python's str.strip(), U+00A0 and U+3000 too */
    if (n == 0 && !allow_blank) {
        add_error(errs, key, MSG_BLANK);
        return FIELD_BAD;
    }
    if (max_chars > 0 && rules_utf8_count(p, n, NULL) > max_chars) {
        add_error(errs, key, "Ensure this field has no more than %ld characters.", max_chars);
        return FIELD_BAD;
    }
    *s = p;
    *len = n;
    return FIELD_OK;
}

/* The bit of an exact (lower-case) channel name, as a ChoiceField compares them. */
static unsigned channel_exact(const char *s)
{
    if (strcmp(s, "sms") == 0) return RULES_SMS;
    if (strcmp(s, "email") == 0) return RULES_EMAIL;
    if (strcmp(s, "whatsapp") == 0) return RULES_WHATSAPP;
    return 0;
}

static void invalid_choice(cJSON **errs, const char *key, const cJSON *v)
{
    char shown[96];
    mock_json_py_str(v, shown, sizeof shown);
    add_error(errs, key, "\"%s\" is not a valid choice.", shown);
}

/* A list field: absent/null/not-a-list handled here; returns the array or NULL. */
static const cJSON *get_list(const cJSON *body, const char *key, int required, cJSON **errs, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *bad = 0;
    if (!v) {
        if (required) {
            add_error(errs, key, MSG_REQUIRED);
            *bad = 1;
        }
        return NULL;
    }
    if (cJSON_IsNull(v)) {
        add_error(errs, key, MSG_NULL);
        *bad = 1;
        return NULL;
    }
    if (!cJSON_IsArray(v)) {
        add_error(errs, key, "Expected a list of items but got type \"%s\".", mock_json_type_name(v));
        *bad = 1;
        return NULL;
    }
    return v;
}

cJSON *mock_validate_message(const cJSON *body, mock_message_req *out)
{
    cJSON *errs = NULL;
    int bad;
    memset(out, 0, sizeof *out);
    int has_order = get_string(body, "order_no", 0, 0, RULES_ID_MAX_CHARS, &errs, &out->order_no,
                               &out->order_no_len);
    int has_session = get_string(body, "session_id", 0, 0, RULES_ID_MAX_CHARS, &errs,
                                 &out->session_id, &out->session_id_len);
    const cJSON *list = get_list(body, "channels", 1, &errs, &bad);
    if (list && !list->child) {
        add_error(&errs, "channels", "This selection may not be empty.");
    } else if (list) {
        const cJSON *item;
        cJSON_ArrayForEach(item, list) {
            unsigned bit = cJSON_IsString(item) ? channel_exact(item->valuestring) : 0;
            if (!bit) {
                /* Like MultipleChoiceField: the first bad choice is reported. */
                invalid_choice(&errs, "channels", item);
                break;
            }
            if (!(out->channels & bit))
                out->order[out->n_channels++] = bit;
            out->channels |= bit;
        }
    }
    /* The cross-field rule runs only once every field is valid, as in a serializer's
     * validate(). */
    if (!errs && has_order != FIELD_OK && has_session != FIELD_OK)
        add_error(&errs, "non_field_errors", "Either order_no or session_id must be provided.");
    return errs;
}

static int is_integral(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != trunc(d) || fabs(d) > 9007199254740992.0)
        return 0;
    *out = (long long)d;
    return 1;
}

static void check_email_list(const cJSON *body, const char *key, unsigned channel, cJSON **errs)
{
    int bad;
    const cJSON *list = get_list(body, key, 0, errs, &bad);
    if (!list)
        return;
    if (list->child && channel && channel != RULES_EMAIL) {
        add_error(errs, key, "Only allowed for the email channel.");
        return;
    }
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        if (!cJSON_IsString(item)) {
            add_error(errs, key, "%s[%d]: " MSG_NOT_STRING, key, i);
        } else {
            const char *s = item->valuestring;
            size_t n = strlen(s);
            text_trim_space(&s, &n);
            if (!rules_is_email(s, n))
                add_error(errs, key, "%s[%d]: " MSG_EMAIL, key, i);
        }
        i++;
    }
}

static void check_optional_string(const cJSON *body, const char *key, long max_chars, cJSON **errs)
{
    const char *s;
    size_t n;
    get_string(body, key, 0, 1, max_chars, errs, &s, &n);
}

static void check_attachments(const cJSON *body, cJSON **errs)
{
    static const char *const props[] = {"content", "url", "filename", "content_type", "size"};
    int bad, i = 0;
    const cJSON *list = get_list(body, "attachments", 0, errs, &bad);
    const cJSON *item;
    if (!list)
        return;
    cJSON_ArrayForEach(item, list) {
        if (!cJSON_IsObject(item)) {
            add_error(errs, "attachments", "attachments[%d]: Invalid data. Expected a dictionary, but got %s.",
                      i, mock_json_type_name(item));
            i++;
            continue;
        }
        for (size_t p = 0; p < sizeof props / sizeof *props; p++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, props[p]);
            if (v && !cJSON_IsString(v))
                add_error(errs, "attachments", "attachments[%d].%s: " MSG_NOT_STRING, i, props[p]);
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(item, "url");
        if (!cJSON_IsString(content) && !cJSON_IsString(url))
            add_error(errs, "attachments", "attachments[%d]: Provide either content (base64) or url.", i);
        i++;
    }
}

static void check_tags(const cJSON *body, cJSON **errs)
{
    int bad, i = 0;
    const cJSON *list = get_list(body, "tags", 0, errs, &bad);
    const cJSON *item;
    if (!list)
        return;
    cJSON_ArrayForEach(item, list) {
        if (!cJSON_IsString(item))
            add_error(errs, "tags", "tags[%d]: " MSG_NOT_STRING, i);
        i++;
    }
}

cJSON *mock_validate_template(const cJSON *body, const char *path_channel, mock_template_req *out)
{
    cJSON *errs = NULL;
    memset(out, 0, sizeof *out);
    out->language = "en";

    if (path_channel) {
        out->channel = channel_exact(path_channel);
        if (!out->channel) {
            char shown[96];
            jsonutil_printable(path_channel, strlen(path_channel), shown, 64);
            add_error(&errs, "channel", "\"%s\" is not a valid choice.", shown);
        }
    } else {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "channel");
        if (!v)
            add_error(&errs, "channel", MSG_REQUIRED);
        else if (cJSON_IsNull(v))
            add_error(&errs, "channel", MSG_NULL);
        else if (!cJSON_IsString(v) || !(out->channel = channel_exact(v->valuestring)))
            invalid_choice(&errs, "channel", v);
    }

    get_string(body, "template_id", 1, 0, 0, &errs, &out->template_id, &out->template_id_len);

    if (get_string(body, "to", 1, 0, 0, &errs, &out->to, &out->to_len) == FIELD_OK && out->channel) {
        if (out->channel == RULES_EMAIL) {
            if (!rules_is_email(out->to, out->to_len))
                add_error(&errs, "to", MSG_EMAIL);
        } else if (!mock_is_phone(out->to, out->to_len)) {
            add_error(&errs, "to", "Enter a valid phone number in international format: + and 8 to 15 digits.");
        }
    }

    const cJSON *uc = cJSON_GetObjectItemCaseSensitive(body, "unit_config");
    if (uc) {
        if (cJSON_IsNull(uc))
            add_error(&errs, "unit_config", MSG_NULL);
        else if (!is_integral(uc, &out->unit_config))
            add_error(&errs, "unit_config", MSG_INTEGER);
        else
            out->has_unit_config = 1;
    } else if (out->channel == RULES_WHATSAPP) {
        add_error(&errs, "unit_config", "This field is required for whatsapp.");
    }

    const cJSON *lang = cJSON_GetObjectItemCaseSensitive(body, "language");
    if (lang) {
        if (cJSON_IsNull(lang))
            add_error(&errs, "language", MSG_NULL);
        else if (cJSON_IsString(lang) && strcmp(lang->valuestring, "en") == 0)
            out->language = "en";
        else if (cJSON_IsString(lang) && strcmp(lang->valuestring, "ar") == 0)
            out->language = "ar";
        else
            invalid_choice(&errs, "language", lang);
    }

    check_email_list(body, "cc", out->channel, &errs);
    check_email_list(body, "bcc", out->channel, &errs);
    check_optional_string(body, "subject", 0, &errs);
    check_optional_string(body, "body", 0, &errs);
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(body, "context");
    if (ctx && cJSON_IsNull(ctx))
        add_error(&errs, "context", MSG_NULL);
    check_attachments(body, &errs);
    check_optional_string(body, "trace_id", RULES_TRACE_ID_MAX_CHARS, &errs);
    check_tags(body, &errs);
    return errs;
}
