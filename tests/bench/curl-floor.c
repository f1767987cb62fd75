/* curl-floor.c — the cost of the HTTP part alone: POSTs every line of BODIES to URL with
 * CONC transfers in flight, either easy (one thread per handle, curl_easy_perform in a
 * loop, as ottu-resend's workers do) or multi (one thread, CONC reused easy handles driven
 * by curl_multi_poll). No CSV, journal, reorder or result file: a lower bound for the
 * pipeline. Prints "sent N ok M". Usage: curl-floor easy|multi CONC URL KEY BODIES
 * Environment: FLOOR_CAINFO=PATH verifies HTTPS against that CA file; FLOOR_HTTP2=1 (multi
 * only) lets HTTPS transfers share HTTP/2 connections, 32 streams each (PIPEWAIT and a
 * per-host connection limit, without which every waiting transfer opens its own). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **bodies;
static size_t nbodies;
static atomic_size_t next_i, ok_n;
static const char *url;
static struct curl_slist *hdrs;

static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }

static CURL *mk(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    if (getenv("FLOOR_CAINFO"))
        curl_easy_setopt(h, CURLOPT_CAINFO, getenv("FLOOR_CAINFO"));
    if (getenv("FLOOR_HTTP2")) {
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    return h;
}

static void *easy_worker(void *arg)
{
    (void)arg;
    CURL *h = mk();
    size_t i;
    while ((i = atomic_fetch_add(&next_i, 1)) < nbodies) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i]);
        long code = 0;
        if (curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
            code == 200)
            atomic_fetch_add(&ok_n, 1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void run_multi(int conc)
{
    CURLM *m = curl_multi_init();
    if (getenv("FLOOR_HTTP2")) {
        curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, 32L);
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(conc + 31) / 32);
    }
    CURL **hs = calloc((size_t)conc, sizeof *hs);
    size_t i = 0;
    int running = 0;
    for (int k = 0; k < conc && i < nbodies; k++, i++) {
        hs[k] = mk();
        curl_easy_setopt(hs[k], CURLOPT_POSTFIELDS, bodies[i]);
        curl_multi_add_handle(m, hs[k]);
    }
    do {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && code == 200)
                ok_n++;
            curl_multi_remove_handle(m, h);
            if (i < nbodies) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i++]);
                curl_multi_add_handle(m, h);
                running++;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    next_i = i;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: curl-floor easy|multi CONC URL KEY BODIES\n");
        return 2;
    }
    int conc = atoi(argv[2]);
    url = argv[3];
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Api-Key %s", argv[4]);
    FILE *f = fopen(argv[5], "r");
    if (!f || conc < 1)
        return 2;
    size_t cap = 1024;
    bodies = malloc(cap * sizeof *bodies);
    char *line = NULL;
    size_t ln = 0;
    ssize_t r;
    while ((r = getline(&line, &ln, f)) > 0) {
        if (line[r - 1] == '\n')
            line[r - 1] = '\0';
        if (nbodies == cap)
            bodies = realloc(bodies, (cap *= 2) * sizeof *bodies);
        bodies[nbodies++] = strdup(line);
    }
    fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (strcmp(argv[1], "multi") == 0) {
        run_multi(conc);
    } else {
        pthread_t *t = calloc((size_t)conc, sizeof *t);
        for (int k = 0; k < conc; k++)
            pthread_create(&t[k], NULL, easy_worker, NULL);
        for (int k = 0; k < conc; k++)
            pthread_join(t[k], NULL);
    }
    printf("sent %zu ok %zu\n", nbodies, (size_t)ok_n);
    return ok_n == nbodies ? 0 : 1;
}
