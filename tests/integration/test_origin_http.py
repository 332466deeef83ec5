"""cameo in front of an HTTP user service (--users-url): read-through,
batching, coalescing, read-only writes, timeouts, retries, the circuit
breaker, and bad data from the origin."""

import json
import subprocess
import time

import pytest

from conftest import assert_error, free_port, wait_until
from test_coalescing import burst
from userservice import UserService, closed_port


@pytest.fixture
def svc():
    s = UserService(users={"ann": {"name": "Ann", "picture_id": "p1"}, "bob": {"name": "Bob"}}).start()
    yield s
    s.stop()


def fronting(make_cameo, svc, batch=True, extra=()):
    args = ["--users-url", svc.url, "--origin-retries", "0"]
    if batch:
        args += ["--users-batch-url", svc.batch_url]
    return make_cameo(args=args + list(extra))


def add_users(svc, n, prefix="u"):
    ids = ["%s%04d" % (prefix, i) for i in range(n)]
    for i in ids:
        svc.users[i] = {"name": "User " + i}
    return ids


def test_profile_is_read_through_once_and_served_from_memory(make_cameo, svc):
    d = fronting(make_cameo, svc)
    st, h, doc = d.json("GET", "/v1/users/ann")
    assert st == 200, doc
    assert doc == {"id": "ann", "name": "Ann", "picture_id": "p1", "avatar": None}
    assert h.get("etag")
    for _ in range(5):
        assert d.json("GET", "/v1/users/ann")[0] == 200
    assert svc.gets == ["ann"] and svc.batches == 0
    st, h2, _ = d.req("GET", "/v1/users/ann", headers={"If-None-Match": h["etag"]})
    assert st == 304


def test_unknown_user_is_404_and_negative_cached(make_cameo, svc):
    d = fronting(make_cameo, svc)
    for _ in range(3):
        assert_error(d.req("GET", "/v1/users/nobody"), 404, "not_found")
    assert svc.gets == ["nobody"]


def test_batch_of_200_makes_one_call_per_50_misses(make_cameo, svc):
    ids = add_users(svc, 200)
    d = fronting(make_cameo, svc)
    d.get_user(ids[0])  # one already cached: 199 misses -> 4 calls
    svc.reset_counts()
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ids + ["ghost"]})
    assert st == 200
    assert sorted(doc["users"]) == sorted(ids)
    assert doc["missing"] == ["ghost"]
    assert svc.batches == 4  # ceil(200 / 50), the cached one and the ghost included
    assert sorted(i for b in svc.batch_ids for i in b) == sorted(ids[1:] + ["ghost"])
    assert max(len(b) for b in svc.batch_ids) == 50
    assert svc.gets == []
    # all cached now, the unknown one negatively
    svc.reset_counts()
    assert d.json("POST", "/v1/users:batch", body={"ids": ids + ["ghost"]})[0] == 200
    assert svc.batches == 0


def test_batch_answer_as_a_list_is_understood(make_cameo, svc):
    svc.batch_form = "list"
    ids = add_users(svc, 7)
    d = fronting(make_cameo, svc)
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ids + ["ghost"]})
    assert st == 200
    assert doc["users"][ids[3]]["name"] == "User " + ids[3]
    assert doc["missing"] == ["ghost"]
    assert svc.batches == 1


def test_batch_size_flag_cuts_the_batches(make_cameo, svc):
    ids = add_users(svc, 30)
    d = fronting(make_cameo, svc, extra=["--users-batch-size", "10"])
    assert d.json("POST", "/v1/users:batch", body={"ids": ids})[0] == 200
    assert svc.batches == 3


def test_without_batch_url_one_get_per_id_with_parallelism_capped(make_cameo, svc):
    ids = add_users(svc, 60)
    svc.mode, svc.delay = "slow", 0.05
    d = fronting(make_cameo, svc, batch=False, extra=["--origin-concurrency", "4"])
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ids})
    assert st == 200 and len(doc["users"]) == 60
    assert sorted(svc.gets) == sorted(ids)
    assert 1 < svc.max_active <= 4 * 2  # 4 per worker, 2 workers


def test_500_concurrent_requests_for_one_cold_id_make_one_call(make_cameo, svc):
    svc.mode, svc.delay = "slow", 0.3
    d = fronting(make_cameo, svc)
    results = burst(d, ["/v1/users/ann"] * 500)
    assert [r for r in results if r[0] != 200] == []
    assert len(svc.gets) + svc.batches == 1


def test_writes_answer_405_and_say_why(make_cameo, svc):
    d = fronting(make_cameo, svc)
    for method, path, body in [("PUT", "/v1/users/ann", {"name": "x"}), ("DELETE", "/v1/users/ann", None),
                               ("DELETE", "/v1/users/ann/avatar", None)]:
        st, h, b = d.admin(method, path, body=body)
        doc = assert_error((st, h, b), 405, "read_only_origin")
        assert "POST /v1/invalidate" in doc["error"]["message"]
        assert h.get("allow") == "GET, HEAD"
    st, h, b = d.admin("PUT", "/v1/users/ann/avatar", body=b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                       headers={"Content-Type": "image/png"})
    assert_error((st, h, b), 405, "read_only_origin")
    assert svc.gets == []


def test_invalidate_makes_the_next_read_go_to_the_origin(make_cameo, svc):
    d = fronting(make_cameo, svc)
    assert d.get_user("ann")["name"] == "Ann"
    svc.users["ann"] = {"name": "Ann Changed"}
    assert d.get_user("ann")["name"] == "Ann"  # cached
    assert d.admin("POST", "/v1/invalidate", body={"ids": ["ann"]})[0] in (200, 204)
    assert d.get_user("ann")["name"] == "Ann Changed"


def test_dead_origin_gives_a_quick_502(make_cameo, svc):
    port = closed_port()
    d = make_cameo(args=["--users-url", "http://127.0.0.1:%d/users/{id}" % port, "--origin-retries", "0"])
    t0 = time.monotonic()
    doc = assert_error(d.req("GET", "/v1/users/ann"), 502, "bad_gateway")
    assert time.monotonic() - t0 < 2.0, doc
    assert_error(d.req("POST", "/v1/users:batch", body={"ids": ["ann", "bob"]}), 502, "bad_gateway")


def test_slow_origin_times_out_with_504(make_cameo, svc):
    svc.mode, svc.delay = "slow", 2.0
    d = fronting(make_cameo, svc, batch=False, extra=["--origin-timeout", "200ms"])
    t0 = time.monotonic()
    assert_error(d.req("GET", "/v1/users/ann"), 504, "gateway_timeout")
    assert time.monotonic() - t0 < 1.5


def test_failures_are_retried_then_502_and_never_cached(make_cameo, svc):
    svc.mode = "fail"
    d = make_cameo(args=["--users-url", svc.url, "--origin-retries", "2", "--breaker-failures", "100"])
    assert_error(d.req("GET", "/v1/users/ann"), 502, "bad_gateway")
    assert svc.gets == ["ann"] * 3  # 1 + 2 retries
    svc.mode = "ok"
    assert d.get_user("ann")["name"] == "Ann"  # the failure was not cached


def test_retries_stay_within_the_concurrency_cap(make_cameo, svc):
    ids = add_users(svc, 40)
    svc.mode, svc.delay, svc.delay_all = "fail", 0.02, True  # answers that overlap
    d = make_cameo(args=["--users-url", svc.url, "--origin-retries", "3", "--origin-concurrency", "2",
                         "--breaker-failures", "1000", "--workers", "1"])
    assert_error(d.req("POST", "/v1/users:batch", body={"ids": ids}), 502, "bad_gateway")
    assert len(svc.gets) == 40 * 4  # every id, 1 + 3 attempts
    assert svc.max_active <= 2


def test_breaker_opens_after_failures_and_closes_when_the_origin_is_back(make_cameo, svc):
    svc.mode = "fail"
    d = fronting(make_cameo, svc, batch=False,
                 extra=["--breaker-failures", "3", "--breaker-open", "300ms", "--workers", "1"])
    for i in range(3):
        assert_error(d.req("GET", "/v1/users/x%d" % i), 502, "bad_gateway")
    assert len(svc.gets) == 3
    # open: calls fail at once, without reaching the origin
    assert_error(d.req("GET", "/v1/users/y"), 502, "bad_gateway")
    assert len(svc.gets) == 3
    st, _, ready = d.json("GET", "/readyz")
    assert st == 200 and ready["status"] == "degraded", ready  # cached answers go on
    assert ready["origin"]["status"] == "degraded" and "breaker open" in ready["origin"]["detail"], ready
    svc.mode = "ok"
    # after the open period one call probes; it succeeds and closes the breaker
    deadline = time.monotonic() + 5
    while d.req("GET", "/v1/users/ann")[0] != 200:
        assert time.monotonic() < deadline, "breaker never closed"
        time.sleep(0.05)
    assert d.get_user("bob")["name"] == "Bob"
    assert "breaker closed" in json.dumps(d.json("GET", "/readyz")[2])


def test_a_4xx_probe_closes_the_breaker_and_is_not_retried(make_cameo, svc):
    svc.mode = "fail"
    d = fronting(make_cameo, svc, batch=False,
                 extra=["--breaker-failures", "2", "--breaker-open", "200ms", "--workers", "1"])
    for i in range(2):
        assert_error(d.req("GET", "/v1/users/x%d" % i), 502, "bad_gateway")
    assert "breaker open" in d.json("GET", "/readyz")[2]["origin"]["detail"]
    svc.mode = "forbidden"
    # the probe gets a 403: the service is there, so the breaker closes
    wait_until(lambda: d.req("GET", "/v1/users/p")[0] == 502 and len(svc.gets) == 3, what="the probe")
    wait_until(lambda: "breaker closed" in d.json("GET", "/readyz")[2]["origin"]["detail"], what="closing")
    n = len(svc.gets)
    assert_error(d.req("GET", "/v1/users/z"), 502, "bad_gateway")
    assert len(svc.gets) == n + 1  # a 4xx is not retried


@pytest.mark.parametrize("mode", ["garbage", "array"])
def test_bad_origin_data_is_a_502_and_not_cached(make_cameo, svc, mode):
    svc.mode = mode
    d = fronting(make_cameo, svc, batch=False)
    doc = assert_error(d.req("GET", "/v1/users/ann"), 502, "bad_gateway")
    assert "not valid" in doc["error"]["message"]
    svc.mode = "ok"
    assert d.get_user("ann")["name"] == "Ann"


def test_bad_batch_answer_fails_those_ids_without_caching_them(make_cameo, svc):
    svc.mode = "garbage"
    d = fronting(make_cameo, svc)
    assert_error(d.req("POST", "/v1/users:batch", body={"ids": ["ann", "bob"]}), 502, "bad_gateway")
    svc.mode = "ok"
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ["ann", "bob"]})
    assert st == 200 and sorted(doc["users"]) == ["ann", "bob"]


def test_one_bad_record_in_a_batch_leaves_the_others(make_cameo, svc):
    svc.users["bad"] = "a string, not an object"
    d = fronting(make_cameo, svc)
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ["ann", "bad", "bob"]})
    assert st == 200
    assert sorted(doc["users"]) == ["ann", "bob"]
    assert doc["missing"] == [] and doc["failed"] == ["bad"]
    assert_error(d.req("GET", "/v1/users/bad"), 502, "bad_gateway")


def test_dot_ids_reach_the_service_as_they_are(make_cameo, svc):
    svc.users[".."] = {"name": "Dots"}
    d = fronting(make_cameo, svc, batch=False)
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ["..", "ann"]})
    assert st == 200 and doc["users"][".."]["name"] == "Dots", doc
    assert sorted(svc.gets) == ["..", "ann"]  # not /users/ with the dot segment removed


def test_huge_profile_is_refused(make_cameo, svc):
    svc.users["big"] = {"bio": "x" * (70 * 1024)}
    d = fronting(make_cameo, svc, batch=False)
    assert_error(d.req("GET", "/v1/users/big"), 502, "bad_gateway")
    assert d.get_user("ann")["name"] == "Ann"


@pytest.mark.parametrize("args, flag", [
    (["--users-url", "ftp://x/{id}"], "--users-url"),
    (["--users-url", "http://x/users"], "--users-url"),
    (["--users-url", "http://x/{id}", "--users-batch-size", "1001"], "--users-batch-size"),
    (["--users-url", "http://x/{id}", "--origin-retries", "11"], "--origin-retries"),
    (["--users-url", "http://x/{id}", "--origin-timeout", "0ms"], "--origin-timeout"),
    (["--users-batch-url", "not a url"], "--users-batch-url"),
    (["--users-url", "http://x/" + "{id}" * 20 + "y" * 1000], "--users-url"),  # too long once filled
])
def test_bad_origin_flags_exit_2_naming_the_flag(make_cameo, args, flag):
    d = make_cameo(args=args, start=False)
    d.port = free_port()
    p = subprocess.run(d.argv(), capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert flag in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_secrets_in_the_users_url_are_not_logged(make_cameo, svc):
    url = svc.url.replace("http://", "http://svcuser:s3cr3t-pw@")
    d = make_cameo(args=["--users-url", url])
    assert d.get_user("ann")["name"] == "Ann"
    st, _, body = d.req("GET", "/readyz")  # public: the origin's detail must not carry the password
    assert st == 200 and b"s3cr3t-pw" not in body and b"svcuser" not in body, body
    d.stop()
    assert "s3cr3t-pw" not in d.log()


def test_origin_down_serves_seen_users_stale_with_age_and_unseen_ones_502(make_cameo, svc):
    d = fronting(make_cameo, svc, batch=False, extra=["--ttl", "300ms", "--grace", "100ms"])
    assert d.get_user("ann")["name"] == "Ann"
    svc.down()
    # once past ttl + grace every read asks the origin, fails, and gets the last value
    st, h, b = wait_until(lambda: (lambda r: r if "age" in r[1] else None)(d.req("GET", "/v1/users/ann")),
                        what="a stale answer")
    assert st == 200 and json.loads(b)["name"] == "Ann"
    assert int(h["age"]) >= 0
    assert d.metric("cameo_stale_if_error_total") >= 1
    t0 = time.monotonic()
    assert_error(d.req("GET", "/v1/users/bob"), 502, "bad_gateway")
    assert time.monotonic() - t0 < 2.0
    st, _, doc = d.json("POST", "/v1/users:batch", body={"ids": ["ann", "bob"]})
    assert st == 200 and list(doc["users"]) == ["ann"] and doc["failed"] == ["bob"]
    svc.users["ann"] = {"name": "Ann Back"}
    svc.up()
    wait_until(lambda: d.req("GET", "/v1/users/ann")[2].find(b"Ann Back") >= 0, what="a fresh answer")
    st, h, _ = d.req("GET", "/v1/users/ann")
    assert st == 200 and "age" not in h


def test_stale_if_error_can_be_turned_off(make_cameo, svc):
    d = fronting(make_cameo, svc, batch=False, extra=["--ttl", "200ms", "--grace", "0s", "--stale-if-error", "0s"])
    assert d.get_user("ann")["name"] == "Ann"
    svc.down()
    wait_until(lambda: d.req("GET", "/v1/users/ann")[0] == 502, what="a 502 once the entry expired")
