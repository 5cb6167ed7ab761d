"""Accounts: sign-up and verification, passwords, two-factor, throttling, sessions, users, API tokens."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, PASSWORD, csrf_token, log_in
from webapp.accounts.errors import CodeRejected, InvalidIce, WeakPassword
from webapp.accounts.login import MAX_FAILURES, authenticate
from webapp.accounts.signup import create_sender, normalise_ice, sign_up
from webapp.accounts.tokens import create_api_token
from webapp.accounts.two_factor import check_second_factor, enable_two_factor, new_totp_secret
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import Letter, Organisation, Role, User
from webapp.services import current_services

SIGNUP = {
    "legal_name": "Immobilière Anfa SARL",
    "ice": "001234567000089",
    "address": "12 boulevard d'Anfa, Casablanca",
    "email": "gerant@anfa.ma",
    "password": "un mot de passe solide",
    "confirm": "un mot de passe solide",
}


def post_form(client: FlaskClient, path: str, data: dict[str, str], form_page: str | None = None) -> Any:
    """POSTs `data` with the CSRF token of the page that shows the form."""
    page = client.get(form_page or path, headers=ENGLISH)
    return client.post(path, data={"csrf_token": csrf_token(page.text), **data}, headers=ENGLISH)


def _user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        db.session.expunge(user)
        return user


def last_email(settings: Settings, to: str) -> dict[str, Any]:
    """The newest email to `to` in the console provider's outbox."""
    lines = settings.email_outbox_path.read_text().splitlines() if settings.email_outbox_path.exists() else []
    mails = [mail for mail in map(json.loads, lines) if mail["to"] == to]
    assert mails, f"no email to {to}"
    return mails[-1]


def link_path(mail: dict[str, Any], prefix: str) -> str:
    """The path of the link starting with `prefix` in the email's text (on our public URL)."""
    match = re.search(rf"https://wassit\.ma({re.escape(prefix)}[A-Za-z0-9_-]+)", mail["text"])
    assert match, mail["text"]
    return match.group(1)


def _secret_on_page(html: str) -> str:
    match = re.search(r'class="secret">([A-Z2-7]+)<', html)
    assert match, html[:3000]
    return match.group(1)


# --- sign-up and verification ------------------------------------------------------------------


def test_ice_is_exactly_fifteen_digits() -> None:
    assert normalise_ice(" 001 234 567 000 089 ") == "001234567000089"
    for bad in ("00123456700008", "0012345670000890", "00123456700008A", ""):
        with pytest.raises(InvalidIce):
            normalise_ice(bad)


def test_password_policy(app: Flask, clock: FrozenClock) -> None:
    with app.app_context():
        with pytest.raises(WeakPassword):
            sign_up(db.session, clock, **{**_service_fields(), "password": "short pass"})
        with pytest.raises(WeakPassword):
            sign_up(db.session, clock, **{**_service_fields(), "password": "Gerant@Anfa.ma "})
        with pytest.raises(WeakPassword):
            create_sender(db.session, clock, org_name="X", email="a@x.ma", password="elevenchars")


def _service_fields() -> dict[str, str]:
    return {k: v for k, v in SIGNUP.items() if k != "confirm"}


def test_signup_refuses_a_bad_ice(client: FlaskClient, app: Flask) -> None:
    response = post_form(client, "/signup", {**SIGNUP, "ice": "12345"})
    assert response.status_code == 422
    assert "15 digits" in response.text
    with app.app_context():
        assert db.session.execute(select(Organisation)).first() is None


def test_signup_creates_an_unverified_organisation_that_cannot_send_until_an_operator_verifies_it(
    client: FlaskClient, app: Flask, pdf: Callable[..., bytes], run_jobs: Callable[[], None], settings: Settings
) -> None:
    response = post_form(client, "/signup", SIGNUP)
    assert response.status_code == 303
    run_jobs()  # the email confirmation (tests/test_email_confirmation.py)
    confirmed = post_form(client, link_path(last_email(settings, "gerant@anfa.ma"), "/confirm-email/"), {})
    assert confirmed.status_code == 303
    page = client.get("/account", headers=ENGLISH)
    assert "Documents to send" in page.text
    assert "Verification: Documents to send" in client.get("/letters", headers=ENGLISH).text
    user = _user(app, "gerant@anfa.ma")
    assert user.role == Role.ADMIN

    # The portal says what is missing before any work: no compose form to fill in for nothing.
    compose = client.get("/letters/new", headers=ENGLISH)
    assert compose.status_code == 200
    assert "Your organisation cannot send yet" in compose.text
    assert 'name="document"' not in compose.text
    assert 'href="/account/verification"' in compose.text
    data = {
        "csrf_token": csrf_token(compose.text),
        "recipient_name": "Youssef Alami",
        "recipient_phone": "0612345678",
        "language": "fr",
        "document": (io.BytesIO(pdf()), "lettre.pdf"),
    }
    refused = client.post("/letters/new", data=data, headers=ENGLISH, content_type="multipart/form-data")
    assert refused.status_code == 403
    assert "Your organisation cannot send yet" in refused.text
    # Nor can it create API tokens (in the portal or from the command line).
    tokens_page = client.get("/account/tokens", headers=ENGLISH)
    assert 'name="name"' not in tokens_page.text
    assert "wait for the verification of your organisation" in tokens_page.text
    created = post_form(client, "/account/tokens", {"name": "erp"})
    assert created.status_code == 403
    assert re.search(r"lre_[A-Za-z0-9_-]{20,}", created.text) is None
    runner = app.test_cli_runner()
    assert runner.invoke(args=["token", "create", "--email", "gerant@anfa.ma"]).exit_code != 0
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None

    # An operator lists the organisations awaiting verification, and verifies this one.
    listed = runner.invoke(args=["org", "list", "--unverified"])
    assert listed.exit_code == 0
    assert "Immobilière Anfa SARL" in listed.output
    assert "UNVERIFIED" in listed.output
    verified = runner.invoke(
        args=["org", "verify", "--org", "Immobilière Anfa SARL", "--by", "Ops@Wassit.ma", "--document", "CIN AB123"]
    )
    assert verified.exit_code == 0, verified.output
    assert "1 organisation" not in runner.invoke(args=["org", "list", "--unverified"]).output
    with app.app_context():
        org = db.session.execute(select(Organisation)).scalar_one()
        assert (org.verified_by, org.verification_document) == ("ops@wassit.ma", "CIN AB123")
        assert org.verified_at is not None
    run_jobs()
    assert "is verified" in last_email(settings, "gerant@anfa.ma")["subject"]
    created = post_form(client, "/account/tokens", {"name": "erp"})
    assert created.status_code == 303
    token = re.search(r"(lre_[A-Za-z0-9_-]+)", client.get(created.location, headers=ENGLISH).text)
    assert token
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    api_data = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}
    sent = client.post(
        "/api/v1/letters",
        data={**api_data, "document": (io.BytesIO(pdf()), "l.pdf")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert sent.status_code == 201, sent.text


def test_org_verify_needs_a_known_organisation(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["org", "verify", "--org", "nope", "--by", "a@b.c", "--document", "x"])
    assert result.exit_code != 0
    assert "no organisation" in result.output


def test_sender_create_still_makes_verified_organisations(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "sender",
            "create",
            "--org",
            "Cabinet Idrissi",
            "--email",
            "me@idrissi.ma",
            "--password",
            "a long password",
        ]
    )
    assert result.exit_code == 0, result.output
    token = runner.invoke(args=["token", "create", "--email", "me@idrissi.ma"])
    assert token.output.strip().splitlines()[-1].startswith("lre_")
    with app.app_context():
        assert db.session.execute(select(Organisation)).scalar_one().verified_at is not None


# --- two-factor ----------------------------------------------------------------------------------


def _enrol(client: FlaskClient, clock: FrozenClock) -> tuple[str, list[str]]:
    page = client.get("/account/two-factor", headers=ENGLISH)
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "<img" not in page.text
    secret = _secret_on_page(page.text)
    wrong = client.post(
        "/account/two-factor", data={"csrf_token": csrf_token(page.text), "code": "000000"}, headers=ENGLISH
    )
    assert "does not match" in wrong.text
    code = pyotp.TOTP(secret).at(clock.now())
    done = client.post(
        "/account/two-factor", data={"csrf_token": csrf_token(wrong.text), "code": code}, headers=ENGLISH
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9a-f]{4}(?:-[0-9a-f]{4}){3})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


def _log_in_password(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/login", headers=ENGLISH)
    return client.post(
        "/login", data={"csrf_token": csrf_token(page.text), "email": email, "password": password}, headers=ENGLISH
    )


def test_totp_enrolment_and_two_step_login(client: FlaskClient, app: Flask, sender: Sender, clock: FrozenClock) -> None:
    log_in(client, sender)
    secret, recovery = _enrol(client, clock)
    with app.app_context():
        user = db.session.get(User, sender.user_id)
        assert user is not None
        assert user.totp_enabled_at is not None
        # Stored sealed by the vault, never in clear.
        assert user.totp_ciphertext is not None
        assert secret.encode() not in user.totp_ciphertext
    # Enabling two-factor logged the session out (the epoch moved on); log in again, in two steps.
    clock.advance(30)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/login").text)})
    first = _log_in_password(client, sender.email)
    assert first.status_code == 303
    assert first.headers["Location"].endswith("/login/code")
    # Half logged in: nothing else is reachable.
    assert client.get("/letters").status_code == 302
    assert client.get("/account/tokens").status_code == 302

    code_page = client.get("/login/code", headers=ENGLISH)
    code = pyotp.TOTP(secret).at(clock.now())
    ok = client.post("/login/code", data={"csrf_token": csrf_token(code_page.text), "code": code}, headers=ENGLISH)
    assert ok.status_code == 303
    assert client.get("/letters").status_code == 200

    # The same code, again within its window: refused.
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/letters").text)})
    _log_in_password(client, sender.email)
    code_page = client.get("/login/code", headers=ENGLISH)
    replay = client.post("/login/code", data={"csrf_token": csrf_token(code_page.text), "code": code}, headers=ENGLISH)
    assert replay.status_code == 200
    assert "already used" in replay.text
    assert client.get("/letters").status_code == 302

    # A recovery code works once.
    ok = client.post("/login/code", data={"csrf_token": csrf_token(replay.text), "code": recovery[0]}, headers=ENGLISH)
    assert ok.status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/letters").text)})
    _log_in_password(client, sender.email)
    code_page = client.get("/login/code", headers=ENGLISH)
    again = client.post(
        "/login/code", data={"csrf_token": csrf_token(code_page.text), "code": recovery[0]}, headers=ENGLISH
    )
    assert again.status_code == 200
    assert client.get("/letters").status_code == 302


def test_disabling_two_factor_needs_a_current_code(
    client: FlaskClient, app: Flask, sender: Sender, clock: FrozenClock
) -> None:
    log_in(client, sender)
    secret, _codes = _enrol(client, clock)
    log_in(client, sender)  # no: two-factor is on now
    assert client.get("/letters").status_code == 302
    code_page = client.get("/login/code", headers=ENGLISH)
    clock.advance(30)
    client.post(
        "/login/code",
        data={"csrf_token": csrf_token(code_page.text), "code": pyotp.TOTP(secret).at(clock.now())},
        headers=ENGLISH,
    )
    page = client.get("/account/two-factor", headers=ENGLISH)
    refused = client.post("/account/two-factor/disable", data={"csrf_token": csrf_token(page.text), "code": "123456"})
    assert refused.status_code == 303
    assert _user(app, sender.email).totp_enabled_at is not None
    clock.advance(30)
    client.post(
        "/account/two-factor/disable",
        data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert _user(app, sender.email).totp_enabled_at is None


def test_login_is_throttled_per_account_without_revealing_accounts(
    app: Flask, sender: Sender, clock: FrozenClock
) -> None:
    with app.app_context():
        for _ in range(MAX_FAILURES):
            assert authenticate(db.session, clock, sender.email, "wrong password!") is None
        db.session.commit()
        # Locked: even the right password is refused, like an unknown email.
        assert authenticate(db.session, clock, sender.email, PASSWORD) is None
        assert authenticate(db.session, clock, "nobody@nowhere.ma", PASSWORD) is None
        clock.advance(15 * 60 + 1)
        assert authenticate(db.session, clock, sender.email, PASSWORD) is not None


def test_the_code_step_is_throttled_per_account(app: Flask, sender: Sender, clock: FrozenClock) -> None:
    with app.app_context():
        services = current_services()
        user = db.session.get(User, sender.user_id)
        assert user is not None
        secret = new_totp_secret()
        enable_two_factor(db.session, clock, services.vault, user, secret, pyotp.TOTP(secret).at(clock.now()))
        for _ in range(MAX_FAILURES):
            with pytest.raises(CodeRejected):
                check_second_factor(db.session, clock, services.vault, user, "000000")
        clock.advance(30)
        with pytest.raises(CodeRejected):
            check_second_factor(db.session, clock, services.vault, user, pyotp.TOTP(secret).at(clock.now()))
        clock.advance(15 * 60)
        check_second_factor(db.session, clock, services.vault, user, pyotp.TOTP(secret).at(clock.now()))


def test_the_login_page_says_the_same_for_unknown_and_wrong(client: FlaskClient, sender: Sender) -> None:
    unknown = _log_in_password(client, "nobody@nowhere.ma")
    wrong = _log_in_password(client, sender.email, "wrong password!")
    assert unknown.status_code == wrong.status_code == 200
    assert "Wrong email or password" in unknown.text
    assert "Wrong email or password" in wrong.text


# --- sessions ------------------------------------------------------------------------------------


def test_log_out_everywhere_ends_the_other_sessions(app: Flask, sender: Sender) -> None:
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, sender)
    log_in(phone, sender)
    assert phone.get("/letters").status_code == 200
    page = laptop.get("/account", headers=ENGLISH)
    laptop.post("/account/logout-everywhere", data={"csrf_token": csrf_token(page.text)})
    assert phone.get("/letters").status_code == 302
    assert laptop.get("/letters").status_code == 302
    log_in(phone, sender)
    assert phone.get("/letters").status_code == 200


def test_changing_the_password_ends_the_other_sessions(app: Flask, sender: Sender) -> None:
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, sender)
    log_in(phone, sender)
    page = laptop.get("/account", headers=ENGLISH)
    new = "a brand new passphrase"
    laptop.post(
        "/account/password",
        data={"csrf_token": csrf_token(page.text), "current": PASSWORD, "password": new, "confirm": new},
    )
    assert laptop.get("/letters").status_code == 200
    assert phone.get("/letters").status_code == 302


def test_session_cookie_is_http_only_same_site_and_secure_behind_https(
    client: FlaskClient, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = _log_in_password(client, sender.email)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    monkeypatch.setenv("PUBLIC_URL", "https://wassit.ma")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    assert Settings.from_env().flask_config()["SESSION_COOKIE_SECURE"] is True


# --- users and invitations -----------------------------------------------------------------------


def _invite(client: FlaskClient, email: str, role: str = "sender") -> str:
    response = post_form(client, "/account/users/invite", {"email": email, "role": role}, form_page="/account/users")
    assert response.status_code == 200, response.text[:2000]
    match = re.search(r'class="secret">(https://wassit\.ma/invitations/[A-Za-z0-9_-]+)<', response.text)
    assert match, response.text[:3000]
    return match.group(1).removeprefix("https://wassit.ma")


def test_invitation_is_emailed_and_accepted_once(
    client: FlaskClient, app: Flask, sender: Sender, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    log_in(client, sender)
    path = _invite(client, "Assistant@Atlas.ma")
    run_jobs()
    assert link_path(last_email(settings, "assistant@atlas.ma"), "/invitations/") == path

    invitee = app.test_client()
    accepted = post_form(invitee, path, {"password": "my own long password", "confirm": "my own long password"})
    assert accepted.status_code == 303
    assert invitee.get("/letters").status_code == 200
    joined = _user(app, "assistant@atlas.ma")
    assert joined.role == Role.SENDER
    assert joined.organisation_id == sender.organisation_id
    assert app.test_client().get(path).status_code == 404


def test_an_expired_invitation_is_refused(client: FlaskClient, sender: Sender, clock: FrozenClock) -> None:
    log_in(client, sender)
    path = _invite(client, "late@atlas.ma")
    clock.advance(7 * 24 * 3600 + 1)
    assert client.get(path).status_code == 404


def _make_user(app: Flask, clock: FrozenClock, org: str, email: str, role: Role) -> Sender:
    with app.app_context():
        user = create_sender(db.session, clock, org_name=org, email=email, password=PASSWORD, role=role)
        db.session.commit()
        return Sender(user.id, user.organisation_id, email, "")


def test_a_sender_cannot_manage_users(client: FlaskClient, app: Flask, sender: Sender, clock: FrozenClock) -> None:
    plain = _make_user(app, clock, "Banque Atlas SA", "guichet@atlas.ma", Role.SENDER)
    log_in(client, plain)
    assert client.get("/account/users").status_code == 403
    token = csrf_token(client.get("/account", headers=ENGLISH).text)
    invite = client.post("/account/users/invite", data={"csrf_token": token, "email": "x@y.ma", "role": "admin"})
    assert invite.status_code == 403
    promote = client.post(f"/account/users/{plain.user_id}/role", data={"csrf_token": token, "role": "admin"})
    assert promote.status_code == 403
    assert _user(app, "guichet@atlas.ma").role == Role.SENDER
    assert 'href="/account/users"' not in client.get("/account", headers=ENGLISH).text


def test_admin_changes_roles_and_deactivates_within_the_organisation(
    client: FlaskClient, app: Flask, sender: Sender, clock: FrozenClock
) -> None:
    plain = _make_user(app, clock, "Banque Atlas SA", "guichet@atlas.ma", Role.SENDER)
    other = app.test_client()
    log_in(other, plain)
    log_in(client, sender)
    token = csrf_token(client.get("/account/users", headers=ENGLISH).text)
    client.post(f"/account/users/{plain.user_id}/role", data={"csrf_token": token, "role": "admin"})
    assert _user(app, plain.email).role == Role.ADMIN
    client.post(f"/account/users/{plain.user_id}/active", data={"csrf_token": token, "active": "0"})
    assert not _user(app, plain.email).is_active
    assert other.get("/letters").status_code == 302
    # The last active admin cannot demote themself.
    client.post(f"/account/users/{sender.user_id}/role", data={"csrf_token": token, "role": "sender"})
    assert _user(app, sender.email).role == Role.ADMIN


def test_users_and_tokens_of_another_organisation_are_404(
    client: FlaskClient, app: Flask, sender: Sender, make_sender: Callable[..., Sender]
) -> None:
    stranger = make_sender(org="Cabinet Idrissi", email="avocat@idrissi.ma")
    log_in(client, sender)
    token = csrf_token(client.get("/account/users", headers=ENGLISH).text)
    role = client.post(f"/account/users/{stranger.user_id}/role", data={"csrf_token": token, "role": "sender"})
    assert role.status_code == 404
    active = client.post(f"/account/users/{stranger.user_id}/active", data={"csrf_token": token, "active": "0"})
    assert active.status_code == 404
    with app.app_context():
        from webapp.models import ApiToken

        stranger_token = db.session.execute(select(ApiToken).where(ApiToken.user_id == stranger.user_id)).scalar_one()
        token_id, prefix = stranger_token.id, stranger_token.prefix
    assert prefix not in client.get("/account/tokens").text
    assert client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": token}).status_code == 404
    assert _user(app, stranger.email).role == Role.ADMIN
    assert _user(app, stranger.email).is_active


# --- API tokens ----------------------------------------------------------------------------------


def test_tokens_are_shown_once_listed_and_revoked(client: FlaskClient, app: Flask, sender: Sender) -> None:
    log_in(client, sender)
    created = post_form(client, "/account/tokens", {"name": "ERP comptable"})
    # POST-redirect-GET: the token is shown by the page the POST redirects to, once; a reload creates nothing.
    assert created.status_code == 303
    assert created.location.endswith("/account/tokens")
    assert "lre_" not in created.text
    shown = client.get(created.location, headers=ENGLISH)
    token = re.search(r"(lre_[A-Za-z0-9_-]+)", shown.text)
    assert token is not None
    assert 'data-copy="#new-token"' in shown.text  # the copy button (hidden without JavaScript)
    assert 'href="/api/docs"' in shown.text
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    listing = client.get("/account/tokens", headers=ENGLISH)
    assert "ERP comptable" in listing.text
    assert token.group(1) not in listing.text
    assert token.group(1)[:12] in listing.text
    assert client.get("/api/v1/letters/nope", headers=auth).status_code == 404

    with app.app_context():
        from webapp.models import ApiToken

        row = db.session.execute(select(ApiToken).where(ApiToken.name == "ERP comptable")).scalar_one()
        assert row.token_hash != token.group(1)
        token_id = row.id
    revoked = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(listing.text)})
    assert revoked.status_code == 303
    assert client.get("/api/v1/letters/nope", headers=auth).status_code == 401
    # The fixture's own token still works.
    assert client.get("/api/v1/letters/nope", headers=sender.auth).status_code == 404


def test_a_sender_sees_only_their_own_tokens_an_admin_sees_the_organisation(
    app: Flask, sender: Sender, clock: FrozenClock
) -> None:
    plain = _make_user(app, clock, "Banque Atlas SA", "guichet@atlas.ma", Role.SENDER)
    as_sender, as_admin = app.test_client(), app.test_client()
    log_in(as_sender, plain)
    # Only admins create tokens (a sender gets 403 and no form); the operator's CLI may make one for a sender.
    assert (
        "Only the admins of your organisation create API tokens"
        in as_sender.get("/account/tokens", headers=ENGLISH).text
    )
    assert post_form(as_sender, "/account/tokens", {"name": "nope"}).status_code == 403
    with app.app_context():
        create_api_token(db.session, clock, email="guichet@atlas.ma", name="guichet-token")
        db.session.commit()
    log_in(as_admin, sender)
    admin_page = as_admin.get("/account/tokens", headers=ENGLISH).text
    assert "guichet-token" in admin_page
    assert "cli" in admin_page
    sender_page = as_sender.get("/account/tokens", headers=ENGLISH).text
    assert "guichet-token" in sender_page
    assert sender.token[:12] not in sender_page
