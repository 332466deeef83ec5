"""Avatar bytes in an S3 bucket (--blobs s3://BUCKET/PREFIX), mode 1 of
docs/origins.md: uploads land in the bucket, reads go through every tier,
replaced and deleted avatars keep their old URLs until the retention, after
which cameo deletes their objects (and only theirs), presigned delivery hands
out URLs that the S3 server accepts, that are identical across instances
and never below the minimum validity, and a dead, slow or refusing S3 gives
a clear JSON error, never a crash, a cached error or a logged secret.

The S3 server is s3rver from npm (tests/s3: the maintained fork, which
verifies SigV4 signatures of signed and presigned requests), started per test
on a free 127.0.0.1 port with its own data directory and one key pair, and
killed at teardown. CTest installs it first (tests/s3/install.sh).
"""

import calendar
import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Cameo, assert_error, free_port, make_gif, make_jpeg, make_png, make_webp, uid

S3_DIR = REPO_ROOT / "tests" / "s3"
NODE = shutil.which("node")
S3_START_TIMEOUT = 20.0  # node start-up on a loaded CI machine
ACCESS_KEY = "AKIDCAMEOTEST0001"
SECRET_KEY = "s3cr3t-Very-Distinctive-Value-7f3a9c"
SESSION_TOKEN = "tok3n-Very-Distinctive-Session-91be27"
BUCKET = "avatars"
PREFIX = "pics/v1"
PRESIGN_BUCKET_S = 1800
MIN_VALIDITY_S = 600
FAST_FAIL_S = 3.0  # a generous bound on a request to a dead S3 (connect refused)
GC_DEADLINE_S = 30.0  # a bound on the outbox drain after a write wakes it (ASan, a loaded machine)
GC_RETRY_DEADLINE_S = 60.0  # after S3 is back: the drain's backoff (1 s, doubling) plus s3rver's start

pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (scripts/install-deps.sh test)")


class S3rver:
    """One s3rver process; its objects are files under dir/BUCKET/KEY._S3rver_object."""

    def __init__(self, workdir, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = access_key, secret_key
        self.port = 0
        self.proc = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        """Starts on a free port (the first time) or the same one again,
        waiting at most S3_START_TIMEOUT for its READY line."""
        assert self.proc is None
        script = S3_DIR / "s3rver.js"
        if not (S3_DIR / "node_modules" / "@20minutes" / "s3rver").exists():
            pytest.fail("s3rver is not installed: run tests/s3/install.sh (CTest does it first)")
        argv = [NODE, str(script), "--dir", str(self.dir), "--port", str(self.port), "--access-key",
                self.access_key, "--secret-key", self.secret_key, "--bucket", BUCKET]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(self.dir.parent / "s3rver.stderr.log", "ab"))
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + S3_START_TIMEOUT
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            ch = os.read(self.proc.stdout.fileno(), 64)
            if not ch:
                break
            line += ch
        sel.close()
        m = re.match(rb"READY (\d+)", line)
        if not m:
            self.stop()
            pytest.fail("s3rver did not start within %.0fs: %r" % (S3_START_TIMEOUT, line))
        self.port = int(m.group(1))
        return self

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            proc.stdout.close()

    def object_file(self, key):
        return self.dir / BUCKET / (key + "._S3rver_object")

    def object_bytes(self, key):
        f = self.object_file(key)
        return f.read_bytes() if f.exists() else None


@pytest.fixture
def s3(tmp_path):
    srv = S3rver(tmp_path / "s3").start()
    yield srv
    srv.stop()


def s3_args(srv, secret=SECRET_KEY, delivery="proxy", extra=()):
    return ["--blobs", "s3://%s/%s" % (BUCKET, PREFIX), "--s3-endpoint", srv.endpoint, "--s3-path-style",
            "--s3-region", "us-east-1", "--avatar-delivery", delivery] + list(extra)


def s3_env(secret=SECRET_KEY, token=None):
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


def s3_cameo(make_cameo, srv, secret=SECRET_KEY, delivery="proxy", extra=(), data=None, token=None, **kw):
    """A daemon with its avatars in srv's bucket (credentials from AWS_* env);
    data: a data dir shared with another instance."""
    args = s3_args(srv, delivery=delivery, extra=extra)
    flags = Cameo.DEFAULT_FLAGS
    if data is not None:
        flags = tuple(f for f in flags if f != "data")
        args = ["--data", str(data)] + args
    return make_cameo(args=args, env=s3_env(secret, token), flags=flags, **kw)


def key_of(user_id, version):
    return "%s/%s/%s" % (PREFIX, user_id, version)


def origin_calls(d, op):
    return d.metric("cameo_origin_requests_total", origin="local+s3", op=op)


def fetch(url, timeout=10):
    """GET url (an absolute URL of the S3 server): (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def avatar_url(d, user_id):
    st, h, doc = d.json("GET", "/v1/users/%s/avatar/url" % user_id)
    assert st == 200, (st, doc)
    return doc


def new_user_with_avatar(d, data):
    user = uid("s3")
    d.put_user(user, {"name": "Sam Three"})
    return user, d.put_avatar(user, data)["version"]


# --------------------------------------------------------------------------
# Writes land in the bucket; reads go through the tiers.


def test_upload_puts_the_bytes_in_the_bucket_and_only_the_pointer_in_the_store(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    img = make_png(3, 2)
    user, version = new_user_with_avatar(d, img)
    assert s3.object_bytes(key_of(user, version)) == img
    assert d.get_user(user)["avatar"]["version"] == version
    with sqlite3.connect(str(d.data_dir / "cameo.db")) as db:
        rows = db.execute("SELECT length(b.data), b.size FROM avatars a JOIN blobs b ON b.sha256 = a.sha256 "
                          "WHERE a.id = ?", (user,)).fetchall()
    assert rows == [(0, len(img))]
    st, h, body = d.req("GET", "/v1/avatars/%s/%s" % (user, version))
    assert (st, body, h["content-type"]) == (200, img, "image/png")
    assert h["cache-control"] == "public, max-age=31536000, immutable"


def test_avatar_of_an_unknown_user_is_404_and_the_profile_write_path_is_unchanged(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    assert_error(d.admin("PUT", "/v1/users/%s/avatar" % uid("nobody"), body=make_png()), 404, "not_found")
    user = uid("p")
    d.put_user(user, {"name": "P Q"})
    assert d.get_user(user)["name"] == "P Q"
    st, h, b = d.admin("DELETE", "/v1/users/" + user)
    assert st == 204


def test_reads_are_served_from_memory_after_the_first_one(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    img = make_jpeg(b"memory")
    user, version = new_user_with_avatar(d, img)
    path = "/v1/avatars/%s/%s" % (user, version)
    assert d.req("GET", path)[2] == img
    calls = origin_calls(d, "get_avatar")
    s3.object_file(key_of(user, version)).unlink()  # behind cameo's back: only a tier can answer now
    for _ in range(5):
        st, h, body = d.req("GET", path)
        assert (st, body) == (200, img)
    assert origin_calls(d, "get_avatar") == calls


def test_reads_go_through_redis_to_a_second_instance(s3, make_cameo, tmp_path):
    redis_bin = "/usr/bin/redis-server"
    if not os.path.exists(redis_bin):
        pytest.skip("needs %s" % redis_bin)
    from test_redis import RedisServer

    r = RedisServer(tmp_path / "redis").start()
    try:
        shared = tmp_path / "shared-data"
        a = s3_cameo(make_cameo, s3, data=shared, extra=["--redis", r.url()], name="a")
        b = s3_cameo(make_cameo, s3, data=shared, extra=["--redis", r.url()], name="b")
        img = make_gif(b"redis")
        user, version = new_user_with_avatar(a, img)
        path = "/v1/avatars/%s/%s" % (user, version)
        assert a.req("GET", path)[2] == img  # S3 -> memory of a, and Redis
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not r.client.call("EXISTS", "cameo:v1:b:%s/%s" % (user, version)):
            time.sleep(0.02)
        s3.object_file(key_of(user, version)).unlink()
        st, h, body = b.req("GET", path)
        assert (st, body) == (200, img)
        assert origin_calls(b, "get_avatar") == 0
        for d in (a, b):
            d.stop()
    finally:
        r.kill()


def test_replace_gives_a_new_version_and_the_old_urls_stay_valid(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned")
    old_img, new_img = make_png(1, 1, (1, 2, 3, 255)), make_png(1, 1, (4, 5, 6, 255))
    user, v1 = new_user_with_avatar(d, old_img)
    old_presigned = avatar_url(d, user)["url"]
    v2 = d.put_avatar(user, new_img)["version"]
    assert v2 != v1
    assert d.get_user(user)["avatar"]["version"] == v2
    assert s3.object_bytes(key_of(user, v1)) == old_img and s3.object_bytes(key_of(user, v2)) == new_img
    assert d.req("GET", "/v1/avatars/%s/%s" % (user, v1))[2] == old_img
    assert d.req("GET", "/v1/avatars/%s/%s" % (user, v2))[2] == new_img
    assert fetch(old_presigned) == (200, old_img)
    new_presigned = avatar_url(d, user)
    assert new_presigned["version"] == v2 and fetch(new_presigned["url"]) == (200, new_img)


def test_delete_clears_the_pointer_and_keeps_the_object(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned")
    img = make_webp(b"deleted")
    user, version = new_user_with_avatar(d, img)
    st, h, b = d.admin("DELETE", "/v1/users/%s/avatar" % user)
    assert st in (200, 204), (st, b)
    assert_error(d.req("GET", "/v1/users/%s/avatar" % user), 404, "not_found")
    assert_error(d.req("GET", "/v1/users/%s/avatar/url" % user), 404, "not_found")
    assert d.get_user(user)["avatar"] is None
    assert d.req("GET", "/v1/avatars/%s/%s" % (user, version))[2] == img  # immutable URL, until GC
    assert s3.object_bytes(key_of(user, version)) == img
    assert d.admin("DELETE", "/v1/users/" + user)[0] == 204
    assert_error(d.req("GET", "/v1/users/%s/avatar/url" % user), 404, "not_found")


def test_an_object_that_is_not_the_version_asked_for_is_502_and_not_cached(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    img = make_png(2, 2)
    user, version = new_user_with_avatar(d, img)
    f = s3.object_file(key_of(user, version))
    f.write_bytes(b"not an image at all")
    path = "/v1/avatars/%s/%s" % (user, version)
    assert_error(d.req("GET", path), 502, "bad_gateway")
    assert d.wait_log(r"s3_object_corrupt .*reason=not_an_image")
    f.write_bytes(img)  # repaired: the next read goes to S3 again and succeeds
    st, h, body = d.req("GET", path)
    assert (st, body) == (200, img)


# --------------------------------------------------------------------------
# GC: after --blob-retention, the objects of replaced and deleted avatars go.


def outbox(d):
    """The store's queue of objects to delete: [(id, version, attempts)]."""
    with contextlib.closing(sqlite3.connect(str(d.data_dir / "cameo.db"), timeout=10)) as db:
        return db.execute("SELECT id, version, attempts FROM object_gc ORDER BY id, version").fetchall()


def collect_until(d, cond, timeout=GC_DEADLINE_S):
    """Runs the store's GC (any avatar write does: deleting the avatar of a
    user without one) about once a second until cond() holds, for at most
    timeout seconds; returns cond()."""
    spare = uid("gc")
    d.put_user(spare, {"name": "G C"})
    deadline = time.monotonic() + timeout
    while True:
        st, h, b = d.admin("DELETE", "/v1/users/%s/avatar" % spare)
        assert st in (200, 204), (st, b)
        step = time.monotonic() + 1.0
        while time.monotonic() < min(step, deadline):
            if cond():
                return True
            time.sleep(0.05)
        if time.monotonic() >= deadline:
            return cond()


def test_a_replaced_avatars_object_is_deleted_after_the_retention_and_the_current_one_stays(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, extra=["--blob-retention", "1ms"])
    a_img, b_img = make_png(1, 1, (10, 20, 30, 255)), make_png(1, 1, (40, 50, 60, 255))
    user, va = new_user_with_avatar(d, a_img)
    vb = d.put_avatar(user, b_img)["version"]
    # Until a write collects it, the replaced version's URL still serves it.
    assert s3.object_bytes(key_of(user, va)) == a_img
    assert d.req("GET", "/v1/avatars/%s/%s" % (user, va))[2] == a_img
    assert collect_until(d, lambda: s3.object_bytes(key_of(user, va)) is None), outbox(d)
    assert s3.object_bytes(key_of(user, vb)) == b_img
    assert d.get_user(user)["avatar"]["version"] == vb
    st, h, body = d.req("GET", "/v1/avatars/%s/%s" % (user, vb))
    assert (st, body) == (200, b_img)
    deadline = time.monotonic() + GC_DEADLINE_S  # the report follows the DELETE
    while outbox(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox(d) == []
    st, h, doc = d.json("GET", "/readyz")
    assert st == 200 and re.search(r"gc: \d+ objects queued, [1-9]\d* deleted", doc["origin"]["detail"]), doc

    # The same picture uploaded again is a new object under the same key: it stays.
    assert d.put_avatar(user, a_img)["version"] == va
    assert collect_until(d, lambda: s3.object_bytes(key_of(user, vb)) is None), outbox(d)
    assert s3.object_bytes(key_of(user, va)) == a_img
    st, h, body = d.req("GET", "/v1/avatars/%s/%s" % (user, va))
    assert (st, body) == (200, a_img)


def test_a_deleted_avatars_object_and_a_deleted_users_object_are_deleted_after_the_retention(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, extra=["--blob-retention", "1ms"])
    img1, img2, kept = make_webp(b"gone"), make_gif(b"gone too"), make_jpeg(b"kept")
    user1, v1 = new_user_with_avatar(d, img1)
    user2, v2 = new_user_with_avatar(d, img2)
    user3, v3 = new_user_with_avatar(d, kept)
    assert d.admin("DELETE", "/v1/users/%s/avatar" % user1)[0] in (200, 204)
    assert d.admin("DELETE", "/v1/users/" + user2)[0] == 204
    assert s3.object_bytes(key_of(user1, v1)) == img1  # until a write collects it
    assert collect_until(d, lambda: s3.object_bytes(key_of(user1, v1)) is None and
                         s3.object_bytes(key_of(user2, v2)) is None), outbox(d)
    assert s3.object_bytes(key_of(user3, v3)) == kept


def test_the_default_retention_keeps_replaced_objects(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    old_img = make_png(2, 1, (7, 7, 7, 255))
    user, v1 = new_user_with_avatar(d, old_img)
    d.put_avatar(user, make_png(2, 1, (8, 8, 8, 255)))
    other, _ = new_user_with_avatar(d, make_png(3, 1))  # an avatar write: GC runs, 7 days keep v1
    assert d.admin("DELETE", "/v1/users/%s/avatar" % other)[0] in (200, 204)
    assert outbox(d) == []
    assert s3.object_bytes(key_of(user, v1)) == old_img


def test_a_dead_s3_during_the_drain_keeps_the_object_queued_until_s3_is_back(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, extra=["--blob-retention", "1ms"])
    a_img, b_img = make_png(4, 1, (1, 1, 1, 255)), make_png(4, 1, (2, 2, 2, 255))
    user, va = new_user_with_avatar(d, a_img)
    vb = d.put_avatar(user, b_img)["version"]
    s3.stop()
    # Collected, its DELETE failed: still queued, with the failed attempt counted.
    assert collect_until(d, lambda: any(r[:2] == (user, va) and r[2] >= 1 for r in outbox(d))), outbox(d)
    assert d.wait_log(r"level=warn msg=s3_gc_failed id=%s version=%s " % (user, va))
    assert d.running()
    s3.start()  # same port, same objects; the drain retries after its backoff, no write needed
    assert s3.object_bytes(key_of(user, va)) == a_img
    deadline = time.monotonic() + GC_RETRY_DEADLINE_S
    while (s3.object_bytes(key_of(user, va)) is not None or outbox(d)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert s3.object_bytes(key_of(user, va)) is None, outbox(d)
    assert outbox(d) == []
    assert s3.object_bytes(key_of(user, vb)) == b_img


# --------------------------------------------------------------------------
# Presigned delivery.


def test_presigned_redirect_is_fetched_from_the_s3_server(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned")
    img = make_png(4, 4)
    user, version = new_user_with_avatar(d, img)
    st, h, b = d.req("GET", "/v1/users/%s/avatar" % user)
    assert st == 302 and h["cache-control"] == "no-cache"
    loc = h["location"]
    assert loc.startswith("%s/%s/%s/%s/%s?" % (s3.endpoint, BUCKET, PREFIX, user, version)), loc
    assert fetch(loc) == (200, img)
    doc = avatar_url(d, user)
    assert doc["url"] == loc and doc["version"] == version
    tampered = re.sub(r"X-Amz-Signature=[0-9a-f]+", "X-Amz-Signature=" + "0" * 64, loc)
    assert fetch(tampered)[0] == 403  # the server checks the signature


def test_presigned_urls_are_identical_from_two_instances_within_a_bucket(s3, make_cameo, tmp_path):
    shared = tmp_path / "shared"
    a = s3_cameo(make_cameo, s3, data=shared, delivery="presigned", name="a")
    b = s3_cameo(make_cameo, s3, data=shared, delivery="presigned", name="b")
    user, version = new_user_with_avatar(a, make_png(5, 1))
    for _ in range(3):  # a bucket boundary may fall between the two calls: then try again
        ua, ub = avatar_url(a, user), avatar_url(b, user)
        if ua["expires_at"] == ub["expires_at"]:
            break
    assert ua == ub
    assert a.req("GET", "/v1/users/%s/avatar" % user)[1]["location"] in (ua["url"], avatar_url(a, user)["url"])


def test_presigned_urls_are_never_handed_out_below_the_minimum_validity(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned",
                 extra=["--presign-bucket", "%ds" % PRESIGN_BUCKET_S, "--presign-min-validity", "%ds" % MIN_VALIDITY_S])
    user, version = new_user_with_avatar(d, make_png(6, 1))
    before = int(time.time())
    doc = avatar_url(d, user)
    after = int(time.time())
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(doc["url"]).query)
    assert q["X-Amz-Expires"] == [str(PRESIGN_BUCKET_S + MIN_VALIDITY_S)]
    start = calendar.timegm(time.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    assert start % PRESIGN_BUCKET_S == 0 and start <= before
    assert doc["expires_at"] == start + PRESIGN_BUCKET_S + MIN_VALIDITY_S
    assert doc["expires_at"] - after >= MIN_VALIDITY_S
    # Every second of a bucket is covered by the unit tests (time passed in):
    # tests/unit/test_origin_s3.c and test_origin_s3_sign.c.


def test_proxy_mode_avatar_url_is_cameos_immutable_path(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="proxy")
    user, version = new_user_with_avatar(d, make_png(7, 1))
    doc = avatar_url(d, user)
    assert doc == {"url": "/v1/avatars/%s/%s" % (user, version), "version": version, "expires_at": None}
    st, h, b = d.req("GET", "/v1/users/%s/avatar" % user)
    assert (st, h["location"]) == (302, doc["url"])


def test_session_token_is_sent_and_signed_into_presigned_urls(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned", token=SESSION_TOKEN)
    img = make_png(8, 1)
    user, version = new_user_with_avatar(d, img)
    url = avatar_url(d, user)["url"]
    assert "X-Amz-Security-Token=" + SESSION_TOKEN in url
    assert fetch(url) == (200, img)


# --------------------------------------------------------------------------
# Failures: clear JSON errors, nothing cached, no secret in the logs.


def test_bad_credentials_are_a_502_with_a_clear_log_line_and_no_secret(s3, make_cameo):
    wrong = "Wrong-Secret-Value-That-Must-Not-Leak-42"
    d = s3_cameo(make_cameo, s3, secret=wrong)
    user = uid("cred")
    d.put_user(user, {"name": "C D"})
    assert_error(d.admin("PUT", "/v1/users/%s/avatar" % user, body=make_png()), 502, "bad_gateway")
    assert d.get_user(user)["avatar"] is None  # the failed upload changed nothing
    assert d.wait_log(r"level=error msg=s3_denied .*status=403 code=SignatureDoesNotMatch")
    assert_error(d.req("GET", "/v1/avatars/%s/0123456789abcdef" % user), 502, "bad_gateway")
    st, h, doc = d.json("GET", "/readyz")
    assert st == 200 and "failing" in doc["origin"]["detail"], doc  # profiles are still served
    assert "SignatureDoesNotMatch" in doc["origin"]["detail"], doc
    assert wrong not in doc["origin"]["detail"]
    d.stop()
    for text in (d.log(), d.stdout()):
        assert wrong not in text


def test_dead_s3_is_a_quick_502_and_the_error_is_not_cached(s3, make_cameo):
    d = s3_cameo(make_cameo, s3)
    img = make_png(9, 1)
    user, version = new_user_with_avatar(d, img)
    s3.stop()
    path = "/v1/avatars/%s/%s" % (user, version)
    t0 = time.monotonic()
    assert_error(d.req("GET", path), 502, "bad_gateway")
    assert time.monotonic() - t0 < FAST_FAIL_S
    assert_error(d.admin("PUT", "/v1/users/%s/avatar" % user, body=make_png(10, 1)), 502, "bad_gateway")
    assert d.get_user(user)["avatar"]["version"] == version  # unchanged
    assert d.running()
    s3.start()  # same port, same objects
    st, h, body = d.req("GET", path)
    assert (st, body) == (200, img)


def test_slow_s3_is_a_504_after_the_timeout(make_cameo, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hole:  # accepts (backlog), never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        port = hole.getsockname()[1]
        srv = S3rver(tmp_path / "unused")
        srv.port = port
        d = s3_cameo(make_cameo, srv, extra=["--s3-timeout", "300ms"])
        user = uid("slow")
        d.put_user(user, {"name": "S L"})
        t0 = time.monotonic()
        assert_error(d.req("GET", "/v1/avatars/%s/0123456789abcdef" % user), 504, "gateway_timeout")
        assert time.monotonic() - t0 < FAST_FAIL_S
        assert_error(d.admin("PUT", "/v1/users/%s/avatar" % user, body=make_png()), 504, "gateway_timeout")
        assert d.get_user(user)["avatar"] is None
        d.stop()


def test_secrets_never_reach_the_logs(s3, make_cameo):
    d = s3_cameo(make_cameo, s3, delivery="presigned", token=SESSION_TOKEN)
    user, version = new_user_with_avatar(d, make_png(11, 1))
    avatar_url(d, user)
    d.req("GET", "/v1/users/%s/avatar" % user)
    d.req("GET", "/v1/avatars/%s/%s" % (user, version))
    d.req("GET", "/readyz")
    s3.stop()
    d.req("GET", "/v1/avatars/%s/fedcba9876543210" % user)
    d.stop()
    for text in (d.log(), d.stdout()):
        assert SECRET_KEY not in text and SESSION_TOKEN not in text


# --------------------------------------------------------------------------
# Configuration.


@pytest.mark.parametrize("args,env,flag_rx", [
    (["--blobs", "s3://Bad_Bucket"], {}, r"^cameo: --blobs: "),
    (["--blobs", "ftp://bucket"], {}, r"^cameo: --blobs: "),
    (["--blobs", "s3://bucket"], {}, r"^cameo: --s3-access-key: "),
    (["--blobs", "s3://bucket"], {"AWS_ACCESS_KEY_ID": "AK"}, r"^cameo: --s3-secret-key: "),
    (["--avatar-delivery", "presigned"], {}, r"^cameo: --avatar-delivery: "),
    (["--avatar-delivery", "sometimes"], {}, r"^cameo: --avatar-delivery: "),
    (["--s3-endpoint", "s3.example.com"], {}, r"^cameo: --s3-endpoint: "),
    (["--s3-region", "US East"], {}, r"^cameo: --s3-region: "),
    (["--s3-path-style", "maybe"], {}, r"^cameo: --s3-path-style: "),
    (["--presign-bucket", "0s"], {}, r"^cameo: --presign-bucket: "),
    (["--presign-min-validity", "1500ms"], {}, r"^cameo: --presign-min-validity: "),
    (["--s3-timeout", "2m"], {}, r"^cameo: --s3-timeout: "),
    (["--blob-retention", "0s"], {}, r"^cameo: --blob-retention: "),
    (["--blob-retention", "soon"], {}, r"^cameo: --blob-retention: "),
    (["--s3-secret-key", "has space"], {}, r"^cameo: --s3-secret-key: "),
    ([], {"CAMEO_BLOBS": "s3://"}, r"^cameo: CAMEO_BLOBS: "),
])
def test_bad_s3_settings_are_one_line_naming_the_flag_and_exit_2(cameo_bin, tmp_path, args, env, flag_rx):
    argv = [str(cameo_bin), "serve", "--listen", "127.0.0.1:%d" % free_port(), "--data", str(tmp_path / "d")]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMEO_", "AWS_"))}
    full_env.update(env)
    p = subprocess.run(argv + args, env=full_env, capture_output=True, timeout=30)
    err = p.stderr.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert p.returncode == 2, (args, p.returncode, err)
    assert len(lines) == 1 and re.search(flag_rx, lines[0]), (args, err)
    assert "has space" not in err  # a credential is never echoed
