/*
 * http_loop.c - cameo_loop_t (loop.h) over a worker's h2o event loop: posted
 * tasks through h2o's cross-thread queue, fd watches through h2o sockets,
 * timers through h2o timeouts.
 *
 * Called by http_server.c, which owns the workers; used by the engine, tiers
 * and origins through loop.h only.
 *
 * fd watches: h2o takes ownership of the fd it watches, so a watch holds a
 * dup() of the caller's fd, marked "don't read": h2o only reports
 * readability, the caller does its own reads. h2o's write readiness is
 * one-shot; the watch re-arms it after each callback while WRITE is wanted.
 *
 * Timers: h2o 2.2.5 timeouts are lists of entries sharing one duration. A
 * timer is armed on the list of the smallest duration >= after_ms out of a
 * ladder of durations 10% apart (1 ms apart below 10 ms), created on first
 * use: at most 10% or 1 ms late, as loop.h allows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cameo/log.h"
#include "http/http_internal.h"

/* ---- posting from any thread ---- */

typedef struct post_msg {
    h2o_multithread_message_t super;
    cameo_task_t *task;
} post_msg_t;

static void loop_post(cameo_loop_t *loop, cameo_task_t *task)
{
    cameo_worker_t *w = (cameo_worker_t *)loop;
    post_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        /* Without memory the answer cannot travel: the request will time
         * out rather than crash the process. */
        cameo_log(CAMEO_LOG_ERROR, "post_failed", "worker=%u reason=out_of_memory", w->index);
        return;
    }
    m->task = task;
    atomic_fetch_add(&w->posted, 1);
    h2o_multithread_send_message(&w->tasks, &m->super);
}

void cameo__loop_run_posted(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    cameo_worker_t *w = H2O_STRUCT_FROM_MEMBER(cameo_worker_t, tasks, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        post_msg_t *m = H2O_STRUCT_FROM_MEMBER(post_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        cameo_task_t *task = m->task;
        free(m);
        task->run(task);
        atomic_fetch_sub(&w->posted, 1);
    }
}

/* ---- fd watches ---- */

/*
 * Write readiness: a connection that asks to write is nearly always
 * writable, and h2o's one-shot write notification costs two epoll_ctl calls
 * per round trip. So the first wait for WRITE is a zero timeout: the
 * callback runs later in this loop turn, with no syscall. Only when data
 * is still waiting after that (a full socket buffer) does the watch wait
 * for EPOLLOUT, until the caller drops its write interest.
 */
struct cameo_io {
    h2o_socket_t *sock; /* over a dup() of the caller's fd */
    cameo_worker_t *w;
    cameo_io_cb cb;
    void *arg;
    int events;      /* of interest */
    int write_armed; /* h2o's one-shot write notification is pending */
    int soon_tried;  /* the zero-timeout write ran and data remained */
    int in_cb;       /* inside cb: a close only marks the watch */
    int closed;
    h2o_timeout_entry_t soon; /* the zero-timeout write attempt */
};

static void io_on_write(h2o_socket_t *sock, const char *err);

/* Runs cb; returns 0 when the watch was closed inside it (and is freed). */
static int io_call(cameo_io_t *io, int events)
{
    io->in_cb++;
    io->cb(io->arg, events);
    io->in_cb--;
    if (io->closed) {
        if (io->in_cb == 0)
            free(io);
        return 0;
    }
    return 1;
}

static void io_arm_write(cameo_io_t *io)
{
    if (!(io->events & CAMEO_IO_WRITE) || io->write_armed || h2o_timeout_is_linked(&io->soon))
        return;
    if (!io->soon_tried) {
        h2o_timeout_link(io->w->ctx.loop, &io->w->ctx.zero_timeout, &io->soon);
    } else {
        io->write_armed = 1;
        h2o_socket_notify_write(io->sock, io_on_write);
    }
}

static void io_on_soon(h2o_timeout_entry_t *entry)
{
    cameo_io_t *io = (cameo_io_t *)(void *)((char *)entry - offsetof(cameo_io_t, soon));
    if (!(io->events & CAMEO_IO_WRITE) || !io_call(io, CAMEO_IO_WRITE))
        return;
    if (io->events & CAMEO_IO_WRITE) { /* still data to write: wait for the socket */
        io->soon_tried = 1;
        io_arm_write(io);
    }
}

static void io_on_read(h2o_socket_t *sock, const char *err)
{
    (void)err; /* EOF and errors are the reader's to find */
    cameo_io_t *io = sock->data;
    if (io != NULL && (io->events & CAMEO_IO_READ))
        io_call(io, CAMEO_IO_READ);
}

static void io_on_write(h2o_socket_t *sock, const char *err)
{
    (void)err;
    cameo_io_t *io = sock->data;
    if (io == NULL)
        return;
    io->write_armed = 0;
    if ((io->events & CAMEO_IO_WRITE) && io_call(io, CAMEO_IO_WRITE))
        io_arm_write(io);
}

static cameo_io_t *loop_io_watch(cameo_loop_t *loop, int fd, cameo_io_cb cb, void *arg)
{
    cameo_worker_t *w = (cameo_worker_t *)loop;
    cameo_io_t *io = calloc(1, sizeof(*io));
    int dupfd = io != NULL ? dup(fd) : -1;
    if (dupfd < 0) {
        free(io);
        return NULL;
    }
    io->sock = h2o_evloop_socket_create(w->ctx.loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    io->sock->data = io;
    io->w = w;
    io->cb = cb;
    io->arg = arg;
    io->soon.cb = io_on_soon;
    return io;
}

static void loop_io_set(cameo_io_t *io, int events)
{
    int had_read = io->events & CAMEO_IO_READ;
    io->events = events;
    if ((events & CAMEO_IO_READ) && !had_read)
        h2o_socket_read_start(io->sock, io_on_read);
    else if (!(events & CAMEO_IO_READ) && had_read)
        h2o_socket_read_stop(io->sock);
    if (!(events & CAMEO_IO_WRITE))
        io->soon_tried = 0; /* the next write starts with the cheap attempt again */
    io_arm_write(io);       /* a notification no longer wanted is ignored when it fires */
}

static void loop_io_close(cameo_io_t *io)
{
    if (h2o_timeout_is_linked(&io->soon))
        h2o_timeout_unlink(&io->soon);
    if (io->events & CAMEO_IO_READ)
        h2o_socket_read_stop(io->sock);
    io->sock->data = NULL;
    h2o_socket_close(io->sock); /* closes the dup, later, on this loop */
    io->events = 0;
    if (io->in_cb > 0)
        io->closed = 1; /* freed when the callback returns */
    else
        free(io);
}

/* ---- timers ---- */

struct cameo_timer {
    h2o_timeout_entry_t entry; /* first: h2o hands this back */
    cameo_worker_t *w;
    cameo_timer_cb cb;
    void *arg;
};

/* The ladder of durations in milliseconds, ascending; filled once. */
static uint64_t ladder[CAMEO_TIMER_RUNGS];
static pthread_once_t ladder_once = PTHREAD_ONCE_INIT;

static void ladder_fill(void)
{
    uint64_t d = 1;
    for (unsigned i = 0; i < CAMEO_TIMER_RUNGS; i++) {
        ladder[i] = d;
        d = d < 10 ? d + 1 : d + d / 10;
    }
}

/* The rung of the smallest duration >= after_ms (the longest when none is). */
static h2o_timeout_t *ladder_for(cameo_worker_t *w, uint64_t after_ms)
{
    unsigned lo = 0, hi = CAMEO_TIMER_RUNGS - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (ladder[mid] < after_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (w->rungs[lo] == NULL) {
        w->rungs[lo] = malloc(sizeof(h2o_timeout_t));
        if (w->rungs[lo] == NULL)
            return NULL;
        h2o_timeout_init(w->ctx.loop, w->rungs[lo], ladder[lo]);
    }
    return w->rungs[lo];
}

static void timer_fired(h2o_timeout_entry_t *entry)
{
    cameo_timer_t *t = (cameo_timer_t *)entry;
    t->cb(t->arg);
}

static cameo_timer_t *loop_timer_new(cameo_loop_t *loop, cameo_timer_cb cb, void *arg)
{
    cameo_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->entry.cb = timer_fired;
    t->w = (cameo_worker_t *)loop;
    t->cb = cb;
    t->arg = arg;
    return t;
}

static void loop_timer_disarm(cameo_timer_t *t)
{
    if (h2o_timeout_is_linked(&t->entry))
        h2o_timeout_unlink(&t->entry);
}

static void loop_timer_arm(cameo_timer_t *t, uint64_t after_ms)
{
    loop_timer_disarm(t);
    h2o_timeout_t *rung = ladder_for(t->w, after_ms);
    if (rung == NULL) {
        cameo_log(CAMEO_LOG_ERROR, "timer_failed", "worker=%u reason=out_of_memory", t->w->index);
        return;
    }
    h2o_timeout_link(t->w->ctx.loop, rung, &t->entry);
}

static void loop_timer_free(cameo_timer_t *t)
{
    if (t == NULL)
        return;
    loop_timer_disarm(t);
    free(t);
}

static uint64_t loop_now_ms(cameo_loop_t *loop)
{
    (void)loop;
    return cameo_now_ms();
}

void cameo__loop_init(cameo_worker_t *w)
{
    pthread_once(&ladder_once, ladder_fill);
    w->loop.post = loop_post;
    w->loop.io_watch = loop_io_watch;
    w->loop.io_set = loop_io_set;
    w->loop.io_close = loop_io_close;
    w->loop.timer_new = loop_timer_new;
    w->loop.timer_arm = loop_timer_arm;
    w->loop.timer_disarm = loop_timer_disarm;
    w->loop.timer_free = loop_timer_free;
    w->loop.now_ms = loop_now_ms;
}

void cameo__loop_dispose_timers(cameo_worker_t *w)
{
    for (unsigned i = 0; i < CAMEO_TIMER_RUNGS; i++) {
        if (w->rungs[i] != NULL) {
            h2o_timeout_dispose(w->ctx.loop, w->rungs[i]);
            free(w->rungs[i]);
            w->rungs[i] = NULL;
        }
    }
}
