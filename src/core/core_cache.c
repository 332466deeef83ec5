/*
 * core_cache.c - the in-memory cache engine declared in include/cameo/cache.h:
 * a sharded hash table of refcounted, immutable entries, bounded by bytes,
 * evicting with S3-FIFO (or LRU, the reference policy for benchmarks).
 *
 * Called by the memory tier (src/tier/tier_mem.c), by cameo-sim
 * (src/daemon/daemon_sim.c) and by tests/unit/test_core_cache.c. It owns the
 * table's reference to every cached entry and the ghost lists; it does not own
 * the payload layout (the caller's) nor any clock (`now` is an argument).
 *
 * Layout. A key's 64-bit XXH3 hash picks its shard (high bits) and its bucket
 * within the shard (low bits). Each shard has:
 *   - a chained hash table whose power-of-two bucket array doubles when the
 *     shard holds more entries than buckets (load factor <= 1);
 *   - two intrusive FIFO queues, small and main (LRU uses main only);
 *   - a ghost: the 64-bit hashes of the last N entries evicted from small
 *     (N = how many entries main holds when full, estimated from the mean
 *     charge), less those already readmitted;
 *   - its counters.
 *
 * S3-FIFO (Yang et al., SOSP 2023). New keys go to small, or to main when
 * their hash is in the ghost (checked, and taken out, before making room). A
 * hit bumps a 2-bit frequency and moves nothing.
 * To make room: while small holds its share of the budget (small_ratio) it
 * gives up its oldest entry, which moves to main if it was hit at least
 * move_to_main times (frequency reset to 0) or else is evicted and its hash
 * remembered in the ghost; otherwise main's oldest entry is reinserted at the
 * head with its frequency minus one if it is non-zero, or else evicted. LRU
 * moves a hit to the head of main and evicts main's tail. Under both, a tail
 * entry already past stale_until is dropped and counted as expired. A
 * replacing entry takes over its predecessor's queue and frequency.
 *
 * S3-FIFO + TinyLFU admission (CAMEO_POLICY_S3FIFO_TLFU; the W-TinyLFU idea of
 * Einziger et al., ACM ToS 2017, on S3-FIFO's queues). Each shard also keeps a
 * count-min sketch of recent accesses: four 4-bit counters per key, all in
 * one 64-byte block, bumped by every lookup, hit or miss, with conservative
 * update; every SKETCH_SAMPLE lookups per counted entry all counters are
 * halved, so old popularity fades. When small's oldest entry would be
 * evicted (fewer than move_to_main hits), it is compared with main's victim
 * (main's oldest entry with frequency 0, after giving the ones before it
 * their usual extra lap): if the sketch says the small entry is used more
 * often, the victim is evicted and the small entry moves to main; otherwise
 * the small entry is evicted (and remembered in the ghost) as under S3-FIFO.
 * Everything else is S3-FIFO. Sketch size: a power of two of 64-bit words
 * (16 counters each) at least the entries the shard holds: sized from the
 * budget with unit_charge, otherwise grown (doubling, counters cleared) when
 * the shard holds more entries than words.
 *
 * Bound. Room is made before an entry is linked, so after every insert a
 * shard's counted bytes are within its budget (capacity / shards). An entry
 * costs sizeof(struct cameo_entry) + key_len + size (1 with unit_charge). Not
 * counted: the ghost (40 bytes per slot, slots rounded up to a power of two
 * above N, so at most ~80 bytes per entry main can hold), the bucket arrays
 * (8 bytes per bucket, at most 2 per entry) and, under S3FIFO_TLFU, the sketch
 * (8 bytes per word, at most 2 words per entry the shard has held at once, at
 * least 64 bytes).
 *
 * Locks. Each shard has one mutex guarding everything in struct shard (the
 * sketch included, which is why a hit may update it) and the
 * _chain, _prev, _next, _queue and _charge fields of the entries it holds.
 * _freq is atomic (relaxed) and _refs is atomic (acq_rel on the last drop).
 * No code path holds two shard locks; there is no lock order to respect.
 * Entries freed by eviction are freed under the shard lock (one free() each).
 */
#include "cameo/cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define DEFAULT_SHARDS 16u
#define DEFAULT_SMALL_RATIO 0.10
#define DEFAULT_MOVE_TO_MAIN 2u /* measured in bench/RESULTS.md; libCacheSim's default too */
#define FREQ_MAX 3u
#define MIN_BUCKETS 16u
#define MIN_GHOST 16u
#define KEY_MAX 65535u
#define SKETCH_MIN_WORDS 8u /* one 64-byte block */
#define SKETCH_SAMPLE 32u   /* lookups per word between two halvings; measured in bench/RESULTS.md */

/* entry->_queue values. */
enum {
    Q_NONE = 0,  /* never inserted */
    Q_SMALL = 1, /* in the small FIFO */
    Q_MAIN = 2,  /* in the main FIFO (every entry, under LRU) */
    Q_GONE = 3,  /* was inserted, no longer cached */
};

/* An intrusive doubly linked queue: head is the newest, tail the oldest. */
struct queue {
    cameo_entry_t *head, *tail;
    size_t bytes, items;
};

/*
 * The ghost: a FIFO of hashes plus a set to test membership in O(1).
 * ring[seq & (ring_cap - 1)] holds the hash written with sequence number seq,
 * for tail <= seq < head. set is open-addressed (linear probing, hash 0 means
 * empty, set_cap = 2 * ring_cap) and maps a hash to the seq of its newest
 * ring slot. A hash taken out by a ghost hit leaves a dead ring slot behind,
 * recognised when it reaches the tail because set no longer maps it to that
 * seq. The ring grows by doubling only while its cap is below the limit the
 * caller passes, so its size is bounded by the largest limit ever asked.
 */
struct ghost_slot {
    uint64_t hash;
    uint64_t seq;
};

struct ghost {
    uint64_t *ring;
    struct ghost_slot *set;
    size_t ring_cap; /* power of two, or 0 before the first add */
    uint64_t head, tail;
};

/*
 * The TinyLFU sketch: nwords 64-bit words of sixteen 4-bit counters, in blocks
 * of 8 words (one cache line). A key's four counters are in one block: counter
 * k is in word 2k or 2k + 1 of it. Halved every `sample` additions.
 */
struct sketch {
    uint64_t *words;
    size_t nwords; /* power of two >= SKETCH_MIN_WORDS, or 0 when unused */
    uint64_t additions, sample;
};

struct shard {
    alignas(64) pthread_mutex_t lock;
    /* Everything below is guarded by lock. */
    bool held; /* for asserts: set while lock is held */
    cameo_entry_t **buckets;
    size_t nbuckets; /* power of two */
    struct queue small, main;
    struct ghost ghost;
    struct sketch sketch;
    uint64_t hits, stale_hits, misses, inserts, evictions, expired, rejected;
};

struct cameo_cache {
    /* Immutable after create. */
    struct shard *shards;
    unsigned nshards;
    unsigned shard_shift; /* 64 - log2(nshards); 64 means one shard */
    size_t capacity;      /* as configured */
    size_t budget;        /* per shard: capacity / nshards */
    size_t small_budget;  /* per shard: budget * small_ratio, >= 1 */
    size_t max_charge;    /* per shard: budget / 8 */
    cameo_policy_t policy;
    bool unit_charge;
    unsigned move_to_main;
};

/* ---- entries ---- */

/* The payload starts right after the struct, aligned for any type; the key
 * follows the payload. */
static size_t data_offset(void)
{
    size_t a = alignof(max_align_t);
    return (sizeof(cameo_entry_t) + a - 1) / a * a;
}

cameo_entry_t *cameo_entry_alloc(const void *key, size_t key_len, size_t size)
{
    size_t off = data_offset();
    cameo_entry_t *e;

    if (key == NULL || key_len == 0 || key_len > KEY_MAX)
        return NULL;
    if (size > SIZE_MAX - off - key_len)
        return NULL;
    e = malloc(off + size + key_len);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->key_len = (uint32_t)key_len;
    e->size = size;
    e->data = (unsigned char *)e + off;
    memcpy(e->data + size, key, key_len);
    e->key = (const char *)e->data + size;
    atomic_init(&e->_refs, 1);
    atomic_init(&e->_freq, 0);
    e->_queue = Q_NONE;
    return e;
}

void cameo_entry_ref(cameo_entry_t *e)
{
    unsigned old = atomic_fetch_add_explicit(&e->_refs, 1, memory_order_relaxed);

    assert(old > 0);
    (void)old;
}

void cameo_entry_unref(cameo_entry_t *e)
{
    unsigned old;

    if (e == NULL)
        return;
    old = atomic_fetch_sub_explicit(&e->_refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old == 1)
        free(e);
}

static unsigned freq_get(cameo_entry_t *e)
{
    return atomic_load_explicit(&e->_freq, memory_order_relaxed);
}

static void freq_set(cameo_entry_t *e, unsigned f)
{
    atomic_store_explicit(&e->_freq, (unsigned char)f, memory_order_relaxed);
}

/* freq = min(freq + 1, FREQ_MAX), atomically. */
static void freq_bump(cameo_entry_t *e)
{
    unsigned char f = atomic_load_explicit(&e->_freq, memory_order_relaxed);

    while (f < FREQ_MAX && !atomic_compare_exchange_weak_explicit(&e->_freq, &f, (unsigned char)(f + 1),
                                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static uint64_t key_hash(const void *key, size_t key_len)
{
    return XXH3_64bits(key, key_len);
}

/* ---- queues (shard lock) ---- */

static void queue_push_head(struct queue *q, cameo_entry_t *e)
{
    e->_prev = NULL;
    e->_next = q->head;
    if (q->head != NULL)
        q->head->_prev = e;
    else
        q->tail = e;
    q->head = e;
    q->bytes += e->_charge;
    q->items++;
}

static void queue_unlink(struct queue *q, cameo_entry_t *e)
{
    assert(q->items > 0 && q->bytes >= e->_charge);
    if (e->_prev != NULL)
        e->_prev->_next = e->_next;
    else
        q->head = e->_next;
    if (e->_next != NULL)
        e->_next->_prev = e->_prev;
    else
        q->tail = e->_prev;
    e->_prev = e->_next = NULL;
    q->bytes -= e->_charge;
    q->items--;
}

static struct queue *queue_of(struct shard *s, cameo_entry_t *e)
{
    assert(e->_queue == Q_SMALL || e->_queue == Q_MAIN);
    return e->_queue == Q_SMALL ? &s->small : &s->main;
}

/* Moves e to the head of queue `to` (which may be the queue it is in). */
static void queue_move_head(struct shard *s, cameo_entry_t *e, unsigned char to)
{
    queue_unlink(queue_of(s, e), e);
    e->_queue = to;
    queue_push_head(queue_of(s, e), e);
}

/* ---- ghost (shard lock) ---- */

static size_t ghost_find(const struct ghost *g, uint64_t h)
{
    size_t mask, i;

    if (g->ring_cap == 0)
        return SIZE_MAX;
    mask = 2 * g->ring_cap - 1;
    for (i = h & mask; g->set[i].hash != 0; i = (i + 1) & mask)
        if (g->set[i].hash == h)
            return i;
    return SIZE_MAX;
}

static void ghost_set_put(struct ghost_slot *set, size_t set_cap, uint64_t h, uint64_t seq)
{
    size_t mask = set_cap - 1, i;

    for (i = h & mask; set[i].hash != 0 && set[i].hash != h; i = (i + 1) & mask)
        ;
    set[i].hash = h;
    set[i].seq = seq;
}

/* Deletes slot i by shifting back the run that follows it (no tombstones). */
static void ghost_set_del(struct ghost *g, size_t i)
{
    size_t mask = 2 * g->ring_cap - 1, j = i, home;

    for (;;) {
        g->set[i].hash = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (g->set[j].hash == 0)
                return;
            home = g->set[j].hash & mask;
            /* The entry at j may fill the hole at i unless its home lies
             * cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        g->set[i] = g->set[j];
        i = j;
    }
}

static void ghost_pop(struct ghost *g)
{
    uint64_t h = g->ring[g->tail & (g->ring_cap - 1)];
    size_t i = ghost_find(g, h);

    assert(g->head > g->tail);
    if (i != SIZE_MAX && g->set[i].seq == g->tail)
        ghost_set_del(g, i);
    g->tail++;
}

static bool ghost_grow(struct ghost *g, size_t cap)
{
    uint64_t *ring = malloc(cap * sizeof(*ring));
    struct ghost_slot *set = calloc(2 * cap, sizeof(*set));
    uint64_t seq;
    size_t i;

    if (ring == NULL || set == NULL)
        goto err;
    for (seq = g->tail; seq != g->head; seq++)
        ring[seq & (cap - 1)] = g->ring[seq & (g->ring_cap - 1)];
    for (i = 0; i < 2 * g->ring_cap; i++)
        if (g->set[i].hash != 0)
            ghost_set_put(set, 2 * cap, g->set[i].hash, g->set[i].seq);
    free(g->ring);
    free(g->set);
    g->ring = ring;
    g->set = set;
    g->ring_cap = cap;
    return true;
err:
    free(ring);
    free(set);
    return false;
}

/* Remembers h, keeping at most `limit` hashes (oldest forgotten first). */
static void ghost_add(struct ghost *g, uint64_t h, size_t limit)
{
    h = h != 0 ? h : 1;
    if (limit == 0)
        return;
    while (g->head - g->tail >= limit)
        ghost_pop(g);
    if (g->head - g->tail == g->ring_cap) {
        size_t cap = g->ring_cap != 0 ? 2 * g->ring_cap : MIN_GHOST;

        /* Out of memory: stay at the current size. */
        if (!ghost_grow(g, cap)) {
            if (g->ring_cap == 0)
                return;
            ghost_pop(g);
        }
    }
    assert(g->head - g->tail < g->ring_cap);
    g->ring[g->head & (g->ring_cap - 1)] = h;
    ghost_set_put(g->set, 2 * g->ring_cap, h, g->head);
    g->head++;
}

/* True if h was in the ghost; it is removed. */
static bool ghost_take(struct ghost *g, uint64_t h)
{
    size_t i = ghost_find(g, h != 0 ? h : 1);

    if (i == SIZE_MAX)
        return false;
    ghost_set_del(g, i);
    return true;
}

static void ghost_free(struct ghost *g)
{
    free(g->ring);
    free(g->set);
    memset(g, 0, sizeof(*g));
}

/* ---- sketch (shard lock) ---- */

/* (Re)sizes the sketch to the power of two of words >= entries, counters
 * cleared. On allocation failure keeps the current table (if any). */
static void sketch_resize(struct sketch *k, size_t entries)
{
    size_t n = SKETCH_MIN_WORDS;
    uint64_t *w;

    while (n < entries && n <= SIZE_MAX / 2 / sizeof(*w))
        n *= 2;
    w = calloc(n, sizeof(*w));
    if (w == NULL)
        return;
    free(k->words);
    k->words = w;
    k->nwords = n;
    k->additions = 0;
    k->sample = (uint64_t)SKETCH_SAMPLE * n;
}

/* The word index and bit shift of the key's counter i (0-3). The shard and
 * bucket use h's high and low bits; the block comes from a remix of h. */
static void sketch_slot(const struct sketch *k, uint64_t h, unsigned i, size_t *word, unsigned *shift)
{
    uint64_t m = h * 0x9E3779B97F4A7C15ull;
    size_t block = (size_t)(m >> 32) & (k->nwords / 8 - 1);

    *word = block * 8 + 2 * i + ((m >> i) & 1);
    *shift = (unsigned)((m >> (8 + 4 * i)) & 15) * 4;
}

/* The estimated count of h: the least of its four counters (0-15). */
static unsigned sketch_estimate(const struct sketch *k, uint64_t h)
{
    unsigned i, shift, least = 15;
    size_t word;

    if (k->nwords == 0)
        return 0;
    for (i = 0; i < 4; i++) {
        unsigned v;

        sketch_slot(k, h, i, &word, &shift);
        v = (unsigned)(k->words[word] >> shift) & 15;
        least = v < least ? v : least;
    }
    return least;
}

/* Counts one access to h (conservative update: only the counters at the
 * minimum grow), and halves every counter once per sample. */
static void sketch_add(struct sketch *k, uint64_t h)
{
    size_t word[4];
    unsigned shift[4], i, least;

    if (k->nwords == 0)
        return;
    least = 15;
    for (i = 0; i < 4; i++) {
        unsigned v;

        sketch_slot(k, h, i, &word[i], &shift[i]);
        v = (unsigned)(k->words[word[i]] >> shift[i]) & 15;
        least = v < least ? v : least;
    }
    if (least < 15)
        for (i = 0; i < 4; i++)
            if (((k->words[word[i]] >> shift[i]) & 15) == least)
                k->words[word[i]] += (uint64_t)1 << shift[i];
    if (++k->additions >= k->sample) {
        size_t j;

        for (j = 0; j < k->nwords; j++)
            k->words[j] = (k->words[j] >> 1) & 0x7777777777777777ull;
        k->additions /= 2;
    }
}

/* ---- shards ---- */

static struct shard *shard_of(cameo_cache_t *c, uint64_t h)
{
    return &c->shards[c->shard_shift >= 64 ? 0 : h >> c->shard_shift];
}

static void shard_lock(struct shard *s)
{
    pthread_mutex_lock(&s->lock);
    assert(!s->held);
    s->held = true;
}

static void shard_unlock(struct shard *s)
{
    assert(s->held);
    s->held = false;
    pthread_mutex_unlock(&s->lock);
}

static size_t shard_items(const struct shard *s)
{
    return s->small.items + s->main.items;
}

static size_t shard_bytes(const struct shard *s)
{
    return s->small.bytes + s->main.bytes;
}

/* The link (bucket slot or previous entry's _chain) pointing at the entry
 * with this key, or NULL. */
static cameo_entry_t **chain_find(struct shard *s, uint64_t h, const void *key, size_t key_len)
{
    cameo_entry_t **link = &s->buckets[h & (s->nbuckets - 1)];

    assert(s->held);
    for (; *link != NULL; link = &(*link)->_chain) {
        cameo_entry_t *e = *link;

        if (e->_hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return link;
    }
    return NULL;
}

/* The link pointing at e, which must be in the table. */
static cameo_entry_t **chain_link_of(struct shard *s, cameo_entry_t *e)
{
    cameo_entry_t **link = &s->buckets[e->_hash & (s->nbuckets - 1)];

    assert(s->held);
    while (*link != e) {
        assert(*link != NULL);
        link = &(*link)->_chain;
    }
    return link;
}

/* Doubles the bucket array; on allocation failure chains just get longer. */
static void table_grow(struct shard *s)
{
    size_t n = 2 * s->nbuckets, i;
    cameo_entry_t **b = calloc(n, sizeof(*b));

    assert(s->held);
    if (b == NULL)
        return;
    for (i = 0; i < s->nbuckets; i++) {
        cameo_entry_t *e = s->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->_chain;
            e->_chain = b[e->_hash & (n - 1)];
            b[e->_hash & (n - 1)] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Unlinks the entry *link points at from the table and its queue and drops
 * the table's reference. */
static void drop_at(struct shard *s, cameo_entry_t **link)
{
    cameo_entry_t *e = *link;

    assert(s->held);
    *link = e->_chain;
    e->_chain = NULL;
    queue_unlink(queue_of(s, e), e);
    e->_queue = Q_GONE;
    cameo_entry_unref(e);
}

static bool is_dead(const cameo_entry_t *e, uint64_t now)
{
    return now >= e->stale_until;
}

/* How many hashes the ghost keeps: about as many as main holds entries when
 * full, estimated from the shard's mean charge (exact with unit_charge). */
static size_t ghost_limit(const cameo_cache_t *c, const struct shard *s)
{
    size_t main_budget = c->budget - c->small_budget;
    size_t items = shard_items(s), bytes = shard_bytes(s);

    if (bytes == 0)
        return 0;
    if (c->unit_charge)
        return main_budget;
    return (size_t)((double)main_budget * (double)items / (double)bytes);
}

/*
 * TinyLFU admission, one step: e, small's oldest entry, would be evicted;
 * main's oldest entry v is its rival. A dead v is dropped; a v with frequency
 * left gets another lap (the caller's loop comes back to e); otherwise the
 * one the sketch counts more accesses for stays (ties keep v) and the other
 * is evicted, e being remembered in the ghost as under S3-FIFO.
 */
static void tinylfu_step(cameo_cache_t *c, struct shard *s, cameo_entry_t *e, uint64_t now)
{
    cameo_entry_t *v = s->main.tail;
    unsigned f = freq_get(v);

    if (is_dead(v, now)) {
        s->expired++;
        drop_at(s, chain_link_of(s, v));
    } else if (f > 0) {
        freq_set(v, f - 1);
        queue_move_head(s, v, Q_MAIN);
    } else if (sketch_estimate(&s->sketch, e->_hash) > sketch_estimate(&s->sketch, v->_hash)) {
        s->evictions++;
        drop_at(s, chain_link_of(s, v));
        freq_set(e, 0);
        queue_move_head(s, e, Q_MAIN);
    } else {
        ghost_add(&s->ghost, e->_hash, ghost_limit(c, s));
        s->evictions++;
        drop_at(s, chain_link_of(s, e));
    }
}

/* One step of S3-FIFO's small queue: promote or evict its oldest entry. */
static void evict_small_step(cameo_cache_t *c, struct shard *s, uint64_t now)
{
    cameo_entry_t *e = s->small.tail;

    assert(e != NULL && e->_queue == Q_SMALL);
    if (is_dead(e, now)) {
        s->expired++;
        drop_at(s, chain_link_of(s, e));
    } else if (freq_get(e) >= c->move_to_main) {
        freq_set(e, 0);
        queue_move_head(s, e, Q_MAIN);
    } else if (c->policy == CAMEO_POLICY_S3FIFO_TLFU && s->main.tail != NULL) {
        tinylfu_step(c, s, e, now);
    } else {
        ghost_add(&s->ghost, e->_hash, ghost_limit(c, s));
        s->evictions++;
        drop_at(s, chain_link_of(s, e));
    }
}

/* One step of the main queue: reinsert its oldest entry with one less
 * frequency, or evict it. Under LRU the tail is always evicted. */
static void evict_main_step(cameo_cache_t *c, struct shard *s, uint64_t now)
{
    cameo_entry_t *e = s->main.tail;
    unsigned f;

    assert(e != NULL && e->_queue == Q_MAIN);
    if (is_dead(e, now)) {
        s->expired++;
        drop_at(s, chain_link_of(s, e));
        return;
    }
    f = freq_get(e);
    if (c->policy != CAMEO_POLICY_LRU && f > 0) {
        freq_set(e, f - 1);
        queue_move_head(s, e, Q_MAIN);
        return;
    }
    s->evictions++;
    drop_at(s, chain_link_of(s, e));
}

/*
 * Evicts until `need` more bytes fit in the shard's budget. Terminates: each
 * step evicts an entry, moves one from small to main (at most once per entry,
 * as nothing moves back) or lowers a main entry's frequency (bounded by 3 per
 * entry, and reset only by leaving small); TinyLFU steps do the same.
 */
static void make_room(cameo_cache_t *c, struct shard *s, size_t need, uint64_t now)
{
    assert(s->held && need <= c->budget);
    while (shard_bytes(s) + need > c->budget) {
        assert(shard_items(s) > 0);
        if (s->small.tail != NULL && (s->small.bytes >= c->small_budget || s->main.tail == NULL))
            evict_small_step(c, s, now);
        else
            evict_main_step(c, s, now);
    }
}

/* ---- public API ---- */

int cameo_cache_create(const cameo_cache_config_t *cfg, cameo_cache_t **out)
{
    cameo_cache_t *c = NULL;
    unsigned n, i, initialised = 0;
    double ratio;

    assert(cfg != NULL && out != NULL);
    *out = NULL;
    n = cfg->shards != 0 ? cfg->shards : DEFAULT_SHARDS;
    ratio = cfg->small_ratio != 0 ? cfg->small_ratio : DEFAULT_SMALL_RATIO;
    if (cfg->capacity == 0 || (n & (n - 1)) != 0 || cfg->capacity < n)
        return CAMEO_EINVAL;
    if (!(ratio > 0 && ratio < 1) || cfg->move_to_main > FREQ_MAX)
        return CAMEO_EINVAL;
    if (cfg->policy != CAMEO_POLICY_S3FIFO && cfg->policy != CAMEO_POLICY_LRU &&
        cfg->policy != CAMEO_POLICY_S3FIFO_TLFU)
        return CAMEO_EINVAL;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto err;
    c->nshards = n;
    c->shard_shift = 64;
    for (i = n; i > 1; i >>= 1)
        c->shard_shift--;
    c->capacity = cfg->capacity;
    c->budget = cfg->capacity / n;
    c->small_budget = (size_t)((double)c->budget * ratio);
    if (c->small_budget == 0)
        c->small_budget = 1;
    c->max_charge = c->budget / 8;
    c->policy = cfg->policy;
    c->unit_charge = cfg->unit_charge != 0;
    c->move_to_main = cfg->move_to_main != 0 ? cfg->move_to_main : DEFAULT_MOVE_TO_MAIN;

    c->shards = aligned_alloc(alignof(struct shard), n * sizeof(struct shard));
    if (c->shards == NULL)
        goto err;
    memset(c->shards, 0, n * sizeof(struct shard));
    for (i = 0; i < n; i++) {
        struct shard *s = &c->shards[i];

        s->buckets = calloc(MIN_BUCKETS, sizeof(*s->buckets));
        if (s->buckets == NULL)
            goto err;
        s->nbuckets = MIN_BUCKETS;
        if (c->policy == CAMEO_POLICY_S3FIFO_TLFU) {
            /* With unit_charge the shard holds up to budget entries. */
            sketch_resize(&s->sketch, c->unit_charge ? c->budget : 0);
            if (s->sketch.nwords == 0) {
                free(s->buckets);
                goto err;
            }
        }
        if (pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->sketch.words);
            free(s->buckets);
            goto err;
        }
        initialised++;
    }
    *out = c;
    return CAMEO_OK;
err:
    /* Nothing is left allocated. */
    if (c != NULL && c->shards != NULL) {
        for (i = 0; i < initialised; i++) {
            free(c->shards[i].buckets);
            free(c->shards[i].sketch.words);
            pthread_mutex_destroy(&c->shards[i].lock);
        }
        free(c->shards);
    }
    free(c);
    return CAMEO_ENOMEM;
}

void cameo_cache_destroy(cameo_cache_t *c)
{
    unsigned i;

    if (c == NULL)
        return;
    for (i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        size_t b;

        s->held = true; /* no other thread may use the cache now */
        for (b = 0; b < s->nbuckets; b++)
            while (s->buckets[b] != NULL)
                drop_at(s, &s->buckets[b]);
        s->held = false;
        assert(shard_items(s) == 0 && shard_bytes(s) == 0);
        free(s->buckets);
        ghost_free(&s->ghost);
        free(s->sketch.words);
        pthread_mutex_destroy(&s->lock);
    }
    free(c->shards);
    free(c);
}

int cameo_cache_lookup(cameo_cache_t *c, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out)
{
    uint64_t h;
    struct shard *s;
    cameo_entry_t **link, *e;
    int rc;

    assert(c != NULL && out != NULL && (key != NULL || key_len == 0));
    *out = NULL;
    h = key_hash(key, key_len);
    s = shard_of(c, h);
    shard_lock(s);
    if (c->policy == CAMEO_POLICY_S3FIFO_TLFU)
        sketch_add(&s->sketch, h);
    link = chain_find(s, h, key, key_len);
    if (link == NULL) {
        s->misses++;
        shard_unlock(s);
        return CAMEO_ENOTFOUND;
    }
    e = *link;
    if (now < e->expires_at) {
        rc = CAMEO_OK;
    } else if (now < e->stale_until) {
        rc = CAMEO_ESTALE;
        s->stale_hits++;
    } else {
        s->expired++;
        s->misses++;
        drop_at(s, link);
        shard_unlock(s);
        return CAMEO_ENOTFOUND;
    }
    s->hits++;
    if (c->policy == CAMEO_POLICY_LRU)
        queue_move_head(s, e, Q_MAIN);
    else
        freq_bump(e);
    cameo_entry_ref(e);
    shard_unlock(s);
    *out = e;
    return rc;
}

int cameo_cache_peek(cameo_cache_t *c, const void *key, size_t key_len, uint64_t now, cameo_entry_t **out)
{
    assert(c != NULL && out != NULL && (key != NULL || key_len == 0));
    uint64_t h = key_hash(key, key_len);
    struct shard *s = shard_of(c, h);
    int rc = CAMEO_ENOTFOUND;
    *out = NULL;
    shard_lock(s);
    cameo_entry_t **link = chain_find(s, h, key, key_len);
    if (link != NULL && now < (*link)->expires_at) {
        cameo_entry_ref(*link);
        *out = *link;
        rc = CAMEO_OK;
    }
    shard_unlock(s);
    return rc;
}

int cameo_cache_insert(cameo_cache_t *c, cameo_entry_t *e, uint64_t now)
{
    size_t charge;
    struct shard *s;
    cameo_entry_t **link;
    unsigned char queue = Q_NONE;
    unsigned freq = 0;

    assert(c != NULL && e != NULL && atomic_load(&e->_refs) > 0);
    charge = c->unit_charge ? 1 : sizeof(*e) + e->key_len + e->size;
    e->_hash = key_hash(e->key, e->key_len);
    s = shard_of(c, e->_hash);
    shard_lock(s);
    if (e->_queue != Q_NONE) {
        /* Contract violation: an entry may be inserted once. */
        shard_unlock(s);
        assert(!"entry inserted twice");
        return CAMEO_EINVAL;
    }

    /* A replaced entry hands its queue and frequency to its successor. */
    link = chain_find(s, e->_hash, e->key, e->key_len);
    if (link != NULL) {
        queue = (*link)->_queue;
        freq = freq_get(*link);
        drop_at(s, link);
    }
    /* With unit_charge every entry costs 1 and is never too big. */
    if (!c->unit_charge && charge > c->max_charge) {
        s->rejected++;
        shard_unlock(s);
        return CAMEO_ETOOBIG;
    }
    if (c->policy == CAMEO_POLICY_LRU)
        queue = Q_MAIN;
    else if (queue == Q_NONE)
        queue = ghost_take(&s->ghost, e->_hash) ? Q_MAIN : Q_SMALL;

    make_room(c, s, charge, now);
    e->_charge = charge;
    freq_set(e, freq);
    e->_queue = queue;
    queue_push_head(queue_of(s, e), e);
    e->_chain = s->buckets[e->_hash & (s->nbuckets - 1)];
    s->buckets[e->_hash & (s->nbuckets - 1)] = e;
    cameo_entry_ref(e); /* the table's reference */
    s->inserts++;
    if (shard_items(s) > s->nbuckets)
        table_grow(s);
    if (c->policy == CAMEO_POLICY_S3FIFO_TLFU && shard_items(s) > s->sketch.nwords)
        sketch_resize(&s->sketch, 2 * s->sketch.nwords);
    assert(shard_bytes(s) <= c->budget);
    shard_unlock(s);
    return CAMEO_OK;
}

int cameo_cache_remove(cameo_cache_t *c, const void *key, size_t key_len)
{
    uint64_t h;
    struct shard *s;
    cameo_entry_t **link;

    assert(c != NULL && (key != NULL || key_len == 0));
    h = key_hash(key, key_len);
    s = shard_of(c, h);
    shard_lock(s);
    link = chain_find(s, h, key, key_len);
    if (link != NULL)
        drop_at(s, link);
    shard_unlock(s);
    return link != NULL ? CAMEO_OK : CAMEO_ENOTFOUND;
}

size_t cameo_cache_remove_prefix(cameo_cache_t *c, const void *prefix, size_t prefix_len)
{
    size_t removed = 0, b;
    unsigned i;

    assert(c != NULL && (prefix != NULL || prefix_len == 0));
    for (i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];

        shard_lock(s);
        for (b = 0; b < s->nbuckets; b++) {
            cameo_entry_t **link = &s->buckets[b];

            while (*link != NULL) {
                cameo_entry_t *e = *link;

                if (e->key_len >= prefix_len && memcmp(e->key, prefix, prefix_len) == 0) {
                    drop_at(s, link);
                    removed++;
                } else {
                    link = &e->_chain;
                }
            }
        }
        shard_unlock(s);
    }
    return removed;
}

void cameo_cache_stats(cameo_cache_t *c, cameo_cache_stats_t *out)
{
    unsigned i;

    assert(c != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    out->capacity = c->capacity;
    for (i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];

        shard_lock(s);
        out->hits += s->hits;
        out->stale_hits += s->stale_hits;
        out->misses += s->misses;
        out->inserts += s->inserts;
        out->evictions += s->evictions;
        out->expired += s->expired;
        out->rejected += s->rejected;
        out->bytes += shard_bytes(s);
        out->items += shard_items(s);
        shard_unlock(s);
    }
}
