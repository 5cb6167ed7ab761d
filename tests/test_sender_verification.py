"""Senders guided before they work: what verification needs, the documents (encrypted), the operators'
queue and decision with a reason (audited, emailed), and what waits for it (compose, bulk, tokens, webhooks)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Sender, make_pdf_bytes
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from tests.support_helpers import log_in_agent, make_agent
from tests.test_accounts import SIGNUP, last_email, link_path, post_form
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import AgentAuditEntry, Organisation, OrganisationDocument, VerificationState

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def _signed_up(client: FlaskClient, settings: Settings, run_jobs: Callable[[], None]) -> None:
    """An admin signs up and confirms their address: only the verification stands in the way."""
    assert post_form(client, "/signup", SIGNUP).status_code == 303
    run_jobs()
    assert post_form(client, link_path(last_email(settings, SIGNUP["email"]), "/confirm-email/"), {}).status_code == 303


def _org(app: Flask) -> Organisation:
    with app.app_context():
        org = db.session.execute(select(Organisation)).scalar_one()
        db.session.expunge(org)
        return org


def _send_documents(client: FlaskClient, files: dict[str, tuple[bytes, str]]) -> Any:
    page = client.get("/account/verification", headers=ENGLISH)
    data: dict[str, Any] = {"csrf_token": csrf_token(page.text)}
    for field, (content, name) in files.items():
        data[field] = (io.BytesIO(content), name)
    return client.post("/account/verification", data=data, headers=ENGLISH, content_type="multipart/form-data")


def _audit(app: Flask) -> list[AgentAuditEntry]:
    with app.app_context():
        entries = list(db.session.execute(select(AgentAuditEntry).order_by(AgentAuditEntry.at)).scalars())
        db.session.expunge_all()
        return entries


def test_the_verification_page_says_what_is_needed_and_keeps_what_was_sent(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    _signed_up(client, settings, run_jobs)
    page = client.get("/account/verification", headers=ENGLISH)
    assert page.status_code == 200
    for needed in ("Trade register extract (RC)", "ICE certificate", "National identity card (CIN)"):
        assert needed in page.text
    assert "within 24 hours on working days" in page.text
    assert "Documents to send" in page.text

    # Two good files and one that is not a document: the two are kept, the third is named beside its field
    # and in the summary at the top, linked to the field.
    rc = make_pdf_bytes(text_marker="RC 12345")
    refused = _send_documents(
        client,
        {
            "trade_register": (rc, "rc.pdf"),
            "ice_certificate": (PNG, "ice.png"),
            "representative_id": (b"MZ\x90\x00 not a document", "cin.exe"),
        },
    )
    assert refused.status_code == 422
    assert 'class="error-summary"' in refused.text
    assert 'href="#representative_id"' in refused.text
    assert "send a PDF, JPEG or PNG" in refused.text
    assert "Sent: rc.pdf" in refused.text
    assert "Sent: ice.png" in refused.text
    with app.app_context():
        documents = list(db.session.execute(select(OrganisationDocument)).scalars())
        assert sorted(d.kind.value for d in documents) == ["ice_certificate", "trade_register"]
        stored = next(d for d in documents if d.kind.value == "trade_register")
        assert rc not in stored.ciphertext
        assert b"RC 12345" not in stored.ciphertext
        assert stored.content_type == "application/pdf"
    assert _org(app).verification_state is VerificationState.AWAITING_DOCUMENTS

    # Only the missing one is chosen again: the organisation goes to the operators' queue.
    sent = _send_documents(client, {"representative_id": (JPEG, "cin.jpg")})
    assert sent.status_code == 303
    page = client.get("/account/verification", headers=ENGLISH)
    assert "our operators are checking them" in page.text
    assert _org(app).verification_state is VerificationState.IN_REVIEW


def test_only_admins_send_documents(app: Flask, make_sender: Callable[..., Sender], clock: Any) -> None:
    from webapp.accounts.signup import create_sender
    from webapp.models import Role

    admin = make_sender(org="Société Pas Encore Vérifiée", verified=False)
    with app.app_context():
        create_sender(
            db.session,
            clock,
            org_name="Société Pas Encore Vérifiée",
            email="guichet@pev.ma",
            password="correct horse battery",
            role=Role.SENDER,
        )
        db.session.commit()
    client = app.test_client()
    log_in(client, Sender("", admin.organisation_id, "guichet@pev.ma", ""))
    page = client.get("/account/verification", headers=ENGLISH)
    assert page.status_code == 200
    assert 'type="file"' not in page.text
    assert "An admin of your organisation sends the documents." in page.text
    assert _send_documents(client, {"trade_register": (PNG, "rc.png")}).status_code == 403


def test_an_operator_refuses_with_a_reason_then_verifies_each_decision_audited_and_emailed(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None], clock: FrozenClock
) -> None:
    _signed_up(client, settings, run_jobs)
    rc = make_pdf_bytes(text_marker="RC 12345")
    files = {
        "trade_register": (rc, "rc.pdf"),
        "ice_certificate": (PNG, "ice.png"),
        "representative_id": (JPEG, "c.jpg"),
    }
    assert _send_documents(client, files).status_code == 303
    org = _org(app)

    agent_id, secret = make_agent(app)
    console = app.test_client()
    log_in_agent(console, app, agent_id, secret)
    queue = console.get("/support/verifications", headers=ENGLISH)
    assert SIGNUP["legal_name"] in queue.text
    case = console.get(f"/support/verifications/{org.id}", headers=ENGLISH)
    assert case.status_code == 200
    assert "3 / 3" in queue.text
    # The operator opens a document: its bytes, and an audit entry.
    [link] = re.findall(rf'href="(/support/verifications/{org.id}/documents/[^"]+)"[^>]*>rc.pdf', case.text)
    opened = console.get(link)
    assert opened.status_code == 200
    assert opened.data == rc
    assert opened.headers["Cache-Control"] == "private, no-store"
    assert [e.action for e in _audit(app)] == ["open_organisation_document"]
    # A sender cannot open it, nor reach the console.
    assert client.get(link).status_code in (302, 303, 404)

    # A refusal needs a reason the organisation can act on.
    too_short = console.post(
        f"/support/verifications/{org.id}/refuse",
        data={"csrf_token": csrf_token(case.text), "reason": "no"},
        headers=ENGLISH,
    )
    assert too_short.status_code == 422
    assert "at least 10 characters" in too_short.text
    reason = "The trade register extract is older than three months."
    refused = console.post(
        f"/support/verifications/{org.id}/refuse",
        data={"csrf_token": csrf_token(case.text), "reason": reason},
        headers=ENGLISH,
    )
    assert refused.status_code == 303
    assert _org(app).verification_state is VerificationState.REFUSED
    run_jobs()
    mail = last_email(settings, SIGNUP["email"])
    assert "could not be verified" in mail["subject"]
    assert reason in mail["text"]
    assert "/account/verification" in mail["text"]
    page = client.get("/account/verification", headers=ENGLISH)
    assert reason in page.text
    queue_page = console.get("/support/verifications", headers=ENGLISH).text
    waiting = queue_page.split("Waiting for a decision")[1].split("Not submitted yet")[0]
    assert f'href="/support/verifications/{org.id}"' not in waiting
    assert f'href="/support/verifications/{org.id}"' in queue_page  # listed below, until documents come again

    # A new extract, the next morning: back in the queue; the operator verifies.
    clock.advance(12 * 3600)
    assert (
        _send_documents(client, {"trade_register": (make_pdf_bytes(text_marker="RC 2"), "rc2.pdf")}).status_code == 303
    )
    assert _org(app).verification_state is VerificationState.IN_REVIEW
    log_in_agent(console, app, agent_id, secret)  # the console session ended in the night
    case = console.get(f"/support/verifications/{org.id}", headers=ENGLISH)
    assert "rc2.pdf" in case.text
    verified = console.post(
        f"/support/verifications/{org.id}/verify",
        data={"csrf_token": csrf_token(case.text), "note": "RC, ICE and CIN checked against the register"},
        headers=ENGLISH,
    )
    assert verified.status_code == 303
    done = _org(app)
    assert done.verification_state is VerificationState.VERIFIED
    assert done.verification_document == "RC, ICE and CIN checked against the register"
    run_jobs()
    mail = last_email(settings, SIGNUP["email"])
    assert "is verified" in mail["subject"]
    actions = [(e.action, e.reason) for e in _audit(app)]
    assert actions == [
        ("open_organisation_document", None),
        ("refuse_organisation", reason),
        ("verify_organisation", "RC, ICE and CIN checked against the register"),
    ]
    audit_page = console.get("/support/audit", headers=ENGLISH)
    assert "Verification refused" in audit_page.text
    assert "Organisation verified" in audit_page.text
    # The organisation can now send: the compose page shows its form.
    compose = client.get("/letters/new", headers=ENGLISH)
    assert 'name="document"' in compose.text
    # A second decision on a verified organisation changes nothing.
    again = console.post(
        f"/support/verifications/{org.id}/refuse",
        data={"csrf_token": csrf_token(case.text), "reason": "changed my mind about it"},
        headers=ENGLISH,
    )
    assert again.status_code == 303
    assert _org(app).verification_state is VerificationState.VERIFIED


def test_webhooks_wait_for_verification(
    client: FlaskClient, app: Flask, make_sender: Callable[..., Sender], settings: Settings
) -> None:
    unverified = make_sender(org="Société Pas Encore Vérifiée", verified=False)
    log_in(client, unverified)
    page = client.get("/settings/webhooks", headers=ENGLISH)
    assert 'name="url"' not in page.text
    assert "wait for the verification of your organisation" in page.text
    posted = client.post(
        "/settings/webhooks",
        data={"csrf_token": csrf_token(page.text), "url": "https://erp.example.ma/hooks"},
        headers=ENGLISH,
    )
    assert posted.status_code == 403
    api = client.post("/api/v1/webhooks", json={"url": "https://erp.example.ma/hooks"}, headers=unverified.auth)
    assert api.status_code == 403
    assert api.json["error"]["code"] == "organisation_not_verified"
