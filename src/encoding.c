/* encoding — byte order marks, iconv conversion to UTF-8, and the guess for a non-UTF-8 file. */
#include "encoding.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules.h"

struct encoding_conv {
    iconv_t cd;
    char name[64];
};

const char *encoding_from_bom(const unsigned char *p, size_t n, size_t *bomlen)
{
    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        *bomlen = 3;
        return "UTF-8";
    }
    if (n >= 2 && p[0] == 0xff && p[1] == 0xfe) {
        *bomlen = 2;
        return "UTF-16LE";
    }
    if (n >= 2 && p[0] == 0xfe && p[1] == 0xff) {
        *bomlen = 2;
        return "UTF-16BE";
    }
    *bomlen = 0;
    return NULL;
}

int encoding_is_utf8(const char *name)
{
    return name && (strcasecmp(name, "utf-8") == 0 || strcasecmp(name, "utf8") == 0);
}

encoding_conv *encoding_conv_open(const char *name, char *err, size_t errlen)
{
    encoding_conv *cv = calloc(1, sizeof *cv);
    if (!cv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cv->cd = iconv_open("UTF-8", name);
    if (cv->cd == (iconv_t)-1) {
        snprintf(err, errlen, "--encoding %.60s: %s (iconv -l lists the names, e.g. windows-1256, windows-1252, "
                              "iso-8859-6, UTF-16)", name, errno == EINVAL ? "unknown encoding" : strerror(errno));
        free(cv);
        return NULL;
    }
    snprintf(cv->name, sizeof cv->name, "%s", name);
    return cv;
}

const char *encoding_conv_name(const encoding_conv *cv) { return cv->name; }

size_t encoding_conv_step(encoding_conv *cv, const char **in, size_t *inleft, char **out, size_t *outleft,
                          int at_eof)
{
    size_t bad = 0;
    while (*inleft && *outleft) {
        char *ip = (char *)*in;
        size_t r = iconv(cv->cd, &ip, inleft, out, outleft);
        *in = ip;
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG)
            break;
        if (errno == EINVAL && !at_eof)
            break; /* cut at the end of the chunk: the next read completes it */
        /* EILSEQ, or a sequence the file ends in the middle of: mark one byte and go on. */
        **out = ENCODING_BAD_BYTE;
        (*out)++;
        (*outleft)--;
        (*in)++;
        (*inleft)--;
        bad++;
        iconv(cv->cd, NULL, NULL, NULL, NULL);
    }
    return bad;
}

void encoding_conv_close(encoding_conv *cv)
{
    if (!cv)
        return;
    iconv_close(cv->cd);
    free(cv);
}

/* The length of a valid UTF-8 sequence at s, 0 when invalid, -1 when s ends inside a
 * sequence that could still be valid: rules_utf8_decode (the one decoder) on s, or on s
 * completed with the smallest continuation bytes that could follow (a second byte of 0xa0
 * for the leads whose second byte starts higher: E0, F0). */
static int seq_len(const unsigned char *s, size_t len)
{
    uint32_t cp;
    size_t n = rules_utf8_decode(s, len, &cp);
    size_t need = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    if (n > 0)
        return (int)n;
    if (len >= need)
        return 0;
    for (unsigned second = 0x80; second <= 0xa0; second += 0x20) {
        unsigned char t[4];
        memcpy(t, s, len);
        for (size_t k = len; k < need; k++)
            t[k] = (unsigned char)(k == 1 ? second : 0x80);
        if (rules_utf8_decode(t, need, &cp) > 0)
            return -1;
    }
    return 0;
}

int encoding_utf8_ok(const char *str, size_t len, int final, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int n = seq_len(s + i, len - i);
        if (n > 0) {
            i += (size_t)n;
            continue;
        }
        if (n < 0 && !final)
            return 1;
        if (bad_at)
            *bad_at = i;
        return 0;
    }
    return 1;
}

size_t encoding_utf8_repair(const char *str, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;
    while (i < len) {
        int n = seq_len(s + i, len - i);
        if (n > 0) {
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

const char *encoding_guess(const char *s, size_t len)
{
    /* Read each high byte as windows-1256 and count the Arabic letters it gives. */
    iconv_t cd = iconv_open("UTF-32LE", "WINDOWS-1256");
    size_t high = 0, arabic = 0;
    if (cd == (iconv_t)-1)
        return "windows-1252";
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x80)
            continue;
        high++;
        char in = s[i], outb[8];
        char *ip = &in, *op = outb;
        size_t il = 1, ol = sizeof outb;
        if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || ol != sizeof outb - 4) {
            iconv(cd, NULL, NULL, NULL, NULL);
            continue;
        }
        unsigned cp = (unsigned char)outb[0] | (unsigned)(unsigned char)outb[1] << 8 |
                      (unsigned)(unsigned char)outb[2] << 16;
        if ((cp >= 0x0600 && cp <= 0x06ff) || (cp >= 0x0750 && cp <= 0x077f) || (cp >= 0xfb50 && cp <= 0xfeff))
            arabic++;
    }
    iconv_close(cd);
    return high && arabic * 2 > high ? "windows-1256" : "windows-1252";
}
