/*
 * loop.h - the event loop of a worker thread, as the core library sees it:
 * posting work to the loop from any thread, and, on the loop's own thread,
 * watching file descriptors and running timers.
 *
 * The HTTP layer implements it over h2o (src/http/http_loop.c), so tiers and
 * origins that talk to the network (Redis, S3, an HTTP user service) run on
 * the workers' loops without ever seeing h2o. Tests implement it with
 * poll(2).
 *
 * Threading: post() may be called from any thread. Every other operation,
 * and every callback, runs on the loop's own thread only.
 */
#ifndef CAMEO_LOOP_H
#define CAMEO_LOOP_H

#include <stdint.h>

/* A unit of work handed to a loop. */
typedef struct cameo_task {
    struct cameo_task *_next; /* free for the loop implementation's queue */
    void (*run)(struct cameo_task *task);
} cameo_task_t;

enum {
    CAMEO_IO_READ = 1,  /* the fd is readable (or at EOF, or has an error) */
    CAMEO_IO_WRITE = 2, /* the fd is writable */
};

typedef struct cameo_io cameo_io_t;
typedef struct cameo_timer cameo_timer_t;

/* events: CAMEO_IO_READ and/or CAMEO_IO_WRITE. */
typedef void (*cameo_io_cb)(void *arg, int events);
typedef void (*cameo_timer_cb)(void *arg);

typedef struct cameo_loop {
    /* Any thread: runs task->run(task) later on the loop's thread. */
    void (*post)(struct cameo_loop *loop, cameo_task_t *task);

    /* Starts watching fd (which stays the caller's: the loop never closes
     * it, and io_close must come before the caller closes it). Interest
     * starts empty. Returns NULL when out of memory. */
    cameo_io_t *(*io_watch)(struct cameo_loop *loop, int fd, cameo_io_cb cb, void *arg);

    /* Sets the events of interest; cb fires while they hold (level
     * triggered) until changed. */
    void (*io_set)(cameo_io_t *io, int events);

    /* Stops watching and frees io; cb never fires after this returns. */
    void (*io_close)(cameo_io_t *io);

    /* A timer, disarmed. NULL when out of memory. */
    cameo_timer_t *(*timer_new)(struct cameo_loop *loop, cameo_timer_cb cb, void *arg);

    /* Fires cb once, after_ms from now (a little later is allowed: at most
     * 10% or 1 ms, whichever is larger). Arming an armed timer re-arms it. */
    void (*timer_arm)(cameo_timer_t *t, uint64_t after_ms);
    void (*timer_disarm)(cameo_timer_t *t);
    void (*timer_free)(cameo_timer_t *t);

    /* Milliseconds on the monotonic clock of cameo_now_ms(). An
     * implementation may read it once per loop turn (the tests' poll loop
     * does), so it can lag by one turn; http_loop.c reads it at each call. */
    uint64_t (*now_ms)(struct cameo_loop *loop);
} cameo_loop_t;

#endif
