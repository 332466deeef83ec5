"""Avatars: upload, redirect, immutable versions, initials SVG, delete, limits."""

import json
import re

import pytest

from conftest import assert_error, make_gif, make_jpeg, make_png, make_webp, padded, uid

IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_RX = re.compile(r"^[0-9a-f]{16}$")


def _norm(v):
    return ",".join(p.strip() for p in v.lower().split(","))


def new_user(cameo, name="Ada Lovelace", prefix="av"):
    u = uid(prefix)
    doc = {"name": name} if name is not None else {}
    cameo.put_user(u, doc, expect=(201,))
    return u


@pytest.mark.parametrize("kind,data,ctype", [
    ("png", make_png(2, 2, (1, 2, 3, 255)), "image/png"),
    ("jpeg", make_jpeg(b"jpeg-body"), "image/jpeg"),
    ("gif89a", make_gif(b"gif89", b"89a"), "image/gif"),
    ("gif87a", make_gif(b"gif87", b"87a"), "image/gif"),
    ("webp", make_webp(b"webp-body"), "image/webp"),
])
def test_upload_and_fetch_each_type(cameo, kind, data, ctype):
    u = new_user(cameo)
    st, h, b = cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=data)
    assert st == 201, (st, b)
    assert h["content-type"].split(";")[0].strip() == "application/json"
    doc = json.loads(b)
    v = doc["version"]
    assert VERSION_RX.match(v), v
    assert doc == {"version": v, "url": "/v1/avatars/%s/%s" % (u, v)}

    st, h, body = cameo.req("GET", doc["url"])
    assert st == 200, (st, body[:200])
    assert body == data
    assert h["content-type"] == ctype
    assert _norm(h["cache-control"]) == _norm(IMMUTABLE)
    assert h["etag"] == '"%s"' % v
    assert int(h["content-length"]) == len(data)

    st, hh, hb = cameo.req("HEAD", doc["url"])
    assert st == 200
    assert hb == b""
    assert hh["content-type"] == ctype
    assert int(hh["content-length"]) == len(data)
    assert hh["etag"] == '"%s"' % v
    assert _norm(hh["cache-control"]) == _norm(IMMUTABLE)


def test_profile_shows_avatar_at_once_and_redirect(cameo):
    u = new_user(cameo)
    st, h0, _ = cameo.req("GET", "/v1/users/" + u)
    old_etag = h0["etag"]
    assert cameo.get_user(u)["avatar"] is None  # cached without an avatar
    up = cameo.put_avatar(u, make_png(1, 1, (9, 9, 9, 255)))
    v = up["version"]
    st, h, b = cameo.req("GET", "/v1/users/" + u)
    assert st == 200
    prof = json.loads(b)
    assert prof["avatar"] == {"version": v, "url": "/v1/avatars/%s/%s" % (u, v)}
    assert prof["name"] == "Ada Lovelace"
    assert h["etag"] != old_etag
    # The old ETag no longer short-circuits.
    assert cameo.req("GET", "/v1/users/" + u, headers={"If-None-Match": old_etag})[0] == 200

    st, h, b = cameo.req("GET", "/v1/users/%s/avatar" % u)
    assert st == 302, (st, b)
    assert h["location"] == "/v1/avatars/%s/%s" % (u, v)
    assert h.get("cache-control", "").replace(" ", "").lower() == "no-cache"
    # default=initials only applies when there is no avatar.
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 302 and h["location"] == "/v1/avatars/%s/%s" % (u, v)


def test_profile_update_keeps_avatar(cameo):
    u = new_user(cameo)
    v = cameo.put_avatar(u, make_jpeg(b"keep"))["version"]
    put = cameo.put_user(u, {"name": "Renamed"}, expect=(200,))
    assert put["avatar"]["version"] == v
    assert cameo.get_user(u)["avatar"]["version"] == v


def test_same_bytes_same_version_across_users(cameo):
    data = make_png(3, 1, (10, 20, 30, 255))
    a, b = new_user(cameo), new_user(cameo)
    va = cameo.put_avatar(a, data)["version"]
    vb = cameo.put_avatar(b, data)["version"]
    assert va == vb
    for u in (a, b):
        st, h, body = cameo.req("GET", "/v1/avatars/%s/%s" % (u, va))
        assert st == 200 and body == data
    # Re-uploading the same bytes to the same user gives the same version.
    assert cameo.put_avatar(a, data)["version"] == va
    # Different bytes, different version.
    assert cameo.put_avatar(a, make_png(3, 1, (10, 20, 31, 255)))["version"] != va


def test_superseded_version_still_served(cameo):
    u = new_user(cameo)
    old = make_gif(b"old")
    new = make_webp(b"new")
    v1 = cameo.put_avatar(u, old)["version"]
    v2 = cameo.put_avatar(u, new)["version"]
    assert v1 != v2
    assert cameo.get_user(u)["avatar"]["version"] == v2
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar" % u)
    assert st == 302 and h["location"] == "/v1/avatars/%s/%s" % (u, v2)
    st, h, b = cameo.req("GET", "/v1/avatars/%s/%s" % (u, v1))
    assert st == 200 and b == old and h["content-type"] == "image/gif"
    st, h, b = cameo.req("GET", "/v1/avatars/%s/%s" % (u, v2))
    assert st == 200 and b == new and h["content-type"] == "image/webp"


def test_avatar_conditional_get(cameo):
    u = new_user(cameo)
    v = cameo.put_avatar(u, make_png(1, 2))["version"]
    st, h, b = cameo.req("GET", "/v1/avatars/%s/%s" % (u, v), headers={"If-None-Match": '"%s"' % v})
    assert st == 304 and b == b""
    assert h.get("etag") == '"%s"' % v
    st, h, b = cameo.req("GET", "/v1/avatars/%s/%s" % (u, v), headers={"If-None-Match": '"0000000000000000"'})
    assert st == 200 and b == make_png(1, 2)


def test_unknown_version_is_404(cameo):
    u = new_user(cameo)
    assert_error(cameo.req("GET", "/v1/avatars/%s/0123456789abcdef" % u), 404, "not_found")
    cameo.put_avatar(u, make_png())
    assert_error(cameo.req("GET", "/v1/avatars/%s/fedcba9876543210" % u), 404, "not_found")
    assert_error(cameo.req("GET", "/v1/avatars/%s/0123456789abcdef" % uid("nobody")), 404, "not_found")


def test_bad_version_is_400(cameo):
    u = new_user(cameo)
    for v in ("a" * 65, "ab~cd", "ab@cd", "ab%20cd"):
        assert_error(cameo.req("GET", "/v1/avatars/%s/%s" % (u, v)), 400, "bad_request")
    # 64 characters of the allowed set are a valid (unknown) version.
    assert_error(cameo.req("GET", "/v1/avatars/%s/%s" % (u, "a" * 64)), 404, "not_found")


def test_bad_id_on_avatar_routes(cameo):
    for bad in ("a@b", "x" * 129):
        assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % bad, body=make_png()), 400, "bad_id")
        assert_error(cameo.req("GET", "/v1/users/%s/avatar" % bad), 400, "bad_id")
        assert_error(cameo.admin("DELETE", "/v1/users/%s/avatar" % bad), 400, "bad_id")
        assert_error(cameo.req("GET", "/v1/avatars/%s/0123456789abcdef" % bad), 400, "bad_id")


def test_unknown_image_type_is_415(cameo):
    u = new_user(cameo)
    for data in (b"hello world", b"RIFF\x10\x00\x00\x00WAVEfmt ", b"\x89PNG\r\n\x1a", b"GIF88a....",
                 b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\xff\xd8"):
        assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=data), 415, "unsupported_media_type")
    # The Content-Type request header does not make it acceptable.
    assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=b"definitely not a png",
                             headers={"Content-Type": "image/png"}), 415, "unsupported_media_type")
    assert cameo.get_user(u)["avatar"] is None


def test_content_type_header_is_ignored(cameo):
    u = new_user(cameo)
    data = make_png(1, 1, (5, 5, 5, 5))
    st, h, b = cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=data, headers={"Content-Type": "text/plain"})
    assert st == 201, (st, b)
    url = json.loads(b)["url"]
    st, h, body = cameo.req("GET", url)
    assert st == 200 and body == data and h["content-type"] == "image/png"


def test_empty_avatar_is_400(cameo):
    u = new_user(cameo)
    assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=b""), 400, "bad_request")


def test_avatar_for_unknown_user_is_404(cameo):
    u = uid("nobody")
    assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=make_png()), 404, "not_found")
    assert_error(cameo.req("GET", "/v1/users/%s/avatar" % u), 404, "not_found")
    assert_error(cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u), 404, "not_found")
    assert_error(cameo.admin("DELETE", "/v1/users/%s/avatar" % u), 404, "not_found")
    # The failed upload did not create the user.
    assert_error(cameo.req("GET", "/v1/users/" + u), 404, "not_found")


def test_avatar_over_default_limit_is_413(cameo):
    u = new_user(cameo)
    limit = 5 * 1024 * 1024
    assert_error(cameo.admin("PUT", "/v1/users/%s/avatar" % u, body=padded(b"\x89PNG\r\n\x1a\n", limit + 1)),
                 413, "too_large")
    assert cameo.get_user(u)["avatar"] is None


def _svg_texts(svg):
    return [t.strip() for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


def test_no_avatar_redirect_is_404_and_initials_svg(cameo):
    u = new_user(cameo, name="Ada Lovelace")
    assert_error(cameo.req("GET", "/v1/users/%s/avatar" % u), 404, "not_found")
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 200, (st, b)
    assert h["content-type"].split(";")[0].strip() == "image/svg+xml"
    svg = b.decode()
    assert "<svg" in svg
    assert _svg_texts(svg) == ["AL"], svg
    # Deterministic: byte-identical on every request.
    for _ in range(2):
        assert cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)[2] == b


def test_initials_single_word_name_and_lowercase(cameo):
    u = new_user(cameo, name="cher")
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 200
    texts = _svg_texts(b.decode())
    assert len(texts) == 1 and texts[0] in ("C", "CH"), texts


def test_initials_three_word_name_uses_at_most_two_letters(cameo):
    u = new_user(cameo, name="john ronald tolkien")
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 200
    texts = _svg_texts(b.decode())
    assert len(texts) == 1 and len(texts[0]) in (1, 2) and texts[0].startswith("J"), texts
    assert texts[0] == texts[0].upper()


def test_initials_fall_back_to_id(cameo):
    u = "kappa-" + uid("x")
    cameo.put_user(u, {"email": "no-name@example.com"}, expect=(201,))
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 200, (st, b)
    texts = _svg_texts(b.decode())
    assert len(texts) == 1 and texts[0].startswith("K") and 1 <= len(texts[0]) <= 2, texts
    assert texts[0] == texts[0].upper()


def test_initials_colour_depends_on_id(cameo):
    """Same name, different ids: not every SVG can be identical, since the
    background colour is derived from the id."""
    svgs = set()
    for i in range(8):
        u = "colour-%d" % i
        cameo.put_user(u, {"name": "Same Name"})
        st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
        assert st == 200
        assert _svg_texts(b.decode()) == ["SN"]
        svgs.add(b)
    assert len(svgs) > 1


def test_delete_avatar(cameo):
    u = new_user(cameo)
    data = make_jpeg(b"to-delete")
    v = cameo.put_avatar(u, data)["version"]
    assert cameo.req("GET", "/v1/users/%s/avatar" % u)[0] == 302  # cached redirect
    st, h, b = cameo.admin("DELETE", "/v1/users/%s/avatar" % u)
    assert st == 204, (st, b)
    assert b == b""
    assert cameo.get_user(u)["avatar"] is None
    assert_error(cameo.req("GET", "/v1/users/%s/avatar" % u), 404, "not_found")
    st, h, b = cameo.req("GET", "/v1/users/%s/avatar?default=initials" % u)
    assert st == 200 and h["content-type"].startswith("image/svg+xml")
    # The profile itself is untouched.
    assert cameo.get_user(u)["name"] == "Ada Lovelace"
    # A new upload works again.
    assert cameo.put_avatar(u, data)["version"] == v
    assert cameo.get_user(u)["avatar"]["version"] == v


def test_delete_avatar_when_user_has_none(cameo):
    u = new_user(cameo)
    st, h, b = cameo.admin("DELETE", "/v1/users/%s/avatar" % u)
    assert st == 204, (st, b)
    assert cameo.get_user(u)["avatar"] is None


def test_deleting_user_drops_avatar_pointer(cameo):
    u = new_user(cameo)
    cameo.put_avatar(u, make_png(4, 4))
    assert cameo.admin("DELETE", "/v1/users/" + u)[0] == 204
    assert_error(cameo.req("GET", "/v1/users/%s/avatar" % u), 404, "not_found")
    cameo.put_user(u, {"name": "Reborn"}, expect=(201,))
    assert cameo.get_user(u)["avatar"] is None


def test_avatar_origin_ops_counted(cameo):
    u = new_user(cameo)
    before_put = cameo.origin_count("put_avatar")
    before_del = cameo.origin_count("delete_avatar")
    cameo.put_avatar(u, make_png(5, 5))
    assert cameo.origin_count("put_avatar") == before_put + 1
    assert cameo.admin("DELETE", "/v1/users/%s/avatar" % u)[0] == 204
    assert cameo.origin_count("delete_avatar") == before_del + 1


def test_avatar_limit_flag_boundary(make_cameo):
    d = make_cameo(args=["--max-avatar-size", "64K"])
    u = uid()
    d.put_user(u, {"name": "Small"}, expect=(201,))
    exact = padded(b"GIF89a", 64 * 1024)
    st, h, b = d.admin("PUT", "/v1/users/%s/avatar" % u, body=exact)
    assert st == 201, (st, b)
    url = json.loads(b)["url"]
    assert d.req("GET", url)[2] == exact
    assert_error(d.admin("PUT", "/v1/users/%s/avatar" % u, body=padded(b"GIF89a", 64 * 1024 + 1)), 413,
                 "too_large")
    assert d.get_user(u)["avatar"]["url"] == url
