"""Routing errors and protocol limits: 404, 405 + Allow, 431, error body shape."""

import json
import socket

import pytest

from conftest import REQ_TIMEOUT, assert_error, raw_exchange, read_response, uid


def allow_set(headers):
    assert "allow" in headers, headers
    return {m.strip().upper() for m in headers["allow"].split(",") if m.strip()}


@pytest.mark.parametrize("path", ["/", "/nope", "/v1", "/v1/nope", "/v2/users/x", "/v1/users/x/y/z",
                                  "/v1/avatars/x", "/healthz/extra", "/v1/users/x/avatars"])
def test_unknown_path_is_404_json(cameo, path):
    assert_error(cameo.req("GET", path), 404, "not_found")


@pytest.mark.parametrize("method,path,must_allow", [
    ("PATCH", "/v1/users/someone", {"GET", "HEAD", "PUT", "DELETE"}),
    ("POST", "/v1/users/someone", {"GET", "HEAD", "PUT", "DELETE"}),
    ("POST", "/v1/users/someone/avatar", {"GET", "PUT", "DELETE"}),
    ("PATCH", "/v1/users/someone/avatar", {"GET", "PUT", "DELETE"}),
    ("PUT", "/v1/avatars/someone/0123456789abcdef", {"GET", "HEAD"}),
    ("DELETE", "/v1/avatars/someone/0123456789abcdef", {"GET", "HEAD"}),
    ("GET", "/v1/users:batch", {"POST"}),
    ("PUT", "/v1/users:batch", {"POST"}),
    ("GET", "/v1/invalidate", {"POST"}),
    ("DELETE", "/v1/invalidate", {"POST"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/readyz", {"GET"}),
    ("POST", "/metrics", {"GET"}),
    ("PUT", "/v1/stats", {"GET"}),
])
def test_wrong_method_is_405_with_allow(cameo, method, path, must_allow):
    resp = cameo.req(method, path, body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                     headers={"Content-Type": "application/json"})
    assert_error(resp, 405, "method_not_allowed")
    allowed = allow_set(resp[1])
    assert must_allow <= allowed, (method, path, allowed)
    assert method not in allowed


def test_user_route_allow_is_exact(cameo):
    resp = cameo.req("PATCH", "/v1/users/someone", body=b"{}", headers={"Content-Type": "application/json"})
    assert_error(resp, 405, "method_not_allowed")
    assert allow_set(resp[1]) == {"GET", "HEAD", "PUT", "DELETE"}


def test_error_body_shape(cameo):
    st, h, b = cameo.req("GET", "/v1/users/" + uid("nobody"))
    assert st == 404
    assert h["content-type"].split(";")[0].strip() == "application/json"
    doc = json.loads(b)
    assert list(doc) == ["error"]
    assert set(doc["error"]) >= {"code", "message"}
    assert doc["error"]["code"] == "not_found"
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]


def _after_431_server_still_works(cameo):
    assert cameo.req("GET", "/healthz")[0] == 200


def test_one_huge_header_is_431(cameo):
    req = ("GET /v1/users/someone HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n\r\n" % ("a" * 20000)).encode()
    try:
        (st, h, b), = raw_exchange(cameo.port, req)
    except (ConnectionError, OSError) as e:
        pytest.fail("connection dropped without an answer: %r" % (e,))
    assert st == 431, (st, b[:200])
    if h.get("content-type", "").startswith("application/json"):
        assert json.loads(b)["error"]["code"] == "headers_too_large"
    _after_431_server_still_works(cameo)


def test_more_than_100_header_fields_is_400_from_the_parser(cameo):
    # h2o's HTTP/1 parser stops at 100 header fields and answers 400 before
    # any handler runs (docs/api.md, Limits); the connection must not hang
    # and the server must keep serving.
    lines = "".join("X-H%d: v\r\n" % i for i in range(150))
    req = ("GET /v1/users/someone HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % lines).encode()
    try:
        (st, h, b), = raw_exchange(cameo.port, req)
    except (ConnectionError, OSError) as e:
        pytest.fail("connection dropped without an answer: %r" % (e,))
    assert st == 400, (st, b[:200])
    _after_431_server_still_works(cameo)


def test_moderate_headers_are_fine(cameo):
    """50 headers of 100 bytes each are well within limits."""
    u = uid()
    cameo.put_user(u, {"name": "h"})
    hdrs = {"X-Pad-%d" % i: "v" * 100 for i in range(50)}
    st, h, b = cameo.req("GET", "/v1/users/" + u, headers=hdrs)
    assert st == 200, (st, b)


def test_malformed_request_line_gets_400(cameo):
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        f = s.makefile("rb")
        try:
            st, h, b = read_response(f)
        except ConnectionError:
            st = None  # closing without an answer is acceptable for garbage
        if st is not None:
            assert st == 400, st
    assert cameo.req("GET", "/healthz")[0] == 200


def test_unknown_route_counts_as_other(cameo):
    before = cameo.metric("cameo_requests_total", route="other", code="404")
    assert cameo.req("GET", "/definitely/not/here")[0] == 404
    assert cameo.wait_metric("cameo_requests_total", before + 1, route="other", code="404") == before + 1
