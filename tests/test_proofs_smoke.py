"""Proofs end to end through the API: produced after each outcome, signed, verifiable."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.test_smoke_flow import _code, _csrf, _link
from webapp.extensions import db
from webapp.services import current_services
from webapp.trust.verify import check_proof_pdf


def test_deposit_and_reception_proofs_are_genuine(
    app: Flask, client: FlaskClient, deposit: Any, run_jobs: Any, outbox: Any, sender: Any
) -> None:
    created = deposit()
    letter_id = created.json["id"]
    run_jobs()
    path = _link(outbox()[0]["text"])
    assert client.get(path).status_code == 200
    client.post(f"{path}/code")  # no CSRF token: the link is the authority (pages.send_code)
    run_jobs()
    page = client.get(f"{path}/code")
    client.post(f"{path}/code/check", data={"csrf_token": _csrf(page.text), "code": _code(outbox()[-1]["text"])})
    page = client.get(f"{path}/decision")
    client.post(f"{path}/decision", data={"csrf_token": _csrf(page.text), "decision": "accept"})
    run_jobs()

    letter = client.get(f"/api/v1/letters/{letter_id}", headers=sender.auth).json
    kinds = {p["kind"]: p["status"] for p in letter["proofs"]}
    assert kinds == {"deposit": "ready", "reception": "ready"}
    for kind in ("deposit", "reception"):
        response = client.get(f"/api/v1/letters/{letter_id}/proofs/{kind}", headers=sender.auth)
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        with app.app_context():
            check = check_proof_pdf(db.session, current_services(), response.data)
            assert check.genuine, check
            tampered = bytearray(response.data)
            index = response.data.index(b"/Contents") - 40  # inside the signed byte range
            tampered[index] ^= 0x01
            assert not check_proof_pdf(db.session, current_services(), bytes(tampered)).genuine
