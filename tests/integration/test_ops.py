"""Operations endpoints: /healthz, /readyz, /metrics, /v1/stats."""

import json

from conftest import Metrics, make_png, uid

ROUTES = ("user", "user_avatar", "avatar", "batch", "invalidate", "healthz", "readyz", "metrics", "stats", "other")
ORIGIN_OPS = ("get_profiles", "get_avatar", "put_profile", "delete_profile", "put_avatar", "delete_avatar")


def test_healthz(cameo):
    st, h, b = cameo.req("GET", "/healthz")
    assert st == 200
    assert h["content-type"].split(";")[0].strip() == "application/json"
    assert json.loads(b) == {"status": "ok"}


def test_readyz(cameo):
    st, h, b = cameo.req("GET", "/readyz")
    assert st == 200, (st, b)
    assert h["content-type"].split(";")[0].strip() == "application/json"
    doc = json.loads(b)
    assert doc["status"] == "ready"
    assert doc["tiers"]["memory"]["status"] == "ok"
    assert doc["origin"]["name"] == "local"
    assert doc["origin"]["status"] == "ok"


def test_metrics_format_and_families(cameo):
    # Exercise every route once so each has a series.
    u = uid("m")
    cameo.put_user(u, {"name": "Metric Man"})
    v = cameo.put_avatar(u, make_png(1, 1, (1, 1, 1, 1)))["version"]
    cameo.get_user(u)
    cameo.req("GET", "/v1/users/%s/avatar" % u)
    cameo.req("GET", "/v1/avatars/%s/%s" % (u, v))
    cameo.req("POST", "/v1/users:batch", body={"ids": [u]})
    cameo.req("POST", "/v1/invalidate", body={"ids": [u]}, token=cameo.token)
    cameo.req("GET", "/healthz")
    cameo.req("GET", "/readyz")
    cameo.req("GET", "/v1/stats")
    cameo.req("GET", "/no/such/route")
    cameo.req("GET", "/metrics")

    st, h, b = cameo.req("GET", "/metrics")
    assert st == 200
    ct = h["content-type"].replace(" ", "")
    assert ct.startswith("text/plain") and "version=0.0.4" in ct, ct
    m = Metrics(b.decode())

    for route in ROUTES:
        assert m.has("cameo_requests_total", route=route), route
    assert m.get("cameo_requests_total", route="user", code="200") >= 1
    assert m.get("cameo_requests_total", route="user_avatar", code="302") >= 1
    assert m.get("cameo_requests_total", route="avatar", code="200") >= 1
    assert m.get("cameo_requests_total", route="other", code="404") >= 1
    for lbls, _ in m.series("cameo_requests_total"):
        assert lbls["route"] in ROUTES, lbls
        assert lbls["code"].isdigit() and len(lbls["code"]) == 3, lbls

    assert m.types.get("cameo_requests_total") == "counter"
    assert m.types.get("cameo_request_duration_seconds") == "histogram"
    assert m.types.get("cameo_origin_request_duration_seconds") == "histogram"
    for hist in ("cameo_request_duration_seconds", "cameo_origin_request_duration_seconds"):
        check_histogram(m, hist)

    assert m.has("cameo_tier_hits_total", tier="memory")
    assert m.has("cameo_tier_misses_total", tier="memory")
    assert m.has("cameo_tier_evictions_total", tier="memory")
    assert m.has("cameo_tier_bytes", tier="memory")
    assert m.has("cameo_tier_items", tier="memory")
    assert m.get("cameo_tier_items", tier="memory") >= 1
    assert m.get("cameo_tier_bytes", tier="memory") > 0
    for op in ORIGIN_OPS:
        assert m.has("cameo_origin_requests_total", origin="local", op=op), op
    assert m.has("cameo_coalesced_total")
    assert m.has("cameo_stale_served_total")


def check_histogram(m, name):
    buckets = m.series(name + "_bucket")
    assert buckets, "no %s_bucket series" % name
    groups = {}
    for lbls, v in buckets:
        key = frozenset((k, x) for k, x in lbls.items() if k != "le")
        groups.setdefault(key, []).append((float(lbls["le"]), v))
    for key, pts in groups.items():
        pts.sort()
        assert pts[-1][0] == float("inf"), (name, key)
        values = [v for _, v in pts]
        assert values == sorted(values), (name, key, pts)  # cumulative
        count = m.get(name + "_count", **dict(key))
        assert values[-1] == count, (name, key, values[-1], count)
        assert m.has(name + "_sum", **dict(key)), (name, key)
        assert m.get(name + "_sum", **dict(key)) >= 0
    assert m.get(name + "_count") > 0, name


def test_request_counter_and_duration_count_increase(cameo):
    before = cameo.metrics()
    hz = before.get("cameo_requests_total", route="healthz", code="200")
    dur = before.get("cameo_request_duration_seconds_count")
    for _ in range(3):
        assert cameo.req("GET", "/healthz")[0] == 200
    assert cameo.wait_metric("cameo_requests_total", hz + 3, route="healthz", code="200") == hz + 3
    assert cameo.metric("cameo_request_duration_seconds_count") >= dur + 3


def test_error_codes_are_labelled(cameo):
    before = cameo.metric("cameo_requests_total", route="user", code="404")
    assert cameo.req("GET", "/v1/users/" + uid("nobody"))[0] == 404
    assert cameo.wait_metric("cameo_requests_total", before + 1, route="user", code="404") == before + 1
    before = cameo.metric("cameo_requests_total", route="user", code="400")
    assert cameo.req("GET", "/v1/users/bad@id")[0] == 400
    assert cameo.wait_metric("cameo_requests_total", before + 1, route="user", code="400") == before + 1


def test_tier_hits_and_misses(cameo):
    u = uid("tier")
    cameo.put_user(u, {"name": "Tier"})
    cameo.req("POST", "/v1/invalidate", body={"ids": [u]}, token=cameo.token)
    m0 = cameo.metrics()
    cameo.get_user(u)  # miss, then filled
    m1 = cameo.metrics()
    assert m1.get("cameo_tier_misses_total", tier="memory") > m0.get("cameo_tier_misses_total", tier="memory")
    cameo.get_user(u)  # hit
    m2 = cameo.metrics()
    assert m2.get("cameo_tier_hits_total", tier="memory") > m1.get("cameo_tier_hits_total", tier="memory")


def test_origin_write_ops_counted(cameo):
    u = uid("ops")
    m0 = cameo.metrics()
    cameo.put_user(u, {"name": "Ops"})
    cameo.put_user(u, {"name": "Ops2"})
    assert cameo.admin("DELETE", "/v1/users/" + u)[0] == 204
    m1 = cameo.metrics()

    def d(op):
        return (m1.get("cameo_origin_requests_total", origin="local", op=op)
                - m0.get("cameo_origin_requests_total", origin="local", op=op))

    assert d("put_profile") == 2
    assert d("delete_profile") == 1


def test_stats(cameo):
    u = uid("stats")
    cameo.put_user(u, {"name": "Stats " + "x" * 200})
    cameo.get_user(u)
    s0 = cameo.stats()
    for key in ("requests", "hit_rate", "origin_calls", "origin_calls_avoided", "bytes_served_from_cache",
                "latency_ms"):
        assert key in s0, (key, s0)
    assert isinstance(s0["requests"], int) and s0["requests"] > 0
    for k in ("memory", "overall"):
        x = s0["hit_rate"][k]
        assert isinstance(x, (int, float)) and 0 <= x <= 1, (k, x)
    for k in ("origin_calls", "origin_calls_avoided", "bytes_served_from_cache"):
        assert isinstance(s0[k], int) and s0[k] >= 0, (k, s0[k])
    p50, p99 = s0["latency_ms"]["p50"], s0["latency_ms"]["p99"]
    assert isinstance(p50, (int, float)) and isinstance(p99, (int, float))
    assert 0 <= p50 <= p99

    st, h, body = cameo.req("GET", "/v1/users/" + u)  # a cache hit
    assert st == 200
    s1 = cameo.stats()
    assert s1["requests"] > s0["requests"]
    assert s1["origin_calls_avoided"] > s0["origin_calls_avoided"]
    assert s1["bytes_served_from_cache"] >= s0["bytes_served_from_cache"] + len(body)
    assert s1["origin_calls"] == s0["origin_calls"]
    assert s1["hit_rate"]["memory"] > 0


def test_mem_limit_evicts_and_bounds_bytes(make_cameo):
    limit = 1024 * 1024
    d = make_cameo(args=["--mem-limit", "1MiB"])
    ids = ["ev%04d" % i for i in range(1200)]
    conn = d.conn()
    try:
        for u in ids:
            st, h, b = d.admin("PUT", "/v1/users/" + u, body={"name": u, "pad": "p" * 900}, conn=conn)
            assert st == 201, (u, st, b[:200])
    finally:
        conn.close()
    for chunk in (ids[:1000], ids[1000:]):
        st, h, b = d.req("POST", "/v1/users:batch", body={"ids": chunk})
        assert st == 200
        assert len(json.loads(b)["users"]) == len(chunk)
    m = d.metrics()
    assert m.get("cameo_tier_evictions_total", tier="memory") > 0
    assert 0 < m.get("cameo_tier_bytes", tier="memory") <= limit
    assert 0 < m.get("cameo_tier_items", tier="memory") < len(ids)
    # Evicted or not, every profile still reads correctly.
    for u in ids[:20] + ids[-20:]:
        assert d.get_user(u)["name"] == u
