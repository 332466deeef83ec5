/*
 * origin_s3_sign.h - AWS Signature Version 4 presigned GET URLs for the S3
 * origin, signed locally with OpenSSL libcrypto (HMAC-SHA256, SHA-256).
 *
 * Called by the S3 origin (issue 4) to hand clients a URL they can fetch an
 * object with directly, and by tests/unit/test_origin_s3_sign.c. The URL is
 * deterministic within a time bucket: X-Amz-Date is `now` snapped down to the
 * start of its bucket, and X-Amz-Expires covers the whole bucket plus
 * min_validity, so every instance hands out byte-identical URLs for the same
 * key during a bucket (cacheable by browsers and CDNs), and no URL is handed
 * out with less than min_validity seconds left. The S3 origin also takes
 * the credentials (it keeps no copy of its own) and its payload hashes
 * (x-amz-content-sha256) from here.
 *
 * Query-string authentication only: method GET, signed headers `host`,
 * payload UNSIGNED-PAYLOAD. Does not own: the clock (`now` is an argument),
 * credential refresh (re-init the signer with new credentials), any network
 * I/O, or the choice of key (passed through as given, URI-encoded here).
 *
 * Locks: one mutex per signer, cameo_s3_signer_t._mu, guarding only the
 * cached signing key (_key_date, _key). Everything else is written once by
 * cameo_s3_signer_init and only read afterwards, so a signer may be shared by
 * any number of threads between init and destroy.
 */
#ifndef CAMEO_ORIGIN_S3_SIGN_H
#define CAMEO_ORIGIN_S3_SIGN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cameo/cameo.h"

/* Caps on configuration strings, in bytes (without the terminating NUL). */
#define CAMEO_S3_AKID_MAX 128
#define CAMEO_S3_SECRET_MAX 128
#define CAMEO_S3_TOKEN_MAX 4096 /* STS session tokens run to ~2 KB today */
#define CAMEO_S3_REGION_MAX 32
#define CAMEO_S3_SERVICE_MAX 32
#define CAMEO_S3_HOST_MAX 255 /* the full Host value, port included */
#define CAMEO_S3_BUCKET_MAX 63
#define CAMEO_S3_KEY_MAX 1024 /* S3's own limit on a key, in bytes */

/* The longest X-Amz-Expires SigV4 accepts: seven days. */
#define CAMEO_S3_EXPIRES_MAX 604800

/*
 * Configuration read by cameo_s3_signer_init, which copies every string: the
 * caller may free or reuse them as soon as init returns.
 *
 *   access_key_id      1..CAMEO_S3_AKID_MAX printable ASCII, no '/'
 *   secret_access_key  1..CAMEO_S3_SECRET_MAX printable ASCII
 *   session_token      NULL or "" for none; else ..CAMEO_S3_TOKEN_MAX bytes,
 *                      printable ASCII; sent and signed as X-Amz-Security-Token
 *   region             1..CAMEO_S3_REGION_MAX of [a-z0-9-], e.g. "us-east-1"
 *   service            NULL for "s3"; else 1..CAMEO_S3_SERVICE_MAX of [a-z0-9-]
 *   endpoint           host[:port] of the S3 server, e.g. "s3.amazonaws.com",
 *                      "127.0.0.1:4569", "[::1]:9000"; lowercased on copy
 *                      (browsers lowercase the Host they send)
 *   scheme             "https" or "http"
 *   bucket             3..CAMEO_S3_BUCKET_MAX of [a-z0-9.-] (S3 naming rules)
 *   path_style         0: virtual-hosted, Host = "<bucket>.<endpoint>", path
 *                      "/<key>"; nonzero: Host = endpoint, path
 *                      "/<bucket>/<key>" (MinIO, fake S3 servers, IP endpoints)
 */
typedef struct cameo_s3_config {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *region;
    const char *service;
    const char *endpoint;
    const char *scheme;
    const char *bucket;
    int path_style;
} cameo_s3_config_t;

/*
 * A signer: validated copies of the configuration and a one-day cache of the
 * derived signing key. Embed it or allocate it; the caller owns the memory.
 * Fields are private to origin_s3_sign.c.
 */
typedef struct cameo_s3_signer {
    char _akid[CAMEO_S3_AKID_MAX + 1];
    char _secret[CAMEO_S3_SECRET_MAX + 1];
    char _token[CAMEO_S3_TOKEN_MAX + 1]; /* "" for none */
    char _region[CAMEO_S3_REGION_MAX + 1];
    char _service[CAMEO_S3_SERVICE_MAX + 1];
    char _scheme[6];                       /* "https" or "http" */
    char _host[CAMEO_S3_HOST_MAX + 1];     /* the Host header value, lowercase */
    char _prefix[CAMEO_S3_BUCKET_MAX + 2]; /* "<bucket>/" when path-style, else "" */

    pthread_mutex_t _mu;
    char _key_date[9];      /* yyyymmdd of _key, "" when empty; guarded by _mu */
    unsigned char _key[32]; /* kSigning for _key_date; guarded by _mu */
} cameo_s3_signer_t;

/*
 * Validates cfg and initialises *s from it.
 * Returns CAMEO_OK, or CAMEO_EINVAL with a one-line reason in err (when
 * errlen > 0; truncated to fit and NUL-terminated). The reason names the
 * field and the rule, never its value, so no secret reaches a log. After a
 * failure *s holds nothing that needs cameo_s3_signer_destroy. Returns
 * CAMEO_ENOMEM if the mutex cannot be created.
 */
int cameo_s3_signer_init(cameo_s3_signer_t *s, const cameo_s3_config_t *cfg, char *err, size_t errlen);

/* Wipes the secret and the cached key and destroys the mutex. s may be NULL.
 * No call on s may be running or follow, except a new init. */
void cameo_s3_signer_destroy(cameo_s3_signer_t *s);

/*
 * Writes into url (NUL-terminated) a presigned GET URL for object `key`
 * (1..CAMEO_S3_KEY_MAX bytes, used verbatim: the path is "/" + key, each
 * segment URI-encoded, '/' kept).
 *   X-Amz-Date    = now_unix_s - now_unix_s % bucket_s (start of the bucket)
 *   X-Amz-Expires = bucket_s + min_validity_s
 * so at any now inside the bucket the URL is valid for at least
 * min_validity_s more seconds. bucket_s must be > 0 and X-Amz-Expires at most
 * CAMEO_S3_EXPIRES_MAX. On CAMEO_OK, *expires_at (if not NULL) = X-Amz-Date +
 * X-Amz-Expires in Unix seconds.
 * Returns CAMEO_OK, CAMEO_EINVAL for a bad argument, or CAMEO_ETOOBIG when
 * url_len is too small. On failure url holds "" (when url_len > 0) and
 * *expires_at is untouched. Thread-safe on a shared signer.
 */
int cameo_s3_presign_get(cameo_s3_signer_t *s, const char *key, uint64_t now_unix_s, uint64_t bucket_s,
                         uint64_t min_validity_s, char *url, size_t url_len, uint64_t *expires_at);

/* The access key id and the secret access key s was initialised with, for a
 * client that signs its own requests with them (origin_s3 hands them to
 * libcurl's SigV4): the signer keeps the one copy. NUL-terminated, valid
 * until cameo_s3_signer_destroy; never to be logged. Any thread. */
const char *cameo__s3_signer_access_key(const cameo_s3_signer_t *s);
const char *cameo__s3_signer_secret(const cameo_s3_signer_t *s);

/* Writes the SHA-256 of data[0..len) as 64 lowercase hex digits and a NUL
 * into out: a SigV4 payload hash (origin_s3's x-amz-content-sha256).
 * Returns CAMEO_OK, or CAMEO_EIO when libcrypto fails. Any thread. */
int cameo__s3_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * URI-encodes in[0..len) per SigV4: A-Za-z0-9 - . _ ~ kept, every other byte
 * as %XX (uppercase hex); '/' kept when keep_slash is nonzero.
 * Writes at most out_len - 1 bytes plus a NUL to out (nothing when out_len is
 * 0; out may then be NULL) and returns the full encoded length without the
 * NUL, like snprintf: the output was truncated iff the result >= out_len.
 */
size_t cameo_s3_uri_encode(const char *in, size_t len, int keep_slash, char *out, size_t out_len);

/*
 * Internal (cameo__), exposed for the published AWS test vectors: like
 * cameo_s3_presign_get but with the X-Amz-Date given as amz_date_unix_s
 * (formatted as yyyymmddTHHMMSSZ, UTC; years 1970..9999) and X-Amz-Expires
 * given as expires_s (1..CAMEO_S3_EXPIRES_MAX). Same returns and failure
 * state.
 */
int cameo__s3_presign_at(cameo_s3_signer_t *s, const char *key, uint64_t amz_date_unix_s, uint64_t expires_s,
                         char *url, size_t url_len);

#endif
