"""Archive renewal: stored proofs get a new archive timestamp before the last one's certificate expires.

A PAdES B-LTA proof stays verifiable as long as its last archive timestamp
can be validated, that is until that timestamp's TSA certificate expires.
`ARCHIVE_RENEWAL_MARGIN_DAYS` before then (365 by default), the scheduler
opens each proof due (found through the indexed `proofs.archive_expires_at`),
adds the last timestamp's validation data to the DSS and a new archive
timestamp over everything (`webapp.trust.ltv.add_archive_timestamp`), stores
the new version encrypted in place of the old one, and appends an
`ArchiveTimestampRenewal` evidence record to the letter (an extension: ETSI EN
319 522 has no such event) naming both versions' SHA-256.  The old bytes are
replaced in the same transaction that records the renewal: until it commits,
they are what the database holds.

Proofs issued before archive timestamps existed (PAdES B-T) were marked due
at once by the migration: they get their validation data and a first archive
timestamp the same way.

The job is idempotent: a proof renewed by another worker meanwhile is no
longer due when its row is locked, and is left alone.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.letters.lifecycle import record
from webapp.letters.states import Event
from webapp.models import Letter, Proof, ProofStatus
from webapp.services import Services
from webapp.storage import PROOFS
from webapp.trust.evidence import isoformat_utc
from webapp.trust.ltv import ArchiveTimestampError, add_archive_timestamp, archive_state
from webapp.trust.seal import SealError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Renewal:
    """One proof given a new archive timestamp."""

    proof_id: str
    previous_sha256: str
    sha256: str
    timestamped_at: datetime
    expires_at: datetime


def renewal_cutoff(services: Services) -> datetime:
    """Proofs whose last archive timestamp's certificate expires before this are due."""
    return services.clock.now() + timedelta(days=services.settings.archive_renewal_margin_days)


def proofs_due(session: DbSession, services: Services, *, batch: int = 50) -> list[str]:
    """The ids of the proofs due for a new archive timestamp, soonest expiry first (one indexed range query)."""
    query = (
        select(Proof.id)
        .where(Proof.archive_expires_at <= renewal_cutoff(services))
        .order_by(Proof.archive_expires_at, Proof.id)
        .limit(batch)
    )
    return list(session.execute(query).scalars())


def renew_archive_timestamps(session: DbSession, services: Services, *, batch: int = 50) -> int:
    """Renews the proofs due, each in its own transaction; returns how many were renewed."""
    due = proofs_due(session, services, batch=batch)
    if due:
        services.trust.maintain()  # a local TSA certificate near its end is replaced first
    renewed = 0
    for proof_id in due:
        try:
            if renew_proof(session, services, proof_id) is not None:
                renewed += 1
        except (ArchiveTimestampError, SealError) as exc:
            session.rollback()
            log.error("proof %s could not be given a new archive timestamp: %s", proof_id, exc)
            break  # the next ones would fail alike (TSA, revocation data): the next run tries again
    return renewed


def renew_proof(session: DbSession, services: Services, proof_id: str) -> Renewal | None:
    """Gives one proof a new archive timestamp and records it; None when it is not (or no longer) due."""
    proof = session.execute(select(Proof).where(Proof.id == proof_id).with_for_update()).scalar_one_or_none()
    cutoff = renewal_cutoff(services)
    if (
        proof is None
        or proof.status is not ProofStatus.READY
        or proof.archive_expires_at is None
        or proof.archive_expires_at > cutoff
    ):
        session.commit()
        return None
    if proof.key_id is None or proof.wrapped_key is None or (proof.ciphertext is None and proof.object_key is None):
        raise ArchiveTimestampError(f"proof {proof.id} is ready but has no stored content")
    # A new timestamp helps only if its certificate outlives the cutoff (else the proof stays due).
    tsa_end = services.trust.tsa_certificate().not_valid_after_utc
    if tsa_end <= cutoff:
        raise ArchiveTimestampError(
            f"the timestamp authority's certificate expires on {tsa_end:%Y-%m-%d}, within the renewal margin: "
            "renew that certificate first"
        )
    context = f"proof:{proof.id}"
    previous = services.objects.read(proof, context=context)
    if hashlib.sha256(previous).hexdigest() != proof.sha256:
        raise ArchiveTimestampError(f"proof {proof.id} does not match its recorded SHA-256: not renewed")
    renewed = add_archive_timestamp(previous, services.trust.timestamper, services.trust.ltv_context())
    state = archive_state(renewed)
    if state is None:
        raise ArchiveTimestampError(f"proof {proof.id} has no archive timestamp after renewal")
    # A new object (objects are never overwritten); the previous one is deleted once this commits.
    stored = services.objects.put(renewed, context=context, kind=PROOFS, owner_id=proof.id, now=services.clock.now())
    replaced = proof.object_key
    result = Renewal(
        proof_id=proof.id,
        previous_sha256=hashlib.sha256(previous).hexdigest(),
        sha256=hashlib.sha256(renewed).hexdigest(),
        timestamped_at=state.last_at,
        expires_at=state.expires_at,
    )
    expires_at = state.expires_at
    stored.apply(proof)
    proof.sha256, proof.size = result.sha256, len(renewed)
    proof.archive_expires_at = expires_at
    letter = session.get_one(Letter, proof.letter_id)
    record(
        session,
        letter,
        Event.ARCHIVE_TIMESTAMP_RENEWAL,
        at=services.clock.now(),
        issuer=services.issuer,
        details={
            "proof": {
                "id": proof.id,
                "kind": proof.kind.value,
                "previous_sha256": result.previous_sha256,
                "sha256": result.sha256,
                "size": len(renewed),
            },
            "archive_timestamp": {
                "at": isoformat_utc(result.timestamped_at),
                "tsa_certificate_expires_at": isoformat_utc(expires_at),
            },
        },
    )
    session.commit()
    services.objects.discard([replaced])
    log.info("proof %s given a new archive timestamp (valid until %s)", proof.id, expires_at.date())
    return result
