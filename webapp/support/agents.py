"""The service's support agents: created by the CLI or an operator admin, logged in with a mandatory second factor.

Password checks, throttling and TOTP are `webapp.accounts.login` and `webapp.accounts.two_factor`'s,
shared with senders.
"""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from webapp.accounts.errors import AccountError, EmailTaken
from webapp.accounts.login import (
    check_password_policy,
    log_out_everywhere,
    normalise_email,
    password_login,
    session_still_valid,
)
from webapp.accounts.two_factor import forget_totp
from webapp.clock import Clock
from webapp.extensions import DbSession
from webapp.models import Agent
from webapp.models.agent import AGENT_ID_PREFIX


class AgentError(AccountError):
    """An operation on agents was refused."""


class NotOperatorAdmin(AgentError):
    """Only an operator admin manages agents."""


def agent_by_email(session: DbSession, email: str) -> Agent | None:
    return session.execute(select(Agent).where(Agent.email == normalise_email(email))).scalar_one_or_none()


def create_agent(session: DbSession, clock: Clock, *, email: str, password: str, operator_admin: bool = False) -> Agent:
    """A new agent; two-factor is enrolled at the first log-in, before anything else is shown."""
    check_password_policy(password, email)
    if agent_by_email(session, email) is not None:
        raise EmailTaken(f"an agent with the email {normalise_email(email)} already exists")
    agent = Agent(
        email=normalise_email(email),
        password_hash=generate_password_hash(password),
        is_operator_admin=operator_admin,
        created_at=clock.now(),
    )
    session.add(agent)
    return agent


def authenticate_agent(session: DbSession, clock: Clock, email: str, password: str) -> Agent | None:
    """The agent if the password is right and login not locked; failures are recorded (the caller commits)."""
    agent = agent_by_email(session, email)
    return agent if password_login(clock, agent, password) else None


def agent_for_session(session: DbSession, session_id: str) -> Agent | None:
    """The agent a Flask-Login id ("agent:<id>:<epoch>") names, if still valid; None for any other id."""
    if not session_id.startswith(AGENT_ID_PREFIX):
        return None
    agent_id, _, epoch = session_id.removeprefix(AGENT_ID_PREFIX).partition(":")
    agent = session.get(Agent, agent_id)
    return agent if session_still_valid(agent, epoch) else None


def record_agent_login(clock: Clock, agent: Agent) -> None:
    """Notes when the agent last logged in (shown to operator admins); the caller commits."""
    agent.last_login_at = clock.now()


def agent_by_id(session: DbSession, agent_id: str) -> Agent | None:
    """The agent with this id; None for an unknown or over-long id (the caller answers 404)."""
    return session.get(Agent, agent_id) if len(agent_id) <= 36 else None


def all_agents(session: DbSession) -> list[Agent]:
    return list(session.execute(select(Agent).order_by(Agent.email)).scalars())


def _require_operator_admin(actor: Agent) -> None:
    if not actor.is_operator_admin:
        raise NotOperatorAdmin("only an operator admin manages agents")


def set_agent_active(actor: Agent, agent: Agent, active: bool) -> None:
    """Deactivates (and logs out) or reactivates an agent; an admin cannot deactivate themselves."""
    _require_operator_admin(actor)
    if agent.id == actor.id and not active:
        raise AgentError("an operator admin cannot deactivate themselves")
    agent.is_active = active
    if not active:
        log_out_everywhere(agent)


def reset_agent_two_factor(actor: Agent, agent: Agent) -> None:
    """Forgets a lost authenticator: the agent enrols a new one at the next log-in (agents have no recovery codes)."""
    _require_operator_admin(actor)
    forget_totp(agent)
    log_out_everywhere(agent)
