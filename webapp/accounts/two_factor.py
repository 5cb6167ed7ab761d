"""The second factor, for senders' users and support agents alike: TOTP enrolment, codes, recovery codes.

The TOTP secret is kept sealed by the vault (context `totp-secret/<account id>`); while it is being
enrolled it lives in the session cookie, sealed to the account and its session epoch.  A code is
accepted once (the last accepted time step is kept) and failures lock the step like passwords do
(`webapp.accounts.login`).  Senders also get single-use recovery codes; agents have none: an
operator admin resets a lost authenticator (`webapp.support.agents.reset_agent_two_factor`).

The web calls the functions that take `services` (`enrolment`, `confirm_enrolment`,
`verify_second_factor`, `disable_two_factor`); the others take their collaborators one by one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select

from webapp.accounts.errors import CodeRejected, TwoFactorError
from webapp.accounts.login import Account, clear_failures, is_locked, log_out_everywhere, record_failure
from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import User
from webapp.models.organisation import RecoveryCode
from webapp.vault import Sealed, Vault, VaultError

if TYPE_CHECKING:
    from webapp.services import Services

RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "Wassit"


def _totp_context(account: Account) -> str:
    return f"totp-secret/{account.id}"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(account: Account, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account.email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn on the server."""
    import qrcode
    from qrcode.image.svg import SvgPathFillImage

    image = qrcode.make(uri, image_factory=SvgPathFillImage, box_size=16, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :] if "<svg" in svg else svg


# --- enrolment ----------------------------------------------------------------------------------


def seal_enrolment_secret(vault: Vault, account: Account, secret: str) -> str:
    """The secret being enrolled, sealed to be kept in the (signed, but readable) session cookie."""
    sealed = vault.encrypt(secret.encode(), context=f"totp-enrolment/{account.id}/{account.session_epoch}")
    parts = (sealed.key_id.encode(), sealed.wrapped_key, sealed.nonce, sealed.ciphertext)
    return ".".join(base64.urlsafe_b64encode(part).decode() for part in parts)


def open_enrolment_secret(vault: Vault, account: Account, value: object) -> str | None:
    if not isinstance(value, str) or value.count(".") != 3:
        return None
    try:
        key_id, wrapped, nonce, ciphertext = (base64.urlsafe_b64decode(part) for part in value.split("."))
        sealed = Sealed(key_id.decode(), wrapped, nonce, ciphertext)
        return vault.decrypt(sealed, context=f"totp-enrolment/{account.id}/{account.session_epoch}").decode()
    except (ValueError, VaultError):
        return None


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret being enrolled: shown as text and as a QR code until a code from the app confirms it."""

    secret: str
    uri: str
    # The secret sealed for the session to keep; None when the session already holds it.
    sealed: str | None

    def qr_svg(self) -> str:
        return totp_qr_svg(self.uri)


def enrolment(services: Services, account: Account, kept: object, *, renew: bool = False) -> Enrolment:
    """The secret `account` is enrolling: the one sealed in `kept` (what its session holds), or a new one
    when there is none, it cannot be opened (another epoch, another key), or `renew` asks for one."""
    secret = None if renew else open_enrolment_secret(services.vault, account, kept)
    sealed = None
    if secret is None:
        secret = new_totp_secret()
        sealed = seal_enrolment_secret(services.vault, account, secret)
    return Enrolment(secret, totp_uri(account, secret), sealed)


def confirm_enrolment(session: DbSession, services: Services, account: Account, secret: str, code: str) -> list[str]:
    """Turns TOTP on once `code` proves the app has `secret`; returns a sender's recovery codes (shown once).

    Agents get none: an operator admin resets a lost authenticator.  Raises CodeRejected."""
    if isinstance(account, User):
        return enable_two_factor(session, services.clock, services.vault, account, secret, code)
    turn_on_totp(services.clock, services.vault, account, secret, code)
    return []


def enable_two_factor(session: DbSession, clock: Clock, vault: Vault, user: User, secret: str, code: str) -> list[str]:
    """Turns TOTP on once the user proves the app has the secret; returns the recovery codes (shown once)."""
    turn_on_totp(clock, vault, user, secret, code)
    return regenerate_recovery_codes(session, clock, user)


def turn_on_totp(clock: Clock, vault: Vault, account: Account, secret: str, code: str) -> None:
    """Keeps the secret (sealed) once `code` proves the authenticator app has it; logs other sessions out."""
    now = clock.now()
    step = _matching_timestep(secret, code, now)
    if step is None:
        raise CodeRejected("the code does not match")
    sealed = vault.encrypt(secret.encode(), context=_totp_context(account))
    account.totp_key_id = sealed.key_id
    account.totp_wrapped_key = sealed.wrapped_key
    account.totp_nonce = sealed.nonce
    account.totp_ciphertext = sealed.ciphertext
    account.totp_last_timestep = step
    account.totp_enabled_at = now
    clear_failures(account, step="totp")
    log_out_everywhere(account)


def forget_totp(account: Account) -> None:
    """Turns TOTP off and forgets the secret; the caller decides who may, and logs the account out."""
    account.totp_enabled_at = None
    account.totp_key_id = None
    account.totp_wrapped_key = None
    account.totp_nonce = None
    account.totp_ciphertext = None
    account.totp_last_timestep = None


# --- codes --------------------------------------------------------------------------------------


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


def _totp_secret(vault: Vault, account: Account) -> str:
    if account.totp_key_id is None or account.totp_wrapped_key is None or account.totp_nonce is None:
        raise TwoFactorError("two-factor is not enabled")
    sealed = Sealed(account.totp_key_id, account.totp_wrapped_key, account.totp_nonce, account.totp_ciphertext or b"")
    try:
        return vault.decrypt(sealed, context=_totp_context(account)).decode()
    except VaultError as exc:
        raise TwoFactorError("the two-factor secret cannot be read") from exc


def check_second_factor(session: DbSession, clock: Clock, vault: Vault, account: Account, code: str) -> None:
    """Accepts a current TOTP code (never twice) or an unused recovery code; raises CodeRejected.

    Agents have no recovery codes: an operator admin resets a lost authenticator.

    Failures count towards a per-account lock of this step; the caller commits either way.
    """
    now = clock.now()
    if is_locked(account.totp_locked_until, now):
        raise CodeRejected("too many failed codes: wait")
    step = _matching_timestep(_totp_secret(vault, account), code, now)
    if step is not None and (account.totp_last_timestep is None or step > account.totp_last_timestep):
        account.totp_last_timestep = step
        clear_failures(account, step="totp")
        return
    if step is None and isinstance(account, User):
        recovery = session.execute(
            select(RecoveryCode).where(
                RecoveryCode.user_id == account.id,
                RecoveryCode.code_hash == _hash_recovery_code(account, code),
                RecoveryCode.used_at.is_(None),
            )
        ).scalar_one_or_none()
        if recovery is not None:
            recovery.used_at = now
            clear_failures(account, step="totp")
            return
    record_failure(account, now, step="totp")
    raise CodeRejected("the code is wrong or was already used")


def verify_second_factor(session: DbSession, services: Services, account: Account, code: str) -> None:
    """`check_second_factor` with the service's clock and vault: the log-in's second step."""
    check_second_factor(session, services.clock, services.vault, account, code)


def disable_two_factor(session: DbSession, services: Services, user: User, code: str) -> None:
    """Turns TOTP off; needs a current code (or a recovery code)."""
    check_second_factor(session, services.clock, services.vault, user, code)
    forget_totp(user)
    _delete_recovery_codes(session, user)
    log_out_everywhere(user)


# --- recovery codes (senders only) --------------------------------------------------------------


def _hash_recovery_code(user: User, code: str) -> str:
    # 64 random bits per code: a plain salted hash is enough (unlike a password, nothing to guess).
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{user.id}:{normalised}".encode()).hexdigest()


def _delete_recovery_codes(session: DbSession, user: User) -> None:
    for old in session.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).scalars():
        session.delete(old)


def regenerate_recovery_codes(session: DbSession, clock: Clock, user: User) -> list[str]:
    _delete_recovery_codes(session, user)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(8)
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        codes.append(code)
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(user, code), created_at=clock.now()))
    return codes


def unused_recovery_codes(session: DbSession, user: User) -> int:
    return len(
        session.execute(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )
