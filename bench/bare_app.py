"""The baseline of `bench.recipient`: a bare Flask app that answers `GET /l/<token>` with a fixed page.

    BARE_PAGE=/path/to/page.html gunicorn bench.bare_app:app

No database, no session, no templates, no extensions: the floor that Flask and
gunicorn alone cost for a page of the same size as the landing page.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

PAGE = Path(os.environ["BARE_PAGE"]).read_bytes() if os.environ.get("BARE_PAGE") else b"<!doctype html><p>bare"

app = Flask(__name__)


@app.get("/l/<token>")
def page(token: str) -> Response:
    return Response(PAGE, mimetype="text/html")
