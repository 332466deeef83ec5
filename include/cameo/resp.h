/*
 * resp.h - what a cache entry's payload holds: a response ready to send
 * (status, content type, ETag, and the body), plus the few facts the routes
 * need without parsing the body (the avatar pointer and the initials of a
 * profile).
 *
 * Built once, on a miss, by the engine (from what the origin returned) and
 * then only read: a hit sends resp->etag and the body as they are, with no
 * formatting per request. The same layout goes to every tier, so a remote
 * tier stores these bytes verbatim.
 */
#ifndef CAMEO_RESP_H
#define CAMEO_RESP_H

#include "cameo/cache.h"
#include "cameo/origin.h"

typedef enum {
    CAMEO_RESP_PROFILE = 1, /* body: the profile JSON */
    CAMEO_RESP_BLOB = 2,    /* body: the avatar bytes */
    CAMEO_RESP_MISSING = 3, /* negative entry: no such user or version; no body */
} cameo_resp_kind_t;

#define CAMEO_ETAG_MAX (CAMEO_VERSION_MAX + 3) /* a quoted version and a NUL */

typedef struct cameo_resp {
    uint32_t magic; /* CAMEO_RESP_MAGIC: a layout check for remote tiers */
    uint8_t kind;   /* cameo_resp_kind_t */
    uint8_t _pad[3];
    uint32_t body_len; /* bytes after this header */
    char content_type[24];
    char etag[CAMEO_ETAG_MAX];                  /* quoted, strong */
    char avatar_version[CAMEO_VERSION_MAX + 1]; /* profiles: "" when none */
    char initials[3];                           /* profiles: for the SVG placeholder */
} cameo_resp_t;

#define CAMEO_RESP_MAGIC 0x63616d31u /* "cam1" */

/* The response in e's payload (e was built by this module). */
static inline const cameo_resp_t *cameo_resp(const cameo_entry_t *e)
{
    return (const cameo_resp_t *)(const void *)e->data;
}

static inline const char *cameo_resp_body(const cameo_entry_t *e)
{
    return (const char *)e->data + sizeof(cameo_resp_t);
}

/* Keys. Write the key of user id's profile ("p:{id}") or of an avatar
 * version ("b:{id}/{version}") into buf; return its length. buf must hold
 * CAMEO_KEY_MAX bytes. */
#define CAMEO_KEY_MAX (2 + CAMEO_ID_MAX + 1 + CAMEO_VERSION_MAX + 1)
size_t cameo_key_profile(char *buf, const char *id);
size_t cameo_key_blob(char *buf, const char *id, const char *version);

/* Expiry of a built entry: fresh until now + ttl, stale for grace more. */
typedef struct cameo_ttl {
    uint64_t now, ttl_ms, grace_ms;
} cameo_ttl_t;

/*
 * Builds the profile entry of rec: the stored document's members, with "id"
 * and "avatar" ({"version","url"} or null) set by cameo (members of those
 * names in the document are replaced). Returns CAMEO_OK and *out (a reference
 * the caller owns), CAMEO_ECORRUPT when rec->doc is not a JSON object, or
 * CAMEO_ENOMEM.
 */
int cameo_resp_profile(const cameo_profile_rec_t *rec, const cameo_ttl_t *ttl, cameo_entry_t **out);

/* Builds the entry of an avatar blob of user id. CAMEO_OK or CAMEO_ENOMEM. */
int cameo_resp_blob(const char *id, const cameo_blob_t *blob, const cameo_ttl_t *ttl, cameo_entry_t **out);

/* Builds a negative entry under key. CAMEO_OK or CAMEO_ENOMEM. */
int cameo_resp_missing(const char *key, size_t key_len, const cameo_ttl_t *ttl, cameo_entry_t **out);

#endif
