"""The single gatekeeper of a letter's state, and the evidence it writes.

`transition` is the only code that assigns `Letter.status`.  It checks the move
against `TRANSITIONS`, raises `IllegalTransition` otherwise, and appends the
evidence record in the same transaction, so that a state without its evidence
(or the reverse) can never be committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from webapp.extensions import DbSession
from webapp.hooks.events import letter_status_changed
from webapp.letters.errors import IllegalTransition
from webapp.letters.proofs import request_proof
from webapp.letters.states import EVENT_URIS, FINAL_STATES, TRANSITIONS, Event, LetterStatus
from webapp.models import Evidence, Letter, ProofKind
from webapp.trust.evidence import append_evidence

# The proof each outcome gives the sender, issued by a job once the transition commits.
PROOF_FOR_OUTCOME = {
    LetterStatus.ACCEPTED: ProofKind.RECEPTION,
    LetterStatus.REFUSED: ProofKind.REFUSAL,
    LetterStatus.NEGLECTED: ProofKind.NEGLIGENCE,
    LetterStatus.UNDELIVERABLE: ProofKind.NON_DELIVERY,
}


def letter_facts(letter: Letter) -> dict[str, Any]:
    """Who, to whom and what: the facts every evidence record of a letter repeats."""
    org = letter.organisation
    return {
        "reference": letter.reference,
        "channel": letter.channel,
        "sender": {
            "organisation_id": org.id,
            "name": org.name,
            "legal_name": org.legal_name,
            "ice": org.ice,
            "address": org.address,
            "user_id": letter.sender_user_id,
        },
        "recipient": letter.recipient_facts(),
        "document": letter.document_facts(),
    }


def record(
    session: DbSession,
    letter: Letter,
    event: Event,
    *,
    at: datetime,
    issuer: str,
    details: Mapping[str, Any] | None = None,
) -> Evidence:
    """Appends an evidence record about `letter` that does not change its state.

    Every record passes here, so this is where an ETSI event gets its EN 319 522-2 URI."""
    facts = letter_facts(letter)
    if event in EVENT_URIS:
        facts["event_uri"] = EVENT_URIS[event]
    if details:
        facts["details"] = dict(details)
    if event is Event.SUBMISSION_ACCEPTANCE:  # the deposit: the letter's first status
        letter_status_changed(session, letter, None, at=at)
    return append_evidence(session, letter_id=letter.id, event=event.value, occurred_at=at, issuer=issuer, facts=facts)


def transition(
    session: DbSession,
    letter: Letter,
    target: LetterStatus,
    *,
    at: datetime,
    issuer: str,
    details: Mapping[str, Any] | None = None,
) -> Evidence:
    """Moves `letter` to `target` and records why, or raises `IllegalTransition`."""
    event = TRANSITIONS.get((letter.status, target))
    if event is None:
        raise IllegalTransition(f"a letter cannot go from {letter.status.value} to {target.value}")
    previous = letter.status
    letter.status = target
    if target is LetterStatus.NOTIFIED:
        letter.notified_at = at
    elif target in {LetterStatus.ACCEPTED, LetterStatus.REFUSED, LetterStatus.NEGLECTED}:
        letter.decided_at = at
    if target in FINAL_STATES:
        letter.final_at = at  # the retention period of its document runs from here
    full_details = {"from_status": previous.value, "to_status": target.value, **(details or {})}
    evidence = record(session, letter, event, at=at, issuer=issuer, details=full_details)
    letter_status_changed(session, letter, previous.value, at=at)
    if target in PROOF_FOR_OUTCOME:
        request_proof(session, letter, PROOF_FOR_OUTCOME[target], evidence, at)
    return evidence
