/*
 * origin_local.h - what origin_blobs asks of origin_local beyond the method
 * table of include/cameo/origin.h: put_avatar with a hash it already has,
 * and the outbox of S3 objects to delete.
 *
 * With blobs_elsewhere, the GC inside every write that touches avatars
 * (origin_local.c) inserts the (id, version) of each avatars row it removes
 * into the table object_gc, in the same transaction: a crash never loses a
 * deletion nor half-does one. origin_blobs claims due rows, deletes their
 * objects from the bucket and reports back. A version is never queued while
 * an avatars row names it (GC removes superseded rows only, and a version put
 * again leaves the outbox in the same transaction), and a claim never hands
 * out a version an avatars row names.
 *
 * Only origin_blobs.c and tests/unit/test_origin_local.c call these, with an
 * origin from cameo_origin_local_open. Like the method table,
 * put_avatar_hashed, claim and done queue a job and return; the callback
 * fires once, on one of the store's threads, and never on an error return.
 */
#ifndef CAMEO_ORIGIN_LOCAL_H
#define CAMEO_ORIGIN_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "cameo/origin.h"

/*
 * put_avatar (include/cameo/origin.h) of an origin opened with
 * blobs_elsewhere, for a caller that has the SHA-256 of blob->data already
 * (origin_blobs: the payload hash of the object's PUT): sha256 (64
 * lowercase hex digits) and blob->len are recorded as they are, and the
 * bytes are not hashed again. Same callback and returns as put_avatar, and
 * CAMEO_EINVAL for an origin without blobs_elsewhere or a malformed sha256.
 */
int cameo__local_put_avatar_hashed(cameo_origin_t *local, const char *id, const cameo_blob_t *blob,
                                   const char *sha256, uint64_t now_wall, cameo_origin_write_cb cb,
                                   void *arg);

/* One queued object: avatar version of user id. */
typedef struct cameo__gc_object {
    char id[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    unsigned attempts; /* claim: failed deletions so far; done: the new count */
    /* done: 0 when the object is gone (deleted, or S3 answered 404): the row
     * is removed; else the row stays, claimable again from this time (ms
     * since the epoch). */
    uint64_t retry_at;
} cameo__gc_object_t;

/* Called on a store thread after a write that queued queued > 0 objects
 * commits. Must not block or call back into the store synchronously. */
typedef void (*cameo__gc_notify_fn)(void *arg, unsigned queued);

/* Sets the notification (fn NULL: none). Once, before any write is
 * submitted. */
void cameo__local_gc_notify(cameo_origin_t *local, cameo__gc_notify_fn fn, void *arg);

/* objs[0..n) (n <= the limit asked for) are valid during the callback only;
 * err is CAMEO_OK or the store's error (then n is 0). */
typedef void (*cameo__gc_claim_cb)(void *arg, int err, const cameo__gc_object_t *objs, size_t n);

/*
 * Claims up to limit (1..1000) due objects, oldest due first: rows whose
 * not_before and lease are both at or before now_wall, leased until now_wall
 * + lease_ms. While leased a row is claimed by no one else, and put_avatar of
 * that same version fails with CAMEO_EBUSY (its DELETE may be in flight). A
 * lease that is never reported (a crash) ends by itself. Returns CAMEO_OK,
 * CAMEO_EINVAL, CAMEO_ENOMEM, CAMEO_EBUSY (queue full), CAMEO_EUNAVAIL
 * (destroy began).
 */
int cameo__local_gc_claim(cameo_origin_t *local, uint64_t now_wall, uint64_t lease_ms, size_t limit,
                          cameo__gc_claim_cb cb, void *arg);

typedef void (*cameo__gc_done_cb)(void *arg, int err);

/* Reports objs[0..n) (n 1..1000, copied), claimed before: each row is removed
 * (retry_at 0) or released with its attempts and retry_at, in one
 * transaction. Same returns as claim. */
int cameo__local_gc_done(cameo_origin_t *local, const cameo__gc_object_t *objs, size_t n,
                         cameo__gc_done_cb cb, void *arg);

#endif
