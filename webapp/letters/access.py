"""The gate: content leaves the vault only here, after checking the actor's right.

A letter's proofs go to its sender (portal user or API token), its document to
its identified recipient once they accepted it, its dispute bundle to its
sender.  A support agent sees a letter's metadata and timeline (`letters.read`)
but never opens any of these.  Views call these functions and never the vault,
`trust.proofs.decrypt_proof` or the bundle builder directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.letters.bundle import Bundle, build_dispute_bundle
from webapp.letters.errors import AccessDenied, LetterNotFound, ProofNotAvailable, ProofPending
from webapp.letters.identification import ClientInfo
from webapp.letters.read import Actor, RecipientActor, SenderActor, visible_letter
from webapp.letters.recipient import hand_over_document
from webapp.models import Letter, Proof, ProofKind
from webapp.services import Services
from webapp.trust.proofs import ProofNotReady, decrypt_proof


@dataclass(frozen=True)
class OpenedProof:
    kind: ProofKind
    reference: str  # the letter's, for the file name
    data: bytes


def _sender_only(actor: Actor) -> SenderActor:
    if not isinstance(actor, SenderActor):
        raise AccessDenied()
    return actor


def open_proof(session: DbSession, services: Services, actor: Actor, letter_id: str, kind: str) -> OpenedProof:
    """A ready proof's signed PDF, for the letter's sender only."""
    sender = _sender_only(actor)
    letter = visible_letter(session, sender, letter_id)
    try:
        proof_kind = ProofKind(kind)
    except ValueError:
        raise ProofNotAvailable(f"unknown proof kind {kind!r}") from None
    proof = session.execute(
        select(Proof).where(Proof.letter_id == letter.id, Proof.kind == proof_kind)
    ).scalar_one_or_none()
    if proof is None:
        raise ProofNotAvailable(f"this letter has no {proof_kind.value} proof")
    try:
        data = decrypt_proof(services, proof)
    except ProofNotReady:
        raise ProofPending() from None
    return OpenedProof(proof_kind, letter.reference, data)


def open_document(session: DbSession, services: Services, actor: Actor, letter: Letter, *, client: ClientInfo) -> bytes:
    """The document's exact bytes, for the identified recipient of an accepted letter; recorded as
    `ContentHandover` (see `letters.recipient.hand_over_document`)."""
    if not isinstance(actor, RecipientActor):
        raise AccessDenied()
    if actor.letter_id != letter.id:
        raise LetterNotFound()
    return hand_over_document(session, services, letter, client=client)


def dispute_bundle(session: DbSession, services: Services, actor: Actor, letter_id: str) -> Bundle:
    """The letter's dispute bundle (every proof, record and certificate), for its sender only."""
    sender = _sender_only(actor)
    letter = visible_letter(session, sender, letter_id)
    return build_dispute_bundle(session, services, letter)
