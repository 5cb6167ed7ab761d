"""The recipient's trip to an identity provider (issue 19): started, answered, checked, recorded.

See `letters.eid` for what a letter requires and the matching rule.  Every outcome is an evidence
record; a failure never moves the deadline.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from webapp import oidc
from webapp.config import ASSURANCE_LEVELS, IdentityProvider, Settings
from webapp.extensions import DbSession
from webapp.hooks.events import IDENTIFICATION_FAILED, record_event
from webapp.letters import lifecycle
from webapp.letters.eid import (
    EidNotRequired,
    ProvenClaims,
    cin_hmac,
    identity_of,
    mask_cin,
    mismatches,
    required_factors,
)
from webapp.letters.errors import LetterError
from webapp.letters.identification import ClientInfo
from webapp.letters.recipient import ensure_can_identify
from webapp.letters.states import Event
from webapp.models import EidAttempt, EidAttemptStatus, Letter, LetterIdentity
from webapp.services import Services
from webapp.trust.evidence import isoformat_utc

CALLBACK_PATH = "/eid/callback"  # the redirect URI registered at every provider: PUBLIC_URL + this


class CodeFirst(LetterError):
    """The one-time code comes first for this letter."""

    code = "code_first"


class UnknownProvider(LetterError):
    """No identity provider by that name."""

    code = "unknown_provider"


class ProviderDown(LetterError):
    """The identity provider did not answer in time; try again later."""

    code = "provider_unavailable"


class UnknownCallback(LetterError):
    """An answer from a provider that matches no identification we started (forged, or very old)."""

    code = "unknown_callback"


@dataclass(frozen=True)
class EidOutcome:
    """What a provider's answer came to, for the page the recipient sees next."""

    letter: Letter
    ok: bool
    reason: str | None = None  # cancelled, provider_unavailable, identity_mismatch, replayed, invalid_response, …
    locked: bool = False
    attempts_left: int = 0


# Reasons that count towards the lock: what a forger or an impostor would cause.  A cancellation, a
# provider down or answering with an error, or a trip that took too long is not the recipient's doing.
COUNTED_REASONS = frozenset({"identity_mismatch", "invalid_response", "replayed", "wrong_browser", "level_too_low"})


# --- the trip to the provider ------------------------------------------------------------------


def redirect_uri(settings: Settings) -> str:
    return settings.public_url + CALLBACK_PATH


def ensure_eid_possible(session: DbSession, services: Services, letter: Letter, factors_done: frozenset[str]) -> None:
    """Raises unless this recipient may go to an identity provider for this letter now."""
    ensure_can_identify(letter, services)
    factors = required_factors(session, letter)
    if "eid" not in factors:
        raise EidNotRequired()
    if "sms-otp" in factors and "sms-otp" not in factors_done:
        raise CodeFirst()


def start_eid(
    session: DbSession,
    services: Services,
    letter: Letter,
    provider_name: str,
    *,
    factors_done: frozenset[str],
    client: ClientInfo,
    locale: str | None = None,
) -> oidc.AuthorizationStart:
    """Starts a trip to the provider: an `EidAttempt` and the URL to send the browser to.

    A provider that does not answer is recorded (`provider_unavailable`, not counted) and raised as
    `ProviderDown`: the caller commits the record, then shows the page."""
    ensure_eid_possible(session, services, letter, factors_done)
    settings = services.settings
    provider = settings.identity_provider(provider_name)
    if provider is None:
        raise UnknownProvider()
    try:
        start = oidc.start_authorization(
            provider,
            redirect_uri(settings),
            timeout=settings.eid_timeout,
            cache_ttl=settings.eid_cache_ttl,
            ui_locales=locale,
            verify=settings.eid_tls_verify,
        )
    except oidc.ProviderUnavailable:
        _record_failure(session, services, letter, provider, "provider_unavailable", client=client)
        raise ProviderDown() from None
    now = services.clock.now()
    session.add(
        EidAttempt(
            letter_id=letter.id,
            provider=provider.name,
            state_hash=oidc.hash_state(start.state),
            nonce=start.nonce,
            code_verifier=start.code_verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.eid_attempt_ttl),
            status=EidAttemptStatus.PENDING,
        )
    )
    return start


def find_attempt(session: DbSession, state: str | None) -> EidAttempt | None:
    if not state or len(state) > 200:
        return None
    return session.execute(
        select(EidAttempt).where(EidAttempt.state_hash == oidc.hash_state(state)).with_for_update()
    ).scalar_one_or_none()


def finish_eid(
    session: DbSession,
    services: Services,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    browser_state: str | None,
    client: ClientInfo,
) -> EidOutcome:
    """The provider's answer: checked, matched, recorded.  Raises `UnknownCallback` when it names no
    identification of ours (nothing to record it on); every other outcome is recorded and returned."""
    attempt = find_attempt(session, state)
    if attempt is None:
        raise UnknownCallback()
    letter = session.execute(select(Letter).where(Letter.id == attempt.letter_id).with_for_update()).scalar_one()
    settings = services.settings
    provider = settings.identity_provider(attempt.provider)
    now = services.clock.now()

    def fail(reason: str, check: str | None = None) -> EidOutcome:
        if attempt.status is EidAttemptStatus.PENDING:
            attempt.status = EidAttemptStatus.FAILED
            attempt.outcome = reason
            attempt.finished_at = now
        return _record_failure(session, services, letter, provider, reason, client=client, attempt=attempt, check=check)

    if attempt.status is not EidAttemptStatus.PENDING:
        return fail("replayed")  # the same answer twice: a replay, or a reload of the callback page
    if browser_state is None or not hmac.compare_digest(oidc.hash_state(browser_state), attempt.state_hash):
        # Not the browser we sent there: someone else's link, or a forged login (OIDC login CSRF).
        return fail("wrong_browser")
    if provider is None:
        return fail("provider_error")
    if now >= attempt.expires_at:
        return fail("expired")
    if error:
        return fail("cancelled" if error == "access_denied" else "provider_error")
    if not code:
        return fail("invalid_response")
    try:
        ensure_can_identify(letter, services)
    except LetterError:
        attempt.status, attempt.outcome, attempt.finished_at = EidAttemptStatus.FAILED, "letter_closed", now
        raise
    try:
        proven = oidc.complete_authorization(
            provider,
            redirect_uri(settings),
            code=code,
            code_verifier=attempt.code_verifier,
            nonce=attempt.nonce,
            timeout=settings.eid_timeout,
            cache_ttl=settings.eid_cache_ttl,
            verify=settings.eid_tls_verify,
        )
    except oidc.ProviderUnavailable:
        return fail("provider_unavailable")
    except oidc.InvalidIdentityResponse as exc:
        return fail("invalid_response", exc.reason)
    level = provider.level_of(proven.acr)
    if provider.minimum_level is not None and (
        level is None or ASSURANCE_LEVELS.index(level) < ASSURANCE_LEVELS.index(provider.minimum_level)
    ):
        return fail("level_too_low")
    claims = ProvenClaims.of(provider, proven.claims)
    identity = identity_of(session, letter)
    wrong = mismatches(identity, claims, settings) if identity is not None else []
    if wrong:
        attempt.status, attempt.outcome, attempt.finished_at = EidAttemptStatus.FAILED, "identity_mismatch", now
        outcome = _record_failure(
            session, services, letter, provider, "identity_mismatch", client=client, attempt=attempt, fields=wrong
        )
        record_event(
            session,
            letter,
            IDENTIFICATION_FAILED,
            {
                "letter_id": letter.id,
                "reference": letter.reference,
                "sender_reference": letter.sender_reference,
                "status": letter.status.value,
                "method": "eid",
                "reason": "identity_mismatch",
                "fields": wrong,
                "locked": outcome.locked,
            },
            at=now,
        )
        return outcome
    attempt.status, attempt.outcome, attempt.finished_at = EidAttemptStatus.SUCCEEDED, None, now
    if identity is not None:
        identity.eid_failures = 0
    proven_facts: dict[str, Any] = {}
    if claims.cin:
        proven_facts["cin"] = {"masked": mask_cin(claims.cin), "hmac_sha256": cin_hmac(claims.cin, settings)}
    for key in ("given_name", "family_name", "name"):
        if getattr(claims, key):
            proven_facts[key] = getattr(claims, key)
    if claims.birth_date:
        proven_facts["birth_date"] = claims.birth_date.isoformat()
    matched = [f for f in ("cin", "name", "birth_date") if identity is not None and _expects(identity, f)]
    lifecycle.record(
        session,
        letter,
        Event.RECIPIENT_IDENTIFICATION,
        at=now,
        issuer=services.issuer,
        details={
            "method": "eid",
            "provider": {"name": provider.name, "label": provider.label, "issuer": proven.issuer},
            "level": {"acr": proven.acr, "meaning": level},
            "amr": list(proven.amr),
            "authenticated_at": isoformat_utc(_from_epoch(proven.auth_time)) if proven.auth_time else None,
            "subject": proven.subject,
            "proven": proven_facts,
            "matched": matched,
            "id_token_sha256": proven.id_token_sha256,
            "attempt_id": attempt.id,
            "client": client.facts(),
        },
    )
    return EidOutcome(letter=letter, ok=True)


def _expects(identity: LetterIdentity, field: str) -> bool:
    return bool(
        {"cin": identity.expected_cin_hmac, "name": identity.expected_name, "birth_date": identity.expected_birth_date}[
            field
        ]
    )


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _record_failure(
    session: DbSession,
    services: Services,
    letter: Letter,
    provider: IdentityProvider | None,
    reason: str,
    *,
    client: ClientInfo,
    attempt: EidAttempt | None = None,
    fields: list[str] | None = None,
    check: str | None = None,
) -> EidOutcome:
    """Records a failed identification at a provider; counts it towards the lock when it is suspicious."""
    settings = services.settings
    now = services.clock.now()
    identity = identity_of(session, letter)
    locked = False
    failures = identity.eid_failures if identity is not None else 0
    if reason in COUNTED_REASONS and identity is not None and letter.locked_at is None:
        identity.eid_failures += 1
        failures = identity.eid_failures
        if identity.eid_failures >= settings.eid_max_failures:
            letter.locked_at = now
            identity.eid_failures = 0  # the lock stands for them; an unlock starts afresh
            locked = True
    details: dict[str, Any] = {
        "method": "eid",
        "provider": provider.name if provider is not None else None,
        "reason": reason,
        "failures": failures,
        "locked": locked,
        "client": client.facts(),
    }
    if check:
        details["check"] = check  # which check of the provider's answer failed (bad_signature, wrong_nonce, …)
    if attempt is not None:
        details["attempt_id"] = attempt.id
    if fields:
        details["mismatched"] = fields
    lifecycle.record(
        session, letter, Event.RECIPIENT_IDENTIFICATION_FAILURE, at=now, issuer=services.issuer, details=details
    )
    left = max(0, settings.eid_max_failures - failures) if not locked else 0
    return EidOutcome(letter=letter, ok=False, reason=reason, locked=locked, attempts_left=left)
