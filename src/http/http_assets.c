/*
 * http_assets.c - serves the embedded browser files. See http_assets.h.
 *
 * Called by the router (http_routes.c) for GET and HEAD on the asset paths;
 * the router counts and sends the response. The bytes are static (the
 * generated table), so responses point at them without a copy.
 */
#include <string.h>

#include <h2o.h>

#include "http/http_assets.h"
#include "http/http_parse.h"

/* Entry points: fixed paths, revalidated on every use. */
static const struct {
    const char *path;
    const char *name;
} entries[] = {
    {"/cameo.js", "cameo.js"},
    {"/cameo-sw.js", "cameo-sw.js"},
    {"/demo", "demo.html"},
    {"/dashboard", "dashboard.html"},
};

static const cameo_asset_t *by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < cameo__nassets; i++)
        if (strlen(cameo__assets[i].name) == len && memcmp(cameo__assets[i].name, name, len) == 0)
            return &cameo__assets[i];
    return NULL;
}

const cameo_asset_t *cameo__asset_find(const char *path, size_t len, int *versioned)
{
    static const char pre[] = "/assets/";
    *versioned = 0;
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
        if (strlen(entries[i].path) == len && memcmp(entries[i].path, path, len) == 0)
            return by_name(entries[i].name, strlen(entries[i].name));
    if (len < sizeof(pre) - 1 + 16 + 2 || memcmp(path, pre, sizeof(pre) - 1) != 0)
        return NULL;
    const char *hash = path + sizeof(pre) - 1;
    if (hash[16] != '/')
        return NULL;
    const char *name = hash + 17;
    const cameo_asset_t *a = by_name(name, len - (size_t)(name - path));
    if (a == NULL || memcmp(a->hash, hash, 16) != 0)
        return NULL; /* an old or unknown version: never serve other bytes under it */
    *versioned = 1;
    return a;
}

int cameo__asset_prepare(h2o_req_t *req, const cameo_asset_t *a, int versioned, h2o_iovec_t *body)
{
    char etag[20];
    etag[0] = '"';
    memcpy(etag + 1, a->hash, 16);
    etag[17] = '"';
    etag[18] = '\0';
    h2o_iovec_t et = h2o_strdup(&req->pool, etag, 18);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, et.base, et.len);
    if (versioned)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("public, max-age=31536000, immutable"));
    else
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    if (strcmp(a->name, "cameo-sw.js") == 0)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("service-worker-allowed"), 0, NULL,
                              H2O_STRLIT("/"));
    *body = h2o_iovec_init(a->data, a->len);
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i != -1 &&
        cameo__etag_list_matches(req->headers.entries[i].value.base, req->headers.entries[i].value.len, etag))
        return 304;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, a->content_type,
                   strlen(a->content_type));
    return 200;
}
