/*
 * test_origin_s3_sign.c - unit tests of the SigV4 presigned-URL signer
 * (src/origin/origin_s3_sign.c).
 *
 * Pinned against the AWS S3 documentation's query-string example ("Authenticating
 * Requests: Using Query Parameters (AWS Signature Version 4)"), then the
 * properties the S3 origin relies on: URI encoding, byte-identical URLs within
 * a time bucket, at least min_validity left at every second of a bucket, the
 * session token signed, bounded output, and no secret in error text. Time is
 * an argument, so nothing sleeps.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "origin/origin_s3_sign.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AWS_EXAMPLE_DATE 1369353600ULL /* 2013-05-24T00:00:00Z */
#define URL_MAX 16384
#define BUCKET_S 1800
#define MIN_VALIDITY_S 600

static cameo_s3_config_t example_config(void)
{
    cameo_s3_config_t c = {
        .access_key_id = AKID,
        .secret_access_key = SECRET,
        .region = "us-east-1",
        .endpoint = "s3.amazonaws.com",
        .scheme = "https",
        .bucket = "examplebucket",
    };
    return c;
}

static void init_ok(cameo_s3_signer_t *s, const cameo_s3_config_t *c)
{
    char err[256];
    int rc = cameo_s3_signer_init(s, c, err, sizeof(err));
    if (rc != CAMEO_OK) {
        fail_msg("init: %s", err);
    }
}

static const char *signature_of(const char *url)
{
    const char *p = strstr(url, "&X-Amz-Signature=");
    assert_non_null(p);
    return p + strlen("&X-Amz-Signature=");
}

/* ---- the published vector ---- */

static void signs_the_aws_documentation_presigned_url_example(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char url[URL_MAX];
    init_ok(&s, &c);

    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&s, "test.txt", AWS_EXAMPLE_DATE, 86400, url, sizeof(url)));
    assert_string_equal("https://examplebucket.s3.amazonaws.com/test.txt"
                        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
                        url);
    /* Same again from the cached signing key. */
    char again[URL_MAX];
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&s, "test.txt", AWS_EXAMPLE_DATE, 86400, again, sizeof(again)));
    assert_string_equal(url, again);
    cameo_s3_signer_destroy(&s);
}

/* ---- URI encoding ---- */

static void uri_encode_keeps_unreserved_and_escapes_the_rest_uppercase(void **state)
{
    (void)state;
    char out[128];
    static const struct {
        const char *in;
        int keep_slash;
        const char *want;
    } cases[] = {
        {"a b", 1, "a%20b"},
        {"AZaz09-._~", 0, "AZaz09-._~"},
        {"a/b/c", 1, "a/b/c"},
        {"a/b/c", 0, "a%2Fb%2Fc"},
        {"\xc3\xa9t\xc3\xa9.jpg", 1, "%C3%A9t%C3%A9.jpg"},
        {"+*=&?%#:@", 1, "%2B%2A%3D%26%3F%25%23%3A%40"},
        {"\x7f\xff", 0, "%7F%FF"},
        {"", 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n =
            cameo_s3_uri_encode(cases[i].in, strlen(cases[i].in), cases[i].keep_slash, out, sizeof(out));
        assert_string_equal(cases[i].want, out);
        assert_int_equal(strlen(cases[i].want), n);
    }
}

static void uri_encode_reports_the_full_length_and_never_splits_an_escape(void **state)
{
    (void)state;
    char out[8];
    /* "ab%20cd%20" is 10 bytes; with 8 bytes of room only "ab%20cd" (7) fits. */
    assert_int_equal(10, cameo_s3_uri_encode("ab cd ", 6, 0, out, sizeof(out)));
    assert_string_equal("ab%20cd", out);
    /* Room for "ab" and a NUL but not a whole "%20". */
    assert_int_equal(10, cameo_s3_uri_encode("ab cd ", 6, 0, out, 4));
    assert_string_equal("ab", out);
    assert_int_equal(10, cameo_s3_uri_encode("ab cd ", 6, 0, NULL, 0));
    /* An embedded NUL is a byte like any other. */
    assert_int_equal(5, cameo_s3_uri_encode("a\0b", 3, 0, out, sizeof(out)));
    assert_string_equal("a%00b", out);
}

/* ---- time buckets ---- */

static void urls_are_byte_identical_within_a_bucket_and_change_in_the_next(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char a[URL_MAX], b[URL_MAX], next[URL_MAX];
    uint64_t exp_a = 0, exp_b = 0, exp_next = 0;
    const uint64_t start = 1700000000ULL - 1700000000ULL % BUCKET_S;
    init_ok(&s, &c);

    assert_int_equal(CAMEO_OK, cameo_s3_presign_get(&s, "avatars/42/v7.webp", start + 1, BUCKET_S,
                                                    MIN_VALIDITY_S, a, sizeof(a), &exp_a));
    assert_int_equal(CAMEO_OK, cameo_s3_presign_get(&s, "avatars/42/v7.webp", start + BUCKET_S - 1, BUCKET_S,
                                                    MIN_VALIDITY_S, b, sizeof(b), &exp_b));
    assert_string_equal(a, b);
    assert_int_equal(exp_a, exp_b);
    assert_int_equal(start + BUCKET_S + MIN_VALIDITY_S, exp_a);
    assert_non_null(strstr(a, "&X-Amz-Date=20231114T220000Z&X-Amz-Expires=2400&"));

    assert_int_equal(CAMEO_OK, cameo_s3_presign_get(&s, "avatars/42/v7.webp", start + BUCKET_S, BUCKET_S,
                                                    MIN_VALIDITY_S, next, sizeof(next), &exp_next));
    assert_string_not_equal(a, next);
    assert_int_equal(exp_a + BUCKET_S, exp_next);
    cameo_s3_signer_destroy(&s);
}

static void every_second_of_a_bucket_hands_out_at_least_min_validity(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char url[URL_MAX], first[URL_MAX];
    const uint64_t start = 1700000000ULL - 1700000000ULL % BUCKET_S;
    init_ok(&s, &c);

    for (uint64_t now = start; now < start + BUCKET_S; now++) {
        uint64_t expires_at = 0;
        assert_int_equal(CAMEO_OK, cameo_s3_presign_get(&s, "k", now, BUCKET_S, MIN_VALIDITY_S, url,
                                                        sizeof(url), &expires_at));
        assert_true(expires_at > now);
        assert_true(expires_at - now >= MIN_VALIDITY_S);
        if (now == start) {
            strcpy(first, url);
        } else {
            assert_string_equal(first, url);
        }
    }
    cameo_s3_signer_destroy(&s);
}

/* ---- session token, path style ---- */

static void session_token_is_sent_and_signed(void **state)
{
    (void)state;
    cameo_s3_signer_t plain, tok1, tok2;
    cameo_s3_config_t c = example_config();
    char u0[URL_MAX], u1[URL_MAX], u2[URL_MAX];
    init_ok(&plain, &c);
    c.session_token = "FQoGZXIvYXdzE+token/with=padding==";
    init_ok(&tok1, &c);
    c.session_token = "FQoGZXIvYXdzE+token/with=padding=A";
    init_ok(&tok2, &c);

    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&plain, "test.txt", AWS_EXAMPLE_DATE, 86400, u0, sizeof(u0)));
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&tok1, "test.txt", AWS_EXAMPLE_DATE, 86400, u1, sizeof(u1)));
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&tok2, "test.txt", AWS_EXAMPLE_DATE, 86400, u2, sizeof(u2)));
    assert_null(strstr(u0, "X-Amz-Security-Token"));
    /* In sorted position, URI-encoded. */
    assert_non_null(strstr(u1, "&X-Amz-Expires=86400"
                               "&X-Amz-Security-Token=FQoGZXIvYXdzE%2Btoken%2Fwith%3Dpadding%3D%3D"
                               "&X-Amz-SignedHeaders=host&X-Amz-Signature="));
    /* Signed: the signature changes with the token. */
    assert_string_not_equal(signature_of(u0), signature_of(u1));
    assert_string_not_equal(signature_of(u1), signature_of(u2));
    cameo_s3_signer_destroy(&plain);
    cameo_s3_signer_destroy(&tok1);
    cameo_s3_signer_destroy(&tok2);
}

static void path_style_puts_the_bucket_in_the_path_and_lowercases_the_host(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char url[URL_MAX];
    c.endpoint = "LocalHost:4569";
    c.scheme = "http";
    c.bucket = "my-bucket";
    c.path_style = 1;
    init_ok(&s, &c);

    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&s, "a b/c.jpg", AWS_EXAMPLE_DATE, 60, url, sizeof(url)));
    const char *want = "http://localhost:4569/my-bucket/a%20b/c.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&";
    assert_memory_equal(want, url, strlen(want));
    cameo_s3_signer_destroy(&s);
}

/* Cross-checked once against botocore 1.43 (S3SigV4QueryAuth, same inputs): the
 * published vector has no session token, path style, region other than
 * us-east-1 or key needing escapes; this pins all four. */
static void matches_botocore_for_token_path_style_and_escaped_key(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char url[URL_MAX];
    c.session_token = "FQoG+tok/en==";
    c.region = "eu-west-1";
    c.endpoint = "127.0.0.1:4569";
    c.scheme = "http";
    c.bucket = "my-bucket";
    c.path_style = 1;
    init_ok(&s, &c);

    assert_int_equal(
        CAMEO_OK, cameo__s3_presign_at(&s, "a b/\xc3\xa9~x+y.jpg", AWS_EXAMPLE_DATE, 3600, url, sizeof(url)));
    assert_string_equal("http://127.0.0.1:4569/my-bucket/a%20b/%C3%A9~x%2By.jpg"
                        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Feu-west-1%2Fs3%2Faws4_request"
                        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=3600"
                        "&X-Amz-Security-Token=FQoG%2Btok%2Fen%3D%3D&X-Amz-SignedHeaders=host"
                        "&X-Amz-Signature=856bfdeba506aa8dc75ea5335d18900a3064b6f81f05d0fe4b64842f82f8951f",
                        url);
    cameo_s3_signer_destroy(&s);
}

/* ---- the signing-key cache ---- */

static void cached_key_for_one_day_never_leaks_into_another(void **state)
{
    (void)state;
    cameo_s3_signer_t warm, cold;
    cameo_s3_config_t c = example_config();
    char day1[URL_MAX], day2[URL_MAX], day1_again[URL_MAX], fresh[URL_MAX];
    init_ok(&warm, &c);

    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&warm, "k", AWS_EXAMPLE_DATE, 60, day1, sizeof(day1)));
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&warm, "k", AWS_EXAMPLE_DATE + 86400, 60, day2, sizeof(day2)));
    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&warm, "k", AWS_EXAMPLE_DATE + 60, 60, day1_again,
                                                    sizeof(day1_again)));
    init_ok(&cold, &c);
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&cold, "k", AWS_EXAMPLE_DATE + 60, 60, fresh, sizeof(fresh)));
    assert_string_equal(fresh, day1_again);
    assert_string_not_equal(signature_of(day1), signature_of(day2));
    cameo_s3_signer_destroy(&warm);
    cameo_s3_signer_destroy(&cold);
}

#define N_THREADS 4
#define N_ROUNDS 200

typedef struct thread_arg {
    cameo_s3_signer_t *s;
    const char *want[2]; /* URLs for day 0 and day 1 */
    int bad;
} thread_arg_t;

static void *sign_alternating_days(void *p)
{
    thread_arg_t *a = p;
    char url[URL_MAX];
    for (int i = 0; i < N_ROUNDS; i++) {
        int day = i & 1;
        if (cameo__s3_presign_at(a->s, "k", AWS_EXAMPLE_DATE + (uint64_t)day * 86400, 60, url, sizeof(url)) !=
                CAMEO_OK ||
            strcmp(url, a->want[day]) != 0) {
            a->bad++;
        }
    }
    return NULL;
}

static void threads_sharing_a_signer_across_days_get_correct_urls(void **state)
{
    (void)state;
    static char want0[URL_MAX], want1[URL_MAX];
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    init_ok(&s, &c);
    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&s, "k", AWS_EXAMPLE_DATE, 60, want0, sizeof(want0)));
    assert_int_equal(CAMEO_OK,
                     cameo__s3_presign_at(&s, "k", AWS_EXAMPLE_DATE + 86400, 60, want1, sizeof(want1)));

    pthread_t th[N_THREADS];
    thread_arg_t args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (thread_arg_t){.s = &s, .want = {want0, want1}};
        assert_int_equal(0, pthread_create(&th[i], NULL, sign_alternating_days, &args[i]));
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(0, pthread_join(th[i], NULL));
        assert_int_equal(0, args[i].bad);
    }
    cameo_s3_signer_destroy(&s);
}

/* ---- bounds and errors ---- */

static void too_small_buffer_is_etoobig_at_every_size_and_leaves_an_empty_string(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    c.session_token = "tok/en";
    char full[URL_MAX];
    init_ok(&s, &c);
    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&s, "a b", AWS_EXAMPLE_DATE, 60, full, sizeof(full)));
    size_t len = strlen(full);

    for (size_t cap = 0; cap <= len; cap++) {
        char *buf = test_malloc(cap ? cap : 1); /* exact size, so ASan sees any overrun */
        if (cap > 0) {
            buf[0] = 'x';
        }
        assert_int_equal(CAMEO_ETOOBIG, cameo__s3_presign_at(&s, "a b", AWS_EXAMPLE_DATE, 60, buf, cap));
        if (cap > 0) {
            assert_string_equal("", buf);
        }
        test_free(buf);
    }
    char *buf = test_malloc(len + 1);
    uint64_t expires_at = 0;
    assert_int_equal(CAMEO_OK, cameo__s3_presign_at(&s, "a b", AWS_EXAMPLE_DATE, 60, buf, len + 1));
    assert_string_equal(full, buf);
    assert_int_equal(CAMEO_ETOOBIG,
                     cameo_s3_presign_get(&s, "a b", AWS_EXAMPLE_DATE, 60, 0, buf, 10, &expires_at));
    assert_int_equal(0, expires_at);
    test_free(buf);
    cameo_s3_signer_destroy(&s);
}

static void bad_presign_arguments_are_einval(void **state)
{
    (void)state;
    cameo_s3_signer_t s;
    cameo_s3_config_t c = example_config();
    char url[URL_MAX], long_key[CAMEO_S3_KEY_MAX + 2];
    uint64_t expires_at = 7;
    init_ok(&s, &c);
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';

    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, "k", 1000, 0, 600, url, sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, "", 1000, 1800, 600, url, sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, NULL, 1000, 1800, 600, url, sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, long_key, 1000, 1800, 600, url, sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL, cameo_s3_presign_get(&s, "k", 1000, CAMEO_S3_EXPIRES_MAX, 1, url,
                                                        sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, "k", 1000, 1800, UINT64_MAX, url, sizeof(url), &expires_at));
    assert_int_equal(CAMEO_EINVAL,
                     cameo_s3_presign_get(&s, "k", UINT64_MAX, 1, 0, url, sizeof(url), &expires_at));
    assert_int_equal(7, expires_at);
    assert_int_equal(CAMEO_OK, cameo_s3_presign_get(&s, "k", 1000, CAMEO_S3_EXPIRES_MAX - 1, 1, url,
                                                    sizeof(url), &expires_at));
    long_key[CAMEO_S3_KEY_MAX] = '\0';
    assert_int_equal(CAMEO_OK,
                     cameo_s3_presign_get(&s, long_key, 1000, 1800, 600, url, sizeof(url), &expires_at));
    cameo_s3_signer_destroy(&s);
}

static void bad_config_is_einval_with_a_reason_that_never_holds_the_secret(void **state)
{
    (void)state;
    char long_str[CAMEO_S3_TOKEN_MAX + 2];
    memset(long_str, 'a', sizeof(long_str) - 1);
    long_str[sizeof(long_str) - 1] = '\0';
    cameo_s3_config_t good = example_config();
    cameo_s3_config_t cases[16];
    int n = 0;

    cases[n] = good, cases[n++].access_key_id = NULL;
    cases[n] = good, cases[n++].access_key_id = "AKID/SLASH";
    cases[n] = good, cases[n++].secret_access_key = "";
    cases[n] = good, cases[n++].secret_access_key = SECRET " with space";
    cases[n] = good, cases[n++].secret_access_key = long_str;
    cases[n] = good, cases[n++].session_token = long_str;
    cases[n] = good, cases[n++].session_token = "tok\nen";
    cases[n] = good, cases[n++].region = "US-EAST-1";
    cases[n] = good, cases[n++].service = "";
    cases[n] = good, cases[n++].endpoint = "host/path";
    cases[n] = good, cases[n++].endpoint = "";
    cases[n] = good, cases[n++].scheme = "ftp";
    cases[n] = good, cases[n++].scheme = NULL;
    cases[n] = good, cases[n++].bucket = "Upper_Case";
    cases[n] = good, cases[n++].bucket = "ab";
    cases[n] = good, cases[n].bucket = "b234567890123456789012345678901234567890123456789012345678901",
    cases[n].endpoint =
        "e23456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
        "90123456789012345678901234567890123456789012345678901234567890123456789012",
    n++;

    for (int i = 0; i < n; i++) {
        cameo_s3_signer_t s;
        char err[256] = "";
        assert_int_equal(CAMEO_EINVAL, cameo_s3_signer_init(&s, &cases[i], err, sizeof(err)));
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, SECRET));
        assert_null(strstr(err, "wJalr"));
        assert_null(strstr(err, "aaaa"));
        /* The failed signer holds no secret either. */
        assert_null(memmem(&s, sizeof(s), "wJalr", 5));
    }
    cameo_s3_signer_t s;
    char tiny[8];
    assert_int_equal(CAMEO_EINVAL, cameo_s3_signer_init(&s, &cases[0], tiny, sizeof(tiny)));
    assert_true(strlen(tiny) == sizeof(tiny) - 1);
    assert_int_equal(CAMEO_EINVAL, cameo_s3_signer_init(&s, &cases[0], NULL, 0));
    assert_int_equal(CAMEO_EINVAL, cameo_s3_signer_init(&s, NULL, NULL, 0));
    assert_int_equal(CAMEO_OK, cameo_s3_signer_init(&s, &good, NULL, 0));
    cameo_s3_signer_destroy(&s);
    /* Destroy wipes the secret. */
    assert_null(memmem(&s, sizeof(s), "wJalr", 5));
    cameo_s3_signer_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signs_the_aws_documentation_presigned_url_example),
        cmocka_unit_test(uri_encode_keeps_unreserved_and_escapes_the_rest_uppercase),
        cmocka_unit_test(uri_encode_reports_the_full_length_and_never_splits_an_escape),
        cmocka_unit_test(urls_are_byte_identical_within_a_bucket_and_change_in_the_next),
        cmocka_unit_test(every_second_of_a_bucket_hands_out_at_least_min_validity),
        cmocka_unit_test(session_token_is_sent_and_signed),
        cmocka_unit_test(path_style_puts_the_bucket_in_the_path_and_lowercases_the_host),
        cmocka_unit_test(matches_botocore_for_token_path_style_and_escaped_key),
        cmocka_unit_test(cached_key_for_one_day_never_leaks_into_another),
        cmocka_unit_test(threads_sharing_a_signer_across_days_get_correct_urls),
        cmocka_unit_test(too_small_buffer_is_etoobig_at_every_size_and_leaves_an_empty_string),
        cmocka_unit_test(bad_presign_arguments_are_einval),
        cmocka_unit_test(bad_config_is_einval_with_a_reason_that_never_holds_the_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
