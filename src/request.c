/* request — validation of one row and its JSON body, for both API modes (pure). */
#include "request.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"
#include "rules.h"

#define PATH_MESSAGE "/b/pbl/v2/message-notification/"
#define PATH_SEND "/b/pbl/v2/send-notification/"
#define PATH_SEND_CHANNEL "/b/pbl/v2/notifications/send/%s/"

void request_init(request *r) { memset(r, 0, sizeof *r); }

void request_free(request *r)
{
    free(r->body);
    request_init(r);
}

static int invalid(request *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    r->valid = 0;
    return 1;
}

/* The trimmed cell of a role, or "" when the column is absent. */
static const char *cell(const columns *c, const record *rec, col_role role, size_t *len)
{
    int i = c->idx[role];
    if (i < 0 || (size_t)i >= rec->n) {
        *len = 0;
        return "";
    }
    const char *s = record_field(rec, (size_t)i);
    *len = rec->flen[i];
    rules_trim(&s, len);
    return s;
}

static int set_body(request *r, cJSON *root)
{
    /* Render into the request's own buffer, reused across rows. */
    for (;;) {
        if (r->bodycap && cJSON_PrintPreallocated(root, r->body, (int)r->bodycap, 0)) {
            r->bodylen = strlen(r->body);
            return 0;
        }
        size_t nc = r->bodycap ? r->bodycap * 2 : 512;
        char *b = realloc(r->body, nc);
        if (!b)
            return -1;
        r->body = b;
        r->bodycap = nc;
        if (nc > (64u << 20))
            return -1;
    }
}

static cJSON *add_string_n(cJSON *obj, const char *key, const char *s, size_t len)
{
    char stack[256];
    char *tmp = len < sizeof stack ? stack : malloc(len + 1);
    if (!tmp)
        return NULL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    cJSON *item = cJSON_AddStringToObject(obj, key, tmp);
    if (tmp != stack)
        free(tmp);
    return item;
}

static void mask_ident(request *r, const char *s, size_t len)
{
    if (memchr(s, '@', len))
        rules_mask_email(s, len, r->log_ident, sizeof r->log_ident);
    else if (len && s[0] == '+')
        rules_mask_phone(s, len, r->log_ident, sizeof r->log_ident);
    else
        snprintf(r->log_ident, sizeof r->log_ident, "%.*s", (int)(len < 64 ? len : 64), s);
    /* Logs never carry control characters from the input. */
    for (char *p = r->log_ident; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static int build_message(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                         request *r)
{
    size_t olen, slen, chlen, stlen;
    const char *order = cell(c, rec, COL_ORDER_NO, &olen);
    const char *sess = cell(c, rec, COL_SESSION_ID, &slen);
    const char *chs = cell(c, rec, COL_CHANNELS, &chlen);
    const char *st = cell(c, rec, COL_STATE, &stlen);
    char why[200];

    const char *id = olen ? order : sess;
    size_t idlen = olen ? olen : slen;
    snprintf(r->ident, sizeof r->ident, "%.*s", (int)(idlen < 259 ? idlen : 259), id);
    memcpy(r->ledger_key, r->ident, sizeof r->ident);
    mask_ident(r, id, idlen);

    if (!olen && !slen)
        return invalid(r, "order_no and session_id are both empty (one is required)");
    if (olen && rules_check_identifier(order, olen, why, sizeof why) < 0)
        return invalid(r, "order_no %s", why);
    if (slen && rules_check_identifier(sess, slen, why, sizeof why) < 0)
        return invalid(r, "session_id %s", why);

    unsigned mask = 0;
    if (rules_parse_channels(chs, chlen, &mask, why, sizeof why) < 0)
        return invalid(r, "channels: %s", why);
    if (!mask)
        mask = o->default_channels;
    if (!mask)
        return invalid(r, "channels is empty and no --channels default was given");

    char notes[300] = "";
    size_t nn = 0;
    if (stlen) {
        rules_state state = rules_parse_state(st, stlen);
        if (state == RULES_STATE_NONE) {
            char tok[64];
            jsonutil_printable(st, stlen, tok, sizeof tok);
            return invalid(r, "state \"%s\" is not a payment state (created, paid, canceled, failed, "
                              "expired, authorized, voided, refunded, captured)", tok);
        }
        unsigned unsupported = mask & ~rules_channels_for_state(state);
        if (unsupported) {
            char list[40];
            rules_format_channels(unsupported, list, sizeof list);
            mask &= ~unsupported;
            if (!mask)
                return invalid(r, "no channel left: %s does not support state %s", list,
                               rules_state_name(state));
            nn += (size_t)snprintf(notes + nn, sizeof notes - nn, "dropped %s: state %s not supported",
                                   list, rules_state_name(state));
        }
    }
    r->channels = mask;
    /* The fingerprint is taken before ledger drops: the same row twice is a duplicate
     * whatever the ledger says. */
    uint64_t h = rules_fnv1a64(PATH_MESSAGE, sizeof PATH_MESSAGE - 1);
    h = rules_fnv1a64_update(h, order, olen);
    h = rules_fnv1a64_update(h, "\x1f", 1);
    h = rules_fnv1a64_update(h, sess, slen);
    h = rules_fnv1a64_update(h, "\x1f", 1);
    h = rules_fnv1a64_update(h, &mask, sizeof mask);
    r->fingerprint = h;

    mask &= ~drop;
    r->channels = mask;
    snprintf(r->path, sizeof r->path, "%s", PATH_MESSAGE);
    snprintf(r->detail, sizeof r->detail, "%s", notes);
    if (!mask) {
        r->valid = 1; /* nothing left to send: the caller decides (skipped) */
        return 0;
    }

    cJSON *root = cJSON_CreateObject();
    cJSON *arr = NULL;
    int rc = -1;
    if (!root)
        return -1;
    if (olen && !add_string_n(root, "order_no", order, olen))
        goto out;
    if (slen && !add_string_n(root, "session_id", sess, slen))
        goto out;
    arr = cJSON_AddArrayToObject(root, "channels");
    if (!arr)
        goto out;
    for (unsigned bit = 1; bit <= RULES_WHATSAPP; bit <<= 1)
        if (mask & bit)
            cJSON_AddItemToArray(arr, cJSON_CreateString(rules_channel_name(bit)));
    rc = set_body(r, root);
out:
    cJSON_Delete(root);
    if (rc == 0)
        r->valid = 1;
    return rc;
}

/* Splits a list cell on ';' or ',' into trimmed, non-empty items; calls fn for each. */
static int each_item(const char *s, size_t len, int (*fn)(void *, const char *, size_t), void *ctx)
{
    size_t i = 0;
    while (i <= len) {
        size_t start = i;
        while (i < len && s[i] != ';' && s[i] != ',')
            i++;
        const char *t = s + start;
        size_t tl = i - start;
        rules_trim(&t, &tl);
        if (tl) {
            int rc = fn(ctx, t, tl);
            if (rc)
                return rc;
        }
        i++;
    }
    return 0;
}

struct list_ctx {
    cJSON *arr;
    int emails;         /* validate each item as an email address */
    request *r;
    const char *what;
    const char *attach_dir;
};

static int add_list_item(void *p, const char *s, size_t len)
{
    struct list_ctx *lc = p;
    if (lc->emails && !rules_is_email(s, len)) {
        char tok[64];
        jsonutil_printable(s, len, tok, sizeof tok);
        invalid(lc->r, "%s: \"%s\" is not an email address", lc->what, tok);
        return 1;
    }
    char *tmp = malloc(len + 1);
    if (!tmp)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    cJSON_AddItemToArray(lc->arr, cJSON_CreateString(tmp));
    free(tmp);
    return 0;
}

static int add_list(cJSON *root, const char *key, const char *s, size_t len, int emails, request *r)
{
    if (!len)
        return 0;
    struct list_ctx lc = {cJSON_AddArrayToObject(root, key), emails, r, key, NULL};
    if (!lc.arr)
        return -1;
    return each_item(s, len, add_list_item, &lc);
}

static const char *content_type_for(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".pdf", "application/pdf"}, {".csv", "text/csv"},   {".txt", "text/plain"},
        {".png", "image/png"},       {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
        {".html", "text/html"},      {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int add_attachment(void *p, const char *s, size_t len)
{
    struct list_ctx *lc = p;
    char rel[4096], joined[8192];
    char tok[80];
    jsonutil_printable(s, len, tok, sizeof tok);
    if (len >= sizeof rel) {
        invalid(lc->r, "attachments: a path is longer than %zu bytes", sizeof rel - 1);
        return 1;
    }
    memcpy(rel, s, len);
    rel[len] = '\0';
    const char *dir = lc->attach_dir;
    if (!dir) {
        invalid(lc->r, "attachments: not available when the input is standard input");
        return 1;
    }
    /* A CSV may only attach files that sit beside it: a hostile row must not be able to
     * mail the key file or /proc/self/environ to its "to" address. */
    snprintf(joined, sizeof joined, "%s/%s", dir, rel);
    char *path = realpath(rel[0] == '/' ? rel : joined, NULL);
    size_t dl = strlen(dir);
    if (!path) {
        invalid(lc->r, "attachments: cannot read \"%s\": %s", tok, strerror(errno));
        return 1;
    }
    if (strncmp(path, dir, dl) != 0 || path[dl] != '/') {
        free(path);
        invalid(lc->r, "attachments: \"%s\" is outside the input file's folder (only files beside the CSV "
                       "can be attached)", tok);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) {
        invalid(lc->r, "attachments: cannot read \"%s\": %s", tok, strerror(errno));
        return 1;
    }
    unsigned char *data = malloc(REQUEST_MAX_ATTACHMENT + 1);
    size_t n = data ? fread(data, 1, REQUEST_MAX_ATTACHMENT + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!data)
        return -1;
    if (err || n > REQUEST_MAX_ATTACHMENT) {
        free(data);
        if (err)
            invalid(lc->r, "attachments: cannot read \"%s\"", tok);
        else
            invalid(lc->r, "attachments: \"%s\" is larger than %u MiB", tok, REQUEST_MAX_ATTACHMENT >> 20);
        return 1;
    }
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (!b64) {
        free(data);
        return -1;
    }
    request_base64(data, n, b64);
    free(data);
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "filename", base);
    cJSON_AddStringToObject(a, "content", b64);
    cJSON_AddStringToObject(a, "content_type", content_type_for(base));
    cJSON_AddItemToArray(lc->arr, a);
    free(b64);
    return 0;
}

size_t request_base64(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int build_template(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                          request *r)
{
    size_t chlen, tlen, tolen, langlen, uclen, cclen, bcclen, trlen, taglen, attlen, subjlen, bodylen;
    const char *ch = cell(c, rec, COL_CHANNELS, &chlen);
    const char *tid = cell(c, rec, COL_TEMPLATE_ID, &tlen);
    const char *to = cell(c, rec, COL_TO, &tolen);
    const char *lang = cell(c, rec, COL_LANGUAGE, &langlen);
    const char *uc = cell(c, rec, COL_UNIT_CONFIG, &uclen);
    const char *cc = cell(c, rec, COL_CC, &cclen);
    const char *bcc = cell(c, rec, COL_BCC, &bcclen);
    const char *trace = cell(c, rec, COL_TRACE_ID, &trlen);
    const char *tags = cell(c, rec, COL_TAGS, &taglen);
    const char *att = cell(c, rec, COL_ATTACHMENTS, &attlen);
    const char *subj = cell(c, rec, COL_SUBJECT, &subjlen);
    const char *body = cell(c, rec, COL_BODY, &bodylen);
    char why[200], tok[64], phone[40];

    /* Identifier first, so even an invalid row lands in a stable shard. */
    const char *ident = to;
    size_t identlen = tolen;
    unsigned bit = rules_channel_from_name(ch, chlen);
    int is_phone = bit == RULES_SMS || bit == RULES_WHATSAPP;
    int phone_ok = is_phone && rules_normalize_phone(to, tolen, phone, sizeof phone, why, sizeof why) == 0;
    if (phone_ok) {
        ident = phone;
        identlen = strlen(phone);
    }
    snprintf(r->ident, sizeof r->ident, "%.*s", (int)(identlen < 259 ? identlen : 259), ident);
    mask_ident(r, ident, identlen);
    snprintf(r->ledger_key, sizeof r->ledger_key, "%s|%.*s|%s", bit ? rules_channel_name(bit) : "",
             (int)(tlen < 128 ? tlen : 128), tid, r->ident);

    if (!bit) {
        if (!chlen)
            return invalid(r, "channel is empty (sms, email or whatsapp)");
        jsonutil_printable(ch, chlen, tok, sizeof tok);
        return invalid(r, "channel \"%s\" is not sms, email or whatsapp", tok);
    }
    if (!tlen)
        return invalid(r, "template_id is empty");
    if (rules_utf8_count(tid, tlen, NULL) < 0)
        return invalid(r, "template_id is not valid UTF-8");
    if (!tolen)
        return invalid(r, "to is empty");
    if (bit == RULES_EMAIL && !rules_is_email(to, tolen)) {
        jsonutil_printable(to, tolen, tok, sizeof tok);
        return invalid(r, "to \"%s\" is not an email address", tok);
    }
    if (is_phone && !phone_ok)
        return invalid(r, "to %s", why);
    long long unit = 0;
    if (uclen && rules_parse_int(uc, uclen, &unit) < 0) {
        jsonutil_printable(uc, uclen, tok, sizeof tok);
        return invalid(r, "unit_config \"%s\" is not an integer", tok);
    }
    if (bit == RULES_WHATSAPP && !uclen)
        return invalid(r, "unit_config is required for whatsapp");
    const char *language = rules_parse_language(lang, langlen);
    if (!language) {
        jsonutil_printable(lang, langlen, tok, sizeof tok);
        return invalid(r, "language \"%s\" is not en or ar", tok);
    }
    if ((cclen || bcclen) && bit != RULES_EMAIL)
        return invalid(r, "%s is only for email (channel is %s)", cclen ? "cc" : "bcc", rules_channel_name(bit));
    if (trlen) {
        long n = rules_utf8_count(trace, trlen, NULL);
        if (n < 0)
            return invalid(r, "trace_id is not valid UTF-8");
        if (n > RULES_TRACE_ID_MAX_CHARS)
            return invalid(r, "trace_id is %ld characters long (at most %d)", n, RULES_TRACE_ID_MAX_CHARS);
    }

    r->channels = bit;
    if (o->per_channel_endpoint)
        snprintf(r->path, sizeof r->path, PATH_SEND_CHANNEL, rules_channel_name(bit));
    else
        snprintf(r->path, sizeof r->path, "%s", PATH_SEND);

    cJSON *root = cJSON_CreateObject();
    int rc = -1;
    if (!root)
        return -1;
    if (!o->per_channel_endpoint)
        cJSON_AddStringToObject(root, "channel", rules_channel_name(bit));
    add_string_n(root, "template_id", tid, tlen);
    if (is_phone)
        cJSON_AddStringToObject(root, "to", phone);
    else
        add_string_n(root, "to", to, tolen);
    if (uclen)
        cJSON_AddNumberToObject(root, "unit_config", (double)unit);
    cJSON_AddStringToObject(root, "language", language);
    if (subjlen)
        add_string_n(root, "subject", subj, subjlen);
    if (bodylen)
        add_string_n(root, "body", body, bodylen);
    int lrc = add_list(root, "cc", cc, cclen, 1, r);
    if (!lrc)
        lrc = add_list(root, "bcc", bcc, bcclen, 1, r);
    if (!lrc)
        lrc = add_list(root, "tags", tags, taglen, 0, r);
    if (lrc) {
        cJSON_Delete(root);
        return lrc > 0 ? 1 : -1;
    }
    cJSON *ctx = NULL;
    for (size_t i = 0; i < c->n && i < rec->n; i++) {
        const char *v = record_field(rec, i);
        size_t vl = rec->flen[i];
        rules_trim(&v, &vl);
        if (c->role[i] != COL_CONTEXT || vl == 0)
            continue; /* empty (or blank) cells are left out */
        if (!ctx && !(ctx = cJSON_AddObjectToObject(root, "context")))
            goto out;
        add_string_n(ctx, c->context_name[i], record_field(rec, i), rec->flen[i]);
    }
    /* The fingerprint covers everything but a derived trace_id, which differs per row. */
    if (trlen)
        add_string_n(root, "trace_id", trace, trlen);
    if (attlen) {
        struct list_ctx lc = {cJSON_AddArrayToObject(root, "attachments"), 0, r, "attachments", o->attach_dir};
        int arc = lc.arr ? each_item(att, attlen, add_attachment, &lc) : -1;
        if (arc) {
            cJSON_Delete(root);
            return arc > 0 ? 1 : -1;
        }
    }
    if (set_body(r, root) < 0)
        goto out;
    r->fingerprint = rules_fnv1a64_update(rules_fnv1a64(r->path, strlen(r->path)), r->body, r->bodylen);
    if (!trlen) {
        char derived[64];
        snprintf(derived, sizeof derived, "ottu-resend-%.16s-%ld", o->job_id ? o->job_id : "job", rec->rowno);
        cJSON_AddStringToObject(root, "trace_id", derived);
        if (set_body(r, root) < 0)
            goto out;
    }
    r->channels = bit & ~drop;
    rc = 0;
    r->valid = 1;
out:
    cJSON_Delete(root);
    return rc;
}

int request_build(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                  request *r)
{
    r->valid = 0;
    r->detail[0] = '\0';
    r->channels = 0;
    r->path[0] = '\0';
    r->bodylen = 0;
    r->fingerprint = 0;
    r->ident[0] = r->ledger_key[0] = r->log_ident[0] = '\0';
    if (rec->malformed) {
        /* Still compute the identifier so the row has a stable shard. */
        request tmp;
        request_init(&tmp);
        record fixed = *rec;
        fixed.malformed = 0;
        if (c->mode == MODE_TEMPLATE)
            build_template(c, &fixed, o, 0, &tmp);
        else
            build_message(c, &fixed, o, 0, &tmp);
        memcpy(r->ident, tmp.ident, sizeof r->ident);
        memcpy(r->ledger_key, tmp.ledger_key, sizeof r->ledger_key);
        memcpy(r->log_ident, tmp.log_ident, sizeof r->log_ident);
        request_free(&tmp);
        return invalid(r, "%s", rec->problem);
    }
    if (rec->n != c->n) {
        int rc = c->mode == MODE_TEMPLATE ? build_template(c, rec, o, 0, r) : build_message(c, rec, o, 0, r);
        if (rc < 0)
            return rc;
        return invalid(r, "row has %zu field%s, the header has %zu", rec->n, rec->n == 1 ? "" : "s", c->n);
    }
    int rc = c->mode == MODE_TEMPLATE ? build_template(c, rec, o, drop, r) : build_message(c, rec, o, drop, r);
    return rc;
}

const char *request_endpoint(const request_opts *o)
{
    if (o->mode != MODE_TEMPLATE)
        return PATH_MESSAGE;
    /* Every channel's endpoint answers alike; the preflight needs one of them. */
    return o->per_channel_endpoint ? "/b/pbl/v2/notifications/send/sms/" : PATH_SEND;
}
