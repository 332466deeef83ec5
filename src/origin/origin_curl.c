/*
 * origin_curl.c - libcurl's multi interface on a cameo_loop_t. See
 * origin_curl.h.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one
 * cameo_io_t per socket, kept with curl_multi_assign) and when to call it
 * back (CURLMOPT_TIMERFUNCTION: one loop timer); the loop's events go back
 * through curl_multi_socket_action, and finished transfers are collected
 * with curl_multi_info_read after each call. User callbacks run only from
 * there, never from inside a libcurl callback, so they may start new
 * transfers.
 */
#include "origin/origin_curl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cameo/cameo.h"
#include "cameo/log.h"

#define HDR_VALUE_MAX 256 /* ETag value kept, a longer one cut */

typedef struct xfer {
    struct xfer *prev, *next; /* the multi's list of active transfers */
    cameo__curl_t *c;
    CURL *easy;
    struct curl_slist *headers;
    cameo__curl_cb cb;
    void *arg;
    char *body;
    size_t len, cap, max;
    int toobig;
    char etag[HDR_VALUE_MAX];
    char errbuf[CURL_ERROR_SIZE];
} xfer_t;

/* A socket libcurl asked us to watch (its socketp). */
typedef struct sock {
    struct sock *prev, *next; /* the multi's list of watched sockets */
    cameo__curl_t *c;
    curl_socket_t fd;
    cameo_io_t *io;
} sock_t;

struct cameo__curl {
    cameo_loop_t *loop;
    sock_t *socks; /* doubly linked */
    CURLM *multi;
    cameo_timer_t *timer;
    xfer_t *active; /* doubly linked */
    size_t nactive;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- collecting finished transfers ---- */

static int map_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return CAMEO_ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return CAMEO_EUNAVAIL;
    default:
        return CAMEO_EIO;
    }
}

static void xfer_unlink(cameo__curl_t *c, xfer_t *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        c->active = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    c->nactive--;
}

/* Ends x with err (or with its response when err is CAMEO_OK): removes it
 * from the multi, runs its callback, frees it. */
static void xfer_finish(xfer_t *x, int err)
{
    cameo__curl_t *c = x->c;
    cameo__curl_result_t res = {.err = err, .detail = x->errbuf};
    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(c, x);
    if (x->toobig)
        res.err = CAMEO_ETOOBIG;
    if (res.err == CAMEO_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
        res.body = x->body != NULL ? x->body : "";
        res.len = x->len;
        res.etag = x->etag[0] ? x->etag : NULL;
    }
    x->cb(x->arg, &res);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static void collect(cameo__curl_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer_t *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        xfer_finish(x, rc == CURLE_OK ? CAMEO_OK : map_error(rc));
    }
}

/* ---- libcurl's callbacks ---- */

static void on_io(void *arg, int events);

static void sock_close(cameo__curl_t *c, sock_t *k)
{
    c->loop->io_close(k->io);
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        c->socks = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    free(k);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    cameo__curl_t *c = userp;
    sock_t *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k != NULL) {
            curl_multi_assign(c->multi, s, NULL);
            sock_close(c, k);
        }
        return 0;
    }
    if (k == NULL) {
        k = calloc(1, sizeof(*k));
        if (k == NULL)
            return -1; /* libcurl fails the transfer */
        k->io = c->loop->io_watch(c->loop, (int)s, on_io, k);
        if (k->io == NULL) {
            free(k);
            return -1;
        }
        k->c = c;
        k->fd = s;
        k->next = c->socks;
        if (c->socks != NULL)
            c->socks->prev = k;
        c->socks = k;
        curl_multi_assign(c->multi, s, k);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= CAMEO_IO_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= CAMEO_IO_WRITE;
    c->loop->io_set(k->io, events);
    return 0;
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    cameo__curl_t *c = userp;
    if (timeout_ms < 0)
        c->loop->timer_disarm(c->timer);
    else
        c->loop->timer_arm(c->timer, (uint64_t)timeout_ms);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (x->len + len > x->max) {
        x->toobig = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    if (x->len + len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + len + 1)
            cap *= 2;
        char *b = realloc(x->body, cap);
        if (b == NULL)
            return 0;
        x->body = b;
        x->cap = cap;
    }
    memcpy(x->body + x->len, p, len);
    x->len += len;
    x->body[x->len] = '\0';
    return len;
}

/* Copies the value of header line p[0..len) into out when its name is name. */
static void keep_header(const char *p, size_t len, const char *name, char *out)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
        return;
    p += nl + 1;
    len -= nl + 1;
    while (len > 0 && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
        len--;
    if (len >= HDR_VALUE_MAX)
        len = HDR_VALUE_MAX - 1;
    memcpy(out, p, len);
    out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        x->etag[0] = '\0'; /* a new response (after a 100 or a redirect) */
        x->len = 0;
    }
    keep_header(p, len, "etag", x->etag);
    return len;
}

/* ---- the loop's events ---- */

static void on_io(void *arg, int events)
{
    sock_t *k = arg;
    cameo__curl_t *c = k->c; /* k may be freed inside socket_action */
    int flags =
        ((events & CAMEO_IO_READ) ? CURL_CSELECT_IN : 0) | ((events & CAMEO_IO_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, k->fd, flags, &running);
    collect(c);
}

static void on_timer(void *arg)
{
    cameo__curl_t *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(c);
}

/* ---- public ---- */

cameo__curl_t *cameo__curl_new(cameo_loop_t *loop)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return NULL;
    cameo__curl_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->multi = curl_multi_init();
    c->timer = loop->timer_new(loop, on_timer, c);
    if (c->multi == NULL || c->timer == NULL) {
        if (c->multi != NULL)
            curl_multi_cleanup(c->multi);
        if (c->timer != NULL)
            loop->timer_free(c->timer);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

int cameo__curl_start(cameo__curl_t *c, CURL *easy, struct curl_slist *headers, size_t max_body,
                      cameo__curl_cb cb, void *arg)
{
    xfer_t *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
        return CAMEO_ENOMEM;
    }
    x->c = c;
    x->easy = easy;
    x->headers = headers;
    x->cb = cb;
    x->arg = arg;
    x->max = max_body;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (headers != NULL)
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
        curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
        free(x);
        return CAMEO_EIO;
    }
    x->next = c->active;
    if (c->active != NULL)
        c->active->prev = x;
    c->active = x;
    c->nactive++;
    return CAMEO_OK;
}

size_t cameo__curl_active(const cameo__curl_t *c)
{
    return c->nactive;
}

void cameo__curl_free(cameo__curl_t *c)
{
    if (c == NULL)
        return;
    while (c->active != NULL) {
        snprintf(c->active->errbuf, sizeof(c->active->errbuf), "the loop is stopping");
        xfer_finish(c->active, CAMEO_EUNAVAIL);
    }
    curl_multi_cleanup(c->multi); /* closes the pooled connections */
    while (c->socks != NULL)
        sock_close(c, c->socks); /* watches libcurl did not take back */
    c->loop->timer_free(c->timer);
    free(c);
}
