/*
 * origin_local.c - the embedded store origin: user profiles and
 * content-addressed avatar blobs in one SQLite database, DIR/cameo.db (WAL,
 * synchronous=FULL, busy_timeout 5000 ms, foreign keys on).
 *
 * Called by the engine (src/core/core_engine.c) through the method table of
 * include/cameo/origin.h, and by tests/unit/test_origin_local.c. Each
 * operation copies its inputs into a job, queues it on a bounded FIFO and
 * returns; a small pool of worker threads, each with its own connection and
 * its own cache of prepared statements, runs the jobs and fires the callbacks.
 * Every write is one BEGIN IMMEDIATE transaction: pointer, blob and the
 * bounded garbage collection of old avatar versions commit or roll back
 * together, so a crash never leaves a dangling pointer.
 *
 * Does not own: validation of ids, documents and images (the caller's), the
 * avatar version string (derived by the caller from the bytes, stored as
 * given), caching, metrics export, the clock (now_wall comes in as an
 * argument). Never calls back into the engine except through callbacks.
 *
 * Schema, PRAGMA user_version 2 (see schema_v1 and schema_v2 below; a
 * version 1 database is migrated when opened):
 *   blobs(sha256 PK, data, size)                      identical bytes stored once
 *   avatars(id, version, sha256 -> blobs, content_type, created_at, superseded_at)
 *   users(id PK, doc, avatar_version, updated_at), (id, avatar_version) -> avatars
 *   object_gc(id, version PK, queued_at, attempts, not_before, claimed_until)
 *                                                     S3 objects to delete (v2)
 * Invariant: the avatars row a user points to has superseded_at NULL, so GC
 * (which deletes superseded rows older than blob_retention_ms, then the blobs
 * they leave unreferenced) never removes a current avatar; the foreign keys
 * turn a violation into a failed write rather than a dangling pointer.
 * GC (at most GC_BATCH rows per write) runs inside every write that touches
 * avatars: put_avatar, delete_avatar and delete_profile. put_avatar and
 * delete_avatar set users.updated_at = now_wall (the record changed);
 * re-putting the current version changes nothing. delete_avatar's callback
 * gets the record too; delete_profile's gets NULL.
 * With blobs_elsewhere (origin_blobs keeps the bytes in S3) a blobs row
 * holds the SHA-256 and size of an avatar but zero bytes of data, and
 * get_avatar is not supported. GC then also queues the (id, version) of each
 * avatars row it removes in object_gc, the outbox origin_blobs drains through
 * origin_local.h (claim, then report): a version is queued only once no user
 * points to it, and put_avatar of a queued version takes it out of the
 * outbox (or fails with CAMEO_EBUSY while a claim holds it), in the same
 * transaction. Without blobs_elsewhere nothing is queued.
 *
 * Locks: one mutex, local_t.mu, guarding the queue, the counters and the
 * health fields. SQLite locks are only ever taken by workers while they do
 * not hold mu, so there is no lock order to get wrong.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "cameo/media.h"
#include "cameo/origin.h"
#include "origin/origin_local.h"

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 5000
#define DEFAULT_THREADS 2
#define MAX_THREADS 64
#define DEFAULT_QUEUE_MAX 4096
#define DEFAULT_RETENTION_MS (7ull * 24 * 3600 * 1000)
#define MAX_BATCH 1000          /* ids per get_profiles */
#define CONTENT_TYPE_MAX 127    /* longest MIME type we store, without NUL */
#define GC_BATCH 100            /* superseded avatar rows removed per write at most */
#define GC_CLAIM_MAX 1000       /* outbox rows per cameo__local_gc_claim or _done at most */
#define WAL_SIZE_LIMIT 67108864 /* bytes the WAL file is truncated to after a checkpoint */
#define STR_(x) #x
#define STR(x) STR_(x)

/* The columns every profile select returns, in the order rec_from_row reads. */
#define PROFILE_SELECT                                                                                       \
    "SELECT u.id, u.doc, u.avatar_version, a.content_type, u.updated_at FROM users u "                       \
    "LEFT JOIN avatars a ON a.id = u.id AND a.version = u.avatar_version "

static const char schema_v1[] =
    "CREATE TABLE blobs(sha256 TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL, size INTEGER NOT NULL);"
    "CREATE TABLE avatars(id TEXT NOT NULL, version TEXT NOT NULL,"
    " sha256 TEXT NOT NULL REFERENCES blobs(sha256), content_type TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, superseded_at INTEGER NULL, PRIMARY KEY(id, version));"
    "CREATE INDEX avatars_by_sha256 ON avatars(sha256);"
    "CREATE INDEX avatars_superseded ON avatars(superseded_at) WHERE superseded_at IS NOT NULL;"
    "CREATE TABLE users(id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, avatar_version TEXT,"
    " updated_at INTEGER NOT NULL, FOREIGN KEY(id, avatar_version) REFERENCES avatars(id, version));"
    "PRAGMA user_version = 1;";

/* Version 2: the outbox of S3 objects to delete (blobs_elsewhere). A row is
 * an avatar version GC removed; origin_blobs claims due rows (not_before and
 * claimed_until in the past), leasing them until claimed_until, and deletes
 * each row once its object is gone, or sets attempts and not_before to retry. */
static const char schema_v2[] =
    "CREATE TABLE object_gc(id TEXT NOT NULL, version TEXT NOT NULL, queued_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, not_before INTEGER NOT NULL DEFAULT 0,"
    " claimed_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(id, version));"
    "CREATE INDEX object_gc_due ON object_gc(not_before);"
    "PRAGMA user_version = 2;";

/* Prepared statements, cached per connection and prepared on first use. */
enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET_MANY,
    ST_GET_ONE,
    ST_USER_AVATAR,
    ST_UPSERT_USER,
    ST_DELETE_USER,
    ST_SUPERSEDE_ALL,
    ST_SUPERSEDE_ONE,
    ST_SET_AVATAR,
    ST_INSERT_BLOB,
    ST_UPSERT_AVATAR,
    ST_GET_AVATAR,
    ST_GC_AVATARS,
    ST_GC_BLOB,
    ST_GC_QUEUE,
    ST_GC_UNQUEUE,
    ST_GC_QUEUED,
    ST_GC_DROP_REVIVED,
    ST_GC_CLAIM,
    ST_GC_FORGET,
    ST_GC_RETRY,
    ST_LIST_IDS,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* One query for the whole batch: ?1 is a JSON array of ids; IN dedupes. */
    [ST_GET_MANY] = PROFILE_SELECT "WHERE u.id IN (SELECT value FROM json_each(?1))",
    [ST_GET_ONE] = PROFILE_SELECT "WHERE u.id = ?1",
    [ST_USER_AVATAR] = "SELECT avatar_version FROM users WHERE id = ?1",
    [ST_UPSERT_USER] = "INSERT INTO users(id, doc, updated_at) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE "
                       "SET doc = excluded.doc, updated_at = excluded.updated_at",
    [ST_DELETE_USER] = "DELETE FROM users WHERE id = ?1",
    [ST_SUPERSEDE_ALL] = "UPDATE avatars SET superseded_at = ?2 WHERE id = ?1 AND superseded_at IS NULL",
    [ST_SUPERSEDE_ONE] = "UPDATE avatars SET superseded_at = ?3 WHERE id = ?1 AND version = ?2 "
                         "AND superseded_at IS NULL",
    [ST_SET_AVATAR] = "UPDATE users SET avatar_version = ?2, updated_at = ?3 WHERE id = ?1",
    [ST_INSERT_BLOB] =
        "INSERT INTO blobs(sha256, data, size) VALUES(?1, ?2, ?3) ON CONFLICT(sha256) DO NOTHING",
    /* Re-putting a version (even a superseded one) makes it current again. */
    [ST_UPSERT_AVATAR] = "INSERT INTO avatars(id, version, sha256, content_type, created_at) "
                         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id, version) DO UPDATE "
                         "SET superseded_at = NULL RETURNING sha256",
    [ST_GET_AVATAR] = "SELECT b.data, a.content_type FROM avatars a JOIN blobs b ON b.sha256 = a.sha256 "
                      "WHERE a.id = ?1 AND a.version = ?2",
    [ST_GC_AVATARS] =
        "DELETE FROM avatars WHERE rowid IN (SELECT rowid FROM avatars WHERE superseded_at "
        "IS NOT NULL AND superseded_at < ?1 LIMIT " STR(GC_BATCH) ") RETURNING sha256, id, version",
    [ST_GC_BLOB] =
        "DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM avatars WHERE sha256 = ?1)",
    /* The outbox (blobs_elsewhere). A version already queued keeps its row. */
    [ST_GC_QUEUE] = "INSERT INTO object_gc(id, version, queued_at) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(id, version) DO NOTHING",
    /* A version put again is current: its object must stay. Not while a
     * claim holds the row (its DELETE may be in flight): ST_GC_QUEUED. */
    [ST_GC_UNQUEUE] = "DELETE FROM object_gc WHERE id = ?1 AND version = ?2 AND claimed_until <= ?3",
    [ST_GC_QUEUED] = "SELECT 1 FROM object_gc WHERE id = ?1 AND version = ?2",
    /* Never hand out a version an avatars row names again (defence in depth:
     * put_avatar already removed such rows). */
    [ST_GC_DROP_REVIVED] = "DELETE FROM object_gc WHERE rowid IN (SELECT g.rowid FROM object_gc g "
                           "WHERE g.not_before <= ?1 AND g.claimed_until <= ?1 AND EXISTS (SELECT 1 "
                           "FROM avatars a WHERE a.id = g.id AND a.version = g.version) LIMIT ?2)",
    [ST_GC_CLAIM] = "UPDATE object_gc SET claimed_until = ?2 WHERE rowid IN (SELECT g.rowid FROM object_gc g "
                    "WHERE g.not_before <= ?1 AND g.claimed_until <= ?1 AND NOT EXISTS (SELECT 1 FROM "
                    "avatars a WHERE a.id = g.id AND a.version = g.version) ORDER BY g.not_before LIMIT ?3) "
                    "RETURNING id, version, attempts",
    [ST_GC_FORGET] = "DELETE FROM object_gc WHERE id = ?1 AND version = ?2",
    [ST_GC_RETRY] = "UPDATE object_gc SET claimed_until = 0, attempts = ?3, not_before = ?4 "
                    "WHERE id = ?1 AND version = ?2",
    /* The primary key's index gives the order (BINARY: byte order). Only
     * ids the API can serve and page after ([A-Za-z0-9._-]{1,128},
     * origin.h): rows written by something else are skipped here, before
     * the LIMIT, so a page is full whenever more users follow. */
    [ST_LIST_IDS] = "SELECT id FROM users WHERE id > ?1 AND typeof(id) = 'text' AND length(id) BETWEEN 1 AND "
                    "?3 AND id NOT GLOB '*[^-.0-9A-Z_a-z]*' ORDER BY id LIMIT ?2",
};

enum op_kind {
    OP_GET_PROFILES,
    OP_GET_AVATAR,
    OP_PUT_PROFILE,
    OP_DELETE_PROFILE,
    OP_PUT_AVATAR,
    OP_DELETE_AVATAR,
    OP_LIST_IDS,
    OP_GC_CLAIM,
    OP_GC_DONE
};

static const char *const op_name[] = {
    [OP_GET_PROFILES] = "get_profiles", [OP_GET_AVATAR] = "get_avatar",
    [OP_PUT_PROFILE] = "put_profile",   [OP_DELETE_PROFILE] = "delete_profile",
    [OP_PUT_AVATAR] = "put_avatar",     [OP_DELETE_AVATAR] = "delete_avatar",
    [OP_LIST_IDS] = "list_ids",         [OP_GC_CLAIM] = "gc_claim",
    [OP_GC_DONE] = "gc_done",
};

/* One queued operation with copies of all its inputs. Owned by the queue
 * until a worker pops it, then by that worker, which frees it after the
 * callback returns. */
typedef struct job {
    struct job *next; /* guarded by local_t.mu while queued */
    enum op_kind kind;
    union {
        cameo_origin_profiles_cb profiles;
        cameo_origin_blob_cb blob;
        cameo_origin_write_cb write;
        cameo_origin_list_cb list;
        cameo__gc_claim_cb claim;
        cameo__gc_done_cb done;
    } cb;
    void *arg;
    uint64_t now_wall;
    char id[CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    char content_type[CONTENT_TYPE_MAX + 1];
    char sha256[65];      /* put_avatar with blobs_elsewhere: hex SHA-256 of the bytes, else "" */
    size_t blob_size;     /* put_avatar with blobs_elsewhere: their length */
    size_t count;         /* get_profiles: number of ids; list_ids, gc_claim: the limit; gc_done: objects */
    uint64_t until;       /* gc_claim: the lease's end, ms since the epoch */
    size_t len;           /* bytes in data */
    unsigned char data[]; /* doc, avatar bytes, the JSON array of ids or gc_done's objects; NUL-terminated */
} job_t;

/* gc_done keeps its objects in data. */
_Static_assert(offsetof(job_t, data) % _Alignof(cameo__gc_object_t) == 0, "job data alignment");

typedef struct local local_t;

/* A pool thread and its connection. Once the thread runs, db and stmt are
 * touched only by it (and by local_free after it was joined). */
typedef struct worker {
    local_t *o;
    pthread_t thread;
    int started;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int fail_rc;        /* SQLite result code of the failure in the current job, 0 if none */
    unsigned gc_queued; /* objects the current write queued in object_gc */
    char fail[160];     /* its message */
} worker_t;

struct local {
    cameo_origin_t base; /* first: the public view */
    char *path;          /* DIR/cameo.db; immutable after open */
    unsigned nthreads;   /* immutable after open */
    unsigned queue_max;  /* immutable after open */
    uint64_t retention_ms;
    int blobs_elsewhere; /* immutable after open: avatar bytes are not stored here */
    /* Set once by cameo__local_gc_notify before any write is submitted, then
     * only read (by workers, after a write that queued objects commits). */
    cameo__gc_notify_fn gc_notify;
    void *gc_notify_arg;
    worker_t *workers; /* [nthreads] */

    int sync_ready; /* mu and cv initialised; immutable after open */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* signalled when a job is queued or stopping is set; waits on mu */
    job_t *head, *tail;     /* guarded by mu: FIFO of jobs not yet taken by a worker */
    unsigned queued;        /* guarded by mu: jobs in the FIFO, <= queue_max */
    int stopping;           /* guarded by mu: destroy began; new calls get CAMEO_EUNAVAIL */
    uint64_t rejected;      /* guarded by mu: calls answered CAMEO_EBUSY because the FIFO was full */
    int fatal;              /* guarded by mu: the last finished operation hit a fatal SQLite error */
    char fatal_detail[200]; /* guarded by mu: what it was */
};

/* ---- worker side: statements and transactions ---- */

static int is_fatal(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
        return 1;
    default:
        return 0;
    }
}

/* Records SQLite error rc of the current job and maps it: SQLITE_BUSY (after
 * busy_timeout) and SQLITE_LOCKED give CAMEO_EBUSY, anything else CAMEO_EIO. */
static int db_err(worker_t *w, int rc)
{
    if (!w->fail_rc) {
        w->fail_rc = rc;
        snprintf(w->fail, sizeof w->fail, "%s (sqlite %d)", sqlite3_errmsg(w->db), rc);
    }
    return ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? CAMEO_EBUSY : CAMEO_EIO;
}

/* Resets statement id of w (preparing it on first use), binds the arguments
 * described by fmt and takes one step. fmt letters: 's' const char *
 * (NUL-terminated, NULL binds NULL), 'S' const char *, size_t; 'b' const void
 * *, size_t; 'i' int64_t. Bound memory must stay valid until the statement is
 * reset (SQLITE_STATIC). Returns SQLITE_ROW, SQLITE_DONE or an SQLite error;
 * *out (if not NULL) is the statement, which the caller resets when done. */
static int run(worker_t *w, enum stmt_id id, sqlite3_stmt **out, const char *fmt, ...)
{
    sqlite3_stmt *st = w->stmt[id];
    int rc = SQLITE_OK;
    va_list ap;

    if (out)
        *out = NULL; /* sqlite3_reset(NULL) is a no-op, so callers may reset it */
    if (!st) {
        rc = sqlite3_prepare_v3(w->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &w->stmt[id], NULL);
        if (rc != SQLITE_OK)
            return rc;
        st = w->stmt[id];
    }
    sqlite3_reset(st);
    va_start(ap, fmt);
    for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
        const char *s;
        const void *p;
        size_t n;
        switch (*fmt) {
        case 's':
            s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
            break;
        case 'S':
            s = va_arg(ap, const char *);
            n = va_arg(ap, size_t);
            rc = sqlite3_bind_text64(st, i, s, n, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case 'b':
            p = va_arg(ap, const void *);
            n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
            break;
        case 'i':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        default:
            rc = SQLITE_MISUSE;
        }
    }
    va_end(ap);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (out)
        *out = st;
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        sqlite3_reset(st);
    return rc;
}

/* run() for statements expected to finish in one step (no rows wanted). */
#define RUN_DONE(w, id, ...)                                                                                 \
    do {                                                                                                     \
        int rc_ = run((w), (id), NULL, __VA_ARGS__);                                                         \
        if (rc_ != SQLITE_DONE && rc_ != SQLITE_ROW) {                                                       \
            err = db_err((w), rc_);                                                                          \
            goto err;                                                                                        \
        }                                                                                                    \
    } while (0)

/* Resets every cached statement: ends implicit read transactions and drops
 * references to job memory. Called after each job and before ROLLBACK. */
static void stmts_reset(worker_t *w)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (w->stmt[i]) {
            sqlite3_reset(w->stmt[i]);
            sqlite3_clear_bindings(w->stmt[i]);
        }
    }
}

static void tx_rollback(worker_t *w)
{
    stmts_reset(w);
    if (!sqlite3_get_autocommit(w->db))
        run(w, ST_ROLLBACK, NULL, "");
}

/* Copies the current row of a PROFILE_SELECT into one allocation (*mem, freed
 * by the caller after the callback) and points rec into it. */
static int rec_from_row(sqlite3_stmt *st, cameo_profile_rec_t *rec, char **mem)
{
    const char *col[4];
    size_t len[4], total = 0;
    char *p;

    for (int i = 0; i < 4; i++) {
        col[i] = (const char *)sqlite3_column_text(st, i);
        len[i] = col[i] ? (size_t)sqlite3_column_bytes(st, i) : 0;
        total += len[i] + 1;
    }
    p = malloc(total);
    if (!p)
        return CAMEO_ENOMEM;
    *mem = p;
    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < 4; i++) {
        const char *copy = NULL;
        if (col[i]) {
            memcpy(p, col[i], len[i]);
            p[len[i]] = '\0';
            copy = p;
            p += len[i] + 1;
        }
        switch (i) {
        case 0:
            rec->id = copy;
            break;
        case 1:
            rec->doc = copy;
            rec->doc_len = len[1];
            break;
        case 2:
            rec->avatar_version = copy;
            break;
        case 3:
            rec->avatar_type = copy;
            break;
        }
    }
    rec->updated_at = (uint64_t)sqlite3_column_int64(st, 4);
    return CAMEO_OK;
}

/* Publishes the outcome of the job just run for status(): a fatal SQLite error
 * marks the origin unavailable, anything else clears that mark. Called before
 * the callback so that a caller looking at status() from it sees the result. */
static void health_note(worker_t *w, const job_t *j)
{
    local_t *o = w->o;

    pthread_mutex_lock(&o->mu);
    o->fatal = w->fail_rc && is_fatal(w->fail_rc);
    if (o->fatal)
        snprintf(o->fatal_detail, sizeof o->fatal_detail, "%s: %s", op_name[j->kind], w->fail);
    pthread_mutex_unlock(&o->mu);
}

/* ---- worker side: operations ---- */

static void op_get_profiles(worker_t *w, job_t *j)
{
    cameo_profile_rec_t *recs = NULL;
    char **mems = NULL;
    size_t n = 0;
    sqlite3_stmt *st;
    int rc, err = CAMEO_OK;

    /* At most one row per id (IN dedupes); +1 keeps calloc(0) out. */
    recs = calloc(j->count + 1, sizeof *recs);
    mems = calloc(j->count + 1, sizeof *mems);
    if (!recs || !mems) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    for (rc = run(w, ST_GET_MANY, &st, "S", (const char *)j->data, j->len); rc == SQLITE_ROW && n < j->count;
         rc = sqlite3_step(st)) {
        err = rec_from_row(st, &recs[n], &mems[n]);
        if (err)
            goto err;
        n++;
    }
    if (rc != SQLITE_DONE) {
        err = db_err(w, rc);
        goto err;
    }
    sqlite3_reset(st);
    health_note(w, j);
    j->cb.profiles(j->arg, CAMEO_OK, recs, n);
    goto out;
err:
    health_note(w, j);
    j->cb.profiles(j->arg, err, NULL, 0);
out:
    for (size_t i = 0; mems && i < n; i++)
        free(mems[i]);
    free(mems);
    free(recs);
}

static void op_get_avatar(worker_t *w, job_t *j)
{
    sqlite3_stmt *st;
    cameo_blob_t blob = {0};
    int err = CAMEO_OK;
    int rc = run(w, ST_GET_AVATAR, &st, "ss", j->id, j->version);

    if (rc == SQLITE_DONE) {
        err = CAMEO_ENOTFOUND;
        goto err;
    }
    if (rc != SQLITE_ROW) {
        err = db_err(w, rc);
        goto err;
    }
    /* The blob points into SQLite's row buffer: valid until the statement is
     * reset, which happens after the callback returns (stmts_reset). */
    blob.data = sqlite3_column_blob(st, 0);
    blob.len = (size_t)sqlite3_column_bytes(st, 0);
    blob.content_type = (const char *)sqlite3_column_text(st, 1);
    blob.version = j->version;
    health_note(w, j);
    j->cb.blob(j->arg, CAMEO_OK, &blob);
    return;
err:
    health_note(w, j);
    j->cb.blob(j->arg, err, NULL);
}

/* Lists up to j->count ids after j->id: as many as there are, up to the
 * limit, since ST_LIST_IDS filters in SQL (its ids are at most CAMEO_ID_MAX
 * bytes, so one buffer of count slots holds them). */
static void op_list_ids(worker_t *w, job_t *j)
{
    char *buf = malloc(j->count * (CAMEO_ID_MAX + 1) + 1);
    const char **ids = calloc(j->count + 1, sizeof *ids);
    size_t n = 0;
    sqlite3_stmt *st;
    int rc, err = CAMEO_OK;

    if (!buf || !ids) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    for (rc = run(w, ST_LIST_IDS, &st, "sii", j->id, (int64_t)j->count, (int64_t)CAMEO_ID_MAX);
         rc == SQLITE_ROW && n < j->count; rc = sqlite3_step(st)) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        size_t len = id ? (size_t)sqlite3_column_bytes(st, 0) : 0;
        if (len == 0 || len > CAMEO_ID_MAX) { /* excluded by ST_LIST_IDS */
            err = CAMEO_ECORRUPT;
            goto err;
        }
        char *slot = buf + n * (CAMEO_ID_MAX + 1);
        memcpy(slot, id, len);
        slot[len] = '\0';
        ids[n++] = slot;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        err = db_err(w, rc);
        goto err;
    }
    sqlite3_reset(st);
    health_note(w, j);
    j->cb.list(j->arg, CAMEO_OK, ids, n);
    goto out;
err:
    health_note(w, j);
    j->cb.list(j->arg, err, NULL, 0);
out:
    free(ids);
    free(buf);
}

/* Deletes up to GC_BATCH avatar rows superseded before now_wall - retention,
 * then those of their blobs no other row references; with blobs_elsewhere,
 * queues the object of each removed row in object_gc (w->gc_queued counts
 * them). Inside the caller's write transaction. Only superseded rows go, so
 * a version a user points to is never queued. */
static int gc(worker_t *w, uint64_t now_wall)
{
    struct gc_row {
        char sha[65];
        char id[CAMEO_ID_MAX + 1];
        char version[CAMEO_VERSION_MAX + 1];
    } *rows = NULL; /* GC_BATCH of them, 26 KB: off the stack */
    size_t n = 0;
    sqlite3_stmt *st;
    int rc, err = CAMEO_OK;

    if (now_wall <= w->o->retention_ms)
        return CAMEO_OK;
    rows = malloc(GC_BATCH * sizeof *rows);
    if (!rows)
        return CAMEO_ENOMEM;
    for (rc = run(w, ST_GC_AVATARS, &st, "i", (int64_t)(now_wall - w->o->retention_ms)); rc == SQLITE_ROW;
         rc = sqlite3_step(st)) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        const char *id = (const char *)sqlite3_column_text(st, 1);
        const char *v = (const char *)sqlite3_column_text(st, 2);
        assert(n < GC_BATCH); /* the LIMIT */
        if (n < GC_BATCH && s && id && v) {
            snprintf(rows[n].sha, sizeof rows[n].sha, "%s", s);
            snprintf(rows[n].id, sizeof rows[n].id, "%s", id);
            snprintf(rows[n].version, sizeof rows[n].version, "%s", v);
            n++;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        err = db_err(w, rc);
        goto err;
    }
    for (size_t i = 0; i < n; i++) {
        RUN_DONE(w, ST_GC_BLOB, "s", rows[i].sha);
        if (w->o->blobs_elsewhere) {
            RUN_DONE(w, ST_GC_QUEUE, "ssi", rows[i].id, rows[i].version, (int64_t)now_wall);
            w->gc_queued += (unsigned)sqlite3_changes(w->db);
        }
    }
err:
    free(rows);
    return err;
}

/* Reads user id's avatar_version into ver ("" when NULL). CAMEO_ENOTFOUND
 * when there is no such user. */
static int user_avatar(worker_t *w, const char *id, char ver[CAMEO_VERSION_MAX + 1])
{
    sqlite3_stmt *st;
    int rc = run(w, ST_USER_AVATAR, &st, "s", id);

    if (rc == SQLITE_DONE)
        return CAMEO_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_err(w, rc);
    const char *v = (const char *)sqlite3_column_text(st, 0);
    snprintf(ver, CAMEO_VERSION_MAX + 1, "%s", v ? v : "");
    sqlite3_reset(st);
    return CAMEO_OK;
}

static int do_put_profile(worker_t *w, job_t *j, int *created)
{
    char ver[CAMEO_VERSION_MAX + 1];
    int err = user_avatar(w, j->id, ver);

    if (err && err != CAMEO_ENOTFOUND)
        return err;
    *created = err == CAMEO_ENOTFOUND;
    err = CAMEO_OK;
    RUN_DONE(w, ST_UPSERT_USER, "sSi", j->id, (const char *)j->data, j->len, (int64_t)j->now_wall);
err:
    return err;
}

static int do_delete_profile(worker_t *w, job_t *j)
{
    int err = CAMEO_OK;

    RUN_DONE(w, ST_DELETE_USER, "s", j->id);
    if (sqlite3_changes(w->db) == 0)
        return CAMEO_ENOTFOUND;
    RUN_DONE(w, ST_SUPERSEDE_ALL, "si", j->id, (int64_t)j->now_wall);
err:
    return err;
}

/* Writes the hex SHA-256 of data[0..len) into sha. 0 on failure. */
static int sha256_hex(const void *data, size_t len, char sha[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return 0;
    cameo_hex(md, 32, sha);
    return 1;
}

static int do_put_avatar(worker_t *w, job_t *j)
{
    char sha[65], old[CAMEO_VERSION_MAX + 1];
    sqlite3_stmt *st;
    int rc, err = user_avatar(w, j->id, old);

    if (err)
        return err;
    if (j->sha256[0]) /* blobs_elsewhere: the pointer and the hash, no bytes */
        memcpy(sha, j->sha256, sizeof sha);
    else if (!sha256_hex(j->data, j->len, sha))
        return CAMEO_EIO;
    RUN_DONE(w, ST_INSERT_BLOB, "sbi", sha, (const void *)j->data, j->len,
             (int64_t)(j->sha256[0] ? j->blob_size : j->len));
    rc =
        run(w, ST_UPSERT_AVATAR, &st, "ssssi", j->id, j->version, sha, j->content_type, (int64_t)j->now_wall);
    if (rc != SQLITE_ROW)
        return db_err(w, rc);
    /* The version names other bytes: the caller's contract (version derived
     * from content) is broken; refuse rather than serve the wrong picture. */
    const char *have = (const char *)sqlite3_column_text(st, 0);
    int mismatch = !have || strcmp(have, sha) != 0;
    sqlite3_reset(st);
    if (mismatch)
        return CAMEO_EINVAL;
    if (w->o->blobs_elsewhere) {
        /* This version is current again: its object, just written again by
         * origin_blobs, must stay. A claimed row may have its DELETE in
         * flight, which could remove the object after this write: refuse,
         * and a later attempt (after the claim is reported) succeeds. */
        RUN_DONE(w, ST_GC_UNQUEUE, "ssi", j->id, j->version, (int64_t)j->now_wall);
        rc = run(w, ST_GC_QUEUED, NULL, "ss", j->id, j->version);
        if (rc == SQLITE_ROW)
            return CAMEO_EBUSY;
        if (rc != SQLITE_DONE)
            return db_err(w, rc);
    }
    if (strcmp(old, j->version) == 0)
        return CAMEO_OK; /* already current: nothing else changes */
    if (old[0])
        RUN_DONE(w, ST_SUPERSEDE_ONE, "ssi", j->id, old, (int64_t)j->now_wall);
    RUN_DONE(w, ST_SET_AVATAR, "ssi", j->id, j->version, (int64_t)j->now_wall);
err:
    return err;
}

static int do_delete_avatar(worker_t *w, job_t *j)
{
    char old[CAMEO_VERSION_MAX + 1];
    int err = user_avatar(w, j->id, old);

    if (err || !old[0])
        return err;
    RUN_DONE(w, ST_SUPERSEDE_ONE, "ssi", j->id, old, (int64_t)j->now_wall);
    RUN_DONE(w, ST_SET_AVATAR, "ssi", j->id, (const char *)NULL, (int64_t)j->now_wall);
err:
    return err;
}

/* Every write: one IMMEDIATE transaction holding the change, the GC of old
 * avatar versions (for writes that touch avatars) and the read-back of the
 * stored record; the callback fires after COMMIT, or after ROLLBACK with the
 * error (a failed write changes nothing). */
static void op_write(worker_t *w, job_t *j)
{
    cameo_profile_rec_t rec, *recp = NULL;
    char *mem = NULL;
    sqlite3_stmt *st;
    int rc, created = 0, err = CAMEO_OK;

    RUN_DONE(w, ST_BEGIN, "");
    switch (j->kind) {
    case OP_PUT_PROFILE:
        err = do_put_profile(w, j, &created);
        break;
    case OP_DELETE_PROFILE:
        err = do_delete_profile(w, j);
        break;
    case OP_PUT_AVATAR:
        err = do_put_avatar(w, j);
        break;
    case OP_DELETE_AVATAR:
        err = do_delete_avatar(w, j);
        break;
    default:
        err = CAMEO_EINVAL;
    }
    if (!err && j->kind != OP_PUT_PROFILE)
        err = gc(w, j->now_wall);
    if (err)
        goto err;
    if (j->kind != OP_DELETE_PROFILE) {
        rc = run(w, ST_GET_ONE, &st, "s", j->id);
        if (rc != SQLITE_ROW) {
            err = rc == SQLITE_DONE ? CAMEO_EIO : db_err(w, rc);
            goto err;
        }
        err = rec_from_row(st, &rec, &mem);
        sqlite3_reset(st);
        if (err)
            goto err;
        recp = &rec;
    }
    RUN_DONE(w, ST_COMMIT, "");
    health_note(w, j);
    j->cb.write(j->arg, CAMEO_OK, recp, created);
    free(mem);
    if (w->gc_queued && w->o->gc_notify)
        w->o->gc_notify(w->o->gc_notify_arg, w->gc_queued);
    return;
err:
    tx_rollback(w);
    free(mem);
    health_note(w, j);
    j->cb.write(j->arg, err, NULL, 0);
}

/* Claims up to j->count due outbox rows until j->until, in one transaction
 * that first drops due rows an avatars row names again. */
static void op_gc_claim(worker_t *w, job_t *j)
{
    cameo__gc_object_t *objs = calloc(j->count, sizeof *objs);
    size_t n = 0;
    sqlite3_stmt *st;
    int rc, err = CAMEO_OK;

    if (!objs) {
        err = CAMEO_ENOMEM;
        goto err;
    }
    RUN_DONE(w, ST_BEGIN, "");
    RUN_DONE(w, ST_GC_DROP_REVIVED, "ii", (int64_t)j->now_wall, (int64_t)j->count);
    for (rc = run(w, ST_GC_CLAIM, &st, "iii", (int64_t)j->now_wall, (int64_t)j->until, (int64_t)j->count);
         rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        sqlite3_int64 attempts = sqlite3_column_int64(st, 2);
        assert(n < j->count); /* the LIMIT */
        if (n >= j->count || !id || !v || strlen(id) > CAMEO_ID_MAX || strlen(v) > CAMEO_VERSION_MAX)
            continue; /* not a row cameo wrote: left leased, origin_blobs never sees it */
        memcpy(objs[n].id, id, strlen(id) + 1);
        memcpy(objs[n].version, v, strlen(v) + 1);
        objs[n].attempts = attempts < 0 ? 0 : attempts > 1000000 ? 1000000 : (unsigned)attempts;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        err = db_err(w, rc);
        goto err;
    }
    RUN_DONE(w, ST_COMMIT, "");
    health_note(w, j);
    j->cb.claim(j->arg, CAMEO_OK, objs, n);
    free(objs);
    return;
err:
    tx_rollback(w);
    health_note(w, j);
    j->cb.claim(j->arg, err, NULL, 0);
    free(objs);
}

/* Removes or releases the j->count rows in j->data, in one transaction. */
static void op_gc_done(worker_t *w, job_t *j)
{
    const cameo__gc_object_t *objs = (const cameo__gc_object_t *)(void *)j->data;
    int err = CAMEO_OK;

    RUN_DONE(w, ST_BEGIN, "");
    for (size_t i = 0; i < j->count; i++) {
        if (objs[i].retry_at == 0)
            RUN_DONE(w, ST_GC_FORGET, "ss", objs[i].id, objs[i].version);
        else
            RUN_DONE(w, ST_GC_RETRY, "ssii", objs[i].id, objs[i].version, (int64_t)objs[i].attempts,
                     (int64_t)objs[i].retry_at);
    }
    RUN_DONE(w, ST_COMMIT, "");
    health_note(w, j);
    j->cb.done(j->arg, CAMEO_OK);
    return;
err:
    tx_rollback(w);
    health_note(w, j);
    j->cb.done(j->arg, err);
}

static void *worker_main(void *p)
{
    worker_t *w = p;
    local_t *o = w->o;

    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->cv, &o->mu);
        job_t *j = o->head;
        if (!j)
            break; /* stopping and drained */
        assert(o->queued > 0 && o->queued <= o->queue_max);
        o->head = j->next;
        if (!o->head)
            o->tail = NULL;
        o->queued--;
        pthread_mutex_unlock(&o->mu);

        w->fail_rc = 0;
        w->gc_queued = 0;
        if (j->kind == OP_GET_PROFILES)
            op_get_profiles(w, j);
        else if (j->kind == OP_GET_AVATAR)
            op_get_avatar(w, j);
        else if (j->kind == OP_LIST_IDS)
            op_list_ids(w, j);
        else if (j->kind == OP_GC_CLAIM)
            op_gc_claim(w, j);
        else if (j->kind == OP_GC_DONE)
            op_gc_done(w, j);
        else
            op_write(w, j);
        stmts_reset(w);
        free(j);

        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/* ---- caller side: the method table ---- */

static job_t *job_new(enum op_kind kind, const char *id, size_t extra)
{
    job_t *j = calloc(1, sizeof *j + extra + 1);

    if (!j)
        return NULL;
    j->kind = kind;
    if (id)
        memcpy(j->id, id, strlen(id) + 1); /* length checked by id_ok */
    return j;
}

static int id_ok(const char *id)
{
    return id && id[0] && strnlen(id, CAMEO_ID_MAX + 1) <= CAMEO_ID_MAX;
}

static int version_ok(const char *v)
{
    return v && v[0] && strnlen(v, CAMEO_VERSION_MAX + 1) <= CAMEO_VERSION_MAX;
}

/* Queues j (taking ownership). CAMEO_EBUSY when queue_max jobs already wait,
 * CAMEO_EUNAVAIL once destroy began; j is freed on error. */
static int submit(local_t *o, job_t *j)
{
    int err = CAMEO_OK;

    pthread_mutex_lock(&o->mu);
    if (o->stopping) {
        err = CAMEO_EUNAVAIL;
    } else if (o->queued >= o->queue_max) {
        o->rejected++;
        err = CAMEO_EBUSY;
    } else {
        assert(!j->next && (o->head == NULL) == (o->tail == NULL));
        if (o->tail)
            o->tail->next = j;
        else
            o->head = j;
        o->tail = j;
        o->queued++;
        pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    if (err)
        free(j);
    return err;
}

static int local_get_profiles(cameo_origin_t *base, cameo_loop_t *loop, const char *const *ids, size_t n,
                              cameo_origin_profiles_cb cb, void *arg)
{
    (void)loop;
    size_t len = 2, off = 0;
    job_t *j;

    if (!cb || n > MAX_BATCH || (n && !ids))
        return CAMEO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!id_ok(ids[i]) || strpbrk(ids[i], "\"\\"))
            return CAMEO_EINVAL; /* the ids go into a JSON array unescaped */
        len += strlen(ids[i]) + 3;
    }
    j = job_new(OP_GET_PROFILES, NULL, len);
    if (!j)
        return CAMEO_ENOMEM;
    j->data[off++] = '[';
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf((char *)j->data + off, "%s\"%s\"", i ? "," : "", ids[i]);
    j->data[off++] = ']';
    j->len = off;
    j->count = n;
    j->cb.profiles = cb;
    j->arg = arg;
    return submit((local_t *)base, j);
}

static int local_get_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id, const char *version,
                            cameo_origin_blob_cb cb, void *arg)
{
    (void)loop;
    job_t *j;

    if (!cb || !id_ok(id) || !version_ok(version))
        return CAMEO_EINVAL;
    if (((local_t *)base)->blobs_elsewhere)
        return CAMEO_ENOTSUP; /* the bytes are not here */
    j = job_new(OP_GET_AVATAR, id, 0);
    if (!j)
        return CAMEO_ENOMEM;
    strcpy(j->version, version);
    j->cb.blob = cb;
    j->arg = arg;
    return submit((local_t *)base, j);
}

static int local_list_ids(cameo_origin_t *base, cameo_loop_t *loop, const char *after, size_t limit,
                          cameo_origin_list_cb cb, void *arg)
{
    job_t *j;

    (void)loop; /* the store runs on its own threads */
    if (!cb || limit < 1 || limit > MAX_BATCH || (after && after[0] && !id_ok(after)))
        return CAMEO_EINVAL;
    j = job_new(OP_LIST_IDS, after && after[0] ? after : NULL, 0);
    if (!j)
        return CAMEO_ENOMEM;
    j->count = limit;
    j->cb.list = cb;
    j->arg = arg;
    return submit((local_t *)base, j);
}

/* The write operations share this: a job for user id holding a copy of
 * data[0..len). NULL when out of memory. */
static job_t *write_job(enum op_kind kind, const char *id, const void *data, size_t len, uint64_t now_wall,
                        cameo_origin_write_cb cb, void *arg)
{
    job_t *j = job_new(kind, id, len);

    if (!j)
        return NULL;
    if (len)
        memcpy(j->data, data, len);
    j->len = len;
    j->now_wall = now_wall;
    j->cb.write = cb;
    j->arg = arg;
    return j;
}

static int local_put_profile(cameo_origin_t *base, cameo_loop_t *loop, const char *id, const char *doc,
                             size_t doc_len, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    (void)loop;
    size_t i = 0;
    job_t *j;

    if (!cb || !id_ok(id) || !doc)
        return CAMEO_EINVAL;
    while (i < doc_len && strchr(" \t\r\n", doc[i]))
        i++;
    if (i == doc_len || doc[i] != '{')
        return CAMEO_EINVAL; /* cheap guard: the caller validated a JSON object */
    j = write_job(OP_PUT_PROFILE, id, doc, doc_len, now_wall, cb, arg);
    return j ? submit((local_t *)base, j) : CAMEO_ENOMEM;
}

static int local_delete_profile(cameo_origin_t *base, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                                cameo_origin_write_cb cb, void *arg)
{
    (void)loop;
    job_t *j;

    if (!cb || !id_ok(id))
        return CAMEO_EINVAL;
    j = write_job(OP_DELETE_PROFILE, id, NULL, 0, now_wall, cb, arg);
    return j ? submit((local_t *)base, j) : CAMEO_ENOMEM;
}

static int put_avatar_ok(const char *id, const cameo_blob_t *blob, cameo_origin_write_cb cb)
{
    return cb && id_ok(id) && blob && blob->data && blob->len && version_ok(blob->version) &&
           blob->content_type && blob->content_type[0] && strlen(blob->content_type) <= CONTENT_TYPE_MAX;
}

/* Queues put_avatar of blob: with sha256 (blobs_elsewhere, the hex SHA-256
 * of its bytes) the pointer, the hash and the size; else a copy of the
 * bytes, hashed on a store thread. */
static int put_avatar_submit(local_t *o, const char *id, const cameo_blob_t *blob, const char *sha256,
                             uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    job_t *j = sha256 ? write_job(OP_PUT_AVATAR, id, NULL, 0, now_wall, cb, arg)
                      : write_job(OP_PUT_AVATAR, id, blob->data, blob->len, now_wall, cb, arg);

    if (!j)
        return CAMEO_ENOMEM;
    if (sha256) {
        memcpy(j->sha256, sha256, sizeof j->sha256);
        j->blob_size = blob->len;
    }
    strcpy(j->version, blob->version);
    strcpy(j->content_type, blob->content_type);
    return submit(o, j);
}

static int local_put_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id,
                            const cameo_blob_t *blob, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    local_t *o = (local_t *)base;
    char sha[65];

    (void)loop;
    if (!put_avatar_ok(id, blob, cb))
        return CAMEO_EINVAL;
    if (!o->blobs_elsewhere)
        return put_avatar_submit(o, id, blob, NULL, now_wall, cb, arg);
    if (!sha256_hex(blob->data, blob->len, sha))
        return CAMEO_EIO;
    return put_avatar_submit(o, id, blob, sha, now_wall, cb, arg);
}

static int local_delete_avatar(cameo_origin_t *base, cameo_loop_t *loop, const char *id, uint64_t now_wall,
                               cameo_origin_write_cb cb, void *arg)
{
    (void)loop;
    job_t *j;

    if (!cb || !id_ok(id))
        return CAMEO_EINVAL;
    j = write_job(OP_DELETE_AVATAR, id, NULL, 0, now_wall, cb, arg);
    return j ? submit((local_t *)base, j) : CAMEO_ENOMEM;
}

static int local_status(cameo_origin_t *base, char *buf, size_t len)
{
    local_t *o = (local_t *)base;
    char tmp[400];
    int err;

    pthread_mutex_lock(&o->mu);
    err = o->fatal ? CAMEO_EUNAVAIL : CAMEO_OK;
    if (o->fatal)
        snprintf(tmp, sizeof tmp, "local %s: %s", o->path, o->fatal_detail);
    else
        snprintf(tmp, sizeof tmp, "local %s: ok, %u threads, queue %u/%u, %llu rejected", o->path,
                 o->nthreads, o->queued, o->queue_max, (unsigned long long)o->rejected);
    pthread_mutex_unlock(&o->mu);
    if (buf && len)
        snprintf(buf, len, "%s", tmp);
    return err;
}

/* Stops intake, lets the workers drain the FIFO (callbacks fire), joins
 * them, closes the connections and frees o. Also the cleanup path of a
 * failed open, where some workers may not have started. Must not be called
 * from one of o's callbacks (a worker cannot join itself). */
static void local_free(local_t *o)
{
    if (o->sync_ready) {
        pthread_mutex_lock(&o->mu);
        o->stopping = 1;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
    }
    for (unsigned i = 0; o->workers && i < o->nthreads; i++) {
        worker_t *w = &o->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        for (int s = 0; s < ST_COUNT; s++)
            sqlite3_finalize(w->stmt[s]);
        sqlite3_close(w->db);
    }
    if (o->sync_ready) {
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
    }
    free(o->workers);
    free(o->path);
    free(o);
}

static void local_destroy(cameo_origin_t *base)
{
    if (base)
        local_free((local_t *)base);
}

static const cameo_origin_ops_t local_ops = {
    .name = "local",
    .get_profiles = local_get_profiles,
    .get_avatar = local_get_avatar,
    .put_profile = local_put_profile,
    .delete_profile = local_delete_profile,
    .put_avatar = local_put_avatar,
    .delete_avatar = local_delete_avatar,
    .list_ids = local_list_ids,
    .status = local_status,
    .destroy = local_destroy,
};

/* ---- caller side: the outbox (origin_local.h) ---- */

void cameo__local_gc_notify(cameo_origin_t *local, cameo__gc_notify_fn fn, void *arg)
{
    local_t *o = (local_t *)local;

    assert(o && o->base.ops == &local_ops);
    o->gc_notify = fn;
    o->gc_notify_arg = arg;
}

int cameo__local_put_avatar_hashed(cameo_origin_t *local, const char *id, const cameo_blob_t *blob,
                                   const char *sha256, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    if (!local || local->ops != &local_ops || !((local_t *)local)->blobs_elsewhere ||
        !put_avatar_ok(id, blob, cb) || !sha256 || strlen(sha256) != 64 ||
        strspn(sha256, "0123456789abcdef") != 64)
        return CAMEO_EINVAL;
    return put_avatar_submit((local_t *)local, id, blob, sha256, now_wall, cb, arg);
}

int cameo__local_gc_claim(cameo_origin_t *local, uint64_t now_wall, uint64_t lease_ms, size_t limit,
                          cameo__gc_claim_cb cb, void *arg)
{
    job_t *j;

    if (!local || local->ops != &local_ops || !cb || limit < 1 || limit > GC_CLAIM_MAX || lease_ms < 1 ||
        now_wall > INT64_MAX - lease_ms)
        return CAMEO_EINVAL;
    j = job_new(OP_GC_CLAIM, NULL, 0);
    if (!j)
        return CAMEO_ENOMEM;
    j->now_wall = now_wall;
    j->until = now_wall + lease_ms;
    j->count = limit;
    j->cb.claim = cb;
    j->arg = arg;
    return submit((local_t *)local, j);
}

int cameo__local_gc_done(cameo_origin_t *local, const cameo__gc_object_t *objs, size_t n,
                         cameo__gc_done_cb cb, void *arg)
{
    job_t *j;

    if (!local || local->ops != &local_ops || !cb || !objs || n < 1 || n > GC_CLAIM_MAX)
        return CAMEO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!id_ok(objs[i].id) || !version_ok(objs[i].version) || objs[i].retry_at > INT64_MAX ||
            objs[i].attempts > INT32_MAX)
            return CAMEO_EINVAL;
    j = job_new(OP_GC_DONE, NULL, n * sizeof *objs);
    if (!j)
        return CAMEO_ENOMEM;
    memcpy(j->data, objs, n * sizeof *objs);
    j->len = n * sizeof *objs;
    j->count = n;
    j->cb.done = cb;
    j->arg = arg;
    return submit((local_t *)local, j);
}

/* ---- open ---- */

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, char *errbuf, size_t errlen)
{
    char *p = strdup(dir);
    struct stat sb;
    int err = CAMEO_OK;

    if (!p)
        return CAMEO_ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            goto fail;
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        goto fail;
    if (stat(dir, &sb) != 0)
        goto fail;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        goto fail;
    }
    free(p);
    return CAMEO_OK;
fail:
    snprintf(errbuf, errlen, "origin local: cannot create directory %s (at %s): %s", dir, p, strerror(errno));
    err = CAMEO_EIO;
    free(p);
    return err;
}

/* Creates or migrates the schema. On the first connection only, before any
 * worker runs. */
static int migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc, version;

    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto err;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        goto err;
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    rc = SQLITE_OK;
    /* Each step takes version v to v + 1, in this one transaction. */
    if (version > SCHEMA_VERSION)
        rc = SQLITE_MISMATCH; /* reported with the version by the caller */
    if (rc == SQLITE_OK && version == 0)
        rc = sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
    if (rc == SQLITE_OK && version <= 1)
        rc = sqlite3_exec(db, schema_v2, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err;
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err;
    return SQLITE_OK;
err:
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* Opens and configures worker w's connection; the first one also migrates. */
static int db_open(local_t *o, worker_t *w, int first, char *errbuf, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    int rc;

    rc = sqlite3_open_v2(o->path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK)
        goto err;
    sqlite3_extended_result_codes(w->db, 1);
    sqlite3_busy_timeout(w->db, BUSY_TIMEOUT_MS);
    /* The first statement touches the file: a non-database fails here. */
    rc = sqlite3_prepare_v2(w->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            snprintf(errbuf, errlen, "origin local: %s: cannot enable WAL (journal_mode %s)", o->path,
                     mode ? mode : "?");
            sqlite3_finalize(st);
            return CAMEO_EIO;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        goto err;
    rc = sqlite3_exec(w->db,
                      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                      "PRAGMA journal_size_limit = " STR(WAL_SIZE_LIMIT) ";",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err;
    if (first && (rc = migrate(w->db)) != SQLITE_OK) {
        if (rc == SQLITE_MISMATCH) {
            snprintf(errbuf, errlen, "origin local: %s: schema is newer than this build (user_version > %d)",
                     o->path, SCHEMA_VERSION);
            return CAMEO_EIO;
        }
        goto err;
    }
    return CAMEO_OK;
err:
    snprintf(errbuf, errlen, "origin local: %s: %s (sqlite %d)", o->path,
             w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc), rc);
    return CAMEO_EIO;
}

int cameo_origin_local_open(const cameo_local_config_t *cfg, cameo_origin_t **out, char *errbuf,
                            size_t errlen)
{
    char scratch[8];
    local_t *o = NULL;
    int err;

    if (!errbuf || !errlen) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    errbuf[0] = '\0';
    if (!cfg || !cfg->dir || !cfg->dir[0] || !out) {
        snprintf(errbuf, errlen, "origin local: no directory given");
        return CAMEO_EINVAL;
    }
    *out = NULL;
    o = calloc(1, sizeof *o);
    if (!o)
        goto nomem;
    o->base.ops = &local_ops;
    o->nthreads = cfg->threads ? cfg->threads : DEFAULT_THREADS;
    if (o->nthreads > MAX_THREADS)
        o->nthreads = MAX_THREADS;
    o->queue_max = cfg->queue_max ? cfg->queue_max : DEFAULT_QUEUE_MAX;
    o->retention_ms = cfg->blob_retention_ms ? cfg->blob_retention_ms : DEFAULT_RETENTION_MS;
    o->blobs_elsewhere = cfg->blobs_elsewhere != 0;
    o->path = malloc(strlen(cfg->dir) + sizeof "/cameo.db");
    o->workers = calloc(o->nthreads, sizeof *o->workers);
    if (!o->path || !o->workers)
        goto nomem;
    sprintf(o->path, "%s/cameo.db", cfg->dir);
    if (pthread_mutex_init(&o->mu, NULL) != 0)
        goto nomem;
    if (pthread_cond_init(&o->cv, NULL) != 0) {
        pthread_mutex_destroy(&o->mu);
        goto nomem;
    }
    o->sync_ready = 1;

    if (!sqlite3_threadsafe()) {
        /* Each connection is used by one thread at a time (NOMUTEX), which
         * needs a library built with SQLITE_THREADSAFE >= 1 (Debian's is). */
        snprintf(errbuf, errlen, "origin local: libsqlite3 was built without thread support");
        err = CAMEO_EIO;
        goto err;
    }
    err = make_dirs(cfg->dir, errbuf, errlen);
    if (err)
        goto err;
    for (unsigned i = 0; i < o->nthreads; i++) {
        o->workers[i].o = o;
        err = db_open(o, &o->workers[i], i == 0, errbuf, errlen);
        if (err)
            goto err;
    }
    /* Workers block all signals: the daemon handles them on its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < o->nthreads; i++) {
        if (pthread_create(&o->workers[i].thread, NULL, worker_main, &o->workers[i]) != 0)
            break;
        o->workers[i].started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!o->workers[o->nthreads - 1].started) {
        snprintf(errbuf, errlen, "origin local: cannot start worker threads");
        err = CAMEO_ENOMEM;
        goto err;
    }
    *out = &o->base;
    return CAMEO_OK;
nomem:
    snprintf(errbuf, errlen, "origin local: out of memory");
    err = CAMEO_ENOMEM;
err:
    if (o)
        local_free(o);
    return err;
}
