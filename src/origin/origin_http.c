/*
 * origin_http.c - profiles read through from an HTTP user service. See
 * cameo_http_origin_config_t in origin.h for what it asks and expects.
 *
 * The engine calls get_profiles on a worker loop. The call is cut into parts
 * (one GET per id, or one POST per batch_size ids with a batch URL); parts
 * wait in the loop's queue until one of its `concurrency` places is free,
 * run through origin_curl.c on that loop, and are retried after a jittered
 * backoff when the failure may pass. When every part has ended, the callback
 * gets the users found, and for ids that failed a record carrying the error
 * (never an absent id: absent means "no such user", which the engine caches).
 *
 * The circuit breaker is one per origin, shared by the loops through
 * atomics: closed, open (calls fail at once), half-open (one probe call is
 * out). Time comes from each loop's now_ms.
 *
 * Avatars (mode 2 of docs/origins.md, with avatar_field and s3): when a call
 * has parsed its profiles, it HEADs the object each one names (at most
 * HEAD_PARALLEL at a time per call, on the same loop) and makes the avatar
 * version from the field's value and the object's ETag, so an object
 * replaced in place gets a new immutable URL:
 *   "VALUE.eTTTTTTTTTTTT"  VALUE as is and 48 bits of the ETag's XXH3, when
 *                          VALUE matches [A-Za-z0-9._-]{1,50};
 *   "hHHHHHHHHHHHHHHHH"    else 64 bits of XXH3(VALUE) seeded with the ETag's,
 *                          kept in the avatar map, a bounded table of
 *                          (id, version) -> (value, ETag hash);
 *   VALUE, or "h" and XXH3(VALUE) in the map, without the ETag's part, when
 *                          the HEAD could not be made or answered (S3 down,
 *                          slow or busy) and this instance has not seen the
 *                          object's ETag before (the last one seen, per
 *                          object in a table of ETAG_SLOTS, keeps the version
 *                          from flapping): a read of that URL is not checked.
 * A missing object (HEAD 404) is no avatar. get_avatar turns the version
 * back into the value (from the version itself; or from the avatar map; or,
 * on a miss, by reading the profile again through get_profiles), GETs the
 * object named by key_template from the bucket (origin_s3.c) on the same
 * loop, and checks that its bytes are an image and, when the version carries
 * one, that its ETag still hashes to the version's: a replaced object is
 * CAMEO_ENOTFOUND for the old version, never its new bytes under the old URL.
 *
 * Threading: per-loop state (slot_t, kept in a core_loopmap.h table) is
 * touched only on its loop's thread. The avatar map has its own mutex,
 * never held with o->lock. Owns the S3 client; not owned: the engine's flights
 * and caches.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/origin.h"
#include "core/core_loopmap.h"
#include "core/core_rand.h"
#include "origin/origin_curl.h"
#include "origin/origin_s3.h"
#include "origin/origin_s3_sign.h"

#define URL_MAX 2048        /* users_url and batch_url, without NUL */
#define DOC_MAX (64 * 1024) /* one profile document, as PUT /v1/users allows */
#define BATCH_MAX 1000      /* ids per get_profiles and per batch POST */
#define POINTER_MAX 256     /* avatar_field */
#define STATUS_MAX 200      /* last failure kept for status() */
#define TEMPLATE_MAX 512    /* avatar_key_template */
#define AVMAP_SLOTS 4096    /* hash-shaped avatar versions remembered (direct-mapped) */
#define HEAD_PARALLEL 16    /* object HEADs in flight per call */
#define ETAG_SLOTS 4096     /* last ETag hash seen per object (direct-mapped) */
#define TAG_SUFFIX 14       /* ".e" and 12 hex digits: 48 bits of the ETag's hash */
#define DEFAULT_TEMPLATE "avatars/{value}"

enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

typedef struct http_origin http_origin_t;
typedef struct slot slot_t;
typedef struct call call_t;

/* One id's outcome within a call. */
typedef struct result {
    int state; /* 0 pending or not found, 1 found, 2 failed */
    int err;
    char *doc; /* found: the JSON object text */
    size_t len;
    char *value; /* found, with a bucket: the avatar field's value, until its HEAD */
    size_t vlen;
    char version[CAMEO_VERSION_MAX + 1]; /* "" for no avatar */
} result_t;

/* One object HEAD of a call: the avatar of res[i]. */
typedef struct head {
    call_t *call;
    size_t i;
} head_t;

/* One HTTP request of a call: ids[first .. first + count). */
typedef struct part {
    struct part *next;                  /* the slot's queue */
    struct part *live_prev, *live_next; /* every part of the slot, whatever its state */
    call_t *call;
    slot_t *slot;
    size_t first, count;
    int batch;            /* a batch POST; else a GET of one id */
    unsigned attempt;     /* attempts made */
    cameo_timer_t *timer; /* backoff, or a deferred failure */
    int deferred_err;     /* with timer: end with this error when it fires */
} part_t;

struct call {
    http_origin_t *o;
    cameo_origin_profiles_cb cb;
    void *arg;
    int probe;          /* the breaker's probe, until an answer says how it went */
    cameo_loop_t *loop; /* the loop it runs on: its clock stamps the breaker */
    size_t n, parts_left, succeeded;
    int first_err;
    char **ids;
    result_t *res;
    /* The avatar HEADs, after the last part: heads[n], the next result to
     * look at, HEADs in flight. */
    head_t *heads;
    size_t head_next, heads_active;
};

struct slot {
    cameo_loop_t *loop;
    cameo__curl_t *curl;
    int closing; /* detach began: failures end parts, no retry, nothing starts */
    part_t *live;
    unsigned active;
    part_t *qhead, *qtail;
    size_t queued;
    uint64_t rng;
};

/* A hash-shaped avatar version seen in a profile, the field value it
 * stands for, and the hash of the object's ETag it was made with. */
typedef struct avmap_entry {
    char id[CAMEO_ID_MAX + 1]; /* "" for an empty slot */
    char version[CAMEO_VERSION_MAX + 1];
    char *value; /* NUL-terminated, at most CAMEO_S3_KEY_MAX bytes */
    uint64_t tag;
    int has_tag; /* 0: made without an ETag (the HEAD failed), reads unchecked */
} avmap_entry_t;

struct http_origin {
    cameo_origin_t super;
    cameo_http_origin_config_t cfg;
    char users_url[URL_MAX + 1];
    char users_where[URL_MAX + 1]; /* users_url as it may be shown (cameo_log_url): no secrets */
    char batch_url[URL_MAX + 1];
    char avatar_field[POINTER_MAX + 1];
    char key_template[TEMPLATE_MAX + 1];
    cameo__s3_t *s3; /* NULL without avatar bytes; immutable after open */

    /* The avatar map: AVMAP_SLOTS entries, a new one replaces whatever held
     * its slot (counted in avmap_replaced). */
    pthread_mutex_t avmap_lock;
    avmap_entry_t *avmap; /* avmap_lock; NULL without s3 */
    /* The last ETag hash each object's HEAD answered, for when a HEAD gets
     * no answer: the version stays what it was rather than flap. */
    struct {
        uint64_t value_hash, tag; /* value_hash 0: empty */
    } * etags;                    /* avmap_lock; NULL without s3 */

    cameo_loopmap_t loops;       /* each attached loop's slot_t */
    pthread_mutex_t lock;        /* guards last_error */
    char last_error[STATUS_MAX]; /* lock */

    /* The breaker: atomics, any loop. */
    atomic_int breaker;
    atomic_uint fails; /* failed attempts in a row */
    atomic_uint_fast64_t opened_at;
    /* Counters: relaxed atomics. */
    atomic_uint_fast64_t requests, failures, retries, rejected, opens;
    atomic_uint_fast64_t avmap_replaced, avatar_lookups; /* lookups: profiles read again for an avatar */
    atomic_uint_fast64_t heads, heads_failed, replaced;  /* object HEADs; GETs of a replaced object */
};

#define COUNT(o, field) atomic_fetch_add_explicit(&(o)->field, 1, memory_order_relaxed)

/* ---- the breaker ---- */

/* 0: go; 1: go, as the probe; -1: fail at once. */
static int breaker_admit(http_origin_t *o, uint64_t now)
{
    int st = atomic_load(&o->breaker);
    if (st == BREAKER_CLOSED)
        return 0;
    /* now >= ...: loops read the clock once a turn, so another loop's
     * opened_at may be a little ahead of this loop's now. */
    if (st == BREAKER_OPEN && now >= atomic_load(&o->opened_at) + o->cfg.breaker_open_ms) {
        int expect = BREAKER_OPEN;
        if (atomic_compare_exchange_strong(&o->breaker, &expect, BREAKER_HALF_OPEN))
            return 1;
    }
    COUNT(o, rejected);
    return -1;
}

static void breaker_success(http_origin_t *o, call_t *c)
{
    atomic_store(&o->fails, 0);
    if (c->probe || atomic_load(&o->breaker) != BREAKER_CLOSED) {
        if (atomic_exchange(&o->breaker, BREAKER_CLOSED) != BREAKER_CLOSED)
            cameo_log(CAMEO_LOG_INFO, "origin_breaker_closed", "origin=http");
        c->probe = 0;
    }
}

static void breaker_failure(http_origin_t *o, call_t *c, uint64_t now, const char *why)
{
    unsigned f = atomic_fetch_add(&o->fails, 1) + 1;
    COUNT(o, failures);
    pthread_mutex_lock(&o->lock);
    snprintf(o->last_error, sizeof(o->last_error), "%s", why);
    pthread_mutex_unlock(&o->lock);
    int expect = c->probe ? BREAKER_HALF_OPEN : BREAKER_CLOSED;
    if ((c->probe || f >= o->cfg.breaker_failures) &&
        atomic_compare_exchange_strong(&o->breaker, &expect, BREAKER_OPEN)) {
        atomic_store(&o->opened_at, now);
        COUNT(o, opens);
        cameo_log(CAMEO_LOG_WARN, "origin_breaker_open", "origin=http failures=%u open_ms=%llu reason=\"%s\"",
                  f, (unsigned long long)o->cfg.breaker_open_ms, why);
    }
    c->probe = 0;
}

/* ---- slots ---- */

static slot_t *slot_of(http_origin_t *o, cameo_loop_t *loop)
{
    return cameo__loopmap_get(&o->loops, loop);
}

/* ---- avatars: field value, version, object key ---- */

/* The value of the avatar_field member of doc (a string or an integer,
 * written into num for an integer) and its length, or NULL. The pointer is
 * valid while doc is. */
static const char *avatar_value_of(http_origin_t *o, json_t *doc, char num[32], size_t *len)
{
    if (o->avatar_field[0] == '\0')
        return NULL;
    json_t *v = doc;
    const char *p = o->avatar_field;
    char tok[POINTER_MAX + 1];
    while (v != NULL && *p == '/') { /* RFC 6901: "/a/b", "~1" is '/', "~0" is '~' */
        size_t n = 0;
        for (p++; *p != '\0' && *p != '/'; p++) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1'))
                tok[n++] = *++p == '0' ? '~' : '/';
            else
                tok[n++] = *p;
        }
        tok[n] = '\0';
        if (json_is_object(v)) {
            v = json_object_get(v, tok);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            v = n > 0 && *end == '\0' ? json_array_get(v, i) : NULL;
        } else {
            v = NULL;
        }
    }
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return *len > 0 ? json_string_value(v) : NULL;
    }
    if (json_is_integer(v)) {
        *len = (size_t)snprintf(num, 32, "%lld", (long long)json_integer_value(v));
        return num;
    }
    return NULL;
}

/* The avatar version of field value s (len > 0 bytes): s itself when it
 * matches [A-Za-z0-9._-]{1,64}, else "h" and 16 hex digits of its XXH3. */
static void version_of_value(const char *s, size_t len, char out[CAMEO_VERSION_MAX + 1])
{
    if (cameo_version_valid(s, len))
        memcpy(out, s, len), out[len] = '\0';
    else
        snprintf(out, CAMEO_VERSION_MAX + 1, "h%016llx", (unsigned long long)XXH3_64bits(s, len));
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* 1 when version has the shape of a hashed one, "h" and 16 hex digits: it
 * stands for a value in the avatar map. */
static int hash_shaped(const char *version)
{
    return version[0] == 'h' && strlen(version) == 17 && all_hex(version + 1, 16);
}

/* The length of the value in a version "VALUE.eTTTTTTTTTTTT" (and the ETag
 * hash's 48 bits in *tag), or 0 when version does not have that shape. */
static size_t tagged_value_len(const char *version, uint64_t *tag)
{
    size_t n = strlen(version);
    if (n <= TAG_SUFFIX || version[n - TAG_SUFFIX] != '.' || version[n - TAG_SUFFIX + 1] != 'e' ||
        !all_hex(version + n - 12, 12))
        return 0;
    *tag = strtoull(version + n - 12, NULL, 16);
    return n - TAG_SUFFIX;
}

/* Writes the object key of field value v (len bytes) into key: the
 * template with every "{value}" replaced by v, under the bucket's prefix.
 * CAMEO_OK, or CAMEO_EINVAL when v cannot name an object: empty, a control
 * character, a key over CAMEO_S3_KEY_MAX bytes, or an empty, "." or ".."
 * segment (which URL handling would fold into another key). */
static int key_of_value(http_origin_t *o, const char *v, size_t len, char *key, size_t keylen)
{
    char name[CAMEO_S3_KEY_MAX + 1];
    if (len == 0 || len > CAMEO_S3_KEY_MAX)
        return CAMEO_EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return CAMEO_EINVAL;
    size_t n = 0;
    const char *t = o->key_template, *h;
    for (;;) {
        h = strstr(t, "{value}");
        size_t lit = h != NULL ? (size_t)(h - t) : strlen(t);
        size_t add = lit + (h != NULL ? len : 0);
        if (n + add > CAMEO_S3_KEY_MAX)
            return CAMEO_EINVAL;
        memcpy(name + n, t, lit);
        n += lit;
        if (h == NULL)
            break;
        memcpy(name + n, v, len);
        n += len;
        t = h + 7;
    }
    name[n] = '\0';
    if (cameo__s3_object_key(o->s3, name, key, keylen) != CAMEO_OK)
        return CAMEO_EINVAL;
    for (const char *seg = key;;) {
        size_t sl = strcspn(seg, "/");
        if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return CAMEO_EINVAL;
        if (seg[sl] == '\0')
            return CAMEO_OK;
        seg += sl + 1;
    }
}

static size_t avmap_slot(const char *id, const char *version)
{
    return (size_t)(XXH3_64bits_withSeed(version, strlen(version), XXH3_64bits(id, strlen(id))) %
                    AVMAP_SLOTS);
}

/* Remembers that version of user id stands for value (len bytes) and, with
 * has_tag, for an object whose ETag hashes to tag. */
static void avmap_put(http_origin_t *o, const char *id, const char *version, const char *value, size_t len,
                      uint64_t tag, int has_tag)
{
    avmap_entry_t *e = &o->avmap[avmap_slot(id, version)];
    pthread_mutex_lock(&o->avmap_lock);
    if (e->id[0] != '\0' && strcmp(e->id, id) == 0 && strcmp(e->version, version) == 0) {
        pthread_mutex_unlock(&o->avmap_lock);
        return; /* same version: same value and tag */
    }
    if (e->id[0] != '\0')
        COUNT(o, avmap_replaced);
    free(e->value);
    e->value = strndup(value, len);
    snprintf(e->id, sizeof(e->id), "%s", e->value != NULL ? id : "");
    snprintf(e->version, sizeof(e->version), "%s", version);
    e->tag = tag;
    e->has_tag = has_tag;
    pthread_mutex_unlock(&o->avmap_lock);
}

/* Copies the value version of user id stands for into value (len bytes),
 * and its ETag hash into *tag (*has_tag 0 when it has none): 1, or 0 when
 * the map does not know it. */
static int avmap_get(http_origin_t *o, const char *id, const char *version, char *value, size_t len,
                     uint64_t *tag, int *has_tag)
{
    avmap_entry_t *e = &o->avmap[avmap_slot(id, version)];
    pthread_mutex_lock(&o->avmap_lock);
    int found = e->id[0] != '\0' && strcmp(e->id, id) == 0 && strcmp(e->version, version) == 0 &&
                strlen(e->value) < len;
    if (found) {
        strcpy(value, e->value);
        *tag = e->tag;
        *has_tag = e->has_tag;
    }
    pthread_mutex_unlock(&o->avmap_lock);
    return found;
}

/* Writes into out the avatar version of user id's field value (len bytes)
 * for an object whose ETag is etag. With etag NULL (the HEAD got no
 * answer), the last ETag this instance saw for the object, else none (see
 * the header). */
static void version_of_object(http_origin_t *o, const char *id, const char *value, size_t len,
                              const char *etag, char out[CAMEO_VERSION_MAX + 1])
{
    uint64_t vh = XXH3_64bits(value, len) | 1, tag = 0, t;
    size_t slot = (size_t)(vh % ETAG_SLOTS);
    int known = etag != NULL;
    if (known)
        tag = XXH3_64bits(etag, strlen(etag));
    pthread_mutex_lock(&o->avmap_lock);
    if (known) {
        o->etags[slot].value_hash = vh;
        o->etags[slot].tag = tag;
    } else if (o->etags[slot].value_hash == vh) {
        tag = o->etags[slot].tag;
        known = 1;
    }
    pthread_mutex_unlock(&o->avmap_lock);
    if (known && len <= CAMEO_VERSION_MAX - TAG_SUFFIX && cameo_version_valid(value, len)) {
        snprintf(out, CAMEO_VERSION_MAX + 1, "%.*s.e%012llx", (int)len, value,
                 (unsigned long long)(tag >> 16));
        return;
    }
    if (!known && cameo_version_valid(value, len) && !hash_shaped(value) &&
        tagged_value_len(value, &t) == 0) {
        memcpy(out, value, len), out[len] = '\0';
        return;
    }
    uint64_t h = known ? XXH3_64bits_withSeed(value, len, tag) : XXH3_64bits(value, len);
    snprintf(out, CAMEO_VERSION_MAX + 1, "h%016llx", (unsigned long long)h);
    avmap_put(o, id, out, value, len, tag, known);
}

/* Notes the avatar of result r, user id, named by doc: without a bucket its
 * version (the value, as is or hashed); with one, a copy of the value, whose
 * version the object's HEAD makes. Nothing for no field, or a value that
 * cannot name an object (logged). */
static void avatar_of(http_origin_t *o, result_t *r, const char *id, json_t *doc)
{
    char num[32], key[CAMEO_S3_KEY_MAX + 1];
    size_t len = 0;
    const char *v = avatar_value_of(o, doc, num, &len);
    r->version[0] = '\0';
    free(r->value);
    r->value = NULL;
    if (v == NULL)
        return;
    if (o->s3 != NULL && key_of_value(o, v, len, key, sizeof(key)) != CAMEO_OK) {
        cameo_log(CAMEO_LOG_WARN, "origin_bad_avatar_field",
                  "origin=http id=%s field=%s bytes=%zu reason=\"cannot name an object: empty, control "
                  "characters, a . or .. segment, or a key over %d bytes\"",
                  id, o->avatar_field, len, CAMEO_S3_KEY_MAX);
        return;
    }
    if (o->s3 == NULL) {
        version_of_value(v, len, r->version);
    } else if ((r->value = strndup(v, len)) != NULL) {
        r->vlen = len;
    } else {
        /* Out of memory: the profile still goes out, without an avatar. */
        cameo_log(CAMEO_LOG_WARN, "origin_no_memory", "origin=http id=%s what=avatar_value", id);
    }
}

/* ---- results: what the callback gets ---- */

/* Records doc (a JSON object) as the profile of c->ids[i]; text is its
 * serialisation when the caller has it (len bytes), else NULL. */
static void result_found(call_t *c, size_t i, json_t *doc, const char *text, size_t len)
{
    result_t *r = &c->res[i];
    char *copy = text != NULL ? strndup(text, len) : json_dumps(doc, JSON_COMPACT);
    if (copy == NULL) {
        r->state = 2;
        r->err = CAMEO_ENOMEM;
        return;
    }
    len = strlen(copy);
    if (len > DOC_MAX) {
        cameo_log(CAMEO_LOG_WARN, "origin_bad_profile", "origin=http id=%s reason=too_large bytes=%zu max=%d",
                  c->ids[i], len, DOC_MAX);
        free(copy);
        r->state = 2;
        r->err = CAMEO_ECORRUPT;
        return;
    }
    free(r->doc);
    r->doc = copy;
    r->len = len;
    r->state = 1;
    avatar_of(c->o, r, c->ids[i], doc);
}

static void result_failed(call_t *c, size_t i, int err)
{
    c->res[i].state = 2;
    c->res[i].err = err;
}

static void call_free(call_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->res[i].doc);
        free(c->res[i].value);
    }
    free(c->res);
    free(c->heads);
    free(c->ids);
    free(c);
}

/* Hands the results to the caller and frees c. */
static void call_deliver(call_t *c)
{
    cameo_profile_rec_t *recs = calloc(c->n + 1, sizeof(*recs));
    if (recs == NULL) {
        c->cb(c->arg, CAMEO_ENOMEM, NULL, 0);
        call_free(c);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        result_t *r = &c->res[i];
        if (r->state == 0)
            continue; /* not found */
        recs[k].id = c->ids[i];
        recs[k].err = r->state == 2 ? r->err : CAMEO_OK;
        if (r->state == 1) {
            recs[k].doc = r->doc;
            recs[k].doc_len = r->len;
            recs[k].avatar_version = r->version[0] ? r->version : NULL;
        }
        k++;
    }
    c->cb(c->arg, CAMEO_OK, recs, k);
    free(recs);
    call_free(c);
}

/* ---- avatar HEADs: the object's ETag in the version ---- */

static void heads_pump(call_t *c);

static void on_head(void *arg, const cameo__s3_result_t *res)
{
    head_t *h = arg;
    call_t *c = h->call;
    result_t *r = &c->res[h->i];
    c->heads_active--;
    if (res->err == CAMEO_OK && res->etag != NULL && res->etag[0] != '\0') {
        version_of_object(c->o, c->ids[h->i], r->value, r->vlen, res->etag, r->version);
    } else if (res->err == CAMEO_ENOTFOUND) {
        cameo_log(CAMEO_LOG_INFO, "avatar_object_missing", "origin=http id=%s", c->ids[h->i]);
        r->version[0] = '\0'; /* no object: no avatar, the default one */
    } else {
        COUNT(c->o, heads_failed);
        cameo_log(CAMEO_LOG_WARN, "avatar_head_failed", "origin=http id=%s status=%ld err=\"%s\"",
                  c->ids[h->i], res->status, res->err == CAMEO_OK ? "no ETag" : cameo_strerror(res->err));
        version_of_object(c->o, c->ids[h->i], r->value, r->vlen, NULL, r->version);
    }
    heads_pump(c);
}

/* Starts the HEADs of c's avatars, HEAD_PARALLEL at a time; the last one
 * to end delivers. A HEAD that cannot start (S3 at --s3-max-concurrent with
 * none of c's in flight, the loop stopping, no memory) gives the version
 * without the ETag. */
static void heads_pump(call_t *c)
{
    http_origin_t *o = c->o;
    while (c->head_next < c->n && c->heads_active < HEAD_PARALLEL) {
        size_t i = c->head_next;
        result_t *r = &c->res[i];
        char key[CAMEO_S3_KEY_MAX + 1];
        if (r->state != 1 || r->value == NULL) {
            c->head_next++;
            continue;
        }
        int rc = key_of_value(o, r->value, r->vlen, key, sizeof(key));
        if (rc == CAMEO_OK) {
            c->heads[i] = (head_t){c, i};
            rc = cameo__s3_request(o->s3, c->loop, CAMEO__S3_HEAD, key, NULL, 0, NULL, on_head, &c->heads[i]);
        }
        if (rc == CAMEO_EBUSY && c->heads_active > 0)
            return; /* the next of ours to end starts it */
        c->head_next++;
        if (rc == CAMEO_OK) {
            COUNT(o, heads);
            c->heads_active++;
        } else {
            COUNT(o, heads_failed);
            version_of_object(o, c->ids[i], r->value, r->vlen, NULL, r->version);
        }
    }
    if (c->heads_active == 0 && c->head_next == c->n)
        call_deliver(c);
}

/* The last part has ended: the HEADs of the avatars found, then delivery. */
static void call_finish(call_t *c)
{
    if (c->probe) {
        /* The probe ended with no answer either way (it could not even be
         * sent): open again rather than stay half-open for ever. */
        atomic_store(&c->o->opened_at, c->loop->now_ms(c->loop));
        atomic_store(&c->o->breaker, BREAKER_OPEN);
    }
    if (c->succeeded == 0 && c->first_err != CAMEO_OK) {
        c->cb(c->arg, c->first_err, NULL, 0);
        call_free(c);
        return;
    }
    if (c->o->s3 == NULL) {
        call_deliver(c);
        return;
    }
    if ((c->heads = calloc(c->n, sizeof(*c->heads))) == NULL)
        c->head_next = c->n; /* no HEADs: versions without the ETag */
    for (size_t i = 0; c->heads == NULL && i < c->n; i++)
        if (c->res[i].state == 1 && c->res[i].value != NULL)
            version_of_object(c->o, c->ids[i], c->res[i].value, c->res[i].vlen, NULL, c->res[i].version);
    heads_pump(c);
}

/* ---- parts ---- */

static void pump(slot_t *s);
static void part_start(part_t *p);

static void part_free(part_t *p)
{
    slot_t *s = p->slot;
    if (p->live_prev != NULL)
        p->live_prev->live_next = p->live_next;
    else
        s->live = p->live_next;
    if (p->live_next != NULL)
        p->live_next->live_prev = p->live_prev;
    s->loop->timer_free(p->timer);
    free(p);
}

/* Ends part p: err for its ids that have no outcome yet (CAMEO_OK: none
 * left without one). The call ends with its last part. */
static void part_end(part_t *p, int err)
{
    call_t *c = p->call;
    if (err != CAMEO_OK) {
        for (size_t i = p->first; i < p->first + p->count; i++)
            if (c->res[i].state == 0)
                result_failed(c, i, err);
        if (c->first_err == CAMEO_OK)
            c->first_err = err;
    } else {
        c->succeeded++;
    }
    part_free(p);
    if (--c->parts_left == 0)
        call_finish(c);
}

static void on_part_timer(void *arg)
{
    part_t *p = arg;
    if (p->deferred_err != CAMEO_OK) {
        part_end(p, p->deferred_err);
        return;
    }
    /* A retry after its backoff: not while another loop has opened the
     * breaker; else first in line, within the concurrency cap. */
    slot_t *sl = p->slot;
    if (atomic_load(&p->call->o->breaker) != BREAKER_CLOSED) {
        part_end(p, CAMEO_EUNAVAIL);
        return;
    }
    p->next = sl->qhead;
    sl->qhead = p;
    if (sl->qtail == NULL)
        sl->qtail = p;
    sl->queued++;
    pump(sl);
}

/* Ends p with err on a later loop turn (never inside get_profiles). */
static void part_defer(part_t *p, int err)
{
    p->deferred_err = err;
    p->slot->loop->timer_arm(p->timer, 0);
}

/* Parses a 200 answer of a single GET (count 1) or a batch POST. */
static void part_parse(part_t *p, const char *body, size_t len)
{
    call_t *c = p->call;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!p->batch) {
        if (json_is_object(root)) {
            result_found(c, p->first, root, body, len);
        } else {
            cameo_log(CAMEO_LOG_WARN, "origin_bad_profile", "origin=http id=%s reason=\"%s\"",
                      c->ids[p->first], root == NULL ? "not JSON" : "not a JSON object");
            result_failed(c, p->first, CAMEO_ECORRUPT);
        }
    } else if (json_is_object(root)) { /* {"ID": {...} | null} */
        for (size_t i = p->first; i < p->first + p->count; i++) {
            json_t *v = json_object_get(root, c->ids[i]);
            if (json_is_object(v)) {
                result_found(c, i, v, NULL, 0);
            } else if (v != NULL && !json_is_null(v)) {
                cameo_log(CAMEO_LOG_WARN, "origin_bad_profile",
                          "origin=http id=%s reason=\"not a JSON object\"", c->ids[i]);
                result_failed(c, i, CAMEO_ECORRUPT);
            }
        }
    } else if (json_is_array(root)) { /* [{"id": "ID", ...}] */
        size_t k;
        json_t *v;
        json_array_foreach(root, k, v)
        {
            const char *id = json_string_value(json_object_get(v, "id"));
            for (size_t i = p->first; id != NULL && i < p->first + p->count; i++) {
                if (strcmp(c->ids[i], id) == 0) {
                    result_found(c, i, v, NULL, 0);
                    break;
                }
            }
        }
    } else {
        cameo_log(CAMEO_LOG_WARN, "origin_bad_batch", "origin=http ids=%zu reason=\"%s\"", p->count,
                  root == NULL ? "not JSON" : "neither a JSON object nor an array");
        for (size_t i = p->first; i < p->first + p->count; i++)
            result_failed(c, i, CAMEO_ECORRUPT);
    }
    json_decref(root);
}

static void on_part_done(void *arg, const cameo__curl_result_t *res)
{
    part_t *p = arg;
    slot_t *s = p->slot;
    call_t *c = p->call;
    http_origin_t *o = c->o;
    uint64_t now = s->loop->now_ms(s->loop);
    s->active--;

    int err = res->err, retryable = 0;
    char why[STATUS_MAX];
    if (err == CAMEO_OK && (res->status == 200 || (res->status == 404 && !p->batch))) {
        breaker_success(o, c);
        if (res->status == 200)
            part_parse(p, res->body, res->len);
        part_end(p, CAMEO_OK);
        pump(s);
        return;
    }
    if (err == CAMEO_OK) {
        snprintf(why, sizeof(why), "HTTP status %ld", res->status);
        retryable = res->status >= 500;
        err = CAMEO_EUNAVAIL; /* a 502 for the client, retried or not */
    } else {
        snprintf(why, sizeof(why), "%s", res->detail[0] ? res->detail : cameo_strerror(err));
        retryable = err == CAMEO_EUNAVAIL || err == CAMEO_ETIMEDOUT;
        if (err == CAMEO_ETOOBIG)
            err = CAMEO_ECORRUPT; /* the origin's data, not the client's request, is too big */
    }
    if (retryable)
        breaker_failure(o, c, now, why);
    else if (res->err == CAMEO_OK)
        breaker_success(o, c); /* a 4xx: the service is there, this request was wrong */
    cameo_log(CAMEO_LOG_WARN, "origin_request_failed", "origin=http ids=%zu attempt=%u reason=\"%s\"",
              p->count, p->attempt, why);
    if (s->closing) {
        part_end(p, err);
        return;
    }
    if (retryable && p->attempt <= o->cfg.retries && atomic_load(&o->breaker) == BREAKER_CLOSED) {
        uint64_t cap = o->cfg.backoff_ms << (p->attempt - 1 < 16 ? p->attempt - 1 : 16);
        COUNT(o, retries);
        p->deferred_err = CAMEO_OK;
        s->loop->timer_arm(p->timer, cap > 0 ? cameo__rand_next(&s->rng) % (cap + 1) : 0);
    } else {
        part_end(p, err);
    }
    pump(s);
}

/* Starts p's request now (a place is free). */
static void part_start(part_t *p)
{
    slot_t *s = p->slot;
    call_t *c = p->call;
    http_origin_t *o = c->o;
    CURL *easy = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[URL_MAX + 1]; /* open checked that users_url fits with every {id} at its longest */
    char *body = NULL;
    int err = CAMEO_ENOMEM;
    if (easy == NULL)
        goto fail;
    if (!p->batch) {
        /* users_url with every "{id}" replaced: ids are [A-Za-z0-9._-], no
         * escaping; "." and ".." go as they are (PATH_AS_IS), never as dot
         * segments that would name another resource. */
        const char *t = o->users_url, *h;
        char *w = url;
        while ((h = strstr(t, "{id}")) != NULL) {
            w = mempcpy(w, t, (size_t)(h - t));
            w = stpcpy(w, c->ids[p->first]);
            t = h + 4;
        }
        strcpy(w, t);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
    } else {
        json_t *ids = json_array();
        for (size_t i = p->first; ids != NULL && i < p->first + p->count; i++)
            json_array_append_new(ids, json_string(c->ids[i]));
        json_t *req = ids != NULL ? json_pack("{s:o}", "ids", ids) : NULL;
        body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        if (body == NULL || hdrs == NULL)
            goto fail;
        curl_easy_setopt(easy, CURLOPT_URL, o->batch_url);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
        free(body);
        body = NULL;
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (hdrs == NULL)
        goto fail;
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)o->cfg.connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)o->cfg.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "cameo/" CAMEO_VERSION);
    p->attempt++;
    COUNT(o, requests);
    err = cameo__curl_start(s->curl, easy, hdrs, o->cfg.max_body, on_part_done, p);
    easy = NULL; /* owned by origin_curl now, even on failure */
    hdrs = NULL;
    if (err == CAMEO_OK) {
        s->active++;
        return;
    }
fail:
    free(body);
    curl_slist_free_all(hdrs);
    if (easy != NULL)
        curl_easy_cleanup(easy);
    part_defer(p, err);
}

/* Starts queued parts while places are free. */
static void pump(slot_t *s)
{
    http_origin_t *o = NULL;
    while (s->qhead != NULL && !s->closing) {
        o = s->qhead->call->o;
        if (s->active >= o->cfg.concurrency)
            return;
        part_t *p = s->qhead;
        s->qhead = p->next;
        if (s->qhead == NULL)
            s->qtail = NULL;
        s->queued--;
        part_start(p);
    }
}

/* ---- the method table ---- */

static int http_get_profiles(cameo_origin_t *base, cameo_loop_t *loop, const char *const *ids, size_t n,
                             cameo_origin_profiles_cb cb, void *arg)
{
    http_origin_t *o = (http_origin_t *)base;
    if (cb == NULL || n == 0 || n > BATCH_MAX || ids == NULL)
        return CAMEO_EINVAL;
    slot_t *s = loop != NULL ? slot_of(o, loop) : NULL;
    if (s == NULL)
        return CAMEO_EUNAVAIL;
    /* One id: a GET (cacheable by the service's own caches); more: batches. */
    size_t per = o->batch_url[0] != '\0' && n > 1 ? o->cfg.batch_size : 1;
    size_t nparts = (n + per - 1) / per;
    if (s->queued + nparts > o->cfg.queue_max)
        return CAMEO_EBUSY;
    int admit = breaker_admit(o, loop->now_ms(loop));
    if (admit < 0)
        return CAMEO_EUNAVAIL;

    call_t *c = calloc(1, sizeof(*c));
    size_t idbytes = 0;
    for (size_t i = 0; i < n; i++)
        idbytes += strlen(ids[i]) + 1;
    char **idv = calloc(1, n * sizeof(char *) + idbytes);
    result_t *res = calloc(n, sizeof(*res));
    part_t **parts = calloc(nparts, sizeof(*parts));
    int ok = c != NULL && idv != NULL && res != NULL && parts != NULL;
    for (size_t i = 0; ok && i < nparts; i++) {
        parts[i] = calloc(1, sizeof(part_t));
        ok = parts[i] != NULL && (parts[i]->timer = loop->timer_new(loop, on_part_timer, parts[i])) != NULL;
    }
    if (!ok) {
        for (size_t i = 0; parts != NULL && i < nparts; i++) {
            if (parts[i] != NULL && parts[i]->timer != NULL)
                loop->timer_free(parts[i]->timer);
            free(parts != NULL ? parts[i] : NULL);
        }
        free(parts);
        free(res);
        free(idv);
        free(c);
        if (admit == 1) { /* the probe never went out */
            atomic_store(&o->opened_at, loop->now_ms(loop));
            atomic_store(&o->breaker, BREAKER_OPEN);
        }
        return CAMEO_ENOMEM;
    }
    char *q = (char *)(idv + n);
    for (size_t i = 0; i < n; i++) {
        idv[i] = q;
        q = stpcpy(q, ids[i]) + 1;
    }
    c->o = o;
    c->cb = cb;
    c->arg = arg;
    c->probe = admit == 1;
    c->loop = loop;
    c->n = n;
    c->ids = idv;
    c->res = res;
    c->parts_left = nparts;
    for (size_t i = 0; i < nparts; i++) {
        part_t *p = parts[i];
        p->call = c;
        p->slot = s;
        p->first = i * per;
        p->count = n - p->first < per ? n - p->first : per;
        p->batch = per > 1;
        p->live_next = s->live;
        if (s->live != NULL)
            s->live->live_prev = p;
        s->live = p;
        if (s->qtail != NULL)
            s->qtail->next = p;
        else
            s->qhead = p;
        s->qtail = p;
        s->queued++;
    }
    free(parts);
    pump(s);
    return CAMEO_OK;
}

/* ---- avatar bytes: the bucket ---- */

/* One get_avatar in flight: a profile read (when the version must be looked
 * up), then the object's GET. */
typedef struct avatar_op {
    http_origin_t *o;
    cameo_loop_t *loop;
    cameo_origin_blob_cb cb;
    void *arg;
    char id[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    uint64_t tag;     /* the ETag hash the object must have, */
    unsigned tagbits; /* in its top tagbits bits (0: unchecked) */
} avatar_op_t;

/* What version of user id stands for: the value into value (len bytes) and
 * the ETag check into op. 1, or 0 when only the avatar map could say and
 * does not know it. */
static int value_of_version(avatar_op_t *op, char *value, size_t len)
{
    uint64_t tag;
    int has_tag;
    size_t n = tagged_value_len(op->version, &tag);
    if (n > 0) {
        snprintf(value, len, "%.*s", (int)n, op->version);
        op->tag = tag, op->tagbits = 48;
    } else if (hash_shaped(op->version)) {
        if (!avmap_get(op->o, op->id, op->version, value, len, &tag, &has_tag))
            return 0;
        op->tag = tag, op->tagbits = has_tag ? 64 : 0;
    } else {
        snprintf(value, len, "%s", op->version); /* made without an ETag */
        op->tagbits = 0;
    }
    return 1;
}

static void on_avatar_object(void *arg, const cameo__s3_result_t *res)
{
    avatar_op_t *op = arg;
    int err = res->err;
    cameo_blob_t blob = {0};
    uint64_t tag = op->tagbits > 0 && res->etag != NULL ? XXH3_64bits(res->etag, strlen(res->etag)) : 0;
    if (err == CAMEO_OK && op->tagbits > 0 && (res->etag == NULL || tag >> (64 - op->tagbits) != op->tag)) {
        /* Replaced in place since the profile named it: not this version. */
        COUNT(op->o, replaced);
        cameo_log(CAMEO_LOG_INFO, "avatar_object_replaced", "origin=http id=%s version=%s", op->id,
                  op->version);
        err = CAMEO_ENOTFOUND;
    } else if (err == CAMEO_OK) {
        const char *type = cameo_image_type(res->body, res->len);
        if (type == NULL) {
            cameo_log(CAMEO_LOG_ERROR, "s3_object_corrupt",
                      "origin=http id=%s version=%s reason=not_an_image "
                      "bytes=%zu",
                      op->id, op->version, res->len);
            err = CAMEO_ECORRUPT;
        } else {
            blob = (cameo_blob_t){res->body, res->len, type, op->version};
        }
    }
    op->cb(op->arg, err, err == CAMEO_OK ? &blob : NULL);
    free(op);
}

/* Starts the GET of the object named by value. On an error return op is
 * still the caller's and its callback has not fired. A value that cannot
 * name an object is CAMEO_ENOTFOUND: there is no such object. */
static int avatar_fetch(avatar_op_t *op, const char *value)
{
    char key[CAMEO_S3_KEY_MAX + 1];
    if (key_of_value(op->o, value, strlen(value), key, sizeof(key)) != CAMEO_OK)
        return CAMEO_ENOTFOUND;
    return cameo__s3_request(op->o->s3, op->loop, CAMEO__S3_GET, key, NULL, 0, NULL, on_avatar_object, op);
}

/* The profile read again for a hash-shaped version the map did not know:
 * making its version put the current one into the map. A version that is
 * still unknown (superseded, or made by another instance from an ETag the
 * object no longer has) is no avatar. */
static void on_avatar_profile(void *arg, int err, const cameo_profile_rec_t *recs, size_t n)
{
    avatar_op_t *op = arg;
    for (size_t i = 0; err == CAMEO_OK && i < n; i++)
        if (strcmp(recs[i].id, op->id) == 0 && recs[i].err != CAMEO_OK)
            err = recs[i].err; /* say a bad profile: ask again next time */
    if (err == CAMEO_OK) {
        char value[CAMEO_S3_KEY_MAX + 1];
        err = value_of_version(op, value, sizeof(value)) ? avatar_fetch(op, value) : CAMEO_ENOTFOUND;
        if (err == CAMEO_OK)
            return;
    }
    op->cb(op->arg, err, NULL);
    free(op);
}

static int http_get_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id, const char *version,
                           cameo_origin_blob_cb cb, void *arg)
{
    http_origin_t *o = (http_origin_t *)base;
    if (cb == NULL || id == NULL || version == NULL || !cameo_id_valid(id, strlen(id)) ||
        !cameo_version_valid(version, strlen(version)))
        return CAMEO_EINVAL;
    if (loop == NULL)
        return CAMEO_EUNAVAIL;
    avatar_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return CAMEO_ENOMEM;
    op->o = o;
    op->loop = loop;
    op->cb = cb;
    op->arg = arg;
    snprintf(op->id, sizeof(op->id), "%s", id);
    snprintf(op->version, sizeof(op->version), "%s", version);
    char value[CAMEO_S3_KEY_MAX + 1];
    int rc;
    if (value_of_version(op, value, sizeof(value))) {
        rc = avatar_fetch(op, value);
    } else {
        COUNT(o, avatar_lookups);
        const char *ids[1] = {op->id};
        rc = http_get_profiles(base, loop, ids, 1, on_avatar_profile, op);
    }
    if (rc != CAMEO_OK)
        free(op);
    return rc;
}

static int http_avatar_url(cameo_origin_t *base, const char *id, const char *version, uint64_t now_unix_s,
                           char *url, size_t len, uint64_t *expires_at)
{
    http_origin_t *o = (http_origin_t *)base;
    char value[CAMEO_S3_KEY_MAX + 1], key[CAMEO_S3_KEY_MAX + 1];
    if (id == NULL || version == NULL || url == NULL || !cameo_id_valid(id, strlen(id)) ||
        !cameo_version_valid(version, strlen(version)))
        return CAMEO_EINVAL;
    avatar_op_t op = {.o = o}; /* only what value_of_version reads */
    snprintf(op.id, sizeof(op.id), "%s", id);
    snprintf(op.version, sizeof(op.version), "%s", version);
    if (!value_of_version(&op, value, sizeof(value))) {
        /* Not seen here (say the profile came from another instance through
         * Redis): cameo's own path, whose first read looks the value up. */
        int n = snprintf(url, len, "/v1/avatars/%s/%s", id, version);
        if (n < 0 || (size_t)n >= len)
            return CAMEO_ETOOBIG;
        if (expires_at != NULL)
            *expires_at = 0;
        return CAMEO_OK;
    }
    if (key_of_value(o, value, strlen(value), key, sizeof(key)) != CAMEO_OK)
        return CAMEO_EINVAL;
    return cameo__s3_presign(o->s3, key, now_unix_s, url, len, expires_at);
}

static int http_attach(cameo_origin_t *base, cameo_loop_t *loop)
{
    http_origin_t *o = (http_origin_t *)base;
    int rc = o->s3 != NULL ? cameo__s3_attach(o->s3, loop) : CAMEO_OK;
    if (rc != CAMEO_OK) {
        cameo_log(CAMEO_LOG_ERROR, "s3_attach_failed", "origin=http err=\"%s\"", cameo_strerror(rc));
        return rc;
    }
    slot_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->curl = cameo__curl_new(loop)) == NULL) {
        free(s);
        if (o->s3 != NULL)
            cameo__s3_detach(o->s3, loop);
        return CAMEO_ENOMEM;
    }
    s->loop = loop;
    s->rng = cameo__rand_seed(s);
    rc = cameo__loopmap_add(&o->loops, loop, s, NULL);
    if (rc != CAMEO_OK) {
        cameo__curl_free(s->curl);
        free(s);
        if (o->s3 != NULL)
            cameo__s3_detach(o->s3, loop);
        cameo_log(CAMEO_LOG_ERROR, "origin_attach_failed", "origin=http err=\"%s\" max_loops=%d",
                  cameo_strerror(rc), CAMEO_LOOPMAP_MAX);
    }
    return rc;
}

static void http_detach(cameo_origin_t *base, cameo_loop_t *loop)
{
    http_origin_t *o = (http_origin_t *)base;
    slot_t *s = cameo__loopmap_remove(&o->loops, loop);
    if (s == NULL)
        return;
    s->closing = 1;
    cameo__curl_free(s->curl); /* requests in flight end with CAMEO_EUNAVAIL */
    s->curl = NULL;
    s->qhead = s->qtail = NULL;
    s->queued = 0;
    while (s->live != NULL) /* queued, or waiting out a backoff */
        part_end(s->live, CAMEO_EUNAVAIL);
    free(s);
    /* After the profile reads: an avatar waiting on one has ended, so no
     * object GET starts after this. */
    if (o->s3 != NULL)
        cameo__s3_detach(o->s3, loop);
}

static int http_status(cameo_origin_t *base, char *buf, size_t len)
{
    http_origin_t *o = (http_origin_t *)base;
    int st = atomic_load(&o->breaker);
    char last[STATUS_MAX];
    pthread_mutex_lock(&o->lock);
    snprintf(last, sizeof(last), "%s", o->last_error[0] ? o->last_error : "none");
    pthread_mutex_unlock(&o->lock);
    char s3[600] = "";
    if (o->s3 != NULL) {
        size_t n = (size_t)snprintf(
            s3, sizeof(s3),
            "; avatar HEADs %llu (failed %llu), objects replaced %llu, profile lookups %llu, "
            "map slots replaced %llu; ",
            (unsigned long long)atomic_load(&o->heads), (unsigned long long)atomic_load(&o->heads_failed),
            (unsigned long long)atomic_load(&o->replaced),
            (unsigned long long)atomic_load(&o->avatar_lookups),
            (unsigned long long)atomic_load(&o->avmap_replaced));
        (void)cameo__s3_status(o->s3, s3 + n, sizeof(s3) - n);
    }
    snprintf(buf, len, "%s; breaker %s, %u failed in a row, last failure: %s; requests %llu, retries %llu%s",
             o->users_where,
             st == BREAKER_CLOSED ? "closed"
             : st == BREAKER_OPEN ? "open"
                                  : "half-open",
             atomic_load(&o->fails), last, (unsigned long long)atomic_load(&o->requests),
             (unsigned long long)atomic_load(&o->retries), s3);
    /* A failing bucket is in the detail but keeps the instance ready, as in
     * origin_blobs: profiles and cached avatars are still served. */
    return st == BREAKER_CLOSED ? CAMEO_OK : CAMEO_EUPSTREAM;
}

static void http_destroy(cameo_origin_t *base)
{
    http_origin_t *o = (http_origin_t *)base;
    /* Every loop detached before this: nothing is in flight. */
    for (size_t i = 0; o->avmap != NULL && i < AVMAP_SLOTS; i++)
        free(o->avmap[i].value);
    free(o->avmap);
    free(o->etags);
    cameo__s3_free(o->s3);
    pthread_mutex_destroy(&o->avmap_lock);
    pthread_mutex_destroy(&o->lock);
    cameo__loopmap_destroy(&o->loops);
    free(o);
}

static const cameo_origin_ops_t http_ops = {
    .name = "http",
    .get_profiles = http_get_profiles,
    .attach = http_attach,
    .detach = http_detach,
    .status = http_status,
    .destroy = http_destroy,
};

/* With avatar bytes in a bucket. */
static const cameo_origin_ops_t http_s3_ops = {
    .name = "http",
    .get_profiles = http_get_profiles,
    .get_avatar = http_get_avatar,
    .avatar_url = http_avatar_url,
    .attach = http_attach,
    .detach = http_detach,
    .status = http_status,
    .destroy = http_destroy,
};

/* ---- opening ---- */

/* A users or batch URL: http(s), printable, and at most URL_MAX bytes once
 * every "{id}" in it is replaced by an id of CAMEO_ID_MAX bytes. */
static int url_ok(const char *url, int need_id)
{
    size_t n = strlen(url), longest = n;
    for (const char *h = url; (h = strstr(h, "{id}")) != NULL; h += 4)
        longest += CAMEO_ID_MAX - 4;
    if (n == 0 || longest > URL_MAX)
        return 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return 0;
    return !need_id || strstr(url, "{id}") != NULL;
}

int cameo_origin_http_open(const cameo_http_origin_config_t *cfg, cameo_origin_t **out, char *errbuf,
                           size_t errlen)
{
    if (cfg->users_url == NULL || !url_ok(cfg->users_url, 1)) {
        snprintf(errbuf, errlen,
                 "users URL must be http:// or https://, without spaces, contain {id}, and be at most %d "
                 "bytes with each {id} replaced by a %d-byte id",
                 URL_MAX, CAMEO_ID_MAX);
        return CAMEO_EINVAL;
    }
    if (cfg->batch_url != NULL && cfg->batch_url[0] != '\0' && !url_ok(cfg->batch_url, 0)) {
        snprintf(errbuf, errlen, "batch URL must be http:// or https://, at most %d bytes, without spaces",
                 URL_MAX);
        return CAMEO_EINVAL;
    }
    if (cfg->batch_size > BATCH_MAX) {
        snprintf(errbuf, errlen, "batch size must be 1 to %d", BATCH_MAX);
        return CAMEO_EINVAL;
    }
    if (cfg->avatar_field != NULL && cfg->avatar_field[0] != '\0' &&
        (cfg->avatar_field[0] != '/' || strlen(cfg->avatar_field) > POINTER_MAX)) {
        snprintf(errbuf, errlen, "avatar field must be a JSON pointer such as /picture_id (at most %d bytes)",
                 POINTER_MAX);
        return CAMEO_EINVAL;
    }
    int has_field = cfg->avatar_field != NULL && cfg->avatar_field[0] != '\0';
    const char *tmpl = cfg->avatar_key_template != NULL ? cfg->avatar_key_template : DEFAULT_TEMPLATE;
    if (cfg->s3 != NULL && !has_field) {
        snprintf(errbuf, errlen, "avatar objects in a bucket need an avatar field naming them");
        return CAMEO_EINVAL;
    }
    if (strlen(tmpl) > TEMPLATE_MAX || strstr(tmpl, "{value}") == NULL) {
        snprintf(errbuf, errlen, "avatar key template must contain {value} (at most %d bytes)", TEMPLATE_MAX);
        return CAMEO_EINVAL;
    }
    http_origin_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return CAMEO_ENOMEM;
    if (cfg->s3 != NULL) {
        int rc = cameo__s3_new(cfg->s3, &o->s3, errbuf, errlen);
        if (rc == CAMEO_OK && ((o->avmap = calloc(AVMAP_SLOTS, sizeof(*o->avmap))) == NULL ||
                               (o->etags = calloc(ETAG_SLOTS, sizeof(*o->etags))) == NULL))
            rc = CAMEO_ENOMEM;
        if (rc != CAMEO_OK) {
            cameo__s3_free(o->s3);
            free(o->avmap);
            free(o);
            return rc;
        }
    }
    o->super.ops = o->s3 != NULL ? &http_s3_ops : &http_ops;
    o->cfg = *cfg;
#define DEFAULT(f, v)                                                                                        \
    if (o->cfg.f == 0)                                                                                       \
    o->cfg.f = (v)
    DEFAULT(batch_size, 50);
    DEFAULT(concurrency, 16);
    DEFAULT(queue_max, 4096);
    DEFAULT(connect_timeout_ms, 1000);
    DEFAULT(timeout_ms, 3000);
    DEFAULT(backoff_ms, 50);
    DEFAULT(breaker_failures, 5);
    DEFAULT(breaker_open_ms, 5000);
    DEFAULT(max_body, 8u << 20);
#undef DEFAULT
    snprintf(o->users_url, sizeof(o->users_url), "%s", cfg->users_url);
    cameo_log_url(o->users_url, o->users_where, sizeof(o->users_where));
    snprintf(o->batch_url, sizeof(o->batch_url), "%s", cfg->batch_url != NULL ? cfg->batch_url : "");
    snprintf(o->avatar_field, sizeof(o->avatar_field), "%s",
             cfg->avatar_field != NULL ? cfg->avatar_field : "");
    o->cfg.users_url = o->users_url;
    o->cfg.batch_url = o->batch_url;
    o->cfg.avatar_field = o->avatar_field;
    snprintf(o->key_template, sizeof(o->key_template), "%s", tmpl);
    o->cfg.avatar_key_template = o->key_template;
    o->cfg.s3 = NULL; /* copied into o->s3 */
    pthread_mutex_init(&o->lock, NULL);
    cameo__loopmap_init(&o->loops);
    pthread_mutex_init(&o->avmap_lock, NULL);
    *out = &o->super;
    return CAMEO_OK;
}
