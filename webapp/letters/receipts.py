"""Operator delivery receipts (DLR): what the SMS operator says became of each message.

A receipt is stored once per provider message and status (a unique
constraint, whatever the number of web processes receiving it), and turns
into evidence: `NotificationDelivered` at the operator's time when a
notification or reminder reached the phone, `ConsignmentNotificationFailure`
with the operator's error when it did not.  A permanent failure (the number
cannot receive SMS) fails the message for good, and the letter becomes
undeliverable when it has no other way left to reach its recipient.

A receipt can arrive for a message whose sending was interrupted (`submitting`
or `uncertain`): the operator had it, so it is settled as sent, never resent.
"""

from __future__ import annotations

import enum
import json
import logging

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import DbSession
from webapp.letters import lifecycle
from webapp.letters.notifications import notification_facts, record_message_failure, settle_as_sent
from webapp.letters.states import Event
from webapp.models import DeliveryReceipt, Letter, MessagePurpose, MessageStatus, OutboundMessage
from webapp.notify.sms import SmsReceipt
from webapp.notify.sms.vonage_receipts import DeliveryReport
from webapp.services import Services
from webapp.trust.evidence import isoformat_utc

log = logging.getLogger(__name__)

UNSENT = frozenset({MessageStatus.PENDING, MessageStatus.SUBMITTING, MessageStatus.UNCERTAIN})


class ReceiptOutcome(enum.StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    INTERMEDIATE = "intermediate"  # accepted, buffered…: the operator has not said its last word
    UNKNOWN_MESSAGE = "unknown_message"


def _find_message(session: DbSession, report: DeliveryReport) -> OutboundMessage | None:
    """Our message, by the reference we gave the provider or by the provider's id; locked."""
    matches: list[ColumnElement[bool]] = [
        and_(
            OutboundMessage.provider == report.provider,
            OutboundMessage.provider_message_id == report.provider_message_id,
        )
    ]
    if report.client_ref:
        matches.append(OutboundMessage.id == report.client_ref)
    return (
        session.execute(
            select(OutboundMessage)
            .where(OutboundMessage.channel == "sms", or_(*matches))
            .order_by(OutboundMessage.created_at)
            .limit(1)
            .with_for_update()
        )
        .scalars()
        .first()
    )


def record_delivery_receipt(session: DbSession, services: Services, report: DeliveryReport) -> ReceiptOutcome:
    """Stores one receipt and records what it proves; the caller commits."""
    if report.outcome == "pending":
        return ReceiptOutcome.INTERMEDIATE
    message = _find_message(session, report)
    if message is None:
        log.warning("delivery receipt for an unknown %s message", report.provider)
        return ReceiptOutcome.UNKNOWN_MESSAGE
    duplicate = session.execute(
        select(DeliveryReceipt.id).where(
            DeliveryReceipt.provider == report.provider,
            DeliveryReceipt.provider_message_id == report.provider_message_id,
            DeliveryReceipt.status == report.status,
        )
    ).first()
    if duplicate is not None:
        return ReceiptOutcome.DUPLICATE
    now = services.clock.now()
    receipt = DeliveryReceipt(
        message_id=message.id,
        provider=report.provider,
        provider_message_id=report.provider_message_id,
        status=report.status,
        error_code=report.error_code,
        operator_at=report.operator_at,
        received_at=now,
        payload=json.dumps(report.fields, ensure_ascii=False, sort_keys=True),
    )
    session.add(receipt)
    try:
        session.flush()  # the unique constraint settles two deliveries of the same receipt at once
    except IntegrityError:
        session.rollback()
        return ReceiptOutcome.DUPLICATE

    if message.status in UNSENT:
        settle_as_sent(session, services, message, SmsReceipt(report.provider, report.provider_message_id))
    letter = session.get_one(Letter, message.letter_id)
    at = report.operator_at or now
    facts = {
        "provider": report.provider,
        "provider_message_id": report.provider_message_id,
        "status": report.status,
        "error_code": report.error_code,
        "operator_at": isoformat_utc(report.operator_at) if report.operator_at else None,
        "received_at": isoformat_utc(now),
    }
    if report.outcome == "delivered":
        first = message.delivery_status != "delivered"
        message.delivery_status = "delivered"
        message.delivered_at = message.delivered_at or at
        # A long SMS has a receipt per part: the first one proves the delivery.
        if first and message.purpose is not MessagePurpose.CODE:
            evidence = lifecycle.record(
                session,
                letter,
                Event.NOTIFICATION_DELIVERED,
                at=at,
                issuer=services.issuer,
                details={"notification": notification_facts(message), "receipt": facts},
            )
            receipt.evidence_id = evidence.id
        return ReceiptOutcome.RECORDED

    if message.delivery_status != "delivered":
        message.delivery_status = "failed"
    if report.permanent:
        message.status = MessageStatus.FAILED
    message.last_error = report.reason
    failure = record_message_failure(
        session,
        services,
        letter,
        message,
        reason=report.reason,
        at=at,
        final=report.permanent,
        extra={"receipt": facts, "permanent": report.permanent},
    )
    if failure is not None:
        receipt.evidence_id = failure.id
    return ReceiptOutcome.RECORDED
