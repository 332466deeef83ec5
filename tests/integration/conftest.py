"""Shared fixtures and helpers for cameo's black-box integration tests.

Every test talks to the real `cameo` daemon over HTTP on 127.0.0.1. The binary
comes from $CAMEO_BIN (set by CTest), else build/cameo under the repo root.

Fixtures:
  cameo        a daemon shared by every test of one module (fresh data dir);
               tests use unique ids (uid()) so they do not see each other.
  make_cameo   factory for daemons private to one test (restart, kill -9,
               special flags); each is stopped at teardown, asserting exit 0.
  cameo_bin    path of the binary.

Helpers: Cameo.req()/json()/put_user()/..., Metrics (Prometheus text parser),
raw HTTP over sockets (raw_exchange, read_response), image makers
(make_png, make_jpeg, make_gif, make_webp), uid(), assert_error().
"""

import http.client
import itertools
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOKEN = "itest-admin-token-0123456789abcdef"
START_TIMEOUT = 10.0  # seconds for /healthz to answer 200
STOP_TIMEOUT = 5.0  # seconds for SIGTERM to end the process
REQ_TIMEOUT = 15.0  # per HTTP request (sanitizer builds are slow)
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


def cameo_binary():
    env = os.environ.get("CAMEO_BIN")
    return Path(env) if env else REPO_ROOT / "build" / "cameo"


def wait_until(fn, timeout=5.0, what="condition", interval=0.02):
    """Polls fn() until it returns a truthy value (returned) or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, v))
        time.sleep(interval)


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_uid_counter = itertools.count(1)


def uid(prefix="u"):
    """A fresh, valid user id ([A-Za-z0-9._-]), unique within this process."""
    return "%s-%d-%d" % (prefix, os.getpid(), next(_uid_counter))


def clean_env(extra=None):
    """The process environment without any CAMEO_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMEO_")}
    if extra:
        env.update(extra)
    return env


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# Images: the daemon only checks magic bytes, so anything after them is free.


def make_png(w=1, h=1, rgba=(255, 0, 0, 255)):
    """A real, minimal RGBA PNG."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + bytes(rgba) * w for _ in range(h))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_jpeg(tag=b"x"):
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + tag + b"\xff\xd9"


def make_gif(tag=b"x", version=b"89a"):
    return b"GIF" + version + b"\x01\x00\x01\x00\x80\x00\x00" + tag + b"\x3b"


def make_webp(tag=b"x"):
    payload = b"WEBP" + b"VP8L" + struct.pack("<I", len(tag)) + tag
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def padded(magic, size):
    """Exactly size bytes starting with magic (for size-limit tests)."""
    assert size >= len(magic)
    return magic + b"\x00" * (size - len(magic))


# --------------------------------------------------------------------------
# Prometheus text parsing.

_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    return v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


class Metrics:
    """A parsed /metrics scrape: {(name, frozenset(labels)): value}."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _METRIC_LINE.match(line)
            if not m:
                raise AssertionError("unparsable metrics line: %r" % line)
            name, labels_s, value = m.group(1), m.group(2) or "", m.group(3)
            labels = {}
            pos = 0
            while pos < len(labels_s):
                lm = _LABEL.match(labels_s, pos)
                if not lm:
                    if labels_s[pos:].strip(" ,") == "":
                        break
                    raise AssertionError("unparsable labels in metrics line: %r" % line)
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
            self.samples[(name, frozenset(labels.items()))] = float(value)

    def series(self, name):
        """[(labels dict, value)] of every sample named name."""
        return [(dict(lbls), v) for (n, lbls), v in self.samples.items() if n == name]

    def has(self, name, **labels):
        want = set(labels.items())
        return any(n == name and want <= set(lbls) for (n, lbls) in self.samples)

    def get(self, name, **labels):
        """Sum of the samples named name whose labels include labels (0 if none)."""
        want = set(labels.items())
        return sum(v for (n, lbls), v in self.samples.items() if n == name and want <= set(lbls))


# --------------------------------------------------------------------------
# Raw HTTP over a socket (pipelining, oversized headers, chunked bodies).


def read_response(f, method="GET"):
    """Reads one HTTP/1.1 response from the binary file f.
    Returns (status, headers dict lowercased, body bytes)."""
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed before a status line")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert parts[0].startswith("HTTP/1."), "bad status line %r" % line
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        k, v = k.strip().lower(), v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int(f.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
        return status, headers, body
    if "content-length" in headers:
        n = int(headers["content-length"])
        body = f.read(n)
        assert len(body) == n, "short body: %d of %d bytes" % (len(body), n)
        return status, headers, body
    return status, headers, f.read()


def raw_exchange(port, data, methods=("GET",), timeout=REQ_TIMEOUT):
    """Sends data (bytes) in one write on a new connection and reads one
    response per entry of methods. Returns the list of responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        f = s.makefile("rb")
        try:
            return [read_response(f, m) for m in methods]
        finally:
            f.close()


# --------------------------------------------------------------------------
# The daemon.


def assert_error(resp, status, code):
    """resp = (status, headers, body): a JSON error with that status and code."""
    st, hdrs, body = resp
    assert st == status, "expected %d %s, got %d: %r" % (status, code, st, body[:300])
    assert hdrs.get("content-type", "").split(";")[0].strip().lower() == "application/json", hdrs
    doc = json.loads(body)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
    assert doc["error"].get("code") == code, doc
    assert isinstance(doc["error"].get("message"), str) and doc["error"]["message"], doc
    return doc


class Cameo:
    """One cameo daemon process over a data dir that survives restarts."""

    DEFAULT_FLAGS = ("listen", "data", "workers", "admin-token", "log-level")

    def __init__(self, workdir, binary=None, token=DEFAULT_TOKEN, args=(), env=None, flags=DEFAULT_FLAGS,
                 port=None, preexec=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = Path(binary) if binary else cameo_binary()
        self.data_dir = self.workdir / "data"
        self.token = token
        self.args = list(args)
        self.env = dict(env or {})
        self.flags = tuple(flags)
        self.fixed_port = port
        self.preexec = preexec  # run in the child before exec (e.g. resource limits)
        self.port = None
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.out_path = None

    # -- process control ---------------------------------------------------

    def argv(self):
        a = [str(self.binary), "serve"]
        if "listen" in self.flags:
            a += ["--listen", "127.0.0.1:%d" % self.port]
        if "data" in self.flags:
            a += ["--data", str(self.data_dir)]
        if "workers" in self.flags:
            a += ["--workers", "2"]
        if "admin-token" in self.flags and self.token is not None:
            a += ["--admin-token", self.token]
        if "log-level" in self.flags:
            a += ["--log-level", "debug"]
        return a + self.args

    def start(self, timeout=START_TIMEOUT):
        if not self.binary.exists():
            pytest.fail("cameo binary not found at %s (build it or set CAMEO_BIN)" % self.binary)
        assert self.proc is None, "already running"
        for attempt in range(3):
            self.port = self.fixed_port or free_port()
            self.starts += 1
            self.log_path = self.workdir / ("cameo-%d.stderr.log" % self.starts)
            self.out_path = self.workdir / ("cameo-%d.stdout.log" % self.starts)
            with open(self.log_path, "wb") as err, open(self.out_path, "wb") as out:
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                             env=clean_env(self.env), cwd=str(self.workdir),
                                             preexec_fn=self.preexec)
            ok, why = self._wait_healthy(timeout)
            if ok:
                return self
            log = self.log()
            exited = self.proc.poll() is not None
            if not exited:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None
            if exited and self.fixed_port is None and re.search(r"in use|EADDRINUSE", log, re.I) and attempt < 2:
                continue  # lost a race for the free port: try another
            pytest.fail("cameo did not come up (%s); argv=%s\n--- stderr tail ---\n%s\n--- stdout tail ---\n%s"
                        % (why, self.argv(), tail(log), tail(self.stdout())))
        raise AssertionError("unreachable")

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, "exited with code %d" % rc
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
                try:
                    conn.request("GET", "/healthz")
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        return True, ""
                    last = "healthz answered %d" % r.status
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                last = "healthz: %r" % (e,)
            time.sleep(0.05)
        return False, "no 200 from /healthz within %.0fs, last: %s" % (timeout, last)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect_code=0):
        """Sends sig, waits up to timeout seconds; fails unless the exit code
        is expect_code and stderr holds no sanitizer report."""
        assert self.proc is not None, "not running"
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        t0 = time.monotonic()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            pytest.fail("cameo did not exit within %.1fs of %s\n%s" % (timeout, signal.Signals(sig).name,
                                                                     tail(self.log())))
        elapsed = time.monotonic() - t0
        log = self.log()
        for marker in SANITIZER_MARKERS:
            at = log.find(marker)
            if at >= 0:
                report = log[log.rfind("\n", 0, max(0, log.rfind("=====", 0, at))) + 1:]
                pytest.fail("sanitizer report in cameo's stderr (exit code %s):\n%s"
                            % (rc, "\n".join(report.splitlines()[:120])))
        assert rc == expect_code, "cameo exited with %d (expected %d) after %s\n%s" % (
            rc, expect_code, signal.Signals(sig).name, tail(log))
        return elapsed

    def kill9(self):
        assert self.proc is not None, "not running"
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait(timeout=5)
        assert proc.returncode == -signal.SIGKILL, proc.returncode

    def restart(self, **changes):
        """Stops (SIGTERM, exit 0 asserted) if running, applies changes to
        attributes (args, env, token, flags), starts on the same data dir."""
        if self.running():
            self.stop()
        self.proc = None
        for k, v in changes.items():
            setattr(self, k, v)
        return self.start()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def stdout(self):
        try:
            return self.out_path.read_text(errors="replace") if self.out_path else ""
        except FileNotFoundError:
            return ""

    @staticmethod
    def _wait(read, pattern, timeout):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(read())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def wait_stdout(self, pattern, timeout=5.0):
        """Polls stdout until the regex pattern matches a line (the daemon
        prints after it starts answering); returns the match."""
        return self._wait(self.stdout, pattern, timeout)

    def wait_log(self, pattern, timeout=5.0):
        """Polls stderr until the regex pattern matches a line; returns the match."""
        return self._wait(self.log, pattern, timeout)

    # -- HTTP ----------------------------------------------------------------

    def conn(self, timeout=REQ_TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def req(self, method, path, body=None, headers=None, token=None, conn=None):
        """One request over a fresh connection (or conn). body: bytes, str, or
        a dict/list sent as JSON (Content-Type application/json unless given).
        token: sent as 'Authorization: Bearer token'.
        Returns (status, headers dict lowercased, body bytes)."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        own = conn is None
        c = conn or self.conn()
        try:
            try:
                c.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413...) before reading the whole body
            r = c.getresponse()
            data = r.read()
            out = {}
            for k, v in r.getheaders():
                k = k.lower()
                out[k] = out[k] + ", " + v if k in out else v
            return r.status, out, data
        finally:
            if own:
                c.close()

    def admin(self, method, path, body=None, headers=None, conn=None):
        return self.req(method, path, body=body, headers=headers, token=self.token, conn=conn)

    def json(self, method, path, body=None, headers=None, token=None):
        st, h, b = self.req(method, path, body=body, headers=headers, token=token)
        try:
            doc = json.loads(b) if b else None
        except ValueError:
            raise AssertionError("%s %s -> %d, body not JSON: %r" % (method, path, st, b[:300]))
        return st, h, doc

    def put_user(self, user_id, doc, expect=(200, 201)):
        st, h, b = self.admin("PUT", "/v1/users/" + user_id, body=doc)
        assert st in expect, "PUT /v1/users/%s -> %d %r" % (user_id, st, b[:300])
        return json.loads(b)

    def get_user(self, user_id):
        st, h, b = self.req("GET", "/v1/users/" + user_id)
        assert st == 200, "GET /v1/users/%s -> %d %r" % (user_id, st, b[:300])
        return json.loads(b)

    def put_avatar(self, user_id, data):
        st, h, b = self.admin("PUT", "/v1/users/%s/avatar" % user_id, body=data)
        assert st == 201, "PUT avatar of %s -> %d %r" % (user_id, st, b[:300])
        return json.loads(b)

    def metrics(self):
        st, h, b = self.req("GET", "/metrics")
        assert st == 200, (st, b[:300])
        return Metrics(b.decode())

    def metric(self, name, **labels):
        return self.metrics().get(name, **labels)

    def origin_count(self, op):
        return self.metric("cameo_origin_requests_total", origin="local", op=op)

    def wait_metric(self, name, at_least, timeout=5.0, **labels):
        """Polls /metrics until name{labels} >= at_least; returns the value seen."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.metric(name, **labels)
            if v >= at_least or time.monotonic() > deadline:
                return v
            time.sleep(0.02)

    def stats(self):
        st, h, doc = self.json("GET", "/v1/stats")
        assert st == 200, (st, doc)
        return doc


# --------------------------------------------------------------------------
# Fixtures.


@pytest.fixture(scope="session")
def cameo_bin():
    b = cameo_binary()
    if not b.exists():
        pytest.fail("cameo binary not found at %s (build it or set CAMEO_BIN)" % b)
    return b


@pytest.fixture(scope="module")
def cameo(tmp_path_factory, cameo_bin):
    """A daemon shared by the tests of one module."""
    d = Cameo(tmp_path_factory.mktemp("cameo"), binary=cameo_bin)
    d.start()
    yield d
    if d.running():
        d.stop()


@pytest.fixture
def make_cameo(tmp_path, cameo_bin):
    """Factory: make_cameo(args=[...], env={...}, flags=..., start=True)."""
    made = []

    def factory(start=True, name=None, **kw):
        d = Cameo(tmp_path / (name or "d%d" % len(made)), binary=cameo_bin, **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    errors = []
    for d in made:
        if d.running():
            try:
                d.stop()
            except BaseException as e:  # report every daemon, not just the first
                errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors))
