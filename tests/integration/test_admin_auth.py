"""Admin authentication: Bearer token on every write, checked before the body."""

import json

import pytest

from conftest import DEFAULT_TOKEN, assert_error, make_png, uid


def admin_calls(u):
    """(method, path, body, extra headers) of every admin endpoint."""
    return [
        ("PUT", "/v1/users/" + u, json.dumps({"name": "x"}), {"Content-Type": "application/json"}),
        ("DELETE", "/v1/users/" + u, None, {}),
        ("PUT", "/v1/users/%s/avatar" % u, make_png(), {}),
        ("DELETE", "/v1/users/%s/avatar" % u, None, {}),
        ("POST", "/v1/invalidate", json.dumps({"ids": [u]}), {"Content-Type": "application/json"}),
    ]


def check_401(resp):
    assert_error(resp, 401, "unauthorized")
    www = resp[1].get("www-authenticate", "")
    assert www.split()[0:1] == ["Bearer"], resp[1]


@pytest.mark.parametrize("idx", range(5))
def test_missing_token_is_401(cameo, idx):
    u = uid("auth")
    cameo.put_user(u, {"name": "Victim"})
    method, path, body, hdrs = admin_calls(u)[idx]
    check_401(cameo.req(method, path, body=body, headers=hdrs))


@pytest.mark.parametrize("idx", range(5))
def test_non_bearer_authorization_is_401(cameo, idx):
    u = uid("auth")
    cameo.put_user(u, {"name": "Victim"})
    method, path, body, hdrs = admin_calls(u)[idx]
    for auth in ("Basic YWRtaW46cGFzcw==", "Token " + cameo.token, cameo.token):
        check_401(cameo.req(method, path, body=body, headers=dict(hdrs, Authorization=auth)))


@pytest.mark.parametrize("idx", range(5))
def test_wrong_token_is_403(cameo, idx):
    u = uid("auth")
    cameo.put_user(u, {"name": "Victim"})
    method, path, body, hdrs = admin_calls(u)[idx]
    t = cameo.token
    for wrong in ("wrong", t[:-1], t + "x", t[:-1] + chr(ord(t[-1]) ^ 1), t.upper(), "x" * len(t)):
        assert wrong != t
        assert_error(cameo.req(method, path, body=body, headers=hdrs, token=wrong), 403, "forbidden")


def test_rejected_writes_have_no_effect(cameo):
    u = uid("auth")
    cameo.put_user(u, {"name": "Original"})
    v = cameo.put_avatar(u, make_png(2, 1))["version"]
    for method, path, body, hdrs in admin_calls(u):
        assert cameo.req(method, path, body=body, headers=hdrs)[0] == 401
        assert cameo.req(method, path, body=body, headers=hdrs, token="nope")[0] == 403
    got = cameo.get_user(u)
    assert got["name"] == "Original"
    assert got["avatar"]["version"] == v
    n = uid("auth-new")
    assert cameo.req("PUT", "/v1/users/" + n, body={"name": "x"}, token="nope")[0] == 403
    assert_error(cameo.req("GET", "/v1/users/" + n), 404, "not_found")


def test_auth_is_checked_before_the_body(cameo):
    u = uid("auth")
    bad = b"{this is not json"
    ct = {"Content-Type": "application/json"}
    check_401(cameo.req("PUT", "/v1/users/" + u, body=bad, headers=ct))
    assert_error(cameo.req("PUT", "/v1/users/" + u, body=bad, headers=ct, token="nope"), 403, "forbidden")
    check_401(cameo.req("POST", "/v1/invalidate", body=bad, headers=ct))
    assert_error(cameo.req("POST", "/v1/invalidate", body=bad, headers=ct, token="nope"), 403, "forbidden")
    # Not an image, and no token: still 401, not 415 / 400.
    check_401(cameo.req("PUT", "/v1/users/%s/avatar" % u, body=b"not an image"))
    check_401(cameo.req("PUT", "/v1/users/%s/avatar" % u, body=b""))
    # Wrong content type and no token: 401.
    check_401(cameo.req("PUT", "/v1/users/" + u, body=bad, headers={"Content-Type": "text/plain"}))
    # With the token the body errors show up.
    assert_error(cameo.req("PUT", "/v1/users/" + u, body=bad, headers=ct, token=cameo.token), 400, "bad_json")


def test_public_endpoints_need_no_token(cameo):
    u = uid("pub")
    cameo.put_user(u, {"name": "Public Person"})
    v = cameo.put_avatar(u, make_png(1, 3))["version"]
    assert cameo.req("GET", "/v1/users/" + u)[0] == 200
    assert cameo.req("HEAD", "/v1/users/" + u)[0] == 200
    assert cameo.req("GET", "/v1/users/%s/avatar" % u)[0] == 302
    assert cameo.req("GET", "/v1/avatars/%s/%s" % (u, v))[0] == 200
    assert cameo.req("POST", "/v1/users:batch", body={"ids": [u]})[0] == 200
    for path in ("/healthz", "/readyz", "/metrics", "/v1/stats"):
        assert cameo.req("GET", path)[0] == 200, path


def test_configured_token_is_the_one_accepted(cameo):
    assert cameo.token == DEFAULT_TOKEN
    u = uid("auth")
    st, h, b = cameo.req("PUT", "/v1/users/" + u, body={"name": "x"}, token=DEFAULT_TOKEN)
    assert st == 201, (st, b)
