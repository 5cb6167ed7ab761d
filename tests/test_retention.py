"""Retention and legal hold: a letter's document is deleted DOCUMENT_RETENTION_YEARS after its final state,
its evidence and proofs kept and the deletion recorded; a legal hold (sender's admin or our operator, with a
reason, audited) keeps it; the API shows the retention date and the hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.trust_helpers import Letters, root_certificate, validate_pdf
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import AgentAuditEntry, Evidence, Letter, StoredDocument
from webapp.services import Services
from webapp.storage import ObjectMissing
from webapp.trust.proofs import add_years


@pytest.fixture
def letters(app: Flask, client: Any, sender: Any, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _accepted(letters: Letters) -> str:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    letters.run_jobs()
    return letter_id


def _events(app: Flask, letter_id: str) -> list[Evidence]:
    with app.app_context():
        rows = list(db.session.execute(select(Evidence).where(Evidence.letter_id == letter_id)).scalars())
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return rows


def _document_key(app: Flask, letter_id: str) -> str | None:
    with app.app_context():
        row = db.session.get(StoredDocument, letter_id)
        key = row.object_key if row is not None else None
        db.session.remove()
    return key


def test_a_letter_past_retention_loses_its_document_and_keeps_its_proofs_one_held_keeps_both(
    app: Flask, letters: Letters, clock: FrozenClock, client: Any, sender: Any
) -> None:
    expired = _accepted(letters)
    held = _accepted(letters)
    proofs = {letter_id: letters.proof(letter_id, "reception") for letter_id in (expired, held)}
    keys = {letter_id: _document_key(app, letter_id) for letter_id in (expired, held)}

    api = letters.api(expired)
    final_at = api["decided_at"]
    retained_until = api["retention"]["document_retained_until"]
    assert retained_until is not None
    assert retained_until.startswith(str(int(final_at[:4]) + 10))
    assert api["retention"]["legal_hold"] is None
    assert api["retention"]["document_deleted_at"] is None

    placed = client.post(
        f"/api/v1/letters/{held}/legal-hold", json={"reason": "Litige commercial, dossier 2026/77"}, headers=sender.auth
    )
    assert placed.status_code == 200, placed.json
    assert placed.json["retention"]["legal_hold"]["reason"] == "Litige commercial, dossier 2026/77"
    assert placed.json["retention"]["legal_hold"]["placed_by"] == "sender"
    again = client.post(f"/api/v1/letters/{held}/legal-hold", json={"reason": "twice over"}, headers=sender.auth)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "legal_hold_refused"

    # A day before the end nothing goes; past it, the unheld document goes and the held one stays.
    with app.app_context():
        final = db.session.get_one(Letter, expired).final_at
        db.session.remove()
    assert final is not None
    clock.current = add_years(final, 10) - timedelta(days=1)
    with app.app_context():
        assert jobs.delete_expired_documents() == 0
    clock.current = add_years(final, 10) + timedelta(days=1)
    with app.app_context():
        assert jobs.delete_expired_documents() == 1
        assert jobs.delete_expired_documents() == 0  # once

    with app.app_context():
        assert db.session.get(StoredDocument, expired) is None
        assert db.session.get(StoredDocument, held) is not None
        db.session.remove()
    store = _services(app).objects.store
    with pytest.raises(ObjectMissing):
        store.get(keys[expired] or "")
    assert store.get(keys[held] or "")

    # Evidence and proofs stay; the deletion is evidence of its own.
    deletion = [row for row in _events(app, expired) if row.event == "DocumentDeletion"]
    assert len(deletion) == 1
    assert deletion[0].details["retention_years"] == 10
    assert deletion[0].details["document"]["sha256"] == api["document"]["sha256"]
    for letter_id, pdf in proofs.items():
        assert letters.proof(letter_id, "reception") == pdf
    status = validate_pdf(proofs[expired], root_certificate(letters.client))
    assert status.intact
    assert status.valid
    after = letters.api(expired)
    assert after["retention"]["document_deleted_at"] is not None
    assert "DocumentDeletion" in [event["type"] for event in after["events"]]

    # Lifted, the held document goes at the next run.
    lifted = client.post(
        f"/api/v1/letters/{held}/legal-hold/lift", json={"reason": "Jugement définitif"}, headers=sender.auth
    )
    assert lifted.status_code == 200, lifted.json
    assert lifted.json["retention"]["legal_hold"] is None
    with app.app_context():
        assert jobs.delete_expired_documents() == 1
    events = [row.event for row in _events(app, held)]
    assert events[-3:] == ["LegalHoldPlaced", "LegalHoldLifted", "DocumentDeletion"]


def test_only_the_senders_admin_or_an_operator_places_a_hold(
    app: Flask, letters: Letters, client: Any, make_sender: Any
) -> None:
    letter_id = _accepted(letters)
    other = make_sender(org="Autre SA")
    assert (
        client.post(f"/api/v1/letters/{letter_id}/legal-hold", json={"reason": "not mine"}, headers=other.auth)
    ).status_code == 404
    assert (
        client.post(f"/api/v1/letters/{letter_id}/legal-hold", json={"reason": ""}, headers=letters.sender.auth)
    ).status_code == 422
    # An operator's agent, from the CLI: audited with the reason.
    from webapp.support.agents import create_agent

    with app.app_context():
        create_agent(db.session, _services(app).clock, email="ops@wassit.ma", password="a long agent password")
        db.session.commit()
        reference = db.session.get_one(Letter, letter_id).reference
        db.session.remove()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["letters", "hold", reference, "--agent", "ops@wassit.ma", "--reason", "Réquisition judiciaire n° 12"]
    )
    assert result.exit_code == 0, result.output
    hold = letters.api(letter_id)["retention"]["legal_hold"]
    assert hold["placed_by"] == "operator"
    with app.app_context():
        [entry] = db.session.execute(select(AgentAuditEntry).where(AgentAuditEntry.letter_id == letter_id)).scalars()
        assert entry.action == "place_legal_hold"
        assert entry.reason == "Réquisition judiciaire n° 12"
        db.session.remove()
    # Lifting needs a reason too.
    result = runner.invoke(args=["letters", "unhold", letter_id, "--agent", "ops@wassit.ma", "--reason", "Levée"])
    assert result.exit_code != 0  # reason too short
    result = runner.invoke(
        args=["letters", "unhold", letter_id, "--agent", "ops@wassit.ma", "--reason", "Mainlevée ordonnée"]
    )
    assert result.exit_code == 0, result.output
    assert letters.api(letter_id)["retention"]["legal_hold"] is None


def test_the_portal_shows_the_retention_date_and_lets_the_admin_hold_the_letter(
    app: Flask, letters: Letters, client: Any
) -> None:
    from tests.portal_helpers import csrf_token, log_in

    letter_id = _accepted(letters)
    log_in(client, letters.sender)
    page = client.get(f"/letters/{letter_id}").get_data(as_text=True)
    assert "Conservation du document" in page
    assert "Aucune" in page  # no legal hold
    placed = client.post(
        f"/letters/{letter_id}/legal-hold",
        data={"csrf_token": csrf_token(page), "action": "place", "reason": "Contentieux prud’homal"},
    )
    assert placed.status_code == 303
    page = client.get(f"/letters/{letter_id}").get_data(as_text=True)
    assert "Contentieux prud’homal" in page
    assert "Lever le gel pour litige" in page
    assert letters.api(letter_id)["retention"]["legal_hold"]["placed_by"] == "sender"
