/*
 * log.h - one line per event to stderr, key=value, with a level:
 *   ts=2026-11-21T23:59:01.123Z level=info msg=listening addr=127.0.0.1:8080
 * Lines are written with a single write(2), so lines from several threads
 * never interleave. Secrets are never passed to the logger.
 */
#ifndef CAMEO_LOG_H
#define CAMEO_LOG_H

#include <stdatomic.h>
#include <stddef.h>

typedef enum { CAMEO_LOG_DEBUG = 0, CAMEO_LOG_INFO, CAMEO_LOG_WARN, CAMEO_LOG_ERROR } cameo_log_level_t;

extern atomic_int cameo__log_level;

/* Sets the lowest level written (default info). */
void cameo_log_set_level(cameo_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns the level, or -1. */
int cameo_log_parse_level(const char *s);

static inline int cameo_log_enabled(cameo_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&cameo__log_level, memory_order_relaxed);
}

/* Writes one line: ts, level, msg (a word, no spaces), then fmt's key=value
 * pairs (may be NULL). Lines longer than 2 KiB are cut. */
void cameo_log(cameo_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* url as it may be shown (log lines, /readyz): scheme, host and port only,
 * "/..." after them; never the user:password@, path or query, which may
 * hold secrets. Writes into buf (NUL-terminated, cut to len) and returns it. */
const char *cameo_log_url(const char *url, char *buf, size_t len);

#endif
