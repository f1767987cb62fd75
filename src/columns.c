/* columns — header names to column roles, per mode (pure). */
#include "columns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules.h"

static const struct {
    const char *name;
    col_role role;
    int template_only; /* 1: template mode, 0: message mode, 2: both */
} known[] = {
    {"order_no", COL_ORDER_NO, 0},     {"session_id", COL_SESSION_ID, 0},
    {"channels", COL_CHANNELS, 2},     {"channel", COL_CHANNELS, 2},
    {"state", COL_STATE, 0},           {"template_id", COL_TEMPLATE_ID, 1},
    {"to", COL_TO, 1},                 {"language", COL_LANGUAGE, 1},
    {"unit_config", COL_UNIT_CONFIG, 1}, {"subject", COL_SUBJECT, 1},
    {"body", COL_BODY, 1},             {"cc", COL_CC, 1},
    {"bcc", COL_BCC, 1},               {"trace_id", COL_TRACE_ID, 1},
    {"tags", COL_TAGS, 1},             {"attachments", COL_ATTACHMENTS, 1},
};

const char *columns_role_name(col_role r)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].role == r)
            return known[i].name;
    return "?";
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void columns_free(columns *c)
{
    if (c->name)
        for (size_t i = 0; i < c->n; i++)
            free(c->name[i]);
    if (c->context_name)
        for (size_t i = 0; i < c->n; i++)
            free(c->context_name[i]);
    free(c->name);
    free(c->context_name);
    free(c->role);
    free(c->out);
    memset(c, 0, sizeof *c);
}

int columns_parse(columns *c, const record *h, job_mode mode, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->n = h->n;
    c->role = calloc(h->n ? h->n : 1, sizeof *c->role);
    c->name = calloc(h->n ? h->n : 1, sizeof *c->name);
    c->context_name = calloc(h->n ? h->n : 1, sizeof *c->context_name);
    c->out = calloc(h->n ? h->n : 1, sizeof *c->out);
    if (!c->role || !c->name || !c->context_name || !c->out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int r = 0; r < COL_ROLE_COUNT; r++)
        c->idx[r] = -1;

    char norm[256];
    if (mode == MODE_AUTO) {
        mode = MODE_MESSAGE;
        for (size_t i = 0; i < h->n; i++) {
            rules_normalize_header(record_field(h, i), h->flen[i], norm, sizeof norm);
            if (strcmp(norm, "template_id") == 0)
                mode = MODE_TEMPLATE;
        }
    }
    c->mode = mode;

    for (size_t i = 0; i < h->n; i++) {
        const char *raw = record_field(h, i);
        size_t rawlen = h->flen[i];
        c->name[i] = dup_n(raw, rawlen);
        if (!c->name[i]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rules_normalize_header(raw, rawlen, norm, sizeof norm);
        col_role role = COL_EXTRA;
        if (strncmp(norm, "result_", 7) == 0) {
            role = COL_RESULT;
        } else if (mode == MODE_TEMPLATE && strncmp(norm, "context.", 8) == 0 && norm[8]) {
            /* NAME keeps its original case and inner spelling. */
            const char *t = raw;
            size_t tl = rawlen;
            rules_trim(&t, &tl);
            role = COL_CONTEXT;
            c->context_name[i] = dup_n(t + 8, tl - 8);
            if (!c->context_name[i]) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            for (size_t k = 0; k < i; k++) {
                if (c->context_name[k] && strcmp(c->context_name[k], c->context_name[i]) == 0) {
                    snprintf(err, errlen, "header: columns %zu and %zu both name context.%s",
                             k + 1, i + 1, c->context_name[i]);
                    return -1;
                }
            }
        } else {
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
                if (strcmp(norm, known[k].name) != 0)
                    continue;
                if (known[k].template_only == 2 || known[k].template_only == (mode == MODE_TEMPLATE))
                    role = known[k].role;
                break;
            }
        }
        c->role[i] = role;
        if (role != COL_RESULT)
            c->out[c->nout++] = i;
        if (role > COL_RESULT && role != COL_CONTEXT) {
            if (c->idx[role] >= 0) {
                snprintf(err, errlen,
                         "header: columns %d (\"%.40s\") and %zu (\"%.40s\") both mean %s; keep one",
                         c->idx[role] + 1, c->name[c->idx[role]], i + 1, c->name[i],
                         columns_role_name(role));
                return -1;
            }
            c->idx[role] = (int)i;
        }
    }

    if (mode == MODE_MESSAGE) {
        if (c->idx[COL_ORDER_NO] < 0 && c->idx[COL_SESSION_ID] < 0) {
            snprintf(err, errlen, "header: no order_no or session_id column (found: %s%.60s%s)",
                     h->n ? "\"" : "", h->n ? c->name[0] : "nothing", h->n > 1 ? "\", ..." : "\"");
            return -1;
        }
    } else {
        static const col_role need[] = {COL_CHANNELS, COL_TEMPLATE_ID, COL_TO};
        for (size_t k = 0; k < 3; k++) {
            if (c->idx[need[k]] < 0) {
                snprintf(err, errlen, "header: template mode needs a %s column",
                         need[k] == COL_CHANNELS ? "channel" : columns_role_name(need[k]));
                return -1;
            }
        }
    }
    return 0;
}
