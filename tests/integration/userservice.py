"""A user service for the tests of cameo's HTTP origin: a real HTTP/1.1
server on a free loopback port, in a thread of the test process, that counts
every call and can be made slow, failing, wrong or down on demand.

    svc = UserService(users={"ann": {"name": "Ann"}}).start()
    svc.url        # http://127.0.0.1:PORT/users/{id}
    svc.batch_url  # http://127.0.0.1:PORT/users:batch
    svc.mode = "fail"        # every answer 500 ("ok", "slow", "fail", "forbidden", "garbage", "array")
    svc.delay = 0.2          # seconds before each answer in "slow" mode (every mode with delay_all)
    svc.down(); svc.up()     # close the listener (connection refused), reopen it
    svc.gets, svc.batches    # calls seen; svc.batch_ids: the id lists
"""

import http.server
import json
import socket
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _enter(self):
        svc = self.server.svc
        with svc.lock:
            svc.active += 1
            svc.max_active = max(svc.max_active, svc.active)
        if svc.mode == "slow" or svc.delay_all:
            time.sleep(svc.delay)
        return svc

    def _leave(self, svc):
        with svc.lock:
            svc.active -= 1

    def do_GET(self):
        svc = self._enter()
        try:
            if not self.path.startswith("/users/"):
                return self._send(404, {"error": "no route"})
            uid = self.path[len("/users/"):]
            with svc.lock:
                svc.gets.append(uid)
            if svc.mode == "fail":
                return self._send(500, {"error": "boom"})
            if svc.mode == "forbidden":
                return self._send(403, {"error": "no"})
            if svc.mode == "garbage":
                return self._send(200, "<html>not json</html>", "text/html")
            if svc.mode == "array":
                return self._send(200, [1, 2, 3])
            doc = svc.users.get(uid)
            if doc is None:
                return self._send(404, {"error": "no such user"})
            return self._send(200, doc)
        finally:
            self._leave(svc)

    def do_POST(self):
        svc = self._enter()
        try:
            n = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(n) or b"{}")
            if self.path != "/users:batch":
                return self._send(404, {"error": "no route"})
            ids = req.get("ids", [])
            with svc.lock:
                svc.batches += 1
                svc.batch_ids.append(ids)
            if svc.mode == "fail":
                return self._send(500, {"error": "boom"})
            if svc.mode == "garbage":
                return self._send(200, "not json at all", "text/plain")
            if svc.batch_form == "list":
                return self._send(200, [dict(svc.users[i], id=i) for i in ids if i in svc.users])
            return self._send(200, {i: svc.users.get(i) for i in ids})
        finally:
            self._leave(svc)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def get_request(self):
        sock, addr = super().get_request()
        with self.svc.lock:
            self.svc.conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.svc.lock:
            self.svc.conns.discard(request)
        super().shutdown_request(request)


class UserService:
    def __init__(self, users=None):
        self.users = dict(users or {})
        self.lock = threading.Lock()
        self.mode = "ok"
        self.delay = 0.0
        self.delay_all = False  # delay every answer, whatever the mode
        self.batch_form = "map"  # or "list"
        self.gets = []
        self.batches = 0
        self.batch_ids = []
        self.active = 0
        self.max_active = 0
        self.conns = set()
        self.port = None
        self._srv = None
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/users/{id}" % self.port

    @property
    def batch_url(self):
        return "http://127.0.0.1:%d/users:batch" % self.port

    def start(self):
        self._srv = _Server(("127.0.0.1", self.port or 0), _Handler)
        self._srv.svc = self
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def down(self):
        """Closes the listener and every open connection: connects are refused."""
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)
        with self.lock:
            conns, self.conns = list(self.conns), set()
        for c in conns:  # keep-alive connections cameo holds open
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def up(self):
        """Listens again on the same port."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return self.start()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def reset_counts(self):
        with self.lock:
            self.gets = []
            self.batches = 0
            self.batch_ids = []
            self.max_active = 0

    def stop(self):
        if self._srv is not None:
            try:
                self.down()
            except OSError:
                pass


def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
