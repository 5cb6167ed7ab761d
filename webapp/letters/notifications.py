"""Outbound messages: queued with the deposit or code request, sent by a job, never twice.

Each message moves `pending → submitting → sent` and every move is committed
before the next step, so a worker that dies at any point leaves a state from
which a retry knows what to do:

* `pending`: nothing reached the provider; send.
* `submitting`: the provider may or may not have the message.  Ask it
  (`find_sent`); if it surely did not, send; if it cannot tell, mark the
  message `uncertain` and send nothing (the delivery receipt or an agent
  settles it).  Sending twice would break "never the same SMS twice".
* `sent`, `failed`, `uncertain`: done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.letters import lifecycle
from webapp.letters.states import LetterStatus
from webapp.models import Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.notify.sms import PermanentSmsError, SmsReceipt, TransientSmsError
from webapp.notify.texts import code_sms, notification_sms, sms_length
from webapp.queue import RETRY_INTERVALS, enqueue_after_commit
from webapp.services import Services
from webapp.trust.evidence import isoformat_utc
from webapp.vault import Sealed, VaultError

log = logging.getLogger(__name__)

SEND_JOB = "webapp.jobs.send_message"


def message_job_id(message_id: str) -> str:
    return f"message-{message_id}"


def queue_message(
    session: DbSession, services: Services, letter: Letter, purpose: MessagePurpose, *, secret: str
) -> OutboundMessage:
    """Adds a pending SMS for `letter` and enqueues its job after commit."""
    sealed = services.vault.encrypt(secret.encode(), context=f"message-secret:{letter.id}")
    now = services.clock.now()
    message = OutboundMessage(
        letter_id=letter.id,
        purpose=purpose,
        channel="sms",
        recipient=letter.recipient_phone,
        status=MessageStatus.PENDING,
        secret_key_id=sealed.key_id,
        secret_wrapped_key=sealed.wrapped_key,
        secret_nonce=sealed.nonce,
        secret_ciphertext=sealed.ciphertext,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    enqueue_after_commit(session, SEND_JOB, message.id, job_id=message_job_id(message.id))
    return message


def recipient_link(services: Services, token: str) -> str:
    return f"{services.settings.public_url}/l/{token}"


def render_text(services: Services, message: OutboundMessage, letter: Letter, secret: str, now: datetime) -> str:
    settings = services.settings
    if message.purpose is MessagePurpose.CODE:
        return code_sms(
            language=letter.language,
            service_name=settings.service_name,
            code=secret,
            public_url=settings.public_url,
            minutes=settings.code_ttl // 60,
        )
    deadline = letter.deadline_at or now + timedelta(seconds=settings.acceptance_period)
    return notification_sms(
        language=letter.language,
        service_name=settings.service_name,
        reference=letter.reference,
        link=recipient_link(services, secret),
        deadline=deadline,
        sender_name=letter.organisation.name if settings.show_sender_in_sms else None,
    )


def _load_for_update(session: DbSession, message_id: str) -> OutboundMessage | None:
    return session.execute(
        select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update()
    ).scalar_one_or_none()


def _lock_message(session: DbSession, message_id: str) -> OutboundMessage:
    return session.execute(
        select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update()
    ).scalar_one()


def dispatch_message(session: DbSession, services: Services, message_id: str) -> MessageStatus | None:
    """Sends one message at most once; commits each step.  Raises TransientSmsError to retry."""
    message = _load_for_update(session, message_id)
    if message is None:
        log.warning("message %s does not exist", message_id)
        return None
    if message.status is MessageStatus.SUBMITTING:
        found = services.sms.find_sent(message.id)
        if isinstance(found, SmsReceipt):
            _mark_sent(session, services, message, found)
            session.commit()
            return message.status
        if found is False:
            message.status = MessageStatus.UNCERTAIN
            message.last_error = "worker stopped during submission; provider cannot confirm"
            session.commit()
            return message.status
        message.status = MessageStatus.PENDING  # it surely never left: send it now
    now = services.clock.now()
    if message.status is not MessageStatus.PENDING or (
        message.next_attempt_at is not None and message.next_attempt_at > now + timedelta(seconds=2)
    ):
        session.commit()  # done, or backing off after a transient failure
        return message.status

    letter = session.get_one(Letter, message.letter_id)
    if message.purpose is MessagePurpose.NOTIFICATION and letter.status is not LetterStatus.DEPOSITED:
        # An operator or a parallel job already settled this letter's notification.
        message.status = MessageStatus.FAILED
        message.last_error = f"letter is already {letter.status.value}"
        session.commit()
        return message.status
    secret = services.vault.decrypt(_sealed_secret(message), context=f"message-secret:{letter.id}").decode()
    text = render_text(services, message, letter, secret, now)
    message.segments = sms_length(text).segments
    message.status = MessageStatus.SUBMITTING
    message.submitted_at = now
    message.attempts += 1
    message.provider = services.sms.name
    session.commit()  # from here on, a crash leaves `submitting`: never blindly resent

    try:
        receipt = services.sms.send(to=message.recipient, text=text, client_ref=message.id)
    except TransientSmsError as exc:
        if _after_transient_failure(session, services, message_id, str(exc)):
            return MessageStatus.FAILED
        raise  # RQ retries with backoff; the sweeper catches up if its retries run out
    except PermanentSmsError as exc:
        _after_permanent_failure(session, services, message_id, str(exc))
        return MessageStatus.FAILED
    message = _lock_message(session, message_id)
    _mark_sent(session, services, message, receipt)
    session.commit()
    return message.status


def _sealed_secret(message: OutboundMessage) -> Sealed:
    if not (
        message.secret_key_id
        and message.secret_wrapped_key
        and message.secret_nonce
        and message.secret_ciphertext is not None
    ):
        raise VaultError(f"message {message.id} has no secret left to send")
    return Sealed(
        message.secret_key_id,
        message.secret_wrapped_key,
        message.secret_nonce,
        message.secret_ciphertext,
    )


def _erase_secret(message: OutboundMessage) -> None:
    message.secret_key_id = message.secret_wrapped_key = None
    message.secret_nonce = message.secret_ciphertext = None


def _mark_sent(session: DbSession, services: Services, message: OutboundMessage, receipt: SmsReceipt) -> None:
    message.status = MessageStatus.SENT
    message.provider = receipt.provider
    message.provider_message_id = receipt.message_id
    message.sent_at = services.clock.now()
    message.last_error = None
    message.next_attempt_at = None
    _erase_secret(message)
    if message.purpose is not MessagePurpose.NOTIFICATION:
        return
    letter = session.get_one(Letter, message.letter_id)
    if letter.status is LetterStatus.DEPOSITED:
        at = message.submitted_at or message.sent_at
        letter.deadline_at = at + timedelta(seconds=services.settings.acceptance_period)
        lifecycle.transition(
            session,
            letter,
            LetterStatus.NOTIFIED,
            at=at,
            issuer=services.issuer,
            details={
                "notification": {
                    "channel": message.channel,
                    "message_id": message.id,
                    "provider": receipt.provider,
                    "provider_message_id": receipt.message_id,
                    "to": message.recipient,
                },
                "deadline": isoformat_utc(letter.deadline_at),
            },
        )


def _after_transient_failure(session: DbSession, services: Services, message_id: str, error: str) -> bool:
    """Schedules the next attempt; returns True when attempts are exhausted and the message failed."""
    session.rollback()
    message = _lock_message(session, message_id)
    message.last_error = error
    if message.attempts >= services.settings.sms_max_attempts:
        session.commit()
        _after_permanent_failure(session, services, message_id, f"gave up after {message.attempts} attempts: {error}")
        return True
    message.status = MessageStatus.PENDING
    delay = RETRY_INTERVALS[min(message.attempts, len(RETRY_INTERVALS)) - 1]
    message.next_attempt_at = services.clock.now() + timedelta(seconds=delay)
    session.commit()
    return False


def _after_permanent_failure(session: DbSession, services: Services, message_id: str, error: str) -> None:
    session.rollback()
    message = _lock_message(session, message_id)
    message.status = MessageStatus.FAILED
    message.last_error = error
    message.next_attempt_at = None
    _erase_secret(message)
    letter = session.get_one(Letter, message.letter_id)
    if message.purpose is MessagePurpose.NOTIFICATION and letter.status is LetterStatus.DEPOSITED:
        lifecycle.transition(
            session,
            letter,
            LetterStatus.UNDELIVERABLE,
            at=services.clock.now(),
            issuer=services.issuer,
            details={
                "notification": {
                    "channel": message.channel,
                    "message_id": message.id,
                    "provider": message.provider,
                    "to": message.recipient,
                },
                "reason": error,
            },
        )
    session.commit()


def requeue_stalled_messages(session: DbSession, services: Services, *, older_than: int = 30) -> int:
    """Re-enqueues pending messages whose job was lost (Redis down, job retries exhausted)."""
    now = services.clock.now()
    cutoff = now - timedelta(seconds=older_than)
    stalled = (
        session.execute(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.status == MessageStatus.PENDING,
                OutboundMessage.next_attempt_at <= now,
                OutboundMessage.created_at <= cutoff,
            )
            .limit(500)
        )
        .scalars()
        .all()
    )
    for message_id in stalled:
        enqueue_after_commit(session, SEND_JOB, message_id, job_id=message_job_id(message_id))
    session.commit()
    return len(stalled)
