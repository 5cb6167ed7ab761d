"""Sender organisations, users and API tokens: the operations the CLI and the portal share."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import ApiToken, Organisation, Role, User
from webapp.models.organisation import Invitation, RecoveryCode
from webapp.vault import Sealed, Vault, VaultError

if TYPE_CHECKING:
    from webapp.services import Services

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


def _record_failure(user: User, now: datetime, *, step: str) -> None:
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


def _clear_failures(user: User, *, step: str) -> None:
    setattr(user, f"{step}_failures", 0)
    setattr(user, f"{step}_failures_since", None)


def authenticate(session: DbSession, clock: Clock, email: str, password: str) -> User | None:
    """The user if the password is right and their password login is not locked; None otherwise.

    A locked account, a wrong password and an unknown email look alike to the caller,
    and take the same time (a hash is always checked).  Failures are recorded on the
    user: the caller commits even when None is returned.
    """
    user = _user_by_email(session, email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    now = clock.now()
    password_ok = check_password_hash(user.password_hash, password)
    if _locked(user.login_locked_until, now):
        return None
    if not user.is_active or not password_ok:
        _record_failure(user, now, step="login")
        return None
    _clear_failures(user, step="login")
    return user


def change_password(user: User, *, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise WeakPassword("the current password is wrong")
    check_password_policy(new, user.email)
    user.password_hash = generate_password_hash(new)
    log_out_everywhere(user)


def log_out_everywhere(user: User) -> None:
    """Every existing session of the user stops working (they carry the old epoch)."""
    user.session_epoch += 1


def user_for_session(session: DbSession, session_id: str) -> User | None:
    """The user a Flask-Login session id ("<user id>:<epoch>") names, if still valid."""
    user_id, _, epoch = session_id.partition(":")
    user = session.get(User, user_id)
    if user is None or not user.is_active or str(user.session_epoch) != epoch:
        return None
    return user


# --- TOTP two-factor ---------------------------------------------------------------------------


def _totp_context(user: User) -> str:
    return f"totp-secret/{user.id}"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
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


def seal_enrolment_secret(vault: Vault, user: User, secret: str) -> str:
    """The secret being enrolled, sealed to be kept in the (signed, but readable) session cookie."""
    sealed = vault.encrypt(secret.encode(), context=f"totp-enrolment/{user.id}/{user.session_epoch}")
    parts = (sealed.key_id.encode(), sealed.wrapped_key, sealed.nonce, sealed.ciphertext)
    return ".".join(base64.urlsafe_b64encode(part).decode() for part in parts)


def open_enrolment_secret(vault: Vault, user: User, value: object) -> str | None:
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
    return regenerate_recovery_codes(session, clock, user)


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


def _totp_secret(vault: Vault, user: User) -> str:
    if user.totp_key_id is None or user.totp_wrapped_key is None or user.totp_nonce is None:
        raise TwoFactorError("two-factor is not enabled")
    sealed = Sealed(user.totp_key_id, user.totp_wrapped_key, user.totp_nonce, user.totp_ciphertext or b"")
    try:
        return vault.decrypt(sealed, context=_totp_context(user)).decode()
    except VaultError as exc:
        raise TwoFactorError("the two-factor secret cannot be read") from exc


def check_second_factor(session: DbSession, clock: Clock, vault: Vault, user: User, code: str) -> None:
    """Accepts a current TOTP code (never twice) or an unused recovery code; raises CodeRejected.

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
    if step is None:
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


def invite_user(session: DbSession, clock: Clock, *, admin: User, email: str, role: Role) -> NewInvitation:
    """A single-use invitation to join the admin's organisation; the token is returned once."""
    if not admin.is_admin:
        raise AccountError("only an admin can invite")
    if _user_by_email(session, email) is not None:
        raise EmailTaken("a user with this email already exists")
    token = secrets.token_urlsafe(32)
    now = clock.now()
    invitation = Invitation(
        organisation_id=admin.organisation_id,
        email=normalise_email(email),
        role=role,
        token_hash=_hash_token(token),
        invited_by_user_id=admin.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    return NewInvitation(invitation, token)


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
    invitation = pending_invitation(session, clock, token)
    check_password_policy(password, invitation.email)
    if _user_by_email(session, invitation.email) is not None:
        raise EmailTaken("a user with this email already exists")
    now = clock.now()
    invitation.accepted_at = now
    user = User(
        organisation_id=invitation.organisation_id,
        email=invitation.email,
        password_hash=generate_password_hash(password),
        role=invitation.role,
        created_at=now,
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


def send_invitation_email(services: Services, invitation: Invitation, *, subject: str, text: str) -> bool:
    """Hands the invitation (written by the caller, in the admin's language) to the email provider.

    Called after the commit; False if the provider did not take it: the admin has the link to pass on.
    """
    from markupsafe import escape

    from webapp.notify.email.base import EmailError, OutgoingEmail

    html = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in text.split("\n\n"))
    email = OutgoingEmail(to=invitation.email, subject=subject, text=text, html=html)
    try:
        services.email.send(email=email, client_ref=f"invitation-{invitation.id}")
    except EmailError:
        return False
    return True


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
