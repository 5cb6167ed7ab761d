"""Pages go out compressed; static files are fingerprinted and cached for a year."""

from __future__ import annotations

import gzip
import re

import brotli
from flask.testing import FlaskClient


def test_pages_are_compressed_with_brotli_or_gzip(client: FlaskClient) -> None:
    plain = client.get("/verify", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert len(plain.data) > 512

    br = client.get("/verify", headers={"Accept-Encoding": "gzip, br"})
    assert br.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in br.headers["Vary"]
    assert len(br.data) < len(plain.data) / 2
    assert _without_csrf(brotli.decompress(br.data)) == _without_csrf(plain.data)

    gz = client.get("/verify", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert _without_csrf(gzip.decompress(gz.data)) == _without_csrf(plain.data)


def test_static_urls_carry_a_fingerprint_and_are_cached_for_a_year(client: FlaskClient) -> None:
    page = client.get("/verify").text
    match = re.search(r'src="(/static/js/htmx\.min\.js\?v=([0-9a-f]{12}))"', page)
    assert match, page
    assert re.search(r'href="/static/css/app\.css\?v=[0-9a-f]{12}"', page)

    fingerprinted = client.get(match.group(1))
    assert fingerprinted.status_code == 200
    assert fingerprinted.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    fingerprinted.close()

    stale = client.get("/static/js/htmx.min.js?v=000000000000")
    assert stale.headers["Cache-Control"] == "public, max-age=300"
    stale.close()
    bare = client.get("/static/js/htmx.min.js")
    assert bare.headers["Cache-Control"] == "public, max-age=300"
    bare.close()


def test_a_fingerprint_never_escapes_the_static_folder(client: FlaskClient) -> None:
    response = client.get("/static/../pyproject.toml?v=abc")
    assert response.status_code == 404


def _without_csrf(html: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]+"', b"", html)
