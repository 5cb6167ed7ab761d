"""An organisation's users: who they are, their role, whether they may log in; never without an admin."""

from __future__ import annotations

from sqlalchemy import select

from webapp.accounts.errors import LastAdmin
from webapp.accounts.login import log_out_everywhere
from webapp.extensions import DbSession
from webapp.models import Role, User


def organisation_users(session: DbSession, org_id: str) -> list[User]:
    return list(session.execute(select(User).where(User.organisation_id == org_id).order_by(User.email)).scalars())


def organisation_user(session: DbSession, org_id: str, user_id: str) -> User | None:
    """A user of the organisation; None for anyone else's (the caller answers 404)."""
    return session.execute(select(User).where(User.id == user_id, User.organisation_id == org_id)).scalar_one_or_none()


def _other_active_admins(session: DbSession, user: User) -> int:
    return len(
        session.execute(
            select(User.id).where(
                User.organisation_id == user.organisation_id,
                User.role == Role.ADMIN,
                User.is_active.is_(True),
                User.id != user.id,
            )
        ).all()
    )


def set_role(session: DbSession, user: User, role: Role) -> None:
    if role != Role.ADMIN and user.is_admin and _other_active_admins(session, user) == 0:
        raise LastAdmin("the organisation needs at least one admin")
    user.role = role


def set_active(session: DbSession, user: User, active: bool) -> None:
    if not active and user.is_admin and _other_active_admins(session, user) == 0:
        raise LastAdmin("the organisation needs at least one admin")
    user.is_active = active
    if not active:
        log_out_everywhere(user)
