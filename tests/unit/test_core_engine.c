/*
 * test_core_engine.c - the read and write paths of the engine over a real
 * memory tier and a scripted origin: coalescing, batches, negative entries,
 * stale-while-revalidate, invalidation racing a fill, and errors.
 *
 * The fake origin records each call and answers only when a test tells it
 * to, from the test's thread, so every interleaving is chosen, not timed.
 * The fake loop queues posted tasks until the test drains them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cameo/engine.h"
#include "cameo/resp.h"

/* ---- a loop that queues tasks ---- */

typedef struct test_loop {
    cameo_loop_t super;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cameo_task_t *head, **tail;
    int posted;
} test_loop_t;

static void tl_post(cameo_loop_t *l, cameo_task_t *t)
{
    test_loop_t *tl = (test_loop_t *)l;
    pthread_mutex_lock(&tl->lock);
    t->_next = NULL;
    *tl->tail = t;
    tl->tail = &t->_next;
    tl->posted++;
    pthread_cond_broadcast(&tl->cond);
    pthread_mutex_unlock(&tl->lock);
}

static uint64_t tl_now(cameo_loop_t *l)
{
    (void)l;
    return 0;
}

static void tl_init(test_loop_t *tl)
{
    memset(tl, 0, sizeof(*tl));
    tl->super.post = tl_post;
    tl->super.now_ms = tl_now;
    pthread_mutex_init(&tl->lock, NULL);
    pthread_cond_init(&tl->cond, NULL);
    tl->tail = &tl->head;
}

static void tl_destroy(test_loop_t *tl)
{
    pthread_mutex_destroy(&tl->lock);
    pthread_cond_destroy(&tl->cond);
}

/* Runs every queued task; returns how many. */
static int tl_drain(test_loop_t *tl)
{
    int n = 0;
    for (;;) {
        pthread_mutex_lock(&tl->lock);
        cameo_task_t *t = tl->head;
        if (t != NULL) {
            tl->head = t->_next;
            if (tl->head == NULL)
                tl->tail = &tl->head;
        }
        pthread_mutex_unlock(&tl->lock);
        if (t == NULL)
            return n;
        t->run(t);
        n++;
    }
}

/* Blocks until at least one task was posted, then drains. */
static void tl_wait_drain(test_loop_t *tl)
{
    pthread_mutex_lock(&tl->lock);
    while (tl->head == NULL)
        pthread_cond_wait(&tl->cond, &tl->lock);
    pthread_mutex_unlock(&tl->lock);
    tl_drain(tl);
}

/* ---- a scripted origin ---- */

#define MAX_CALLS 64

typedef struct call {
    int kind; /* 0 get_profiles, 1 get_avatar */
    size_t n;
    char ids[8][CAMEO_ID_MAX + 1];
    char version[CAMEO_VERSION_MAX + 1];
    cameo_origin_profiles_cb pcb;
    cameo_origin_blob_cb bcb;
    cameo_origin_write_cb wcb;
    void *arg;
    int answered;
} call_t;

typedef struct fake_origin {
    cameo_origin_t super;
    pthread_mutex_t lock;
    call_t calls[MAX_CALLS];
    int ncalls;
    size_t ids_requested;
    int fail_next;  /* error returned synchronously by the next call */
    int attach_err; /* what attach returns */
    int attached;   /* loops attached and not detached */
} fake_origin_t;

/* Publishes a filled-in call: tests see it complete or not at all. */
static void record(fake_origin_t *o, const call_t *c)
{
    pthread_mutex_lock(&o->lock);
    assert_true(o->ncalls < MAX_CALLS);
    o->calls[o->ncalls++] = *c;
    o->ids_requested += c->n;
    pthread_mutex_unlock(&o->lock);
}

static int fo_get_profiles(cameo_origin_t *self, cameo_loop_t *loop, const char *const *ids, size_t n,
                           cameo_origin_profiles_cb cb, void *arg)
{
    (void)loop;
    fake_origin_t *o = (fake_origin_t *)self;
    if (o->fail_next) {
        int err = o->fail_next;
        o->fail_next = 0;
        return err;
    }
    call_t c = {.kind = 0, .n = n, .pcb = cb, .arg = arg};
    for (size_t i = 0; i < n && i < 8; i++)
        snprintf(c.ids[i], sizeof(c.ids[i]), "%s", ids[i]);
    record(o, &c);
    return CAMEO_OK;
}

static int fo_get_avatar(cameo_origin_t *self, cameo_loop_t *loop, const char *id, const char *version,
                         cameo_origin_blob_cb cb, void *arg)
{
    (void)loop;
    call_t c = {.kind = 1, .n = 1, .bcb = cb, .arg = arg};
    snprintf(c.ids[0], sizeof(c.ids[0]), "%s", id);
    snprintf(c.version, sizeof(c.version), "%s", version);
    record((fake_origin_t *)self, &c);
    return CAMEO_OK;
}

static int fo_put_profile(cameo_origin_t *self, cameo_loop_t *loop, const char *id, const char *doc,
                          size_t doc_len, uint64_t now_wall, cameo_origin_write_cb cb, void *arg)
{
    (void)loop;
    (void)doc;
    (void)doc_len;
    (void)now_wall;
    call_t c = {.kind = 2, .wcb = cb, .arg = arg};
    snprintf(c.ids[0], sizeof(c.ids[0]), "%s", id);
    record((fake_origin_t *)self, &c);
    return CAMEO_OK;
}

static int fo_status(cameo_origin_t *self, char *buf, size_t len)
{
    (void)self;
    snprintf(buf, len, "fake");
    return CAMEO_OK;
}

static int fo_attach(cameo_origin_t *self, cameo_loop_t *loop)
{
    (void)loop;
    fake_origin_t *o = (fake_origin_t *)self;
    if (o->attach_err != CAMEO_OK)
        return o->attach_err;
    o->attached++;
    return CAMEO_OK;
}

static void fo_detach(cameo_origin_t *self, cameo_loop_t *loop)
{
    (void)loop;
    ((fake_origin_t *)self)->attached--;
}

static void fo_destroy(cameo_origin_t *self)
{
    (void)self;
}

static const cameo_origin_ops_t fake_ops = {
    .name = "fake",
    .get_profiles = fo_get_profiles,
    .get_avatar = fo_get_avatar,
    .put_profile = fo_put_profile,
    .status = fo_status,
    .attach = fo_attach,
    .detach = fo_detach,
    .destroy = fo_destroy,
};

/* Answers call i: every requested id exists with doc {"name":"<id><tag>"},
 * except ids listed in missing (NULL-terminated). */
static void answer_profiles(fake_origin_t *o, int i, const char *tag, const char *const *missing)
{
    call_t *c = &o->calls[i];
    assert_int_equal(0, c->kind);
    assert_false(c->answered);
    c->answered = 1;
    cameo_profile_rec_t recs[8];
    char docs[8][200];
    size_t n = 0;
    for (size_t k = 0; k < c->n; k++) {
        int skip = 0;
        for (const char *const *m = missing; m != NULL && *m != NULL; m++)
            skip |= strcmp(*m, c->ids[k]) == 0;
        if (skip)
            continue;
        snprintf(docs[n], sizeof(docs[n]), "{\"name\":\"%s%s\"}", c->ids[k], tag);
        recs[n] = (cameo_profile_rec_t){.id = c->ids[k], .doc = docs[n], .doc_len = strlen(docs[n])};
        n++;
    }
    c->pcb(c->arg, CAMEO_OK, recs, n);
}

static void answer_error(fake_origin_t *o, int i, int err)
{
    call_t *c = &o->calls[i];
    c->answered = 1;
    if (c->kind == 0)
        c->pcb(c->arg, err, NULL, 0);
    else
        c->bcb(c->arg, err, NULL);
}

/* ---- fixture ---- */

typedef struct fx {
    fake_origin_t origin;
    cameo_tier_t *mem;
    cameo_metrics_t *metrics;
    cameo_engine_t *engine;
    test_loop_t loop;
} fx_t;

/* Builds f's origin, memory tier, metrics, loop and an engine with ec over
 * memory and, when not NULL, remote. */
static void fx_open(fx_t *f, cameo_tier_t *remote, const cameo_engine_config_t *ec)
{
    f->origin.super.ops = &fake_ops;
    pthread_mutex_init(&f->origin.lock, NULL);
    cameo_cache_config_t cc = {.capacity = 4 << 20};
    assert_int_equal(CAMEO_OK, cameo_tier_mem_create(&cc, &f->mem));
    f->metrics = cameo_metrics_create(1, 0);
    cameo_tier_t *tiers[] = {f->mem, remote};
    assert_int_equal(CAMEO_OK, cameo_engine_create(ec, tiers, remote != NULL ? 2 : 1, &f->origin.super,
                                                   f->metrics, &f->engine));
    tl_init(&f->loop);
}

static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    cameo_engine_config_t ec = {
        .ttl_ms = 1000, .grace_ms = 1000, .negative_ttl_ms = 100, .blob_ttl_ms = 5000};
    fx_open(f, NULL, &ec);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    cameo_engine_destroy(f->engine);
    f->mem->ops->destroy(f->mem);
    cameo_metrics_destroy(f->metrics);
    tl_destroy(&f->loop);
    pthread_mutex_destroy(&f->origin.lock);
    free(f);
    return 0;
}

typedef struct got {
    cameo_read_t r;
    int done;
    int err;
    char body[256];
} got_t;

static void got_done(cameo_read_t *r)
{
    got_t *g = (got_t *)r;
    g->done++;
    g->err = r->err;
    if (r->entry != NULL) {
        snprintf(g->body, sizeof(g->body), "%.*s", (int)cameo_resp(r->entry)->body_len,
                 cameo_resp_body(r->entry));
        cameo_entry_unref(r->entry);
    }
}

static void got_init(got_t *g, test_loop_t *l)
{
    memset(g, 0, sizeof(*g));
    g->r.loop = &l->super;
    g->r.done = got_done;
}

/* A synchronous read: returns the engine's code; on CAMEO_OK copies the body. */
static int get_now(fx_t *f, const char *id, uint64_t now, got_t *g)
{
    got_init(g, &f->loop);
    cameo_entry_t *e = NULL;
    int rc = cameo_engine_get_profile(f->engine, id, now, &g->r, &e);
    if (rc == CAMEO_OK) {
        snprintf(g->body, sizeof(g->body), "%.*s", (int)cameo_resp(e)->body_len, cameo_resp_body(e));
        cameo_entry_unref(e);
    }
    return rc;
}

/* ---- tests ---- */

static void test_miss_fills_memory_then_hits_without_the_origin(void **state)
{
    fx_t *f = *state;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ada", 0, &g));
    assert_int_equal(1, f->origin.ncalls);
    answer_profiles(&f->origin, 0, "", NULL);
    assert_int_equal(1, tl_drain(&f->loop));
    assert_int_equal(1, g.done);
    assert_int_equal(CAMEO_OK, g.err);
    assert_string_equal("{\"id\":\"ada\",\"name\":\"ada\",\"avatar\":null}", g.body);

    assert_int_equal(CAMEO_OK, get_now(f, "ada", 10, &g));
    assert_string_equal("{\"id\":\"ada\",\"name\":\"ada\",\"avatar\":null}", g.body);
    assert_int_equal(1, f->origin.ncalls);
}

static void test_concurrent_misses_on_one_key_wait_on_one_origin_call(void **state)
{
    fx_t *f = *state;
    got_t g[5];
    for (int i = 0; i < 5; i++) {
        got_init(&g[i], &f->loop);
        cameo_entry_t *e = NULL;
        assert_int_equal(CAMEO_EPENDING, cameo_engine_get_profile(f->engine, "bob", 0, &g[i].r, &e));
    }
    assert_int_equal(1, f->origin.ncalls);
    assert_int_equal(4, (int)atomic_load(&f->metrics->coalesced));
    answer_profiles(&f->origin, 0, "", NULL);
    assert_int_equal(5, tl_drain(&f->loop));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(CAMEO_OK, g[i].err);
        assert_non_null(strstr(g[i].body, "\"id\":\"bob\""));
    }
}

/* Threads, each with its own loop, miss on one key at the same time. */
typedef struct thread_arg {
    fx_t *f;
    test_loop_t loop;
    got_t g;
    int rc;
} thread_arg_t;

static void *miss_thread(void *p)
{
    thread_arg_t *a = p;
    got_init(&a->g, &a->loop);
    cameo_entry_t *e = NULL;
    a->rc = cameo_engine_get_profile(a->f->engine, "carol", 0, &a->g.r, &e);
    if (a->rc == CAMEO_OK)
        cameo_entry_unref(e);
    else
        tl_wait_drain(&a->loop);
    return NULL;
}

static void test_misses_from_many_threads_make_one_origin_call(void **state)
{
    fx_t *f = *state;
    enum { N = 8 };
    thread_arg_t args[N];
    pthread_t tids[N];
    for (int i = 0; i < N; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].f = f;
        tl_init(&args[i].loop);
        assert_int_equal(0, pthread_create(&tids[i], NULL, miss_thread, &args[i]));
    }
    /* Every thread has either joined the flight or started it before the
     * origin answers: wait until all N have asked (coalesced + 1 call). */
    for (;;) {
        pthread_mutex_lock(&f->origin.lock);
        int calls = f->origin.ncalls;
        pthread_mutex_unlock(&f->origin.lock);
        if (calls == 1 && (int)atomic_load(&f->metrics->coalesced) == N - 1)
            break;
        assert_true(calls <= 1);
        sched_yield();
    }
    answer_profiles(&f->origin, 0, "", NULL);
    for (int i = 0; i < N; i++) {
        pthread_join(tids[i], NULL);
        assert_int_equal(CAMEO_EPENDING, args[i].rc);
        assert_int_equal(CAMEO_OK, args[i].g.err);
        tl_destroy(&args[i].loop);
    }
    assert_int_equal(1, f->origin.ncalls);
}

static void test_batch_reads_every_miss_in_one_origin_call(void **state)
{
    fx_t *f = *state;
    got_t g;
    /* Cache "u0" first. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "u0", 0, &g));
    answer_profiles(&f->origin, 0, "", NULL);
    tl_drain(&f->loop);

    const char *ids[] = {"u0", "u1", "u2", "u3", "u4"};
    cameo_entry_t *results[5];
    int errs[5];
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_profiles(f->engine, ids, 5, 0, results, errs, &g.r));
    assert_int_equal(2, f->origin.ncalls);
    assert_int_equal(4, (int)f->origin.calls[1].n);
    const char *missing[] = {"u3", NULL};
    answer_profiles(&f->origin, 1, "", missing);
    assert_int_equal(1, tl_drain(&f->loop));
    assert_int_equal(CAMEO_OK, g.err);
    for (int i = 0; i < 5; i++) {
        if (i == 3) {
            assert_int_equal(CAMEO_ENOTFOUND, errs[i]);
            assert_null(results[i]);
        } else {
            assert_int_equal(CAMEO_OK, errs[i]);
            assert_non_null(results[i]);
            cameo_entry_unref(results[i]);
        }
    }
    /* Everything, the missing one included, is now answered from memory. */
    assert_int_equal(CAMEO_OK, cameo_engine_get_profiles(f->engine, ids, 5, 1, results, errs, &g.r));
    assert_int_equal(CAMEO_ENOTFOUND, errs[3]);
    for (int i = 0; i < 5; i++)
        cameo_entry_unref(results[i]);
    assert_int_equal(2, f->origin.ncalls);
}

static void test_batch_joins_a_flight_already_in_progress(void **state)
{
    fx_t *f = *state;
    got_t single, batch;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "a", 0, &single));
    const char *ids[] = {"a", "b"};
    cameo_entry_t *results[2];
    int errs[2];
    got_init(&batch, &f->loop);
    assert_int_equal(CAMEO_EPENDING,
                     cameo_engine_get_profiles(f->engine, ids, 2, 0, results, errs, &batch.r));
    assert_int_equal(2, f->origin.ncalls);
    assert_int_equal(1, (int)f->origin.calls[1].n);
    assert_string_equal("b", f->origin.calls[1].ids[0]);
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(0, batch.done); /* still waits for "a" */
    answer_profiles(&f->origin, 0, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(1, batch.done);
    assert_int_equal(1, single.done);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(CAMEO_OK, errs[i]);
        cameo_entry_unref(results[i]);
    }
}

static void test_unknown_user_is_cached_negative_for_its_own_ttl(void **state)
{
    fx_t *f = *state;
    got_t g;
    const char *missing[] = {"ghost", NULL};
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ghost", 0, &g));
    answer_profiles(&f->origin, 0, "", missing);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_ENOTFOUND, g.err);
    assert_int_equal(CAMEO_ENOTFOUND, get_now(f, "ghost", 99, &g));
    assert_int_equal(1, f->origin.ncalls);
    /* negative_ttl_ms is 100 and negative entries get no grace. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ghost", 100, &g));
    assert_int_equal(2, f->origin.ncalls);
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
}

static void test_stale_entry_is_served_while_exactly_one_refresh_runs(void **state)
{
    fx_t *f = *state;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "dee", 0, &g));
    answer_profiles(&f->origin, 0, "-v1", NULL);
    tl_drain(&f->loop);

    /* ttl 1000, grace 1000: at 1500 it is stale; served, and one refresh starts. */
    assert_int_equal(CAMEO_OK, get_now(f, "dee", 1500, &g));
    assert_non_null(strstr(g.body, "dee-v1"));
    assert_int_equal(2, f->origin.ncalls);
    assert_int_equal(CAMEO_OK, get_now(f, "dee", 1501, &g));
    assert_int_equal(2, f->origin.ncalls); /* still one refresh */
    assert_int_equal(2, (int)atomic_load(&f->metrics->stale_served));
    answer_profiles(&f->origin, 1, "-v2", NULL);
    assert_int_equal(0, tl_drain(&f->loop)); /* nobody waited on the refresh */
    assert_int_equal(CAMEO_OK, get_now(f, "dee", 1502, &g));
    assert_non_null(strstr(g.body, "dee-v2"));
    /* Past the grace window it is a plain miss. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "dee", 1500 + 2000, &g));
    answer_profiles(&f->origin, 2, "-v3", NULL);
    tl_drain(&f->loop);
}

/* Fills "id" at time 0 with "-v1" (ttl 1000, grace 1000, stale-if-error 24 h). */
static void fill_at_zero(fx_t *f, const char *id)
{
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, id, 0, &g));
    answer_profiles(&f->origin, f->origin.ncalls - 1, "-v1", NULL);
    tl_drain(&f->loop);
}

static void test_origin_failing_past_the_grace_window_serves_the_last_value(void **state)
{
    fx_t *f = *state;
    fill_at_zero(f, "ida");
    got_t a, b;
    /* Past ttl + grace: a miss that asks the origin (no stale answer at once). */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ida", 5000, &a));
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ida", 5000, &b)); /* joins */
    assert_int_equal(2, f->origin.ncalls);
    answer_error(&f->origin, 1, CAMEO_EUNAVAIL);
    assert_int_equal(2, tl_drain(&f->loop));
    assert_int_equal(CAMEO_OK, a.err);
    assert_int_equal(CAMEO_OK, b.err);
    assert_non_null(strstr(a.body, "ida-v1"));
    assert_int_equal(1, (int)atomic_load(&f->metrics->stale_if_error));
    /* Served, not refreshed: the next read asks the origin again. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ida", 5001, &a));
    answer_error(&f->origin, 2, CAMEO_ETIMEDOUT);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, a.err);
    /* The origin back: its answer replaces the old value. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ida", 5002, &a));
    answer_profiles(&f->origin, 3, "-v2", NULL);
    tl_drain(&f->loop);
    assert_non_null(strstr(a.body, "ida-v2"));
}

static void test_stale_if_error_never_hides_not_found_or_a_write(void **state)
{
    fx_t *f = *state;
    fill_at_zero(f, "jim");
    fill_at_zero(f, "kim");
    got_t g;
    /* The origin says the user is gone: 404, whatever was cached. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "jim", 5000, &g));
    const char *gone[] = {"jim", NULL};
    answer_profiles(&f->origin, 2, "", gone);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_ENOTFOUND, g.err);
    /* A write during the fill: the old value is never served again. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "kim", 5000, &g));
    cameo_engine_invalidate(f->engine, "kim");
    answer_error(&f->origin, 3, CAMEO_EUNAVAIL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_EUNAVAIL, g.err);
    assert_int_equal(0, (int)atomic_load(&f->metrics->stale_if_error));
}

static void test_stale_if_error_ends_with_its_window(void **state)
{
    fx_t *f = *state;
    fill_at_zero(f, "lou");
    got_t g;
    uint64_t past = 1000 + 24ull * 3600 * 1000 + 1; /* ttl + stale-if-error */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "lou", past, &g));
    answer_error(&f->origin, 1, CAMEO_EUNAVAIL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_EUNAVAIL, g.err);
}

static void test_batch_falls_back_per_id_when_the_origin_fails(void **state)
{
    fx_t *f = *state;
    fill_at_zero(f, "mo");
    const char *ids[] = {"mo", "new"};
    cameo_entry_t *results[2];
    int errs[2];
    got_t g;
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_profiles(f->engine, ids, 2, 5000, results, errs, &g.r));
    answer_error(&f->origin, 1, CAMEO_EUNAVAIL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, errs[0]);
    assert_non_null(results[0]);
    assert_int_equal(5, (int)cameo_engine_age_s(f->engine, results[0], 5000));
    assert_int_equal(0, (int)cameo_engine_age_s(f->engine, results[0], 999));
    assert_int_equal(CAMEO_EUNAVAIL, errs[1]);
    assert_null(results[1]);
    cameo_entry_unref(results[0]);
}

static void test_hot_profile_is_refreshed_before_it_expires(void **state)
{
    fx_t *f = *state;
    fill_at_zero(f, "ned"); /* ttl 1000: refresh-ahead window 100 (ttl / 10) */
    got_t g;
    for (int i = 0; i < 50; i++) /* before the window: never */
        assert_int_equal(CAMEO_OK, get_now(f, "ned", 850, &g));
    assert_int_equal(1, f->origin.ncalls);
    /* Read often near expiry: a refresh starts (with probability ~0.97 per
     * read here), and only one. */
    for (int i = 0; i < 30; i++)
        assert_int_equal(CAMEO_OK, get_now(f, "ned", 999, &g));
    assert_int_equal(2, f->origin.ncalls);
    assert_int_equal(1, (int)atomic_load(&f->metrics->refreshes_ahead));
    answer_profiles(&f->origin, 1, "-v2", NULL);
    assert_int_equal(0, tl_drain(&f->loop)); /* nobody waited */
    /* Past the old expiry the new value is fresh: no miss. */
    assert_int_equal(CAMEO_OK, get_now(f, "ned", 1500, &g));
    assert_non_null(strstr(g.body, "ned-v2"));
    assert_int_equal(2, f->origin.ncalls);
}

static void test_batch_refreshes_its_due_ids_in_one_call(void **state)
{
    fx_t *f = *state;
    const char *ids[] = {"oa", "ob", "oc"};
    cameo_entry_t *results[3];
    int errs[3];
    got_t g;
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_profiles(f->engine, ids, 3, 0, results, errs, &g.r));
    answer_profiles(&f->origin, 0, "-v1", NULL);
    tl_drain(&f->loop);
    for (int k = 0; k < 3; k++)
        cameo_entry_unref(results[k]);
    for (int i = 0; i < 30 && f->origin.ncalls == 1; i++) {
        got_init(&g, &f->loop);
        assert_int_equal(CAMEO_OK, cameo_engine_get_profiles(f->engine, ids, 3, 999, results, errs, &g.r));
        for (int k = 0; k < 3; k++)
            cameo_entry_unref(results[k]);
    }
    assert_int_equal(2, f->origin.ncalls);
    assert_true(f->origin.calls[1].n >= 1);
    answer_profiles(&f->origin, 1, "-v2", NULL);
    tl_drain(&f->loop);
}

static void test_invalidation_during_a_fill_keeps_the_old_value_out_of_the_cache(void **state)
{
    fx_t *f = *state;
    got_t before, after;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "eve", 0, &before));
    /* A write lands while the origin call (which read the old value) is out. */
    cameo_engine_invalidate(f->engine, "eve");
    /* A read after the invalidation does not join the old flight. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "eve", 1, &after));
    assert_int_equal(2, f->origin.ncalls);
    answer_profiles(&f->origin, 0, "-old", NULL);
    answer_profiles(&f->origin, 1, "-new", NULL);
    tl_drain(&f->loop);
    assert_non_null(strstr(before.body, "eve-old")); /* it asked before the write */
    assert_non_null(strstr(after.body, "eve-new"));
    got_t g;
    assert_int_equal(CAMEO_OK, get_now(f, "eve", 2, &g));
    assert_non_null(strstr(g.body, "eve-new"));
}

static void test_old_fill_finishing_after_invalidation_is_not_stored(void **state)
{
    fx_t *f = *state;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "fay", 0, &g));
    cameo_engine_invalidate(f->engine, "fay");
    answer_profiles(&f->origin, 0, "-old", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_EPENDING, get_now(f, "fay", 1, &g)); /* not cached */
    answer_profiles(&f->origin, 1, "-new", NULL);
    tl_drain(&f->loop);
}

static void test_origin_error_reaches_every_waiter_and_is_not_cached(void **state)
{
    fx_t *f = *state;
    got_t a, b;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "gus", 0, &a));
    assert_int_equal(CAMEO_EPENDING, get_now(f, "gus", 0, &b));
    answer_error(&f->origin, 0, CAMEO_EIO);
    assert_int_equal(2, tl_drain(&f->loop));
    assert_int_equal(CAMEO_EIO, a.err);
    assert_int_equal(CAMEO_EIO, b.err);
    assert_int_equal(CAMEO_EPENDING, get_now(f, "gus", 1, &a));
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, a.err);
}

static void test_origin_refusing_a_call_answers_the_waiter_with_its_error(void **state)
{
    fx_t *f = *state;
    got_t g;
    f->origin.fail_next = CAMEO_EBUSY;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "hal", 0, &g));
    assert_int_equal(1, tl_drain(&f->loop));
    assert_int_equal(CAMEO_EBUSY, g.err);
}

static void test_corrupt_origin_document_is_an_error_not_an_entry(void **state)
{
    fx_t *f = *state;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ivy", 0, &g));
    call_t *c = &f->origin.calls[0];
    cameo_profile_rec_t rec = {.id = "ivy", .doc = "[1,2]", .doc_len = 5};
    c->pcb(c->arg, CAMEO_OK, &rec, 1);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_ECORRUPT, g.err);
    assert_int_equal(CAMEO_EPENDING, get_now(f, "ivy", 1, &g)); /* nothing was cached */
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
}

typedef struct wgot {
    cameo_write_t w;
    int done, err;
} wgot_t;

static void wgot_done(cameo_write_t *w)
{
    wgot_t *g = (wgot_t *)w;
    g->done++;
    g->err = w->err;
    cameo_entry_unref(w->entry);
}

static void test_write_drops_the_cached_profile_before_it_is_acknowledged(void **state)
{
    fx_t *f = *state;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "jo", 0, &g));
    answer_profiles(&f->origin, 0, "-v1", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, get_now(f, "jo", 1, &g));

    wgot_t w = {.w = {.loop = &f->loop.super, .done = wgot_done}};
    assert_int_equal(CAMEO_OK, cameo_engine_put_profile(f->engine, "jo", "{}", 2, 12345, &w.w));
    call_t *c = &f->origin.calls[1];
    cameo_profile_rec_t rec = {.id = "jo", .doc = "{\"name\":\"jo-v2\"}", .doc_len = 16};
    c->wcb(c->arg, CAMEO_OK, &rec, 0);
    /* Before the acknowledgement runs on the loop, memory no longer has it. */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "jo", 2, &g));
    tl_drain(&f->loop);
    assert_int_equal(1, w.done);
    assert_int_equal(CAMEO_OK, w.err);
    answer_profiles(&f->origin, 2, "-v2", NULL);
    tl_drain(&f->loop);
    assert_non_null(strstr(g.body, "jo-v2"));
    assert_int_equal(1, (int)atomic_load(&f->metrics->origin_requests[CAMEO_OP_PUT_PROFILE]));
}

static void test_blob_miss_and_unknown_version(void **state)
{
    fx_t *f = *state;
    got_t g;
    got_init(&g, &f->loop);
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_blob(f->engine, "kim", "abc", 0, &g.r, &e));
    call_t *c = &f->origin.calls[0];
    cameo_blob_t blob = {.data = "GIF89a-bytes", .len = 12, .content_type = "image/gif", .version = "abc"};
    c->answered = 1;
    c->bcb(c->arg, CAMEO_OK, &blob);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, g.err);
    assert_string_equal("GIF89a-bytes", g.body);

    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_OK, cameo_engine_get_blob(f->engine, "kim", "abc", 1, &g.r, &e));
    assert_string_equal("image/gif", cameo_resp(e)->content_type);
    assert_string_equal("\"abc\"", cameo_resp(e)->etag);
    cameo_entry_unref(e);

    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_blob(f->engine, "kim", "zzz", 1, &g.r, &e));
    answer_error(&f->origin, 1, CAMEO_ENOTFOUND);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_ENOTFOUND, g.err);
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_ENOTFOUND, cameo_engine_get_blob(f->engine, "kim", "zzz", 2, &g.r, &e));
    assert_int_equal(2, f->origin.ncalls);
}

/* ---- a scripted remote tier (the shape of Redis) ---- */

typedef struct fake_remote {
    cameo_tier_t super;
    int connected;
    int gets;      /* get_async calls */
    size_t last_n; /* keys in the last get_async */
    cameo_tier_got_cb get_cb;
    void *get_arg;
    cameo_entry_t *store[16]; /* what put_async stored, by order */
    int nstored;
    int removes;
    char removed[4][CAMEO_KEY_MAX];
    cameo_tier_done_cb rm_cb;
    void *rm_arg;
    cameo_bus_handler_t bus; /* set by the engine when set_bus is offered */
    int attach_err;          /* what attach returns */
    int attached;            /* loops attached and not detached */
} fake_remote_t;

static int fr_attach(cameo_tier_t *t, cameo_loop_t *loop)
{
    (void)loop;
    fake_remote_t *r = (fake_remote_t *)t;
    if (r->attach_err != CAMEO_OK)
        return r->attach_err;
    r->attached++;
    return CAMEO_OK;
}

static void fr_detach(cameo_tier_t *t, cameo_loop_t *loop)
{
    (void)loop;
    ((fake_remote_t *)t)->attached--;
}

static int fr_get_async(cameo_tier_t *t, cameo_loop_t *loop, const cameo_key_t *keys, size_t n, uint64_t now,
                        cameo_tier_got_cb cb, void *arg)
{
    (void)loop;
    (void)keys;
    (void)now;
    fake_remote_t *r = (fake_remote_t *)t;
    if (!r->connected)
        return CAMEO_EUNAVAIL;
    r->gets++;
    r->last_n = n;
    r->get_cb = cb;
    r->get_arg = arg;
    return CAMEO_OK;
}

static void fr_put_async(cameo_tier_t *t, cameo_loop_t *loop, cameo_entry_t *e, uint64_t now)
{
    (void)loop;
    (void)now;
    fake_remote_t *r = (fake_remote_t *)t;
    assert_true(r->nstored < 16);
    cameo_entry_ref(e);
    r->store[r->nstored++] = e;
}

static int fr_remove_async(cameo_tier_t *t, cameo_loop_t *loop, const cameo_key_t *keys, size_t n,
                           cameo_tier_done_cb cb, void *arg)
{
    (void)loop;
    fake_remote_t *r = (fake_remote_t *)t;
    if (!r->connected)
        return CAMEO_EUNAVAIL;
    for (size_t i = 0; i < n && r->removes < 4; i++, r->removes++)
        snprintf(r->removed[r->removes], CAMEO_KEY_MAX, "%.*s", (int)keys[i].len, keys[i].p);
    r->rm_cb = cb;
    r->rm_arg = arg;
    return CAMEO_OK;
}

static void fr_set_bus(cameo_tier_t *t, const cameo_bus_handler_t *h)
{
    ((fake_remote_t *)t)->bus = *h;
}

static void fr_stats(cameo_tier_t *t, cameo_tier_stats_t *out)
{
    (void)t;
    memset(out, 0, sizeof(*out));
}

static const cameo_tier_ops_t fake_remote_ops = {
    .name = "fake-remote",
    .attach = fr_attach,
    .detach = fr_detach,
    .get_async = fr_get_async,
    .put_async = fr_put_async,
    .remove_async = fr_remove_async,
    .set_bus = fr_set_bus,
    .stats = fr_stats,
};

typedef struct rfx {
    fx_t base; /* fx_setup/teardown fields, engine rebuilt with the remote */
    fake_remote_t remote;
} rfx_t;

static int rfx_setup(void **state)
{
    rfx_t *f = calloc(1, sizeof(*f));
    f->remote.super.ops = &fake_remote_ops;
    f->remote.connected = 1;
    /* A profile TTL (10 s) well above the bus-down cap (1 s by default). */
    cameo_engine_config_t ec = {.ttl_ms = 10000,
                                .grace_ms = 1000,
                                .negative_ttl_ms = 100,
                                .blob_ttl_ms = 5000,
                                .refresh_ahead_ms =
                                    CAMEO_REFRESH_AHEAD_OFF}; /* these tests script every remote call */
    fx_open(&f->base, &f->remote.super, &ec);
    *state = f;
    return 0;
}

static int rfx_teardown(void **state)
{
    rfx_t *f = *state;
    for (int i = 0; i < f->remote.nstored; i++)
        cameo_entry_unref(f->remote.store[i]);
    f->remote.nstored = 0;
    *state = &f->base; /* base comes first: fx_teardown frees f */
    return fx_teardown(state);
}

static void test_remote_hit_fills_memory_without_the_origin(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "rita", 0, &g));
    assert_int_equal(1, rf->remote.gets);
    assert_int_equal(0, f->origin.ncalls);
    /* Redis has it, fresh. */
    cameo_profile_rec_t rec = {.id = "rita", .doc = "{\"name\":\"from-redis\"}", .doc_len = 21};
    cameo_ttl_t ttl = {.now = 0, .ttl_ms = 1000};
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_OK, cameo_resp_profile(&rec, &ttl, &e));
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &e, 1);
    cameo_entry_unref(e);
    tl_drain(&f->loop);
    assert_non_null(strstr(g.body, "from-redis"));
    assert_int_equal(0, f->origin.ncalls);
    assert_int_equal(0, rf->remote.nstored);               /* not written back to where it came from */
    assert_int_equal(CAMEO_OK, get_now(f, "rita", 1, &g)); /* now in memory */
    assert_int_equal(1, rf->remote.gets);
}

static void test_remote_miss_goes_to_the_origin_and_fills_both(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    got_t g;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "sam", 0, &g));
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    assert_int_equal(1, f->origin.ncalls);
    answer_profiles(&f->origin, 0, "", NULL);
    tl_drain(&f->loop); /* the answer, and the remote put posted to this loop */
    assert_int_equal(CAMEO_OK, g.err);
    assert_int_equal(1, rf->remote.nstored);
    assert_memory_equal("p:sam", rf->remote.store[0]->key, 5);
}

static void test_remote_down_or_timing_out_goes_straight_to_the_origin(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    got_t g;
    rf->remote.connected = 0;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "tom", 0, &g));
    assert_int_equal(0, rf->remote.gets);
    assert_int_equal(1, f->origin.ncalls);
    answer_profiles(&f->origin, 0, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, g.err);

    rf->remote.connected = 1;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "uma", 0, &g));
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_ETIMEDOUT, NULL, 0);
    assert_int_equal(2, f->origin.ncalls);
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, g.err);
}

static void test_remote_lookup_is_coalesced_and_batched(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    got_t a, b;
    assert_int_equal(CAMEO_EPENDING, get_now(f, "v1", 0, &a));
    assert_int_equal(CAMEO_EPENDING, get_now(f, "v1", 0, &b));
    assert_int_equal(1, rf->remote.gets); /* the second waits on the first's flight */
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    answer_profiles(&f->origin, 0, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, a.err);
    assert_int_equal(CAMEO_OK, b.err);

    const char *ids[] = {"w1", "w2", "w3"};
    cameo_entry_t *results[3];
    int errs[3];
    got_t g;
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_profiles(f->engine, ids, 3, 0, results, errs, &g.r));
    assert_int_equal(2, rf->remote.gets);
    assert_int_equal(3, (int)rf->remote.last_n); /* one MGET for the batch */
    cameo_entry_t *got[3] = {NULL, NULL, NULL};
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, got, 3);
    assert_int_equal(3, (int)f->origin.calls[1].n); /* then one origin call */
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(CAMEO_OK, errs[i]);
        cameo_entry_unref(results[i]);
    }
}

static void test_write_is_acknowledged_after_the_remote_copy_is_gone(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    wgot_t w = {.w = {.loop = &f->loop.super, .done = wgot_done}};
    assert_int_equal(CAMEO_OK, cameo_engine_put_profile(f->engine, "xan", "{}", 2, 1, &w.w));
    cameo_profile_rec_t rec = {.id = "xan", .doc = "{}", .doc_len = 2};
    f->origin.calls[0].wcb(f->origin.calls[0].arg, CAMEO_OK, &rec, 1);
    tl_drain(&f->loop); /* runs the remote removal */
    assert_int_equal(1, rf->remote.removes);
    assert_string_equal("p:xan", rf->remote.removed[0]);
    assert_int_equal(0, w.done); /* not before Redis said so */
    rf->remote.rm_cb(rf->remote.rm_arg, CAMEO_OK);
    assert_int_equal(1, w.done);
    assert_int_equal(CAMEO_OK, w.err);
}

static void test_invalidate_ids_removes_every_key_in_one_call(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    wgot_t w = {.w = {.loop = &f->loop.super, .done = wgot_done}};
    const char *ids[] = {"y1", "y2", "y3"};
    assert_int_equal(CAMEO_EPENDING, cameo_engine_invalidate_ids(f->engine, ids, 3, &w.w));
    assert_int_equal(3, rf->remote.removes);
    assert_string_equal("p:y3", rf->remote.removed[2]);
    rf->remote.rm_cb(rf->remote.rm_arg, CAMEO_OK);
    assert_int_equal(1, w.done);
    rf->remote.connected = 0; /* Redis away: the local part is done, nothing to wait for */
    assert_int_equal(CAMEO_OK, cameo_engine_invalidate_ids(f->engine, ids, 3, &w.w));
}

/* Fills "id" through the remote-tier fixture (a remote miss, then the origin). */
static void fill_via_origin(rfx_t *rf, const char *id, uint64_t now)
{
    fx_t *f = &rf->base;
    got_t g;
    int before = f->origin.ncalls;
    assert_int_equal(CAMEO_EPENDING, get_now(f, id, now, &g));
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    answer_profiles(&f->origin, before, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(CAMEO_OK, g.err);
}

static void test_bus_event_from_another_instance_drops_the_local_copy(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    rf->remote.bus.reset(rf->remote.bus.arg, 1);
    fill_via_origin(rf, "zed", 0);
    got_t g;
    assert_int_equal(CAMEO_OK, get_now(f, "zed", 1, &g));
    cameo_key_t k = {"p:zed", 5};
    rf->remote.bus.invalidated(rf->remote.bus.arg, &k, 1);
    assert_int_equal(CAMEO_EPENDING, get_now(f, "zed", 2, &g)); /* gone from memory */
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);
    assert_int_equal(1, (int)atomic_load(&f->metrics->bus_events));
}

static void test_bus_events_with_unsafe_fields_are_dropped_where_they_enter(void **state)
{
    rfx_t *rf = *state;
    cameo_hub_t *hub = cameo_hub_create(16, 4);
    cameo_tier_t *tiers[] = {rf->base.mem, &rf->remote.super};
    cameo_engine_config_t ec = {.hub = hub};
    cameo_engine_t *e;
    assert_int_equal(CAMEO_OK,
                     cameo_engine_create(&ec, tiers, 2, &rf->base.origin.super, rf->base.metrics, &e));
    const char *good = "{\"type\":\"avatar.updated\",\"id\":\"1-00000001-1\",\"user\":\"ann\","
                       "\"version\":\"v1\",\"at\":1}";
    const char *bad = "{\"type\":\"avatar.updated\",\"id\":\"1\\\"x\",\"user\":\"ann\",\"at\":1}";
    rf->remote.bus.event(rf->remote.bus.arg, bad, strlen(bad)); /* an id with a quote in it */
    assert_int_equal(0, (int)cameo_hub_last(hub));
    rf->remote.bus.event(rf->remote.bus.arg, good, strlen(good));
    assert_int_equal(1, (int)cameo_hub_last(hub));
    cameo_engine_destroy(e);
    cameo_hub_destroy(hub);
}

static void test_bus_coming_back_flushes_profiles_but_keeps_avatar_bytes(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    rf->remote.bus.reset(rf->remote.bus.arg, 1);
    fill_via_origin(rf, "amy", 0);
    /* An avatar blob in memory. */
    got_t g;
    got_init(&g, &f->loop);
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_EPENDING, cameo_engine_get_blob(f->engine, "amy", "v1", 0, &g.r, &e));
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    call_t *c = &f->origin.calls[1];
    cameo_blob_t blob = {.data = "GIF89a", .len = 6, .content_type = "image/gif", .version = "v1"};
    c->bcb(c->arg, CAMEO_OK, &blob);
    tl_drain(&f->loop);

    rf->remote.bus.reset(rf->remote.bus.arg, 0);
    rf->remote.bus.reset(rf->remote.bus.arg, 1); /* events may have been missed */
    assert_int_equal(CAMEO_EPENDING, get_now(f, "amy", 1, &g));
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    answer_profiles(&f->origin, 2, "", NULL);
    tl_drain(&f->loop);
    got_init(&g, &f->loop);
    assert_int_equal(CAMEO_OK, cameo_engine_get_blob(f->engine, "amy", "v1", 1, &g.r, &e));
    cameo_entry_unref(e);
}

static void test_while_the_bus_is_down_local_profiles_are_trusted_briefly(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    rf->remote.bus.reset(rf->remote.bus.arg, 0);
    fill_via_origin(rf, "bea", 0); /* stored at 0; TTL 10 s; bus_down_ttl_ms 1 s */
    got_t g;
    assert_int_equal(CAMEO_OK, get_now(f, "bea", 999, &g));
    assert_int_equal(CAMEO_EPENDING, get_now(f, "bea", 1000, &g)); /* capped, though its TTL runs on */
    cameo_entry_t *none = NULL;
    rf->remote.get_cb(rf->remote.get_arg, CAMEO_OK, &none, 1);
    answer_profiles(&f->origin, 1, "", NULL);
    tl_drain(&f->loop);

    /* With the bus up again, a profile lives its whole TTL. */
    rf->remote.bus.reset(rf->remote.bus.arg, 1);
    fill_via_origin(rf, "bea", 2000);
    assert_int_equal(CAMEO_OK, get_now(f, "bea", 11999, &g));
}

static void list_never(cameo_list_t *l)
{
    (void)l;
    fail_msg("an origin without list_ids must not answer a listing later");
}

static void test_listing_on_an_origin_without_list_ids_is_enotsup(void **state)
{
    fx_t *f = *state;
    cameo_list_t l = {.loop = &f->loop.super, .done = list_never};
    assert_int_equal(CAMEO_ENOTSUP, cameo_engine_list_ids(f->engine, NULL, 50, &l));
    assert_true(cameo_engine_idle(f->engine));
}

static void test_attach_names_the_remote_tier_that_failed_and_leaves_nothing_attached(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    char why[200] = "";
    rf->remote.attach_err = CAMEO_ENOMEM;
    assert_int_equal(CAMEO_ENOMEM, cameo_engine_attach(f->engine, &f->loop.super, why, sizeof(why)));
    assert_string_equal("the fake-remote tier cannot attach: out of memory", why);
    assert_int_equal(0, rf->remote.attached);
    assert_int_equal(0, f->origin.attached); /* the origin was not tried */
}

static void test_attach_names_the_origin_that_failed_and_detaches_the_tier_again(void **state)
{
    rfx_t *rf = *state;
    fx_t *f = &rf->base;
    char why[200] = "";
    f->origin.attach_err = CAMEO_EUNAVAIL;
    assert_int_equal(CAMEO_EUNAVAIL, cameo_engine_attach(f->engine, &f->loop.super, why, sizeof(why)));
    assert_non_null(strstr(why, "the fake origin cannot attach: "));
    assert_non_null(strstr(why, cameo_strerror(CAMEO_EUNAVAIL)));
    assert_int_equal(0, rf->remote.attached);
    assert_int_equal(0, f->origin.attached);

    /* Once both attach, both are attached, and detach undoes both. */
    f->origin.attach_err = CAMEO_OK;
    assert_int_equal(CAMEO_OK, cameo_engine_attach(f->engine, &f->loop.super, NULL, 0));
    assert_int_equal(1, rf->remote.attached);
    assert_int_equal(1, f->origin.attached);
    cameo_engine_detach(f->engine, &f->loop.super);
    assert_int_equal(0, rf->remote.attached);
    assert_int_equal(0, f->origin.attached);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_miss_fills_memory_then_hits_without_the_origin),
        T(test_concurrent_misses_on_one_key_wait_on_one_origin_call),
        T(test_misses_from_many_threads_make_one_origin_call),
        T(test_batch_reads_every_miss_in_one_origin_call),
        T(test_batch_joins_a_flight_already_in_progress),
        T(test_unknown_user_is_cached_negative_for_its_own_ttl),
        T(test_stale_entry_is_served_while_exactly_one_refresh_runs),
        T(test_origin_failing_past_the_grace_window_serves_the_last_value),
        T(test_stale_if_error_never_hides_not_found_or_a_write),
        T(test_stale_if_error_ends_with_its_window),
        T(test_batch_falls_back_per_id_when_the_origin_fails),
        T(test_hot_profile_is_refreshed_before_it_expires),
        T(test_batch_refreshes_its_due_ids_in_one_call),
        T(test_invalidation_during_a_fill_keeps_the_old_value_out_of_the_cache),
        T(test_old_fill_finishing_after_invalidation_is_not_stored),
        T(test_origin_error_reaches_every_waiter_and_is_not_cached),
        T(test_origin_refusing_a_call_answers_the_waiter_with_its_error),
        T(test_corrupt_origin_document_is_an_error_not_an_entry),
        T(test_write_drops_the_cached_profile_before_it_is_acknowledged),
        T(test_blob_miss_and_unknown_version),
        T(test_listing_on_an_origin_without_list_ids_is_enotsup),
#undef T
#define R(fn) cmocka_unit_test_setup_teardown(fn, rfx_setup, rfx_teardown)
        R(test_remote_hit_fills_memory_without_the_origin),
        R(test_remote_miss_goes_to_the_origin_and_fills_both),
        R(test_remote_down_or_timing_out_goes_straight_to_the_origin),
        R(test_remote_lookup_is_coalesced_and_batched),
        R(test_write_is_acknowledged_after_the_remote_copy_is_gone),
        R(test_invalidate_ids_removes_every_key_in_one_call),
        R(test_bus_event_from_another_instance_drops_the_local_copy),
        R(test_bus_events_with_unsafe_fields_are_dropped_where_they_enter),
        R(test_bus_coming_back_flushes_profiles_but_keeps_avatar_bytes),
        R(test_while_the_bus_is_down_local_profiles_are_trusted_briefly),
        R(test_attach_names_the_remote_tier_that_failed_and_leaves_nothing_attached),
        R(test_attach_names_the_origin_that_failed_and_detaches_the_tier_again),
#undef R
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
