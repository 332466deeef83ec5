/*
 * origin.h - the contract every origin (source of truth) implements: a method
 * table of asynchronous reads and writes of profiles and avatars.
 *
 * This issue brings origin_local (src/origin/origin_local.c: SQLite plus
 * content-addressed blobs). Later origins (S3, an HTTP user service) are new
 * files that fill the same table; the engine (src/core/core_engine.c) is the
 * only caller and never knows which origin it talks to.
 *
 * Threading: an operation returns at once. On CAMEO_OK its callback fires
 * exactly once, later, on a thread the origin chooses (never inside the call
 * that started it). On an error return the callback never fires. Pointers
 * passed to a callback are valid only until the callback returns; copy what
 * you keep. Inputs passed to an operation are copied before it returns.
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
} cameo_profile_rec_t;

/* One avatar blob. */
typedef struct cameo_blob {
    const void *data;
    size_t len;
    const char *content_type; /* "image/png", ... */
    const char *version;
} cameo_blob_t;

/* get_profiles: err is CAMEO_OK and recs[0..n) the users that exist (in any
 * order; ids not found are simply absent), or an error and no records. */
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
    const char *name; /* "local", "s3", "http": the origin label in metrics */

    /* Reads the users named by ids[0..n) in one batched query (n <= 1000). */
    int (*get_profiles)(cameo_origin_t *o, const char *const *ids, size_t n, cameo_origin_profiles_cb cb,
                        void *arg);

    /* Reads one avatar version of user id. A superseded version is still
     * found until garbage-collected. */
    int (*get_avatar)(cameo_origin_t *o, const char *id, const char *version, cameo_origin_blob_cb cb,
                      void *arg);

    /* Creates or replaces the JSON document of user id (doc is a JSON object).
     * The avatar of an existing user is kept. now_wall: ms since the epoch. */
    int (*put_profile)(cameo_origin_t *o, const char *id, const char *doc, size_t doc_len, uint64_t now_wall,
                       cameo_origin_write_cb cb, void *arg);

    /* Deletes user id and its avatar pointer. CAMEO_ENOTFOUND through the
     * callback when there was no such user. */
    int (*delete_profile)(cameo_origin_t *o, const char *id, uint64_t now_wall, cameo_origin_write_cb cb,
                          void *arg);

    /* Stores blob (already validated; blob->version derived from its content)
     * as user id's avatar. CAMEO_ENOTFOUND when the user does not exist. */
    int (*put_avatar)(cameo_origin_t *o, const char *id, const cameo_blob_t *blob, uint64_t now_wall,
                      cameo_origin_write_cb cb, void *arg);

    /* Clears user id's avatar pointer (the blob stays until GC).
     * CAMEO_ENOTFOUND when the user does not exist. */
    int (*delete_avatar)(cameo_origin_t *o, const char *id, uint64_t now_wall, cameo_origin_write_cb cb,
                         void *arg);

    /* Optional. Lists up to limit (1..1000) user ids greater than after (in
     * byte order; NULL or "" lists from the first), ascending. loop is the
     * worker loop that asked (an origin that talks to the network runs
     * there); the callback may still fire on another thread. */
    int (*list_ids)(cameo_origin_t *o, cameo_loop_t *loop, const char *after, size_t limit,
                    cameo_origin_list_cb cb, void *arg);

    /* Cheap, synchronous health: CAMEO_OK or CAMEO_EUNAVAIL. Writes a short
     * human-readable detail into buf (NUL-terminated). No I/O. */
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
    uint64_t blob_retention_ms; /* superseded avatar versions kept this long (0 means 7 days) */
} cameo_local_config_t;

/* Opens the store (creating the schema). Returns CAMEO_OK and *out, or
 * CAMEO_EIO with a message in errbuf (NUL-terminated) when the directory or
 * the database cannot be opened. */
int cameo_origin_local_open(const cameo_local_config_t *cfg, cameo_origin_t **out, char *errbuf,
                            size_t errlen);

#endif
