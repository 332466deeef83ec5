/*
 * origin.h - the contract every origin (source of truth) implements: a method
 * table of asynchronous reads and writes of profiles and avatars.
 *
 * origin_local (src/origin/origin_local.c) is SQLite plus content-addressed
 * blobs; origin_blobs (src/origin/origin_blobs.c) keeps profiles and avatar
 * pointers there and the avatar bytes in an S3 bucket (origin_s3.c);
 * origin_http (src/origin/origin_http.c) reads profiles from an HTTP user
 * service. The engine (src/core/core_engine.c) is the only caller of the
 * reads and writes and never knows which origin it talks to.
 *
 * Threading: the engine calls every operation on a worker loop's thread and
 * passes that loop (tests may pass NULL to an origin that has no use for
 * it). An operation returns at once. On CAMEO_OK its callback fires exactly
 * once, later, on a thread the origin chooses (never inside the call that
 * started it): origin_local answers from its own threads, network origins
 * (S3, HTTP) on the loop that asked, where they keep their connections. On an error return the callback never
 * fires. Pointers passed to a callback are valid only until the callback returns; copy what you keep. Inputs
 * passed to an operation are copied before it returns.
 *
 * Ids are validated by the caller ([A-Za-z0-9._-]{1,128}); origins may assume
 * it. Optional operations may be NULL: the engine then answers CAMEO_ENOTSUP.
 */
#ifndef CAMEO_ORIGIN_H
#define CAMEO_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "cameo/cameo.h"
#include "cameo/loop.h"

#define CAMEO_ID_MAX 128
#define CAMEO_VERSION_MAX 64 /* longest avatar version string, without NUL */

typedef struct cameo_origin cameo_origin_t;

/* One stored profile, as an origin returns it. */
typedef struct cameo_profile_rec {
    const char *id;  /* NUL-terminated */
    const char *doc; /* JSON object text, doc_len bytes (not NUL-terminated) */
    size_t doc_len;
    const char *avatar_version; /* NULL when the user has no avatar */
    const char *avatar_type;    /* MIME type of the avatar, NULL when none */
    uint64_t updated_at;        /* ms since the Unix epoch */
    int err; /* CAMEO_OK; or why this user could not be read (say CAMEO_ECORRUPT, or the error of
              * the part of a batch it was in): the engine neither caches nor serves it, and
              * the other fields are unset. Absent ids, not errors, are what "not found" means. */
} cameo_profile_rec_t;

/* One avatar blob. */
typedef struct cameo_blob {
    const void *data;
    size_t len;
    const char *content_type; /* "image/png", ... */
    const char *version;
} cameo_blob_t;

/* get_profiles: err is CAMEO_OK and recs[0..n) the users that exist (in any
 * order; ids not found are simply absent, ids that failed carry rec.err), or
 * an error for the whole call and no records. */
typedef void (*cameo_origin_profiles_cb)(void *arg, int err, const cameo_profile_rec_t *recs, size_t n);

/* get_avatar: CAMEO_OK and the blob, CAMEO_ENOTFOUND, or another error. */
typedef void (*cameo_origin_blob_cb)(void *arg, int err, const cameo_blob_t *blob);

/* Writes: err, and for put_profile / put_avatar the record as stored after
 * the write (NULL on error). created is 1 when put_profile made a new user. */
typedef void (*cameo_origin_write_cb)(void *arg, int err, const cameo_profile_rec_t *rec, int created);

/* list_ids: err is CAMEO_OK and ids[0..n) in ascending byte order, or an
 * error and no ids. */
typedef void (*cameo_origin_list_cb)(void *arg, int err, const char *const *ids, size_t n);

typedef struct cameo_origin_ops {
    const char *name; /* "local", "local+s3", "http": the origin label in metrics */

    /* Reads the users named by ids[0..n) in one batched query (n <= 1000). */
    int (*get_profiles)(cameo_origin_t *o, cameo_loop_t *loop, const char *const *ids, size_t n,
                        cameo_origin_profiles_cb cb, void *arg);

    /* Reads one avatar version of user id. A superseded version is still
     * found until garbage-collected. */
    int (*get_avatar)(cameo_origin_t *o, cameo_loop_t *loop, const char *id, const char *version,
                      cameo_origin_blob_cb cb, void *arg);

    /* Creates or replaces the JSON document of user id (doc is a JSON object).
     * The avatar of an existing user is kept. now_wall: ms since the epoch. */
    int (*put_profile)(cameo_origin_t *o, cameo_loop_t *loop, const char *id, const char *doc, size_t doc_len,
                       uint64_t now_wall, cameo_origin_write_cb cb, void *arg);

    /* Deletes user id and its avatar pointer. CAMEO_ENOTFOUND through the
     * callback when there was no such user. */
    int (*delete_profile)(cameo_origin_t *o, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                          cameo_origin_write_cb cb, void *arg);

    /* Stores blob (already validated; blob->version derived from its content)
     * as user id's avatar. CAMEO_ENOTFOUND when the user does not exist. */
    int (*put_avatar)(cameo_origin_t *o, cameo_loop_t *loop, const char *id, const cameo_blob_t *blob,
                      uint64_t now_wall, cameo_origin_write_cb cb, void *arg);

    /* Clears user id's avatar pointer (the blob stays until GC).
     * CAMEO_ENOTFOUND when the user does not exist. */
    int (*delete_avatar)(cameo_origin_t *o, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                         cameo_origin_write_cb cb, void *arg);

    /* Optional (origins whose avatars a client can fetch directly): writes
     * into url (NUL-terminated) a URL for avatar version of user id, e.g. a
     * presigned S3 GET, valid until *expires_at (Unix seconds, > now_unix_s)
     * and identical for every caller and instance within a time bucket.
     * now_unix_s is wall-clock time in seconds. CAMEO_OK, CAMEO_EINVAL,
     * CAMEO_ETOOBIG (url too small; 2048 bytes always suffice without a
     * session token). No I/O, any thread. Called by the HTTP routes.
     * An origin that cannot name the object without I/O (origin_http with
     * a hashed version it has not seen) writes cameo's own immutable path
     * "/v1/avatars/ID/VERSION" instead and sets *expires_at to 0. */
    int (*avatar_url)(cameo_origin_t *o, const char *id, const char *version, uint64_t now_unix_s, char *url,
                      size_t len, uint64_t *expires_at);

    /* Optional (network origins): on each worker loop's thread as it
     * starts, and after its last request as it stops. detach fires the
     * loop's pending callbacks (CAMEO_EUNAVAIL) and releases its watches,
     * timers and connections. */
    int (*attach)(cameo_origin_t *o, cameo_loop_t *loop);
    void (*detach)(cameo_origin_t *o, cameo_loop_t *loop);

    /* Optional. Lists up to limit (1..1000) user ids greater than after (in
     * byte order; NULL or "" lists from the first), ascending: only ids of
     * the form callers validate ([A-Za-z0-9._-]{1,128}), and exactly limit
     * of them unless fewer follow (a short page is the last). loop is the
     * worker loop that asked (an origin that talks to the network runs
     * there); the callback may still fire on another thread. */
    int (*list_ids)(cameo_origin_t *o, cameo_loop_t *loop, const char *after, size_t limit,
                    cameo_origin_list_cb cb, void *arg);

    /* Cheap, synchronous health: CAMEO_OK; CAMEO_EUPSTREAM when a service
     * behind the origin is failing but cached answers go on (/readyz:
     * degraded); CAMEO_EUNAVAIL when the origin itself is down (unready).
     * Writes a short human-readable detail into buf (NUL-terminated), never
     * a secret. No I/O. */
    int (*status)(cameo_origin_t *o, char *buf, size_t len);

    /* Stops accepting work, waits for queued operations (their callbacks
     * fire), then frees the origin. */
    void (*destroy)(cameo_origin_t *o);
} cameo_origin_ops_t;

/* Every origin struct starts with this. */
struct cameo_origin {
    const cameo_origin_ops_t *ops;
};

/* origin_local: the embedded store in directory dir (created if missing):
 * dir/cameo.db (SQLite, WAL). threads: worker threads for SQLite calls (0
 * means 2). queue_max: operations waiting for a thread before the calls
 * answer CAMEO_EBUSY (0 means 4096). */
typedef struct cameo_local_config {
    const char *dir;
    unsigned threads;
    unsigned queue_max;
    uint64_t blob_retention_ms; /* superseded avatar versions (their S3 objects with blobs_elsewhere)
                                 * kept this long (0 means 7 days) */
    /* Nonzero: avatar bytes live elsewhere (origin_blobs puts them in S3).
     * put_avatar then records the pointer (version, type, SHA-256 and size
     * of blob->data, hashed during the call) but stores no bytes, and
     * get_avatar answers CAMEO_ENOTSUP. */
    int blobs_elsewhere;
} cameo_local_config_t;

/* Opens the store (creating the schema). Returns CAMEO_OK and *out, or
 * CAMEO_EIO with a message in errbuf (NUL-terminated) when the directory or
 * the database cannot be opened. */
int cameo_origin_local_open(const cameo_local_config_t *cfg, cameo_origin_t **out, char *errbuf,
                            size_t errlen);

/*
 * An S3-compatible bucket (origin_s3.c). Strings are copied by the open
 * function. Zero numbers take the defaults in brackets.
 *   endpoint     "http://host:port" or "https://host[:port]", no path
 *   region       e.g. "us-east-1"
 *   bucket       S3 naming rules: 3..63 of [a-z0-9.-]
 *   prefix       key prefix, "" or NULL for none: [A-Za-z0-9._/-]{0,512},
 *                no leading or trailing '/'. Avatar version v of user id is
 *                the object "prefix/id/v" ("id/v" without a prefix).
 *   path_style   nonzero: http://host/bucket/key; zero: http://bucket.host/key
 *   access_key, secret_key, session_token (NULL or "" for none): never
 *                logged, never in error text
 *   connect_timeout_ms [1000], timeout_ms (whole request) [5000]
 *   max_object   largest object read or written, bytes [5 MiB]
 *   max_concurrent  S3 requests in flight over all loops [256]; past it a
 *                call answers CAMEO_EBUSY
 *   presign_bucket_s [1800], presign_min_validity_s [600]: presigned URLs
 *                (origin_s3_sign.h) are dated at the start of their bucket
 *                and valid for the bucket plus the minimum validity
 */
typedef struct cameo_s3_origin_config {
    const char *endpoint;
    const char *region;
    const char *bucket;
    const char *prefix;
    int path_style;
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    uint64_t connect_timeout_ms;
    uint64_t timeout_ms;
    size_t max_object;
    unsigned max_concurrent;
    uint64_t presign_bucket_s;
    uint64_t presign_min_validity_s;
} cameo_s3_origin_config_t;

/*
 * origin_blobs: "cameo owns the data" with avatar bytes in S3. Profiles and
 * avatar pointers go to local (an origin_local opened with blobs_elsewhere);
 * put_avatar writes the object, then the pointer; get_avatar reads the
 * object; avatar_url presigns it. The objects of versions local's GC
 * collects (blob_retention_ms after they were superseded) are deleted from
 * the bucket by the first loop to attach (src/origin/origin_local.h).
 * Network work runs on the worker loops (attach/detach). Takes ownership of
 * local, also on failure (destroyed).
 * Returns CAMEO_OK and *out, or CAMEO_EINVAL / CAMEO_ENOMEM with a one-line
 * message naming the setting (never a secret) in errbuf.
 */
int cameo_origin_blobs_open(const cameo_s3_origin_config_t *cfg, cameo_origin_t *local, cameo_origin_t **out,
                            char *errbuf, size_t errlen);

/*
 * origin_http: profiles read through from an HTTP user service
 * (src/origin/origin_http.c), read-only (cameo's write endpoints answer 405;
 * the app writes to its service and calls POST /v1/invalidate). Requests run
 * on the workers' loops through libcurl, connections kept alive per loop.
 *
 * users_url     required: http(s)://host[:port]/path containing "{id}"; GET,
 *               200 with a JSON object (the profile), 404 for an unknown user
 * batch_url     optional: POST {"ids": [...]}; 200 with {"ID": {...}|null, ...}
 *               or [{"id": "ID", ...}, ...]; ids absent from the answer are
 *               unknown users. Used for reads of more than one id; without
 *               it, one GET per id.
 * batch_size    ids per batch POST (default 50, at most 1000)
 * concurrency   requests in flight per worker loop (default 16); more wait in
 *               a queue of queue_max per loop (default 4096), then CAMEO_EBUSY
 * connect_timeout_ms, timeout_ms   per attempt (defaults 1000 and 3000)
 * retries       more attempts after a failure that may pass (connection
 *               refused or lost, timeout, 5xx; not 4xx or bad data), after a
 *               full-jitter backoff of up to backoff_ms * 2^attempt (0 and 50
 *               when zero; the daemon asks for 2). Reads are idempotent, the
 *               batch POST included.
 * breaker_failures, breaker_open_ms   the circuit breaker (one per origin):
 *               after breaker_failures failed attempts in a row (default 5)
 *               calls fail at once with CAMEO_EUNAVAIL for breaker_open_ms
 *               (default 5000); then one call probes, and its success closes
 *               the breaker (its failure opens it again).
 * max_body      bytes of one response (default 8 MiB; over: CAMEO_ETOOBIG
 *               for the ids asked); each profile is also held to 64 KiB
 * avatar_field  optional JSON pointer (RFC 6901, "/picture_id") to the
 *               profile member naming the user's avatar (a string or a
 *               number). Without s3 the value is the avatar version: as is
 *               when it matches [A-Za-z0-9._-]{1,64}, else "h" and 16 hex
 *               digits of its XXH3 hash. With s3 the object is HEADed as the
 *               profile is read and the version is made from the value and
 *               the object's ETag (see origin_http.c and docs/origins.md); a
 *               missing object is no avatar. A value that cannot name an
 *               object (control characters, a "." or ".." key segment, a key
 *               over 1024 bytes) is no avatar.
 * s3            optional, with avatar_field: the bucket the avatar objects are
 *               read from (copied; the origin makes and owns its client, and
 *               attaches it to every loop it attaches to). get_avatar then
 *               reads the object, checks that it is an image (else
 *               CAMEO_ECORRUPT, never cached) with the version's ETag
 *               (missing or replaced: CAMEO_ENOTFOUND), and avatar_url
 *               presigns it. Without s3 there are no avatar bytes.
 * avatar_key_template  the object of a field value: every "{value}" replaced
 *               by the value as is (default "avatars/{value}"), after the
 *               bucket's prefix and a '/' when s3->prefix is not empty. A
 *               hashed version is mapped back to its value through a bounded
 *               table filled as profiles are parsed; on a miss, get_avatar
 *               reads the profile again (one GET) to find it.
 */
typedef struct cameo_http_origin_config {
    const char *users_url;
    const char *batch_url;
    unsigned batch_size;
    unsigned concurrency;
    unsigned queue_max;
    uint64_t connect_timeout_ms;
    uint64_t timeout_ms;
    unsigned retries;
    uint64_t backoff_ms;
    unsigned breaker_failures;
    uint64_t breaker_open_ms;
    size_t max_body;
    const char *avatar_field;
    const cameo_s3_origin_config_t *s3;
    const char *avatar_key_template;
} cameo_http_origin_config_t;

/* Checks cfg and creates the origin; it connects from each loop that
 * attaches. CAMEO_OK and *out, or CAMEO_EINVAL with a one-line reason in
 * errbuf (never a credential), or CAMEO_ENOMEM. */
int cameo_origin_http_open(const cameo_http_origin_config_t *cfg, cameo_origin_t **out, char *errbuf,
                           size_t errlen);

#endif
