/*
 * core_loopmap.c - the per-loop state table of network tiers and origins.
 * See core_loopmap.h.
 */
#include "core/core_loopmap.h"

#include <assert.h>

#include "cameo/cameo.h"

void cameo__loopmap_init(cameo_loopmap_t *m)
{
    pthread_mutex_init(&m->_lock, NULL);
    for (unsigned i = 0; i < CAMEO_LOOPMAP_MAX; i++) {
        atomic_init(&m->_slots[i].loop, NULL);
        atomic_init(&m->_slots[i].state, NULL);
    }
    atomic_init(&m->_used, 0);
}

void cameo__loopmap_destroy(cameo_loopmap_t *m)
{
    for (unsigned i = 0; i < atomic_load(&m->_used); i++)
        assert(atomic_load(&m->_slots[i].loop) == NULL); /* every loop removed */
    pthread_mutex_destroy(&m->_lock);
}

static unsigned find(cameo_loopmap_t *m, cameo_loop_t *loop)
{
    unsigned n = atomic_load_explicit(&m->_used, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (atomic_load_explicit(&m->_slots[i].loop, memory_order_acquire) == loop)
            return i;
    return CAMEO_LOOPMAP_MAX;
}

int cameo__loopmap_add(cameo_loopmap_t *m, cameo_loop_t *loop, void *state, unsigned *index)
{
    pthread_mutex_lock(&m->_lock);
    if (find(m, loop) != CAMEO_LOOPMAP_MAX) {
        pthread_mutex_unlock(&m->_lock);
        return CAMEO_EINVAL;
    }
    unsigned n = atomic_load(&m->_used), i;
    for (i = 0; i < n; i++)
        if (atomic_load(&m->_slots[i].loop) == NULL)
            break;
    if (i == CAMEO_LOOPMAP_MAX) {
        pthread_mutex_unlock(&m->_lock);
        return CAMEO_EBUSY;
    }
    atomic_store_explicit(&m->_slots[i].state, state, memory_order_relaxed);
    atomic_store_explicit(&m->_slots[i].loop, loop, memory_order_release); /* publishes state */
    if (i == n)
        atomic_store_explicit(&m->_used, n + 1, memory_order_release);
    pthread_mutex_unlock(&m->_lock);
    if (index != NULL)
        *index = i;
    return CAMEO_OK;
}

void *cameo__loopmap_get(cameo_loopmap_t *m, cameo_loop_t *loop)
{
    unsigned i = find(m, loop);
    return i == CAMEO_LOOPMAP_MAX ? NULL : atomic_load_explicit(&m->_slots[i].state, memory_order_relaxed);
}

void *cameo__loopmap_remove(cameo_loopmap_t *m, cameo_loop_t *loop)
{
    pthread_mutex_lock(&m->_lock);
    unsigned i = find(m, loop);
    void *state = NULL;
    if (i != CAMEO_LOOPMAP_MAX) {
        state = atomic_load(&m->_slots[i].state);
        atomic_store_explicit(&m->_slots[i].loop, NULL, memory_order_release);
        atomic_store_explicit(&m->_slots[i].state, NULL, memory_order_relaxed);
    }
    pthread_mutex_unlock(&m->_lock);
    return state;
}
