"""The agents' audit log: who did what, on which letter, when and why.

Append-only: this module only adds entries, and the database refuses UPDATE and DELETE on the table
(triggers of migration 5a05b0c0ffee), so an agent, or a bug, cannot rewrite what was done.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select

from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import Agent, AgentAuditEntry, Letter


class AuditAction(enum.StrEnum):
    RESEND = "resend"
    UNLOCK = "unlock"
    RETRY = "retry"
    CREATE_AGENT = "create_agent"
    DEACTIVATE_AGENT = "deactivate_agent"
    REACTIVATE_AGENT = "reactivate_agent"
    RESET_AGENT_TWO_FACTOR = "reset_agent_two_factor"
    PLACE_LEGAL_HOLD = "place_legal_hold"
    LIFT_LEGAL_HOLD = "lift_legal_hold"
    ROTATE_KEY = "rotate_key"
    VERIFY_ORGANISATION = "verify_organisation"
    REFUSE_ORGANISATION = "refuse_organisation"
    OPEN_ORGANISATION_DOCUMENT = "open_organisation_document"


def record_action(
    session: DbSession,
    clock: Clock,
    agent: Agent,
    action: AuditAction,
    *,
    letter_id: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AgentAuditEntry:
    """Adds one entry in the caller's transaction: it is kept exactly when the action is."""
    entry = AgentAuditEntry(
        agent_id=agent.id,
        action=action.value,
        letter_id=letter_id,
        reason=reason,
        at=clock.now(),
        details=details or {},
    )
    session.add(entry)
    return entry


def audit_entries(
    session: DbSession, *, agent_id: str | None = None, letter_id: str | None = None, limit: int = 200
) -> list[AgentAuditEntry]:
    """The newest entries first, for one agent and/or one letter if given."""
    query = select(AgentAuditEntry)
    if agent_id:
        query = query.where(AgentAuditEntry.agent_id == agent_id)
    if letter_id:
        query = query.where(AgentAuditEntry.letter_id == letter_id)
    return list(session.execute(query.order_by(AgentAuditEntry.at.desc()).limit(limit)).scalars())


def letter_references(session: DbSession, entries: list[AgentAuditEntry]) -> dict[str, str]:
    """The reference of each letter the entries name (the log shows references, not ids)."""
    letter_ids = sorted({entry.letter_id for entry in entries if entry.letter_id})
    rows = session.execute(select(Letter.id, Letter.reference).where(Letter.id.in_(letter_ids))).all()
    return {letter_id: reference for letter_id, reference in rows}
