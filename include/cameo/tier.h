/*
 * tier.h - the contract every cache tier implements: a method table over
 * entries (struct cameo_entry, see cache.h) addressed by byte keys.
 *
 * The engine (src/core/core_engine.c) holds the tiers in read order (memory
 * first) and is their only caller: a read goes tier by tier, a hit in a lower
 * tier fills the tiers above it, and a write through the API removes the
 * affected keys from every tier. Implemented by tier_mem
 * (src/tier/tier_mem.c, local) and tier_redis (src/tier/tier_redis.c,
 * remote, also the bus); a disk tier would be one more file filling this
 * table.
 *
 * Two kinds of tier fill the table. A local tier (memory, disk) answers at
 * once: get/peek/put/remove, callable from any thread. A remote tier (Redis)
 * talks over the network from the workers' event loops: it keeps one
 * connection per loop (attach/detach) and answers through callbacks on that
 * loop (get_async/put_async/remove_async). A tier leaves the other kind's
 * operations NULL.
 */
#ifndef CAMEO_TIER_H
#define CAMEO_TIER_H

#include "cameo/cache.h"
#include "cameo/loop.h"

typedef struct cameo_tier cameo_tier_t;

/* A key: bytes and length (keys are not NUL-terminated). */
typedef struct cameo_key {
    const char *p;
    size_t len;
} cameo_key_t;

/* get_async's answer, on the loop that asked: entries[i] is keys[i]'s entry
 * (a reference the callback borrows: take one to keep it) or NULL for a
 * miss. err is CAMEO_OK, or the reason every entry is NULL (CAMEO_EUNAVAIL:
 * not connected; CAMEO_ETIMEDOUT: no answer in time; CAMEO_EIO). */
typedef void (*cameo_tier_got_cb)(void *arg, int err, cameo_entry_t *const *entries, size_t n);

/* remove_async's answer, on the loop that asked. */
typedef void (*cameo_tier_done_cb)(void *arg, int err);

/*
 * What a remote tier that is also a bus (Redis pub/sub) tells the engine.
 * Every remove_async is published to every instance sharing the tier; each
 * other instance's tier calls invalidated() with the keys (the publisher
 * skips the immediate echo of its own removals, which it has applied
 * already; the repeated deletes a tier sends later reach everyone).
 * reset(up) says the subscription came up (again) -- events may have been
 * missed meanwhile, so what memory holds can no longer be trusted -- or was
 * lost (up = 0). Both run on a worker loop's thread.
 */
typedef struct cameo_bus_handler {
    void (*invalidated)(void *arg, const cameo_key_t *keys, size_t n);
    void (*reset)(void *arg, int up);
    /* Another instance's change event (publish_event's data, JSON). */
    void (*event)(void *arg, const char *data, size_t len);
    void *arg;
} cameo_bus_handler_t;

struct cameo_hist; /* metrics.h */

typedef struct cameo_tier_stats {
    uint64_t hits, misses, evictions, bytes, items, capacity;
    uint64_t errors, timeouts;        /* remote tiers: commands that failed or got no answer in time */
    const struct cameo_hist *latency; /* remote tiers: round trips of lookups and removals; or NULL */
} cameo_tier_stats_t;

typedef struct cameo_tier_ops {
    const char *name; /* "memory", "redis", "disk": the tier label in metrics */

    /* Synchronous lookup. Returns CAMEO_OK (fresh) or CAMEO_ESTALE (within
     * grace) with a new reference in *out, or CAMEO_ENOTFOUND. */
    int (*get)(cameo_tier_t *t, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out);

    /* Optional, for in-process tiers: like get() for fresh entries, but
     * counts nothing. The engine uses it to look again under its flight lock,
     * which closes the gap between a miss and joining a fill that has just
     * finished. NULL: no second look. */
    int (*peek)(cameo_tier_t *t, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out);

    /* Stores e (the tier takes what it needs: a reference or a copy).
     * CAMEO_ETOOBIG when the tier will not hold an entry that large. */
    int (*put)(cameo_tier_t *t, cameo_entry_t *e, uint64_t now);

    /* Removes key. CAMEO_OK or CAMEO_ENOTFOUND. */
    int (*remove)(cameo_tier_t *t, const void *key, size_t key_len);

    /* ---- remote tiers; each call on the thread of the loop it names ---- */

    /* On each worker's loop thread as it starts: make this loop's
     * connection. An error leaves the tier unusable on that loop (its calls
     * answer CAMEO_EUNAVAIL). */
    int (*attach)(cameo_tier_t *t, cameo_loop_t *loop);

    /* On each worker's loop thread after its last request: pending callbacks
     * fire (with CAMEO_EUNAVAIL), timers and watches are released; no
     * callback of the tier runs on that loop afterwards. */
    void (*detach)(cameo_tier_t *t, cameo_loop_t *loop);

    /* Looks keys[0..n) up in one round trip (n <= 1000). Returns CAMEO_OK
     * and cb runs later, exactly once; or an error (e.g. CAMEO_EUNAVAIL while
     * disconnected) and cb never runs. keys are copied before it returns. */
    int (*get_async)(cameo_tier_t *t, cameo_loop_t *loop, const cameo_key_t *keys, size_t n, uint64_t now,
                     cameo_tier_got_cb cb, void *arg);

    /* Stores e (copied out before it returns). Fire and forget: failures
     * are counted, never reported. */
    void (*put_async)(cameo_tier_t *t, cameo_loop_t *loop, cameo_entry_t *e, uint64_t now);

    /* Removes keys[0..n), and, for a bus, publishes the removal to every
     * instance. Same contract as get_async; cb's err tells whether the
     * removal is known to have happened. An error return (not connected)
     * does not mean the keys stay: tier_redis keeps them and sends the
     * removal when it is connected again. */
    int (*remove_async)(cameo_tier_t *t, cameo_loop_t *loop, const cameo_key_t *keys, size_t n,
                        cameo_tier_done_cb cb, void *arg);

    /* Optional (a bus): the engine's handler, set once before any attach.
     * The tier keeps one subscription for the process. */
    void (*set_bus)(cameo_tier_t *t, const cameo_bus_handler_t *h);

    /* Optional (a bus): sends data (at most 512 bytes) to every other
     * instance's handler->event. Fire and forget, on loop's connection:
     * after a remove_async on the same loop it arrives after that removal's
     * invalidation. Dropped (counted) while disconnected. */
    void (*publish_event)(cameo_tier_t *t, cameo_loop_t *loop, const char *data, size_t len);

    /* Optional, local tiers: removes every key starting with prefix (the
     * engine's flush when the bus comes back). Returns how many. */
    size_t (*remove_prefix)(cameo_tier_t *t, const void *prefix, size_t len);

    /* ---- every tier ---- */

    void (*stats)(cameo_tier_t *t, cameo_tier_stats_t *out);

    /* Cheap health: CAMEO_OK or CAMEO_EUNAVAIL, detail in buf. No I/O. */
    int (*status)(cameo_tier_t *t, char *buf, size_t len);

    void (*destroy)(cameo_tier_t *t);
} cameo_tier_ops_t;

/* Every tier struct starts with this. */
struct cameo_tier {
    const cameo_tier_ops_t *ops;
};

/* tier_mem: the in-process tier over the cache engine, bounded by
 * cfg->capacity bytes. Returns CAMEO_OK and *out, or the error of
 * cameo_cache_create(). */
int cameo_tier_mem_create(const cameo_cache_config_t *cfg, cameo_tier_t **out);

/* tier_redis: L2 in Redis, shared by every cameo instance (src/tier/tier_redis.c). */
typedef struct cameo_redis_config {
    const char *url;     /* redis://[user:password@]host:port[/db]; required */
    const char *prefix;  /* key namespace (default "cameo:"); keys are PREFIX "v1:" KEY */
    uint64_t timeout_ms; /* per command (default 50): then the read goes on without Redis */
    unsigned jitter_pct; /* +-% spread of each stored entry's Redis expiry (default 10) */
    size_t max_value;    /* entries with a larger payload are not stored (default 1 MiB) */
} cameo_redis_config_t;

/* Checks cfg (URL scheme and form, prefix) and creates the tier; it
 * connects when each loop attaches. Returns CAMEO_OK and *out, or
 * CAMEO_EINVAL with a one-line reason in errbuf (never containing the
 * password), or CAMEO_ENOMEM. */
int cameo_tier_redis_create(const cameo_redis_config_t *cfg, cameo_tier_t **out, char *errbuf, size_t errlen);

#endif
