"""POST /v1/users:batch and POST /v1/invalidate."""

import json

from conftest import assert_error, make_png, uid

BATCH = "/v1/users:batch"


def batch(cameo, ids, **kw):
    st, h, b = cameo.req("POST", BATCH, body={"ids": ids}, **kw)
    assert st == 200, (st, b[:300])
    assert h["content-type"].split(";")[0].strip() == "application/json"
    doc = json.loads(b)
    assert set(doc) >= {"users", "missing"}, doc
    assert isinstance(doc["users"], dict) and isinstance(doc["missing"], list)
    return doc


def test_batch_returns_profiles_and_missing_in_order(cameo):
    a, b, c = uid("b"), uid("b"), uid("b")
    pa = cameo.put_user(a, {"name": "Alpha"})
    pb = cameo.put_user(b, {"name": "Beta", "x": [1, 2]})
    cameo.put_user(c, {"name": "Gamma"})
    pc = dict(cameo.get_user(c), avatar=None)
    v = cameo.put_avatar(c, make_png(1, 1, (7, 7, 7, 255)))["version"]
    pc["avatar"] = {"version": v, "url": "/v1/avatars/%s/%s" % (c, v)}
    m3, m1, m2 = uid("miss"), uid("miss"), uid("miss")
    doc = batch(cameo, [m3, a, m1, b, c, m2])  # public: no token
    assert doc["users"] == {a: pa, b: pb, c: pc}
    assert doc["users"][c] == cameo.get_user(c)
    assert doc["missing"] == [m3, m1, m2]


def test_batch_duplicates_collapsed(cameo):
    a = uid("b")
    pa = cameo.put_user(a, {"name": "Dup"})
    m = uid("miss")
    doc = batch(cameo, [a, m, a, m, m, a])
    assert doc["users"] == {a: pa}
    assert doc["missing"] == [m]


def test_batch_empty_list(cameo):
    doc = batch(cameo, [])
    assert doc["users"] == {} and doc["missing"] == []


def test_batch_1000_ids_ok_1001_rejected(cameo):
    ids = ["k%04d-%s" % (i, uid("m")) for i in range(1000)]
    doc = batch(cameo, ids)
    assert doc["users"] == {}
    assert doc["missing"] == ids
    st, h, b = cameo.req("POST", BATCH, body={"ids": ids + ["one-more"]})
    err = assert_error((st, h, b), 400, "bad_request")
    assert "at most 1000 ids" in err["error"]["message"]


def test_batch_invalid_id_is_named(cameo):
    for bad in ("bad@id", "x" * 129, ""):
        st, h, b = cameo.req("POST", BATCH, body={"ids": ["fine", bad]})
        err = assert_error((st, h, b), 400, "bad_id")
        if bad:
            assert bad in err["error"]["message"], err


def test_batch_bad_shapes_are_bad_json(cameo):
    for body in (b"{", b"not json", b"[]", b'["a"]', b"{}", b'{"id": ["a"]}', b'{"ids": "a"}', b'{"ids": null}',
                 b'{"ids": {"a": 1}}', b'{"ids": ["a", 1]}', b'{"ids": [["a"]]}', b'"ids"', b""):
        assert_error(cameo.req("POST", BATCH, body=body, headers={"Content-Type": "application/json"}), 400,
                     "bad_json")


def test_batch_content_type(cameo):
    body = json.dumps({"ids": ["a"]})
    assert_error(cameo.req("POST", BATCH, body=body, headers={"Content-Type": "text/plain"}), 415,
                 "unsupported_media_type")
    assert_error(cameo.req("POST", BATCH, body=body), 415, "unsupported_media_type")
    st, h, b = cameo.req("POST", BATCH, body=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert st == 200, (st, b)


def test_batch_body_limit_256k(cameo):
    # Exactly 256 KiB is accepted: 1000 ids padded with JSON whitespace.
    ids = ["p%03d" % i for i in range(1000)]
    base = json.dumps({"ids": ids}, separators=(",", ":"))
    limit = 256 * 1024
    body = base[:-1] + " " * (limit - len(base)) + "}"
    assert len(body) == limit
    st, h, b = cameo.req("POST", BATCH, body=body, headers={"Content-Type": "application/json"})
    assert st == 200, (st, b[:200])
    assert json.loads(b)["missing"] == ids
    over = base[:-1] + " " * (limit + 1 - len(base)) + "}"
    assert len(over) == limit + 1
    assert_error(cameo.req("POST", BATCH, body=over, headers={"Content-Type": "application/json"}), 413,
                 "too_large")


def test_batch_uses_one_origin_query_for_cold_ids(make_cameo):
    d = make_cameo()
    existing = [uid("cold") for _ in range(40)]
    for u in existing:
        d.put_user(u, {"name": "N " + u})
    missing = [uid("cold-miss") for _ in range(10)]
    d.restart()  # cold cache
    ids = existing[:20] + missing + existing[20:]
    before = d.origin_count("get_profiles")
    doc = batch(d, ids)
    assert d.origin_count("get_profiles") == before + 1
    assert set(doc["users"]) == set(existing)
    assert doc["missing"] == missing
    for u in existing:
        assert doc["users"][u] == {"name": "N " + u, "id": u, "avatar": None}

    # Everything is cached now: no origin query at all.
    before = d.origin_count("get_profiles")
    doc2 = batch(d, existing)
    assert d.origin_count("get_profiles") == before
    assert doc2["users"] == doc["users"]

    # Single GETs of batch-loaded users are cache hits too.
    for u in existing[:5]:
        d.get_user(u)
    assert d.origin_count("get_profiles") == before


def test_batch_mixed_cached_and_cold_is_one_query(cameo):
    warm = [uid("warm") for _ in range(10)]
    cold = [uid("coldish") for _ in range(10)]
    for u in warm + cold:
        cameo.put_user(u, {"name": u})
    for u in warm:
        cameo.get_user(u)
    st, h, doc = cameo.json("POST", "/v1/invalidate", body={"ids": cold}, token=cameo.token)
    assert st == 200 and doc == {"invalidated": 10}
    before = cameo.origin_count("get_profiles")
    out = batch(cameo, warm + cold)
    assert cameo.origin_count("get_profiles") == before + 1
    assert set(out["users"]) == set(warm + cold) and out["missing"] == []


# ------------------------------------------------------------------ invalidate


def test_invalidate_forces_a_store_read(cameo):
    u = uid("inv")
    cameo.put_user(u, {"name": "Inv"})
    cameo.get_user(u)
    before = cameo.origin_count("get_profiles")
    cameo.get_user(u)
    assert cameo.origin_count("get_profiles") == before  # cached
    other = uid("inv-unknown")
    st, h, doc = cameo.json("POST", "/v1/invalidate", body={"ids": [u, other]}, token=cameo.token)
    assert st == 200, (st, doc)
    assert h["content-type"].split(";")[0].strip() == "application/json"
    assert doc == {"invalidated": 2}
    assert cameo.get_user(u) == {"name": "Inv", "id": u, "avatar": None}
    after = cameo.origin_count("get_profiles")
    assert after == before + 1
    cameo.get_user(u)
    assert cameo.origin_count("get_profiles") == after  # cached again


def test_invalidate_empty_list(cameo):
    st, h, doc = cameo.json("POST", "/v1/invalidate", body={"ids": []}, token=cameo.token)
    assert st == 200 and doc == {"invalidated": 0}


def test_invalidate_validation(cameo):
    t = cameo.token
    err = assert_error(cameo.req("POST", "/v1/invalidate", body={"ids": ["ok", "bad@id"]}, token=t), 400, "bad_id")
    assert "bad@id" in err["error"]["message"]
    err = assert_error(cameo.req("POST", "/v1/invalidate", body={"ids": ["i%d" % i for i in range(1001)]}, token=t),
                       400, "bad_request")
    assert "at most 1000 ids" in err["error"]["message"]
    st, h, doc = cameo.json("POST", "/v1/invalidate", body={"ids": ["i%d" % i for i in range(1000)]}, token=t)
    assert st == 200 and doc == {"invalidated": 1000}
    for body in (b"nope", b"{}", b'{"ids": "a"}', b'{"ids": [1]}', b"[]"):
        assert_error(cameo.req("POST", "/v1/invalidate", body=body, token=t,
                               headers={"Content-Type": "application/json"}), 400, "bad_json")


def test_invalidate_requires_admin(cameo):
    assert_error(cameo.req("POST", "/v1/invalidate", body={"ids": ["a"]}), 401, "unauthorized")
    assert_error(cameo.req("POST", "/v1/invalidate", body={"ids": ["a"]}, token="wrong"), 403, "forbidden")
