/*
 * test_origin_local.c - unit tests of the embedded store origin
 * (src/origin/origin_local.c) through the method table of
 * include/cameo/origin.h.
 *
 * Each test gets a fresh directory under /tmp (mkdtemp) and removes it after.
 * Callbacks fire on the origin's worker threads; the tests wait for them with
 * a mutex and condition variable (never a sleep). Time is an argument
 * (now_wall), so garbage collection is driven without waiting. The database
 * is inspected with a separate sqlite3 connection where the method table
 * cannot show the effect (blob deduplication, GC, the outbox of S3 objects
 * that origin_local.h drains).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cameo/origin.h"
#include "origin/origin_local.h"

#define MAX_RECS 1000
#define WAIT_LIMIT_S 60 /* a callback that takes longer is a hang: fail the test */

/* ---- waiting for callbacks ---- */

typedef struct rec_copy {
    char id[CAMEO_ID_MAX + 1];
    char doc[256];
    size_t doc_len;
    char avatar_version[CAMEO_VERSION_MAX + 1]; /* "" when NULL */
    char avatar_type[128];                      /* "" when NULL */
    uint64_t updated_at;
} rec_copy_t;

/* What the callbacks saw, guarded by mu; fired counts callbacks. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fired;
    int err;
    int created;
    size_t n;
    rec_copy_t *recs; /* [MAX_RECS] */
    unsigned char blob[4096];
    size_t blob_len;
    char blob_type[128];
    char blob_version[CAMEO_VERSION_MAX + 1];
    int hold;    /* blocking_profiles_cb waits while this is set */
    int entered; /* blocking_profiles_cb is running */
} waiter_t;

static waiter_t *waiter_new(void)
{
    waiter_t *w = calloc(1, sizeof *w);

    assert_non_null(w);
    w->recs = calloc(MAX_RECS, sizeof *w->recs);
    assert_non_null(w->recs);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return w;
}

static void waiter_free(waiter_t *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->recs);
    free(w);
}

static void waiter_reset(waiter_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->fired = 0;
    w->err = 12345;
    w->created = -1;
    w->n = 0;
    w->blob_len = 0;
    pthread_mutex_unlock(&w->mu);
}

/* Waits until at least count callbacks fired (fails the test after WAIT_LIMIT_S). */
static void waiter_wait(waiter_t *w, int count)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_LIMIT_S;
    pthread_mutex_lock(&w->mu);
    while (w->fired < count && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    int fired = w->fired;
    pthread_mutex_unlock(&w->mu);
    if (fired < count)
        fail_msg("callback did not fire within %d s", WAIT_LIMIT_S);
}

static int waiter_fired(waiter_t *w)
{
    pthread_mutex_lock(&w->mu);
    int fired = w->fired;
    pthread_mutex_unlock(&w->mu);
    return fired;
}

static void copy_rec(rec_copy_t *dst, const cameo_profile_rec_t *src)
{
    memset(dst, 0, sizeof *dst);
    snprintf(dst->id, sizeof dst->id, "%s", src->id);
    dst->doc_len = src->doc_len < sizeof dst->doc - 1 ? src->doc_len : sizeof dst->doc - 1;
    memcpy(dst->doc, src->doc, dst->doc_len);
    snprintf(dst->avatar_version, sizeof dst->avatar_version, "%s",
             src->avatar_version ? src->avatar_version : "");
    snprintf(dst->avatar_type, sizeof dst->avatar_type, "%s", src->avatar_type ? src->avatar_type : "");
    dst->updated_at = src->updated_at;
}

static void profiles_cb(void *arg, int err, const cameo_profile_rec_t *recs, size_t n)
{
    waiter_t *w = arg;

    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->n = n < MAX_RECS ? n : MAX_RECS;
    for (size_t i = 0; i < w->n; i++)
        copy_rec(&w->recs[i], &recs[i]);
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void blob_cb(void *arg, int err, const cameo_blob_t *blob)
{
    waiter_t *w = arg;

    pthread_mutex_lock(&w->mu);
    w->err = err;
    if (blob) {
        w->blob_len = blob->len < sizeof w->blob ? blob->len : sizeof w->blob;
        memcpy(w->blob, blob->data, w->blob_len);
        snprintf(w->blob_type, sizeof w->blob_type, "%s", blob->content_type);
        snprintf(w->blob_version, sizeof w->blob_version, "%s", blob->version);
    }
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void write_cb(void *arg, int err, const cameo_profile_rec_t *rec, int created)
{
    waiter_t *w = arg;

    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->created = created;
    w->n = rec ? 1 : 0;
    if (rec)
        copy_rec(&w->recs[0], rec);
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Holds its worker thread until w->hold is cleared. */
static void blocking_profiles_cb(void *arg, int err, const cameo_profile_rec_t *recs, size_t n)
{
    waiter_t *w = arg;

    (void)recs;
    (void)n;
    pthread_mutex_lock(&w->mu);
    w->entered = 1;
    pthread_cond_broadcast(&w->cv);
    while (w->hold)
        pthread_cond_wait(&w->cv, &w->mu);
    w->err = err;
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void list_cb(void *arg, int err, const char *const *ids, size_t n)
{
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->n = n;
    for (size_t i = 0; i < n && i < MAX_RECS; i++)
        snprintf(w->recs[i].id, sizeof w->recs[i].id, "%s", ids[i]);
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- synchronous wrappers: submit, assert the submit succeeded, wait ---- */

static int list_ids(cameo_origin_t *o, waiter_t *w, const char *after, size_t limit)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->list_ids(o, NULL, after, limit, list_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static int put_profile(cameo_origin_t *o, waiter_t *w, const char *id, const char *doc, uint64_t now)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->put_profile(o, NULL, id, doc, strlen(doc), now, write_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static int get_profiles(cameo_origin_t *o, waiter_t *w, const char *const *ids, size_t n)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->get_profiles(o, NULL, ids, n, profiles_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

/* Reads one profile; returns its copy or NULL when absent. */
static const rec_copy_t *get_one(cameo_origin_t *o, waiter_t *w, const char *id)
{
    const char *ids[1] = {id};

    assert_int_equal(CAMEO_OK, get_profiles(o, w, ids, 1));
    assert_true(w->n <= 1);
    return w->n ? &w->recs[0] : NULL;
}

static int put_avatar(cameo_origin_t *o, waiter_t *w, const char *id, const char *bytes, const char *version,
                      uint64_t now)
{
    cameo_blob_t b = {.data = bytes, .len = strlen(bytes), .content_type = "image/png", .version = version};

    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->put_avatar(o, NULL, id, &b, now, write_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static int get_avatar(cameo_origin_t *o, waiter_t *w, const char *id, const char *version)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->get_avatar(o, NULL, id, version, blob_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static int delete_profile(cameo_origin_t *o, waiter_t *w, const char *id, uint64_t now)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->delete_profile(o, NULL, id, now, write_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static int delete_avatar(cameo_origin_t *o, waiter_t *w, const char *id, uint64_t now)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, o->ops->delete_avatar(o, NULL, id, now, write_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

static void claim_cb(void *arg, int err, const cameo__gc_object_t *objs, size_t n)
{
    waiter_t *w = arg;

    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->n = n < MAX_RECS ? n : MAX_RECS;
    for (size_t i = 0; i < w->n; i++) {
        memset(&w->recs[i], 0, sizeof w->recs[i]);
        snprintf(w->recs[i].id, sizeof w->recs[i].id, "%s", objs[i].id);
        snprintf(w->recs[i].avatar_version, sizeof w->recs[i].avatar_version, "%s", objs[i].version);
        w->recs[i].updated_at = objs[i].attempts;
    }
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void done_cb(void *arg, int err)
{
    waiter_t *w = arg;

    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->fired++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Claims up to limit objects: w->recs[i].id, .avatar_version and (attempts)
 * .updated_at; w->n of them. */
static int gc_claim(cameo_origin_t *o, waiter_t *w, uint64_t now, uint64_t lease_ms, size_t limit)
{
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, cameo__local_gc_claim(o, now, lease_ms, limit, claim_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

/* Reports one object: gone (retry_at 0) or to retry at retry_at. */
static int gc_done(cameo_origin_t *o, waiter_t *w, const char *id, const char *version, unsigned attempts,
                   uint64_t retry_at)
{
    cameo__gc_object_t obj = {.attempts = attempts, .retry_at = retry_at};

    snprintf(obj.id, sizeof obj.id, "%s", id);
    snprintf(obj.version, sizeof obj.version, "%s", version);
    waiter_reset(w);
    assert_int_equal(CAMEO_OK, cameo__local_gc_done(o, &obj, 1, done_cb, w));
    waiter_wait(w, 1);
    return w->err;
}

/* ---- fixture: a fresh directory, an open store and a waiter ---- */

typedef struct fx {
    char dir[32]; /* /tmp/cameo-test-XXXXXX */
    cameo_origin_t *o;
    waiter_t *w;
} fx_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_open(fx_t *f, unsigned threads, unsigned queue_max, uint64_t retention_ms)
{
    cameo_local_config_t cfg = {
        .dir = f->dir, .threads = threads, .queue_max = queue_max, .blob_retention_ms = retention_ms};
    char errbuf[256];

    assert_null(f->o);
    if (cameo_origin_local_open(&cfg, &f->o, errbuf, sizeof errbuf) != CAMEO_OK)
        fail_msg("open %s: %s", f->dir, errbuf);
    assert_non_null(f->o);
}

/* Reopens f's store as origin_blobs does: avatar bytes elsewhere. */
static void fx_open_elsewhere(fx_t *f, uint64_t retention_ms)
{
    cameo_local_config_t cfg = {
        .dir = f->dir, .threads = 2, .blob_retention_ms = retention_ms, .blobs_elsewhere = 1};
    char errbuf[256];

    assert_null(f->o);
    if (cameo_origin_local_open(&cfg, &f->o, errbuf, sizeof errbuf) != CAMEO_OK)
        fail_msg("open %s: %s", f->dir, errbuf);
}

static void fx_close(fx_t *f)
{
    if (f->o)
        f->o->ops->destroy(f->o);
    f->o = NULL;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);

    assert_non_null(f);
    strcpy(f->dir, "/tmp/cameo-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->w = waiter_new();
    fx_open(f, 0, 0, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    waiter_free(f->w);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- direct database access, a second connection ---- */

static sqlite3 *db_open(const fx_t *f)
{
    char path[128];
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/cameo.db", f->dir);
    assert_int_equal(SQLITE_OK, sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void db_exec(const fx_t *f, const char *sql)
{
    sqlite3 *db = db_open(f);
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* db_exec on a database file that may not exist yet. */
static void db_exec_create(const fx_t *f, const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;
    char *msg = NULL;

    snprintf(path, sizeof path, "%s/cameo.db", f->dir);
    assert_int_equal(SQLITE_OK, sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL));
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The single integer (or text as an integer 0) that sql returns. */
static long long db_int(const fx_t *f, const char *sql)
{
    sqlite3 *db = db_open(f);
    sqlite3_stmt *st = NULL;
    long long v;

    assert_int_equal(SQLITE_OK, sqlite3_prepare_v2(db, sql, -1, &st, NULL));
    assert_int_equal(SQLITE_ROW, sqlite3_step(st));
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- tests ---- */

static void test_put_creates_then_updates_and_keeps_avatar(void **state)
{
    fx_t *f = *state;
    const rec_copy_t *r;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "alice", "{\"name\":\"Alice\"}", 1000));
    assert_int_equal(1, f->w->created);
    assert_int_equal(1, f->w->n);
    assert_string_equal("alice", f->w->recs[0].id);
    assert_string_equal("{\"name\":\"Alice\"}", f->w->recs[0].doc);
    assert_int_equal(1000, f->w->recs[0].updated_at);
    assert_string_equal("", f->w->recs[0].avatar_version);

    r = get_one(f->o, f->w, "alice");
    assert_non_null(r);
    assert_string_equal("{\"name\":\"Alice\"}", r->doc);
    assert_int_equal(strlen("{\"name\":\"Alice\"}"), r->doc_len);

    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "alice", "PNGDATA-1", "v1", 1500));
    assert_string_equal("v1", f->w->recs[0].avatar_version);
    assert_string_equal("image/png", f->w->recs[0].avatar_type);

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "alice", "{\"name\":\"Alice B\"}", 2000));
    assert_int_equal(0, f->w->created);
    assert_string_equal("{\"name\":\"Alice B\"}", f->w->recs[0].doc);
    assert_string_equal("v1", f->w->recs[0].avatar_version);
    assert_int_equal(2000, f->w->recs[0].updated_at);

    r = get_one(f->o, f->w, "alice");
    assert_non_null(r);
    assert_string_equal("{\"name\":\"Alice B\"}", r->doc);
    assert_string_equal("v1", r->avatar_version);
    assert_string_equal("image/png", r->avatar_type);
    assert_int_equal(2000, r->updated_at);
}

static void test_batch_get_returns_only_found_ids(void **state)
{
    fx_t *f = *state;
    static char names[MAX_RECS][16];
    const char *ids[MAX_RECS];
    char doc[64];
    int seen[MAX_RECS] = {0};

    for (int i = 0; i < MAX_RECS; i++) {
        snprintf(names[i], sizeof names[i], "u%03d", i);
        ids[i] = names[i];
    }
    for (int i = 0; i < 100; i += 2) {
        snprintf(doc, sizeof doc, "{\"n\":%d}", i);
        assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, ids[i], doc, 1000 + (uint64_t)i));
    }

    /* All 1000 ids in one call: only the 50 that exist come back. */
    assert_int_equal(CAMEO_OK, get_profiles(f->o, f->w, ids, MAX_RECS));
    assert_int_equal(50, f->w->n);
    for (size_t k = 0; k < f->w->n; k++) {
        const rec_copy_t *r = &f->w->recs[k];
        int i = atoi(r->id + 1);
        assert_true(i >= 0 && i < 100 && i % 2 == 0);
        assert_int_equal(0, seen[i]);
        seen[i] = 1;
        snprintf(doc, sizeof doc, "{\"n\":%d}", i);
        assert_string_equal(doc, r->doc);
        assert_int_equal(1000 + i, r->updated_at);
    }

    /* Duplicates come back once; none found is an empty success. */
    const char *dup[] = {"u000", "u000", "u001", "nobody"};
    assert_int_equal(CAMEO_OK, get_profiles(f->o, f->w, dup, 4));
    assert_int_equal(1, f->w->n);
    assert_string_equal("u000", f->w->recs[0].id);
    const char *none[] = {"u001", "u003"};
    assert_int_equal(CAMEO_OK, get_profiles(f->o, f->w, none, 2));
    assert_int_equal(0, f->w->n);
    assert_int_equal(CAMEO_OK, get_profiles(f->o, f->w, NULL, 0));
    assert_int_equal(0, f->w->n);
}

static void test_list_ids_pages_in_byte_order(void **state)
{
    fx_t *f = *state;
    /* Inserted out of order; byte order puts upper case and digits first. */
    const char *ids[] = {"bob", "Zed", "alice", "9lives", "al", "carol"};
    const char *sorted[] = {"9lives", "Zed", "al", "alice", "bob", "carol"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, ids[i], "{}", 1000));

    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, NULL, 1000));
    assert_int_equal(6, f->w->n);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(sorted[i], f->w->recs[i].id);

    /* Pages: after is exclusive, limit bounds the page. */
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "", 2));
    assert_int_equal(2, f->w->n);
    assert_string_equal("Zed", f->w->recs[1].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "Zed", 2));
    assert_int_equal(2, f->w->n);
    assert_string_equal("al", f->w->recs[0].id);
    assert_string_equal("alice", f->w->recs[1].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "alz", 10)); /* after need not exist */
    assert_int_equal(2, f->w->n);
    assert_string_equal("bob", f->w->recs[0].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "carol", 10));
    assert_int_equal(0, f->w->n);

    /* A deleted user is no longer listed. */
    assert_int_equal(CAMEO_OK, delete_profile(f->o, f->w, "bob", 2000));
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "alice", 10));
    assert_int_equal(1, f->w->n);
    assert_string_equal("carol", f->w->recs[0].id);

    /* Bad arguments fail at once, without a callback. */
    assert_int_equal(CAMEO_EINVAL, f->o->ops->list_ids(f->o, NULL, NULL, 0, list_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, f->o->ops->list_ids(f->o, NULL, NULL, 1001, list_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, f->o->ops->list_ids(f->o, NULL, NULL, 10, NULL, f->w));
}

static void test_list_ids_pages_are_full_though_rows_it_skips_come_between(void **state)
{
    fx_t *f = *state;
    const char *ids[] = {"a", "c", "e"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, ids[i], "{}", 1000));
    /* Rows no API call could have written, between and around them: an
     * empty id, ids with bytes outside [A-Za-z0-9._-], one of 129 bytes,
     * and a blob. */
    char sql[600];
    snprintf(sql, sizeof sql,
             "INSERT INTO users(id, doc, updated_at) VALUES('', '{}', 0), ('a b', '{}', 0), "
             "('b\"q', '{}', 0), ('d/x', '{}', 0), (x'6262', '{}', 0), ('%0129d', '{}', 0)",
             0);
    db_exec(f, sql);

    /* A page holds limit ids whenever that many follow: the skipped rows
     * (before the LIMIT, not after it) never shorten it. */
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, NULL, 2));
    assert_int_equal(2, f->w->n);
    assert_string_equal("a", f->w->recs[0].id);
    assert_string_equal("c", f->w->recs[1].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "a", 1));
    assert_int_equal(1, f->w->n);
    assert_string_equal("c", f->w->recs[0].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "c", 2));
    assert_int_equal(1, f->w->n); /* the short page is the last */
    assert_string_equal("e", f->w->recs[0].id);
    assert_int_equal(CAMEO_OK, list_ids(f->o, f->w, "e", 2));
    assert_int_equal(0, f->w->n);
}

static void test_same_bytes_twice_are_stored_once(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "a", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "b", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "a", "SAME-BYTES", "vs", 1100));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "b", "SAME-BYTES", "vs", 1200));
    /* The same put again is idempotent. */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "a", "SAME-BYTES", "vs", 1300));
    assert_string_equal("vs", f->w->recs[0].avatar_version);

    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs"));
    assert_int_equal(10, db_int(f, "SELECT size FROM blobs"));
    assert_int_equal(2, db_int(f, "SELECT count(*) FROM avatars"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM avatars WHERE superseded_at IS NOT NULL"));
    /* Content-addressed by SHA-256: sha256("SAME-BYTES") in hex. */
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs WHERE length(sha256) = 64 AND "
                                  "sha256 = lower(sha256)"));

    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "b", "vs"));
    assert_int_equal(10, f->w->blob_len);
    assert_memory_equal("SAME-BYTES", f->w->blob, 10);
    assert_string_equal("image/png", f->w->blob_type);
    assert_string_equal("vs", f->w->blob_version);
}

/* origin_blobs keeps the bytes in S3: the store records only the pointer. */
static void test_blobs_elsewhere_stores_the_pointer_and_hash_but_no_bytes(void **state)
{
    fx_t *f = *state;
    cameo_local_config_t cfg = {.dir = f->dir, .blobs_elsewhere = 1};
    char errbuf[256];

    fx_close(f);
    assert_int_equal(CAMEO_OK, cameo_origin_local_open(&cfg, &f->o, errbuf, sizeof errbuf));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "a", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "a", "ELSEWHERE-BYTES", "v1", 1100));
    assert_string_equal("v1", f->w->recs[0].avatar_version);
    assert_string_equal("v1", get_one(f->o, f->w, "a")->avatar_version);
    assert_int_equal(0, db_int(f, "SELECT length(data) FROM blobs"));
    assert_int_equal(15, db_int(f, "SELECT size FROM blobs"));
    /* sha256("ELSEWHERE-BYTES") is the blob's key, as when bytes are kept. */
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs WHERE length(sha256) = 64"));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "a", "OTHER", "v2", 1200));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM avatars WHERE superseded_at IS NOT NULL"));
    assert_int_equal(CAMEO_ENOTSUP, f->o->ops->get_avatar(f->o, NULL, "a", "v1", blob_cb, f->w));
    assert_int_equal(CAMEO_ENOTFOUND, put_avatar(f->o, f->w, "nobody", "X", "v", 1300));
}

/* origin_blobs hands over the SHA-256 its PUT sent: the store records it
 * as given (the bytes are not hashed again), and refuses a malformed hash
 * or an origin that keeps the bytes itself. */
static void test_put_avatar_hashed_records_the_hash_it_is_given(void **state)
{
    fx_t *f = *state;
    cameo_local_config_t cfg = {.dir = f->dir, .blobs_elsewhere = 1};
    const char *sha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    cameo_blob_t b = {.data = "HASHED-BYTES", .len = 12, .content_type = "image/png", .version = "v1"};
    char errbuf[256];

    assert_int_equal(CAMEO_EINVAL, cameo__local_put_avatar_hashed(f->o, "a", &b, sha, 1000, write_cb, f->w));
    fx_close(f);
    assert_int_equal(CAMEO_OK, cameo_origin_local_open(&cfg, &f->o, errbuf, sizeof errbuf));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "a", "{}", 1000));
    assert_int_equal(CAMEO_EINVAL,
                     cameo__local_put_avatar_hashed(f->o, "a", &b, "00ff", 1100, write_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, cameo__local_put_avatar_hashed(f->o, "a", &b, NULL, 1100, write_cb, f->w));
    waiter_reset(f->w);
    assert_int_equal(CAMEO_OK, cameo__local_put_avatar_hashed(f->o, "a", &b, sha, 1100, write_cb, f->w));
    waiter_wait(f->w, 1);
    assert_int_equal(CAMEO_OK, f->w->err);
    assert_string_equal("v1", f->w->recs[0].avatar_version);
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs WHERE sha256 = "
                                  "'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff' "
                                  "AND size = 12 AND length(data) = 0"));
}

static void test_replace_keeps_old_version_readable(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "carol", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "carol", "first-picture", "v1", 1100));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "carol", "second-picture", "v2", 1200));
    assert_string_equal("v2", f->w->recs[0].avatar_version);
    assert_int_equal(1200, f->w->recs[0].updated_at);

    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "carol", "v1"));
    assert_int_equal(13, f->w->blob_len);
    assert_memory_equal("first-picture", f->w->blob, 13);
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "carol", "v2"));
    assert_memory_equal("second-picture", f->w->blob, 14);
    assert_int_equal(1200, db_int(f, "SELECT superseded_at FROM avatars WHERE version = 'v1'"));
    assert_int_equal(1, db_int(f, "SELECT superseded_at IS NULL FROM avatars WHERE version = 'v2'"));
    assert_string_equal("v2", get_one(f->o, f->w, "carol")->avatar_version);
}

static void test_reput_of_superseded_version_makes_it_current_again(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open(f, 2, 0, 10000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "dan", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "other", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "one", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "two", "v2", 2000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "one", "v1", 3000));
    assert_string_equal("v1", f->w->recs[0].avatar_version);

    /* Long after: GC takes v2 but never the current v1. */
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "other", 100000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "dan", "v2"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "dan", "v1"));
    assert_string_equal("v1", get_one(f->o, f->w, "dan")->avatar_version);
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs"));
}

static void test_delete_avatar_clears_pointer_and_blob_stays_until_gc(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "erin", "{\"x\":1}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "erin", "pic", "v1", 1100));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "erin", 1200));
    assert_int_equal(1, f->w->n);
    assert_string_equal("", f->w->recs[0].avatar_version);
    assert_string_equal("", f->w->recs[0].avatar_type);
    assert_string_equal("{\"x\":1}", f->w->recs[0].doc);

    const rec_copy_t *r = get_one(f->o, f->w, "erin");
    assert_non_null(r);
    assert_string_equal("", r->avatar_version);
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "erin", "v1"));
    assert_memory_equal("pic", f->w->blob, 3);
    assert_int_equal(1200, db_int(f, "SELECT superseded_at FROM avatars WHERE id = 'erin'"));

    /* Deleting an avatar that is not there is a no-op success. */
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "erin", 1300));
}

static void test_delete_profile_removes_user_and_supersedes_avatars(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "frank", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "frank", "pic", "v1", 1100));
    assert_int_equal(CAMEO_OK, delete_profile(f->o, f->w, "frank", 1200));
    assert_int_equal(0, f->w->n);
    assert_null(get_one(f->o, f->w, "frank"));
    assert_int_equal(CAMEO_ENOTFOUND, delete_profile(f->o, f->w, "frank", 1300));
    assert_int_equal(1200, db_int(f, "SELECT superseded_at FROM avatars WHERE id = 'frank'"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "frank", "v1"));

    /* Created again from scratch: a new user without the old avatar. */
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "frank", "{}", 1400));
    assert_int_equal(1, f->w->created);
    assert_string_equal("", f->w->recs[0].avatar_version);
}

static void test_missing_user_or_version_is_enotfound_and_writes_nothing(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_ENOTFOUND, put_avatar(f->o, f->w, "ghost", "pic", "v1", 1000));
    assert_int_equal(0, f->w->n);
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM blobs"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM avatars"));
    assert_int_equal(CAMEO_ENOTFOUND, delete_avatar(f->o, f->w, "ghost", 1000));
    assert_int_equal(CAMEO_ENOTFOUND, delete_profile(f->o, f->w, "ghost", 1000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "ghost", "v1"));

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "gina", "{}", 1000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "gina", "v1"));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "gina", "pic", "v1", 1000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "gina", "v2"));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "ghost", "v1"));

    char buf[256];
    assert_int_equal(CAMEO_OK, f->o->ops->status(f->o, buf, sizeof buf));
}

static void test_version_naming_other_bytes_is_refused_and_writes_nothing(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "hal", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "hal", "bytes-one", "v1", 1000));
    assert_int_equal(CAMEO_EINVAL, put_avatar(f->o, f->w, "hal", "bytes-two", "v1", 2000));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "hal", "v1"));
    assert_memory_equal("bytes-one", f->w->blob, 9);
}

static void test_reopen_after_close_preserves_everything(void **state)
{
    fx_t *f = *state;

    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "ivy", "{\"k\":\"v\"}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "ivy", "ivy-old", "v1", 1100));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "ivy", "ivy-new", "v2", 1200));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "jon", "{}", 1300));
    assert_int_equal(CAMEO_OK, delete_profile(f->o, f->w, "jon", 1400));
    fx_close(f);
    fx_open(f, 1, 0, 0);

    const rec_copy_t *r = get_one(f->o, f->w, "ivy");
    assert_non_null(r);
    assert_string_equal("{\"k\":\"v\"}", r->doc);
    assert_string_equal("v2", r->avatar_version);
    assert_string_equal("image/png", r->avatar_type);
    assert_int_equal(1200, r->updated_at);
    assert_null(get_one(f->o, f->w, "jon"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "ivy", "v1"));
    assert_memory_equal("ivy-old", f->w->blob, 7);
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "ivy", "v2"));
    assert_memory_equal("ivy-new", f->w->blob, 7);
    assert_int_equal(2, db_int(f, "PRAGMA user_version"));
}

static void test_fresh_store_is_wal_with_schema_version_and_private_dir(void **state)
{
    fx_t *f = *state;
    cameo_origin_t *nested = NULL;
    struct stat sb;
    char dir[64], errbuf[256];

    snprintf(dir, sizeof dir, "%s/a/b", f->dir);
    cameo_local_config_t cfg = {.dir = dir};
    assert_int_equal(CAMEO_OK, cameo_origin_local_open(&cfg, &nested, errbuf, sizeof errbuf));
    assert_int_equal(0, stat(dir, &sb));
    assert_int_equal(0700, sb.st_mode & 0777);
    nested->ops->destroy(nested);

    sqlite3 *db = db_open(f);
    sqlite3_stmt *st;
    assert_int_equal(SQLITE_OK, sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL));
    assert_int_equal(SQLITE_ROW, sqlite3_step(st));
    assert_string_equal("wal", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(2, db_int(f, "PRAGMA user_version"));
    assert_int_equal(4, db_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                  "name IN ('users', 'avatars', 'blobs', 'object_gc')"));

    assert_int_equal(CAMEO_OK, f->o->ops->status(f->o, errbuf, sizeof errbuf));
    assert_non_null(strstr(errbuf, "ok"));
    assert_string_equal("local", f->o->ops->name);
}

static void test_open_refuses_a_newer_schema(void **state)
{
    fx_t *f = *state;
    char errbuf[256];
    cameo_local_config_t cfg = {.dir = f->dir};
    cameo_origin_t *o = (cameo_origin_t *)&o;

    fx_close(f);
    db_exec(f, "PRAGMA user_version = 99");
    assert_int_equal(CAMEO_EIO, cameo_origin_local_open(&cfg, &o, errbuf, sizeof errbuf));
    assert_null(o);
    assert_non_null(strstr(errbuf, "newer"));
    db_exec(f, "PRAGMA user_version = 2");
    fx_open(f, 0, 0, 0);
}

static void test_open_on_unusable_path_fails_with_eio_and_message(void **state)
{
    fx_t *f = *state;
    char path[128], errbuf[256];
    cameo_origin_t *o = NULL;
    cameo_local_config_t cfg = {.dir = path};
    FILE *fp;

    /* A regular file where a directory should be (works as root too). */
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/plainfile/sub", f->dir);
    assert_int_equal(CAMEO_EIO, cameo_origin_local_open(&cfg, &o, errbuf, sizeof errbuf));
    assert_null(o);
    assert_non_null(strstr(errbuf, "plainfile"));
    assert_non_null(strstr(errbuf, "cannot create directory"));

    /* cameo.db is a directory. */
    snprintf(path, sizeof path, "%s/d1", f->dir);
    assert_int_equal(0, mkdir(path, 0700));
    snprintf(path, sizeof path, "%s/d1/cameo.db", f->dir);
    assert_int_equal(0, mkdir(path, 0700));
    snprintf(path, sizeof path, "%s/d1", f->dir);
    assert_int_equal(CAMEO_EIO, cameo_origin_local_open(&cfg, &o, errbuf, sizeof errbuf));
    assert_null(o);
    assert_non_null(strstr(errbuf, "cameo.db"));

    /* cameo.db is not a database. */
    snprintf(path, sizeof path, "%s/d2", f->dir);
    assert_int_equal(0, mkdir(path, 0700));
    snprintf(path, sizeof path, "%s/d2/cameo.db", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/d2", f->dir);
    assert_int_equal(CAMEO_EIO, cameo_origin_local_open(&cfg, &o, errbuf, sizeof errbuf));
    assert_null(o);
    assert_non_null(strstr(errbuf, "not a database"));
}

static void test_invalid_arguments_fail_synchronously_without_callback(void **state)
{
    fx_t *f = *state;
    cameo_origin_t *o = f->o;
    const char *ids[MAX_RECS + 1];
    cameo_blob_t b = {.data = "x", .len = 1, .content_type = "image/png", .version = "v1"};
    cameo_blob_t empty = {.data = "", .len = 0, .content_type = "image/png", .version = "v1"};
    char longid[CAMEO_ID_MAX + 2];

    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    for (int i = 0; i <= MAX_RECS; i++)
        ids[i] = "x";
    waiter_reset(f->w);
    assert_int_equal(CAMEO_EINVAL, o->ops->get_profiles(o, NULL, ids, MAX_RECS + 1, profiles_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->put_profile(o, NULL, "k", "[1]", 3, 1, write_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->put_profile(o, NULL, "k", "  ", 2, 1, write_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->put_profile(o, NULL, longid, "{}", 2, 1, write_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->put_avatar(o, NULL, "k", &empty, 1, write_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->put_avatar(o, NULL, "k", &b, 1, NULL, f->w));
    assert_int_equal(CAMEO_EINVAL, o->ops->get_avatar(o, NULL, "k", "", blob_cb, f->w));
    assert_int_equal(0, waiter_fired(f->w));
}

static void test_queue_full_answers_ebusy_and_counts_rejections(void **state)
{
    fx_t *f = *state;
    waiter_t *blocker = waiter_new(), *queued = waiter_new();
    const char *ids[] = {"q"};
    char buf[256];

    fx_close(f);
    fx_open(f, 1, 1, 0);
    /* The only worker is held inside a callback: it has taken its job. */
    blocker->hold = 1;
    assert_int_equal(CAMEO_OK, f->o->ops->get_profiles(f->o, NULL, ids, 1, blocking_profiles_cb, blocker));
    pthread_mutex_lock(&blocker->mu);
    while (!blocker->entered)
        pthread_cond_wait(&blocker->cv, &blocker->mu);
    pthread_mutex_unlock(&blocker->mu);

    waiter_reset(queued);
    assert_int_equal(CAMEO_OK, f->o->ops->put_profile(f->o, NULL, "q", "{}", 2, 1000, write_cb, queued));
    assert_int_equal(CAMEO_EBUSY, f->o->ops->put_profile(f->o, NULL, "q", "{}", 2, 1000, write_cb, f->w));
    assert_int_equal(CAMEO_EBUSY, f->o->ops->get_profiles(f->o, NULL, ids, 1, profiles_cb, f->w));
    assert_int_equal(CAMEO_OK, f->o->ops->status(f->o, buf, sizeof buf));
    assert_non_null(strstr(buf, "queue 1/1"));
    assert_non_null(strstr(buf, "2 rejected"));

    pthread_mutex_lock(&blocker->mu);
    blocker->hold = 0;
    pthread_cond_broadcast(&blocker->cv);
    pthread_mutex_unlock(&blocker->mu);
    waiter_wait(blocker, 1);
    waiter_wait(queued, 1);
    assert_int_equal(CAMEO_OK, blocker->err);
    assert_int_equal(CAMEO_OK, queued->err);
    assert_int_equal(1, queued->created);
    fx_close(f);
    assert_int_equal(0, waiter_fired(f->w)); /* rejected calls never call back */
    waiter_free(blocker);
    waiter_free(queued);
}

static void test_destroy_drains_queued_operations(void **state)
{
    fx_t *f = *state;
    char id[16];

    waiter_reset(f->w);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "d%d", i);
        assert_int_equal(CAMEO_OK, f->o->ops->put_profile(f->o, NULL, id, "{}", 2, 1000, write_cb, f->w));
    }
    fx_close(f); /* returns only after all 20 callbacks */
    assert_int_equal(20, waiter_fired(f->w));
    assert_int_equal(20, db_int(f, "SELECT count(*) FROM users"));
}

static void test_gc_removes_superseded_versions_past_retention(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open(f, 2, 0, 10000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "g", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "g2", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "h", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g2", "A1", "v1", 1000)); /* shares A1's blob */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A1", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A2", "v2", 2000)); /* v1 superseded at 2000 */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A3", "v3", 5000)); /* v2 at 5000 */
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "g", "v1"));             /* within retention */

    /* At 12001 only v1 (superseded at 2000) is past the 10 s retention. */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A4", "v4", 12001)); /* v3 at 12001 */
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "g", "v1"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "g", "v2"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "g2", "v1")); /* blob still referenced by g2 */
    assert_memory_equal("A1", f->w->blob, 2);
    assert_int_equal(4, db_int(f, "SELECT count(*) FROM blobs"));

    /* delete_profile supersedes v4 at 30000 and collects v2, v3. */
    assert_int_equal(CAMEO_OK, delete_profile(f->o, f->w, "g", 30000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "g", "v2"));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "g", "v3"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "g", "v4"));
    assert_int_equal(2, db_int(f, "SELECT count(*) FROM blobs")); /* A1 (g2) and A4 */

    /* Any avatar write past 40000 collects v4; g2's current v1 is never touched. */
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "h", 40001));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "g", "v4"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM avatars"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM blobs"));
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "g2", "v1"));
}

static void test_gc_is_bounded_to_100_versions_per_write(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open(f, 1, 0, 1000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "x", "{}", 1000));
    /* 150 old superseded versions, each with its own blob, written directly. */
    db_exec(f, "BEGIN;"
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) "
               "INSERT INTO blobs SELECT printf('%064d', i), zeroblob(8), 8 FROM n;"
               "INSERT INTO avatars SELECT 'old', 'v' || rowid, sha256, 'image/png', 0, 1 FROM blobs;"
               "COMMIT;");
    assert_int_equal(150, db_int(f, "SELECT count(*) FROM avatars"));

    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "x", 5000));
    assert_int_equal(50, db_int(f, "SELECT count(*) FROM avatars"));
    assert_int_equal(50, db_int(f, "SELECT count(*) FROM blobs"));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "x", 5001));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM avatars"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM blobs"));
}

static void test_write_blocked_past_busy_timeout_is_ebusy_and_changes_nothing(void **state)
{
    fx_t *f = *state;
    waiter_t *reader = waiter_new();
    const char *ids[] = {"busy"};
    char buf[256];
    sqlite3 *db = db_open(f);

    /* Another process holds the write lock for longer than busy_timeout. */
    assert_int_equal(SQLITE_OK, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    waiter_reset(f->w);
    assert_int_equal(CAMEO_OK, f->o->ops->put_profile(f->o, NULL, "busy", "{}", 2, 1000, write_cb, f->w));
    /* WAL: the other worker still serves reads meanwhile. */
    waiter_reset(reader);
    assert_int_equal(CAMEO_OK, f->o->ops->get_profiles(f->o, NULL, ids, 1, profiles_cb, reader));
    waiter_wait(reader, 1);
    assert_int_equal(CAMEO_OK, reader->err);
    assert_int_equal(0, reader->n);

    waiter_wait(f->w, 1);
    assert_int_equal(CAMEO_EBUSY, f->w->err);
    assert_int_equal(0, f->w->n);
    assert_int_equal(CAMEO_OK, f->o->ops->status(f->o, buf, sizeof buf)); /* busy is not a fault */
    assert_int_equal(SQLITE_OK, sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL));
    sqlite3_close(db);

    assert_null(get_one(f->o, f->w, "busy"));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "busy", "{}", 2000));
    assert_int_equal(1, f->w->created);
    waiter_free(reader);
}

/* Child side of the durability test: kill -9 right after the acknowledgement. */
static void sigkill_after_ack_cb(void *arg, int err, const cameo_profile_rec_t *rec, int created)
{
    (void)arg;
    (void)rec;
    (void)created;
    if (err != CAMEO_OK)
        _exit(3);
    kill(getpid(), SIGKILL);
}

static void put_avatar_then_die_cb(void *arg, int err, const cameo_profile_rec_t *rec, int created)
{
    cameo_origin_t *o = arg;
    cameo_blob_t b = {.data = "durable-bytes", .len = 13, .content_type = "image/webp", .version = "vd"};

    (void)rec;
    (void)created;
    if (err != CAMEO_OK ||
        o->ops->put_avatar(o, NULL, "dura", &b, 2000, sigkill_after_ack_cb, NULL) != CAMEO_OK)
        _exit(2);
}

static void test_acknowledged_write_survives_sigkill(void **state)
{
    fx_t *f = *state;
    int status = 0;
    pid_t pid;

    fx_close(f);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cameo_local_config_t cfg = {.dir = f->dir};
        cameo_origin_t *o = NULL;
        char errbuf[256];
        if (cameo_origin_local_open(&cfg, &o, errbuf, sizeof errbuf) != CAMEO_OK)
            _exit(1);
        if (o->ops->put_profile(o, NULL, "dura", "{\"d\":1}", 7, 1000, put_avatar_then_die_cb, o) != CAMEO_OK)
            _exit(1);
        for (;;)
            pause();
    }
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFSIGNALED(status));
    assert_int_equal(SIGKILL, WTERMSIG(status));

    fx_open(f, 0, 0, 0);
    const rec_copy_t *r = get_one(f->o, f->w, "dura");
    assert_non_null(r);
    assert_string_equal("{\"d\":1}", r->doc);
    assert_string_equal("vd", r->avatar_version);
    assert_string_equal("image/webp", r->avatar_type);
    assert_int_equal(CAMEO_OK, get_avatar(f->o, f->w, "dura", "vd"));
    assert_memory_equal("durable-bytes", f->w->blob, 13);
}

/* ---- the outbox of S3 objects (origin_local.h) ---- */

static void test_gc_queues_the_objects_of_superseded_versions_when_blobs_are_elsewhere(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open_elsewhere(f, 10000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "g", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "h", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A1", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "h", "A1", "v1", 1000)); /* same bytes, h's object */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A2", "v2", 2000)); /* g/v1 superseded at 2000 */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A3", "v3", 5000)); /* g/v2 at 5000 */
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc"));          /* within retention */

    /* At 12001 only g/v1 is past the 10 s retention: its row goes, its object is queued. */
    assert_int_equal(CAMEO_ENOTFOUND, delete_avatar(f->o, f->w, "nobody", 12001)); /* rolled back, GC too */
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "g", "A4", "v4", 12001)); /* g/v3 at 12001 */
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc WHERE id = 'g' AND version = 'v1' AND "
                                  "queued_at = 12001 AND attempts = 0 AND claimed_until = 0"));

    /* delete_profile supersedes g/v4 at 30000 and collects g/v2 and g/v3. */
    assert_int_equal(CAMEO_OK, delete_profile(f->o, f->w, "g", 30000));
    assert_int_equal(3, db_int(f, "SELECT count(*) FROM object_gc WHERE id = 'g'"));
    /* Later, g/v4 too; h's current v1 (same bytes as g/v1) is never queued. */
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "h", 40001));
    assert_int_equal(4, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc WHERE id = 'h'")); /* superseded at 40001 */
    /* No queued version is named by an avatars row, or by a user. */
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc g JOIN avatars a ON a.id = g.id AND "
                                  "a.version = g.version"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc g JOIN users u ON u.id = g.id AND "
                                  "u.avatar_version = g.version"));
}

static void test_gc_queues_nothing_when_the_bytes_are_in_the_store(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open(f, 1, 0, 1000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "l", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "l", "L1", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "l", "L2", "v2", 2000));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "l", 9000));
    assert_int_equal(CAMEO_ENOTFOUND, get_avatar(f->o, f->w, "l", "v1")); /* collected */
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc"));
}

static void test_current_version_is_never_queued_even_when_put_again_after_superseded(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open_elsewhere(f, 10000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "dan", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "one", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "two", "v2", 2000)); /* v1 superseded */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "one", "v1", 3000)); /* v1 current again */
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "other", "{}", 100000));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "other", 100000)); /* GC: v2 only */
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc WHERE id = 'dan' AND version = 'v2'"));

    /* The same bytes put again after their object was queued: current, out of the outbox. */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "dan", "two", "v2", 100500));
    assert_string_equal("v2", f->w->recs[0].avatar_version);
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 100600, 60000, 10));
    assert_int_equal(0, f->w->n);
}

static void test_claim_leases_rows_and_done_removes_them_or_retries_later(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open_elsewhere(f, 1000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "c", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "c", "C1", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "c", "C2", "v2", 2000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "c", "C3", "v3", 3000));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "c", 10000)); /* queues v1, v2 */
    assert_int_equal(2, db_int(f, "SELECT count(*) FROM object_gc"));

    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 10000, 5000, 1)); /* the limit */
    assert_int_equal(1, f->w->n);
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 10000, 5000, 10));
    assert_int_equal(1, f->w->n); /* the other one: the first is leased */
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 14999, 5000, 10));
    assert_int_equal(0, f->w->n); /* both leased until 15000 */
    assert_int_equal(2, db_int(f, "SELECT count(*) FROM object_gc WHERE claimed_until = 15000"));

    /* A claimed version cannot become current (its DELETE may be in flight). */
    assert_int_equal(CAMEO_EBUSY, put_avatar(f->o, f->w, "c", "C1", "v1", 14000));
    assert_string_equal("", get_one(f->o, f->w, "c")->avatar_version);

    /* v1's object is gone; v2's DELETE failed: retried from 20000. */
    assert_int_equal(CAMEO_OK, gc_done(f->o, f->w, "c", "v1", 0, 0));
    assert_int_equal(CAMEO_OK, gc_done(f->o, f->w, "c", "v2", 1, 20000));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc WHERE version = 'v2' AND attempts = 1 AND "
                                  "not_before = 20000 AND claimed_until = 0"));
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 19999, 5000, 10));
    assert_int_equal(0, f->w->n);
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 20000, 100, 10));
    assert_int_equal(1, f->w->n);
    assert_string_equal("c", f->w->recs[0].id);
    assert_string_equal("v2", f->w->recs[0].avatar_version);
    assert_int_equal(1, f->w->recs[0].updated_at); /* attempts */

    /* A lease never reported (a crash) ends by itself. */
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 20099, 100, 10));
    assert_int_equal(0, f->w->n);
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 20100, 100, 10));
    assert_int_equal(1, f->w->n);

    /* Released (not leased), the version can be put again: out of the outbox. */
    assert_int_equal(CAMEO_OK, gc_done(f->o, f->w, "c", "v2", 2, 30000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "c", "C2", "v2", 21000)); /* and GC queues v3 */
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc WHERE version = 'v2'"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc WHERE version = 'v3'"));
    /* And v1, released by done, too. */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "c", "C1", "v1", 22000));

    assert_int_equal(CAMEO_EINVAL, cameo__local_gc_claim(f->o, 1, 1, 0, claim_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, cameo__local_gc_claim(f->o, 1, 1, 1001, claim_cb, f->w));
    assert_int_equal(CAMEO_EINVAL, cameo__local_gc_claim(f->o, 1, 1, 1, NULL, f->w));
    assert_int_equal(CAMEO_EINVAL, cameo__local_gc_done(f->o, NULL, 1, done_cb, f->w));
}

static void test_claim_never_hands_out_a_version_an_avatars_row_names(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    fx_open_elsewhere(f, 1000);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "k", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "k", "K1", "v1", 1000));
    /* A row for the current version, as no code path writes it (a bug, a hand edit). */
    db_exec(f, "INSERT INTO object_gc(id, version, queued_at) VALUES('k', 'v1', 0)");
    assert_int_equal(CAMEO_OK, gc_claim(f->o, f->w, 5000, 1000, 10));
    assert_int_equal(0, f->w->n);
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc")); /* dropped */
}

typedef struct notified {
    pthread_mutex_t mu;
    unsigned calls, queued;
} notified_t;

static void on_gc_notify(void *arg, unsigned queued)
{
    notified_t *n = arg;

    pthread_mutex_lock(&n->mu);
    n->calls++;
    n->queued += queued;
    pthread_mutex_unlock(&n->mu);
}

static void test_a_write_that_queues_objects_notifies_after_commit(void **state)
{
    fx_t *f = *state;
    notified_t n = {.mu = PTHREAD_MUTEX_INITIALIZER};

    fx_close(f);
    fx_open_elsewhere(f, 1000);
    cameo__local_gc_notify(f->o, on_gc_notify, &n);
    assert_int_equal(CAMEO_OK, put_profile(f->o, f->w, "n", "{}", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "n", "N1", "v1", 1000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "n", "N2", "v2", 2000));
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "n", "N3", "v3", 3000));
    assert_int_equal(CAMEO_OK, delete_avatar(f->o, f->w, "n", 10000)); /* queues v1, v2 */
    fx_close(f); /* joins the store's threads: the notification ran */
    assert_int_equal(1, n.calls);
    assert_int_equal(2, n.queued);
    pthread_mutex_destroy(&n.mu);
}

static void test_open_migrates_a_version_1_store(void **state)
{
    fx_t *f = *state;

    fx_close(f);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(0, mkdir(f->dir, 0700));
    /* The version 1 schema as a release before the outbox created it, with data. */
    db_exec_create(
        f, "PRAGMA journal_mode = WAL;"
           "CREATE TABLE blobs(sha256 TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL, size INTEGER NOT "
           "NULL);"
           "CREATE TABLE avatars(id TEXT NOT NULL, version TEXT NOT NULL,"
           " sha256 TEXT NOT NULL REFERENCES blobs(sha256), content_type TEXT NOT NULL,"
           " created_at INTEGER NOT NULL, superseded_at INTEGER NULL, PRIMARY KEY(id, version));"
           "CREATE INDEX avatars_by_sha256 ON avatars(sha256);"
           "CREATE INDEX avatars_superseded ON avatars(superseded_at) WHERE superseded_at IS NOT NULL;"
           "CREATE TABLE users(id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, avatar_version TEXT,"
           " updated_at INTEGER NOT NULL, FOREIGN KEY(id, avatar_version) REFERENCES avatars(id, "
           "version));"
           "INSERT INTO blobs VALUES('s1', x'', 5), ('s2', x'', 6);"
           "INSERT INTO avatars VALUES('m', 'v1', 's1', 'image/png', 100, 200),"
           " ('m', 'v2', 's2', 'image/png', 200, NULL);"
           "INSERT INTO users VALUES('m', '{\"n\":1}', 'v2', 200);"
           "PRAGMA user_version = 1;");
    fx_open_elsewhere(f, 1000);
    assert_int_equal(2, db_int(f, "PRAGMA user_version"));
    assert_int_equal(0, db_int(f, "SELECT count(*) FROM object_gc"));
    const rec_copy_t *r = get_one(f->o, f->w, "m");
    assert_non_null(r);
    assert_string_equal("v2", r->avatar_version);
    assert_string_equal("{\"n\":1}", r->doc);
    /* The superseded v1 from before the migration is queued by the next GC. */
    assert_int_equal(CAMEO_OK, put_avatar(f->o, f->w, "m", "M3", "v3", 5000));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc WHERE id = 'm' AND version = 'v1'"));
    fx_close(f);
    fx_open_elsewhere(f, 1000); /* version 2 opens as is */
    assert_int_equal(2, db_int(f, "PRAGMA user_version"));
    assert_int_equal(1, db_int(f, "SELECT count(*) FROM object_gc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_creates_then_updates_and_keeps_avatar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_get_returns_only_found_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_ids_pages_in_byte_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_ids_pages_are_full_though_rows_it_skips_come_between, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_bytes_twice_are_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs_elsewhere_stores_the_pointer_and_hash_but_no_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_avatar_hashed_records_the_hash_it_is_given, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_keeps_old_version_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reput_of_superseded_version_makes_it_current_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_avatar_clears_pointer_and_blob_stays_until_gc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_profile_removes_user_and_supersedes_avatars, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_user_or_version_is_enotfound_and_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_version_naming_other_bytes_is_refused_and_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_close_preserves_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_store_is_wal_with_schema_version_and_private_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_a_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_on_unusable_path_fails_with_eio_and_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments_fail_synchronously_without_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_answers_ebusy_and_counts_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_drains_queued_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_removes_superseded_versions_past_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_is_bounded_to_100_versions_per_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_blocked_past_busy_timeout_is_ebusy_and_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_write_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_gc_queues_the_objects_of_superseded_versions_when_blobs_are_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_queues_nothing_when_the_bytes_are_in_the_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_current_version_is_never_queued_even_when_put_again_after_superseded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_leases_rows_and_done_removes_them_or_retries_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claim_never_hands_out_a_version_an_avatars_row_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_write_that_queues_objects_notifies_after_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_migrates_a_version_1_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
