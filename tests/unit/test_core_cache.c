/*
 * test_core_cache.c - unit tests of the cache engine (src/core/core_cache.c)
 * through its public contract, include/cameo/cache.h.
 *
 * Time is passed in as `now`; nothing sleeps. Run under ASan/UBSan (and TSan
 * for the threaded test) these also catch use-after-free and races.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cameo/cache.h"

#define FOREVER UINT64_MAX
#define CHARGE(key_len, size) (sizeof(cameo_entry_t) + (key_len) + (size))

static cameo_cache_t *new_cache(size_t capacity, unsigned shards, cameo_policy_t policy, int unit_charge,
                                unsigned move_to_main)
{
    cameo_cache_config_t cfg = {
        .capacity = capacity,
        .shards = shards,
        .policy = policy,
        .unit_charge = unit_charge,
        .move_to_main = move_to_main,
    };
    cameo_cache_t *c = NULL;

    assert_int_equal(CAMEO_OK, cameo_cache_create(&cfg, &c));
    assert_non_null(c);
    return c;
}

/* A payload byte that depends on the key and its size, to check contents. */
static unsigned char fill_byte(const char *key, size_t size)
{
    unsigned char b = (unsigned char)size;

    for (; *key != '\0'; key++)
        b = (unsigned char)(b * 31 + (unsigned char)*key);
    return b;
}

/* Inserts key with a size-byte payload; returns what insert returned. */
static int put_ttl(cameo_cache_t *c, const char *key, size_t size, uint64_t expires_at, uint64_t stale_until,
                   uint64_t now)
{
    cameo_entry_t *e = cameo_entry_alloc(key, strlen(key), size);
    int rc;

    assert_non_null(e);
    memset(e->data, fill_byte(key, size), size);
    e->expires_at = expires_at;
    e->stale_until = stale_until;
    rc = cameo_cache_insert(c, e, now);
    cameo_entry_unref(e);
    return rc;
}

static int put(cameo_cache_t *c, const char *key, size_t size)
{
    return put_ttl(c, key, size, FOREVER, FOREVER, 0);
}

/* Looks key up at now and drops the reference; returns the lookup's code. */
static int get_at(cameo_cache_t *c, const char *key, uint64_t now)
{
    cameo_entry_t *e = NULL;
    int rc = cameo_cache_lookup(c, key, strlen(key), now, &e);

    if (rc == CAMEO_OK || rc == CAMEO_ESTALE) {
        assert_non_null(e);
        assert_int_equal(strlen(key), e->key_len);
        assert_memory_equal(key, e->key, e->key_len);
        cameo_entry_unref(e);
    } else {
        assert_null(e);
    }
    return rc;
}

static int get(cameo_cache_t *c, const char *key)
{
    return get_at(c, key, 0);
}

static cameo_cache_stats_t stats(cameo_cache_t *c)
{
    cameo_cache_stats_t st;

    cameo_cache_stats(c, &st);
    return st;
}

/* xorshift64: deterministic pseudo-random numbers for the load tests. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void test_create_rejects_bad_config(void **state)
{
    cameo_cache_config_t cfg = {.capacity = 1000, .shards = 4};
    cameo_cache_t *c = NULL;

    (void)state;
    cfg.capacity = 0;
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    cfg.capacity = 1000;
    cfg.shards = 3;
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    cfg.shards = 4;
    cfg.capacity = 2; /* fewer units than shards */
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    cfg.capacity = 1000;
    cfg.small_ratio = 1.5;
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    cfg.small_ratio = 0;
    cfg.move_to_main = 4; /* the frequency saturates at 3 */
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    assert_null(c);
    cfg.move_to_main = 0;
    cfg.policy = (cameo_policy_t)3; /* no such policy */
    assert_int_equal(CAMEO_EINVAL, cameo_cache_create(&cfg, &c));
    cfg.policy = CAMEO_POLICY_S3FIFO_TLFU;
    assert_int_equal(CAMEO_OK, cameo_cache_create(&cfg, &c));
    cameo_cache_destroy(c);
    c = NULL;
    cfg.policy = 0; /* zero-init: S3-FIFO, the default */
    assert_int_equal(CAMEO_POLICY_S3FIFO, 0);
    cfg.shards = 0; /* means 16 */
    assert_int_equal(CAMEO_OK, cameo_cache_create(&cfg, &c));
    assert_non_null(c);
    assert_int_equal(1000, stats(c).capacity);
    cameo_cache_destroy(c);
}

static void test_entry_alloc_rejects_empty_and_oversized_keys(void **state)
{
    static char big[65536];
    cameo_entry_t *e;

    (void)state;
    assert_null(cameo_entry_alloc("", 0, 10));
    assert_null(cameo_entry_alloc(big, sizeof(big), 10));
    assert_null(cameo_entry_alloc("k", 1, SIZE_MAX - 8));

    e = cameo_entry_alloc(big, sizeof(big) - 1, 3);
    assert_non_null(e);
    assert_int_equal(65535, e->key_len);
    assert_int_equal(0, e->expires_at);
    assert_int_equal(0, e->stale_until);
    assert_int_equal(0, (uintptr_t)e->data % alignof(max_align_t));
    memset(e->data, 0xab, 3); /* the payload does not overlap the key */
    assert_memory_equal(big, e->key, 65535);
    cameo_entry_unref(e);
}

static void test_evicts_the_one_hit_wonder_before_the_hot_key(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 1);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "hot", 0));
    assert_int_equal(CAMEO_OK, get(c, "hot"));
    assert_int_equal(CAMEO_OK, put(c, "wonder-0", 0));
    for (i = 1; i < 40; i++) {
        snprintf(key, sizeof(key), "wonder-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "wonder-0"));
    assert_int_equal(CAMEO_OK, get(c, "hot"));
    assert_int_equal(10, stats(c).items);
    assert_int_equal(31, stats(c).evictions);
    cameo_cache_destroy(c);
}

static void test_move_to_main_two_needs_two_hits_in_small(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 2);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "once", 0));
    assert_int_equal(CAMEO_OK, put(c, "twice", 0));
    assert_int_equal(CAMEO_OK, get(c, "once"));
    assert_int_equal(CAMEO_OK, get(c, "twice"));
    assert_int_equal(CAMEO_OK, get(c, "twice"));
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "wonder-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "once"));
    assert_int_equal(CAMEO_OK, get(c, "twice"));
    cameo_cache_destroy(c);
}

static void test_ghost_hit_goes_to_main(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 1);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "returning", 0));
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "first-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "returning")); /* evicted, hash now in the ghost */

    /* Reinserted together with a key the ghost has never seen: only the
     * returning key goes to main and survives a stream of one-hit wonders. */
    assert_int_equal(CAMEO_OK, put(c, "returning", 0));
    assert_int_equal(CAMEO_OK, put(c, "newcomer", 0));
    for (i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "second-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "newcomer"));
    assert_int_equal(CAMEO_OK, get(c, "returning"));
    cameo_cache_destroy(c);
}

static void test_main_gives_a_hit_entry_another_lap(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 1);
    char key[32];
    int i;

    (void)state;
    /* a0..a9 fill the cache and are each hit once: the next insert moves
     * them all to main and evicts a0, main's oldest, which has frequency 0
     * after the move. Main is then, oldest first: a1 .. a9. */
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "a%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "a%d", i);
        assert_int_equal(CAMEO_OK, get(c, key));
    }
    assert_int_equal(CAMEO_OK, put(c, "w0", 0));
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "a0"));

    /* w0 moves to main, which must give up an entry: a1 was hit, so it goes
     * round again and a2 is evicted instead. */
    assert_int_equal(CAMEO_OK, get(c, "a1"));
    assert_int_equal(CAMEO_OK, get(c, "w0"));
    assert_int_equal(CAMEO_OK, put(c, "w1", 0));
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "a2"));
    assert_int_equal(CAMEO_OK, get(c, "a1"));
    assert_int_equal(CAMEO_OK, get(c, "w0"));
    cameo_cache_destroy(c);
}

static void test_replacing_a_hot_key_keeps_it_in_main(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 1);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "hot", 0));
    assert_int_equal(CAMEO_OK, get(c, "hot"));
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "wonder-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_OK, put(c, "hot", 0)); /* a new version, e.g. revalidated */
    for (i = 10; i < 50; i++) {
        snprintf(key, sizeof(key), "wonder-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_OK, get(c, "hot"));
    cameo_cache_destroy(c);
}

static void test_ghost_forgets_keys_beyond_its_size(void **state)
{
    /* Capacity 10, small 1: the ghost holds about main's 9 entries. */
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_S3FIFO, 1, 1);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "old", 0));
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "later-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    /* Evicted 100 evictions ago: forgotten, so it goes to small and the
     * next one-hit wonders push it out again. */
    assert_int_equal(CAMEO_OK, put(c, "old", 0));
    for (i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "more-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "old"));
    cameo_cache_destroy(c);
}

static void test_lru_baseline_evicts_least_recently_used_first(void **state)
{
    cameo_cache_t *c = new_cache(3, 1, CAMEO_POLICY_LRU, 1, 0);

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "a", 0));
    assert_int_equal(CAMEO_OK, put(c, "b", 0));
    assert_int_equal(CAMEO_OK, put(c, "c", 0));
    assert_int_equal(CAMEO_OK, get(c, "a"));    /* order, newest first: a c b */
    assert_int_equal(CAMEO_OK, put(c, "d", 0)); /* d a c */
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "b"));
    assert_int_equal(CAMEO_OK, get(c, "c")); /* c d a */
    assert_int_equal(CAMEO_OK, put(c, "e", 0));
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "a"));
    assert_int_equal(CAMEO_OK, get(c, "c"));
    assert_int_equal(CAMEO_OK, get(c, "d"));
    assert_int_equal(CAMEO_OK, get(c, "e"));
    cameo_cache_destroy(c);
}

static void test_lru_baseline_evicts_a_hot_key_s3fifo_keeps(void **state)
{
    cameo_cache_t *c = new_cache(10, 1, CAMEO_POLICY_LRU, 1, 0);
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "hot", 0));
    assert_int_equal(CAMEO_OK, get(c, "hot"));
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "wonder-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "hot"));
    cameo_cache_destroy(c);
}

/* Random keys, sizes (some too big), lookups and removes; checks the bound
 * after every insert and, at the end, that bytes and items match what is
 * reachable. */
static void random_load(cameo_policy_t policy)
{
    enum { CAPACITY = 64 * 1024, SHARDS = 4, KEYS = 500, OPS = 20000 };
    const size_t max_charge = CAPACITY / SHARDS / 8;
    cameo_cache_t *c = new_cache(CAPACITY, SHARDS, policy, 0, 0);
    uint64_t rnd = 0x9e3779b97f4a7c15u, bytes = 0, items = 0;
    size_t too_big = 0;
    char key[32];
    int i;

    for (i = 0; i < OPS; i++) {
        unsigned op = (unsigned)(next_rand(&rnd) % 10);

        snprintf(key, sizeof(key), "key-%u", (unsigned)(next_rand(&rnd) % KEYS));
        if (op < 6) {
            size_t size = (size_t)(next_rand(&rnd) % (max_charge + 200));
            int rc = put(c, key, size);

            if (CHARGE(strlen(key), size) > max_charge) {
                assert_int_equal(CAMEO_ETOOBIG, rc);
                too_big++;
            } else {
                assert_int_equal(CAMEO_OK, rc);
            }
            assert_true(stats(c).bytes <= CAPACITY);
        } else if (op < 9) {
            int rc = get(c, key);

            assert_true(rc == CAMEO_OK || rc == CAMEO_ENOTFOUND);
        } else {
            int rc = cameo_cache_remove(c, key, strlen(key));

            assert_true(rc == CAMEO_OK || rc == CAMEO_ENOTFOUND);
        }
    }
    for (i = 0; i < KEYS; i++) {
        cameo_entry_t *e = NULL;

        snprintf(key, sizeof(key), "key-%d", i);
        if (cameo_cache_lookup(c, key, strlen(key), 0, &e) == CAMEO_OK) {
            bytes += CHARGE(e->key_len, e->size);
            items++;
            if (e->size > 0) {
                assert_int_equal(fill_byte(key, e->size), e->data[0]);
                assert_int_equal(fill_byte(key, e->size), e->data[e->size - 1]);
            }
            cameo_entry_unref(e);
        }
    }
    assert_int_equal(bytes, stats(c).bytes);
    assert_int_equal(items, stats(c).items);
    assert_int_equal(too_big, stats(c).rejected);
    assert_true(stats(c).evictions > 0); /* the load did exceed the capacity */
    assert_true(too_big > 0);
    cameo_cache_destroy(c);
}

static void test_byte_bound_holds_under_random_load_s3fifo(void **state)
{
    (void)state;
    random_load(CAMEO_POLICY_S3FIFO);
}

static void test_byte_bound_holds_under_random_load_lru(void **state)
{
    (void)state;
    random_load(CAMEO_POLICY_LRU);
}

static void test_byte_bound_holds_under_random_load_s3fifo_tlfu(void **state)
{
    (void)state;
    random_load(CAMEO_POLICY_S3FIFO_TLFU); /* byte charges: the sketch grows */
}

/* A trace-style access: look key up, insert it on a miss. True on a hit. */
static bool access_key(cameo_cache_t *c, const char *key)
{
    if (get(c, key) == CAMEO_OK)
        return true;
    assert_int_equal(CAMEO_OK, put(c, key, 0));
    return false;
}

/* Cache of 100 (small 10, main 90, ghost 90): puts n keys in main, each hit
 * twice in small, then never used again. */
static void fill_main_with_cold_keys(cameo_cache_t *c, int n)
{
    char key[32];
    int i, j;

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "cold-%d", i);
        for (j = 0; j < 3; j++)
            access_key(c, key);
        /* push it out of small (into main) before the next one */
        for (j = 0; j < 10; j++) {
            snprintf(key, sizeof(key), "filler-%d-%d", i, j);
            access_key(c, key);
        }
    }
}

/* A key used every 200 requests is never hit twice while in small and is
 * forgotten by the ghost (90 hashes) before it returns: S3-FIFO misses it
 * every time; the sketch remembers it and TinyLFU lets it replace a cold main
 * victim, after which it hits. */
static void recurring_key_hits(cameo_policy_t policy, int *hits_out)
{
    cameo_cache_t *c = new_cache(100, 1, policy, 1, 2);
    char key[32];
    int round, i, hits = 0;

    fill_main_with_cold_keys(c, 90);
    for (round = 0; round < 40; round++) {
        bool hit = access_key(c, "recurring");

        if (round >= 20)
            hits += hit;
        for (i = 0; i < 199; i++) {
            snprintf(key, sizeof(key), "wonder-%d-%d", round, i);
            access_key(c, key);
        }
    }
    *hits_out = hits;
    cameo_cache_destroy(c);
}

static void test_tlfu_admits_a_recurring_key_s3fifo_keeps_missing(void **state)
{
    int hits;

    (void)state;
    recurring_key_hits(CAMEO_POLICY_S3FIFO, &hits);
    assert_int_equal(0, hits);
    recurring_key_hits(CAMEO_POLICY_S3FIFO_TLFU, &hits);
    assert_true(hits >= 15); /* of its last 20 lookups */
}

/* One-hit wonders do not displace a frequent key from main: "hot", used once
 * every 50 requests, never misses once in main, although main's clock takes
 * its frequency to 0 between uses and it meets TinyLFU comparisons there. */
static void test_tlfu_one_hit_wonders_do_not_displace_a_frequent_key(void **state)
{
    cameo_cache_t *c = new_cache(100, 1, CAMEO_POLICY_S3FIFO_TLFU, 1, 2);
    char key[32];
    int round, i;

    (void)state;
    fill_main_with_cold_keys(c, 90);
    for (i = 0; i < 3; i++)
        access_key(c, "hot");
    for (round = 0; round < 400; round++) {
        if (round >= 20)
            assert_true(access_key(c, "hot"));
        else
            access_key(c, "hot");
        for (i = 0; i < 49; i++) {
            snprintf(key, sizeof(key), "wonder-%d-%d", round, i);
            access_key(c, key);
        }
    }
    assert_true(stats(c).evictions > 19000);
    cameo_cache_destroy(c);
}

/* The sketch ages: a key used 40 times (counters saturated) and then left
 * alone survives a short stream of one-hit wonders meeting it in main's
 * victim slot, but once halving has taken its count down it loses to them.
 * Without aging it would stay forever (a wonder's count is about 1). */
static void test_tlfu_sketch_ages_old_frequency_fades(void **state)
{
    cameo_cache_t *c = new_cache(100, 1, CAMEO_POLICY_S3FIFO_TLFU, 1, 2);
    char key[32];
    int i;

    (void)state;
    for (i = 0; i < 40; i++)
        access_key(c, "old-favourite");
    /* 80 keys: main (90) does not overflow, so its oldest entry, the old
     * favourite, meets every TinyLFU comparison. 1,040 lookups so far, 2,040
     * after the first wonders: less than one halving period (4,096). */
    fill_main_with_cold_keys(c, 80);
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "wonder-a-%d", i);
        access_key(c, key);
    }
    assert_int_equal(CAMEO_OK, get(c, "old-favourite"));
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "wonder-b-%d", i);
        access_key(c, key);
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "old-favourite"));
    cameo_cache_destroy(c);
}

static void test_replace_keeps_one_copy_and_correct_byte_count(void **state)
{
    cameo_cache_t *c = new_cache(1 << 20, 1, CAMEO_POLICY_S3FIFO, 0, 0);
    cameo_entry_t *old = NULL, *cur = NULL;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "k", 100));
    assert_int_equal(CAMEO_OK, cameo_cache_lookup(c, "k", 1, 0, &old));
    assert_int_equal(CAMEO_OK, put(c, "k", 200));
    assert_int_equal(1, stats(c).items);
    assert_int_equal(CHARGE(1, 200), stats(c).bytes);
    assert_int_equal(CAMEO_OK, cameo_cache_lookup(c, "k", 1, 0, &cur));
    assert_int_equal(200, cur->size);
    assert_int_equal(fill_byte("k", 200), cur->data[199]);
    /* The replaced entry is still readable through the reference we hold. */
    assert_int_equal(100, old->size);
    assert_int_equal(fill_byte("k", 100), old->data[99]);
    cameo_entry_unref(old);
    cameo_entry_unref(cur);
    assert_int_equal(CAMEO_OK, cameo_cache_remove(c, "k", 1));
    assert_int_equal(0, stats(c).bytes);
    cameo_cache_destroy(c);
}

static void test_ttl_fresh_then_stale_then_expired(void **state)
{
    cameo_cache_t *c = new_cache(1 << 20, 1, CAMEO_POLICY_S3FIFO, 0, 0);
    cameo_cache_stats_t st;

    (void)state;
    assert_int_equal(CAMEO_OK, put_ttl(c, "k", 10, 100, 200, 0));
    assert_int_equal(CAMEO_OK, get_at(c, "k", 50));
    assert_int_equal(CAMEO_OK, get_at(c, "k", 99));
    assert_int_equal(CAMEO_ESTALE, get_at(c, "k", 100));
    assert_int_equal(CAMEO_ESTALE, get_at(c, "k", 199));
    assert_int_equal(CAMEO_ENOTFOUND, get_at(c, "k", 200));
    st = stats(c);
    assert_int_equal(4, st.hits);
    assert_int_equal(2, st.stale_hits);
    assert_int_equal(1, st.misses);
    assert_int_equal(1, st.expired);
    assert_int_equal(0, st.items);
    assert_int_equal(0, st.bytes);
    /* Dropped, not just hidden: an earlier `now` does not bring it back. */
    assert_int_equal(CAMEO_ENOTFOUND, get_at(c, "k", 0));
    cameo_cache_destroy(c);
}

static void test_too_big_entry_rejected_and_old_entry_removed(void **state)
{
    enum { BUDGET = 80000 }; /* one shard: entries up to 10000 bytes */
    cameo_cache_t *c = new_cache(BUDGET, 1, CAMEO_POLICY_S3FIFO, 0, 0);
    size_t limit_size = BUDGET / 8 - CHARGE(1, 0);

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "k", 10));
    assert_int_equal(CAMEO_ETOOBIG, put(c, "k", limit_size + 1));
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "k"));
    assert_int_equal(1, stats(c).rejected);
    assert_int_equal(0, stats(c).items);
    assert_int_equal(0, stats(c).bytes);
    assert_int_equal(CAMEO_OK, put(c, "k", limit_size)); /* exactly 1/8 fits */
    assert_int_equal(CAMEO_OK, get(c, "k"));
    assert_int_equal(BUDGET / 8, stats(c).bytes);
    cameo_cache_destroy(c);
}

static void test_entry_outlives_eviction_while_referenced(void **state)
{
    cameo_cache_t *c = new_cache(8, 1, CAMEO_POLICY_S3FIFO, 1, 0);
    cameo_entry_t *held = NULL, *survivor = NULL;
    char key[32];
    int i;

    (void)state;
    assert_int_equal(CAMEO_OK, put(c, "held", 64));
    assert_int_equal(CAMEO_OK, cameo_cache_lookup(c, "held", 4, 0, &held));
    for (i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "other-%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "held")); /* evicted from the cache... */
    assert_memory_equal("held", held->key, 4);         /* ...but not freed */
    assert_int_equal(fill_byte("held", 64), held->data[0]);
    assert_int_equal(fill_byte("held", 64), held->data[63]);
    cameo_entry_unref(held);

    /* Also outlives the cache itself. */
    assert_int_equal(CAMEO_OK, cameo_cache_lookup(c, "other-49", 8, 0, &survivor));
    cameo_cache_destroy(c);
    assert_memory_equal("other-49", survivor->key, 8);
    cameo_entry_unref(survivor);
}

static void test_remove_and_remove_prefix_span_every_shard(void **state)
{
    cameo_cache_t *c = new_cache(1 << 20, 16, CAMEO_POLICY_S3FIFO, 1, 0);
    char key[32];
    int i, left = 0;

    (void)state;
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "user/%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
        snprintf(key, sizeof(key), "item/%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    assert_int_equal(CAMEO_OK, cameo_cache_remove(c, "user/0", 6));
    assert_int_equal(CAMEO_ENOTFOUND, cameo_cache_remove(c, "user/0", 6));
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "user/0"));
    assert_int_equal(199, stats(c).items);

    assert_int_equal(99, cameo_cache_remove_prefix(c, "user/", 5));
    assert_int_equal(0, cameo_cache_remove_prefix(c, "user/", 5));
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "user/%d", i);
        assert_int_equal(CAMEO_ENOTFOUND, get(c, key));
        snprintf(key, sizeof(key), "item/%d", i);
        left += get(c, key) == CAMEO_OK;
    }
    assert_int_equal(100, left);
    assert_int_equal(100, stats(c).items);
    assert_int_equal(100, cameo_cache_remove_prefix(c, "", 0));
    assert_int_equal(0, stats(c).items);
    assert_int_equal(0, stats(c).bytes);
    cameo_cache_destroy(c);
}

static void test_table_growth_keeps_every_entry_reachable(void **state)
{
    enum { N = 20000 };
    cameo_cache_t *c = new_cache(N, 1, CAMEO_POLICY_S3FIFO, 1, 0);
    char key[32];
    int i, found = 0;

    (void)state;
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(CAMEO_OK, put(c, key, 0));
    }
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        found += get(c, key) == CAMEO_OK;
    }
    assert_int_equal(N, found);
    assert_int_equal(0, stats(c).evictions);
    cameo_cache_destroy(c);
}

static void test_stats_count_hits_misses_inserts_and_evictions(void **state)
{
    cameo_cache_t *c = new_cache(2, 1, CAMEO_POLICY_LRU, 1, 0);
    cameo_cache_stats_t st;

    (void)state;
    assert_int_equal(CAMEO_ENOTFOUND, get(c, "a"));
    assert_int_equal(CAMEO_OK, put(c, "a", 0));
    assert_int_equal(CAMEO_OK, put(c, "b", 0));
    assert_int_equal(CAMEO_OK, put(c, "c", 0));
    assert_int_equal(CAMEO_OK, get(c, "c"));
    st = stats(c);
    assert_int_equal(1, st.hits);
    assert_int_equal(1, st.misses);
    assert_int_equal(3, st.inserts);
    assert_int_equal(1, st.evictions);
    assert_int_equal(2, st.items);
    assert_int_equal(2, st.bytes); /* unit charge */
    assert_int_equal(2, st.capacity);
    cameo_cache_destroy(c);
}

/* ---- threads ---- */

enum { THREADS = 4, THREAD_OPS = 20000, THREAD_KEYS = 2048, THREAD_CAPACITY = 256 * 1024 };

struct worker {
    cameo_cache_t *cache;
    uint64_t seed;
    uint64_t lookups;
    atomic_uint *failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rnd = w->seed;
    char key[32];
    int i;

    for (i = 0; i < THREAD_OPS; i++) {
        unsigned op = (unsigned)(next_rand(&rnd) % 10);
        cameo_entry_t *e = NULL;
        cameo_cache_stats_t st;
        int rc;

        snprintf(key, sizeof(key), "key-%u", (unsigned)(next_rand(&rnd) % THREAD_KEYS));
        if (op < 4) {
            size_t size = (size_t)(next_rand(&rnd) % 4096);

            e = cameo_entry_alloc(key, strlen(key), size);
            if (e == NULL) {
                atomic_fetch_add(w->failures, 1);
                continue;
            }
            memset(e->data, fill_byte(key, size), size);
            e->expires_at = e->stale_until = FOREVER;
            rc = cameo_cache_insert(w->cache, e, 0);
            cameo_entry_unref(e);
            cameo_cache_stats(w->cache, &st);
            if ((rc != CAMEO_OK && rc != CAMEO_ETOOBIG) || st.bytes > THREAD_CAPACITY)
                atomic_fetch_add(w->failures, 1);
        } else if (op < 9) {
            w->lookups++;
            rc = cameo_cache_lookup(w->cache, key, strlen(key), 0, &e);
            if (rc == CAMEO_OK) {
                if (e->key_len != strlen(key) || memcmp(e->key, key, e->key_len) != 0 ||
                    (e->size > 0 && (e->data[0] != fill_byte(key, e->size) ||
                                     e->data[e->size - 1] != fill_byte(key, e->size))))
                    atomic_fetch_add(w->failures, 1);
                cameo_entry_unref(e);
            } else if (rc != CAMEO_ENOTFOUND) {
                atomic_fetch_add(w->failures, 1);
            }
        } else if (op == 9 && (rnd & 0xff) == 0) {
            cameo_cache_remove_prefix(w->cache, "key-1", 5);
        } else {
            cameo_cache_remove(w->cache, key, strlen(key));
        }
    }
    return NULL;
}

static void test_concurrent_lookups_and_inserts_keep_the_bound(void **state)
{
    cameo_cache_t *c = new_cache(THREAD_CAPACITY, 4, CAMEO_POLICY_S3FIFO, 0, 0);
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    atomic_uint failures = 0;
    cameo_cache_stats_t st;
    uint64_t lookups = 0;
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.cache = c, .seed = 0x1234567u * (uint64_t)(i + 1), .failures = &failures};
        assert_int_equal(0, pthread_create(&tid[i], NULL, worker_main, &w[i]));
    }
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(0, pthread_join(tid[i], NULL));
        lookups += w[i].lookups;
    }
    assert_int_equal(0, atomic_load(&failures));
    st = stats(c);
    assert_true(st.bytes <= THREAD_CAPACITY);
    assert_int_equal(lookups, st.hits + st.misses);
    assert_true(st.hits > 0);
    assert_true(st.evictions > 0);
    cameo_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_bad_config),
        cmocka_unit_test(test_entry_alloc_rejects_empty_and_oversized_keys),
        cmocka_unit_test(test_evicts_the_one_hit_wonder_before_the_hot_key),
        cmocka_unit_test(test_move_to_main_two_needs_two_hits_in_small),
        cmocka_unit_test(test_ghost_hit_goes_to_main),
        cmocka_unit_test(test_ghost_forgets_keys_beyond_its_size),
        cmocka_unit_test(test_main_gives_a_hit_entry_another_lap),
        cmocka_unit_test(test_replacing_a_hot_key_keeps_it_in_main),
        cmocka_unit_test(test_lru_baseline_evicts_least_recently_used_first),
        cmocka_unit_test(test_lru_baseline_evicts_a_hot_key_s3fifo_keeps),
        cmocka_unit_test(test_byte_bound_holds_under_random_load_s3fifo),
        cmocka_unit_test(test_byte_bound_holds_under_random_load_lru),
        cmocka_unit_test(test_byte_bound_holds_under_random_load_s3fifo_tlfu),
        cmocka_unit_test(test_tlfu_admits_a_recurring_key_s3fifo_keeps_missing),
        cmocka_unit_test(test_tlfu_one_hit_wonders_do_not_displace_a_frequent_key),
        cmocka_unit_test(test_tlfu_sketch_ages_old_frequency_fades),
        cmocka_unit_test(test_replace_keeps_one_copy_and_correct_byte_count),
        cmocka_unit_test(test_ttl_fresh_then_stale_then_expired),
        cmocka_unit_test(test_too_big_entry_rejected_and_old_entry_removed),
        cmocka_unit_test(test_entry_outlives_eviction_while_referenced),
        cmocka_unit_test(test_remove_and_remove_prefix_span_every_shard),
        cmocka_unit_test(test_table_growth_keeps_every_entry_reachable),
        cmocka_unit_test(test_stats_count_hits_misses_inserts_and_evictions),
        cmocka_unit_test(test_concurrent_lookups_and_inserts_keep_the_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
