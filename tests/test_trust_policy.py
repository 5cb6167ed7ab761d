"""Our own timestamping policy, its published page, and no false claim of qualification.

The policy OID is read back with `openssl ts -reply -text`; the UUID arc is
checked against Python's `uuid` (ITU-T X.667); the trial statement is read
from the proof PDF with pypdf and from the pages in each language.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.trust_helpers import Letters, csrf_of, evidence_rows, openssl, pdf_text, run_cli, write
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import ConfigError, Settings
from webapp.extensions import db
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS
from webapp.trust.policy import DEFAULT_POLICY_OID, POLICY_UUID, is_dotted_oid

TIMESTAMP_QUERY = "application/timestamp-query"


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _policy_of_token(client: FlaskClient, tmp_path: Path, *options: str) -> str:
    document = write(tmp_path / "document.txt", b"un document a horodater")
    query = tmp_path / "request.tsq"
    openssl("ts", "-query", "-data", document, "-sha256", "-cert", *options, "-out", query, check=True)
    response = client.post("/tsa", data=query.read_bytes(), content_type=TIMESTAMP_QUERY)
    assert response.status_code == 200
    reply = write(tmp_path / "reply.tsr", response.data)
    text = openssl("ts", "-reply", "-in", reply, "-text", check=True).stdout.decode()
    assert "Status: Granted." in text, text
    match = re.search(r"Policy OID: (\S+)", text)
    assert match, text
    return match.group(1)


def test_the_default_policy_oid_is_ours_under_the_uuid_arc(client: FlaskClient, tmp_path: Path) -> None:
    # X.667: 2.25 followed by the UUID as one unsigned decimal integer.
    assert f"2.25.{UUID(str(POLICY_UUID)).int}" == DEFAULT_POLICY_OID
    assert POLICY_UUID.version == 4
    assert "57264" not in DEFAULT_POLICY_OID
    assert _policy_of_token(client, tmp_path) == DEFAULT_POLICY_OID
    # A request for our policy is granted under it.
    assert _policy_of_token(client, tmp_path, "-tspolicy", DEFAULT_POLICY_OID) == DEFAULT_POLICY_OID


def test_tsa_policy_oid_comes_from_the_environment_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    assert Settings.from_env().tsa_policy_oid == DEFAULT_POLICY_OID
    monkeypatch.setenv("TSA_POLICY_OID", "1.3.6.1.4.1.61234.1.1")
    assert Settings.from_env().tsa_policy_oid == "1.3.6.1.4.1.61234.1.1"
    for wrong in ("2.25.x", "3.1.2", "1.40.1", "1.3.06.1", "1", "1..2", " 1.2.3", "urn:oid:1.2.3"):
        monkeypatch.setenv("TSA_POLICY_OID", wrong)
        with pytest.raises(ConfigError, match="TSA_POLICY_OID"):
            Settings.from_env()
        assert not is_dotted_oid(wrong)
    for right in ("2.999.1", "0.39", DEFAULT_POLICY_OID):
        assert is_dotted_oid(right)


def test_the_configured_policy_oid_is_in_every_token(settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    app = create_app(settings.replace(tsa_policy_oid="1.3.6.1.4.1.61234.1.1"), clock=clock)
    app.config.update(TESTING=True)
    try:
        assert _policy_of_token(app.test_client(), tmp_path) == "1.3.6.1.4.1.61234.1.1"
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["wassit.redis"].close()


@pytest.mark.parametrize(
    ("language", "heading", "trial"),
    [
        ("fr", "Notre politique de cachet et d’horodatage", "Installation d’essai."),
        ("en", "Our seal and timestamp policy", "Trial setup."),
        ("ar", "سياستنا في الختم الإلكتروني والختم الزمني", "تثبيت تجريبي."),
    ],
)
def test_the_policy_page_says_what_our_timestamps_promise(
    client: FlaskClient, language: str, heading: str, trial: str
) -> None:
    response = client.get(f"/trust/policy?lang={language}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.text
    assert f'<html lang="{language}" dir="{"rtl" if language == "ar" else "ltr"}">' in page
    assert heading in page
    assert trial in page  # the embedded default: a trial setup, said plainly
    assert f'id="policy-oid">{DEFAULT_POLICY_OID}<' in page
    assert 'href="/trust/ca.pem"' in page
    assert 'href="/trust/crl"' in page
    assert 'href="/verify"' in page
    assert "https://wassit.ma/tsa" in page  # PUBLIC_URL's
    assert "10" in page  # years proofs are kept
    assert "365" in page  # days before expiry that archive timestamps are renewed
    if language == "en":
        assert "Within one second of UTC" in page
        assert "NTP" in page
        assert "files on its disk" in page  # key protection on the trial setup
        assert "qualified" in page


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
def test_a_proof_from_the_trial_setup_says_it_is_not_for_court(letters: Letters, language: str) -> None:
    letter_id, _ = letters.notified(language=language)
    text = pdf_text(letters.proof(letter_id, "deposit"))
    expected = " ".join(unicodedata.normalize("NFKC", LABELS[language]["trust.trial"]).split())
    if language == "ar":
        # Arabic is drawn in visual order: pypdf reads its words, not its sentences, back.
        for word in ("تجريبي", "مؤهلة", "المحاكم", "المدمجة"):
            assert word in text, word
    else:
        assert expected in text
        assert LABELS[language]["trust"] in text


def test_the_verifier_pages_and_the_cli_say_trial_setup(
    app: Flask, client: FlaskClient, letters: Letters, tmp_path: Path
) -> None:
    letter_id, _ = letters.notified()
    proof = letters.proof(letter_id, "deposit")
    evidence_id = evidence_rows(app, letter_id)[0].id
    for path in ("/verify?lang=en", f"/verify/{evidence_id}?lang=en", "/check?lang=en"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Trial setup." in page.text, path
        assert "not a qualified trust service" in page.text, path
    upload = client.get("/verify?lang=en")
    response = client.post(
        "/verify?lang=en",
        data={"csrf_token": csrf_of(upload.text), "proof": (io.BytesIO(proof), "deposit.pdf")},
        content_type="multipart/form-data",
    )
    assert "it is not from a qualified trust service and is not for court" in response.text
    result = run_cli(app, ["proofs", "verify", str(write(tmp_path / "deposit.pdf", proof))])
    assert "TRIAL SETUP" in result.output
    assert "not a qualified service, not for court" in result.output
    assert app.extensions["wassit"].trust.disclosure.trial
