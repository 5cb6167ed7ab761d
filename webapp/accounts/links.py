"""Emailed single-use links (invitations, email confirmations): their tokens, their emails, their sweeper.

Only a token's hash identifies its row.  Until the email is sent, the token itself is kept sealed in
the row (`webapp.models.organisation.LinkEmail`) so that the job can write the link; it is erased once
the email is sent or the link used or expired.  The emails themselves are written by the concern that
owns the link (`invitations`, `signup`), and delivered here, once, by a job.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from markupsafe import escape
from sqlalchemy import or_, select, update

from webapp.extensions import DbSession
from webapp.models.organisation import AccountEmailStatus, EmailConfirmation, Invitation
from webapp.notify.email.base import EmailError, EmailReceipt, OutgoingEmail, TransientEmailError
from webapp.queue import PendingJob, enqueue_after_commit, enqueue_now, get_queue
from webapp.vault import Sealed, Vault, VaultError

if TYPE_CHECKING:
    from webapp.services import Services

INVITATION_EMAIL_JOB = "webapp.jobs.email_invitation"
CONFIRMATION_EMAIL_JOB = "webapp.jobs.email_confirmation_link"

EmailedLink: TypeAlias = Invitation | EmailConfirmation

_LINK_SWEEP_BATCH = 200


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


def queue_link_email(session: DbSession, vault: Vault, row: EmailedLink, token: str) -> None:
    """Seals the token in the row (the job writes the link with it) and queues the email after the commit."""
    sealed = vault.encrypt(token.encode(), context=_link_context(row))
    row.token_key_id, row.token_wrapped_key = sealed.key_id, sealed.wrapped_key
    row.token_nonce, row.token_ciphertext = sealed.nonce, sealed.ciphertext
    row.email_status, row.email_error, row.email_sent_at = AccountEmailStatus.PENDING, None, None
    job = _link_email_job(row)
    enqueue_after_commit(session, job.func, *job.args, job_id=job.job_id)


def _link_email_job(row: EmailedLink) -> PendingJob:
    func = INVITATION_EMAIL_JOB if isinstance(row, Invitation) else CONFIRMATION_EMAIL_JOB
    # One job per link: "send again" is not held back by a retry of the previous link's job still scheduled.
    return PendingJob(func, (row.id,), f"{_link_context(row).replace(':', '-')}-{row.token_hash[:12]}", True)


def requeue_link_emails(session: DbSession, services: Services) -> int:
    """The scheduler's sweep: erases the sealed tokens of used or expired links, and queues again the
    invitation and confirmation emails whose job was lost (Redis down at the commit, a worker killed
    mid-send).  A job still queued or running for the same link is left alone (same job id)."""
    now = services.clock.now()
    erase_stale_link_tokens(session, now)

    def waiting(model: type[Invitation] | type[EmailConfirmation]) -> Any:
        return (
            model.email_status.in_((AccountEmailStatus.PENDING, AccountEmailStatus.SENDING)),
            model.token_key_id.is_not(None),
            model.expires_at > now,
        )

    rows: list[EmailedLink] = [
        *session.execute(
            select(Invitation).where(*waiting(Invitation), Invitation.accepted_at.is_(None)).limit(_LINK_SWEEP_BATCH)
        ).scalars(),
        *session.execute(
            select(EmailConfirmation)
            .where(*waiting(EmailConfirmation), EmailConfirmation.used_at.is_(None))
            .limit(_LINK_SWEEP_BATCH)
        ).scalars(),
    ]
    jobs = [_link_email_job(row) for row in rows]
    session.commit()
    if not jobs:
        return 0
    queue = get_queue()
    return sum(enqueue_now(job, queue) for job in jobs)


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


def plain_email(to: str, language: str, subject: str, paragraphs: list[str]) -> OutgoingEmail:
    """An account email: the same paragraphs as text and as (escaped) HTML."""
    text = "\n\n".join(paragraphs)
    html = "".join(f"<p>{escape(paragraph)}</p>".replace("\n", "<br>") for paragraph in paragraphs)
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
