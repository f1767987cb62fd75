/* mock_validate — the request rules of the three notification endpoints, applied the way
 * the API's serializers do: every bad field collected into {"field": ["message", ...]}.
 * Pure: plain values in, plain values (and a cJSON error object) out. */
#ifndef OTTU_MOCK_VALIDATE_H
#define OTTU_MOCK_VALIDATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct mock_message_req {
    const char *order_no, *session_id;  /* trimmed, pointing into the request; NULL = not given */
    size_t order_no_len, session_id_len;
    unsigned channels;                  /* RULES_* mask */
    unsigned order[3];                  /* the channel bits in request order, repeats dropped */
    int n_channels;
} mock_message_req;

typedef struct mock_template_req {
    unsigned channel;                   /* one RULES_* bit */
    const char *template_id, *to;       /* trimmed, pointing into the request */
    size_t template_id_len, to_len;
    int has_unit_config;
    long long unit_config;
    const char *language;               /* "en" or "ar" */
} mock_template_req;

/* POST /b/pbl/v2/message-notification/. Returns NULL when valid (out filled), else a new
 * cJSON object of field errors for a 400. body must be a JSON object. */
cJSON *mock_validate_message(const cJSON *body, mock_message_req *out);
/* POST /b/pbl/v2/send-notification/ (path_channel NULL: the channel is a body field) and
 * /b/pbl/v2/notifications/send/{path_channel}/ (a body "channel" is then ignored). */
cJSON *mock_validate_template(const cJSON *body, const char *path_channel, mock_template_req *out);
/* Python's name for a JSON value's type ("str", "int", "dict"), as the API's messages use. */
const char *mock_json_type_name(const cJSON *v);
/* Python's str() of a JSON value, printable and cut to about 60 characters. */
size_t mock_json_py_str(const cJSON *v, char *out, size_t size);
/* '+' then 8-15 digits and nothing else: the normalised form the API expects. */
int mock_is_phone(const char *s, size_t len);

#endif
