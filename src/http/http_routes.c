/*
 * http_routes.c - the v1 API: routing, input checks, auth, and turning
 * engine answers into responses. See docs/api.md for the contract.
 *
 * Runs on worker loop threads only. A hit is answered inside the handler:
 * one engine lookup, then the entry's ETag and body are handed to h2o as
 * they are (zero copy; the entry is released when the request is disposed).
 * A miss or a write waits for the engine's answer on the same loop.
 *
 * Lifetime of a request context (rctx_t): malloc'd, with refs counted on the
 * loop thread: one for the h2o request (dropped when its pool is disposed,
 * which also clears c->req) and one while the engine holds c->read or
 * c->write. A client that leaves early therefore never makes the engine's
 * answer touch a freed request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <xxhash.h>

#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/resp.h"
#include "http/http_assets.h"
#include "http/http_internal.h"
#include "http/http_parse.h"

#define BATCH_MAX 1000
#define LIST_DEFAULT 50  /* GET /v1/users without ?limit= */
#define DEDUP_SLOTS 2048 /* a power of two >= 2 * BATCH_MAX */
/* Names and values of a request's header fields, added up. (h2o itself
 * answers 400 past 100 header fields.) */
#define HEADER_BYTES_MAX (16 * 1024)

typedef enum {
    K_NONE,
    K_USER,
    K_USER_AVATAR,
    K_BLOB,
    K_BATCH,
    K_WRITE_PROFILE,
    K_WRITE_AVATAR,
    K_DELETE,
    K_INVALIDATE,
    K_WARM,
    K_LIST
} kind_t;

/* One avatar read of POST /v1/warm. */
typedef struct warm_read {
    cameo_read_t r; /* first */
    struct rctx *c;
} warm_read_t;

typedef struct rctx {
    int refs;       /* loop thread only */
    h2o_req_t *req; /* NULL once the request is disposed */
    cameo_worker_t *w;
    cameo_route_t route;
    kind_t kind;
    int head;          /* a HEAD request */
    int want_initials; /* ?default=initials */
    int want_url;      /* GET /v1/users/{id}/avatar/url: the avatar's URL as JSON, not a redirect */
    uint64_t start_us;
    uint64_t from_cache; /* body bytes answered from a tier */
    cameo_entry_t *sent; /* entry whose bytes h2o may still be sending */
    cameo_read_t read;
    cameo_write_t write;
    cameo_list_t list;
    size_t limit; /* listing: ids asked for */
    /* batch; for a listing, ids is the engine's block of ids */
    size_t n;
    const char **ids;
    cameo_entry_t **results;
    int *errs;
    char *idbuf;
    /* warm: avatar reads in flight, and counts for the answer */
    warm_read_t *warm;
    size_t warm_pending, warm_avatars, warm_avatar_failed;
    char id[CAMEO_ID_MAX + 1];
} rctx_t;

static h2o_generator_t static_generator = {NULL, NULL};

/* The request's `now` for the engine: the monotonic clock as read once when
 * it arrived (start_us), so a hit reads the clock once. */
static uint64_t now_ms(const rctx_t *c)
{
    return c->start_us / 1000;
}

static void rctx_unref(rctx_t *c)
{
    if (--c->refs > 0)
        return;
    cameo_entry_unref(c->sent);
    if (c->results != NULL)
        for (size_t i = 0; i < c->n; i++)
            cameo_entry_unref(c->results[i]);
    free(c->results);
    free(c->errs);
    free(c->ids);
    free(c->idbuf);
    free(c->warm);
    free(c);
}

/* The request's pool is being cleared: the request is gone. */
static void on_req_dispose(void *p)
{
    rctx_t *c = *(rctx_t **)p;
    c->req = NULL;
    c->w->inflight--;
    rctx_unref(c);
}

/* The engine now holds c until its answer runs on this loop. */
static void engine_hold(rctx_t *c)
{
    c->refs++;
    c->w->inflight++;
}

static void engine_release(rctx_t *c)
{
    c->w->inflight--;
    rctx_unref(c);
}

/* ---- responses ---- */

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, value, len);
}

/* Counts the request and writes the access log line. */
static void account(rctx_t *c, int status)
{
    uint64_t us = cameo_now_us() - c->start_us;
    cameo_metrics_request(c->w->server->cfg.metrics, c->w->index, c->route, status, us, c->from_cache);
    if (cameo_log_enabled(CAMEO_LOG_DEBUG)) {
        h2o_req_t *req = c->req;
        cameo_log(CAMEO_LOG_DEBUG, "access", "method=%.*s path=%.*s status=%d us=%llu worker=%u",
                  (int)req->method.len, req->method.base, (int)(req->path.len > 256 ? 256 : req->path.len),
                  req->path.base, status, (unsigned long long)us, c->w->index);
    }
}

/* Sends status with body[0..n) (not copied: must live until the request is
 * disposed). */
static void send_iov(rctx_t *c, int status, const char *reason, h2o_iovec_t *body, size_t n)
{
    h2o_req_t *req = c->req;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += body[i].len;
    account(c, status);
    req->res.status = status;
    req->res.reason = reason;
    /* RFC 9110: no Content-Length on a 204; on a 304 (and a HEAD) the length
     * the 200 would have had, so the body is described but not sent. */
    req->res.content_length = status == 204 ? SIZE_MAX : len;
    h2o_start_response(req, &static_generator);
    h2o_send(req, body, c->head || status == 304 || status == 204 ? 0 : n, H2O_SEND_STATE_FINAL);
}

/* Sends a copy of body with the given content type. */
static void send_copy(rctx_t *c, int status, const char *reason, const char *ctype, const char *body,
                      size_t len)
{
    h2o_req_t *req = c->req;
    h2o_iovec_t b = h2o_strdup(&req->pool, body, len);
    if (ctype != NULL)
        add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype, strlen(ctype));
    send_iov(c, status, reason, &b, 1);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 501:
        return "Not Implemented";
    case 431:
        return "Request Header Fields Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Internal Server Error";
    }
}

static void send_json(rctx_t *c, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        send_copy(c, 500, reason_of(500), "application/json", oom, sizeof(oom) - 1);
        return;
    }
    send_copy(c, status, reason_of(status), "application/json", text, strlen(text));
    free(text);
}

/* Sends {"error": {"code", "message"}}. message is formatted; anything
 * taken from the request in it is escaped by the JSON encoder. */
__attribute__((format(printf, 4, 5))) static void send_error(rctx_t *c, int status, const char *code,
                                                             const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    if (o == NULL)
        o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", "(message not valid UTF-8)");
    send_json(c, status, o);
}

static void send_method_not_allowed(rctx_t *c, const char *allow)
{
    add_header(c->req, H2O_TOKEN_ALLOW, allow, strlen(allow));
    send_error(c, 405, "method_not_allowed", "%.*s is not allowed here; allowed: %s", (int)c->req->method.len,
               c->req->method.base, allow);
}

/* Maps an engine or origin error to a response. */
static void send_engine_error(rctx_t *c, int err, const char *what)
{
    switch (err) {
    case CAMEO_ENOTFOUND:
        send_error(c, 404, "not_found", "%s", what);
        break;
    case CAMEO_ECORRUPT:
        send_error(c, 502, "bad_gateway", "the origin returned data that is not valid: %s",
                   cameo_strerror(err));
        break;
    case CAMEO_ETOOBIG:
        send_error(c, 413, "too_large", "%s", cameo_strerror(err));
        break;
    case CAMEO_ENOTSUP:
        add_header(c->req, H2O_TOKEN_ALLOW, "GET, HEAD", 9);
        send_error(c, 405, "read_only_origin",
                   "this cameo fronts an origin it cannot write to: change the data there, then tell "
                   "cameo with POST /v1/invalidate");
        break;
    case CAMEO_EUNAVAIL:
    case CAMEO_EUPSTREAM:
        send_error(c, 502, "bad_gateway", "the origin is unavailable and nothing cached can answer: %s",
                   cameo_strerror(err));
        break;
    case CAMEO_ETIMEDOUT:
        send_error(c, 504, "gateway_timeout",
                   "the origin did not answer in time and nothing cached can answer");
        break;
    default:
        send_error(c, 503, "unavailable", "the store is unavailable: %s", cameo_strerror(err));
        break;
    }
}

/* 1 when If-None-Match names etag (or is "*"). */
static int etag_matches(h2o_req_t *req, const char *etag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    return i != -1 && cameo__etag_list_matches(req->headers.entries[i].value.base,
                                               req->headers.entries[i].value.len, etag);
}

/* Sends a profile or blob entry: 304 when If-None-Match matches, else 200
 * with the body straight from the entry. Takes over the reference. */
static void send_entry(rctx_t *c, cameo_entry_t *e, int from_cache)
{
    h2o_req_t *req = c->req;
    const cameo_resp_t *r = cameo_resp(e);
    cameo_entry_unref(c->sent);
    c->sent = e;
    add_header(req, H2O_TOKEN_ETAG, r->etag, strlen(r->etag));
    uint64_t age = cameo_engine_age_s(c->w->server->cfg.engine, e, now_ms(c));
    if (age > 0) { /* served past its TTL: stale-while-revalidate or stale-if-error */
        char *v = h2o_mem_alloc_pool(&req->pool, 24);
        add_header(req, H2O_TOKEN_AGE, v, (size_t)sprintf(v, "%llu", (unsigned long long)age));
    }
    if (r->kind == CAMEO_RESP_BLOB)
        add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("public, max-age=31536000, immutable"));
    else
        add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    h2o_iovec_t body = h2o_iovec_init(cameo_resp_body(e), r->body_len);
    if (etag_matches(req, r->etag)) {
        send_iov(c, 304, "Not Modified", &body, 1);
        return;
    }
    add_header(req, H2O_TOKEN_CONTENT_TYPE, r->content_type, strlen(r->content_type));
    if (from_cache && !c->head)
        c->from_cache = r->body_len;
    send_iov(c, 200, "OK", &body, 1);
}

/* Where avatar version of c->id is fetched: with --avatar-delivery
 * presigned, the origin's URL (a presigned S3 GET, dated at the start of
 * its time bucket so every instance hands out the same one) and
 * *expires_at in Unix seconds; else cameo's immutable path and 0. The URL
 * is allocated in the request's pool. */
static int avatar_location(rctx_t *c, const char *version, h2o_iovec_t *url, uint64_t *expires_at)
{
    h2o_req_t *req = c->req;
    cameo_origin_t *o = cameo_engine_origin(c->w->server->cfg.engine);
    *expires_at = 0;
    if (c->w->server->cfg.avatar_presigned && o->ops->avatar_url != NULL) {
        /* Room for the longest URL (a session token can run to 4 KB,
         * encoded up to 12) on the stack; only its bytes go to the pool,
         * which would malloc a block this large on every request. */
        char buf[16384];
        int rc = o->ops->avatar_url(o, c->id, version, cameo_wall_ms() / 1000, buf, sizeof(buf), expires_at);
        *url = rc == CAMEO_OK ? h2o_strdup(&req->pool, buf, strlen(buf)) : h2o_iovec_init("", 0);
        return rc;
    }
    *url = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/v1/avatars/")),
                      h2o_iovec_init(c->id, strlen(c->id)), h2o_iovec_init(H2O_STRLIT("/")),
                      h2o_iovec_init(version, strlen(version)));
    return CAMEO_OK;
}

/* The avatar redirect (or its URL as JSON), or the initials placeholder,
 * of a profile entry. */
static void send_user_avatar(rctx_t *c, cameo_entry_t *e)
{
    h2o_req_t *req = c->req;
    const cameo_resp_t *r = cameo_resp(e);
    cameo_entry_unref(c->sent);
    c->sent = e;
    add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    if (r->avatar_version[0] != '\0') {
        h2o_iovec_t loc;
        uint64_t expires_at;
        int rc = avatar_location(c, r->avatar_version, &loc, &expires_at);
        if (rc != CAMEO_OK) {
            send_error(c, 500, "internal", "cannot sign the avatar URL: %s", cameo_strerror(rc));
        } else if (c->want_url) {
            json_t *exp = expires_at != 0 ? json_integer((json_int_t)expires_at) : json_null();
            send_json(c, 200,
                      json_pack("{s:s%, s:s, s:o}", "url", loc.base, loc.len, "version", r->avatar_version,
                                "expires_at", exp));
        } else {
            add_header(req, H2O_TOKEN_LOCATION, loc.base, loc.len);
            send_iov(c, 302, "Found", NULL, 0);
        }
        return;
    }
    if (c->want_url) {
        send_error(c, 404, "not_found", "user %s has no avatar", c->id);
        return;
    }
    if (!c->want_initials) {
        send_error(c, 404, "not_found", "user %s has no avatar (add ?default=initials for a placeholder)",
                   c->id);
        return;
    }
    char svg[512];
    size_t n = cameo_initials_svg(c->id, r->initials, svg, sizeof(svg));
    send_copy(c, 200, "OK", "image/svg+xml", svg, n);
}

/* ---- input checks ---- */

static int method_is(h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

#define IS(req, m) method_is((req), H2O_STRLIT(m))

static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i == -1 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* Checks the admin token. Returns 1 when it is right; otherwise sends 401 or
 * 403 and returns 0. The comparison is of SHA-256 digests with
 * CRYPTO_memcmp, so it takes the same time whatever the token. */
static int require_admin(rctx_t *c)
{
    h2o_req_t *req = c->req;
    h2o_iovec_t v = header_value(req, H2O_TOKEN_AUTHORIZATION);
    if (v.base == NULL || v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0) {
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, H2O_STRLIT("Bearer realm=\"cameo\""));
        send_error(c, 401, "unauthorized", "this endpoint needs an admin token: Authorization: Bearer TOKEN");
        return 0;
    }
    const char *tok = v.base + 7;
    size_t len = v.len - 7;
    while (len > 0 && *tok == ' ')
        tok++, len--;
    unsigned char given[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];
    const char *admin = c->w->server->cfg.admin_token;
    SHA256((const unsigned char *)tok, len, given);
    SHA256((const unsigned char *)admin, strlen(admin), want);
    if (CRYPTO_memcmp(given, want, sizeof(given)) != 0) {
        send_error(c, 403, "forbidden", "the admin token is wrong");
        return 0;
    }
    return 1;
}

/* Checks that the body is JSON within max bytes. Sends 415 or 413 and returns
 * 0 otherwise. */
static int require_json_body(rctx_t *c, size_t max)
{
    h2o_req_t *req = c->req;
    h2o_iovec_t ct = header_value(req, H2O_TOKEN_CONTENT_TYPE);
    static const char json[] = "application/json";
    if (ct.base == NULL || ct.len < sizeof(json) - 1 || strncasecmp(ct.base, json, sizeof(json) - 1) != 0 ||
        (ct.len > sizeof(json) - 1 && ct.base[sizeof(json) - 1] != ';' && ct.base[sizeof(json) - 1] != ' ')) {
        send_error(c, 415, "unsupported_media_type",
                   "the body must be JSON (Content-Type: application/json)");
        return 0;
    }
    if (req->entity.len > max) {
        send_error(c, 413, "too_large", "the body is %zu bytes; the limit is %zu", req->entity.len, max);
        return 0;
    }
    return 1;
}

/* Parses {"ids": [...]} into c->ids (distinct, valid, request order) and
 * c->n. Sends 400 and returns 0 when the body is not of that shape. */
static int parse_ids(rctx_t *c)
{
    h2o_req_t *req = c->req;
    json_error_t jerr;
    json_t *doc = json_loadb(req->entity.base ? req->entity.base : "", req->entity.len, 0, &jerr);
    if (doc == NULL) {
        send_error(c, 400, "bad_json", "the body is not valid JSON: %s (line %d)", jerr.text, jerr.line);
        return 0;
    }
    json_t *ids = json_object_get(doc, "ids");
    if (!json_is_object(doc) || !json_is_array(ids)) {
        json_decref(doc);
        send_error(c, 400, "bad_json", "the body must be an object with a list of ids: {\"ids\": [...]}");
        return 0;
    }
    size_t n = json_array_size(ids);
    if (n > BATCH_MAX) {
        json_decref(doc);
        send_error(c, 400, "bad_request", "%zu ids; at most %d ids per request", n, BATCH_MAX);
        return 0;
    }
    c->ids = calloc(n ? n : 1, sizeof(*c->ids));
    c->idbuf = malloc(n * (CAMEO_ID_MAX + 1) + 1);
    if (c->ids == NULL || c->idbuf == NULL) {
        json_decref(doc);
        send_error(c, 503, "unavailable", "out of memory");
        return 0;
    }
    c->n = 0;
    uint16_t seen[DEDUP_SLOTS]; /* 1 + index into c->ids, 0 when free */
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_string(v)) {
            json_decref(doc);
            send_error(c, 400, "bad_json", "ids[%zu] is not a string", i);
            return 0;
        }
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!cameo_id_valid(s, len)) {
            send_error(c, 400, "bad_id",
                       "ids[%zu] \"%.160s%s\" is not a valid id: ids match [A-Za-z0-9._-]{1,128}", i, s,
                       len > 64 ? "..." : "");
            json_decref(doc);
            return 0;
        }
        /* Collapse duplicates with an open-addressing set of indexes into
         * c->ids (linear probing; at most half full). */
        size_t h = (size_t)XXH3_64bits(s, len) & (DEDUP_SLOTS - 1);
        int dup = 0;
        for (; seen[h] != 0; h = (h + 1) & (DEDUP_SLOTS - 1)) {
            if (strcmp(c->ids[seen[h] - 1], s) == 0) {
                dup = 1;
                break;
            }
        }
        if (dup)
            continue;
        char *slot = c->idbuf + c->n * (CAMEO_ID_MAX + 1);
        memcpy(slot, s, len + 1);
        c->ids[c->n++] = slot;
        seen[h] = (uint16_t)c->n;
    }
    json_decref(doc);
    return 1;
}

/* ---- engine answers ---- */

/* What the engine answered for c->ids[i] of a batch, a listing or a warm:
 * a profile; no such user; or an origin failure (not cached: ask again). */
typedef enum { ID_FOUND, ID_MISSING, ID_FAILED } id_state_t;

static id_state_t id_state(const rctx_t *c, size_t i)
{
    if (c->errs[i] != CAMEO_OK && c->errs[i] != CAMEO_ENOTFOUND)
        return ID_FAILED;
    return c->errs[i] == CAMEO_OK && c->results[i] != NULL ? ID_FOUND : ID_MISSING;
}

/* The current avatar version of c->ids[i] when it was found and has one,
 * else NULL. */
static const char *found_avatar(const rctx_t *c, size_t i)
{
    if (id_state(c, i) != ID_FOUND)
        return NULL;
    const char *v = cameo_resp(c->results[i])->avatar_version;
    return v[0] != '\0' ? v : NULL;
}

/* Sends the batch answer. from_cache: every profile came from a tier (the
 * bytes are then counted as served from cache; a batch that needed the
 * origin for some ids counts none, so the figure never over-reports). */
static void send_batch(rctx_t *c, int from_cache)
{
    h2o_req_t *req = c->req;
    /* {"users":{"id":{...},...},"missing":["id",...]}: the profile bodies go
     * out straight from their entries. */
    h2o_iovec_t *iov = h2o_mem_alloc_pool(&req->pool, sizeof(h2o_iovec_t) * (2 * c->n + 4));
    size_t k = 0, found = 0;
    iov[k++] = h2o_iovec_init(H2O_STRLIT("{\"users\":{"));
    for (size_t i = 0; i < c->n; i++) {
        if (id_state(c, i) != ID_FOUND)
            continue;
        h2o_iovec_t key =
            h2o_concat(&req->pool, h2o_iovec_init(found ? ",\"" : "\"", found ? 2 : 1),
                       h2o_iovec_init(c->ids[i], strlen(c->ids[i])), h2o_iovec_init(H2O_STRLIT("\":")));
        iov[k++] = key;
        iov[k++] = h2o_iovec_init(cameo_resp_body(c->results[i]), cameo_resp(c->results[i])->body_len);
        if (from_cache)
            c->from_cache += cameo_resp(c->results[i])->body_len;
        found++;
    }
    size_t missing_len = 32, nfailed = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (id_state(c, i) != ID_FOUND)
            missing_len += strlen(c->ids[i]) + 3;
        nfailed += id_state(c, i) == ID_FAILED;
    }
    char *m = h2o_mem_alloc_pool(&req->pool, missing_len);
    size_t ml = 0, nmissing = 0;
    ml += (size_t)sprintf(m + ml, "},\"missing\":[");
    for (size_t i = 0; i < c->n; i++)
        if (id_state(c, i) == ID_MISSING)
            ml += (size_t)sprintf(m + ml, "%s\"%s\"", nmissing++ ? "," : "", c->ids[i]);
    if (nfailed > 0) {
        /* ids the origin could not answer for: not cached, ask again later */
        ml += (size_t)sprintf(m + ml, "],\"failed\":[");
        for (size_t i = 0, k = 0; i < c->n; i++)
            if (id_state(c, i) == ID_FAILED)
                ml += (size_t)sprintf(m + ml, "%s\"%s\"", k++ ? "," : "", c->ids[i]);
    }
    ml += (size_t)sprintf(m + ml, "]}");
    iov[k++] = h2o_iovec_init(m, ml);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
    add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    send_iov(c, 200, "OK", iov, k);
}

static void warm_avatars(rctx_t *c);

/* Sends a listing: {"users":[profile,...],"next":"id"|null}, profiles in id
 * order straight from their entries; ids deleted since they were listed are
 * left out. next is the last id listed when the page was full. */
static void send_list(rctx_t *c, int from_cache)
{
    h2o_req_t *req = c->req;
    h2o_iovec_t *iov = h2o_mem_alloc_pool(&req->pool, sizeof(h2o_iovec_t) * (2 * c->n + 3));
    size_t k = 0, found = 0;
    iov[k++] = h2o_iovec_init(H2O_STRLIT("{\"users\":["));
    for (size_t i = 0; i < c->n; i++) {
        if (id_state(c, i) != ID_FOUND)
            continue;
        if (found++)
            iov[k++] = h2o_iovec_init(H2O_STRLIT(","));
        iov[k++] = h2o_iovec_init(cameo_resp_body(c->results[i]), cameo_resp(c->results[i])->body_len);
        if (from_cache)
            c->from_cache += cameo_resp(c->results[i])->body_len;
    }
    if (c->n == c->limit && c->n > 0)
        iov[k++] = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("],\"next\":\"")),
                              h2o_iovec_init(c->ids[c->n - 1], strlen(c->ids[c->n - 1])),
                              h2o_iovec_init(H2O_STRLIT("\"}")));
    else
        iov[k++] = h2o_iovec_init(H2O_STRLIT("],\"next\":null}"));
    add_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
    add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    send_iov(c, 200, "OK", iov, k);
}

static void on_read(cameo_read_t *r)
{
    rctx_t *c = (rctx_t *)(void *)((char *)r - offsetof(rctx_t, read));
    cameo_entry_t *e = r->entry;
    r->entry = NULL;
    if (c->req == NULL) {
        cameo_entry_unref(e);
        engine_release(c);
        return;
    }
    switch (c->kind) {
    case K_USER:
    case K_USER_AVATAR:
        if (r->err != CAMEO_OK || e == NULL)
            send_engine_error(c, r->err == CAMEO_OK ? CAMEO_ENOTFOUND : r->err, "no such user");
        else if (c->kind == K_USER)
            send_entry(c, e, 0);
        else
            send_user_avatar(c, e);
        e = NULL;
        break;
    case K_BLOB:
        if (r->err != CAMEO_OK || e == NULL)
            send_engine_error(c, r->err == CAMEO_OK ? CAMEO_ENOTFOUND : r->err, "no such avatar version");
        else
            send_entry(c, e, 0);
        e = NULL;
        break;
    case K_WARM:
        warm_avatars(c);
        break;
    case K_BATCH:
    case K_LIST: {
        /* Partial answers are answers: ids the origin failed on go to a
         * batch's "failed". Only when every id failed is it an error. */
        size_t answered = 0;
        for (size_t i = 0; i < c->n; i++)
            answered += id_state(c, i) != ID_FAILED;
        if (r->err != CAMEO_OK && answered == 0)
            send_engine_error(c, r->err, "");
        else if (c->kind == K_LIST)
            send_list(c, 0);
        else
            send_batch(c, 0);
        break;
    }
    default:
        break;
    }
    cameo_entry_unref(e);
    engine_release(c);
}

static void on_write(cameo_write_t *wr)
{
    rctx_t *c = (rctx_t *)(void *)((char *)wr - offsetof(rctx_t, write));
    cameo_entry_t *e = wr->entry;
    wr->entry = NULL;
    if (c->req == NULL) {
        cameo_entry_unref(e);
        engine_release(c);
        return;
    }
    if (c->kind == K_INVALIDATE) {
        send_json(c, 200, json_pack("{s:I}", "invalidated", (json_int_t)c->n));
    } else if (wr->err != CAMEO_OK) {
        send_engine_error(c, wr->err,
                          c->kind == K_WRITE_AVATAR ? "no such user; create the profile first"
                                                    : "no such user");
    } else if (c->kind == K_DELETE) {
        send_iov(c, 204, "No Content", NULL, 0);
    } else if (c->kind == K_WRITE_AVATAR) {
        const cameo_resp_t *r = e != NULL ? cameo_resp(e) : NULL;
        const char *v = r != NULL ? r->avatar_version : "";
        char url[32 + CAMEO_ID_MAX + CAMEO_VERSION_MAX];
        snprintf(url, sizeof(url), "/v1/avatars/%s/%s", c->id, v);
        send_json(c, 201, json_pack("{s:s, s:s}", "version", v, "url", url));
    } else if (e != NULL) {
        const cameo_resp_t *r = cameo_resp(e);
        add_header(c->req, H2O_TOKEN_ETAG, r->etag, strlen(r->etag));
        add_header(c->req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
        h2o_iovec_t body = h2o_iovec_init(cameo_resp_body(e), r->body_len);
        cameo_entry_unref(c->sent);
        c->sent = e;
        e = NULL;
        send_iov(c, wr->created ? 201 : 200, wr->created ? "Created" : "OK", &body, 1);
    } else {
        send_error(c, 502, "bad_gateway", "the store did not return the written profile");
    }
    cameo_entry_unref(e);
    engine_release(c);
}

/* ---- routes ---- */

/* Answers an engine read that returned rc at once, or waits for it. */
static void read_started(rctx_t *c, int rc, cameo_entry_t *e)
{
    switch (rc) {
    case CAMEO_OK:
        if (c->kind == K_USER_AVATAR)
            send_user_avatar(c, e);
        else
            send_entry(c, e, 1);
        break;
    case CAMEO_EPENDING:
        engine_hold(c);
        break;
    case CAMEO_ENOTFOUND:
        send_error(c, 404, "not_found", c->kind == K_BLOB ? "no such avatar version" : "no such user");
        break;
    default:
        send_engine_error(c, rc, "");
        break;
    }
}

static void write_started(rctx_t *c, int rc)
{
    if (rc == CAMEO_OK)
        engine_hold(c);
    else
        send_engine_error(c, rc, "");
}

static void route_user(rctx_t *c)
{
    h2o_req_t *req = c->req;
    cameo_engine_t *engine = c->w->server->cfg.engine;
    if (IS(req, "GET") || IS(req, "HEAD")) {
        c->kind = K_USER;
        cameo_entry_t *e = NULL;
        int rc = cameo_engine_get_profile(engine, c->id, now_ms(c), &c->read, &e);
        read_started(c, rc, e);
    } else if (IS(req, "PUT")) {
        if (!require_admin(c) || !require_json_body(c, c->w->server->cfg.max_profile_size))
            return;
        json_error_t jerr;
        json_t *doc = json_loadb(req->entity.base ? req->entity.base : "", req->entity.len, 0, &jerr);
        if (doc == NULL) {
            send_error(c, 400, "bad_json", "the body is not valid JSON: %s (line %d)", jerr.text, jerr.line);
            return;
        }
        if (!json_is_object(doc)) {
            json_decref(doc);
            send_error(c, 400, "bad_json", "a profile must be a JSON object");
            return;
        }
        json_object_del(doc, "id"); /* server-owned members */
        json_object_del(doc, "avatar");
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (text == NULL) {
            send_error(c, 503, "unavailable", "out of memory");
            return;
        }
        c->kind = K_WRITE_PROFILE;
        write_started(
            c, cameo_engine_put_profile(engine, c->id, text, strlen(text), cameo_wall_ms(), &c->write));
        free(text); /* the origin copied it */
    } else if (IS(req, "DELETE")) {
        if (!require_admin(c))
            return;
        c->kind = K_DELETE;
        write_started(c, cameo_engine_delete_profile(engine, c->id, cameo_wall_ms(), &c->write));
    } else {
        send_method_not_allowed(c, "GET, HEAD, PUT, DELETE");
    }
}

static int query_has(h2o_req_t *req, const char *param)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    return cameo__query_has(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, param);
}

static void route_user_avatar(rctx_t *c)
{
    h2o_req_t *req = c->req;
    cameo_engine_t *engine = c->w->server->cfg.engine;
    if (IS(req, "GET") || IS(req, "HEAD")) {
        c->kind = K_USER_AVATAR;
        c->want_initials = query_has(req, "default=initials");
        cameo_entry_t *e = NULL;
        int rc = cameo_engine_get_profile(engine, c->id, now_ms(c), &c->read, &e);
        read_started(c, rc, e);
    } else if (IS(req, "PUT")) {
        if (!require_admin(c))
            return;
        size_t max = c->w->server->cfg.max_avatar_size;
        if (req->entity.len == 0) {
            send_error(c, 400, "bad_request", "the body is empty; send the image bytes");
            return;
        }
        if (req->entity.len > max) {
            send_error(c, 413, "too_large", "the image is %zu bytes; the limit is %zu", req->entity.len, max);
            return;
        }
        const char *type = cameo_image_type(req->entity.base, req->entity.len);
        if (type == NULL) {
            send_error(c, 415, "unsupported_media_type", "the body is not a PNG, JPEG, GIF or WebP image");
            return;
        }
        char version[17];
        cameo_avatar_version(req->entity.base, req->entity.len, version);
        cameo_blob_t blob = {req->entity.base, req->entity.len, type, version};
        c->kind = K_WRITE_AVATAR;
        write_started(c, cameo_engine_put_avatar(engine, c->id, &blob, cameo_wall_ms(), &c->write));
    } else if (IS(req, "DELETE")) {
        if (!require_admin(c))
            return;
        c->kind = K_DELETE;
        write_started(c, cameo_engine_delete_avatar(engine, c->id, cameo_wall_ms(), &c->write));
    } else {
        send_method_not_allowed(c, "GET, HEAD, PUT, DELETE");
    }
}

static void route_avatar(rctx_t *c, const char *version)
{
    h2o_req_t *req = c->req;
    if (!(IS(req, "GET") || IS(req, "HEAD"))) {
        send_method_not_allowed(c, "GET, HEAD");
        return;
    }
    c->kind = K_BLOB;
    cameo_entry_t *e = NULL;
    int rc = cameo_engine_get_blob(c->w->server->cfg.engine, c->id, version, now_ms(c), &c->read, &e);
    read_started(c, rc, e);
}

/* Reads the profiles of c->ids[0..c->n) through the engine's batch path
 * into c->results and c->errs (one origin call for the misses). CAMEO_OK:
 * all there now; CAMEO_EPENDING: on_read runs later (c is held); any other
 * code: already answered with the error. */
static int read_profiles(rctx_t *c)
{
    c->results = calloc(c->n ? c->n : 1, sizeof(*c->results));
    c->errs = calloc(c->n ? c->n : 1, sizeof(*c->errs));
    if (c->results == NULL || c->errs == NULL) {
        send_error(c, 503, "unavailable", "out of memory");
        return CAMEO_ENOMEM;
    }
    int rc = c->n == 0 ? CAMEO_OK
                       : cameo_engine_get_profiles(c->w->server->cfg.engine, c->ids, c->n, now_ms(c),
                                                   c->results, c->errs, &c->read);
    if (rc == CAMEO_EPENDING)
        engine_hold(c);
    else if (rc != CAMEO_OK)
        send_engine_error(c, rc, "");
    return rc;
}

static void route_batch(rctx_t *c)
{
    h2o_req_t *req = c->req;
    if (!IS(req, "POST")) {
        send_method_not_allowed(c, "POST");
        return;
    }
    if (!require_json_body(c, c->w->server->cfg.max_batch_body) || !parse_ids(c))
        return;
    c->kind = K_BATCH;
    if (read_profiles(c) == CAMEO_OK)
        send_batch(c, 1);
}

/* The answer of POST /v1/warm, once profiles and avatars are in. */
static void send_warm(rctx_t *c)
{
    json_t *missing = json_array(), *failed = json_array();
    size_t profiles = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (id_state(c, i) == ID_FOUND)
            profiles++;
        else
            json_array_append_new(id_state(c, i) == ID_MISSING ? missing : failed, json_string(c->ids[i]));
    }
    cameo_metrics_t *m = c->w->server->cfg.metrics;
    atomic_fetch_add_explicit(&m->warmed_profiles, profiles, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->warmed_avatars, c->warm_avatars, memory_order_relaxed);
    cameo_log(CAMEO_LOG_INFO, "warm",
              "ids=%zu profiles=%zu missing=%zu failed=%zu avatars=%zu avatars_failed=%zu", c->n, profiles,
              json_array_size(missing), json_array_size(failed), c->warm_avatars, c->warm_avatar_failed);
    send_json(c, 200,
              json_pack("{s:I, s:o, s:o, s:I, s:I}", "profiles", (json_int_t)profiles, "missing", missing,
                        "failed", failed, "avatars", (json_int_t)c->warm_avatars, "avatars_failed",
                        (json_int_t)c->warm_avatar_failed));
}

static void on_warm_avatar(cameo_read_t *r)
{
    warm_read_t *wr = (warm_read_t *)r;
    rctx_t *c = wr->c;
    if (r->err == CAMEO_OK && r->entry != NULL)
        c->warm_avatars++;
    else
        c->warm_avatar_failed++;
    cameo_entry_unref(r->entry);
    r->entry = NULL;
    if (--c->warm_pending == 0 && c->req != NULL)
        send_warm(c);
    engine_release(c);
}

/* The profiles are in: reads each one's current avatar into the tiers, then
 * answers. */
static void warm_avatars(rctx_t *c)
{
    cameo_engine_t *engine = c->w->server->cfg.engine;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        k += found_avatar(c, i) != NULL;
    c->warm = k > 0 ? calloc(k, sizeof(*c->warm)) : NULL;
    if (k > 0 && c->warm == NULL) {
        c->warm_avatar_failed = k;
        k = 0;
    }
    c->warm_pending = 1; /* held while starting */
    for (size_t i = 0, j = 0; j < k && i < c->n; i++) {
        const char *version = found_avatar(c, i);
        if (version == NULL)
            continue;
        warm_read_t *wr = &c->warm[j++];
        wr->c = c;
        wr->r.loop = &c->w->loop;
        wr->r.done = on_warm_avatar;
        cameo_entry_t *e = NULL;
        int rc = cameo_engine_get_blob(engine, c->ids[i], version, now_ms(c), &wr->r, &e);
        if (rc == CAMEO_EPENDING) {
            c->warm_pending++;
            engine_hold(c);
        } else {
            if (rc == CAMEO_OK)
                c->warm_avatars++;
            else
                c->warm_avatar_failed++;
            cameo_entry_unref(e);
        }
    }
    if (--c->warm_pending == 0 && c->req != NULL)
        send_warm(c);
}

/* POST /v1/warm (admin): loads users, and their avatars, into the tiers. */
static void route_warm(rctx_t *c)
{
    h2o_req_t *req = c->req;
    if (!IS(req, "POST")) {
        send_method_not_allowed(c, "POST");
        return;
    }
    if (!require_admin(c) || !require_json_body(c, c->w->server->cfg.max_batch_body) || !parse_ids(c))
        return;
    c->kind = K_WARM;
    if (read_profiles(c) == CAMEO_OK)
        warm_avatars(c);
}

/* The ids of a listing arrived: read their profiles through the batch path
 * (so they are cached), then answer in on_read. */
static void on_list(cameo_list_t *l)
{
    rctx_t *c = (rctx_t *)(void *)((char *)l - offsetof(rctx_t, list));
    c->ids = l->ids; /* freed with the context */
    c->n = l->n;
    l->ids = NULL;
    if (c->req == NULL) {
        engine_release(c);
        return;
    }
    if (l->err != CAMEO_OK) {
        send_engine_error(c, l->err, "");
        engine_release(c);
        return;
    }
    if (read_profiles(c) == CAMEO_OK)
        send_list(c, 1);
    engine_release(c); /* the listing's hold; read_profiles took its own when pending */
}

/* GET /v1/users?limit=N&after=ID: the users in id order, a page at a time. */
static void route_users(rctx_t *c)
{
    h2o_req_t *req = c->req;
    const char *q = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
    size_t qlen = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
    const char *v;
    size_t vlen;
    c->limit = LIST_DEFAULT;
    if (cameo__query_get(q, qlen, "limit", &v, &vlen)) {
        size_t n = 0;
        int ok = vlen > 0 && vlen <= 4;
        for (size_t i = 0; i < vlen && ok; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            n = n * 10 + (size_t)(v[i] - '0');
        }
        if (!ok || n < 1 || n > BATCH_MAX) {
            send_error(c, 400, "bad_request", "limit must be a number from 1 to %d, got \"%.*s\"", BATCH_MAX,
                       (int)(vlen > 32 ? 32 : vlen), v);
            return;
        }
        c->limit = n;
    }
    c->id[0] = '\0';
    if (cameo__query_get(q, qlen, "after", &v, &vlen)) {
        if (!cameo_id_valid(v, vlen)) {
            send_error(c, 400, "bad_id", "after must be a user id: [A-Za-z0-9._-]{1,128}");
            return;
        }
        memcpy(c->id, v, vlen);
        c->id[vlen] = '\0';
    }
    c->kind = K_LIST;
    c->list.loop = &c->w->loop;
    c->list.done = on_list;
    int rc = cameo_engine_list_ids(c->w->server->cfg.engine, c->id, c->limit, &c->list);
    if (rc == CAMEO_OK)
        engine_hold(c);
    else if (rc == CAMEO_ENOTSUP)
        send_error(c, 501, "not_implemented", "the origin (%s) cannot list users",
                   cameo_engine_origin(c->w->server->cfg.engine)->ops->name);
    else
        send_engine_error(c, rc, "");
}

static void route_invalidate(rctx_t *c)
{
    h2o_req_t *req = c->req;
    if (!IS(req, "POST")) {
        send_method_not_allowed(c, "POST");
        return;
    }
    if (!require_admin(c) || !require_json_body(c, c->w->server->cfg.max_batch_body) || !parse_ids(c))
        return;
    cameo_log(CAMEO_LOG_INFO, "invalidate", "ids=%zu", c->n);
    c->kind = K_INVALIDATE;
    if (cameo_engine_invalidate_ids(c->w->server->cfg.engine, c->ids, c->n, &c->write) == CAMEO_EPENDING)
        engine_hold(c);
    else
        send_json(c, 200, json_pack("{s:I}", "invalidated", (json_int_t)c->n));
}

/* Renders into a memory stream with render(), then sends it. */
static void send_rendered(rctx_t *c, const char *ctype, void (*render)(rctx_t *c, FILE *f))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        send_error(c, 503, "unavailable", "out of memory");
        return;
    }
    render(c, f);
    fclose(f);
    send_copy(c, 200, "OK", ctype, buf, len);
    free(buf);
}

static void render_metrics(rctx_t *c, FILE *f)
{
    cameo_engine_t *engine = c->w->server->cfg.engine;
    cameo_tier_t *const *tiers;
    size_t n = cameo_engine_tiers(engine, &tiers);
    cameo_metrics_prometheus(c->w->server->cfg.metrics, tiers, n, cameo_engine_origin(engine)->ops->name, f);
    cameo_hub_t *hub = c->w->server->cfg.hub;
    fprintf(f,
            "# HELP cameo_sse_subscribers Open GET /v1/events streams.\n"
            "# TYPE cameo_sse_subscribers gauge\ncameo_sse_subscribers %u\n",
            hub != NULL ? cameo_hub_subscribers(hub) : 0u);
}

static void render_stats(rctx_t *c, FILE *f)
{
    cameo_tier_t *const *tiers;
    size_t n = cameo_engine_tiers(c->w->server->cfg.engine, &tiers);
    cameo_metrics_summary(c->w->server->cfg.metrics, tiers, n, now_ms(c), f);
}

static void route_readyz(rctx_t *c)
{
    cameo_engine_t *engine = c->w->server->cfg.engine;
    cameo_tier_t *const *tiers;
    size_t n = cameo_engine_tiers(engine, &tiers);
    int ready = 1, degraded = 0;
    char detail[1024];
    json_t *jt = json_object();
    for (size_t i = 0; i < n; i++) {
        int rc = tiers[i]->ops->status(tiers[i], detail, sizeof(detail));
        /* A remote tier that is away slows reads down but fails none. */
        int remote = tiers[i]->ops->get_async != NULL;
        if (rc != CAMEO_OK && remote)
            degraded = 1;
        else
            ready &= rc == CAMEO_OK;
        const char *st = rc == CAMEO_OK ? "ok" : remote ? "degraded" : "down";
        json_object_set_new(jt, tiers[i]->ops->name, json_pack("{s:s, s:s}", "status", st, "detail", detail));
    }
    cameo_origin_t *o = cameo_engine_origin(engine);
    int rc = o->ops->status(o, detail, sizeof(detail));
    /* A service behind the origin failing (a user service's breaker open)
     * leaves cached and stale-if-error answers: degraded. The origin itself
     * down (the embedded store, also under --blobs s3://): unready. */
    if (rc == CAMEO_EUPSTREAM)
        degraded = 1;
    else
        ready &= rc == CAMEO_OK;
    json_t *body = json_pack("{s:s, s:o, s:{s:s, s:s, s:s}}", "status",
                             !ready     ? "unready"
                             : degraded ? "degraded"
                                        : "ready",
                             "tiers", jt, "origin", "name", o->ops->name, "status",
                             rc == CAMEO_OK          ? "ok"
                             : rc == CAMEO_EUPSTREAM ? "degraded"
                                                     : "down",
                             "detail", detail);
    send_json(c, ready ? 200 : 503, body);
}

/* Matches "/v1/users/{id}" and "/v1/users/{id}/avatar"; "/v1/avatars/{id}/{v}". */
static int split2(h2o_iovec_t rest, h2o_iovec_t *a, h2o_iovec_t *b)
{
    const char *slash = memchr(rest.base, '/', rest.len);
    if (slash == NULL) {
        *a = rest;
        *b = h2o_iovec_init(NULL, 0);
        return 1;
    }
    *a = h2o_iovec_init(rest.base, (size_t)(slash - rest.base));
    *b = h2o_iovec_init(slash + 1, rest.len - a->len - 1);
    return 2;
}

static int prefix(h2o_iovec_t p, const char *s, size_t len, h2o_iovec_t *rest)
{
    if (p.len < len || memcmp(p.base, s, len) != 0)
        return 0;
    *rest = h2o_iovec_init(p.base + len, p.len - len);
    return 1;
}

/* Copies a validated id into c->id; sends 400 and returns 0 when invalid. */
static int take_id(rctx_t *c, h2o_iovec_t id)
{
    if (!cameo_id_valid(id.base, id.len)) {
        send_error(c, 400, "bad_id", "a user id must match [A-Za-z0-9._-]{1,128}");
        return 0;
    }
    memcpy(c->id, id.base, id.len);
    c->id[id.len] = '\0';
    return 1;
}

static void send_healthz(rctx_t *c)
{
    send_copy(c, 200, "OK", "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
}

static void send_metrics(rctx_t *c)
{
    send_rendered(c, "text/plain; version=0.0.4; charset=utf-8", render_metrics);
}

static void send_stats(rctx_t *c)
{
    send_rendered(c, "application/json", render_stats);
}

/* GET /v1/events: a server-sent event stream (http_events.c); HEAD: its
 * headers only. Counted as one request when the stream starts. */
static void route_events(rctx_t *c)
{
    cameo_sse_stream_t *st = NULL;
    if (c->head) {
        account(c, 200);
        cameo__events_head(c->req);
        return;
    }
    switch (cameo__events_open(c->w, c->req, &st)) {
    case CAMEO_OK:
        account(c, 200);
        cameo__events_start(st);
        break;
    case CAMEO_EBUSY:
        add_header(c->req, H2O_TOKEN_RETRY_AFTER, H2O_STRLIT("5"));
        send_error(c, 503, "unavailable", "too many event streams are open (--sse-max); retry later");
        break;
    case CAMEO_EUNAVAIL:
        add_header(c->req, H2O_TOKEN_RETRY_AFTER, H2O_STRLIT("5"));
        send_error(c, 503, "unavailable", "event streams are not available: the server is shutting down");
        break;
    default:
        add_header(c->req, H2O_TOKEN_RETRY_AFTER, H2O_STRLIT("5"));
        send_error(c, 503, "unavailable", "event streams are not available: out of memory");
        break;
    }
}

/* Endpoints at a fixed path. */
static const struct {
    const char *path;
    cameo_route_t route;
    int get_only; /* GET and HEAD only; others check their own methods */
    void (*handle)(rctx_t *c);
} fixed_routes[] = {
    {"/healthz", CAMEO_ROUTE_HEALTHZ, 1, send_healthz},
    {"/readyz", CAMEO_ROUTE_READYZ, 1, route_readyz},
    {"/metrics", CAMEO_ROUTE_METRICS, 1, send_metrics},
    {"/v1/stats", CAMEO_ROUTE_STATS, 1, send_stats},
    {"/v1/users:batch", CAMEO_ROUTE_BATCH, 0, route_batch},
    {"/v1/invalidate", CAMEO_ROUTE_INVALIDATE, 0, route_invalidate},
    {"/v1/warm", CAMEO_ROUTE_WARM, 0, route_warm},
    {"/v1/events", CAMEO_ROUTE_EVENTS, 1, route_events},
    {"/v1/users", CAMEO_ROUTE_USERS, 1, route_users},
};

static void route(rctx_t *c)
{
    h2o_req_t *req = c->req;
    h2o_iovec_t p = req->path_normalized, rest, a, b;

    for (size_t i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++) {
        if (!h2o_memis(p.base, p.len, fixed_routes[i].path, strlen(fixed_routes[i].path)))
            continue;
        c->route = fixed_routes[i].route;
        if (fixed_routes[i].get_only && !(IS(req, "GET") || IS(req, "HEAD")))
            send_method_not_allowed(c, "GET, HEAD");
        else
            fixed_routes[i].handle(c);
        return;
    }
    if (prefix(p, H2O_STRLIT("/v1/users/"), &rest)) {
        int parts = split2(rest, &a, &b);
        if (parts == 1) {
            c->route = CAMEO_ROUTE_USER;
            if (take_id(c, a))
                route_user(c);
            return;
        }
        if (h2o_memis(b.base, b.len, H2O_STRLIT("avatar"))) {
            c->route = CAMEO_ROUTE_USER_AVATAR;
            if (take_id(c, a))
                route_user_avatar(c);
            return;
        }
        if (h2o_memis(b.base, b.len, H2O_STRLIT("avatar/url"))) {
            c->route = CAMEO_ROUTE_USER_AVATAR; /* counted with the redirect it replaces */
            if (!take_id(c, a))
                return;
            if (!(IS(req, "GET") || IS(req, "HEAD"))) {
                send_method_not_allowed(c, "GET, HEAD");
                return;
            }
            c->want_url = 1;
            route_user_avatar(c);
            return;
        }
    }
    if (prefix(p, H2O_STRLIT("/v1/avatars/"), &rest) && split2(rest, &a, &b) == 2) {
        c->route = CAMEO_ROUTE_AVATAR;
        if (!take_id(c, a))
            return;
        if (!cameo_version_valid(b.base, b.len)) {
            send_error(c, 400, "bad_request", "an avatar version must match [A-Za-z0-9._-]{1,64}");
            return;
        }
        char version[CAMEO_VERSION_MAX + 1];
        memcpy(version, b.base, b.len);
        version[b.len] = '\0';
        route_avatar(c, version);
        return;
    }
    int versioned;
    const cameo_asset_t *asset = cameo__asset_find(p.base, p.len, &versioned);
    if (asset != NULL) {
        c->route = CAMEO_ROUTE_ASSETS;
        if (!(IS(req, "GET") || IS(req, "HEAD"))) {
            send_method_not_allowed(c, "GET, HEAD");
            return;
        }
        h2o_iovec_t body;
        int status = cameo__asset_prepare(req, asset, versioned, &body);
        send_iov(c, status, reason_of(status), &body, 1);
        return;
    }
    c->route = CAMEO_ROUTE_OTHER;
    send_error(c, 404, "not_found", "no such endpoint: %.*s", (int)(p.len > 200 ? 200 : p.len), p.base);
}

int cameo__http_handle(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    cameo_worker_t *w = cameo__worker_of(req);
    rctx_t *c = calloc(1, sizeof(*c));
    rctx_t **guard = c != NULL ? h2o_mem_alloc_shared(&req->pool, sizeof(*guard), on_req_dispose) : NULL;
    if (guard == NULL) {
        free(c);
        h2o_send_error_503(req, "Service Unavailable", "out of memory", 0);
        return 0;
    }
    *guard = c;
    c->refs = 1;
    c->req = req;
    c->w = w;
    c->start_us = cameo_now_us();
    c->head = IS(req, "HEAD");
    c->read.loop = &w->loop;
    c->read.done = on_read;
    c->write.loop = &w->loop;
    c->write.done = on_write;
    w->inflight++;
    size_t header_bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        header_bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    if (header_bytes > HEADER_BYTES_MAX) {
        c->route = CAMEO_ROUTE_OTHER;
        send_error(c, 431, "headers_too_large", "the request's header fields are %zu bytes; the limit is %d",
                   header_bytes, HEADER_BYTES_MAX);
        return 0;
    }
    route(c);
    return 0;
}
