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
#include "request_internal.h"
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

int request_invalid(request *r, const char *fmt, ...)
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
const char *request_cell(const columns *c, const record *rec, col_role role, size_t *len)
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
    char masked[sizeof r->log_ident];
    if (memchr(s, '@', len))
        rules_mask_email(s, len, masked, sizeof masked);
    else if (len && s[0] == '+')
        rules_mask_phone(s, len, masked, sizeof masked);
    else
        snprintf(masked, sizeof masked, "%.*s", (int)(len < 64 ? len : 64), s);
    /* Logs never carry control characters from the input. */
    text_printable(masked, strlen(masked), r->log_ident, sizeof r->log_ident);
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
        text_printable(c->name[i], strlen(c->name[i]), name, sizeof name);
        return request_invalid(r, "%s is not valid UTF-8 (byte %zu of the cell): save the file as UTF-8, or give "
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
    const char *order = request_cell(c, rec, COL_ORDER_NO, &olen);
    const char *sess = request_cell(c, rec, COL_SESSION_ID, &slen);
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
        text_printable(st, stlen, tok, sizeof tok);
        return request_invalid(r, "state \"%s\" is not a payment state (created, pending, attempted, authorized, paid, cod, "
                          "failed, canceled, expired, invalided, refunded, refund_queued, refund_rejected, voided, "
                          "captured)", tok);
    }
    if (!rules_state_has_notification(state))
        return request_invalid(r, "state %s: Ottu has no notification for a transaction in this state (only for created, "
                          "paid, canceled, failed, expired, authorized, voided, refunded, captured)",
                       rules_state_name(state));
    unsigned unsupported = *mask & ~rules_channels_for_state(state);
    if (unsupported) {
        char list[40];
        rules_format_channels(unsupported, list, sizeof list);
        *mask &= ~unsupported;
        if (!*mask)
            return request_invalid(r, "no channel left: %s does not support state %s", list, rules_state_name(state));
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
    const char *order = request_cell(c, rec, COL_ORDER_NO, &olen);
    const char *sess = request_cell(c, rec, COL_SESSION_ID, &slen);
    const char *chs = request_cell(c, rec, COL_CHANNELS, &chlen);
    const char *st = request_cell(c, rec, COL_STATE, &stlen);
    char why[200];

    if (check_utf8(c, rec, r))
        return 1;
    if (!olen && !slen)
        return request_invalid(r, "order_no and session_id are both empty (one is required)");
    if (olen && rules_check_identifier(order, olen, why, sizeof why) < 0)
        return request_invalid(r, "order_no %s", why);
    if (slen && rules_check_identifier(sess, slen, why, sizeof why) < 0)
        return request_invalid(r, "session_id %s", why);

    unsigned mask = 0;
    if (rules_parse_channels(chs, chlen, &mask, why, sizeof why) < 0)
        return request_invalid(r, "channels: %s", why);
    if (!mask)
        mask = o->default_channels;
    if (!mask)
        return request_invalid(r, "channels is empty and no --channels default was given");
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
int request_each_item(const char *s, size_t len, int (*fn)(void *, const char *, size_t), void *ctx)
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

static int add_list_item(void *p, const char *s, size_t len)
{
    struct list_ctx *lc = p;
    if (lc->emails && !rules_is_email(s, len)) {
        char tok[64];
        text_printable(s, len, tok, sizeof tok);
        request_invalid(lc->r, "%s: \"%s\" is not an email address", lc->what, tok);
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
    return request_each_item(s, len, add_list_item, &lc);
}

/* The template row's identifier (the normalised to), so even an invalid row lands in a
 * stable shard. Returns the channel bit (0 when not a channel). */
static unsigned template_ident(const columns *c, const record *rec, request *r, char *phone, size_t phonesz,
                               int *phone_ok, char *why, size_t whysz)
{
    size_t chlen, tlen, tolen;
    const char *ch = request_cell(c, rec, COL_CHANNELS, &chlen);
    const char *tid = request_cell(c, rec, COL_TEMPLATE_ID, &tlen);
    const char *to = request_cell(c, rec, COL_TO, &tolen);
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
    const char *ch = request_cell(c, rec, COL_CHANNELS, &chlen);
    request_cell(c, rec, COL_TEMPLATE_ID, &tlen);
    const char *to = request_cell(c, rec, COL_TO, &tolen);
    const char *lang = request_cell(c, rec, COL_LANGUAGE, &langlen);
    const char *uc = request_cell(c, rec, COL_UNIT_CONFIG, &uclen);
    request_cell(c, rec, COL_CC, &cclen);
    request_cell(c, rec, COL_BCC, &bcclen);
    const char *trace = request_cell(c, rec, COL_TRACE_ID, &trlen);
    char tok[64];
    if (!bit) {
        if (!chlen)
            return request_invalid(r, "channel is empty (sms, email or whatsapp)");
        text_printable(ch, chlen, tok, sizeof tok);
        return request_invalid(r, "channel \"%s\" is not sms, email or whatsapp", tok);
    }
    if (check_utf8(c, rec, r))
        return 1;
    if (!tlen)
        return request_invalid(r, "template_id is empty");
    if (!tolen)
        return request_invalid(r, "to is empty");
    if (bit == RULES_EMAIL && !rules_is_email(to, tolen)) {
        text_printable(to, tolen, tok, sizeof tok);
        return request_invalid(r, "to \"%s\" is not an email address", tok);
    }
    if (bit != RULES_EMAIL && !phone_ok)
        return request_invalid(r, "to %s", why);
    if (uclen && rules_parse_int(uc, uclen, unit) < 0) {
        text_printable(uc, uclen, tok, sizeof tok);
        return request_invalid(r, "unit_config \"%s\" is not an integer", tok);
    }
    if (bit == RULES_WHATSAPP && !uclen)
        return request_invalid(r, "unit_config is required for whatsapp");
    *language = rules_parse_language(lang, langlen);
    if (!*language) {
        text_printable(lang, langlen, tok, sizeof tok);
        return request_invalid(r, "language \"%s\" is not en or ar", tok);
    }
    if ((cclen || bcclen) && bit != RULES_EMAIL)
        return request_invalid(r, "%s is only for email (channel is %s)", cclen ? "cc" : "bcc", rules_channel_name(bit));
    if (trlen && rules_utf8_count(trace, trlen, NULL) > RULES_TRACE_ID_MAX_CHARS)
        return request_invalid(r, "trace_id is %ld characters long (at most %d)", rules_utf8_count(trace, trlen, NULL),
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
    const char *tid = request_cell(c, rec, COL_TEMPLATE_ID, &tlen);
    request_cell(c, rec, COL_UNIT_CONFIG, &uclen);
    const char *to = request_cell(c, rec, COL_TO, &tolen);
    const char *cc = request_cell(c, rec, COL_CC, &cclen);
    const char *bcc = request_cell(c, rec, COL_BCC, &bcclen);
    const char *trace = request_cell(c, rec, COL_TRACE_ID, &trlen);
    const char *tags = request_cell(c, rec, COL_TAGS, &taglen);
    const char *att = request_cell(c, rec, COL_ATTACHMENTS, &attlen);
    const char *subj = request_cell(c, rec, COL_SUBJECT, &subjlen);
    const char *body = request_cell(c, rec, COL_BODY, &bodylen);
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
        return request_invalid(r, "%s", rec->problem);
    if (rec->n != c->n)
        return request_invalid(r, "row has %zu field%s, the header has %zu", rec->n, rec->n == 1 ? "" : "s", c->n);
    return c->mode == MODE_TEMPLATE ? build_template(c, rec, o, drop, r) : build_message(c, rec, o, drop, r);
}

const char *request_endpoint(const request_opts *o)
{
    if (o->mode != MODE_TEMPLATE)
        return PATH_MESSAGE;
    /* Every channel's endpoint answers alike; the preflight needs one of them. */
    return o->per_channel_endpoint ? PATH_SEND_CHANNEL_BASE "sms/" : PATH_SEND;
}
