/* mock_deliveries — appends delivered notifications to a CSV file, safely across threads. */
#include "mock_deliveries.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rules.h"

int mock_deliveries_open(mock_deliveries *d, const char *path, char *err, size_t errlen)
{
    d->fd = -1;
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        return -1;
    }
    if (!path)
        return 0;
    d->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (d->fd < 0) {
        snprintf(err, errlen, "cannot open deliveries file %s: %s", path, strerror(errno));
        pthread_mutex_destroy(&d->lock);
        return -1;
    }
    return 0;
}

void mock_deliveries_close(mock_deliveries *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    pthread_mutex_destroy(&d->lock);
}

size_t mock_format_utc_now(char *buf, size_t size) { return clock_format_iso(clock_now_ms(), buf, size); }

int mock_csv_field(char *buf, size_t size, size_t *o, const char *s, size_t len)
{
    int quote = 0;
    size_t need = len;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == ',' || s[i] == '\n' || s[i] == '\r') {
            quote = 1;
            if (s[i] == '"')
                need++;
        }
    }
    need += quote ? 2 : 0;
    /* Keep room for the separator or newline the caller adds after the field. */
    if (*o + need + 1 >= size)
        return -1;
    if (quote)
        buf[(*o)++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            buf[(*o)++] = '"';
        buf[(*o)++] = s[i];
    }
    if (quote)
        buf[(*o)++] = '"';
    return 0;
}

/* Writes buf[0..o) to the log in one write under the lock, so lines never interleave. */
static int append(mock_deliveries *d, const char *buf, size_t o)
{
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    for (size_t off = 0; off < o;) {
        ssize_t n = write(d->fd, buf + off, o - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int mock_requests_write(mock_deliveries *d, const char *method, const char *path, unsigned status,
                        const char *body, size_t body_len)
{
    if (d->fd < 0)
        return 0;
    char when[40], st[16];
    size_t when_len = mock_format_utc_now(when, sizeof when);
    snprintf(st, sizeof st, "%u", status);
    const char *field[5] = {when, method, path, st, body ? body : ""};
    size_t len[5] = {when_len, strlen(method), strlen(path), strlen(st), body ? body_len : 0};
    size_t size = 16;
    for (int f = 0; f < 5; f++)
        size += 2 * len[f] + 3;
    char *buf = malloc(size);
    size_t o = 0;
    if (!buf)
        return -1;
    for (int f = 0; f < 5; f++) {
        if (mock_csv_field(buf, size, &o, field[f], len[f])) {
            free(buf);
            return -1;
        }
        buf[o++] = f < 4 ? ',' : '\n';
    }
    int rc = append(d, buf, o);
    free(buf);
    return rc;
}

int mock_deliveries_write(mock_deliveries *d, const char *endpoint, const char *identifier,
                          size_t id_len, unsigned channels, const char *detail, size_t detail_len)
{
    if (d->fd < 0)
        return 0;
    char when[40];
    size_t when_len = mock_format_utc_now(when, sizeof when);
    /* Identifiers are at most 128 characters, but a template's `to` or id is unbounded. */
    size_t size = 3 * (64 + 2 * id_len + 2 * detail_len + when_len + 16) + 1;
    char *buf = malloc(size);
    size_t o = 0;
    int rc = 0;
    if (!buf)
        return -1;
    for (unsigned bit = RULES_SMS; bit <= RULES_WHATSAPP; bit <<= 1) {
        if (!(channels & bit))
            continue;
        const char *ch = rules_channel_name(bit);
        const char *field[5] = {when, endpoint, identifier, ch, detail};
        size_t len[5] = {when_len, strlen(endpoint), id_len, strlen(ch), detail_len};
        for (int f = 0; f < 5; f++) {
            if (mock_csv_field(buf, size, &o, field[f], len[f])) {
                free(buf);
                return -1;
            }
            buf[o++] = f < 4 ? ',' : '\n';
        }
    }
    rc = append(d, buf, o);
    free(buf);
    return rc;
}
