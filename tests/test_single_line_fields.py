"""Line breaks and control characters are refused in every single-line field, at input, naming the field.

An organisation named "Evil Org\\r\\nBcc: victim@evil.ma" was accepted and went into email subjects
(issue 17, finding 4).  One rule (`webapp.textinput`) is applied by every way in: the portal's
forms (a 422 page with the message under the field), the API (422 `control_characters` with
`field`), the CLI, and the domain functions behind them all.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import Email

import webapp.web
from tests.conftest import Sender, make_pdf_bytes
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from webapp.accounts.errors import NotSingleLine
from webapp.accounts.signup import create_sender, sign_up
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.deposit import clean_name, clean_sender_reference
from webapp.letters.errors import InvalidInput
from webapp.models import ApiToken, Letter, Organisation, WebhookEndpoint
from webapp.notify.email.base import OutgoingEmail, build_mime
from webapp.textinput import control_character
from webapp.web.forms import SingleLine

EVIL = "Evil Org\r\nBcc: victim@evil.ma"
HOSTILE = [EVIL, "line\nbreak", "nul\x00byte", "tab\there", "del\x7f", "c1\x85next", "sep\u2028arator", "rlo\u202eexe"]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_rule_refuses_controls_breaks_and_overrides(text: str) -> None:
    assert control_character(text) is not None


@pytest.mark.parametrize(
    "text",
    ["Banque Atlas SA", "Immobilière Anfa SARL", "سلمى بناني", "می\u200cخواهم", "Salma \u2067بناني\u2069 & Co."],
)
def test_the_rule_keeps_names_in_every_script(text: str) -> None:
    assert control_character(text) is None


def _forms() -> list[type[FlaskForm]]:
    for module in pkgutil.walk_packages(webapp.web.__path__, "webapp.web."):
        importlib.import_module(module.name)
    found: list[type[FlaskForm]] = []
    stack = list(FlaskForm.__subclasses__())
    while stack:
        form = stack.pop()
        stack.extend(form.__subclasses__())
        if form.__module__.startswith("webapp."):
            found.append(form)
    return found


def test_every_single_line_field_of_every_form_carries_the_rule() -> None:
    checked, missing = 0, []
    for form in _forms():
        for name in dir(form):
            unbound = getattr(form, name)
            field_class = getattr(unbound, "field_class", None)
            if not (isinstance(field_class, type) and issubclass(field_class, StringField)):
                continue
            if issubclass(field_class, TextAreaField | PasswordField):
                continue  # several lines, or a secret never shown
            validators = unbound.kwargs.get("validators") or (unbound.args[1] if len(unbound.args) > 1 else [])
            if issubclass(field_class, EmailField) and any(isinstance(v, Email) for v in validators):
                continue  # an address: the email validator refuses controls
            checked += 1
            if not any(isinstance(v, SingleLine) for v in validators):
                missing.append(f"{form.__module__}.{form.__name__}.{name}")
    assert checked >= 8
    assert not missing


# --- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["recipient_name", "sender_reference", "recipient_phone"])
def test_the_api_refuses_a_control_character_in_a_letter_field_and_stores_nothing(
    app: Flask, deposit: Callable[..., Any], field: str
) -> None:
    response = deposit(**{field: "Youssef\r\nBcc: victim@evil.ma"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "control_characters"
    assert error["field"] == field
    assert f"'{field}'" in error["message"]
    assert "U+000D" in error["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Letter)) == 0


def test_the_api_refuses_a_control_character_in_a_webhook_description(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    url = "https://erp.example.ma/hooks"
    created = client.post("/api/v1/webhooks", json={"url": url, "description": "ERP\nprod"}, headers=sender.auth)
    assert created.status_code == 422
    assert created.get_json()["error"] == {
        "code": "control_characters",
        "field": "description",
        "message": "The field 'description' may not contain line breaks or control characters (found U+000A).",
    }
    good = client.post("/api/v1/webhooks", json={"url": url, "description": "ERP"}, headers=sender.auth)
    assert good.status_code == 201
    changed = client.patch(
        f"/api/v1/webhooks/{good.get_json()['id']}", json={"description": "a\x00b"}, headers=sender.auth
    )
    assert changed.status_code == 422
    assert changed.get_json()["error"]["field"] == "description"
    with app.app_context():
        assert db.session.execute(select(WebhookEndpoint.description)).scalars().all() == ["ERP"]


# --- the portal's forms ---------------------------------------------------------------------------


def test_signup_refuses_an_organisation_name_with_a_line_break(client: FlaskClient, app: Flask) -> None:
    page = client.get("/signup", headers=ENGLISH)
    response = client.post(
        "/signup",
        data={
            "csrf_token": csrf_token(page.text),
            "legal_name": EVIL,
            "ice": "001234567000089",
            "address": "12 boulevard d'Anfa\nCasablanca",  # the address has several lines: allowed
            "email": "gerant@anfa.ma",
            "password": "un mot de passe solide",
            "confirm": "un mot de passe solide",
        },
        headers=ENGLISH,
    )
    assert response.status_code == 422
    assert "“Legal name of the organisation” may not contain line breaks or control characters." in response.text
    with app.app_context():
        assert db.session.execute(select(Organisation)).first() is None


def test_signup_names_the_field_in_french_too(client: FlaskClient) -> None:
    page = client.get("/signup", headers={"Accept-Language": "fr"})
    response = client.post(
        "/signup",
        data={"csrf_token": csrf_token(page.text), "legal_name": EVIL},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 422
    assert "ne peut contenir ni retour à la ligne ni caractère de contrôle" in response.text


def test_compose_refuses_a_recipient_name_with_a_line_break(
    app: Flask, client: FlaskClient, sender: Sender, pdf: Callable[..., bytes]
) -> None:
    log_in(client, sender)
    page = client.get("/letters/new", headers=ENGLISH)
    response = client.post(
        "/letters/new",
        data={
            "csrf_token": csrf_token(page.text),
            "document": (io.BytesIO(pdf()), "lettre.pdf"),
            "recipient_name": "Youssef\nAlami",
            "recipient_phone": "0612345678",
            "sender_reference": "REF\t42",
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert response.status_code == 422
    assert "“Recipient&#39;s name” may not contain line breaks" in response.text
    assert "“Your own reference (optional)” may not contain line breaks" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Letter)) == 0


def test_a_token_name_with_a_control_character_is_refused(app: Flask, client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    page = client.get("/account/tokens", headers=ENGLISH)
    response = client.post(
        "/account/tokens", data={"csrf_token": csrf_token(page.text), "name": "erp\x1b[31m"}, headers=ENGLISH
    )
    assert response.status_code == 422
    assert "“Token name” may not contain line breaks" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1  # the fixture's own


def test_a_webhook_description_with_a_line_break_is_refused_in_the_portal(
    app: Flask, client: FlaskClient, sender: Sender
) -> None:
    log_in(client, sender)
    page = client.get("/settings/webhooks", headers=ENGLISH)
    response = client.post(
        "/settings/webhooks",
        data={"csrf_token": csrf_token(page.text), "url": "https://erp.example.ma/h", "description": "a\r\nb"},
        headers=ENGLISH,
    )
    assert response.status_code == 422
    assert "may not contain line breaks" in response.text


# --- the CLI and the domain -----------------------------------------------------------------------


def test_the_cli_refuses_an_organisation_name_with_a_line_break(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["sender", "create", "--org", EVIL, "--email", "a@evil.ma", "--password", "un mot de passe long"]
    )
    assert result.exit_code != 0
    assert "'org' may not contain line breaks or control characters (found U+000D)" in result.output
    with app.app_context():
        assert db.session.execute(select(Organisation)).first() is None


def test_the_domain_refuses_before_collapsing_spaces(app: Flask, clock: FrozenClock) -> None:
    # Collapsing "\r\n" into a space would hide the attempt; it is refused instead.
    with pytest.raises(InvalidInput) as name:
        clean_name("Youssef\r\nAlami")
    assert name.value.field == "recipient_name"
    with pytest.raises(InvalidInput) as reference:
        clean_sender_reference("A\nB")
    assert reference.value.field == "sender_reference"
    assert clean_name("  Youssef   Alami ") == "Youssef Alami"
    with app.app_context():
        with pytest.raises(NotSingleLine) as org:
            create_sender(db.session, clock, org_name=EVIL, email="x@evil.ma", password="un mot de passe long")
        assert org.value.field == "org"
        with pytest.raises(NotSingleLine) as legal:
            sign_up(
                db.session,
                clock,
                legal_name=EVIL,
                ice="001234567000089",
                address="x",
                email="y@evil.ma",
                password="un mot de passe long",
            )
        assert legal.value.field == "legal_name"
        db.session.rollback()


def test_an_email_subject_from_a_name_stored_before_the_rule_stays_one_header() -> None:
    email = OutgoingEmail(to="a@b.ma", subject=f"Lettre recommandée de {EVIL}", text="t", html="<p>t</p>")
    assert email.subject == "Lettre recommandée de Evil Org Bcc: victim@evil.ma"
    mime = build_mime(email, sender="Wassit <no-reply@wassit.ma>", client_ref="m1")
    assert mime["Bcc"] is None
    assert "\n" not in str(mime["Subject"])


def test_a_bulk_row_with_a_line_break_in_a_name_is_refused(client: FlaskClient, sender: Sender, app: Flask) -> None:
    rows = 'mobile,name,reference\n0612345678,"Youssef\r\nBcc: victim@evil.ma",A-1\n0612345679,Salma Bennani,"B\x1b2"\n'
    response = client.post(
        "/api/v1/batches",
        data={
            "csv": (io.BytesIO(rows.encode()), "destinataires.csv"),
            "document": (io.BytesIO(make_pdf_bytes()), "lettre.pdf"),
        },
        content_type="multipart/form-data",
        headers=sender.auth,
    )
    assert response.status_code == 422, response.text
    refused = {(row["field"], row["code"]) for row in response.get_json()["rows"]}
    assert refused == {("name", "control_characters"), ("reference", "control_characters")}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Letter)) == 0
