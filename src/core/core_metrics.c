/*
 * core_metrics.c - process-wide counters and latency histograms, rendered as
 * Prometheus text and as the /v1/stats JSON summary.
 *
 * Called by the HTTP layer (one request at a time per worker slot) and the
 * engine (origin calls, coalescing, stale serving). Tier figures are read
 * from the tiers at render time; this module keeps none of its own.
 */
#include "cameo/metrics.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cameo/cameo.h"

/* Upper bounds of the histogram buckets, in microseconds. */
static const uint64_t hist_bounds[CAMEO_HIST_BUCKETS] = {
    10,    25,    50,    75,     100,    150,    200,     250,     350,     500,
    750,   1000,  1500,  2000,   2500,   3500,   5000,    7500,    10000,   15000,
    25000, 50000, 75000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

static const int status_codes[CAMEO_STATUS_SLOTS - 1] = {200, 201, 204, 302, 304, 400, 401, 403, 404,
                                                         405, 413, 415, 431, 500, 502, 503, 504};

static const char *const route_names[CAMEO_ROUTE_COUNT] = {
    "user",    "user_avatar", "avatar", "batch", "invalidate", "healthz", "readyz",
    "metrics", "stats",       "events", "warm",  "users",      "assets",  "other",
};

static const char *const op_names[CAMEO_OP_COUNT] = {
    "get_profiles", "get_avatar", "put_profile", "delete_profile", "put_avatar", "delete_avatar", "list_ids",
};

const char *cameo_route_name(cameo_route_t r)
{
    return (unsigned)r < CAMEO_ROUTE_COUNT ? route_names[r] : "other";
}

const char *cameo_op_name(cameo_op_t op)
{
    return (unsigned)op < CAMEO_OP_COUNT ? op_names[op] : "unknown";
}

cameo_metrics_t *cameo_metrics_create(unsigned nworkers, uint64_t now)
{
    cameo_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->workers = calloc(nworkers ? nworkers : 1, sizeof(*m->workers));
    if (m->workers == NULL) {
        free(m);
        return NULL;
    }
    m->nworkers = nworkers ? nworkers : 1;
    m->started_at = now;
    return m;
}

void cameo_metrics_destroy(cameo_metrics_t *m)
{
    if (m == NULL)
        return;
    free(m->workers);
    free(m);
}

static unsigned hist_slot(uint64_t us)
{
    unsigned lo = 0, hi = CAMEO_HIST_BUCKETS; /* first bound >= us, or +Inf */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (hist_bounds[mid] < us)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Single-writer increment: only the owning thread writes these fields. */
static inline void own_add(atomic_uint_fast64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

static unsigned status_slot(int status)
{
    for (unsigned i = 0; i < CAMEO_STATUS_SLOTS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return CAMEO_STATUS_SLOTS - 1;
}

void cameo_metrics_request(cameo_metrics_t *m, unsigned w, cameo_route_t route, int status, uint64_t us,
                           uint64_t bytes_from_cache)
{
    cameo_worker_metrics_t *wm = &m->workers[w < m->nworkers ? w : 0];
    own_add(
        &wm->requests[(unsigned)route < CAMEO_ROUTE_COUNT ? route : CAMEO_ROUTE_OTHER][status_slot(status)],
        1);
    own_add(&wm->duration.buckets[hist_slot(us)], 1);
    own_add(&wm->duration.sum_us, us);
    own_add(&wm->duration.count, 1);
    if (bytes_from_cache)
        own_add(&wm->bytes_from_cache, bytes_from_cache);
}

void cameo_hist_observe(cameo_hist_t *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->buckets[hist_slot(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void cameo_metrics_origin(cameo_metrics_t *m, cameo_op_t op, int err, uint64_t us)
{
    atomic_fetch_add_explicit(&m->origin_requests[op], 1, memory_order_relaxed);
    if (err != CAMEO_OK && err != CAMEO_ENOTFOUND)
        atomic_fetch_add_explicit(&m->origin_errors[op], 1, memory_order_relaxed);
    cameo_hist_observe(&m->origin_duration, us);
}

static uint64_t rd(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* A plain snapshot of one or more histograms, summed. */
typedef struct {
    uint64_t buckets[CAMEO_HIST_BUCKETS + 1], sum_us, count;
} hist_snap_t;

static void snap_add(hist_snap_t *s, const cameo_hist_t *h)
{
    for (unsigned i = 0; i <= CAMEO_HIST_BUCKETS; i++)
        s->buckets[i] += rd(&h->buckets[i]);
    s->sum_us += rd(&h->sum_us);
    s->count += rd(&h->count);
}

/* The q-quantile in microseconds, interpolated inside its bucket. */
static double snap_quantile(const hist_snap_t *s, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i <= CAMEO_HIST_BUCKETS; i++)
        total += s->buckets[i];
    if (total == 0)
        return 0;
    double rank = q * (double)total, seen = 0;
    for (unsigned i = 0; i <= CAMEO_HIST_BUCKETS; i++) {
        if (s->buckets[i] == 0)
            continue;
        if (seen + (double)s->buckets[i] >= rank) {
            double lo = i == 0 ? 0 : (double)hist_bounds[i - 1];
            double hi = i < CAMEO_HIST_BUCKETS ? (double)hist_bounds[i] : lo * 2;
            return lo + (hi - lo) * ((rank - seen) / (double)s->buckets[i]);
        }
        seen += (double)s->buckets[i];
    }
    return (double)hist_bounds[CAMEO_HIST_BUCKETS - 1];
}

/* Writes one histogram series; help != NULL also writes the family's
 * HELP and TYPE lines (once per family). */
static void write_hist(FILE *out, const char *name, const char *help, const char *labels,
                       const hist_snap_t *s)
{
    if (help != NULL)
        fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (unsigned i = 0; i < CAMEO_HIST_BUCKETS; i++) {
        cum += s->buckets[i];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, (double)hist_bounds[i] / 1e6,
                (unsigned long long)cum);
    }
    cum += s->buckets[CAMEO_HIST_BUCKETS];
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    fprintf(out, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (double)s->sum_us / 1e6);
    fprintf(out, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (unsigned long long)s->count);
}

static void write_counter(FILE *out, const char *name, const char *help, uint64_t v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

#define TIERS_MAX 8 /* the engine holds at most 4 */

/* One snapshot of each tier's figures: a scrape reads every tier once
 * (each read of the memory tier locks all its shards), and the series
 * agree with each other. */
static size_t snap_tiers(cameo_tier_t *const *tiers, size_t ntiers, cameo_tier_stats_t *st)
{
    assert(ntiers <= TIERS_MAX);
    for (size_t t = 0; t < ntiers && t < TIERS_MAX; t++) {
        memset(&st[t], 0, sizeof(st[t]));
        tiers[t]->ops->stats(tiers[t], &st[t]);
    }
    return ntiers < TIERS_MAX ? ntiers : TIERS_MAX;
}

void cameo_metrics_prometheus(const cameo_metrics_t *m, cameo_tier_t *const *tiers, size_t ntiers,
                              const char *origin_name, FILE *out)
{
    cameo_tier_stats_t sts[TIERS_MAX];
    ntiers = snap_tiers(tiers, ntiers, sts);
    fputs("# HELP cameo_requests_total Requests answered, by route and status code.\n"
          "# TYPE cameo_requests_total counter\n",
          out);
    for (unsigned r = 0; r < CAMEO_ROUTE_COUNT; r++) {
        for (unsigned c = 0; c < CAMEO_STATUS_SLOTS; c++) {
            uint64_t v = 0;
            for (unsigned w = 0; w < m->nworkers; w++)
                v += rd(&m->workers[w].requests[r][c]);
            if (v == 0)
                continue;
            if (c < CAMEO_STATUS_SLOTS - 1)
                fprintf(out, "cameo_requests_total{route=\"%s\",code=\"%d\"} %llu\n", route_names[r],
                        status_codes[c], (unsigned long long)v);
            else
                fprintf(out, "cameo_requests_total{route=\"%s\",code=\"other\"} %llu\n", route_names[r],
                        (unsigned long long)v);
        }
    }

    hist_snap_t req = {0};
    uint64_t from_cache = 0;
    for (unsigned w = 0; w < m->nworkers; w++) {
        snap_add(&req, &m->workers[w].duration);
        from_cache += rd(&m->workers[w].bytes_from_cache);
    }
    write_hist(out, "cameo_request_duration_seconds", "Time from request to response.", "", &req);
    write_counter(out, "cameo_bytes_served_from_cache_total", "Body bytes answered from a cache tier.",
                  from_cache);

    static const struct {
        const char *name, *type, *help;
    } tier_series[] = {
        {"cameo_tier_hits_total", "counter", "Lookups answered by the tier."},
        {"cameo_tier_misses_total", "counter", "Lookups the tier could not answer."},
        {"cameo_tier_evictions_total", "counter", "Entries evicted to stay within the tier's bound."},
        {"cameo_tier_bytes", "gauge", "Bytes held, counting keys, values and metadata."},
        {"cameo_tier_items", "gauge", "Entries held."},
        {"cameo_tier_capacity_bytes", "gauge", "The tier's bound in bytes."},
        {"cameo_tier_errors_total", "counter", "Commands of a remote tier that failed."},
        {"cameo_tier_timeouts_total", "counter", "Commands of a remote tier that got no answer in time."},
    };
    for (size_t s = 0; s < sizeof(tier_series) / sizeof(tier_series[0]); s++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", tier_series[s].name, tier_series[s].help,
                tier_series[s].name, tier_series[s].type);
        for (size_t t = 0; t < ntiers; t++) {
            const cameo_tier_stats_t st = sts[t];
            uint64_t v[] = {st.hits,  st.misses,   st.evictions, st.bytes,
                            st.items, st.capacity, st.errors,    st.timeouts};
            fprintf(out, "%s{tier=\"%s\"} %llu\n", tier_series[s].name, tiers[t]->ops->name,
                    (unsigned long long)v[s]);
        }
    }

    int family = 0;
    for (size_t t = 0; t < ntiers; t++) {
        const cameo_tier_stats_t st = sts[t];
        if (st.latency == NULL)
            continue;
        hist_snap_t snap = {0};
        snap_add(&snap, st.latency);
        char tl[64];
        snprintf(tl, sizeof(tl), "tier=\"%s\"", tiers[t]->ops->name);
        write_hist(out, "cameo_tier_request_duration_seconds",
                   family++ ? NULL : "Round trips of a remote tier's lookups and removals.", tl, &snap);
    }

    fputs("# HELP cameo_origin_requests_total Calls made to the origin, by operation.\n"
          "# TYPE cameo_origin_requests_total counter\n",
          out);
    for (unsigned op = 0; op < CAMEO_OP_COUNT; op++)
        fprintf(out, "cameo_origin_requests_total{origin=\"%s\",op=\"%s\"} %llu\n", origin_name, op_names[op],
                (unsigned long long)rd(&m->origin_requests[op]));
    fputs("# HELP cameo_origin_errors_total Origin calls that failed (not counting not-found).\n"
          "# TYPE cameo_origin_errors_total counter\n",
          out);
    for (unsigned op = 0; op < CAMEO_OP_COUNT; op++)
        fprintf(out, "cameo_origin_errors_total{origin=\"%s\",op=\"%s\"} %llu\n", origin_name, op_names[op],
                (unsigned long long)rd(&m->origin_errors[op]));
    hist_snap_t org = {0};
    snap_add(&org, &m->origin_duration);
    char labels[96];
    snprintf(labels, sizeof(labels), "origin=\"%s\"", origin_name);
    write_hist(out, "cameo_origin_request_duration_seconds", "Time an origin call took.", labels, &org);

    write_counter(out, "cameo_coalesced_total", "Requests that waited on another request's fill.",
                  rd(&m->coalesced));
    write_counter(out, "cameo_stale_served_total", "Responses served from an entry past its TTL.",
                  rd(&m->stale_served));
    write_counter(out, "cameo_refresh_ahead_total",
                  "Background refreshes of fresh profiles close to expiry (refresh-ahead).",
                  rd(&m->refreshes_ahead));
    write_counter(out, "cameo_warmed_profiles_total", "Profiles loaded by POST /v1/warm or --warm-file.",
                  rd(&m->warmed_profiles));
    write_counter(out, "cameo_warmed_avatars_total", "Avatars loaded by POST /v1/warm or --warm-file.",
                  rd(&m->warmed_avatars));
    write_counter(out, "cameo_stale_if_error_total",
                  "Responses served from an entry past its grace window because the origin failed.",
                  rd(&m->stale_if_error));
    write_counter(out, "cameo_refreshes_total", "Background refreshes of stale entries started.",
                  rd(&m->refreshes));
    write_counter(out, "cameo_bus_events_sent_total", "Invalidations published to other instances (bus).",
                  rd(&m->bus_sent));
    write_counter(out, "cameo_bus_events_received_total",
                  "Invalidations received from other instances (bus).", rd(&m->bus_events));
    write_counter(out, "cameo_bus_resets_total", "Times the invalidation bus came up or went away.",
                  rd(&m->bus_resets));
}

void cameo_metrics_summary(const cameo_metrics_t *m, cameo_tier_t *const *tiers, size_t ntiers, uint64_t now,
                           FILE *out)
{
    cameo_tier_stats_t sts[TIERS_MAX];
    ntiers = snap_tiers(tiers, ntiers, sts);
    hist_snap_t req = {0};
    uint64_t from_cache = 0;
    for (unsigned w = 0; w < m->nworkers; w++) {
        snap_add(&req, &m->workers[w].duration);
        from_cache += rd(&m->workers[w].bytes_from_cache);
    }
    uint64_t origin_reads =
        rd(&m->origin_requests[CAMEO_OP_GET_PROFILES]) + rd(&m->origin_requests[CAMEO_OP_GET_AVATAR]);
    uint64_t origin_calls = 0, origin_errors = 0;
    for (unsigned op = 0; op < CAMEO_OP_COUNT; op++) {
        origin_calls += rd(&m->origin_requests[op]);
        origin_errors += rd(&m->origin_errors[op]);
    }

    fprintf(out, "{\"uptime_s\":%llu,\"requests\":%llu,\"hit_rate\":{",
            (unsigned long long)((now - m->started_at) / 1000), (unsigned long long)req.count);
    uint64_t all_hits = 0, first_lookups = 0;
    for (size_t t = 0; t < ntiers; t++) {
        const cameo_tier_stats_t st = sts[t];
        uint64_t lookups = st.hits + st.misses;
        fprintf(out, "\"%s\":%.4f,", tiers[t]->ops->name, lookups ? (double)st.hits / (double)lookups : 0.0);
        all_hits += st.hits;
        if (t == 0)
            first_lookups = lookups;
    }
    fprintf(out, "\"overall\":%.4f},\"tiers\":{",
            first_lookups ? (double)all_hits / (double)first_lookups : 0.0);
    for (size_t t = 0; t < ntiers; t++) {
        const cameo_tier_stats_t st = sts[t];
        fprintf(out,
                "%s\"%s\":{\"hits\":%llu,\"misses\":%llu,\"evictions\":%llu,\"items\":%llu,\"bytes\":%llu,"
                "\"capacity\":%llu}",
                t ? "," : "", tiers[t]->ops->name, (unsigned long long)st.hits, (unsigned long long)st.misses,
                (unsigned long long)st.evictions, (unsigned long long)st.items, (unsigned long long)st.bytes,
                (unsigned long long)st.capacity);
    }
    uint64_t avoided = first_lookups > origin_reads ? first_lookups - origin_reads : 0;
    fprintf(
        out,
        "},\"origin_calls\":%llu,\"origin_errors\":%llu,\"origin_calls_avoided\":%llu,\"coalesced\":%llu,"
        "\"stale_served\":%llu,\"bytes_served_from_cache\":%llu,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f}}",
        (unsigned long long)origin_calls, (unsigned long long)origin_errors, (unsigned long long)avoided,
        (unsigned long long)rd(&m->coalesced), (unsigned long long)rd(&m->stale_served),
        (unsigned long long)from_cache, snap_quantile(&req, 0.50) / 1000.0,
        snap_quantile(&req, 0.99) / 1000.0);
}
