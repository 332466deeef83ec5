/*
 * http_assets.h - the browser files cameo serves itself (web/: cameo.js,
 * cameo-sw.js, the /demo and /dashboard pages, and the chart library from
 * npm), embedded in the binary at build time by cmake/embed_assets.cmake.
 *
 * Every file is served at its versioned URL /assets/{hash}/{name},
 * immutable; a few are also entry points at a fixed path (/cameo.js,
 * /cameo-sw.js, /demo, /dashboard), revalidated on every use (no-cache)
 * with their strong ETag. Internal to src/http/; the generated table has no
 * h2o headers (h2o types are only named, by their struct tags), so it
 * compiles without them.
 */
#ifndef CAMEO_HTTP_ASSETS_H
#define CAMEO_HTTP_ASSETS_H

#include <stddef.h>

typedef struct cameo_asset {
    const char *name;         /* "cameo.js", "demo.html", "uPlot.iife.min.js" */
    const char *hash;         /* 16 hex digits of the SHA-256 of data: the version and ETag */
    const char *content_type; /* with charset */
    const unsigned char *data;
    size_t len;
} cameo_asset_t;

/* The generated table (static storage, immutable). */
extern const cameo_asset_t cameo__assets[];
extern const size_t cameo__nassets;

/* The asset served at path[0..len) (the path without its query), or NULL.
 * *versioned is set to 1 for /assets/{hash}/{name} (whose hash must be the
 * current one), 0 for an entry point. */
const cameo_asset_t *cameo__asset_find(const char *path, size_t len, int *versioned);

/* Adds the asset's headers (Content-Type, ETag, Cache-Control; for the
 * service worker Service-Worker-Allowed) to req and points *body at its
 * bytes (static storage). Returns 304 when If-None-Match names its ETag,
 * else 200. */
struct st_h2o_req_t;
struct st_h2o_iovec_t;
int cameo__asset_prepare(struct st_h2o_req_t *req, const cameo_asset_t *a, int versioned,
                         struct st_h2o_iovec_t *body);

#endif
