"""Invitation emails by job: sent after the commit by the worker, the sealed link erased once sent,
failures shown to the admin with "send again", and no second email after a crash mid-send."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Sender
from tests.portal_helpers import ENGLISH, csrf_token, log_in
from tests.test_accounts import last_email, link_path, post_form
from webapp.accounts.invitations import deliver_invitation_email
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import User
from webapp.models.organisation import AccountEmailStatus, Invitation
from webapp.notify.email.base import (
    EmailError,
    EmailReceipt,
    OutgoingEmail,
    PermanentEmailError,
    TransientEmailError,
)
from webapp.services import current_services

INVITEE = "assistant@atlas.ma"
LINK_ON_PAGE = re.compile(r'class="secret">https://wassit\.ma(/invitations/[A-Za-z0-9_-]+)<')


class RefusingProvider:
    name = "refusing"

    def __init__(self, error: EmailError) -> None:
        self.error = error

    def send(self, *, email: OutgoingEmail, client_ref: str) -> EmailReceipt:
        raise self.error

    def find_sent(self, client_ref: str) -> EmailReceipt | bool | None:
        return None


def _invite(client: FlaskClient) -> tuple[str, str]:
    """Invites INVITEE; returns the link's path shown to the admin, and the page."""
    page = post_form(client, "/account/users/invite", {"email": INVITEE, "role": "sender"}, form_page="/account/users")
    assert page.status_code == 200, page.text[:2000]
    match = LINK_ON_PAGE.search(page.text)
    assert match, page.text[:3000]
    return match.group(1), page.text


def _invitation(app: Flask) -> Invitation:
    with app.app_context():
        invitation = db.session.execute(select(Invitation)).scalar_one()
        db.session.expunge(invitation)
        return invitation


def _emails(settings: Settings) -> int:
    path = settings.email_outbox_path
    return path.read_text().count(f'"to": "{INVITEE}"') if path.exists() else 0


def test_the_email_goes_out_only_when_the_job_runs_and_the_sealed_link_is_then_erased(
    client: FlaskClient, app: Flask, sender: Sender, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    log_in(client, sender)
    path, page = _invite(client)
    assert "being sent" in page
    assert _emails(settings) == 0
    assert _invitation(app).token_ciphertext is not None  # sealed, for the job
    assert path.rsplit("/", 1)[1].encode() not in _invitation(app).token_ciphertext

    run_jobs()
    mail = last_email(settings, INVITEE)
    assert link_path(mail, "/invitations/") == path
    assert "Banque Atlas SA" in mail["text"]
    invitation = _invitation(app)
    assert invitation.email_status is AccountEmailStatus.SENT
    assert invitation.email_sent_at is not None
    assert (invitation.token_key_id, invitation.token_wrapped_key, invitation.token_ciphertext) == (None, None, None)
    assert "sent" in client.get("/account/users", headers=ENGLISH).text
    run_jobs()
    assert _emails(settings) == 1

    invitee = app.test_client()
    accepted = post_form(invitee, path, {"password": "my own long password", "confirm": "my own long password"})
    assert accepted.status_code == 303
    with app.app_context():
        joined = db.session.execute(select(User).where(User.email == INVITEE)).scalar_one()
        assert joined.email_confirmed_at is not None  # the link reached the address


@pytest.mark.parametrize("error", [PermanentEmailError("550 no such user"), TransientEmailError("421 busy")])
def test_a_failure_is_shown_and_send_again_mails_a_fresh_link(
    client: FlaskClient,
    app: Flask,
    sender: Sender,
    settings: Settings,
    run_jobs: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    error: EmailError,
) -> None:
    log_in(client, sender)
    services = app.extensions["wassit"]
    working = services.email
    monkeypatch.setattr(services, "email", RefusingProvider(error))
    first_path, _ = _invite(client)
    run_jobs()
    invitation = _invitation(app)
    assert invitation.email_status is AccountEmailStatus.FAILED
    assert invitation.email_error == str(error)
    assert invitation.token_ciphertext is not None  # kept until sent, so that a retry can still write the link
    users = client.get("/account/users", headers=ENGLISH).text
    assert "not sent" in users
    assert str(error) in users

    monkeypatch.setattr(services, "email", working)
    resend_action = f"/account/users/invitations/{invitation.id}/resend"
    again = client.post(resend_action, data={"csrf_token": csrf_token(users)}, headers=ENGLISH)
    assert again.status_code == 200
    match = LINK_ON_PAGE.search(again.text)
    assert match
    new_path = match.group(1)
    assert new_path != first_path
    run_jobs()
    assert link_path(last_email(settings, INVITEE), "/invitations/") == new_path
    assert _emails(settings) == 1
    assert client.get(first_path).status_code == 404  # the old link no longer works
    assert client.get(new_path).status_code == 200
    assert _invitation(app).email_status is AccountEmailStatus.SENT


def test_a_job_killed_after_handing_the_email_over_does_not_send_it_twice(
    client: FlaskClient, app: Flask, sender: Sender, settings: Settings, run_jobs: Callable[[], None]
) -> None:
    log_in(client, sender)
    _invite(client)
    invitation = _invitation(app)
    with app.app_context():
        row = db.session.get_one(Invitation, invitation.id)
        row.email_status, row.email_attempts = AccountEmailStatus.SENDING, 1
        db.session.commit()
        # The provider took it, then the worker died before recording it.
        services = current_services()
        services.email.send(
            email=OutgoingEmail(to=INVITEE, subject="s", text="t", html="h"), client_ref=f"invitation-{row.id}-1"
        )
    run_jobs()
    assert _emails(settings) == 1
    assert _invitation(app).email_status is AccountEmailStatus.SENT


def test_an_invitation_accepted_before_its_job_runs_is_not_emailed(
    client: FlaskClient, app: Flask, sender: Sender, settings: Settings
) -> None:
    log_in(client, sender)
    path, _ = _invite(client)
    invitee = app.test_client()
    post_form(invitee, path, {"password": "my own long password", "confirm": "my own long password"})
    assert _invitation(app).token_ciphertext is None  # erased on acceptance
    with app.app_context():
        assert (
            deliver_invitation_email(db.session, current_services(), _invitation(app).id) is AccountEmailStatus.PENDING
        )
    assert _emails(settings) == 0


def test_send_again_is_for_the_organisations_admins_only(
    client: FlaskClient, app: Flask, sender: Sender, make_sender: Callable[..., Sender]
) -> None:
    log_in(client, sender)
    _invite(client)
    invitation_id = _invitation(app).id
    other = make_sender(org="Cabinet Idrissi")
    outsider = app.test_client()
    log_in(outsider, other)
    users = outsider.get("/account/users", headers=ENGLISH)
    forbidden = outsider.post(
        f"/account/users/invitations/{invitation_id}/resend", data={"csrf_token": csrf_token(users.text)}
    )
    assert forbidden.status_code == 404
    assert _invitation(app).email_status is AccountEmailStatus.PENDING
