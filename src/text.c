/* text — printable copies of outside text, secret scrubbing, Unicode trimming (pure). */
#include "text.h"

#include <string.h>
#include <strings.h>

#include "rules.h"

size_t text_printable(const char *s, size_t len, char *out, size_t size)
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

/* Replaces s[at, at+len) with TEXT_REDACTED, truncating the tail at size. Returns the
 * index just past the replacement. */
static size_t replace_at(char *s, size_t size, size_t at, size_t len)
{
    static const char red[] = TEXT_REDACTED;
    size_t rlen = sizeof red - 1;
    size_t total = strlen(s);
    size_t tail = total - at - len;
    if (at + rlen >= size) {
        /* Not even the marker fits: cut the text here. */
        size_t keep = size - 1 - at;
        memcpy(s + at, red, keep);
        s[size - 1] = '\0';
        return size - 1;
    }
    if (at + rlen + tail >= size)
        tail = size - 1 - at - rlen;
    memmove(s + at + rlen, s + at + len, tail);
    memcpy(s + at, red, rlen);
    s[at + rlen + tail] = '\0';
    return at + rlen;
}

int text_scrub_secret(char *s, size_t size, const char *secret)
{
    if (!s || !size || !secret || !*secret)
        return 0;
    size_t slen = strlen(secret);
    int count = 0;
    /* The header form first, so "Api-Key " goes with the key it introduces. */
    static const char hdr[] = "api-key ";
    for (size_t i = 0; s[i];) {
        if (strncasecmp(s + i, hdr, sizeof hdr - 1) == 0 && strncmp(s + i + sizeof hdr - 1, secret, slen) == 0) {
            i = replace_at(s, size, i, sizeof hdr - 1 + slen);
            count++;
        } else {
            i++;
        }
    }
    /* Searching on after each marker: a secret inside "[redacted]" cannot loop. */
    size_t from = 0;
    char *p;
    while ((p = strstr(s + from, secret)) != NULL) {
        from = replace_at(s, size, (size_t)(p - s), slen);
        count++;
    }
    return count;
}

int text_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20);
    return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

void text_trim_space(const char **s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t n = *len, i = 0, start = 0, end = 0;
    int seen = 0;
    /* One pass forward: the first non-space character starts the text, the end of the
     * last one ends it (UTF-8 cannot be decoded backwards safely, forwards it can). */
    while (i < n) {
        uint32_t cp;
        size_t k = rules_utf8_decode(p + i, n - i, &cp);
        if (!k) {
            k = 1;
            cp = 0xfffd; /* not whitespace: an invalid byte is kept for validation to name */
        }
        if (!text_is_space(cp)) {
            if (!seen)
                start = i;
            seen = 1;
            end = i + k;
        }
        i += k;
    }
    *s += start;
    *len = seen ? end - start : 0;
}

size_t text_lower_ascii(const char *s, size_t len, char *out, size_t size)
{
    if (!size)
        return 0;
    if (len >= size)
        len = size - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    out[len] = '\0';
    return len;
}
