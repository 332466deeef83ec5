/*
 * tier_mem.c - the in-process memory tier (L1): the tier method table over
 * the cache engine of cache.h. Entries are shared by reference, so a hit
 * costs one lookup and no copy.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cameo/tier.h"

typedef struct tier_mem {
    cameo_tier_t super;
    cameo_cache_t *cache;
} tier_mem_t;

static int mem_get(cameo_tier_t *t, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out)
{
    return cameo_cache_lookup(((tier_mem_t *)t)->cache, key, key_len, now, out);
}

static int mem_peek(cameo_tier_t *t, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out)
{
    return cameo_cache_peek(((tier_mem_t *)t)->cache, key, key_len, now, out);
}

static int mem_put(cameo_tier_t *t, cameo_entry_t *e, uint64_t now)
{
    return cameo_cache_insert(((tier_mem_t *)t)->cache, e, now);
}

static int mem_remove(cameo_tier_t *t, const void *key, size_t key_len)
{
    return cameo_cache_remove(((tier_mem_t *)t)->cache, key, key_len);
}

static size_t mem_remove_prefix(cameo_tier_t *t, const void *prefix, size_t len)
{
    return cameo_cache_remove_prefix(((tier_mem_t *)t)->cache, prefix, len);
}

static void mem_stats(cameo_tier_t *t, cameo_tier_stats_t *out)
{
    cameo_cache_stats_t st;
    cameo_cache_stats(((tier_mem_t *)t)->cache, &st);
    out->hits = st.hits;
    out->misses = st.misses;
    out->evictions = st.evictions;
    out->bytes = st.bytes;
    out->items = st.items;
    out->capacity = st.capacity;
}

static int mem_status(cameo_tier_t *t, char *buf, size_t len)
{
    cameo_cache_stats_t st;
    cameo_cache_stats(((tier_mem_t *)t)->cache, &st);
    snprintf(buf, len, "%llu of %llu bytes in %llu entries", (unsigned long long)st.bytes,
             (unsigned long long)st.capacity, (unsigned long long)st.items);
    return CAMEO_OK;
}

static void mem_destroy(cameo_tier_t *t)
{
    tier_mem_t *m = (tier_mem_t *)t;
    cameo_cache_destroy(m->cache);
    free(m);
}

static const cameo_tier_ops_t mem_ops = {
    .name = "memory",
    .get = mem_get,
    .peek = mem_peek,
    .put = mem_put,
    .remove = mem_remove,
    .remove_prefix = mem_remove_prefix,
    .stats = mem_stats,
    .status = mem_status,
    .destroy = mem_destroy,
};

int cameo_tier_mem_create(const cameo_cache_config_t *cfg, cameo_tier_t **out)
{
    tier_mem_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CAMEO_ENOMEM;
    int err = cameo_cache_create(cfg, &m->cache);
    if (err != CAMEO_OK) {
        free(m);
        return err;
    }
    m->super.ops = &mem_ops;
    *out = &m->super;
    return CAMEO_OK;
}
