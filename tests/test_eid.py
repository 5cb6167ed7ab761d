"""Identification by national digital identity (issue 19), against a real OpenID provider.

The provider (`tests/oidc_provider.py`, built on pyop) runs over TLS on a loopback port for the whole
module; each test sets the user it logs in and how it behaves.  The browser is Flask's test client;
the trip to the provider and back is made with `requests`, as a browser follows redirects.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import make_pdf_bytes
from tests.oidc_provider import PKJWT_CLIENT_ID, LocalIdentityProvider, new_rsa_pem, provider_settings
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from tests.test_recipient import Delivered, Flow, browser, choose, csrf_of, type_code
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings, parse_identity_providers
from webapp.extensions import db
from webapp.hooks.endpoints import create_endpoint
from webapp.letters.eid import clean_requirement, mask_cin, names_match, normalise_cin
from webapp.letters.errors import InvalidInput
from webapp.models import BatchRow, EidAttempt, Evidence, LetterIdentity, WebhookDelivery
from webapp.oidc import CACHE
from webapp.services import current_services
from webapp.trust.verify import check_proof_pdf

CALLBACK = "https://wassit.ma/eid/callback"


CLIENT_KEY = new_rsa_pem()  # our private_key_jwt key, registered at the provider


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider([CALLBACK], tmp_path_factory.mktemp("op"), client_private_key_pem=CLIENT_KEY)
    yield provider
    provider.close()


@pytest.fixture
def settings(settings: Settings, op: LocalIdentityProvider) -> Settings:
    op.behaviour, op.delay = "normal", 0.0
    op.user.update(cin="AB123456", given_name="Salma", family_name="Bennani", birthdate="1990-04-12")
    CACHE.clear()
    return settings.replace(
        identity_providers=parse_identity_providers(
            json.dumps(
                [
                    provider_settings(op),
                    # The same provider, our client authenticating with a signed assertion (private_key_jwt).
                    provider_settings(
                        op,
                        name="dgsn-key",
                        label="DGSN (key)",
                        client_id=PKJWT_CLIENT_ID,
                        client_secret=None,
                        private_key=CLIENT_KEY.decode(),
                        private_key_id="wassit-test-key",
                    ),
                ]
            )
        ),
        eid_ca_file=op.ca_file,
        eid_timeout=2,
        webhook_allow_private=True,
    )


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


def go_to_provider(client: FlaskClient, letter: Delivered, *, provider: str = "dgsn") -> Any:
    page = client.get(f"{letter.path}/eid")
    assert page.status_code == 200, page.text[:500]
    return client.post(f"{letter.path}/eid/start", data={"csrf_token": csrf_of(page.text), "provider": provider})


def provider_answer(op: LocalIdentityProvider, authorize_url: str) -> str:
    """What the provider sends the browser back with: the callback's path and query."""
    answer = requests.get(authorize_url, allow_redirects=False, verify=str(op.ca_file), timeout=10)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return f"{location.path}?{location.query}"


def identify_with_eid(
    client: FlaskClient, op: LocalIdentityProvider, letter: Delivered, *, provider: str = "dgsn"
) -> Any:
    started = go_to_provider(client, letter, provider=provider)
    assert started.status_code == 303, started.text[:1000]
    assert started.headers["Location"].startswith(op.base_url + "/authorize?")
    return client.get(provider_answer(op, started.headers["Location"]))


def records(app: Flask, letter: Delivered, event: str | None = None) -> list[dict[str, Any]]:
    with app.app_context():
        query = select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq)
        rows = [row.record for row in db.session.execute(query).scalars()]
        db.session.remove()
    return [row for row in rows if event is None or row["event"] == event]


def eid_letter(flow: Flow, **fields: str) -> Delivered:
    return flow.letter(identification=fields.pop("identification", "eid"), **fields)


# --- the whole flow ------------------------------------------------------------------------------


def test_a_letter_requiring_eid_and_a_cin_is_accepted_after_the_provider_proves_that_cin(
    app: Flask, client: FlaskClient, sender: Any, flow: Flow, op: LocalIdentityProvider
) -> None:
    letter = eid_letter(
        flow, expected_cin="ab 123-456", expected_name="BENNANI Salma", expected_birth_date="1990-04-12"
    )
    client = browser(app)
    landing = client.get(letter.path)
    assert "national digital identity" in landing.text
    assert "Send me a code by SMS" not in landing.text  # no code for an eid-only letter
    # The decision is closed until the identity is proven.
    assert client.get(f"{letter.path}/decision").status_code == 302

    back = identify_with_eid(client, op, letter)
    assert back.status_code == 303, back.text[:2000]
    assert back.headers["Location"].endswith(f"{letter.path}/decision")
    assert choose(client, letter.path, "accept").status_code == 303
    assert flow.status(letter) == "accepted"

    [identified] = records(app, letter, "RecipientIdentification")
    details = identified["details"]
    assert details["method"] == "eid"
    assert details["provider"]["name"] == "dgsn"
    assert details["provider"]["issuer"] == op.base_url
    assert details["level"] == {"acr": "urn:dgsn:loa:substantial", "meaning": "substantial"}
    assert details["subject"] == "dgsn-subject-0001"
    assert details["proven"]["cin"]["masked"] == "AB••••56"
    assert details["proven"]["given_name"] == "Salma"
    assert details["proven"]["birth_date"] == "1990-04-12"
    assert sorted(details["matched"]) == ["birth_date", "cin", "name"]
    [deposited] = records(app, letter, "SubmissionAcceptance")
    assert deposited["details"]["identification"]["method"] == "eid"
    assert deposited["details"]["identification"]["expected"]["cin"]["masked"] == "AB••••56"
    [accepted] = records(app, letter, "ConsignmentAcceptance")
    assert accepted["details"]["identification"] == "eid"
    # The identity number itself is in no record: masked and keyed-hashed only.
    assert all("AB123456" not in json.dumps(record) for record in records(app, letter))
    # The API says what was required and what was proven.
    answer = client.get(f"/api/v1/letters/{letter.id}", headers=sender.auth).json
    assert answer["identification"]["method"] == "eid"
    assert answer["identification"]["expected"] == {
        "cin": "AB••••56",
        "name": "BENNANI Salma",
        "birth_date": "1990-04-12",
    }
    assert answer["identification"]["eid"]["provider"] == "dgsn"
    assert answer["identification"]["eid"]["level"] == "substantial"


def test_a_different_cin_is_refused_recorded_and_the_sender_told(
    app: Flask, flow: Flow, op: LocalIdentityProvider, sender: Any
) -> None:
    with app.app_context():
        create_endpoint(
            db.session, current_services(), organisation_id=sender.organisation_id, url="https://hooks.example.ma/w"
        )
        db.session.commit()
    letter = eid_letter(flow, expected_cin="AB123456")
    op.user["cin"] = "CD654321"
    client = browser(app)
    refused = identify_with_eid(client, op, letter)
    assert refused.status_code == 403
    assert "does not match" in refused.text
    assert "CD654321" not in refused.text
    assert client.get(f"{letter.path}/decision").status_code == 302  # still closed
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "identity_mismatch"
    assert failure["details"]["mismatched"] == ["cin"]
    assert not records(app, letter, "RecipientIdentification")
    with app.app_context():
        [told] = db.session.execute(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "letter.identification_failed")
        ).scalars()
        payload = json.loads(told.payload)
        assert payload["data"]["reason"] == "identity_mismatch"
        assert payload["data"]["fields"] == ["cin"]
        assert "CD654321" not in told.payload
    assert flow.status(letter) == "notified"


def test_code_then_eid_when_the_sender_asks_for_both(app: Flask, flow: Flow, op: LocalIdentityProvider) -> None:
    letter = eid_letter(flow, identification="sms-otp+eid")
    client = browser(app)
    assert "Send me a code by SMS" in client.get(letter.path).text
    # The e-ID step is not open before the code.
    assert client.get(f"{letter.path}/eid").headers["Location"].endswith(letter.path)
    code = flow.new_code(client, letter)
    checked = type_code(client, letter.path, code)
    assert checked.status_code == 303
    assert checked.headers["Location"].endswith(f"{letter.path}/eid")
    assert client.get(f"{letter.path}/decision").status_code == 302  # the code alone is not enough
    assert "Your code is confirmed" in client.get(f"{letter.path}/eid").text
    back = identify_with_eid(client, op, letter)
    assert back.headers["Location"].endswith(f"{letter.path}/decision")
    assert choose(client, letter.path, "accept").status_code == 303
    methods = [r["details"]["method"] for r in records(app, letter, "RecipientIdentification")]
    assert methods == ["sms-otp", "eid"]


# --- failure paths -------------------------------------------------------------------------------


def test_a_replayed_answer_is_refused_and_recorded(app: Flask, flow: Flow, op: LocalIdentityProvider) -> None:
    letter = eid_letter(flow)
    client = browser(app)
    started = go_to_provider(client, letter)
    callback = provider_answer(op, started.headers["Location"])
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400
    reasons = [r["details"]["reason"] for r in records(app, letter, "RecipientIdentificationFailure")]
    assert reasons == ["replayed"]


def test_an_answer_opened_in_another_browser_is_refused(app: Flask, flow: Flow, op: LocalIdentityProvider) -> None:
    letter = eid_letter(flow)
    started = go_to_provider(browser(app), letter)
    callback = provider_answer(op, started.headers["Location"])
    stranger = browser(app, "10.0.0.9")
    answer = stranger.get(callback)
    assert answer.status_code == 400
    assert letter.reference not in answer.text  # nothing of the letter to someone else
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "wrong_browser"


@pytest.mark.parametrize(
    ("behaviour", "check"),
    [
        ("forge", "bad_signature"),
        ("wrong_audience", "wrong_audience"),
        ("expired", "expired"),
        ("wrong_nonce", "wrong_nonce"),
    ],
)
def test_forged_or_tampered_tokens_are_refused(
    app: Flask, flow: Flow, op: LocalIdentityProvider, behaviour: str, check: str
) -> None:
    letter = eid_letter(flow, expected_cin="AB123456")
    op.behaviour = behaviour
    client = browser(app)
    answer = identify_with_eid(client, op, letter)
    assert answer.status_code == 400
    assert "did not succeed" in answer.text
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "invalid_response"
    assert failure["details"]["check"] == check
    assert client.get(f"{letter.path}/decision").status_code == 302


def test_a_forged_callback_matching_no_identification_is_refused(app: Flask) -> None:
    answer = browser(app).get("/eid/callback?code=abc&state=made-up")
    assert answer.status_code == 400
    assert "cannot be used" in answer.text


def test_cancelling_at_the_provider_is_recorded_and_can_be_retried(
    app: Flask, flow: Flow, op: LocalIdentityProvider
) -> None:
    letter = eid_letter(flow)
    op.behaviour = "cancel"
    client = browser(app)
    answer = identify_with_eid(client, op, letter)
    assert answer.status_code == 200
    assert "You cancelled" in answer.text
    assert f"{letter.path}/eid" in answer.text
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "cancelled"
    assert failure["details"]["failures"] == 0
    op.behaviour = "normal"
    assert identify_with_eid(client, op, letter).status_code == 303


@pytest.mark.parametrize("behaviour", ["down", "slow"])
def test_a_provider_down_or_slow_gets_a_clear_page_a_record_and_leaves_the_deadline(
    app: Flask, flow: Flow, op: LocalIdentityProvider, behaviour: str
) -> None:
    letter = eid_letter(flow)
    deadline = flow.letter_row(letter).deadline_at
    op.behaviour, op.delay = behaviour, 3.0  # the app waits 2 seconds (EID_TIMEOUT)
    client = browser(app)
    answer = go_to_provider(client, letter)
    assert answer.status_code == 503
    assert "not answering" in answer.text
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "provider_unavailable"
    assert failure["details"]["locked"] is False
    assert flow.letter_row(letter).deadline_at == deadline
    op.behaviour = "normal"
    assert identify_with_eid(client, op, letter).status_code == 303


def test_too_many_failed_identifications_lock_the_letter(
    app: Flask, flow: Flow, op: LocalIdentityProvider, settings: Settings
) -> None:
    letter = eid_letter(flow, expected_cin="AB123456")
    op.user["cin"] = "CD654321"
    client = browser(app)
    for _ in range(settings.eid_max_failures - 1):
        assert identify_with_eid(client, op, letter).status_code == 403
    last = identify_with_eid(client, op, letter)
    assert last.status_code == 403
    assert "locked" in last.text
    assert flow.letter_row(letter).locked_at is not None
    failures = records(app, letter, "RecipientIdentificationFailure")
    assert failures[-1]["details"]["locked"] is True
    op.user["cin"] = "AB123456"
    assert client.get(f"{letter.path}/eid").status_code == 403  # no new trip while locked


def test_keys_rotated_by_the_provider_are_fetched_again(app: Flask, flow: Flow, op: LocalIdentityProvider) -> None:
    first = eid_letter(flow)
    assert identify_with_eid(browser(app), op, first).status_code == 303
    op.rotate_key()
    second = eid_letter(flow)
    assert identify_with_eid(browser(app, "127.0.0.2"), op, second).status_code == 303
    with app.app_context():
        attempts = db.session.execute(select(EidAttempt)).scalars().all()
        assert {attempt.status.value for attempt in attempts} == {"succeeded"}


# --- deposit ------------------------------------------------------------------------------------


def test_the_api_checks_what_the_sender_asks(deposit: Any) -> None:
    bad = deposit(identification="passport")
    assert bad.status_code == 422
    assert bad.json["error"]["field"] == "identification"
    bad = deposit(identification="eid", expected_cin="12")
    assert bad.status_code == 422
    assert bad.json["error"]["field"] == "expected_cin"
    bad = deposit(expected_cin="AB123456")  # an expected identity needs eid
    assert bad.status_code == 422
    assert bad.json["error"]["field"] == "identification"
    bad = deposit(identification="eid", expected_birth_date="12/04/1990")
    assert bad.status_code == 422
    assert bad.json["error"]["field"] == "expected_birth_date"


def test_eid_needs_a_configured_provider() -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_requirement(Settings(), "eid")
    assert refused.value.field == "identification"


# --- matching ----------------------------------------------------------------------------------


def test_cin_normalisation_and_masking() -> None:
    assert normalise_cin(" ab 123-456 ") == "AB123456"
    assert normalise_cin("AB١٢٣٤٥٦") == "AB123456"  # Arabic-Indic digits
    assert normalise_cin("12") is None
    assert mask_cin("AB123456") == "AB••••56"


@pytest.mark.parametrize(
    ("expected", "given", "family"),
    [
        ("Salma Bennani", "Salma", "Bennani"),
        ("BENNANI Salma", "Salma", "Bennani"),
        ("Hélène Dupré", "Helene", "DUPRE"),
        ("يوسف العمراني", "Youssef", "El Amrani"),
        ("Youssef El-Amrani", "يوسف", "العمراني"),
        ("محمد الشرايبي", "Mohammed", "Chraibi"),
        ("Fatima Zahra Idrissi", "فاطمة الزهراء", "الإدريسي"),
        ("Rachid Ait Said", "رشيد", "آيت سعيد"),
    ],
)
def test_names_match_across_accents_order_and_scripts(expected: str, given: str, family: str) -> None:
    assert names_match(expected, given, family)


@pytest.mark.parametrize(
    ("expected", "given", "family"),
    [("Salma Bennani", "Karim", "Bennani"), ("يوسف العمراني", "Youssef", "Tazi"), ("Salma Bennani", None, None)],
)
def test_different_names_do_not_match(expected: str, given: str | None, family: str | None) -> None:
    assert not names_match(expected, given, family)


# --- proofs and /verify ----------------------------------------------------------------------------


def test_the_reception_proof_prints_method_provider_and_level_and_validates(
    app: Flask, client: FlaskClient, flow: Flow, op: LocalIdentityProvider, sender: Any
) -> None:
    letter = eid_letter(flow, expected_cin="AB123456", language="en")
    phone = browser(app)
    assert identify_with_eid(phone, op, letter).status_code == 303
    assert choose(phone, letter.path, "accept").status_code == 303
    flow.run_jobs()
    proof = client.get(f"/api/v1/letters/{letter.id}/proofs/reception", headers=sender.auth)
    assert proof.status_code == 200, proof.text[:300]
    text = unicodedata.normalize(
        "NFKC", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(proof.data)).pages)
    )
    for expected in (
        "Identification of the recipient",
        "National digital identity (OpenID Connect)",
        "Identité numérique DGSN",
        "substantial (acr: urn:dgsn:loa:substantial)",
        "AB••••56",
        "Recipient identified (national digital identity)",
    ):
        assert expected in " ".join(text.split()), expected
    assert "AB123456" not in text
    with app.app_context():
        check = check_proof_pdf(db.session, app.extensions["wassit"], proof.data)
        db.session.remove()
    assert check.genuine
    # /verify names the method and the level, never the identity number nor the proven name.
    [identified] = records(app, letter, "RecipientIdentification")
    page = browser(app).get(f"/verify/{identified['evidence_id']}")
    assert page.status_code == 200
    assert "National digital identity" in page.text
    assert "substantial" in page.text
    assert "AB••••56" not in page.text
    assert "AB123456" not in page.text
    assert "1990-04-12" not in page.text
    # A download after the proof of reception gets a proof of handover, worded for national identity.
    assert phone.get(f"{letter.path}/document").status_code == 200
    flow.run_jobs()
    handover = client.get(f"/api/v1/letters/{letter.id}/proofs/handover", headers=sender.auth)
    assert handover.status_code == 200
    words = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(handover.data)).pages).split())
    assert "identified with their national digital identity" in unicodedata.normalize("NFKC", words)
    # The sender's timeline names it too.
    [accepted] = records(app, letter, "ConsignmentAcceptance")
    assert "National digital identity" in browser(app).get(f"/verify/{accepted['evidence_id']}").text


# --- portal and bulk ------------------------------------------------------------------------------


def test_the_portal_compose_form_asks_for_national_identity(app: Flask, client: FlaskClient, sender: Any) -> None:
    log_in(client, sender)
    page = client.get("/letters/new")
    assert 'name="identification"' in page.text
    assert 'name="expected_cin"' in page.text
    form = {
        "csrf_token": csrf_token(page.text),
        "recipient_name": "Salma Bennani",
        "recipient_phone": "0612345678",
        "language": "fr",
        "identification": "sms-otp+eid",
        "expected_cin": "AB123456",
        "expected_birth_date": "1990-04-12",
        "document": (io.BytesIO(make_pdf_bytes()), "lettre.pdf"),
    }
    sent = client.post("/letters/new", data=form, content_type="multipart/form-data")
    assert sent.status_code == 303, sent.text[:2000]
    with app.app_context():
        identity = db.session.execute(select(LetterIdentity)).scalar_one()
        assert identity.method.value == "sms-otp+eid"
        assert identity.expected_cin_masked == "AB••••56"
        assert identity.expected_birth_date.isoformat() == "1990-04-12"
        assert identity.expected_cin_hmac
        assert "AB123456" not in identity.expected_cin_hmac
    form["expected_cin"], form["identification"] = "12", "eid"
    form["document"] = (io.BytesIO(make_pdf_bytes()), "lettre.pdf")
    refused = client.post("/letters/new", data=form, content_type="multipart/form-data", headers=ENGLISH)
    assert refused.status_code == 422
    assert "4 to 20 letters and digits" in refused.text
    form["document"] = (io.BytesIO(make_pdf_bytes()), "lettre.pdf")
    in_french = client.post(
        "/letters/new", data=form, content_type="multipart/form-data", headers={"Accept-Language": "fr"}
    )
    assert "de 4 à 20 lettres et chiffres" in in_french.text


def test_a_bulk_file_sets_each_letters_identification(app: Flask, client: FlaskClient, sender: Any) -> None:
    header = ("name", "mobile", "identification", "cin_attendu", "date_de_naissance")
    rows = [
        ("Salma Bennani", "0612000001", "eid", "AB123456", "1990-04-12"),
        ("Karim Tazi", "0612000002", "", "", ""),
    ]
    csv_data = ("\r\n".join(",".join(row) for row in [header, *rows]) + "\r\n").encode()
    answer = client.post(
        "/api/v1/batches",
        data={"csv": (io.BytesIO(csv_data), "d.csv"), "document": (io.BytesIO(make_pdf_bytes()), "c.pdf")},
        headers=sender.auth,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.json
    with app.app_context():
        assert "AB123456" not in "".join(r.identity or "" for r in db.session.execute(select(BatchRow)).scalars())
        from webapp import jobs

        jobs.deposit_batch(answer.json["id"])
        identities = db.session.execute(select(LetterIdentity)).scalars().all()
        assert [(i.method.value, i.expected_cin_masked) for i in identities] == [("eid", "AB••••56")]
    bad = "\r\n".join(",".join(row) for row in [header, ("A B", "0612000003", "sms-otp", "AB123456", "")]) + "\r\n"
    refused = client.post(
        "/api/v1/batches",
        data={"csv": (io.BytesIO(bad.encode()), "d.csv"), "document": (io.BytesIO(make_pdf_bytes()), "c.pdf")},
        headers=sender.auth,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert refused.json["rows"][0]["field"] == "identification"


def test_a_provider_that_authenticates_clients_by_signed_assertion(
    app: Flask, flow: Flow, op: LocalIdentityProvider
) -> None:
    letter = eid_letter(flow, expected_cin="AB123456")
    client = browser(app)
    assert "DGSN (key)" in client.get(f"{letter.path}/eid").text  # one button per provider
    back = identify_with_eid(client, op, letter, provider="dgsn-key")
    assert back.status_code == 303, back.text[:1000]
    [identified] = records(app, letter, "RecipientIdentification")
    assert identified["details"]["provider"]["name"] == "dgsn-key"


# --- configuration ------------------------------------------------------------------------------


def test_identity_providers_are_read_from_json_or_a_file(tmp_path: Path) -> None:
    entry = {"issuer": "https://idp.example.ma/", "client_id": "wassit", "client_secret": "hush-42", "label": "DGSN"}
    [provider] = parse_identity_providers(json.dumps({"dgsn": entry}))
    assert provider.name == "dgsn"
    assert provider.issuer == "https://idp.example.ma"
    assert provider.discovery_url == "https://idp.example.ma/.well-known/openid-configuration"
    assert provider.token_auth_method == "client_secret_basic"
    assert provider.scopes == ("openid", "profile")
    assert provider.claims["birth_date"] == "birthdate"
    assert provider.client_secret == "hush-42"
    assert "hush-42" not in repr(provider)  # secrets stay out of reprs and logs
    path = tmp_path / "providers.json"
    path.write_text(json.dumps([{"name": "fc", **entry, "levels": {"eidas2": "substantial"}}]))
    [from_file] = parse_identity_providers(f"@{path}")
    assert from_file.level_of("eidas2") == "substantial"
    assert from_file.level_of("eidas9") is None
    assert parse_identity_providers("") == ()


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"issuer": "http://idp.example.ma", "client_id": "w", "client_secret": "s"}, "https://"),
        ({"issuer": "https://idp.example.ma", "client_id": "w"}, "client_secret"),
        ({"issuer": "https://idp.example.ma", "client_id": "w", "token_auth_method": "private_key_jwt"}, "private_key"),
        ({"issuer": "https://idp.example.ma", "client_id": "w", "client_secret": "s", "scopes": ["profile"]}, "openid"),
        (
            {"issuer": "https://idp.example.ma", "client_id": "w", "client_secret": "s", "levels": {"x": "great"}},
            "levels",
        ),
        (
            {"issuer": "https://idp.example.ma", "client_id": "w", "client_secret": "s", "claims": {"iban": "x"}},
            "claims",
        ),
        ({"client_id": "w", "client_secret": "s"}, "issuer"),
    ],
)
def test_a_bad_provider_entry_stops_the_app_with_the_reason(entry: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_identity_providers(json.dumps([{"name": "dgsn", **entry}]))


def test_a_sign_in_below_the_required_level_is_refused(app: Flask, flow: Flow, op: LocalIdentityProvider) -> None:
    letter = eid_letter(flow)
    op.acr = "urn:dgsn:loa:low"
    try:
        answer = identify_with_eid(browser(app), op, letter)
    finally:
        op.acr = "urn:dgsn:loa:substantial"
    assert answer.status_code == 403
    assert "stronger sign-in" in answer.text
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "level_too_low"


def test_an_answer_after_the_attempt_expired_is_refused(
    app: Flask, flow: Flow, op: LocalIdentityProvider, clock: FrozenClock, settings: Settings
) -> None:
    letter = eid_letter(flow)
    client = browser(app)
    started = go_to_provider(client, letter)
    callback = provider_answer(op, started.headers["Location"])
    clock.advance(settings.eid_attempt_ttl + 1)
    answer = client.get(callback)
    assert answer.status_code == 400
    [failure] = records(app, letter, "RecipientIdentificationFailure")
    assert failure["details"]["reason"] == "expired"
    assert failure["details"]["failures"] == 0  # not the recipient's doing: not counted
