"""GET /v1/users: the listing in id order, a page at a time (docs/api.md)."""

import json
import sqlite3

from conftest import assert_error


def listing(cameo, query=""):
    st, h, b = cameo.req("GET", "/v1/users" + query)
    assert st == 200, (st, b[:300])
    assert h["content-type"].split(";")[0] == "application/json"
    assert h["cache-control"] == "no-cache"
    return json.loads(b)


def test_listing_pages_through_every_user_in_id_order(make_cameo):
    d = make_cameo()
    ids = ["user-%02d" % i for i in range(7)]
    for i in reversed(ids):
        d.put_user(i, {"name": "N " + i})
    seen, after = [], None
    while True:
        doc = listing(d, "?limit=3" + ("&after=" + after if after else ""))
        assert set(doc) == {"users", "next"}
        seen += [u["id"] for u in doc["users"]]
        for u in doc["users"]:
            assert u == d.get_user(u["id"])  # the same profiles GET returns
        if doc["next"] is None:
            break
        assert doc["next"] == doc["users"][-1]["id"]
        after = doc["next"]
    assert seen == ids
    assert listing(d)["users"][0]["id"] == "user-00"  # default limit 50: all of them
    assert listing(d, "?after=user-06") == {"users": [], "next": None}


def test_listing_page_is_full_when_rows_it_skips_come_first(make_cameo):
    # Regression: rows the listing skips (ids the API cannot serve, written by
    # something else) were dropped after the SQL LIMIT, so a page came back
    # short with next: null though more users followed.
    d = make_cameo()
    for i in ("b1", "b2", "b3"):
        d.put_user(i, {"name": i})
    with sqlite3.connect(str(d.data_dir / "cameo.db")) as db:
        db.executemany("INSERT INTO users(id, doc, updated_at) VALUES(?, '{}', 0)",
                       [("",), ("a b",), ("a\"q",), ("b1/x",), ("b2 z",), ("z" * 129,)])
    doc = listing(d, "?limit=2")
    assert [u["id"] for u in doc["users"]] == ["b1", "b2"]
    assert doc["next"] == "b2"
    doc = listing(d, "?limit=2&after=b2")
    assert doc == {"users": [d.get_user("b3")], "next": None}


def test_listing_reads_profiles_through_the_cache(make_cameo):
    d = make_cameo()
    for i in range(5):
        d.put_user("c%d" % i, {"name": "C"})
    before = d.origin_count("get_profiles")
    listing(d, "?limit=5")
    assert d.origin_count("get_profiles") == before + 1  # one batched read for the page
    listing(d, "?limit=5")
    assert d.origin_count("get_profiles") == before + 1  # then from memory
    assert d.origin_count("list_ids") == 2  # the ids themselves are not cached


def test_listing_of_an_empty_store(make_cameo):
    d = make_cameo()
    assert listing(d) == {"users": [], "next": None}


def test_listing_bad_limit_and_after_are_400(cameo):
    for q in ("?limit=0", "?limit=1001", "?limit=abc", "?limit=", "?limit=-1", "?limit=99999", "?limit=1.5"):
        err = assert_error(cameo.req("GET", "/v1/users" + q), 400, "bad_request")
        assert "limit" in err["error"]["message"]
    for q in ("?after=", "?after=a%20b", "?after=" + "x" * 129, "?after=bad@id"):
        assert_error(cameo.req("GET", "/v1/users" + q), 400, "bad_id")
    assert "users" in listing(cameo, "?limit=1000&unknown=1")  # other parameters are ignored


def test_listing_is_get_only(cameo):
    st, h, b = cameo.req("POST", "/v1/users", body={})
    assert_error((st, h, b), 405, "method_not_allowed")
    assert h["allow"] == "GET, HEAD"


def test_listing_is_counted_in_metrics(cameo):
    listing(cameo, "?limit=1")
    assert cameo.metric("cameo_requests_total", route="users", code="200") >= 1
    assert cameo.metrics().has("cameo_origin_requests_total", origin="local", op="list_ids")
