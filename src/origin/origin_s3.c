/*
 * origin_s3.c - requests to one S3-compatible bucket on the worker loops;
 * see origin_s3.h for the contract.
 *
 * Each attached loop has a slot holding its origin_curl multi handle; a
 * request finds its loop's slot, builds a libcurl easy handle (URL, SigV4
 * through CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3" with the keys as user name
 * and password, the x-amz-content-sha256 header S3 requires, Content-MD5 on
 * PUT, the session token header when there is one, timeouts) and hands it
 * to origin_curl, whose callback maps the answer to a CAMEO_E* code.
 *
 * Presigned URLs are signed once per key and time bucket, then copied out
 * of a small table: a URL depends only on the key and the bucket's start
 * (origin_s3_sign.h puts the start in X-Amz-Date and makes X-Amz-Expires
 * cover the bucket plus the minimum validity; credentials, endpoint, bucket
 * length and minimum validity are fixed per client), so a copy is
 * byte-identical to a fresh signature and never has less than the minimum
 * validity left. The table holds PRESIGN_SETS sets of PRESIGN_WAYS URLs,
 * a key's set chosen by its hash; a full set gives up an entry of an older
 * bucket, else its entries in turn (counted as replaced). An entry's buffer
 * is reused by the next URL that fits, so a steady state allocates nothing.
 * Signing runs outside every lock.
 *
 * Locks: s->lock guards last_error; the stripe presign_stripes[i %
 * PRESIGN_STRIPES] guards set i and the stripe's counters. No lock is taken
 * while another is held. Slots live in a core_loopmap.h table; a slot's
 * curl handle and stopping flag are touched only by its loop's thread.
 * Other counters are relaxed atomics.
 * Configuration is written by cameo__s3_new and only read afterwards.
 */
#include "origin/origin_s3.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "cameo/log.h"
#include "core/core_loopmap.h"
#include "origin/origin_curl.h"
#include "origin/origin_s3_sign.h"

#define PREFIX_MAX 512
#define ERROR_BODY_MAX (64 * 1024) /* S3's XML error documents, and PUT/DELETE answers */
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_OBJECT (5u * 1024 * 1024)
#define DEFAULT_MAX_CONCURRENT 256
#define DEFAULT_PRESIGN_BUCKET_S 1800
#define DEFAULT_PRESIGN_MIN_VALIDITY_S 600
#define URL_MAX (16 + CAMEO_S3_HOST_MAX + CAMEO_S3_BUCKET_MAX + 3 * CAMEO_S3_KEY_MAX)
/* Presigned URLs kept: PRESIGN_SETS * PRESIGN_WAYS = 8,192, about 0.5 KB
 * each without a session token (the longest possible: ~15 KB), so ~4 MB
 * for a full table of typical URLs. */
#define PRESIGN_SETS 2048
#define PRESIGN_WAYS 4
#define PRESIGN_STRIPES 64 /* locks over the sets: workers rarely wait on one another */

/* One presigned URL. */
typedef struct presigned {
    char *buf; /* malloc'd, cap bytes: "key\0url\0"; NULL while never used */
    size_t cap, key_len, url_len;
    uint64_t hash;         /* XXH3 of the key */
    uint64_t bucket_start; /* X-Amz-Date of the URL; 0 while empty */
    uint64_t expires_at;
} presigned_t;

typedef struct presign_set {
    presigned_t way[PRESIGN_WAYS];
    unsigned next; /* the way a full set gives up next */
} presign_set_t;

/* A stripe's lock and counters, on a cache line of their own. */
typedef union presign_stripe {
    struct {
        pthread_mutex_t mu;
        uint64_t signed_, cached, replaced; /* summed for the status line */
    } s;
    char line[64];
} presign_stripe_t;
_Static_assert(sizeof(presign_stripe_t) == 64, "a stripe fits a cache line");

/* One attached loop. */
typedef struct loop_slot {
    cameo_loop_t *loop;
    cameo__curl_t *curl; /* the loop's thread only */
    int stopping;        /* the loop's thread only: detach is ending the requests */
} loop_slot_t;

struct cameo__s3 {
    /* Immutable after cameo__s3_new. */
    char scheme[6];
    char host[CAMEO_S3_HOST_MAX + 1]; /* host[:port] of the endpoint */
    char bucket[CAMEO_S3_BUCKET_MAX + 1];
    char prefix[PREFIX_MAX + 1];
    char base_url[16 + CAMEO_S3_HOST_MAX +
                  CAMEO_S3_BUCKET_MAX]; /* up to and including the '/' before the key */
    char sigv4[64];                     /* "aws:amz:REGION:s3" */
    char *token_header;                 /* "x-amz-security-token: ..." or NULL */
    long connect_timeout_ms, timeout_ms;
    size_t max_object;
    unsigned max_concurrent;
    uint64_t presign_bucket_s, presign_min_validity_s;
    cameo_s3_signer_t signer; /* thread-safe; holds the credentials libcurl signs requests with */

    presign_set_t *presigned; /* PRESIGN_SETS; set i guarded by presign_stripes[i % PRESIGN_STRIPES] */
    presign_stripe_t presign_stripes[PRESIGN_STRIPES];

    cameo_loopmap_t loops; /* each attached loop's loop_slot_t */
    pthread_mutex_t lock;
    char last_error[200]; /* lock */

    atomic_uint inflight; /* requests started and not yet called back, <= max_concurrent */
    atomic_int failing;   /* the last answer was a transport failure, 403 or 5xx */
    atomic_uint_fast64_t requests, failures, timeouts, rejected;
};

typedef struct req {
    cameo__s3_t *s;
    loop_slot_t *slot;
    cameo__s3_method_t method;
    cameo__s3_cb cb;
    void *arg;
    char key[CAMEO_S3_KEY_MAX + 1];
    const unsigned char *body; /* PUT: the caller's bytes (libcurl reads them in place), else "" */
    size_t len;
    char sha256[65]; /* the payload hash sent in x-amz-content-sha256 */
} req_t;

static const char *const method_name[] = {"GET", "PUT", "DELETE", "HEAD"};

#define COUNT(s, f) atomic_fetch_add_explicit(&(s)->f, 1, memory_order_relaxed)
#define LOAD(s, f) atomic_load_explicit(&(s)->f, memory_order_relaxed)

/* ---- configuration ---- */

static int fail(char *errbuf, size_t errlen, int rc, const char *msg)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
    return rc;
}

static int prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (n > PREFIX_MAX || (n > 0 && (p[0] == '/' || p[n - 1] == '/')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '/') ||
            (c == '/' && p[i + 1] == '/'))
            return 0;
    }
    return 1;
}

int cameo__s3_new(const cameo_s3_origin_config_t *cfg, cameo__s3_t **out, char *errbuf, size_t errlen)
{
    char err[256];
    const char *ep = cfg != NULL ? cfg->endpoint : NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (cfg == NULL || out == NULL)
        return fail(errbuf, errlen, CAMEO_EINVAL, "s3: no configuration");
    *out = NULL;

    const char *host;
    const char *scheme;
    if (ep != NULL && strncmp(ep, "http://", 7) == 0) {
        scheme = "http";
        host = ep + 7;
    } else if (ep != NULL && strncmp(ep, "https://", 8) == 0) {
        scheme = "https";
        host = ep + 8;
    } else {
        return fail(errbuf, errlen, CAMEO_EINVAL,
                    "s3 endpoint: expected http://HOST[:PORT] or https://HOST[:PORT]");
    }
    size_t hlen = strlen(host);
    if (hlen > 0 && host[hlen - 1] == '/')
        hlen--; /* "http://host:port/" */
    if (hlen == 0 || hlen > CAMEO_S3_HOST_MAX || memchr(host, '/', hlen) != NULL || memchr(host, '@', hlen))
        return fail(errbuf, errlen, CAMEO_EINVAL,
                    "s3 endpoint: expected http://HOST[:PORT] or https://HOST[:PORT], without a path");
    const char *prefix = cfg->prefix != NULL ? cfg->prefix : "";
    if (!prefix_ok(prefix))
        return fail(errbuf, errlen, CAMEO_EINVAL,
                    "s3 prefix: up to 512 of [A-Za-z0-9._/-], no leading, trailing or double '/'");
    if (cfg->max_concurrent > 100000 || cfg->timeout_ms > 600000 || cfg->connect_timeout_ms > 600000)
        return fail(errbuf, errlen, CAMEO_EINVAL, "s3: a timeout or the concurrency cap is out of range");

    cameo__s3_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return fail(errbuf, errlen, CAMEO_ENOMEM, "s3: out of memory");
    pthread_mutex_init(&s->lock, NULL); /* first: every failure below frees through the same steps */
    for (size_t i = 0; i < PRESIGN_STRIPES; i++)
        pthread_mutex_init(&s->presign_stripes[i].s.mu, NULL);
    cameo__loopmap_init(&s->loops);
    char hostbuf[CAMEO_S3_HOST_MAX + 1];
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';
    cameo_s3_config_t scfg = {
        .access_key_id = cfg->access_key,
        .secret_access_key = cfg->secret_key,
        .session_token = cfg->session_token,
        .region = cfg->region,
        .endpoint = hostbuf,
        .scheme = scheme,
        .bucket = cfg->bucket,
        .path_style = cfg->path_style,
    };
    /* The signer validates every field (naming it, never its value). */
    int rc = cameo_s3_signer_init(&s->signer, &scfg, err, sizeof(err));
    if (rc != CAMEO_OK) {
        pthread_mutex_destroy(&s->lock);
        for (size_t i = 0; i < PRESIGN_STRIPES; i++)
            pthread_mutex_destroy(&s->presign_stripes[i].s.mu);
        cameo__loopmap_destroy(&s->loops);
        OPENSSL_cleanse(s, sizeof(*s));
        free(s);
        return fail(errbuf, errlen, rc, err);
    }
    snprintf(s->scheme, sizeof(s->scheme), "%s", scheme);
    snprintf(s->host, sizeof(s->host), "%s", hostbuf);
    snprintf(s->bucket, sizeof(s->bucket), "%s", cfg->bucket);
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", cfg->region);
    if (cfg->path_style)
        snprintf(s->base_url, sizeof(s->base_url), "%s://%s/%s/", scheme, hostbuf, cfg->bucket);
    else
        snprintf(s->base_url, sizeof(s->base_url), "%s://%s.%s/", scheme, cfg->bucket, hostbuf);
    if (cfg->session_token != NULL && cfg->session_token[0] != '\0') {
        size_t n = strlen("x-amz-security-token: ") + strlen(cfg->session_token) + 1;
        s->token_header = malloc(n);
        if (s->token_header == NULL) {
            cameo__s3_free(s);
            return fail(errbuf, errlen, CAMEO_ENOMEM, "s3: out of memory");
        }
        snprintf(s->token_header, n, "x-amz-security-token: %s", cfg->session_token);
    }
    s->connect_timeout_ms =
        (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
    s->timeout_ms = (long)(cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS);
    s->max_object = cfg->max_object ? cfg->max_object : DEFAULT_MAX_OBJECT;
    s->max_concurrent = cfg->max_concurrent ? cfg->max_concurrent : DEFAULT_MAX_CONCURRENT;
    s->presign_bucket_s = cfg->presign_bucket_s ? cfg->presign_bucket_s : DEFAULT_PRESIGN_BUCKET_S;
    s->presign_min_validity_s =
        cfg->presign_min_validity_s ? cfg->presign_min_validity_s : DEFAULT_PRESIGN_MIN_VALIDITY_S;
    if (s->presign_bucket_s > CAMEO_S3_EXPIRES_MAX ||
        s->presign_min_validity_s > CAMEO_S3_EXPIRES_MAX - s->presign_bucket_s) {
        cameo__s3_free(s);
        return fail(errbuf, errlen, CAMEO_EINVAL,
                    "s3: presign bucket plus minimum validity must be at most 7 days");
    }
    s->presigned = calloc(PRESIGN_SETS, sizeof(*s->presigned));
    if (s->presigned == NULL) {
        cameo__s3_free(s);
        return fail(errbuf, errlen, CAMEO_ENOMEM, "s3: out of memory");
    }
    *out = s;
    return CAMEO_OK;
}

void cameo__s3_free(cameo__s3_t *s)
{
    if (s == NULL)
        return;
    cameo_s3_signer_destroy(&s->signer);
    if (s->presigned != NULL) {
        for (size_t i = 0; i < PRESIGN_SETS; i++)
            for (size_t w = 0; w < PRESIGN_WAYS; w++)
                free(s->presigned[i].way[w].buf);
        free(s->presigned);
    }
    for (size_t i = 0; i < PRESIGN_STRIPES; i++)
        pthread_mutex_destroy(&s->presign_stripes[i].s.mu);
    if (s->token_header != NULL) {
        OPENSSL_cleanse(s->token_header, strlen(s->token_header));
        free(s->token_header);
    }
    pthread_mutex_destroy(&s->lock);
    cameo__loopmap_destroy(&s->loops); /* asserts every loop detached */
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

/* ---- loops ---- */

static loop_slot_t *slot_of(cameo__s3_t *s, cameo_loop_t *loop)
{
    return cameo__loopmap_get(&s->loops, loop);
}

int cameo__s3_attach(cameo__s3_t *s, cameo_loop_t *loop)
{
    if (slot_of(s, loop) != NULL)
        return CAMEO_EINVAL;
    loop_slot_t *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return CAMEO_ENOMEM;
    sl->loop = loop;
    sl->curl = cameo__curl_new(loop);
    if (sl->curl == NULL) {
        free(sl);
        return CAMEO_ENOMEM;
    }
    int rc = cameo__loopmap_add(&s->loops, loop, sl, NULL);
    if (rc != CAMEO_OK) {
        cameo__curl_free(sl->curl);
        free(sl);
    }
    return rc;
}

void cameo__s3_detach(cameo__s3_t *s, cameo_loop_t *loop)
{
    loop_slot_t *sl = slot_of(s, loop);
    if (sl == NULL)
        return;
    sl->stopping = 1;
    cameo__curl_free(sl->curl); /* the requests end with CAMEO_EUNAVAIL */
    cameo__loopmap_remove(&s->loops, loop);
    free(sl);
}

/* ---- requests ---- */

static void note_error(cameo__s3_t *s, const char *msg)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
    pthread_mutex_unlock(&s->lock);
}

/* S3's error code from its XML answer (<Code>AccessDenied</Code>), letters
 * and digits only, or "-". */
static void s3_code(const char *body, size_t len, char out[64])
{
    const char *p = body != NULL ? memmem(body, len, "<Code>", 6) : NULL;
    size_t n = 0;
    if (p != NULL) {
        p += 6;
        while (p < body + len && n < 63 &&
               ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            out[n++] = *p++;
    }
    if (n == 0)
        out[n++] = '-';
    out[n] = '\0';
}

static void on_done(void *arg, const cameo__curl_result_t *cr)
{
    req_t *r = arg;
    cameo__s3_t *s = r->s;
    cameo__s3_result_t res = {.err = cr->err,
                              .status = cr->status,
                              .body = cr->body,
                              .len = cr->len,
                              .etag = cr->etag,
                              .payload_sha256 = r->method == CAMEO__S3_PUT ? r->sha256 : NULL};
    char msg[200], code[64];
    int failing = 0;
    const char *m = method_name[r->method];

    if (cr->err == CAMEO_OK) {
        if (cr->status >= 200 && cr->status < 300) {
            res.err = CAMEO_OK;
        } else if (cr->status == 404) {
            res.err = CAMEO_ENOTFOUND;
        } else {
            res.err = CAMEO_EUPSTREAM;
            s3_code(cr->body, cr->len, code);
            failing = cr->status == 403 || cr->status >= 500;
            snprintf(msg, sizeof(msg), "%s %.80s: HTTP %ld %.40s", m, r->key, cr->status, code);
            if (cr->status == 403)
                cameo_log(
                    CAMEO_LOG_ERROR, "s3_denied",
                    "method=%s key=%s status=403 code=%s hint=\"check the access key, secret key, region "
                    "and clock\"",
                    m, r->key, code);
            else
                cameo_log(CAMEO_LOG_WARN, "s3_error", "method=%s key=%s status=%ld code=%s", m, r->key,
                          cr->status, code);
        }
    } else {
        failing = 1;
        if (r->slot->stopping) {
            res.err = CAMEO_EUNAVAIL;
            failing = 0;
        } else if (cr->err == CAMEO_ETIMEDOUT) {
            res.err = CAMEO_ETIMEDOUT;
            COUNT(s, timeouts);
        } else {
            if (cr->err == CAMEO_ETOOBIG)
                failing = 0; /* a bad object, not a bad S3 */
            res.err = CAMEO_EUPSTREAM;
        }
        snprintf(msg, sizeof(msg), "%s %.80s: %.100s", m, r->key,
                 cr->err == CAMEO_ETOOBIG ? "object larger than the limit" : cr->detail);
        if (!r->slot->stopping)
            cameo_log(CAMEO_LOG_WARN, "s3_failed", "method=%s key=%s err=\"%s\" detail=\"%s\"", m, r->key,
                      cameo_strerror(res.err),
                      cr->err == CAMEO_ETOOBIG ? "object over the size limit" : cr->detail);
    }
    if (res.err != CAMEO_OK && res.err != CAMEO_ENOTFOUND && res.err != CAMEO_EUNAVAIL) {
        COUNT(s, failures);
        note_error(s, msg);
    }
    if (res.err != CAMEO_EUNAVAIL)
        atomic_store_explicit(&s->failing, failing, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    r->cb(r->arg, &res);
    free(r);
}

/* SHA-256 of the empty payload of GET, HEAD and DELETE, hex. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The headers of r: x-amz-content-sha256 (S3 wants the payload hash in a
 * header; libcurl 7.88 signs it but does not add it; kept in r->sha256),
 * Content-Type and Content-MD5 on PUT, the session token. NULL when out of
 * memory. */
static struct curl_slist *headers_of(cameo__s3_t *s, req_t *r, const char *ctype)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char line[256];
    struct curl_slist *h = NULL, *t;
    if (r->method != CAMEO__S3_PUT)
        memcpy(r->sha256, EMPTY_SHA256, sizeof(r->sha256));
    else if (cameo__s3_sha256_hex(r->body, r->len, r->sha256) != CAMEO_OK)
        return NULL;
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", r->sha256);
    if ((h = curl_slist_append(NULL, line)) == NULL)
        return NULL;
    if (r->method == CAMEO__S3_PUT) {
        unsigned char b64[32];
        if (!EVP_Digest(r->body, r->len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
            goto err;
        EVP_EncodeBlock(b64, md, 16);
        snprintf(line, sizeof(line), "Content-MD5: %s", (const char *)b64);
        if ((t = curl_slist_append(h, line)) == NULL)
            goto err;
        h = t;
        snprintf(line, sizeof(line), "Content-Type: %s", ctype != NULL ? ctype : "application/octet-stream");
        if ((t = curl_slist_append(h, line)) == NULL)
            goto err;
        h = t;
        /* Keys are content-addressed: an object never changes under its URL. */
        if ((t = curl_slist_append(h, "Cache-Control: public, max-age=31536000, immutable")) == NULL)
            goto err;
        h = t;
        /* Not "Expect:" to skip 100-continue: libcurl 7.88 signs the empty
         * header but does not send it, and S3 answers 403. */
    }
    if (s->token_header != NULL) {
        if ((t = curl_slist_append(h, s->token_header)) == NULL)
            goto err;
        h = t;
    }
    return h;
err:
    curl_slist_free_all(h);
    return NULL;
}

int cameo__s3_request(cameo__s3_t *s, cameo_loop_t *loop, cameo__s3_method_t method, const char *key,
                      const void *body, size_t len, const char *ctype, cameo__s3_cb cb, void *arg)
{
    char url[URL_MAX];
    size_t klen = key != NULL ? strlen(key) : 0;
    if (cb == NULL || klen == 0 || klen > CAMEO_S3_KEY_MAX || (unsigned)method > CAMEO__S3_HEAD ||
        (method == CAMEO__S3_PUT && (len > s->max_object || (len > 0 && body == NULL))))
        return CAMEO_EINVAL;
    if (method != CAMEO__S3_PUT)
        len = 0;
    loop_slot_t *sl = slot_of(s, loop);
    if (sl == NULL || sl->stopping)
        return CAMEO_EUNAVAIL;
    unsigned n = atomic_load_explicit(&s->inflight, memory_order_relaxed);
    do {
        if (n >= s->max_concurrent) {
            COUNT(s, rejected);
            return CAMEO_EBUSY;
        }
    } while (!atomic_compare_exchange_weak_explicit(&s->inflight, &n, n + 1, memory_order_relaxed,
                                                    memory_order_relaxed));

    int rc = CAMEO_ENOMEM;
    struct curl_slist *h = NULL;
    CURL *e = NULL;
    req_t *r = malloc(sizeof(*r));
    if (r == NULL)
        goto err;
    r->s = s;
    r->slot = sl;
    r->method = method;
    r->cb = cb;
    r->arg = arg;
    memcpy(r->key, key, klen + 1);
    r->body = len > 0 ? body : (const unsigned char *)"";
    r->len = len;
    size_t blen = strlen(s->base_url);
    memcpy(url, s->base_url, blen);
    cameo_s3_uri_encode(key, klen, 1, url + blen,
                        sizeof(url) - blen); /* fits: URL_MAX counts 3 bytes a byte */
    if ((h = headers_of(s, r, ctype)) == NULL || (e = curl_easy_init()) == NULL)
        goto err;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(e, CURLOPT_USERNAME, cameo__s3_signer_access_key(&s->signer));
    curl_easy_setopt(e, CURLOPT_PASSWORD, cameo__s3_signer_secret(&s->signer));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    switch (method) {
    case CAMEO__S3_GET:
        break;
    case CAMEO__S3_HEAD:
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
    case CAMEO__S3_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    case CAMEO__S3_PUT:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)r->body);
        break;
    }
    COUNT(s, requests);
    /* cameo__curl_start owns e and h from here, also when it fails. */
    rc = cameo__curl_start(sl->curl, e, h, method == CAMEO__S3_GET ? s->max_object : ERROR_BODY_MAX, on_done,
                           r);
    if (rc == CAMEO_OK)
        return CAMEO_OK;
    e = NULL;
    h = NULL;
err:
    if (e != NULL)
        curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(r);
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    return rc;
}

/* ---- keys, presigning, status ---- */

int cameo__s3_key(const cameo__s3_t *s, const char *id, const char *version, char *out, size_t len)
{
    /* Ids "." and ".." would be dot segments, which URL handling folds into
     * another key (outside the prefix); '~' is in no id, so "~." and "~.."
     * name no one else's folder. */
    const char *tilde = strcmp(id, ".") == 0 || strcmp(id, "..") == 0 ? "~" : "";
    int n = snprintf(out, len, "%s%s%s%s/%s", s->prefix, s->prefix[0] ? "/" : "", tilde, id, version);
    if (n < 0 || (size_t)n >= len || (size_t)n > CAMEO_S3_KEY_MAX) {
        if (len > 0)
            out[0] = '\0';
        return CAMEO_ETOOBIG;
    }
    return CAMEO_OK;
}

int cameo__s3_object_key(const cameo__s3_t *s, const char *name, char *out, size_t len)
{
    int n = snprintf(out, len, "%s%s%s", s->prefix, s->prefix[0] ? "/" : "", name);
    if (n < 0 || (size_t)n >= len || (size_t)n > CAMEO_S3_KEY_MAX) {
        if (len > 0)
            out[0] = '\0';
        return CAMEO_ETOOBIG;
    }
    return CAMEO_OK;
}

/* The way of set holding key's URL of bucket_start, or NULL. Caller holds
 * the set's stripe lock. */
static presigned_t *presigned_find(presign_set_t *set, uint64_t hash, const char *key, size_t key_len,
                                   uint64_t bucket_start)
{
    for (size_t w = 0; w < PRESIGN_WAYS; w++) {
        presigned_t *p = &set->way[w];
        if (p->hash == hash && p->bucket_start == bucket_start && p->key_len == key_len && p->buf != NULL &&
            memcmp(p->buf, key, key_len) == 0)
            return p;
    }
    return NULL;
}

/* Keeps key's url of bucket_start in set, in an empty way or one of an
 * older bucket, else the set's next. Returns 1 when a URL of this bucket
 * was given up for it, else 0. Out of memory leaves the way empty. Caller
 * holds the set's stripe lock. */
static int presigned_store(presign_set_t *set, uint64_t hash, const char *key, size_t key_len,
                           uint64_t bucket_start, const char *url, size_t url_len, uint64_t expires_at)
{
    presigned_t *p = NULL;
    for (size_t w = 0; w < PRESIGN_WAYS && p == NULL; w++)
        if (set->way[w].bucket_start != bucket_start)
            p = &set->way[w];
    int replaced = p == NULL;
    if (p == NULL) {
        p = &set->way[set->next];
        set->next = (set->next + 1) % PRESIGN_WAYS;
    }
    size_t need = key_len + 1 + url_len + 1;
    if (p->cap < need) {
        free(p->buf);
        p->cap = (need + 255) & ~(size_t)255; /* room for the next key's URL, a little longer */
        if ((p->buf = malloc(p->cap)) == NULL) {
            *p = (presigned_t){0};
            return replaced;
        }
    }
    memcpy(p->buf, key, key_len + 1);
    memcpy(p->buf + key_len + 1, url, url_len + 1);
    p->key_len = key_len;
    p->url_len = url_len;
    p->hash = hash;
    p->bucket_start = bucket_start;
    p->expires_at = expires_at;
    return replaced;
}

int cameo__s3_presign(cameo__s3_t *s, const char *key, uint64_t now_unix_s, char *url, size_t len,
                      uint64_t *expires_at)
{
    if (key == NULL || url == NULL || len == 0 || key[0] == '\0' || now_unix_s < s->presign_bucket_s)
        return cameo_s3_presign_get(&s->signer, key, now_unix_s, s->presign_bucket_s,
                                    s->presign_min_validity_s, url, len, expires_at); /* its answer */
    /* Everything the URL depends on besides the client's fixed settings.
     * (bucket_start is never 0 here: 0 marks an empty way.) */
    size_t key_len = strnlen(key, CAMEO_S3_KEY_MAX + 1);
    uint64_t bucket_start = now_unix_s - now_unix_s % s->presign_bucket_s;
    uint64_t hash = XXH3_64bits(key, key_len);
    size_t i = (size_t)(hash % PRESIGN_SETS);
    presign_set_t *set = &s->presigned[i];
    presign_stripe_t *stripe = &s->presign_stripes[i % PRESIGN_STRIPES];

    pthread_mutex_lock(&stripe->s.mu);
    presigned_t *p = presigned_find(set, hash, key, key_len, bucket_start);
    if (p != NULL) {
        stripe->s.cached++;
        int rc = CAMEO_ETOOBIG; /* as the signer says it */
        if (p->url_len < len) {
            memcpy(url, p->buf + key_len + 1, p->url_len + 1);
            if (expires_at != NULL)
                *expires_at = p->expires_at;
            rc = CAMEO_OK;
        } else {
            url[0] = '\0';
        }
        pthread_mutex_unlock(&stripe->s.mu);
        return rc;
    }
    pthread_mutex_unlock(&stripe->s.mu);

    uint64_t exp = 0;
    int rc = cameo_s3_presign_get(&s->signer, key, now_unix_s, s->presign_bucket_s, s->presign_min_validity_s,
                                  url, len, &exp);
    if (rc != CAMEO_OK)
        return rc;
    if (expires_at != NULL)
        *expires_at = exp;
    size_t url_len = strlen(url);
    pthread_mutex_lock(&stripe->s.mu);
    stripe->s.signed_++;
    /* Another thread may have signed it meanwhile: then it is kept once. */
    if (presigned_find(set, hash, key, key_len, bucket_start) == NULL)
        stripe->s.replaced +=
            (uint32_t)presigned_store(set, hash, key, key_len, bucket_start, url, url_len, exp);
    pthread_mutex_unlock(&stripe->s.mu);
    return CAMEO_OK;
}

int cameo__s3_status(cameo__s3_t *s, char *buf, size_t len)
{
    unsigned long long sig = 0, cached = 0, replaced = 0;
    for (size_t i = 0; i < PRESIGN_STRIPES; i++) {
        presign_stripe_t *stripe = &s->presign_stripes[i];
        pthread_mutex_lock(&stripe->s.mu);
        sig += stripe->s.signed_;
        cached += stripe->s.cached;
        replaced += stripe->s.replaced;
        pthread_mutex_unlock(&stripe->s.mu);
    }
    char last[sizeof(s->last_error)];
    pthread_mutex_lock(&s->lock);
    memcpy(last, s->last_error, sizeof(last));
    pthread_mutex_unlock(&s->lock);
    int failing = atomic_load_explicit(&s->failing, memory_order_relaxed);
    if (buf != NULL && len > 0)
        snprintf(
            buf, len,
            "s3 %s://%s bucket %s: %s, %u in flight (max %u), %llu requests, %llu failed, %llu timed out, "
            "%llu rejected, presigned URLs %llu signed %llu cached %llu replaced (of %d)%s%s",
            s->scheme, s->host, s->bucket, failing ? "failing" : "ok", atomic_load(&s->inflight),
            s->max_concurrent, (unsigned long long)LOAD(s, requests), (unsigned long long)LOAD(s, failures),
            (unsigned long long)LOAD(s, timeouts), (unsigned long long)LOAD(s, rejected), sig, cached,
            replaced, PRESIGN_SETS * PRESIGN_WAYS, last[0] ? "; last error: " : "", last);
    return failing ? CAMEO_EUNAVAIL : CAMEO_OK;
}
