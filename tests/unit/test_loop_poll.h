/*
 * test_loop_poll.h - a cameo_loop_t (include/cameo/loop.h) over poll(2), for
 * tests: single-threaded, header-only, no dependencies beyond libc and
 * pthreads. Code that talks to the network through loop.h (tiers, origins)
 * runs on it exactly as on the daemon's h2o loops.
 *
 *   tlp_loop_t loop;
 *   tlp_init(&loop);
 *   ... attach something to &loop.super ...
 *   bool ok = tlp_run_until(&loop, done, &state, 2000);  // at most 2 s
 *   tlp_destroy(&loop);  // asserts nothing is still watched or timed
 *
 * Threading: tlp_post (the loop's post) may be called from any thread; it
 * wakes poll through a self-pipe. Everything else, and every callback, runs
 * on the thread that calls tlp_run_once / tlp_run_until.
 *
 * fd watches are level triggered like loop.h asks: POLLHUP and POLLERR count
 * as readable for a READ watch and as writable for a WRITE watch, so the
 * owner finds the error itself. Timers fire at most 1 ms late (poll's
 * resolution), never early; a timer armed from a timer callback fires on the
 * next turn at the earliest, so "re-arm with 0" cannot spin a turn forever.
 */
#ifndef CAMEO_TEST_LOOP_POLL_H
#define CAMEO_TEST_LOOP_POLL_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cameo/loop.h"

#define TLP_POLL_MS 10 /* longest wait of a tlp_run_until turn */

typedef struct tlp_loop tlp_loop_t;

struct cameo_io {
    tlp_loop_t *loop;
    int fd;
    int events; /* of interest */
    cameo_io_cb cb;
    void *arg;
};

struct cameo_timer {
    tlp_loop_t *loop;
    struct cameo_timer *prev, *next; /* every timer of the loop, armed or not */
    cameo_timer_cb cb;
    void *arg;
    bool armed;
    uint64_t when;       /* monotonic ms */
    uint64_t armed_turn; /* the turn it was armed in: fires on a later one if armed while firing */
};

struct tlp_loop {
    cameo_loop_t super; /* first: the loop.h view */

    pthread_mutex_t lock;       /* guards the posted queue only */
    cameo_task_t *head, **tail; /* posted, not yet run; lock */
    int wake[2];                /* self-pipe: post writes a byte, the loop drains it */

    /* Loop thread only below. */
    cameo_io_t **ios; /* watches; a closed watch leaves NULL until the next turn compacts */
    size_t nios, cap_ios;
    struct cameo_timer *timers;
    size_t live_ios, live_timers; /* for leak checks: watches and timers not yet closed/freed */
    uint64_t now;                 /* read once per turn */
    uint64_t turn;
    bool firing; /* inside the timer phase of a turn */
};

static inline uint64_t tlp_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void tlp_post(cameo_loop_t *l, cameo_task_t *task)
{
    tlp_loop_t *loop = (tlp_loop_t *)l;
    char b = 1;
    pthread_mutex_lock(&loop->lock);
    task->_next = NULL;
    *loop->tail = task;
    loop->tail = &task->_next;
    pthread_mutex_unlock(&loop->lock);
    /* The pipe is non-blocking: when full, a wake-up is pending anyway. */
    ssize_t w = write(loop->wake[1], &b, 1);
    (void)w;
}

static inline cameo_io_t *tlp_io_watch(cameo_loop_t *l, int fd, cameo_io_cb cb, void *arg)
{
    tlp_loop_t *loop = (tlp_loop_t *)l;
    if (loop->nios == loop->cap_ios) {
        size_t cap = loop->cap_ios ? loop->cap_ios * 2 : 8;
        cameo_io_t **ios = realloc(loop->ios, cap * sizeof(*ios));
        if (ios == NULL)
            return NULL;
        loop->ios = ios;
        loop->cap_ios = cap;
    }
    cameo_io_t *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return NULL;
    io->loop = loop;
    io->fd = fd;
    io->cb = cb;
    io->arg = arg;
    loop->ios[loop->nios++] = io;
    loop->live_ios++;
    return io;
}

static inline void tlp_io_set(cameo_io_t *io, int events)
{
    io->events = events;
}

static inline void tlp_io_close(cameo_io_t *io)
{
    tlp_loop_t *loop = io->loop;
    for (size_t i = 0; i < loop->nios; i++) {
        if (loop->ios[i] == io) {
            loop->ios[i] = NULL;
            break;
        }
    }
    loop->live_ios--;
    free(io);
}

static inline cameo_timer_t *tlp_timer_new(cameo_loop_t *l, cameo_timer_cb cb, void *arg)
{
    tlp_loop_t *loop = (tlp_loop_t *)l;
    cameo_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->loop = loop;
    t->cb = cb;
    t->arg = arg;
    t->next = loop->timers;
    if (loop->timers != NULL)
        loop->timers->prev = t;
    loop->timers = t;
    loop->live_timers++;
    return t;
}

static inline void tlp_timer_arm(cameo_timer_t *t, uint64_t after_ms)
{
    /* Measured from the clock, not the turn's cached now: never early. */
    t->when = tlp_clock_ms() + after_ms;
    t->armed = true;
    t->armed_turn = t->loop->turn;
}

static inline void tlp_timer_disarm(cameo_timer_t *t)
{
    t->armed = false;
}

static inline void tlp_timer_free(cameo_timer_t *t)
{
    if (t == NULL)
        return;
    tlp_loop_t *loop = t->loop;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        loop->timers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    loop->live_timers--;
    free(t);
}

static inline uint64_t tlp_now_ms(cameo_loop_t *l)
{
    return ((tlp_loop_t *)l)->now;
}

/* Initialises loop. Returns 0, or -1 with errno when the self-pipe fails. */
static inline int tlp_init(tlp_loop_t *loop)
{
    memset(loop, 0, sizeof(*loop));
    if (pipe2(loop->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    pthread_mutex_init(&loop->lock, NULL);
    loop->tail = &loop->head;
    loop->now = tlp_clock_ms();
    loop->super.post = tlp_post;
    loop->super.io_watch = tlp_io_watch;
    loop->super.io_set = tlp_io_set;
    loop->super.io_close = tlp_io_close;
    loop->super.timer_new = tlp_timer_new;
    loop->super.timer_arm = tlp_timer_arm;
    loop->super.timer_disarm = tlp_timer_disarm;
    loop->super.timer_free = tlp_timer_free;
    loop->super.now_ms = tlp_now_ms;
    return 0;
}

/* Frees the loop. Every watch must be closed and every timer freed by its
 * owner first (asserted: a leftover is a leak in the code under test);
 * tasks still queued are dropped without running. */
static inline void tlp_destroy(tlp_loop_t *loop)
{
    assert(loop->live_ios == 0);
    assert(loop->live_timers == 0);
    free(loop->ios);
    close(loop->wake[0]);
    close(loop->wake[1]);
    pthread_mutex_destroy(&loop->lock);
}

/* Runs the tasks posted so far (not those they post). Returns how many. */
static inline size_t tlp_run_posted(tlp_loop_t *loop)
{
    pthread_mutex_lock(&loop->lock);
    cameo_task_t *task = loop->head;
    loop->head = NULL;
    loop->tail = &loop->head;
    pthread_mutex_unlock(&loop->lock);
    size_t n = 0;
    while (task != NULL) {
        cameo_task_t *next = task->_next;
        task->run(task);
        task = next;
        n++;
    }
    return n;
}

/* Fires the timers due at loop->now, except those armed during this phase. */
static inline void tlp_fire_timers(tlp_loop_t *loop)
{
    loop->turn++;
    for (;;) {
        cameo_timer_t *due = NULL;
        for (cameo_timer_t *t = loop->timers; t != NULL; t = t->next) {
            if (t->armed && t->armed_turn < loop->turn && t->when <= loop->now &&
                (due == NULL || t->when < due->when))
                due = t;
        }
        if (due == NULL)
            break;
        due->armed = false;
        due->cb(due->arg); /* may arm, disarm or free any timer, due included */
    }
}

/* One turn: posted tasks, then poll for at most max_wait_ms (less when a
 * timer is due sooner; 0 when tasks are queued), then fd callbacks, then
 * due timers. */
static inline void tlp_run_once(tlp_loop_t *loop, uint64_t max_wait_ms)
{
    loop->now = tlp_clock_ms();
    tlp_run_posted(loop);

    /* Drop the slots of closed watches. */
    size_t w = 0;
    for (size_t i = 0; i < loop->nios; i++)
        if (loop->ios[i] != NULL)
            loop->ios[w++] = loop->ios[i];
    loop->nios = w;

    uint64_t wait = max_wait_ms;
    for (cameo_timer_t *t = loop->timers; t != NULL; t = t->next) {
        if (t->armed) {
            uint64_t in = t->when > loop->now ? t->when - loop->now : 0;
            if (in < wait)
                wait = in;
        }
    }
    pthread_mutex_lock(&loop->lock);
    if (loop->head != NULL)
        wait = 0;
    pthread_mutex_unlock(&loop->lock);

    size_t n = loop->nios;
    struct pollfd *pfd = calloc(n + 1, sizeof(*pfd));
    assert(pfd != NULL);
    pfd[0].fd = loop->wake[0];
    pfd[0].events = POLLIN;
    for (size_t i = 0; i < n; i++) {
        cameo_io_t *io = loop->ios[i];
        pfd[i + 1].fd = io->events != 0 ? io->fd : -1; /* a negative fd is skipped by poll */
        pfd[i + 1].events = (short)(((io->events & CAMEO_IO_READ) ? POLLIN : 0) |
                                    ((io->events & CAMEO_IO_WRITE) ? POLLOUT : 0));
    }
    int rc = poll(pfd, (nfds_t)(n + 1), wait > 60000 ? 60000 : (int)wait);
    assert(rc >= 0 || errno == EINTR);
    loop->now = tlp_clock_ms();

    if (rc > 0) {
        if (pfd[0].revents != 0) {
            char buf[64];
            while (read(loop->wake[0], buf, sizeof(buf)) > 0) {
            }
        }
        for (size_t i = 0; i < n; i++) {
            cameo_io_t *io = loop->ios[i]; /* NULL when an earlier callback closed it */
            short re = pfd[i + 1].revents;
            if (io == NULL || re == 0)
                continue;
            int ev = 0;
            if ((io->events & CAMEO_IO_READ) && (re & (POLLIN | POLLHUP | POLLERR)))
                ev |= CAMEO_IO_READ;
            if ((io->events & CAMEO_IO_WRITE) && (re & (POLLOUT | POLLHUP | POLLERR)))
                ev |= CAMEO_IO_WRITE;
            if (ev != 0)
                io->cb(io->arg, ev);
        }
    }
    free(pfd);
    tlp_fire_timers(loop);
}

/* Runs turns until pred(arg) is true or timeout_ms have passed. Returns
 * whether pred came true (checked before the first turn and after each).
 * A turn waits at most TLP_POLL_MS, so a pred on state outside the loop (a
 * key in a server, a file) is looked at again soon after it changes. */
static inline bool tlp_run_until(tlp_loop_t *loop, bool (*pred)(void *arg), void *arg, uint64_t timeout_ms)
{
    uint64_t end = tlp_clock_ms() + timeout_ms;
    for (;;) {
        if (pred(arg))
            return true;
        uint64_t now = tlp_clock_ms();
        if (now >= end)
            return false;
        tlp_run_once(loop, end - now < TLP_POLL_MS ? end - now : TLP_POLL_MS);
    }
}

/* Runs turns for duration_ms, whatever happens: for "nothing else fires" checks. */
static inline void tlp_run_for(tlp_loop_t *loop, uint64_t duration_ms)
{
    uint64_t end = tlp_clock_ms() + duration_ms;
    for (uint64_t now = tlp_clock_ms(); now < end; now = tlp_clock_ms())
        tlp_run_once(loop, end - now);
}

#endif
