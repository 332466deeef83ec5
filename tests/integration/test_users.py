"""Profiles: PUT / GET / HEAD / DELETE /v1/users/{id}, ETags, negative cache."""

import json

from conftest import assert_error, uid


def test_put_creates_then_updates_and_get_returns_stored_doc(cameo):
    u = uid("user")
    doc = {"name": "Ada Lovelace", "email": "ada@example.com", "age": 36, "tags": ["math", "poet"],
           "nested": {"ok": True, "none": None, "ratio": 1.5}, "unicode": "Zo\u00eb \u2603"}
    st, h, b = cameo.admin("PUT", "/v1/users/" + u, body=doc)
    assert st == 201, (st, b)
    assert h["content-type"].split(";")[0].strip() == "application/json"
    created = json.loads(b)
    expect = dict(doc, id=u, avatar=None)
    assert created == expect

    st, h, b = cameo.req("GET", "/v1/users/" + u)
    assert st == 200, (st, b)
    assert h["content-type"].split(";")[0].strip() == "application/json"
    assert json.loads(b) == expect

    # Second PUT replaces the document (no merge) and answers 200.
    doc2 = {"name": "Ada King"}
    st, h, b = cameo.admin("PUT", "/v1/users/" + u, body=doc2)
    assert st == 200, (st, b)
    assert json.loads(b) == {"name": "Ada King", "id": u, "avatar": None}
    assert cameo.get_user(u) == {"name": "Ada King", "id": u, "avatar": None}


def test_put_response_equals_get(cameo):
    u = uid()
    put = cameo.put_user(u, {"name": "Grace Hopper", "rank": "RADM"})
    assert put == cameo.get_user(u)


def test_server_owned_keys_in_body_are_ignored(cameo):
    u = uid()
    body = {"name": "Mallory", "id": "someone-else", "avatar": {"version": "deadbeefdeadbeef", "url": "/evil"}}
    put = cameo.put_user(u, body)
    assert put["id"] == u
    assert put["avatar"] is None
    got = cameo.get_user(u)
    assert got == {"name": "Mallory", "id": u, "avatar": None}
    # Nothing was created under the id named in the body.
    assert_error(cameo.req("GET", "/v1/users/someone-else"), 404, "not_found")


def test_empty_object_is_a_valid_profile(cameo):
    u = uid()
    assert cameo.put_user(u, {}, expect=(201,)) == {"id": u, "avatar": None}
    assert cameo.get_user(u) == {"id": u, "avatar": None}


def test_content_type_with_charset_parameter_is_accepted(cameo):
    u = uid()
    st, h, b = cameo.admin("PUT", "/v1/users/" + u, body=json.dumps({"name": "X"}),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert st == 201, (st, b)


def test_get_unknown_user_is_404(cameo):
    assert_error(cameo.req("GET", "/v1/users/" + uid("nobody")), 404, "not_found")


def test_head_user_has_headers_and_no_body(cameo):
    u = uid()
    cameo.put_user(u, {"name": "Head"})
    st, gh, gb = cameo.req("GET", "/v1/users/" + u)
    assert st == 200
    st, hh, hb = cameo.req("HEAD", "/v1/users/" + u)
    assert st == 200
    assert hb == b""
    assert hh["etag"] == gh["etag"]
    assert hh["content-type"] == gh["content-type"]
    if "content-length" in hh:
        assert int(hh["content-length"]) == len(gb)
    st, hh, hb = cameo.req("HEAD", "/v1/users/" + uid("nobody"))
    assert st == 404 and hb == b""


def test_etag_cache_control_and_conditional_get(cameo):
    u = uid()
    cameo.put_user(u, {"name": "Etag Person"})
    st, h, b = cameo.req("GET", "/v1/users/" + u)
    assert st == 200
    etag = h.get("etag")
    assert etag, h
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag  # strong, quoted
    assert h.get("cache-control", "").replace(" ", "").lower() == "no-cache", h

    # Same representation, same ETag.
    assert cameo.req("GET", "/v1/users/" + u)[1]["etag"] == etag

    for inm in (etag, '"nope", ' + etag, etag + ', "other"', "*"):
        st, h2, b2 = cameo.req("GET", "/v1/users/" + u, headers={"If-None-Match": inm})
        assert st == 304, (inm, st, b2)
        assert b2 == b""
        assert h2.get("etag") == etag

    st, h2, b2 = cameo.req("GET", "/v1/users/" + u, headers={"If-None-Match": '"not-the-etag"'})
    assert st == 200 and json.loads(b2)["name"] == "Etag Person"

    # A new document gets a new ETag; the old one no longer matches.
    cameo.put_user(u, {"name": "Changed"})
    st, h3, b3 = cameo.req("GET", "/v1/users/" + u, headers={"If-None-Match": etag})
    assert st == 200, st
    assert h3["etag"] != etag
    assert json.loads(b3)["name"] == "Changed"


def test_if_none_match_star_on_unknown_user_is_404(cameo):
    st, h, b = cameo.req("GET", "/v1/users/" + uid("nobody"), headers={"If-None-Match": "*"})
    assert st == 404


def test_query_string_is_not_part_of_the_id(cameo):
    u = uid()
    cameo.put_user(u, {"name": "Q"})
    st, h, b = cameo.req("GET", "/v1/users/%s?foo=bar" % u)
    assert st == 200, (st, b)
    assert json.loads(b)["id"] == u


def test_delete_user(cameo):
    u = uid()
    cameo.put_user(u, {"name": "Gone Soon"})
    cameo.get_user(u)  # make sure it is cached
    st, h, b = cameo.admin("DELETE", "/v1/users/" + u)
    assert st == 204, (st, b)
    assert b == b""
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")
    assert_error(cameo.admin("DELETE", "/v1/users/" + u), 404, "not_found")


def test_delete_unknown_user_is_404(cameo):
    assert_error(cameo.admin("DELETE", "/v1/users/" + uid("nobody")), 404, "not_found")


def test_recreate_after_delete(cameo):
    u = uid()
    cameo.put_user(u, {"name": "One"})
    assert cameo.admin("DELETE", "/v1/users/" + u)[0] == 204
    st, h, b = cameo.admin("PUT", "/v1/users/" + u, body={"name": "Two"})
    assert st == 201, (st, b)
    assert cameo.get_user(u) == {"name": "Two", "id": u, "avatar": None}


def test_put_after_404_is_visible_immediately(cameo):
    """The negative cache entry is cleared by a write to that id."""
    u = uid("neg")
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")
    cameo.put_user(u, {"name": "Late Arrival"}, expect=(201,))
    assert cameo.get_user(u)["name"] == "Late Arrival"


def test_unknown_user_is_negative_cached(cameo):
    u = uid("neg")
    before = cameo.origin_count("get_profiles")
    assert cameo.req("GET", "/v1/users/" + u)[0] == 404
    mid = cameo.origin_count("get_profiles")
    assert mid == before + 1
    for _ in range(3):
        assert cameo.req("GET", "/v1/users/" + u)[0] == 404
    assert cameo.origin_count("get_profiles") == mid


def test_profile_is_cached_after_first_get(cameo):
    u = uid()
    cameo.put_user(u, {"name": "Cached"})
    cameo.get_user(u)
    before = cameo.origin_count("get_profiles")
    for _ in range(5):
        cameo.get_user(u)
    assert cameo.origin_count("get_profiles") == before


def test_update_is_visible_immediately_even_when_cached(cameo):
    u = uid()
    cameo.put_user(u, {"name": "v1"})
    assert cameo.get_user(u)["name"] == "v1"
    cameo.put_user(u, {"name": "v2"})
    assert cameo.get_user(u)["name"] == "v2"


def test_valid_id_characters_and_max_length(cameo):
    for u in ("A.b_c-9", "x" * 128, "Z", "0", "a.b.c", "-_-"):
        st, h, b = cameo.admin("PUT", "/v1/users/" + u, body={"name": "ok"})
        assert st in (200, 201), (u, st, b)
        assert cameo.get_user(u)["id"] == u


def test_invalid_ids_are_400_bad_id(cameo):
    bad = ["x" * 129, "a@b", "a~b", "a%20b", "a+b", "a!b", "caf%C3%A9", "a:b"]
    for u in bad:
        assert_error(cameo.req("GET", "/v1/users/" + u), 400, "bad_id")
        assert_error(cameo.admin("PUT", "/v1/users/" + u, body={"name": "x"}), 400, "bad_id")
        assert_error(cameo.admin("DELETE", "/v1/users/" + u), 400, "bad_id")


def test_put_requires_json_content_type(cameo):
    u = uid()
    body = json.dumps({"name": "x"})
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", None):
        headers = {"Content-Type": ct} if ct else {}
        assert_error(cameo.admin("PUT", "/v1/users/" + u, body=body, headers=headers), 415,
                     "unsupported_media_type")
    # Nothing was stored.
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")


def test_put_body_must_be_a_json_object(cameo):
    u = uid()
    for body in (b"not json", b"[1, 2]", b'"str"', b"42", b"null", b"true", b"", b'{"a": 1', b'{"a": 1} x',
                 b"{'a': 1}"):
        assert_error(cameo.admin("PUT", "/v1/users/" + u, body=body,
                                 headers={"Content-Type": "application/json"}), 400, "bad_json")
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")


def test_put_body_size_limit_64k(cameo):
    u = uid()
    overhead = len(json.dumps({"pad": ""}, separators=(",", ":")))

    def body_of(size):
        b = json.dumps({"pad": "x" * (size - overhead)}, separators=(",", ":")).encode()
        assert len(b) == size
        return b

    hdrs = {"Content-Type": "application/json"}
    st, h, b = cameo.admin("PUT", "/v1/users/" + u, body=body_of(65536), headers=hdrs)
    assert st == 201, (st, b[:200])
    assert len(cameo.get_user(u)["pad"]) == 65536 - overhead
    assert_error(cameo.admin("PUT", "/v1/users/" + u, body=body_of(65537), headers=hdrs), 413, "too_large")
    assert_error(cameo.admin("PUT", "/v1/users/" + u, body=body_of(300000), headers=hdrs), 413, "too_large")
    # The oversized writes did not replace the stored doc.
    assert len(cameo.get_user(u)["pad"]) == 65536 - overhead
