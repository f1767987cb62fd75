/* mock_deliveries — the --deliveries log (one CSV line per notification delivered) and the
 * --requests log (one CSV line per API request answered): append-only CSV files. */
#ifndef OTTU_MOCK_DELIVERIES_H
#define OTTU_MOCK_DELIVERIES_H

#include <pthread.h>
#include <stddef.h>

typedef struct mock_deliveries {
    int fd;                /* -1 when no log is kept */
    pthread_mutex_t lock;  /* one request's lines go out in one write, never interleaved */
} mock_deliveries;

/* Opens path for appending (created 0600: it holds customers' addresses); path NULL keeps
 * no log. Returns 0, or -1 with err. */
int mock_deliveries_open(mock_deliveries *d, const char *path, char *err, size_t errlen);
void mock_deliveries_close(mock_deliveries *d);
/* Appends one line per channel bit in channels (order sms, email, whatsapp):
 * time,endpoint,identifier,channel,detail. Returns 0 or -1 (write error). */
int mock_deliveries_write(mock_deliveries *d, const char *endpoint, const char *identifier,
                          size_t id_len, unsigned channels, const char *detail, size_t detail_len);
/* Appends time,method,path,status,body for one API request (status 0: no answer, the
 * connection was closed). Returns 0 or -1. */
int mock_requests_write(mock_deliveries *d, const char *method, const char *path, unsigned status,
                        const char *body, size_t body_len);
/* ISO 8601 UTC with milliseconds ("2026-11-23T19:40:00.123Z") into buf (>= 25 bytes). */
size_t mock_format_utc_now(char *buf, size_t size);
/* Appends a CSV field (RFC 4180 quoting when needed) to buf at *o; returns -1 when full. */
int mock_csv_field(char *buf, size_t size, size_t *o, const char *s, size_t len);

#endif
