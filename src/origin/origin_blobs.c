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
 * cached. Objects are never deleted by cameo: a replaced or deleted avatar's
 * object stays readable at its immutable URL (see docs/origins.md, "GC").
 *
 * Owns the local origin and the S3 client; no locks of its own (each
 * operation's state is one allocation passed through callbacks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/origin.h"
#include "origin/origin_s3.h"
#include "origin/origin_s3_sign.h"

typedef struct blobs {
    cameo_origin_t base; /* first: the public view */
    cameo_origin_t *local;
    cameo__s3_t *s3;
} blobs_t;

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

/* The object is stored: now the pointer (origin_local, which hashes the
 * bytes during the call and keeps none), answering the engine's callback. */
static void on_put(void *arg, const cameo__s3_result_t *res)
{
    op_t *op = arg;
    int err = res->err;
    if (err == CAMEO_OK) {
        cameo_log(CAMEO_LOG_DEBUG, "s3_put", "id=%s version=%s bytes=%zu etag=%s", op->id, op->version,
                  op->len, res->etag != NULL ? res->etag : "-");
        cameo_blob_t blob = {op->data, op->len, op->content_type, op->version};
        cameo_origin_t *l = op->o->local;
        err = l->ops->put_avatar(l, op->loop, op->id, &blob, op->now_wall, op->cb.write, op->arg);
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

/* ---- loops, health, lifetime ---- */

static int blobs_attach(cameo_origin_t *base, cameo_loop_t *loop)
{
    blobs_t *o = (blobs_t *)base;
    int rc = cameo__s3_attach(o->s3, loop);
    if (rc != CAMEO_OK)
        cameo_log(CAMEO_LOG_ERROR, "s3_attach_failed", "err=\"%s\"", cameo_strerror(rc));
    return rc;
}

static void blobs_detach(cameo_origin_t *base, cameo_loop_t *loop)
{
    cameo__s3_detach(((blobs_t *)base)->s3, loop);
}

static int blobs_status(cameo_origin_t *base, char *buf, size_t len)
{
    blobs_t *o = (blobs_t *)base;
    char l[400], s[600];
    int lrc = o->local->ops->status(o->local, l, sizeof(l));
    (void)cameo__s3_status(o->s3, s, sizeof(s));
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s; %s", l, s);
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
    o->local->ops->destroy(o->local); /* waits for its queued writes */
    cameo__s3_free(o->s3);
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
    o->base.ops = &blobs_ops;
    o->local = local;
    *out = &o->base;
    return CAMEO_OK;
err:
    if (local != NULL)
        local->ops->destroy(local);
    return rc;
}
