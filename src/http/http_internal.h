/*
 * http_internal.h - what the parts of the HTTP layer share: the server and
 * its workers (http_server.c), their loops (http_loop.c), the routes
 * (http_routes.c), the event streams (http_events.c) and the embedded
 * files (http_assets.c).
 * Internal to src/http/.
 */
#ifndef CAMEO_HTTP_INTERNAL_H
#define CAMEO_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <h2o.h>

#include "cameo/server.h"

/* Timer durations 1..10 ms by 1 ms, then 10% apart: 160 rungs reach past
 * 2.5 hours (http_loop.c). */
#define CAMEO_TIMER_RUNGS 160

/* A worker's GET /v1/events streams (http_events.c). Loop thread only. */
typedef struct cameo_sse_worker {
    h2o_linklist_t streams; /* open streams (cameo_sse_stream_t.link) */
    size_t open;            /* streams whose state is not yet freed */
    cameo_timer_t *timer;   /* keep-alive ticks; at shutdown, the abort */
    int timer_armed;
    int listening; /* cameo_hub_listen() done */
    int ending;    /* shutting down: every stream gets its final chunk */
} cameo_sse_worker_t;

typedef struct cameo_worker {
    cameo_loop_t loop; /* first: the engine posts answers here */
    struct cameo_server *server;
    unsigned index;
    pthread_t tid;
    int listen_fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t tasks;        /* engine answers (cameo_task_t) */
    h2o_multithread_receiver_t ctl;          /* shutdown requests */
    h2o_timeout_t *rungs[CAMEO_TIMER_RUNGS]; /* timer lists, made on first use; loop thread */
    /* Loop thread only: */
    size_t inflight;      /* requests started and not yet disposed, plus engine calls awaited */
    size_t conns;         /* connections accepted and not yet closed */
    atomic_size_t posted; /* tasks posted to this loop and not yet run (any thread) */
    int stopping;
    cameo_sse_worker_t sse; /* loop thread only */
    /* Written by the worker before it counts itself ready (ready_lock),
     * read by cameo_server_start after every worker is ready: */
    int attach_err;          /* CAMEO_OK, or why the engine could not attach this loop */
    char attach_reason[200]; /* then: one line naming the tier or origin */
} cameo_worker_t;

struct cameo_server {
    cameo_server_config_t cfg;
    h2o_globalconf_t config;
    cameo_worker_t *workers;
    atomic_uint_fast64_t deadline_ms; /* set at shutdown: workers stop by then */
    pthread_mutex_t ready_lock;
    pthread_cond_t ready_cond;
    unsigned ready; /* workers whose queue is made and whose loop is attached (or failed to) */
};

/* http_loop.c: fills w->loop (loop.h) for worker w; runs the tasks posted
 * to it (the receiver callback of w->tasks); frees the timer lists once the
 * loop has stopped and nothing is armed. */
void cameo__loop_init(cameo_worker_t *w);
void cameo__loop_run_posted(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
void cameo__loop_dispose_timers(cameo_worker_t *w);

/* The h2o handler of every route (http_routes.c). */
int cameo__http_handle(h2o_handler_t *self, h2o_req_t *req);

/* http_events.c: GET /v1/events (server-sent events). */
typedef struct cameo_sse_stream cameo_sse_stream_t;

/* On the worker's thread at its start: registers its hub listener. */
void cameo__events_listen(cameo_worker_t *w);

/* On the worker's thread after its loop has stopped: unregisters the
 * listener and frees the keep-alive timer. Every stream must be gone. */
void cameo__events_unlisten(cameo_worker_t *w);

/* While the worker drains (w->stopping): ends every open stream (final
 * chunk; past a short grace, the connection is shut down) and returns how
 * many streams still have state. Called once per drain turn. */
size_t cameo__events_drain(cameo_worker_t *w);

/* A new stream for req (a GET): takes a subscriber place and allocates its
 * state. Returns CAMEO_OK and *out, CAMEO_EBUSY past --sse-max, CAMEO_EUNAVAIL
 * while shutting down or without a hub, CAMEO_ENOMEM (also when the worker's
 * hub listener could not be registered at start: no stream of it would ever
 * be woken). Sends nothing: on an error the caller answers; on CAMEO_OK it
 * must call cameo__events_start. */
int cameo__events_open(cameo_worker_t *w, h2o_req_t *req, cameo_sse_stream_t **out);

/* Starts the 200 text/event-stream response of an opened stream. */
void cameo__events_start(cameo_sse_stream_t *st);

/* Answers HEAD /v1/events: the stream's headers, no body, no place taken. */
void cameo__events_head(h2o_req_t *req);

/* The worker running req. */
static inline cameo_worker_t *cameo__worker_of(h2o_req_t *req)
{
    return (cameo_worker_t *)(void *)((char *)req->conn->ctx - offsetof(cameo_worker_t, ctx));
}

#endif
