"""Emailed single-use links (invitations, email confirmations): their tokens, their emails, their sweeper.

Only a token's hash identifies its row.  Until the email is sent, the token itself is kept sealed in
the row (`webapp.models.organisation.LinkEmail`) so that the job can write the link; it is erased once
the email is sent or the link used or expired.  The emails themselves are written by the concern that
owns the link (`invitations`, `signup`), and delivered here, once, by a job.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from markupsafe import escape
from sqlalchemy import or_, update

from webapp.extensions import DbSession
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation, Invitation
from webapp.notify.email.base import EmailError, EmailReceipt, OutgoingEmail, TransientEmailError
from webapp.queue import Priority, enqueue_after_commit
from webapp.vault import Sealed, Vault, VaultError

if TYPE_CHECKING:
    from webapp.services import Services


EmailedLink: TypeAlias = Invitation | EmailConfirmation


def new_link_token() -> str:
    """256 bits from `secrets`; only its hash identifies the row."""
    return secrets.token_urlsafe(32)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link_context(row: EmailedLink) -> str:
    kind = "invitation" if isinstance(row, Invitation) else "email-confirmation"
    return f"{kind}-token:{row.id}"


def _client_ref(row: EmailedLink) -> str:
    """The provider's id of the email (one per attempt), to ask it after a crash whether it went out."""
    kind = "invitation" if isinstance(row, Invitation) else "email-confirmation"
    return f"{kind}-{row.id}-{row.email_attempts}"


def queue_link_email(
    session: DbSession, vault: Vault, row: EmailedLink, token: str, job: Callable[[str], object], job_id: str
) -> None:
    """Seals the token in the row (the job writes the link with it) and queues its email job after the commit."""
    sealed = vault.encrypt(token.encode(), context=_link_context(row))
    row.token_key_id, row.token_wrapped_key = sealed.key_id, sealed.wrapped_key
    row.token_nonce, row.token_ciphertext = sealed.nonce, sealed.ciphertext
    row.email_status, row.email_error, row.email_sent_at = AccountEmailStatus.PENDING, None, None
    enqueue_after_commit(session, job, row.id, job_id=job_id, priority=Priority.URGENT)  # someone waits for it


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


def erase_link_token(row: EmailedLink) -> None:
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


_URL = re.compile(r"https?://[^\s<>\"']+")


def _html_paragraph(paragraph: str) -> str:
    """A paragraph as escaped HTML whose web addresses are links (a mail reader shows a button-like link)."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(paragraph):
        parts.append(str(escape(paragraph[position : match.start()])))
        url = escape(match.group(0))
        parts.append(f'<a href="{url}">{url}</a>')
        position = match.end()
    parts.append(str(escape(paragraph[position:])))
    return "<p>" + "".join(parts).replace("\n", "<br>") + "</p>"


def plain_email(to: str, language: str, subject: str, paragraphs: list[str]) -> OutgoingEmail:
    """An account email: the same paragraphs as text and as (escaped) HTML, its addresses clickable."""
    text = "\n\n".join(paragraphs)
    html = "".join(_html_paragraph(paragraph) for paragraph in paragraphs)
    return OutgoingEmail(to=to, subject=subject, text=text + "\n", html=html + "\n", language=language)


def deliver_link_email(
    session: DbSession,
    services: Services,
    row: EmailedLink,
    usable: bool,
    write: Callable[[Services, Any, str], OutgoingEmail],
) -> AccountEmailStatus:
    """Sends the row's email: claims the attempt (committed) before handing it to the provider, so that a
    job killed mid-send asks the provider instead of sending twice; a transient failure is raised for RQ."""
    if row.email_status is AccountEmailStatus.SENT or not usable:
        erase_link_token(row)
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
    erase_link_token(row)
    session.commit()
    return row.email_status
