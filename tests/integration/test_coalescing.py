"""Request coalescing over HTTP: many concurrent misses, one origin read."""

import concurrent.futures
import json
import socket

from conftest import REQ_TIMEOUT, make_png, read_response, uid

N = 100


def concurrent_gets(d, path, n=N):
    """n GETs of path in flight at once (see burst)."""
    return burst(d, [path] * n)


def burst(d, paths):
    """One GET per path, all in flight at once: a connection per request is
    opened first, then the requests are written back to back (microseconds
    apart, less than one origin read), then every response is read.
    Returns [(status, etag, body)] in the order of paths."""
    socks = [socket.create_connection(("127.0.0.1", d.port), timeout=REQ_TIMEOUT) for _ in paths]
    try:
        for s, path in zip(socks, paths):
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
        results = []

        def read(s):
            f = s.makefile("rb")
            try:
                st, h, b = read_response(f)
                return st, h.get("etag"), b
            finally:
                f.close()

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(read, socks))
        return results
    finally:
        for s in socks:
            s.close()


def test_concurrent_cold_gets_make_one_origin_request(make_cameo):
    d = make_cameo()
    u = uid("hot")
    d.put_user(u, {"name": "Hot Key", "bio": "b" * 500}, expect=(201,))
    d.restart()  # cold cache, same store

    m0 = d.metrics()
    results = concurrent_gets(d, "/v1/users/" + u)
    m1 = d.metrics()

    errors = [r for r in results if r[0] != 200]
    assert not errors, errors[:5]
    bodies = {r[2] for r in results}
    etags = {r[1] for r in results}
    assert len(bodies) == 1 and len(etags) == 1
    assert json.loads(bodies.pop()) == {"name": "Hot Key", "bio": "b" * 500, "id": u, "avatar": None}

    def delta(name, **lbls):
        return m1.get(name, **lbls) - m0.get(name, **lbls)

    assert delta("cameo_origin_requests_total", origin="local", op="get_profiles") == 1
    # Every request but the one that went to the store was a hit or joined it.
    served = delta("cameo_tier_hits_total", tier="memory") + delta("cameo_coalesced_total")
    assert served >= N - 1, (delta("cameo_tier_hits_total", tier="memory"), delta("cameo_coalesced_total"))
    assert d.wait_metric("cameo_requests_total", m0.get("cameo_requests_total", route="user", code="200") + N,
                         route="user", code="200") == m0.get("cameo_requests_total", route="user", code="200") + N


def test_concurrent_gets_of_unknown_user_make_one_origin_request(make_cameo):
    d = make_cameo()
    u = uid("ghost")
    m0 = d.metrics()
    results = concurrent_gets(d, "/v1/users/" + u, n=50)
    m1 = d.metrics()
    assert all(r[0] == 404 for r in results), [r for r in results if r[0] != 404][:5]
    assert (m1.get("cameo_origin_requests_total", origin="local", op="get_profiles")
            - m0.get("cameo_origin_requests_total", origin="local", op="get_profiles")) == 1


def test_concurrent_cold_avatar_gets_make_one_origin_request(make_cameo):
    d = make_cameo()
    u = uid("hotav")
    d.put_user(u, {"name": "Hot Avatar"}, expect=(201,))
    data = make_png(8, 8, (200, 100, 50, 255))
    url = d.put_avatar(u, data)["url"]
    d.restart()
    before = d.origin_count("get_avatar")
    results = concurrent_gets(d, url, n=50)
    assert all(r[0] == 200 and r[2] == data for r in results), [r[:2] for r in results if r[0] != 200][:5]
    assert d.origin_count("get_avatar") - before == 1


def test_coalescing_while_the_origin_is_busy(make_cameo):
    """K distinct unknown ids are requested first, so the store's threads have
    a queue; then N requests for one cold user arrive while its read waits in
    that queue. Distinct keys cost one read each; the hot key must cost one
    in all (fewer reads overall would mean the daemon also batches misses)."""
    d = make_cameo()
    u = uid("busy")
    d.put_user(u, {"name": "Busy"}, expect=(201,))
    d.restart()
    k = 200
    fillers = ["/v1/users/" + uid("filler") for _ in range(k)]
    before = d.origin_count("get_profiles")
    results = burst(d, fillers + ["/v1/users/" + u] * N)
    assert all(r[0] == 404 for r in results[:k])
    hot = results[k:]
    assert all(r[0] == 200 for r in hot), [r[:2] for r in hot if r[0] != 200][:5]
    assert len({r[2] for r in hot}) == 1
    delta = d.origin_count("get_profiles") - before
    assert delta <= k + 1, "hot key read %d times" % (delta - k)


def test_avatar_coalescing_while_the_origin_is_busy(make_cameo):
    d = make_cameo()
    u = uid("busyav")
    d.put_user(u, {"name": "Busy Avatar"}, expect=(201,))
    data = make_png(4, 4, (1, 99, 1, 255))
    url = d.put_avatar(u, data)["url"]
    d.restart()
    k = 200
    fillers = ["/v1/avatars/%s/%016x" % (u, i) for i in range(k)]
    before = d.origin_count("get_avatar")
    results = burst(d, fillers + [url] * N)
    assert all(r[0] == 404 for r in results[:k])
    assert all(r[0] == 200 and r[2] == data for r in results[k:])
    delta = d.origin_count("get_avatar") - before
    assert delta <= k + 1, "hot avatar read %d times" % (delta - k)
