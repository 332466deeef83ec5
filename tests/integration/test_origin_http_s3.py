"""Mode 2 avatars (docs/origins.md): cameo fronts an HTTP user service
(--users-url) and reads avatar bytes from an S3 bucket, the object named by a
profile field (--avatar-field, --avatar-key-template). The avatar version is
made from the field's value and the object's ETag (a HEAD when the profile is
read), so an object replaced in place gets a new URL and the old URL never
serves the new bytes; the object must be an image; a missing object is no
avatar (and a 404), a broken one a 502, and neither a dead bucket nor a bad
value breaks the profile.

Real servers on free loopback ports: the project's user service
(userservice.py, counts calls) and s3rver (the fixture of test_s3.py, which
checks SigV4). Origin calls are counted through cameo's /metrics, since
s3rver counts nothing.
"""

import os
import re
import subprocess

import pytest

from conftest import assert_error, free_port, make_gif, make_jpeg, make_png
from test_s3 import ACCESS_KEY, BUCKET, NODE, SECRET_KEY, S3rver, fetch
from userservice import UserService

PREFIX = "team/pics"

pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (scripts/install-deps.sh test)")


@pytest.fixture
def s3(tmp_path):
    srv = S3rver(tmp_path / "s3").start()
    yield srv
    srv.stop()


@pytest.fixture
def svc():
    s = UserService(users={"ann": {"name": "Ann", "picture_id": "p1"}, "bob": {"name": "Bob"}}).start()
    yield s
    s.stop()


def put_object(srv, key, data):
    """Puts data at key behind cameo's back (s3rver's files: bytes, no metadata)."""
    f = srv.object_file(key)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data)
    md5 = f.with_name(f.name + ".md5")
    if md5.exists():
        md5.unlink()  # s3rver recomputes it


def mode2(make_cameo, svc, srv, field="/picture_id", template=None, delivery="proxy", extra=(), **kw):
    args = ["--users-url", svc.url, "--users-batch-url", svc.batch_url, "--origin-retries", "0",
            "--blobs", "s3://%s/%s" % (BUCKET, PREFIX), "--s3-endpoint", srv.endpoint, "--s3-path-style",
            "--avatar-delivery", delivery, "--avatar-field", field]
    if template is not None:
        args += ["--avatar-key-template", template]
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    return make_cameo(args=args + list(extra), env=env, **kw)


def avatar_reads(d):
    return d.metric("cameo_origin_requests_total", origin="http", op="get_avatar")


def key(value, template="avatars/{value}"):
    return PREFIX + "/" + template.replace("{value}", value)


def tagged(value):
    """The shape of the version of an object named by value, with its ETag."""
    return re.compile(re.escape(value) + r"\.e[0-9a-f]{12}")


def version_of(d, user):
    return d.get_user(user)["avatar"]["version"]


def detail(d):
    st, _, ready = d.json("GET", "/readyz")
    assert st in (200, 503), ready
    return ready["origin"]["detail"]


def test_profile_names_its_avatar_and_the_redirect_leads_to_the_bucket_bytes(make_cameo, svc, s3):
    img = make_png(3, 2)
    put_object(s3, key("p1"), img)
    d = mode2(make_cameo, svc, s3, name="a")
    doc = d.get_user("ann")
    v = doc["avatar"]["version"]
    assert tagged("p1").fullmatch(v) and doc["avatar"]["url"] == "/v1/avatars/ann/" + v, doc
    assert doc["picture_id"] == "p1"
    assert d.get_user("bob")["avatar"] is None
    assert "avatar HEADs 1 (failed 0)" in detail(d)  # bob names no object: no HEAD
    st, h, _ = d.req("GET", "/v1/users/ann/avatar")
    assert (st, h["location"]) == (302, "/v1/avatars/ann/" + v)
    st, h, body = d.req("GET", h["location"])
    assert (st, body, h["content-type"]) == (200, img, "image/png")
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert avatar_reads(d) == 1
    assert svc.gets == ["ann", "bob"]  # the avatar needed no profile read
    # Another instance reads the same version straight from the bucket: the
    # version itself names the value and the ETag, no profile read, no map.
    svc.reset_counts()
    b = mode2(make_cameo, svc, s3, name="b")
    assert b.req("GET", "/v1/avatars/ann/" + v)[2] == img
    assert svc.gets == []
    s3.object_file(key("p1")).unlink()  # only a tier can answer now
    for _ in range(5):
        assert d.req("GET", "/v1/avatars/ann/" + v)[2] == img
    assert avatar_reads(d) == 1


def test_key_template_goes_under_the_bucket_prefix(make_cameo, svc, s3):
    img = make_jpeg(b"tmpl")
    tmpl = "img/{value}/full.jpg"
    put_object(s3, key("p1", tmpl), img)
    d = mode2(make_cameo, svc, s3, template=tmpl)
    assert d.req("GET", "/v1/avatars/ann/p1")[2] == img


def test_field_change_gives_a_new_url_and_the_old_one_is_still_served(make_cameo, svc, s3):
    old, new = make_png(1, 1, (1, 2, 3, 255)), make_png(1, 1, (4, 5, 6, 255))
    put_object(s3, key("p1"), old)
    put_object(s3, key("p2"), new)
    d = mode2(make_cameo, svc, s3)
    v1 = version_of(d, "ann")
    assert tagged("p1").fullmatch(v1), v1
    svc.users["ann"] = {"name": "Ann", "picture_id": "p2"}  # the app changes it, then tells cameo
    assert d.admin("POST", "/v1/invalidate", body={"ids": ["ann"]})[0] in (200, 204)
    doc = d.get_user("ann")
    v2 = doc["avatar"]["version"]
    assert tagged("p2").fullmatch(v2) and doc["avatar"]["url"] == "/v1/avatars/ann/" + v2, doc
    assert d.req("GET", "/v1/users/ann/avatar")[1]["location"] == "/v1/avatars/ann/" + v2
    assert d.req("GET", "/v1/avatars/ann/" + v2)[2] == new
    assert d.req("GET", "/v1/avatars/ann/" + v1)[2] == old  # never read before: from the bucket


def test_object_replaced_in_place_gets_a_new_url_and_the_old_url_never_serves_the_new_bytes(
        make_cameo, svc, s3):
    old, new = make_png(2, 1, (9, 9, 9, 255)), make_png(2, 1, (200, 1, 1, 255))
    put_object(s3, key("p1"), old)
    d = mode2(make_cameo, svc, s3, name="a")
    v1 = version_of(d, "ann")
    assert d.req("GET", "/v1/avatars/ann/" + v1)[2] == old
    put_object(s3, key("p1"), new)  # the app overwrites the object under the same value
    assert d.req("GET", "/v1/avatars/ann/" + v1)[2] == old  # the immutable URL keeps its bytes (tier)
    b = mode2(make_cameo, svc, s3, name="b")  # nothing cached: only the bucket can answer
    for _ in range(2):
        assert_error(b.req("GET", "/v1/avatars/ann/" + v1), 404, "not_found")
    assert b.wait_log(r"avatar_object_replaced .*id=ann")
    assert "objects replaced 1," in detail(b)  # the 404 is remembered: one GET
    assert d.admin("POST", "/v1/invalidate", body={"ids": ["ann"]})[0] in (200, 204)
    v2 = version_of(d, "ann")
    assert tagged("p1").fullmatch(v2) and v2 != v1, (v1, v2)
    assert version_of(b, "ann") == v2  # every instance makes the same version
    assert d.req("GET", "/v1/avatars/ann/" + v2)[2] == new
    assert b.req("GET", "/v1/avatars/ann/" + v2)[2] == new


def test_a_batch_heads_every_avatar_within_the_s3_limit(make_cameo, svc, s3):
    ids = ["u%02d" % i for i in range(60)]
    for i, uid in enumerate(ids):
        svc.users[uid] = {"name": uid, "picture_id": "pic-%d" % i}
        put_object(s3, key("pic-%d" % i), make_png(1, 1, (i, 0, 0, 255)))
    d = mode2(make_cameo, svc, s3, extra=["--s3-max-concurrent", "4"])
    st, _, out = d.json("POST", "/v1/users:batch", body={"ids": ids})
    assert st == 200 and out["missing"] == [], out
    for i, uid in enumerate(ids):
        assert tagged("pic-%d" % i).fullmatch(out["users"][uid]["avatar"]["version"]), out["users"][uid]
    assert "avatar HEADs 60 (failed 0)" in detail(d)  # waited for places, never gave up on one
    assert svc.batches == 2 and svc.batch_ids == [ids[:50], ids[50:]]


def test_field_naming_a_missing_object_is_404_and_the_profile_still_200(make_cameo, svc, s3):
    svc.users["gone"] = {"name": "Gone", "picture_id": "not-there"}
    d = mode2(make_cameo, svc, s3)
    assert d.get_user("gone")["avatar"] is None  # the HEAD found nothing: the default avatar
    assert d.wait_log(r"avatar_object_missing .*id=gone")
    for _ in range(3):
        assert_error(d.req("GET", "/v1/avatars/gone/not-there"), 404, "not_found")
    assert avatar_reads(d) == 1  # negative-cached
    assert d.get_user("gone")["name"] == "Gone"


@pytest.mark.parametrize("value", ["my photo (2).png", "x" * 200, "caf\u00e9/\u00e9t\u00e9.jpg"])
def test_weird_value_gets_a_hashed_version_that_resolves(make_cameo, svc, s3, value):
    img = make_gif(value.encode()[:20])
    put_object(s3, key(value), img)
    svc.users["weird"] = {"name": "W", "picture_id": value}
    d = mode2(make_cameo, svc, s3, name="a")
    version = d.get_user("weird")["avatar"]["version"]
    assert re.fullmatch(r"h[0-9a-f]{16}", version), version
    st, h, body = d.req("GET", "/v1/avatars/weird/" + version)
    assert (st, body) == (200, img)
    assert svc.gets == ["weird"]  # the version was known from the profile read
    # An instance that never read the profile finds the value with one profile GET.
    svc.reset_counts()
    b = mode2(make_cameo, svc, s3, name="b")
    st, h, body = b.req("GET", "/v1/avatars/weird/" + version)
    assert (st, body) == (200, img)
    assert svc.gets == ["weird"]
    # Replaced in place: the old hashed version is gone, the new one differs.
    put_object(s3, key(value), make_gif(b"replaced"))
    c = mode2(make_cameo, svc, s3, name="c")
    assert_error(c.req("GET", "/v1/avatars/weird/" + version), 404, "not_found")
    assert version_of(c, "weird") != version


def test_values_that_cannot_name_an_object_are_no_avatar(make_cameo, svc, s3):
    svc.users["dots"] = {"name": "D", "picture_id": "../../other-bucket/secret"}
    d = mode2(make_cameo, svc, s3)
    assert d.get_user("dots")["avatar"] is None
    assert d.wait_log(r"origin_bad_avatar_field .*id=dots")
    assert_error(d.req("GET", "/v1/avatars/dots/.."), 404, "not_found")


def test_object_that_is_not_an_image_is_502_and_not_cached(make_cameo, svc, s3):
    put_object(s3, key("p1"), b"<html>not an image</html>")
    d = mode2(make_cameo, svc, s3)
    assert_error(d.req("GET", "/v1/avatars/ann/p1"), 502, "bad_gateway")
    assert d.wait_log(r"s3_object_corrupt .*reason=not_an_image")
    img = make_png(2, 2)
    put_object(s3, key("p1"), img)  # repaired: the next read asks the bucket again
    assert d.req("GET", "/v1/avatars/ann/p1")[2] == img
    assert avatar_reads(d) == 2


def test_dead_bucket_is_a_502_never_cached_and_profiles_go_on(make_cameo, svc, s3):
    img = make_png(4, 1)
    put_object(s3, key("p1"), img)
    d = mode2(make_cameo, svc, s3)
    s3.stop()
    assert_error(d.req("GET", "/v1/avatars/ann/p1"), 502, "bad_gateway")
    # No HEAD answer: the profile still goes out, its version the value alone
    # (a read of it is not checked against an ETag).
    assert version_of(d, "ann") == "p1"
    assert d.wait_log(r"avatar_head_failed .*id=ann")
    st, _, ready = d.json("GET", "/readyz")
    assert st == 200 and "failing" in ready["origin"]["detail"], ready
    s3.start()
    assert d.req("GET", "/v1/avatars/ann/p1")[2] == img
    assert d.admin("POST", "/v1/invalidate", body={"ids": ["ann"]})[0] in (200, 204)
    assert tagged("p1").fullmatch(version_of(d, "ann"))  # the bucket is back: the ETag too


def test_an_s3_outage_does_not_change_versions_already_seen(make_cameo, svc, s3):
    img = make_png(4, 2)
    put_object(s3, key("p1"), img)
    d = mode2(make_cameo, svc, s3)
    v = version_of(d, "ann")
    assert d.req("GET", "/v1/avatars/ann/" + v)[2] == img
    s3.stop()
    assert d.admin("POST", "/v1/invalidate", body={"ids": ["ann"]})[0] in (200, 204)
    assert version_of(d, "ann") == v  # the last ETag seen: the URL pages hold stays
    assert d.wait_log(r"avatar_head_failed .*id=ann")
    assert "avatar HEADs 2 (failed 1)" in detail(d)
    assert d.req("GET", "/v1/avatars/ann/" + v)[2] == img  # from memory


def test_presigned_delivery_redirects_to_the_bucket(make_cameo, svc, s3):
    img, weird_img = make_png(5, 5), make_jpeg(b"weird")
    put_object(s3, key("p1"), img)
    put_object(s3, key("two words"), weird_img)
    svc.users["wes"] = {"name": "Wes", "picture_id": "two words"}
    d = mode2(make_cameo, svc, s3, delivery="presigned")
    st, h, _ = d.req("GET", "/v1/users/ann/avatar")
    assert st == 302 and h["location"].startswith("%s/%s/%s/avatars/p1?" % (s3.endpoint, BUCKET, PREFIX))
    assert fetch(h["location"]) == (200, img)
    st, _, doc = d.json("GET", "/v1/users/wes/avatar/url")
    assert st == 200 and doc["expires_at"] > 0, doc
    assert "/avatars/two%20words?" in doc["url"]
    assert fetch(doc["url"]) == (200, weird_img)
    assert avatar_reads(d) == 0  # the browser fetched the bytes, not cameo


def test_writes_still_answer_405(make_cameo, svc, s3):
    d = mode2(make_cameo, svc, s3)
    st, h, b = d.admin("PUT", "/v1/users/ann/avatar", body=make_png(), headers={"Content-Type": "image/png"})
    assert_error((st, h, b), 405, "read_only_origin")


@pytest.mark.parametrize("args, flag", [
    (["--avatar-field", "/picture_id"], "--avatar-field"),
    (["--users-url", "http://x/{id}", "--avatar-field", "/picture_id"], "--avatar-field"),
    (["--users-url", "http://x/{id}", "--blobs", "s3://avatars"], "--blobs"),
    (["--users-url", "http://x/{id}", "--blobs", "s3://avatars", "--avatar-field", "picture_id"],
     "--avatar-field"),
    (["--users-url", "http://x/{id}", "--blobs", "s3://avatars", "--avatar-field", "/p",
      "--avatar-key-template", "avatars/{id}"], "--avatar-key-template"),
    (["--users-url", "http://x/{id}", "--blobs", "s3://avatars", "--avatar-field", "/p",
      "--avatar-key-template", "../{value}"], "--avatar-key-template"),
    (["--users-url", "http://x/{id}", "--blobs", "s3://avatars", "--avatar-field", "/p",
      "--avatar-key-template", "/avatars/{value}"], "--avatar-key-template"),
    (["--avatar-key-template", "pics/{value}"], "--avatar-key-template"),
])
def test_bad_mode2_avatar_flags_exit_2_naming_the_flag(cameo_bin, tmp_path, args, flag):
    argv = [str(cameo_bin), "serve", "--listen", "127.0.0.1:%d" % free_port(), "--data", str(tmp_path / "d")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMEO_", "AWS_"))}
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
    p = subprocess.run(argv + args, env=env, capture_output=True, text=True, timeout=30)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("cameo: " + flag + ":"), (args, p.stderr)


def test_presigned_through_redis_two_instances_hand_out_the_same_url(make_cameo, svc, s3, tmp_path):
    redis_bin = "/usr/bin/redis-server"
    if not os.path.exists(redis_bin):
        pytest.skip("needs %s" % redis_bin)
    from test_redis import RedisServer

    img, weird = make_png(6, 6), make_jpeg(b"two words")
    put_object(s3, key("p1"), img)
    put_object(s3, key("two words"), weird)
    svc.users["wes"] = {"name": "Wes", "picture_id": "two words"}
    r = RedisServer(tmp_path / "redis").start()
    try:
        a = mode2(make_cameo, svc, s3, delivery="presigned", extra=["--redis", r.url()], name="a")
        b = mode2(make_cameo, svc, s3, delivery="presigned", extra=["--redis", r.url()], name="b")
        ua = a.json("GET", "/v1/users/ann/avatar/url")[2]
        svc.reset_counts()
        for _ in range(3):  # a bucket boundary may fall between the two calls: then try again
            ub = b.json("GET", "/v1/users/ann/avatar/url")[2]
            if ub["expires_at"] == ua["expires_at"]:
                break
            ua = a.json("GET", "/v1/users/ann/avatar/url")[2]
        assert ua == ub and ub["expires_at"] > 0, (ua, ub)
        assert svc.gets == []  # b had the profile from Redis, and its version names the object
        assert fetch(ub["url"]) == (200, img)
        # A hashed version b never made: its own path, whose first read finds the value.
        a.get_user("wes")
        wb = b.json("GET", "/v1/users/wes/avatar/url")[2]
        assert wb["expires_at"] is None and wb["url"].startswith("/v1/avatars/wes/h"), wb
        assert b.req("GET", wb["url"])[2] == weird
        wb = b.json("GET", "/v1/users/wes/avatar/url")[2]
        assert wb["expires_at"] > 0 and fetch(wb["url"]) == (200, weird), wb
        for d in (a, b):
            d.stop()
    finally:
        r.kill()
