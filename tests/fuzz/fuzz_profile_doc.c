/*
 * fuzz_profile_doc.c - whatever bytes a store hands back as a profile
 * document, the entry built from them is either refused (CAMEO_ECORRUPT) or
 * a JSON object whose first member is the id and whose "avatar" is cameo's.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "cameo/resp.h"
#include "fuzz.h"

const char *const cameo_fuzz_seeds[] = {
    "{\"name\":\"Ada Lovelace\",\"bio\":\"x\"}",
    "{\"id\":\"evil\",\"avatar\":{\"url\":\"http://x\"},\"n\":[1,2,{\"a\":null}]}",
    "{\"name\":\"\\u00e9\\ud83d\\ude00\",\"k\":1e308,\"z\":-0.0}",
    "[1,2,3]",
    "{\"a\":{\"b\":{\"c\":{\"d\":[[[[[]]]]]}}}}",
    "{}",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cameo_profile_rec_t rec = {.id = "fz",
                               .doc = (const char *)data,
                               .doc_len = size,
                               .avatar_version = size % 2 ? "0123abcd" : NULL};
    cameo_ttl_t ttl = {.now = 1, .ttl_ms = 1};
    cameo_entry_t *e = NULL;
    int rc = cameo_resp_profile(&rec, &ttl, &e);
    CHECK(rc == CAMEO_OK || rc == CAMEO_ECORRUPT);
    if (rc != CAMEO_OK) {
        CHECK(e == NULL);
        return 0;
    }
    const cameo_resp_t *r = cameo_resp(e);
    json_t *back = json_loadb(cameo_resp_body(e), r->body_len, 0, NULL);
    CHECK(json_is_object(back));
    CHECK(strcmp(json_string_value(json_object_get(back, "id")), "fz") == 0);
    json_t *avatar = json_object_get(back, "avatar");
    CHECK(rec.avatar_version ? json_is_object(avatar) : json_is_null(avatar));
    CHECK(memcmp(cameo_resp_body(e), "{\"id\":\"fz\"", 10) == 0);
    CHECK(r->etag[0] == '"');
    json_decref(back);
    cameo_entry_unref(e);
    return 0;
}
