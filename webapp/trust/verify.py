"""Checking evidence records and proof PDFs, for the public verifier and `flask proofs verify`.

Both say plainly whether what they were given is genuine, and what it attests,
without ever touching the letter's document.  A proof is also validated as
PAdES B-LTA with revocation information required (pyHanko's AdES validator):
whether it will still verify once our certificates have expired.  And both
say who stands behind the seal: a trial setup, or the certificates' issuers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import tsp
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models import Evidence
from webapp.trust import tlog
from webapp.trust.aio import run_sync
from webapp.trust.canonical import GENESIS_HASH, canonical_json, sha256_hex
from webapp.trust.context import TrustServices
from webapp.trust.journal import (
    CheckpointCheck,
    JournalError,
    check_checkpoint,
    checkpoint_of_size,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
)
from webapp.trust.keys import display_name
from webapp.trust.ltv import LtaCheck, check_lta, covers_whole_file, document_timestamps, token_time
from webapp.trust.proofs import CHECKPOINT_FILE, CHECKPOINT_SEAL_FILE, CHECKPOINT_TSR_FILE
from webapp.trust.seal import SealCheck


@dataclass(frozen=True)
class LogCheck:
    """A record's place in the transparency log: its inclusion proof into a signed checkpoint."""

    tree_size: int
    included: bool  # the inclusion proof leads from the record to the checkpoint's root
    checkpoint: CheckpointCheck  # signed by our journal key; its timestamp and seal verify
    consistent: bool  # our log still holds that checkpoint and extends it

    @property
    def ok(self) -> bool:
        return self.included and self.checkpoint.ok and self.consistent

    @property
    def timestamped_at(self) -> datetime | None:
        return self.checkpoint.timestamped_at

    @property
    def sealed_by(self) -> str | None:
        return self.checkpoint.sealed_by


@dataclass
class RecordCheck:
    """One evidence record checked against our journal and its transparency log."""

    evidence_id: str
    record: dict[str, Any]
    hash_ok: bool  # the record hash is the hash of its canonical JSON
    in_journal: bool  # our journal holds exactly this record
    chain_ok: bool  # it links to its predecessor and its successor links to it
    seal: SealCheck | None  # the individual seal records carried before the transparency log, if any
    logged: LogCheck | None = None  # None when no checkpoint covers it yet

    @property
    def sealed(self) -> bool:
        return (self.logged is not None and self.logged.ok) or (self.seal is not None and self.seal.ok)

    @property
    def genuine(self) -> bool:
        return self.hash_ok and self.in_journal and self.chain_ok and self.sealed

    @property
    def pending(self) -> bool:
        """Intact and in our journal, waiting for the next checkpoint (a few seconds)."""
        return self.hash_ok and self.in_journal and self.chain_ok and self.logged is None and self.seal is None

    @property
    def event(self) -> str:
        return str(self.record.get("event", ""))


def check_record(
    session: DbSession,
    services: TrustServices,
    canonical: bytes,
    seal: bytes | None,
    inclusion: EmbeddedInclusion | None = None,
) -> RecordCheck:
    """Checks a record (as found in a proof, or in the journal) against the journal and its log.

    `inclusion` is the inclusion proof and checkpoint a proof carries for the record; without it
    the record is proven against our latest checkpoint.
    """
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
    logged: LogCheck | None = None
    if inclusion is not None:
        logged = _check_embedded_inclusion(session, services, canonical, inclusion)
    elif stored is not None and in_journal:
        logged = _check_against_latest(session, services, stored)
    return RecordCheck(evidence_id, record, hash_ok, in_journal, chain_ok, seal_check, logged)


@dataclass(frozen=True)
class EmbeddedInclusion:
    """An inclusion proof and the checkpoint it leads to, as a proof PDF carries them."""

    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]
    note: str
    timestamp_token: bytes | None
    seal: bytes | None


def _check_against_latest(session: DbSession, services: TrustServices, stored: Evidence) -> LogCheck | None:
    latest = latest_checkpoint(session)
    if latest is None or latest.tree_size < stored.seq:
        return None
    try:
        inclusion_proof(session, stored.id, checkpoint=latest)  # computed from the stored tree, and checked
        included = True
    except JournalError:
        included = False
    checkpoint = check_checkpoint(services, latest.note, latest.timestamp_token, latest.seal)
    return LogCheck(latest.tree_size, included, checkpoint, consistent=True)


def _check_embedded_inclusion(
    session: DbSession, services: TrustServices, canonical: bytes, inclusion: EmbeddedInclusion
) -> LogCheck:
    """The proof's own inclusion proof and checkpoint, then whether our log still holds and extends it."""
    checkpoint = check_checkpoint(services, inclusion.note, inclusion.timestamp_token, inclusion.seal)
    signed = checkpoint.checkpoint
    if signed is None:
        return LogCheck(inclusion.tree_size, False, checkpoint, False)
    included = signed.size == inclusion.tree_size and tlog.verify_inclusion(
        inclusion.leaf_index, signed.size, tlog.leaf_hash(canonical), list(inclusion.hashes), signed.root_hash
    )
    return LogCheck(signed.size, included, checkpoint, _still_extended(session, signed.size, signed.root_hash))


def _still_extended(session: DbSession, size: int, root: bytes) -> bool:
    """Our log holds the checkpoint of `size` with this root, and the latest one provably extends it."""
    held = checkpoint_of_size(session, size)
    latest = latest_checkpoint(session)
    if held is None or latest is None or held.root_hash != root.hex():
        return False
    try:
        path = consistency_proof(session, size, latest.tree_size)
    except JournalError:
        return False
    return tlog.verify_consistency(size, latest.tree_size, root, bytes.fromhex(latest.root_hash), path)


def _previous_hash_in(record: Evidence) -> str | None:
    try:
        value = json.loads(record.canonical).get("previous_hash")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def check_evidence_id(session: DbSession, services: TrustServices, evidence_id: str) -> RecordCheck | None:
    stored = session.get(Evidence, evidence_id)
    if stored is None:
        return None
    return check_record(session, services, stored.canonical.encode("utf-8"), stored.seal)


@dataclass
class ProofCheck:
    """A proof PDF checked: its seal, its archive timestamps, and every evidence record it carries."""

    readable: bool
    signature_intact: bool = False
    signature_trusted: bool = False
    # Nothing changed since sealing but the validation data and archive timestamps that long-term
    # validation adds (pyHanko's diff analysis), and not one byte after the last of those.
    unmodified: bool = False
    signed_by: str | None = None
    timestamped_at: datetime | None = None
    # The archive (document) timestamps, oldest first, each intact and by a trusted TSA.
    archive_timestamps: list[datetime] = field(default_factory=list)
    archive_timestamps_ok: bool = False
    # PAdES B-LTA validation with revocation information required (pyHanko's AdES validator).
    lta: LtaCheck | None = None
    # Who stands behind the seal and the timestamps: our trial CA (not for court), or the names to show.
    trial: bool = False
    seal_issuer: str | None = None
    tsa_name: str | None = None
    records: list[RecordCheck] = field(default_factory=list)
    problem: str | None = None

    @property
    def genuine(self) -> bool:
        return (
            self.readable
            and self.signature_intact
            and self.signature_trusted
            and self.unmodified
            and self.timestamped_at is not None
            and (self.archive_timestamps_ok or not self.archive_timestamps)
            and bool(self.records)
            and all(r.genuine for r in self.records)
        )

    @property
    def long_term(self) -> bool:
        """Verifiable for the long term (PAdES B-LTA, revocation information required)."""
        return self.lta is not None and self.lta.valid

    @property
    def attested(self) -> RecordCheck | None:
        """The record of the event the proof attests: the last one it carries, except that a proof of
        reception may list the download that followed the acceptance it attests."""
        if not self.records:
            return None
        if self.records[0].event == "SubmissionAcceptance" and self.records[-1].event == "ContentHandover":
            accepted = [r for r in self.records if r.event == "ConsignmentAcceptance"]
            if accepted:
                return accepted[-1]
        return self.records[-1]


def check_proof_pdf(session: DbSession, services: TrustServices, data: bytes) -> ProofCheck:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        seals = reader.embedded_regular_signatures
        timestamps = document_timestamps(reader)
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError) as exc:
        return ProofCheck(readable=False, problem=f"not a readable PDF: {exc}")
    if len(seals) != 1:
        return ProofCheck(readable=True, problem="a proof carries exactly one signature, its seal")
    seal = seals[0]
    if any(ts.signed_revision < seal.signed_revision for ts in timestamps):
        return ProofCheck(readable=True, problem="a document timestamp precedes the seal")
    try:
        status = run_sync(
            async_validate_pdf_signature(seal, signer_validation_context=services.trust.validation_context())
        )
        timestamp_statuses = [
            run_sync(async_validate_pdf_timestamp(ts, validation_context=services.trust.validation_context()))
            for ts in timestamps
        ]
    except (ValueError, KeyError, TypeError, PdfReadError) as exc:
        return ProofCheck(readable=True, problem=f"the signature cannot be read: {exc}")
    timestamp = status.timestamp_validity
    ts_ok = timestamp is not None and timestamp.intact and timestamp.valid and timestamp.trusted
    last = timestamps[-1] if timestamps else seal
    level = status.modification_level
    check = ProofCheck(
        readable=True,
        signature_intact=bool(status.intact and status.valid),
        signature_trusted=bool(status.trusted),
        unmodified=bool(
            status.docmdp_ok is not False
            and level is not None
            and level <= ModificationLevel.LTA_UPDATES
            and covers_whole_file(last)
        ),
        signed_by=status.signing_cert.subject.human_friendly,
        timestamped_at=timestamp.timestamp if ts_ok and timestamp is not None else None,
        trial=services.trust.disclosure.trial,
        seal_issuer=display_name(status.signing_cert.issuer),
        tsa_name=display_name(timestamp.signing_cert.subject) if timestamp is not None else None,
        archive_timestamps=[token_time(ts) for ts in timestamps],
        archive_timestamps_ok=bool(timestamps) and all(s.intact and s.valid and s.trusted for s in timestamp_statuses),
    )
    check.lta = check_lta(seal, services.trust.lta_spec(), services.clock.now())
    check.records = [
        check_record(session, services, body, record_seal, inclusion)
        for body, record_seal, inclusion in _embedded_records(data)
    ]
    if not check.records:
        check.problem = "the proof carries no evidence record"
    return check


def _embedded_records(data: bytes) -> list[tuple[bytes, bytes | None, EmbeddedInclusion | None]]:
    """(canonical JSON, individual seal, inclusion proof) of the evidence files attached to a proof, in order."""
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
    except (PyPdfError, ValueError, KeyError, TypeError):
        return []

    def first(name: str) -> bytes | None:
        found = attachments.get(name)
        return found[0] if found else None

    note = first(CHECKPOINT_FILE)
    token = _token_of(first(CHECKPOINT_TSR_FILE))
    checkpoint_seal = first(CHECKPOINT_SEAL_FILE)
    found = []
    for name in sorted(n for n in attachments if n.startswith("evidence-") and n.endswith(".json")):
        body = attachments[name][0]
        seal = first(name.removesuffix(".json") + ".p7s")
        inclusion = None
        sequence = name.split("-")[1]
        proof = first(f"inclusion-{sequence}.json")
        if proof is not None and note is not None:
            inclusion = _inclusion_of(proof, note.decode("utf-8", "replace"), token, checkpoint_seal)
        found.append((body, seal, inclusion))
    return found


def _inclusion_of(raw: bytes, note: str, token: bytes | None, seal: bytes | None) -> EmbeddedInclusion | None:
    try:
        parsed = json.loads(raw)
        return EmbeddedInclusion(
            int(parsed["leaf_index"]),
            int(parsed["tree_size"]),
            tuple(bytes.fromhex(h) for h in parsed["hashes"]),
            note,
            token,
            seal,
        )
    except (ValueError, KeyError, TypeError):
        return None


def _token_of(response: bytes | None) -> bytes | None:
    """The token inside a TimeStampResp (the `.tsr` a proof carries)."""
    if response is None:
        return None
    try:
        parsed = tsp.TimeStampResp.load(response)
        token = parsed["time_stamp_token"]
        return bytes(token.dump()) if token.native is not None else None
    except (ValueError, TypeError, KeyError):
        return None
