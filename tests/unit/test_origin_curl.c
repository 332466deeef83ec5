/*
 * test_origin_curl.c - libcurl's multi interface on a loop (origin_curl.c),
 * against a scripted HTTP/1.1 server on a loopback port (test_http_peer.h): answers, keep-alive reuse, the
 * body cap, timeouts, a refused connection, and stopping with transfers in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>

#include "cameo/cameo.h"
#include "origin/origin_curl.h"
#include "test_http_peer.h"
#include "test_loop_poll.h"

/* ---- the test server (test_http_peer.h) ---- */

static int answer(thp_server_t *s, int fd, const char *req)
{
    if (strncmp(req, "GET /ok ", 8) == 0) {
        thp_reply(fd, "200 OK", "ETag: \"v1\"\r\nContent-Type: text/plain\r\n", "hello", 5);
    } else if (strncmp(req, "GET /big ", 9) == 0) {
        static char big[100000];
        memset(big, 'x', sizeof(big));
        thp_reply(fd, "200 OK", "", big, sizeof(big));
    } else if (strncmp(req, "GET /slow ", 10) == 0) {
        thp_hold(s); /* never answers */
        return -1;
    } else {
        thp_reply(fd, "404 Not Found", "", "nope", 4);
    }
    return 0;
}

/* ---- fixture ---- */

typedef struct fixture {
    thp_server_t srv;
    tlp_loop_t loop;
    cameo__curl_t *curl;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_int_equal(0, thp_start(&f->srv, answer));
    assert_int_equal(0, tlp_init(&f->loop));
    f->curl = cameo__curl_new(&f->loop.super);
    assert_non_null(f->curl);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cameo__curl_free(f->curl);
    tlp_destroy(&f->loop);
    thp_stop(&f->srv);
    free(f);
    return 0;
}

typedef struct got {
    int done;
    int err;
    long status;
    char body[64];
    size_t len;
    char etag[64];
} got_t;

static void on_done(void *arg, const cameo__curl_result_t *res)
{
    got_t *g = arg;
    g->done++;
    g->err = res->err;
    g->status = res->status;
    g->len = res->len;
    if (res->err == CAMEO_OK) {
        snprintf(g->body, sizeof(g->body), "%.*s", (int)(res->len < 63 ? res->len : 63), res->body);
        snprintf(g->etag, sizeof(g->etag), "%s", res->etag ? res->etag : "");
    }
}

static bool is_done(void *arg)
{
    return ((got_t *)arg)->done > 0;
}

static CURL *easy_for(int port, const char *path, long timeout_ms)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    return e;
}

static void fetch(fixture_t *f, const char *path, long timeout_ms, size_t cap, got_t *g)
{
    memset(g, 0, sizeof(*g));
    assert_int_equal(
        CAMEO_OK, cameo__curl_start(f->curl, easy_for(f->srv.port, path, timeout_ms), NULL, cap, on_done, g));
    assert_int_equal(0, g->done); /* never inside the call */
    assert_true(tlp_run_until(&f->loop, is_done, g, 5000));
    assert_int_equal(1, g->done);
}

/* ---- tests ---- */

static void test_answers_with_body_status_and_headers(void **state)
{
    fixture_t *f = *state;
    got_t g;
    fetch(f, "/ok", 2000, 1024, &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_int_equal(200, g.status);
    assert_string_equal("hello", g.body);
    assert_string_equal("\"v1\"", g.etag);

    fetch(f, "/missing", 2000, 1024, &g);
    assert_int_equal(CAMEO_OK, g.err); /* a response, whatever its status */
    assert_int_equal(404, g.status);
    assert_string_equal("nope", g.body);
    assert_int_equal(0, cameo__curl_active(f->curl));
}

static void test_reuses_one_connection_for_sequential_requests(void **state)
{
    fixture_t *f = *state;
    got_t g;
    for (int i = 0; i < 5; i++) {
        fetch(f, "/ok", 2000, 1024, &g);
        assert_int_equal(200, g.status);
    }
    assert_int_equal(5, atomic_load(&f->srv.requests));
    assert_int_equal(1, atomic_load(&f->srv.accepted));
}

static void test_body_over_the_cap_is_toobig(void **state)
{
    fixture_t *f = *state;
    got_t g;
    fetch(f, "/big", 2000, 4096, &g);
    assert_int_equal(CAMEO_ETOOBIG, g.err);
    fetch(f, "/big", 2000, 200000, &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_int_equal(100000, g.len);
}

static void test_no_answer_in_time_is_timedout(void **state)
{
    fixture_t *f = *state;
    got_t g;
    fetch(f, "/slow", 100, 1024, &g);
    assert_int_equal(CAMEO_ETIMEDOUT, g.err);
}

static void test_refused_connection_is_unavail(void **state)
{
    fixture_t *f = *state;
    int port;
    int fd = thp_listen_loopback(&port);
    close(fd); /* nothing listens there now */
    got_t g = {0};
    assert_int_equal(CAMEO_OK,
                     cameo__curl_start(f->curl, easy_for(port, "/ok", 2000), NULL, 1024, on_done, &g));
    assert_true(tlp_run_until(&f->loop, is_done, &g, 5000));
    assert_int_equal(CAMEO_EUNAVAIL, g.err);
}

static void test_free_ends_transfers_in_flight_with_unavail(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    assert_int_equal(
        CAMEO_OK, cameo__curl_start(f->curl, easy_for(f->srv.port, "/slow", 10000), NULL, 1024, on_done, &g));
    tlp_run_for(&f->loop, 50);
    assert_int_equal(0, g.done);
    assert_int_equal(1, cameo__curl_active(f->curl));
    cameo__curl_free(f->curl);
    f->curl = cameo__curl_new(&f->loop.super); /* for teardown */
    assert_int_equal(1, g.done);
    assert_int_equal(CAMEO_EUNAVAIL, g.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_with_body_status_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuses_one_connection_for_sequential_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_the_cap_is_toobig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_in_time_is_timedout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_connection_is_unavail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_ends_transfers_in_flight_with_unavail, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
