/*
 * engine.h - the read and write paths of cameo: tiers in order, then the
 * origin, with request coalescing, stale-while-revalidate, refresh-ahead,
 * stale-if-error, negative entries, invalidation on every write, and change
 * events.
 *
 * The HTTP layer (src/http) is the only caller. The engine knows nothing of
 * HTTP or of the event loop library: answers that come later are handed to a
 * cameo_loop_t, a tiny interface the caller implements to run a task on the
 * thread of the loop that asked.
 *
 * Keys. A profile lives under "p:{id}" (its payload also carries the avatar
 * pointer, so one entry serves GET /v1/users/{id} and its avatar redirect);
 * avatar bytes under "b:{id}/{version}", immutable, only ever evicted.
 *
 * Coalescing. Every miss looks in a table of flights (fills in progress,
 * across all workers): if one exists for the key, the request waits on it
 * (cameo_coalesced_total) instead of calling the origin. A write removes the
 * key from every tier and detaches any flight for it, so a read that starts
 * after the write is acknowledged never sees the old value, and a fill that
 * started before the write never stores it.
 */
#ifndef CAMEO_ENGINE_H
#define CAMEO_ENGINE_H

#include "cameo/cache.h"
#include "cameo/events.h"
#include "cameo/loop.h"
#include "cameo/metrics.h"
#include "cameo/origin.h"
#include "cameo/tier.h"

typedef struct cameo_engine cameo_engine_t;

#define CAMEO_STALE_IF_ERROR_OFF UINT64_MAX
#define CAMEO_REFRESH_AHEAD_OFF UINT64_MAX

typedef struct cameo_engine_config {
    uint64_t ttl_ms;          /* profiles: fresh for this long (default 300 s) */
    uint64_t grace_ms;        /* then served stale while one refresh runs (default 60 s) */
    uint64_t negative_ttl_ms; /* unknown users and avatar versions (default 10 s) */
    uint64_t blob_ttl_ms;     /* avatar bytes, immutable (default 1 day) */
    uint64_t bus_down_ttl_ms; /* with a bus that is down: how long a local profile is trusted (default 1 s) */
    /* stale-if-error: after its grace window a profile is kept this much
     * longer past its TTL (default 24 h; CAMEO_STALE_IF_ERROR_OFF for none)
     * and served, instead of an error, when the origin fails or times out
     * (not when it says the user does not exist). Counted in stale_served
     * and stale_if_error. */
    uint64_t stale_if_error_ms;
    /* refresh-ahead: in this last part of a profile's TTL, reads start a
     * background refresh with a probability that grows as expiry nears, so
     * hot profiles are refreshed before they expire (default ttl / 10, at
     * most ttl / 2; CAMEO_REFRESH_AHEAD_OFF for none). A batch read refreshes its due ids
     * in one origin call. Counted in refreshes_ahead. */
    uint64_t refresh_ahead_ms;
    /* optional: the change events of committed writes and of
     * cameo_engine_invalidate_ids, and other instances' from the bus, are
     * published there */
    cameo_hub_t *hub;
} cameo_engine_config_t;

/*
 * Creates the engine over tiers[0..ntiers) (read order, memory first) and
 * origin. The engine does not own them: destroy them after the engine.
 * Returns CAMEO_OK and *out, CAMEO_EINVAL, or CAMEO_ENOMEM.
 */
int cameo_engine_create(const cameo_engine_config_t *cfg, cameo_tier_t *const *tiers, size_t ntiers,
                        cameo_origin_t *origin, cameo_metrics_t *metrics, cameo_engine_t **out);

/* Waits until no origin call is in flight, then frees the engine. */
void cameo_engine_destroy(cameo_engine_t *e);

/* A pending read. The caller embeds it in its request context, sets done,
 * and passes it to a read; done(r) then runs on r->loop's thread with
 * r->err and r->entry set (entry: a reference the caller owns, or NULL). */
typedef struct cameo_read {
    cameo_loop_t *loop;
    void (*done)(struct cameo_read *r);
    int err;              /* CAMEO_OK, CAMEO_ENOTFOUND, or an origin error */
    cameo_entry_t *entry; /* payload laid out by core_resp.h */
    /* private */
    cameo_task_t _task;
    struct cameo_read *_next_waiter;
    struct cameo_batch *_batch;
    size_t _slot;
} cameo_read_t;

/*
 * Reads user id's profile entry.
 * Returns CAMEO_OK with *out (a reference; fresh, or stale while a refresh is
 * started in the background) on a hit in a local tier (a remote tier's hit,
 * like the origin's answer, comes through r->done); CAMEO_ENOTFOUND on a
 * cached negative entry; CAMEO_EPENDING when r->done will run later; or an
 * error (CAMEO_EBUSY, CAMEO_EUNAVAIL) with no callback.
 */
int cameo_engine_get_profile(cameo_engine_t *e, const char *id, uint64_t now, cameo_read_t *r,
                             cameo_entry_t **out);

/* Reads the bytes of avatar version of user id. Same contract as above. */
int cameo_engine_get_blob(cameo_engine_t *e, const char *id, const char *version, uint64_t now,
                          cameo_read_t *r, cameo_entry_t **out);

/*
 * A batch read of profiles: ids[0..n) (distinct, valid, n <= 1000). Hits are
 * filled in at once; every remaining miss that no other request is already
 * fetching goes to the remote tier in ONE lookup, and what it lacks to the
 * origin in ONE batched call. results[i] / errs[i] get
 * each id's entry (a reference) and CAMEO_OK or CAMEO_ENOTFOUND (or an origin
 * error). Returns CAMEO_OK when everything was answered from the tiers, or
 * CAMEO_EPENDING when r->done runs later (r->entry unused; r->err is the
 * first origin error, if any). results and errs must stay valid until then.
 */
int cameo_engine_get_profiles(cameo_engine_t *e, const char *const *ids, size_t n, uint64_t now,
                              cameo_entry_t **results, int *errs, cameo_read_t *r);

/* A pending listing of user ids. The caller embeds it, sets loop and done,
 * and passes it to cameo_engine_list_ids; done(l) then runs on l->loop's
 * thread with l->err and, on CAMEO_OK, l->ids[0..l->n) (ascending). l->ids
 * is one malloc'd block (the strings follow the pointers): the caller owns
 * it and frees it with free(). */
typedef struct cameo_list {
    cameo_loop_t *loop;
    void (*done)(struct cameo_list *l);
    int err;
    const char **ids;
    size_t n;
    /* private */
    cameo_task_t _task;
    cameo_engine_t *_engine;
    uint64_t _started_us;
} cameo_list_t;

/*
 * Lists up to limit (1..1000) user ids after `after` (NULL or "": from the
 * first) from the origin; listings are not cached (read the profiles with
 * cameo_engine_get_profiles, which is). Returns CAMEO_OK when l->done will
 * run, CAMEO_ENOTSUP when the origin cannot list, or another error (no
 * callback).
 */
int cameo_engine_list_ids(cameo_engine_t *e, const char *after, size_t limit, cameo_list_t *l);

/* A pending write. done(w) runs on w->loop's thread with err, the profile
 * entry as stored (a reference, or NULL) and created. */
typedef struct cameo_write {
    cameo_loop_t *loop;
    void (*done)(struct cameo_write *w);
    int err;
    int created;
    cameo_entry_t *entry;
    /* private */
    cameo_task_t _task;
    cameo_engine_t *_engine;
    uint64_t _now;
    char _id[CAMEO_ID_MAX + 1];
    int _op;
    char _event[CAMEO_EVENT_DATA_MAX]; /* the change event's JSON, for the bus */
    size_t _event_len;
} cameo_write_t;

/* Writes through to the origin (now_wall: ms since the epoch, stored as
 * updated_at). Before w->done runs, every tier has dropped
 * user id's entries, so the next read on this instance sees the write. Each
 * returns CAMEO_OK (done will run) or an error (it will not). */
int cameo_engine_put_profile(cameo_engine_t *e, const char *id, const char *doc, size_t len,
                             uint64_t now_wall, cameo_write_t *w);
int cameo_engine_delete_profile(cameo_engine_t *e, const char *id, uint64_t now_wall, cameo_write_t *w);
int cameo_engine_put_avatar(cameo_engine_t *e, const char *id, const cameo_blob_t *blob, uint64_t now_wall,
                            cameo_write_t *w);
int cameo_engine_delete_avatar(cameo_engine_t *e, const char *id, uint64_t now_wall, cameo_write_t *w);

/* Drops user id's entries from the local tiers and detaches any fill in
 * flight. Synchronous; the remote tier is not touched (see below). */
void cameo_engine_invalidate(cameo_engine_t *e, const char *id);

/* Invalidates ids[0..n) everywhere: the local tiers at once, then the
 * remote tier in one round trip from w->loop, and announces a
 * "profile.updated" event per id (so open pages read the profile again) to
 * this instance's event streams and, after the removal on the same
 * connection, to the other instances through the bus. Returns CAMEO_OK when
 * all is done already (no remote tier, or it is away: its copies then expire
 * by their TTL), or CAMEO_EPENDING and w->done runs later with w->err OK. */
int cameo_engine_invalidate_ids(cameo_engine_t *e, const char *const *ids, size_t n, cameo_write_t *w);

/* Each worker loop calls attach on its thread as it starts, and detach as
 * it stops after its last request: remote tiers keep a connection per
 * loop. attach returns CAMEO_OK, or the first error of the remote tier's
 * or the origin's attach (e.g. CAMEO_ENOMEM): then nothing is left
 * attached to loop (do not detach it, and do not serve from it: every read
 * there would answer CAMEO_EUNAVAIL), and errbuf (when not NULL) holds one
 * line naming what failed, e.g. "the redis tier cannot attach: out of
 * memory". */
int cameo_engine_attach(cameo_engine_t *e, cameo_loop_t *loop, char *errbuf, size_t errlen);
void cameo_engine_detach(cameo_engine_t *e, cameo_loop_t *loop);

/* For the Age header: 0 while entry is fresh, else about how many seconds
 * ago its value came from the origin (from its expiry and the TTL). */
uint64_t cameo_engine_age_s(const cameo_engine_t *e, const cameo_entry_t *entry, uint64_t now);

/* 1 when no fill or write is waiting on a tier or the origin. */
int cameo_engine_idle(cameo_engine_t *e);

/* For /readyz and /metrics: the tiers and origin the engine runs on. */
size_t cameo_engine_tiers(cameo_engine_t *e, cameo_tier_t *const **out);
cameo_origin_t *cameo_engine_origin(cameo_engine_t *e);

#endif
