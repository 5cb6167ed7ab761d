"""Issue 5's "done when", tried as a newcomer would: sign up, confirm the email address, get verified,
turn two-factor on, send one letter and a 100-row bulk file from the portal, follow them live and
download the proofs; then an integrator does the same over the API, knowing only the OpenAPI document."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, csrf_token
from tests.test_accounts import last_email, link_path, post_form
from tests.test_bulk import make_csv, phone
from tests.test_recipient import ask_code, choose, code_of, type_code
from tests.test_recipient import link_path as sms_link_path
from webapp.clock import FrozenClock
from webapp.config import Settings

EMAIL = "gerante@atlas-syndic.ma"
PASSWORD = "une phrase de passe assez longue"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/letters", **ENGLISH}


def _accept(app: Flask, sms: dict[str, Any], run_jobs: Callable[[], None], outbox: Callable[[], Any]) -> None:
    """The recipient opens the SMS link on their phone, types the code and accepts."""
    phone_browser = app.test_client()
    path = sms_link_path(sms["text"])
    assert phone_browser.get(path).status_code == 200
    before = len(outbox())
    assert ask_code(phone_browser, path).status_code == 303
    run_jobs()
    [code_sms] = outbox()[before:]
    assert type_code(phone_browser, path, code_of(code_sms["text"])).status_code == 303
    assert choose(phone_browser, path, "accept").status_code == 303
    run_jobs()  # the evidence is sealed and the proof of reception issued


def test_a_newcomer_signs_up_sends_a_letter_and_a_bulk_file_and_follows_them_live(
    app: Flask,
    client: FlaskClient,
    clock: FrozenClock,
    settings: Settings,
    pdf: Callable[..., bytes],
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
) -> None:
    # Sign up: the organisation, its identity for the proofs, the first user (an admin).
    signup = post_form(
        client,
        "/signup",
        {
            "legal_name": "Atlas Syndic SARL",
            "ice": "002345678000012",
            "address": "4 rue de Fès, Rabat",
            "email": EMAIL,
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert signup.status_code == 303, signup.text[:2000]

    # Confirm the address from the email: the link shows a button, the click confirms.
    run_jobs()
    confirm_path = link_path(last_email(settings, EMAIL), "/confirm-email/")
    confirm_page = client.get(confirm_path, headers=ENGLISH)
    assert confirm_page.status_code == 200
    confirmed = client.post(confirm_path, data={"csrf_token": csrf_token(confirm_page.text)}, headers=ENGLISH)
    assert confirmed.status_code == 303
    assert "Documents to send" in client.get("/account", headers=ENGLISH).text

    # An operator checks the documents and verifies the organisation.
    runner = app.test_cli_runner()
    verified = runner.invoke(
        args=["org", "verify", "--org", "Atlas Syndic SARL", "--by", "ops@wassit.ma", "--document", "RC 998877"]
    )
    assert verified.exit_code == 0, verified.output
    assert "Documents to send" not in client.get("/account", headers=ENGLISH).text

    # Two-factor: scan the QR code (the secret is printed beside it), type a code, keep the recovery codes.
    enrol = client.get("/account/two-factor", headers=ENGLISH)
    assert "<svg" in enrol.text
    secret_match = re.search(r'class="secret">([A-Z2-7]+)<', enrol.text)
    assert secret_match
    secret = secret_match.group(1)
    done = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf_token(enrol.text), "code": pyotp.TOTP(secret).at(clock.now())},
        headers=ENGLISH,
    )
    assert len(re.findall(r"<code>([0-9a-f]{4}(?:-[0-9a-f]{4}){3})</code>", done.text)) == 10
    # From now on a log-in takes the password and a code.
    clock.advance(30)
    login = post_form(client, "/login", {"email": EMAIL, "password": PASSWORD})
    assert login.headers["Location"].endswith("/login/code")
    assert client.get("/letters").status_code == 302  # half logged in
    code = post_form(client, "/login/code", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert code.status_code == 303
    assert client.get("/letters", headers=ENGLISH).status_code == 200

    # One letter, from the compose page; its page shows the proof of deposit as soon as it is signed.
    compose = client.get("/letters/new", headers=ENGLISH)
    sent = client.post(
        "/letters/new",
        data={
            "csrf_token": csrf_token(compose.text),
            "document": (io.BytesIO(pdf()), "mise-en-demeure.pdf"),
            "recipient_name": "Youssef Alami",
            "recipient_phone": "0612345678",
            "sender_reference": "LOT-7-IMPAYE",
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert sent.status_code == 303, sent.text[:2000]
    letter_path = sent.headers["Location"]
    letter_id = letter_path.rsplit("/", 1)[1]
    confirmation = client.get(letter_path, headers=ENGLISH)
    assert "Proof of deposit" in confirmation.text
    assert 'hx-trigger="every 5s"' in confirmation.text  # the page's live part follows the worker
    run_jobs()  # what the worker does within a second: seal, sign and timestamp the proof; send the SMS
    live = client.get(letter_path, headers={**HTMX, "HX-Current-URL": f"http://localhost{letter_path}"})
    assert "<html" not in live.text
    assert f'href="/letters/{letter_id}/proofs/deposit"' in live.text
    deposit_proof = client.get(f"/letters/{letter_id}/proofs/deposit")
    assert deposit_proof.status_code == 200
    assert deposit_proof.data.startswith(b"%PDF")

    # A 100-row bulk file with one PDF for every row: validated, then deposited by a job.
    bulk_form = client.get("/bulk/new", headers=ENGLISH)
    rows = [(f"Copropriétaire {n}", phone(n), "", f"APPEL-{n:03d}", "") for n in range(1, 101)]
    uploaded = client.post(
        "/bulk/new",
        data={
            "csrf_token": csrf_token(bulk_form.text),
            "recipients": (io.BytesIO(make_csv(rows)), "appel-de-fonds.csv"),
            "document": (io.BytesIO(pdf()), "appel-de-fonds.pdf"),
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert uploaded.status_code == 303, uploaded.text[:3000]
    batch_url = uploaded.headers["Location"]
    summary = client.get(batch_url, headers=ENGLISH)
    assert "Confirm and send 100 letters" in summary.text  # a summary first: nothing sent before this
    confirmed = client.post(f"{batch_url}/confirm", data={"csrf_token": csrf_token(summary.text)}, headers=ENGLISH)
    assert confirmed.status_code == 303
    assert '<progress max="100" value="0">' in client.get(batch_url, headers=ENGLISH).text
    run_jobs()  # the deposit job, then the 100 notifications
    assert '<progress max="100" value="100">' in client.get(batch_url, headers=ENGLISH).text
    assert len(outbox()) == 101

    # Follow them live: the dashboard counts them, and its rows poll while letters can still change.
    dashboard = client.get("/letters", headers=ENGLISH)
    assert "101" in dashboard.text
    assert 'hx-trigger="every 10s"' in dashboard.text
    before = client.get("/letters", query_string={"q": "LOT-7-IMPAYE"}, headers=HTMX)
    assert "HX-Request" in before.vary
    assert "Accepted" not in before.text.split("</tbody>")[0]  # the rows (the funnel follows them, out of band)

    # The recipient accepts on their phone; the next poll shows it, and the proof of reception is there.
    [sms] = [m for m in outbox() if m["to"] == "+212612345678"]
    _accept(app, sms, run_jobs, outbox)
    after = client.get("/letters", query_string={"q": "LOT-7-IMPAYE"}, headers=HTMX)
    rows_after = after.text.split("</tbody>")[0]
    assert "Accepted" in rows_after
    assert "hx-trigger" not in rows_after  # final: the polling stops
    page = client.get(letter_path, headers=ENGLISH)
    assert f'href="/letters/{letter_id}/proofs/reception"' in page.text
    reception = client.get(f"/letters/{letter_id}/proofs/reception")
    assert reception.status_code == 200
    assert reception.data.startswith(b"%PDF")


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        spec["operationId"]: (method.upper(), path, spec)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    }


def test_an_integrator_does_the_same_over_the_api_from_the_openapi_document_alone(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    pdf: Callable[..., bytes],
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    assert document["openapi"].startswith("3.1")
    operations = _operations(document)

    def call(operation_id: str, *, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        method, path, _spec = operations[operation_id]
        return client.open(path.format(**(params or {})), method=method, headers=headers, **kwargs)

    headers = dict(sender.auth)  # a token made in the portal (tests/test_accounts.py shows that page)

    # Deposit one letter with the fields the document says are required, and an idempotency key.
    create = operations["createLetter"][2]
    body = create["requestBody"]["content"]["multipart/form-data"]["schema"]
    examples = {name: spec["examples"][0] for name, spec in body["properties"].items() if "examples" in spec}
    form = {name: examples[name] for name in body["required"] if name != "document"}
    assert [p["name"] for p in create["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    key = str(uuid.uuid4())
    headers["Idempotency-Key"] = key
    first = call("createLetter", data={**form, "document": (io.BytesIO(pdf()), "l.pdf")})
    again = call("createLetter", data={**form, "document": (io.BytesIO(pdf()), "l.pdf")})
    del headers["Idempotency-Key"]
    assert (first.status_code, again.status_code) == (201, 201), first.json
    assert again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    letter_id = first.json["id"]

    # A 100-row batch with one PDF for every row; follow it until it is done.
    batch_body = operations["createBatch"][2]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert batch_body["required"] == ["csv"]
    rows = [(f"Locataire {n}", phone(n), "", f"QUITTANCE-{n:03d}", "") for n in range(1, 101)]
    batch = call(
        "createBatch",
        data={"csv": (io.BytesIO(make_csv(rows)), "quittances.csv"), "document": (io.BytesIO(pdf()), "q.pdf")},
    )
    assert batch.status_code == 201, batch.json
    batch_id = batch.json["id"]
    run_jobs()
    progress = call("getBatch", params={"batch_id": batch_id}).json
    assert (progress["status"], progress["deposited_rows"], progress["progress"]) == ("done", 100, 1)
    batch_letters: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 100, **_cursor(cursor)}
        page = call("listBatchLetters", params={"batch_id": batch_id}, query_string=query).json
        batch_letters += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(batch_letters) == 100
    assert len(outbox()) == 101

    # The recipient of the single letter accepts; the list filtered by status shows it.
    [sms] = [m for m in outbox() if m["to"] == "+212612345678"]
    _accept(app, sms, run_jobs, outbox)
    accepted = call("listLetters", query_string={"status": "accepted"}).json
    assert [item["id"] for item in accepted["items"]] == [letter_id]
    notified = call("listLetters", query_string={"status": "notified", "limit": 100}).json
    assert len(notified["items"]) == 100

    # Its proofs, as the document describes them: each ready one downloads as a signed PDF.
    letter = call("getLetter", params={"letter_id": letter_id}).json
    assert letter["status"] == "accepted"
    proofs = call("listProofs", params={"letter_id": letter_id}).json
    ready = {proof["kind"] for proof in proofs["items"] if proof["status"] == "ready"}
    assert {"deposit", "reception"} <= ready
    for kind in ("deposit", "reception"):
        proof = call("getProof", params={"letter_id": letter_id, "kind": kind})
        assert proof.status_code == 200
        assert proof.mimetype == "application/pdf"
        assert proof.data.startswith(b"%PDF")


def _cursor(cursor: str | None) -> dict[str, str]:
    return {} if cursor is None else {"cursor": cursor}
