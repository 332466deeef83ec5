/*
 * http_events.c - GET /v1/events: change events as server-sent events
 * (text/event-stream), read from the hub (events.h). The route itself
 * (method check, errors, metrics) is in http_routes.c.
 *
 * Runs on worker loop threads only; each worker keeps the list of its open
 * streams (w->sse).
 *
 * Stream lifetime: cameo__events_open() takes a subscriber place from the
 * hub and allocates the stream, tied to the request's pool by a shared
 * reference whose dispose callback unlinks the stream, gives the place
 * back (exactly once) and frees it. h2o disposes the request's pool in
 * every case: the final chunk was written, the client left (write error:
 * the generator's stop runs first), or the connection was shut down at
 * exit. Nothing else frees a stream, so nothing touches a freed request.
 *
 * Writing: one h2o_send in flight per stream (st->writing), cleared by the
 * generator's proceed, which then sends whatever the stream has not sent
 * yet. The stream's cursor is the hub seq of the last event it sent; the
 * hub keeps the events, so a stream that is busy writing loses nothing
 * unless it falls behind the backlog: then it gets a `reset` event and
 * jumps to the newest event. A write carries at most SSE_BATCH events
 * (< 32 KiB), their frames copied as the hub formatted them at publish.
 *
 * Wake-up: one hub listener per worker; its notify (on the loop thread)
 * pushes to every stream of the worker that is not writing. The listener
 * is woken only while the worker has streams (cameo_hub_want: on as the
 * first opens, before it reads its start; off as the last goes). A worker whose
 * listener could not be registered (out of memory at start) refuses
 * streams with a 503 rather than open ones nothing would wake.
 *
 * Keep-alive: one timer per worker ticking every keepalive/4 while it has
 * streams; a stream silent for 3/4 of the keep-alive gets ": keep-alive"
 * (so silence never lasts longer than the keep-alive). Writing also shows
 * when a client has gone: h2o sees the connection closed on a write.
 *
 * Shutdown: the drain (http_server.c) calls cameo__events_drain() every
 * turn; the first call ends every stream: a stream not writing gets its
 * last events and the final chunk at once, a writing one when its write
 * completes. The connections then close (h2o answers no more requests on
 * them while shutting down). A stream still there SSE_ABORT_MS later (a
 * client that does not read) has its socket shut down, which fails h2o's
 * write and disposes the request. So open streams never hold the drain up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cameo/log.h"
#include "http/http_internal.h"
#include "http/http_parse.h"

#define SSE_BATCH 32 /* events per write: 32 * ~620 bytes < 32 KiB */
#define SSE_CHUNK_MAX (32 * 1024)
#define SSE_ABORT_MS 300 /* at shutdown: grace before a stuck stream's socket is shut down */

struct cameo_sse_stream {
    h2o_generator_t gen; /* first: h2o hands it back */
    h2o_req_t *req;      /* NULL once the request is disposed */
    cameo_worker_t *w;
    h2o_linklist_t link; /* in w->sse.streams */
    uint64_t cursor;     /* hub seq of the last event sent or skipped */
    uint64_t last_write; /* loop ms of the last write */
    char *out;           /* the chunk h2o is writing (malloc'd), or NULL */
    int started;         /* the response has started */
    int preamble;        /* "retry:" and the opening comment are still to send */
    int reset;           /* a reset event is still to send */
    uint64_t gaps;       /* the hub's gap count this stream has told its client of */
    int writing;         /* an h2o_send is in flight */
    int ended;           /* the final chunk was sent, or h2o stopped the stream */
};

static const char preamble[] = "retry: 2000\n: cameo events\n\n";
static const char keepalive[] = ": keep-alive\n\n";

static cameo_hub_t *hub_of(cameo_worker_t *w)
{
    return w->server->cfg.hub;
}

static uint64_t keepalive_ms(cameo_worker_t *w)
{
    uint64_t k = w->server->cfg.sse_keepalive_ms;
    return k != 0 ? k : 15000;
}

/* Formats a reset event at p (with id when not NULL). */
static size_t format_reset(char *p, size_t room, const char *id, const char *reason)
{
    int len;
    if (id != NULL)
        len = snprintf(p, room, "id: %s\nevent: reset\ndata: {\"reason\":\"%s\"}\n\n", id, reason);
    else
        len = snprintf(p, room, "event: reset\ndata: {\"reason\":\"%s\"}\n\n", reason);
    return len > 0 && (size_t)len < room ? (size_t)len : 0;
}

/* Moves the cursor to the newest event and formats the reset event at p,
 * with the newest event's id (so a reconnect resumes from there). */
static size_t jump_to_newest(cameo_sse_stream_t *st, char *p, size_t room)
{
    cameo_hub_t *hub = hub_of(st->w);
    uint64_t last = cameo_hub_last(hub), oldest;
    cameo_event_t ev;
    size_t n = last != 0 ? cameo_hub_read(hub, last - 1, &ev, 1, &oldest) : 0;
    st->cursor = n == 1 ? ev.seq : last;
    return format_reset(p, room, n == 1 ? ev.id : NULL, "backlog");
}

static void send_chunk(cameo_sse_stream_t *st, h2o_iovec_t *buf, size_t n, h2o_send_state_t state)
{
    st->writing = 1;
    st->last_write = st->w->loop.now_ms(&st->w->loop);
    if (state != H2O_SEND_STATE_IN_PROGRESS)
        st->ended = 1;
    h2o_send(st->req, buf, n, state);
}

/* Sends what the stream has not sent yet (the final chunk too while the
 * worker shuts down), unless a write is in flight. */
static void pump(cameo_sse_stream_t *st)
{
    if (st->req == NULL || !st->started || st->writing || st->ended)
        return;
    char buf[SSE_CHUNK_MAX];
    size_t len = 0;
    if (st->preamble) {
        memcpy(buf, preamble, sizeof(preamble) - 1);
        len = sizeof(preamble) - 1;
        st->preamble = 0;
    }
    if (st->reset) {
        len += jump_to_newest(st, buf + len, sizeof(buf) - len);
        st->reset = 0;
    }
    uint64_t gaps = cameo_hub_gaps(hub_of(st->w));
    if (gaps != st->gaps) {
        /* The bus came back: other instances' changes may be missing. The
         * stream goes on from where it is (its own instance's are all there). */
        st->gaps = gaps;
        len += format_reset(buf + len, sizeof(buf) - len, NULL, "bus");
    }
    /* The events' frames, formatted once by the hub, straight into buf. */
    uint64_t oldest = 0, last = 0;
    size_t written = 0;
    size_t n = cameo_hub_read_sse(hub_of(st->w), st->cursor, SSE_BATCH, buf + len, sizeof(buf) - len,
                                  &written, &last, &oldest);
    if (n > 0 && oldest > st->cursor + 1) {
        /* Fell behind the backlog: events were lost. */
        cameo_log(CAMEO_LOG_DEBUG, "sse_reset", "cursor=%llu oldest=%llu", (unsigned long long)st->cursor,
                  (unsigned long long)oldest);
        len += jump_to_newest(st, buf + len, sizeof(buf) - len); /* over the frames read */
    } else {
        len += written;
        st->cursor = last;
    }
    h2o_send_state_t state = st->w->sse.ending ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS;
    if (len == 0 && state == H2O_SEND_STATE_IN_PROGRESS)
        return;
    h2o_iovec_t iov = h2o_iovec_init(NULL, 0);
    if (len != 0) {
        st->out = malloc(len);
        if (st->out == NULL) {
            /* Nothing sent: the client resumes with Last-Event-ID later. */
            cameo_log(CAMEO_LOG_ERROR, "sse_write_failed", "worker=%u reason=out_of_memory", st->w->index);
            state = H2O_SEND_STATE_ERROR;
        } else {
            memcpy(st->out, buf, len);
            iov = h2o_iovec_init(st->out, len);
        }
    }
    send_chunk(st, &iov, iov.len != 0 ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    cameo_sse_stream_t *st = (cameo_sse_stream_t *)self;
    st->writing = 0;
    free(st->out);
    st->out = NULL;
    pump(st);
}

/* h2o ends the response abruptly (the connection is closing); the pool is
 * disposed right after. */
static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    cameo_sse_stream_t *st = (cameo_sse_stream_t *)self;
    st->ended = 1;
}

/* The request's pool is being cleared: the stream ends here, whatever the
 * reason. */
static void on_dispose(void *p)
{
    cameo_sse_stream_t *st = *(cameo_sse_stream_t **)p;
    cameo_worker_t *w = st->w;
    st->req = NULL;
    h2o_linklist_unlink(&st->link);
    if (--w->sse.open == 0 && w->sse.listening)
        cameo_hub_want(hub_of(w), &w->loop, 0);
    cameo_hub_release(hub_of(w));
    free(st->out);
    free(st);
}

/* ---- per worker ---- */

/* Shuts down the sockets of the streams still there at exit: h2o's next
 * write fails and the requests are disposed. */
static void abort_streams(cameo_worker_t *w)
{
    for (h2o_linklist_t *n = w->sse.streams.next; n != &w->sse.streams; n = n->next) {
        cameo_sse_stream_t *st = H2O_STRUCT_FROM_MEMBER(cameo_sse_stream_t, link, n);
        h2o_socket_t *sock = st->req->conn->callbacks->get_socket(st->req->conn);
        int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
}

static void arm_tick(cameo_worker_t *w, uint64_t after)
{
    if (w->sse.timer == NULL)
        return;
    w->loop.timer_arm(w->sse.timer, after);
    w->sse.timer_armed = 1;
}

static uint64_t tick_ms(cameo_worker_t *w)
{
    uint64_t t = keepalive_ms(w) / 4;
    return t != 0 ? t : 1;
}

static void on_tick(void *arg)
{
    cameo_worker_t *w = arg;
    w->sse.timer_armed = 0;
    if (w->sse.ending) {
        if (w->sse.open != 0) {
            cameo_log(CAMEO_LOG_DEBUG, "sse_abort", "worker=%u streams=%zu", w->index, w->sse.open);
            abort_streams(w);
            arm_tick(w, SSE_ABORT_MS);
        }
        return;
    }
    uint64_t now = w->loop.now_ms(&w->loop), due = keepalive_ms(w) - keepalive_ms(w) / 4;
    for (h2o_linklist_t *n = w->sse.streams.next, *next; n != &w->sse.streams; n = next) {
        next = n->next;
        cameo_sse_stream_t *st = H2O_STRUCT_FROM_MEMBER(cameo_sse_stream_t, link, n);
        if (st->req == NULL || !st->started || st->writing || st->ended || now - st->last_write < due)
            continue;
        h2o_iovec_t iov = h2o_iovec_init(keepalive, sizeof(keepalive) - 1);
        send_chunk(st, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
    }
    if (w->sse.open != 0)
        arm_tick(w, tick_ms(w));
}

/* The hub has new events: push them to the streams that are not writing
 * (the others read them when their write completes). */
static void on_notify(void *arg)
{
    cameo_worker_t *w = arg;
    for (h2o_linklist_t *n = w->sse.streams.next, *next; n != &w->sse.streams; n = next) {
        next = n->next;
        pump(H2O_STRUCT_FROM_MEMBER(cameo_sse_stream_t, link, n));
    }
}

void cameo__events_listen(cameo_worker_t *w)
{
    h2o_linklist_init_anchor(&w->sse.streams);
    if (hub_of(w) == NULL)
        return;
    w->sse.timer = w->loop.timer_new(&w->loop, on_tick, w);
    if (w->sse.timer == NULL || cameo_hub_listen(hub_of(w), &w->loop, on_notify, w) != CAMEO_OK) {
        cameo_log(CAMEO_LOG_ERROR, "sse_listen_failed", "worker=%u reason=out_of_memory", w->index);
        if (w->sse.timer != NULL)
            w->loop.timer_free(w->sse.timer);
        w->sse.timer = NULL;
        return;
    }
    cameo_hub_want(hub_of(w), &w->loop, 0); /* no stream yet */
    w->sse.listening = 1;
}

void cameo__events_unlisten(cameo_worker_t *w)
{
    if (w->sse.listening)
        cameo_hub_unlisten(hub_of(w), &w->loop);
    w->sse.listening = 0;
    if (w->sse.timer != NULL) {
        w->loop.timer_disarm(w->sse.timer);
        w->loop.timer_free(w->sse.timer);
        w->sse.timer = NULL;
    }
    if (w->sse.open != 0)
        cameo_log(CAMEO_LOG_WARN, "sse_streams_left", "worker=%u streams=%zu", w->index, w->sse.open);
}

size_t cameo__events_drain(cameo_worker_t *w)
{
    if (!w->sse.ending) {
        w->sse.ending = 1;
        for (h2o_linklist_t *n = w->sse.streams.next, *next; n != &w->sse.streams; n = next) {
            next = n->next;
            pump(H2O_STRUCT_FROM_MEMBER(cameo_sse_stream_t, link, n));
        }
        if (w->sse.open != 0)
            arm_tick(w, SSE_ABORT_MS);
    }
    return w->sse.open;
}

/* ---- the request ---- */

/* Where a new stream starts: after the event the client saw last
 * (Last-Event-ID, or ?last_event_id= where a header cannot be set), else
 * after the newest event. An id the backlog does not hold sends a reset. */
static void start_position(cameo_sse_stream_t *st, h2o_req_t *req)
{
    cameo_hub_t *hub = hub_of(st->w);
    const char *id = NULL;
    size_t id_len = 0;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
    if (i != -1) {
        id = req->headers.entries[i].value.base;
        id_len = req->headers.entries[i].value.len;
    } else if (req->query_at != SIZE_MAX) {
        cameo__query_get(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                         "last_event_id", &id, &id_len);
    }
    st->cursor = cameo_hub_last(hub);
    st->gaps = cameo_hub_gaps(hub); /* only gaps after the stream opened are news to it */
    if (id_len == 0)
        return;
    char key[CAMEO_EVENT_ID_MAX];
    uint64_t seq = 0;
    if (id_len < sizeof(key)) {
        memcpy(key, id, id_len);
        key[id_len] = '\0';
        seq = cameo_hub_find(hub, key);
    }
    if (seq != 0)
        st->cursor = seq;
    else
        st->reset = 1;
}

int cameo__events_open(cameo_worker_t *w, h2o_req_t *req, cameo_sse_stream_t **out)
{
    cameo_hub_t *hub = hub_of(w);
    if (hub == NULL || w->stopping || w->sse.ending)
        return CAMEO_EUNAVAIL;
    if (!w->sse.listening)
        return CAMEO_ENOMEM; /* the hub could not take this worker at start: nothing would wake a stream */
    if (cameo_hub_acquire(hub) != CAMEO_OK)
        return CAMEO_EBUSY;
    cameo_sse_stream_t *st = calloc(1, sizeof(*st));
    cameo_sse_stream_t **guard =
        st != NULL ? h2o_mem_alloc_shared(&req->pool, sizeof(*guard), on_dispose) : NULL;
    if (guard == NULL) {
        free(st);
        cameo_hub_release(hub);
        return CAMEO_ENOMEM;
    }
    *guard = st;
    st->gen.proceed = on_proceed;
    st->gen.stop = on_stop;
    st->req = req;
    st->w = w;
    st->preamble = 1;
    h2o_linklist_insert(&w->sse.streams, &st->link);
    if (w->sse.open++ == 0)
        cameo_hub_want(hub, &w->loop, 1); /* before cameo__events_start reads the stream's start */
    *out = st;
    return CAMEO_OK;
}

static void set_headers(h2o_req_t *req)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = SIZE_MAX; /* chunked */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL,
                          H2O_STRLIT("no"));
}

void cameo__events_start(cameo_sse_stream_t *st)
{
    h2o_req_t *req = st->req;
    cameo_worker_t *w = st->w;
    start_position(st, req);
    set_headers(req);
    h2o_start_response(req, &st->gen);
    st->started = 1;
    st->last_write = w->loop.now_ms(&w->loop);
    if (!w->sse.timer_armed)
        arm_tick(w, tick_ms(w));
    pump(st); /* the preamble, and the events a resume replays */
}

void cameo__events_head(h2o_req_t *req)
{
    static h2o_generator_t generator = {NULL, NULL};
    set_headers(req);
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}
