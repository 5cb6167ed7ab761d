"""Sender organisations, users and API tokens: the operations the CLI and the portal share."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import pyotp
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.clock import Clock
from webapp.extensions import DbSession, db
from webapp.models import Agent, ApiToken, Organisation, Role, User
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation, Invitation, RecoveryCode
from webapp.models.types import new_id
from webapp.notify.email.base import EmailError, EmailReceipt, OutgoingEmail, TransientEmailError
from webapp.queue import enqueue_after_commit
from webapp.services import Services, current_services
from webapp.vault import Sealed, Vault, VaultError

TOKEN_PREFIX = "lre_"  # noqa: S105 - a public marker, not a secret
# Compared against when the email is unknown, so that timing does not reveal accounts.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 12
ICE_PATTERN = re.compile(r"[0-9]{15}")
# Per-account throttling: this many failures within the window lock that step for LOCK_DURATION.
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
RECOVERY_CODE_COUNT = 10
INVITATION_LIFETIME = timedelta(days=7)
TOTP_ISSUER = "Wassit"

# Who logs in with a password and a second factor: a sender, or one of the service's support agents.
# Both carry the same credential columns; the functions below work on either.
Account: TypeAlias = User | Agent


class AccountError(Exception):
    """An account operation was refused."""


class UserNotFound(AccountError):
    """No user has this email address."""


class WeakPassword(AccountError):
    """The password is too short, or is the email address."""


class InvalidIce(AccountError):
    """An ICE is exactly 15 digits."""


class OrganisationExists(AccountError):
    """An organisation with this name already exists."""


class EmailTaken(AccountError):
    """A user with this email address already exists."""


class OrganisationNotFound(AccountError):
    """No organisation has this name or id."""


class TwoFactorError(AccountError):
    """A two-factor operation was refused."""


class CodeRejected(TwoFactorError):
    """The code is wrong, already used, or the account's code step is locked."""


class InvitationInvalid(AccountError):
    """The invitation link is unknown, already used or expired."""


class LastAdmin(AccountError):
    """The organisation would be left without an active admin."""


def check_password_policy(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == normalise_email(email):
        raise WeakPassword("the password must not be the email address")


def normalise_ice(ice: str) -> str:
    """The ICE without spaces; raises InvalidIce unless exactly 15 digits (the checksum is not public)."""
    ice = re.sub(r"\s+", "", ice)
    if not ICE_PATTERN.fullmatch(ice):
        raise InvalidIce("the ICE must be exactly 15 digits")
    return ice


def normalise_email(email: str) -> str:
    return email.strip().lower()


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
    if _user_by_email(session, email) is not None:
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


def _user_by_email(session: DbSession, email: str) -> User | None:
    return session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


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
    ice = normalise_ice(ice)
    check_password_policy(password, email)
    legal_name = legal_name.strip()
    if session.execute(select(Organisation).where(Organisation.name == legal_name)).scalar_one_or_none():
        raise OrganisationExists("an organisation with this name already exists")
    if _user_by_email(session, email) is not None:
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


def unverified_organisations(session: DbSession) -> list[Organisation]:
    return list(
        session.execute(
            select(Organisation).where(Organisation.verified_at.is_(None)).order_by(Organisation.created_at)
        ).scalars()
    )


class AttemptsThrottled(AccountError):
    """Too many recent failures: this step is locked for a while."""


def _locked(until: datetime | None, now: datetime) -> bool:
    return until is not None and until > now


def _record_failure(user: Account, now: datetime, *, step: str) -> None:
    """Counts a failure of `step` ("login" or "totp") and locks the step after MAX_FAILURES in the window."""
    since: datetime | None = getattr(user, f"{step}_failures_since")
    failures: int = getattr(user, f"{step}_failures")
    if since is None or now - since > FAILURE_WINDOW:
        since, failures = now, 0
    failures += 1
    setattr(user, f"{step}_failures_since", since)
    setattr(user, f"{step}_failures", failures)
    if failures >= MAX_FAILURES:
        setattr(user, f"{step}_locked_until", now + LOCK_DURATION)
        setattr(user, f"{step}_failures", 0)
        setattr(user, f"{step}_failures_since", None)


def _clear_failures(user: Account, *, step: str) -> None:
    setattr(user, f"{step}_failures", 0)
    setattr(user, f"{step}_failures_since", None)


def authenticate(session: DbSession, clock: Clock, email: str, password: str) -> User | None:
    """The user if the password is right and their password login is not locked; None otherwise.

    A locked account, a wrong password and an unknown email look alike to the caller,
    and take the same time (a hash is always checked).  Failures are recorded on the
    user: the caller commits even when None is returned.
    """
    user = _user_by_email(session, email)
    return user if password_login(clock, user, password) else None


def password_login(clock: Clock, account: Account | None, password: str) -> bool:
    """Whether the password is right, the account active and its password login not locked.

    Always checks a hash (a dummy one for an unknown account), and records a failure on the account.
    """
    if account is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    now = clock.now()
    password_ok = check_password_hash(account.password_hash, password)
    if _locked(account.login_locked_until, now):
        return False
    if not account.is_active or not password_ok:
        _record_failure(account, now, step="login")
        return False
    _clear_failures(account, step="login")
    return True


def change_password(user: User, *, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise WeakPassword("the current password is wrong")
    check_password_policy(new, user.email)
    user.password_hash = generate_password_hash(new)
    log_out_everywhere(user)


def log_out_everywhere(user: Account) -> None:
    """Every existing session of the user stops working (they carry the old epoch)."""
    user.session_epoch += 1


def user_for_session(session: DbSession, session_id: str) -> User | None:
    """The user a Flask-Login session id ("<user id>:<epoch>") names, if still valid."""
    user_id, _, epoch = session_id.partition(":")
    user = session.get(User, user_id)
    return user if session_still_valid(user, epoch) else None


def session_still_valid(account: Account | None, epoch: str) -> bool:
    """Whether a session carrying `epoch` still names the (active) account."""
    return account is not None and account.is_active and str(account.session_epoch) == epoch


# --- TOTP two-factor ---------------------------------------------------------------------------


def _totp_context(user: Account) -> str:
    return f"totp-secret/{user.id}"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: Account, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn on the server."""
    import io

    import qrcode
    from qrcode.image.svg import SvgPathFillImage

    image = qrcode.make(uri, image_factory=SvgPathFillImage, box_size=16, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :] if "<svg" in svg else svg


def seal_enrolment_secret(vault: Vault, user: Account, secret: str) -> str:
    """The secret being enrolled, sealed to be kept in the (signed, but readable) session cookie."""
    sealed = vault.encrypt(secret.encode(), context=f"totp-enrolment/{user.id}/{user.session_epoch}")
    parts = (sealed.key_id.encode(), sealed.wrapped_key, sealed.nonce, sealed.ciphertext)
    return ".".join(base64.urlsafe_b64encode(part).decode() for part in parts)


def open_enrolment_secret(vault: Vault, user: Account, value: object) -> str | None:
    if not isinstance(value, str) or value.count(".") != 3:
        return None
    try:
        key_id, wrapped, nonce, ciphertext = (base64.urlsafe_b64decode(part) for part in value.split("."))
        sealed = Sealed(key_id.decode(), wrapped, nonce, ciphertext)
        return vault.decrypt(sealed, context=f"totp-enrolment/{user.id}/{user.session_epoch}").decode()
    except (ValueError, VaultError):
        return None


def _matching_timestep(secret: str, code: str, now: datetime) -> int | None:
    """The time step (±1 for clock drift) whose code is `code`, or None."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"[0-9]{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.at(candidate * totp.interval), code):
            return candidate
    return None


def _hash_recovery_code(user: User, code: str) -> str:
    # 64 random bits per code: a plain salted hash is enough (unlike a password, nothing to guess).
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{user.id}:{normalised}".encode()).hexdigest()


def enable_two_factor(session: DbSession, clock: Clock, vault: Vault, user: User, secret: str, code: str) -> list[str]:
    """Turns TOTP on once the user proves the app has the secret; returns the recovery codes (shown once)."""
    turn_on_totp(clock, vault, user, secret, code)
    return regenerate_recovery_codes(session, clock, user)


def turn_on_totp(clock: Clock, vault: Vault, user: Account, secret: str, code: str) -> None:
    """Keeps the secret (sealed) once `code` proves the authenticator app has it; logs other sessions out."""
    now = clock.now()
    step = _matching_timestep(secret, code, now)
    if step is None:
        raise CodeRejected("the code does not match")
    sealed = vault.encrypt(secret.encode(), context=_totp_context(user))
    user.totp_key_id = sealed.key_id
    user.totp_wrapped_key = sealed.wrapped_key
    user.totp_nonce = sealed.nonce
    user.totp_ciphertext = sealed.ciphertext
    user.totp_last_timestep = step
    user.totp_enabled_at = now
    _clear_failures(user, step="totp")
    log_out_everywhere(user)


def regenerate_recovery_codes(session: DbSession, clock: Clock, user: User) -> list[str]:
    for old in session.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars():
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(8)
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        codes.append(code)
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(user, code), created_at=clock.now()))
    return codes


def _totp_secret(vault: Vault, user: Account) -> str:
    if user.totp_key_id is None or user.totp_wrapped_key is None or user.totp_nonce is None:
        raise TwoFactorError("two-factor is not enabled")
    sealed = Sealed(user.totp_key_id, user.totp_wrapped_key, user.totp_nonce, user.totp_ciphertext or b"")
    try:
        return vault.decrypt(sealed, context=_totp_context(user)).decode()
    except VaultError as exc:
        raise TwoFactorError("the two-factor secret cannot be read") from exc


def check_second_factor(session: DbSession, clock: Clock, vault: Vault, user: Account, code: str) -> None:
    """Accepts a current TOTP code (never twice) or an unused recovery code; raises CodeRejected.

    Agents have no recovery codes: an operator admin resets a lost authenticator.

    Failures count towards a per-account lock of this step; the caller commits either way.
    """
    now = clock.now()
    if _locked(user.totp_locked_until, now):
        raise CodeRejected("too many failed codes: wait")
    step = _matching_timestep(_totp_secret(vault, user), code, now)
    if step is not None and (user.totp_last_timestep is None or step > user.totp_last_timestep):
        user.totp_last_timestep = step
        _clear_failures(user, step="totp")
        return
    if step is None and isinstance(user, User):
        recovery = session.execute(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash_recovery_code(user, code),
                RecoveryCode.used_at.is_(None),
            )
        ).scalar_one_or_none()
        if recovery is not None:
            recovery.used_at = now
            _clear_failures(user, step="totp")
            return
    _record_failure(user, now, step="totp")
    raise CodeRejected("the code is wrong or was already used")


def disable_two_factor(session: DbSession, clock: Clock, vault: Vault, user: User, code: str) -> None:
    """Turns TOTP off; needs a current code (or a recovery code)."""
    check_second_factor(session, clock, vault, user, code)
    user.totp_enabled_at = None
    user.totp_key_id = None
    user.totp_wrapped_key = None
    user.totp_nonce = None
    user.totp_ciphertext = None
    user.totp_last_timestep = None
    for old in session.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars():
        session.delete(old)
    log_out_everywhere(user)


def unused_recovery_codes(session: DbSession, user: User) -> int:
    return len(
        session.execute(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


# --- Users and invitations ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    if _user_by_email(session, email) is not None:
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
    token = _new_link_token()
    now = services.clock.now()
    invitation.token_hash = _hash_token(token)
    invitation.expires_at = now + INVITATION_LIFETIME
    _queue_link_email(session, services.vault, invitation, token)
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
        select(Invitation).where(Invitation.token_hash == _hash_token(token))
    ).scalar_one_or_none()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= clock.now():
        raise InvitationInvalid("this invitation link is unknown, used or expired")
    return invitation


def accept_invitation(session: DbSession, clock: Clock, token: str, password: str) -> User:
    """Creates the invitee's account; the link came to their address, so it is confirmed."""
    invitation = pending_invitation(session, clock, token)
    check_password_policy(password, invitation.email)
    if _user_by_email(session, invitation.email) is not None:
        raise EmailTaken("a user with this email already exists")
    now = clock.now()
    invitation.accepted_at = now
    _erase_link_token(invitation)
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


def organisation_users(session: DbSession, org_id: str) -> list[User]:
    return list(session.execute(select(User).where(User.organisation_id == org_id).order_by(User.email)).scalars())


def organisation_user(session: DbSession, org_id: str, user_id: str) -> User | None:
    """A user of the organisation; None for anyone else's (the caller answers 404)."""
    return session.execute(select(User).where(User.id == user_id, User.organisation_id == org_id)).scalar_one_or_none()


def _other_active_admins(session: DbSession, user: User) -> int:
    return len(
        session.execute(
            select(User.id).where(
                User.organisation_id == user.organisation_id,
                User.role == Role.ADMIN,
                User.is_active.is_(True),
                User.id != user.id,
            )
        ).all()
    )


def set_role(session: DbSession, user: User, role: Role) -> None:
    if role != Role.ADMIN and user.is_admin and _other_active_admins(session, user) == 0:
        raise LastAdmin("the organisation needs at least one admin")
    user.role = role


def set_active(session: DbSession, user: User, active: bool) -> None:
    if not active and user.is_admin and _other_active_admins(session, user) == 0:
        raise LastAdmin("the organisation needs at least one admin")
    user.is_active = active
    if not active:
        log_out_everywhere(user)


# --- Emailed links: invitations and sign-up email confirmation -----------------------------------

EMAIL_CONFIRMATION_LIFETIME = timedelta(hours=48)
# "Send the confirmation again": at most one a minute, and this many links a day (the sign-up's included).
CONFIRMATION_RESEND_INTERVAL = timedelta(minutes=1)
CONFIRMATION_LINKS_PER_DAY = 5

EmailedLink: TypeAlias = Invitation | EmailConfirmation


class ConfirmationInvalid(AccountError):
    """The email confirmation link is unknown, already used, replaced or expired."""


class EmailAlreadyConfirmed(AccountError):
    """The user's email address is already confirmed."""


class ConfirmationThrottled(AccountError):
    """A confirmation link was sent too recently, or too many today."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"wait {retry_after} s before asking for another link")
        self.retry_after = retry_after


def _new_link_token() -> str:
    """256 bits from `secrets`; only its hash identifies the row."""
    return secrets.token_urlsafe(32)


def _link_context(row: EmailedLink) -> str:
    kind = "invitation" if isinstance(row, Invitation) else "email-confirmation"
    return f"{kind}-token:{row.id}"


def _client_ref(row: EmailedLink) -> str:
    """The provider's id of the email (one per attempt), to ask it after a crash whether it went out."""
    kind = "invitation" if isinstance(row, Invitation) else "email-confirmation"
    return f"{kind}-{row.id}-{row.email_attempts}"


def _queue_link_email(session: DbSession, vault: Vault, row: EmailedLink, token: str) -> None:
    """Seals the token in the row (the job writes the link with it) and queues the email after the commit."""
    sealed = vault.encrypt(token.encode(), context=_link_context(row))
    row.token_key_id, row.token_wrapped_key = sealed.key_id, sealed.wrapped_key
    row.token_nonce, row.token_ciphertext = sealed.nonce, sealed.ciphertext
    row.email_status, row.email_error, row.email_sent_at = AccountEmailStatus.PENDING, None, None
    if isinstance(row, Invitation):
        enqueue_after_commit(
            session, email_invitation_job, row.id, job_id=invitation_email_job_id(row.id, row.token_hash)
        )
    else:
        enqueue_after_commit(
            session, email_confirmation_job, row.id, job_id=confirmation_email_job_id(row.id, row.token_hash)
        )


# One job per link: "send again" is not held back by a retry of the previous link's job still scheduled.
def invitation_email_job_id(invitation_id: str, token_hash: str) -> str:
    return f"invitation-token-{invitation_id}-{token_hash[:12]}"


def confirmation_email_job_id(confirmation_id: str, token_hash: str) -> str:
    return f"email-confirmation-token-{confirmation_id}-{token_hash[:12]}"


def _open_link_token(vault: Vault, row: EmailedLink) -> str | None:
    if row.token_key_id is None or row.token_wrapped_key is None or row.token_nonce is None:
        return None
    sealed = Sealed(row.token_key_id, row.token_wrapped_key, row.token_nonce, row.token_ciphertext or b"")
    try:
        return vault.decrypt(sealed, context=_link_context(row)).decode()
    except VaultError:
        return None


def _erase_link_token(row: EmailedLink) -> None:
    row.token_key_id = row.token_wrapped_key = row.token_nonce = row.token_ciphertext = None


def erase_stale_link_tokens(session: DbSession, now: datetime) -> None:
    """Erases the sealed tokens of invitations and confirmations that were used or have expired."""
    sealed_columns = {"token_key_id": None, "token_wrapped_key": None, "token_nonce": None, "token_ciphertext": None}
    session.execute(
        update(Invitation)
        .where(
            Invitation.token_key_id.is_not(None),
            or_(Invitation.accepted_at.is_not(None), Invitation.expires_at <= now),
        )
        .values(sealed_columns)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(EmailConfirmation)
        .where(
            EmailConfirmation.token_key_id.is_not(None),
            or_(EmailConfirmation.used_at.is_not(None), EmailConfirmation.expires_at <= now),
        )
        .values(sealed_columns)
        .execution_options(synchronize_session=False)
    )


def _plain_email(to: str, language: str, subject: str, paragraphs: list[str]) -> OutgoingEmail:
    """An account email: the same paragraphs as text and as (escaped) HTML."""
    text = "\n\n".join(paragraphs)
    html = "".join(f"<p>{escape(paragraph)}</p>".replace("\n", "<br>") for paragraph in paragraphs)
    return OutgoingEmail(to=to, subject=subject, text=text + "\n", html=html + "\n", language=language)


def _invitation_email(services: Services, invitation: Invitation, token: str) -> OutgoingEmail:
    settings = services.settings
    name = invitation.organisation.legal_name
    with force_locale(invitation.language):
        return _plain_email(
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


def confirmation_link(services: Services, token: str) -> str:
    return f"{services.settings.public_url}/confirm-email/{token}"


def _confirmation_email(services: Services, confirmation: EmailConfirmation, token: str) -> OutgoingEmail:
    settings = services.settings
    with force_locale(confirmation.language):
        return _plain_email(
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


def deliver_invitation_email(session: DbSession, services: Services, invitation_id: str) -> AccountEmailStatus | None:
    """The job: emails the invitation link once; idempotent (a sent, accepted or expired one is left alone)."""
    invitation = session.execute(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    ).scalar_one_or_none()
    if invitation is None:
        session.commit()
        return None
    usable = invitation.accepted_at is None and invitation.expires_at > services.clock.now()
    return _deliver_link_email(session, services, invitation, usable, _invitation_email)


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
    return _deliver_link_email(session, services, confirmation, usable, _confirmation_email)


def email_invitation_job(invitation_id: str) -> str | None:
    """RQ job: `deliver_invitation_email`; the sweeper (`webapp.sweepers`) enqueues it again if lost."""
    status = deliver_invitation_email(db.session, current_services(), invitation_id)
    return status.value if status else None


def email_confirmation_job(confirmation_id: str) -> str | None:
    """RQ job: `deliver_confirmation_email`; the sweeper (`webapp.sweepers`) enqueues it again if lost."""
    status = deliver_confirmation_email(db.session, current_services(), confirmation_id)
    return status.value if status else None


def _deliver_link_email(
    session: DbSession,
    services: Services,
    row: EmailedLink,
    usable: bool,
    write: Callable[[Services, Any, str], OutgoingEmail],
) -> AccountEmailStatus:
    """Sends the row's email: claims the attempt (committed) before handing it to the provider, so that a
    job killed mid-send asks the provider instead of sending twice; a transient failure is raised for RQ."""
    if row.email_status is AccountEmailStatus.SENT or not usable:
        _erase_link_token(row)
        session.commit()
        return row.email_status
    if row.email_status is AccountEmailStatus.SENDING and isinstance(
        services.email.find_sent(_client_ref(row)), EmailReceipt
    ):
        return _record_link_email_sent(session, services, row)
    token = _open_link_token(services.vault, row)
    if token is None:
        row.email_status = AccountEmailStatus.FAILED
        row.email_error = "the link can no longer be read: send it again"
        session.commit()
        return row.email_status
    email = write(services, row, token)
    row.email_attempts += 1
    row.email_status = AccountEmailStatus.SENDING
    client_ref = _client_ref(row)
    session.commit()
    try:
        services.email.send(email=email, client_ref=client_ref)
    except EmailError as exc:
        row.email_status = AccountEmailStatus.FAILED
        row.email_error = str(exc)[:200] or type(exc).__name__
        session.commit()
        if isinstance(exc, TransientEmailError):
            raise  # RQ tries again with backoff; the row shows the failure meanwhile
        return row.email_status
    return _record_link_email_sent(session, services, row)


def _record_link_email_sent(session: DbSession, services: Services, row: EmailedLink) -> AccountEmailStatus:
    row.email_status, row.email_error = AccountEmailStatus.SENT, None
    row.email_sent_at = services.clock.now()
    _erase_link_token(row)
    session.commit()
    return row.email_status


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
    token = _new_link_token()
    confirmation = EmailConfirmation(
        id=new_id(),
        user_id=user.id,
        user=user,
        email=user.email,
        token_hash=_hash_token(token),
        created_at=now,
        expires_at=now + EMAIL_CONFIRMATION_LIFETIME,
        language=language,
    )
    session.add(confirmation)
    _queue_link_email(session, services.vault, confirmation, token)
    return token


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


def pending_email_confirmation(session: DbSession, clock: Clock, token: str) -> EmailConfirmation:
    """The confirmation of a link, if it is still usable; raises ConfirmationInvalid otherwise."""
    if len(token) > 100:
        raise ConfirmationInvalid("unknown link")
    confirmation = session.execute(
        select(EmailConfirmation).where(EmailConfirmation.token_hash == _hash_token(token))
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
    _erase_link_token(confirmation)
    user = confirmation.user
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    return user


def organisation_admin_contacts(session: DbSession, org_ids: list[str]) -> dict[str, User]:
    """The first admin of each organisation (the one who signed up), for the operator's lists."""
    admins = session.execute(
        select(User)
        .where(User.organisation_id.in_(org_ids), User.role == Role.ADMIN)
        .order_by(User.created_at.desc(), User.email.desc())
    ).scalars()
    return {admin.organisation_id: admin for admin in admins}  # the earliest wins: it comes last


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: DbSession, clock: Clock, *, email: str, name: str = "cli") -> str:
    """Creates a token for the user and returns it; only its hash is stored."""
    user = _user_by_email(session, email)
    if user is None:
        raise UserNotFound(f"no user with the email {email}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_api_token(token),
            prefix=token[:12],
            created_at=clock.now(),
        )
    )
    return token


def user_for_api_token(session: DbSession, clock: Clock, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    api_token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if api_token is None or not api_token.user.is_active:
        return None
    api_token.last_used_at = clock.now()
    return api_token.user


def visible_api_tokens(session: DbSession, user: User) -> list[ApiToken]:
    """The user's own tokens; an admin sees the whole organisation's."""
    query = select(ApiToken).join(User, ApiToken.user_id == User.id)
    if user.is_admin:
        query = query.where(User.organisation_id == user.organisation_id)
    else:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.execute(query.order_by(ApiToken.created_at.desc())).scalars())


def visible_api_token(session: DbSession, user: User, token_id: str) -> ApiToken | None:
    """A token the user may manage; None for anyone else's (the caller answers 404)."""
    return next((t for t in visible_api_tokens(session, user) if t.id == token_id), None)


def revoke_api_token(clock: Clock, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = clock.now()
