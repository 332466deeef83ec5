/*
 * cache.h - the in-memory cache engine: a sharded hash table of refcounted,
 * immutable entries, bounded by bytes, with S3-FIFO eviction (LRU as a
 * reference policy), per-entry TTL and a stale (grace) window.
 *
 * Used by the memory tier (src/tier/tier_mem.c) and by cameo-sim, which
 * replays traces through this same code. The cache knows nothing of HTTP:
 * an entry is a key and an opaque byte payload that the caller lays out
 * (src/core/core_resp.c stores ready-to-send responses there).
 *
 * Concurrency: every function may be called from any thread. Each shard has
 * one mutex; a lookup locks only its key's shard, so hits take no global lock.
 * A hit under S3-FIFO only bumps a 2-bit frequency (and, under S3FIFO_TLFU,
 * four 4-bit sketch counters of its shard); it never moves list nodes.
 *
 * Time: functions that look at expiry take `now` in milliseconds on any
 * monotonic clock the caller chooses; the cache never reads a clock.
 */
#ifndef CAMEO_CACHE_H
#define CAMEO_CACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cameo/cameo.h"

typedef struct cameo_cache cameo_cache_t;
typedef struct cameo_entry cameo_entry_t;

typedef enum {
    CAMEO_POLICY_S3FIFO = 0, /* default: small FIFO + main FIFO + ghost keys */
    CAMEO_POLICY_LRU = 1,    /* reference policy for benchmarks */
    /* S3-FIFO plus TinyLFU admission: an entry leaving the small queue that
     * S3-FIFO would evict replaces main's next victim instead when a per-shard
     * count-min sketch of recent accesses says it is used more often. Costs
     * 8-16 bytes per entry, outside capacity (see core_cache.c). */
    CAMEO_POLICY_S3FIFO_TLFU = 2,
} cameo_policy_t;

typedef struct cameo_cache_config {
    size_t capacity;       /* bytes (or entries with unit_charge); > 0 */
    unsigned shards;       /* power of two; 0 means 16. cameo-sim uses 1 */
    cameo_policy_t policy; /* eviction policy */
    int unit_charge;       /* non-zero: every entry costs 1, whatever its size */
    double small_ratio;    /* S3-FIFO small queue share of capacity, in (0, 1); 0 means 0.10 */
    unsigned move_to_main; /* S3-FIFO: hits in the small queue needed to move to main, 1-3; 0 means 2 */
} cameo_cache_config_t;

/*
 * An entry. Allocated by cameo_entry_alloc() with one reference owned by the
 * caller. The payload is writable only until the entry is inserted; after
 * that it is immutable and may be read by any thread holding a reference.
 * Fields without a leading underscore are public and read-only once inserted.
 */
struct cameo_entry {
    uint64_t expires_at;  /* ms: fresh while now < expires_at */
    uint64_t stale_until; /* ms: served as stale while now < stale_until */
    uint32_t flags;       /* CAMEO_ENTRY_* below; set before insert */
    uint32_t key_len;
    size_t size;         /* payload bytes */
    const char *key;     /* key_len bytes, inside this allocation */
    unsigned char *data; /* size bytes, inside this allocation */

    /* private to the cache */
    atomic_uint _refs;
    uint64_t _hash;
    cameo_entry_t *_chain;        /* hash-chain link; shard lock */
    cameo_entry_t *_prev, *_next; /* queue links; shard lock */
    atomic_uchar _freq;           /* S3-FIFO access count, saturating at 3 */
    unsigned char _queue;         /* which queue holds it; shard lock */
    size_t _charge;               /* bytes counted against capacity */
};

enum {
    CAMEO_ENTRY_NEGATIVE = 1u << 0, /* the origin said "no such key" */
};

/*
 * Allocates an entry holding a copy of key and room for size payload bytes
 * (uninitialised). TTL fields start at 0 (already expired): set them before
 * inserting. Returns NULL when out of memory or key_len is 0 or > 65535.
 * The caller owns one reference; release it with cameo_entry_unref().
 */
cameo_entry_t *cameo_entry_alloc(const void *key, size_t key_len, size_t size);

/* Takes one more reference. Safe from any thread holding a reference. */
void cameo_entry_ref(cameo_entry_t *e);

/* Drops one reference; frees the entry when it was the last. NULL is a no-op. */
void cameo_entry_unref(cameo_entry_t *e);

/*
 * Creates a cache. Returns CAMEO_OK and *out, or CAMEO_EINVAL for a zero
 * capacity or shard count that is not a power of two, a capacity smaller than
 * the shard count, or small_ratio or move_to_main out of range; CAMEO_ENOMEM.
 */
int cameo_cache_create(const cameo_cache_config_t *cfg, cameo_cache_t **out);

/* Frees the cache and drops its references to every entry. */
void cameo_cache_destroy(cameo_cache_t *c);

/*
 * Looks key up.
 * Returns CAMEO_OK with a fresh entry, CAMEO_ESTALE with an entry past
 * expires_at but before stale_until, or CAMEO_ENOTFOUND (also for entries past
 * stale_until, which are dropped). On OK and ESTALE *out holds a new reference
 * the caller must unref. Counts a hit (OK, ESTALE) or a miss.
 */
int cameo_cache_lookup(cameo_cache_t *c, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out);

/*
 * Like cameo_cache_lookup() for fresh entries only, but counts nothing and
 * leaves the eviction state alone: for the engine's second look under its
 * flight lock, which must not skew hit ratios. CAMEO_OK with a reference in
 * *out, or CAMEO_ENOTFOUND.
 */
int cameo_cache_peek(cameo_cache_t *c, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out);

/*
 * Inserts e, replacing any entry with the same key, and evicts until the
 * shard is back within its byte budget. The cache takes its own reference;
 * the caller keeps its reference. Returns CAMEO_OK, or CAMEO_ETOOBIG when the
 * entry is larger than 1/8 of a shard's budget (it is not cached, and the
 * previous entry for the key is removed). An entry may be inserted once.
 */
int cameo_cache_insert(cameo_cache_t *c, cameo_entry_t *e, uint64_t now);

/* Removes key. Returns CAMEO_OK or CAMEO_ENOTFOUND. */
int cameo_cache_remove(cameo_cache_t *c, const void *key, size_t key_len);

/* Removes every entry whose key starts with prefix. Returns how many. O(n). */
size_t cameo_cache_remove_prefix(cameo_cache_t *c, const void *prefix, size_t prefix_len);

typedef struct cameo_cache_stats {
    uint64_t hits, stale_hits, misses, inserts, evictions, expired, rejected;
    uint64_t bytes, items, capacity;
} cameo_cache_stats_t;

/* Sums the counters of every shard into *out (a consistent view per shard). */
void cameo_cache_stats(cameo_cache_t *c, cameo_cache_stats_t *out);

#endif
