/* rules — channel, state, identifier and recipient rules of the Ottu API (pure). */
#include "rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const channel_names[] = {"sms", "email", "whatsapp"};

static const char *const state_names[RULES_STATE_COUNT] = {
    "created", "paid", "canceled", "failed", "expired",
    "authorized", "voided", "refunded", "captured",
    "pending", "attempted", "cod", "invalided", "refund_queued", "refund_rejected",
};

unsigned rules_channel_from_name(const char *s, size_t len)
{
    for (unsigned i = 0; i < 3; i++) {
        if (strlen(channel_names[i]) == len && strncasecmp(s, channel_names[i], len) == 0)
            return 1u << i;
    }
    return 0;
}

const char *rules_channel_name(unsigned bit)
{
    switch (bit) {
    case RULES_SMS: return "sms";
    case RULES_EMAIL: return "email";
    case RULES_WHATSAPP: return "whatsapp";
    default: return NULL;
    }
}

static int is_channel_sep(unsigned char c)
{
    return c == ',' || c == ';' || c == '|' || c == ' ' || c == '\t';
}

/* Copies at most 24 printable bytes of a token into err, so a hostile cell cannot put
 * terminal escapes or megabytes into a message. */
static void describe_token(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 24) {
            o += (size_t)snprintf(out + o, size - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (size)
        out[o < size ? o : size - 1] = '\0';
}

int rules_parse_channels(const char *s, size_t len, unsigned *mask, char *err, size_t errlen)
{
    unsigned m = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_channel_sep((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < len && !is_channel_sep((unsigned char)s[i]))
            i++;
        if (i == start)
            break;
        unsigned bit = rules_channel_from_name(s + start, i - start);
        if (!bit) {
            char tok[128];
            describe_token(s + start, i - start, tok, sizeof tok);
            snprintf(err, errlen, "unknown channel \"%s\" (expected sms, email or whatsapp)", tok);
            return -1;
        }
        m |= bit;
    }
    *mask = m;
    return 0;
}

size_t rules_format_channels(unsigned mask, char *buf, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 3; i++) {
        if (!(mask & (1u << i)))
            continue;
        size_t need = strlen(channel_names[i]) + (o ? 1 : 0);
        if (o + need >= size)
            break; /* whole names only: never a truncated "em" */
        snprintf(buf + o, size - o, "%s%s", o ? ";" : "", channel_names[i]);
        o += need;
    }
    return o;
}

rules_state rules_parse_state(const char *s, size_t len)
{
    rules_trim(&s, &len);
    for (int i = 0; i < RULES_STATE_COUNT; i++) {
        if (strlen(state_names[i]) == len && strncasecmp(s, state_names[i], len) == 0)
            return (rules_state)i;
    }
    return RULES_STATE_NONE;
}

const char *rules_state_name(rules_state st)
{
    return (st >= 0 && st < RULES_STATE_COUNT) ? state_names[st] : NULL;
}

int rules_state_has_notification(rules_state st)
{
    return st >= RULES_STATE_CREATED && st <= RULES_STATE_CAPTURED;
}

unsigned rules_channels_for_state(rules_state st)
{
    switch (st) {
    case RULES_STATE_CREATED:
    case RULES_STATE_PAID:
    case RULES_STATE_CANCELED:
    case RULES_STATE_FAILED:
    case RULES_STATE_EXPIRED:
    case RULES_STATE_AUTHORIZED:
        return RULES_ALL_CHANNELS;
    case RULES_STATE_VOIDED:
    case RULES_STATE_REFUNDED:
    case RULES_STATE_CAPTURED:
        return RULES_SMS | RULES_EMAIL;
    default:
        return 0;
    }
}

void rules_trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *s = p;
    *len = n;
}

size_t rules_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

long rules_utf8_count(const char *str, size_t len, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)str;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = rules_utf8_decode(s + i, len - i, &cp);
        if (!n) {
            if (bad_at)
                *bad_at = i;
            return -1;
        }
        i += n;
        count++;
    }
    return count;
}

int rules_check_identifier(const char *s, size_t len, char *err, size_t errlen)
{
    size_t bad = 0;
    long chars = rules_utf8_count(s, len, &bad);
    if (chars < 0) {
        snprintf(err, errlen, "is not valid UTF-8 (byte %zu)", bad + 1);
        return -1;
    }
    if (chars > RULES_ID_MAX_CHARS) {
        snprintf(err, errlen, "is %ld characters long (at most %d)", chars, RULES_ID_MAX_CHARS);
        return -1;
    }
    const unsigned char *u = (const unsigned char *)s;
    long pos = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = u[i];
        if ((c & 0xc0) != 0x80)
            pos++;
        unsigned cp = c;
        if (c == 0xc2 && i + 1 < len)
            cp = u[i + 1]; /* U+0080..U+00BF: C1 controls are U+0080..U+009F */
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && cp >= 0x80 && cp <= 0x9f)) {
            snprintf(err, errlen, "contains a control character (U+%04X) at character %ld",
                     c == 0xc2 ? cp : c, pos);
            return -1;
        }
    }
    return 0;
}

size_t rules_normalize_header(const char *in, size_t len, char *out, size_t size)
{
    size_t o = 0;
    int pending_sep = 0;
    if (size == 0)
        return 0;
    rules_trim(&in, &len);
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '-' || c == '_' || c == '\t') {
            pending_sep = 1;
            continue;
        }
        if (pending_sep && o > 0 && o + 2 < size)
            out[o++] = '_';
        pending_sep = 0;
        out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[o] = '\0';
    return o;
}

int rules_is_email(const char *s, size_t len)
{
    const char *at = NULL;
    if (len < 3 || len > 254)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '<' || c == '>' ||
            c == '(' || c == ')' || c == '[' || c == ']' || c == '\\')
            return 0;
        if (c == '@') {
            if (at)
                return 0;
            at = s + i;
        }
    }
    if (!at || at == s || at - s > 64)
        return 0;
    const char *dom = at + 1;
    size_t dlen = len - (size_t)(dom - s);
    if (dlen < 3 || dom[0] == '.' || dom[dlen - 1] == '.' || dom[0] == '-')
        return 0;
    const char *dot = memchr(dom, '.', dlen);
    if (!dot)
        return 0;
    for (size_t i = 1; i < dlen; i++) {
        if (dom[i] == '.' && dom[i - 1] == '.')
            return 0;
    }
    if (s[0] == '.' || at[-1] == '.')
        return 0;
    return 1;
}

int rules_normalize_phone(const char *in, size_t len, char *out, size_t size, char *err, size_t errlen)
{
    size_t o = 0, digits = 0;
    rules_trim(&in, &len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t')
            continue;
        if (c == '+' && o == 0) {
            /* only as the first kept character */
        } else if (c < '0' || c > '9') {
            snprintf(err, errlen, "is not a phone number: unexpected character at position %zu "
                     "(expected + followed by 8-15 digits)", i + 1);
            return -1;
        } else {
            digits++;
        }
        if (o + 1 >= size) {
            snprintf(err, errlen, "is too long for a phone number");
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (o == 0 || out[0] != '+') {
        snprintf(err, errlen, "must start with + and the country code (e.g. +96599999999)");
        return -1;
    }
    if (digits < 8 || digits > 15) {
        snprintf(err, errlen, "has %zu digits (a phone number has 8-15 after the +)", digits);
        return -1;
    }
    return 0;
}

int rules_parse_int(const char *s, size_t len, long long *out)
{
    rules_trim(&s, &len);
    size_t i = 0;
    int neg = 0;
    long long v = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (9223372036854775807LL - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

const char *rules_parse_language(const char *s, size_t len)
{
    rules_trim(&s, &len);
    if (len == 0)
        return "en";
    if (len == 2 && strncasecmp(s, "en", 2) == 0)
        return "en";
    if (len == 2 && strncasecmp(s, "ar", 2) == 0)
        return "ar";
    return NULL;
}

uint64_t rules_fnv1a64_update(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t rules_fnv1a64(const void *data, size_t len)
{
    return rules_fnv1a64_update(RULES_FNV_OFFSET, data, len);
}

size_t rules_mask_phone(const char *s, size_t len, char *out, size_t size)
{
    /* Keep the '+', the first 4 digits and the last 3; the middle becomes ****. */
    if (size == 0)
        return 0;
    if (len <= 7) {
        return (size_t)snprintf(out, size, "****");
    }
    int n = snprintf(out, size, "%.*s****%.*s", 5, s, 3, s + len - 3);
    return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
}

size_t rules_mask_email(const char *s, size_t len, char *out, size_t size)
{
    const char *at = memchr(s, '@', len);
    if (size == 0)
        return 0;
    if (!at || at == s)
        return (size_t)snprintf(out, size, "***");
    int n = snprintf(out, size, "%c***%.*s", s[0], (int)(len - (size_t)(at - s)), at);
    return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
}
