/* log — stderr lines with a UTC timestamp and the row number. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "job.h"
#include "rules.h"

#include <string.h>

static int level = LOG_NORMAL;
static void (*clear_hook)(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int l) { level = l; }
void log_set_hook(void (*clear)(void)) { clear_hook = clear; }

/* A token is a run of characters that can be part of an address or a number. */
static int in_token(unsigned char c)
{
    return c > ' ' && c != '"' && c != '\'' && c != ',' && c != ';' && c != '(' && c != ')' && c != '<' &&
           c != '>' && c != 0x7f;
}

size_t log_mask(const char *in, char *out, size_t size)
{
    size_t o = 0, i = 0, n = strlen(in);
    while (i < n && o + 1 < size) {
        size_t j = i;
        while (j < n && in_token((unsigned char)in[j]))
            j++;
        if (j == i) {
            unsigned char c = (unsigned char)in[i++];
            out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c; /* never a raw escape sequence */
            continue;
        }
        char tmp[128];
        size_t tl = 0;
        if (memchr(in + i, '@', j - i))
            tl = rules_mask_email(in + i, j - i, tmp, sizeof tmp);
        else if (in[i] == '+' && j - i >= 8 && strspn(in + i + 1, "0123456789") >= 7)
            tl = rules_mask_phone(in + i, j - i, tmp, sizeof tmp);
        const char *src = tl ? tmp : in + i;
        size_t len = tl ? tl : j - i;
        for (size_t k = 0; k < len && o + 1 < size; k++)
            out[o++] = (unsigned char)src[k] < 0x20 ? '?' : src[k];
        i = j;
    }
    out[o] = '\0';
    return o;
}

void log_msg(int lvl, long row, const char *fmt, ...)
{
    if (lvl > level)
        return;
    char ts[32];
    clock_format_iso(clock_now_ms(), ts, sizeof ts);
    pthread_mutex_lock(&mu);
    if (clear_hook)
        clear_hook();
    if (row > 0)
        fprintf(stderr, "%s row %ld: ", ts, row);
    else
        fprintf(stderr, "%s ", ts);
    char msg[2048], safe[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_mask(msg, safe, sizeof safe);
    fputs(safe, stderr);
    fputc('\n', stderr);
    pthread_mutex_unlock(&mu);
}
