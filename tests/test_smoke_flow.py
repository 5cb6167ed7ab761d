"""The whole recipient flow through the test client: deposit → SMS → code → decision → download."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient


def _link(text: str) -> str:
    match = re.search(r"https://wassit\.ma(/l/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _code(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


def test_accept_then_download_exact_bytes(
    client: FlaskClient, deposit: Any, run_jobs: Any, outbox: Any, pdf: Any
) -> None:
    document = pdf(pad_to=5000)
    created = deposit(document=document)
    assert created.status_code == 201, created.json
    letter_id = created.json["id"]
    run_jobs()
    [notification] = outbox()
    assert notification["to"] == "+212612345678"
    path = _link(notification["text"])

    landing = client.get(path)
    assert landing.status_code == 200
    assert created.json["reference"] in landing.text
    response = client.post(f"{path}/code")  # no CSRF token: the link is the authority (pages.send_code)
    assert response.status_code == 303
    run_jobs()
    code = _code(outbox()[-1]["text"])
    page = client.get(response.headers["Location"])
    response = client.post(f"{path}/code/check", data={"csrf_token": _csrf(page.text), "code": code})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert 'name="decision"' in page.text
    response = client.post(f"{path}/decision", data={"csrf_token": _csrf(page.text), "decision": "accept"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert "Banque Atlas SA" in page.text
    download = client.get(f"{path}/document")
    assert download.status_code == 200
    assert download.data == document
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert letter_id
