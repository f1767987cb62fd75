/* mock_api — the notification endpoints' behaviour: body parsing, validation, transaction
 * rules, delivery and the documented response shapes. */
#include "mock_api.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_validate.h"
#include "rules.h"

static const char internal_error[] = "{\"detail\": \"Internal error in ottu-mock (out of memory).\"}";

void mock_answer_free(mock_answer *ans)
{
    free(ans->body);
    ans->body = NULL;
    ans->len = 0;
}

void mock_answer_json(mock_answer *ans, unsigned status, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    free(ans->body);
    if (!text) {
        status = 500;
        text = strdup(internal_error);
    }
    ans->status = status;
    ans->body = text;
    ans->len = text ? strlen(text) : 0;
    ans->content_type = NULL;
}

void mock_answer_text(mock_answer *ans, unsigned status, const char *content_type, const char *text)
{
    free(ans->body);
    ans->body = strdup(text);
    if (!ans->body) {
        mock_answer_json(ans, 500, NULL);
        return;
    }
    ans->status = status;
    ans->len = strlen(text);
    ans->content_type = content_type;
}

/* What a session-expired reverse proxy or a misrouted base URL answers: a 200 that is no
 * answer of the API at all. */
static const char login_page[] =
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    "<body><h1>Sign in</h1><form method=\"post\" action=\"/accounts/login/\">"
    "<input name=\"username\"><input name=\"password\" type=\"password\">"
    "<button type=\"submit\">Sign in</button></form></body></html>\n";

/* Turns the answer of a processed request into the --false-200 kind (html, empty). */
static void false_200(mock_api *api, mock_answer *ans, mock_false200_kind kind)
{
    mock_stats_add(&api->stats->false_200, 1);
    if (kind == MOCK_FALSE200_HTML) {
        mock_answer_text(ans, 200, "text/html; charset=utf-8", login_page);
    } else if (kind == MOCK_FALSE200_EMPTY) {
        mock_answer_text(ans, 200, NULL, "");
    } else {
        cJSON *obj = cJSON_CreateObject();
        if (obj)
            cJSON_AddStringToObject(obj, "result", "failed");
        mock_answer_json(ans, 200, obj);
    }
}

void mock_answer_detail(mock_answer *ans, unsigned status, const char *detail)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj && !cJSON_AddStringToObject(obj, "detail", detail)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    mock_answer_json(ans, status, obj);
}

int mock_api_init(mock_api *api, const mock_txn_table *txns, mock_deliveries *deliveries,
                  mock_stats *stats, const char *templates, int require_contact)
{
    memset(api, 0, sizeof *api);
    api->txns = txns;
    api->deliveries = deliveries;
    api->stats = stats;
    api->require_contact = require_contact;
    if (pthread_mutex_init(&api->parse_lock, NULL) != 0)
        return -1;
    if (!templates)
        return 0;
    /* An empty list means no template exists: every template request fails. */
    api->templates = calloc(strlen(templates) / 2 + 2, sizeof *api->templates);
    if (!api->templates)
        return -1;
    const char *p = templates;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        rules_trim(&s, &n);
        if (n) {
            api->templates[api->n_templates] = strndup(s, n);
            if (!api->templates[api->n_templates])
                return -1;
            api->n_templates++;
        }
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

void mock_api_destroy(mock_api *api)
{
    for (size_t i = 0; i < api->n_templates; i++)
        free(api->templates[i]);
    free(api->templates);
    pthread_mutex_destroy(&api->parse_lock);
}

/* Parses the body into a JSON object, or fills ans with the 400 and returns NULL. An empty
 * body reads as {} (so it gets "This field is required." errors, as from the real API). */
static cJSON *parse_body(mock_api *api, const char *body, size_t len, mock_answer *ans)
{
    char msg[160];
    cJSON *root;
    if (len == 0) {
        root = cJSON_CreateObject();
        if (!root)
            mock_answer_json(ans, 500, NULL);
        return root;
    }
    size_t bad_at = 0;
    if (rules_utf8_count(body, len, &bad_at) < 0) {
        snprintf(msg, sizeof msg, "JSON parse error - the body is not valid UTF-8 (byte %zu)", bad_at + 1);
        mock_answer_detail(ans, 400, msg);
        return NULL;
    }
    const char *end = NULL;
    pthread_mutex_lock(&api->parse_lock);
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    pthread_mutex_unlock(&api->parse_lock);
    size_t pos = (end && end >= body && end <= body + len) ? (size_t)(end - body) : 0;
    if (root) {
        while (pos < len && strchr(" \t\r\n", body[pos]))
            pos++;
        if (pos < len) {
            cJSON_Delete(root);
            snprintf(msg, sizeof msg, "JSON parse error - extra data after the value (byte %zu)", pos + 1);
            mock_answer_detail(ans, 400, msg);
            return NULL;
        }
    } else {
        snprintf(msg, sizeof msg, "JSON parse error - invalid JSON near byte %zu", pos + 1);
        mock_answer_detail(ans, 400, msg);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON *errs = cJSON_CreateObject();
        cJSON *list = errs ? cJSON_AddArrayToObject(errs, "non_field_errors") : NULL;
        snprintf(msg, sizeof msg, "Invalid data. Expected a dictionary, but got %s.",
                 mock_json_type_name(root));
        if (list)
            cJSON_AddItemToArray(list, cJSON_CreateString(msg));
        cJSON_Delete(root);
        mock_answer_json(ans, 400, errs);
        return NULL;
    }
    return root;
}

static void count_delivered(mock_api *api, unsigned channels)
{
    for (int i = 0; i < 3; i++) {
        if (channels & (1u << i)) {
            mock_stats_add(&api->stats->channel[i], 1);
            mock_stats_add(&api->stats->delivered, 1);
        }
    }
}

/* The channels of x that can be notified: on for its state, supported in it, and (with
 * --require-contact) with a contact to send to. A NULL contact means the file has no such
 * column, which is not a reason to fail. */
static unsigned reachable(const mock_api *api, const mock_txn *x)
{
    unsigned m = mock_txn_channels_now(x);
    if (api->require_contact) {
        if (x->email && !*x->email)
            m &= ~(unsigned)RULES_EMAIL;
        if (x->phone && !*x->phone)
            m &= ~(unsigned)(RULES_SMS | RULES_WHATSAPP);
    }
    return m;
}

/* The documented failure shape; an identifier that is NULL or empty is left out. */
static void message_failed(mock_answer *ans, const char *order_no, size_t order_no_len,
                           const char *session_id, size_t session_id_len, unsigned channel)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj) {
        char *o = order_no && order_no_len ? strndup(order_no, order_no_len) : NULL;
        char *s = session_id && session_id_len ? strndup(session_id, session_id_len) : NULL;
        if (o)
            cJSON_AddStringToObject(obj, "order_no", o);
        if (s)
            cJSON_AddStringToObject(obj, "session_id", s);
        free(o);
        free(s);
        cJSON_AddStringToObject(obj, "channels", rules_channel_name(channel));
        cJSON_AddStringToObject(obj, "result", "failed");
    }
    mock_answer_json(ans, 400, obj);
}

static void notify_message(mock_api *api, const cJSON *root, const mock_plan *plan, mock_answer *ans)
{
    mock_message_req req;
    cJSON *errs = mock_validate_message(root, &req);
    rules_state state = RULES_STATE_PAID;
    /* The identifiers the failure shape names: the transaction's when there is a file. */
    const char *fo = NULL, *fs = NULL;
    size_t fo_len = 0, fs_len = 0;
    if (errs) {
        mock_answer_json(ans, 400, errs);
        return;
    }
    if (api->txns) {
        const mock_txn *x = mock_txn_find(api->txns, req.order_no, req.order_no_len,
                                          req.session_id, req.session_id_len);
        if (!x) {
            mock_answer_detail(ans, 404, "Not found.");
            return;
        }
        /* All or nothing: the first channel (in request order) that cannot be notified
         * fails the request and nothing is sent. */
        unsigned ok = reachable(api, x);
        for (int i = 0; i < req.n_channels; i++) {
            if (!(ok & req.order[i])) {
                message_failed(ans, x->order_no, strlen(x->order_no), x->session_id,
                               strlen(x->session_id), req.order[i]);
                return;
            }
        }
        state = x->state;
        fo = x->order_no;
        fo_len = strlen(fo);
        fs = x->session_id;
        fs_len = strlen(fs);
    } else {
        fo = req.order_no;
        fo_len = req.order_no_len;
        fs = req.session_id;
        fs_len = req.session_id_len;
    }
    /* --fail-channel: the API sent the other channels and reports only the one that
     * failed, in the documented failure shape (the row's fate for the client: partial). */
    unsigned failed = plan ? (plan->fail_channel & req.channels) : 0;
    unsigned deliver = req.channels & ~failed;
    mock_false200_kind f200 = plan && !failed ? plan->false200 : MOCK_FALSE200_NONE;
    if (f200 == MOCK_FALSE200_RESULT_FAILED) {
        false_200(api, ans, f200);
        return;
    }
    /* One name per transaction in the log: with a file, the transaction's order_no (its
     * session_id when it has none), whichever identifier the request used, so one
     * customer's deliveries count together. */
    const char *id = req.order_no ? req.order_no : req.session_id;
    size_t id_len = req.order_no ? req.order_no_len : req.session_id_len;
    if (api->txns) {
        id = fo_len ? fo : fs;
        id_len = fo_len ? fo_len : fs_len;
    }
    const char *st = rules_state_name(state);
    if (deliver && mock_deliveries_write(api->deliveries, "message", id, id_len, deliver, st, strlen(st))) {
        mock_answer_detail(ans, 500, "ottu-mock could not write the deliveries file.");
        return;
    }
    count_delivered(api, deliver);
    if (failed) {
        mock_stats_add(&api->stats->partial, 1);
        message_failed(ans, fo, fo_len, fs, fs_len, failed);
        return;
    }
    if (f200) {
        false_200(api, ans, f200);
        return;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj)
        cJSON_AddStringToObject(obj, "message", "Customer notified.");
    mock_answer_json(ans, 200, obj);
}

static int template_exists(const mock_api *api, const char *id, size_t len)
{
    if (!api->templates)
        return 1;
    for (size_t i = 0; i < api->n_templates; i++) {
        if (strlen(api->templates[i]) == len && memcmp(api->templates[i], id, len) == 0)
            return 1;
    }
    return 0;
}

static void notify_template(mock_api *api, mock_endpoint ep, const char *path_channel,
                            const cJSON *root, const mock_plan *plan, mock_answer *ans)
{
    mock_template_req req;
    cJSON *errs = mock_validate_template(root, path_channel, &req);
    cJSON *obj;
    if (errs) {
        mock_answer_json(ans, 400, errs);
        return;
    }
    if (!template_exists(api, req.template_id, req.template_id_len)) {
        char msg[160];
        snprintf(msg, sizeof msg, "No active %s template with this template_id.",
                 rules_channel_name(req.channel));
        obj = cJSON_CreateObject();
        if (obj) {
            cJSON_AddStringToObject(obj, "detail", msg);
            cJSON_AddStringToObject(obj, "result", "failed");
        }
        mock_answer_json(ans, 400, obj);
        return;
    }
    mock_false200_kind f200 = plan ? plan->false200 : MOCK_FALSE200_NONE;
    if (f200 == MOCK_FALSE200_RESULT_FAILED) {
        false_200(api, ans, f200);
        return;
    }
    if (mock_deliveries_write(api->deliveries, mock_endpoint_name(ep), req.to, req.to_len,
                              req.channel, req.template_id, req.template_id_len)) {
        mock_answer_detail(ans, 500, "ottu-mock could not write the deliveries file.");
        return;
    }
    count_delivered(api, req.channel);
    if (f200) {
        false_200(api, ans, f200);
        return;
    }
    obj = cJSON_CreateObject();
    if (obj) {
        cJSON_AddStringToObject(obj, "message", "Notification sent.");
        cJSON_AddStringToObject(obj, "result", "success");
    }
    mock_answer_json(ans, 200, obj);
}

void mock_api_notify(mock_api *api, mock_endpoint ep, const char *path_channel, const char *body,
                     size_t len, const mock_plan *plan, mock_answer *ans)
{
    cJSON *root = parse_body(api, body, len, ans);
    if (!root)
        return;
    if (ep == MOCK_EP_MESSAGE)
        notify_message(api, root, plan, ans);
    else
        notify_template(api, ep, ep == MOCK_EP_SEND_CHANNEL ? path_channel : NULL, root, plan, ans);
    cJSON_Delete(root);
}

void mock_api_lookup(mock_api *api, const char *tail, mock_answer *ans)
{
    /* The path parameter is ^[-\w]+$ and the path ends with one '/'. */
    size_t n = strcspn(tail, "/");
    int ok = n > 0 && n <= RULES_ID_MAX_CHARS && tail[n] == '/' && tail[n + 1] == '\0';
    for (size_t i = 0; ok && i < n; i++) {
        char c = tail[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    const mock_txn *x = ok && api->txns ? mock_txn_find(api->txns, NULL, 0, tail, n) : NULL;
    if (!x) {
        mock_answer_detail(ans, 404, "Not found.");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *nt = o ? cJSON_CreateObject() : NULL;
    if (!o || !nt) {
        cJSON_Delete(o);
        cJSON_Delete(nt);
        mock_answer_json(ans, 500, NULL);
        return;
    }
    cJSON_AddStringToObject(o, "session_id", x->session_id);
    cJSON_AddStringToObject(o, "order_no", x->order_no);
    cJSON_AddStringToObject(o, "state", rules_state_name(x->state));
    cJSON_AddStringToObject(o, "amount", "10.000");
    cJSON_AddStringToObject(o, "currency_code", "KWD");
    cJSON_AddStringToObject(o, "customer_email", x->email ? x->email : "");
    cJSON_AddStringToObject(o, "customer_phone", x->phone ? x->phone : "");
    /* Per channel, the notification events it is enabled for (the file's notify_* cells;
     * states without a notification event are not events). */
    static const unsigned order[3] = {RULES_EMAIL, RULES_SMS, RULES_WHATSAPP};
    for (int k = 0; k < 3; k++) {
        int ch = order[k] == RULES_SMS ? 0 : order[k] == RULES_EMAIL ? 1 : 2;
        cJSON *list = cJSON_AddArrayToObject(nt, rules_channel_name(order[k]));
        for (int st = 0; list && st < RULES_STATE_COUNT; st++) {
            if ((x->notify[ch] & (1u << st)) && rules_state_has_notification((rules_state)st))
                cJSON_AddItemToArray(list, cJSON_CreateString(rules_state_name((rules_state)st)));
        }
    }
    cJSON_AddItemToObject(o, "notifications", nt);
    mock_answer_json(ans, 200, o);
}
