/* mock_txn — the transactions ottu-mock knows (--transactions CSV), looked up by order_no
 * or session_id. Read-only once loaded, so every HTTP thread may read it without a lock. */
#ifndef OTTU_MOCK_TXN_H
#define OTTU_MOCK_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

typedef struct mock_txn {
    char *order_no, *session_id;   /* "" when the cell is empty */
    char *email, *phone;           /* NULL when the file has no such column */
    rules_state state;
    uint16_t notify[3];            /* per channel (sms, email, whatsapp): bit per state enabled */
} mock_txn;

typedef struct mock_txn_table {
    mock_txn *rows;
    size_t count, cap;
    uint32_t *by_order, *by_session;  /* open addressing: row index + 1, 0 = empty */
    size_t buckets;                   /* a power of two */
} mock_txn_table;

/* Loads the CSV (libcsv, streamed). Returns 0, or -1 with err naming the line. */
int mock_txn_load(mock_txn_table *t, const char *path, char *err, size_t errlen);
/* Same, from memory (used by the loader and by unit tests). */
int mock_txn_load_buffer(mock_txn_table *t, const char *data, size_t len, char *err, size_t errlen);
void mock_txn_free(mock_txn_table *t);
/* Finds a transaction; when both identifiers are given both must match. NULL = unknown. */
const mock_txn *mock_txn_find(const mock_txn_table *t, const char *order_no, size_t order_len,
                              const char *session_id, size_t session_len);
/* The channels a message notification may use now: enabled for the current state and
 * supported in it. */
unsigned mock_txn_channels_now(const mock_txn *x);

#endif
