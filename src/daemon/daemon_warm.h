/*
 * daemon_warm.h - `--warm-file FILE`: once the server is up, a thread reads
 * the user ids in FILE and loads them (and their avatars) into the tiers by
 * POSTing them to the server's own /v1/warm in batches of 1000, logging
 * progress. The same code path as an operator's POST /v1/warm, so the same
 * batching, coalescing and metrics.
 *
 * Called by daemon_main.c only. FILE: one id per line; blank lines and lines
 * starting with '#' are skipped, surrounding spaces trimmed; a line that is
 * not a valid id is logged and skipped.
 */
#ifndef CAMEO_DAEMON_WARM_H
#define CAMEO_DAEMON_WARM_H

#include <stddef.h>

typedef struct cameo_warmer cameo_warmer_t;

/* Checks that path can be read. 0, or -1 with a one-line reason in errbuf. */
int cameo_warm_check(const char *path, char *errbuf, size_t errlen);

/* Starts the thread (host: the listen address; a wildcard is reached on
 * loopback). NULL when it could not start (logged). */
cameo_warmer_t *cameo_warm_start(const char *path, const char *host, unsigned port, const char *token);

/* Asks the thread to stop after its current batch, without waiting. */
void cameo_warm_stop_async(cameo_warmer_t *w);

/* Asks the thread to stop after its current batch, joins it and frees w.
 * NULL is a no-op. */
void cameo_warm_stop(cameo_warmer_t *w);

#endif
