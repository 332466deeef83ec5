/*
 * test_origin_http.c - the parts of the HTTP user-service origin
 * (src/origin/origin_http.c) that need no network: opening with avatar
 * objects in a bucket (mode 2) and its errors, and avatar_url, which names
 * the object of a version without I/O. Reads through a real user service
 * and a real S3 server are in tests/integration/test_origin_http.py and
 * test_origin_http_s3.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cameo/cameo.h"
#include "cameo/origin.h"

#define SECRET "unit-Secret-Key-Never-Printed"
#define NOW 1795312800ull /* a bucket start: 30-minute multiple */

static const cameo_s3_origin_config_t s3cfg = {
    .endpoint = "http://127.0.0.1:9",
    .region = "us-east-1",
    .bucket = "avatars",
    .prefix = "team/pics",
    .path_style = 1,
    .access_key = "AKIDUNIT",
    .secret_key = SECRET,
};

static cameo_origin_t *open_mode2(const char *tmpl)
{
    cameo_http_origin_config_t c = {
        .users_url = "http://127.0.0.1:9/users/{id}",
        .avatar_field = "/picture_id",
        .s3 = &s3cfg,
        .avatar_key_template = tmpl,
    };
    cameo_origin_t *o = NULL;
    char err[256] = "";
    assert_int_equal(CAMEO_OK, cameo_origin_http_open(&c, &o, err, sizeof(err)));
    return o;
}

static void test_plain_version_is_the_value_and_presigns_prefix_and_template(void **state)
{
    (void)state;
    cameo_origin_t *o = open_mode2("img/{value}.png");
    assert_non_null(o->ops->get_avatar);
    char url[2048];
    uint64_t exp = 0;
    assert_int_equal(CAMEO_OK, o->ops->avatar_url(o, "ann", "p1", NOW + 5, url, sizeof(url), &exp));
    assert_true(strncmp(url, "http://127.0.0.1:9/avatars/team/pics/img/p1.png?", 48) == 0);
    assert_true(exp > NOW + 5);
    assert_null(strstr(url, SECRET));
    o->ops->destroy(o);
}

static void test_unseen_hashed_version_falls_back_to_cameos_own_path(void **state)
{
    (void)state;
    cameo_origin_t *o = open_mode2(NULL);
    char url[2048];
    uint64_t exp = 42;
    assert_int_equal(CAMEO_OK,
                     o->ops->avatar_url(o, "ann", "h0123456789abcdef", NOW, url, sizeof(url), &exp));
    assert_string_equal("/v1/avatars/ann/h0123456789abcdef", url);
    assert_int_equal(0, exp);
    assert_int_equal(CAMEO_ETOOBIG, o->ops->avatar_url(o, "ann", "h0123456789abcdef", NOW, url, 8, &exp));
    o->ops->destroy(o);
}

static void never_cb(void *arg, int err, const cameo_blob_t *blob)
{
    (void)err;
    (void)blob;
    ++*(int *)arg;
}

static void test_versions_that_cannot_name_an_object_are_refused(void **state)
{
    (void)state;
    cameo_origin_t *o = open_mode2(NULL);
    char url[2048];
    uint64_t exp;
    assert_int_equal(CAMEO_EINVAL, o->ops->avatar_url(o, "ann", "..", NOW, url, sizeof(url), &exp));
    assert_int_equal(CAMEO_EINVAL, o->ops->avatar_url(o, "ann", "a b", NOW, url, sizeof(url), &exp));
    assert_int_equal(CAMEO_EINVAL, o->ops->avatar_url(o, "a/b", "p1", NOW, url, sizeof(url), &exp));
    /* refused at once, and the callback never fires */
    int fired = 0;
    assert_int_equal(CAMEO_EINVAL, o->ops->get_avatar(o, NULL, "ann", "a b", never_cb, &fired));
    assert_int_equal(CAMEO_EUNAVAIL,
                     o->ops->get_avatar(o, NULL, "ann", "p1", never_cb, &fired)); /* no loop */
    assert_int_equal(0, fired);
    o->ops->destroy(o);
}

static void test_without_a_bucket_there_are_no_avatar_reads(void **state)
{
    (void)state;
    cameo_http_origin_config_t c = {.users_url = "http://127.0.0.1:9/users/{id}", .avatar_field = "/p"};
    cameo_origin_t *o = NULL;
    assert_int_equal(CAMEO_OK, cameo_origin_http_open(&c, &o, NULL, 0));
    assert_null(o->ops->get_avatar);
    assert_null(o->ops->avatar_url);
    o->ops->destroy(o);
}

static void test_open_errors_name_the_setting_and_never_a_secret(void **state)
{
    (void)state;
    char err[256];
    cameo_origin_t *o = NULL;
    cameo_http_origin_config_t c = {.users_url = "http://127.0.0.1:9/users/{id}", .s3 = &s3cfg};
    assert_int_equal(CAMEO_EINVAL, cameo_origin_http_open(&c, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "avatar field"));
    c.avatar_field = "/p";
    c.avatar_key_template = "avatars/{id}";
    assert_int_equal(CAMEO_EINVAL, cameo_origin_http_open(&c, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "{value}"));
    cameo_s3_origin_config_t bad = s3cfg;
    bad.bucket = "Bad_Bucket";
    c.avatar_key_template = NULL;
    c.s3 = &bad;
    assert_int_equal(CAMEO_EINVAL, cameo_origin_http_open(&c, &o, err, sizeof(err)));
    assert_null(strstr(err, SECRET));
    assert_null(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_version_is_the_value_and_presigns_prefix_and_template),
        cmocka_unit_test(test_unseen_hashed_version_falls_back_to_cameos_own_path),
        cmocka_unit_test(test_versions_that_cannot_name_an_object_are_refused),
        cmocka_unit_test(test_without_a_bucket_there_are_no_avatar_reads),
        cmocka_unit_test(test_open_errors_name_the_setting_and_never_a_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
