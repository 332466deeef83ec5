/*
 * core_resp.c - builds cache entries whose payload is a response ready to
 * send (see resp.h). Runs on a miss, on whichever thread completed the
 * origin call; the hit path only reads what is built here.
 */
#include "cameo/resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "cameo/media.h"

size_t cameo_key_profile(char *buf, const char *id)
{
    int n = snprintf(buf, CAMEO_KEY_MAX, "p:%s", id);
    return n < 0 ? 0 : (size_t)n;
}

size_t cameo_key_blob(char *buf, const char *id, const char *version)
{
    int n = snprintf(buf, CAMEO_KEY_MAX, "b:%s/%s", id, version);
    return n < 0 ? 0 : (size_t)n;
}

static void set_ttl(cameo_entry_t *e, const cameo_ttl_t *ttl)
{
    e->expires_at = ttl->now + ttl->ttl_ms;
    e->stale_until = e->expires_at + ttl->grace_ms;
}

/* Allocates an entry with a zeroed header and room for body_len bytes. */
static cameo_entry_t *alloc_resp(const char *key, size_t key_len, cameo_resp_kind_t kind, size_t body_len,
                                 const cameo_ttl_t *ttl)
{
    cameo_entry_t *e = cameo_entry_alloc(key, key_len, sizeof(cameo_resp_t) + body_len);
    if (e == NULL)
        return NULL;
    cameo_resp_t *r = (cameo_resp_t *)(void *)e->data;
    memset(r, 0, sizeof(*r));
    r->magic = CAMEO_RESP_MAGIC;
    r->kind = (uint8_t)kind;
    r->body_len = (uint32_t)body_len;
    set_ttl(e, ttl);
    return e;
}

static void etag_of(char *etag, const void *body, size_t len)
{
    snprintf(etag, CAMEO_ETAG_MAX, "\"%016llx\"", (unsigned long long)XXH3_64bits(body, len));
}

int cameo_resp_profile(const cameo_profile_rec_t *rec, const cameo_ttl_t *ttl, cameo_entry_t **out)
{
    int err = CAMEO_ENOMEM;
    char *body = NULL;
    json_t *doc = json_loadb(rec->doc, rec->doc_len, 0, NULL);
    json_t *res = json_object();
    if (doc == NULL || !json_is_object(doc)) {
        err = CAMEO_ECORRUPT;
        goto err;
    }
    if (res == NULL)
        goto err;

    /* "id" first, then the document's members, then "avatar". */
    if (json_object_set_new(res, "id", json_string(rec->id)) != 0)
        goto err;
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "id") != 0 && strcmp(k, "avatar") != 0 && json_object_set(res, k, v) != 0)
            goto err;
    }
    json_t *avatar = json_null();
    if (rec->avatar_version != NULL) {
        char url[32 + CAMEO_ID_MAX + CAMEO_VERSION_MAX];
        snprintf(url, sizeof(url), "/v1/avatars/%s/%s", rec->id, rec->avatar_version);
        avatar = json_pack("{s:s, s:s}", "version", rec->avatar_version, "url", url);
    }
    if (avatar == NULL || json_object_set_new(res, "avatar", avatar) != 0)
        goto err;

    body = json_dumps(res, JSON_COMPACT);
    if (body == NULL)
        goto err;
    size_t body_len = strlen(body);

    char key[CAMEO_KEY_MAX];
    size_t key_len = cameo_key_profile(key, rec->id);
    cameo_entry_t *e = alloc_resp(key, key_len, CAMEO_RESP_PROFILE, body_len, ttl);
    if (e == NULL)
        goto err;
    cameo_resp_t *r = (cameo_resp_t *)(void *)e->data;
    strcpy(r->content_type, "application/json");
    etag_of(r->etag, body, body_len);
    if (rec->avatar_version != NULL)
        snprintf(r->avatar_version, sizeof(r->avatar_version), "%s", rec->avatar_version);
    json_t *name = json_object_get(doc, "name");
    cameo_initials(json_is_string(name) ? json_string_value(name) : NULL, rec->id, r->initials);
    memcpy(e->data + sizeof(*r), body, body_len);
    *out = e;
    err = CAMEO_OK;
err:
    free(body);
    json_decref(res);
    json_decref(doc);
    return err;
}

int cameo_resp_blob(const char *id, const cameo_blob_t *blob, const cameo_ttl_t *ttl, cameo_entry_t **out)
{
    char key[CAMEO_KEY_MAX];
    size_t key_len = cameo_key_blob(key, id, blob->version);
    cameo_entry_t *e = alloc_resp(key, key_len, CAMEO_RESP_BLOB, blob->len, ttl);
    if (e == NULL)
        return CAMEO_ENOMEM;
    cameo_resp_t *r = (cameo_resp_t *)(void *)e->data;
    snprintf(r->content_type, sizeof(r->content_type), "%s", blob->content_type);
    snprintf(r->etag, sizeof(r->etag), "\"%s\"", blob->version);
    snprintf(r->avatar_version, sizeof(r->avatar_version), "%s", blob->version);
    memcpy(e->data + sizeof(*r), blob->data, blob->len);
    *out = e;
    return CAMEO_OK;
}

int cameo_resp_missing(const char *key, size_t key_len, const cameo_ttl_t *ttl, cameo_entry_t **out)
{
    cameo_entry_t *e = alloc_resp(key, key_len, CAMEO_RESP_MISSING, 0, ttl);
    if (e == NULL)
        return CAMEO_ENOMEM;
    e->flags |= CAMEO_ENTRY_NEGATIVE;
    *out = e;
    return CAMEO_OK;
}
