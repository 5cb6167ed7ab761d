"""Checking evidence records and proof PDFs, for the public verifier and `flask proofs verify`.

Both say plainly whether what they were given is genuine, and what it attests,
without ever touching the letter's document.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models import Evidence
from webapp.services import Services
from webapp.trust.aio import run_sync
from webapp.trust.evidence import GENESIS_HASH, canonical_json, sha256_hex
from webapp.trust.seal import SealCheck


@dataclass
class RecordCheck:
    """One evidence record checked against our journal."""

    evidence_id: str
    record: dict[str, Any]
    hash_ok: bool  # the record hash is the hash of its canonical JSON
    in_journal: bool  # our journal holds exactly this record
    chain_ok: bool  # it links to its predecessor and its successor links to it
    seal: SealCheck | None  # None when not sealed yet

    @property
    def genuine(self) -> bool:
        return self.hash_ok and self.in_journal and self.chain_ok and self.seal is not None and self.seal.ok

    @property
    def event(self) -> str:
        return str(self.record.get("event", ""))


def check_record(session: DbSession, services: Services, canonical: bytes, seal: bytes | None) -> RecordCheck:
    """Checks a record (as found in a proof, or in the journal) against the journal."""
    try:
        record = json.loads(canonical)
    except (ValueError, UnicodeDecodeError):
        return RecordCheck("?", {}, False, False, False, None)
    if not isinstance(record, dict):
        return RecordCheck("?", {}, False, False, False, None)
    evidence_id = str(record.get("evidence_id", "?"))
    record_hash = sha256_hex(canonical)
    stored = session.get(Evidence, evidence_id)
    # Canonical, and hashing to the hash the journal recorded for it when it was appended.
    hash_ok = canonical_json(record) == canonical and (stored is None or stored.record_hash == record_hash)
    in_journal = stored is not None and stored.canonical.encode("utf-8") == canonical
    chain_ok = False
    if stored is not None and in_journal:
        previous = session.execute(select(Evidence).where(Evidence.seq == stored.seq - 1)).scalar_one_or_none()
        following = session.execute(select(Evidence).where(Evidence.seq == stored.seq + 1)).scalar_one_or_none()
        # Neighbours are judged by their content, not by the hash columns stored beside it.
        previous_hash = sha256_hex(previous.canonical.encode("utf-8")) if previous else GENESIS_HASH
        links_back = stored.previous_hash == record.get("previous_hash") == previous_hash
        links_forward = following is None or _previous_hash_in(following) == record_hash
        chain_ok = links_back and links_forward and stored.record_hash == record_hash
        if seal is None:
            seal = stored.seal
    seal_check = services.trust.check(canonical, seal) if seal else None
    return RecordCheck(evidence_id, record, hash_ok, in_journal, chain_ok, seal_check)


def _previous_hash_in(record: Evidence) -> str | None:
    try:
        value = json.loads(record.canonical).get("previous_hash")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def check_evidence_id(session: DbSession, services: Services, evidence_id: str) -> RecordCheck | None:
    stored = session.get(Evidence, evidence_id)
    if stored is None:
        return None
    return check_record(session, services, stored.canonical.encode("utf-8"), stored.seal)


@dataclass
class ProofCheck:
    """A proof PDF checked: its signature, and every evidence record it carries."""

    readable: bool
    signature_intact: bool = False
    signature_trusted: bool = False
    covers_whole_file: bool = False
    signed_by: str | None = None
    timestamped_at: datetime | None = None
    records: list[RecordCheck] = field(default_factory=list)
    problem: str | None = None

    @property
    def genuine(self) -> bool:
        return (
            self.readable
            and self.signature_intact
            and self.signature_trusted
            and self.covers_whole_file
            and self.timestamped_at is not None
            and bool(self.records)
            and all(r.genuine for r in self.records)
        )

    @property
    def attested(self) -> RecordCheck | None:
        """The record of the event the proof attests: the last one it carries."""
        return self.records[-1] if self.records else None


def check_proof_pdf(session: DbSession, services: Services, data: bytes) -> ProofCheck:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError) as exc:
        return ProofCheck(readable=False, problem=f"not a readable PDF: {exc}")
    if len(signatures) != 1:
        return ProofCheck(readable=True, problem="a proof carries exactly one signature")
    try:
        status = run_sync(
            async_validate_pdf_signature(signatures[0], signer_validation_context=services.trust.validation_context())
        )
    except (ValueError, KeyError, TypeError, PdfReadError) as exc:
        return ProofCheck(readable=True, problem=f"the signature cannot be read: {exc}")
    timestamp = status.timestamp_validity
    ts_ok = timestamp is not None and timestamp.intact and timestamp.valid and timestamp.trusted
    check = ProofCheck(
        readable=True,
        signature_intact=bool(status.intact and status.valid),
        signature_trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        signed_by=status.signing_cert.subject.human_friendly,
        timestamped_at=timestamp.timestamp if ts_ok and timestamp is not None else None,
    )
    check.records = [check_record(session, services, body, seal) for body, seal in _embedded_records(data)]
    if not check.records:
        check.problem = "the proof carries no evidence record"
    return check


def _embedded_records(data: bytes) -> list[tuple[bytes, bytes | None]]:
    """(canonical JSON, seal) pairs of the evidence files attached to a proof, in order."""
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
    except (PyPdfError, ValueError, KeyError, TypeError):
        return []
    pairs = []
    for name in sorted(n for n in attachments if n.startswith("evidence-") and n.endswith(".json")):
        seal_name = name.removesuffix(".json") + ".p7s"
        seal = attachments.get(seal_name, [None])[0]
        pairs.append((attachments[name][0], seal))
    return pairs
