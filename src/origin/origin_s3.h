/*
 * origin_s3.h - a client of one S3-compatible bucket: GET, PUT, DELETE and
 * HEAD of objects, each request signed with AWS Signature V4 by libcurl
 * (CURLOPT_AWS_SIGV4) and run on the asking worker's loop through
 * origin_curl (one multi handle, and its pool of keep-alive connections,
 * per loop), plus presigned GET URLs (origin_s3_sign).
 *
 * Called by origin_blobs.c (mode 1: avatar bytes in the bucket) and by
 * tests/unit/test_origin_s3.c, and by origin_http.c (mode 2: avatar objects
 * named by a field of the user service's profiles). Knows nothing of
 * profiles or of the cache: a request in, a result out.
 *
 * Does not own: the choice of key (callers build it with cameo__s3_key),
 * retries (none: reads are retried by the next cache miss), the clock
 * (now_unix_s comes in for presigning).
 *
 * Threading: cameo__s3_attach, _detach and _request run on the loop's own
 * thread; _presign, _key and _status on any thread. Credentials are kept in
 * memory only and never written to a log or an error message.
 */
#ifndef CAMEO_ORIGIN_S3_H
#define CAMEO_ORIGIN_S3_H

#include <stddef.h>
#include <stdint.h>

#include "cameo/loop.h"
#include "cameo/origin.h"

typedef struct cameo__s3 cameo__s3_t;

typedef enum { CAMEO__S3_GET, CAMEO__S3_PUT, CAMEO__S3_DELETE, CAMEO__S3_HEAD } cameo__s3_method_t;

/* What a request ended with. Pointers are valid only during the callback. */
typedef struct cameo__s3_result {
    /* CAMEO_OK: a 2xx answer.
     * CAMEO_ENOTFOUND: 404 (no such object; also for DELETE of one).
     * CAMEO_ETIMEDOUT: no answer within the connect or total timeout.
     * CAMEO_EUPSTREAM: S3 refused or failed it: connection refused or lost,
     *   403 (credentials, clock, policy: logged at error level with S3's
     *   error code), any other 4xx, 5xx, a body over max_object.
     * CAMEO_EUNAVAIL: the loop is stopping (detach). */
    int err;
    long status;      /* HTTP status, 0 without an answer */
    const char *body; /* GET: the object (len bytes); otherwise S3's answer */
    size_t len;
    const char *etag;           /* the ETag header, quotes included, or NULL */
    const char *payload_sha256; /* PUT: the hex SHA-256 of the body sent (its
                                 * x-amz-content-sha256), so that a caller
                                 * need not hash it again; else NULL */
} cameo__s3_result_t;

typedef void (*cameo__s3_cb)(void *arg, const cameo__s3_result_t *res);

/* Validates cfg and makes a client. Returns CAMEO_OK and *out, or
 * CAMEO_EINVAL / CAMEO_ENOMEM with a one-line message in errbuf that names
 * the setting, never a credential's value. */
int cameo__s3_new(const cameo_s3_origin_config_t *cfg, cameo__s3_t **out, char *errbuf, size_t errlen);

/* Frees s. Every loop must have detached. NULL is a no-op. */
void cameo__s3_free(cameo__s3_t *s);

/* On loop's thread as it starts: makes its multi handle. CAMEO_OK,
 * CAMEO_EINVAL (already attached), CAMEO_EBUSY (256 loops), CAMEO_ENOMEM. */
int cameo__s3_attach(cameo__s3_t *s, cameo_loop_t *loop);

/* On loop's thread as it stops: ends its requests (callbacks fire with
 * CAMEO_EUNAVAIL), closes its connections. */
void cameo__s3_detach(cameo__s3_t *s, cameo_loop_t *loop);

/*
 * Starts method on object key (1..1024 bytes, sent URI-encoded) from loop's
 * thread. PUT sends body[0..len) (not copied: it must stay valid until cb
 * fires) with Content-Type ctype, its Content-MD5 (S3 checks the bytes it
 * stored) and "Cache-Control: public, max-age=31536000, immutable" (keys
 * name content: an object never changes). cb fires exactly once,
 * later, on loop's thread. Returns CAMEO_OK, or (cb never fires)
 * CAMEO_EINVAL (bad key, body over max_object), CAMEO_EUNAVAIL (loop not
 * attached), CAMEO_EBUSY (max_concurrent requests in flight), CAMEO_ENOMEM.
 */
int cameo__s3_request(cameo__s3_t *s, cameo_loop_t *loop, cameo__s3_method_t method, const char *key,
                      const void *body, size_t len, const char *ctype, cameo__s3_cb cb, void *arg);

/* Writes the key of avatar version of user id ("prefix/id/version", or
 * "id/version"; ids "." and ".." as "~." and "~..", never a dot segment)
 * into out. Returns CAMEO_OK or CAMEO_ETOOBIG. */
int cameo__s3_key(const cameo__s3_t *s, const char *id, const char *version, char *out, size_t len);

/* Writes the key of object name under the bucket's prefix ("prefix/name",
 * or name without a prefix) into out: the key of an avatar named by a
 * profile field (origin_http). Returns CAMEO_OK or CAMEO_ETOOBIG. */
int cameo__s3_object_key(const cameo__s3_t *s, const char *name, char *out, size_t len);

/* A presigned GET URL of key; see cameo_s3_presign_get with the configured
 * bucket and minimum validity. Same returns and the same bytes: each URL is
 * signed once per key and bucket, later calls in that bucket copy it from a
 * bounded table (origin_s3.c; counted in cameo__s3_status's summary). */
int cameo__s3_presign(cameo__s3_t *s, const char *key, uint64_t now_unix_s, char *url, size_t len,
                      uint64_t *expires_at);

/* CAMEO_OK, or CAMEO_EUNAVAIL while the last request ended in a transport
 * failure, 403 or 5xx; a one-line summary in buf (requests, failures, and
 * presigned URLs signed, copied from the table, and replaced in it while
 * still current). No I/O. */
int cameo__s3_status(cameo__s3_t *s, char *buf, size_t len);

#endif
