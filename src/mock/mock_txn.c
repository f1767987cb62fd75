/* mock_txn — loads the --transactions CSV with libcsv and indexes it by identifier. */
#include "mock_txn.h"

#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum col_role {
    COL_IGNORE = 0, COL_ORDER, COL_SESSION, COL_STATE, COL_EMAIL, COL_PHONE,
    COL_NOTIFY_SMS, COL_NOTIFY_EMAIL, COL_NOTIFY_WHATSAPP, COL_ROLES
};

static const char *const role_names[COL_ROLES] = {
    NULL, "order_no", "session_id", "state", "customer_email", "customer_phone",
    "notify_sms", "notify_email", "notify_whatsapp",
};

#define ALL_STATES ((uint16_t)((1u << RULES_STATE_COUNT) - 1))

typedef struct loader {
    mock_txn_table *t;
    int in_header;
    size_t record;          /* the record being read, header = 1 */
    enum col_role *roles;   /* per column */
    size_t ncols, col;
    int have[COL_ROLES];
    char **cells;           /* the current record's cells, by column */
    int failed;
    char *err;
    size_t errlen;
} loader;

__attribute__((format(printf, 2, 3)))
static void fail(loader *ld, const char *fmt, ...)
{
    va_list ap;
    if (ld->failed)
        return;
    ld->failed = 1;
    int n = snprintf(ld->err, ld->errlen, "transactions record %zu: ", ld->record);
    if (n < 0 || (size_t)n >= ld->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static uint64_t hash_key(const char *s, size_t len)
{
    return rules_fnv1a64(s, len);
}

/* Returns the slot holding key, or the empty slot where it would go. */
static uint32_t *slot_for(const mock_txn_table *t, uint32_t *table, int by_order, const char *key,
                          size_t len)
{
    size_t mask = t->buckets - 1;
    for (size_t i = (size_t)hash_key(key, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = table[i];
        if (!v)
            return &table[i];
        const mock_txn *x = &t->rows[v - 1];
        const char *k = by_order ? x->order_no : x->session_id;
        if (strlen(k) == len && memcmp(k, key, len) == 0)
            return &table[i];
    }
}

static int build_index(mock_txn_table *t, char *err, size_t errlen)
{
    size_t buckets = 16;
    while (buckets < t->count * 2)
        buckets <<= 1;
    t->buckets = buckets;
    t->by_order = calloc(buckets, sizeof *t->by_order);
    t->by_session = calloc(buckets, sizeof *t->by_session);
    if (!t->by_order || !t->by_session) {
        snprintf(err, errlen, "out of memory indexing transactions");
        return -1;
    }
    for (size_t i = 0; i < t->count; i++) {
        const mock_txn *x = &t->rows[i];
        for (int by_order = 1; by_order >= 0; by_order--) {
            const char *k = by_order ? x->order_no : x->session_id;
            if (!*k)
                continue;
            uint32_t *s = slot_for(t, by_order ? t->by_order : t->by_session, by_order, k, strlen(k));
            if (*s) {
                /* Identifiers are checked printable before they get here. */
                snprintf(err, errlen, "transactions: %s \"%s\" appears twice (data rows %u and %zu)",
                         by_order ? "order_no" : "session_id", k, *s, i + 1);
                return -1;
            }
            *s = (uint32_t)(i + 1);
        }
    }
    return 0;
}

/* Parses a notify_* cell: states separated by ';' (',' '|' and spaces tolerated). */
static int parse_states(loader *ld, const char *cell, const char *col, uint16_t *out)
{
    uint16_t m = 0;
    const char *p = cell;
    while (*p) {
        while (*p == ';' || *p == ',' || *p == '|' || *p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ';' && *p != ',' && *p != '|' && *p != ' ' && *p != '\t')
            p++;
        if (p == start)
            break;
        rules_state st = rules_parse_state(start, (size_t)(p - start));
        if (st == RULES_STATE_NONE) {
            fail(ld, "%s: \"%.*s\" is not a payment state", col, (int)(p - start > 40 ? 40 : p - start),
                 start);
            return -1;
        }
        m |= (uint16_t)(1u << st);
    }
    *out = m;
    return 0;
}

static const char *cell_of(loader *ld, enum col_role role)
{
    for (size_t c = 0; c < ld->ncols; c++) {
        if (ld->roles[c] == role)
            return ld->cells[c] ? ld->cells[c] : "";
    }
    return NULL;
}

static char *dup_or_die(loader *ld, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        fail(ld, "out of memory");
    return d;
}

static void finish_header(loader *ld)
{
    if (!ld->have[COL_ORDER] && !ld->have[COL_SESSION])
        fail(ld, "the header needs an order_no or a session_id column");
    ld->cells = calloc(ld->ncols ? ld->ncols : 1, sizeof *ld->cells);
    if (!ld->cells)
        fail(ld, "out of memory");
    ld->in_header = 0;
}

static void finish_row(loader *ld)
{
    mock_txn x = {0};
    char why[160];
    mock_txn_table *t = ld->t;

    if (ld->col != ld->ncols) {
        fail(ld, "has %zu fields, the header has %zu", ld->col, ld->ncols);
        return;
    }
    const char *ids[2] = {cell_of(ld, COL_ORDER), cell_of(ld, COL_SESSION)};
    const char *names[2] = {"order_no", "session_id"};
    for (int i = 0; i < 2; i++) {
        if (ids[i] && rules_check_identifier(ids[i], strlen(ids[i]), why, sizeof why)) {
            fail(ld, "%s %s", names[i], why);
            return;
        }
    }
    if ((!ids[0] || !*ids[0]) && (!ids[1] || !*ids[1])) {
        fail(ld, "has neither an order_no nor a session_id");
        return;
    }
    const char *st = cell_of(ld, COL_STATE);
    x.state = RULES_STATE_PAID;
    if (st && *st) {
        x.state = rules_parse_state(st, strlen(st));
        if (x.state == RULES_STATE_NONE) {
            fail(ld, "state \"%.40s\" is not a payment state", st);
            return;
        }
    }
    static const enum col_role notify_roles[3] = {COL_NOTIFY_SMS, COL_NOTIFY_EMAIL, COL_NOTIFY_WHATSAPP};
    for (int ch = 0; ch < 3; ch++) {
        const char *cell = cell_of(ld, notify_roles[ch]);
        x.notify[ch] = ALL_STATES; /* no such column: the channel is on in every state */
        if (cell && parse_states(ld, cell, role_names[notify_roles[ch]], &x.notify[ch]))
            return;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        mock_txn *rows = cap < UINT32_MAX / 2 ? realloc(t->rows, cap * sizeof *rows) : NULL;
        if (!rows) {
            fail(ld, "out of memory");
            return;
        }
        t->rows = rows;
        t->cap = cap;
    }
    const char *email = cell_of(ld, COL_EMAIL), *phone = cell_of(ld, COL_PHONE);
    x.order_no = dup_or_die(ld, ids[0]);
    x.session_id = dup_or_die(ld, ids[1]);
    x.email = email ? dup_or_die(ld, email) : NULL;
    x.phone = phone ? dup_or_die(ld, phone) : NULL;
    t->rows[t->count++] = x; /* stored even on failure so mock_txn_free releases it */
}

static void on_field(void *data, size_t len, void *v)
{
    loader *ld = v;
    const char *s = data ? data : "";
    if (ld->failed)
        return;
    if (ld->in_header) {
        char name[64];
        enum col_role role = COL_IGNORE;
        enum col_role *roles = realloc(ld->roles, (ld->ncols + 1) * sizeof *roles);
        if (!roles) {
            fail(ld, "out of memory");
            return;
        }
        ld->roles = roles;
        rules_normalize_header(s, len, name, sizeof name);
        for (int r = 1; r < COL_ROLES; r++) {
            if (strcmp(name, role_names[r]) == 0)
                role = (enum col_role)r;
        }
        if (role != COL_IGNORE && ld->have[role]) {
            fail(ld, "column %s appears twice in the header", role_names[role]);
            return;
        }
        ld->have[role] = 1;
        ld->roles[ld->ncols++] = role;
        return;
    }
    if (ld->col < ld->ncols) {
        char *cell = malloc(len + 1);
        if (!cell) {
            fail(ld, "out of memory");
            return;
        }
        memcpy(cell, s, len);
        cell[len] = '\0';
        free(ld->cells[ld->col]);
        ld->cells[ld->col] = cell;
    }
    ld->col++;
}

static void on_record(int c, void *v)
{
    loader *ld = v;
    (void)c;
    if (ld->failed)
        return;
    if (ld->in_header)
        finish_header(ld);
    else
        finish_row(ld);
    ld->record++;
    for (size_t i = 0; ld->cells && i < ld->ncols; i++) {
        free(ld->cells[i]);
        ld->cells[i] = NULL;
    }
    ld->col = 0;
}

static void loader_init(loader *ld, mock_txn_table *t, char *err, size_t errlen)
{
    memset(ld, 0, sizeof *ld);
    memset(t, 0, sizeof *t);
    ld->t = t;
    ld->in_header = 1;
    ld->record = 1;
    ld->err = err;
    ld->errlen = errlen;
}

static void loader_free(loader *ld)
{
    for (size_t i = 0; ld->cells && i < ld->ncols; i++)
        free(ld->cells[i]);
    free(ld->cells);
    free(ld->roles);
}

/* Feeds a chunk; the first chunk may start with a UTF-8 BOM, which is skipped. */
static int feed(loader *ld, struct csv_parser *p, const char *buf, size_t len, int first)
{
    if (first && len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    if (csv_parse(p, buf, len, on_field, on_record, ld) != len) {
        fail(ld, "CSV syntax error: %s", csv_strerror(csv_error(p)));
        return -1;
    }
    return ld->failed ? -1 : 0;
}

static int finish(loader *ld, struct csv_parser *p, int rc)
{
    if (rc == 0 && csv_fini(p, on_field, on_record, ld) != 0)
        fail(ld, "CSV syntax error at the end: %s", csv_strerror(csv_error(p)));
    csv_free(p);
    if (rc == 0 && !ld->failed && ld->in_header)
        fail(ld, "the file is empty (no header)");
    rc = ld->failed ? -1 : 0;
    loader_free(ld);
    if (rc == 0)
        rc = build_index(ld->t, ld->err, ld->errlen);
    if (rc != 0)
        mock_txn_free(ld->t);
    return rc;
}

int mock_txn_load_buffer(mock_txn_table *t, const char *data, size_t len, char *err, size_t errlen)
{
    loader ld;
    struct csv_parser p;
    loader_init(&ld, t, err, errlen);
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        snprintf(err, errlen, "cannot start the CSV parser");
        return -1;
    }
    return finish(&ld, &p, feed(&ld, &p, data, len, 1));
}

int mock_txn_load(mock_txn_table *t, const char *path, char *err, size_t errlen)
{
    loader ld;
    struct csv_parser p;
    char buf[65536];
    int rc = 0, first = 1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open transactions file %s: %s", path, strerror(errno));
        return -1;
    }
    loader_init(&ld, t, err, errlen);
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        fclose(f);
        snprintf(err, errlen, "cannot start the CSV parser");
        return -1;
    }
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        rc = feed(&ld, &p, buf, n, first);
        first = 0;
    }
    if (rc == 0 && ferror(f)) {
        fail(&ld, "read error: %s", strerror(errno));
        rc = -1;
    }
    fclose(f);
    return finish(&ld, &p, rc);
}

void mock_txn_free(mock_txn_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free(t->rows[i].order_no);
        free(t->rows[i].session_id);
        free(t->rows[i].email);
        free(t->rows[i].phone);
    }
    free(t->rows);
    free(t->by_order);
    free(t->by_session);
    memset(t, 0, sizeof *t);
}

const mock_txn *mock_txn_find(const mock_txn_table *t, const char *order_no, size_t order_len,
                              const char *session_id, size_t session_len)
{
    const mock_txn *x = NULL;
    if (!t->buckets)
        return NULL;
    if (order_len) {
        uint32_t v = *slot_for(t, t->by_order, 1, order_no, order_len);
        if (!v)
            return NULL;
        x = &t->rows[v - 1];
        if (session_len && (strlen(x->session_id) != session_len ||
                            memcmp(x->session_id, session_id, session_len) != 0))
            return NULL;
        return x;
    }
    if (session_len) {
        uint32_t v = *slot_for(t, t->by_session, 0, session_id, session_len);
        x = v ? &t->rows[v - 1] : NULL;
    }
    return x;
}

unsigned mock_txn_channels_now(const mock_txn *x)
{
    unsigned m = 0;
    for (int ch = 0; ch < 3; ch++) {
        if (x->notify[ch] & (1u << x->state))
            m |= 1u << ch;
    }
    return m & rules_channels_for_state(x->state);
}
