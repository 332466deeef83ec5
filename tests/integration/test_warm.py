"""POST /v1/warm: loading users and their avatars into the tiers ahead of
reads, in batches."""

from conftest import assert_error, make_png, uid
from userservice import UserService


def test_warm_loads_profiles_and_avatars_so_reads_skip_the_origin(make_cameo):
    d = make_cameo()
    a, b, c = uid("wa"), uid("wb"), uid("wc")
    for u in (a, b, c):
        d.put_user(u, {"name": "Warm " + u})
    va = d.put_avatar(a, make_png(2, 2))["version"]
    vb = d.put_avatar(b, make_png(3, 3))["version"]
    d.restart()  # cold tiers, same store

    st, _, doc = d.json("POST", "/v1/warm", body={"ids": [a, b, c, "ghost"]}, token=d.token)
    assert st == 200, doc
    assert doc == {"profiles": 3, "missing": ["ghost"], "failed": [], "avatars": 2, "avatars_failed": 0}
    assert d.metric("cameo_warmed_profiles_total") == 3
    assert d.metric("cameo_warmed_avatars_total") == 2

    profiles, avatars = d.origin_count("get_profiles"), d.origin_count("get_avatar")
    for u in (a, b, c):
        assert d.get_user(u)["name"] == "Warm " + u
    for u, v in ((a, va), (b, vb)):
        assert d.req("GET", "/v1/avatars/%s/%s" % (u, v))[0] == 200
    assert d.origin_count("get_profiles") == profiles
    assert d.origin_count("get_avatar") == avatars


def test_warm_is_admin_only_and_checks_its_body(make_cameo):
    d = make_cameo()
    assert_error(d.req("POST", "/v1/warm", body={"ids": ["a"]}), 401, "unauthorized")
    assert_error(d.req("POST", "/v1/warm", body={"ids": ["a"]}, token="x" * 20), 403, "forbidden")
    assert_error(d.admin("POST", "/v1/warm", body=b"{nope", headers={"Content-Type": "application/json"}),
                 400, "bad_json")
    assert_error(d.admin("POST", "/v1/warm", body={"ids": ["bad id!"]}), 400, "bad_id")
    assert_error(d.admin("POST", "/v1/warm", body={"ids": ["u%d" % i for i in range(1001)]}), 400,
                 "bad_request")
    assert_error(d.admin("GET", "/v1/warm"), 405, "method_not_allowed")
    st, _, doc = d.json("POST", "/v1/warm", body={"ids": []}, token=d.token)
    assert st == 200 and doc["profiles"] == 0


def test_warm_through_a_user_service_uses_its_batches(make_cameo):
    svc = UserService(users={"u%03d" % i: {"name": "U%d" % i} for i in range(120)}).start()
    try:
        d = make_cameo(args=["--users-url", svc.url, "--users-batch-url", svc.batch_url])
        ids = ["u%03d" % i for i in range(120)]
        st, _, doc = d.json("POST", "/v1/warm", body={"ids": ids}, token=d.token)
        assert st == 200 and doc["profiles"] == 120, doc
        assert svc.batches == 3 and svc.gets == []  # ceil(120 / 50)
        for i in ids[:10]:
            d.get_user(i)
        assert svc.batches == 3 and svc.gets == []
    finally:
        svc.stop()


def test_warm_file_loads_users_at_start(make_cameo, tmp_path):
    d = make_cameo()
    ids = [uid("wf") for _ in range(5)]
    for u in ids:
        d.put_user(u, {"name": "File " + u})
    v = d.put_avatar(ids[0], make_png(4, 4))["version"]
    f = tmp_path / "warm.txt"
    f.write_text("# users to warm\n\n" + "\n".join("  %s " % u for u in ids) + "\nnot an id!\nghost\n")
    d.restart(args=["--warm-file", str(f)])
    m = d.wait_log(r"msg=warm_done .*ids=(\d+) profiles=(\d+) avatars=(\d+) bad_lines=(\d+)", timeout=10)
    assert m, d.log()[-2000:]
    assert m.groups() == ("6", "5", "1", "1"), m.group(0)
    before = d.origin_count("get_profiles"), d.origin_count("get_avatar")
    for u in ids:
        d.get_user(u)
    assert d.req("GET", "/v1/avatars/%s/%s" % (ids[0], v))[0] == 200
    assert (d.origin_count("get_profiles"), d.origin_count("get_avatar")) == before


def test_unreadable_warm_file_exits_2(make_cameo, tmp_path):
    import subprocess

    from conftest import free_port
    d = make_cameo(args=["--warm-file", str(tmp_path / "nope.txt")], start=False)
    d.port = free_port()
    p = subprocess.run(d.argv(), capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--warm-file" in p.stderr, (p.returncode, p.stderr)


def test_warm_file_batch_of_1000_long_unknown_ids_is_answered(make_cameo, tmp_path):
    d = make_cameo()
    f = tmp_path / "ghosts.txt"
    f.write_text("\n".join("g%03d" % i + "x" * 124 for i in range(1000)) + "\n")  # 128-byte ids
    d.restart(args=["--warm-file", str(f)])
    m = d.wait_log(r"msg=warm_done .*ids=(\d+) profiles=(\d+) .*failed_batches=(\d+)", timeout=20)
    assert m, d.log()[-2000:]
    assert m.groups() == ("1000", "0", "0"), m.group(0)  # the whole "missing" list came back
