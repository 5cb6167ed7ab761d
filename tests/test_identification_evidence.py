"""Identification and handover as evidence (issue 13, items 5 and 8).

A code sent is recorded (to the masked number, by which message), a code typed
right records the client's address and browser, and so do the decision and every
download; a notification's record holds the SHA-256 of the exact text sent, never
the text; ETSI events carry their EN 319 522-2 URI.  The sender can prove that the
recipient opened the document: the reception proof lists a download that came
first, a later one has its own proof of handover, checked with pyHanko's validator.
A document name marked confidential never shows on the public verifier.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.status import SignatureCoverageLevel
from sqlalchemy import select, text

from tests.conftest import START, Sender, make_pdf_bytes
from tests.portal_helpers import portal_page
from tests.trust_helpers import (
    CODE,
    LINK,
    Letters,
    attachments,
    csrf_of,
    evidence_rows,
    pdf_text,
    record_of,
    root_certificate,
    validate_pdf,
    verdicts,
)
from webapp import jobs
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings
from webapp.extensions import db
from webapp.labels import PROOF_EVENT_LABELS_BY_LANGUAGE as EVENT_LABELS
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS
from webapp.letters.identification import USER_AGENT_MAX, ClientInfo, masked_number
from webapp.letters.recipient import hand_over_document
from webapp.models import (
    Batch,
    BatchStatus,
    Evidence,
    Letter,
    MessagePurpose,
    OneTimeCode,
    OutboundMessage,
    Proof,
    ProofKind,
)
from webapp.services import Services
from webapp.trust.verify import check_proof_pdf

PHONE = "+212612345678"
MASKED = "+2126••••5678"
BROWSER = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36"
ETSI = "http://uri.etsi.org/19522/Event/"
# The events EN 319 522-2 names, and our extensions (which carry no URI).
ETSI_EVENTS = {
    "SubmissionAcceptance",
    "ConsignmentNotification",
    "ConsignmentNotificationFailure",
    "NotificationDelivered",
    "ConsignmentAcceptance",
    "ConsignmentRejection",
    "ContentHandover",
    "AcceptanceRejectionExpiry",
}
EXTENSIONS = {
    "ConsignmentReminder",
    "RecipientCodeSent",
    "RecipientIdentification",
    "RecipientIdentificationFailure",
    "RecipientUnlock",
}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """conftest's settings; `@pytest.mark.parametrize("settings", [n], indirect=True)` puts n proxies in front."""
    return settings.replace(trusted_proxies=getattr(request, "param", 0))


def phone_browser(app: Flask, address: str = "198.51.100.23", agent: str = BROWSER) -> FlaskClient:
    """The recipient's phone: its own cookie jar, address and User-Agent, English pages."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.environ_base["HTTP_USER_AGENT"] = agent
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def phone(app: Flask) -> FlaskClient:
    return phone_browser(app)


@pytest.fixture
def letters(app: Flask, phone: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, phone, sender, deposit, run_jobs, outbox)


def _records(app: Flask, letter_id: str) -> list[tuple[Evidence, dict[str, Any]]]:
    return [(row, record_of(row)) for row in evidence_rows(app, letter_id)]


def _only(app: Flask, letter_id: str, event: str) -> dict[str, Any]:
    [record] = [record for row, record in _records(app, letter_id) if row.event == event]
    return record


def _download(client: FlaskClient, path: str) -> bytes:
    response = client.get(f"{path}/document")
    assert response.status_code == 200, response.status_code
    return bytes(response.data)


def _proof_kinds(letters: Letters, letter_id: str) -> dict[str, str]:
    return {proof["kind"]: proof["status"] for proof in letters.api(letter_id)["proofs"]}


def _embedded_events(proof: bytes) -> list[tuple[str, bytes]]:
    """(event, canonical JSON) of the evidence records a proof carries, in order."""
    embedded = attachments(proof)
    names = sorted(name for name in embedded if name.startswith("evidence-") and name.endswith(".json"))
    return [(json.loads(embedded[name])["event"], embedded[name]) for name in names]


# --- the client ----------------------------------------------------------------------------------


def test_client_info_keeps_a_sane_user_agent_and_a_real_address() -> None:
    client = ClientInfo.of(" 2001:DB8:0:0:0:0:0:1 ", "x" * 5000)
    assert client.ip == "2001:db8::1"
    assert client.user_agent is not None
    assert len(client.user_agent) == USER_AGENT_MAX
    assert ClientInfo.of("not an address", "") == ClientInfo(ip=None, user_agent=None)
    assert ClientInfo.of(None, None).facts() == {"ip": None, "user_agent": None}
    assert masked_number(PHONE) == MASKED


def test_trusted_proxies_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    assert Settings.from_env().trusted_proxies == 1
    monkeypatch.setenv("TRUSTED_PROXIES", "-1")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_env()


# --- a code sent, a code verified ------------------------------------------------------------------


def test_a_code_sent_is_recorded_with_the_masked_number_and_its_message_never_the_code(
    app: Flask, letters: Letters, phone: FlaskClient, outbox: Any
) -> None:
    letter_id, path = letters.notified()
    letters.identify(path)
    code_sms = outbox()[-1]
    code = CODE.search(code_sms["text"])
    assert code
    rows = _records(app, letter_id)
    assert [row.event for row, _ in rows][-2:] == ["RecipientCodeSent", "RecipientIdentification"]
    (sent_row, sent), (_, identified) = rows[-2:]

    with app.app_context():
        [message] = db.session.execute(
            select(OutboundMessage).where(
                OutboundMessage.letter_id == letter_id, OutboundMessage.purpose == MessagePurpose.CODE
            )
        ).scalars()
        [entry] = db.session.execute(select(OneTimeCode).where(OneTimeCode.letter_id == letter_id)).scalars()
        assert entry.message_id == message.id
        assert message.text_sha256 is None  # six digits are a million guesses away from any hash
        assert sent_row.occurred_at == message.submitted_at  # when it was handed to the operator
        db.session.remove()
    assert sent["details"] == {
        "method": "sms-otp",
        "message": {
            "channel": "sms",
            "purpose": "code",
            "message_id": message.id,
            "provider": "console",
            "provider_message_id": message.provider_message_id,
            "to": MASKED,
        },
    }
    assert message.provider_message_id
    assert "event_uri" not in sent  # an extension of ours
    canonical = sent_row.canonical
    assert code.group(1) not in canonical
    assert hashlib.sha256(code_sms["text"].encode()).hexdigest() not in canonical
    assert PHONE not in json.dumps(sent["details"], ensure_ascii=False)

    # The identification names that message, the method, and the client that typed the code.
    assert identified["details"]["method"] == "sms-otp"
    assert identified["details"]["code_message_id"] == message.id
    assert identified["details"]["code_requested_at"] == sent["at"]
    assert identified["details"]["client"] == {"ip": "198.51.100.23", "user_agent": BROWSER}
    assert code.group(1) not in json.dumps(identified)


def test_a_wrong_code_records_the_client_that_typed_it(app: Flask, letters: Letters, phone: FlaskClient) -> None:
    letter_id, path = letters.notified()
    assert phone.get(path).status_code == 200
    assert phone.post(f"{path}/code").status_code == 303
    page = phone.get(f"{path}/code")
    letters.run_jobs()
    match = CODE.search(letters.outbox()[-1]["text"])
    assert match
    wrong = f"{(int(match.group(1)) + 1) % 1_000_000:06d}"
    response = phone.post(f"{path}/code/check", data={"csrf_token": csrf_of(page.text), "code": wrong})
    assert response.status_code == 422
    failure = _only(app, letter_id, "RecipientIdentificationFailure")
    assert failure["details"]["client"] == {"ip": "198.51.100.23", "user_agent": BROWSER}
    assert wrong not in json.dumps(failure)


@pytest.mark.parametrize("settings", [1], indirect=True)
def test_behind_a_trusted_proxy_the_forwarded_address_is_recorded(app: Flask, letters: Letters) -> None:
    letters.client.environ_base["REMOTE_ADDR"] = "10.0.0.5"  # the proxy
    letters.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    assert _only(app, letter_id, "RecipientIdentification")["details"]["client"]["ip"] == "203.0.113.9"
    assert _only(app, letter_id, "ConsignmentAcceptance")["details"]["client"]["ip"] == "203.0.113.9"


def test_without_trusted_proxies_a_forwarded_header_is_ignored(app: Flask, letters: Letters) -> None:
    letters.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    letter_id, path = letters.notified()
    letters.identify(path)
    assert _only(app, letter_id, "RecipientIdentification")["details"]["client"]["ip"] == "198.51.100.23"


# --- decisions and downloads -----------------------------------------------------------------------


def test_refusal_records_the_client(app: Flask, letters: Letters) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "refuse", reason="Inconnu")
    details = _only(app, letter_id, "ConsignmentRejection")["details"]
    assert details["client"] == {"ip": "198.51.100.23", "user_agent": BROWSER}
    assert details["identification"] == "sms-otp"
    assert details["reason"] == "Inconnu"


def test_acceptance_and_every_download_record_the_client_and_the_bytes_handed_over(
    app: Flask, letters: Letters, phone: FlaskClient, pdf: Any
) -> None:
    document = pdf(pad_to=3000)
    letter_id, path = letters.notified(document=document)
    letters.decide(path, "accept")
    assert _only(app, letter_id, "ConsignmentAcceptance")["details"]["client"] == {
        "ip": "198.51.100.23",
        "user_agent": BROWSER,
    }
    assert _download(phone, path) == document

    # Later, from another phone: a new identification, a second download, each with its client.
    other = phone_browser(app, "2001:db8::7", "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80)")
    assert other.get(path).status_code == 200
    assert other.post(f"{path}/code").status_code == 303
    page = other.get(f"{path}/code")
    letters.run_jobs()
    match = CODE.search(letters.outbox()[-1]["text"])
    assert match
    checked = other.post(f"{path}/code/check", data={"csrf_token": csrf_of(page.text), "code": match.group(1)})
    assert checked.status_code == 303
    assert _download(other, path) == document

    downloads = [record for row, record in _records(app, letter_id) if row.event == "ContentHandover"]
    assert [d["details"]["client"] for d in downloads] == [
        {"ip": "198.51.100.23", "user_agent": BROWSER},
        {"ip": "2001:db8::7", "user_agent": "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80)"},
    ]
    for download in downloads:
        assert download["details"]["sha256"] == hashlib.sha256(document).hexdigest()
        assert download["details"]["bytes"] == len(document)
        assert download["event_uri"] == ETSI + "ContentHandover"


def test_a_long_user_agent_is_cut(app: Flask, letters: Letters) -> None:
    letters.client.environ_base["HTTP_USER_AGENT"] = "Bot/1.0 " + "x" * 4000
    letter_id, path = letters.notified()
    letters.identify(path)
    agent = _only(app, letter_id, "RecipientIdentification")["details"]["client"]["user_agent"]
    assert agent.startswith("Bot/1.0 ")
    assert len(agent) == USER_AGENT_MAX


# --- the text sent, hashed ------------------------------------------------------------------------


def test_the_notification_record_holds_the_hash_of_the_exact_sms_never_its_link(
    app: Flask, letters: Letters, outbox: Any, clock: FrozenClock
) -> None:
    letter_id, _ = letters.notified()
    [notification_sms] = outbox()
    token = LINK.search(notification_sms["text"])
    assert token
    record = _only(app, letter_id, "ConsignmentNotification")
    digest = hashlib.sha256(notification_sms["text"].encode("utf-8")).hexdigest()
    assert record["details"]["notification"]["text_sha256"] == digest
    [(row, _)] = [(row, r) for row, r in _records(app, letter_id) if row.event == "ConsignmentNotification"]
    assert token.group(1).removeprefix("/l/") not in row.canonical
    assert notification_sms["text"] not in row.canonical

    # A reminder (here: sent again at the sender's request) holds the hash of its own text.
    clock.advance(3600)
    assert letters.client.post(f"/api/v1/letters/{letter_id}/resend", headers=letters.sender.auth).status_code == 202
    letters.run_jobs()
    reminder_sms = outbox()[-1]
    reminder = _only(app, letter_id, "ConsignmentReminder")
    assert (
        reminder["details"]["notification"]["text_sha256"]
        == hashlib.sha256(reminder_sms["text"].encode("utf-8")).hexdigest()
    )
    assert reminder_sms["text"] != notification_sms["text"]


def test_an_email_notification_record_holds_the_hash_of_its_subject_and_text(
    app: Flask, letters: Letters, settings: Settings
) -> None:
    letter_id, _ = letters.notified(channel="email", recipient_email="youssef.alami@example.ma")
    [email] = [json.loads(line) for line in settings.email_outbox_path.read_text(encoding="utf-8").splitlines()]
    records = [record for row, record in _records(app, letter_id) if row.event == "ConsignmentNotification"]
    by_channel = {record["details"]["notification"]["channel"]: record for record in records}
    expected = hashlib.sha256(f"{email['subject']}\n{email['text']}".encode()).hexdigest()
    assert by_channel["email"]["details"]["notification"]["text_sha256"] == expected
    assert email["text"] not in json.dumps(by_channel["email"], ensure_ascii=False)


# --- ETSI event URIs -----------------------------------------------------------------------------


def test_every_etsi_event_carries_its_uri_and_our_extensions_none(
    app: Flask, letters: Letters, phone: FlaskClient
) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    _download(phone, path)
    letters.run_jobs()
    rows = _records(app, letter_id)
    seen = {row.event for row, _ in rows}
    assert {"SubmissionAcceptance", "ConsignmentNotification", "ConsignmentAcceptance", "ContentHandover"} <= seen
    assert {"RecipientCodeSent", "RecipientIdentification"} <= seen
    for row, record in rows:
        if row.event in ETSI_EVENTS:
            assert record["event_uri"] == ETSI + row.event
        else:
            assert row.event in EXTENSIONS
            assert "event_uri" not in record
    # The API gives the same URI beside each event.
    for event in letters.api(letter_id)["events"]:
        assert event.get("event_uri") == (ETSI + event["type"] if event["type"] in ETSI_EVENTS else None)


# --- the download in the sender's proofs ----------------------------------------------------------


def test_a_download_before_the_proof_of_reception_is_listed_in_it(
    app: Flask, client: FlaskClient, letters: Letters, phone: FlaskClient
) -> None:
    letter_id, path = letters.notified(language="en")
    letters.decide(path, "accept")  # the proof of reception is queued, not issued yet
    _download(phone, path)
    letters.run_jobs()
    assert _proof_kinds(letters, letter_id) == {"deposit": "ready", "reception": "ready"}

    proof = letters.proof(letter_id, "reception")
    handover = [row for row in evidence_rows(app, letter_id) if row.event == "ContentHandover"]
    assert len(handover) == 1
    carried = _embedded_events(proof)
    assert [event for event, _ in carried][-2:] == ["ConsignmentAcceptance", "ContentHandover"]
    assert carried[-1][1] == handover[0].canonical.encode("utf-8")
    text_of_proof = pdf_text(proof)
    assert EVENT_LABELS["en"]["ContentHandover"] in text_of_proof
    assert handover[0].id in text_of_proof
    validity = validate_pdf(proof, root_certificate(client))
    assert validity.intact
    assert validity.valid
    assert validity.trusted
    # The verifier says it attests the acceptance (what the QR code points to), not the download.
    with app.app_context():
        check = check_proof_pdf(db.session, app.extensions["wassit"], proof)
        db.session.remove()
    assert check.genuine
    assert check.attested is not None
    assert check.attested.event == "ConsignmentAcceptance"

    # Already proven: a later download asks for no proof of handover.
    _download(phone, path)
    letters.run_jobs()
    assert _proof_kinds(letters, letter_id) == {"deposit": "ready", "reception": "ready"}


def test_a_download_still_uncommitted_when_the_proof_job_starts_is_in_the_proof(
    app: Flask, letters: Letters, phone: FlaskClient
) -> None:
    """The race the shared lock closes: the job must wait for the download's commit and list it.
    Without the lock, on PostgreSQL, the job would read the records before the download commits
    while the download had seen the proof still pending: the download would be in no proof."""
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    with app.app_context():
        [proof_id] = db.session.execute(
            select(Proof.id).where(Proof.letter_id == letter_id, Proof.kind == ProofKind.RECEPTION)
        ).scalars()
        db.session.remove()
    recorded = threading.Event()

    def download_then_commit_late() -> None:
        with app.app_context():
            letter = db.session.get_one(Letter, letter_id)
            services: Services = app.extensions["wassit"]
            hand_over_document(db.session, services, letter, client=ClientInfo.of("198.51.100.23", BROWSER))
            recorded.set()
            time.sleep(1.5)  # the proof job starts meanwhile
            db.session.commit()
            db.session.remove()

    download = threading.Thread(target=download_then_commit_late)
    download.start()
    assert recorded.wait(30)
    with app.app_context():
        assert jobs.issue_proof(proof_id) == "ready"
        db.session.remove()
    download.join(30)
    letters.run_jobs()
    assert _proof_kinds(letters, letter_id) == {"deposit": "ready", "reception": "ready"}
    carried = [event for event, _ in _embedded_events(letters.proof(letter_id, "reception"))]
    assert carried[-1] == "ContentHandover"


def test_a_first_download_after_the_proof_of_reception_has_its_own_proof_of_handover(
    app: Flask, client: FlaskClient, letters: Letters, phone: FlaskClient, pdf: Any
) -> None:
    document = pdf(pad_to=2000)
    letter_id, path = letters.notified(language="fr", document=document)
    letters.decide(path, "accept")
    letters.run_jobs()
    reception = letters.proof(letter_id, "reception")
    assert "ContentHandover" not in [event for event, _ in _embedded_events(reception)]

    _download(phone, path)
    assert _proof_kinds(letters, letter_id) == {"deposit": "ready", "reception": "ready", "handover": "pending"}
    letters.run_jobs()
    listed = {proof["kind"]: proof for proof in letters.api(letter_id)["proofs"]}
    assert listed["handover"]["status"] == "ready"
    assert listed["handover"]["url"] == f"http://localhost/api/v1/letters/{letter_id}/proofs/handover"

    proof = letters.proof(letter_id, "handover")
    assert hashlib.sha256(proof).hexdigest() == listed["handover"]["sha256"]
    # pyHanko's validator, trusting only the CA /trust/ca.pem publishes, like every other proof.
    validity = validate_pdf(proof, root_certificate(client))
    assert validity.intact
    assert validity.valid
    assert validity.trusted
    # The seal covers its revision; only validation data and archive timestamps follow it (B-LTA).
    assert validity.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert validity.modification_level == ModificationLevel.LTA_UPDATES
    assert validity.docmdp_ok
    assert validity.timestamp_validity is not None
    assert validity.timestamp_validity.valid
    assert validity.timestamp_validity.trusted

    # Short: the identification that opened the download (here the one before deciding), the acceptance,
    # the download itself.
    rows = evidence_rows(app, letter_id)
    [download] = [row for row in rows if row.event == "ContentHandover"]
    carried = _embedded_events(proof)
    assert [event for event, _ in carried] == ["RecipientIdentification", "ConsignmentAcceptance", "ContentHandover"]
    assert carried[-1][1] == download.canonical.encode("utf-8")
    details = record_of(download)["details"]
    assert details["sha256"] == hashlib.sha256(document).hexdigest()
    assert details["client"] == {"ip": "198.51.100.23", "user_agent": BROWSER}
    text_of_proof = pdf_text(proof)
    assert LABELS["fr"]["title.handover"] in text_of_proof
    assert EVENT_LABELS["fr"]["ContentHandover"] in text_of_proof
    for value in (download.id, hashlib.sha256(document).hexdigest(), f"https://wassit.ma/verify/{download.id}"):
        assert value in text_of_proof

    # The public verifier says it is genuine.
    page = client.get("/verify")
    form = {"csrf_token": csrf_of(page.text), "proof": (io.BytesIO(proof), "handover.pdf")}
    assert verdicts(client.post("/verify", data=form, content_type="multipart/form-data").text) == ["pass"]

    # Once per letter: a later download adds a record, not a proof.
    _download(phone, path)
    letters.run_jobs()
    assert [p["kind"] for p in letters.api(letter_id)["proofs"]].count("handover") == 1
    assert letters.proof(letter_id, "handover") == proof

    # The sender's portal links to it by its name.
    page = portal_page(app.test_client(), letters.sender, f"/letters/{letter_id}")
    assert f"/letters/{letter_id}/proofs/handover" in page.text
    assert "Proof of handover" in page.text
    assert "One-time code sent by SMS" in page.text  # the timeline labels the new record


def test_the_api_documents_the_handover_proof_and_every_event(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    assert "handover" in schemas["Proof"]["properties"]["kind"]["enum"]
    assert {"RecipientCodeSent", "ContentHandover"} <= set(schemas["Event"]["properties"]["type"]["enum"])
    # The `letter.proof_ready` webhook names the proof's kind among the same kinds.
    webhook_proof = schemas["WebhookEvent"]["properties"]["data"]["properties"]["proof"]
    assert "handover" in webhook_proof["properties"]["kind"]["enum"]
    [kind] = [p for p in _parameters(document, "getProof") if p["name"] == "kind"]
    assert "handover" in kind["schema"]["enum"]


def _parameters(document: dict[str, Any], operation_id: str) -> list[dict[str, Any]]:
    for path in document["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return list(operation["parameters"])
    raise AssertionError(operation_id)


# --- confidential names on /verify -----------------------------------------------------------------


def _confidential_letter(letters: Letters, name: str) -> str:
    letter_id, _ = letters.notified(document=make_pdf_bytes(), filename=name, document_confidential="true")
    return letter_id


def _pages_of(client: FlaskClient, app: Flask, letter_id: str) -> list[str]:
    """The verification page of each record of the letter, as anyone (in English) sees it."""
    client.set_cookie("lang", "en")
    return [client.get(f"/verify/{row.id}").text for row in evidence_rows(app, letter_id)]


def test_a_confidential_document_name_is_never_shown_on_the_verification_pages(
    app: Flask, client: FlaskClient, letters: Letters
) -> None:
    secret_name = "licenciement-karim-benali.pdf"
    letter_id = _confidential_letter(letters, secret_name)
    pages = _pages_of(client, app, letter_id)
    assert len(pages) >= 2
    for page in pages:
        assert verdicts(page) == ["pass"]
        assert secret_name not in page
        assert "licenciement" not in page
        assert "Name not shown: confidential" in page

    # Nor in the result of checking the proof itself.
    proof = letters.proof(letter_id, "deposit")
    upload = client.get("/verify")
    form = {"csrf_token": csrf_of(upload.text), "proof": (io.BytesIO(proof), "proof.pdf")}
    result = client.post("/verify", data=form, content_type="multipart/form-data")
    assert verdicts(result.text) == ["pass"]
    assert secret_name not in result.text
    assert "Name not shown: confidential" in result.text

    # A name the sender did not mark confidential is shown as before.
    open_id, _ = letters.notified(document=make_pdf_bytes(), filename="facture-1842.pdf")
    assert all("facture-1842.pdf" in page for page in _pages_of(client, app, open_id))


def test_a_letter_of_a_confidential_batch_keeps_its_name_hidden(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender
) -> None:
    letter_id, _ = letters.notified(filename="avis-expulsion-lot.pdf")
    with app.app_context():
        batch = Batch(
            organisation_id=sender.organisation_id,
            user_id=sender.user_id,
            status=BatchStatus.DONE,
            csv_name="lot.csv",
            language="fr",
            document_confidential=True,
            total_rows=1,
            created_at=START,
        )
        db.session.add(batch)
        db.session.flush()
        db.session.get_one(Letter, letter_id).batch_id = batch.id
        db.session.commit()
        db.session.remove()
    for page in _pages_of(client, app, letter_id):
        assert "avis-expulsion-lot.pdf" not in page
        assert "Name not shown: confidential" in page


def test_a_forged_record_of_a_confidential_letter_does_not_reveal_the_name(
    app: Flask, client: FlaskClient, letters: Letters
) -> None:
    """The journal is the only source of names shown: whatever a record in an upload claims, a
    confidential letter's name stays hidden (here the row is edited, so the page says not genuine)."""
    secret_name = "dossier-medical.pdf"
    letter_id = _confidential_letter(letters, secret_name)
    first = evidence_rows(app, letter_id)[0]
    with app.app_context():
        db.session.execute(
            text("UPDATE evidence SET canonical = replace(canonical, :a, :b) WHERE id = :i"),
            {"a": "dossier-medical.pdf", "b": "dossier-medical-2.pdf", "i": first.id},
        )
        db.session.commit()
        db.session.remove()
    page = client.get(f"/verify/{first.id}").text
    assert verdicts(page) == ["fail"]
    assert not re.search(r"dossier-medical", page)
