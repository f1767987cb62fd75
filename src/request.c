/* request — validation of one row and its JSON body, for both API modes (pure). */
#include "request.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"
#include "jsonutil.h"
#include "rules.h"
#include "text.h"

#define PATH_MESSAGE "/b/pbl/v2/message-notification/"
#define PATH_SEND "/b/pbl/v2/send-notification/"
#define PATH_SEND_CHANNEL_BASE "/b/pbl/v2/notifications/send/"
#define PATH_SEND_CHANNEL PATH_SEND_CHANNEL_BASE "%s/"

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

/* The trimmed cell of a role, or "" when the column is absent. Identifiers (order_no,
 * session_id, to) lose every Unicode space at their ends, as the API's framework strips
 * them (U+00A0 from a spreadsheet export names the same order): the trimmed form is the
 * one sent, compared, sharded and recorded. */
static const char *cell(const columns *c, const record *rec, col_role role, size_t *len)
{
    int i = c->idx[role];
    if (i < 0 || (size_t)i >= rec->n) {
        *len = 0;
        return "";
    }
    const char *s = record_field(rec, (size_t)i);
    *len = rec->flen[i];
    if (role == COL_ORDER_NO || role == COL_SESSION_ID || role == COL_TO)
        text_trim_space(&s, len);
    else
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

/* Every cell that goes into a request must be UTF-8 (the API refuses anything else):
 * checks each column the mode reads, naming the first bad one by its header. */
static int check_utf8(const columns *c, const record *rec, request *r)
{
    for (size_t i = 0; i < c->n && i < rec->n; i++) {
        size_t bad;
        if (c->role[i] == COL_EXTRA || c->role[i] == COL_RESULT ||
            encoding_utf8_ok(record_field(rec, i), rec->flen[i], 1, &bad))
            continue;
        char name[64];
        jsonutil_printable(c->name[i], strlen(c->name[i]), name, sizeof name);
        return invalid(r, "%s is not valid UTF-8 (byte %zu of the cell): save the file as UTF-8, or give "
                          "--encoding", name, bad + 1);
    }
    return 0;
}

/* The fingerprint of a request: its path and its body as rendered without what differs per
 * row by design (a derived trace_id) or per ledger (dropped channels). Equal = a duplicate. */
static uint64_t fingerprint(const char *path, const char *body, size_t len, const char *extra, size_t extralen)
{
    uint64_t h = rules_fnv1a64(path, strlen(path));
    h = rules_fnv1a64_update(h, "\x1f", 1);
    h = rules_fnv1a64_update(h, body, len);
    h = rules_fnv1a64_update(h, "\x1f", 1);
    return rules_fnv1a64_update(h, extra, extralen);
}

static void message_ident(const columns *c, const record *rec, request *r)
{
    size_t olen, slen;
    const char *order = cell(c, rec, COL_ORDER_NO, &olen);
    const char *sess = cell(c, rec, COL_SESSION_ID, &slen);
    const char *id = olen ? order : sess;
    size_t idlen = olen ? olen : slen;
    snprintf(r->ident, sizeof r->ident, "%.*s", (int)(idlen < 259 ? idlen : 259), id);
    memcpy(r->ledger_key, r->ident, sizeof r->ident);
    mask_ident(r, id, idlen);
    r->id_kinds = (olen ? REQUEST_ID_ORDER_NO : 0) | (slen ? REQUEST_ID_SESSION_ID : 0);
}

/* The channels a state allows, or an invalid row for a state Ottu has no notification for. */
static int apply_state(const char *st, size_t stlen, unsigned *mask, char *notes, size_t notesz, request *r)
{
    rules_state state = rules_parse_state(st, stlen);
    char tok[64];
    if (state == RULES_STATE_NONE) {
        jsonutil_printable(st, stlen, tok, sizeof tok);
        return invalid(r, "state \"%s\" is not a payment state (created, pending, attempted, authorized, paid, cod, "
                          "failed, canceled, expired, invalided, refunded, refund_queued, refund_rejected, voided, "
                          "captured)", tok);
    }
    if (!rules_state_has_notification(state))
        return invalid(r, "state %s: Ottu has no notification for a transaction in this state (only for created, "
                          "paid, canceled, failed, expired, authorized, voided, refunded, captured)",
                       rules_state_name(state));
    unsigned unsupported = *mask & ~rules_channels_for_state(state);
    if (unsupported) {
        char list[40];
        rules_format_channels(unsupported, list, sizeof list);
        *mask &= ~unsupported;
        if (!*mask)
            return invalid(r, "no channel left: %s does not support state %s", list, rules_state_name(state));
        snprintf(notes, notesz, "dropped %s: state %s not supported", list, rules_state_name(state));
    }
    return 0;
}

static int set_channels(cJSON *root, unsigned mask)
{
    cJSON_DeleteItemFromObjectCaseSensitive(root, "channels");
    cJSON *arr = cJSON_AddArrayToObject(root, "channels");
    if (!arr)
        return -1;
    for (unsigned bit = 1; bit <= RULES_WHATSAPP; bit <<= 1)
        if ((mask & bit) && !cJSON_AddItemToArray(arr, cJSON_CreateString(rules_channel_name(bit))))
            return -1;
    return 0;
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

    if (check_utf8(c, rec, r))
        return 1;
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
    if (stlen && apply_state(st, stlen, &mask, notes, sizeof notes, r))
        return 1;

    snprintf(r->path, sizeof r->path, "%s", PATH_MESSAGE);
    snprintf(r->detail, sizeof r->detail, "%s", notes);
    cJSON *root = cJSON_CreateObject();
    int rc = -1;
    if (!root)
        return -1;
    if (olen && !add_string_n(root, "order_no", order, olen))
        goto out;
    if (slen && !add_string_n(root, "session_id", sess, slen))
        goto out;
    /* The fingerprint is taken before ledger drops: the same row twice is a duplicate
     * whatever the ledger says. */
    if (set_channels(root, mask) < 0 || set_body(r, root) < 0)
        goto out;
    r->fingerprint = fingerprint(r->path, r->body, r->bodylen, "", 0);
    r->channels = mask & ~drop;
    if (r->channels && r->channels != mask && (set_channels(root, r->channels) < 0 || set_body(r, root) < 0))
        goto out;
    if (!r->channels)
        r->bodylen = 0; /* nothing left to send: the caller decides (skipped) */
    rc = 0;
    r->valid = 1;
out:
    cJSON_Delete(root);
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
        text_trim_space(&t, &tl);
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

/* The template row's identifier (the normalised to), so even an invalid row lands in a
 * stable shard. Returns the channel bit (0 when not a channel). */
static unsigned template_ident(const columns *c, const record *rec, request *r, char *phone, size_t phonesz,
                               int *phone_ok, char *why, size_t whysz)
{
    size_t chlen, tlen, tolen;
    const char *ch = cell(c, rec, COL_CHANNELS, &chlen);
    const char *tid = cell(c, rec, COL_TEMPLATE_ID, &tlen);
    const char *to = cell(c, rec, COL_TO, &tolen);
    const char *ident = to;
    size_t identlen = tolen;
    unsigned bit = rules_channel_from_name(ch, chlen);
    int is_phone = bit == RULES_SMS || bit == RULES_WHATSAPP;
    *phone_ok = is_phone && rules_normalize_phone(to, tolen, phone, phonesz, why, whysz) == 0;
    if (*phone_ok) {
        ident = phone;
        identlen = strlen(phone);
    }
    /* One mailbox whatever the case it is written in: an address compares (and shards and
     * is recorded) lower-cased; it is sent as written. */
    if (bit == RULES_EMAIL)
        text_lower_ascii(ident, identlen, r->ident, sizeof r->ident);
    else
        snprintf(r->ident, sizeof r->ident, "%.*s", (int)(identlen < 259 ? identlen : 259), ident);
    mask_ident(r, ident, identlen);
    snprintf(r->ledger_key, sizeof r->ledger_key, "%s|%.*s|%s", bit ? rules_channel_name(bit) : "",
             (int)(tlen < 128 ? tlen : 128), tid, r->ident);
    return bit;
}

/* The checks of a template row that need no rendering. Returns 0 or 1 (invalid). */
static int template_check(const columns *c, const record *rec, unsigned bit, int phone_ok, const char *why,
                          long long *unit, const char **language, request *r)
{
    size_t chlen, tlen, tolen, langlen, uclen, cclen, bcclen, trlen;
    const char *ch = cell(c, rec, COL_CHANNELS, &chlen);
    cell(c, rec, COL_TEMPLATE_ID, &tlen);
    const char *to = cell(c, rec, COL_TO, &tolen);
    const char *lang = cell(c, rec, COL_LANGUAGE, &langlen);
    const char *uc = cell(c, rec, COL_UNIT_CONFIG, &uclen);
    cell(c, rec, COL_CC, &cclen);
    cell(c, rec, COL_BCC, &bcclen);
    const char *trace = cell(c, rec, COL_TRACE_ID, &trlen);
    char tok[64];
    if (!bit) {
        if (!chlen)
            return invalid(r, "channel is empty (sms, email or whatsapp)");
        jsonutil_printable(ch, chlen, tok, sizeof tok);
        return invalid(r, "channel \"%s\" is not sms, email or whatsapp", tok);
    }
    if (check_utf8(c, rec, r))
        return 1;
    if (!tlen)
        return invalid(r, "template_id is empty");
    if (!tolen)
        return invalid(r, "to is empty");
    if (bit == RULES_EMAIL && !rules_is_email(to, tolen)) {
        jsonutil_printable(to, tolen, tok, sizeof tok);
        return invalid(r, "to \"%s\" is not an email address", tok);
    }
    if (bit != RULES_EMAIL && !phone_ok)
        return invalid(r, "to %s", why);
    if (uclen && rules_parse_int(uc, uclen, unit) < 0) {
        jsonutil_printable(uc, uclen, tok, sizeof tok);
        return invalid(r, "unit_config \"%s\" is not an integer", tok);
    }
    if (bit == RULES_WHATSAPP && !uclen)
        return invalid(r, "unit_config is required for whatsapp");
    *language = rules_parse_language(lang, langlen);
    if (!*language) {
        jsonutil_printable(lang, langlen, tok, sizeof tok);
        return invalid(r, "language \"%s\" is not en or ar", tok);
    }
    if ((cclen || bcclen) && bit != RULES_EMAIL)
        return invalid(r, "%s is only for email (channel is %s)", cclen ? "cc" : "bcc", rules_channel_name(bit));
    if (trlen && rules_utf8_count(trace, trlen, NULL) > RULES_TRACE_ID_MAX_CHARS)
        return invalid(r, "trace_id is %ld characters long (at most %d)", rules_utf8_count(trace, trlen, NULL),
                       RULES_TRACE_ID_MAX_CHARS);
    return 0;
}

static int add_context(cJSON *root, const columns *c, const record *rec)
{
    cJSON *ctx = NULL;
    for (size_t i = 0; i < c->n && i < rec->n; i++) {
        const char *v = record_field(rec, i);
        size_t vl = rec->flen[i];
        rules_trim(&v, &vl);
        if (c->role[i] != COL_CONTEXT || vl == 0)
            continue; /* empty (or blank) cells are left out */
        if (!ctx && !(ctx = cJSON_AddObjectToObject(root, "context")))
            return -1;
        if (!add_string_n(ctx, c->context_name[i], record_field(rec, i), rec->flen[i]))
            return -1;
    }
    return 0;
}

/* The email addresses of a template body (to for email, cc, bcc): counts those with an
 * upper-case letter and, with lower, lower-cases them in place. */
static int fold_addresses(cJSON *root, int email, int lower)
{
    int n = 0;
    const char *keys[] = {"to", "cc", "bcc"};
    for (int k = email ? 0 : 1; k < 3; k++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        cJSON *item = cJSON_IsArray(v) ? v->child : v;
        for (; item; item = cJSON_IsArray(v) ? item->next : NULL) {
            if (!cJSON_IsString(item))
                continue;
            char *p = item->valuestring;
            int upper = 0;
            for (; *p; p++)
                if (*p >= 'A' && *p <= 'Z') {
                    upper = 1;
                    if (lower)
                        *p = (char)(*p + 32);
                }
            n += upper;
        }
    }
    return n;
}

static int build_template(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                          request *r)
{
    size_t tlen, tolen, uclen, cclen, bcclen, trlen, taglen, attlen, subjlen, bodylen;
    const char *tid = cell(c, rec, COL_TEMPLATE_ID, &tlen);
    cell(c, rec, COL_UNIT_CONFIG, &uclen);
    const char *to = cell(c, rec, COL_TO, &tolen);
    const char *cc = cell(c, rec, COL_CC, &cclen);
    const char *bcc = cell(c, rec, COL_BCC, &bcclen);
    const char *trace = cell(c, rec, COL_TRACE_ID, &trlen);
    const char *tags = cell(c, rec, COL_TAGS, &taglen);
    const char *att = cell(c, rec, COL_ATTACHMENTS, &attlen);
    const char *subj = cell(c, rec, COL_SUBJECT, &subjlen);
    const char *body = cell(c, rec, COL_BODY, &bodylen);
    char why[200], phone[40];
    int phone_ok;
    long long unit = 0;
    const char *language = NULL;

    unsigned bit = template_ident(c, rec, r, phone, sizeof phone, &phone_ok, why, sizeof why);
    if (template_check(c, rec, bit, phone_ok, why, &unit, &language, r))
        return 1;

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
    if (bit != RULES_EMAIL)
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
    if (add_context(root, c, rec) < 0)
        goto out;
    if (trlen)
        add_string_n(root, "trace_id", trace, trlen);
    /* A trace_id derived from the row differs per row by design: it goes last, so the
     * fingerprint can leave it out of the one rendering. */
    char derived[64] = "";
    if (!trlen) {
        snprintf(derived, sizeof derived, "ottu-resend-%.16s-%ld", o->job_id ? o->job_id : "job", rec->rowno);
        cJSON_AddStringToObject(root, "trace_id", derived);
    }
    /* The fingerprint compares addresses lower-cased (Alice@Example.com and
     * alice@example.com are one mailbox); the body sends them as written. */
    int email = bit == RULES_EMAIL;
    int folded = fold_addresses(root, email, 0) > 0;
    cJSON *cmp = folded ? cJSON_Duplicate(root, 1) : root;
    if (!cmp)
        goto out;
    if (folded)
        fold_addresses(cmp, email, 1);
    int brc = set_body(r, cmp);
    if (folded)
        cJSON_Delete(cmp);
    if (brc < 0)
        goto out;
    static const char tkey[] = ",\"trace_id\":\"";
    size_t keep = r->bodylen, tail = sizeof tkey - 1 + strlen(derived) + 2; /* ,"trace_id":"…"} */
    if (derived[0] && tail < keep && memcmp(r->body + keep - tail, tkey, sizeof tkey - 1) == 0)
        keep -= tail;
    /* Attachments are read later (request_load_attachments); their paths stand for them. */
    r->fingerprint = fingerprint(r->path, r->body, keep, att, attlen);
    if (folded && set_body(r, root) < 0)
        goto out;
    r->attachments = attlen > 0;
    r->channels = bit & ~drop;
    rc = 0;
    r->valid = 1;
out:
    cJSON_Delete(root);
    return rc;
}

int request_load_attachments(request *r, const columns *c, const record *rec, const request_opts *o)
{
    size_t attlen;
    const char *att = cell(c, rec, COL_ATTACHMENTS, &attlen);
    if (!r->valid || !r->attachments || !attlen || r->bodylen < 2)
        return 0;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return -1;
    struct list_ctx lc = {arr, 0, r, "attachments", o->attach_dir};
    int rc = each_item(att, attlen, add_attachment, &lc);
    char *text = rc == 0 ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (rc) {
        r->valid = 0;
        return rc > 0 ? 1 : -1;
    }
    if (!text)
        return -1;
    /* Splice ,"attachments":[...] in before the body's closing brace. */
    static const char key[] = ",\"attachments\":";
    size_t tl = strlen(text), need = r->bodylen + sizeof key - 1 + tl + 1;
    if (need > r->bodycap) {
        char *b = realloc(r->body, need);
        if (!b) {
            free(text);
            return -1;
        }
        r->body = b;
        r->bodycap = need;
    }
    size_t at = r->bodylen - 1;
    memcpy(r->body + at, key, sizeof key - 1);
    at += sizeof key - 1;
    memcpy(r->body + at, text, tl);
    at += tl;
    r->body[at++] = '}';
    r->body[at] = '\0';
    r->bodylen = at;
    r->attachments = 0;
    free(text);
    return 0;
}

int request_build(const columns *c, const record *rec, const request_opts *o, unsigned drop,
                  request *r)
{
    r->valid = 0;
    r->attachments = 0;
    r->detail[0] = '\0';
    r->channels = 0;
    r->path[0] = '\0';
    r->bodylen = 0;
    r->fingerprint = 0;
    r->ident[0] = r->ledger_key[0] = r->log_ident[0] = '\0';
    r->id_kinds = 0;
    /* The identifier first, so even an invalid row has a stable shard. */
    if (c->mode == MODE_TEMPLATE) {
        char phone[40], why[200];
        int ok;
        template_ident(c, rec, r, phone, sizeof phone, &ok, why, sizeof why);
    } else {
        message_ident(c, rec, r);
    }
    if (rec->malformed)
        return invalid(r, "%s", rec->problem);
    if (rec->n != c->n)
        return invalid(r, "row has %zu field%s, the header has %zu", rec->n, rec->n == 1 ? "" : "s", c->n);
    return c->mode == MODE_TEMPLATE ? build_template(c, rec, o, drop, r) : build_message(c, rec, o, drop, r);
}

const char *request_endpoint(const request_opts *o)
{
    if (o->mode != MODE_TEMPLATE)
        return PATH_MESSAGE;
    /* Every channel's endpoint answers alike; the preflight needs one of them. */
    return o->per_channel_endpoint ? PATH_SEND_CHANNEL_BASE "sms/" : PATH_SEND;
}
