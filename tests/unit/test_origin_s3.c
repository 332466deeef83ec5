/*
 * test_origin_s3.c - the S3 client (src/origin/origin_s3.c) on a poll loop,
 * against a scripted HTTP/1.1 server on a loopback port run on a thread of
 * this test: what a request carries (SigV4 Authorization, payload hash,
 * Content-MD5, the session token), how answers map to CAMEO_E* codes,
 * timeouts, a refused connection, the concurrency cap, detach with requests
 * in flight, keys, presigning at every second of a bucket (time passed in)
 * and the table of URLs signed (byte-identical to fresh ones, one per key
 * and bucket, shared by threads), and configuration errors that never quote
 * a secret. The real protocol is tested against s3rver in
 * tests/integration/test_s3.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>

#include "cameo/cameo.h"
#include "origin/origin_s3.h"
#include "test_http_peer.h"
#include "test_loop_poll.h"

#define SECRET "unit-Secret-Key-Never-Printed"
#define TOKEN "unit-Session-Token-Value"

/* ---- the scripted server (test_http_peer.h) ---- */

static void reply(int fd, const char *status, const char *headers, const char *body)
{
    thp_reply(fd, status, headers, body, strlen(body));
}

/* Answers by the path's last segment: ok, missing, denied, broken, slow. */
static int answer(thp_server_t *s, int fd, const char *req)
{
    if (strstr(req, "/ok ") != NULL)
        reply(fd, "200 OK", "ETag: \"abc\"\r\nContent-Type: image/png\r\n", "object-bytes");
    else if (strstr(req, "/denied ") != NULL)
        reply(fd, "403 Forbidden", "",
              "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code></Error>");
    else if (strstr(req, "/broken ") != NULL)
        reply(fd, "503 Service Unavailable", "", "<Error><Code>SlowDown</Code></Error>");
    else if (strstr(req, "/slow ") != NULL) {
        thp_hold(s);
        return -1;
    } else
        reply(fd, "404 Not Found", "", "<Error><Code>NoSuchKey</Code></Error>");
    return 0;
}

/* ---- fixture ---- */

typedef struct fixture {
    thp_server_t srv;
    tlp_loop_t loop;
    char endpoint[64];
    cameo__s3_t *s3;
} fixture_t;

static cameo_s3_origin_config_t config_for(fixture_t *f)
{
    cameo_s3_origin_config_t c = {
        .endpoint = f->endpoint,
        .region = "eu-west-3",
        .bucket = "pics",
        .prefix = "a/b",
        .path_style = 1,
        .access_key = "AKIDUNIT",
        .secret_key = SECRET,
        .session_token = TOKEN,
        .timeout_ms = 300,
        .max_concurrent = 2,
    };
    return c;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_int_equal(0, thp_start(&f->srv, answer));
    assert_int_equal(0, tlp_init(&f->loop));
    snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d", f->srv.port);
    cameo_s3_origin_config_t c = config_for(f);
    char err[256];
    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &f->s3, err, sizeof(err)));
    assert_int_equal(CAMEO_OK, cameo__s3_attach(f->s3, &f->loop.super));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cameo__s3_detach(f->s3, &f->loop.super);
    cameo__s3_free(f->s3);
    tlp_destroy(&f->loop);
    thp_stop(&f->srv);
    free(f);
    return 0;
}

typedef struct got {
    int done, err;
    long status;
    char body[128];
    char etag[64];
    char payload_sha256[65]; /* "" when the result had none */
} got_t;

static void on_done(void *arg, const cameo__s3_result_t *res)
{
    got_t *g = arg;
    g->done++;
    g->err = res->err;
    g->status = res->status;
    snprintf(g->body, sizeof(g->body), "%.*s", (int)(res->len < 127 ? res->len : 127),
             res->body != NULL ? res->body : "");
    snprintf(g->etag, sizeof(g->etag), "%s", res->etag != NULL ? res->etag : "");
    snprintf(g->payload_sha256, sizeof(g->payload_sha256), "%s",
             res->payload_sha256 != NULL ? res->payload_sha256 : "");
}

static bool is_done(void *arg)
{
    return ((got_t *)arg)->done > 0;
}

static void run(fixture_t *f, cameo__s3_method_t m, const char *key, const char *body, got_t *g)
{
    memset(g, 0, sizeof(*g));
    assert_int_equal(CAMEO_OK, cameo__s3_request(f->s3, &f->loop.super, m, key, body, body ? strlen(body) : 0,
                                                 "image/png", on_done, g));
    assert_int_equal(0, g->done); /* never inside the call */
    assert_true(tlp_run_until(&f->loop, is_done, g, 5000));
    assert_int_equal(1, g->done);
}

static void last_request(fixture_t *f, char *out, size_t len)
{
    pthread_mutex_lock(&f->srv.mu);
    snprintf(out, len, "%s", f->srv.last);
    pthread_mutex_unlock(&f->srv.mu);
}

/* ---- tests ---- */

static void test_get_of_an_object_answers_its_bytes_and_etag(void **state)
{
    fixture_t *f = *state;
    got_t g;
    run(f, CAMEO__S3_GET, "a/b/u1/ok", NULL, &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_string_equal("object-bytes", g.body);
    assert_string_equal("\"abc\"", g.etag);
    char req[8192];
    last_request(f, req, sizeof(req));
    assert_non_null(strstr(req, "GET /pics/a/b/u1/ok HTTP/1.1\r\n")); /* path-style */
    assert_non_null(strstr(req, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDUNIT/"));
    assert_non_null(strstr(req, "/eu-west-3/s3/aws4_request"));
    /* the SHA-256 of an empty payload */
    assert_non_null(strstr(
        req, "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_non_null(strstr(req, "x-amz-security-token: " TOKEN));
    assert_null(strstr(req, SECRET));
}

static void test_put_carries_the_payload_hash_md5_type_and_immutable_cache_control(void **state)
{
    fixture_t *f = *state;
    got_t g;
    run(f, CAMEO__S3_PUT, "a/b/u1/ok", "hello", &g);
    assert_int_equal(CAMEO_OK, g.err);
    char req[8192];
    last_request(f, req, sizeof(req));
    assert_non_null(strstr(req, "PUT /pics/a/b/u1/ok HTTP/1.1\r\n"));
    assert_non_null(strstr(
        req, "x-amz-content-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
    assert_non_null(strstr(req, "Content-MD5: XUFAKrxLKna5cZ2REBfFkg=="));
    assert_non_null(strstr(req, "Content-Type: image/png"));
    assert_non_null(strstr(req, "Cache-Control: public, max-age=31536000, immutable"));
    assert_non_null(strstr(req, "\r\n\r\nhello"));
}

/* origin_blobs records the hash a PUT sent rather than hashing the bytes
 * again: the result carries it, and only a PUT's does. */
static void test_a_put_answers_the_payload_hash_it_sent(void **state)
{
    fixture_t *f = *state;
    got_t g;
    run(f, CAMEO__S3_PUT, "a/b/u1/ok", "hello", &g);
    assert_int_equal(CAMEO_OK, g.err);
    assert_string_equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", g.payload_sha256);
    run(f, CAMEO__S3_GET, "a/b/u1/ok", NULL, &g);
    assert_string_equal("", g.payload_sha256);
}

static void test_keys_are_uri_encoded_in_the_path(void **state)
{
    fixture_t *f = *state;
    got_t g;
    run(f, CAMEO__S3_HEAD, "a/b/we ird+key/v", NULL, &g);
    assert_int_equal(CAMEO_ENOTFOUND, g.err);
    char req[8192];
    last_request(f, req, sizeof(req));
    assert_non_null(strstr(req, "HEAD /pics/a/b/we%20ird%2Bkey/v HTTP/1.1\r\n"));
}

static void test_404_is_notfound_403_and_5xx_are_upstream_and_mark_the_status(void **state)
{
    fixture_t *f = *state;
    got_t g;
    char buf[512];
    run(f, CAMEO__S3_GET, "a/b/u1/missing", NULL, &g);
    assert_int_equal(CAMEO_ENOTFOUND, g.err);
    assert_int_equal(404, g.status);
    assert_int_equal(CAMEO_OK, cameo__s3_status(f->s3, buf, sizeof(buf)));

    run(f, CAMEO__S3_GET, "a/b/u1/denied", NULL, &g);
    assert_int_equal(CAMEO_EUPSTREAM, g.err);
    assert_int_equal(403, g.status);
    assert_int_equal(CAMEO_EUNAVAIL, cameo__s3_status(f->s3, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "HTTP 403 SignatureDoesNotMatch"));
    assert_null(strstr(buf, SECRET));

    run(f, CAMEO__S3_DELETE, "a/b/u1/broken", NULL, &g);
    assert_int_equal(CAMEO_EUPSTREAM, g.err);
    assert_int_equal(503, g.status);

    run(f, CAMEO__S3_GET, "a/b/u1/ok", NULL, &g); /* a success clears the mark */
    assert_int_equal(CAMEO_OK, cameo__s3_status(f->s3, buf, sizeof(buf)));
}

static void test_no_answer_in_time_is_timedout(void **state)
{
    fixture_t *f = *state;
    got_t g;
    run(f, CAMEO__S3_GET, "a/b/u1/slow", NULL, &g);
    assert_int_equal(CAMEO_ETIMEDOUT, g.err);
}

static void test_a_refused_connection_is_upstream(void **state)
{
    fixture_t *f = *state;
    int port, fd = thp_listen_loopback(&port);
    close(fd);
    char ep[64], err[256];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", port); /* a trailing slash is allowed */
    cameo_s3_origin_config_t c = config_for(f);
    c.endpoint = ep;
    cameo__s3_t *s3;
    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &s3, err, sizeof(err)));
    assert_int_equal(CAMEO_OK, cameo__s3_attach(s3, &f->loop.super));
    got_t g = {0};
    assert_int_equal(CAMEO_OK,
                     cameo__s3_request(s3, &f->loop.super, CAMEO__S3_GET, "k", NULL, 0, NULL, on_done, &g));
    assert_true(tlp_run_until(&f->loop, is_done, &g, 5000));
    assert_int_equal(CAMEO_EUPSTREAM, g.err);
    cameo__s3_detach(s3, &f->loop.super);
    cameo__s3_free(s3);
}

static void test_past_the_concurrency_cap_a_request_is_busy(void **state)
{
    fixture_t *f = *state;
    got_t a = {0}, b = {0}, c = {0};
    cameo_loop_t *l = &f->loop.super;
    assert_int_equal(CAMEO_OK,
                     cameo__s3_request(f->s3, l, CAMEO__S3_GET, "slow", NULL, 0, NULL, on_done, &a));
    assert_int_equal(CAMEO_OK,
                     cameo__s3_request(f->s3, l, CAMEO__S3_GET, "slow", NULL, 0, NULL, on_done, &b));
    assert_int_equal(CAMEO_EBUSY,
                     cameo__s3_request(f->s3, l, CAMEO__S3_GET, "ok", NULL, 0, NULL, on_done, &c));
    assert_true(tlp_run_until(&f->loop, is_done, &b, 5000));
    assert_true(tlp_run_until(&f->loop, is_done, &a, 5000));
    assert_int_equal(0, c.done);
    char buf[512];
    cameo__s3_status(f->s3, buf, sizeof(buf));
    assert_non_null(strstr(buf, "1 rejected"));
}

static void test_detach_ends_requests_in_flight_with_unavail(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    assert_int_equal(CAMEO_OK, cameo__s3_request(f->s3, &f->loop.super, CAMEO__S3_GET, "a/slow", NULL, 0,
                                                 NULL, on_done, &g));
    tlp_run_once(&f->loop, 20);
    cameo__s3_detach(f->s3, &f->loop.super);
    assert_int_equal(1, g.done);
    assert_int_equal(CAMEO_EUNAVAIL, g.err);
    assert_int_equal(CAMEO_EUNAVAIL, cameo__s3_request(f->s3, &f->loop.super, CAMEO__S3_GET, "k", NULL, 0,
                                                       NULL, on_done, &g));
    assert_int_equal(CAMEO_OK, cameo__s3_attach(f->s3, &f->loop.super)); /* for teardown */
}

static void test_bad_arguments_are_refused_and_the_callback_never_fires(void **state)
{
    fixture_t *f = *state;
    got_t g = {0};
    cameo_loop_t *l = &f->loop.super;
    char big[1100];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(CAMEO_EINVAL,
                     cameo__s3_request(f->s3, l, CAMEO__S3_GET, "", NULL, 0, NULL, on_done, &g));
    assert_int_equal(CAMEO_EINVAL,
                     cameo__s3_request(f->s3, l, CAMEO__S3_GET, big, NULL, 0, NULL, on_done, &g));
    tlp_loop_t other;
    assert_int_equal(0, tlp_init(&other));
    assert_int_equal(CAMEO_EUNAVAIL,
                     cameo__s3_request(f->s3, &other.super, CAMEO__S3_GET, "k", NULL, 0, NULL, on_done, &g));
    tlp_destroy(&other);
    assert_int_equal(0, g.done);
}

static void test_keys_are_prefix_id_version(void **state)
{
    fixture_t *f = *state;
    char key[64];
    assert_int_equal(CAMEO_OK, cameo__s3_key(f->s3, "ada", "0123456789abcdef", key, sizeof(key)));
    assert_string_equal("a/b/ada/0123456789abcdef", key);
    assert_int_equal(CAMEO_ETOOBIG, cameo__s3_key(f->s3, "ada", "0123456789abcdef", key, 8));
    /* Valid ids that would be dot segments get a folder no id can name. */
    assert_int_equal(CAMEO_OK, cameo__s3_key(f->s3, "..", "0123456789abcdef", key, sizeof(key)));
    assert_string_equal("a/b/~../0123456789abcdef", key);
    assert_int_equal(CAMEO_OK, cameo__s3_key(f->s3, ".", "v", key, sizeof(key)));
    assert_string_equal("a/b/~./v", key);
    assert_int_equal(CAMEO_OK, cameo__s3_key(f->s3, "...", "v", key, sizeof(key)));
    assert_string_equal("a/b/.../v", key); /* not a dot segment */

    cameo_s3_origin_config_t c = config_for(f);
    c.prefix = NULL;
    cameo__s3_t *s3;
    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &s3, NULL, 0));
    assert_int_equal(CAMEO_OK, cameo__s3_key(s3, "ada", "v", key, sizeof(key)));
    assert_string_equal("ada/v", key);
    assert_int_equal(CAMEO_OK, cameo__s3_object_key(s3, "avatars/p1", key, sizeof(key)));
    assert_string_equal("avatars/p1", key); /* mode 2: an object named by a profile field */
    cameo__s3_free(s3);
    assert_int_equal(CAMEO_OK, cameo__s3_object_key(f->s3, "avatars/p1", key, sizeof(key)));
    assert_string_equal("a/b/avatars/p1", key);
    assert_int_equal(CAMEO_ETOOBIG, cameo__s3_object_key(f->s3, "avatars/p1", key, 8));
}

static void test_presigned_urls_are_identical_within_a_bucket_and_never_below_min_validity(void **state)
{
    fixture_t *f = *state;
    const uint64_t bucket = 1800, min = 600, start = 1795312800; /* a bucket boundary */
    char first[8192], url[8192];
    uint64_t exp0 = 0, exp = 0;
    assert_int_equal(CAMEO_OK, cameo__s3_presign(f->s3, "a/b/ada/v1", start, first, sizeof(first), &exp0));
    assert_non_null(strstr(first, "X-Amz-Expires=2400&"));
    assert_non_null(strstr(first, "X-Amz-Security-Token=" TOKEN));
    assert_int_equal(start + bucket + min, exp0);
    for (uint64_t now = start; now < start + bucket; now++) {
        assert_int_equal(CAMEO_OK, cameo__s3_presign(f->s3, "a/b/ada/v1", now, url, sizeof(url), &exp));
        assert_string_equal(first, url);
        assert_true(exp - now >= min);
    }
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign(f->s3, "a/b/ada/v1", start + bucket, url, sizeof(url), &exp));
    assert_string_not_equal(first, url); /* the next bucket */
    assert_int_equal(exp0 + bucket, exp);
}

/* The counts in the status line: "presigned URLs S signed C cached R replaced". */
static void presign_counts(cameo__s3_t *s3, unsigned long long *sig, unsigned long long *cached,
                           unsigned long long *replaced)
{
    char buf[1024];
    (void)cameo__s3_status(s3, buf, sizeof(buf));
    const char *p = strstr(buf, "presigned URLs ");
    assert_non_null(p);
    assert_int_equal(
        3, sscanf(p, "presigned URLs %llu signed %llu cached %llu replaced", sig, cached, replaced));
}

static void test_cached_presigned_url_is_byte_identical_to_a_fresh_one_until_the_bucket_ends(void **state)
{
    fixture_t *f = *state;
    const uint64_t bucket = 1800, start = 1795312800; /* a bucket boundary */
    cameo_s3_origin_config_t c = config_for(f);
    cameo__s3_t *fresh;
    char cached[8192], url[8192], next[8192];
    uint64_t exp_cached = 0, exp = 0;
    unsigned long long sig, hits, replaced;

    assert_int_equal(CAMEO_OK, cameo__s3_presign(f->s3, "a/b/ada/v1", start + 5, url, sizeof(url), &exp));
    assert_int_equal(
        CAMEO_OK, cameo__s3_presign(f->s3, "a/b/ada/v1", start + 1000, cached, sizeof(cached), &exp_cached));
    presign_counts(f->s3, &sig, &hits, &replaced);
    assert_int_equal(1, sig); /* the second came from the table */
    assert_int_equal(1, hits);

    /* A client that never signed it before signs the same bytes. */
    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &fresh, NULL, 0));
    assert_int_equal(CAMEO_OK, cameo__s3_presign(fresh, "a/b/ada/v1", start + 1000, url, sizeof(url), &exp));
    assert_string_equal(url, cached);
    assert_int_equal(exp, exp_cached);

    /* A new bucket: signed anew, a new URL, valid longer. */
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign(f->s3, "a/b/ada/v1", start + bucket, next, sizeof(next), &exp));
    assert_string_not_equal(cached, next);
    assert_int_equal(exp_cached + bucket, exp);
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign(fresh, "a/b/ada/v1", start + bucket + 7, url, sizeof(url), NULL));
    assert_string_equal(url, next);
    presign_counts(f->s3, &sig, &hits, &replaced);
    assert_int_equal(2, sig);
    assert_int_equal(0, replaced); /* an older bucket's URL is not counted */

    /* Too small a buffer is the same error from the table as from the signer. */
    assert_int_equal(CAMEO_ETOOBIG, cameo__s3_presign(f->s3, "a/b/ada/v1", start + bucket, url, 64, NULL));
    assert_string_equal("", url);
    assert_int_equal(CAMEO_ETOOBIG, cameo__s3_presign(fresh, "a/b/ada/v2", start, url, 64, NULL));
    assert_int_equal(CAMEO_EINVAL, cameo__s3_presign(f->s3, "", start, url, sizeof(url), NULL));
    cameo__s3_free(fresh);
}

static void test_more_keys_than_the_table_holds_still_get_their_own_urls(void **state)
{
    fixture_t *f = *state;
    const uint64_t start = 1795312800;
    cameo_s3_origin_config_t c = config_for(f);
    cameo__s3_t *fresh;
    char key[64], url[2048], want[2048];
    unsigned long long sig, hits, replaced;
    enum { KEYS = 12000 }; /* past the table's 8192 slots: keys share slots */

    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &fresh, NULL, 0));
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < KEYS; i++) {
            snprintf(key, sizeof(key), "a/b/u%d/v1", i);
            assert_int_equal(CAMEO_OK,
                             cameo__s3_presign(f->s3, key, start + (uint64_t)pass, url, sizeof(url), NULL));
            if (pass == 1 || i % 1000 == 0) {
                assert_int_equal(CAMEO_OK, cameo__s3_presign(fresh, key, start, want, sizeof(want), NULL));
                assert_string_equal(want, url);
            }
        }
    }
    presign_counts(f->s3, &sig, &hits, &replaced);
    assert_int_equal(2 * KEYS, sig + hits);
    assert_true(hits > 0);
    assert_true(replaced > 0);
    cameo__s3_free(fresh);
}

/* Threads presigning the same few keys across bucket boundaries. */
typedef struct presigner {
    cameo__s3_t *s3;
    char (*want)[2][2048]; /* [key][bucket] */
    int bad;
} presigner_t;

static void *presign_thread(void *arg)
{
    presigner_t *p = arg;
    char key[64], url[2048];
    for (int i = 0; i < 4000; i++) {
        int k = i % 16, b = (i / 16) % 2;
        snprintf(key, sizeof(key), "a/b/u%d/v1", k);
        if (cameo__s3_presign(p->s3, key, 1795312800 + (uint64_t)b * 1800 + (uint64_t)(i % 1800), url,
                              sizeof(url), NULL) != CAMEO_OK ||
            strcmp(url, p->want[k][b]) != 0)
            p->bad++;
    }
    return NULL;
}

static void test_threads_sharing_the_table_get_the_url_of_their_bucket(void **state)
{
    fixture_t *f = *state;
    static char want[16][2][2048];
    char key[64];
    for (int k = 0; k < 16; k++)
        for (int b = 0; b < 2; b++) {
            snprintf(key, sizeof(key), "a/b/u%d/v1", k);
            assert_int_equal(CAMEO_OK, cameo__s3_presign(f->s3, key, 1795312800 + (uint64_t)b * 1800,
                                                         want[k][b], sizeof(want[k][b]), NULL));
        }
    pthread_t t[4];
    presigner_t p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (presigner_t){.s3 = f->s3, .want = want};
        assert_int_equal(0, pthread_create(&t[i], NULL, presign_thread, &p[i]));
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(0, p[i].bad);
    }
}

static void test_virtual_hosted_urls_put_the_bucket_in_the_host(void **state)
{
    fixture_t *f = *state;
    cameo_s3_origin_config_t c = config_for(f);
    c.endpoint = "https://s3.eu-west-3.amazonaws.com";
    c.path_style = 0;
    c.session_token = NULL;
    cameo__s3_t *s3;
    char url[4096];
    assert_int_equal(CAMEO_OK, cameo__s3_new(&c, &s3, NULL, 0));
    assert_int_equal(CAMEO_OK, cameo__s3_presign(s3, "a/b/ada/v1", 1795312800, url, sizeof(url), NULL));
    assert_true(strncmp(url, "https://pics.s3.eu-west-3.amazonaws.com/a/b/ada/v1?", 51) == 0);
    cameo__s3_free(s3);
}

static void test_config_errors_name_the_setting_and_never_a_secret(void **state)
{
    fixture_t *f = *state;
    char err[256];
    cameo__s3_t *s3 = NULL;
    cameo_s3_origin_config_t c = config_for(f);
    c.endpoint = "ftp://x";
    assert_int_equal(CAMEO_EINVAL, cameo__s3_new(&c, &s3, err, sizeof(err)));
    assert_non_null(strstr(err, "endpoint"));
    c = config_for(f);
    c.endpoint = "http://host/path";
    assert_int_equal(CAMEO_EINVAL, cameo__s3_new(&c, &s3, err, sizeof(err)));
    c = config_for(f);
    c.prefix = "/lead";
    assert_int_equal(CAMEO_EINVAL, cameo__s3_new(&c, &s3, err, sizeof(err)));
    assert_non_null(strstr(err, "prefix"));
    c = config_for(f);
    c.bucket = "Bad_Bucket";
    assert_int_equal(CAMEO_EINVAL, cameo__s3_new(&c, &s3, err, sizeof(err)));
    assert_non_null(strstr(err, "bucket"));
    c = config_for(f);
    c.secret_key = "has a space " SECRET;
    assert_int_equal(CAMEO_EINVAL, cameo__s3_new(&c, &s3, err, sizeof(err)));
    assert_non_null(strstr(err, "secret"));
    assert_null(strstr(err, SECRET));
    assert_null(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_of_an_object_answers_its_bytes_and_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_put_carries_the_payload_hash_md5_type_and_immutable_cache_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_put_answers_the_payload_hash_it_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_uri_encoded_in_the_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_is_notfound_403_and_5xx_are_upstream_and_mark_the_status,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_in_time_is_timedout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_connection_is_upstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_past_the_concurrency_cap_a_request_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach_ends_requests_in_flight_with_unavail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_are_refused_and_the_callback_never_fires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_prefix_id_version, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_presigned_urls_are_identical_within_a_bucket_and_never_below_min_validity, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cached_presigned_url_is_byte_identical_to_a_fresh_one_until_the_bucket_ends, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_more_keys_than_the_table_holds_still_get_their_own_urls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_threads_sharing_the_table_get_the_url_of_their_bucket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_virtual_hosted_urls_put_the_bucket_in_the_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors_name_the_setting_and_never_a_secret, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
