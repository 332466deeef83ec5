/*
 * metrics.h - counters and latency histograms of the whole process, and
 * their two renderings: Prometheus text (/metrics) and a JSON summary a
 * person can read (/v1/stats).
 *
 * Request counters are per worker: each worker thread is the only writer of
 * its own slot (relaxed atomic load + store, no contended read-modify-write
 * on the hot path); readers sum the slots. Origin counters are written from
 * origin threads and use atomic adds (origin calls are the slow path).
 * Tier figures are not kept here: they are read from each tier's stats().
 */
#ifndef CAMEO_METRICS_H
#define CAMEO_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "cameo/tier.h"

typedef enum {
    CAMEO_ROUTE_USER,
    CAMEO_ROUTE_USER_AVATAR,
    CAMEO_ROUTE_AVATAR,
    CAMEO_ROUTE_BATCH,
    CAMEO_ROUTE_INVALIDATE,
    CAMEO_ROUTE_HEALTHZ,
    CAMEO_ROUTE_READYZ,
    CAMEO_ROUTE_METRICS,
    CAMEO_ROUTE_STATS,
    CAMEO_ROUTE_EVENTS,
    CAMEO_ROUTE_WARM,
    CAMEO_ROUTE_USERS,  /* GET /v1/users: the listing */
    CAMEO_ROUTE_ASSETS, /* the embedded browser files (/cameo.js, /demo, /assets/...) */
    CAMEO_ROUTE_OTHER,
    CAMEO_ROUTE_COUNT
} cameo_route_t;

typedef enum {
    CAMEO_OP_GET_PROFILES,
    CAMEO_OP_GET_AVATAR,
    CAMEO_OP_PUT_PROFILE,
    CAMEO_OP_DELETE_PROFILE,
    CAMEO_OP_PUT_AVATAR,
    CAMEO_OP_DELETE_AVATAR,
    CAMEO_OP_LIST_IDS,
    CAMEO_OP_COUNT
} cameo_op_t;

/* Status codes counted one by one; any other lands in the last slot. */
#define CAMEO_STATUS_SLOTS 18

/* Latency histogram in microseconds; bucket i counts values <= bounds[i]. */
#define CAMEO_HIST_BUCKETS 30
typedef struct cameo_hist {
    atomic_uint_fast64_t buckets[CAMEO_HIST_BUCKETS + 1]; /* last: +Inf */
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t count;
} cameo_hist_t;

/* One worker's counters; written only by that worker's thread. */
typedef struct cameo_worker_metrics {
    atomic_uint_fast64_t requests[CAMEO_ROUTE_COUNT][CAMEO_STATUS_SLOTS];
    atomic_uint_fast64_t bytes_from_cache; /* body bytes answered from a tier */
    cameo_hist_t duration;
} cameo_worker_metrics_t;

typedef struct cameo_metrics {
    unsigned nworkers;
    cameo_worker_metrics_t *workers; /* nworkers slots */
    atomic_uint_fast64_t origin_requests[CAMEO_OP_COUNT];
    atomic_uint_fast64_t origin_errors[CAMEO_OP_COUNT];
    cameo_hist_t origin_duration;
    atomic_uint_fast64_t coalesced; /* requests that waited on another's fill */
    atomic_uint_fast64_t stale_served;
    atomic_uint_fast64_t stale_if_error;  /* of which: served because the origin failed */
    atomic_uint_fast64_t refreshes;       /* background refreshes started */
    atomic_uint_fast64_t refreshes_ahead; /* of fresh profiles near expiry (refresh-ahead) */
    atomic_uint_fast64_t warmed_profiles; /* loaded by POST /v1/warm or --warm-file */
    atomic_uint_fast64_t warmed_avatars;
    atomic_uint_fast64_t bus_sent;   /* invalidations published to the bus */
    atomic_uint_fast64_t bus_events; /* invalidations received from the bus */
    atomic_uint_fast64_t bus_resets; /* times the bus came up or went away */
    uint64_t started_at;             /* cameo_now_ms() at creation */
} cameo_metrics_t;

/* Allocates metrics for nworkers workers. NULL when out of memory. */
cameo_metrics_t *cameo_metrics_create(unsigned nworkers, uint64_t now);
void cameo_metrics_destroy(cameo_metrics_t *m);

/* Worker-side: count one request. Only the thread owning slot w may call it. */
void cameo_metrics_request(cameo_metrics_t *m, unsigned w, cameo_route_t route, int status, uint64_t us,
                           uint64_t bytes_from_cache);

/* Any thread: counts one observation of us microseconds in h. */
void cameo_hist_observe(cameo_hist_t *h, uint64_t us);

/* Any thread: count one origin call of op that took us and ended with err. */
void cameo_metrics_origin(cameo_metrics_t *m, cameo_op_t op, int err, uint64_t us);

/* Any thread: add to a plain counter. */
static inline void cameo_metrics_inc(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

const char *cameo_route_name(cameo_route_t r);
const char *cameo_op_name(cameo_op_t op);

/*
 * Writes the Prometheus text exposition (format 0.0.4) of m and of the tiers
 * to out. origin_name labels the origin series.
 */
void cameo_metrics_prometheus(const cameo_metrics_t *m, cameo_tier_t *const *tiers, size_t ntiers,
                              const char *origin_name, FILE *out);

/* Writes the /v1/stats JSON summary to out. now: cameo_now_ms(). */
void cameo_metrics_summary(const cameo_metrics_t *m, cameo_tier_t *const *tiers, size_t ntiers, uint64_t now,
                           FILE *out);

#endif
