"""Becoming a sender: sign-up, the operator's verification of the organisation, and email confirmation.

A signed-up organisation cannot send until an operator has checked its identity (`verify_organisation`)
and its first user has confirmed their address with an emailed link (`start_email_confirmation`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from webapp.accounts.errors import (
    AccountError,
    ConfirmationInvalid,
    ConfirmationThrottled,
    EmailAlreadyConfirmed,
    EmailTaken,
    InvalidIce,
    NotSingleLine,
    OrganisationExists,
    OrganisationNotFound,
)
from webapp.accounts.links import (
    confirmation_email_job_id,
    deliver_link_email,
    erase_link_token,
    erase_stale_link_tokens,
    hash_link_token,
    new_link_token,
    plain_email,
    queue_link_email,
)
from webapp.accounts.login import check_password_policy, normalise_email, user_by_email
from webapp.clock import Clock
from webapp.extensions import DbSession, db
from webapp.models import Organisation, Role, User
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation
from webapp.models.types import new_id
from webapp.notify.email.base import OutgoingEmail
from webapp.services import Services, current_services
from webapp.textinput import control_character

ICE_PATTERN = re.compile(r"[0-9]{15}")
EMAIL_CONFIRMATION_LIFETIME = timedelta(hours=48)
# "Send the confirmation again": at most one a minute, and this many links a day (the sign-up's included).
CONFIRMATION_RESEND_INTERVAL = timedelta(minutes=1)
CONFIRMATION_LINKS_PER_DAY = 5


def normalise_ice(ice: str) -> str:
    """The ICE without spaces; raises InvalidIce unless exactly 15 digits (the checksum is not public)."""
    ice = re.sub(r"\s+", "", ice)
    if not ICE_PATTERN.fullmatch(ice):
        raise InvalidIce("the ICE must be exactly 15 digits")
    return ice


def refuse_control_characters(value: str, field: str) -> None:
    """Raises NotSingleLine if a name to be shown on one line (and in email subjects) holds a control character."""
    found = control_character(value)
    if found is not None:
        raise NotSingleLine(field, found)


def create_sender(
    session: DbSession,
    clock: Clock,
    *,
    org_name: str,
    email: str,
    password: str,
    role: Role = Role.ADMIN,
    verified: bool = True,
) -> User:
    """Creates the organisation if needed (verified: the CLI is the operator) and a user in it."""
    refuse_control_characters(org_name, "org")
    check_password_policy(password, email)
    now = clock.now()
    org = session.execute(select(Organisation).where(Organisation.name == org_name)).scalar_one_or_none()
    if org is None:
        org = Organisation(
            name=org_name,
            legal_name=org_name,
            created_at=now,
            verified_at=now if verified else None,
            verified_by="cli" if verified else None,
            verification_document="created verified by `flask sender create`" if verified else None,
        )
        session.add(org)
    email = normalise_email(email)
    if user_by_email(session, email) is not None:
        raise EmailTaken(f"a user with the email {email} already exists")
    user = User(
        organisation=org,
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        created_at=now,
        email_confirmed_at=now,  # the operator vouches for the address
    )
    session.add(user)
    return user


def sign_up(
    session: DbSession,
    clock: Clock,
    *,
    legal_name: str,
    ice: str,
    address: str,
    email: str,
    password: str,
) -> User:
    """Creates an unverified organisation and its first user, an admin; an operator verifies it later."""
    refuse_control_characters(legal_name, "legal_name")
    ice = normalise_ice(ice)
    check_password_policy(password, email)
    legal_name = legal_name.strip()
    if session.execute(select(Organisation).where(Organisation.name == legal_name)).scalar_one_or_none():
        raise OrganisationExists("an organisation with this name already exists")
    if user_by_email(session, email) is not None:
        raise EmailTaken("a user with this email already exists")
    now = clock.now()
    org = Organisation(name=legal_name, legal_name=legal_name, ice=ice, address=address.strip(), created_at=now)
    user = User(
        organisation=org,
        email=normalise_email(email),
        password_hash=generate_password_hash(password),
        role=Role.ADMIN,
        created_at=now,
    )
    session.add_all([org, user])
    return user


# --- the operator's verification ----------------------------------------------------------------


def find_organisation(session: DbSession, name_or_id: str) -> Organisation:
    org = (
        session.get(Organisation, name_or_id)
        or session.execute(select(Organisation).where(Organisation.name == name_or_id)).scalar_one_or_none()
    )
    if org is None:
        raise OrganisationNotFound(f"no organisation named {name_or_id}")
    return org


def verify_organisation(session: DbSession, clock: Clock, org: Organisation, *, by: str, document: str) -> None:
    """Records that an operator checked the sender's identity: who, when, and on what document."""
    if not by.strip() or not document.strip():
        raise AccountError("the operator and the document checked are both required")
    org.verified_at = clock.now()
    org.verified_by = normalise_email(by)
    org.verification_document = document.strip()[:400]


def set_active_content_allowed(org: Organisation, allowed: bool) -> None:
    """An operator's decision: whether the organisation may send PDFs with active content (JavaScript,
    embedded files, …), refused otherwise at deposit; its recipients are then told before downloading."""
    org.allows_active_content = allowed


def unverified_organisations(session: DbSession) -> list[Organisation]:
    return list(
        session.execute(
            select(Organisation).where(Organisation.verified_at.is_(None)).order_by(Organisation.created_at)
        ).scalars()
    )


def organisation_admin_contacts(session: DbSession, org_ids: list[str]) -> dict[str, User]:
    """The first admin of each organisation (the one who signed up), for the operator's lists."""
    admins = session.execute(
        select(User)
        .where(User.organisation_id.in_(org_ids), User.role == Role.ADMIN)
        .order_by(User.created_at.desc(), User.email.desc())
    ).scalars()
    return {admin.organisation_id: admin for admin in admins}  # the earliest wins: it comes last


# --- email confirmation -------------------------------------------------------------------------


def confirmation_link(services: Services, token: str) -> str:
    return f"{services.settings.public_url}/confirm-email/{token}"


def _confirmation_email(services: Services, confirmation: EmailConfirmation, token: str) -> OutgoingEmail:
    settings = services.settings
    with force_locale(confirmation.language):
        return plain_email(
            confirmation.email,
            confirmation.language,
            gettext("Confirm your email address for %(service)s", service=settings.service_name),
            [
                gettext(
                    "An account for %(name)s was opened on %(service)s with this email address.",
                    name=confirmation.user.organisation.legal_name,
                    service=settings.service_name,
                ),
                gettext("Confirm your address here (the link works once, for 48 hours):")
                + "\n"
                + confirmation_link(services, token),
                gettext("If you did not sign up, ignore this email: the account cannot send anything without it."),
            ],
        )


def deliver_confirmation_email(
    session: DbSession, services: Services, confirmation_id: str
) -> AccountEmailStatus | None:
    """The job: emails the confirmation link once; idempotent (a sent, used or expired one is left alone)."""
    confirmation = session.execute(
        select(EmailConfirmation).where(EmailConfirmation.id == confirmation_id).with_for_update()
    ).scalar_one_or_none()
    if confirmation is None:
        session.commit()
        return None
    usable = (
        confirmation.used_at is None
        and confirmation.expires_at > services.clock.now()
        and confirmation.user.email_confirmed_at is None
    )
    return deliver_link_email(session, services, confirmation, usable, _confirmation_email)


def start_email_confirmation(session: DbSession, services: Services, user: User, *, language: str) -> str:
    """A new link that confirms the user's address (older ones stop working), emailed by a job after the
    commit; rate-limited (`ConfirmationThrottled`).  Returns the token (for tests and the CLI only)."""
    if user.email_confirmed_at is not None:
        raise EmailAlreadyConfirmed("the email address is already confirmed")
    now = services.clock.now()
    recent = list(
        session.execute(
            select(EmailConfirmation)
            .where(EmailConfirmation.user_id == user.id, EmailConfirmation.created_at > now - timedelta(days=1))
            .order_by(EmailConfirmation.created_at.desc())
        ).scalars()
    )
    if recent and now - recent[0].created_at < CONFIRMATION_RESEND_INTERVAL:
        raise ConfirmationThrottled(_seconds_until(recent[0].created_at + CONFIRMATION_RESEND_INTERVAL, now))
    if len(recent) >= CONFIRMATION_LINKS_PER_DAY:
        raise ConfirmationThrottled(_seconds_until(recent[-1].created_at + timedelta(days=1), now))
    for older in recent:
        older.expires_at = min(older.expires_at, now)
    erase_stale_link_tokens(session, now)
    token = new_link_token()
    confirmation = EmailConfirmation(
        id=new_id(),
        user_id=user.id,
        user=user,
        email=user.email,
        token_hash=hash_link_token(token),
        created_at=now,
        expires_at=now + EMAIL_CONFIRMATION_LIFETIME,
        language=language,
    )
    session.add(confirmation)
    queue_link_email(
        session,
        services.vault,
        confirmation,
        token,
        email_confirmation_job,
        confirmation_email_job_id(confirmation.id, confirmation.token_hash),
    )
    return token


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


def pending_email_confirmation(session: DbSession, clock: Clock, token: str) -> EmailConfirmation:
    """The confirmation of a link, if it is still usable; raises ConfirmationInvalid otherwise."""
    if len(token) > 100:
        raise ConfirmationInvalid("unknown link")
    confirmation = session.execute(
        select(EmailConfirmation).where(EmailConfirmation.token_hash == hash_link_token(token))
    ).scalar_one_or_none()
    if (
        confirmation is None
        or confirmation.used_at is not None
        or confirmation.expires_at <= clock.now()
        or confirmation.email != confirmation.user.email
    ):
        raise ConfirmationInvalid("this confirmation link is unknown, used or expired")
    return confirmation


def confirm_email(session: DbSession, clock: Clock, token: str) -> User:
    """Marks the user's address confirmed; the link works once."""
    confirmation = pending_email_confirmation(session, clock, token)
    now = clock.now()
    confirmation.used_at = now
    erase_link_token(confirmation)
    user = confirmation.user
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    return user


def email_confirmation_job(confirmation_id: str) -> str | None:
    """RQ job: `deliver_confirmation_email`; the sweeper (`webapp.sweepers`) enqueues it again if lost."""
    status = deliver_confirmation_email(db.session, current_services(), confirmation_id)
    return status.value if status else None
