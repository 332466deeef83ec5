/*
 * daemon_warm.c - `--warm-file`: the ids of a file loaded through the
 * server's own POST /v1/warm. See daemon_warm.h.
 */
#include "daemon/daemon_warm.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/origin.h"

#define WARM_BATCH 1000       /* ids per POST, the endpoint's limit */
#define WARM_TIMEOUT_MS 60000 /* per batch */

struct cameo_warmer {
    pthread_t thread;
    atomic_int stop;
    char path[4096];
    char url[300];
    char auth[300];
};

int cameo_warm_check(const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errlen, "cannot read '%.200s'", path);
        return -1;
    }
    fclose(f);
    return 0;
}

/* The answer of one POST, capped. */
typedef struct answer {
    /* the answer's counts, plus "missing" and "failed": each id at most
     * once, quoted and comma'd */
    char buf[WARM_BATCH * (CAMEO_ID_MAX + 3) + 1024];
    size_t len;
} answer_t;

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t len = size * n;
    if (a->len + len >= sizeof(a->buf))
        return 0; /* larger than any warm answer: fail the transfer */
    memcpy(a->buf + a->len, p, len);
    a->len += len;
    return len;
}

/* POSTs ids to /v1/warm; logs the outcome. 0 or -1. */
static int post_batch(cameo_warmer_t *w, CURL *easy, json_t *ids, size_t *done, size_t *profiles,
                      size_t *avatars)
{
    json_t *req = json_pack("{s:O}", "ids", ids);
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL)
        return -1;
    answer_t *ansbuf = calloc(1, sizeof(*ansbuf));
    if (ansbuf == NULL) {
        free(body);
        return -1;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, w->auth);
    curl_easy_setopt(easy, CURLOPT_URL, w->url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)WARM_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, ansbuf);
    CURLcode rc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    free(body);

    json_t *ans = json_loadb(ansbuf->buf, ansbuf->len, 0, NULL);
    free(ansbuf);
    int ok = rc == CURLE_OK && status == 200 && json_is_object(ans);
    *done += json_array_size(ids);
    if (ok) {
        *profiles += (size_t)json_integer_value(json_object_get(ans, "profiles"));
        *avatars += (size_t)json_integer_value(json_object_get(ans, "avatars"));
        cameo_log(CAMEO_LOG_INFO, "warm_progress", "ids_done=%zu profiles=%zu avatars=%zu", *done, *profiles,
                  *avatars);
    } else {
        cameo_log(CAMEO_LOG_WARN, "warm_batch_failed", "ids=%zu status=%ld reason=\"%s\"",
                  json_array_size(ids), status,
                  rc != CURLE_OK ? curl_easy_strerror(rc) : "unexpected answer");
    }
    json_decref(ans);
    return ok ? 0 : -1;
}

static void *warm_main(void *arg)
{
    cameo_warmer_t *w = arg;
    FILE *f = fopen(w->path, "r");
    CURL *easy = curl_easy_init();
    json_t *ids = json_array();
    size_t done = 0, profiles = 0, avatars = 0, skipped = 0, failed_batches = 0, lineno = 0;
    char line[1024];
    if (f == NULL || easy == NULL || ids == NULL) {
        cameo_log(CAMEO_LOG_ERROR, "warm_failed", "file=%s reason=\"cannot start\"", w->path);
        goto out;
    }
    cameo_log(CAMEO_LOG_INFO, "warm_start", "file=%s", w->path);
    while (!atomic_load(&w->stop) && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *s = line, *e = line + strlen(line);
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        if (!cameo_id_valid(s, (size_t)(e - s))) {
            if (skipped++ < 10)
                cameo_log(CAMEO_LOG_WARN, "warm_bad_id", "file=%s line=%zu", w->path, lineno);
            continue;
        }
        json_array_append_new(ids, json_stringn(s, (size_t)(e - s)));
        if (json_array_size(ids) == WARM_BATCH) {
            failed_batches += post_batch(w, easy, ids, &done, &profiles, &avatars) != 0;
            json_array_clear(ids);
        }
    }
    if (!atomic_load(&w->stop) && json_array_size(ids) > 0)
        failed_batches += post_batch(w, easy, ids, &done, &profiles, &avatars) != 0;
    cameo_log(CAMEO_LOG_INFO, "warm_done",
              "file=%s ids=%zu profiles=%zu avatars=%zu bad_lines=%zu failed_batches=%zu stopped=%d", w->path,
              done, profiles, avatars, skipped, failed_batches, atomic_load(&w->stop));
out:
    if (f != NULL)
        fclose(f);
    curl_easy_cleanup(easy);
    json_decref(ids);
    return NULL;
}

cameo_warmer_t *cameo_warm_start(const char *path, const char *host, unsigned port, const char *token)
{
    cameo_warmer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    snprintf(w->path, sizeof(w->path), "%s", path);
    int v6 = strchr(host, ':') != NULL;
    const char *h = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(host, "::") == 0 ? "::1" : host;
    snprintf(w->url, sizeof(w->url), "http://%s%s%s:%u/v1/warm", v6 ? "[" : "", h, v6 ? "]" : "", port);
    snprintf(w->auth, sizeof(w->auth), "Authorization: Bearer %s", token);
    if (pthread_create(&w->thread, NULL, warm_main, w) != 0) {
        cameo_log(CAMEO_LOG_ERROR, "warm_failed", "file=%s reason=\"no thread\"", path);
        free(w);
        return NULL;
    }
    return w;
}

void cameo_warm_stop_async(cameo_warmer_t *w)
{
    atomic_store(&w->stop, 1);
}

void cameo_warm_stop(cameo_warmer_t *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    free(w);
}
