"""Invitations: an organisation's admin invites someone by email; the invitee chooses a password and joins.

The link works once, for 7 days, and is emailed by a job (`webapp.accounts.links`); the admin may
also pass it on by hand, or send it again (a fresh link; the previous one stops working).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from webapp.accounts.errors import AccountError, EmailTaken, InvitationInvalid
from webapp.accounts.links import (
    deliver_link_email,
    erase_link_token,
    erase_stale_link_tokens,
    hash_link_token,
    invitation_email_job_id,
    new_link_token,
    plain_email,
    queue_link_email,
)
from webapp.accounts.login import check_password_policy, normalise_email, user_by_email
from webapp.clock import Clock
from webapp.extensions import DbSession, db
from webapp.models import Role, User
from webapp.models.organisation import AccountEmailStatus, Invitation
from webapp.models.types import new_id
from webapp.notify.email.base import OutgoingEmail
from webapp.services import Services, current_services

INVITATION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


def invitation_link(services: Services, token: str) -> str:
    return f"{services.settings.public_url}/invitations/{token}"


def invite_user(
    session: DbSession, services: Services, *, admin: User, email: str, role: Role, language: str
) -> NewInvitation:
    """A single-use invitation to join the admin's organisation, emailed by a job after the commit.

    The token is returned once (for the admin to pass on) and kept sealed until the email is sent.
    """
    if not admin.is_admin:
        raise AccountError("only an admin can invite")
    if user_by_email(session, email) is not None:
        raise EmailTaken("a user with this email already exists")
    now = services.clock.now()
    erase_stale_link_tokens(session, now)
    invitation = Invitation(
        id=new_id(),
        organisation_id=admin.organisation_id,
        email=normalise_email(email),
        role=role,
        invited_by_user_id=admin.id,
        created_at=now,
        language=language,
    )
    session.add(invitation)
    return NewInvitation(invitation, _issue_invitation_link(session, services, invitation))


def _issue_invitation_link(session: DbSession, services: Services, invitation: Invitation) -> str:
    """A new link for the invitation (a previous one stops working), valid 7 days, queued for email."""
    token = new_link_token()
    now = services.clock.now()
    invitation.token_hash = hash_link_token(token)
    invitation.expires_at = now + INVITATION_LIFETIME
    queue_link_email(
        session,
        services.vault,
        invitation,
        token,
        email_invitation_job,
        invitation_email_job_id(invitation.id, invitation.token_hash),
    )
    return token


def resend_invitation(session: DbSession, services: Services, invitation: Invitation) -> NewInvitation:
    """The admin's "send again": a fresh link (7 days again), emailed by a job; the old link stops working."""
    if invitation.accepted_at is not None:
        raise InvitationInvalid("this invitation was already accepted")
    return NewInvitation(invitation, _issue_invitation_link(session, services, invitation))


def pending_invitations(session: DbSession, org_id: str) -> list[Invitation]:
    return list(
        session.execute(
            select(Invitation)
            .where(Invitation.organisation_id == org_id, Invitation.accepted_at.is_(None))
            .order_by(Invitation.created_at.desc())
        ).scalars()
    )


def organisation_invitation(session: DbSession, org_id: str, invitation_id: str) -> Invitation | None:
    """An invitation of the organisation; None for anyone else's (the caller answers 404)."""
    return session.execute(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.organisation_id == org_id)
    ).scalar_one_or_none()


def pending_invitation(session: DbSession, clock: Clock, token: str) -> Invitation:
    """The invitation of a link, if it is still usable; raises InvitationInvalid otherwise."""
    if len(token) > 100:
        raise InvitationInvalid("unknown invitation")
    invitation = session.execute(
        select(Invitation).where(Invitation.token_hash == hash_link_token(token))
    ).scalar_one_or_none()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= clock.now():
        raise InvitationInvalid("this invitation link is unknown, used or expired")
    return invitation


def accept_invitation(session: DbSession, clock: Clock, token: str, password: str) -> User:
    """Creates the invitee's account; the link came to their address, so it is confirmed."""
    invitation = pending_invitation(session, clock, token)
    check_password_policy(password, invitation.email)
    if user_by_email(session, invitation.email) is not None:
        raise EmailTaken("a user with this email already exists")
    now = clock.now()
    invitation.accepted_at = now
    erase_link_token(invitation)
    user = User(
        organisation_id=invitation.organisation_id,
        email=invitation.email,
        password_hash=generate_password_hash(password),
        role=invitation.role,
        created_at=now,
        email_confirmed_at=now,
    )
    session.add(user)
    return user


def _invitation_email(services: Services, invitation: Invitation, token: str) -> OutgoingEmail:
    settings = services.settings
    name = invitation.organisation.legal_name
    with force_locale(invitation.language):
        return plain_email(
            invitation.email,
            invitation.language,
            gettext("Invitation to join %(name)s", name=name),
            [
                gettext(
                    "You are invited to send registered letters on behalf of %(name)s with %(service)s.",
                    name=name,
                    service=settings.service_name,
                ),
                gettext("Choose your password here (the link works once, for 7 days):")
                + "\n"
                + invitation_link(services, token),
            ],
        )


def deliver_invitation_email(session: DbSession, services: Services, invitation_id: str) -> AccountEmailStatus | None:
    """The job: emails the invitation link once; idempotent (a sent, accepted or expired one is left alone)."""
    invitation = session.execute(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    ).scalar_one_or_none()
    if invitation is None:
        session.commit()
        return None
    usable = invitation.accepted_at is None and invitation.expires_at > services.clock.now()
    return deliver_link_email(session, services, invitation, usable, _invitation_email)


def email_invitation_job(invitation_id: str) -> str | None:
    """RQ job: `deliver_invitation_email`; the sweeper (`webapp.sweepers`) enqueues it again if lost."""
    status = deliver_invitation_email(db.session, current_services(), invitation_id)
    return status.value if status else None
