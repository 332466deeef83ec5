/*
 * core_error.c - the error strings and clock helpers declared in
 * include/cameo/cameo.h.
 *
 * Every module calls cameo_strerror() to explain a CAMEO_E* code or a
 * negative errno; the daemon's event loop calls cameo_now_ms() once per event
 * and passes the value down as `now`, and code that stores timestamps calls
 * cameo_wall_ms(). Nothing here allocates or keeps state.
 */
#include "cameo/cameo.h"

#include <string.h>
#include <time.h>

const char *cameo_strerror(int err)
{
    switch (err) {
    case CAMEO_OK:
        return "success";
    case CAMEO_ENOTFOUND:
        return "not found";
    case CAMEO_ESTALE:
        return "stale: past its TTL, within the grace window";
    case CAMEO_EINVAL:
        return "invalid argument";
    case CAMEO_ENOMEM:
        return "out of memory";
    case CAMEO_EIO:
        return "I/O error";
    case CAMEO_EBUSY:
        return "busy: a bounded queue or pool is full";
    case CAMEO_ETOOBIG:
        return "too big: larger than the configured limit";
    case CAMEO_EUNAVAIL:
        return "unavailable: a tier or origin is down or closed";
    case CAMEO_EPENDING:
        return "pending: the answer comes through the callback";
    case CAMEO_ECORRUPT:
        return "corrupt: stored data failed a check";
    case CAMEO_ENOTSUP:
        return "not supported by this tier or origin";
    case CAMEO_ETIMEDOUT:
        return "timed out: no answer in time";
    case CAMEO_EUPSTREAM:
        return "the origin's server refused or failed the request";
    default:
        break;
    }
    /* Functions may also return a negative errno. strerror() may return a
     * buffer shared between threads for unknown values; strerrordesc_np()
     * (glibc >= 2.32, _GNU_SOURCE) returns a static string or NULL. */
    if (err < 0 && err > -4096) {
        const char *s = strerrordesc_np(-err);
        if (s != NULL)
            return s;
    }
    return "unknown error";
}

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;

    /* Cannot fail for these clock ids on Linux; a zeroed value is the fallback. */
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cameo_now_ms(void)
{
    return clock_us(CLOCK_MONOTONIC) / 1000u;
}

uint64_t cameo_now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

uint64_t cameo_wall_ms(void)
{
    return clock_us(CLOCK_REALTIME) / 1000u;
}
