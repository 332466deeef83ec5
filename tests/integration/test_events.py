"""GET /v1/events: change events as server-sent events (text/event-stream).

A small SSE client over a raw socket (chunked transfer decoding, `id:`,
`event:`, `data:` and comment lines); every wait is bounded by a deadline.
"""

import json
import socket
import time

import pytest

from conftest import REQ_TIMEOUT, assert_error, make_png, uid

KEEPALIVE_ARGS = ["--sse-keepalive", "200ms", "--sse-max", "2"]
EVENT_TIMEOUT = 5.0  # seconds for an event to reach a stream


class SSEClient:
    """One GET /v1/events over its own connection."""

    def __init__(self, port, path="/v1/events", headers=None, timeout=REQ_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Accept: text/event-stream"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""  # raw bytes from the socket, not yet decoded
        self.text = b""  # decoded body bytes, not yet parsed into blocks
        self.eof = False  # the final chunk, or the connection closed
        deadline = time.monotonic() + timeout
        head = self._read_until(b"\r\n\r\n", deadline)
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {}
        for h in hdr_lines:
            k, _, v = h.partition(":")
            k, v = k.strip().lower(), v.strip()
            self.headers[k] = self.headers[k] + ", " + v if k in self.headers else v
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.body = b""
        if not self.chunked:  # an error: read the whole body
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill(deadline)
            self.body, self.buf = self.buf[:n], self.buf[n:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- bytes -------------------------------------------------------------

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data in time")
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise EOFError("connection closed")
        self.buf += data

    def _read_until(self, sep, deadline):
        while sep not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _decode_chunk(self, deadline):
        """Moves one chunk's data from buf to text. False after the last chunk."""
        size = int(self._read_until(b"\r\n", deadline).split(b";")[0].strip(), 16)
        if size == 0:
            self._read_until(b"\r\n", deadline)
            self.eof = True
            return False
        while len(self.buf) < size + 2:
            self._fill(deadline)
        assert self.buf[size:size + 2] == b"\r\n", "bad chunk framing: %r" % self.buf[:size + 8]
        self.text += self.buf[:size]
        self.buf = self.buf[size + 2:]
        return True

    # -- blocks --------------------------------------------------------------

    def next_block(self, timeout=EVENT_TIMEOUT):
        """The next block (lines up to a blank line) as a dict: id, event, data
        (joined data lines, or None), retry, comments (list). Raises
        TimeoutError, or EOFError once the stream has ended."""
        assert self.chunked, "not a stream: %d %r" % (self.status, self.body[:200])
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.text:
            if self.eof or not self._decode_chunk(deadline):
                raise EOFError("the stream ended")
        block, _, self.text = self.text.partition(b"\n\n")
        out = {"id": None, "event": None, "data": None, "retry": None, "comments": []}
        data = []
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                out["comments"].append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field in ("id", "event", "retry"):
                out[field] = value
        out["data"] = "\n".join(data) if data else None
        return out

    def next_event(self, timeout=EVENT_TIMEOUT):
        """The next block that is an event (skips comments and retry)."""
        deadline = time.monotonic() + timeout
        while True:
            b = self.next_block(max(0.0, deadline - time.monotonic()))
            if b["event"] is not None or b["data"] is not None:
                return b

    def events_for(self, user, count, timeout=EVENT_TIMEOUT):
        """The next count events about user (events of other users skipped)."""
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            ev = self.next_event(max(0.0, deadline - time.monotonic()))
            if ev["event"] == "reset" or json.loads(ev["data"]).get("user") == user:
                got.append(ev)
        return got

    def wait_end(self, timeout):
        """Reads until the stream ends; returns the blocks seen meanwhile."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            try:
                seen.append(self.next_block(max(0.0, deadline - time.monotonic())))
            except EOFError:
                return seen


def open_stream(d, **kw):
    """A stream that is open (200, preamble read)."""
    s = SSEClient(d.port, **kw)
    assert s.status == 200, (s.status, s.headers, s.body[:300])
    first = s.next_block()
    assert first["retry"] == "2000" and "cameo events" in first["comments"], first
    return s


def data_of(ev):
    doc = json.loads(ev["data"])
    assert isinstance(doc, dict), doc
    return doc


def check_event(ev, etype, user):
    assert ev["event"] == etype, ev
    assert ev["id"], ev
    doc = data_of(ev)
    assert doc["type"] == etype and doc["user"] == user and doc["id"] == ev["id"], (ev, doc)
    assert isinstance(doc["at"], int) and doc["at"] > 0, doc
    return doc


# --------------------------------------------------------------------------
# The endpoint.


def test_stream_headers_and_preamble(cameo):
    with SSEClient(cameo.port) as s:
        assert s.status == 200, (s.status, s.body)
        assert s.headers["content-type"].split(";")[0].strip() == "text/event-stream"
        assert s.headers["cache-control"] == "no-cache"
        assert s.headers["x-accel-buffering"] == "no"
        assert s.chunked, s.headers
        assert "content-length" not in s.headers
        first = s.next_block(timeout=2.0)  # at once, not at the first event
        assert first["retry"] == "2000", first
        assert first["comments"] == ["cameo events"], first


def test_post_is_405(cameo):
    resp = cameo.req("POST", "/v1/events", body={"x": 1})
    assert_error(resp, 405, "method_not_allowed")
    assert resp[1]["allow"] == "GET, HEAD"
    resp = cameo.req("DELETE", "/v1/events")
    assert_error(resp, 405, "method_not_allowed")


def test_head_answers_headers_only(cameo):
    st, h, b = cameo.req("HEAD", "/v1/events")
    assert st == 200 and b == b""
    assert h["content-type"].split(";")[0].strip() == "text/event-stream"
    assert h["cache-control"] == "no-cache"
    # the connection is still usable afterwards
    st, _, _ = cameo.req("GET", "/healthz")
    assert st == 200


# --------------------------------------------------------------------------
# Events of writes.


def test_profile_events(cameo):
    u = uid("ev")
    with open_stream(cameo) as s:
        cameo.put_user(u, {"name": "Ada"})
        check_event(s.events_for(u, 1)[0], "profile.updated", u)
        cameo.put_user(u, {"name": "Ada L."})
        check_event(s.events_for(u, 1)[0], "profile.updated", u)
        st, _, b = cameo.admin("DELETE", "/v1/users/" + u)
        assert st == 204, (st, b)
        check_event(s.events_for(u, 1)[0], "profile.deleted", u)


def test_avatar_events(cameo):
    u = uid("eva")
    with open_stream(cameo) as s:
        cameo.put_user(u, {"name": "Ada"})
        check_event(s.events_for(u, 1)[0], "profile.updated", u)
        v = cameo.put_avatar(u, make_png(2, 1, (9, 8, 7, 255)))["version"]
        doc = check_event(s.events_for(u, 1)[0], "avatar.updated", u)
        assert doc["version"] == v, (doc, v)
        st, _, b = cameo.admin("DELETE", "/v1/users/%s/avatar" % u)
        assert st == 204, (st, b)
        check_event(s.events_for(u, 1)[0], "avatar.deleted", u)


def test_invalidate_announces_profile_updated_per_id(cameo):
    """An app that changed users behind cameo (a user service, mode 2) says so
    with POST /v1/invalidate: open pages must learn, as for a write."""
    u, v, w = uid("inv"), uid("inv"), uid("inv")
    cameo.put_user(u, {"name": "Ada"})
    with open_stream(cameo) as s:
        st, _, body = cameo.admin("POST", "/v1/invalidate", body={"ids": [u, v, u]})
        assert st == 200, (st, body)
        cameo.put_user(w, {"name": "after"})  # a marker: events come in order
        evs = []
        while not evs or data_of(evs[-1])["user"] != w:
            evs.append(s.next_event())
        assert [data_of(e)["user"] for e in evs] == [u, v, w], evs  # duplicates collapse
        check_event(evs[0], "profile.updated", u)
        check_event(evs[1], "profile.updated", v)  # unknown here: still announced


def test_every_stream_gets_each_event_once(cameo):
    """Streams on both workers (--workers 2) see the same events, in order."""
    u = uid("evm")
    streams = [open_stream(cameo) for _ in range(4)]
    try:
        for i in range(5):
            cameo.put_user(u, {"n": i})
        seen = [[e["id"] for e in s.events_for(u, 5)] for s in streams]
        assert len(set(seen[0])) == 5, seen[0]
        assert all(x == seen[0] for x in seen), seen
    finally:
        for s in streams:
            s.close()


def test_new_stream_starts_with_new_events_only(cameo):
    u = uid("evn")
    cameo.put_user(u, {"name": "before"})
    with open_stream(cameo) as s:
        cameo.put_user(u, {"name": "after"})
        ev = s.events_for(u, 1)[0]
        check_event(ev, "profile.updated", u)
        # the write made before the stream opened is not replayed
        with pytest.raises(TimeoutError):
            s.events_for(u, 1, timeout=0.5)


# --------------------------------------------------------------------------
# Resume.


def test_resume_with_last_event_id(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS)
    u = uid("res")
    with open_stream(d) as s:
        d.put_user(u, {"v": 1})
        e1 = check_event(s.events_for(u, 1)[0], "profile.updated", u)
    d.put_user(u, {"v": 2})
    st, _, b = d.admin("DELETE", "/v1/users/" + u)
    assert st == 204, (st, b)
    with open_stream(d, headers={"Last-Event-ID": e1["id"]}) as s:
        got = [s.next_event(), s.next_event()]
        check_event(got[0], "profile.updated", u)
        check_event(got[1], "profile.deleted", u)
        assert data_of(got[0])["at"] <= data_of(got[1])["at"]
        # exactly those two: nothing else follows (keep-alives only)
        with pytest.raises(TimeoutError):
            s.next_event(timeout=0.6)


def test_resume_with_query_parameter(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS)
    u = uid("resq")
    with open_stream(d) as s:
        d.put_user(u, {"v": 1})
        e1 = check_event(s.events_for(u, 1)[0], "profile.updated", u)
    d.put_user(u, {"v": 2})
    with open_stream(d, path="/v1/events?last_event_id=" + e1["id"]) as s:
        ev = s.next_event()
        check_event(ev, "profile.updated", u)
        assert ev["id"] != e1["id"]


@pytest.mark.parametrize("last_id", ["no-such-event", "x" * 200])
def test_unknown_last_event_id_sends_reset(make_cameo, last_id):
    d = make_cameo(args=KEEPALIVE_ARGS)
    u = uid("rst")
    d.put_user(u, {"v": 1})
    with open_stream(d, headers={"Last-Event-ID": last_id}) as s:
        ev = s.next_event()
        assert ev["event"] == "reset", ev
        assert data_of(ev) == {"reason": "backlog"}
        # then it goes on from the newest event
        d.put_user(u, {"v": 2})
        check_event(s.events_for(u, 1)[0], "profile.updated", u)
        with pytest.raises(TimeoutError):
            s.next_event(timeout=0.5)


def test_evicted_last_event_id_sends_reset(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS + ["--events-backlog", "2"])
    u = uid("evi")
    with open_stream(d) as s:
        d.put_user(u, {"v": 1})
        e1 = check_event(s.events_for(u, 1)[0], "profile.updated", u)
    for i in range(3):  # pushes e1 out of a backlog of 2
        d.put_user(u, {"v": 2 + i})
    with open_stream(d, headers={"Last-Event-ID": e1["id"]}) as s:
        ev = s.next_event()
        assert ev["event"] == "reset", ev
        assert data_of(ev) == {"reason": "backlog"}
        d.put_user(u, {"v": 9})
        check_event(s.events_for(u, 1)[0], "profile.updated", u)


# --------------------------------------------------------------------------
# Keep-alive, cap, metrics, shutdown.


def test_keepalive_comment_on_idle_stream(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS)
    with open_stream(d) as s:
        t0 = time.monotonic()
        stamps = []
        deadline = t0 + 3.0
        while len(stamps) < 3:
            b = s.next_block(timeout=max(0.0, deadline - time.monotonic()))
            assert b["event"] is None and b["data"] is None, b
            if "keep-alive" in b["comments"]:
                stamps.append(time.monotonic())
        # every 200 ms of silence, give or take the timer and a slow build
        assert stamps[0] - t0 < 1.5, stamps[0] - t0
        assert stamps[2] - stamps[0] < 2.0, stamps


def test_cap_then_release(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS)
    a, b = open_stream(d), open_stream(d)
    try:
        assert d.metric("cameo_sse_subscribers") == 2
        with SSEClient(d.port) as c:
            assert c.status == 503, (c.status, c.headers)
            assert c.headers.get("retry-after") == "5", c.headers
            assert_error((c.status, c.headers, c.body), 503, "unavailable")
        # HEAD takes no place
        st, _, _ = d.req("HEAD", "/v1/events")
        assert st == 200
        a.close()
        # the place comes back once the server notices the close (its next
        # write to that stream: a keep-alive, every 200 ms)
        deadline = time.monotonic() + 5.0
        while True:
            c = SSEClient(d.port)
            if c.status == 200:
                break
            c.close()
            assert c.status == 503, c.status
            assert time.monotonic() < deadline, "no place freed within 5 s of a close"
            time.sleep(0.05)
        with c:
            assert c.next_block()["retry"] == "2000"
            assert d.metric("cameo_sse_subscribers") == 2
        deadline = time.monotonic() + 5.0
        while d.metric("cameo_sse_subscribers") != 1:
            assert time.monotonic() < deadline, "subscriber gauge stuck"
            time.sleep(0.05)
        m = d.metrics()
        assert m.get("cameo_requests_total", route="events", code="200") >= 3
        assert m.get("cameo_requests_total", route="events", code="503") >= 1
    finally:
        a.close()
        b.close()


def test_sigterm_with_open_streams_exits_promptly(make_cameo):
    d = make_cameo(args=KEEPALIVE_ARGS)
    u = uid("term")
    a, b = open_stream(d), open_stream(d)
    try:
        d.put_user(u, {"v": 1})
        a.events_for(u, 1)
        b.events_for(u, 1)
        elapsed = d.stop()  # SIGTERM; asserts exit 0 and no sanitizer report
        assert elapsed < 3.0, "shutdown took %.2f s with open streams" % elapsed
        for s in (a, b):  # each stream was ended (final chunk or close)
            s.wait_end(timeout=2.0)
            assert s.eof
    finally:
        a.close()
        b.close()


def test_sigterm_with_unread_stream_exits_promptly(make_cameo):
    """A client that stopped reading (tens of KiB queued unread on the
    connection) does not hold the shutdown up."""
    d = make_cameo(args=["--sse-keepalive", "1ms"])
    s = SSEClient(d.port, rcvbuf=4096)
    try:
        assert s.status == 200
        time.sleep(1.5)  # keep-alives (14 bytes every ms) pile up unread
        elapsed = d.stop()
        assert elapsed < 3.0, "shutdown took %.2f s with an unread stream" % elapsed
    finally:
        s.close()
