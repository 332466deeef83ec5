/*
 * test_http_peer.h - a scripted HTTP/1.1 server on a loopback port for unit
 * tests of the network code (origin_curl, origin_s3): one thread, one
 * connection at a time, keep-alive, requests read whole (head and
 * Content-Length body), each answered by the test's own function.
 * Header-only, like test_loop_poll.h.
 *
 *   static int answer(thp_server_t *s, int fd, const char *req) {
 *       thp_reply(fd, "200 OK", "", "hello", 5);
 *       return 0;                // 0: keep the connection; -1: close it
 *   }
 *   thp_server_t srv;
 *   thp_start(&srv, answer);     // srv.port is the port
 *   ...
 *   thp_stop(&srv);
 *
 * srv.accepted and srv.requests count connections and requests; srv.last
 * holds the last request (under srv.mu). thp_hold(s) blocks until stop: an
 * answer that never comes.
 */
#ifndef CAMEO_TEST_HTTP_PEER_H
#define CAMEO_TEST_HTTP_PEER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct thp_server thp_server_t;

/* Answers one request (NUL-terminated head and body); 0 keeps the
 * connection, -1 closes it. */
typedef int (*thp_answer_fn)(thp_server_t *s, int fd, const char *req);

struct thp_server {
    int lfd;
    int port;
    pthread_t thread;
    thp_answer_fn answer;
    atomic_int stop;
    atomic_int accepted; /* connections */
    atomic_int requests;
    pthread_mutex_t mu;
    char last[8192]; /* mu: the last request */
};

static inline void thp_reply(int fd, const char *status, const char *headers, const char *body, size_t len)
{
    char head[512];
    int n =
        snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n", status, len, headers);
    (void)!write(fd, head, (size_t)n);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, body + off, len - off);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static inline void thp_hold(thp_server_t *s)
{
    while (!atomic_load(&s->stop))
        poll(NULL, 0, 5);
}

static inline void thp_serve_conn(thp_server_t *s, int fd)
{
    char buf[8192];
    size_t have = 0;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        size_t body_len = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (have < (size_t)(end + 4 - buf) + body_len)
            continue;
        atomic_fetch_add(&s->requests, 1);
        pthread_mutex_lock(&s->mu);
        snprintf(s->last, sizeof(s->last), "%s", buf);
        pthread_mutex_unlock(&s->mu);
        if (s->answer(s, fd, buf) != 0)
            return;
        have = 0;
    }
}

static inline void *thp_main(void *arg)
{
    thp_server_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        thp_serve_conn(s, fd);
        close(fd);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 and a free port; -1 on failure. */
static inline int thp_listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Starts s (zeroed here) answering with answer. 0, or -1. */
static inline int thp_start(thp_server_t *s, thp_answer_fn answer)
{
    memset(s, 0, sizeof(*s));
    s->answer = answer;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = thp_listen_loopback(&s->port);
    if (s->lfd < 0)
        return -1;
    return pthread_create(&s->thread, NULL, thp_main, s) == 0 ? 0 : -1;
}

static inline void thp_stop(thp_server_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

#endif
