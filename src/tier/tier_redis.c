/*
 * tier_redis.c - the Redis tier (L2), shared by every cameo instance: the
 * remote half of the tier method table (tier.h) over hiredis 0.14's async
 * API, one pipelined connection per worker loop.
 *
 * Called by the engine only: attach/detach and the *_async operations on the
 * thread of the loop they name; stats/status from any thread. Owns its
 * hiredis contexts, their timers and watches; does not own the loops, and
 * does not own the entries it is given (it copies them out) or the keys.
 *
 * The adapter: hiredis 0.14 has none for cameo_loop_t, so the connection
 * registers its own event hooks: addRead/delRead/addWrite/delWrite become
 * io_set on a watch of hiredis's fd, cleanup becomes io_close (the watch goes
 * before hiredis closes its fd, as loop.h requires). Every way a context ends
 * (connect failure, I/O error, redisAsyncFree) goes through cleanup, so that
 * hook alone moves the connection to "disconnected" and arms the reconnect.
 *
 * Timeouts: hiredis 0.14 async has none. Each connection keeps its sent
 * commands in a FIFO (Redis answers in order); each has a deadline (loop now
 * + timeout_ms). One loop timer is armed for the earliest of: the first
 * deadline not yet passed, and the oldest command's "stuck" limit (10 x
 * timeout_ms). A deadline that passes completes its command with
 * CAMEO_ETIMEDOUT; the reply, when it comes, is dropped. A stuck head of line
 * (or a connect + AUTH + SELECT not done within the same limit) drops the
 * connection; what is still pending fails with CAMEO_ETIMEDOUT.
 *
 * Stored values: PREFIX "v1:" KEY -> a header, the key and the payload, all
 * integers little-endian, encoded byte by byte:
 *
 *   0   magic "CMR1"           4 bytes
 *   4   flags                  u32 (cameo_entry_t.flags, verbatim)
 *   8   expires_wall_ms        u64 (ms since the epoch)
 *   16  stale_until_wall_ms    u64
 *   24  key_len                u32
 *   28  key                    key_len bytes (the cache key, without prefix)
 *   K   payload_len            u32            (K = 28 + key_len)
 *   K+4 checksum               u64
 *   K+12 payload               payload_len bytes (e->data verbatim)
 *
 * checksum = XXH3_64bits_withSeed(payload, payload_len, XXH3_64bits(value[0,
 * K+4))): every byte but the checksum's own, without copying the two ranges
 * together. A value that is short, long, has another magic or checksum, or
 * names another key (a value copied under a different key) is a miss,
 * counted as corrupt; it is never served. A format change bumps "v1:" and
 * "CMR1" together, so old values are simply never read.
 *
 * Clocks: entries carry expiry in the caller's monotonic ms; Redis holds wall
 * ms, so several instances (and restarts) agree. The conversions read
 * cameo_wall_ms() once per call, next to the caller's `now`: this tier is
 * where the two clocks meet, so it reads the wall clock itself.
 *
 * Limits: at most CAMEO_REDIS_MAX_KEYS keys per call, CAMEO_LOOPMAP_MAX
 * loops, REDIS_MAX_PENDING unanswered commands per connection (then
 * CAMEO_EBUSY, counted as busy), values of max_value payload bytes (larger
 * ones are neither stored nor accepted on read; hiredis still reads a
 * foreign oversized value whole before it is refused), Redis expiries of at
 * most REDIS_MAX_TTL_MS.
 *
 * Counters: hits and misses are per key of answered lookups (a corrupt or
 * past-stale value is a miss); errors per command that failed, including
 * those refused while disconnected or busy and puts dropped; timeouts per
 * command whose deadline passed. corrupt, puts dropped/skipped, busy and
 * reconnects are in the status detail (tier.h's stats have no field), and
 * so are the bus's: up or down, events (messages received, this instance's
 * own included), resets (calls of reset()), malformed messages, unsent
 * keys and change events, and own events skipped. A removal's DEL and
 * PUBLISH count as one command in errors and timeouts; the tier's own
 * background deletes (below) count in neither.
 *
 * The bus (when set_bus was called): remove_async pipelines DEL and
 * PUBLISH PREFIX "v1:invalidate" PAYLOAD on the loop's connection, PAYLOAD
 * being a first line "@" NONCE (16 lowercase hex digits: this tier
 * instance's random 64-bit id, from getrandom at create), then the keys
 * (without the prefix), each line '\n'-separated (the tier's own repeats,
 * below, go without the nonce line); a key that cannot be
 * carried (empty, over BUS_KEY_MAX bytes, or holding a '\n') is deleted but
 * not published, counted as unsent. The callback runs once: with DEL's
 * error (or the connection's, or CAMEO_ETIMEDOUT) as soon as DEL fails,
 * else when PUBLISH has answered (CAMEO_EIO if PUBLISH was refused: the
 * removal happened but nobody was told). Without set_bus, remove_async is a
 * lone DEL, as before.
 *
 * Change events (publish_event, with a bus): PUBLISH on the same channel
 * and connection of "@" NONCE "\n!" DATA, with no callback; one that cannot
 * go out (not ready, busy, no memory, data empty or over BUS_EVENT_MAX
 * bytes) is dropped and counted as unsent.
 *
 * Late fills: a fill that started before a write may still SET after the
 * write's DEL (its SET sat in a hung connection's buffer, or went out on
 * another worker's connection and landed second), and Redis would then
 * hold the older value for its whole TTL. The second DEL after the window
 * and retrying unconfirmed DELs bound how long Redis can hold the older
 * value: to the window, or until Redis is reachable again.
 *
 *   - Deletes that are not confirmed are retried. The keys of a removal
 *     refused at once (not connected, busy: remove_async still returns the
 *     error, after queueing them) or whose DEL failed or timed out (the
 *     callback still says so) go to a set shared by the tier's loops
 *     (RETRY_MAX_KEYS keys, mutex-guarded; keys beyond are counted as
 *     lost). The first data connection that is (re)connected and idle
 *     enough (at most half its pending cap in use) takes up to 1000 of
 *     them and sends DEL (+ PUBLISH with a bus), one such batch in flight
 *     per connection; a confirmed batch leaves the set, a failed one goes
 *     back. A connection flushes at once when it becomes ready (before
 *     anything else it sends), and otherwise looks RETRY_DELAY_MS after a
 *     reply while keys wait.
 *   - A second delete after the window. Every confirmed DEL (the caller's,
 *     or a retried one) schedules the same keys to be deleted (and
 *     published, with a bus) once more, on the same loop, second_ms = 2 x
 *     the stuck window = 20 x timeout_ms later (1 s by default): a fill SET
 *     in flight when the first DEL ran has, by then, been executed, or its
 *     connection was stuck and dropped (Redis paused: the second DEL then
 *     cannot go out either, waits in the retry set, and reaches Redis on a
 *     new connection, after what Redis had buffered). Due keys go out together in DELs of at most 1000
 *     keys, with no callback; a failure sends them to the retry set. At
 *     most SECOND_MAX_KEYS keys wait per connection (more are counted as
 *     lost); a detaching connection hands its waiting ones to the retry
 *     set.
 *
 * The PUBLISH of a retry or a second delete carries no nonce line: every
 * instance applies it, the publisher included -- its memory too may have
 * been filled with the older value meanwhile (from Redis, through another
 * loop's connection, between its own invalidation and the DEL), and only
 * the immediate echo of a caller's removal is worth skipping.
 *
 * Both show in the status detail: deletes retried (keys whose retried DEL
 * was confirmed), pending (in the retry set or in flight from it), second
 * deletes (keys sent a second time) and deletes lost (not retried or not
 * repeated because a cap was hit).
 *
 * The subscription: one per tier, a connection of its own on the first loop
 * to attach (the "bus loop"): connect, AUTH, SELECT like the others, then
 * SUBSCRIBE. Its confirmation calls reset(1) -- every time, the first
 * included: events may have been missed -- and each message calls
 * invalidated() with the payload's keys, which point into the reply (valid
 * during the call only). A message whose first line is "@" and this
 * instance's own nonce is skipped whole (counted as an own event skipped):
 * the writer dropped its copy before publishing, and invalidating again
 * could cancel a fill that started right after the write. Otherwise a
 * first line starting with '@' is metadata (keys start with "p:" or "b:"),
 * never delivered: "@" and 16 hex digits is another instance's nonce, any
 * other '@' line makes the message malformed. After it, a second line
 * starting with '!' makes the message a change event: the bytes after the
 * '!' go to event() whole. Messages without an '@' line (older publishers)
 * are all keys, as before. The rest is parsed leniently: every
 * line of 1 to BUS_KEY_MAX bytes is a key and is delivered (in calls of at
 * most 1000 keys); a message that is empty, has no key, has an empty or
 * overlong line, or more than 1000 keys counts once as malformed (its good
 * keys still go out: an extra invalidation is harmless, a lost one is
 * not). Pub/sub ignores the db number: instances on other dbs with the
 * same prefix hear each other (harmless extra invalidations).
 *
 * Dead servers: the subscription is idle by design, so no command deadlines
 * apply; instead a PING goes out every BUS_PING_MS (Redis >= 2.8 answers
 * ["pong", ""] in subscribed mode) and a connection on which no byte has
 * arrived for BUS_DEAD_MS is dropped. hiredis 0.14 has no callback slot for
 * a PING in subscribed mode (it would queue one on sub.invalid and never
 * release it), so the PING is appended raw to the context's output buffer
 * and liveness is "bytes readable on the socket" (FIONREAD), not a parsed
 * pong; a pong that hiredis hands to the subscription callback is ignored.
 * When the subscription is lost, reset(0) is called once (only if reset(1)
 * had been), then it reconnects with the data connections' backoff.
 *
 * Detach of the bus loop frees the subscription without calling reset (nor
 * anything else) -- detach and destroy are shutdown paths, where the
 * engine's handler may be half torn down; the engine owns knowing that the
 * bus stops with its last loop. The next loop to attach takes the
 * subscription over (the daemon attaches every worker at start and detaches
 * them all at shutdown, so in practice the bus lives on the first worker for
 * the process's life). Until then status() says the bus is down.
 *
 * Not supported: TLS (hiredis 0.14 in Debian 12 has none), unix sockets,
 * Sentinel and Cluster. Host names are resolved by hiredis with a blocking
 * getaddrinfo() on the loop's thread at each (re)connect: use an address, or
 * a name /etc/hosts answers.
 */
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <xxhash.h>

#include "cameo/log.h"
#include "cameo/metrics.h"
#include "cameo/tier.h"
#include "core/core_loopmap.h"
#include "core/core_rand.h"

#define CAMEO_REDIS_MAX_KEYS 1000 /* per get_async / remove_async (tier.h) */
#define REDIS_MAX_PREFIX 256
#define REDIS_MAX_PENDING 4096       /* unanswered commands per connection; then CAMEO_EBUSY */
#define REDIS_MAX_VALUE (512u << 20) /* Redis's own limit on a string */
#define REDIS_MAX_TTL_MS (365ull * 24 * 3600 * 1000) /* longer lives are cut to a year */
#define REDIS_BACKOFF_MIN_MS 50
#define REDIS_BACKOFF_MAX_MS 2000
#define REDIS_STUCK_FACTOR 10    /* x timeout_ms: drop a connection whose oldest command waits longer */
#define BUS_CHANNEL "invalidate" /* after PREFIX "v1:" */
#define BUS_KEY_MAX 256          /* longest key a bus message carries */
#define BUS_PING_MS 1000         /* the subscription's keepalive */
#define BUS_DEAD_MS 3000         /* nothing received for this long: the subscription is dead */
#define BUS_NONCE_LINE 17        /* "@" and 16 hex digits: a bus message's first line */
#define BUS_EVENT_MAX 512        /* publish_event's data (tier.h) */
#define RETRY_MAX_KEYS 65536     /* unconfirmed deletes kept for retry, per tier */
#define RETRY_BUCKETS 16384      /* the retry set's hash table (a power of two) */
#define RETRY_DELAY_MS 50        /* a connection with keys to retry looks again this soon */
#define SECOND_FACTOR 2          /* x stuck_ms: when a confirmed delete is repeated */
#define SECOND_MAX_KEYS 65536    /* second deletes waiting, per connection */

#define VALUE_MAGIC "CMR1"
#define VALUE_FIXED 28    /* magic .. key_len */
#define VALUE_OVERHEAD 40 /* every header byte: fixed part, payload_len, checksum */
#define KEY_VERSION "v1:"

typedef struct redis_tier redis_tier_t;
typedef struct conn conn_t;

/* ---- little-endian encoding ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t value_checksum(const unsigned char *v, size_t key_len, const unsigned char *payload,
                               size_t payload_len)
{
    uint64_t head = XXH3_64bits(v, VALUE_FIXED + key_len + 4);
    return XXH3_64bits_withSeed(payload, payload_len, head);
}

/* t on the clock whose current reading is from_now, moved to the clock that
 * reads to_now; saturating at 0 and UINT64_MAX (which stays "never"). */
static uint64_t clock_move(uint64_t t, uint64_t from_now, uint64_t to_now)
{
    if (t == UINT64_MAX)
        return UINT64_MAX;
    if (t >= from_now) {
        uint64_t d = t - from_now;
        return d > UINT64_MAX - 1 - to_now ? UINT64_MAX - 1 : to_now + d;
    }
    uint64_t d = from_now - t;
    return d > to_now ? 0 : to_now - d;
}

/* A decoded value; payload points into the Redis reply. */
typedef struct value {
    uint32_t flags;
    uint64_t expires_wall, stale_wall;
    const unsigned char *payload;
    size_t payload_len;
} value_t;

/* Checks v as the stored value of key (without prefix). CAMEO_OK and *out,
 * or CAMEO_ECORRUPT. */
static int value_decode(const unsigned char *v, size_t len, const char *key, size_t key_len, size_t max_value,
                        value_t *out)
{
    if (len < VALUE_OVERHEAD || memcmp(v, VALUE_MAGIC, 4) != 0)
        return CAMEO_ECORRUPT;
    uint32_t stored_key_len = get_u32(v + 24);
    if (stored_key_len != key_len || len - VALUE_OVERHEAD < key_len ||
        memcmp(v + VALUE_FIXED, key, key_len) != 0)
        return CAMEO_ECORRUPT;
    const unsigned char *p = v + VALUE_FIXED + key_len;
    uint32_t payload_len = get_u32(p);
    if (payload_len > max_value || len - VALUE_OVERHEAD - key_len != payload_len)
        return CAMEO_ECORRUPT;
    if (get_u64(p + 4) != value_checksum(v, key_len, p + 12, payload_len))
        return CAMEO_ECORRUPT;
    out->flags = get_u32(v + 4);
    out->expires_wall = get_u64(v + 8);
    out->stale_wall = get_u64(v + 16);
    out->payload = p + 12;
    out->payload_len = payload_len;
    return CAMEO_OK;
}

/* Encodes e into buf (VALUE_OVERHEAD + key_len + size bytes). */
static void value_encode(unsigned char *buf, const cameo_entry_t *e, uint64_t now, uint64_t wall)
{
    memcpy(buf, VALUE_MAGIC, 4);
    put_u32(buf + 4, e->flags);
    put_u64(buf + 8, clock_move(e->expires_at, now, wall));
    put_u64(buf + 16, clock_move(e->stale_until, now, wall));
    put_u32(buf + 24, e->key_len);
    memcpy(buf + VALUE_FIXED, e->key, e->key_len);
    unsigned char *p = buf + VALUE_FIXED + e->key_len;
    put_u32(p, (uint32_t)e->size);
    if (e->size > 0)
        memcpy(p + 12, e->data, e->size);
    put_u64(p + 4, value_checksum(buf, e->key_len, p + 12, e->size));
}

/* ---- the tier and its connections ---- */

enum conn_state {
    CONN_DOWN,       /* no context; the retry timer is armed (or the loop is detaching) */
    CONN_CONNECTING, /* a context, AUTH/SELECT not answered yet: commands are refused */
    CONN_READY,      /* commands go out */
    CONN_CLOSING,    /* being dropped (redisAsyncFree deferred inside a hiredis callback) */
};

enum op_kind { OP_AUTH, OP_SELECT, OP_GET, OP_SET, OP_DEL, OP_PUB };

/* What status() says when Redis refuses a command of each kind. */
static const char *const op_failed[] = {
    [OP_AUTH] = "auth failed", [OP_SELECT] = "SELECT failed", [OP_GET] = "MGET failed",
    [OP_SET] = "SET failed",   [OP_DEL] = "DEL failed",       [OP_PUB] = "PUBLISH failed",
};

/* Who sent a DEL (and its PUBLISH): the caller, or the tier itself. */
enum op_origin {
    ORIGIN_USER,   /* remove_async, and every other command */
    ORIGIN_RETRY,  /* a batch from the retry set */
    ORIGIN_SECOND, /* the second delete after the window */
};

/* A key waiting in the retry set: in a hash chain and in the FIFO. */
typedef struct rkey {
    struct rkey *hnext, *next;
    uint64_t h;
    size_t len;
    char key[];
} rkey_t;

/* Keys of a confirmed DEL waiting for their second delete (at due). */
typedef struct sdel {
    struct sdel *next;
    uint64_t due; /* loop ms */
    size_t n;
    cameo_key_t keys[]; /* then their bytes */
} sdel_t;

/* A command sent on a connection. hiredis calls op_on_reply exactly once for
 * each (with the reply, or NULL when the context goes away), which frees it. */
typedef struct op {
    struct op *next; /* conn's FIFO, in reply order */
    conn_t *conn;
    uint64_t sent, deadline; /* loop ms */
    uint64_t sent_us;        /* monotonic us, for the latency histogram */
    unsigned char kind;
    unsigned char origin; /* enum op_origin */
    bool expired;         /* its caller got CAMEO_ETIMEDOUT already: the reply is dropped */
    cameo_tier_got_cb got;
    cameo_tier_done_cb done;
    void *arg;
    uint64_t now, wall;      /* OP_GET: the caller's clock and the wall clock when asked */
    size_t n;                /* OP_GET, OP_DEL: keys */
    struct op *pub;          /* OP_DEL: its PUBLISH (later in the FIFO), which answers for it */
    cameo_entry_t **entries; /* OP_GET: n slots, filled from the reply */
    const char **argv;       /* OP_GET, OP_DEL: the command and the prefixed keys, in this op */
    size_t *argvlen;
} op_t;

/* One loop's connection. Loop thread only, every field. */
struct conn {
    redis_tier_t *tier;
    cameo_loop_t *loop;
    unsigned slot;
    enum conn_state state;
    redisAsyncContext *ac; /* NULL while down */
    cameo_io_t *io;        /* the adapter's watch of ac's fd */
    int io_events;
    int fail_err;              /* what commands still pending fail with when the context goes */
    op_t *head, *tail;         /* sent, unanswered */
    size_t pending;            /* ops in head..tail, at most REDIS_MAX_PENDING */
    op_t *cursor;              /* the first not yet expired (head..cursor are expired) */
    cameo_timer_t *deadline_t; /* for the FIFO */
    cameo_timer_t *retry_t;    /* reconnect */
    uint64_t deadline_at;      /* when deadline_t fires; 0: disarmed */
    uint64_t backoff_ms;
    uint64_t rng;   /* core_rand.h state: jitter */
    unsigned in_cb; /* depth of callers' callbacks running (detach is refused inside) */
    bool detaching;
    bool was_ready;            /* this context reached READY (for the disconnect log line) */
    bool bus;                  /* the subscription, not a data connection */
    cameo_timer_t *ping_t;     /* bus: keepalive and dead-server check */
    uint64_t last_rx;          /* bus: loop ms when bytes were last seen arriving */
    cameo_timer_t *dels_t;     /* data: second deletes due, and a look at the retry set */
    uint64_t dels_at;          /* when dels_t fires; 0: disarmed */
    sdel_t *sd_head, *sd_tail; /* second deletes waiting, in due order */
    size_t sd_keys;            /* keys in sd_head..sd_tail */
    unsigned retry_ops;        /* retry batches in flight (at most one) */
    char why[128];             /* why the current context is being dropped, for the log */
};

struct redis_tier {
    cameo_tier_t super;
    cameo_hist_t latency; /* round trips of lookups and removals (metrics.h; atomics) */

    /* Immutable after create. */
    char *host;
    int port;
    int db;
    char *user, *pass; /* decoded; NULL when absent. Never logged or shown */
    size_t user_len, pass_len;
    char *prefix; /* PREFIX "v1:" */
    size_t prefix_len;
    uint64_t timeout_ms, stuck_ms, second_ms;
    unsigned jitter_pct;
    size_t max_value;
    char where[300]; /* "host:port/db": for logs and status */
    char *channel;   /* PREFIX "v1:" BUS_CHANNEL */
    size_t channel_len;
    uint64_t nonce;                      /* this instance on the bus */
    char nonce_line[BUS_NONCE_LINE + 1]; /* "@" and nonce in hex */

    /* The bus: set before any attach, then read only. */
    bool bus_set;
    cameo_bus_handler_t bus;

    /* Each attached loop's conn (core_loopmap.h): only that loop's thread
     * touches it. lock guards last_error and bus_conn's claim; no other
     * lock is taken while it is held. */
    cameo_loopmap_t loops;
    pthread_mutex_t lock;
    char last_error[160]; /* lock */
    conn_t *bus_conn;     /* lock to claim or release; then its loop's thread only */

    /* Counters: relaxed atomics. */
    atomic_uint attached, connected;
    atomic_uint_fast64_t hits, misses, errors, timeouts, corrupt, puts_dropped, puts_skipped, reconnects,
        busy;
    atomic_uint bus_up;
    atomic_uint_fast64_t bus_events, bus_resets, bus_malformed, bus_unsent, bus_own;

    /* The retry set: keys whose DEL is not confirmed. retry_lock guards the
     * table and the FIFO; no other lock is taken while it is held. */
    pthread_mutex_t retry_lock;
    rkey_t **retry_tab; /* RETRY_BUCKETS chains */
    rkey_t *retry_head, *retry_tail;
    atomic_uint_fast64_t retry_n;        /* keys in the set (written under retry_lock) */
    atomic_uint_fast64_t retry_inflight; /* keys taken out, their DEL not answered yet */
    atomic_uint_fast64_t dels_retried, dels_second, dels_lost;
};

#define COUNT(t, field) atomic_fetch_add_explicit(&(t)->field, 1, memory_order_relaxed)
#define ADD(t, field, v) atomic_fetch_add_explicit(&(t)->field, (v), memory_order_relaxed)
#define LOAD(t, field) atomic_load_explicit(&(t)->field, memory_order_relaxed)

/* Records why Redis is unusable, for status(). msg never holds the password:
 * callers pass hiredis's or Redis's own words, and a copy that would
 * contain the password is replaced. */
static void note_error(redis_tier_t *t, const char *what, const char *msg)
{
    char buf[sizeof(t->last_error)];
    snprintf(buf, sizeof(buf), "%s%s%s", what, msg != NULL ? ": " : "", msg != NULL ? msg : "");
    if (t->pass_len > 0 && memmem(buf, strlen(buf), t->pass, t->pass_len) != NULL)
        snprintf(buf, sizeof(buf), "%s: (message withheld: it quoted the password)", what);
    pthread_mutex_lock(&t->lock);
    memcpy(t->last_error, buf, sizeof(buf));
    pthread_mutex_unlock(&t->lock);
}

/* The same check for a log field: returns msg, or a placeholder. */
static const char *loggable(redis_tier_t *t, const char *msg)
{
    if (t->pass_len > 0 && memmem(msg, strlen(msg), t->pass, t->pass_len) != NULL)
        return "(withheld)";
    return msg;
}

static conn_t *conn_of(redis_tier_t *t, cameo_loop_t *loop)
{
    return cameo__loopmap_get(&t->loops, loop);
}

/* ---- the retry set: keys whose DEL is not confirmed (any thread) ---- */

/* Where key is, or would go, in its hash chain. retry_lock held. */
static rkey_t **retry_slot(redis_tier_t *t, uint64_t h, const char *key, size_t len)
{
    rkey_t **pp = &t->retry_tab[h & (RETRY_BUCKETS - 1)];
    while (*pp != NULL && !((*pp)->h == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0))
        pp = &(*pp)->hnext;
    return pp;
}

/* Queues keys[0..n) for another DEL, each once; those beyond
 * RETRY_MAX_KEYS (or without memory) are counted as lost. */
static void retry_add(redis_tier_t *t, const cameo_key_t *keys, size_t n)
{
    uint64_t lost = 0;
    pthread_mutex_lock(&t->retry_lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = XXH3_64bits(keys[i].p, keys[i].len);
        rkey_t **pp = retry_slot(t, h, keys[i].p, keys[i].len);
        if (*pp != NULL)
            continue;
        rkey_t *k = LOAD(t, retry_n) < RETRY_MAX_KEYS ? malloc(sizeof(*k) + keys[i].len) : NULL;
        if (k == NULL) {
            lost++;
            continue;
        }
        k->hnext = NULL;
        k->next = NULL;
        k->h = h;
        k->len = keys[i].len;
        if (keys[i].len > 0)
            memcpy(k->key, keys[i].p, keys[i].len);
        *pp = k;
        if (t->retry_tail != NULL)
            t->retry_tail->next = k;
        else
            t->retry_head = k;
        t->retry_tail = k;
        ADD(t, retry_n, 1);
    }
    pthread_mutex_unlock(&t->retry_lock);
    if (lost > 0)
        ADD(t, dels_lost, lost);
}

/* Takes up to max keys out of the set, oldest first, into out (the
 * caller's to free); they count as in flight. */
static size_t retry_take(redis_tier_t *t, rkey_t **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&t->retry_lock);
    while (n < max && t->retry_head != NULL) {
        rkey_t *k = t->retry_head;
        t->retry_head = k->next;
        if (t->retry_head == NULL)
            t->retry_tail = NULL;
        rkey_t **pp = retry_slot(t, k->h, k->key, k->len);
        assert(*pp == k);
        *pp = k->hnext;
        out[n++] = k;
    }
    atomic_fetch_sub_explicit(&t->retry_n, n, memory_order_relaxed);
    ADD(t, retry_inflight, n);
    pthread_mutex_unlock(&t->retry_lock);
    return n;
}

/* ---- the adapter: hiredis event hooks over cameo_loop_t ---- */

static void ev_set(conn_t *c, int events)
{
    if (c->io != NULL && events != c->io_events) {
        c->io_events = events;
        c->loop->io_set(c->io, events);
    }
}

static void ev_add_read(void *p)
{
    conn_t *c = p;
    ev_set(c, c->io_events | CAMEO_IO_READ);
}

static void ev_del_read(void *p)
{
    conn_t *c = p;
    ev_set(c, c->io_events & ~CAMEO_IO_READ);
}

static void ev_add_write(void *p)
{
    conn_t *c = p;
    ev_set(c, c->io_events | CAMEO_IO_WRITE);
}

static void ev_del_write(void *p)
{
    conn_t *c = p;
    ev_set(c, c->io_events & ~CAMEO_IO_WRITE);
}

static void conn_gone(conn_t *c);

/* hiredis is freeing the context (after failing its pending callbacks, before
 * closing the fd). */
static void ev_cleanup(void *p)
{
    conn_t *c = p;
    if (c->io != NULL) {
        c->loop->io_close(c->io);
        c->io = NULL;
    }
    c->io_events = 0;
    conn_gone(c);
}

/* bus: whether bytes wait on the socket (the server is alive, whatever
 * they are). */
static bool bus_has_input(conn_t *c)
{
    int n = 0;
    return c->ac != NULL && ioctl(c->ac->c.fd, FIONREAD, &n) == 0 && n > 0;
}

static void conn_on_io(void *arg, int events)
{
    conn_t *c = arg;
    redisAsyncContext *ac = c->ac;
    assert(ac != NULL); /* the watch closes with the context */
    if ((events & CAMEO_IO_READ) && c->bus && bus_has_input(c))
        c->last_rx = c->loop->now_ms(c->loop);
    if (events & CAMEO_IO_READ)
        redisAsyncHandleRead(ac);
    /* The read may have freed the context (c->ac is NULL then: reconnects
     * only ever start from the retry timer). */
    if ((events & CAMEO_IO_WRITE) && c->ac == ac)
        redisAsyncHandleWrite(ac);
}

/* ---- deadlines ---- */

static void conn_arm(conn_t *c)
{
    if (c->detaching)
        return;
    uint64_t next = UINT64_MAX;
    if (c->head != NULL)
        next = c->head->sent + c->tier->stuck_ms;
    if (c->cursor != NULL && c->cursor->deadline < next)
        next = c->cursor->deadline;
    if (next == UINT64_MAX)
        return; /* an armed timer fires for nothing and is not re-armed */
    if (c->deadline_at != 0 && c->deadline_at <= next)
        return; /* fires early enough: it re-arms then */
    uint64_t now = c->loop->now_ms(c->loop);
    c->deadline_at = next;
    c->loop->timer_arm(c->deadline_t, next > now ? next - now : 0);
}

/* Whether op counts in errors and timeouts: the caller's commands, a
 * removal's DEL and PUBLISH once (the PUBLISH only once it answers for its
 * DEL), neither AUTH and SELECT nor the tier's own deletes. */
static bool op_counted(const op_t *op)
{
    return op->kind >= OP_GET && op->origin == ORIGIN_USER && (op->kind != OP_PUB || op->done != NULL);
}

static void op_fail(op_t *op, int err);
static void conn_drop(conn_t *c, int fail_err, const char *why);
static void del_settled(op_t *op, bool ok);
static void dels_arm(conn_t *c, uint64_t at);

static void conn_on_deadline(void *arg)
{
    conn_t *c = arg;
    redis_tier_t *t = c->tier;
    uint64_t now = c->loop->now_ms(c->loop);
    c->deadline_at = 0;
    if (c->head != NULL && now >= c->head->sent + t->stuck_ms) {
        char why[96];
        bool hello = c->head->kind == OP_AUTH || c->head->kind == OP_SELECT;
        snprintf(why, sizeof(why), "%s in %" PRIu64 " ms",
                 hello ? "connect, AUTH and SELECT not done" : "no reply", t->stuck_ms);
        conn_drop(c, CAMEO_ETIMEDOUT, why);
        return;
    }
    while (c->cursor != NULL && c->cursor->deadline <= now) {
        op_t *op = c->cursor;
        c->cursor = op->next;
        op->expired = true;
        if (op_counted(op))
            COUNT(t, timeouts);
        op_fail(op, CAMEO_ETIMEDOUT);
    }
    conn_arm(c);
}

/* ---- commands ---- */

/* A removal's answer: op's done callback, when it has one, with err. */
static void op_done(op_t *op, int err)
{
    conn_t *c = op->conn;
    if (op->done == NULL)
        return;
    c->in_cb++;
    op->done(op->arg, err);
    c->in_cb--;
}

/* Completes op without a reply: the caller's callback (if any) with err. A
 * removal's PUBLISH has the callback only once its DEL has succeeded; a
 * failing DEL answers itself, and its PUBLISH then has nothing to say. A
 * DEL's keys go to the retry set first. */
static void op_fail(op_t *op, int err)
{
    conn_t *c = op->conn;
    if (op->kind == OP_DEL)
        del_settled(op, false);
    if (op->kind == OP_GET) {
        memset(op->entries, 0, op->n * sizeof(*op->entries));
        c->in_cb++;
        op->got(op->arg, err, op->entries, op->n);
        c->in_cb--;
    } else {
        op_done(op, err);
    }
}

static void op_got(op_t *op, redisReply *r)
{
    conn_t *c = op->conn;
    redis_tier_t *t = c->tier;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != op->n) {
        COUNT(t, errors);
        if (r->type == REDIS_REPLY_ERROR)
            note_error(t, op_failed[OP_GET], r->str);
        op_fail(op, CAMEO_EIO);
        return;
    }
    for (size_t i = 0; i < op->n; i++) {
        redisReply *el = r->element[i];
        const char *key = op->argv[i + 1] + t->prefix_len;
        size_t key_len = op->argvlen[i + 1] - t->prefix_len;
        value_t v;
        op->entries[i] = NULL;
        if (el->type != REDIS_REPLY_STRING) {
            COUNT(t, misses);
            continue;
        }
        if (value_decode((const unsigned char *)el->str, el->len, key, key_len, t->max_value, &v) !=
            CAMEO_OK) {
            COUNT(t, corrupt);
            COUNT(t, misses);
            continue;
        }
        uint64_t stale_until = clock_move(v.stale_wall, op->wall, op->now);
        cameo_entry_t *e = stale_until > op->now ? cameo_entry_alloc(key, key_len, v.payload_len) : NULL;
        if (e == NULL) {
            COUNT(t, misses);
            continue;
        }
        if (v.payload_len > 0)
            memcpy(e->data, v.payload, v.payload_len);
        e->flags = v.flags;
        e->expires_at = clock_move(v.expires_wall, op->wall, op->now);
        e->stale_until = stale_until;
        op->entries[i] = e;
        COUNT(t, hits);
    }
    c->in_cb++;
    op->got(op->arg, CAMEO_OK, op->entries, op->n);
    c->in_cb--;
    for (size_t i = 0; i < op->n; i++)
        cameo_entry_unref(op->entries[i]);
}

static void conn_ready(conn_t *c);
static void bus_subscribe(conn_t *c);

static void op_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    op_t *op = privdata;
    conn_t *c = op->conn;
    redis_tier_t *t = c->tier;
    redisReply *r = reply;

    /* Replies, and the NULLs of a context going away, come in send order. */
    assert(c->head == op);
    c->pending--;
    c->head = op->next;
    if (c->head == NULL)
        c->tail = NULL;
    if (c->cursor == op)
        c->cursor = op->next;

    if (r != NULL && !op->expired && op->origin == ORIGIN_USER && (op->kind == OP_GET || op->kind == OP_DEL))
        cameo_hist_observe(&t->latency, cameo_now_us() - op->sent_us);
    if (op->expired) {
        /* Its caller heard CAMEO_ETIMEDOUT already. */
    } else if (r == NULL) {
        if (op_counted(op))
            COUNT(t, errors);
        op_fail(op, c->fail_err);
    } else {
        switch (op->kind) {
        case OP_AUTH:
        case OP_SELECT:
            if (r->type == REDIS_REPLY_ERROR) {
                const char *what = op_failed[op->kind];
                note_error(t, what, r->str);
                if (c->backoff_ms == REDIS_BACKOFF_MIN_MS) /* once an outage, not once a retry */
                    cameo_log(CAMEO_LOG_WARN,
                              op->kind == OP_AUTH ? "redis_auth_failed" : "redis_select_failed",
                              "redis=%s reply=\"%s\"", t->where, loggable(t, r->str));
                conn_drop(c, CAMEO_EUNAVAIL, what);
            } else if (op->kind == OP_SELECT && c->state == CONN_CONNECTING) {
                if (c->bus)
                    bus_subscribe(c);
                else
                    conn_ready(c);
            }
            break;
        case OP_GET:
            op_got(op, r);
            break;
        case OP_SET:
        case OP_DEL:
        case OP_PUB:
            if (r->type == REDIS_REPLY_ERROR) {
                if (op_counted(op))
                    COUNT(t, errors);
                note_error(t, op_failed[op->kind], r->str);
            }
            if (op->kind == OP_DEL)
                del_settled(op, r->type == REDIS_REPLY_INTEGER);
            if (op->kind == OP_DEL && r->type == REDIS_REPLY_INTEGER && op->pub != NULL) {
                /* Done; its PUBLISH, still in the FIFO, answers for both. */
                op->pub->done = op->done;
                op->pub->arg = op->arg;
            } else {
                op_done(op, r->type == REDIS_REPLY_INTEGER ? CAMEO_OK : CAMEO_EIO);
            }
            break;
        }
    }
    free(op);
    if (c->state != CONN_DOWN)
        conn_arm(c);
    /* Keys wait for a retry (perhaps queued by another loop): look soon. */
    if (c->state == CONN_READY && !c->bus && c->retry_ops == 0 && LOAD(t, retry_n) > 0)
        dels_arm(c, c->loop->now_ms(c->loop) + RETRY_DELAY_MS);
}

/* Sends argv as op. CAMEO_OK (op belongs to hiredis now), or CAMEO_EUNAVAIL
 * (op is still the caller's). */
static int conn_send(conn_t *c, op_t *op, int argc, const char **argv, const size_t *argvlen)
{
    uint64_t now = c->loop->now_ms(c->loop);
    op->conn = c;
    op->sent = now;
    op->sent_us = cameo_now_us();
    op->deadline = now + (op->kind <= OP_SELECT ? c->tier->stuck_ms : c->tier->timeout_ms);
    op->next = NULL;
    op->expired = false;
    if (redisAsyncCommandArgv(c->ac, op_on_reply, op, argc, argv, argvlen) != REDIS_OK)
        return CAMEO_EUNAVAIL;
    c->pending++;
    if (c->tail != NULL)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
    if (c->cursor == NULL)
        c->cursor = op;
    conn_arm(c);
    return CAMEO_OK;
}

/* Sends argv as a command nobody waits for but the tier (AUTH, SELECT, a
 * fill's SET, an event's PUBLISH): its op holds only its kind. CAMEO_OK,
 * CAMEO_ENOMEM or CAMEO_EUNAVAIL. */
static int op_send(conn_t *c, int kind, int argc, const char **argv, const size_t *argvlen)
{
    op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return CAMEO_ENOMEM;
    op->kind = (unsigned char)kind;
    int err = conn_send(c, op, argc, argv, argvlen);
    if (err != CAMEO_OK)
        free(op);
    return err;
}

/* An op for a command over keys: the command name, then PREFIX "v1:" key
 * for each key, all inside the op's allocation. NULL when out of memory. */
static op_t *op_keys(redis_tier_t *t, int kind, const char *cmd, const cameo_key_t *keys, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += t->prefix_len + keys[i].len;
    size_t entries = kind == OP_GET ? n : 0;
    op_t *op = calloc(1, sizeof(*op) + entries * sizeof(cameo_entry_t *) + (n + 1) * sizeof(char *) +
                             (n + 1) * sizeof(size_t) + bytes);
    if (op == NULL)
        return NULL;
    op->kind = (unsigned char)kind;
    op->n = n;
    op->entries = (cameo_entry_t **)(op + 1);
    op->argv = (const char **)(op->entries + entries);
    op->argvlen = (size_t *)(op->argv + n + 1);
    char *p = (char *)(op->argvlen + n + 1);
    op->argv[0] = cmd;
    op->argvlen[0] = strlen(cmd);
    for (size_t i = 0; i < n; i++) {
        op->argv[i + 1] = p;
        op->argvlen[i + 1] = t->prefix_len + keys[i].len;
        memcpy(p, t->prefix, t->prefix_len);
        memcpy(p + t->prefix_len, keys[i].p, keys[i].len);
        p += op->argvlen[i + 1];
    }
    return op;
}

/* ---- deletes: sending a removal, the retry set's flush, second deletes ---- */

/* Arms dels_t to fire at loop ms at (or earlier, if it already will). */
static void dels_arm(conn_t *c, uint64_t at)
{
    if (c->detaching || c->dels_t == NULL)
        return;
    if (c->dels_at != 0 && c->dels_at <= at)
        return;
    uint64_t now = c->loop->now_ms(c->loop);
    c->dels_at = at;
    c->loop->timer_arm(c->dels_t, at > now ? at - now : 0);
}

/* Queues keys for retry from c's loop; a ready c looks at the set soon. */
static void retry_add_on(conn_t *c, const cameo_key_t *keys, size_t n)
{
    retry_add(c->tier, keys, n);
    if (c->state == CONN_READY && !c->bus)
        dels_arm(c, c->loop->now_ms(c->loop) + RETRY_DELAY_MS);
}

/* The message of a removal into buf (room for the nonce line, and every key
 * with a '\n' each): the nonce line (when nonce), then the keys a message
 * can carry, '\n'-separated. Returns its length (0: no key could go);
 * *skipped: how many could not. */
static size_t bus_payload(redis_tier_t *t, bool nonce, const cameo_key_t *keys, size_t n, char *buf,
                          size_t *skipped)
{
    size_t len = 0;
    if (nonce) {
        memcpy(buf, t->nonce_line, BUS_NONCE_LINE);
        len = BUS_NONCE_LINE;
    }
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len == 0 || keys[i].len > BUS_KEY_MAX || memchr(keys[i].p, '\n', keys[i].len) != NULL) {
            (*skipped)++;
            continue;
        }
        if (len > 0)
            buf[len++] = '\n';
        memcpy(buf + len, keys[i].p, keys[i].len);
        len += keys[i].len;
    }
    return *skipped == n ? 0 : len;
}

/* DEL keys, and with a bus PUBLISH them, pipelined: one round trip. The
 * PUBLISH goes second, so whoever hears it and reads Redis again finds the
 * keys gone. origin ORIGIN_USER: cb answers (see the header), errors and
 * unsent keys are counted; else the tier's own, with no callback.
 * CAMEO_OK, or CAMEO_EUNAVAIL / CAMEO_EBUSY / CAMEO_ENOMEM and nothing
 * went out. */
static int removal_send(conn_t *c, const cameo_key_t *keys, size_t n, int origin, cameo_tier_done_cb cb,
                        void *arg)
{
    redis_tier_t *t = c->tier;
    if (c->state != CONN_READY)
        return CAMEO_EUNAVAIL;
    if (c->pending + (t->bus_set ? 2 : 1) > REDIS_MAX_PENDING)
        return CAMEO_EBUSY;
    bool user = origin == ORIGIN_USER;
    op_t *op = op_keys(t, OP_DEL, "DEL", keys, n);
    op_t *pub = NULL;
    char *payload = NULL;
    size_t payload_len = 0, skipped = 0;
    int err = CAMEO_ENOMEM;
    if (op == NULL)
        goto err;
    if (t->bus_set) {
        size_t bytes = BUS_NONCE_LINE;
        for (size_t i = 0; i < n; i++)
            bytes += keys[i].len + 1;
        payload = malloc(bytes);
        pub = calloc(1, sizeof(*pub));
        if (payload == NULL || pub == NULL)
            goto err;
        payload_len = bus_payload(t, user, keys, n, payload, &skipped);
    }
    if (skipped > 0 && user)
        ADD(t, bus_unsent, skipped);
    op->origin = (unsigned char)origin;
    op->done = cb;
    op->arg = arg;
    err = conn_send(c, op, (int)n + 1, op->argv, op->argvlen);
    if (err != CAMEO_OK)
        goto err;
    if (origin == ORIGIN_RETRY)
        c->retry_ops++;
    if (pub != NULL && payload_len > 0) {
        const char *argv[3] = {"PUBLISH", t->channel, payload};
        size_t argvlen[3] = {7, t->channel_len, payload_len};
        pub->kind = OP_PUB;
        pub->origin = (unsigned char)origin;
        if (conn_send(c, pub, 3, argv, argvlen) == CAMEO_OK) {
            if (user)
                op->pub = pub; /* no reply can come before this: same thread, no loop turn */
            pub = NULL;
        } else if (user) {
            /* Only out of memory, right after DEL went out: DEL answers alone. */
            ADD(t, bus_unsent, n - skipped);
        }
    }
    free(pub);
    free(payload); /* hiredis formatted its own copy */
    return CAMEO_OK;

err:
    free(op);
    free(pub);
    free(payload);
    return err;
}

/* Sends up to 1000 keys of the retry set on c, when c is ready, idle
 * enough and has no batch of them in flight. */
static void retry_flush(conn_t *c)
{
    redis_tier_t *t = c->tier;
    if (c->bus || c->detaching || c->state != CONN_READY || c->retry_ops > 0 || LOAD(t, retry_n) == 0)
        return;
    uint64_t now = c->loop->now_ms(c->loop);
    if (c->pending + 2 > REDIS_MAX_PENDING / 2) {
        dels_arm(c, now + RETRY_DELAY_MS);
        return;
    }
    rkey_t *taken[CAMEO_REDIS_MAX_KEYS];
    cameo_key_t keys[CAMEO_REDIS_MAX_KEYS];
    size_t n = retry_take(t, taken, CAMEO_REDIS_MAX_KEYS);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        keys[i] = (cameo_key_t){taken[i]->key, taken[i]->len};
    if (removal_send(c, keys, n, ORIGIN_RETRY, NULL, NULL) != CAMEO_OK) {
        atomic_fetch_sub_explicit(&t->retry_inflight, n, memory_order_relaxed);
        retry_add(t, keys, n);
        dels_arm(c, now + RETRY_DELAY_MS);
    }
    for (size_t i = 0; i < n; i++)
        free(taken[i]);
}

/* Schedules keys[0..n) (just confirmed deleted) for their second delete. */
static void second_push(conn_t *c, const cameo_key_t *keys, size_t n)
{
    redis_tier_t *t = c->tier;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += keys[i].len;
    sdel_t *s =
        c->sd_keys + n <= SECOND_MAX_KEYS ? malloc(sizeof(*s) + n * sizeof(cameo_key_t) + bytes) : NULL;
    if (s == NULL) {
        ADD(t, dels_lost, n);
        return;
    }
    char *p = (char *)(s->keys + n);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len > 0)
            memcpy(p, keys[i].p, keys[i].len);
        s->keys[i] = (cameo_key_t){p, keys[i].len};
        p += keys[i].len;
    }
    s->n = n;
    s->next = NULL;
    s->due = c->loop->now_ms(c->loop) + t->second_ms;
    if (c->sd_tail != NULL)
        c->sd_tail->next = s;
    else
        c->sd_head = s;
    c->sd_tail = s;
    c->sd_keys += n;
    dels_arm(c, s->due);
}

/* Sends the second deletes due at now, in DELs of at most 1000 keys; what
 * cannot go out goes to the retry set. */
static void second_due(conn_t *c, uint64_t now)
{
    redis_tier_t *t = c->tier;
    while (c->sd_head != NULL && c->sd_head->due <= now) {
        cameo_key_t keys[CAMEO_REDIS_MAX_KEYS];
        size_t n = 0;
        sdel_t *first = c->sd_head, *s = first;
        while (s != NULL && s->due <= now && n + s->n <= CAMEO_REDIS_MAX_KEYS) {
            memcpy(keys + n, s->keys, s->n * sizeof(*keys));
            n += s->n;
            s = s->next;
        }
        c->sd_head = s;
        if (s == NULL)
            c->sd_tail = NULL;
        c->sd_keys -= n;
        ADD(t, dels_second, n);
        if (removal_send(c, keys, n, ORIGIN_SECOND, NULL, NULL) != CAMEO_OK)
            retry_add_on(c, keys, n);
        while (first != s) { /* keys point into these: freed after the send copied them */
            sdel_t *next = first->next;
            free(first);
            first = next;
        }
    }
}

static void conn_on_dels(void *arg)
{
    conn_t *c = arg;
    c->dels_at = 0;
    second_due(c, c->loop->now_ms(c->loop));
    retry_flush(c);
    if (c->sd_head != NULL)
        dels_arm(c, c->sd_head->due);
}

/* A DEL is settled: confirmed (ok), or failed / timed out / dropped. Its
 * keys are scheduled for their second delete, or go to the retry set. */
static void del_settled(op_t *op, bool ok)
{
    conn_t *c = op->conn;
    redis_tier_t *t = c->tier;
    cameo_key_t keys[CAMEO_REDIS_MAX_KEYS];
    for (size_t i = 0; i < op->n; i++)
        keys[i] = (cameo_key_t){op->argv[i + 1] + t->prefix_len, op->argvlen[i + 1] - t->prefix_len};
    if (op->origin == ORIGIN_RETRY) {
        c->retry_ops--;
        atomic_fetch_sub_explicit(&t->retry_inflight, op->n, memory_order_relaxed);
        if (ok)
            ADD(t, dels_retried, op->n);
    }
    if (!ok) {
        retry_add_on(c, keys, op->n);
        return;
    }
    if (op->origin != ORIGIN_SECOND)
        second_push(c, keys, op->n);
    if (op->origin == ORIGIN_RETRY)
        retry_flush(c); /* the next batch, if any */
}

/* ---- connection life ---- */

static void conn_connect(conn_t *c);

static void conn_on_retry(void *arg)
{
    conn_connect(arg);
}

static void conn_retry_later(conn_t *c)
{
    if (c->detaching)
        return;
    /* Equal jitter: half the backoff, plus up to the other half at random,
     * so loops and instances that lost Redis together come back spread. */
    uint64_t b = c->backoff_ms;
    uint64_t delay = b / 2 + cameo__rand_next(&c->rng) % (b / 2 + 1);
    c->backoff_ms = b * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : b * 2;
    c->loop->timer_arm(c->retry_t, delay);
}

/* Notes a failed connect attempt; logs the first of a series only. */
static void connect_failed(conn_t *c, const char *why)
{
    redis_tier_t *t = c->tier;
    note_error(t, "connect failed", why);
    if (c->backoff_ms == REDIS_BACKOFF_MIN_MS)
        cameo_log(CAMEO_LOG_WARN, "redis_connect_failed", "redis=%s loop=%u%s reason=\"%s\"", t->where,
                  c->slot, c->bus ? " conn=bus" : "", loggable(t, why));
}

static void conn_connect(conn_t *c)
{
    redis_tier_t *t = c->tier;
    assert(c->ac == NULL && c->state == CONN_DOWN);
    redisAsyncContext *ac = redisAsyncConnect(t->host, t->port);
    if (ac == NULL || ac->err) {
        connect_failed(c, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac); /* no hooks yet: nothing of ours runs */
        conn_retry_later(c);
        return;
    }
    c->io = c->loop->io_watch(c->loop, ac->c.fd, conn_on_io, c);
    if (c->io == NULL) {
        connect_failed(c, "out of memory");
        redisAsyncFree(ac);
        conn_retry_later(c);
        return;
    }
    c->io_events = 0;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    c->fail_err = CAMEO_EUNAVAIL;
    c->was_ready = false;
    c->why[0] = '\0';
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;

    /* AUTH and SELECT go out pipelined ahead of everything else; commands
     * are refused until SELECT answers (sending the first command is also
     * what makes hiredis finish the non-blocking connect). */
    int err = CAMEO_OK;
    if (t->pass != NULL) {
        const char *argv[3] = {"AUTH", t->user, t->pass};
        size_t argvlen[3] = {4, t->user_len, t->pass_len};
        if (t->user == NULL) {
            argv[1] = t->pass;
            argvlen[1] = t->pass_len;
        }
        err = op_send(c, OP_AUTH, t->user != NULL ? 3 : 2, argv, argvlen);
    }
    if (err == CAMEO_OK) {
        char db[16];
        snprintf(db, sizeof(db), "%d", t->db);
        const char *argv[2] = {"SELECT", db};
        size_t argvlen[2] = {6, strlen(db)};
        err = op_send(c, OP_SELECT, 2, argv, argvlen);
    }
    if (err != CAMEO_OK)
        conn_drop(c, CAMEO_EUNAVAIL, "out of memory");
}

static void conn_ready(conn_t *c)
{
    redis_tier_t *t = c->tier;
    c->state = CONN_READY;
    c->was_ready = true;
    c->backoff_ms = REDIS_BACKOFF_MIN_MS;
    atomic_fetch_add(&t->connected, 1);
    cameo_log(CAMEO_LOG_INFO, "redis_connected", "redis=%s loop=%u", t->where, c->slot);
    retry_flush(c); /* deletes that were refused or failed go first */
}

/* Ends the current context: what is pending fails with fail_err (at once, or
 * right after the hiredis callback we are in returns). */
static void conn_drop(conn_t *c, int fail_err, const char *why)
{
    if (c->ac == NULL || c->state == CONN_CLOSING)
        return;
    c->fail_err = fail_err;
    snprintf(c->why, sizeof(c->why), "%s", why);
    c->state = CONN_CLOSING;
    redisAsyncFree(c->ac); /* ev_cleanup -> conn_gone, now or when the callback returns */
}

static void bus_call_reset(conn_t *c, int up);

/* The context is gone (from ev_cleanup): its fd still open, its pending
 * commands already failed. */
static void conn_gone(conn_t *c)
{
    redis_tier_t *t = c->tier;
    redisAsyncContext *ac = c->ac;
    bool bus_lost = false;
    assert(c->head == NULL);
    const char *why = c->why[0] != '\0'                       ? c->why
                      : (ac != NULL && ac->errstr[0] != '\0') ? ac->errstr
                                                              : "closed";
    if (c->bus && c->was_ready) {
        atomic_store(&t->bus_up, 0);
        bus_lost = !c->detaching;
        if (bus_lost)
            note_error(t, "bus disconnected", why);
        cameo_log(c->detaching ? CAMEO_LOG_INFO : CAMEO_LOG_WARN, "redis_bus_down",
                  "redis=%s loop=%u reason=\"%s\"", t->where, c->slot,
                  c->detaching ? "detach" : loggable(t, why));
    } else if (c->was_ready) {
        atomic_fetch_sub(&t->connected, 1);
        if (!c->detaching) {
            COUNT(t, reconnects);
            note_error(t, "disconnected", why);
        }
        cameo_log(c->detaching ? CAMEO_LOG_INFO : CAMEO_LOG_WARN, "redis_disconnected",
                  "redis=%s loop=%u reason=\"%s\"", t->where, c->slot,
                  c->detaching ? "detach" : loggable(t, why));
    } else if (!c->detaching && strcmp(c->why, op_failed[OP_AUTH]) != 0 &&
               strcmp(c->why, op_failed[OP_SELECT]) != 0) {
        /* auth and SELECT failures were noted with Redis's words already. */
        connect_failed(c, why);
    }
    c->ac = NULL;
    c->state = CONN_DOWN;
    c->was_ready = false;
    c->cursor = NULL;
    c->deadline_at = 0;
    c->loop->timer_disarm(c->deadline_t);
    if (c->ping_t != NULL)
        c->loop->timer_disarm(c->ping_t);
    conn_retry_later(c);
    if (bus_lost)
        bus_call_reset(c, 0); /* last: the connection is consistent, whatever the handler does */
}

/* ---- the bus: the subscription connection ---- */

static void bus_call_reset(conn_t *c, int up)
{
    redis_tier_t *t = c->tier;
    COUNT(t, bus_resets);
    if (t->bus.reset != NULL) {
        c->in_cb++;
        t->bus.reset(t->bus.arg, up);
        c->in_cb--;
    }
}

/* Hands keys[0..n) to the handler. */
static void bus_flush(conn_t *c, const cameo_key_t *keys, size_t n)
{
    redis_tier_t *t = c->tier;
    if (n == 0 || t->bus.invalidated == NULL)
        return;
    c->in_cb++;
    t->bus.invalidated(t->bus.arg, keys, n);
    c->in_cb--;
}

static int hexval(char ch);

/* Reads 16 hex digits. */
static bool parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* A message's payload: a first line starting with '@' is the publisher's
 * nonce (this instance's own: the message is skipped); the other lines of 1
 * to BUS_KEY_MAX bytes are keys, delivered in calls of at most
 * CAMEO_REDIS_MAX_KEYS; anything else in it makes the message count as
 * malformed (see the header). */
static void bus_deliver(conn_t *c, const char *p, size_t len)
{
    redis_tier_t *t = c->tier;
    cameo_key_t keys[CAMEO_REDIS_MAX_KEYS];
    size_t n = 0, total = 0;
    bool bad = false;
    const char *end = p + len;
    COUNT(t, bus_events);
    if (len > 0 && p[0] == '@') {
        const char *nl = memchr(p, '\n', len);
        size_t l = nl != NULL ? (size_t)(nl - p) : len;
        uint64_t nonce;
        if (l == BUS_NONCE_LINE && parse_hex64(p + 1, &nonce)) {
            if (nonce == t->nonce) {
                COUNT(t, bus_own);
                return;
            }
        } else {
            bad = true;
        }
        if (nl == NULL) { /* metadata and no key */
            bad = true;
            goto done;
        }
        p = nl + 1;
        if (p < end && p[0] == '!') { /* a change event (publish_event), not keys */
            if (t->bus.event != NULL) {
                c->in_cb++;
                t->bus.event(t->bus.arg, p + 1, (size_t)(end - p - 1));
                c->in_cb--;
            }
            return;
        }
    }
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        size_t l = (size_t)(line_end - p);
        if (l == 0 || l > BUS_KEY_MAX) {
            bad = true;
        } else {
            keys[n++] = (cameo_key_t){p, l};
            if (++total > CAMEO_REDIS_MAX_KEYS)
                bad = true;
            if (n == CAMEO_REDIS_MAX_KEYS) {
                bus_flush(c, keys, n);
                n = 0;
            }
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    bus_flush(c, keys, n);
done:
    if (bad && atomic_fetch_add_explicit(&t->bus_malformed, 1, memory_order_relaxed) == 0)
        cameo_log(CAMEO_LOG_WARN, "redis_bus_malformed", "redis=%s channel=%s bytes=%zu keys=%zu", t->where,
                  t->channel, len, total);
}

/* The subscription is confirmed. */
static void bus_ready(conn_t *c)
{
    redis_tier_t *t = c->tier;
    c->state = CONN_READY;
    c->was_ready = true;
    c->backoff_ms = REDIS_BACKOFF_MIN_MS;
    atomic_store(&t->bus_up, 1);
    cameo_log(CAMEO_LOG_INFO, "redis_bus_up", "redis=%s loop=%u channel=%s", t->where, c->slot, t->channel);
    bus_call_reset(c, 1);
}

static bool reply_is(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && strcasecmp(r->str, s) == 0;
}

/* hiredis calls the SUBSCRIBE's callback for its confirmation, for each
 * message, with NULL when the context goes, and (0.14 routes a reply it
 * cannot place to the last callback it ran) maybe with a pong. */
static void bus_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    conn_t *c = privdata;
    redis_tier_t *t = c->tier;
    redisReply *r = reply;
    if (r == NULL || c->state == CONN_CLOSING || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    if (!reply_is(r->element[1], t->channel))
        return;
    if (reply_is(r->element[0], "subscribe")) {
        if (c->state == CONN_CONNECTING)
            bus_ready(c);
    } else if (reply_is(r->element[0], "message") && r->element[2]->type == REDIS_REPLY_STRING &&
               c->state == CONN_READY) {
        bus_deliver(c, r->element[2]->str, r->element[2]->len);
    }
}

/* After SELECT (inside its callback): the connection turns subscriber. */
static void bus_subscribe(conn_t *c)
{
    redis_tier_t *t = c->tier;
    const char *argv[2] = {"SUBSCRIBE", t->channel};
    size_t argvlen[2] = {9, t->channel_len};
    if (redisAsyncCommandArgv(c->ac, bus_on_reply, c, 2, argv, argvlen) != REDIS_OK) {
        conn_drop(c, CAMEO_EUNAVAIL, "SUBSCRIBE not sent");
        return;
    }
    c->last_rx = c->loop->now_ms(c->loop);
    c->loop->timer_arm(c->ping_t, BUS_PING_MS);
}

/* Every BUS_PING_MS while subscribing or subscribed: the dead-server check,
 * then a PING. */
static void bus_on_tick(void *arg)
{
    conn_t *c = arg;
    if (c->ac == NULL || c->state == CONN_CLOSING)
        return;
    uint64_t now = c->loop->now_ms(c->loop);
    if (bus_has_input(c)) /* not read yet (a busy loop): alive all the same */
        c->last_rx = now;
    if (now - c->last_rx >= BUS_DEAD_MS) {
        char why[64];
        snprintf(why, sizeof(why), "subscription: nothing received in %d ms", BUS_DEAD_MS);
        conn_drop(c, CAMEO_EUNAVAIL, why);
        return;
    }
    if (c->state == CONN_READY) {
        /* Raw into the output buffer: no hiredis callback (see the header). */
        if (redisAppendCommand(&c->ac->c, "PING") == REDIS_OK)
            ev_add_write(c);
    }
    c->loop->timer_arm(c->ping_t, BUS_PING_MS);
}

/* ---- the tier operations ---- */

static void conn_free(conn_t *c);

/* A connection for loop, down, with its timers; NULL when out of memory. */
static conn_t *conn_new(redis_tier_t *t, cameo_loop_t *loop, bool bus)
{
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->tier = t;
    c->loop = loop;
    c->bus = bus;
    c->state = CONN_DOWN;
    c->backoff_ms = REDIS_BACKOFF_MIN_MS;
    c->rng = cameo__rand_seed(c);
    c->deadline_t = loop->timer_new(loop, conn_on_deadline, c);
    c->retry_t = loop->timer_new(loop, conn_on_retry, c);
    if (bus)
        c->ping_t = loop->timer_new(loop, bus_on_tick, c);
    else
        c->dels_t = loop->timer_new(loop, conn_on_dels, c);
    if (c->deadline_t == NULL || c->retry_t == NULL || (bus ? c->ping_t == NULL : c->dels_t == NULL)) {
        conn_free(c);
        return NULL;
    }
    return c;
}

/* Ends c for good, on its loop's thread: what is pending fails now with
 * CAMEO_EUNAVAIL (a bus calls nothing: no reset), second deletes still
 * waiting go to the retry set, the watch and the timers are released, c is
 * freed. Also undoes a conn_new that got only some of its timers. */
static void conn_free(conn_t *c)
{
    cameo_loop_t *loop = c->loop;
    /* From inside one of this tier's callbacks the connection would be
     * freed under the code that called back. */
    assert(c->in_cb == 0);
    c->detaching = true;
    c->fail_err = CAMEO_EUNAVAIL;
    if (c->ac != NULL) {
        snprintf(c->why, sizeof(c->why), "detach");
        c->state = CONN_CLOSING;
        redisAsyncFree(c->ac); /* pending callbacks fire now, with CAMEO_EUNAVAIL */
    }
    assert(c->ac == NULL && c->io == NULL && c->head == NULL);
    while (c->sd_head != NULL) {
        sdel_t *s = c->sd_head;
        c->sd_head = s->next;
        retry_add(c->tier, s->keys, s->n);
        free(s);
    }
    if (c->deadline_t != NULL)
        loop->timer_free(c->deadline_t);
    if (c->retry_t != NULL)
        loop->timer_free(c->retry_t);
    if (c->ping_t != NULL)
        loop->timer_free(c->ping_t);
    if (c->dels_t != NULL)
        loop->timer_free(c->dels_t);
    free(c);
}

/* With a bus and no loop holding the subscription, loop takes it. */
static void bus_claim(redis_tier_t *t, cameo_loop_t *loop, unsigned slot)
{
    if (!t->bus_set)
        return;
    pthread_mutex_lock(&t->lock);
    bool taken = t->bus_conn != NULL;
    pthread_mutex_unlock(&t->lock);
    if (taken)
        return;
    conn_t *b = conn_new(t, loop, true);
    if (b == NULL) {
        note_error(t, "bus", "out of memory");
        cameo_log(CAMEO_LOG_ERROR, "redis_bus_failed", "redis=%s loop=%u reason=out_of_memory", t->where,
                  slot);
        return;
    }
    b->slot = slot;
    pthread_mutex_lock(&t->lock);
    bool mine = t->bus_conn == NULL;
    if (mine)
        t->bus_conn = b;
    pthread_mutex_unlock(&t->lock);
    if (!mine) { /* another loop took it meanwhile */
        conn_free(b);
        return;
    }
    conn_connect(b);
}

static int redis_attach(cameo_tier_t *tier, cameo_loop_t *loop)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    if (conn_of(t, loop) != NULL)
        return CAMEO_EINVAL;
    conn_t *c = conn_new(t, loop, false);
    if (c == NULL)
        return CAMEO_ENOMEM;

    int rc = cameo__loopmap_add(&t->loops, loop, c, &c->slot);
    if (rc != CAMEO_OK) {
        cameo_log(CAMEO_LOG_ERROR, "redis_attach_failed", "reason=too_many_loops max=%d", CAMEO_LOOPMAP_MAX);
        conn_free(c);
        return rc;
    }
    atomic_fetch_add(&t->attached, 1);

    conn_connect(c);
    bus_claim(t, loop, c->slot);
    return CAMEO_OK;
}

static void redis_detach(cameo_tier_t *tier, cameo_loop_t *loop)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    conn_t *c = conn_of(t, loop);
    if (c == NULL)
        return;
    /* The subscription, when this loop holds it: dropped without a reset
     * (see the header); the next loop to attach takes it over. */
    pthread_mutex_lock(&t->lock);
    conn_t *b = t->bus_conn != NULL && t->bus_conn->loop == loop ? t->bus_conn : NULL;
    pthread_mutex_unlock(&t->lock);
    if (b != NULL) {
        conn_free(b);
        pthread_mutex_lock(&t->lock);
        t->bus_conn = NULL;
        pthread_mutex_unlock(&t->lock);
    }
    conn_free(c);
    cameo__loopmap_remove(&t->loops, loop);
    atomic_fetch_sub(&t->attached, 1);
}

static int redis_get_async(cameo_tier_t *tier, cameo_loop_t *loop, const cameo_key_t *keys, size_t n,
                           uint64_t now, cameo_tier_got_cb cb, void *arg)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    if (n == 0 || n > CAMEO_REDIS_MAX_KEYS || cb == NULL)
        return CAMEO_EINVAL;
    conn_t *c = conn_of(t, loop);
    if (c == NULL || c->state != CONN_READY) {
        COUNT(t, errors);
        return CAMEO_EUNAVAIL;
    }
    if (c->pending >= REDIS_MAX_PENDING) {
        COUNT(t, busy);
        COUNT(t, errors);
        return CAMEO_EBUSY;
    }
    op_t *op = op_keys(t, OP_GET, "MGET", keys, n);
    if (op == NULL)
        return CAMEO_ENOMEM;
    op->got = cb;
    op->arg = arg;
    op->now = now;
    op->wall = cameo_wall_ms();
    int err = conn_send(c, op, (int)n + 1, op->argv, op->argvlen);
    if (err != CAMEO_OK) {
        COUNT(t, errors);
        free(op);
    }
    return err;
}

static void redis_put_async(cameo_tier_t *tier, cameo_loop_t *loop, cameo_entry_t *e, uint64_t now)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    if (e->size > t->max_value || e->stale_until <= now) {
        COUNT(t, puts_skipped);
        return;
    }
    conn_t *c = conn_of(t, loop);
    if (c == NULL || c->state != CONN_READY || c->pending >= REDIS_MAX_PENDING) {
        COUNT(t, puts_dropped);
        COUNT(t, errors);
        return;
    }
    uint64_t ttl = e->stale_until - now;
    if (ttl > REDIS_MAX_TTL_MS)
        ttl = REDIS_MAX_TTL_MS;
    uint64_t j = ttl * t->jitter_pct / 100;
    ttl = ttl - j + cameo__rand_next(&c->rng) % (2 * j + 1);
    if (ttl == 0)
        ttl = 1;

    size_t klen = t->prefix_len + e->key_len, vlen = VALUE_OVERHEAD + e->key_len + e->size;
    char *buf = malloc(klen + vlen);
    if (buf == NULL) {
        COUNT(t, errors);
        return;
    }
    memcpy(buf, t->prefix, t->prefix_len);
    memcpy(buf + t->prefix_len, e->key, e->key_len);
    value_encode((unsigned char *)buf + klen, e, now, cameo_wall_ms());
    char px[24];
    snprintf(px, sizeof(px), "%" PRIu64, ttl);
    const char *argv[5] = {"SET", buf, buf + klen, "PX", px};
    size_t argvlen[5] = {3, klen, vlen, 2, strlen(px)};
    if (op_send(c, OP_SET, 5, argv, argvlen) != CAMEO_OK)
        COUNT(t, errors);
    free(buf); /* hiredis formatted its own copy */
}

/* DEL keys, and with a bus PUBLISH them (see removal_send). Refused at
 * once, the keys still go to the retry set first. */
static int redis_remove_async(cameo_tier_t *tier, cameo_loop_t *loop, const cameo_key_t *keys, size_t n,
                              cameo_tier_done_cb cb, void *arg)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    if (n == 0 || n > CAMEO_REDIS_MAX_KEYS || cb == NULL)
        return CAMEO_EINVAL;
    conn_t *c = conn_of(t, loop);
    int err = c != NULL ? removal_send(c, keys, n, ORIGIN_USER, cb, arg) : CAMEO_EUNAVAIL;
    if (err == CAMEO_OK)
        return CAMEO_OK;
    if (err == CAMEO_EBUSY)
        COUNT(t, busy);
    if (err != CAMEO_ENOMEM)
        COUNT(t, errors);
    if (c != NULL)
        retry_add_on(c, keys, n);
    else
        retry_add(t, keys, n);
    return err;
}

/* A change event: "@<nonce>\n!<data>" on the bus channel, no callback. */
static void redis_publish_event(cameo_tier_t *tier, cameo_loop_t *loop, const char *data, size_t len)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    char buf[BUS_NONCE_LINE + 2 + BUS_EVENT_MAX];
    conn_t *c = t->bus_set && len > 0 && len <= BUS_EVENT_MAX ? conn_of(t, loop) : NULL;
    if (c == NULL || c->state != CONN_READY || c->pending + 1 > REDIS_MAX_PENDING) {
        if (t->bus_set)
            COUNT(t, bus_unsent);
        return;
    }
    memcpy(buf, t->nonce_line, BUS_NONCE_LINE);
    buf[BUS_NONCE_LINE] = '\n';
    buf[BUS_NONCE_LINE + 1] = '!';
    memcpy(buf + BUS_NONCE_LINE + 2, data, len);
    const char *argv[3] = {"PUBLISH", t->channel, buf};
    size_t argvlen[3] = {7, t->channel_len, BUS_NONCE_LINE + 2 + len};
    if (op_send(c, OP_PUB, 3, argv, argvlen) != CAMEO_OK)
        COUNT(t, bus_unsent);
}

static void redis_set_bus(cameo_tier_t *tier, const cameo_bus_handler_t *h)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    assert(atomic_load(&t->attached) == 0); /* before any attach (tier.h) */
    t->bus_set = h != NULL;
    t->bus = h != NULL ? *h : (cameo_bus_handler_t){0};
}

/* bytes, items and capacity stay 0: Redis is shared and its size is not
 * this instance's to know without I/O. evictions: 0 likewise (Redis's
 * evicted_keys is in INFO stats). */
static void redis_stats(cameo_tier_t *tier, cameo_tier_stats_t *out)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    memset(out, 0, sizeof(*out));
    out->hits = LOAD(t, hits);
    out->misses = LOAD(t, misses);
    out->errors = LOAD(t, errors);
    out->timeouts = LOAD(t, timeouts);
    out->latency = &t->latency;
}

static int redis_status(cameo_tier_t *tier, char *buf, size_t len)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    unsigned attached = atomic_load(&t->attached), connected = atomic_load(&t->connected);
    char last[sizeof(t->last_error)];
    pthread_mutex_lock(&t->lock);
    memcpy(last, t->last_error, sizeof(last));
    pthread_mutex_unlock(&t->lock);
    bool bus_up = atomic_load(&t->bus_up) != 0;
    char bus[256] = "";
    if (t->bus_set)
        snprintf(bus, sizeof(bus),
                 "; bus %s, bus events %" PRIu64 ", bus resets %" PRIu64 ", bus malformed %" PRIu64
                 ", bus unsent %" PRIu64 ", own events skipped %" PRIu64,
                 bus_up ? "up" : "down", (uint64_t)LOAD(t, bus_events), (uint64_t)LOAD(t, bus_resets),
                 (uint64_t)LOAD(t, bus_malformed), (uint64_t)LOAD(t, bus_unsent), (uint64_t)LOAD(t, bus_own));
    char dels[160];
    snprintf(dels, sizeof(dels),
             "; deletes retried %" PRIu64 ", pending %" PRIu64 ", second deletes %" PRIu64
             ", deletes lost %" PRIu64,
             (uint64_t)LOAD(t, dels_retried), (uint64_t)(LOAD(t, retry_n) + LOAD(t, retry_inflight)),
             (uint64_t)LOAD(t, dels_second), (uint64_t)LOAD(t, dels_lost));
    snprintf(buf, len,
             "%s connected %u/%u%s; corrupt %" PRIu64 ", timeouts %" PRIu64 ", puts dropped %" PRIu64
             ", puts skipped %" PRIu64 ", busy %" PRIu64 ", reconnects %" PRIu64 "%s%s%s",
             t->where, connected, attached, bus, (uint64_t)LOAD(t, corrupt), (uint64_t)LOAD(t, timeouts),
             (uint64_t)LOAD(t, puts_dropped), (uint64_t)LOAD(t, puts_skipped), (uint64_t)LOAD(t, busy),
             (uint64_t)LOAD(t, reconnects), dels, last[0] != '\0' ? "; last error: " : "", last);
    return attached > 0 && connected == attached && (!t->bus_set || bus_up) ? CAMEO_OK : CAMEO_EUNAVAIL;
}

static void redis_destroy(cameo_tier_t *tier)
{
    redis_tier_t *t = (redis_tier_t *)tier;
    if (t == NULL)
        return;
    assert(atomic_load(&t->attached) == 0); /* every loop detached first */
    assert(t->bus_conn == NULL);            /* went with its loop */
    if (t->pass != NULL)
        memset(t->pass, 0, t->pass_len);
    free(t->host);
    free(t->user);
    free(t->pass);
    free(t->prefix);
    free(t->channel);
    while (t->retry_head != NULL) {
        rkey_t *k = t->retry_head;
        t->retry_head = k->next;
        free(k);
    }
    free(t->retry_tab);
    pthread_mutex_destroy(&t->retry_lock);
    pthread_mutex_destroy(&t->lock);
    cameo__loopmap_destroy(&t->loops);
    free(t);
}

static const cameo_tier_ops_t redis_ops = {
    .name = "redis",
    .attach = redis_attach,
    .detach = redis_detach,
    .get_async = redis_get_async,
    .put_async = redis_put_async,
    .remove_async = redis_remove_async,
    .publish_event = redis_publish_event,
    .set_bus = redis_set_bus,
    .stats = redis_stats,
    .status = redis_status,
    .destroy = redis_destroy,
};

/* ---- configuration ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into a new NUL-terminated string. NULL on a bad
 * escape (*bad set) or no memory. */
static char *pct_decode(const char *s, size_t len, size_t *out_len, bool *bad)
{
    char *d = malloc(len + 1);
    size_t n = 0;
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                *bad = true;
                return NULL;
            }
            d[n++] = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        d[n++] = s[i];
    }
    d[n] = '\0';
    *out_len = n;
    return d;
}

/* Parses a decimal in [min, max] from s[0..len). */
static bool parse_num(const char *s, size_t len, long min, long max, long *out)
{
    long v = 0;
    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Fills t->user and t->pass from "user:password" or ":password" (ui[0..len),
 * percent-encoded). */
static int parse_userinfo(redis_tier_t *t, const char *ui, size_t len, const char **why)
{
    const char *colon = memchr(ui, ':', len);
    bool bad = false;
    if (colon == NULL) {
        *why = "redis url: credentials must be user:password@ or :password@";
        return CAMEO_EINVAL;
    }
    if (colon > ui && (t->user = pct_decode(ui, (size_t)(colon - ui), &t->user_len, &bad)) == NULL)
        goto err;
    if ((t->pass = pct_decode(colon + 1, len - (size_t)(colon + 1 - ui), &t->pass_len, &bad)) == NULL)
        goto err;
    if (t->pass_len == 0) {
        *why = "redis url: the password is empty";
        return CAMEO_EINVAL;
    }
    return CAMEO_OK;

err:
    *why = bad ? "redis url: bad %-escape in the credentials" : "out of memory";
    return bad ? CAMEO_EINVAL : CAMEO_ENOMEM;
}

/* Fills t's connection fields from url. CAMEO_OK, CAMEO_ENOMEM, or
 * CAMEO_EINVAL with *why (a static string: never a piece of the URL). */
static int parse_url(redis_tier_t *t, const char *url, const char **why)
{
    static const char scheme[] = "redis://";
    if (url == NULL || url[0] == '\0') {
        *why = "redis url is required";
        return CAMEO_EINVAL;
    }
    if (strncasecmp(url, "rediss://", 9) == 0) {
        *why = "redis url: rediss:// (TLS) is not supported: hiredis 0.14 in Debian 12 has no TLS; "
               "use redis:// over a private network or through a TLS tunnel";
        return CAMEO_EINVAL;
    }
    if (strncasecmp(url, "unix:", 5) == 0 || strncasecmp(url, "redis+unix:", 11) == 0) {
        *why = "redis url: unix sockets are not supported; use redis://host:port";
        return CAMEO_EINVAL;
    }
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
        *why = "redis url must look like redis://[user:password@]host[:port][/db]";
        return CAMEO_EINVAL;
    }
    if (strpbrk(url, "?#") != NULL) {
        *why = "redis url: query parameters and fragments are not supported (percent-encode ? and # in a "
               "password)";
        return CAMEO_EINVAL;
    }
    const char *a = url + sizeof(scheme) - 1;
    const char *end = a + strcspn(a, "/");

    /* userinfo: up to the last '@' of the authority. */
    const char *host = a;
    for (const char *p = a; p < end; p++)
        if (*p == '@')
            host = p + 1;
    if (host != a) {
        int err = parse_userinfo(t, a, (size_t)(host - 1 - a), why);
        if (err != CAMEO_OK)
            return err;
    }

    /* host, [v6], :port */
    const char *host_end, *port = NULL;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL || host_end == host + 1) {
            *why = "redis url: bad [IPv6] host";
            return CAMEO_EINVAL;
        }
        host++;
        if (host_end + 1 < end) {
            if (host_end[1] != ':') {
                *why = "redis url: bad [IPv6] host";
                return CAMEO_EINVAL;
            }
            port = host_end + 2;
        }
        for (const char *p = host; p < host_end; p++) {
            if (hexval(*p) < 0 && *p != ':' && *p != '.') {
                *why = "redis url: bad [IPv6] host";
                return CAMEO_EINVAL;
            }
        }
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end == NULL)
            host_end = end;
        else
            port = host_end + 1;
        for (const char *p = host; p < host_end; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '.' || *p == '-' || *p == '_')) {
                *why = "redis url: the host has characters a host name cannot have";
                return CAMEO_EINVAL;
            }
        }
    }
    if (host_end == host) {
        *why = "redis url: the host is missing";
        return CAMEO_EINVAL;
    }
    long v = 6379;
    if (port != NULL && !parse_num(port, (size_t)(end - port), 1, 65535, &v)) {
        *why = "redis url: the port must be a number from 1 to 65535";
        return CAMEO_EINVAL;
    }
    t->port = (int)v;

    /* /db */
    v = 0;
    if (*end == '/' && end[1] != '\0' && !parse_num(end + 1, strlen(end + 1), 0, 1000000, &v)) {
        *why = "redis url: the path must be a database number (/0, /1, ...)";
        return CAMEO_EINVAL;
    }
    t->db = (int)v;
    t->host = strndup(host, (size_t)(host_end - host));
    if (t->host == NULL)
        return CAMEO_ENOMEM;
    return CAMEO_OK;
}

/* This instance's id on the bus: random, from getrandom; if that fails
 * (no entropy yet, an old kernel), a mix of the clocks, the pid and an
 * address -- unique enough to tell instances apart. */
static uint64_t make_nonce(redis_tier_t *t)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mix[4] = {cameo_wall_ms(), (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32),
                       (uint64_t)getpid(), (uint64_t)(uintptr_t)t};
    return XXH3_64bits(mix, sizeof(mix));
}

int cameo_tier_redis_create(const cameo_redis_config_t *cfg, cameo_tier_t **out, char *errbuf, size_t errlen)
{
    const char *why = NULL;
    int err = CAMEO_EINVAL;
    redis_tier_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return CAMEO_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    cameo__loopmap_init(&t->loops);
    pthread_mutex_init(&t->retry_lock, NULL);
    t->super.ops = &redis_ops;
    t->retry_tab = calloc(RETRY_BUCKETS, sizeof(*t->retry_tab));
    if (t->retry_tab == NULL) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    t->nonce = make_nonce(t);
    snprintf(t->nonce_line, sizeof(t->nonce_line), "@%016" PRIx64, t->nonce);

    err = parse_url(t, cfg->url, &why);
    if (err != CAMEO_OK)
        goto err;
    const char *prefix = cfg->prefix != NULL ? cfg->prefix : "cameo:";
    if (strlen(prefix) > REDIS_MAX_PREFIX) {
        why = "redis prefix: longer than 256 bytes";
        err = CAMEO_EINVAL;
        goto err;
    }
    t->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : 50;
    t->jitter_pct = cfg->jitter_pct != 0 ? cfg->jitter_pct : 10;
    t->max_value = cfg->max_value != 0 ? cfg->max_value : 1u << 20;
    if (t->timeout_ms > 60000) {
        why = "redis timeout: at most 60000 ms";
        err = CAMEO_EINVAL;
        goto err;
    }
    if (t->jitter_pct > 50) {
        why = "redis jitter: at most 50%";
        err = CAMEO_EINVAL;
        goto err;
    }
    if (t->max_value > REDIS_MAX_VALUE - VALUE_OVERHEAD - 65536) {
        why = "redis max value: at most 511 MiB";
        err = CAMEO_EINVAL;
        goto err;
    }
    t->stuck_ms = t->timeout_ms * REDIS_STUCK_FACTOR;
    t->second_ms = t->stuck_ms * SECOND_FACTOR;
    t->prefix_len = strlen(prefix) + strlen(KEY_VERSION);
    t->prefix = malloc(t->prefix_len + 1);
    if (t->prefix == NULL) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    snprintf(t->prefix, t->prefix_len + 1, "%s%s", prefix, KEY_VERSION);
    t->channel_len = t->prefix_len + strlen(BUS_CHANNEL);
    t->channel = malloc(t->channel_len + 1);
    if (t->channel == NULL) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    snprintf(t->channel, t->channel_len + 1, "%s%s", t->prefix, BUS_CHANNEL);
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(t->where, sizeof(t->where), "%s%s%s:%d/%d", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
             t->db);
    *out = &t->super;
    return CAMEO_OK;

err:
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", why != NULL ? why : cameo_strerror(err));
    redis_destroy(&t->super);
    return err;
}
