/*
 * core_loopmap.h - which worker loop owns which per-loop state: a fixed
 * table in which the network tier and origins (tier_redis.c, origin_s3.c,
 * origin_http.c) keep the connection state each worker loop attached.
 *
 * Threading: add and remove run on the loop's own thread (attach, detach);
 * a mutex serialises them across loops. get may run on any thread, but a
 * loop only ever looks itself up, so the state it finds cannot be removed
 * under it. Lookups take no lock: a scan of at most the slots ever used.
 */
#ifndef CAMEO_CORE_LOOPMAP_H
#define CAMEO_CORE_LOOPMAP_H

#include <pthread.h>
#include <stdatomic.h>

#include "cameo/loop.h"

#define CAMEO_LOOPMAP_MAX 256 /* loops attached at once */

typedef struct cameo_loopmap {
    pthread_mutex_t _lock; /* add and remove; no other lock is taken while held */
    struct {
        _Atomic(cameo_loop_t *) loop; /* NULL: free */
        _Atomic(void *) state;
    } _slots[CAMEO_LOOPMAP_MAX];
    atomic_uint _used; /* slots ever used: scans stop there */
} cameo_loopmap_t;

void cameo__loopmap_init(cameo_loopmap_t *m);
/* Every loop must have been removed (asserted). */
void cameo__loopmap_destroy(cameo_loopmap_t *m);

/* Files state (not NULL) under loop, in the first free slot; *index (may be
 * NULL) gets that slot's number, stable until remove (for log lines).
 * CAMEO_OK, CAMEO_EINVAL (loop is there already) or CAMEO_EBUSY (full). */
int cameo__loopmap_add(cameo_loopmap_t *m, cameo_loop_t *loop, void *state, unsigned *index);

/* loop's state, or NULL. */
void *cameo__loopmap_get(cameo_loopmap_t *m, cameo_loop_t *loop);

/* Removes loop and returns its state (NULL when it was not there). */
void *cameo__loopmap_remove(cameo_loopmap_t *m, cameo_loop_t *loop);

#endif
