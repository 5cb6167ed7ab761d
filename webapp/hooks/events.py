"""Recording a letter event for the organisation's endpoints, in the transaction of the change it reports.

The letters layer calls these as things happen (`letters.lifecycle` on every transition,
`letters.proofs` when a proof is stored); each active endpoint gets one `WebhookDelivery`
with the body fixed now, and its delivery job is enqueued after the commit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.hooks.delivery import deliver_webhook_job, delivery_job_id
from webapp.models import Letter, ProofKind, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webapp.models.types import new_id
from webapp.queue import Priority, enqueue_after_commit

STATUS_CHANGED = "letter.status_changed"
PROOF_READY = "letter.proof_ready"
# Issue 19: the recipient proved an identity that is not the one the sender expects (`letters.eid_flow`).
IDENTIFICATION_FAILED = "letter.identification_failed"


def record_event(
    session: DbSession, letter: Letter, event_type: str, data: dict[str, Any], *, at: datetime
) -> list[WebhookDelivery]:
    """Queues the event for each active endpoint of the letter's organisation, sent after commit."""
    endpoints = (
        session.execute(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organisation_id == letter.organisation_id,
                WebhookEndpoint.is_active.is_(True),
            )
        )
        .scalars()
        .all()
    )
    if not endpoints:
        return []
    event_id = new_id()
    body = json.dumps(
        {"id": event_id, "type": event_type, "created_at": at.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            id=new_id(),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            letter_id=letter.id,
            payload=body,
            status=WebhookDeliveryStatus.PENDING,
            attempts=0,
            created_at=at,
            next_attempt_at=at,
        )
        session.add(delivery)
        enqueue_after_commit(
            session,
            deliver_webhook_job,
            delivery.id,
            job_id=delivery_job_id(delivery.id),
            retry=False,
            priority=Priority.NOTIFY,
        )
        deliveries.append(delivery)
    return deliveries


def _letter_data(letter: Letter) -> dict[str, Any]:
    data: dict[str, Any] = {"letter_id": letter.id, "reference": letter.reference}
    if hasattr(letter, "sender_reference"):  # the sender's own reference (a file number), null if none
        data["sender_reference"] = letter.sender_reference
    data["status"] = letter.status.value
    return data


def letter_status_changed(session: DbSession, letter: Letter, previous: str | None, *, at: datetime) -> None:
    """Records `letter.status_changed` (`previous` is None for the deposit)."""
    data = _letter_data(letter) | {"previous_status": previous}
    record_event(session, letter, STATUS_CHANGED, data, at=at)


def letter_proof_ready(session: DbSession, letter: Letter, kind: ProofKind, *, at: datetime, public_url: str) -> None:
    """Records `letter.proof_ready`, with the API URL to download the proof from."""
    proof = {"kind": kind.value, "url": f"{public_url}/api/v1/letters/{letter.id}/proofs/{kind.value}"}
    record_event(session, letter, PROOF_READY, _letter_data(letter) | {"proof": proof}, at=at)
