/* text — printable copies of outside text and secret scrubbing (pure). */
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
