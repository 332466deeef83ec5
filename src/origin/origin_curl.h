/*
 * origin_curl.h - HTTP transfers for the network origins (S3, an HTTP user
 * service): one libcurl multi handle per worker loop, driven by that loop's
 * fd watches and timers (loop.h), so an origin never blocks a worker and
 * never runs threads of its own. Connections stay open in the multi
 * handle's pool and are reused by later transfers on the same loop.
 *
 * Called by origin_s3.c and origin_http.c, on the loop's own thread only
 * (a cameo__curl_t is not shared between loops). The caller configures each
 * easy handle (URL, method, request body, headers, timeouts, credentials);
 * this module adds the body buffer with its cap, the response header capture
 * and the mapping of libcurl's errors to CAMEO_E* codes. It does not retry,
 * and it knows nothing of S3 or JSON.
 */
#ifndef CAMEO_ORIGIN_CURL_H
#define CAMEO_ORIGIN_CURL_H

#include <curl/curl.h>
#include <stddef.h>

#include "cameo/loop.h"

typedef struct cameo__curl cameo__curl_t;

/* What a transfer ended with. Pointers are valid only during the callback. */
typedef struct cameo__curl_result {
    int err;          /* CAMEO_OK when an HTTP response arrived, whatever its status;
                       * CAMEO_ETIMEDOUT (connect or total timeout), CAMEO_EUNAVAIL (could not
                       * connect, connection lost, or the loop is stopping), CAMEO_ETOOBIG (body
                       * over the cap), CAMEO_EIO (anything else) */
    long status;      /* HTTP status, 0 without a response */
    const char *body; /* the response body, NUL-terminated (len excludes the NUL) */
    size_t len;
    const char *etag;   /* the response's ETag header value, or NULL */
    const char *detail; /* libcurl's one-line message on failure, else "" */
} cameo__curl_result_t;

typedef void (*cameo__curl_cb)(void *arg, const cameo__curl_result_t *res);

/* A multi handle on loop. NULL when out of memory. */
cameo__curl_t *cameo__curl_new(cameo_loop_t *loop);

/*
 * Starts easy, which the module now owns (with headers, a list the easy
 * handle uses, or NULL): it is cleaned up after cb returns. Bodies over
 * max_body bytes end the transfer with CAMEO_ETOOBIG. cb fires exactly once,
 * on the loop, never inside this call. Returns CAMEO_OK, or CAMEO_ENOMEM /
 * CAMEO_EIO after freeing easy and headers (cb never fires).
 */
int cameo__curl_start(cameo__curl_t *c, CURL *easy, struct curl_slist *headers, size_t max_body,
                      cameo__curl_cb cb, void *arg);

/* Transfers started and not yet ended. */
size_t cameo__curl_active(const cameo__curl_t *c);

/* Ends every transfer (their callbacks fire with CAMEO_EUNAVAIL), closes
 * the connections and frees c. On the loop's thread. */
void cameo__curl_free(cameo__curl_t *c);

#endif
