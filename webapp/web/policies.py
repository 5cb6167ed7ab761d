"""Who may reach a page, and whether its answer may be stored: each policy declared once, applied by name.

- `no_store(blueprint)`: no answer of the blueprint is kept by a browser or a proxy (pages that show
  a person's letters, account or a secret).  A view that states its own `Cache-Control` keeps it
  (a proof download says `private, no-store`).
- Sessions: on a staff blueprint (`STAFF_BLUEPRINTS`) a session names a support agent, everywhere
  else a sender's user, never the other way round (`load_account`).  So a sender's session never
  opens the console and an agent's never opens the portal, whatever a view checks.
- `senders_only`: a logged-in sender; anyone else is sent to the portal's log-in page.
- `admins_only`: a sender who is an admin of their organisation; another sender gets 403.
- `staff_only`: an agent logged in with both factors whose console session is not idle; anyone
  else is sent to the console's log-in page (htmx and JSON callers get a plain 404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from webapp.accounts.login import user_for_session
from webapp.extensions import db, login_manager
from webapp.letters.errors import LinkNotFound
from webapp.models import Agent, User
from webapp.services import current_services
from webapp.support.agents import agent_for_session

View = TypeVar("View", bound=Callable[..., Any])

# The blueprints of the support console, where a session names an agent (and never a sender).
STAFF_BLUEPRINTS = frozenset({"support", "support_ops"})
# When the console session last served a request (epoch seconds): the inactivity clock of `staff_only`.
STAFF_LAST_SEEN = "support_seen_at"

login_manager.login_view = "portal.login"  # where `senders_only` sends anyone else
login_manager.login_message = None
login_manager.session_protection = "strong"


def no_store(blueprint: Blueprint, *, vary: Iterable[str] = ()) -> None:
    """Every answer of `blueprint` says `Cache-Control: no-store` (unless its view said otherwise),
    and varies on the `vary` request headers too (e.g. `HX-Request`, when a URL also answers a part)."""
    vary = tuple(vary)

    @blueprint.after_request
    def _no_store(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        for header in vary:
            response.vary.add(header)
        return response


def private_to_the_recipient(blueprint: Blueprint) -> None:
    """A recipient's pages: never stored (whatever a view said), never indexed, and varying on htmx
    (a URL also answers its `<main>` alone); a link that finds no letter is the "unknown link" page."""

    @blueprint.errorhandler(LinkNotFound)
    def _link_not_found(_exc: LinkNotFound) -> tuple[str, int]:
        db.session.rollback()
        return render_template("recipient/problem.html", problem="not_found", letter=None), 404

    @blueprint.after_request
    def _private(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.vary.add("HX-Request")
        return response


@login_manager.user_loader
def load_account(session_id: str) -> User | Agent | None:
    """Senders outside the support console, agents inside it, never the other way round."""
    if request.blueprint in STAFF_BLUEPRINTS:
        return agent_for_session(db.session, session_id)
    return user_for_session(db.session, session_id)


def senders_only(view: View) -> View:
    """A logged-in sender; anyone else goes to the portal's log-in page.

    `current_user` is then a `User`: outside the staff blueprints no session loads an agent."""
    return cast(View, login_required(view))


def admins_only(view: View) -> View:
    """Only an organisation's admins manage it (its users, its webhooks): another sender gets 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return senders_only(cast(View, wrapped))


def staff_now() -> float:
    """The time of the console's inactivity clock: epoch seconds, from the service's clock."""
    return current_services().clock.now().timestamp()


def _staff_session_fresh() -> bool:
    seen = session.get(STAFF_LAST_SEEN)
    idle_seconds = current_services().settings.support_idle_minutes * 60
    return isinstance(seen, (int, float)) and staff_now() - seen <= idle_seconds


def _wants_fragment() -> bool:
    """htmx and JSON callers get a plain 404 instead of a redirect to the log-in page."""
    if request.headers.get("HX-Request") or request.is_json:
        return True
    best = request.accept_mimetypes.best
    return best is not None and best == "application/json"


def staff_only(view: View) -> View:
    """A logged-in, two-factor-verified agent whose console session is not idle; otherwise the log-in page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user._get_current_object()
        allowed = isinstance(user, Agent) and user.is_active and user.has_two_factor
        if allowed and not _staff_session_fresh():
            logout_user()
            session.pop(STAFF_LAST_SEEN, None)
            allowed = False
            if not _wants_fragment():
                flash(_("Your console session ended after a period of inactivity. Log in again."), "notice")
        if not allowed:
            if _wants_fragment():
                abort(404)
            return redirect(url_for("support.login"), code=303)
        session[STAFF_LAST_SEEN] = staff_now()
        return view(*args, **kwargs)

    return cast(View, wrapped)
