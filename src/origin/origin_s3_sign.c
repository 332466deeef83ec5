/*
 * origin_s3_sign.c - AWS Signature Version 4 query-string signing (presigned
 * GET URLs) for the S3 origin; see origin_s3_sign.h for the contract.
 *
 * The URL is built straight into the caller's buffer: scheme://host, the
 * canonical URI, '?', the canonical query string (parameters already in
 * sorted order), then "&X-Amz-Signature=<hex>". The canonical URI and query
 * string inside the URL are byte-for-byte the ones SigV4 signs (S3 does not
 * double-encode the path), so the canonical request is hashed from slices of
 * the URL plus constants, with no second buffer:
 *
 *   GET\n<canonical URI>\n<canonical query>\nhost:<host>\n\nhost\nUNSIGNED-PAYLOAD
 *
 * String to sign: "AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(creq)>",
 * scope "<yyyymmdd>/<region>/<service>/aws4_request". Signing key:
 * kDate = HMAC("AWS4" secret, yyyymmdd), kRegion = HMAC(kDate, region),
 * kService = HMAC(kRegion, service), kSigning = HMAC(kService, "aws4_request"),
 * cached for one date under _mu (four HMACs saved per URL).
 *
 * Does not own: the clock, the caller's buffers, credential refresh.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cameo/media.h"
#include "origin/origin_s3_sign.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_UNIX_S 253402300799ULL /* 9999-12-31T23:59:59Z: keeps the year at four digits */

/* ---- bounded output into the caller's buffer ---- */

typedef struct out {
    char *buf;
    size_t cap; /* bytes of buf, NUL included */
    size_t len; /* bytes written so far (without NUL) */
    int overflow;
} out_t;

static void out_mem(out_t *o, const char *p, size_t n)
{
    if (o->overflow || n >= o->cap - o->len) {
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(out_t *o, const char *p)
{
    out_mem(o, p, strlen(p));
}

static void out_enc(out_t *o, const char *p, size_t n, int keep_slash)
{
    if (o->overflow) {
        return;
    }
    size_t room = o->cap - o->len;
    size_t need = cameo_s3_uri_encode(p, n, keep_slash, o->buf + o->len, room);
    if (need >= room) {
        o->overflow = 1;
        return;
    }
    o->len += need;
}

/* ---- encoding ---- */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t cameo_s3_uri_encode(const char *in, size_t len, int keep_slash, char *out, size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0; /* full encoded length */
    size_t w = 0; /* bytes written: whole escapes only, leaving room for the NUL */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char enc[3] = {(char)c, hex[c >> 4], hex[c & 15]};
        size_t k = 1;
        if (!unreserved(c) && !(keep_slash && c == '/')) {
            enc[0] = '%';
            k = 3;
        }
        if (w == n && n + k < out_len) {
            memcpy(out + w, enc, k);
            w += k;
        }
        n += k;
    }
    if (out_len > 0) {
        out[w] = '\0';
    }
    return n;
}

int cameo__s3_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32) {
        return CAMEO_EIO;
    }
    cameo_hex(md, 32, out);
    return CAMEO_OK;
}

/* ---- configuration ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

enum { CH_PRINT, CH_PRINT_NO_SLASH, CH_LOWER_DASH, CH_BUCKET, CH_HOST };

static int char_ok(int set, unsigned char c)
{
    switch (set) {
    case CH_PRINT:
        return c >= 0x21 && c <= 0x7e;
    case CH_PRINT_NO_SLASH:
        return c >= 0x21 && c <= 0x7e && c != '/';
    case CH_LOWER_DASH:
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    case CH_BUCKET:
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    default: /* CH_HOST: name or IP literal, optional port */
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == ':' || c == '[' || c == ']';
    }
}

/* Checks v against [min, max] bytes of set and copies it into dst (max + 1
 * bytes). Error text names the field, never the value. */
static int copy_field(char *dst, const char *v, const char *name, size_t min, size_t max, int set, char *err,
                      size_t errlen)
{
    size_t n = v ? strlen(v) : 0;
    if (n < min || n > max) {
        set_err(err, errlen, "s3: %s must be %zu..%zu bytes", name, min, max);
        return CAMEO_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!char_ok(set, (unsigned char)v[i])) {
            set_err(err, errlen, "s3: %s has a character outside its allowed set", name);
            return CAMEO_EINVAL;
        }
    }
    if (n > 0) {
        memcpy(dst, v, n);
    }
    dst[n] = '\0';
    return CAMEO_OK;
}

int cameo_s3_signer_init(cameo_s3_signer_t *s, const cameo_s3_config_t *cfg, char *err, size_t errlen)
{
    char endpoint[CAMEO_S3_HOST_MAX + 1];
    char bucket[CAMEO_S3_BUCKET_MAX + 1];
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (s == NULL || cfg == NULL) {
        set_err(err, errlen, "s3: signer and config are required");
        return CAMEO_EINVAL;
    }
    memset(s, 0, sizeof(*s));
    if ((rc = copy_field(s->_akid, cfg->access_key_id, "access_key_id", 1, CAMEO_S3_AKID_MAX,
                         CH_PRINT_NO_SLASH, err, errlen)) != CAMEO_OK ||
        (rc = copy_field(s->_secret, cfg->secret_access_key, "secret_access_key", 1, CAMEO_S3_SECRET_MAX,
                         CH_PRINT, err, errlen)) != CAMEO_OK ||
        (rc = copy_field(s->_token, cfg->session_token, "session_token", 0, CAMEO_S3_TOKEN_MAX, CH_PRINT, err,
                         errlen)) != CAMEO_OK ||
        (rc = copy_field(s->_region, cfg->region, "region", 1, CAMEO_S3_REGION_MAX, CH_LOWER_DASH, err,
                         errlen)) != CAMEO_OK ||
        (rc = copy_field(s->_service, cfg->service ? cfg->service : "s3", "service", 1, CAMEO_S3_SERVICE_MAX,
                         CH_LOWER_DASH, err, errlen)) != CAMEO_OK ||
        (rc = copy_field(endpoint, cfg->endpoint, "endpoint", 1, CAMEO_S3_HOST_MAX, CH_HOST, err, errlen)) !=
            CAMEO_OK ||
        (rc = copy_field(bucket, cfg->bucket, "bucket", 3, CAMEO_S3_BUCKET_MAX, CH_BUCKET, err, errlen)) !=
            CAMEO_OK) {
        goto err;
    }
    if (cfg->scheme == NULL || (strcmp(cfg->scheme, "https") != 0 && strcmp(cfg->scheme, "http") != 0)) {
        set_err(err, errlen, "s3: scheme must be \"https\" or \"http\"");
        rc = CAMEO_EINVAL;
        goto err;
    }
    strcpy(s->_scheme, cfg->scheme);
    for (char *p = endpoint; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    size_t blen = strlen(bucket), elen = strlen(endpoint);
    if (cfg->path_style) {
        memcpy(s->_host, endpoint, elen + 1);
        memcpy(s->_prefix, bucket, blen);
        memcpy(s->_prefix + blen, "/", 2);
    } else {
        if (blen + 1 + elen > CAMEO_S3_HOST_MAX) {
            set_err(err, errlen, "s3: bucket.endpoint must be at most %d bytes", CAMEO_S3_HOST_MAX);
            rc = CAMEO_EINVAL;
            goto err;
        }
        memcpy(s->_host, bucket, blen);
        s->_host[blen] = '.';
        memcpy(s->_host + blen + 1, endpoint, elen + 1);
    }
    if (pthread_mutex_init(&s->_mu, NULL) != 0) {
        set_err(err, errlen, "s3: cannot create the signer mutex");
        rc = CAMEO_ENOMEM;
        goto err;
    }
    return CAMEO_OK;

err:
    OPENSSL_cleanse(s, sizeof(*s));
    return rc;
}

void cameo_s3_signer_destroy(cameo_s3_signer_t *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_destroy(&s->_mu);
    OPENSSL_cleanse(s, sizeof(*s));
}

const char *cameo__s3_signer_access_key(const cameo_s3_signer_t *s)
{
    return s->_akid;
}

const char *cameo__s3_signer_secret(const cameo_s3_signer_t *s)
{
    return s->_secret;
}

/* ---- signing ---- */

static int hmac(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
                unsigned char out[32])
{
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) == NULL || n != 32) {
        return CAMEO_EIO;
    }
    return CAMEO_OK;
}

/* kSigning for date (yyyymmdd), into key. */
static int derive_key(const cameo_s3_signer_t *s, const char *date, unsigned char key[32])
{
    unsigned char k[32], k2[32];
    char seed[4 + CAMEO_S3_SECRET_MAX + 1];
    size_t seed_len = (size_t)snprintf(seed, sizeof(seed), "AWS4%s", s->_secret);
    int rc = hmac((const unsigned char *)seed, seed_len, date, strlen(date), k);
    if (rc == CAMEO_OK) {
        rc = hmac(k, 32, s->_region, strlen(s->_region), k2);
    }
    if (rc == CAMEO_OK) {
        rc = hmac(k2, 32, s->_service, strlen(s->_service), k);
    }
    if (rc == CAMEO_OK) {
        rc = hmac(k, 32, "aws4_request", 12, key);
    }
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(k2, sizeof(k2));
    return rc;
}

/* Copies the signing key for date into key, deriving and caching it when the
 * cached one is for another date. Takes _mu. */
static int signing_key(cameo_s3_signer_t *s, const char *date, unsigned char key[32])
{
    int rc = CAMEO_OK;
    pthread_mutex_lock(&s->_mu);
    if (strcmp(s->_key_date, date) != 0) {
        s->_key_date[0] = '\0';
        rc = derive_key(s, date, s->_key);
        if (rc == CAMEO_OK) {
            memcpy(s->_key_date, date, 9);
        }
    }
    if (rc == CAMEO_OK) {
        memcpy(key, s->_key, 32);
    }
    pthread_mutex_unlock(&s->_mu);
    return rc;
}

static int sha256_update(EVP_MD_CTX *ctx, const char *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) == 1 ? CAMEO_OK : CAMEO_EIO;
}

/* hex(SHA-256(canonical request)) into hex_out (65 bytes); uri and query are
 * slices of the URL being built. */
static int canonical_request_hash(const cameo_s3_signer_t *s, const char *uri, size_t uri_len,
                                  const char *query, size_t query_len, char hex_out[65])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    int rc = CAMEO_EIO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return CAMEO_ENOMEM;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        goto done;
    }
    if (sha256_update(ctx, "GET\n", 4) != CAMEO_OK || sha256_update(ctx, uri, uri_len) != CAMEO_OK ||
        sha256_update(ctx, "\n", 1) != CAMEO_OK || sha256_update(ctx, query, query_len) != CAMEO_OK ||
        sha256_update(ctx, "\nhost:", 6) != CAMEO_OK ||
        sha256_update(ctx, s->_host, strlen(s->_host)) != CAMEO_OK ||
        sha256_update(ctx, "\n\nhost\nUNSIGNED-PAYLOAD", 23) != CAMEO_OK) {
        goto done;
    }
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32) {
        goto done;
    }
    cameo_hex(md, 32, hex_out);
    rc = CAMEO_OK;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int cameo__s3_presign_at(cameo_s3_signer_t *s, const char *key, uint64_t amz_date_unix_s, uint64_t expires_s,
                         char *url, size_t url_len)
{
    char amz_date[17]; /* yyyymmddThhmmssZ */
    char date[9];
    char scope[9 + CAMEO_S3_REGION_MAX + 1 + CAMEO_S3_SERVICE_MAX + sizeof("/aws4_request")];
    char num[24];
    char creq_hex[65];
    char sts[sizeof(ALGORITHM "\n") + sizeof(amz_date) + sizeof(scope) + sizeof(creq_hex)];
    char sig_hex[65];
    unsigned char kSigning[32], sig[32];
    struct tm tm;
    size_t key_len, uri_at, query_at;
    int rc;

    if (url != NULL && url_len > 0) {
        url[0] = '\0';
    }
    if (s == NULL || key == NULL || url == NULL || url_len == 0) {
        return s && key && url ? CAMEO_ETOOBIG : CAMEO_EINVAL;
    }
    key_len = strlen(key);
    if (key_len == 0 || key_len > CAMEO_S3_KEY_MAX || amz_date_unix_s > MAX_UNIX_S || expires_s == 0 ||
        expires_s > CAMEO_S3_EXPIRES_MAX) {
        return CAMEO_EINVAL;
    }
    time_t t = (time_t)amz_date_unix_s;
    if (gmtime_r(&t, &tm) == NULL || strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        return CAMEO_EINVAL;
    }
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, s->_region, s->_service);

    /* scheme://host, then the canonical URI and query string, in sorted order. */
    out_t o = {url, url_len, 0, 0};
    out_str(&o, s->_scheme);
    out_str(&o, "://");
    out_str(&o, s->_host);
    uri_at = o.len;
    out_str(&o, "/");
    out_str(&o, s->_prefix);
    out_enc(&o, key, key_len, 1);
    query_at = o.len + 1;
    out_str(&o, "?X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
    out_enc(&o, s->_akid, strlen(s->_akid), 0);
    out_str(&o, "%2F");
    out_enc(&o, scope, strlen(scope), 0);
    out_str(&o, "&X-Amz-Date=");
    out_str(&o, amz_date);
    snprintf(num, sizeof(num), "%" PRIu64, expires_s);
    out_str(&o, "&X-Amz-Expires=");
    out_str(&o, num);
    if (s->_token[0] != '\0') {
        out_str(&o, "&X-Amz-Security-Token=");
        out_enc(&o, s->_token, strlen(s->_token), 0);
    }
    out_str(&o, "&X-Amz-SignedHeaders=host");
    if (o.overflow) {
        rc = CAMEO_ETOOBIG;
        goto err;
    }

    rc = canonical_request_hash(s, url + uri_at, query_at - 1 - uri_at, url + query_at, o.len - query_at,
                                creq_hex);
    if (rc != CAMEO_OK) {
        goto err;
    }
    int sts_len = snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n%s", amz_date, scope, creq_hex);
    assert(sts_len > 0 && (size_t)sts_len < sizeof(sts));
    rc = signing_key(s, date, kSigning);
    if (rc == CAMEO_OK) {
        rc = hmac(kSigning, sizeof(kSigning), sts, (size_t)sts_len, sig);
    }
    OPENSSL_cleanse(kSigning, sizeof(kSigning));
    if (rc != CAMEO_OK) {
        goto err;
    }
    cameo_hex(sig, 32, sig_hex);
    out_str(&o, "&X-Amz-Signature=");
    out_str(&o, sig_hex);
    if (o.overflow) {
        rc = CAMEO_ETOOBIG;
        goto err;
    }
    return CAMEO_OK;

err:
    url[0] = '\0';
    return rc;
}

int cameo_s3_presign_get(cameo_s3_signer_t *s, const char *key, uint64_t now_unix_s, uint64_t bucket_s,
                         uint64_t min_validity_s, char *url, size_t url_len, uint64_t *expires_at)
{
    if (url != NULL && url_len > 0) {
        url[0] = '\0';
    }
    if (bucket_s == 0 || bucket_s > CAMEO_S3_EXPIRES_MAX ||
        min_validity_s > CAMEO_S3_EXPIRES_MAX - bucket_s) {
        return CAMEO_EINVAL;
    }
    uint64_t start = now_unix_s - now_unix_s % bucket_s;
    uint64_t expires = bucket_s + min_validity_s;
    int rc = cameo__s3_presign_at(s, key, start, expires, url, url_len);
    if (rc == CAMEO_OK && expires_at != NULL) {
        *expires_at = start + expires;
    }
    return rc;
}
