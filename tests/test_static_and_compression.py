"""Pages go out compressed; static files are fingerprinted, cached for a year and compressed too."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient

from webapp.config import PROJECT_ROOT
from webapp.web import static_files

STATIC = PROJECT_ROOT / "static"
TEXT_FILES = ["css/app.css", "js/htmx.min.js", "js/app.js", "icons/icon.svg"]


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


def current_url(client: FlaskClient, filename: str) -> str:
    """The fingerprinted address pages use for `filename`."""
    with client.application.test_request_context():
        return url_for("static", filename=filename)


@pytest.mark.parametrize("filename", TEXT_FILES)
@pytest.mark.parametrize(
    ("accept", "encoding"), [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip")]
)
def test_static_text_files_go_out_compressed_and_decompress_to_the_file(
    client: FlaskClient, filename: str, accept: str, encoding: str
) -> None:
    raw = (STATIC / filename).read_bytes()
    url = current_url(client, filename)
    response = client.get(url, headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.vary
    assert int(response.headers["Content-Length"]) == len(response.data) < len(raw)
    decompress = brotli.decompress if encoding == "br" else gzip.decompress
    assert decompress(response.data) == raw
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["ETag"].strip('"').endswith(f"-{encoding}")


@pytest.mark.parametrize("filename", TEXT_FILES)
def test_static_text_files_go_out_as_they_are_without_accept_encoding(client: FlaskClient, filename: str) -> None:
    response = client.get(current_url(client, filename), headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.vary  # a shared cache must not give this copy to a brotli client
    assert response.get_data() == (STATIC / filename).read_bytes()
    response.close()


def test_htmx_in_brotli_is_under_a_third_of_its_size(client: FlaskClient) -> None:
    raw = (STATIC / "js/htmx.min.js").read_bytes()
    url = current_url(client, "js/htmx.min.js")
    br = client.get(url, headers={"Accept-Encoding": "br"}).data
    gz = client.get(url, headers={"Accept-Encoding": "gzip"}).data
    assert len(br) < len(raw) / 3
    assert len(br) < len(gz)  # quality 11: what a phone on 2G pays for once per release


def test_images_are_sent_as_they_are(client: FlaskClient) -> None:
    url = current_url(client, "icons/icon-192.png")
    response = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in response.headers
    assert response.mimetype == "image/png"
    assert response.get_data() == (STATIC / "icons/icon-192.png").read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    response.close()


def test_head_gives_the_compressed_length_without_a_body(client: FlaskClient) -> None:
    url = current_url(client, "js/htmx.min.js")
    get = client.get(url, headers={"Accept-Encoding": "br"})
    head = client.head(url, headers={"Accept-Encoding": "br"})
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Encoding"] == "br"
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.data))
    assert head.headers["ETag"] == get.headers["ETag"]


@pytest.mark.parametrize("accept", ["br", "gzip", "identity"])
def test_a_known_etag_gets_a_304_per_encoding(client: FlaskClient, accept: str) -> None:
    url = current_url(client, "css/app.css")
    first = client.get(url, headers={"Accept-Encoding": accept})
    etag = first.headers["ETag"]
    first.close()
    again = client.get(url, headers={"Accept-Encoding": accept, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again.close()
    # Each encoding is its own representation: another encoding's ETag does not match.
    other = "gzip" if accept == "br" else "br"
    elsewhere = client.get(url, headers={"Accept-Encoding": other, "If-None-Match": etag})
    assert elsewhere.status_code == 200
    elsewhere.close()


def test_static_files_never_vary_on_cookies(client: FlaskClient) -> None:
    client.get("/verify?lang=ar")  # a language cookie, as a visitor gets
    for filename in ("css/app.css", "icons/icon-192.png"):
        response = client.get(current_url(client, filename), headers={"Accept-Encoding": "br"})
        assert "cookie" not in {v.lower() for v in response.vary}, response.headers
        assert "Set-Cookie" not in response.headers
        response.close()
    # Pages still do: they depend on the session and the language cookie.
    assert "Cookie" in client.get("/verify").vary


def test_each_file_is_compressed_once_per_process(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = static_files.compress

    def counting(data: bytes, encoding: str) -> bytes:
        calls.append(encoding)
        return real(data, encoding)

    monkeypatch.setattr(static_files, "compress", counting)
    url = current_url(client, "js/app.js")
    for _ in range(3):
        for accept in ("br", "gzip"):
            assert client.get(url, headers={"Accept-Encoding": accept}).status_code == 200
    assert sorted(calls) == ["br", "gzip"]


def test_an_edited_file_gets_a_new_fingerprint_and_fresh_bytes(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body{color:red}" * 40)
    files = static_files.StaticFiles(tmp_path)
    first = files.version("site.css")
    assert first is not None
    assert brotli.decompress(files.compressed(first, "br")) == (tmp_path / "site.css").read_bytes()
    (tmp_path / "site.css").write_text("body{color:blue}" * 40)
    second = files.version("site.css")
    assert second is not None
    assert second.fingerprint != first.fingerprint
    assert brotli.decompress(files.compressed(second, "br")) == b"body{color:blue}" * 40
    assert files.version("../site.css") is None
    assert files.version("missing.css") is None
    (tmp_path / "missing.css").write_text("a{}")  # a miss is not remembered
    assert files.version("missing.css") is not None


def _without_csrf(html: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]+"', b"", html)


def test_error_pages_are_compressed_too(client: FlaskClient) -> None:
    # Flask-Compress alone sends 4xx answers uncompressed: the recipient's "link not found",
    # "wrong code" or "locked" page would cross a slow network at three times its size.
    plain = client.get("/l/no-such-link", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 404
    assert "Content-Encoding" not in plain.headers
    br = client.get("/l/no-such-link", headers={"Accept-Encoding": "gzip, br"})
    assert br.status_code == 404
    assert br.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in br.headers["Vary"]
    assert len(br.data) < len(plain.data) / 2
    assert _without_csrf(brotli.decompress(br.data)) == _without_csrf(plain.data)
    # A Range request never gets part of an error page.
    ranged = client.get("/l/no-such-link", headers={"Accept-Encoding": "br", "Range": "bytes=0-10"})
    assert ranged.status_code == 404
    assert "Content-Encoding" not in ranged.headers
