/*
 * cameo.h - common definitions of the cameo core library: error codes and
 * time helpers shared by every module.
 *
 * Every function of the library that can fail returns an int: 0 (CAMEO_OK) on
 * success or one of the negative CAMEO_E* codes below, which
 * cameo_strerror() explains. When a function that takes a callback fails,
 * the callback never fires.
 */
#ifndef CAMEO_CAMEO_H
#define CAMEO_CAMEO_H

#include <stddef.h>
#include <stdint.h>

#define CAMEO_VERSION "0.1.0"

enum {
    CAMEO_OK = 0,
    CAMEO_ENOTFOUND = -20001, /* no such key, user or object */
    CAMEO_ESTALE = -20002,    /* found, but past its TTL (within the grace window) */
    CAMEO_EINVAL = -20003,    /* bad argument or malformed input */
    CAMEO_ENOMEM = -20004,    /* allocation failed */
    CAMEO_EIO = -20005,       /* storage or network I/O failed */
    CAMEO_EBUSY = -20006,     /* a bounded queue or pool is full; try later */
    CAMEO_ETOOBIG = -20007,   /* larger than the configured limit */
    CAMEO_EUNAVAIL = -20008,  /* a tier or origin is down or closed */
    CAMEO_EPENDING = -20009,  /* the answer comes later through the callback */
    CAMEO_ECORRUPT = -20010,  /* stored data failed a check */
    CAMEO_ENOTSUP = -20011,   /* this tier or origin does not do that */
    CAMEO_ETIMEDOUT = -20012, /* no answer in time */
    CAMEO_EUPSTREAM = -20013, /* a network origin refused or failed the request (HTTP 502) */
};

/* A static, human-readable description of err (never NULL). */
const char *cameo_strerror(int err);

/* Milliseconds on a monotonic clock; the daemon reads it once per event and
 * passes it down as `now`. Library code never reads it to decide anything
 * (freshness, expiry); it only measures durations with cameo_now_us. */
uint64_t cameo_now_ms(void);

/* Microseconds on the same monotonic clock, for measuring how long something
 * took (latency histograms, Redis command deadlines). */
uint64_t cameo_now_us(void);

/* Milliseconds since the Unix epoch (wall clock), for stored timestamps. */
uint64_t cameo_wall_ms(void);

#endif
