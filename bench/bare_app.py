"""The baselines of `bench.recipient` and `bench.campaign`: a bare Flask app that answers
`GET /l/<token>` with a fixed page, and `POST /api/v1/letters` by storing the uploaded file.

    BARE_PAGE=/path/to/page.html BARE_UPLOADS=/path/to/dir gunicorn bench.bare_app:app

No database, no session, no templates, no extensions: the floor that Flask and
gunicorn alone cost for a page of the same size as the landing page, and for receiving a
letter's PDF (parsed from the multipart body, hashed, written to a file and fsynced).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from flask import Flask, Response, jsonify, request

PAGE = Path(os.environ["BARE_PAGE"]).read_bytes() if os.environ.get("BARE_PAGE") else b"<!doctype html><p>bare"
UPLOADS = Path(os.environ.get("BARE_UPLOADS", "bare-uploads"))

app = Flask(__name__)


@app.get("/l/<token>")
def page(token: str) -> Response:
    return Response(PAGE, mimetype="text/html")


@app.post("/api/v1/letters")
def upload() -> tuple[Response, int]:
    document = request.files["document"].read()
    name = uuid.uuid4().hex
    UPLOADS.mkdir(parents=True, exist_ok=True)
    with (UPLOADS / name).open("wb") as target:
        target.write(document)
        target.flush()
        os.fsync(target.fileno())
    return jsonify(id=name, sha256=hashlib.sha256(document).hexdigest(), recipient=request.form["recipient_phone"]), 201
