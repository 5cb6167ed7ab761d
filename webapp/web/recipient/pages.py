"""Recipient pages: plain HTML forms that work without JavaScript; htmx only smooths them.

Flow: landing (GET changes nothing) → send me a code → type the code →
accept or refuse → (accepted) sender's identity and the document.
After identification the browser session is bound to that one letter.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from markupsafe import Markup

from webapp.extensions import csrf, db, limiter, writes
from webapp.i18n import text_direction
from webapp.letters.access import open_document
from webapp.letters.deposit import hash_token
from webapp.letters.errors import (
    AlreadyDecided,
    LetterError,
    LinkExpired,
    NotYetNotified,
    RecipientLocked,
    TooManyCodes,
)
from webapp.letters.identification import ClientInfo
from webapp.letters.read import RecipientActor
from webapp.letters.recipient import (
    CheckOutcome,
    decide,
    ensure_open_for_decision,
    find_letter_by_token,
    request_code,
    verify_code,
    waiting_until,
)
from webapp.letters.states import LetterStatus
from webapp.models import Letter
from webapp.notify.texts import MOROCCO
from webapp.services import current_services
from webapp.web.policies import private_to_the_recipient
from webapp.web.recipient import eid as eid_pages  # issue 19: identification by national digital identity
from webapp.web.recipient.landing_cache import mark_cacheable

bp = Blueprint("recipient", __name__, url_prefix="/l")

SESSION_KEY = "recipient"
# The codes this browser asked for, and those it already typed a code against (see `verify_code`).
CODES_KEY = "codes"
CODES_KEPT = 6


def _per_letter() -> str:
    """Rate-limit key: the client's address and the letter (its link's hash, never the link).

    Behind a carrier's NAT hundreds of phones share an address: a limit per address alone
    would let one person's attempts stop everyone else's letters."""
    token = (request.view_args or {}).get("token", "")
    return f"{request.remote_addr}:{hash_token(str(token))[:16]}"


private_to_the_recipient(bp)


def _letter(token: str, *, for_update: bool = False) -> Letter:
    letter = find_letter_by_token(db.session, token, for_update=for_update)
    g.letter_language = letter.language  # the page's language when the browser names none of ours
    return letter


def masked_phone(phone: str) -> str:
    """`+212 6•• ••• •78`: enough to recognise one's number, not enough to learn it."""
    return f"{phone[:4]} {phone[4]}•• ••• •{phone[-2:]}" if len(phone) > 8 else "••••"


def download_filename(name: str) -> dict[str, str]:
    """`filename` parameters for Content-Disposition.  Header values travel as Latin-1, so a
    non-ASCII name (accents, Arabic) goes in `filename*` (RFC 6266), with an ASCII fallback."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        if not any(ch.isalnum() for ch in simple.rsplit(".", 1)[0]):
            simple = "document.pdf"
        return {"filename": simple, "filename*": "UTF-8''" + quote(name, safe="!#$&+-.^_`|~")}
    return {"filename": name}


def _client() -> ClientInfo:
    """Who is asking, for the evidence: the client's address (as `ProxyFix` gives it behind
    `TRUSTED_PROXIES` proxies) and its browser."""
    return ClientInfo.of(request.remote_addr, request.headers.get("User-Agent"))


def _recipient() -> RecipientActor | None:
    """The identified recipient this browser session is bound to, while the session is fresh."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("letter"), str):
        return None
    now = current_services().clock.now().timestamp()
    ttl = current_services().settings.recipient_session_ttl
    if not (isinstance(data.get("at"), int | float) and 0 <= now - data["at"] < ttl):
        return None
    return RecipientActor(data["letter"])


def _identified_for(letter: Letter) -> bool:
    actor = _recipient()
    # issue 19 hook: every identification the letter requires (the code, national identity, or both).
    return actor is not None and actor.letter_id == letter.id and eid_pages.all_factors_done(letter)


def _bind_session_to(letter: Letter) -> None:
    # A fresh session: whatever the browser held before (another letter) is dropped.
    session.clear()
    # issue 19 hook: the session names the factors proven (`sms-otp` here; `eid` is added by `eid_pages`).
    session[SESSION_KEY] = {
        "letter": letter.id,
        "at": current_services().clock.now().timestamp(),
        "factors": ["sms-otp"],
    }


def _phone_for_page(letter: Letter) -> str:
    """The masked number; isolated left-to-right on Arabic pages, so its digits keep their order."""
    phone = masked_phone(letter.recipient_phone)
    if text_direction(str(get_locale())) == "rtl":
        return Markup('<bdi dir="ltr">%s</bdi>') % phone
    return phone


def _page(template: str, letter: Letter, token: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    services = current_services()
    return render_template(
        template,
        letter=letter,
        token=token,
        phone=_phone_for_page(letter),
        service_name=services.settings.service_name,
        support_contact=services.settings.support_contact,
        code_minutes=max(1, services.settings.code_ttl // 60),
        code_window_minutes=max(1, services.settings.code_window // 60),
        code_tries=services.settings.code_max_attempts,
        morocco=MOROCCO,
        identified=_identified_for(letter),
        sender_shown=services.settings.show_sender_in_sms,  # already in the SMS, so no secret here
        identification=eid_pages.required_factors(db.session, letter),  # issue 19 hook
        **context,
    ), status


# The same problem always answers with the same status, whichever step met it.
PROBLEM_STATUS = {RecipientLocked.code: 403, LinkExpired.code: 410}


def _problem(letter: Letter, token: str, exc: LetterError) -> ResponseReturnValue:
    return _page("recipient/problem.html", letter, token, PROBLEM_STATUS.get(exc.code, 200), problem=exc.code)


def _see_other(endpoint: str, token: str, **args: Any) -> ResponseReturnValue:
    """After a successful POST: a 303 to the next page (POST/redirect/GET).

    To htmx, the next page itself, with its address pushed into the history: on a
    400 ms network the redirect's extra round trip is the slowest part of a step.
    """
    url = url_for(endpoint, token=token, **args)
    if request.headers.get("HX-Request") != "true" or request.headers.get("HX-Boosted") != "true":
        return redirect(url, code=303)
    if endpoint == ".code":
        page = _code_page(token, sent=bool(args.get("sent")))
    else:
        page = {".decision": decision, ".letter": letter}[endpoint](token)
    response = make_response(page)
    response.headers["HX-Push-Url"] = url
    return response


@bp.get("/<token>")
def landing(token: str) -> ResponseReturnValue:
    letter = _letter(token)
    if letter.status is LetterStatus.ACCEPTED and _identified_for(letter):
        return redirect(url_for(".letter", token=token))
    # From here on the page depends only on the letter and the request's language inputs: the fast
    # path in front of Flask (`landing_cache`) replays it until the letter changes.
    mark_cacheable()
    if letter.status is LetterStatus.ACCEPTED:
        return _page("recipient/landing.html", letter, token)
    try:
        ensure_open_for_decision(letter, current_services())
    except LetterError as exc:
        return _problem(letter, token, exc)
    return _page("recipient/landing.html", letter, token)


def _codes_here(letter: Letter) -> tuple[list[str], list[str]]:
    """The codes this browser asked for this letter, and those it already tried."""
    data = session.get(CODES_KEY)
    if not isinstance(data, dict) or data.get("letter") != letter.id:
        return [], []
    asked, tried = data.get("asked"), data.get("tried")
    return (
        [str(x) for x in asked] if isinstance(asked, list) else [],
        [str(x) for x in tried] if isinstance(tried, list) else [],
    )


def _remember_codes(letter: Letter, *, asked: list[str], tried: list[str]) -> None:
    session[CODES_KEY] = {"letter": letter.id, "asked": asked[-CODES_KEPT:], "tried": tried[-CODES_KEPT:]}


@bp.get("/<token>/<any(fr, ar, en):language>")
def landing_in(token: str, language: str) -> ResponseReturnValue:
    """The SMS link: the landing page in the letter's language, which the link carries."""
    g.link_language = language
    return landing(token)


# No CSRF token here, on purpose: CSRF protects an action a browser's cookies authorise, forged by
# another site.  Asking for a code needs no cookie and grants nothing: the secret link in the
# address is the whole authority, the code goes only to the letter's own number, and the limit
# below bounds how often.  A site that knew the link could post this form with or without a token.
# So the landing page sets no session cookie, and stays cacheable.
@bp.post("/<token>/code")
@csrf.exempt
@limiter.limit("10/hour", key_func=_per_letter)
@limiter.limit("120/hour")
def send_code(token: str) -> ResponseReturnValue:
    services = current_services()
    letter = _letter(token, for_update=True)
    if eid_pages.code_not_used(letter):  # issue 19 hook: national identity only, no code for this letter
        db.session.rollback()
        return redirect(url_for("recipient_eid.start_page", token=token), code=303)
    try:
        entry = request_code(db.session, services, letter)
    except TooManyCodes as exc:
        db.session.rollback()
        return _page("recipient/code.html", letter, token, 429, error=exc.code, retry_at=exc.retry_at)
    except LetterError as exc:
        db.session.rollback()
        return _problem(letter, token, exc)
    db.session.commit()
    asked, tried = _codes_here(letter)
    _remember_codes(letter, asked=[*asked, entry.id], tried=tried)
    return _see_other(".code", token, sent=1)


@bp.get("/<token>/code")
def code(token: str) -> ResponseReturnValue:
    return _code_page(token, sent=request.args.get("sent") == "1")


def _code_page(token: str, *, sent: bool) -> ResponseReturnValue:
    letter = _letter(token)
    if letter.locked_at is not None:  # issue 19: an identity mismatch locks; wrong codes never do
        return _problem(letter, token, RecipientLocked())
    wait = waiting_until(letter, current_services())
    return _page("recipient/code.html", letter, token, sent=sent, wait_until=wait)


# The status of a failed check: 429 while a wait is on (nothing was checked), else 422.
CHECK_STATUS = {CheckOutcome.WAITING: 429}


@bp.post("/<token>/code/check")
@limiter.limit("30/hour", key_func=_per_letter)
def check_code(token: str) -> ResponseReturnValue:
    services = current_services()
    letter = _letter(token, for_update=True)
    asked, tried = _codes_here(letter)
    try:
        result = verify_code(
            db.session,
            services,
            letter,
            request.form.get("code", ""),
            client=_client(),
            asked_here=asked,
            tried_here=tried,
        )
    except LetterError as exc:
        db.session.rollback()
        return _problem(letter, token, exc)
    db.session.commit()  # the failure and its count must stick
    if not result.ok:
        _remember_codes(letter, asked=asked, tried=[*tried, *result.checked])
        return _page(
            "recipient/code.html",
            letter,
            token,
            CHECK_STATUS.get(result.outcome, 422),
            error=result.outcome.value,
            tries_left=result.tries_left,
            wait_until=result.wait_until,
        )
    _bind_session_to(letter)
    if eid_pages.eid_still_needed(letter):  # issue 19 hook: the national identity comes after the code
        return redirect(url_for("recipient_eid.start_page", token=token), code=303)
    target = ".letter" if letter.status is LetterStatus.ACCEPTED else ".decision"
    return _see_other(target, token)


@bp.get("/<token>/decision")
def decision(token: str) -> ResponseReturnValue:
    letter = _letter(token)
    if not _identified_for(letter):
        return redirect(url_for(".landing", token=token))
    if letter.status is LetterStatus.ACCEPTED:
        return redirect(url_for(".letter", token=token))
    try:
        ensure_open_for_decision(letter, current_services())
    except LetterError as exc:
        return _problem(letter, token, exc)
    return _page("recipient/decision.html", letter, token)


@bp.post("/<token>/decision")
@limiter.limit("30/hour", key_func=_per_letter)
def submit_decision(token: str) -> ResponseReturnValue:
    letter = _letter(token, for_update=True)
    if not _identified_for(letter):
        db.session.rollback()
        return redirect(url_for(".landing", token=token), code=303)
    choice = request.form.get("decision")
    if choice not in {"accept", "refuse"}:
        db.session.rollback()
        return _page("recipient/decision.html", letter, token, 422, error="choose")
    try:
        decide(
            db.session,
            current_services(),
            letter,
            choice,
            client=_client(),
            reason=(request.form.get("reason") or "").strip() or None,
        )
    except (AlreadyDecided, LinkExpired, NotYetNotified, RecipientLocked) as exc:
        db.session.rollback()
        return _problem(letter, token, exc)
    db.session.commit()
    if choice == "accept":
        return _see_other(".letter", token)
    return _page("recipient/refused.html", letter, token)


@bp.get("/<token>/letter")
def letter(token: str) -> ResponseReturnValue:
    letter = _letter(token)
    if letter.status is not LetterStatus.ACCEPTED or not _identified_for(letter):
        return redirect(url_for(".landing", token=token))
    return _page("recipient/letter.html", letter, token)


@bp.get("/<token>/document")
@writes  # its work writes (a checkpoint, a download's evidence): its transactions take the lock
def document(token: str) -> ResponseReturnValue:
    letter = _letter(token)
    actor = _recipient()
    # issue 19 hook: `_identified_for` also checks every factor the letter requires.
    if letter.status is not LetterStatus.ACCEPTED or actor is None or not _identified_for(letter):
        return redirect(url_for(".landing", token=token))
    data = open_document(db.session, current_services(), actor, letter, client=_client())
    db.session.commit()
    response = Response(data, mimetype="application/pdf")
    response.headers.set("Content-Disposition", "attachment", **download_filename(letter.document_name))
    response.headers["Content-Length"] = str(len(data))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
