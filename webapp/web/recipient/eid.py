"""Recipient pages of identification by national digital identity (issue 19).

Flow: (the code first, when the letter asks for both) → a page that says in plain words what will
happen and why → a plain form POST that redirects the browser to the identity provider (no
JavaScript needed) → the provider sends the browser back to `/eid/callback` → the decision page of
the letter, or a page that says what went wrong and what to do.  The browser's session carries the
`state` of its trip (so that someone else's callback link is refused) and the factors it has proven.

Hooks in `recipient/pages.py` (marked "issue 19") call `all_factors_done`, `eid_still_needed`,
`code_not_used` and `bind_factors`; everything else of the e-ID flow is here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from webapp.extensions import db, limiter
from webapp.letters.eid import EidNotRequired, required_factors
from webapp.letters.eid_flow import (
    CALLBACK_PATH,
    CodeFirst,
    ProviderDown,
    UnknownCallback,
    UnknownProvider,
    ensure_eid_possible,
    finish_eid,
    start_eid,
)
from webapp.letters.errors import LetterError, RecipientLocked
from webapp.letters.identification import ClientInfo
from webapp.letters.recipient import find_letter_by_token
from webapp.letters.states import LetterStatus
from webapp.models import Letter
from webapp.services import current_services
from webapp.web.policies import private_to_the_recipient

bp = Blueprint("recipient_eid", __name__)

__all__ = ["all_factors_done", "bind_factors", "bp", "code_not_used", "eid_still_needed", "required_factors"]

SESSION_KEY = "recipient"  # the same key as `recipient.pages`: one binding per browser
EID_SESSION_KEY = "recipient_eid"  # the trip under way: its state and the letter's link


private_to_the_recipient(bp)


# --- the session's factors (used by recipient.pages' hooks) --------------------------------------


def _binding() -> dict[str, Any] | None:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("letter"), str):
        return None
    now = current_services().clock.now().timestamp()
    if not (
        isinstance(data.get("at"), int | float)
        and 0 <= now - data["at"] < current_services().settings.recipient_session_ttl
    ):
        return None
    return data


def factors_done(letter: Letter) -> frozenset[str]:
    """What this browser has proven for this letter: `sms-otp`, `eid`, both or nothing."""
    data = _binding()
    if data is None or data["letter"] != letter.id:
        return frozenset()
    factors = data.get("factors")
    # A session bound before issue 19 names no factor: it was bound by the code.
    return frozenset(factors) if isinstance(factors, list) else frozenset({"sms-otp"})


def all_factors_done(letter: Letter) -> bool:
    return required_factors(db.session, letter) <= factors_done(letter)


def eid_still_needed(letter: Letter) -> bool:
    return "eid" in required_factors(db.session, letter) and "eid" not in factors_done(letter)


def code_not_used(letter: Letter) -> bool:
    """The letter asks for national digital identity only: no code is sent for it."""
    return "sms-otp" not in required_factors(db.session, letter)


def bind_factors(letter: Letter, factor: str) -> None:
    """Binds the session to `letter` with one more proven factor (a fresh session for another letter)."""
    done = factors_done(letter)
    session.clear()
    session[SESSION_KEY] = {
        "letter": letter.id,
        "at": current_services().clock.now().timestamp(),
        "factors": sorted(done | {factor}),
    }


# --- pages -----------------------------------------------------------------------------------


def _client() -> ClientInfo:
    return ClientInfo.of(request.remote_addr, request.headers.get("User-Agent"))


def _letter(token: str, *, for_update: bool = False) -> Letter:
    letter = find_letter_by_token(db.session, token, for_update=for_update)
    g.letter_language = letter.language
    return letter


@bp.before_app_request
def _allow_forms_to_providers() -> None:
    """Lets recipient pages' forms go to the providers: CSP's form-action covers the redirect a form
    follows, and with htmx the e-ID page may be swapped into a page loaded before it (the landing or the
    code page), whose policy then applies."""
    if request.blueprint not in {"recipient", "recipient_eid"}:
        return
    origins = set()
    for provider in current_services().settings.identity_providers:
        parts = urlsplit(provider.issuer)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    g.form_action_origins = sorted(origins)


def _render(template: str, status: int = 200, *, letter: Letter | None, token: str | None, **context: Any) -> Response:
    services = current_services()
    response = make_response(
        render_template(
            template,
            letter=letter,
            token=token,
            service_name=services.settings.service_name,
            support_contact=services.settings.support_contact,
            providers=services.settings.identity_providers,
            **context,
        ),
        status,
    )
    return response


# What each outcome answers, and the page's wording key.
FAILURE_STATUS = {
    "cancelled": 200,
    "provider_unavailable": 503,
    "identity_mismatch": 403,
    "level_too_low": 403,
    "replayed": 400,
    "wrong_browser": 400,
    "invalid_response": 400,
    "provider_error": 502,
    "expired": 400,
    "unknown_callback": 400,
    "recipient_locked": 403,
}


@bp.get("/l/<token>/eid")
def start_page(token: str) -> ResponseReturnValue:
    letter = _letter(token)
    try:
        ensure_eid_possible(db.session, current_services(), letter, factors_done(letter))
    except CodeFirst:
        return redirect(url_for("recipient.landing", token=token))
    except EidNotRequired:
        return redirect(url_for("recipient.landing", token=token))
    except RecipientLocked:
        return _render("recipient/eid_problem.html", 403, letter=letter, token=token, reason="recipient_locked")
    except LetterError:
        return redirect(url_for("recipient.landing", token=token))
    if all_factors_done(letter):
        target = "recipient.letter" if letter.status is LetterStatus.ACCEPTED else "recipient.decision"
        return redirect(url_for(target, token=token))
    return _render("recipient/eid_start.html", letter=letter, token=token, code_done="sms-otp" in factors_done(letter))


@bp.post("/l/<token>/eid/start")
@limiter.limit("20/hour")
def start(token: str) -> ResponseReturnValue:
    services = current_services()
    letter = _letter(token, for_update=True)
    try:
        begun = start_eid(
            db.session,
            services,
            letter,
            request.form.get("provider", ""),
            factors_done=factors_done(letter),
            client=_client(),
            locale=str(get_locale()),
        )
    except ProviderDown:
        db.session.commit()  # the failure's record
        return _render("recipient/eid_problem.html", 503, letter=letter, token=token, reason="provider_unavailable")
    except RecipientLocked:
        db.session.rollback()
        return _render("recipient/eid_problem.html", 403, letter=letter, token=token, reason="recipient_locked")
    except UnknownProvider:
        db.session.rollback()
        return redirect(url_for(".start_page", token=token), code=303)
    except LetterError:
        db.session.rollback()
        return redirect(url_for("recipient.landing", token=token), code=303)
    db.session.commit()
    session[EID_SESSION_KEY] = {"state": begun.state, "token": token}
    return redirect(begun.url, code=303)


@bp.get(CALLBACK_PATH)
@limiter.limit("30/hour")
def callback() -> ResponseReturnValue:
    pending = session.get(EID_SESSION_KEY)
    pending = pending if isinstance(pending, dict) else {}
    try:
        outcome = finish_eid(
            db.session,
            current_services(),
            state=request.args.get("state"),
            code=request.args.get("code"),
            error=request.args.get("error"),
            browser_state=pending.get("state") if isinstance(pending.get("state"), str) else None,
            client=_client(),
        )
    except UnknownCallback:
        db.session.rollback()
        return _render("recipient/eid_problem.html", 400, letter=None, token=None, reason="unknown_callback")
    except LetterError:
        db.session.commit()  # the attempt is closed; the letter can no longer be answered
        token = pending.get("token")
        if isinstance(token, str):
            return redirect(url_for("recipient.landing", token=token), code=303)
        return _render("recipient/eid_problem.html", 400, letter=None, token=None, reason="unknown_callback")
    db.session.commit()
    letter = outcome.letter
    g.letter_language = letter.language
    token = pending.get("token") if isinstance(pending.get("token"), str) else None
    # The link's token comes from this browser's session only: a callback opened elsewhere cannot reach the letter.
    if token is not None:
        try:
            if find_letter_by_token(db.session, token).id != letter.id:
                token = None
        except LetterError:
            token = None
    if outcome.ok and token is not None:
        session.pop(EID_SESSION_KEY, None)
        bind_factors(letter, "eid")
        target = "recipient.letter" if letter.status is LetterStatus.ACCEPTED else "recipient.decision"
        return redirect(url_for(target, token=token), code=303)
    reason = "recipient_locked" if outcome.locked else (outcome.reason or "invalid_response")
    return _render(
        "recipient/eid_problem.html",
        FAILURE_STATUS.get(reason, 400),
        letter=letter if token is not None else None,
        token=token,
        reason=reason,
        attempts_left=outcome.attempts_left,
    )
