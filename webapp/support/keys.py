"""Key rotation without downtime: which keys are in use, rotating them, and how far a rotation has gone.

**Master key.**  Every encrypted object has its own data key, wrapped by a master key whose id the row
keeps.  A rotation: the new key becomes MASTER_KEY (every new data key is wrapped by it at once) and the
old one moves to MASTER_KEYS (still read); `rewrap` then re-wraps the old data keys with the new key, a
batch per transaction (resumable: a row already moved is not selected again, and the sweeper
`sweepers.KEY_REWRAP` hands an unfinished rotation back to a worker).  Objects are never re-encrypted:
only their wrapped keys change, in the database.  Once no row names the old key, it can leave MASTER_KEYS.

**Seal and timestamp keys** (the local CA's): a new generation of leaf certificates and keys takes over for
new records and proofs at once; the old certificates stay published (`archive/`) with their CRLs, so old
proofs keep validating (`webapp.trust.keys.rotate_local`).  A configured seal (SEAL_CERT, or a PKCS#11
token) is rotated by configuring the new one; its CA publishes the old one's status.

Each rotation is a `KeyRotation` row and an entry in the agents' audit log (who, why).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from webapp.extensions import DbSession
from webapp.models import (
    Agent,
    BatchDocument,
    KeyRotation,
    OutboundMessage,
    Proof,
    StoredDocument,
    User,
    WebhookEndpoint,
)
from webapp.models.organisation import EmailConfirmation, Invitation
from webapp.models.types import new_id
from webapp.services import Services
from webapp.support.audit import AuditAction, record_action
from webapp.trust.canonical import canonical_json
from webapp.trust.evidence import isoformat_utc
from webapp.vault import Vault

log = logging.getLogger(__name__)

MASTER = "master"
SEAL = "seal"

# Every table that holds data keys wrapped by the master key: (model, key id column, wrapped key column).
WRAPPED_KEYS: tuple[tuple[Any, str, str], ...] = (
    (StoredDocument, "key_id", "wrapped_key"),
    (Proof, "key_id", "wrapped_key"),
    (BatchDocument, "key_id", "wrapped_key"),
    (OutboundMessage, "secret_key_id", "secret_wrapped_key"),
    (WebhookEndpoint, "secret_key_id", "secret_wrapped_key"),
    (User, "totp_key_id", "totp_wrapped_key"),
    (Agent, "totp_key_id", "totp_wrapped_key"),
    (Invitation, "token_key_id", "token_wrapped_key"),
    (EmailConfirmation, "token_key_id", "token_wrapped_key"),
)


class RotationError(Exception):
    """The rotation cannot start (or go on): the message says why."""


@dataclass(frozen=True)
class RotationView:
    id: str
    kind: str
    old_key_id: str | None
    new_key_id: str
    started_at: datetime
    finished_at: datetime | None
    started_by: str
    rewrapped: int
    sealed: bool  # its record's seal and timestamp check out


@dataclass(frozen=True)
class KeysStatus:
    """What the CLI and the operations page show."""

    master_key_id: str
    readable_key_ids: tuple[str, ...]
    data_keys: dict[str, int]  # master key id → data keys it wraps
    remaining: int  # data keys not yet wrapped by the current master key
    seal_certificates: tuple[tuple[str, str, str], ...]  # (role, subject, SHA-256 fingerprint), current first
    rotations: tuple[RotationView, ...]


def key_usage(session: DbSession) -> dict[str, int]:
    """How many data keys each master key wraps, across every table."""
    usage: dict[str, int] = {}
    for model, key_column, _ in WRAPPED_KEYS:
        column = getattr(model, key_column)
        for key_id, count in session.execute(
            select(column, func.count()).where(column.is_not(None)).group_by(column)
        ).all():
            usage[key_id] = usage.get(key_id, 0) + count
    return usage


def rewrap(session: DbSession, vault: Vault, *, batch: int = 200, rotation_id: str | None = None) -> int:
    """Re-wraps every data key not wrapped by the current master key; returns how many.

    One batch per transaction, rows locked (others skipped, a concurrent run takes them): stopped at
    any point, it resumes where it was.  A key no configured master key can open stops it (RotationError).
    """
    total = 0
    for model, key_column, wrapped_column in WRAPPED_KEYS:
        column = getattr(model, key_column)
        while True:
            rows = list(
                session.execute(
                    select(model)
                    .where(column.is_not(None), column != vault.key_id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not rows:
                session.commit()
                break
            for row in rows:
                key_id = getattr(row, key_column)
                if key_id not in vault.key_ids:
                    session.rollback()
                    raise RotationError(f"a data key is wrapped by master key {key_id}, which is not configured")
                new_id, wrapped = vault.rewrap(key_id, bytes(getattr(row, wrapped_column)))
                setattr(row, key_column, new_id)
                setattr(row, wrapped_column, wrapped)
            total += len(rows)
            if rotation_id is not None:
                rotation = session.get(KeyRotation, rotation_id)
                if rotation is not None:
                    rotation.rewrapped += len(rows)
            session.commit()
    return total


def start_master_rotation(session: DbSession, services: Services, agent: Agent, *, reason: str) -> KeyRotation:
    """Records a master key rotation to the key now configured, and audits it; the caller commits and
    enqueues (or runs) `rewrap`.  Refused when every data key is already wrapped by it."""
    vault = services.vault
    usage = key_usage(session)
    old = sorted(key_id for key_id in usage if key_id != vault.key_id)
    if not old:
        raise RotationError(
            "every data key is already wrapped by the current master key: set the new key as MASTER_KEY and "
            "the old one in MASTER_KEYS first (or `flask keys new-master` on the embedded setup)"
        )
    unreadable = [key_id for key_id in old if key_id not in vault.key_ids]
    if unreadable:
        raise RotationError(f"master key(s) {', '.join(unreadable)} are not in MASTER_KEYS: old data would be lost")
    rotation = _record(session, services, agent, MASTER, ",".join(old), vault.key_id, reason)
    return rotation


def finish_master_rotations(session: DbSession, services: Services) -> int:
    """Marks finished the master key rotations whose old keys wrap nothing any more."""
    usage = key_usage(session)
    left = sum(count for key_id, count in usage.items() if key_id != services.vault.key_id)
    finished = 0
    if left == 0:
        for rotation in session.execute(
            select(KeyRotation).where(KeyRotation.kind == MASTER, KeyRotation.finished_at.is_(None))
        ).scalars():
            rotation.finished_at = services.clock.now()
            finished += 1
    session.commit()
    return finished


def rewrap_job(rotation_id: str) -> int:
    """The re-wrapping of one rotation, as a job (enqueued by the CLI, handed back by `sweepers.KEY_REWRAP`)."""
    from webapp.extensions import db
    from webapp.services import current_services

    services = current_services()
    done = rewrap(db.session, services.vault, rotation_id=rotation_id)
    finish_master_rotations(db.session, services)
    log.info("rotation %s: %d data keys re-wrapped", rotation_id, done)
    return done


def rotate_seal(session: DbSession, services: Services, agent: Agent, *, reason: str) -> KeyRotation:
    """A new generation of the local seal and TSA keys and certificates, at once; the old ones stay
    published with their CRLs.  Recorded and audited; the caller commits."""
    trust = services.trust
    if trust.material.local is None:
        # A configured seal (files, PKCS#12 or a PKCS#11 token) is rotated by configuring the new one; this
        # records that it took over, from the one recorded last.
        current = _fingerprint(trust.material.seal.cert)
        last = session.execute(
            select(KeyRotation.new_key_id)
            .where(KeyRotation.kind == SEAL)
            .order_by(KeyRotation.started_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last == current:
            raise RotationError("the configured seal is the one recorded last: configure the new seal first")
        rotation = _record(session, services, agent, SEAL, last, current, reason, configured=True)
    else:
        before = trust.material.seal.cert
        generation = trust.rotate()
        after = trust.material.seal.cert
        rotation = _record(
            session, services, agent, SEAL, _fingerprint(before), _fingerprint(after), reason, generation=generation
        )
    rotation.finished_at = services.clock.now()
    return rotation


def _fingerprint(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    return str(cert.fingerprint(hashes.SHA256()).hex())


def _record(
    session: DbSession,
    services: Services,
    agent: Agent,
    kind: str,
    old: str | None,
    new: str,
    reason: str,
    **details: Any,
) -> KeyRotation:
    now = services.clock.now()
    rotation = KeyRotation(id=new_id(), kind=kind, old_key_id=old, new_key_id=new, started_at=now)
    rotation.started_by = f"agent:{agent.id}"
    # Evidence of the rotation: its record, sealed and timestamped (with the seal in force after it).
    document = {
        "type": "KeyRotation",
        "rotation_id": rotation.id,
        "kind": kind,
        "old": old,
        "new": new,
        "at": isoformat_utc(now),
        "by": rotation.started_by,
        "issuer": services.issuer,
        **{key: str(value) for key, value in details.items()},
    }
    canonical = canonical_json(document)
    rotation.record = canonical.decode()
    rotation.seal = services.trust.seal(canonical)
    session.add(rotation)
    session.flush()
    record_action(
        session,
        services.clock,
        agent,
        AuditAction.ROTATE_KEY,
        reason=reason,
        details={"rotation_id": rotation.id, "kind": kind, "old": old, "new": new, **details},
    )
    return rotation


def rotation_sealed(services: Services, rotation: KeyRotation) -> bool:
    """Whether the rotation's record is intact, sealed by our seal and timestamped."""
    if rotation.record is None or rotation.seal is None:
        return False
    return services.trust.check(rotation.record.encode(), bytes(rotation.seal)).ok


def keys_status(session: DbSession, services: Services) -> KeysStatus:
    usage = key_usage(session)
    material = services.trust.material
    certificates = [("seal", material.seal.cert)]
    if material.tsa is not None:
        certificates.append(("tsa", material.tsa.cert))
    if material.local is not None:
        from webapp.trust.keys import archived_certificates

        certificates += [("archived", cert) for cert in archived_certificates(material.local.directory)]
    rotations = session.execute(select(KeyRotation).order_by(KeyRotation.started_at.desc()).limit(20)).scalars()
    status = KeysStatus(
        master_key_id=services.vault.key_id,
        readable_key_ids=services.vault.key_ids,
        data_keys=usage,
        remaining=sum(count for key_id, count in usage.items() if key_id != services.vault.key_id),
        seal_certificates=tuple(
            (role, cert.subject.rfc4514_string(), _fingerprint(cert)) for role, cert in certificates
        ),
        rotations=tuple(
            RotationView(
                r.id,
                r.kind,
                r.old_key_id,
                r.new_key_id,
                r.started_at,
                r.finished_at,
                r.started_by,
                r.rewrapped,
                rotation_sealed(services, r),
            )
            for r in rotations
        ),
    )
    session.commit()
    return status
