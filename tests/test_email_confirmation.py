"""Sign-up email confirmation: a single-use 48-hour link sent by a job; until it is used the new admin
can log in but neither send letters nor create API tokens; sending it again is rate-limited."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests.portal_helpers import ENGLISH, csrf_token
from tests.test_accounts import SIGNUP, last_email, link_path, post_form
from webapp import jobs
from webapp.accounts.signup import CONFIRMATION_LINKS_PER_DAY
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import Letter, User
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation
from webapp.queue import every_queue

EMAIL = SIGNUP["email"]


def _sign_up(client: FlaskClient) -> None:
    assert post_form(client, "/signup", SIGNUP).status_code == 303


def _emails_to(settings: Settings, to: str) -> int:
    if not settings.email_outbox_path.exists():
        return 0
    return settings.email_outbox_path.read_text().count(f'"to": "{to}"')


def _confirmed(app: Flask) -> bool:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == EMAIL)).scalar_one()
        return user.email_confirmed_at is not None


def _verify_organisation(app: Flask) -> None:
    runner = app.test_cli_runner()
    args = ["org", "verify", "--org", SIGNUP["legal_name"], "--by", "ops@wassit.ma", "--document", "CIN AB1"]
    assert runner.invoke(args=args).exit_code == 0


def _api_deposit(client: FlaskClient, token: str, pdf: Callable[..., bytes]) -> Any:
    return client.post(
        "/api/v1/letters",
        data={
            "recipient_phone": "0612345678",
            "recipient_name": "Youssef Alami",
            "document": (io.BytesIO(pdf()), "l.pdf"),
        },
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def test_the_link_is_emailed_by_a_job_kept_hashed_and_its_sealed_copy_erased_once_sent(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    _sign_up(client)
    assert _emails_to(settings, EMAIL) == 0  # not in the request: after the commit, by the worker
    run_jobs()
    mail = last_email(settings, EMAIL)
    assert "Confirm your email address" in mail["subject"] or "Confirmez" in mail["subject"]
    path = link_path(mail, "/confirm-email/")
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    with app.app_context():
        row = db.session.execute(select(EmailConfirmation)).scalar_one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.email_status is AccountEmailStatus.SENT
        assert (row.token_key_id, row.token_ciphertext) == (None, None)
        assert (row.expires_at - row.created_at).total_seconds() == 48 * 3600
    run_jobs()
    assert _emails_to(settings, EMAIL) == 1  # the job is idempotent


def test_until_confirmed_the_user_logs_in_but_cannot_send_nor_create_tokens(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None], pdf: Callable[..., bytes]
) -> None:
    _sign_up(client)
    run_jobs()
    _verify_organisation(app)  # so that only the email stands in the way
    letters = client.get("/letters", headers=ENGLISH)
    assert letters.status_code == 200
    assert "Confirm your email address with the link we sent to gerant@anfa.ma" in letters.text

    tokens = client.get("/account/tokens", headers=ENGLISH)
    assert 'action="/account/tokens"' not in tokens.text
    assert "until then you cannot create API tokens" in tokens.text
    refused = client.post(
        "/account/tokens", data={"csrf_token": csrf_token(tokens.text), "name": "erp"}, headers=ENGLISH
    )
    assert refused.status_code == 403
    assert "lre_" not in refused.text

    compose = client.get("/letters/new", headers=ENGLISH)
    data = {
        "csrf_token": csrf_token(compose.text),
        "recipient_name": "Youssef Alami",
        "recipient_phone": "0612345678",
        "language": "fr",
        "document": (io.BytesIO(pdf()), "lettre.pdf"),
    }
    assert 'name="document"' not in compose.text  # the page says what to do first, instead of a form
    assert "Confirm your email address with the link we emailed you." in compose.text
    portal = client.post("/letters/new", data=data, headers=ENGLISH, content_type="multipart/form-data")
    assert portal.status_code == 403
    # A token the operator made with the CLI does not get round it.
    made = app.test_cli_runner().invoke(args=["token", "create", "--email", EMAIL])
    token = made.output.strip().splitlines()[-1]
    api = _api_deposit(client, token, pdf)
    assert api.status_code == 403
    assert api.json["error"]["code"] == "email_not_confirmed"
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None

    # The link: a GET only shows the button (mail scanners open links), the POST confirms.
    path = link_path(last_email(settings, EMAIL), "/confirm-email/")
    page = client.get(path, headers=ENGLISH)
    assert page.status_code == 200
    assert not _confirmed(app)
    confirmed = client.post(path, data={"csrf_token": csrf_token(page.text)}, headers=ENGLISH)
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "/letters"
    assert _confirmed(app)
    assert "Confirm your email address with" not in client.get("/letters", headers=ENGLISH).text
    assert _api_deposit(client, token, pdf).status_code == 201
    created = post_form(client, "/account/tokens", {"name": "erp"})
    assert created.status_code == 303
    assert "lre_" in client.get(created.location).text
    # Single use: reopened, it says the address is confirmed (and asks for nothing).
    again = client.get(path, headers=ENGLISH)
    assert again.status_code == 200
    assert "gerant@anfa.ma is confirmed already" in again.text
    assert "ask for a new one" not in again.text
    assert 'name="csrf_token"' not in again.text.split("<main")[1].split("</nav>")[-1]  # no button to press


def test_the_link_expires_after_48_hours(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None], clock: FrozenClock
) -> None:
    _sign_up(client)
    run_jobs()
    path = link_path(last_email(settings, EMAIL), "/confirm-email/")
    page = client.get(path, headers=ENGLISH)
    clock.advance(48 * 3600 + 1)
    assert client.get(path, headers=ENGLISH).status_code == 404
    late = client.post(path, data={"csrf_token": csrf_token(page.text)}, headers=ENGLISH)
    assert late.status_code == 404
    assert "more than 48 hours old" in late.text
    assert not _confirmed(app)


def test_sending_the_link_again_is_rate_limited_and_replaces_the_previous_link(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None], clock: FrozenClock
) -> None:
    _sign_up(client)
    run_jobs()
    first = link_path(last_email(settings, EMAIL), "/confirm-email/")

    too_soon = post_form(client, "/account/confirm-email/resend", {}, form_page="/account")
    assert too_soon.status_code == 303
    assert "wait 1 min" in client.get("/account", headers=ENGLISH).text
    run_jobs()
    assert _emails_to(settings, EMAIL) == 1

    for _ in range(CONFIRMATION_LINKS_PER_DAY - 1):
        clock.advance(61)
        assert post_form(client, "/account/confirm-email/resend", {}, form_page="/account").status_code == 303
        run_jobs()  # a link replaced before its job runs is not sent at all
    assert _emails_to(settings, EMAIL) == CONFIRMATION_LINKS_PER_DAY
    latest = link_path(last_email(settings, EMAIL), "/confirm-email/")
    assert latest != first
    assert client.get(first).status_code == 404  # replaced
    clock.advance(61)
    sixth = post_form(client, "/account/confirm-email/resend", {}, form_page="/account")
    assert sixth.status_code == 429  # the sixth request of the hour: the route's own limit answers first
    run_jobs()
    assert _emails_to(settings, EMAIL) == CONFIRMATION_LINKS_PER_DAY
    assert client.get(latest).status_code == 200


def test_the_operator_list_shows_whether_the_email_is_confirmed(
    client: FlaskClient, app: Flask, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    _sign_up(client)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["org", "list", "--unverified"])
    assert f"{EMAIL} (EMAIL UNCONFIRMED)" in listed.output
    run_jobs()
    post_form(client, link_path(last_email(settings, EMAIL), "/confirm-email/"), {})
    assert f"{EMAIL} (confirmed)" in runner.invoke(args=["org", "list", "--unverified"]).output


def test_the_migration_marks_existing_users_confirmed(app: Flask) -> None:
    with app.app_context():
        downgrade(revision="5a05b0c0ffee")
        db.session.remove()
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO organisations (id, name, legal_name, created_at) "
                    "VALUES ('o1', 'Old SA', 'Old SA', '2025-01-02 03:04:05')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO users (id, organisation_id, email, password_hash, role, is_active, created_at) "
                    "VALUES ('u1', 'o1', 'old@old.ma', 'x', 'admin', true, '2025-01-02 03:04:05')"
                )
            )
        upgrade()
        db.session.remove()
        user = db.session.get_one(User, "u1")
        assert user.email_confirmed_at == user.created_at


def test_a_lost_email_job_is_queued_again_and_stale_tokens_are_erased(
    client: FlaskClient, app: Flask, settings: Settings, clock: FrozenClock, run_jobs: Callable[[], None]
) -> None:
    _sign_up(client)
    with app.app_context():
        assert jobs.requeue_account_emails() == 1  # its job is queued: the sweep leaves it be (same id)
        assert len(every_queue().job_ids) == 1
        every_queue().empty()  # as if Redis had been down at the sign-up's commit
        assert jobs.requeue_account_emails() == 1
    run_jobs()
    assert _emails_to(settings, EMAIL) == 1
    with app.app_context():
        assert jobs.requeue_account_emails() == 0  # sent: nothing left to sweep

    # A link whose email never went out keeps its sealed token until it expires; then the sweep erases it.
    with app.app_context():
        row = db.session.execute(select(EmailConfirmation)).scalar_one()
        row.email_status = AccountEmailStatus.PENDING
        row.token_key_id, row.token_ciphertext = "k", b"sealed"
        db.session.commit()
    clock.advance(48 * 3600 + 1)
    with app.app_context():
        assert jobs.requeue_account_emails() == 0  # expired: not sent again
        row = db.session.execute(select(EmailConfirmation)).scalar_one()
        assert (row.token_key_id, row.token_ciphertext) == (None, None)
