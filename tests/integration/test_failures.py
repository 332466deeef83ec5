"""The store failing under cameo: a full disk (a file-size limit on the
daemon, so SQLite's writes fail with EFBIG exactly as on a full disk).

Every failed write is a clear 503 that changes nothing; reads go on.
"""
import resource

from conftest import assert_error, uid

LIMIT = 512 * 1024  # bytes any file of the daemon may grow to


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_full_disk_fails_writes_cleanly_and_keeps_serving_reads(make_cameo):
    # No debug log: the stderr log file is under the same limit.
    d = make_cameo(preexec=limit_file_size, flags=("listen", "data", "workers", "admin-token"))
    prefix = uid("full")
    bio = "x" * 4000
    written = []
    failed = None
    for i in range(1000):  # the WAL reaches the limit long before this
        u = "%s-%d" % (prefix, i)
        st, h, b = d.req("PUT", "/v1/users/" + u, body={"bio": bio, "n": i}, token=d.token)
        if st != 201:
            failed = (u, (st, h, b))
            break
        written.append(u)
    assert failed is not None, "the store never filled up"
    assert len(written) > 5
    u, resp = failed
    assert_error(resp, 503, "unavailable")

    # The failed write changed nothing.
    assert_error(d.req("GET", "/v1/users/" + u), 404, "not_found")

    # Every acknowledged write is still readable, from memory and from the store.
    st, _, _ = d.req("POST", "/v1/invalidate", body={"ids": written}, token=d.token)
    assert st == 200
    for w in (written[0], written[len(written) // 2], written[-1]):
        st, _, body = d.req("GET", "/v1/users/" + w)
        assert st == 200 and b'"bio"' in body
    assert d.req("GET", "/healthz")[0] == 200
