"""Outbound messages: queued with the deposit, a code request or a reminder, sent by a job, never twice.

Each message moves `pending → submitting → sent` and every move is committed
before the next step, so a worker that dies at any point leaves a state from
which a retry knows what to do:

* `pending`: nothing reached the provider; send.
* `submitting`: the provider may or may not have the message.  Ask it
  (`find_sent`); if it surely did not, send; if it cannot tell, mark the
  message `uncertain` and send nothing (the delivery receipt or an agent
  settles it).  Sending twice would break "never the same SMS twice".
* `sent`, `failed`, `uncertain`, `cancelled`: done.

A letter on the email channel has two notifications, an email and an SMS,
each with its own evidence record; the first one handed over makes the letter
`notified`, and the letter becomes `undeliverable` only when every one of its
notifications has failed for good.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from webapp.extensions import DbSession, db
from webapp.letters import lifecycle
from webapp.letters.identification import IDENTIFICATION_METHOD, masked_number
from webapp.letters.states import Event, LetterStatus
from webapp.models import Evidence, Letter, MessagePurpose, MessageStatus, Organisation, OutboundMessage
from webapp.notify.email import EmailProvider, EmailReceipt, OutgoingEmail, PermanentEmailError, TransientEmailError
from webapp.notify.emails import LetterEmail, letter_email
from webapp.notify.sms import PermanentSmsError, SmsProvider, SmsReceipt, TransientSmsError
from webapp.notify.texts import code_sms, notification_sms, reminder_sms, sms_length
from webapp.queue import RETRY_INTERVALS, Priority, enqueue_after_commit
from webapp.services import Services, current_services
from webapp.trust.evidence import isoformat_utc
from webapp.vault import Sealed, VaultError

log = logging.getLogger(__name__)


def message_job_id(message_id: str) -> str:
    return f"message-{message_id}"


Receipt = SmsReceipt | EmailReceipt
TRANSIENT_ERRORS = (TransientSmsError, TransientEmailError)
PERMANENT_ERRORS = (PermanentSmsError, PermanentEmailError)


def queue_message(
    session: DbSession,
    services: Services,
    letter: Letter,
    purpose: MessagePurpose,
    *,
    secret: str,
    channel: str = "sms",
    reminder_number: int | None = None,
) -> OutboundMessage:
    """Adds a pending SMS (or email) for `letter` and enqueues its job after commit."""
    recipient = letter.recipient_email if channel == "email" else letter.recipient_phone
    if not recipient:
        raise ValueError(f"letter {letter.id} has no recipient address for the {channel} channel")
    sealed = services.vault.encrypt(secret.encode(), context=f"message-secret:{letter.id}")
    now = services.clock.now()
    message = OutboundMessage(
        letter_id=letter.id,
        purpose=purpose,
        channel=channel,
        reminder_number=reminder_number,
        recipient=recipient,
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
    enqueue_after_commit(
        session,
        send_message_job,
        message.id,
        job_id=message_job_id(message.id),
        priority=message_priority(purpose, reminder_number),
    )
    return message


def message_priority(purpose: MessagePurpose, reminder_number: int | None) -> Priority:
    """A code, or a notification sent again by hand (a reminder without a number), has a person waiting for
    it: it goes before every campaign's notifications."""
    if purpose is MessagePurpose.CODE or (purpose is MessagePurpose.REMINDER and reminder_number is None):
        return Priority.URGENT
    return Priority.NOTIFY


def recipient_link(services: Services, token: str, language: str) -> str:
    """The link we send: it carries the letter's language (`/l/<token>/ar`), so that the page opens
    in the language of the SMS, whatever the phone's settings; the visitor may switch after."""
    return f"{services.settings.public_url}/l/{token}/{language}"


def _deadline(services: Services, letter: Letter, now: datetime) -> datetime:
    return letter.deadline_at or now + timedelta(seconds=services.settings.acceptance_period)


# A reference and a link token of the real lengths: the preview costs exactly what the SMS will.
PREVIEW_REFERENCE = "ABCD-EFGH"
PREVIEW_TOKEN = "x" * 22


def preview_notification(services: Services, organisation: Organisation, language: str) -> str:
    """The notification SMS a recipient would get for a letter deposited now, before it exists."""
    settings = services.settings
    return notification_sms(
        language=language,
        service_name=settings.service_name,
        reference=PREVIEW_REFERENCE,
        link=recipient_link(services, PREVIEW_TOKEN, language),
        deadline=services.clock.now() + timedelta(seconds=settings.acceptance_period),
        sender_name=organisation.name if settings.show_sender_in_sms else None,
    )


def render_text(services: Services, message: OutboundMessage, letter: Letter, secret: str, now: datetime) -> str:
    settings = services.settings
    if message.purpose is MessagePurpose.REMINDER:
        return reminder_sms(
            language=letter.language,
            service_name=settings.service_name,
            reference=letter.reference,
            link=recipient_link(services, secret, letter.language),
            deadline=_deadline(services, letter, now),
        )
    if message.purpose is MessagePurpose.CODE:
        return code_sms(
            language=letter.language,
            service_name=settings.service_name,
            code=secret,
            public_url=settings.public_url,
            minutes=settings.code_ttl // 60,
        )
    return notification_sms(
        language=letter.language,
        service_name=settings.service_name,
        reference=letter.reference,
        link=recipient_link(services, secret, letter.language),
        deadline=_deadline(services, letter, now),
        sender_name=letter.organisation.name if settings.show_sender_in_sms else None,
    )


def render_email(
    services: Services, message: OutboundMessage, letter: Letter, secret: str, now: datetime
) -> OutgoingEmail:
    """The notification or reminder email (codes only ever go by SMS)."""
    settings = services.settings
    if message.purpose is MessagePurpose.CODE:
        raise ValueError("one-time codes are sent by SMS only")
    return letter_email(
        LetterEmail(
            to=message.recipient,
            language=letter.language,
            service_name=settings.service_name,
            public_url=settings.public_url,
            support_contact=settings.support_contact,
            recipient_name=letter.recipient_name,
            reference=letter.reference,
            link=recipient_link(services, secret, letter.language),
            deadline=_deadline(services, letter, now),
            phone_ending=letter.recipient_phone[-2:],
            sender_name=letter.organisation.name if settings.show_sender_in_sms else None,
            reminder=message.purpose is MessagePurpose.REMINDER,
        )
    )


def text_digest(text: str) -> str:
    """SHA-256 (hex) of an SMS text exactly as handed to the provider, encoded in UTF-8.

    The notification SMS carries the recipient's secret link: evidence keeps only
    this hash, which the recipient, holding the SMS, can recompute."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def email_digest(email: OutgoingEmail) -> str:
    """SHA-256 (hex) of an email's subject, a line feed, then its plain-text body, in UTF-8.

    The subject holds no line break (it is a header), so the line feed separates
    the two without ambiguity; the body is the text/plain part as we composed it,
    with LF line endings (MIME may carry it with CRLF, quoted-printable or base64:
    decode it and normalise line endings to LF to recompute the hash)."""
    return hashlib.sha256(f"{email.subject}\n{email.text}".encode()).hexdigest()


def _provider(services: Services, message: OutboundMessage) -> SmsProvider | EmailProvider:
    return services.email if message.channel == "email" else services.sms


def _max_attempts(services: Services, message: OutboundMessage) -> int:
    settings = services.settings
    return settings.email_max_attempts if message.channel == "email" else settings.sms_max_attempts


def is_identified(session: DbSession, letter: Letter) -> bool:
    """Whether the recipient has proven who they are for this letter (a code was accepted)."""
    return bool(
        session.execute(
            select(
                exists().where(
                    Evidence.letter_id == letter.id,
                    Evidence.event == Event.RECIPIENT_IDENTIFICATION.value,
                )
            )
        ).scalar()
    )


def _no_longer_needed(
    session: DbSession, services: Services, message: OutboundMessage, letter: Letter, now: datetime
) -> str | None:
    """Why a message about to go out should not, if it should not."""
    if message.purpose is MessagePurpose.NOTIFICATION:
        if letter.status not in {LetterStatus.DEPOSITED, LetterStatus.NOTIFIED}:
            return f"letter is already {letter.status.value}"
    elif message.purpose is MessagePurpose.REMINDER:
        if letter.status is not LetterStatus.NOTIFIED:
            return f"letter is already {letter.status.value}"
        if letter.deadline_at is not None and now >= letter.deadline_at:
            return "the deadline has passed"
        if is_identified(session, letter):
            return "the recipient has identified"
    return None


def _load_for_update(session: DbSession, message_id: str) -> OutboundMessage | None:
    return session.execute(
        select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update()
    ).scalar_one_or_none()


def _lock_message(session: DbSession, message_id: str) -> OutboundMessage:
    return session.execute(
        select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update()
    ).scalar_one()


def dispatch_message(session: DbSession, services: Services, message_id: str) -> MessageStatus | None:
    """Sends one message at most once; commits each step.  Raises a transient error to retry."""
    message = _load_for_update(session, message_id)
    if message is None:
        log.warning("message %s does not exist", message_id)
        return None
    provider = _provider(services, message)
    if message.status is MessageStatus.SUBMITTING:
        found = provider.find_sent(message.id)
        if isinstance(found, SmsReceipt | EmailReceipt):
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
    reason = _no_longer_needed(session, services, message, letter, now)
    if reason is not None:
        # An outcome, a parallel job or the deadline made this message pointless.
        message.status = MessageStatus.CANCELLED
        message.last_error = reason
        message.next_attempt_at = None
        _erase_secret(message)
        session.commit()
        return message.status
    secret = services.vault.decrypt(_sealed_secret(message), context=f"message-secret:{letter.id}").decode()
    email: OutgoingEmail | None = None
    text = ""
    if message.channel == "email":
        email = render_email(services, message, letter, secret, now)
        message.text_sha256 = email_digest(email)
    else:
        text = render_text(services, message, letter, secret, now)
        message.segments = sms_length(text).segments
        # Never for a code: a hash of six digits and a fixed text gives the code back.
        message.text_sha256 = text_digest(text) if message.purpose is not MessagePurpose.CODE else None
    message.status = MessageStatus.SUBMITTING
    message.submitted_at = now
    message.attempts += 1
    message.provider = provider.name
    session.commit()  # from here on, a crash leaves `submitting`: never blindly resent

    try:
        receipt: Receipt
        if email is not None:
            receipt = services.email.send(email=email, client_ref=message.id)
        else:
            receipt = services.sms.send(to=message.recipient, text=text, client_ref=message.id)
    except TRANSIENT_ERRORS as exc:
        if _after_transient_failure(session, services, message_id, str(exc)):
            return MessageStatus.FAILED
        raise  # RQ retries with backoff; the sweeper catches up if its retries run out
    except PERMANENT_ERRORS as exc:
        _after_permanent_failure(session, services, message_id, str(exc))
        return MessageStatus.FAILED
    message = _lock_message(session, message_id)
    if message.status is MessageStatus.SUBMITTING:  # unless a delivery receipt settled it meanwhile
        _mark_sent(session, services, message, receipt)
    session.commit()
    return message.status


def send_message_job(message_id: str) -> str | None:
    """RQ job: sends the message at most once (`dispatch_message`); a transient error makes RQ retry it."""
    status = dispatch_message(db.session, current_services(), message_id)
    return status.value if status else None


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


def notification_facts(message: OutboundMessage) -> dict[str, Any]:
    """What evidence records say about one notification message."""
    facts: dict[str, Any] = {
        "channel": message.channel,
        "purpose": message.purpose.value,
        "message_id": message.id,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "to": message.recipient,
    }
    if message.text_sha256 is not None:
        # The exact text sent (SMS: `text_digest`; email: `email_digest`), never the text itself.
        facts["text_sha256"] = message.text_sha256
    if message.reminder_number is not None:
        facts["reminder"] = message.reminder_number
    if message.requested_by_user_id is not None:
        facts["reason"] = "resend"
        facts["requested_by"] = message.requested_by_user_id
    if message.requested_by_agent_id is not None:
        # The agent's own words stay in the agents' audit log: they may name people, evidence is kept 10 years.
        facts["reason"] = "support"
        facts["requested_by_agent"] = message.requested_by_agent_id
    return facts


def code_message_facts(message: OutboundMessage) -> dict[str, Any]:
    """What the code-sent record says of the SMS that carried a one-time code."""
    return {
        "channel": message.channel,
        "purpose": message.purpose.value,
        "message_id": message.id,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "to": masked_number(message.recipient),
    }


def _mark_sent(session: DbSession, services: Services, message: OutboundMessage, receipt: Receipt) -> None:
    """The provider has the message: records it, and notifies the letter if it is the first notification."""
    message.status = MessageStatus.SENT
    message.provider = receipt.provider
    message.provider_message_id = receipt.message_id
    message.sent_at = services.clock.now()
    message.last_error = None
    message.next_attempt_at = None
    _erase_secret(message)
    letter = session.get_one(Letter, message.letter_id)
    at = message.submitted_at or message.sent_at
    if message.purpose is MessagePurpose.CODE:
        # The number it went to, masked, and which message: never the code, nor a hash of its text.
        lifecycle.record(
            session,
            letter,
            Event.RECIPIENT_CODE_SENT,
            at=at,
            issuer=services.issuer,
            details={"method": IDENTIFICATION_METHOD, "message": code_message_facts(message)},
        )
        return
    if message.purpose is MessagePurpose.REMINDER:
        lifecycle.record(
            session,
            letter,
            Event.CONSIGNMENT_REMINDER,
            at=at,
            issuer=services.issuer,
            details={
                "notification": notification_facts(message),
                "deadline": isoformat_utc(letter.deadline_at) if letter.deadline_at else None,
            },
        )
        return
    if letter.status is LetterStatus.DEPOSITED:
        letter.deadline_at = at + timedelta(seconds=services.settings.acceptance_period)
        lifecycle.transition(
            session,
            letter,
            LetterStatus.NOTIFIED,
            at=at,
            issuer=services.issuer,
            details={"notification": notification_facts(message), "deadline": isoformat_utc(letter.deadline_at)},
        )
        return
    # The letter's other channel went first: this notification is a fact of its own.
    lifecycle.record(
        session,
        letter,
        Event.CONSIGNMENT_NOTIFICATION,
        at=at,
        issuer=services.issuer,
        details={
            "notification": notification_facts(message),
            "deadline": isoformat_utc(letter.deadline_at) if letter.deadline_at else None,
        },
    )


def settle_as_sent(session: DbSession, services: Services, message: OutboundMessage, receipt: Receipt) -> None:
    """The provider proved it had a message we had not marked sent (a delivery receipt for an
    `uncertain` or interrupted message): it is sent, and must never be sent again."""
    _mark_sent(session, services, message, receipt)


def _after_transient_failure(session: DbSession, services: Services, message_id: str, error: str) -> bool:
    """Schedules the next attempt; returns True when attempts are exhausted and the message failed."""
    session.rollback()
    message = _lock_message(session, message_id)
    message.last_error = error
    if message.attempts >= _max_attempts(services, message):
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
    record_message_failure(session, services, letter, message, reason=error, at=services.clock.now())
    session.commit()


def record_message_failure(
    session: DbSession,
    services: Services,
    letter: Letter,
    message: OutboundMessage,
    *,
    reason: str,
    at: datetime,
    final: bool = True,
    extra: dict[str, Any] | None = None,
) -> Evidence | None:
    """Records that a notification or reminder did not reach the recipient (codes leave no evidence).

    When the failure is `final` and the failed message was the letter's last
    hope, every notification of it having failed for good, the letter becomes
    undeliverable (unless the recipient has already proven they received it,
    by identifying).
    """
    if message.purpose is MessagePurpose.CODE:
        return None
    details: dict[str, Any] = {"notification": notification_facts(message), "reason": reason, **(extra or {})}
    if final and message.purpose is MessagePurpose.NOTIFICATION:
        # Two channels failing at once (an SMS receipt, an email job) must not both miss that
        # the other failed: the letter's row lock makes the second one see the first.
        letter = session.execute(
            select(Letter).where(Letter.id == letter.id).with_for_update().execution_options(populate_existing=True)
        ).scalar_one()
    open_states = {LetterStatus.DEPOSITED, LetterStatus.NOTIFIED}
    if final and message.purpose is MessagePurpose.NOTIFICATION and letter.status in open_states:
        others = session.execute(
            select(OutboundMessage.status).where(
                OutboundMessage.letter_id == letter.id,
                OutboundMessage.purpose == MessagePurpose.NOTIFICATION,
                OutboundMessage.id != message.id,
            )
        ).scalars()
        if all(status is MessageStatus.FAILED for status in others) and not is_identified(session, letter):
            return lifecycle.transition(
                session, letter, LetterStatus.UNDELIVERABLE, at=at, issuer=services.issuer, details=details
            )
    return lifecycle.record(
        session, letter, Event.CONSIGNMENT_NOTIFICATION_FAILURE, at=at, issuer=services.issuer, details=details
    )
