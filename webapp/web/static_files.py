"""Fingerprinted static files, cached for a year and sent compressed.

`url_for("static", filename=…)` adds `v=<content hash>`; a request carrying the
current hash is answered with `Cache-Control: public, max-age=31536000,
immutable`, so a phone downloads htmx and the stylesheet once per release.

Flask-Compress leaves file responses alone (they stream from disk), so the
static route compresses text files itself: brotli at its best quality (else
gzip), once per process and file version, kept in memory.  A 2G/3G phone then
gets htmx in about 16 KB instead of 50.  Images are already compressed and go
out as they are.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
from flask import Flask, Response, abort, g, request, send_from_directory
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from markupsafe import Markup

ONE_YEAR = 365 * 24 * 3600
SHORT_CACHE = "public, max-age=300"
LONG_CACHE = f"public, max-age={ONE_YEAR}, immutable"

# Text files worth compressing, with the type they are served as (whatever the host's mime.types says).
TEXT_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}
ENCODINGS = ("br", "gzip")  # preferred first, when the client likes both equally
MIN_COMPRESSIBLE = 256  # below this, the encoding's framing costs more than it saves
MAX_COMPRESSIBLE = 4 * 1024 * 1024  # larger files are not held in memory
# Responses that never depend on the visitor: no session cookie written, no `Vary: Cookie`.
SESSIONLESS_ENDPOINTS = frozenset({"static", "pwa.favicon"})


@dataclass(frozen=True)
class StaticVersion:
    """One version of a static file: its content hash, and what identifies it on disk."""

    path: Path
    fingerprint: str
    size: int
    mtime_ns: int


class StaticFiles:
    """Fingerprints and compressed copies of the files under one folder, computed once per version."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._paths: dict[str, Path] = {}
        self._versions: dict[Path, StaticVersion] = {}
        self._compressed: dict[tuple[Path, str, str], bytes] = {}
        self._lock = threading.Lock()

    def version(self, filename: str) -> StaticVersion | None:
        """The current version of `filename`, or None when it is not a file inside the folder."""
        path = self._resolve(filename)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        known = self._versions.get(path)
        # A stat per call: a file edited in place (in development) gets a new fingerprint at once.
        if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return known
        content = path.read_bytes()
        version = StaticVersion(
            path=path,
            fingerprint=hashlib.sha256(content).hexdigest()[:12],
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
        )
        self._versions[path] = version
        return version

    def inline_style(self, filename: str) -> tuple[str, str]:
        """The stylesheet's text and its CSP source (`'sha256-…'`), to put it in the page itself."""
        version = self.version(filename)
        if version is None:
            raise FileNotFoundError(filename)
        key = (version.path, version.fingerprint, "inline")
        body = self._compressed.get(key)
        if body is None:
            body = version.path.read_bytes()
            self._compressed[key] = body
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        return body.decode("utf-8"), f"'sha256-{digest}'"

    def fingerprint(self, filename: str) -> str | None:
        version = self.version(filename)
        return version.fingerprint if version else None

    def compressed(self, version: StaticVersion, encoding: str) -> bytes:
        """The file's bytes in `encoding` ("br" or "gzip"), compressed on first use."""
        key = (version.path, version.fingerprint, encoding)
        body = self._compressed.get(key)
        if body is None:
            with self._lock:  # two first requests at once compress once
                body = self._compressed.get(key)
                if body is None:
                    body = compress(version.path.read_bytes(), encoding)
                    # Drop the copies of this file's older versions (edited in development).
                    for stale in [k for k in self._compressed if k[0] == version.path and k[1] != version.fingerprint]:
                        del self._compressed[stale]
                    self._compressed[key] = body
        return body

    def _resolve(self, filename: str) -> Path | None:
        known = self._paths.get(filename)
        if known is not None:
            return known
        path = (self.folder / filename).resolve()
        if not (path.is_relative_to(self.folder) and path.is_file()):
            return None  # not remembered: made-up names must not fill the memory
        self._paths[filename] = path
        return path


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return bytes(brotli.compress(data, mode=brotli.MODE_TEXT, quality=11))
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    raise ValueError(f"unknown content encoding {encoding!r}")


class StaticFilesSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, left out of static files.

    Flask-Login looks at the session after every request, which makes Flask add
    `Vary: Cookie`: a browser would then fetch the stylesheet and htmx again
    whenever a cookie changes (choosing a language, logging in), and shared
    caches would not keep them at all.
    """

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if request.endpoint in SESSIONLESS_ENDPOINTS:
            return
        super().save_session(app, session, response)


def register_static_files(app: Flask) -> None:
    static_folder = Path(app.static_folder or "static")
    files = StaticFiles(static_folder)
    app.extensions["wassit.static_files"] = files
    if type(app.session_interface) is SecureCookieSessionInterface:  # leave a custom one alone
        app.session_interface = StaticFilesSessionInterface()

    @app.template_global()
    def inline_stylesheet(filename: str = "css/app.css") -> Markup:
        """The stylesheet inside the page: on a 400 ms network, 1.4 KB more saves a round trip.
        The page's CSP then allows exactly this text (see `inline_style_sources`)."""
        text, source = files.inline_style(filename)
        g.setdefault("inline_style_sources", []).append(source)
        if "</" in text:  # could close the element early; our stylesheet never needs it
            raise ValueError(f"{filename} cannot be inlined")
        return Markup(f"<style>{text}</style>")  # noqa: S704 - our own file, hashed into the CSP

    @app.url_defaults
    def _add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = files.fingerprint(values["filename"])
            if version:
                values["v"] = version

    def send_static(filename: str) -> Response:
        version = files.version(filename)
        if version is None:
            abort(404)
        text_type = TEXT_TYPES.get(os.path.splitext(filename)[1].lower())
        encoding = None
        if text_type and MIN_COMPRESSIBLE <= version.size <= MAX_COMPRESSIBLE:
            encoding = request.accept_encodings.best_match(ENCODINGS)
        if encoding is None:
            response = send_from_directory(
                static_folder, filename, mimetype=text_type, etag=version.fingerprint, conditional=True
            )
        else:
            response = Response(files.compressed(version, encoding), mimetype=text_type)
            response.headers["Content-Encoding"] = encoding
            response.set_etag(f"{version.fingerprint}-{encoding}")
            response.last_modified = datetime.fromtimestamp(version.mtime_ns // 1_000_000_000, UTC)
            response.make_conditional(request)
        if text_type:
            response.vary.add("Accept-Encoding")
        current = request.args.get("v") == version.fingerprint
        response.headers["Cache-Control"] = LONG_CACHE if current else SHORT_CACHE
        response.headers.pop("Expires", None)
        return response

    # Flask's own static view streams the file, which Flask-Compress never compresses.
    app.view_functions["static"] = send_static
