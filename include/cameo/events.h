/*
 * events.h - change events (profile.updated, profile.deleted,
 * avatar.updated, avatar.deleted) and the process-wide hub that keeps a
 * bounded backlog of them for GET /v1/events (server-sent events).
 *
 * Producers: the engine, when a write through this instance is committed
 * (after its invalidation), and the bus, when another instance's write
 * arrives. Consumers: the HTTP layer's SSE streams. Each worker loop
 * registers one listener; the hub wakes it (through the loop's post) when
 * events arrive, and the worker reads what its streams have not sent yet.
 *
 * Event ids are made by the instance that took the write and travel with
 * the event, so a client may resume (Last-Event-ID) on any instance that
 * still holds the event in its backlog.
 *
 * Threading: every function may be called from any thread, except where
 * noted; one mutex guards the hub.
 */
#ifndef CAMEO_EVENTS_H
#define CAMEO_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "cameo/loop.h"
#include "cameo/origin.h"

#define CAMEO_EVENT_ID_MAX 48
#define CAMEO_EVENT_DATA_MAX 512 /* the JSON of one event, without NUL */
/* One event as a server-sent event, "id: ID\nevent: TYPE\ndata: JSON\n\n". */
#define CAMEO_EVENT_SSE_MAX (CAMEO_EVENT_ID_MAX + 24 + CAMEO_EVENT_DATA_MAX + 32)

typedef struct cameo_event {
    uint64_t seq;                /* order in this hub, from 1; set by publish */
    char id[CAMEO_EVENT_ID_MAX]; /* e.g. "1763767200123-9f2c4e1a-17" */
    char type[24];               /* "profile.updated", ... */
    char user[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1]; /* the new avatar version, "" when none */
    uint64_t at_ms;                      /* wall clock of the write */
} cameo_event_t;

typedef struct cameo_hub cameo_hub_t;

/* A hub keeping the last `backlog` events (0 means 1024) for at most
 * `max_subscribers` streams (0 means 1024). NULL when out of memory. */
cameo_hub_t *cameo_hub_create(size_t backlog, unsigned max_subscribers);
void cameo_hub_destroy(cameo_hub_t *h);

/* Fills ev->id with a new id of this instance ("<at_ms>-<instance>-<n>"). */
void cameo_hub_new_id(cameo_hub_t *h, cameo_event_t *ev);

/* Appends a copy of ev (with its id) to the backlog, dropping the oldest
 * when full, sets its seq, and wakes every listener. An event whose id is
 * already in the backlog is ignored (returns 0); else returns its seq. */
uint64_t cameo_hub_publish(cameo_hub_t *h, const cameo_event_t *ev);

/* Copies up to max events with seq > after into out, oldest first.
 * Returns how many. *oldest gets the seq of the oldest event still held (0
 * when empty): a reader that is behind it has missed events. */
size_t cameo_hub_read(cameo_hub_t *h, uint64_t after, cameo_event_t *out, size_t max, uint64_t *oldest);

/* The server-sent-event frames of the events with seq > after, oldest
 * first, copied into buf[0..len): at most max, and only whole frames (one
 * takes at most CAMEO_EVENT_SSE_MAX bytes). Each frame is formatted once, as
 * its event is published, for every stream that sends it. Returns how many;
 * *written gets their bytes (no NUL), *last the seq of the last one (after
 * when none), *oldest as in cameo_hub_read. */
size_t cameo_hub_read_sse(cameo_hub_t *h, uint64_t after, size_t max, char *buf, size_t len, size_t *written,
                          uint64_t *last, uint64_t *oldest);

/* The seq of the event with this id, if the backlog holds it (resume);
 * else 0. */
uint64_t cameo_hub_find(cameo_hub_t *h, const char *id);

/* Marks a gap: events from other instances may have been missed (the bus
 * was away). Wakes every listener; streams then tell their clients with a
 * reset. cameo_hub_gaps() counts the gaps so far. */
void cameo_hub_gap(cameo_hub_t *h);
uint64_t cameo_hub_gaps(cameo_hub_t *h);

/* The seq of the newest event (0 when none): where a new stream starts. */
uint64_t cameo_hub_last(cameo_hub_t *h);

/* Streams: take a place before starting one (CAMEO_EBUSY past
 * max_subscribers), give it back when it ends. */
int cameo_hub_acquire(cameo_hub_t *h);
void cameo_hub_release(cameo_hub_t *h);
unsigned cameo_hub_subscribers(cameo_hub_t *h);

/* Listeners, one per worker loop. listen() on the loop's thread; after
 * unlisten() (on the loop's thread) notify never runs again. notify runs on
 * the loop's thread, at most one wake-up pending per listener. */
int cameo_hub_listen(cameo_hub_t *h, cameo_loop_t *loop, void (*notify)(void *arg), void *arg);
void cameo_hub_unlisten(cameo_hub_t *h, cameo_loop_t *loop);

/* Whether loop's listener is woken (on the loop's thread; on after
 * listen). A worker with no open stream turns it off, so events do not wake
 * every worker for nothing; it turns it on before its first stream reads
 * where to start, so no event between the two is missed. */
void cameo_hub_want(cameo_hub_t *h, cameo_loop_t *loop, int want);

/* The JSON data line of an event: {"type","id","user","version","at"}.
 * Returns its length (< CAMEO_EVENT_DATA_MAX). */
size_t cameo_event_json(const cameo_event_t *ev, char *buf, size_t len);

#endif
