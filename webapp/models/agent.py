"""The service's own support agents, and the append-only log of what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.login import LoginAccount
from webapp.models.types import UTCDateTime, new_id

# Flask-Login ids of agents start with this, so that a sender's session can never name an agent (and back).
AGENT_ID_PREFIX = "agent:"


class Agent(LoginAccount, db.Model):  # type: ignore[name-defined,misc]
    """A member of the service's support staff: finds letters and acts on them, never reads them."""

    __tablename__ = "agents"
    SESSION_ID_PREFIX = AGENT_ID_PREFIX

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # An operator admin also creates, deactivates and resets other agents.
    is_operator_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The session epoch, log-in throttling and TOTP columns are `LoginAccount`'s, the same as a User's.


class AgentAuditEntry(db.Model):  # type: ignore[name-defined,misc]
    """One action of an agent: who, when, on which letter, and why.  Append-only (a trigger refuses changes)."""

    __tablename__ = "agent_audit_log"
    __table_args__ = (
        Index("ix_agent_audit_log_agent_id_at", "agent_id", "at"),
        Index("ix_agent_audit_log_letter_id_at", "letter_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(40))
    letter_id: Mapped[str | None] = mapped_column(ForeignKey("letters.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    agent: Mapped[Agent] = relationship()
