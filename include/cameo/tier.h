/*
 * tier.h - the contract every cache tier implements: a method table over
 * entries (struct cameo_entry, see cache.h) addressed by byte keys.
 *
 * The engine (src/core/core_engine.c) holds the tiers in read order (memory
 * first) and is their only caller: a read goes tier by tier, a hit in a lower
 * tier fills the tiers above it, and a write through the API removes the
 * affected keys from every tier. This issue brings tier_mem
 * (src/tier/tier_mem.c); Redis and disk tiers are new files filling this
 * table.
 *
 * Threading: every operation may be called from any worker thread.
 */
#ifndef CAMEO_TIER_H
#define CAMEO_TIER_H

#include "cameo/cache.h"

typedef struct cameo_tier cameo_tier_t;

typedef struct cameo_tier_stats {
    uint64_t hits, misses, evictions, bytes, items, capacity;
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

#endif
