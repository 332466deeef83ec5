"""--seed-demo: 50 demo users with PNG avatars, only into an empty store."""

import json
import struct
import subprocess
import time
import zlib

from conftest import assert_error


def all_users(d):
    st, h, b = d.req("GET", "/v1/users?limit=1000")
    assert st == 200, (st, b[:200])
    return json.loads(b)["users"]


def stdout_lines(d, timeout=5.0):
    """stdout once the serving line is there (it follows the health check)."""
    deadline = time.monotonic() + timeout
    while "serving" not in d.stdout() and time.monotonic() < deadline:
        time.sleep(0.02)
    return d.stdout().splitlines()


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == size[1] * (1 + 3 * size[0])
    return size


def test_seed_demo_fills_an_empty_store_and_prints_the_demo_url_first(make_cameo):
    d = make_cameo(args=["--seed-demo"])
    first = stdout_lines(d)[0]
    assert first == "demo: http://127.0.0.1:%d/demo (50 demo users added)" % d.port, d.stdout()
    users = all_users(d)
    assert len(users) == 50
    assert [u["id"] for u in users] == sorted(u["id"] for u in users)
    with_avatar = [u for u in users if u["avatar"]]
    assert len(with_avatar) == 45  # every tenth keeps the initials placeholder
    assert all(u["name"] and u["title"] for u in users)
    versions = set()
    for u in with_avatar[:10]:
        st, h, b = d.req("GET", u["avatar"]["url"])
        assert st == 200 and h["content-type"] == "image/png"
        assert png_size(b) == (96, 96)
        versions.add(u["avatar"]["version"])
    assert len(versions) == 10  # a picture per user
    plain = [u for u in users if not u["avatar"]][0]
    st, h, b = d.req("GET", "/v1/users/%s/avatar?default=initials" % plain["id"])
    assert st == 200 and h["content-type"] == "image/svg+xml"


def test_seed_demo_leaves_a_store_with_users_alone(make_cameo):
    d = make_cameo()
    d.put_user("only-me", {"name": "Only Me"})
    d.stop()
    d.args = ["--seed-demo"]
    d.start()
    assert [u["id"] for u in all_users(d)] == ["only-me"]
    assert stdout_lines(d)[0] == "demo: http://127.0.0.1:%d/demo" % d.port


def test_seed_demo_from_the_environment_and_restart_does_not_reseed(make_cameo):
    d = make_cameo(env={"CAMEO_SEED_DEMO": "true"})
    assert len(all_users(d)) == 50
    d.restart()
    assert len(all_users(d)) == 50
    assert "added" not in "".join(stdout_lines(d))


def test_seed_demo_bad_value_is_exit_2(cameo_bin, tmp_path):
    r = subprocess.run([str(cameo_bin), "serve", "--data", str(tmp_path), "--seed-demo=maybe"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--seed-demo" in r.stderr, r.stderr
    r = subprocess.run([str(cameo_bin), "serve", "--data", str(tmp_path)], capture_output=True, text=True,
                       timeout=10, env={"CAMEO_SEED_DEMO": "2", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "CAMEO_SEED_DEMO" in r.stderr, r.stderr


def test_without_the_flag_nothing_is_seeded(make_cameo):
    d = make_cameo()
    assert all_users(d) == []
    assert "demo:" not in "".join(stdout_lines(d))
