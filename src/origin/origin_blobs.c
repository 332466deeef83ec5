/*
 * origin_blobs.c - mode 1 of docs/origins.md, "cameo owns the data" with
 * the avatar bytes in an S3 bucket: profiles and avatar pointers stay in
 * origin_local (SQLite, opened with blobs_elsewhere), the bytes of avatar
 * version v of user id are the object "PREFIX/id/v" (origin_s3).
 *
 * Called by the engine through the method table of include/cameo/origin.h
 * (and avatar_url by the HTTP routes), on worker loop threads. Profile
 * operations and delete_avatar go to origin_local unchanged. put_avatar
 * writes the object first, then the pointer, so a crash between the two
 * leaves an unreferenced object, never a pointer to nothing. get_avatar
 * reads the object and checks that its bytes are an image whose content hash
 * is the version asked for: anything else is CAMEO_ECORRUPT and never
 * cached.
 *
 * GC (docs/origins.md, "GC"): a replaced or deleted avatar's object stays
 * readable at its immutable URL while origin_local keeps its avatars row
 * (blob_retention_ms, 7 days by default). The GC that then removes the row
 * queues the object in origin_local's outbox (origin_local.h), and this file
 * drains it on one worker loop, the first to attach: it claims up to
 * GC_DRAIN_BATCH objects, sends at most GC_DRAIN_CONCURRENCY DELETEs at a
 * time, and reports back: gone (2xx or 404) leaves the outbox, anything else
 * stays and is retried after a backoff of GC_RETRY_BASE_MS doubling up to
 * GC_RETRY_MAX_MS per object. A drain starts when a write queued objects
 * (origin_local's notification), GC_DRAIN_INTERVAL_MS after the last one
 * (other instances sharing the store queue too), sooner after a failure
 * (the backoff), and at once after a full batch. Keys are built by
 * cameo__s3_key from an id and a content-hash version only, so a DELETE
 * never leaves the prefix.
 *
 * Owns the local origin and the S3 client. Each operation's state is one
 * allocation passed through callbacks; the drain's state is in blobs_t.gc:
 * gc.mu guards the fields so marked (taken by store threads in callbacks
 * and by the drain loop; nothing else is taken while it is held), the rest
 * is the drain loop's alone.
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/origin.h"
#include "origin/origin_local.h"
#include "origin/origin_s3.h"
#include "origin/origin_s3_sign.h"

#define GC_DRAIN_BATCH 16          /* objects claimed at once */
#define GC_DRAIN_CONCURRENCY 4     /* DELETEs in flight at once */
#define GC_DRAIN_INTERVAL_MS 60000 /* between drains when nothing wakes one */
#define GC_START_DELAY_MS 1000     /* the first drain after start (leftovers of a previous run) */
#define GC_RETRY_BASE_MS 1000      /* first retry of a failed DELETE, doubling per attempt */
#define GC_RETRY_MAX_MS 3600000    /* longest wait between retries of one object */
/* A claim's lease: longer than GC_DRAIN_BATCH / GC_DRAIN_CONCURRENCY DELETEs
 * of at most 60 s (--s3-timeout's limit) one after the other. */
#define GC_LEASE_MS 600000
#define GC_VERSION_LEN 16 /* mode 1 versions: 16 hex digits of the content hash */

enum gc_answer { GC_NONE, GC_CLAIMED, GC_REPORTED };

typedef struct blobs blobs_t;

/* One claimed object and its DELETE. */
typedef struct gc_item {
    blobs_t *o;
    cameo__gc_object_t obj; /* retry_at set when its DELETE ended */
} gc_item_t;

struct blobs {
    cameo_origin_t base; /* first: the public view */
    cameo_origin_t *local;
    cameo__s3_t *s3;

    struct {
        pthread_mutex_t mu;
        cameo_loop_t *loop;    /* the drain loop (the first to attach), NULL before: written once under mu
                                * on its own thread, which reads it without mu */
        int stopping;          /* mu: the drain loop detached: no more posts */
        int posted;            /* mu: task is queued on loop */
        int kick;              /* mu: objects were queued since the last claim */
        enum gc_answer answer; /* mu: a store callback's answer waiting for the task */
        int answer_err;        /* mu: its error */
        size_t claimed;        /* mu until GC_CLAIMED is taken, then the loop's: items in batch */
        gc_item_t
            batch[GC_DRAIN_BATCH]; /* written by the claim callback before GC_CLAIMED, then the loop's */
        cameo_task_t task;         /* posted to loop under mu */
        /* The drain loop's only. */
        cameo_timer_t *timer;
        int busy;              /* a claim, DELETEs or a report in flight */
        int stopped;           /* detach began */
        size_t next, inflight; /* the batch's next item to send, DELETEs in flight */
        int batch_failed;      /* a DELETE of this batch failed */
        uint64_t retry_due;    /* loop->now_ms when the soonest failed object is due again, 0 if none */
        /* Counters (relaxed atomics, any thread): the status line. */
        atomic_uint_fast64_t queued, deleted, failed;
    } gc;
};

/* One get_avatar or put_avatar in flight. */
typedef struct op {
    blobs_t *o;
    cameo_loop_t *loop;
    union {
        cameo_origin_blob_cb blob;
        cameo_origin_write_cb write;
    } cb;
    void *arg;
    uint64_t now_wall;
    char id[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    char content_type[128];
    size_t len;
    unsigned char data[]; /* put_avatar: the bytes, until the pointer is written */
} op_t;

/* ---- profiles and pointers: origin_local ---- */

static int blobs_list_ids(cameo_origin_t *base, cameo_loop_t *loop, const char *after, size_t limit,
                          cameo_origin_list_cb cb, void *arg)
{
    cameo_origin_t *l = ((blobs_t *)base)->local;
    return l->ops->list_ids(l, loop, after, limit, cb, arg);
}

static int blobs_get_profiles(cameo_origin_t *base, cameo_loop_t *loop, const char *const *ids, size_t n,
                              cameo_origin_profiles_cb cb, void *arg)
{
    cameo_origin_t *l = ((blobs_t *)base)->local;
    return l->ops->get_profiles(l, loop, ids, n, cb, arg);
}

static int blobs_put_profile(cameo_origin_t *base, cameo_loop_t *loop, const char *id, const char *doc,
                             size_t doc_len, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    cameo_origin_t *l = ((blobs_t *)base)->local;
    return l->ops->put_profile(l, loop, id, doc, doc_len, now_wall, cb, arg);
}

static int blobs_delete_profile(cameo_origin_t *base, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                                cameo_origin_write_cb cb, void *arg)
{
    cameo_origin_t *l = ((blobs_t *)base)->local;
    return l->ops->delete_profile(l, loop, id, now_wall, cb, arg);
}

static int blobs_delete_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                               cameo_origin_write_cb cb, void *arg)
{
    cameo_origin_t *l = ((blobs_t *)base)->local;
    return l->ops->delete_avatar(l, loop, id, now_wall, cb, arg);
}

/* ---- avatar bytes: the bucket ---- */

static int id_version_ok(const char *id, const char *version)
{
    return id != NULL && version != NULL && cameo_id_valid(id, strlen(id)) &&
           cameo_version_valid(version, strlen(version));
}

static void on_get(void *arg, const cameo__s3_result_t *res)
{
    op_t *op = arg;
    int err = res->err;
    cameo_blob_t blob = {0};
    if (err == CAMEO_OK) {
        char v[17];
        const char *type = cameo_image_type(res->body, res->len);
        cameo_avatar_version(res->body, res->len, v);
        if (type == NULL || strcmp(v, op->version) != 0) {
            cameo_log(CAMEO_LOG_ERROR, "s3_object_corrupt", "id=%s version=%s reason=%s bytes=%zu", op->id,
                      op->version, type == NULL ? "not_an_image" : "content_hash_differs", res->len);
            err = CAMEO_ECORRUPT;
        } else {
            blob = (cameo_blob_t){res->body, res->len, type, op->version};
        }
    }
    op->cb.blob(op->arg, err, err == CAMEO_OK ? &blob : NULL);
    free(op);
}

static int blobs_get_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id, const char *version,
                            cameo_origin_blob_cb cb, void *arg)
{
    blobs_t *o = (blobs_t *)base;
    char key[CAMEO_S3_KEY_MAX + 1];
    if (cb == NULL || !id_version_ok(id, version))
        return CAMEO_EINVAL;
    if (cameo__s3_key(o->s3, id, version, key, sizeof(key)) != CAMEO_OK)
        return CAMEO_EINVAL;
    op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return CAMEO_ENOMEM;
    op->o = o;
    op->cb.blob = cb;
    op->arg = arg;
    snprintf(op->id, sizeof(op->id), "%s", id);
    snprintf(op->version, sizeof(op->version), "%s", version);
    int rc = cameo__s3_request(o->s3, loop, CAMEO__S3_GET, key, NULL, 0, NULL, on_get, op);
    if (rc != CAMEO_OK)
        free(op);
    return rc;
}

/* The object is stored: now the pointer (origin_local, which keeps no
 * bytes, with the SHA-256 the PUT sent), answering the engine's callback. */
static void on_put(void *arg, const cameo__s3_result_t *res)
{
    op_t *op = arg;
    int err = res->err;
    if (err == CAMEO_OK) {
        cameo_log(CAMEO_LOG_DEBUG, "s3_put", "id=%s version=%s bytes=%zu etag=%s", op->id, op->version,
                  op->len, res->etag != NULL ? res->etag : "-");
        cameo_blob_t blob = {op->data, op->len, op->content_type, op->version};
        cameo_origin_t *l = op->o->local;
        err = cameo__local_put_avatar_hashed(l, op->id, &blob, res->payload_sha256, op->now_wall,
                                             op->cb.write, op->arg);
        if (err == CAMEO_OK) {
            free(op);
            return; /* local calls back */
        }
    } else if (err == CAMEO_ENOTFOUND) {
        err = CAMEO_EUPSTREAM; /* a 404 to a PUT: no such bucket */
    }
    op->cb.write(op->arg, err, NULL, 0);
    free(op);
}

static int blobs_put_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id,
                            const cameo_blob_t *blob, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    blobs_t *o = (blobs_t *)base;
    char key[CAMEO_S3_KEY_MAX + 1];
    if (cb == NULL || blob == NULL || blob->data == NULL || blob->len == 0 || blob->content_type == NULL ||
        strlen(blob->content_type) >= sizeof(((op_t *)0)->content_type) || !id_version_ok(id, blob->version))
        return CAMEO_EINVAL;
    if (cameo__s3_key(o->s3, id, blob->version, key, sizeof(key)) != CAMEO_OK)
        return CAMEO_EINVAL;
    op_t *op = malloc(sizeof(*op) + blob->len);
    if (op == NULL)
        return CAMEO_ENOMEM;
    op->o = o;
    op->loop = loop;
    op->cb.write = cb;
    op->arg = arg;
    op->now_wall = now_wall;
    snprintf(op->id, sizeof(op->id), "%s", id);
    snprintf(op->version, sizeof(op->version), "%s", blob->version);
    snprintf(op->content_type, sizeof(op->content_type), "%s", blob->content_type);
    op->len = blob->len;
    memcpy(op->data, blob->data, blob->len);
    int rc =
        cameo__s3_request(o->s3, loop, CAMEO__S3_PUT, key, op->data, op->len, op->content_type, on_put, op);
    if (rc != CAMEO_OK)
        free(op);
    return rc;
}

static int blobs_avatar_url(cameo_origin_t *base, const char *id, const char *version, uint64_t now_unix_s,
                            char *url, size_t len, uint64_t *expires_at)
{
    blobs_t *o = (blobs_t *)base;
    char key[CAMEO_S3_KEY_MAX + 1];
    if (!id_version_ok(id, version) || cameo__s3_key(o->s3, id, version, key, sizeof(key)) != CAMEO_OK)
        return CAMEO_EINVAL;
    return cameo__s3_presign(o->s3, key, now_unix_s, url, len, expires_at);
}

/* ---- GC: draining origin_local's outbox on the drain loop ---- */

#define GC_COUNT(o, f, n) atomic_fetch_add_explicit(&(o)->gc.f, (n), memory_order_relaxed)

static void gc_claim(blobs_t *o);

/* Under gc.mu: queues the task on the drain loop, unless it is queued
 * already or the loop is gone (or not there yet: the start timer comes). */
static void gc_post_locked(blobs_t *o)
{
    if (o->gc.loop != NULL && !o->gc.stopping && !o->gc.posted) {
        o->gc.posted = 1;
        o->gc.loop->post(o->gc.loop, &o->gc.task);
    }
}

static void gc_arm(blobs_t *o, uint64_t after_ms)
{
    if (!o->gc.stopped && o->gc.timer != NULL)
        o->gc.loop->timer_arm(o->gc.timer, after_ms > 0 ? after_ms : 1);
}

/* The drain loop has nothing in flight: claim again at once if objects were
 * queued meanwhile, else wake after after_ms, or sooner when a failed object
 * is due again. */
static void gc_idle(blobs_t *o, uint64_t after_ms)
{
    o->gc.busy = 0;
    if (o->gc.stopped)
        return;
    pthread_mutex_lock(&o->gc.mu);
    int kick = o->gc.kick;
    pthread_mutex_unlock(&o->gc.mu);
    if (kick) {
        gc_claim(o);
        return;
    }
    if (o->gc.retry_due != 0) {
        uint64_t now = o->gc.loop->now_ms(o->gc.loop);
        uint64_t left = o->gc.retry_due > now ? o->gc.retry_due - now : 0;
        if (left < after_ms)
            after_ms = left;
    }
    gc_arm(o, after_ms);
}

/* Store thread: objects were queued by a write that just committed. */
static void gc_on_queued(void *arg, unsigned queued)
{
    blobs_t *o = arg;
    GC_COUNT(o, queued, queued);
    pthread_mutex_lock(&o->gc.mu);
    o->gc.kick = 1;
    gc_post_locked(o);
    pthread_mutex_unlock(&o->gc.mu);
}

/* Store thread: the claim's answer, for the drain loop. */
static void gc_on_claimed(void *arg, int err, const cameo__gc_object_t *objs, size_t n)
{
    blobs_t *o = arg;
    assert(n <= GC_DRAIN_BATCH); /* the limit asked for */
    if (n > GC_DRAIN_BATCH)
        n = GC_DRAIN_BATCH;
    pthread_mutex_lock(&o->gc.mu);
    for (size_t i = 0; i < n; i++) {
        o->gc.batch[i].o = o;
        o->gc.batch[i].obj = objs[i];
    }
    o->gc.claimed = err == CAMEO_OK ? n : 0;
    o->gc.answer = GC_CLAIMED;
    o->gc.answer_err = err;
    gc_post_locked(o); /* stopping: the rows stay leased until the lease ends */
    pthread_mutex_unlock(&o->gc.mu);
}

/* Store thread: the report was written (or not). */
static void gc_on_reported(void *arg, int err)
{
    blobs_t *o = arg;
    pthread_mutex_lock(&o->gc.mu);
    o->gc.answer = GC_REPORTED;
    o->gc.answer_err = err;
    gc_post_locked(o);
    pthread_mutex_unlock(&o->gc.mu);
}

static void gc_claim(blobs_t *o)
{
    assert(!o->gc.busy);
    pthread_mutex_lock(&o->gc.mu);
    o->gc.kick = 0;
    pthread_mutex_unlock(&o->gc.mu);
    if (o->gc.retry_due != 0 && o->gc.loop->now_ms(o->gc.loop) >= o->gc.retry_due)
        o->gc.retry_due = 0; /* due now: this claim may take them */
    o->gc.busy = 1;
    int rc = cameo__local_gc_claim(o->local, cameo_wall_ms(), GC_LEASE_MS, GC_DRAIN_BATCH, gc_on_claimed, o);
    if (rc != CAMEO_OK) {
        cameo_log(CAMEO_LOG_WARN, "s3_gc_claim_failed", "err=\"%s\"", cameo_strerror(rc));
        gc_idle(o, GC_RETRY_BASE_MS);
    }
}

static void gc_on_timer(void *arg)
{
    blobs_t *o = arg;
    if (!o->gc.busy && !o->gc.stopped)
        gc_claim(o);
}

/* The key of a queued object, or 0 when the row cannot name an object this
 * origin wrote (an id cameo would not take, or a version that is not a
 * content hash). */
static int gc_key(blobs_t *o, const cameo__gc_object_t *obj, char *key, size_t len)
{
    const char *id = obj->id, *v = obj->version;
    if (!id_version_ok(id, v) || strlen(v) != GC_VERSION_LEN ||
        strspn(v, "0123456789abcdef") != GC_VERSION_LEN)
        return 0;
    return cameo__s3_key(o->s3, id, v, key, len) == CAMEO_OK;
}

/* Records how the DELETE of it ended: err CAMEO_OK or CAMEO_ENOTFOUND (gone),
 * CAMEO_EUNAVAIL while stopping (released as it was), anything else a
 * failure retried after a backoff. */
static void gc_note(blobs_t *o, gc_item_t *it, int err)
{
    cameo__gc_object_t *obj = &it->obj;
    if (err == CAMEO_OK || err == CAMEO_ENOTFOUND) {
        obj->retry_at = 0;
        GC_COUNT(o, deleted, 1);
        cameo_log(CAMEO_LOG_DEBUG, "s3_gc_deleted", "id=%s version=%s%s", obj->id, obj->version,
                  err == CAMEO_ENOTFOUND ? " already_gone=true" : "");
        return;
    }
    if (err == CAMEO_EUNAVAIL && o->gc.stopped) {
        obj->retry_at = cameo_wall_ms(); /* claimable again by the next run */
        return;
    }
    unsigned shift = obj->attempts < 31 ? obj->attempts : 31;
    uint64_t backoff = (uint64_t)GC_RETRY_BASE_MS << shift;
    if (backoff > GC_RETRY_MAX_MS)
        backoff = GC_RETRY_MAX_MS;
    obj->attempts++;
    obj->retry_at = cameo_wall_ms() + backoff;
    uint64_t due = o->gc.loop->now_ms(o->gc.loop) + backoff;
    if (o->gc.retry_due == 0 || due < o->gc.retry_due)
        o->gc.retry_due = due;
    o->gc.batch_failed = 1;
    GC_COUNT(o, failed, 1);
    cameo_log(CAMEO_LOG_WARN, "s3_gc_failed", "id=%s version=%s err=\"%s\" attempts=%u retry_in_ms=%llu",
              obj->id, obj->version, cameo_strerror(err), obj->attempts, (unsigned long long)backoff);
}

static void gc_report(blobs_t *o)
{
    cameo__gc_object_t objs[GC_DRAIN_BATCH];
    for (size_t i = 0; i < o->gc.claimed; i++)
        objs[i] = o->gc.batch[i].obj;
    int rc = cameo__local_gc_done(o->local, objs, o->gc.claimed, gc_on_reported, o);
    if (rc != CAMEO_OK) {
        /* The rows stay leased: claimable again when the lease ends. */
        cameo_log(CAMEO_LOG_WARN, "s3_gc_report_failed", "err=\"%s\"", cameo_strerror(rc));
        gc_idle(o, GC_RETRY_BASE_MS);
    }
}

static void gc_pump(blobs_t *o);

static void gc_on_deleted(void *arg, const cameo__s3_result_t *res)
{
    gc_item_t *it = arg;
    blobs_t *o = it->o;
    assert(o->gc.inflight > 0);
    o->gc.inflight--;
    gc_note(o, it, res->err);
    gc_pump(o);
}

/* Starts DELETEs of the batch, at most GC_DRAIN_CONCURRENCY in flight; when
 * every one has ended, reports the batch. */
static void gc_pump(blobs_t *o)
{
    char key[CAMEO_S3_KEY_MAX + 1];
    while (o->gc.inflight < GC_DRAIN_CONCURRENCY && o->gc.next < o->gc.claimed) {
        gc_item_t *it = &o->gc.batch[o->gc.next++];
        if (!gc_key(o, &it->obj, key, sizeof(key))) {
            /* Never sent: its row leaves the outbox. */
            cameo_log(CAMEO_LOG_WARN, "s3_gc_skipped", "reason=\"not a key cameo writes\"");
            it->obj.retry_at = 0;
            continue;
        }
        int rc = o->gc.stopped ? CAMEO_EUNAVAIL
                               : cameo__s3_request(o->s3, o->gc.loop, CAMEO__S3_DELETE, key, NULL, 0, NULL,
                                                   gc_on_deleted, it);
        if (rc == CAMEO_OK)
            o->gc.inflight++;
        else
            gc_note(o, it, rc);
    }
    if (o->gc.inflight == 0 && o->gc.next == o->gc.claimed)
        gc_report(o);
}

/* The drain loop: takes a store callback's answer, then a kick. */
static void gc_run(cameo_task_t *task)
{
    blobs_t *o = (blobs_t *)(void *)((char *)task - offsetof(blobs_t, gc.task));
    pthread_mutex_lock(&o->gc.mu);
    o->gc.posted = 0;
    enum gc_answer answer = o->gc.answer;
    int err = o->gc.answer_err;
    o->gc.answer = GC_NONE;
    int kick = o->gc.kick;
    pthread_mutex_unlock(&o->gc.mu);
    if (o->gc.stopped)
        return;
    if (answer == GC_CLAIMED) {
        if (err != CAMEO_OK) {
            cameo_log(CAMEO_LOG_WARN, "s3_gc_claim_failed", "err=\"%s\"", cameo_strerror(err));
            gc_idle(o, GC_RETRY_BASE_MS);
        } else if (o->gc.claimed == 0) {
            gc_idle(o, GC_DRAIN_INTERVAL_MS);
        } else {
            o->gc.next = 0;
            o->gc.inflight = 0;
            o->gc.batch_failed = 0;
            gc_pump(o);
        }
    } else if (answer == GC_REPORTED) {
        if (err != CAMEO_OK) {
            cameo_log(CAMEO_LOG_WARN, "s3_gc_report_failed", "err=\"%s\"", cameo_strerror(err));
            gc_idle(o, GC_RETRY_BASE_MS);
        } else if (o->gc.claimed == GC_DRAIN_BATCH && !o->gc.batch_failed) {
            o->gc.busy = 0;
            gc_claim(o); /* a full batch: there may be more */
        } else {
            gc_idle(o, GC_DRAIN_INTERVAL_MS);
        }
    } else if (kick && !o->gc.busy) {
        gc_claim(o);
    }
}

/* ---- loops, health, lifetime ---- */

static int blobs_attach(cameo_origin_t *base, cameo_loop_t *loop)
{
    blobs_t *o = (blobs_t *)base;
    int rc = cameo__s3_attach(o->s3, loop);
    if (rc != CAMEO_OK) {
        cameo_log(CAMEO_LOG_ERROR, "s3_attach_failed", "err=\"%s\"", cameo_strerror(rc));
        return rc;
    }
    /* The first loop drains the outbox (one drainer per instance). */
    pthread_mutex_lock(&o->gc.mu);
    int drains = o->gc.loop == NULL && !o->gc.stopping;
    if (drains)
        o->gc.loop = loop; /* written once, on this thread */
    pthread_mutex_unlock(&o->gc.mu);
    if (drains) {
        o->gc.timer = loop->timer_new(loop, gc_on_timer, o);
        if (o->gc.timer == NULL)
            cameo_log(CAMEO_LOG_WARN, "s3_gc_no_timer",
                      "reason=out_of_memory detail=\"drains after writes only\"");
        gc_arm(o, GC_START_DELAY_MS);
    }
    return CAMEO_OK;
}

static void blobs_detach(cameo_origin_t *base, cameo_loop_t *loop)
{
    blobs_t *o = (blobs_t *)base;
    pthread_mutex_lock(&o->gc.mu);
    int drains = o->gc.loop == loop;
    if (drains)
        o->gc.stopping = 1; /* no more posts to this loop */
    pthread_mutex_unlock(&o->gc.mu);
    if (drains) {
        o->gc.stopped = 1;
        if (o->gc.timer != NULL)
            loop->timer_free(o->gc.timer);
        o->gc.timer = NULL;
    }
    /* DELETEs in flight end here (CAMEO_EUNAVAIL): their rows are released. */
    cameo__s3_detach(o->s3, loop);
}

static int blobs_status(cameo_origin_t *base, char *buf, size_t len)
{
    blobs_t *o = (blobs_t *)base;
    char l[400], s[600];
    int lrc = o->local->ops->status(o->local, l, sizeof(l));
    (void)cameo__s3_status(o->s3, s, sizeof(s));
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s; %s; gc: %llu objects queued, %llu deleted, %llu deletions failed", l, s,
                 (unsigned long long)atomic_load_explicit(&o->gc.queued, memory_order_relaxed),
                 (unsigned long long)atomic_load_explicit(&o->gc.deleted, memory_order_relaxed),
                 (unsigned long long)atomic_load_explicit(&o->gc.failed, memory_order_relaxed));
    /* A failing S3 is in the detail but keeps the instance ready: profiles
     * and cached avatars are still served, and a load balancer that took
     * every instance out because the bucket is away would turn a partial
     * outage into a full one. */
    return lrc;
}

static void blobs_destroy(cameo_origin_t *base)
{
    blobs_t *o = (blobs_t *)base;
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->gc.mu);
    o->gc.stopping = 1; /* the store's last callbacks post nothing */
    pthread_mutex_unlock(&o->gc.mu);
    o->local->ops->destroy(o->local); /* waits for its queued writes and outbox jobs */
    cameo__s3_free(o->s3);
    pthread_mutex_destroy(&o->gc.mu);
    free(o);
}

static const cameo_origin_ops_t blobs_ops = {
    .name = "local+s3",
    .get_profiles = blobs_get_profiles,
    .list_ids = blobs_list_ids, /* the users are in the embedded store */
    .get_avatar = blobs_get_avatar,
    .put_profile = blobs_put_profile,
    .delete_profile = blobs_delete_profile,
    .put_avatar = blobs_put_avatar,
    .delete_avatar = blobs_delete_avatar,
    .attach = blobs_attach,
    .detach = blobs_detach,
    .avatar_url = blobs_avatar_url,
    .status = blobs_status,
    .destroy = blobs_destroy,
};

int cameo_origin_blobs_open(const cameo_s3_origin_config_t *cfg, cameo_origin_t *local, cameo_origin_t **out,
                            char *errbuf, size_t errlen)
{
    int rc;
    if (out != NULL)
        *out = NULL;
    if (local == NULL || out == NULL) {
        rc = CAMEO_EINVAL;
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "origin blobs: no local origin");
        goto err;
    }
    blobs_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        rc = CAMEO_ENOMEM;
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "origin blobs: out of memory");
        goto err;
    }
    rc = cameo__s3_new(cfg, &o->s3, errbuf, errlen);
    if (rc != CAMEO_OK) {
        free(o);
        goto err;
    }
    pthread_mutex_init(&o->gc.mu, NULL);
    o->gc.task.run = gc_run;
    o->base.ops = &blobs_ops;
    o->local = local;
    cameo__local_gc_notify(local, gc_on_queued, o); /* before any write */
    *out = &o->base;
    return CAMEO_OK;
err:
    if (local != NULL)
        local->ops->destroy(local);
    return rc;
}
