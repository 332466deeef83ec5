/*
 * core_events.c - the hub of change events: a ring of the last events
 * (the backlog for Last-Event-ID resume), a cap on event streams, and one
 * listener per worker loop that is woken when events arrive. See events.h.
 *
 * Called by the engine (events of writes through this instance), the bus
 * (events of other instances) and the HTTP layer (GET /v1/events).
 *
 * Beside each event of the ring, its server-sent-event frame, formatted
 * once at publish (outside the lock) for every stream that sends it.
 *
 * Resume and de-duplication look ids up in an index beside the ring: an
 * open-addressing table (linear probing, twice the backlog or more, a power
 * of two) of the seqs of the events held, by a hash of their id. An event
 * leaves the index as it falls off the ring (backward-shift deletion, so
 * no tombstones), so publish and find cost O(1), not a scan of the backlog
 * under the lock.
 *
 * Locks: one mutex guards everything but the stream count (an atomic).
 * Listeners are never freed before the hub, so a wake-up task already
 * posted to a loop stays valid after unlisten; it then does nothing.
 */
#include "cameo/events.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <xxhash.h>

#define LISTENERS_MAX 256 /* worker loops; --workers is at most 256 */

typedef struct listener {
    cameo_task_t task; /* first: the wake-up posted to the loop */
    cameo_hub_t *hub;
    cameo_loop_t *loop;
    void (*notify)(void *arg);
    void *arg;
    int active;  /* hub lock */
    int wanted;  /* hub lock: the loop has streams to wake (cameo_hub_want) */
    int pending; /* hub lock: a wake-up is posted and has not run */
} listener_t;

struct cameo_hub {
    pthread_mutex_t lock;
    cameo_event_t *ring;                 /* ring[(seq - 1) % cap]; hub lock */
    char (*frames)[CAMEO_EVENT_SSE_MAX]; /* frames[i]: ring[i]'s SSE frame; hub lock */
    uint16_t *frame_len;                 /* its length; hub lock */
    size_t cap, count;                   /* hub lock */
    uint64_t next_seq;                   /* hub lock */
    uint64_t *index; /* index_mask + 1 seqs (0: empty) of held events with an id; hub lock */
    size_t index_mask;
    listener_t *listeners[LISTENERS_MAX];
    size_t nlisteners; /* hub lock */
    unsigned max_subs;
    atomic_uint subs;
    uint32_t instance; /* random, names this instance in event ids */
    atomic_uint_fast64_t gaps;
    atomic_uint_fast64_t ids;
};

cameo_hub_t *cameo_hub_create(size_t backlog, unsigned max_subscribers)
{
    cameo_hub_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cap = backlog ? backlog : 1024;
    size_t slots = 2;
    while (slots < 2 * h->cap && slots <= SIZE_MAX / 4)
        slots *= 2;
    h->index_mask = slots - 1;
    h->ring = calloc(h->cap, sizeof(*h->ring));
    h->frames = calloc(h->cap, sizeof(*h->frames));
    h->frame_len = calloc(h->cap, sizeof(*h->frame_len));
    h->index = calloc(slots, sizeof(*h->index));
    if (h->ring == NULL || h->frames == NULL || h->frame_len == NULL || h->index == NULL) {
        free(h->ring);
        free(h->frames);
        free(h->frame_len);
        free(h->index);
        free(h);
        return NULL;
    }
    h->max_subs = max_subscribers ? max_subscribers : 1024;
    h->next_seq = 1;
    if (getrandom(&h->instance, sizeof(h->instance), 0) != (ssize_t)sizeof(h->instance)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        h->instance = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    }
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void cameo_hub_destroy(cameo_hub_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nlisteners; i++)
        free(h->listeners[i]);
    pthread_mutex_destroy(&h->lock);
    free(h->ring);
    free(h->frames);
    free(h->frame_len);
    free(h->index);
    free(h);
}

void cameo_hub_new_id(cameo_hub_t *h, cameo_event_t *ev)
{
    uint64_t n = atomic_fetch_add(&h->ids, 1) + 1;
    snprintf(ev->id, sizeof(ev->id), "%" PRIu64 "-%08x-%" PRIu64, ev->at_ms, h->instance, n);
}

static void listener_run(cameo_task_t *t)
{
    listener_t *l = (listener_t *)t;
    pthread_mutex_lock(&l->hub->lock);
    l->pending = 0;
    int active = l->active;
    pthread_mutex_unlock(&l->hub->lock);
    if (active)
        l->notify(l->arg);
}

/* ---- the index of ids (caller holds the lock) ---- */

static const cameo_event_t *held(cameo_hub_t *h, uint64_t seq)
{
    return &h->ring[(seq - 1) % h->cap];
}

static size_t home(cameo_hub_t *h, const char *id)
{
    return (size_t)XXH3_64bits(id, strlen(id)) & h->index_mask;
}

/* The slot of the index holding id's seq, or of the empty slot where its
 * probe ends. */
static size_t index_slot(cameo_hub_t *h, const char *id)
{
    size_t i = home(h, id);
    while (h->index[i] != 0 && strcmp(held(h, h->index[i])->id, id) != 0)
        i = (i + 1) & h->index_mask;
    return i;
}

static uint64_t find_locked(cameo_hub_t *h, const char *id)
{
    return id[0] != '\0' ? h->index[index_slot(h, id)] : 0;
}

/* Takes seq (held, with an id) out of the index, moving later entries of
 * its probe run back so that no lookup stops early. */
static void index_remove(cameo_hub_t *h, uint64_t seq)
{
    size_t i = index_slot(h, held(h, seq)->id);
    if (h->index[i] != seq)
        return;
    for (size_t j = (i + 1) & h->index_mask; h->index[j] != 0; j = (j + 1) & h->index_mask) {
        size_t k = home(h, held(h, h->index[j])->id);
        /* Stays when its home lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        h->index[i] = h->index[j];
        i = j;
    }
    h->index[i] = 0;
}

/* Posts a wake-up to every active listener that wants one and has none
 * pending. Caller holds the lock. */
static void wake_locked(cameo_hub_t *h)
{
    for (size_t i = 0; i < h->nlisteners; i++) {
        listener_t *l = h->listeners[i];
        if (l->active && l->wanted && !l->pending) {
            l->pending = 1;
            l->loop->post(l->loop, &l->task);
        }
    }
}

/* ev's SSE frame into frame; its length (0 when it does not fit). Its
 * strings need no escaping: the engine checked the ones that came from the
 * bus (on_bus_event), the rest are cameo's own. */
static size_t format_frame(const cameo_event_t *ev, char frame[CAMEO_EVENT_SSE_MAX])
{
    char data[CAMEO_EVENT_DATA_MAX + 1];
    size_t dn = cameo_event_json(ev, data, sizeof(data));
    data[dn] = '\0';
    int n = snprintf(frame, CAMEO_EVENT_SSE_MAX, "id: %s\nevent: %s\ndata: %s\n\n", ev->id, ev->type, data);
    return n > 0 && n < CAMEO_EVENT_SSE_MAX ? (size_t)n : 0;
}

uint64_t cameo_hub_publish(cameo_hub_t *h, const cameo_event_t *ev)
{
    char frame[CAMEO_EVENT_SSE_MAX];
    size_t frame_len = format_frame(ev, frame);
    pthread_mutex_lock(&h->lock);
    if (ev->id[0] != '\0' && find_locked(h, ev->id) != 0) {
        pthread_mutex_unlock(&h->lock);
        return 0; /* heard twice (from the bus and locally): once is enough */
    }
    uint64_t seq = h->next_seq++;
    cameo_event_t *slot = &h->ring[(seq - 1) % h->cap];
    if (h->count == h->cap && slot->id[0] != '\0')
        index_remove(h, slot->seq); /* the oldest falls off */
    *slot = *ev;
    slot->seq = seq;
    memcpy(h->frames[(seq - 1) % h->cap], frame, frame_len);
    h->frame_len[(seq - 1) % h->cap] = (uint16_t)frame_len;
    if (slot->id[0] != '\0')
        h->index[index_slot(h, slot->id)] = seq;
    if (h->count < h->cap)
        h->count++;
    wake_locked(h);
    pthread_mutex_unlock(&h->lock);
    return seq;
}

void cameo_hub_gap(cameo_hub_t *h)
{
    pthread_mutex_lock(&h->lock);
    atomic_fetch_add(&h->gaps, 1);
    wake_locked(h);
    pthread_mutex_unlock(&h->lock);
}

uint64_t cameo_hub_gaps(cameo_hub_t *h)
{
    return atomic_load(&h->gaps);
}

size_t cameo_hub_read(cameo_hub_t *h, uint64_t after, cameo_event_t *out, size_t max, uint64_t *oldest)
{
    pthread_mutex_lock(&h->lock);
    uint64_t first = h->count ? h->next_seq - h->count : 0;
    *oldest = first;
    size_t n = 0;
    if (h->count) {
        for (uint64_t s = after + 1 > first ? after + 1 : first; s < h->next_seq && n < max; s++)
            out[n++] = h->ring[(s - 1) % h->cap];
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

size_t cameo_hub_read_sse(cameo_hub_t *h, uint64_t after, size_t max, char *buf, size_t len, size_t *written,
                          uint64_t *last, uint64_t *oldest)
{
    size_t n = 0, w = 0;
    *last = after;
    pthread_mutex_lock(&h->lock);
    uint64_t first = h->count ? h->next_seq - h->count : 0;
    *oldest = first;
    if (h->count) {
        for (uint64_t s = after + 1 > first ? after + 1 : first; s < h->next_seq && n < max; s++) {
            size_t i = (s - 1) % h->cap, fl = h->frame_len[i];
            if (fl > len - w)
                break;
            memcpy(buf + w, h->frames[i], fl);
            w += fl;
            *last = s;
            n++;
        }
    }
    pthread_mutex_unlock(&h->lock);
    *written = w;
    return n;
}

uint64_t cameo_hub_find(cameo_hub_t *h, const char *id)
{
    pthread_mutex_lock(&h->lock);
    uint64_t seq = find_locked(h, id);
    pthread_mutex_unlock(&h->lock);
    return seq;
}

uint64_t cameo_hub_last(cameo_hub_t *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t seq = h->next_seq - 1;
    pthread_mutex_unlock(&h->lock);
    return seq;
}

int cameo_hub_acquire(cameo_hub_t *h)
{
    unsigned n = atomic_load(&h->subs);
    do {
        if (n >= h->max_subs)
            return CAMEO_EBUSY;
    } while (!atomic_compare_exchange_weak(&h->subs, &n, n + 1));
    return CAMEO_OK;
}

void cameo_hub_release(cameo_hub_t *h)
{
    atomic_fetch_sub(&h->subs, 1);
}

unsigned cameo_hub_subscribers(cameo_hub_t *h)
{
    return atomic_load(&h->subs);
}

int cameo_hub_listen(cameo_hub_t *h, cameo_loop_t *loop, void (*notify)(void *arg), void *arg)
{
    pthread_mutex_lock(&h->lock);
    listener_t *l = NULL;
    for (size_t i = 0; i < h->nlisteners && l == NULL; i++)
        if (h->listeners[i]->loop == loop)
            l = h->listeners[i]; /* listening again after an unlisten: reuse */
    if (l == NULL) {
        if (h->nlisteners == LISTENERS_MAX || (l = calloc(1, sizeof(*l))) == NULL) {
            pthread_mutex_unlock(&h->lock);
            return CAMEO_ENOMEM;
        }
        l->task.run = listener_run;
        l->hub = h;
        l->loop = loop;
        h->listeners[h->nlisteners++] = l;
    }
    l->notify = notify;
    l->arg = arg;
    l->active = 1;
    l->wanted = 1;
    pthread_mutex_unlock(&h->lock);
    return CAMEO_OK;
}

void cameo_hub_want(cameo_hub_t *h, cameo_loop_t *loop, int want)
{
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->nlisteners; i++)
        if (h->listeners[i]->loop == loop)
            h->listeners[i]->wanted = want != 0;
    pthread_mutex_unlock(&h->lock);
}

void cameo_hub_unlisten(cameo_hub_t *h, cameo_loop_t *loop)
{
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->nlisteners; i++)
        if (h->listeners[i]->loop == loop)
            h->listeners[i]->active = 0;
    pthread_mutex_unlock(&h->lock);
}

size_t cameo_event_json(const cameo_event_t *ev, char *buf, size_t len)
{
    /* user and version are validated ([A-Za-z0-9._-]), ids are ours: no
     * escaping is needed. */
    int n;
    if (ev->version[0] != '\0')
        n = snprintf(buf, len,
                     "{\"type\":\"%s\",\"id\":\"%s\",\"user\":\"%s\",\"version\":\"%s\",\"at\":%" PRIu64 "}",
                     ev->type, ev->id, ev->user, ev->version, ev->at_ms);
    else
        n = snprintf(buf, len,
                     "{\"type\":\"%s\",\"id\":\"%s\",\"user\":\"%s\",\"version\":null,\"at\":%" PRIu64 "}",
                     ev->type, ev->id, ev->user, ev->at_ms);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}
