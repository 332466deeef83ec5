"""The embedded browser files: entry points, versioned URLs, ETag and 304."""

import re

from conftest import assert_error

ENTRIES = {
    "/cameo.js": "text/javascript",
    "/cameo-sw.js": "text/javascript",
    "/demo": "text/html",
    "/dashboard": "text/html",
}


def test_entry_points_are_revalidated_with_a_strong_etag(cameo):
    for path, ctype in ENTRIES.items():
        st, h, b = cameo.req("GET", path)
        assert st == 200, (path, st)
        assert h["content-type"] == ctype + "; charset=utf-8"
        assert h["cache-control"] == "no-cache"
        assert re.fullmatch(r'"[0-9a-f]{16}"', h["etag"]), h["etag"]
        assert h["x-content-type-options"] == "nosniff"
        assert int(h["content-length"]) == len(b) > 0
        st, h2, b2 = cameo.req("GET", path, headers={"If-None-Match": h["etag"]})
        assert st == 304 and b2 == b"" and h2["etag"] == h["etag"]
        st, h3, b3 = cameo.req("HEAD", path)
        assert st == 200 and b3 == b"" and h3["etag"] == h["etag"]


def test_service_worker_may_control_the_whole_origin(cameo):
    st, h, b = cameo.req("GET", "/cameo-sw.js")
    assert st == 200 and h["service-worker-allowed"] == "/"


def versioned_urls(cameo, page):
    st, h, b = cameo.req("GET", page)
    return re.findall(r'/assets/[0-9a-f]{16}/[A-Za-z0-9._-]+', b.decode())


def test_pages_load_versioned_immutable_assets(cameo):
    urls = versioned_urls(cameo, "/demo") + versioned_urls(cameo, "/dashboard")
    names = {u.rsplit("/", 1)[1] for u in urls}
    assert {"demo.js", "demo.css", "dashboard.js", "dashboard.css", "uPlot.iife.min.js",
            "uPlot.min.css"} <= names, names
    for u in urls:
        st, h, b = cameo.req("GET", u)
        assert st == 200, (u, st)
        assert h["cache-control"] == "public, max-age=31536000, immutable"
        assert h["etag"] == '"%s"' % u.split("/")[2]
        st, h, b = cameo.req("GET", u, headers={"If-None-Match": h["etag"]})
        assert st == 304


def test_the_demo_script_imports_the_versioned_client(cameo):
    demo_js = [u for u in versioned_urls(cameo, "/demo") if u.endswith("/demo.js")][0]
    st, h, b = cameo.req("GET", demo_js)
    imported = re.findall(r'/assets/[0-9a-f]{16}/cameo\.js', b.decode())
    assert imported, "demo.js should import the versioned cameo.js"
    st, h, b2 = cameo.req("GET", imported[0])
    st, h, b3 = cameo.req("GET", "/cameo.js")
    assert b2 == b3  # the same bytes under both URLs


def test_unknown_or_stale_versions_are_404(cameo):
    good = versioned_urls(cameo, "/demo")[0]
    name = good.rsplit("/", 1)[1]
    for path in ("/assets/0000000000000000/" + name, "/assets/" + good.split("/")[2] + "/nope.js",
                 "/assets/", "/assets/x/demo.js", "/demo.html", "/cameo.jsx"):
        assert_error(cameo.req("GET", path), 404, "not_found")


def test_assets_are_get_only(cameo):
    st, h, b = cameo.req("POST", "/cameo.js", body=b"x")
    assert_error((st, h, b), 405, "method_not_allowed")
    assert h["allow"] == "GET, HEAD"


def test_assets_are_counted_under_their_route(cameo):
    cameo.req("GET", "/demo")
    assert cameo.metric("cameo_requests_total", route="assets", code="200") >= 1
