/*
 * http_server.c - worker threads, each running one h2o event loop with its
 * own SO_REUSEPORT listener (each worker's cameo_loop_t is in http_loop.c),
 * and the graceful drain at shutdown.
 *
 * Called by the daemon through server.h. The routes live in http_routes.c.
 * HTTP/1.1 only (keep-alive, pipelining): HTTP/2 is off because h2o 2.2.5
 * predates the Rapid Reset mitigation (CVE-2023-44487); TLS and HTTP/2 end
 * at the load balancer or CDN in front of a cache.
 */
#include "http/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cameo/log.h"

#define LISTEN_BACKLOG 1024
#define ACCEPT_BATCH 16

static void on_ctl(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    cameo_worker_t *w = H2O_STRUCT_FROM_MEMBER(cameo_worker_t, ctl, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
    if (w->stopping)
        return;
    w->stopping = 1;
    if (w->listener != NULL) {
        h2o_socket_read_stop(w->listener);
        h2o_socket_close(w->listener);
        w->listener = NULL;
    }
    /* Busy connections answer "Connection: close" and close after their
     * response. h2o 2.2.5 leaves idle keep-alive connections waiting for the
     * request timeout (10 s); a zero timeout closes them on the next turn. */
    h2o_context_request_shutdown(&w->ctx);
    w->ctx.http1.req_timeout.timeout = 0;
}

static void on_conn_close(void *data)
{
    cameo_worker_t *w = data;
    w->conns--;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    cameo_worker_t *w = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        w->conns++;
        sock->on_close.cb = on_conn_close; /* unused by h2o's plain HTTP/1 path */
        sock->on_close.data = w;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void *worker_main(void *arg)
{
    cameo_worker_t *w = arg;
    h2o_evloop_t *loop = w->ctx.loop;

    /* The queue's pipe socket takes its read buffers from the creating
     * thread's (thread-local, unlocked) buffer pool in h2o 2.2.5: made on the
     * main thread, every worker shared that pool, and simultaneous wake-ups
     * (events reach every worker at once) corrupted it. Create it here. */
    w->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(w->queue, &w->tasks, cameo__loop_run_posted);
    h2o_multithread_register_receiver(w->queue, &w->ctl, on_ctl);
    /* A loop whose Redis connection or origin could not attach would answer
     * 503 for ever: it stops here instead, and cameo_server_start fails. */
    w->attach_err =
        cameo_engine_attach(w->server->cfg.engine, &w->loop, w->attach_reason, sizeof(w->attach_reason));
    if (w->attach_err != CAMEO_OK) {
        close(w->listen_fd);
        w->listen_fd = -1;
    }
    pthread_mutex_lock(&w->server->ready_lock);
    w->server->ready++;
    pthread_cond_broadcast(&w->server->ready_cond);
    pthread_mutex_unlock(&w->server->ready_lock);
    if (w->attach_err != CAMEO_OK)
        return NULL;

    cameo__events_listen(w);
    w->listener = h2o_evloop_socket_create(loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);

    for (;;) {
        if (w->stopping) {
            uint64_t deadline = atomic_load(&w->server->deadline_ms);
            /* Ends the event streams (they would never finish on their own). */
            size_t streams = cameo__events_drain(w);
            /* Done when no request is in flight and every connection has
             * closed (h2o cannot dispose a context with open ones). */
            if ((w->inflight == 0 && w->conns == 0 && streams == 0 && atomic_load(&w->posted) == 0 &&
                 cameo_engine_idle(w->server->cfg.engine)) ||
                cameo_now_ms() >= deadline)
                break;
        }
        /* Wakes for I/O, posted tasks and the shutdown message; while draining,
         * at least every 50 ms to look at the deadline. */
        if (h2o_evloop_run(loop, w->stopping ? 50 : INT32_MAX) != 0 && errno != EINTR) {
            cameo_log(CAMEO_LOG_ERROR, "loop_failed", "worker=%u errno=%d", w->index, errno);
            break;
        }
    }
    cameo__events_unlisten(w);
    cameo_engine_detach(w->server->cfg.engine, &w->loop);
    /* request_shutdown armed HTTP/2's GOAWAY resend timer (unused here);
     * the context cannot be disposed with it linked. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    if (w->inflight != 0 || w->conns != 0)
        cameo_log(CAMEO_LOG_WARN, "drain_timeout", "worker=%u unfinished=%zu open_connections=%zu", w->index,
                  w->inflight, w->conns);
    return NULL;
}

/* Opens a non-blocking SO_REUSEPORT listener on host:port. Returns the fd, or
 * -1 with errbuf set. */
static int open_listener(const char *host, unsigned port, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof(*sin);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sslen = sizeof(*sin6);
    } else {
        snprintf(errbuf, errlen, "%s is not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto err;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
        goto err;
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, LISTEN_BACKLOG) != 0)
        goto err;
    return fd;
err:
    snprintf(errbuf, errlen, "cannot listen on %s:%u: %s", host, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int cameo_server_start(const cameo_server_config_t *cfg, cameo_server_t **out, char *errbuf, size_t errlen)
{
    cameo_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return CAMEO_ENOMEM;
    }
    s->cfg = *cfg;
    pthread_mutex_init(&s->ready_lock, NULL);
    pthread_cond_init(&s->ready_cond, NULL);
    s->workers = calloc(cfg->workers, sizeof(*s->workers));
    if (s->workers == NULL) {
        free(s);
        snprintf(errbuf, errlen, "out of memory");
        return CAMEO_ENOMEM;
    }

    h2o_config_init(&s->config);
    s->config.http1.upgrade_to_http2 = 0;
    /* The routes apply each endpoint's limit with a JSON 413. h2o buffers a
     * body before the handler runs and answers a plain-text 413 itself past
     * this hard cap, which leaves 64 KiB of room above the largest limit. */
    size_t max_body = cfg->max_avatar_size > cfg->max_batch_body ? cfg->max_avatar_size : cfg->max_batch_body;
    s->config.max_request_entity_size = max_body + 64 * 1024;
    h2o_hostconf_t *host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = cameo__http_handle;

    int rc = CAMEO_EIO;
    unsigned started = 0;
    for (unsigned i = 0; i < cfg->workers; i++) {
        cameo_worker_t *w = &s->workers[i];
        w->server = s;
        w->index = i;
        cameo__loop_init(w);
        w->listen_fd = open_listener(cfg->host, cfg->port, errbuf, errlen);
        if (w->listen_fd < 0)
            goto err;
        h2o_context_init(&w->ctx, h2o_evloop_create(), &s->config);
        w->accept_ctx.ctx = &w->ctx;
        w->accept_ctx.hosts = s->config.hosts;
    }
    for (; started < cfg->workers; started++) {
        cameo_worker_t *w = &s->workers[started];
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            snprintf(errbuf, errlen, "cannot start worker thread: %s", strerror(errno));
            break;
        }
    }
    /* Every started worker's queue is registered from here on (the err path
     * sends to it), and its attach_err set. */
    pthread_mutex_lock(&s->ready_lock);
    while (s->ready < started)
        pthread_cond_wait(&s->ready_cond, &s->ready_lock);
    pthread_mutex_unlock(&s->ready_lock);
    if (started < cfg->workers)
        goto err;
    for (unsigned i = 0; i < started; i++) {
        if (s->workers[i].attach_err != CAMEO_OK) {
            snprintf(errbuf, errlen, "worker %u: %s", i, s->workers[i].attach_reason);
            rc = CAMEO_EUNAVAIL;
            goto err;
        }
    }
    *out = s;
    return CAMEO_OK;
err:
    atomic_store(&s->deadline_ms, 0);
    for (unsigned i = 0; i < started; i++) {
        h2o_multithread_message_t *m = calloc(1, sizeof(*m));
        if (m != NULL)
            h2o_multithread_send_message(&s->workers[i].ctl, m);
        pthread_join(s->workers[i].tid, NULL);
    }
    cameo_server_free(s);
    return rc;
}

void cameo_server_shutdown(cameo_server_t *s, unsigned timeout_ms)
{
    atomic_store(&s->deadline_ms, cameo_now_ms() + timeout_ms);
    for (unsigned i = 0; i < s->cfg.workers; i++) {
        h2o_multithread_message_t *m = calloc(1, sizeof(*m));
        if (m != NULL)
            h2o_multithread_send_message(&s->workers[i].ctl, m);
    }
    for (unsigned i = 0; i < s->cfg.workers; i++)
        if (s->workers[i].tid != 0)
            pthread_join(s->workers[i].tid, NULL);
}

void cameo_server_free(cameo_server_t *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->cfg.workers; i++) {
        cameo_worker_t *w = &s->workers[i];
        if (w->queue != NULL) {
            /* Answers that arrived after the drain: drop the envelopes. */
            h2o_linklist_t *lists[] = {&w->tasks._messages, &w->ctl._messages};
            for (size_t l = 0; l < 2; l++) {
                while (!h2o_linklist_is_empty(lists[l])) {
                    h2o_linklist_t *node = lists[l]->next;
                    h2o_linklist_unlink(node);
                    free(H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, node));
                }
            }
            h2o_multithread_unregister_receiver(w->queue, &w->tasks);
            h2o_multithread_unregister_receiver(w->queue, &w->ctl);
            h2o_multithread_destroy_queue(w->queue);
        }
        if (w->tid == 0 && w->listen_fd > 0)
            close(w->listen_fd); /* never handed to a loop */
        if (w->ctx.loop != NULL) {
            h2o_evloop_t *loop = w->ctx.loop;
            cameo__loop_dispose_timers(w);
            h2o_context_dispose(&w->ctx);
            /* h2o closes sockets (the queues' wake-up pipes) on the next turn. */
            h2o_evloop_run(loop, 0);
            h2o_evloop_destroy(loop);
        }
        /* h2o 2.2.5's evloop build of h2o_multithread_destroy_queue() closes
         * the queue's pipe but never frees the queue itself. */
        free(w->queue);
    }
    h2o_config_dispose(&s->config);
    pthread_mutex_destroy(&s->ready_lock);
    pthread_cond_destroy(&s->ready_cond);
    free(s->workers);
    free(s);
}
