/* request_attach — a template row's attachments: files beside the input only, read when the
 * row is about to be sent, base64-encoded and spliced into the rendered body. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request.h"
#include "request_internal.h"
#include "text.h"

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
    text_printable(s, len, tok, sizeof tok);
    if (len >= sizeof rel) {
        request_invalid(lc->r, "attachments: a path is longer than %zu bytes", sizeof rel - 1);
        return 1;
    }
    memcpy(rel, s, len);
    rel[len] = '\0';
    const char *dir = lc->attach_dir;
    if (!dir) {
        request_invalid(lc->r, "attachments: not available when the input is standard input");
        return 1;
    }
    /* A CSV may only attach files that sit beside it: a hostile row must not be able to
     * mail the key file or /proc/self/environ to its "to" address. */
    snprintf(joined, sizeof joined, "%s/%s", dir, rel);
    char *path = realpath(rel[0] == '/' ? rel : joined, NULL);
    size_t dl = strlen(dir);
    if (!path) {
        request_invalid(lc->r, "attachments: cannot read \"%s\": %s", tok, strerror(errno));
        return 1;
    }
    if (strncmp(path, dir, dl) != 0 || path[dl] != '/') {
        free(path);
        request_invalid(lc->r, "attachments: \"%s\" is outside the input file's folder (only files beside the CSV "
                       "can be attached)", tok);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) {
        request_invalid(lc->r, "attachments: cannot read \"%s\": %s", tok, strerror(errno));
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
            request_invalid(lc->r, "attachments: cannot read \"%s\"", tok);
        else
            request_invalid(lc->r, "attachments: \"%s\" is larger than %u MiB", tok, REQUEST_MAX_ATTACHMENT >> 20);
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

int request_load_attachments(request *r, const columns *c, const record *rec, const request_opts *o)
{
    size_t attlen;
    const char *att = request_cell(c, rec, COL_ATTACHMENTS, &attlen);
    if (!r->valid || !r->attachments || !attlen || r->bodylen < 2)
        return 0;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return -1;
    struct list_ctx lc = {arr, 0, r, "attachments", o->attach_dir};
    int rc = request_each_item(att, attlen, add_attachment, &lc);
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
