"""A letter's proofs, from the letters' side: asked for with their event, issued by a job, reported ready.

`trust.proofs` produces a proof and knows nothing of what a ready proof means for a
letter.  Here the letters layer requests it in the transaction that records its
event, enqueues the job that issues it after that commit, and records the sender's
`letter.proof_ready` webhook in the very transaction that stores the proof: a proof
is never ready without its event, nor its event sent for a proof that is not.
"""

from __future__ import annotations

from datetime import datetime

from webapp.extensions import DbSession, db
from webapp.hooks.events import letter_proof_ready
from webapp.models import Evidence, Letter, Proof, ProofKind
from webapp.queue import enqueue_after_commit
from webapp.services import current_services
from webapp.trust.proofs import ProofReady, add_pending_proof, issue_proof, record_proof_failure
from webapp.trust.seal import SealError


def proof_job_id(proof_id: str) -> str:
    return f"proof-{proof_id}"


def request_proof(session: DbSession, letter: Letter, kind: ProofKind, evidence: Evidence, now: datetime) -> Proof:
    """Adds a pending proof for `evidence` and enqueues its job after commit."""
    proof = add_pending_proof(session, letter, kind, evidence, now)
    enqueue_after_commit(session, issue_proof_job, proof.id, job_id=proof_job_id(proof.id))
    return proof


def issue_proof_job(proof_id: str) -> str | None:
    """RQ job: produces the proof (idempotent) and tells the sender's webhooks it is ready."""
    services = current_services()
    try:
        status = issue_proof(db.session, services, proof_id, on_ready=_report_ready(services.settings.public_url))
    except SealError as exc:
        db.session.rollback()
        record_proof_failure(db.session, proof_id, str(exc))
        raise  # RQ retries with backoff; the sweeper re-enqueues pending proofs
    return status.value if status else None


def _report_ready(public_url: str) -> ProofReady:
    def report(session: DbSession, letter: Letter, proof: Proof) -> None:
        at = proof.issued_at
        if at is None:
            raise ValueError(f"proof {proof.id} is ready without an issue time")
        letter_proof_ready(session, letter, proof.kind, at=at, public_url=public_url)

    return report
