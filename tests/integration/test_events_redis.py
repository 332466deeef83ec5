"""GET /v1/events across instances: two cameo daemons (A and B) over one
store (the same --data directory) and one real redis-server (--redis).

An event made by a write through one instance travels on the Redis bus, so
a stream on the other instance gets it with the same id, after that
instance has dropped its cached copy; a client may resume on the other
instance with Last-Event-ID; while Redis is away each instance streams only
its own changes, and cross-instance events resume once Redis is back.

The SSE client comes from test_events.py, the redis-server fixture and the
Redis helpers from test_redis.py. Every wait is bounded by a deadline.
"""

import json
import os
import threading
import time

import pytest

from conftest import make_jpeg, make_png, uid
from test_events import EVENT_TIMEOUT, check_event, data_of, open_stream
from test_redis import REDIS_BIN, redis_server, with_redis  # noqa: F401  (redis_server: a fixture)

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_BIN), reason="needs %s" % REDIS_BIN)

SSE_ARGS = ["--sse-keepalive", "200ms"]
QUIET = 0.6  # seconds a stream is watched to show that nothing (more) arrives
REDIS_BACK_TIMEOUT = 10.0  # seconds for both instances to report Redis ok after its restart


# --------------------------------------------------------------------------
# Helpers


class Watch:
    """An open event stream on one instance that keeps every event it read
    (so a test can check, at the end, that no id came twice)."""

    def __init__(self, d, name, **kw):
        self.d = d
        self.name = name
        self.s = open_stream(d, **kw)
        self.seen = []  # every event read, in order
        self.untaken = []  # read by expect() while looking for another user's

    def close(self):
        self.s.close()

    def _next(self, timeout):
        ev = self.s.next_event(timeout)
        self.seen.append(ev)
        return ev

    def _take(self, user):
        """The oldest event about user read but not taken yet, else None."""
        for i, ev in enumerate(self.untaken):
            if ev["event"] != "reset" and data_of(ev).get("user") == user:
                return self.untaken.pop(i)
        return None

    def expect(self, user, count=1, timeout=EVENT_TIMEOUT):
        """The next count events about user, in stream order (events about
        others stay for a later expect)."""
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            ev = self._take(user)
            if ev is not None:
                got.append(ev)
                continue
            left = deadline - time.monotonic()
            try:
                self.untaken.append(self._next(max(0.0, left)))
            except TimeoutError:
                pytest.fail("stream on %s: %d of %d events about %s within %.1fs (got %r; last seen: %r)"
                            % (self.name, len(got), count, user, timeout, got, self.seen[-10:]))
        return got

    def quiet(self, secs=QUIET):
        """Reads for secs; returns the events that arrived meanwhile (and
        those read earlier that no expect() took)."""
        deadline = time.monotonic() + secs
        got, self.untaken = self.untaken, []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self._next(left))
            except TimeoutError:
                return got

    def about(self, user):
        return [e for e in self.seen if e["data"] and data_of(e).get("user") == user]

    def assert_unique(self):
        ids = [e["id"] for e in self.seen if e["event"] != "reset"]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        assert not dups, "stream on %s delivered these ids more than once: %r" % (self.name, dups)


class Client:
    """Requests to the instances, each status kept: none may be a 5xx."""

    def __init__(self):
        self.statuses = []

    def req(self, d, method, path, body=None, admin=False):
        st, h, b = (d.admin if admin else d.req)(method, path, body=body)
        self.statuses.append((d.workdir.name, method, path, st))
        assert st < 500, "%s %s on %s -> %d %r" % (method, path, d.workdir.name, st, b[:300])
        return st, h, b

    def put(self, d, user, doc):
        st, _, b = self.req(d, "PUT", "/v1/users/" + user, body=doc, admin=True)
        assert st in (200, 201), (st, b[:300])
        return json.loads(b)

    def delete(self, d, user):
        st, _, b = self.req(d, "DELETE", "/v1/users/" + user, admin=True)
        assert st == 204, (st, b[:300])

    def put_avatar(self, d, user, data):
        st, _, b = self.req(d, "PUT", "/v1/users/%s/avatar" % user, body=data, admin=True)
        assert st == 201, (st, b[:300])
        return json.loads(b)

    def get(self, d, user):
        st, h, b = self.req(d, "GET", "/v1/users/" + user)
        assert st in (200, 404), (st, b[:300])
        return st, (json.loads(b) if st == 200 else None)

    def redis_status(self, d):
        st, _, b = self.req(d, "GET", "/readyz")
        assert st == 200, (st, b[:300])  # Redis away degrades, never unready
        return json.loads(b)["tiers"]["redis"]

    def no_5xx(self):
        bad = [s for s in self.statuses if s[3] >= 500]
        assert not bad, bad


def wait_redis(client, instances, want_ok, timeout):
    """Polls /readyz of every instance until tiers.redis.status is "ok"
    (want_ok) or is not; fails the test past the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        states = {d.workdir.name: client.redis_status(d) for d in instances}
        if all((t["status"] == "ok") == want_ok for t in states.values()):
            return states
        if time.monotonic() > deadline:
            pytest.fail("after %.1fs, /readyz tiers.redis is not %s on every instance: %r"
                        % (timeout, "ok" if want_ok else "down", states))
        time.sleep(0.05)


@pytest.fixture
def pair(redis_server, make_cameo, tmp_path):  # noqa: F811
    """A and B: one store, one Redis, both connected (/readyz redis ok)."""
    shared = tmp_path / "shared-data"
    a = with_redis(make_cameo, redis_server.url(), data=shared, extra=SSE_ARGS, name="a")
    b = with_redis(make_cameo, redis_server.url(), data=shared, extra=SSE_ARGS, name="b")
    return a, b


@pytest.fixture
def watches():
    """Factory of Watch streams, all closed at teardown (before the daemons stop)."""
    made = []

    def factory(d, name, **kw):
        w = Watch(d, name, **kw)
        made.append(w)
        return w

    yield factory
    for w in made:
        w.close()


# --------------------------------------------------------------------------
# 1. Events of writes through A reach B's streams, with the same ids


def test_events_of_writes_through_a_reach_b_with_the_same_ids(pair, watches):
    a, b = pair
    c = Client()
    sa, sb = watches(a, "A"), watches(b, "B")
    u = uid("x")

    c.put(a, u, {"name": "Ada"})
    version = c.put_avatar(a, u, make_png(2, 1, (1, 2, 3, 255)))["version"]
    c.put(a, u, {"name": "Ada L."})
    st, _, body = c.req(a, "DELETE", "/v1/users/%s/avatar" % u, admin=True)
    assert st == 204, (st, body)
    c.delete(a, u)
    types = ["profile.updated", "avatar.updated", "profile.updated", "avatar.deleted", "profile.deleted"]

    on_a, on_b = sa.expect(u, 5), sb.expect(u, 5)
    for evs in (on_a, on_b):
        for ev, t in zip(evs, types):
            check_event(ev, t, u)
        assert data_of(evs[1])["version"] == version, (evs[1], version)
        assert data_of(evs[3])["version"] is None, evs[3]
    # the very same events: same ids (made by A), same JSON, same order
    assert [e["id"] for e in on_b] == [e["id"] for e in on_a]
    assert [data_of(e) for e in on_b] == [data_of(e) for e in on_a]
    assert len({e["id"] for e in on_a}) == 5, on_a

    # the other way round: a write through B reaches A's stream
    v = uid("y")
    c.put(b, v, {"name": "from B"})
    eb, ea = sb.expect(v)[0], sa.expect(v)[0]
    check_event(ea, "profile.updated", v)
    assert ea["id"] == eb["id"] and data_of(ea) == data_of(eb)

    # nothing more: no echo, no second copy
    for w in (sa, sb):
        extra = w.quiet()
        assert not extra, "stream on %s got more events: %r" % (w.name, extra)
        w.assert_unique()
    c.no_5xx()


def test_invalidate_through_a_is_announced_on_b_with_the_same_ids(pair, watches):
    a, b = pair
    c = Client()
    sa, sb = watches(a, "A"), watches(b, "B")
    u = uid("inv")
    c.put(a, u, {"name": "Ada"})
    for w in (sa, sb):
        w.expect(u)
    assert c.get(b, u)[1]["name"] == "Ada"  # B holds u (and Redis does)
    st, _, body = c.req(a, "POST", "/v1/invalidate", body={"ids": [u]}, admin=True)
    assert st == 200, (st, body)
    ea, eb = sa.expect(u)[0], sb.expect(u)[0]
    check_event(ea, "profile.updated", u)
    assert eb["id"] == ea["id"] and data_of(eb) == data_of(ea)
    for w in (sa, sb):
        assert not w.quiet(), "one event per invalidated id"
    c.no_5xx()


# --------------------------------------------------------------------------
# 2. When B announces a change, B already serves it


def test_b_serves_the_new_data_as_soon_as_it_announces_the_change(pair, watches):
    a, b = pair
    c = Client()
    sb = watches(b, "B")
    u = uid("fresh")
    c.put(a, u, {"n": -1})
    sb.expect(u)
    assert c.get(b, u)[1]["n"] == -1  # B holds u in memory (and fills Redis)

    stale = []
    avatars = 0
    for i in range(50):
        if i % 10 == 9:  # now and then an avatar: the event carries the version
            version = c.put_avatar(a, u, make_jpeg(b"%d" % i))["version"]
            ev = sb.expect(u)[0]
            check_event(ev, "avatar.updated", u)
            assert data_of(ev)["version"] == version
            st, doc = c.get(b, u)  # at once, from B
            if st != 200 or (doc.get("avatar") or {}).get("version") != version:
                stale.append((i, "avatar", version, doc))
            avatars += 1
        else:
            c.put(a, u, {"n": i})
            ev = sb.expect(u)[0]
            check_event(ev, "profile.updated", u)
            st, doc = c.get(b, u)  # at once, from B
            if st != 200 or doc.get("n") != i:
                stale.append((i, "profile", i, doc))
    assert avatars == 5
    assert not stale, "B served stale data right after announcing the change (%d of 50): %r" % (
        len(stale), stale[:10])

    c.delete(a, u)
    check_event(sb.expect(u)[0], "profile.deleted", u)
    st, doc = c.get(b, u)
    assert st == 404, "B announced profile.deleted but still serves %r" % (doc,)
    sb.assert_unique()
    c.no_5xx()


# --------------------------------------------------------------------------
# 3. Resume on B with an id from A's stream


def test_resume_on_b_with_last_event_id_from_a(pair, watches):
    a, b = pair
    c = Client()
    observer = watches(b, "B (observer)")  # shows when B has heard the events
    u = uid("res")
    sa = watches(a, "A")
    c.put(a, u, {"v": 1})
    e1 = check_event(sa.expect(u)[0], "profile.updated", u)
    sa.close()  # the client goes away ...
    c.put(a, u, {"v": 2})  # ... and misses two writes
    c.delete(a, u)
    heard = observer.expect(u, 3)
    assert [e["id"] for e in heard][0] == e1["id"]
    missed = heard[1:]

    # ... and comes back on B
    sb = watches(b, "B (resumed)", headers={"Last-Event-ID": e1["id"]})
    got = [sb._next(EVENT_TIMEOUT), sb._next(EVENT_TIMEOUT)]
    assert got[0]["event"] != "reset", "B did not hold %s (A's event it heard on the bus): %r" % (e1["id"], got)
    check_event(got[0], "profile.updated", u)
    check_event(got[1], "profile.deleted", u)
    assert [e["id"] for e in got] == [e["id"] for e in missed]
    assert data_of(got[0])["at"] <= data_of(got[1])["at"]
    extra = sb.quiet()
    assert not extra, "after the two missed events, B's resumed stream sent %r" % extra

    # the same resume on A replays the same two events
    ra = watches(a, "A (resumed)", path="/v1/events?last_event_id=" + e1["id"])
    again = [ra._next(EVENT_TIMEOUT), ra._next(EVENT_TIMEOUT)]
    assert [e["id"] for e in again] == [e["id"] for e in got]

    # the resumed stream on B goes on live
    w = uid("res")
    c.put(a, w, {"v": 3})
    check_event(sb.expect(w)[0], "profile.updated", w)
    for s in (observer, sb, ra):
        s.assert_unique()
    c.no_5xx()


# --------------------------------------------------------------------------
# 4. Redis killed, then back


def test_redis_killed_local_events_only_then_events_resume(pair, watches, redis_server):  # noqa: F811
    a, b = pair
    c = Client()
    sa, sb = watches(a, "A"), watches(b, "B")
    u0 = uid("before")
    c.put(a, u0, {"v": 0})
    before = sb.expect(u0)[0]
    assert sa.expect(u0)[0]["id"] == before["id"]

    redis_server.kill()
    # at once (the instances may not have noticed yet), then once they have
    u1 = uid("down")
    c.put(a, u1, {"v": 1})
    check_event(sa.expect(u1)[0], "profile.updated", u1)
    states = wait_redis(c, (a, b), want_ok=False, timeout=5.0)
    assert all(t["status"] == "degraded" for t in states.values()), states
    u2, u3 = uid("down"), uid("down")
    c.put(a, u2, {"v": 2})
    c.put(b, u3, {"v": 3})
    down_event = check_event(sa.expect(u2)[0], "profile.updated", u2)  # A's own write: on A's stream
    check_event(sb.expect(u3)[0], "profile.updated", u3)  # B's own write: on B's stream
    # every instance keeps serving while Redis is away (shared store)
    for d in (a, b):
        for u in (u1, u2, u3):
            assert c.get(d, u)[0] == 200
    sa.quiet()
    sb.quiet()
    # events made while Redis is away are not carried to the other instance
    assert not sb.about(u1) and not sb.about(u2), "B got A's events made while Redis was away: %r" % (
        sb.about(u1) + sb.about(u2))
    assert not sa.about(u3), "A got B's event made while Redis was away: %r" % sa.about(u3)

    redis_server.restart()  # same port, empty
    wait_redis(c, (a, b), want_ok=True, timeout=REDIS_BACK_TIMEOUT)
    u4, u5 = uid("back"), uid("back")
    c.put(a, u4, {"v": 4})
    on_b = check_event(sb.expect(u4)[0], "profile.updated", u4)
    assert check_event(sa.expect(u4)[0], "profile.updated", u4)["id"] == on_b["id"]
    c.put(b, u5, {"v": 5})
    on_a = check_event(sa.expect(u5)[0], "profile.updated", u5)
    assert check_event(sb.expect(u5)[0], "profile.updated", u5)["id"] == on_a["id"]
    for d in (a, b):
        assert c.get(d, u4)[1]["v"] == 4 and c.get(d, u5)[1]["v"] == 5
    # Back on the bus, each instance told its open streams that changes made
    # elsewhere during the outage may be missing (before any later event).
    for w in (sa, sb):
        assert any(e["event"] == "reset" and data_of(e) == {"reason": "bus"} for e in w.seen), (w.name, w.seen)

    # B never held A's event of the outage: a resume on B from it is a reset
    rb = watches(b, "B (resumed from the outage)", headers={"Last-Event-ID": down_event["id"]})
    first = rb._next(EVENT_TIMEOUT)
    assert first["event"] == "reset" and data_of(first) == {"reason": "backlog"}, first

    sa.quiet()
    sb.quiet()
    # the outage's events were not sent later either, and nothing came twice
    assert not sb.about(u1) and not sb.about(u2), sb.about(u1) + sb.about(u2)
    assert not sa.about(u3), sa.about(u3)
    for w in (sa, sb):
        w.assert_unique()
        unknown = [e for e in w.seen if e["event"] not in ("profile.updated", "reset")]
        assert not unknown, (w.name, unknown)
    c.no_5xx()


# --------------------------------------------------------------------------
# 5. Each event once per stream


def test_each_event_once_per_stream_under_a_burst_from_both_instances(pair, watches):
    a, b = pair
    c = Client()
    streams = [watches(a, "A1"), watches(a, "A2"), watches(b, "B1"), watches(b, "B2")]
    ua, ub = uid("burst-a"), uid("burst-b")
    ca, cb = a.conn(), b.conn()  # keep-alive connections: a quick burst
    try:
        for i in range(20):
            for d, conn, u in ((a, ca, ua), (b, cb, ub)):
                st, _, body = d.admin("PUT", "/v1/users/" + u, body={"i": i}, conn=conn)
                c.statuses.append((d.workdir.name, "PUT", u, st))
                assert st in (200, 201), (st, body)
    finally:
        ca.close()
        cb.close()
    order = {}
    for s in streams:
        for u in (ua, ub):
            evs = s.expect(u, 20)
            order.setdefault(u, []).append([e["id"] for e in evs])
            assert [data_of(e)["user"] for e in evs] == [u] * 20
    for w in streams:
        extra = w.quiet(QUIET / 2)
        assert not extra, "stream on %s got more than the 40 events: %r" % (w.name, extra[:5])
        w.assert_unique()
        assert len(w.seen) == 40, (w.name, len(w.seen))
    # one instance's events arrive in the order they were made, on every stream
    for u, per_stream in order.items():
        assert all(ids == per_stream[0] for ids in per_stream), (u, per_stream)
        assert len(set(per_stream[0])) == 20
    # A skipped its own echoes on the bus (it did not take them as B's)
    detail = c.redis_status(a)["detail"]
    assert "own events skipped" in detail, detail
    c.no_5xx()


def test_resume_on_b_during_a_burst_replays_then_goes_live_without_a_gap_or_a_repeat(pair, watches):
    """The hand-over from B's backlog (resume) to live events while A keeps
    writing: each event once, in A's order, none missing."""
    a, b = pair
    c = Client()
    observer = watches(b, "B (observer)")
    u = uid("hand")
    c.put(a, u, {"i": -1})
    e1 = observer.expect(u)[0]
    errors = []

    def burst():
        conn = a.conn()
        try:
            for i in range(30):
                st, _, body = a.admin("PUT", "/v1/users/" + u, body={"i": i}, conn=conn)
                c.statuses.append((a.workdir.name, "PUT", u, st))
                if st != 200:
                    errors.append((i, st, body[:200]))
        except Exception as e:  # reported by the test thread
            errors.append(repr(e))
        finally:
            conn.close()

    t = threading.Thread(target=burst)
    t.start()
    try:
        time.sleep(0.02)  # setup, not a timing assert: let some writes land before the resume
        sb = watches(b, "B (resumed)", headers={"Last-Event-ID": e1["id"]})
        got = sb.expect(u, 30)
    finally:
        t.join(timeout=30)
    assert not t.is_alive()
    assert not errors, errors
    want = [e["id"] for e in observer.expect(u, 30)]
    ids = [e["id"] for e in got]
    assert ids == want, "resumed stream on B: %d events, %d repeated, %d missing" % (
        len(ids), len(ids) - len(set(ids)), len(set(want) - set(ids)))
    assert [data_of(e)["user"] for e in got] == [u] * 30
    extra = sb.quiet()
    assert not extra, extra
    assert not [e for e in sb.seen if e["event"] == "reset"], sb.seen[:3]
    sb.assert_unique()
    observer.assert_unique()
    c.no_5xx()
