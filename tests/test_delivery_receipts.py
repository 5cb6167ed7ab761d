"""Operator delivery receipts: POST /webhooks/vonage/dlr accepts only signed, fresh receipts, records
each once as evidence, and shows delivery on the timeline, the API, the portal and the proofs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from vonage_http_client import Auth

from tests.conftest import Sender
from tests.db_helpers import evidence_rows, letter_row, only_message
from tests.portal_helpers import portal_page
from tests.trust_helpers import Letters, pdf_text, record_of
from tests.vonage_helpers import SECRET, FakeVonage, receipt_fields, sign
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.states import Event, LetterStatus
from webapp.models import DeliveryReceipt, Evidence, MessagePurpose, MessageStatus, OutboundMessage
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.notify.sms.vonage_receipts import parse_delivery_report, signature
from webapp.services import Services

DLR = "/webhooks/vonage/dlr"


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


@pytest.fixture
def vonage(app: Flask) -> FakeVonage:
    services = _services(app)
    services.settings = services.settings.replace(vonage_signature_secret=SECRET)
    fake = FakeVonage(ConsoleSmsProvider(services.settings.sms_outbox))
    services.sms = fake
    return fake


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        counts = (
            db.session.execute(select(func.count(DeliveryReceipt.id))).scalar_one(),
            db.session.execute(select(func.count(Evidence.id))).scalar_one(),
        )
        db.session.remove()
        return counts


def post(client: FlaskClient, fields: dict[str, str], *, as_json: bool = False) -> Any:
    if as_json:
        return client.post(DLR, json=fields)
    return client.post(DLR, data=fields)


def notified_letter(letters: Letters) -> tuple[str, str, OutboundMessage]:
    letter_id, path = letters.notified()
    return letter_id, path, only_message(letters.app, letter_id)


# --- the signature ---------------------------------------------------------------------------------


def test_our_signature_is_the_one_vonage_s_own_sdk_computes() -> None:
    fields = {"messageId": "0A0000001234ABCD", "status": "delivered", "text": "a&b=c", "timestamp": "1795000000"}
    auth = Auth(api_key="abcd1234", signature_secret=SECRET, signature_method="sha256")
    assert signature(fields, SECRET) == auth.sign_params(dict(fields))
    assert auth.check_signature(sign(fields))


def test_a_signed_delivery_receipt_is_recorded_at_the_operator_s_time(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    assert message.provider == "vonage"
    clock.advance(70)
    response = post(client, sign(receipt_fields(message, signed_at=clock.now())))
    assert response.status_code == 200, response.json
    assert response.json == {"status": "recorded"}

    events = evidence_rows(app, letter_id)
    assert [e.event for e in events] == [
        Event.SUBMISSION_ACCEPTANCE.value,
        Event.CONSIGNMENT_NOTIFICATION.value,
        Event.NOTIFICATION_DELIVERED.value,
    ]
    delivered = events[-1]
    operator_time = datetime(2026, 11, 23, 10, 1, tzinfo=UTC)  # scts 2611231001
    assert delivered.occurred_at == operator_time
    details = record_of(delivered)["details"]
    assert details["notification"]["message_id"] == message.id
    assert details["notification"]["channel"] == "sms"
    assert details["receipt"]["provider_message_id"] == message.provider_message_id
    assert details["receipt"]["status"] == "delivered"
    assert details["receipt"]["received_at"].startswith("2026-11-23T10:01:10")

    sent = only_message(app, letter_id)
    assert (sent.status, sent.delivery_status, sent.delivered_at) == (MessageStatus.SENT, "delivered", operator_time)

    body = letters.api(letter_id)
    assert body["status"] == "notified"
    assert {"type": "NotificationDelivered", "at": "2026-11-23T10:01:00.000000Z"}.items() <= {
        **body["events"][-1]
    }.items()
    [notification] = body["notifications"]
    assert notification["channel"] == "sms"
    assert notification["delivery"] == {"status": "delivered", "at": "2026-11-23T10:01:00.000000Z"}

    page = portal_page(client, letters.sender, f"/letters/{letter_id}")
    assert page.status_code == 200
    assert "delivered to the phone on" in page.text
    assert "SMS delivered to the phone" in page.text  # the timeline


def test_the_proof_says_when_the_sms_reached_the_phone(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, path, message = notified_letter(letters)
    clock.advance(70)
    assert post(client, sign(receipt_fields(message, signed_at=clock.now()))).status_code == 200
    letters.decide(path, "accept")
    run_jobs()
    text = pdf_text(letters.proof(letter_id, "reception"))
    assert "SMS remis au téléphone 2026-11-23 10:01:00 UTC" in text
    assert "Notification remise au téléphone" in text  # the event row
    # The deposit proof, issued before any receipt, says nothing of it.
    assert "SMS remis" not in pdf_text(letters.proof(letter_id, "deposit"))


@pytest.mark.parametrize("as_json", [False, True])
def test_a_receipt_sent_as_json_or_form_is_accepted(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock, as_json: bool
) -> None:
    letter_id, _, message = notified_letter(letters)
    response = post(client, sign(receipt_fields(message, signed_at=clock.now())), as_json=as_json)
    assert response.status_code == 200
    assert only_message(app, letter_id).delivery_status == "delivered"


# --- every rejection: 401 and nothing recorded --------------------------------------------------


def _rejections(message: OutboundMessage, now: datetime) -> dict[str, dict[str, str]]:
    fields = receipt_fields(message, signed_at=now)
    tampered = sign(fields)
    tampered["status"] = "failed"  # changed after signing
    reordered = sign(fields)
    reordered["err-code"] = "3"
    return {
        "unsigned": fields,
        "empty signature": {**fields, "sig": ""},
        "wrong secret": sign(fields, "not-our-secret"),
        "tampered status": tampered,
        "tampered error": reordered,
        "garbage signature": {**fields, "sig": "zz" * 32},
        "replayed (11 minutes old)": sign(receipt_fields(message, signed_at=now - timedelta(minutes=11))),
        "from the future": sign(receipt_fields(message, signed_at=now + timedelta(minutes=11))),
        "no timestamp": sign({k: v for k, v in fields.items() if k != "timestamp"}),
        "timestamp not a number": sign({**fields, "timestamp": "yesterday"}),
    }


def test_forged_unsigned_and_replayed_receipts_get_401_and_record_nothing(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    before = _counts(app)
    for name, fields in _rejections(message, clock.now()).items():
        for as_json in (False, True):
            response = post(client, fields, as_json=as_json)
            assert response.status_code == 401, name
            assert response.json["error"]["code"] == "invalid_signature", name
    assert _counts(app) == before
    assert only_message(app, letter_id).delivery_status is None


def test_a_receipt_is_refused_when_no_signature_secret_is_configured(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    _, _, message = notified_letter(letters)
    services = _services(app)
    services.settings = services.settings.replace(vonage_signature_secret="")
    before = _counts(app)
    fields = receipt_fields(message, signed_at=clock.now())
    assert post(client, sign(fields, "")).status_code == 401
    assert post(client, sign(fields)).status_code == 401
    assert _counts(app) == before


def test_the_window_follows_the_setting(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    services = _services(app)
    services.settings = services.settings.replace(vonage_signature_max_age=30)
    assert post(client, sign(receipt_fields(message, signed_at=clock.now() - timedelta(seconds=31)))).status_code == 401
    assert post(client, sign(receipt_fields(message, signed_at=clock.now() - timedelta(seconds=29)))).status_code == 200
    assert only_message(app, letter_id).delivery_status == "delivered"


def test_a_malformed_receipt_is_refused(
    app: Flask, client: FlaskClient, vonage: FakeVonage, clock: FrozenClock
) -> None:
    before = _counts(app)
    now = str(int(clock.now().timestamp()))
    assert client.post(DLR, json=["not", "an", "object"]).status_code == 400
    assert client.post(DLR, json={"nested": {"a": 1}, "timestamp": now}).status_code == 400
    no_message = sign({"status": "delivered", "timestamp": now, "nonce": "n"})
    assert post(client, no_message).status_code == 400
    assert client.get(DLR).status_code == 405
    assert _counts(app) == before


# --- duplicates, intermediate statuses, unknown messages ------------------------------------------


def test_a_duplicate_receipt_is_recorded_once(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    fields = sign(receipt_fields(message, signed_at=clock.now()))
    assert post(client, fields).json == {"status": "recorded"}
    after_first = _counts(app)
    # The same request again, and the same receipt re-signed later (a provider retry).
    assert post(client, fields).json == {"status": "duplicate"}
    clock.advance(60)
    again = sign(receipt_fields(message, signed_at=clock.now()))
    assert post(client, again, as_json=True).json == {"status": "duplicate"}
    assert _counts(app) == after_first
    delivered = [e for e in evidence_rows(app, letter_id) if e.event == Event.NOTIFICATION_DELIVERED.value]
    assert len(delivered) == 1


def test_an_intermediate_status_records_nothing(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    _letter_id, _, message = notified_letter(letters)
    before = _counts(app)
    for status in ("accepted", "buffered", "unknown"):
        response = post(client, sign(receipt_fields(message, status=status, signed_at=clock.now())))
        assert response.status_code == 200
        assert response.json == {"status": "intermediate"}
    assert _counts(app) == before


def test_a_receipt_for_an_unknown_message_is_acknowledged_and_ignored(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    _, _, message = notified_letter(letters)
    before = _counts(app)
    fields = receipt_fields(message, signed_at=clock.now())
    fields.update({"messageId": "0A00000FFFFFFFFF", "client-ref": "someone-else"})
    response = post(client, sign(fields))
    assert response.status_code == 200
    assert response.json == {"status": "unknown_message"}
    assert _counts(app) == before


def test_each_part_of_a_long_sms_has_a_receipt_but_one_delivery_is_recorded(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    first = receipt_fields(message, signed_at=clock.now())
    second = {**receipt_fields(message, signed_at=clock.now(), scts="2611231002"), "messageId": "0A000000000000FF"}
    assert post(client, sign(first)).json == {"status": "recorded"}
    assert post(client, sign(second)).json == {"status": "recorded"}  # matched by our reference
    with app.app_context():
        assert db.session.execute(select(func.count(DeliveryReceipt.id))).scalar_one() == 2
    delivered = [e for e in evidence_rows(app, letter_id) if e.event == Event.NOTIFICATION_DELIVERED.value]
    assert len(delivered) == 1
    assert only_message(app, letter_id).delivered_at == datetime(2026, 11, 23, 10, 1, tzinfo=UTC)


# --- failures reported by the operator -------------------------------------------------------


def test_a_permanent_operator_failure_makes_the_letter_undeliverable(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, _, message = notified_letter(letters)
    clock.advance(300)
    fields = receipt_fields(message, status="failed", err_code="3", signed_at=clock.now())
    assert post(client, sign(fields)).json == {"status": "recorded"}

    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.UNDELIVERABLE
    failure = evidence_rows(app, letter_id)[-1]
    assert failure.event == Event.CONSIGNMENT_NOTIFICATION_FAILURE.value
    details = record_of(failure)["details"]
    assert details["from_status"] == "notified"
    assert details["permanent"] is True
    assert details["receipt"]["error_code"] == "3"
    assert "error 3" in details["reason"]
    assert "no longer active" in details["reason"]
    failed = only_message(app, letter_id)
    assert (failed.status, failed.delivery_status) == (MessageStatus.FAILED, "failed")

    body = letters.api(letter_id)
    assert body["status"] == "undeliverable"
    assert body["events"][-1]["type"] == "ConsignmentNotificationFailure"
    assert "error 3" in body["events"][-1]["reason"]
    assert body["notifications"][0]["error"]
    assert "error 3" in body["notifications"][0]["error"]
    run_jobs()
    text = pdf_text(letters.proof(letter_id, "non_delivery"))
    assert "error 3" in text


def test_a_temporary_operator_failure_is_recorded_and_the_letter_stays_notified(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, _, message = notified_letter(letters)
    fields = receipt_fields(message, status="expired", err_code="2", signed_at=clock.now())
    assert post(client, sign(fields)).json == {"status": "recorded"}
    assert letter_row(app, letter_id).status is LetterStatus.NOTIFIED
    failure = evidence_rows(app, letter_id)[-1]
    assert failure.event == Event.CONSIGNMENT_NOTIFICATION_FAILURE.value
    assert record_of(failure)["details"]["permanent"] is False
    sent = only_message(app, letter_id)
    assert (sent.status, sent.delivery_status) == (MessageStatus.SENT, "failed")
    [notification] = letters.api(letter_id)["notifications"]
    assert notification["delivery"] == {"status": "failed", "at": None}
    assert "error 2" in notification["error"]


def test_a_receipt_settles_a_message_whose_sending_was_interrupted(
    app: Flask, client: FlaskClient, vonage: FakeVonage, deposit: Any, run_jobs: Any, clock: FrozenClock
) -> None:
    """A worker died after Vonage took the SMS: the message is `uncertain`, never resent; the
    receipt proves it went out, so the letter is notified then."""
    letter_id = deposit().json["id"]
    message = only_message(app, letter_id)
    with app.app_context():
        row = db.session.get_one(OutboundMessage, message.id)
        row.status = MessageStatus.UNCERTAIN
        row.submitted_at = clock.now()
        row.provider = "vonage"
        db.session.commit()
        db.session.remove()
    clock.advance(30)
    fields = receipt_fields(message, signed_at=clock.now())
    fields["messageId"] = "0A0000000000ABCD"  # we never learnt it: matched by our reference
    assert post(client, sign(fields)).json == {"status": "recorded"}
    settled = only_message(app, letter_id)
    assert settled.status is MessageStatus.SENT
    assert settled.provider_message_id == "0A0000000000ABCD"
    assert settled.secret_ciphertext is None
    letter = letter_row(app, letter_id)
    assert letter.status is LetterStatus.NOTIFIED
    assert letter.notified_at == clock.now() - timedelta(seconds=30)
    assert [e.event for e in evidence_rows(app, letter_id)][-2:] == [
        Event.CONSIGNMENT_NOTIFICATION.value,
        Event.NOTIFICATION_DELIVERED.value,
    ]
    run_jobs()
    assert vonage.sent == []  # never sent twice


def test_a_code_sms_receipt_is_stored_without_evidence(
    app: Flask, client: FlaskClient, vonage: FakeVonage, letters: Letters, clock: FrozenClock
) -> None:
    letter_id, path, _ = notified_letter(letters)
    letters.identify(path)
    code = only_message(app, letter_id, MessagePurpose.CODE)
    before_events = len(evidence_rows(app, letter_id))
    assert post(client, sign(receipt_fields(code, signed_at=clock.now()))).json == {"status": "recorded"}
    assert len(evidence_rows(app, letter_id)) == before_events
    assert only_message(app, letter_id, MessagePurpose.CODE).delivery_status == "delivered"
    assert [n["purpose"] for n in letters.api(letter_id)["notifications"]] == ["notification"]


def test_parse_reads_the_operator_time_and_classifies_errors() -> None:
    base = {"messageId": "X1", "status": "failed", "timestamp": "1"}
    assert parse_delivery_report({**base, "err-code": "4"}).permanent
    assert not parse_delivery_report({**base, "err-code": "8"}).permanent
    report = parse_delivery_report({**base, "status": "delivered", "scts": "261123100159"})
    assert report.operator_at == datetime(2026, 11, 23, 10, 1, 59, tzinfo=UTC)
    report = parse_delivery_report({**base, "scts": "bad", "message-timestamp": "2026-11-23 10:02:03"})
    assert report.operator_at == datetime(2026, 11, 23, 10, 2, 3, tzinfo=UTC)
    assert parse_delivery_report({**base, "status": "accepted"}).outcome == "pending"
    assert "sig" not in parse_delivery_report({**base, "sig": "abc"}).fields
    assert json.dumps(parse_delivery_report(base).fields)
