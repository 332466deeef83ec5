"""HTTP/1.1 behaviour: keep-alive, pipelining, Connection: close, chunked bodies."""

import json
import socket

from conftest import REQ_TIMEOUT, read_response, uid


def test_keep_alive_reuses_one_connection(cameo):
    u = uid("ka")
    cameo.put_user(u, {"name": "Keep Alive"})
    conn = cameo.conn()
    try:
        st, h, b = cameo.req("GET", "/v1/users/" + u, conn=conn)
        assert st == 200
        sock = conn.sock
        assert sock is not None, "server closed a keep-alive connection"
        for i in range(10):
            path = "/v1/users/" + u if i % 2 else "/v1/users/" + uid("nobody")
            st, h, b = cameo.req("GET", path, conn=conn)
            assert st in (200, 404)
            st, h, b = cameo.admin("PUT", "/v1/users/" + u, body={"name": "n%d" % i}, conn=conn)
            assert st == 200
            assert conn.sock is sock, "connection was not kept alive (request %d)" % i
    finally:
        conn.close()


def test_pipelined_requests_answered_in_order(cameo):
    a, b = uid("pipe"), uid("pipe")
    cameo.put_user(a, {"name": "First"})
    cameo.put_user(b, {"name": "Second"})
    nobody = uid("nobody")
    data = ("GET /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n"
            "HEAD /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") % (a, b, a, nobody)
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(data.encode())  # all five in one write
        f = s.makefile("rb")
        r1 = read_response(f)
        r2 = read_response(f)
        r3 = read_response(f, "HEAD")
        r4 = read_response(f)
        r5 = read_response(f)
        f.close()
    assert r1[0] == 200 and json.loads(r1[2])["name"] == "First"
    assert r2[0] == 200 and json.loads(r2[2])["name"] == "Second"
    assert r3[0] == 200 and r3[2] == b"" and r3[1]["etag"] == r1[1]["etag"]
    assert r4[0] == 404 and json.loads(r4[2])["error"]["code"] == "not_found"
    assert r5[0] == 200 and json.loads(r5[2]) == {"status": "ok"}


def test_two_pipelined_gets_in_one_write(cameo):
    a = uid("pipe2")
    cameo.put_user(a, {"name": "Twice"})
    req = ("GET /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n" % a).encode()
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(req + req)
        f = s.makefile("rb")
        r1, r2 = read_response(f), read_response(f)
        f.close()
    assert r1[0] == r2[0] == 200
    assert r1[2] == r2[2]
    assert json.loads(r1[2])["name"] == "Twice"


def test_pipelined_put_with_body_then_get(cameo):
    u = uid("pipe3")
    body = json.dumps({"name": "Piped"}).encode()
    data = (("PUT /v1/users/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n") % (u, cameo.token, len(body))).encode()
    data += body + ("GET /v1/users/%s HTTP/1.1\r\nHost: x\r\n\r\n" % u).encode()
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(data)
        f = s.makefile("rb")
        r1, r2 = read_response(f), read_response(f)
        f.close()
    assert r1[0] == 201, r1
    assert r2[0] == 200 and json.loads(r2[2]) == {"name": "Piped", "id": u, "avatar": None}


def test_connection_close_is_honoured(cameo):
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        f = s.makefile("rb")
        st, h, b = read_response(f)
        assert st == 200
        assert f.read() == b""  # the server closed the connection
        f.close()


def test_chunked_request_body(cameo):
    u = uid("chunk")
    body = json.dumps({"name": "Chunky", "n": 7}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5]), body[i:i + 5]) for i in range(0, len(body), 5))
    data = (("PUT /v1/users/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n") % (u, cameo.token)).encode()
    data += chunks + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(data)
        f = s.makefile("rb")
        st, h, b = read_response(f)
        f.close()
    assert st == 201, (st, b)
    assert cameo.get_user(u) == {"name": "Chunky", "n": 7, "id": u, "avatar": None}


def test_many_keep_alive_connections_in_parallel(cameo):
    """A handful of clients each doing several requests on their own connection."""
    import concurrent.futures

    u = uid("par")
    cameo.put_user(u, {"name": "Parallel"})

    def client(i):
        conn = cameo.conn()
        try:
            out = []
            for _ in range(20):
                out.append(cameo.req("GET", "/v1/users/" + u, conn=conn)[0])
            return out
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(client, range(8)))
    assert all(st == 200 for r in results for st in r)


def test_304_and_204_follow_rfc_9110_content_length_rules(cameo):
    # A 304 may carry Content-Length only if it equals the 200's (caches copy
    # it onto the stored response); a 204 must not carry one. Regression: both
    # were sent with "Content-Length: 0".
    u = uid("rfc")
    cameo.put_user(u, {"name": "Lengths"})
    st, h, body = cameo.req("GET", "/v1/users/" + u)
    assert st == 200
    req = ("GET /v1/users/%s HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n"
           "DELETE /v1/users/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
           "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" % (u, h["etag"], u, cameo.token)).encode()
    with socket.create_connection(("127.0.0.1", cameo.port), timeout=REQ_TIMEOUT) as s:
        s.sendall(req)
        f = s.makefile("rb")
        r304, r204, after = read_response(f), read_response(f, "DELETE"), read_response(f)
        f.close()
    assert r304[0] == 304
    assert r304[1].get("content-length", str(len(body))) == str(len(body))
    assert r204[0] == 204
    assert "content-length" not in r204[1]
    assert after[0] == 200 and json.loads(after[2]) == {"status": "ok"}
