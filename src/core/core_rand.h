/*
 * core_rand.h - the project's one pseudo-random generator, xorshift64*
 * (Vigna 2016), for jitter and sampling: retry backoff (origin_http.c),
 * reconnect delays and TTL spread (tier_redis.c), refresh-ahead draws
 * (core_engine.c). Never for anything an attacker must not guess.
 *
 * The state is a uint64_t owned by one thread at a time (a loop's slot, a
 * connection, a thread-local); seed it with cameo__rand_seed, which mixes
 * the kernel's randomness (getrandom, non-blocking) with the salt, so two
 * processes, or two loops of one process, never draw the same sequence.
 */
#ifndef CAMEO_CORE_RAND_H
#define CAMEO_CORE_RAND_H

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* A nonzero seed from the kernel and salt (any address that differs
 * between the states seeded, e.g. the state's own). */
static inline uint64_t cameo__rand_seed(const void *salt)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* early boot: weaker, still varied */
        r = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    r ^= (uint64_t)(uintptr_t)salt * 0x9E3779B97F4A7C15ull;
    return r != 0 ? r : 0x9E3779B97F4A7C15ull;
}

/* The next 64 random bits from *state (nonzero, as seeded). */
static inline uint64_t cameo__rand_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
