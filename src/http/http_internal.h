/*
 * http_internal.h - what the two halves of the HTTP layer share: the
 * server and its workers (http_server.c) and the routes (http_routes.c).
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
} cameo_worker_t;

struct cameo_server {
    cameo_server_config_t cfg;
    h2o_globalconf_t config;
    cameo_worker_t *workers;
    atomic_uint_fast64_t deadline_ms; /* set at shutdown: workers stop by then */
};

/* http_loop.c: fills w->loop (loop.h) for worker w; runs the tasks posted
 * to it (the receiver callback of w->tasks); frees the timer lists once the
 * loop has stopped and nothing is armed. */
void cameo__loop_init(cameo_worker_t *w);
void cameo__loop_run_posted(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
void cameo__loop_dispose_timers(cameo_worker_t *w);

/* The h2o handler of every route (http_routes.c). */
int cameo__http_handle(h2o_handler_t *self, h2o_req_t *req);

/* The worker running req. */
static inline cameo_worker_t *cameo__worker_of(h2o_req_t *req)
{
    return (cameo_worker_t *)(void *)((char *)req->conn->ctx - offsetof(cameo_worker_t, ctx));
}

#endif
