/*
 * core_engine.c - the read and write paths: the local tiers, then, inside a
 * flight, the remote tier and the origin; with coalescing of concurrent
 * misses (flights), stale-while-revalidate, refresh-ahead, stale-if-error,
 * negative entries, batch reads, invalidation on writes (and, through the
 * remote tier's bus, on the other instances) and change events. See
 * engine.h.
 *
 * Called by the HTTP routes on worker threads; origin callbacks arrive on
 * origin threads or worker loops and are handed back to the asking worker's
 * loop through cameo_loop_t.post; the remote tier and its bus call back on
 * worker loops. The engine owns the flight table and nothing else: the
 * tiers, the origin and the hub belong to the daemon.
 *
 * Locks. Each flight shard has a mutex guarding its buckets and every field
 * of the flights in it marked "shard lock". Lock order: flight shard, then
 * whatever a local tier takes inside peek/put/remove (the cache's shard
 * lock) or a loop inside post (remote_put). Storing
 * a fill's result and invalidating a key both happen under the key's flight
 * shard lock, so an invalidation is never undone by a fill that started
 * before it.
 */
#include "cameo/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <xxhash.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/resp.h"
#include "core/core_rand.h"

#define TIERS_MAX 4
#define FLIGHT_SHARDS 16
#define FLIGHT_BUCKETS 64

typedef enum { FILL_PROFILE, FILL_BLOB } fill_kind_t;

typedef struct flight {
    struct flight *next; /* bucket chain; shard lock */
    uint64_t hash;
    int detached;          /* shard lock: invalidated while in flight, result not stored */
    cameo_read_t *waiters; /* shard lock */
    fill_kind_t kind;
    uint64_t now;       /* when the fill started: expiry counts from here */
    cameo_loop_t *loop; /* the loop that started it: remote tiers are used from there */
    size_t key_len;
    char key[CAMEO_KEY_MAX];
    char id[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    cameo_entry_t *fallback; /* shard lock: a profile past its grace window, served if the origin fails */
} flight_t;

typedef struct flight_shard {
    pthread_mutex_t lock;
    flight_t *buckets[FLIGHT_BUCKETS];
} flight_shard_t;

struct cameo_engine {
    cameo_engine_config_t cfg;
    cameo_tier_t *tiers[TIERS_MAX]; /* all, in read order */
    size_t ntiers;
    cameo_tier_t *local[TIERS_MAX]; /* the synchronous ones, in read order (memory first) */
    size_t nlocal;
    cameo_tier_t *remote;    /* the remote tier (Redis), read after the local ones; or NULL */
    cameo_bus_handler_t bus; /* given to the remote tier when it is a bus */
    int has_bus;
    atomic_int bus_up; /* the subscription is up: local entries can be trusted for their TTL */
    cameo_origin_t *origin;
    cameo_metrics_t *metrics;
    flight_shard_t shards[FLIGHT_SHARDS];
    pthread_mutex_t idle_lock; /* guards inflight; idle_cond signals it reached 0 */
    pthread_cond_t idle_cond;
    size_t inflight; /* origin calls whose callback has not finished */
};

/* A batch read in progress: one waiter per id that missed every tier. */
typedef struct cameo_batch {
    atomic_size_t pending; /* waiters not yet answered, plus one while starting */
    cameo_read_t *r;
    cameo_entry_t **results;
    int *errs;
    size_t nwaiters;
    cameo_read_t waiters[];
} batch_t;

/* One fill of some flights: a remote tier lookup (when there is one), then
 * one origin call for what it did not have. */
typedef struct fill_call {
    cameo_engine_t *engine;
    fill_kind_t kind;
    cameo_loop_t *loop; /* where the fill started */
    uint64_t now;
    uint64_t started_us; /* of the origin call */
    uint64_t min_expiry; /* refresh-ahead: remote copies expiring no later than this are not newer */
    size_t n;
    flight_t *flights[];
} fill_call_t;

static void on_bus_invalidated(void *arg, const cameo_key_t *keys, size_t n);
static void on_bus_reset(void *arg, int up);
static void on_bus_event(void *arg, const char *data, size_t len);

static void call_begin(cameo_engine_t *e)
{
    pthread_mutex_lock(&e->idle_lock);
    e->inflight++;
    pthread_mutex_unlock(&e->idle_lock);
}

static void call_end(cameo_engine_t *e)
{
    pthread_mutex_lock(&e->idle_lock);
    if (--e->inflight == 0)
        pthread_cond_broadcast(&e->idle_cond);
    pthread_mutex_unlock(&e->idle_lock);
}

int cameo_engine_create(const cameo_engine_config_t *cfg, cameo_tier_t *const *tiers, size_t ntiers,
                        cameo_origin_t *origin, cameo_metrics_t *metrics, cameo_engine_t **out)
{
    if (ntiers == 0 || ntiers > TIERS_MAX || origin == NULL || metrics == NULL)
        return CAMEO_EINVAL;
    cameo_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return CAMEO_ENOMEM;
    e->cfg = *cfg;
    if (e->cfg.ttl_ms == 0)
        e->cfg.ttl_ms = 300 * 1000;
    if (e->cfg.stale_if_error_ms == 0)
        e->cfg.stale_if_error_ms = 24 * 3600 * 1000;
    else if (e->cfg.stale_if_error_ms == CAMEO_STALE_IF_ERROR_OFF)
        e->cfg.stale_if_error_ms = 0;
    if (e->cfg.refresh_ahead_ms == CAMEO_REFRESH_AHEAD_OFF)
        e->cfg.refresh_ahead_ms = 0;
    else if (e->cfg.refresh_ahead_ms == 0)
        e->cfg.refresh_ahead_ms = e->cfg.ttl_ms / 10;
    if (e->cfg.refresh_ahead_ms > e->cfg.ttl_ms / 2)
        e->cfg.refresh_ahead_ms = e->cfg.ttl_ms / 2; /* the first half of a TTL is never refreshed */
    if (e->cfg.negative_ttl_ms == 0)
        e->cfg.negative_ttl_ms = 10 * 1000;
    if (e->cfg.blob_ttl_ms == 0)
        e->cfg.blob_ttl_ms = 24 * 3600 * 1000;
    memcpy(e->tiers, tiers, ntiers * sizeof(*tiers));
    e->ntiers = ntiers;
    for (size_t t = 0; t < ntiers; t++) {
        if (tiers[t]->ops->get != NULL) {
            e->local[e->nlocal++] = tiers[t];
        } else if (tiers[t]->ops->get_async != NULL && e->remote == NULL) {
            e->remote = tiers[t];
        } else {
            free(e);
            return CAMEO_EINVAL; /* at most one remote tier */
        }
    }
    if (e->nlocal == 0 || e->tiers[0] != e->local[0]) {
        free(e);
        return CAMEO_EINVAL; /* a local tier (memory) comes first */
    }
    if (e->cfg.bus_down_ttl_ms == 0)
        e->cfg.bus_down_ttl_ms = 1000;
    if (e->remote != NULL && e->remote->ops->set_bus != NULL) {
        e->bus = (cameo_bus_handler_t){on_bus_invalidated, on_bus_reset, on_bus_event, e};
        e->has_bus = 1;
        e->remote->ops->set_bus(e->remote, &e->bus);
    }
    e->origin = origin;
    e->metrics = metrics;
    for (size_t i = 0; i < FLIGHT_SHARDS; i++)
        pthread_mutex_init(&e->shards[i].lock, NULL);
    pthread_mutex_init(&e->idle_lock, NULL);
    pthread_cond_init(&e->idle_cond, NULL);
    *out = e;
    return CAMEO_OK;
}

void cameo_engine_destroy(cameo_engine_t *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->idle_lock);
    while (e->inflight > 0)
        pthread_cond_wait(&e->idle_cond, &e->idle_lock);
    pthread_mutex_unlock(&e->idle_lock);
    for (size_t i = 0; i < FLIGHT_SHARDS; i++)
        pthread_mutex_destroy(&e->shards[i].lock);
    pthread_mutex_destroy(&e->idle_lock);
    pthread_cond_destroy(&e->idle_cond);
    free(e);
}

size_t cameo_engine_tiers(cameo_engine_t *e, cameo_tier_t *const **out)
{
    *out = e->tiers;
    return e->ntiers;
}

cameo_origin_t *cameo_engine_origin(cameo_engine_t *e)
{
    return e->origin;
}

/* ---- the flight table ---- */

static flight_shard_t *shard_of(cameo_engine_t *e, uint64_t hash)
{
    return &e->shards[hash % FLIGHT_SHARDS];
}

static flight_t **bucket_of(flight_shard_t *s, uint64_t hash)
{
    return &s->buckets[(hash / FLIGHT_SHARDS) % FLIGHT_BUCKETS];
}

/* Finds the flight for key. Caller holds the shard lock. */
static flight_t *flight_find(flight_shard_t *s, uint64_t hash, const char *key, size_t key_len)
{
    for (flight_t *f = *bucket_of(s, hash); f != NULL; f = f->next)
        if (f->hash == hash && f->key_len == key_len && memcmp(f->key, key, key_len) == 0)
            return f;
    return NULL;
}

/* Unlinks f from its bucket. Caller holds the shard lock; f is attached. */
static void flight_unlink(flight_shard_t *s, flight_t *f)
{
    for (flight_t **p = bucket_of(s, f->hash); *p != NULL; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            return;
        }
    }
}

static flight_t *flight_new(fill_kind_t kind, const char *key, size_t key_len, uint64_t hash, const char *id,
                            const char *version, uint64_t now)
{
    flight_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->kind = kind;
    f->hash = hash;
    f->now = now;
    f->key_len = key_len;
    memcpy(f->key, key, key_len);
    snprintf(f->id, sizeof(f->id), "%s", id);
    if (version != NULL)
        snprintf(f->version, sizeof(f->version), "%s", version);
    return f;
}

/* ---- delivering answers to waiters ---- */

static void read_task_run(cameo_task_t *t)
{
    cameo_read_t *r = (cameo_read_t *)((char *)t - offsetof(cameo_read_t, _task));
    r->done(r);
}

static void post_read(cameo_read_t *r)
{
    r->_task.run = read_task_run;
    r->loop->post(r->loop, &r->_task);
}

/* The last waiter of a batch answered: hand the batch's read to its loop. */
static void batch_finish(batch_t *b)
{
    cameo_read_t *r = b->r;
    r->err = CAMEO_OK;
    for (size_t i = 0; i < b->nwaiters; i++) {
        int err = b->errs[b->waiters[i]._slot];
        if (err != CAMEO_OK && err != CAMEO_ENOTFOUND) {
            r->err = err;
            break;
        }
    }
    free(b);
    post_read(r);
}

static void batch_release(batch_t *b)
{
    if (atomic_fetch_sub_explicit(&b->pending, 1, memory_order_acq_rel) == 1)
        batch_finish(b);
}

/* Answers one waiter with err and entry (entry may be NULL; a negative
 * entry answers CAMEO_ENOTFOUND without an entry). Any thread. */
static void deliver(cameo_read_t *w, int err, cameo_entry_t *entry)
{
    if (entry != NULL && (entry->flags & CAMEO_ENTRY_NEGATIVE)) {
        err = CAMEO_ENOTFOUND;
        entry = NULL;
    }
    if (entry != NULL)
        cameo_entry_ref(entry);
    if (w->_batch != NULL) {
        batch_t *b = w->_batch;
        b->results[w->_slot] = entry;
        b->errs[w->_slot] = err;
        batch_release(b);
        return;
    }
    w->err = err;
    w->entry = entry;
    post_read(w);
}

/* Stores an entry in the remote tier from the loop that owns the
 * connection: origin callbacks run on origin threads. */
typedef struct remote_put {
    cameo_task_t task;
    cameo_engine_t *engine;
    cameo_loop_t *loop;
    cameo_entry_t *entry;
} remote_put_t;

static void remote_put_run(cameo_task_t *t)
{
    remote_put_t *p = (remote_put_t *)t;
    p->engine->remote->ops->put_async(p->engine->remote, p->loop, p->entry, p->loop->now_ms(p->loop));
    cameo_entry_unref(p->entry);
    free(p);
}

static void remote_put(cameo_engine_t *e, cameo_loop_t *loop, cameo_entry_t *entry)
{
    remote_put_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return; /* the remote tier just misses this fill */
    p->task.run = remote_put_run;
    p->engine = e;
    p->loop = loop;
    cameo_entry_ref(entry);
    p->entry = entry;
    loop->post(loop, &p->task);
}

/* Ends flight f with err and entry (entry: the fill's reference, or NULL):
 * stores the entry in the local tiers, and in the remote one when it came
 * from the origin (to_remote), unless f was detached; then answers every
 * waiter. Frees f and drops the fill's reference. Any thread. */
static void flight_complete(cameo_engine_t *e, flight_t *f, int err, cameo_entry_t *entry, int to_remote)
{
    flight_shard_t *s = shard_of(e, f->hash);
    pthread_mutex_lock(&s->lock);
    if (!f->detached) {
        flight_unlink(s, f);
        if (entry != NULL) {
            for (size_t t = 0; t < e->nlocal; t++)
                e->local[t]->ops->put(e->local[t], entry, f->now);
            if (to_remote && e->remote != NULL)
                remote_put(e, f->loop, entry);
        }
    }
    cameo_read_t *w = f->waiters;
    f->waiters = NULL;
    cameo_entry_t *fallback = f->fallback;
    f->fallback = NULL;
    /* stale-if-error: the origin failed (not "no such user"), the key was
     * not written meanwhile, and the last known value is still kept. */
    if (err != CAMEO_OK && err != CAMEO_ENOTFOUND && fallback != NULL && !f->detached && w != NULL &&
        f->now < fallback->stale_until) {
        cameo_entry_unref(entry);
        entry = fallback;
        fallback = NULL;
        err = CAMEO_OK;
        cameo_metrics_inc(&e->metrics->stale_served);
        cameo_metrics_inc(&e->metrics->stale_if_error);
    }
    pthread_mutex_unlock(&s->lock);

    while (w != NULL) {
        cameo_read_t *next = w->_next_waiter;
        deliver(w, err, entry);
        w = next;
    }
    cameo_entry_unref(entry);
    cameo_entry_unref(fallback);
    free(f);
}

/* Keeps hit (a stale entry from the remote tier) as f's fallback unless it
 * has one. */
static void flight_set_fallback(cameo_engine_t *e, flight_t *f, cameo_entry_t *hit)
{
    flight_shard_t *s = shard_of(e, f->hash);
    pthread_mutex_lock(&s->lock);
    if (f->fallback == NULL) {
        cameo_entry_ref(hit);
        f->fallback = hit;
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- tier lookups ---- */

static cameo_ttl_t ttl_for(const cameo_engine_t *e, fill_kind_t kind, uint64_t now, int negative)
{
    cameo_ttl_t t = {.now = now};
    if (negative) {
        t.ttl_ms = e->cfg.negative_ttl_ms;
    } else if (kind == FILL_BLOB) {
        t.ttl_ms = e->cfg.blob_ttl_ms;
    } else {
        t.ttl_ms = e->cfg.ttl_ms;
        /* Kept past the grace window for stale-if-error; in_grace() tells
         * the two apart. */
        t.grace_ms = e->cfg.grace_ms > e->cfg.stale_if_error_ms ? e->cfg.grace_ms : e->cfg.stale_if_error_ms;
    }
    return t;
}

/* A profile's entry (positive or negative), not avatar bytes. */
static int is_profile(const cameo_entry_t *entry)
{
    return entry->key_len >= 2 && memcmp(entry->key, "p:", 2) == 0;
}

/* When entry's value was stored, estimated from its expiry and the TTL it
 * was given. */
static uint64_t stored_at(const cameo_engine_t *e, const cameo_entry_t *entry)
{
    uint64_t ttl = (entry->flags & CAMEO_ENTRY_NEGATIVE) ? e->cfg.negative_ttl_ms
                   : is_profile(entry)                   ? e->cfg.ttl_ms
                                                         : e->cfg.blob_ttl_ms;
    return entry->expires_at > ttl ? entry->expires_at - ttl : 0;
}

/* While the bus is down this instance may miss another's invalidations, so
 * a local profile entry is trusted only for bus_down_ttl_ms after it was
 * stored (entries that came from Redis look older than they are, which
 * errs on the safe side). Avatar bytes are immutable and always trusted. */
static int untrusted(const cameo_engine_t *e, const cameo_entry_t *hit, uint64_t now)
{
    if (!e->has_bus || atomic_load_explicit(&e->bus_up, memory_order_relaxed) || !is_profile(hit))
        return 0;
    return now >= stored_at(e, hit) + e->cfg.bus_down_ttl_ms;
}

/* A stale hit that may be served while one refresh runs (within the grace
 * window); else it is kept only as the fallback of stale-if-error. */
static int in_grace(const cameo_engine_t *e, const cameo_entry_t *hit, uint64_t now)
{
    if (!is_profile(hit) || (hit->flags & CAMEO_ENTRY_NEGATIVE))
        return 1; /* only positive profiles are kept longer */
    return now < hit->expires_at + e->cfg.grace_ms;
}

/* Looks key up in the local tiers; a hit in a lower one fills those above.
 * Returns CAMEO_OK or CAMEO_ESTALE with *out, or CAMEO_ENOTFOUND. (The
 * remote tier is read inside a flight: see fill_start.) */
static int tiers_get(cameo_engine_t *e, const char *key, size_t key_len, uint64_t now, cameo_entry_t **out)
{
    for (size_t t = 0; t < e->nlocal; t++) {
        int rc = e->local[t]->ops->get(e->local[t], key, key_len, now, out);
        if ((rc == CAMEO_OK || rc == CAMEO_ESTALE) && untrusted(e, *out, now)) {
            cameo_entry_unref(*out);
            *out = NULL;
            return CAMEO_ENOTFOUND;
        }
        if (rc == CAMEO_OK || rc == CAMEO_ESTALE) {
            for (size_t u = 0; u < t; u++)
                e->local[u]->ops->put(e->local[u], *out, now);
            return rc;
        }
    }
    return CAMEO_ENOTFOUND;
}

/* ---- origin calls ---- */

static fill_call_t *call_new(cameo_engine_t *e, fill_kind_t kind, cameo_loop_t *loop, uint64_t now, size_t n)
{
    fill_call_t *c = calloc(1, sizeof(*c) + n * sizeof(flight_t *));
    if (c != NULL) {
        c->engine = e;
        c->kind = kind;
        c->loop = loop;
        c->now = now;
    }
    return c;
}

static int cmp_flight_id(const void *a, const void *b)
{
    return strcmp((*(flight_t *const *)a)->id, (*(flight_t *const *)b)->id);
}

static void on_profiles(void *arg, int err, const cameo_profile_rec_t *recs, size_t n)
{
    fill_call_t *c = arg;
    cameo_engine_t *e = c->engine;
    cameo_metrics_origin(e->metrics, CAMEO_OP_GET_PROFILES, err, cameo_now_us() - c->started_us);

    if (err != CAMEO_OK) {
        for (size_t i = 0; i < c->n; i++)
            flight_complete(e, c->flights[i], err, NULL, 0);
        goto done;
    }
    /* Match records to flights by id first (sort once, then search), and
     * only then complete: completing frees a flight. */
    qsort(c->flights, c->n, sizeof(c->flights[0]), cmp_flight_id);
    const cameo_profile_rec_t **match = calloc(c->n, sizeof(*match));
    if (match == NULL) {
        for (size_t i = 0; i < c->n; i++)
            flight_complete(e, c->flights[i], CAMEO_ENOMEM, NULL, 0);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        flight_t key, *kp = &key;
        snprintf(key.id, sizeof(key.id), "%s", recs[i].id);
        flight_t **slot = bsearch(&kp, c->flights, c->n, sizeof(c->flights[0]), cmp_flight_id);
        if (slot != NULL)
            match[slot - c->flights] = &recs[i];
    }
    for (size_t i = 0; i < c->n; i++) {
        flight_t *f = c->flights[i];
        cameo_entry_t *entry = NULL;
        int rc;
        if (match[i] != NULL && match[i]->err != CAMEO_OK) {
            flight_complete(e, f, match[i]->err, NULL, 0); /* not cached: the next read asks again */
            continue;
        } else if (match[i] != NULL) {
            cameo_ttl_t ttl = ttl_for(e, FILL_PROFILE, f->now, 0);
            rc = cameo_resp_profile(match[i], &ttl, &entry);
        } else {
            cameo_ttl_t ttl = ttl_for(e, FILL_PROFILE, f->now, 1);
            rc = cameo_resp_missing(f->key, f->key_len, &ttl, &entry);
        }
        flight_complete(e, f, rc, rc == CAMEO_OK ? entry : NULL, 1);
    }
    free(match);
done:
    free(c);
    call_end(e);
}

static void on_blob(void *arg, int err, const cameo_blob_t *blob)
{
    fill_call_t *c = arg;
    cameo_engine_t *e = c->engine;
    flight_t *f = c->flights[0];
    cameo_metrics_origin(e->metrics, CAMEO_OP_GET_AVATAR, err, cameo_now_us() - c->started_us);

    cameo_entry_t *entry = NULL;
    int rc = err;
    if (err == CAMEO_OK) {
        cameo_ttl_t ttl = ttl_for(e, FILL_BLOB, f->now, 0);
        rc = cameo_resp_blob(f->id, blob, &ttl, &entry);
    } else if (err == CAMEO_ENOTFOUND) {
        cameo_ttl_t ttl = ttl_for(e, FILL_BLOB, f->now, 1);
        rc = cameo_resp_missing(f->key, f->key_len, &ttl, &entry);
    }
    flight_complete(e, f, rc, rc == CAMEO_OK ? entry : NULL, 1);
    free(c);
    call_end(e);
}

/* Starts the origin call that fills c->flights (already in the table; the
 * fill was counted by call_begin). On failure the flights are completed
 * with the error. */
static void origin_start(cameo_engine_t *e, fill_call_t *c)
{
    int rc;
    fill_kind_t kind = c->kind;
    c->started_us = cameo_now_us();
    if (kind == FILL_BLOB && e->origin->ops->get_avatar == NULL) {
        rc = CAMEO_ENOTFOUND; /* an origin without avatars has none of them */
    } else if (kind == FILL_BLOB) {
        rc = e->origin->ops->get_avatar(e->origin, c->loop, c->flights[0]->id, c->flights[0]->version,
                                        on_blob, c);
    } else {
        const char *ids_small[16];
        const char **ids = c->n <= 16 ? ids_small : malloc(c->n * sizeof(*ids));
        if (ids == NULL) {
            rc = CAMEO_ENOMEM;
        } else {
            for (size_t i = 0; i < c->n; i++)
                ids[i] = c->flights[i]->id;
            rc = e->origin->ops->get_profiles(e->origin, c->loop, ids, c->n, on_profiles, c);
            if (ids != ids_small)
                free(ids);
        }
    }
    if (rc != CAMEO_OK) {
        cameo_metrics_origin(e->metrics, kind == FILL_BLOB ? CAMEO_OP_GET_AVATAR : CAMEO_OP_GET_PROFILES, rc,
                             0);
        for (size_t i = 0; i < c->n; i++)
            flight_complete(e, c->flights[i], rc, NULL, 0);
        free(c);
        call_end(e);
    }
}

/* The remote tier's answer, on the loop that asked: fresh entries end their
 * flights; the rest go to the origin in one call. */
static void on_remote(void *arg, int err, cameo_entry_t *const *entries, size_t n)
{
    fill_call_t *c = arg;
    cameo_engine_t *e = c->engine;
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        cameo_entry_t *hit = err == CAMEO_OK && i < n ? entries[i] : NULL;
        if (hit != NULL && c->now < hit->expires_at && hit->expires_at > c->min_expiry) {
            cameo_entry_ref(hit);
            flight_complete(e, c->flights[i], CAMEO_OK, hit, 0);
        } else {
            if (hit != NULL && c->now < hit->stale_until && !(hit->flags & CAMEO_ENTRY_NEGATIVE))
                flight_set_fallback(e, c->flights[i], hit);
            c->flights[kept++] = c->flights[i];
        }
    }
    c->n = kept;
    if (kept > 0) {
        origin_start(e, c);
    } else {
        free(c);
        call_end(e);
    }
}

/* Fills c's flights: the remote tier first when there is one (it answers
 * on c->loop), then the origin for the rest. Runs on c->loop's thread. */
static void fill_start(cameo_engine_t *e, fill_call_t *c)
{
    call_begin(e);
    if (e->remote != NULL) {
        cameo_key_t small[16], *keys = c->n <= 16 ? small : malloc(c->n * sizeof(*keys));
        if (keys != NULL) {
            for (size_t i = 0; i < c->n; i++)
                keys[i] = (cameo_key_t){c->flights[i]->key, c->flights[i]->key_len};
            int rc = e->remote->ops->get_async(e->remote, c->loop, keys, c->n, c->now, on_remote, c);
            if (keys != small)
                free(keys);
            if (rc == CAMEO_OK)
                return;
        }
        /* Not connected (or out of memory): straight to the origin. */
    }
    origin_start(e, c);
}

/*
 * Joins the flight for key, or starts one. w (may be NULL for a background
 * refresh) becomes a waiter. Returns the new flight when the caller must
 * start its origin call, NULL when it joined one, or when a fill finished
 * since the caller's miss: then *hit holds that fresh entry (a reference)
 * and w is not queued. *err is CAMEO_ENOMEM when a flight could not be made.
 */
static flight_t *flight_join(cameo_engine_t *e, fill_kind_t kind, const char *key, size_t key_len,
                             const char *id, const char *version, uint64_t now, cameo_loop_t *loop,
                             cameo_read_t *w, cameo_entry_t *fallback, cameo_entry_t **hit, int *err)
{
    uint64_t hash = XXH3_64bits(key, key_len);
    flight_shard_t *s = shard_of(e, hash);
    cameo_tier_t *first = e->tiers[0];
    *err = CAMEO_OK;
    *hit = NULL;
    pthread_mutex_lock(&s->lock);
    flight_t *f = flight_find(s, hash, key, key_len);
    if (f != NULL) {
        if (fallback != NULL && f->fallback == NULL) {
            cameo_entry_ref(fallback);
            f->fallback = fallback;
        }
        if (w != NULL) {
            w->_next_waiter = f->waiters;
            f->waiters = w;
            cameo_metrics_inc(&e->metrics->coalesced);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    /* A fill stores its entry before it leaves the table, both under this
     * lock: a second look here sees any fill that ended after our miss. */
    if (w != NULL && first->ops->peek != NULL &&
        first->ops->peek(first, key, key_len, now, hit) == CAMEO_OK) {
        if (!untrusted(e, *hit, now)) {
            cameo_metrics_inc(&e->metrics->coalesced);
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        cameo_entry_unref(*hit);
        *hit = NULL;
    }
    f = flight_new(kind, key, key_len, hash, id, version, now);
    if (f == NULL) {
        pthread_mutex_unlock(&s->lock);
        *err = CAMEO_ENOMEM;
        return NULL;
    }
    f->loop = loop;
    if (fallback != NULL) {
        cameo_entry_ref(fallback);
        f->fallback = fallback;
    }
    if (w != NULL) {
        w->_next_waiter = NULL;
        f->waiters = w;
    }
    flight_t **b = bucket_of(s, hash);
    f->next = *b;
    *b = f;
    pthread_mutex_unlock(&s->lock);
    return f;
}

/* Starts the fill of new flight f alone, from the loop that made it. */
static void fill_start_one(cameo_engine_t *e, flight_t *f)
{
    fill_call_t *c = call_new(e, f->kind, f->loop, f->now, 1);
    if (c == NULL) {
        flight_complete(e, f, CAMEO_ENOMEM, NULL, 0); /* its waiters get their answer */
        return;
    }
    c->flights[0] = f;
    c->n = 1;
    fill_start(e, c);
}

/* A read's fill of one key: joins or starts its flight, w its waiter. */
static int fill_one(cameo_engine_t *e, fill_kind_t kind, const char *key, size_t key_len, const char *id,
                    const char *version, uint64_t now, cameo_read_t *w, cameo_entry_t *fallback)
{
    int err;
    cameo_entry_t *hit;
    flight_t *f = flight_join(e, kind, key, key_len, id, version, now, w->loop, w, fallback, &hit, &err);
    if (hit != NULL) {
        deliver(w, CAMEO_OK, hit);
        cameo_entry_unref(hit);
        return CAMEO_OK;
    }
    if (f == NULL)
        return err;
    fill_start_one(e, f);
    return CAMEO_OK;
}

/* A background refresh of one key served stale: no waiter. */
static void refresh(cameo_engine_t *e, fill_kind_t kind, const char *key, size_t key_len, const char *id,
                    const char *version, uint64_t now, cameo_loop_t *loop)
{
    cameo_metrics_inc(&e->metrics->stale_served);
    int err;
    cameo_entry_t *hit;
    flight_t *f = flight_join(e, kind, key, key_len, id, version, now, loop, NULL, NULL, &hit, &err);
    if (f == NULL)
        return; /* one is running already */
    cameo_metrics_inc(&e->metrics->refreshes);
    fill_start_one(e, f);
}

/*
 * Refresh-ahead (XFetch, Vattani et al., VLDB 2015): in the last
 * refresh_ahead_ms of a fresh profile's TTL, each read starts a background
 * refresh with probability exp(-3 * left / window): a key read often is
 * refreshed early almost surely, one read rarely almost never, and a
 * refresh is coalesced like any fill. Returns 1 when this read should.
 */
static _Thread_local uint64_t ra_rng;

static int refresh_due(const cameo_engine_t *e, const cameo_entry_t *hit, uint64_t now)
{
    uint64_t w = e->cfg.refresh_ahead_ms;
    if (w == 0 || (hit->flags & CAMEO_ENTRY_NEGATIVE) || now + w <= hit->expires_at ||
        now >= hit->expires_at || !is_profile(hit))
        return 0;
    if (ra_rng == 0)
        ra_rng = cameo__rand_seed(&ra_rng);
    double u = (double)(cameo__rand_next(&ra_rng) >> 11) / 9007199254740992.0; /* [0, 1) */
    return u < exp(-3.0 * (double)(hit->expires_at - now) / (double)w);
}

/* Starts the refresh-ahead flight of key, unless a fill of it runs already,
 * into *ra (made on first use, room for cap flights); the caller starts it.
 * Hits that find a fill running allocate nothing. */
static void refresh_ahead_add(cameo_engine_t *e, fill_call_t **ra, size_t cap, const char *key,
                              size_t key_len, const char *id, const cameo_entry_t *hit, uint64_t now,
                              cameo_loop_t *loop)
{
    int err;
    cameo_entry_t *peek;
    flight_t *f = flight_join(e, FILL_PROFILE, key, key_len, id, NULL, now, loop, NULL, NULL, &peek, &err);
    if (f == NULL)
        return; /* a fill is running already */
    if (*ra == NULL && (*ra = call_new(e, FILL_PROFILE, loop, now, cap)) == NULL) {
        flight_complete(e, f, CAMEO_ENOMEM, NULL, 0); /* as fill_start_one */
        return;
    }
    cameo_metrics_inc(&e->metrics->refreshes_ahead);
    if ((*ra)->min_expiry < hit->expires_at)
        (*ra)->min_expiry = hit->expires_at;
    (*ra)->flights[(*ra)->n++] = f;
}

static void refresh_ahead_start(cameo_engine_t *e, fill_call_t *ra)
{
    if (ra == NULL)
        return;
    if (ra->n == 0) {
        free(ra);
        return;
    }
    fill_start(e, ra); /* one remote lookup, then one origin call for all */
}

/*
 * A read's look at the local tiers, for one key. Returns CAMEO_OK with *hit
 * to serve (a reference): fresh, or stale in its grace window, which starts
 * a background refresh; a fresh one due for refresh-ahead joins *ra (made
 * on first use, room for cap flights; the caller starts it).
 * CAMEO_ENOTFOUND on a cached negative entry (*hit NULL). CAMEO_EPENDING on
 * a miss: *hit is then NULL, or a profile past its grace window (a
 * reference), the fallback of stale-if-error.
 */
static int read_local(cameo_engine_t *e, fill_kind_t kind, const char *key, size_t key_len, const char *id,
                      const char *version, uint64_t now, cameo_loop_t *loop, fill_call_t **ra, size_t cap,
                      cameo_entry_t **hit)
{
    *hit = NULL;
    int rc = tiers_get(e, key, key_len, now, hit);
    if (rc == CAMEO_ENOTFOUND || (rc == CAMEO_ESTALE && !in_grace(e, *hit, now)))
        return CAMEO_EPENDING;
    if ((*hit)->flags & CAMEO_ENTRY_NEGATIVE) {
        cameo_entry_unref(*hit);
        *hit = NULL;
        return CAMEO_ENOTFOUND;
    }
    if (rc == CAMEO_ESTALE)
        refresh(e, kind, key, key_len, id, version, now, loop);
    else if (refresh_due(e, *hit, now))
        refresh_ahead_add(e, ra, cap, key, key_len, id, *hit, now, loop);
    return CAMEO_OK;
}

/* The read path of one key: tiers, then a flight. */
static int get_one(cameo_engine_t *e, fill_kind_t kind, const char *key, size_t key_len, const char *id,
                   const char *version, uint64_t now, cameo_read_t *r, cameo_entry_t **out)
{
    fill_call_t *ra = NULL;
    cameo_entry_t *hit;
    int rc = read_local(e, kind, key, key_len, id, version, now, r->loop, &ra, 1, &hit);
    refresh_ahead_start(e, ra);
    if (rc == CAMEO_OK)
        *out = hit;
    if (rc != CAMEO_EPENDING)
        return rc;
    r->_batch = NULL;
    r->entry = NULL;
    rc = fill_one(e, kind, key, key_len, id, version, now, r, hit);
    cameo_entry_unref(hit);
    return rc == CAMEO_OK ? CAMEO_EPENDING : rc;
}

int cameo_engine_get_profile(cameo_engine_t *e, const char *id, uint64_t now, cameo_read_t *r,
                             cameo_entry_t **out)
{
    char key[CAMEO_KEY_MAX];
    size_t key_len = cameo_key_profile(key, id);
    return get_one(e, FILL_PROFILE, key, key_len, id, NULL, now, r, out);
}

int cameo_engine_get_blob(cameo_engine_t *e, const char *id, const char *version, uint64_t now,
                          cameo_read_t *r, cameo_entry_t **out)
{
    char key[CAMEO_KEY_MAX];
    size_t key_len = cameo_key_blob(key, id, version);
    return get_one(e, FILL_BLOB, key, key_len, id, version, now, r, out);
}

int cameo_engine_get_profiles(cameo_engine_t *e, const char *const *ids, size_t n, uint64_t now,
                              cameo_entry_t **results, int *errs, cameo_read_t *r)
{
    char key[CAMEO_KEY_MAX];
    size_t nmiss = 0;
    fill_call_t *ra = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t key_len = cameo_key_profile(key, ids[i]);
        /* A miss keeps its fallback (or NULL) in results[i] until the second
         * pass; due refresh-ahead ids gather in ra, one call for all. */
        errs[i] = read_local(e, FILL_PROFILE, key, key_len, ids[i], NULL, now, r->loop, &ra, n, &results[i]);
        if (errs[i] == CAMEO_EPENDING)
            nmiss++;
    }
    refresh_ahead_start(e, ra);
    if (nmiss == 0)
        return CAMEO_OK;

    batch_t *b = calloc(1, sizeof(*b) + nmiss * sizeof(cameo_read_t));
    fill_call_t *c = call_new(e, FILL_PROFILE, r->loop, now, nmiss);
    if (b == NULL || c == NULL) {
        free(b);
        free(c);
        for (size_t i = 0; i < n; i++) {
            cameo_entry_unref(results[i]);
            results[i] = NULL;
        }
        return CAMEO_ENOMEM;
    }
    b->r = r;
    b->results = results;
    b->errs = errs;
    b->nwaiters = nmiss;
    atomic_init(&b->pending, nmiss + 1); /* +1: held while the waiters are being set up */

    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i] != CAMEO_EPENDING)
            continue;
        cameo_read_t *w = &b->waiters[j++];
        w->_batch = b;
        w->_slot = i;
        size_t key_len = cameo_key_profile(key, ids[i]);
        int err;
        cameo_entry_t *hit, *fallback = results[i];
        results[i] = NULL;
        flight_t *f =
            flight_join(e, FILL_PROFILE, key, key_len, ids[i], NULL, now, r->loop, w, fallback, &hit, &err);
        cameo_entry_unref(fallback);
        if (f != NULL)
            c->flights[c->n++] = f;
        else if (hit != NULL || err != CAMEO_OK)
            deliver(w, err, hit);
        cameo_entry_unref(hit);
    }
    if (c->n > 0) {
        fill_start(e, c); /* one remote lookup, then one origin call, for every new flight */
    } else {
        free(c);
    }
    batch_release(b);
    return CAMEO_EPENDING;
}

/* ---- writes and invalidation ---- */

enum { WRITE_PUT_PROFILE, WRITE_DELETE_PROFILE, WRITE_PUT_AVATAR, WRITE_DELETE_AVATAR };

/* The change event of each write, and every type an event may have. */
static const char *const event_types[] = {"profile.updated", "profile.deleted", "avatar.updated",
                                          "avatar.deleted"};

/* Drops key from the local tiers and detaches any fill of it in flight. */
static void invalidate_key(cameo_engine_t *e, const char *key, size_t key_len)
{
    uint64_t hash = XXH3_64bits(key, key_len);
    flight_shard_t *s = shard_of(e, hash);
    pthread_mutex_lock(&s->lock);
    flight_t *f = flight_find(s, hash, key, key_len);
    if (f != NULL) {
        flight_unlink(s, f);
        f->detached = 1;
    }
    for (size_t t = 0; t < e->nlocal; t++)
        e->local[t]->ops->remove(e->local[t], key, key_len);
    pthread_mutex_unlock(&s->lock);
}

void cameo_engine_invalidate(cameo_engine_t *e, const char *id)
{
    char key[CAMEO_KEY_MAX];
    invalidate_key(e, key, cameo_key_profile(key, id));
}

/* The bus: another instance (or this one) removed keys. */
static void on_bus_invalidated(void *arg, const cameo_key_t *keys, size_t n)
{
    cameo_engine_t *e = arg;
    for (size_t i = 0; i < n; i++)
        if (keys[i].len > 0 && keys[i].len < CAMEO_KEY_MAX)
            invalidate_key(e, keys[i].p, keys[i].len);
    atomic_fetch_add_explicit(&e->metrics->bus_events, 1, memory_order_relaxed);
}

/* The bus: another instance's change event, into this instance's hub. */
static void on_bus_event(void *arg, const char *data, size_t len)
{
    cameo_engine_t *e = arg;
    if (e->cfg.hub == NULL)
        return;
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *user = json_string_value(json_object_get(j, "user"));
    const char *version = json_string_value(json_object_get(j, "version"));
    json_t *at = json_object_get(j, "at");
    int known = 0;
    for (size_t i = 0; type != NULL && i < sizeof(event_types) / sizeof(event_types[0]); i++)
        known |= strcmp(type, event_types[i]) == 0;
    cameo_event_t ev;
    memset(&ev, 0, sizeof(ev));
    /* Every field is checked here, where foreign events enter: past this
     * point an event's strings go into SSE lines and JSON unescaped. */
    if (known && id != NULL && strlen(id) < sizeof(ev.id) && cameo_id_valid(id, strlen(id)) && user != NULL &&
        cameo_id_valid(user, strlen(user)) &&
        (version == NULL || cameo_version_valid(version, strlen(version))) && json_is_integer(at)) {
        snprintf(ev.type, sizeof(ev.type), "%s", type);
        snprintf(ev.id, sizeof(ev.id), "%s", id);
        snprintf(ev.user, sizeof(ev.user), "%s", user);
        if (version != NULL)
            snprintf(ev.version, sizeof(ev.version), "%s", version);
        ev.at_ms = (uint64_t)json_integer_value(at);
        cameo_hub_publish(e->cfg.hub, &ev);
    } else {
        cameo_log(CAMEO_LOG_WARN, "bus_event_malformed", "bytes=%zu", len);
    }
    json_decref(j);
}

/* The bus came up (again) or went away. Coming up, events may have been
 * missed: every profile in the local tiers is dropped (avatar bytes are
 * immutable and stay). */
static void on_bus_reset(void *arg, int up)
{
    cameo_engine_t *e = arg;
    size_t dropped = 0;
    if (up)
        for (size_t t = 0; t < e->nlocal; t++)
            if (e->local[t]->ops->remove_prefix != NULL)
                dropped += e->local[t]->ops->remove_prefix(e->local[t], "p:", 2);
    atomic_store(&e->bus_up, up);
    atomic_fetch_add_explicit(&e->metrics->bus_resets, 1, memory_order_relaxed);
    if (up && e->cfg.hub != NULL)
        cameo_hub_gap(e->cfg.hub); /* event streams: other instances' changes may have been missed */
    if (up)
        cameo_log(CAMEO_LOG_INFO, "bus_up", "profiles_dropped=%zu", dropped);
    else
        cameo_log(CAMEO_LOG_WARN, "bus_down", "profile_ttl_capped_ms=%llu",
                  (unsigned long long)e->cfg.bus_down_ttl_ms);
}

static const cameo_op_t write_ops[] = {CAMEO_OP_PUT_PROFILE, CAMEO_OP_DELETE_PROFILE, CAMEO_OP_PUT_AVATAR,
                                       CAMEO_OP_DELETE_AVATAR};

static void write_task_run(cameo_task_t *t)
{
    cameo_write_t *w = (cameo_write_t *)((char *)t - offsetof(cameo_write_t, _task));
    w->done(w);
}

/* Makes a change event of this instance and publishes it to hub; with json
 * (CAMEO_EVENT_DATA_MAX bytes) also writes its JSON there, for the bus, and
 * returns the JSON's length (else 0). */
static size_t event_publish(cameo_hub_t *hub, const char *type, const char *user, const char *version,
                            uint64_t at_ms, char *json)
{
    cameo_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.type, sizeof(ev.type), "%s", type);
    snprintf(ev.user, sizeof(ev.user), "%s", user);
    if (version != NULL)
        snprintf(ev.version, sizeof(ev.version), "%s", version);
    ev.at_ms = at_ms;
    cameo_hub_new_id(hub, &ev);
    cameo_hub_publish(hub, &ev);
    return json != NULL ? cameo_event_json(&ev, json, CAMEO_EVENT_DATA_MAX) : 0;
}

/* The change event of a committed write: to this instance's hub at once,
 * and (its JSON kept in w) to the other instances after the removal. */
static void publish_event(cameo_engine_t *e, cameo_write_t *w, int op, const char *id,
                          const cameo_profile_rec_t *rec)
{
    if (e->cfg.hub == NULL)
        return;
    const char *version = op == WRITE_PUT_AVATAR && rec != NULL ? rec->avatar_version : NULL;
    uint64_t at = rec != NULL && rec->updated_at != 0 ? rec->updated_at : cameo_wall_ms();
    w->_event_len = event_publish(e->cfg.hub, event_types[op], id, version, at, w->_event);
}

static void on_remote_removed(void *arg, int err)
{
    (void)err; /* counted by the tier; the local tiers are already clean */
    cameo_write_t *w = arg;
    w->done(w);
}

/* On the writer's loop: drop the key from the remote tier, then answer. */
static void write_remote_run(cameo_task_t *t)
{
    cameo_write_t *w = (cameo_write_t *)((char *)t - offsetof(cameo_write_t, _task));
    cameo_engine_t *e = w->_engine;
    char key[CAMEO_KEY_MAX];
    cameo_key_t k = {key, cameo_key_profile(key, w->_id)};
    if (e->has_bus)
        cameo_metrics_inc(&e->metrics->bus_sent);
    int rc = e->remote->ops->remove_async(e->remote, w->loop, &k, 1, on_remote_removed, w);
    /* Same connection, after the removal: others invalidate, then announce. */
    if (e->has_bus && w->_event_len > 0 && e->remote->ops->publish_event != NULL)
        e->remote->ops->publish_event(e->remote, w->loop, w->_event, w->_event_len);
    if (rc != CAMEO_OK)
        w->done(w); /* Redis is away: the tier keeps the delete and retries it */
}

/* Origin callback of every write: drop the user's entries from the local
 * tiers (and the remote one, from the writer's loop), then answer on the
 * writer's loop with the stored profile (not cached: two writes' callbacks
 * may run in either order, so only a read fills). */
static void on_write(void *arg, int err, const cameo_profile_rec_t *rec, int created)
{
    cameo_write_t *w = arg;
    cameo_engine_t *e = w->_engine;
    cameo_metrics_origin(e->metrics, write_ops[w->_op], err, cameo_now_us() - w->_now);
    if (err == CAMEO_OK) {
        cameo_engine_invalidate(e, w->_id);
        publish_event(e, w, w->_op, w->_id, rec);
    }
    w->err = err;
    w->created = created;
    w->entry = NULL;
    if (err == CAMEO_OK && rec != NULL) {
        cameo_ttl_t ttl = ttl_for(e, FILL_PROFILE, 0, 0);
        if (cameo_resp_profile(rec, &ttl, &w->entry) != CAMEO_OK)
            w->entry = NULL;
    }
    w->_task.run = err == CAMEO_OK && e->remote != NULL ? write_remote_run : write_task_run;
    w->loop->post(w->loop, &w->_task);
    call_end(e);
}

static void write_init(cameo_engine_t *e, cameo_write_t *w, const char *id, int op)
{
    w->_engine = e;
    w->_op = op;
    w->_now = cameo_now_us(); /* for the origin latency metric only */
    w->_event_len = 0;        /* no event until publish_event makes one */
    snprintf(w->_id, sizeof(w->_id), "%s", id);
    call_begin(e);
}

static int write_started(cameo_engine_t *e, cameo_write_t *w, int rc)
{
    if (rc == CAMEO_ENOTSUP) {
        call_end(e); /* the origin is read-only: nothing was asked of it */
        return rc;
    }
    if (rc != CAMEO_OK) {
        cameo_metrics_origin(e->metrics, write_ops[w->_op], rc, 0);
        call_end(e);
    }
    return rc;
}

int cameo_engine_put_profile(cameo_engine_t *e, const char *id, const char *doc, size_t len,
                             uint64_t now_wall, cameo_write_t *w)
{
    write_init(e, w, id, WRITE_PUT_PROFILE);
    return write_started(
        e, w,
        e->origin->ops->put_profile == NULL
            ? CAMEO_ENOTSUP
            : e->origin->ops->put_profile(e->origin, w->loop, id, doc, len, now_wall, on_write, w));
}

int cameo_engine_delete_profile(cameo_engine_t *e, const char *id, uint64_t now_wall, cameo_write_t *w)
{
    write_init(e, w, id, WRITE_DELETE_PROFILE);
    return write_started(e, w,
                         e->origin->ops->delete_profile == NULL
                             ? CAMEO_ENOTSUP
                             : e->origin->ops->delete_profile(e->origin, w->loop, id, now_wall, on_write, w));
}

int cameo_engine_put_avatar(cameo_engine_t *e, const char *id, const cameo_blob_t *blob, uint64_t now_wall,
                            cameo_write_t *w)
{
    write_init(e, w, id, WRITE_PUT_AVATAR);
    return write_started(
        e, w,
        e->origin->ops->put_avatar == NULL
            ? CAMEO_ENOTSUP
            : e->origin->ops->put_avatar(e->origin, w->loop, id, blob, now_wall, on_write, w));
}

int cameo_engine_delete_avatar(cameo_engine_t *e, const char *id, uint64_t now_wall, cameo_write_t *w)
{
    write_init(e, w, id, WRITE_DELETE_AVATAR);
    return write_started(e, w,
                         e->origin->ops->delete_avatar == NULL
                             ? CAMEO_ENOTSUP
                             : e->origin->ops->delete_avatar(e->origin, w->loop, id, now_wall, on_write, w));
}

/* The change events of an invalidation, one "profile.updated" per id (the
 * profile may have changed at the origin), as for a write: to this
 * instance's hub, and with bus to the other instances. */
static void announce_invalidated(cameo_engine_t *e, cameo_loop_t *loop, const char *const *ids, size_t n,
                                 int bus)
{
    if (e->cfg.hub == NULL)
        return;
    bus = bus && e->has_bus && e->remote->ops->publish_event != NULL;
    uint64_t at = cameo_wall_ms();
    for (size_t i = 0; i < n; i++) {
        char json[CAMEO_EVENT_DATA_MAX];
        size_t len = event_publish(e->cfg.hub, "profile.updated", ids[i], NULL, at, bus ? json : NULL);
        if (len > 0)
            e->remote->ops->publish_event(e->remote, loop, json, len);
    }
}

static void on_invalidated(void *arg, int err)
{
    (void)err; /* counted by the tier */
    cameo_write_t *w = arg;
    w->err = CAMEO_OK;
    w->done(w);
}

int cameo_engine_invalidate_ids(cameo_engine_t *e, const char *const *ids, size_t n, cameo_write_t *w)
{
    for (size_t i = 0; i < n; i++)
        cameo_engine_invalidate(e, ids[i]);
    if (e->remote == NULL || n == 0) {
        announce_invalidated(e, w->loop, ids, n, 0);
        return CAMEO_OK;
    }
    char *buf = malloc(n * CAMEO_KEY_MAX);
    cameo_key_t *keys = malloc(n * sizeof(*keys));
    int rc = CAMEO_ENOMEM;
    if (buf != NULL && keys != NULL) {
        for (size_t i = 0; i < n; i++) {
            char *k = buf + i * CAMEO_KEY_MAX;
            keys[i] = (cameo_key_t){k, cameo_key_profile(k, ids[i])};
        }
        w->_engine = e;
        rc = e->remote->ops->remove_async(e->remote, w->loop, keys, n, on_invalidated, w);
        if (rc == CAMEO_OK && e->has_bus)
            cameo_metrics_inc(&e->metrics->bus_sent);
    }
    /* Same connection, after the removal: others invalidate, then announce. */
    announce_invalidated(e, w->loop, ids, n, rc == CAMEO_OK);
    free(buf);
    free(keys);
    return rc == CAMEO_OK ? CAMEO_EPENDING : CAMEO_OK;
}

/* ---- listing: a passthrough to the origin, answered on the asking loop ---- */

static void list_task_run(cameo_task_t *t)
{
    cameo_list_t *l = (cameo_list_t *)(void *)((char *)t - offsetof(cameo_list_t, _task));
    l->done(l);
}

static void on_list(void *arg, int err, const char *const *ids, size_t n)
{
    cameo_list_t *l = arg;
    cameo_engine_t *e = l->_engine;
    cameo_metrics_origin(e->metrics, CAMEO_OP_LIST_IDS, err, cameo_now_us() - l->_started_us);
    l->ids = NULL;
    l->n = 0;
    l->err = err;
    if (err == CAMEO_OK) {
        size_t bytes = (n + 1) * sizeof(char *);
        for (size_t i = 0; i < n; i++)
            bytes += strlen(ids[i]) + 1;
        char **out = malloc(bytes);
        if (out == NULL) {
            l->err = CAMEO_ENOMEM;
        } else {
            char *p = (char *)(out + n + 1);
            for (size_t i = 0; i < n; i++) {
                size_t len = strlen(ids[i]) + 1;
                memcpy(p, ids[i], len);
                out[i] = p;
                p += len;
            }
            out[n] = NULL;
            l->ids = (const char **)out;
            l->n = n;
        }
    }
    l->_task.run = list_task_run;
    l->loop->post(l->loop, &l->_task);
    call_end(e);
}

int cameo_engine_list_ids(cameo_engine_t *e, const char *after, size_t limit, cameo_list_t *l)
{
    if (e->origin->ops->list_ids == NULL)
        return CAMEO_ENOTSUP;
    l->_engine = e;
    l->_started_us = cameo_now_us();
    call_begin(e);
    int rc = e->origin->ops->list_ids(e->origin, l->loop, after, limit, on_list, l);
    if (rc != CAMEO_OK) {
        cameo_metrics_origin(e->metrics, CAMEO_OP_LIST_IDS, rc, 0);
        call_end(e);
    }
    return rc;
}

int cameo_engine_attach(cameo_engine_t *e, cameo_loop_t *loop, char *errbuf, size_t errlen)
{
    int rc = CAMEO_OK;
    if (e->remote != NULL && e->remote->ops->attach != NULL &&
        (rc = e->remote->ops->attach(e->remote, loop)) != CAMEO_OK) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "the %s tier cannot attach: %s", e->remote->ops->name,
                     cameo_strerror(rc));
        return rc;
    }
    if (e->origin->ops->attach != NULL && (rc = e->origin->ops->attach(e->origin, loop)) != CAMEO_OK) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "the %s origin cannot attach: %s", e->origin->ops->name,
                     cameo_strerror(rc));
        /* Nothing stays attached to a loop that will not run. */
        if (e->remote != NULL && e->remote->ops->detach != NULL)
            e->remote->ops->detach(e->remote, loop);
        return rc;
    }
    return CAMEO_OK;
}

void cameo_engine_detach(cameo_engine_t *e, cameo_loop_t *loop)
{
    if (e->origin->ops->detach != NULL)
        e->origin->ops->detach(e->origin, loop);
    if (e->remote != NULL && e->remote->ops->detach != NULL)
        e->remote->ops->detach(e->remote, loop);
}

uint64_t cameo_engine_age_s(const cameo_engine_t *e, const cameo_entry_t *entry, uint64_t now)
{
    if (now < entry->expires_at)
        return 0;
    return (now - stored_at(e, entry)) / 1000;
}

int cameo_engine_idle(cameo_engine_t *e)
{
    pthread_mutex_lock(&e->idle_lock);
    int idle = e->inflight == 0;
    pthread_mutex_unlock(&e->idle_lock);
    return idle;
}
