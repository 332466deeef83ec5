/*
 * server.h - the HTTP/1.1 front of cameo: worker threads, each with its own
 * event loop and SO_REUSEPORT listener, serving the v1 API over the engine.
 *
 * The daemon (src/daemon) is the caller: it builds the engine, starts the
 * server, waits for SIGTERM/SIGINT, then shuts the server down. Everything
 * behind this header lives in src/http/, the only code that sees h2o.
 */
#ifndef CAMEO_SERVER_H
#define CAMEO_SERVER_H

#include <stddef.h>

#include "cameo/engine.h"
#include "cameo/events.h"

typedef struct cameo_server cameo_server_t;

typedef struct cameo_server_config {
    const char *host; /* numeric address to listen on, e.g. "127.0.0.1" or "::1" */
    unsigned port;
    unsigned workers;        /* event-loop threads, >= 1 */
    const char *admin_token; /* Bearer token of the admin endpoints */
    size_t max_avatar_size;  /* bytes of an avatar upload */
    size_t max_profile_size; /* bytes of a profile document (64 KiB) */
    size_t max_batch_body;   /* bytes of a batch or invalidate body (256 KiB) */
    cameo_engine_t *engine;
    cameo_metrics_t *metrics;  /* nworkers == workers */
    cameo_hub_t *hub;          /* change events for GET /v1/events */
    uint64_t sse_keepalive_ms; /* comment line on idle event streams */
    int avatar_presigned;      /* avatar redirects go to the origin's avatar_url (presigned S3 GET) */
} cameo_server_config_t;

/*
 * Binds the listeners and starts the workers, each attached to the engine
 * (cameo_engine_attach) before this returns. Returns CAMEO_OK and *out;
 * CAMEO_EIO with a message in errbuf when a listener or thread cannot be
 * made (e.g. the address is in use); or CAMEO_EUNAVAIL when a worker's loop
 * could not attach to the remote tier or the origin, errbuf naming the
 * worker and what failed. On failure every started worker is stopped and
 * nothing is left to free. The config's strings must outlive the server.
 */
int cameo_server_start(const cameo_server_config_t *cfg, cameo_server_t **out, char *errbuf, size_t errlen);

/* Stops accepting, lets in-flight requests finish (at most timeout_ms), then
 * stops and joins the workers. Destroy the engine after this (it waits for
 * origin calls still in flight), then free the server. */
void cameo_server_shutdown(cameo_server_t *s, unsigned timeout_ms);

/* Frees a shut-down server. NULL is a no-op. */
void cameo_server_free(cameo_server_t *s);

#endif
