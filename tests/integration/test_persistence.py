"""Durability: graceful restart and kill -9 on the same data directory."""

import json
import signal

from conftest import assert_error, make_gif, make_jpeg, make_png, make_webp, uid


def snapshot(d, ids):
    out = {}
    for u in ids:
        st, h, b = d.req("GET", "/v1/users/" + u)
        out[u] = (st, h.get("etag"), json.loads(b) if st == 200 else None)
    return out


def test_restart_keeps_everything(make_cameo):
    d = make_cameo()
    users = {uid("p"): {"name": "User %d" % i, "i": i, "tags": ["t"] * i} for i in range(5)}
    for u, doc in users.items():
        d.put_user(u, doc, expect=(201,))
    a, b, c, gone, noav = list(users)
    png, jpg, gif = make_png(3, 3, (1, 2, 3, 4)), make_jpeg(b"persist"), make_gif(b"old")
    va = d.put_avatar(a, png)["version"]
    vb_old = d.put_avatar(b, gif)["version"]
    vb = d.put_avatar(b, jpg)["version"]  # supersedes the GIF
    vc = d.put_avatar(c, make_webp(b"c"))["version"]
    assert d.admin("DELETE", "/v1/users/%s/avatar" % c)[0] == 204
    assert d.admin("DELETE", "/v1/users/" + gone)[0] == 204
    d.put_user(noav, {"name": "Updated"}, expect=(200,))
    before = snapshot(d, users)

    elapsed = d.stop()  # SIGTERM; asserts exit 0
    assert elapsed < 5
    d.start()

    after = snapshot(d, users)
    assert after == before  # same bodies and ETags
    assert after[gone][0] == 404
    assert after[a][2]["avatar"]["version"] == va
    assert after[b][2]["avatar"]["version"] == vb
    assert after[c][2]["avatar"] is None
    assert after[noav][2] == {"name": "Updated", "id": noav, "avatar": None}

    for u, v, data, ct in ((a, va, png, "image/png"), (b, vb, jpg, "image/jpeg"), (b, vb_old, gif, "image/gif")):
        st, h, body = d.req("GET", "/v1/avatars/%s/%s" % (u, v))
        assert st == 200, (u, v, st)
        assert body == data
        assert h["content-type"] == ct
    st, h, body = d.req("GET", "/v1/users/%s/avatar" % b)
    assert st == 302 and h["location"] == "/v1/avatars/%s/%s" % (b, vb)
    assert_error(d.req("GET", "/v1/users/%s/avatar" % c), 404, "not_found")
    assert vc  # uploaded, then its pointer deleted

    # Updates after the restart work as usual (201 vs 200 reflects the store).
    assert d.admin("PUT", "/v1/users/" + gone, body={"name": "Back"})[0] == 201
    assert d.admin("PUT", "/v1/users/" + a, body={"name": "Again"})[0] == 200


def test_cold_start_reads_avatar_from_store_once(make_cameo):
    d = make_cameo()
    u = uid("cold")
    d.put_user(u, {"name": "Cold"}, expect=(201,))
    data = make_png(6, 6, (9, 8, 7, 6))
    url = d.put_avatar(u, data)["url"]
    d.restart()
    before = d.origin_count("get_avatar")
    st, h, body = d.req("GET", url)
    assert st == 200 and body == data
    assert d.origin_count("get_avatar") == before + 1
    for _ in range(3):
        assert d.req("GET", url)[2] == data
    assert d.origin_count("get_avatar") == before + 1  # cached


def test_kill_9_loses_no_acknowledged_write(make_cameo):
    d = make_cameo()
    n = 50
    ids = ["k9-%03d" % i for i in range(n)]
    conn = d.conn()
    try:
        for i, u in enumerate(ids):
            st, h, b = d.admin("PUT", "/v1/users/" + u, body={"name": "K %d" % i, "i": i}, conn=conn)
            assert st == 201, (u, st, b)
        # Some updates and deletes, each acknowledged.
        for u in ids[:10]:
            st, h, b = d.admin("PUT", "/v1/users/" + u, body={"name": "updated " + u}, conn=conn)
            assert st == 200
        for u in ids[40:45]:
            assert d.admin("DELETE", "/v1/users/" + u, conn=conn)[0] == 204
    finally:
        conn.close()
    png = make_png(16, 16, (10, 200, 30, 255))
    v = d.put_avatar(ids[0], png)["version"]
    jpg = make_jpeg(b"kill9")
    v2 = d.put_avatar(ids[1], jpg)["version"]
    assert d.admin("DELETE", "/v1/users/%s/avatar" % ids[1])[0] == 204

    d.kill9()
    d.start()

    for i, u in enumerate(ids):
        st, h, b = d.req("GET", "/v1/users/" + u)
        if 40 <= i < 45:
            assert st == 404, (u, st)
            continue
        assert st == 200, (u, st, b)
        doc = json.loads(b)
        if i < 10:
            assert doc["name"] == "updated " + u
        else:
            assert doc["name"] == "K %d" % i and doc["i"] == i
    assert d.get_user(ids[0])["avatar"] == {"version": v, "url": "/v1/avatars/%s/%s" % (ids[0], v)}
    st, h, body = d.req("GET", "/v1/avatars/%s/%s" % (ids[0], v))
    assert st == 200 and body == png and h["content-type"] == "image/png"
    assert d.get_user(ids[1])["avatar"] is None
    assert v2

    st, h, doc = d.json("POST", "/v1/users:batch", body={"ids": ids})
    assert st == 200
    assert doc["missing"] == ids[40:45]
    assert len(doc["users"]) == n - 5


def test_sigint_also_exits_cleanly_and_data_survives(make_cameo):
    d = make_cameo()
    u = uid("int")
    d.put_user(u, {"name": "Interrupted"}, expect=(201,))
    d.stop(sig=signal.SIGINT)
    d.start()
    assert d.get_user(u)["name"] == "Interrupted"
