/*
 * test_core_events.c - the hub of change events: the backlog ring, resume
 * by id (its index, through many turns of the ring), de-duplication, the
 * stream cap, waking listeners once, and only those that want it, and the
 * SSE frames formatted once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cameo/events.h"

/* A loop that only queues posted tasks (single-threaded tests). */
typedef struct qloop {
    cameo_loop_t super;
    cameo_task_t *tasks[16];
    int n;
} qloop_t;

static void q_post(cameo_loop_t *l, cameo_task_t *t)
{
    qloop_t *q = (qloop_t *)l;
    assert_true(q->n < 16);
    q->tasks[q->n++] = t;
}

static int q_run(qloop_t *q)
{
    int n = q->n;
    for (int i = 0; i < n; i++)
        q->tasks[i]->run(q->tasks[i]);
    memmove(q->tasks, q->tasks + n, (size_t)(q->n - n) * sizeof(q->tasks[0]));
    q->n -= n;
    return n;
}

static cameo_event_t event(cameo_hub_t *h, const char *type, const char *user, uint64_t at)
{
    cameo_event_t ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.type, sizeof(ev.type), "%s", type);
    snprintf(ev.user, sizeof(ev.user), "%s", user);
    ev.at_ms = at;
    cameo_hub_new_id(h, &ev);
    return ev;
}

static void test_backlog_keeps_the_newest_and_reports_the_oldest(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(3, 0);
    for (int i = 1; i <= 5; i++) {
        char user[8];
        snprintf(user, sizeof(user), "u%d", i);
        cameo_event_t ev = event(h, "profile.updated", user, 100 + (uint64_t)i);
        assert_int_equal(i, (int)cameo_hub_publish(h, &ev));
    }
    cameo_event_t out[8];
    uint64_t oldest;
    size_t n = cameo_hub_read(h, 0, out, 8, &oldest);
    assert_int_equal(3, (int)n); /* 1 and 2 fell off */
    assert_int_equal(3, (int)oldest);
    assert_string_equal("u3", out[0].user);
    assert_string_equal("u5", out[2].user);
    assert_int_equal(5, (int)cameo_hub_last(h));
    n = cameo_hub_read(h, 4, out, 8, &oldest);
    assert_int_equal(1, (int)n);
    assert_int_equal(5, (int)out[0].seq);
    assert_int_equal(0, (int)cameo_hub_read(h, 5, out, 8, &oldest));
    cameo_hub_destroy(h);
}

static void test_resume_finds_an_id_still_held_and_not_one_that_fell_off(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(2, 0);
    cameo_event_t a = event(h, "profile.updated", "a", 1), b = event(h, "avatar.updated", "b", 2),
                  c = event(h, "profile.deleted", "c", 3);
    cameo_hub_publish(h, &a);
    cameo_hub_publish(h, &b);
    cameo_hub_publish(h, &c);
    assert_int_equal(0, (int)cameo_hub_find(h, a.id));
    assert_int_equal(2, (int)cameo_hub_find(h, b.id));
    assert_int_equal(0, (int)cameo_hub_find(h, "no-such-id"));
    cameo_hub_destroy(h);
}

static void test_ids_are_found_through_many_turns_of_the_ring_and_lost_as_they_fall_off(void **state)
{
    (void)state;
    enum { N = 300 };
    static cameo_event_t evs[N];
    static const int caps[] = {1, 5, 64}; /* index of 2, 16 and 128 slots: probes collide and wrap */
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        int cap = caps[c];
        cameo_hub_t *h = cameo_hub_create((size_t)cap, 0);
        for (int i = 0; i < N; i++) {
            evs[i] = event(h, "profile.updated", "u", (uint64_t)i);
            assert_int_equal(i + 1, (int)cameo_hub_publish(h, &evs[i]));
            /* Every id still held is found at its seq, every one that fell
             * off is not, and a held one heard again is still dropped. */
            for (int k = 0; k <= i; k++)
                assert_int_equal(k > i - cap ? k + 1 : 0, (int)cameo_hub_find(h, evs[k].id));
            assert_int_equal(0, (int)cameo_hub_publish(h, &evs[i - (i % cap) / 2]));
        }
        /* An id that fell off may come back (from the bus): a new event. */
        assert_int_equal(N + 1, (int)cameo_hub_publish(h, &evs[0]));
        assert_int_equal(N + 1, (int)cameo_hub_find(h, evs[0].id));
        assert_int_equal(0, (int)cameo_hub_find(h, evs[N - cap].id)); /* pushed off by it */
        assert_int_equal(0, (int)cameo_hub_find(h, ""));
        cameo_hub_destroy(h);
    }
}

static void test_an_event_heard_twice_is_kept_once(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    cameo_event_t a = event(h, "profile.updated", "a", 1);
    assert_int_equal(1, (int)cameo_hub_publish(h, &a));
    assert_int_equal(0, (int)cameo_hub_publish(h, &a));
    assert_int_equal(1, (int)cameo_hub_last(h));
    cameo_hub_destroy(h);
}

static void test_ids_are_unique_and_carry_the_time(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    cameo_event_t a = event(h, "profile.updated", "a", 1763767200123u),
                  b = event(h, "profile.updated", "a", 1763767200123u);
    assert_string_not_equal(a.id, b.id);
    assert_memory_equal("1763767200123-", a.id, 14);
    cameo_hub_destroy(h);
}

static void test_stream_cap_refuses_past_the_limit_and_frees_on_release(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 2);
    assert_int_equal(CAMEO_OK, cameo_hub_acquire(h));
    assert_int_equal(CAMEO_OK, cameo_hub_acquire(h));
    assert_int_equal(CAMEO_EBUSY, cameo_hub_acquire(h));
    assert_int_equal(2, (int)cameo_hub_subscribers(h));
    cameo_hub_release(h);
    assert_int_equal(CAMEO_OK, cameo_hub_acquire(h));
    cameo_hub_destroy(h);
}

static int woken;
static void on_notify(void *arg)
{
    (void)arg;
    woken++;
}

static void test_listener_is_woken_once_for_a_burst_and_never_after_unlisten(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    qloop_t q = {.super = {.post = q_post}};
    woken = 0;
    assert_int_equal(CAMEO_OK, cameo_hub_listen(h, &q.super, on_notify, NULL));
    for (int i = 0; i < 3; i++) {
        cameo_event_t ev = event(h, "profile.updated", "x", (uint64_t)i);
        cameo_hub_publish(h, &ev);
    }
    assert_int_equal(1, q_run(&q)); /* one wake-up for the three */
    assert_int_equal(1, woken);
    cameo_event_t ev = event(h, "profile.updated", "y", 9);
    cameo_hub_publish(h, &ev);
    cameo_hub_unlisten(h, &q.super); /* the posted wake-up then does nothing */
    assert_int_equal(1, q_run(&q));
    assert_int_equal(1, woken);
    cameo_hub_destroy(h);
}

static void test_a_listener_that_wants_no_wake_ups_gets_none(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    qloop_t idle = {.super = {.post = q_post}}, busy = {.super = {.post = q_post}};
    woken = 0;
    assert_int_equal(CAMEO_OK, cameo_hub_listen(h, &idle.super, on_notify, NULL));
    assert_int_equal(CAMEO_OK, cameo_hub_listen(h, &busy.super, on_notify, NULL));
    cameo_hub_want(h, &idle.super, 0); /* a worker without streams */
    cameo_event_t ev = event(h, "profile.updated", "x", 1);
    cameo_hub_publish(h, &ev);
    cameo_hub_gap(h);
    assert_int_equal(0, q_run(&idle));
    assert_int_equal(1, q_run(&busy));
    assert_int_equal(1, woken);

    cameo_hub_want(h, &idle.super, 1); /* its first stream opens */
    ev = event(h, "profile.updated", "y", 2);
    cameo_hub_publish(h, &ev);
    assert_int_equal(1, q_run(&idle));
    assert_int_equal(1, q_run(&busy));
    assert_int_equal(3, woken);
    cameo_hub_destroy(h);
}

static void test_a_gap_is_counted_and_wakes_the_listeners(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    qloop_t q = {.super = {.post = q_post}};
    woken = 0;
    assert_int_equal(CAMEO_OK, cameo_hub_listen(h, &q.super, on_notify, NULL));
    assert_int_equal(0, (int)cameo_hub_gaps(h));
    cameo_hub_gap(h);
    assert_int_equal(1, (int)cameo_hub_gaps(h));
    assert_int_equal(1, q_run(&q));
    assert_int_equal(1, woken);
    assert_int_equal(0, (int)cameo_hub_last(h)); /* a gap is not an event */
    cameo_hub_destroy(h);
}

static void test_sse_frames_are_read_as_formatted_at_publish_whole_frames_only(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    cameo_event_t a = event(h, "profile.updated", "ann", 1), b = event(h, "avatar.updated", "bo", 2);
    snprintf(b.version, sizeof(b.version), "v2");
    cameo_hub_publish(h, &a);
    cameo_hub_publish(h, &b);
    char json[CAMEO_EVENT_DATA_MAX], fa[CAMEO_EVENT_SSE_MAX], fb[CAMEO_EVENT_SSE_MAX];
    cameo_event_json(&a, json, sizeof(json));
    int la = snprintf(fa, sizeof(fa), "id: %s\nevent: profile.updated\ndata: %s\n\n", a.id, json);
    cameo_event_json(&b, json, sizeof(json));
    int lb = snprintf(fb, sizeof(fb), "id: %s\nevent: avatar.updated\ndata: %s\n\n", b.id, json);

    char buf[4096];
    size_t written = 0;
    uint64_t last = 0, oldest = 0;
    assert_int_equal(2, cameo_hub_read_sse(h, 0, 8, buf, sizeof(buf), &written, &last, &oldest));
    assert_int_equal(la + lb, written);
    assert_memory_equal(fa, buf, (size_t)la);
    assert_memory_equal(fb, buf + la, (size_t)lb);
    assert_int_equal(2, (int)last);
    assert_int_equal(1, (int)oldest);

    /* max, after, and a buffer with room for one frame and a half. */
    assert_int_equal(1, cameo_hub_read_sse(h, 0, 1, buf, sizeof(buf), &written, &last, &oldest));
    assert_int_equal(1, (int)last);
    assert_int_equal(1, cameo_hub_read_sse(h, 1, 8, buf, sizeof(buf), &written, &last, &oldest));
    assert_memory_equal(fb, buf, (size_t)lb);
    assert_int_equal(1,
                     cameo_hub_read_sse(h, 0, 8, buf, (size_t)la + (size_t)lb - 1, &written, &last, &oldest));
    assert_int_equal(la, written);
    assert_int_equal(0, cameo_hub_read_sse(h, 2, 8, buf, sizeof(buf), &written, &last, &oldest));
    assert_int_equal(0, written);
    assert_int_equal(2, (int)last); /* after, when nothing was read */
    cameo_hub_destroy(h);
}

static void test_event_json_names_type_id_user_version(void **state)
{
    (void)state;
    cameo_hub_t *h = cameo_hub_create(8, 0);
    cameo_event_t ev = event(h, "avatar.updated", "ada", 42);
    snprintf(ev.version, sizeof(ev.version), "0123abcd");
    char buf[CAMEO_EVENT_DATA_MAX];
    char want[200];
    snprintf(
        want, sizeof(want),
        "{\"type\":\"avatar.updated\",\"id\":\"%s\",\"user\":\"ada\",\"version\":\"0123abcd\",\"at\":42}",
        ev.id);
    assert_int_equal(strlen(want), cameo_event_json(&ev, buf, sizeof(buf)));
    assert_string_equal(want, buf);
    ev.version[0] = '\0';
    cameo_event_json(&ev, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\"version\":null"));
    cameo_hub_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backlog_keeps_the_newest_and_reports_the_oldest),
        cmocka_unit_test(test_resume_finds_an_id_still_held_and_not_one_that_fell_off),
        cmocka_unit_test(test_ids_are_found_through_many_turns_of_the_ring_and_lost_as_they_fall_off),
        cmocka_unit_test(test_an_event_heard_twice_is_kept_once),
        cmocka_unit_test(test_ids_are_unique_and_carry_the_time),
        cmocka_unit_test(test_stream_cap_refuses_past_the_limit_and_frees_on_release),
        cmocka_unit_test(test_listener_is_woken_once_for_a_burst_and_never_after_unlisten),
        cmocka_unit_test(test_a_listener_that_wants_no_wake_ups_gets_none),
        cmocka_unit_test(test_a_gap_is_counted_and_wakes_the_listeners),
        cmocka_unit_test(test_sse_frames_are_read_as_formatted_at_publish_whole_frames_only),
        cmocka_unit_test(test_event_json_names_type_id_user_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
