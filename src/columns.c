/* columns — header names to column roles, per mode (pure), and the header row read from
 * the input. */
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

/* One --map 'HEADER=name': split at the last '=' (a recognised name never holds one). */
typedef struct map_entry {
    char from[256];  /* normalised header */
    char to[256];    /* normalised target */
    const char *to_raw; /* the target as typed (context.NAME keeps its case) */
    size_t to_rawlen;
    int used;
} map_entry;

static int is_known_target(const char *norm)
{
    if (strncmp(norm, "context.", 8) == 0 && norm[8])
        return 1;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strcmp(norm, known[k].name) == 0)
            return 1;
    return 0;
}

static int parse_maps(const char **maps, int nmaps, map_entry *m, char *err, size_t errlen)
{
    for (int i = 0; i < nmaps; i++) {
        const char *eq = strrchr(maps[i], '=');
        if (!eq || eq == maps[i] || !eq[1]) {
            snprintf(err, errlen, "--map '%.80s': expected 'HEADER=name', e.g. --map 'Merchant Ref=order_no'", maps[i]);
            return -1;
        }
        rules_normalize_header(maps[i], (size_t)(eq - maps[i]), m[i].from, sizeof m[i].from);
        const char *t = eq + 1;
        size_t tl = strlen(t);
        rules_trim(&t, &tl);
        rules_normalize_header(t, tl, m[i].to, sizeof m[i].to);
        m[i].to_raw = t;
        m[i].to_rawlen = tl;
        m[i].used = 0;
        if (!m[i].from[0] || !is_known_target(m[i].to)) {
            snprintf(err, errlen, "--map '%.80s': \"%.40s\" is not a column ottu-resend knows (order_no, session_id, "
                                  "channels, state; template mode: channel, template_id, to, language, unit_config, "
                                  "subject, body, cc, bcc, trace_id, tags, attachments, context.NAME)", maps[i], t);
            return -1;
        }
    }
    return 0;
}

/* The normalised header of column i into norm; returns the --map that renames it, or -1. */
static int effective(const record *h, size_t i, map_entry *m, int nmaps, char *norm, size_t size)
{
    int mapped = -1;
    rules_normalize_header(record_field(h, i), h->flen[i], norm, size);
    for (int k = 0; k < nmaps; k++)
        if (strcmp(norm, m[k].from) == 0) {
            m[k].used = 1;
            mapped = k;
        }
    return mapped;
}

int columns_parse(columns *c, const record *h, job_mode mode, const char **maps, int nmaps, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->n = h->n;
    c->role = calloc(h->n ? h->n : 1, sizeof *c->role);
    c->name = calloc(h->n ? h->n : 1, sizeof *c->name);
    c->context_name = calloc(h->n ? h->n : 1, sizeof *c->context_name);
    c->out = calloc(h->n ? h->n : 1, sizeof *c->out);
    map_entry *m = nmaps > 0 ? calloc((size_t)nmaps, sizeof *m) : NULL;
    int rc = -1;
    if (!c->role || !c->name || !c->context_name || !c->out || (nmaps > 0 && !m)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int r = 0; r < COL_ROLE_COUNT; r++)
        c->idx[r] = -1;
    if (parse_maps(maps, nmaps, m, err, errlen) < 0)
        goto out;

    char norm[256];
    if (mode == MODE_AUTO) {
        mode = MODE_MESSAGE;
        for (size_t i = 0; i < h->n; i++) {
            int mapped = effective(h, i, m, nmaps, norm, sizeof norm);
            if (strcmp(mapped >= 0 ? m[mapped].to : norm, "template_id") == 0)
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
            goto out;
        }
        int mapped = effective(h, i, m, nmaps, norm, sizeof norm);
        if (mapped >= 0) {
            /* Read as the target: its normalised name, and its own spelling for context.NAME. */
            snprintf(norm, sizeof norm, "%s", m[mapped].to);
            raw = m[mapped].to_raw;
            rawlen = m[mapped].to_rawlen;
        }
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
                goto out;
            }
            for (size_t k = 0; k < i; k++) {
                if (c->context_name[k] && strcmp(c->context_name[k], c->context_name[i]) == 0) {
                    snprintf(err, errlen, "header: columns %zu and %zu both name context.%s",
                             k + 1, i + 1, c->context_name[i]);
                    goto out;
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
                goto out;
            }
            c->idx[role] = (int)i;
        }
    }
    for (int k = 0; k < nmaps; k++) {
        if (!m[k].used) {
            snprintf(err, errlen, "--map '%.80s': the header has no column \"%.*s\" (names are matched ignoring case, "
                                  "spaces and hyphens)", maps[k], (int)(strrchr(maps[k], '=') - maps[k]), maps[k]);
            goto out;
        }
    }

    if (mode == MODE_MESSAGE) {
        if (c->idx[COL_ORDER_NO] < 0 && c->idx[COL_SESSION_ID] < 0) {
            snprintf(err, errlen, "header: no order_no or session_id column (found: %s%.60s%s)%s",
                     h->n ? "\"" : "", h->n ? c->name[0] : "nothing", h->n > 1 ? "\", ..." : "\"",
                     nmaps ? "" : "; --map 'HEADER=order_no' names another column");
            goto out;
        }
    } else {
        static const col_role need[] = {COL_CHANNELS, COL_TEMPLATE_ID, COL_TO};
        for (size_t k = 0; k < 3; k++) {
            if (c->idx[need[k]] < 0) {
                snprintf(err, errlen, "header: template mode needs a %s column",
                         need[k] == COL_CHANNELS ? "channel" : columns_role_name(need[k]));
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(m);
    return rc;
}

int columns_read_header(columns *c, reader *in, const char *input, job_mode mode, const char **maps, int nmaps,
                        unsigned default_channels, int verify, char *err, size_t errlen)
{
    record header;
    record_init(&header);
    int got = reader_next(in, &header, err, errlen);
    int rc = -1;
    if (got == 0)
        snprintf(err, errlen, "%s is empty: expected a header row (e.g. order_no,channels)",
                 strcmp(input, "-") ? input : "standard input");
    else if (got > 0 && (header.malformed || header.n == 0))
        snprintf(err, errlen, "%s: the header row is not valid CSV (%s)", input, header.problem);
    else if (got > 0)
        rc = columns_parse(c, &header, mode, maps, nmaps, err, errlen);
    record_free(&header);
    if (rc < 0)
        return -1;
    if (c->mode == MODE_MESSAGE && c->idx[COL_CHANNELS] < 0 && !default_channels) {
        snprintf(err, errlen, "the header has no channels column: add one, or give --channels (e.g. --channels sms,email)");
        return -1;
    }
    if (verify && c->mode != MODE_MESSAGE) {
        snprintf(err, errlen, "--verify reads transactions: it applies to message mode only (a template row names "
                              "no transaction)");
        return -1;
    }
    return 0;
}
