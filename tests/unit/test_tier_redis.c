/*
 * test_tier_redis.c - the Redis tier (src/tier/tier_redis.c) against a real
 * redis-server, through its public contract (include/cameo/tier.h), on the
 * poll(2) loop of test_loop_poll.h.
 *
 * The binary starts its own redis-server (REDIS_SERVER, else
 * /usr/bin/redis-server) on a free 127.0.0.1 port and kills it at the end;
 * the child also dies with the test process (PR_SET_PDEATHSIG), so a crash
 * never leaves one running. A plain blocking hiredis connection looks at
 * what the tier wrote (PTTL, INFO commandstats) and plants bad values.
 *
 * Nothing asserts on elapsed time: waits are "run the loop until X, or give
 * up after a generous bound". A slow or frozen server is made with SIGSTOP,
 * so "no answer in time" does not depend on winning a race.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cameo/tier.h"
#include "test_loop_poll.h"

#define WAIT_MS 5000 /* bound of every wait: far above what any step needs */

/* ---- the redis-server processes ---- */

typedef struct server {
    pid_t pid;
    int port;
} server_t;

static server_t main_srv, auth_srv;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(0, bind(fd, (struct sockaddr *)&a, sizeof(a)));
    assert_int_equal(0, getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

static void server_kill(server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void kill_servers(void)
{
    server_kill(&main_srv);
    server_kill(&auth_srv);
}

/* A blocking connection, or NULL. */
static redisContext *sync_connect(int port)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* Starts redis-server on s->port (a fresh free port when 0) and waits until
 * it answers, for at most WAIT_MS. extra: more arguments, NULL-terminated. */
static void server_start(server_t *s, const char *const *extra)
{
    const char *bin = getenv("REDIS_SERVER") != NULL ? getenv("REDIS_SERVER") : "/usr/bin/redis-server";
    char port[16];
    const char *argv[32] = {bin, "--port",       port, "--bind",      "127.0.0.1", "--save",
                            "",  "--appendonly", "no", "--daemonize", "no"};
    int argc = 11;
    if (s->port == 0)
        s->port = free_port();
    snprintf(port, sizeof(port), "%d", s->port);
    for (; extra != NULL && *extra != NULL; extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;

    uint64_t end = tlp_clock_ms() + WAIT_MS;
    for (;;) {
        redisContext *c = sync_connect(s->port);
        redisReply *r = c != NULL ? redisCommand(c, "PING") : NULL;
        /* PONG, or NOAUTH from a server with a password: up either way. */
        bool up = r != NULL && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
        if (up)
            return;
        assert_true(tlp_clock_ms() < end);
        assert_int_equal(0, waitpid(pid, NULL, WNOHANG)); /* still running */
        usleep(10 * 1000);
    }
}

/* Runs a command on a blocking connection; returns the reply (caller frees). */
static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(REDIS_REPLY_INTEGER, r->type);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* "calls=N" of cmdstat_<name> in INFO commandstats (0 when absent). */
static long long command_calls(redisContext *c, const char *name)
{
    redisReply *r = cmd(c, "INFO commandstats");
    char needle[64];
    long long calls = 0;
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", name);
    const char *p = strstr(r->str, needle);
    if (p != NULL)
        calls = atoll(p + strlen(needle));
    freeReplyObject(r);
    return calls;
}

/* ---- the tier on a poll loop ---- */

typedef struct fx {
    tlp_loop_t loop;
    cameo_tier_t *tier;
    bool attached;
    redisContext *sync;
} fx_t;

static bool tier_up(void *arg)
{
    char buf[512];
    return ((cameo_tier_t *)arg)->ops->status(arg, buf, sizeof(buf)) == CAMEO_OK;
}

static bool tier_down(void *arg)
{
    return !tier_up(arg);
}

/* The caller's monotonic clock: the loop's (CLOCK_MONOTONIC), read now. */
static uint64_t now_of(fx_t *f)
{
    (void)f;
    return tlp_clock_ms();
}

/* A tier on url, attached to a fresh loop. */
static void fx_open(fx_t *f, const char *url, bool wait_up)
{
    cameo_redis_config_t cfg = {.url = url};
    char err[256] = "";
    assert_int_equal(0, tlp_init(&f->loop));
    assert_int_equal(CAMEO_OK, cameo_tier_redis_create(&cfg, &f->tier, err, sizeof(err)));
    assert_int_equal(CAMEO_OK, f->tier->ops->attach(f->tier, &f->loop.super));
    f->attached = true;
    if (wait_up)
        assert_true(tlp_run_until(&f->loop, tier_up, f->tier, WAIT_MS));
}

static void fx_close(fx_t *f)
{
    if (f->attached)
        f->tier->ops->detach(f->tier, &f->loop.super);
    f->attached = false;
    f->tier->ops->destroy(f->tier);
    tlp_destroy(&f->loop);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char url[64];
    assert_non_null(f);
    f->sync = sync_connect(main_srv.port);
    assert_non_null(f->sync);
    freeReplyObject(cmd(f->sync, "FLUSHALL"));
    freeReplyObject(cmd(f->sync, "CONFIG RESETSTAT"));
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", main_srv.port);
    fx_open(f, url, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    fx_close(f);
    redisFree(f->sync);
    free(f);
    return 0;
}

/* A fresh f->sync, after the main server was restarted (the old one's is
 * dead). */
static void sync_reconnect(fx_t *f)
{
    redisFree(f->sync);
    f->sync = sync_connect(main_srv.port);
    assert_non_null(f->sync);
}

/* One tier's status detail and a number in it ("corrupt 3" -> 3). */
static unsigned long long status_num(cameo_tier_t *t, const char *label)
{
    char buf[512], needle[64];
    t->ops->status(t, buf, sizeof(buf));
    snprintf(needle, sizeof(needle), "%s ", label);
    const char *p = strstr(buf, needle);
    assert_non_null(p);
    return strtoull(p + strlen(needle), NULL, 10);
}

/* ---- what callbacks saw ---- */

typedef struct got {
    int calls, err;
    size_t n;
    cameo_entry_t *e[1000]; /* references taken in the callback */
} got_t;

static void on_got(void *arg, int err, cameo_entry_t *const *entries, size_t n)
{
    got_t *g = arg;
    g->calls++;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < 1000; i++) {
        cameo_entry_unref(g->e[i]);
        g->e[i] = entries[i];
        if (entries[i] != NULL)
            cameo_entry_ref(entries[i]);
    }
}

static void got_reset(got_t *g)
{
    for (size_t i = 0; i < 1000; i++)
        cameo_entry_unref(g->e[i]);
    memset(g, 0, sizeof(*g));
}

static bool got_called(void *arg)
{
    return ((got_t *)arg)->calls > 0;
}

typedef struct done {
    int calls, err;
} done_t;

static void on_done(void *arg, int err)
{
    done_t *d = arg;
    d->calls++;
    d->err = err;
}

static bool done_called(void *arg)
{
    return ((done_t *)arg)->calls > 0;
}

/* ---- entries ---- */

static unsigned char pattern(const char *key, size_t i)
{
    return (unsigned char)(strlen(key) * 131 + i * 7 + (unsigned char)key[strlen(key) - 1]);
}

static cameo_entry_t *make_entry(const char *key, size_t size, uint64_t now, uint64_t fresh_ms,
                                 uint64_t stale_ms, uint32_t flags)
{
    cameo_entry_t *e = cameo_entry_alloc(key, strlen(key), size);
    assert_non_null(e);
    for (size_t i = 0; i < size; i++)
        e->data[i] = pattern(key, i);
    e->expires_at = now + fresh_ms;
    e->stale_until = now + stale_ms;
    e->flags = flags;
    return e;
}

static void put(fx_t *f, const char *key, size_t size, uint64_t fresh_ms, uint64_t stale_ms, uint32_t flags)
{
    uint64_t now = now_of(f);
    cameo_entry_t *e = make_entry(key, size, now, fresh_ms, stale_ms, flags);
    f->tier->ops->put_async(f->tier, &f->loop.super, e, now);
    cameo_entry_unref(e);
}

/* Looks keys up and waits for the answer in g (reset first). */
static void get(fx_t *f, const char *const *keys, size_t n, got_t *g)
{
    cameo_key_t k[1000];
    got_reset(g);
    for (size_t i = 0; i < n; i++)
        k[i] = (cameo_key_t){keys[i], strlen(keys[i])};
    assert_int_equal(CAMEO_OK, f->tier->ops->get_async(f->tier, &f->loop.super, k, n, now_of(f), on_got, g));
    assert_true(tlp_run_until(&f->loop, got_called, g, WAIT_MS));
    assert_int_equal(1, g->calls);
}

/* Puts are fire and forget; a get on the same connection comes back after
 * every earlier command has been answered. */
static void barrier(fx_t *f)
{
    got_t g = {0};
    const char *k = "barrier";
    get(f, &k, 1, &g);
    assert_int_equal(CAMEO_OK, g.err);
    got_reset(&g);
}

static void assert_payload(const cameo_entry_t *e, const char *key, size_t size)
{
    assert_non_null(e);
    assert_int_equal(strlen(key), e->key_len);
    assert_memory_equal(key, e->key, e->key_len);
    assert_int_equal(size, e->size);
    for (size_t i = 0; i < size; i++)
        if (e->data[i] != pattern(key, i))
            fail_msg("payload byte %zu of %s differs", i, key);
}

/* ---- stderr capture: what the tier logs ---- */

typedef struct capture {
    int saved, fd;
    char path[64];
} capture_t;

static void capture_begin(capture_t *c)
{
    snprintf(c->path, sizeof(c->path), "/tmp/test_tier_redis.%d.log", (int)getpid());
    c->fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(c->fd >= 0);
    c->saved = dup(2);
    dup2(c->fd, 2);
}

/* Restores stderr, echoes what was written, returns it (caller frees). */
static char *capture_end(capture_t *c)
{
    dup2(c->saved, 2);
    close(c->saved);
    off_t len = lseek(c->fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)len + 1);
    assert_non_null(s);
    assert_int_equal(len, pread(c->fd, s, (size_t)len, 0));
    close(c->fd);
    unlink(c->path);
    fputs(s, stderr);
    return s;
}

/* ---- tests ---- */

static void test_url_forms_accepted_and_rejected_without_the_password(void **state)
{
    (void)state;
    static const struct {
        const char *url, *where;
    } ok[] = {
        {"redis://127.0.0.1:6379", "127.0.0.1:6379/0"},
        {"redis://localhost", "localhost:6379/0"},
        {"redis://cache-1.internal:7000/3", "cache-1.internal:7000/3"},
        {"redis://:hunter2@10.0.0.7:6379/0", "10.0.0.7:6379/0"},
        {"redis://app:hun%40ter2@10.0.0.7/2", "10.0.0.7:6379/2"},
        {"redis://app:a@b@h:1/", "h:1/0"},
        {"REDIS://[::1]:6380/1", "[::1]:6380/1"},
    };
    static const struct {
        const char *url, *reason;
    } bad[] = {
        {"rediss://:hunter2@10.0.0.7:6379/0", "TLS"},
        {"unix:///run/redis.sock", "unix"},
        {"redis+unix://:hunter2@/run/redis.sock", "unix"},
        {"http://:hunter2@h:1", "redis://"},
        {"", "required"},
        {"redis://", "host is missing"},
        {"redis://:hunter2@", "host is missing"},
        {"redis://:hunter2@h:0", "port"},
        {"redis://:hunter2@h:65536", "port"},
        {"redis://:hunter2@h:", "port"},
        {"redis://:hunter2@h:63x9", "port"},
        {"redis://:hunter2@h/x", "database"},
        {"redis://:hunter2@h/1/2", "database"},
        {"redis://:hunter2@h/0?timeout=1", "query"},
        {"redis://hunter2@h", "user:password"},
        {"redis://:hunter2%zz@h", "%-escape"},
        {"redis://:hunter2%4@h", "%-escape"},
        {"redis://:@h", "password is empty"},
        {"redis://:hunter2@[::1", "IPv6"},
        {"redis://:hunter2@h h:1", "host"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cameo_redis_config_t cfg = {.url = ok[i].url};
        cameo_tier_t *t = NULL;
        char err[256] = "", buf[512];
        int rc = cameo_tier_redis_create(&cfg, &t, err, sizeof(err));
        if (rc != CAMEO_OK)
            fail_msg("%s: %s", ok[i].url, err);
        assert_string_equal("redis", t->ops->name);
        /* No loop attached yet: not connected. */
        assert_int_equal(CAMEO_EUNAVAIL, t->ops->status(t, buf, sizeof(buf)));
        assert_non_null(strstr(buf, ok[i].where));
        assert_null(strstr(buf, "hunter2"));
        assert_null(strstr(buf, "hun%40ter2"));
        t->ops->destroy(t);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cameo_redis_config_t cfg = {.url = bad[i].url};
        cameo_tier_t *t = NULL;
        char err[256] = "";
        assert_int_equal(CAMEO_EINVAL, cameo_tier_redis_create(&cfg, &t, err, sizeof(err)));
        assert_null(t);
        if (strstr(err, bad[i].reason) == NULL)
            fail_msg("%s: reason \"%s\" does not say %s", bad[i].url, err, bad[i].reason);
        assert_null(strchr(err, '\n'));
        assert_null(strstr(err, "hunter"));
    }
    cameo_redis_config_t cfg = {.url = NULL};
    cameo_tier_t *t = NULL;
    char err[256] = "";
    assert_int_equal(CAMEO_EINVAL, cameo_tier_redis_create(&cfg, &t, err, sizeof(err)));
    cfg = (cameo_redis_config_t){.url = "redis://h", .jitter_pct = 51};
    assert_int_equal(CAMEO_EINVAL, cameo_tier_redis_create(&cfg, &t, err, sizeof(err)));
    assert_non_null(strstr(err, "jitter"));
}

static void test_round_trip_keeps_bytes_flags_and_ttl(void **state)
{
    fx_t *f = *state;
    uint64_t now = now_of(f);
    cameo_entry_t *e1 = make_entry("user:42", 3000, now, 60000, 120000, 0);
    cameo_entry_t *e2 = make_entry("user:43", 0, now, 10000, 20000, CAMEO_ENTRY_NEGATIVE);
    f->tier->ops->put_async(f->tier, &f->loop.super, e1, now);
    f->tier->ops->put_async(f->tier, &f->loop.super, e2, now);

    const char *keys[] = {"user:42", "user:43", "user:44"};
    got_t g = {0};
    get(f, keys, 3, &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_int_equal(3, g.n);
    assert_payload(g.e[0], "user:42", 3000);
    assert_int_equal(0, g.e[0]->flags);
    assert_payload(g.e[1], "user:43", 0);
    assert_int_equal(CAMEO_ENTRY_NEGATIVE, g.e[1]->flags);
    assert_null(g.e[2]);
    /* Through the wall clock and back: within rounding of the two clocks. */
    assert_in_range(g.e[0]->expires_at, e1->expires_at - 20, e1->expires_at + 20);
    assert_in_range(g.e[0]->stale_until, e1->stale_until - 20, e1->stale_until + 20);
    assert_in_range(g.e[1]->expires_at, e2->expires_at - 20, e2->expires_at + 20);

    /* Redis drops it at stale_until, jittered by +-10%. */
    long long pttl = cmd_int(f->sync, "PTTL cameo:v1:user:42");
    assert_in_range(pttl, 120000 * 9 / 10 - WAIT_MS, 120000 * 11 / 10);

    cameo_tier_stats_t st;
    f->tier->ops->stats(f->tier, &st);
    assert_int_equal(2, st.hits);
    assert_int_equal(1, st.misses);
    assert_int_equal(0, st.errors);
    assert_int_equal(0, st.bytes);
    got_reset(&g);
    cameo_entry_unref(e1);
    cameo_entry_unref(e2);
}

static bool key_gone(void *arg)
{
    return cmd_int(arg, "EXISTS cameo:v1:short") == 0;
}

static void test_value_expires_in_redis(void **state)
{
    fx_t *f = *state;
    put(f, "short", 10, 50, 150, 0);
    barrier(f);
    assert_int_equal(1, cmd_int(f->sync, "EXISTS cameo:v1:short"));
    assert_true(tlp_run_until(&f->loop, key_gone, f->sync, WAIT_MS));
}

static void test_mget_of_100_keys_is_one_round_trip_in_order(void **state)
{
    fx_t *f = *state;
    char names[100][16];
    const char *keys[100];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "k:%03d", i);
        keys[i] = names[i];
        if (i % 3 != 0)
            put(f, keys[i], 100 + (size_t)i, 60000, 60000, 0);
    }
    barrier(f);
    long long before = command_calls(f->sync, "mget");
    got_t g = {0};
    get(f, keys, 100, &g);
    assert_int_equal(1, command_calls(f->sync, "mget") - before);
    assert_int_equal(CAMEO_OK, g.err);
    assert_int_equal(100, g.n);
    for (int i = 0; i < 100; i++) {
        if (i % 3 == 0)
            assert_null(g.e[i]);
        else
            assert_payload(g.e[i], keys[i], 100 + (size_t)i);
    }
    got_reset(&g);
}

/* The raw stored bytes of key (without prefix); caller frees. */
static char *raw_get(fx_t *f, const char *key, size_t *len)
{
    redisReply *r = cmd(f->sync, "GET cameo:v1:%s", key);
    assert_int_equal(REDIS_REPLY_STRING, r->type);
    char *s = malloc(r->len + 1);
    assert_non_null(s);
    memcpy(s, r->str, r->len);
    *len = r->len;
    freeReplyObject(r);
    return s;
}

static void raw_set(fx_t *f, const char *key, const char *v, size_t len)
{
    freeReplyObject(cmd(f->sync, "SET cameo:v1:%s %b", key, v, len));
}

static void test_bad_values_are_counted_misses(void **state)
{
    fx_t *f = *state;
    const char *victims[] = {"trunc", "trunc_hdr", "sum", "magic", "long", "keylen", "good"};
    for (size_t i = 0; i < 7; i++)
        put(f, victims[i], 500, 60000, 60000, 0);
    barrier(f);

    size_t len, good_len;
    char *v, *good = raw_get(f, "good", &good_len);
    v = raw_get(f, "trunc", &len);
    raw_set(f, "trunc", v, len - 1);
    raw_set(f, "trunc_hdr", v, 20);
    free(v);
    v = raw_get(f, "sum", &len);
    v[len - 1] ^= 0x01; /* a payload bit */
    raw_set(f, "sum", v, len);
    free(v);
    v = raw_get(f, "magic", &len);
    v[3] = '2'; /* "CMR2": a format this code does not know */
    raw_set(f, "magic", v, len);
    free(v);
    v = raw_get(f, "long", &len);
    v = realloc(v, len + 1);
    v[len] = 'x';
    raw_set(f, "long", v, len + 1);
    free(v);
    v = raw_get(f, "keylen", &len);
    v[24] = 9; /* key_len */
    raw_set(f, "keylen", v, len);
    free(v);
    raw_set(f, "copied", good, good_len); /* valid, but for another key */
    raw_set(f, "garbage", "hello, world", 12);
    raw_set(f, "empty", "", 0);
    free(good);

    const char *keys[] = {"trunc",  "trunc_hdr", "sum",     "magic", "long",
                          "keylen", "copied",    "garbage", "empty", "good"};
    got_t g = {0};
    get(f, keys, 10, &g);
    assert_int_equal(CAMEO_OK, g.err);
    for (size_t i = 0; i < 9; i++)
        if (g.e[i] != NULL)
            fail_msg("%s was served", keys[i]);
    assert_payload(g.e[9], "good", 500);
    assert_int_equal(9, status_num(f->tier, "corrupt"));
    cameo_tier_stats_t st;
    f->tier->ops->stats(f->tier, &st);
    assert_int_equal(1, st.hits);
    assert_int_equal(1 + 9, st.misses); /* the barrier's, and the bad ones */
    got_reset(&g);
}

static void test_remove_async_deletes_and_calls_back_ok(void **state)
{
    fx_t *f = *state;
    put(f, "a", 10, 60000, 60000, 0);
    put(f, "b", 10, 60000, 60000, 0);
    put(f, "c", 10, 60000, 60000, 0);
    barrier(f);
    cameo_key_t k[] = {{"a", 1}, {"b", 1}};
    done_t d = {0};
    assert_int_equal(CAMEO_OK, f->tier->ops->remove_async(f->tier, &f->loop.super, k, 2, on_done, &d));
    assert_true(tlp_run_until(&f->loop, done_called, &d, WAIT_MS));
    assert_int_equal(1, d.calls);
    assert_int_equal(CAMEO_OK, d.err);
    assert_int_equal(0, cmd_int(f->sync, "EXISTS cameo:v1:a cameo:v1:b"));
    assert_int_equal(1, cmd_int(f->sync, "EXISTS cameo:v1:c"));

    const char *keys[] = {"a", "b", "c"};
    got_t g = {0};
    get(f, keys, 3, &g);
    assert_null(g.e[0]);
    assert_null(g.e[1]);
    assert_payload(g.e[2], "c", 10);
    got_reset(&g);
}

static void test_puts_too_large_or_past_stale_are_skipped(void **state)
{
    fx_t *f = *state;
    uint64_t now = now_of(f);
    cameo_entry_t *big = make_entry("big", (1u << 20) + 1, now, 60000, 60000, 0);
    cameo_entry_t *old = make_entry("old", 10, now, 0, 0, 0);
    f->tier->ops->put_async(f->tier, &f->loop.super, big, now);
    f->tier->ops->put_async(f->tier, &f->loop.super, old, now);
    barrier(f);
    assert_int_equal(0, cmd_int(f->sync, "EXISTS cameo:v1:big cameo:v1:old"));
    assert_int_equal(2, status_num(f->tier, "skipped"));
    cameo_entry_unref(big);
    cameo_entry_unref(old);
}

static void test_get_async_rejects_0_or_over_1000_keys(void **state)
{
    fx_t *f = *state;
    static cameo_key_t k[1001];
    got_t g = {0};
    for (int i = 0; i < 1001; i++)
        k[i] = (cameo_key_t){"x", 1};
    assert_int_equal(CAMEO_EINVAL, f->tier->ops->get_async(f->tier, &f->loop.super, k, 0, 0, on_got, &g));
    assert_int_equal(CAMEO_EINVAL, f->tier->ops->get_async(f->tier, &f->loop.super, k, 1001, 0, on_got, &g));
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, k, 1000, now_of(f), on_got, &g));
    assert_true(tlp_run_until(&f->loop, got_called, &g, WAIT_MS));
    assert_int_equal(CAMEO_OK, g.err);
    got_reset(&g);
}

typedef struct counts {
    int got, done, got_err, done_err;
} counts_t;

static void count_got(void *arg, int err, cameo_entry_t *const *entries, size_t n)
{
    counts_t *c = arg;
    (void)entries;
    (void)n;
    c->got++;
    c->got_err = err;
}

static bool all_got(void *arg)
{
    return ((counts_t *)arg)->got == 4096;
}

static void count_done(void *arg, int err)
{
    counts_t *c = arg;
    c->done++;
    c->done_err = err;
}

static void test_unanswered_commands_are_capped_with_ebusy(void **state)
{
    fx_t *f = *state;
    counts_t c = {0};
    cameo_key_t k = {"cap", 3};
    /* No loop turn: nothing is answered yet. */
    for (int i = 0; i < 4096; i++)
        assert_int_equal(CAMEO_OK,
                         f->tier->ops->get_async(f->tier, &f->loop.super, &k, 1, now_of(f), count_got, &c));
    assert_int_equal(CAMEO_EBUSY,
                     f->tier->ops->get_async(f->tier, &f->loop.super, &k, 1, now_of(f), count_got, &c));
    assert_int_equal(CAMEO_EBUSY, f->tier->ops->remove_async(f->tier, &f->loop.super, &k, 1, count_done, &c));
    put(f, "cap", 1, 60000, 60000, 0);
    assert_int_equal(2, status_num(f->tier, "busy"));
    assert_int_equal(1, status_num(f->tier, "dropped"));
    assert_true(tlp_run_until(&f->loop, all_got, &c, WAIT_MS));
    assert_int_equal(0, c.done);
}

static void test_no_answer_in_time_is_etimedout_and_the_late_reply_is_ignored(void **state)
{
    fx_t *f = *state;
    put(f, "slow", 10, 60000, 60000, 0);
    barrier(f);

    kill(main_srv.pid, SIGSTOP); /* answers nothing until SIGCONT */
    const char *k = "slow";
    got_t g = {0};
    cameo_key_t key = {k, 4};
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, &key, 1, now_of(f), on_got, &g));
    bool called = tlp_run_until(&f->loop, got_called, &g, WAIT_MS);
    kill(main_srv.pid, SIGCONT);
    assert_true(called);
    assert_int_equal(CAMEO_ETIMEDOUT, g.err);
    assert_null(g.e[0]);

    /* The late reply comes before this one's, on the same connection. */
    got_t g2 = {0};
    get(f, &k, 1, &g2);
    assert_int_equal(CAMEO_OK, g2.err);
    assert_payload(g2.e[0], "slow", 10);
    assert_int_equal(1, g.calls);
    cameo_tier_stats_t st;
    f->tier->ops->stats(f->tier, &st);
    assert_int_equal(1, st.timeouts);
    assert_int_equal(0, status_num(f->tier, "reconnects")); /* late, not stuck */
    got_reset(&g);
    got_reset(&g2);
}

static void test_a_stuck_server_is_dropped_and_reconnected(void **state)
{
    fx_t *f = *state;
    const char *k = "stuck";
    cameo_key_t key = {k, 5};
    got_t g = {0};
    kill(main_srv.pid, SIGSTOP);
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, &key, 1, now_of(f), on_got, &g));
    bool dropped = tlp_run_until(&f->loop, tier_down, f->tier, WAIT_MS);
    kill(main_srv.pid, SIGCONT);
    assert_true(dropped);
    assert_int_equal(1, g.calls);
    assert_int_equal(CAMEO_ETIMEDOUT, g.err);
    char buf[512];
    f->tier->ops->status(f->tier, buf, sizeof(buf));
    assert_non_null(strstr(buf, "no reply in 500 ms"));
    assert_true(tlp_run_until(&f->loop, tier_up, f->tier, WAIT_MS));
    get(f, &k, 1, &g);
    assert_int_equal(CAMEO_OK, g.err);
    got_reset(&g);
}

static void test_redis_down_fails_fast_then_reconnects_by_itself(void **state)
{
    fx_t *f = *state;
    const char *k = "d";
    cameo_key_t key = {k, 1};
    got_t g = {0};
    done_t d = {0};
    put(f, "d", 10, 60000, 60000, 0);
    barrier(f);

    /* In flight (a stopped server cannot answer first), then the server dies. */
    kill(main_srv.pid, SIGSTOP);
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, &key, 1, now_of(f), on_got, &g));
    server_kill(&main_srv);
    assert_true(tlp_run_until(&f->loop, got_called, &g, WAIT_MS));
    assert_true(g.err == CAMEO_EUNAVAIL || g.err == CAMEO_EIO || g.err == CAMEO_ETIMEDOUT);
    assert_true(tlp_run_until(&f->loop, tier_down, f->tier, WAIT_MS));

    /* While down: refused at once, callbacks never run. */
    got_reset(&g);
    assert_int_equal(CAMEO_EUNAVAIL,
                     f->tier->ops->get_async(f->tier, &f->loop.super, &key, 1, now_of(f), on_got, &g));
    assert_int_equal(CAMEO_EUNAVAIL,
                     f->tier->ops->remove_async(f->tier, &f->loop.super, &key, 1, on_done, &d));
    put(f, "d2", 10, 60000, 60000, 0);
    assert_int_equal(1, status_num(f->tier, "dropped"));
    char buf[512];
    assert_int_equal(CAMEO_EUNAVAIL, f->tier->ops->status(f->tier, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "connected 0/1"));
    tlp_run_for(&f->loop, 100); /* a few reconnect attempts against nothing */
    assert_int_equal(0, g.calls);
    assert_int_equal(0, d.calls);

    server_start(&main_srv, NULL); /* the same port */
    assert_true(tlp_run_until(&f->loop, tier_up, f->tier, WAIT_MS));
    put(f, "d", 10, 60000, 60000, 0);
    get(f, &k, 1, &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_payload(g.e[0], "d", 10);
    got_reset(&g);
    sync_reconnect(f); /* the old server's is dead */
}

static bool auth_failed(void *arg)
{
    char buf[512];
    ((cameo_tier_t *)arg)->ops->status(arg, buf, sizeof(buf));
    return strstr(buf, "auth failed") != NULL;
}

static void test_auth_with_password_and_acl_user_never_shows_the_password(void **state)
{
    (void)state;
    static const char *const extra[] = {"--requirepass", "s3cr3t-pw", NULL};
    server_start(&auth_srv, extra);
    redisContext *admin = sync_connect(auth_srv.port);
    assert_non_null(admin);
    freeReplyObject(cmd(admin, "AUTH s3cr3t-pw"));
    redisReply *r = cmd(admin, "ACL SETUSER alice on >al1ce-pw ~* &* +@all");
    assert_int_equal(REDIS_REPLY_STATUS, r->type);
    freeReplyObject(r);
    redisFree(admin);

    capture_t cap;
    capture_begin(&cap);
    char url[128], buf[512];
    fx_t f = {0};
    const char *k = "x";
    got_t g = {0};

    snprintf(url, sizeof(url), "redis://:s3cr3t%%2Dpw@127.0.0.1:%d/1", auth_srv.port); /* %2D is '-' */
    fx_open(&f, url, true);
    get(&f, &k, 1, &g);
    assert_int_equal(CAMEO_OK, g.err);
    fx_close(&f);

    snprintf(url, sizeof(url), "redis://alice:al1ce-pw@127.0.0.1:%d/0", auth_srv.port);
    fx_open(&f, url, true);
    get(&f, &k, 1, &g);
    assert_int_equal(CAMEO_OK, g.err);
    fx_close(&f);

    snprintf(url, sizeof(url), "redis://:wrong-pw-xyz@127.0.0.1:%d/0", auth_srv.port);
    fx_open(&f, url, false);
    bool failed = tlp_run_until(&f.loop, auth_failed, f.tier, WAIT_MS);
    int st = f.tier->ops->status(f.tier, buf, sizeof(buf));
    fx_close(&f);
    got_reset(&g);

    char *log = capture_end(&cap);
    assert_true(failed);
    assert_int_equal(CAMEO_EUNAVAIL, st);
    assert_null(strstr(buf, "wrong-pw-xyz"));
    assert_null(strstr(log, "wrong-pw-xyz"));
    assert_null(strstr(log, "s3cr3t"));
    assert_null(strstr(log, "al1ce-pw"));
    assert_non_null(strstr(log, "redis_auth_failed"));
    free(log);
    server_kill(&auth_srv);
}

static void test_detach_fails_pending_once_and_nothing_runs_after(void **state)
{
    fx_t *f = *state;
    counts_t c = {0};
    cameo_key_t k[] = {{"p", 1}, {"q", 1}};
    put(f, "p", 10, 60000, 60000, 0);
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, k, 2, now_of(f), count_got, &c));
    assert_int_equal(CAMEO_OK,
                     f->tier->ops->get_async(f->tier, &f->loop.super, k, 1, now_of(f), count_got, &c));
    assert_int_equal(CAMEO_OK, f->tier->ops->remove_async(f->tier, &f->loop.super, k, 2, count_done, &c));

    f->tier->ops->detach(f->tier, &f->loop.super);
    f->attached = false;
    assert_int_equal(2, c.got);
    assert_int_equal(1, c.done);
    assert_int_equal(CAMEO_EUNAVAIL, c.got_err);
    assert_int_equal(CAMEO_EUNAVAIL, c.done_err);
    assert_int_equal(0, f->loop.live_ios);
    assert_int_equal(0, f->loop.live_timers);
    tlp_run_for(&f->loop, 100);
    assert_int_equal(2, c.got);
    assert_int_equal(1, c.done);

    /* Detached: refused, as on a loop never attached. */
    assert_int_equal(CAMEO_EUNAVAIL,
                     f->tier->ops->get_async(f->tier, &f->loop.super, k, 1, now_of(f), count_got, &c));
}

static void test_detach_while_reconnecting_releases_everything(void **state)
{
    (void)state;
    fx_t f = {0};
    char url[64], buf[512];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port()); /* nothing listens */
    fx_open(&f, url, false);
    tlp_run_for(&f.loop, 200);
    assert_int_equal(CAMEO_EUNAVAIL, f.tier->ops->status(f.tier, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "connect failed"));
    f.tier->ops->detach(f.tier, &f.loop.super);
    f.attached = false;
    assert_int_equal(0, f.loop.live_ios);
    assert_int_equal(0, f.loop.live_timers);
    fx_close(&f);
}

static void test_expiry_jitter_spreads_equal_ttls_within_bounds(void **state)
{
    fx_t *f = *state;
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "j:%d", i);
        put(f, key, 1, 100000, 100000, 0);
    }
    barrier(f);
    for (int i = 0; i < 200; i++)
        redisAppendCommand(f->sync, "PTTL cameo:v1:j:%d", i);
    long long min = LLONG_MAX, max = 0;
    int distinct = 0;
    long long seen[200];
    for (int i = 0; i < 200; i++) {
        redisReply *r = NULL;
        assert_int_equal(REDIS_OK, redisGetReply(f->sync, (void **)&r));
        assert_int_equal(REDIS_REPLY_INTEGER, r->type);
        long long v = r->integer;
        freeReplyObject(r);
        min = v < min ? v : min;
        max = v > max ? v : max;
        bool dup = false;
        for (int j = 0; j < distinct; j++)
            dup = dup || seen[j] == v;
        if (!dup)
            seen[distinct++] = v;
    }
    assert_true(min >= 90000 - WAIT_MS);
    assert_true(max <= 110000);
    assert_true(distinct > 100);
    assert_true(max - min > 10000); /* 200 uniform draws over 20 s: spread far past half */
}

/* ---- the bus: what a handler heard ---- */

#define REC_KEYS 2048

typedef struct rec {
    int up, down, last; /* reset(1) and reset(0) calls; the last one's argument (-1: none) */
    int calls;          /* invalidated() calls */
    size_t nkeys;       /* keys heard, in order: the first REC_KEYS kept */
    size_t lens[REC_KEYS];
    char keys[REC_KEYS][64]; /* the first 63 bytes of each */
} rec_t;

static rec_t *rec_new(void)
{
    rec_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->last = -1;
    return r;
}

static void rec_invalidated(void *arg, const cameo_key_t *keys, size_t n)
{
    rec_t *r = arg;
    assert_true(n >= 1 && n <= 1000);
    r->calls++;
    for (size_t i = 0; i < n; i++, r->nkeys++) {
        if (r->nkeys >= REC_KEYS)
            continue;
        r->lens[r->nkeys] = keys[i].len;
        snprintf(r->keys[r->nkeys], sizeof(r->keys[0]), "%.*s", (int)keys[i].len, keys[i].p);
    }
}

static void rec_reset(void *arg, int up)
{
    rec_t *r = arg;
    if (up)
        r->up++;
    else
        r->down++;
    r->last = up;
}

/* Whether r heard key (from index from on). */
static bool rec_heard(const rec_t *r, size_t from, const char *key)
{
    for (size_t i = from; i < r->nkeys && i < REC_KEYS; i++)
        if (r->lens[i] == strlen(key) && strcmp(r->keys[i], key) == 0)
            return true;
    return false;
}

/* A tier with prefix (NULL: the default) on the main server, with a bus
 * recording into r (NULL: no bus), attached to loop. */
static cameo_tier_t *bus_tier(const char *prefix, rec_t *r, tlp_loop_t *loop)
{
    char url[64], err[256] = "";
    cameo_tier_t *t = NULL;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", main_srv.port);
    cameo_redis_config_t cfg = {.url = url, .prefix = prefix};
    assert_int_equal(CAMEO_OK, cameo_tier_redis_create(&cfg, &t, err, sizeof(err)));
    if (r != NULL) {
        cameo_bus_handler_t h = {.invalidated = rec_invalidated, .reset = rec_reset, .arg = r};
        t->ops->set_bus(t, &h);
    }
    assert_int_equal(CAMEO_OK, t->ops->attach(t, &loop->super));
    return t;
}

static void bus_tier_close(cameo_tier_t *t, tlp_loop_t *loop)
{
    t->ops->detach(t, &loop->super);
    t->ops->destroy(t);
}

/* Every rec of a NULL-terminated array: its last reset said up (want 1) or
 * down (want 0), having said up at least min_up times. */
typedef struct recs {
    rec_t *r[4];
    int want, min_up;
} recs_t;

static bool recs_reset(void *arg)
{
    recs_t *w = arg;
    for (int i = 0; w->r[i] != NULL; i++)
        if (w->r[i]->last != w->want || w->r[i]->up < w->min_up)
            return false;
    return true;
}

/* Every rec of a NULL-terminated array heard key (from index from on), and
 * done (when not NULL) was called. */
typedef struct heard {
    rec_t *r[4];
    size_t from;
    const char *key;
    done_t *done;
} heard_t;

static bool recs_heard(void *arg)
{
    heard_t *w = arg;
    if (w->done != NULL && w->done->calls == 0)
        return false;
    for (int i = 0; w->r[i] != NULL; i++)
        if (!rec_heard(w->r[i], w->from, w->key))
            return false;
    return true;
}

/* barrier() for any tier on any loop. */
static void barrier_of(cameo_tier_t *t, tlp_loop_t *loop)
{
    got_t g = {0};
    cameo_key_t k = {"barrier", 7};
    assert_int_equal(CAMEO_OK, t->ops->get_async(t, &loop->super, &k, 1, tlp_clock_ms(), on_got, &g));
    assert_true(tlp_run_until(loop, got_called, &g, WAIT_MS));
    assert_int_equal(CAMEO_OK, g.err);
    got_reset(&g);
}

/* A tier's status counter reached at least min. */
typedef struct at_least {
    cameo_tier_t *t;
    const char *label;
    unsigned long long min;
} at_least_t;

static bool counter_at_least(void *arg)
{
    at_least_t *w = arg;
    return status_num(w->t, w->label) >= w->min;
}

static void remove_keys(cameo_tier_t *t, tlp_loop_t *loop, const char *const *keys, size_t n, done_t *d)
{
    cameo_key_t k[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        k[i] = (cameo_key_t){keys[i], strlen(keys[i])};
    assert_int_equal(CAMEO_OK, t->ops->remove_async(t, &loop->super, k, n, on_done, d));
}

/* Tiers a and (unless alone) b on the main server, each with a bus recording
 * into its own rec; b's prefix is b_prefix (NULL: the default). */
typedef struct bus_pair {
    rec_t *ra, *rb;      /* rb: NULL when a is alone */
    cameo_tier_t *a, *b; /* NULL once detached */
} bus_pair_t;

/* Opens them and waits until every bus has said up once, and (wait_a) until
 * a's data connection is up too. */
static void bus_pair_open(fx_t *f, bus_pair_t *p, bool alone, const char *b_prefix, bool wait_a)
{
    *p = (bus_pair_t){rec_new(), alone ? NULL : rec_new(), NULL, NULL};
    p->a = bus_tier(NULL, p->ra, &f->loop);
    if (!alone)
        p->b = bus_tier(b_prefix, p->rb, &f->loop);
    recs_t up = {{p->ra, p->rb}, 1, 1};
    assert_true(tlp_run_until(&f->loop, recs_reset, &up, WAIT_MS));
    if (wait_a)
        assert_true(tlp_run_until(&f->loop, tier_up, p->a, WAIT_MS));
}

/* Detaches and destroys the tiers; the recs stay readable. */
static void bus_pair_detach(fx_t *f, bus_pair_t *p)
{
    if (p->a != NULL)
        bus_tier_close(p->a, &f->loop);
    if (p->b != NULL)
        bus_tier_close(p->b, &f->loop);
    p->a = p->b = NULL;
}

static void bus_pair_close(fx_t *f, bus_pair_t *p)
{
    bus_pair_detach(f, p);
    free(p->ra);
    free(p->rb);
}

/* A plain connection to the main server, subscribed to channel. */
static redisContext *raw_subscriber(const char *channel)
{
    redisContext *sub = sync_connect(main_srv.port);
    assert_non_null(sub);
    freeReplyObject(cmd(sub, "SUBSCRIBE %s", channel));
    return sub;
}

static void test_bus_remove_is_del_and_publish_heard_by_every_instance(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, false);
    assert_int_equal(1, p.ra->up);
    assert_int_equal(1, p.rb->up);
    assert_true(tlp_run_until(&f->loop, tier_up, p.a, WAIT_MS)); /* data connection and bus */
    assert_true(tlp_run_until(&f->loop, tier_up, p.b, WAIT_MS));
    char buf[512];
    assert_int_equal(CAMEO_OK, p.a->ops->status(p.a, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "bus up"));

    freeReplyObject(cmd(f->sync, "MSET cameo:v1:p:x 1 cameo:v1:p:y 2 cameo:v1:p:w 3"));
    long long pub0 = command_calls(f->sync, "publish"), del0 = command_calls(f->sync, "del");
    const char *keys[] = {"p:x", "p:y"};
    done_t d = {0};
    remove_keys(p.a, &f->loop, keys, 2, &d);
    heard_t w = {{p.rb}, 0, "p:y", &d};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));
    at_least_t own = {p.a, "own events skipped", 1};
    assert_true(tlp_run_until(&f->loop, counter_at_least, &own, WAIT_MS));
    assert_int_equal(1, d.calls);
    assert_int_equal(CAMEO_OK, d.err);

    /* Exactly those keys, without the prefix, in one call, on the other
     * instance; the publisher skips its own message. */
    assert_int_equal(1, p.rb->calls);
    assert_int_equal(2, p.rb->nkeys);
    assert_string_equal("p:x", p.rb->keys[0]);
    assert_string_equal("p:y", p.rb->keys[1]);
    assert_int_equal(0, p.ra->calls);
    assert_int_equal(0, status_num(p.b, "own events skipped"));
    assert_int_equal(0, cmd_int(f->sync, "EXISTS cameo:v1:p:x cameo:v1:p:y"));
    assert_int_equal(1, cmd_int(f->sync, "EXISTS cameo:v1:p:w"));
    assert_int_equal(1, command_calls(f->sync, "publish") - pub0);
    assert_int_equal(1, command_calls(f->sync, "del") - del0);
    assert_int_equal(1, status_num(p.a, "bus events"));
    assert_int_equal(1, status_num(p.b, "bus events"));
    assert_int_equal(1, status_num(p.b, "bus resets"));
    assert_int_equal(0, status_num(p.b, "bus malformed"));

    bus_pair_detach(f, &p);
    assert_int_equal(0, p.ra->down); /* detach calls no reset */
    assert_int_equal(0, p.rb->down);
    bus_pair_close(f, &p);
}

static void test_bus_of_another_prefix_hears_nothing(void **state)
{
    fx_t *f = *state;
    bus_pair_t p; /* b: of another prefix */
    bus_pair_open(f, &p, false, "other:", false);

    const char *k = "p:x";
    done_t d = {0};
    remove_keys(p.a, &f->loop, &k, 1, &d);
    at_least_t own = {p.a, "own events skipped", 1}; /* a's own message came back to a */
    assert_true(tlp_run_until(&f->loop, counter_at_least, &own, WAIT_MS));
    /* Published after a's, so delivered after it had it been c's too. */
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH other:v1:invalidate p:marker"));
    heard_t wc = {{p.rb}, 0, "p:marker", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &wc, WAIT_MS));
    assert_int_equal(1, p.rb->calls);
    assert_int_equal(1, p.rb->nkeys);
    assert_int_equal(0, p.ra->nkeys);

    bus_pair_close(f, &p);
}

static void test_bus_redis_restart_is_reset_down_then_up(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, false);

    server_kill(&main_srv);
    recs_t down = {{p.ra, p.rb}, 0, 1};
    assert_true(tlp_run_until(&f->loop, recs_reset, &down, WAIT_MS));
    char buf[512];
    assert_int_equal(CAMEO_EUNAVAIL, p.b->ops->status(p.b, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "bus down"));
    tlp_run_for(&f->loop, 100); /* reconnect attempts against nothing: no second reset(0) */
    assert_int_equal(1, p.ra->down);
    assert_int_equal(1, p.rb->down);

    server_start(&main_srv, NULL); /* the same port */
    recs_t again = {{p.ra, p.rb}, 1, 2};
    assert_true(tlp_run_until(&f->loop, recs_reset, &again, 2 * WAIT_MS));
    assert_int_equal(1, p.ra->down);
    assert_int_equal(2, p.rb->up);
    assert_true(tlp_run_until(&f->loop, tier_up, p.a, WAIT_MS));

    const char *k = "p:after";
    done_t d = {0};
    remove_keys(p.a, &f->loop, &k, 1, &d);
    heard_t w = {{p.rb}, 0, "p:after", &d};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));
    assert_int_equal(CAMEO_OK, d.err);

    bus_pair_close(f, &p);
    sync_reconnect(f); /* the old server's is dead */
}

static void test_bus_frozen_server_is_dead_by_ping_then_back(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, false);

    /* Idle but alive: the pongs keep it up past the 3 s dead window. */
    long long ping0 = command_calls(f->sync, "ping");
    tlp_run_for(&f->loop, 4500);
    assert_int_equal(0, p.ra->down);
    assert_int_equal(0, p.rb->down);
    assert_true(command_calls(f->sync, "ping") - ping0 >= 2 * 3);
    assert_true(tier_up(p.a));

    kill(main_srv.pid, SIGSTOP); /* the sockets stay open: only the silence tells */
    recs_t down = {{p.ra, p.rb}, 0, 1};
    bool dead = tlp_run_until(&f->loop, recs_reset, &down, WAIT_MS);
    char buf[512];
    int st = p.a->ops->status(p.a, buf, sizeof(buf));
    kill(main_srv.pid, SIGCONT);
    assert_true(dead);
    assert_int_equal(CAMEO_EUNAVAIL, st);
    assert_non_null(strstr(buf, "bus down"));
    assert_non_null(strstr(buf, "nothing received in 3000 ms"));
    assert_int_equal(0, status_num(p.a, "reconnects")); /* the idle data connection was never dropped */

    recs_t again = {{p.ra, p.rb}, 1, 2};
    assert_true(tlp_run_until(&f->loop, recs_reset, &again, 2 * WAIT_MS));
    assert_int_equal(1, p.ra->down);
    assert_int_equal(1, p.rb->down);
    const char *k = "p:thawed";
    done_t d = {0};
    remove_keys(p.b, &f->loop, &k, 1, &d);
    heard_t w = {{p.ra}, 0, "p:thawed", &d};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));

    bus_pair_close(f, &p);
}

static void test_bus_remove_in_flight_on_a_frozen_server_answers_once(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, true);

    kill(main_srv.pid, SIGSTOP);
    const char *k = "p:late";
    done_t d = {0};
    remove_keys(p.a, &f->loop, &k, 1, &d);
    bool called = tlp_run_until(&f->loop, done_called, &d, WAIT_MS);
    kill(main_srv.pid, SIGCONT);
    assert_true(called);
    assert_int_equal(CAMEO_ETIMEDOUT, d.err);
    cameo_tier_stats_t st;
    p.a->ops->stats(p.a, &st);
    assert_int_equal(1, st.timeouts); /* DEL and PUBLISH: one removal */

    /* Redis runs both once thawed: the late replies are dropped, the event
     * is heard all the same. */
    heard_t w = {{p.rb}, 0, "p:late", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, 2 * WAIT_MS));
    assert_true(tlp_run_until(&f->loop, tier_up, p.a, WAIT_MS));
    barrier_of(p.a, &f->loop);
    assert_int_equal(1, d.calls);
    assert_int_equal(0, p.ra->calls); /* its own */

    bus_pair_close(f, &p);
}

static void test_bus_malformed_messages_are_counted_and_good_keys_delivered(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, true, NULL, false);

    static char big[4 + 10240 + 1];
    memcpy(big, "p:z\n", 4);
    memset(big + 4, 'x', 10240);
    static char many[1001 * 8];
    size_t mlen = 0;
    for (int i = 0; i < 1001; i++)
        mlen += (size_t)sprintf(many + mlen, "%sk%d", i > 0 ? "\n" : "", i);
    const char *ch = "cameo:v1:invalidate";
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %b", ch, "", (size_t)0));
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %b", ch, "p:a\n\np:b\n", (size_t)9));
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %b", ch, big, sizeof(big) - 1));
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %b", ch, many, mlen));
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s p:ok", ch));
    heard_t w = {{p.ra}, 0, "p:ok", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));

    /* Lenient: every well-formed line is a key, the rest is skipped. */
    assert_int_equal(2 + 1 + 1001 + 1, p.ra->nkeys);
    assert_int_equal(1 + 1 + 2 + 1, p.ra->calls); /* 1001 keys: in two calls */
    assert_string_equal("p:a", p.ra->keys[0]);
    assert_string_equal("p:b", p.ra->keys[1]);
    assert_string_equal("p:z", p.ra->keys[2]);
    assert_string_equal("k0", p.ra->keys[3]);
    assert_string_equal("k1000", p.ra->keys[1003]);
    assert_string_equal("p:ok", p.ra->keys[1004]);
    for (size_t i = 0; i < p.ra->nkeys; i++)
        assert_true(p.ra->lens[i] > 0 && p.ra->lens[i] <= 256);
    assert_int_equal(4, status_num(p.a, "bus malformed"));
    assert_int_equal(5, status_num(p.a, "bus events"));
    assert_true(tier_up(p.a)); /* still subscribed */
    assert_int_equal(1, p.ra->up);

    bus_pair_close(f, &p);
}

static void test_without_set_bus_remove_publishes_nothing(void **state)
{
    fx_t *f = *state;
    long long pub0 = command_calls(f->sync, "publish"), del0 = command_calls(f->sync, "del");
    cameo_key_t k = {"p:x", 3};
    done_t d = {0};
    assert_int_equal(CAMEO_OK, f->tier->ops->remove_async(f->tier, &f->loop.super, &k, 1, on_done, &d));
    assert_true(tlp_run_until(&f->loop, done_called, &d, WAIT_MS));
    assert_int_equal(CAMEO_OK, d.err);
    assert_int_equal(1, command_calls(f->sync, "del") - del0);
    assert_int_equal(0, command_calls(f->sync, "publish") - pub0);
    char buf[512];
    assert_int_equal(CAMEO_OK, f->tier->ops->status(f->tier, buf, sizeof(buf)));
    assert_null(strstr(buf, "; bus ")); /* ("busy" is there) */
}

/* ---- deletes that may be undone by a late fill ---- */

static bool data_conn_down(void *arg)
{
    char buf[512];
    ((cameo_tier_t *)arg)->ops->status(arg, buf, sizeof(buf));
    return strstr(buf, "connected 0/") != NULL;
}

typedef struct raw_key {
    redisContext *c;
    const char *key; /* with the prefix */
} raw_key_t;

static bool raw_key_gone(void *arg)
{
    raw_key_t *w = arg;
    return cmd_int(w->c, "EXISTS %s", w->key) == 0;
}

static void test_refused_delete_is_retried_once_redis_is_back(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, true);

    server_kill(&main_srv);
    assert_true(tlp_run_until(&f->loop, data_conn_down, p.a, WAIT_MS));
    cameo_key_t k = {"p:stale", 7};
    done_t d = {0};
    assert_int_equal(CAMEO_EUNAVAIL, p.a->ops->remove_async(p.a, &f->loop.super, &k, 1, on_done, &d));
    assert_int_equal(1, status_num(p.a, "pending"));

    /* Back, and the late fill lands before the tier reconnects (the loop
     * has not turned since). */
    server_start(&main_srv, NULL); /* the same port */
    sync_reconnect(f);             /* the old server's is dead */
    freeReplyObject(cmd(f->sync, "SET cameo:v1:p:stale old-value"));

    raw_key_t gone = {f->sync, "cameo:v1:p:stale"};
    assert_true(tlp_run_until(&f->loop, raw_key_gone, &gone, WAIT_MS));
    at_least_t retried = {p.a, "deletes retried", 1};
    assert_true(tlp_run_until(&f->loop, counter_at_least, &retried, WAIT_MS));
    assert_int_equal(0, status_num(p.a, "pending"));
    /* Published too (or, if a bus resubscribed after it, by the second
     * delete), without a nonce: the publisher applies it as well. */
    heard_t w = {{p.ra, p.rb}, 0, "p:stale", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, 2 * WAIT_MS));
    assert_int_equal(0, status_num(p.a, "own events skipped"));
    assert_int_equal(0, d.calls); /* refused: the callback never runs */

    bus_pair_close(f, &p);
}

static void test_confirmed_delete_is_repeated_after_the_window(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, true);
    redisContext *sub = raw_subscriber("cameo:v1:invalidate");

    freeReplyObject(cmd(f->sync, "SET cameo:v1:p:twice v1"));
    const char *k = "p:twice";
    done_t d = {0};
    remove_keys(p.a, &f->loop, &k, 1, &d);
    heard_t w = {{p.rb}, 0, "p:twice", &d};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));
    assert_int_equal(CAMEO_OK, d.err);
    assert_int_equal(0, cmd_int(f->sync, "EXISTS cameo:v1:p:twice"));

    /* A fill that started before the removal lands after it. */
    size_t heard = p.rb->nkeys;
    freeReplyObject(cmd(f->sync, "SET cameo:v1:p:twice stale"));
    assert_int_equal(1, cmd_int(f->sync, "EXISTS cameo:v1:p:twice"));
    raw_key_t gone = {f->sync, "cameo:v1:p:twice"};
    assert_true(tlp_run_until(&f->loop, raw_key_gone, &gone, 1000 + WAIT_MS)); /* the 1 s window */
    /* Published again, without the nonce line: a applies it too (its memory
     * may have been filled through another loop meanwhile). */
    heard_t again = {{p.rb}, heard, "p:twice", NULL}, again_a = {{p.ra}, 0, "p:twice", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &again, WAIT_MS));
    assert_true(tlp_run_until(&f->loop, recs_heard, &again_a, WAIT_MS));
    assert_int_equal(1, p.ra->calls);
    assert_int_equal(1, status_num(p.a, "own events skipped")); /* the first one only */
    assert_int_equal(1, status_num(p.a, "second deletes"));
    assert_int_equal(0, status_num(p.a, "pending"));
    assert_int_equal(1, d.calls);
    redisReply *m1 = NULL, *m2 = NULL;
    assert_int_equal(REDIS_OK, redisGetReply(sub, (void **)&m1));
    assert_int_equal(REDIS_OK, redisGetReply(sub, (void **)&m2));
    assert_int_equal('@', m1->element[2]->str[0]);
    assert_int_equal(7, m2->element[2]->len);
    assert_memory_equal("p:twice", m2->element[2]->str, 7);
    freeReplyObject(m1);
    freeReplyObject(m2);
    redisFree(sub);

    bus_pair_close(f, &p);
}

static void test_bus_own_events_are_skipped_by_nonce(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, false, NULL, true);
    redisContext *sub = raw_subscriber("cameo:v1:invalidate");

    const char *k = "p:own";
    done_t d = {0};
    remove_keys(p.a, &f->loop, &k, 1, &d);
    heard_t w = {{p.rb}, 0, "p:own", &d};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));
    at_least_t own = {p.a, "own events skipped", 1};
    assert_true(tlp_run_until(&f->loop, counter_at_least, &own, WAIT_MS));
    assert_int_equal(0, p.ra->calls);
    assert_int_equal(1, p.rb->nkeys); /* the nonce line is not a key */
    assert_int_equal(0, status_num(p.b, "own events skipped"));
    assert_int_equal(0, status_num(p.b, "bus malformed"));

    /* On the wire: "@" and 16 hex digits, then the keys. */
    redisReply *m = NULL;
    assert_int_equal(REDIS_OK, redisGetReply(sub, (void **)&m));
    assert_int_equal(REDIS_REPLY_ARRAY, m->type);
    assert_int_equal(3, m->elements);
    const redisReply *payload = m->element[2];
    assert_int_equal(17 + 1 + 5, payload->len);
    assert_int_equal('@', payload->str[0]);
    for (int i = 1; i < 17; i++)
        assert_non_null(strchr("0123456789abcdef", payload->str[i]));
    assert_memory_equal("\np:own", payload->str + 17, 6);

    /* The same message again, from anyone: still a's own, still b's news. */
    size_t from = p.rb->nkeys;
    redisContext *pub = sync_connect(main_srv.port);
    assert_non_null(pub);
    assert_int_equal(3, cmd_int(pub, "PUBLISH cameo:v1:invalidate %b", payload->str, payload->len));
    redisFree(pub);
    freeReplyObject(m);
    redisFree(sub);
    heard_t w2 = {{p.rb}, from, "p:own", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w2, WAIT_MS));
    own.min = 2;
    assert_true(tlp_run_until(&f->loop, counter_at_least, &own, WAIT_MS));
    assert_int_equal(0, p.ra->calls);
    assert_int_equal(0, status_num(p.a, "bus malformed"));

    bus_pair_close(f, &p);
}

static void test_bus_messages_without_a_nonce_and_foreign_nonces_are_delivered(void **state)
{
    fx_t *f = *state;
    bus_pair_t p;
    bus_pair_open(f, &p, true, NULL, false);

    const char *ch = "cameo:v1:invalidate";
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %s", ch, "p:old1\np:old2")); /* an older publisher */
    assert_int_equal(
        1, cmd_int(f->sync, "PUBLISH %s %s", ch, "@0123456789abcdef\np:new"));       /* another instance */
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %s", ch, "@0123456789abcdef")); /* no key */
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s %s", ch, "@xyz\np:meta"));      /* a bad '@' line */
    assert_int_equal(1, cmd_int(f->sync, "PUBLISH %s p:last", ch));
    heard_t w = {{p.ra}, 0, "p:last", NULL};
    assert_true(tlp_run_until(&f->loop, recs_heard, &w, WAIT_MS));

    assert_int_equal(5, p.ra->nkeys);
    assert_int_equal(4, p.ra->calls);
    assert_string_equal("p:old1", p.ra->keys[0]);
    assert_string_equal("p:old2", p.ra->keys[1]);
    assert_string_equal("p:new", p.ra->keys[2]);
    assert_string_equal("p:meta", p.ra->keys[3]);
    assert_string_equal("p:last", p.ra->keys[4]);
    assert_int_equal(2, status_num(p.a, "bus malformed"));
    assert_int_equal(0, status_num(p.a, "own events skipped"));
    assert_int_equal(5, status_num(p.a, "bus events"));

    bus_pair_close(f, &p);
}

/* Two loops turned alternately on this thread. */
typedef struct two {
    tlp_loop_t *l1, *l2;
} two_t;

static bool run_two_until(two_t *two, bool (*pred)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t end = tlp_clock_ms() + timeout_ms;
    while (!pred(arg)) {
        if (tlp_clock_ms() >= end)
            return false;
        tlp_run_once(two->l1, 0);
        tlp_run_once(two->l2, 5);
    }
    return true;
}

static void test_bus_detach_frees_it_silently_and_the_next_attach_takes_it(void **state)
{
    (void)state;
    tlp_loop_t l1, l2;
    assert_int_equal(0, tlp_init(&l1));
    assert_int_equal(0, tlp_init(&l2));
    two_t two = {&l1, &l2};
    rec_t *ra = rec_new();
    cameo_tier_t *a = bus_tier(NULL, ra, &l1); /* the first loop: the bus lives here */
    assert_int_equal(CAMEO_OK, a->ops->attach(a, &l2.super));
    assert_true(run_two_until(&two, tier_up, a, WAIT_MS));
    assert_int_equal(1, ra->up);

    /* In flight on l1 as it detaches: answered once, at detach. */
    const char *k = "p:gone";
    done_t d = {0};
    remove_keys(a, &l1, &k, 1, &d);
    a->ops->detach(a, &l1.super);
    assert_int_equal(1, d.calls);
    assert_int_equal(CAMEO_EUNAVAIL, d.err);
    assert_int_equal(0, l1.live_ios);
    assert_int_equal(0, l1.live_timers);
    assert_int_equal(0, ra->down); /* no reset from detach */
    char buf[512];
    assert_int_equal(CAMEO_EUNAVAIL, a->ops->status(a, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "connected 1/1; bus down"));
    tlp_run_for(&l2, 100);
    assert_int_equal(0, ra->down);
    assert_int_equal(0, ra->calls);

    /* The next attach takes the subscription over. */
    assert_int_equal(CAMEO_OK, a->ops->attach(a, &l1.super));
    recs_t again = {{ra}, 1, 2};
    assert_true(run_two_until(&two, recs_reset, &again, WAIT_MS));
    assert_true(run_two_until(&two, tier_up, a, WAIT_MS));
    done_t d2 = {0};
    k = "p:moved";
    remove_keys(a, &l2, &k, 1, &d2); /* published from l2, skipped as its own on l1 */
    assert_true(run_two_until(&two, done_called, &d2, WAIT_MS));
    at_least_t own = {a, "own events skipped", 1};
    assert_true(run_two_until(&two, counter_at_least, &own, WAIT_MS));
    /* Another publisher's message is heard on l1. */
    redisContext *sync = sync_connect(main_srv.port);
    assert_non_null(sync);
    assert_int_equal(1, cmd_int(sync, "PUBLISH cameo:v1:invalidate p:moved"));
    redisFree(sync);
    heard_t w = {{ra}, 0, "p:moved", NULL};
    assert_true(run_two_until(&two, recs_heard, &w, WAIT_MS));

    a->ops->detach(a, &l2.super);
    a->ops->detach(a, &l1.super);
    assert_int_equal(0, ra->down);
    a->ops->destroy(a);
    tlp_destroy(&l1);
    tlp_destroy(&l2);
    free(ra);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_servers);
    server_start(&main_srv, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kill_servers();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms_accepted_and_rejected_without_the_password),
        cmocka_unit_test_setup_teardown(test_round_trip_keeps_bytes_flags_and_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_expires_in_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mget_of_100_keys_is_one_round_trip_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_are_counted_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_async_deletes_and_calls_back_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_puts_too_large_or_past_stale_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_async_rejects_0_or_over_1000_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_commands_are_capped_with_ebusy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_in_time_is_etimedout_and_the_late_reply_is_ignored,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_stuck_server_is_dropped_and_reconnected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_fails_fast_then_reconnects_by_itself, setup,
                                        teardown),
        cmocka_unit_test(test_auth_with_password_and_acl_user_never_shows_the_password),
        cmocka_unit_test_setup_teardown(test_detach_fails_pending_once_and_nothing_runs_after, setup,
                                        teardown),
        cmocka_unit_test(test_detach_while_reconnecting_releases_everything),
        cmocka_unit_test_setup_teardown(test_expiry_jitter_spreads_equal_ttls_within_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_remove_is_del_and_publish_heard_by_every_instance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_of_another_prefix_hears_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_redis_restart_is_reset_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_frozen_server_is_dead_by_ping_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_remove_in_flight_on_a_frozen_server_answers_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_malformed_messages_are_counted_and_good_keys_delivered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_set_bus_remove_publishes_nothing, setup, teardown),
        cmocka_unit_test(test_bus_detach_frees_it_silently_and_the_next_attach_takes_it),
        cmocka_unit_test_setup_teardown(test_refused_delete_is_retried_once_redis_is_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirmed_delete_is_repeated_after_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_own_events_are_skipped_by_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_messages_without_a_nonce_and_foreign_nonces_are_delivered,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
