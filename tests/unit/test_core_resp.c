/*
 * test_core_resp.c - the entries the engine builds from origin records:
 * profile JSON with server-owned members, ETags, blob and negative entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cameo/resp.h"

static const cameo_ttl_t ttl = {.now = 1000, .ttl_ms = 50, .grace_ms = 7};

static cameo_entry_t *profile(const char *id, const char *doc, const char *version)
{
    cameo_profile_rec_t rec = {.id = id, .doc = doc, .doc_len = strlen(doc), .avatar_version = version};
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_OK, cameo_resp_profile(&rec, &ttl, &e));
    return e;
}

static void assert_body(const cameo_entry_t *e, const char *want)
{
    assert_int_equal(strlen(want), cameo_resp(e)->body_len);
    assert_memory_equal(want, cameo_resp_body(e), strlen(want));
}

static void test_profile_puts_id_first_and_avatar_last(void **state)
{
    (void)state;
    cameo_entry_t *e = profile("ada", "{\"name\":\"Ada Lovelace\",\"bio\":\"math\"}", NULL);
    assert_body(e, "{\"id\":\"ada\",\"name\":\"Ada Lovelace\",\"bio\":\"math\",\"avatar\":null}");
    assert_string_equal("application/json", cameo_resp(e)->content_type);
    assert_string_equal("AL", cameo_resp(e)->initials);
    assert_string_equal("", cameo_resp(e)->avatar_version);
    assert_int_equal(CAMEO_RESP_PROFILE, cameo_resp(e)->kind);
    assert_memory_equal("p:ada", e->key, 5);
    assert_int_equal(1050, e->expires_at);
    assert_int_equal(1057, e->stale_until);
    cameo_entry_unref(e);
}

static void test_profile_replaces_server_owned_members(void **state)
{
    (void)state;
    cameo_entry_t *e = profile("bo", "{\"id\":\"mallory\",\"avatar\":\"evil\",\"x\":1}", "0123abcd");
    assert_body(
        e,
        "{\"id\":\"bo\",\"x\":1,\"avatar\":{\"version\":\"0123abcd\",\"url\":\"/v1/avatars/bo/0123abcd\"}}");
    assert_string_equal("0123abcd", cameo_resp(e)->avatar_version);
    cameo_entry_unref(e);
}

static void test_same_profile_gives_same_strong_etag_and_a_change_another(void **state)
{
    (void)state;
    cameo_entry_t *a = profile("cy", "{\"name\":\"C\"}", NULL);
    cameo_entry_t *b = profile("cy", "{\"name\":\"C\"}", NULL);
    cameo_entry_t *c = profile("cy", "{\"name\":\"D\"}", NULL);
    const char *ea = cameo_resp(a)->etag;
    assert_int_equal('"', ea[0]);
    assert_int_equal('"', ea[strlen(ea) - 1]);
    assert_string_equal(ea, cameo_resp(b)->etag);
    assert_string_not_equal(ea, cameo_resp(c)->etag);
    cameo_entry_unref(a);
    cameo_entry_unref(b);
    cameo_entry_unref(c);
}

static void test_document_that_is_not_an_object_is_corrupt(void **state)
{
    (void)state;
    const char *bad[] = {"[1]", "\"s\"", "{", "", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cameo_profile_rec_t rec = {.id = "d", .doc = bad[i], .doc_len = strlen(bad[i])};
        cameo_entry_t *e = NULL;
        assert_int_equal(CAMEO_ECORRUPT, cameo_resp_profile(&rec, &ttl, &e));
        assert_null(e);
    }
}

static void test_blob_entry_carries_type_and_version_etag(void **state)
{
    (void)state;
    cameo_blob_t blob = {
        .data = "\x89PNG\r\n\x1a\nxyz", .len = 11, .content_type = "image/png", .version = "feed"};
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_OK, cameo_resp_blob("eve", &blob, &ttl, &e));
    assert_memory_equal("b:eve/feed", e->key, 10);
    assert_string_equal("image/png", cameo_resp(e)->content_type);
    assert_string_equal("\"feed\"", cameo_resp(e)->etag);
    assert_int_equal(CAMEO_RESP_BLOB, cameo_resp(e)->kind);
    assert_memory_equal(blob.data, cameo_resp_body(e), 11);
    cameo_entry_unref(e);
}

static void test_negative_entry_is_flagged_and_empty(void **state)
{
    (void)state;
    cameo_entry_t *e = NULL;
    assert_int_equal(CAMEO_OK, cameo_resp_missing("p:zed", 5, &ttl, &e));
    assert_true(e->flags & CAMEO_ENTRY_NEGATIVE);
    assert_int_equal(0, cameo_resp(e)->body_len);
    assert_int_equal(CAMEO_RESP_MISSING, cameo_resp(e)->kind);
    cameo_entry_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_puts_id_first_and_avatar_last),
        cmocka_unit_test(test_profile_replaces_server_owned_members),
        cmocka_unit_test(test_same_profile_gives_same_strong_etag_and_a_change_another),
        cmocka_unit_test(test_document_that_is_not_an_object_is_corrupt),
        cmocka_unit_test(test_blob_entry_carries_type_and_version_etag),
        cmocka_unit_test(test_negative_entry_is_flagged_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
