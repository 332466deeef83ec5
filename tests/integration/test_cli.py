"""Command line, environment configuration, admin token file, logs, signals."""

import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import assert_error, clean_env, free_port, uid

RUN_TIMEOUT = 10


def run(cameo_bin, args, env=None, cwd=None):
    """Runs cameo to completion (killed after RUN_TIMEOUT: a bad flag that
    starts a server fails the test instead of hanging it)."""
    try:
        return subprocess.run([str(cameo_bin)] + args, stdin=subprocess.DEVNULL, capture_output=True,
                              env=clean_env(env), cwd=cwd, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("cameo %s did not exit within %ds" % (" ".join(args), RUN_TIMEOUT))


def test_help(cameo_bin):
    p = run(cameo_bin, ["--help"])
    assert p.returncode == 0, p
    text = (p.stdout + p.stderr).decode()
    assert "serve" in text
    for flag in ("--listen", "--data", "--workers", "--admin-token", "--mem-limit", "--log-level",
                 "--max-avatar-size", "--ttl", "--grace", "--negative-ttl"):
        assert flag in text, flag


def test_version(cameo_bin):
    p = run(cameo_bin, ["version"])
    assert p.returncode == 0, p
    assert p.stdout.decode().strip() == "cameo 0.1.0"


def _bad(cameo_bin, tmp_path, args, name_rx, env=None):
    base = ["serve", "--listen", "127.0.0.1:%d" % free_port(), "--data", str(tmp_path / "data")]
    p = run(cameo_bin, base + args, env=env)
    err = p.stderr.decode()
    assert p.returncode == 2, (args, p.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, (args, err)
    assert re.search(name_rx, lines[0]), (args, lines[0])


@pytest.mark.parametrize("args,name_rx", [
    (["--bogus"], r"--bogus"),
    (["--bogus-flag=1"], r"--bogus-flag"),
    (["--mem-limit", "abc"], r"--mem-limit"),
    (["--mem-limit", "10X"], r"--mem-limit"),
    (["--mem-limit", "-5M"], r"--mem-limit"),
    (["--mem-limit", ""], r"--mem-limit"),
    (["--max-avatar-size", "5Q"], r"--max-avatar-size"),
    (["--workers", "abc"], r"--workers"),
    (["--log-level", "verbose"], r"--log-level"),
    (["--ttl", "5x"], r"--ttl"),
    (["--grace", "soon"], r"--grace"),
    (["--negative-ttl", "abc"], r"--negative-ttl"),
    (["--listen", "127.0.0.1:notaport"], r"--listen"),
    (["--listen", "127.0.0.1:99999"], r"--listen"),
    (["--listen"], r"--listen"),
])
def test_bad_flag_or_value_exits_2_with_one_line(cameo_bin, tmp_path, args, name_rx):
    _bad(cameo_bin, tmp_path, args, name_rx)


def test_users_batch_url_without_users_url_exits_2(cameo_bin, tmp_path):
    _bad(cameo_bin, tmp_path, ["--users-batch-url", "http://127.0.0.1:1/users:batch"], r"--users-batch-url")


@pytest.mark.parametrize("var,value,name_rx", [
    ("CAMEO_MEM_LIMIT", "lots", r"(?i)mem[-_]limit"),
    ("CAMEO_WORKERS", "many", r"(?i)workers"),
    ("CAMEO_TTL", "forever", r"(?i)ttl"),
])
def test_bad_env_value_exits_2(cameo_bin, tmp_path, var, value, name_rx):
    _bad(cameo_bin, tmp_path, [], name_rx, env={var: value})


@pytest.mark.parametrize("size", ["64M", "64MiB", "1G", "1GiB", "512K", "512KiB", "67108864"])
def test_mem_limit_sizes_accepted(make_cameo, size):
    d = make_cameo(args=["--mem-limit", size])
    u = uid()
    d.put_user(u, {"name": "sized"}, expect=(201,))
    assert d.get_user(u)["name"] == "sized"


def test_durations_accepted(make_cameo):
    d = make_cameo(args=["--ttl", "90s", "--grace", "2m", "--negative-ttl", "1500ms", "--max-avatar-size", "1MiB"])
    assert d.req("GET", "/healthz")[0] == 200
    d.restart(args=["--ttl", "1h", "--grace", "1d", "--negative-ttl", "10s"])
    assert d.req("GET", "/readyz")[0] == 200


def test_env_configuration(make_cameo):
    port = free_port()
    d = make_cameo(start=False, flags=(), token="env-token-0123456789", port=port)
    d.env = {"CAMEO_LISTEN": "127.0.0.1:%d" % port, "CAMEO_DATA": str(d.data_dir), "CAMEO_WORKERS": "2",
             "CAMEO_ADMIN_TOKEN": "env-token-0123456789", "CAMEO_LOG_LEVEL": "debug", "CAMEO_MEM_LIMIT": "32MiB",
             "CAMEO_MAX_AVATAR_SIZE": "1K", "CAMEO_NEGATIVE_TTL": "10s", "CAMEO_TTL": "1h", "CAMEO_GRACE": "1m"}
    d.start()
    u = uid("env")
    assert d.req("PUT", "/v1/users/" + u, body={"name": "E"}, token="env-token-0123456789")[0] == 201
    assert_error(d.req("PUT", "/v1/users/" + u, body={"name": "E"}, token="other"), 403, "forbidden")
    # CAMEO_DATA was used.
    assert d.data_dir.is_dir() and any(d.data_dir.iterdir())
    # CAMEO_MAX_AVATAR_SIZE=1K applies.
    assert_error(d.req("PUT", "/v1/users/%s/avatar" % u, body=b"GIF89a" + b"\0" * 1100, token="env-token-0123456789"),
                 413, "too_large")
    # CAMEO_LOG_LEVEL=debug: access log.
    assert d.wait_log(r"method=PUT.*path=/v1/users/%s" % re.escape(u))


def test_flags_override_env(make_cameo):
    env_port, flag_port = free_port(), free_port()
    d = make_cameo(start=False, flags=("data", "workers", "log-level"), port=flag_port)
    d.env = {"CAMEO_LISTEN": "127.0.0.1:%d" % env_port, "CAMEO_ADMIN_TOKEN": "from-env-0123456789"}
    d.args = ["--listen", "127.0.0.1:%d" % flag_port, "--admin-token", "from-flag-0123456789"]
    d.start()
    u = uid("ovr")
    assert d.req("PUT", "/v1/users/" + u, body={"name": "x"}, token="from-flag-0123456789")[0] == 201
    assert d.req("PUT", "/v1/users/" + u, body={"name": "x"}, token="from-env-0123456789")[0] == 403
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", env_port), timeout=2).close()


def test_generated_admin_token_file(make_cameo):
    d = make_cameo(start=False, token=None)
    d.start()
    f = d.data_dir / "admin-token"
    assert f.is_file()
    assert stat.S_IMODE(f.stat().st_mode) == 0o600, oct(f.stat().st_mode)
    token = f.read_text().strip()
    assert len(token) >= 16 and re.fullmatch(r"[\x21-\x7e]+", token), token
    # Printed on startup (just after the listeners open).
    assert d.wait_stdout(re.escape(token)), d.stdout()
    u = uid("gen")
    assert d.req("PUT", "/v1/users/" + u, body={"name": "x"}, token=token)[0] == 201
    assert d.req("PUT", "/v1/users/" + u, body={"name": "x"}, token=token + "x")[0] == 403

    d.restart()
    assert f.read_text().strip() == token
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert d.req("PUT", "/v1/users/" + u, body={"name": "y"}, token=token)[0] == 200


def test_generated_tokens_differ_between_data_dirs(make_cameo):
    d1 = make_cameo(token=None)
    d2 = make_cameo(token=None)
    t1 = (d1.data_dir / "admin-token").read_text().strip()
    t2 = (d2.data_dir / "admin-token").read_text().strip()
    assert t1 != t2


def test_debug_access_log(make_cameo):
    d = make_cameo()
    u = uid("log")
    assert d.req("GET", "/v1/users/" + u)[0] == 404
    line_rx = r"^(?=.*method=GET)(?=.*path=/v1/users/%s)(?=.*status=404)(?=.*level=).*$" % re.escape(u)
    assert d.wait_log(line_rx), d.log()
    for line in d.log().splitlines():
        if line.strip():
            assert "level=" in line, line


def test_sigterm_exits_zero_quickly(make_cameo):
    d = make_cameo()
    t0 = time.monotonic()
    d.stop(sig=signal.SIGTERM)
    assert time.monotonic() - t0 < 5


def test_sigterm_with_idle_keep_alive_connection(make_cameo):
    """An open idle client connection must not hold up shutdown."""
    d = make_cameo()
    conn = d.conn()
    try:
        assert d.req("GET", "/healthz", conn=conn)[0] == 200
        d.stop()
    finally:
        conn.close()


def test_negative_ttl_expires(make_cameo):
    d = make_cameo(args=["--negative-ttl", "200ms"])
    u = uid("negttl")
    base = d.origin_count("get_profiles")
    assert d.req("GET", "/v1/users/" + u)[0] == 404
    first = d.origin_count("get_profiles")
    assert first >= base + 1
    deadline = time.monotonic() + 5
    while d.origin_count("get_profiles") == first and time.monotonic() < deadline:
        assert d.req("GET", "/v1/users/" + u)[0] == 404
        time.sleep(0.05)
    assert d.origin_count("get_profiles") > first, "negative entry never expired"


def test_ttl_expires(make_cameo):
    d = make_cameo(args=["--ttl", "200ms", "--grace", "0s"])
    u = uid("ttl")
    d.put_user(u, {"name": "Short Lived"}, expect=(201,))
    d.req("POST", "/v1/invalidate", body={"ids": [u]}, token=d.token)
    base = d.origin_count("get_profiles")
    assert d.get_user(u)["name"] == "Short Lived"
    first = d.origin_count("get_profiles")
    assert first >= base + 1
    deadline = time.monotonic() + 5
    while d.origin_count("get_profiles") == first and time.monotonic() < deadline:
        assert d.get_user(u)["name"] == "Short Lived"
        time.sleep(0.05)
    assert d.origin_count("get_profiles") > first, "entry never expired"
