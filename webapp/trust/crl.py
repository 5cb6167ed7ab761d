"""The local root CA's certificate revocation lists (RFC 5280), published at `GET /trust/crl`.

Every certificate the embedded default issues names a CRL.  A validator that
requires revocation information (PAdES B-LTA, "revocation required") needs
one signed by the root and current at the moment it checks: each proof embeds
the CRLs current when it was signed, and `/trust/crl` serves today's.

The local seal and TSA certificates are issued together, in generations
(`webapp.trust.keys.CrlPartition`); generation *n* names
`<PUBLIC_URL>/trust/crl/<n>`, and its CRL carries that URL as its issuing
distribution point, so that it speaks of that generation only.
`/trust/crl` is the current generation's.  Certificates made before CRLs
existed (generation 0, kept under `archive/` for what they signed) name none:
their CRL, `/trust/crl/0`, is a full one, issued until they expire.  A CRL is valid `CRL_VALIDITY`
(7 days, never beyond its certificates' end: once they have expired no CRL
claims anything about them) and is reissued once it is `CRL_REISSUE_AFTER`
(1 day) old, by the scheduler (`webapp.jobs.refresh_trust`) and, should the
scheduler stop, by whichever process needs one.  The CRLs live in `crl/` beside
the keys, with the last CRL number used (increasing, RFC 5280 §5.2.3); they
are written under the trust directory's lock, so that several processes agree
on one CRL at a time.  They list no certificate: superseded local
certificates are not revoked (what they signed stays valid).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from webapp.trust.keys import BACKDATE, CrlPartition, LocalAuthority, directory_lock

CRL_VALIDITY = timedelta(days=7)
CRL_REISSUE_AFTER = timedelta(days=1)
CRL_DIRECTORY = "crl"
NUMBER_FILE = "number"


@dataclass(frozen=True)
class Crl:
    """A DER CRL and the dates a cache needs."""

    der: bytes
    number: int
    this_update: datetime
    next_update: datetime


def read_crl(der: bytes) -> Crl:
    crl = x509.load_der_x509_crl(der)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    next_update = crl.next_update_utc
    if next_update is None:
        raise ValueError("the CRL has no nextUpdate")
    return Crl(der=der, number=number, this_update=crl.last_update_utc, next_update=next_update)


def partition_crl(local: LocalAuthority, generation: int, now: datetime) -> Crl | None:
    """Generation `generation`'s CRL: the one in force (issued if due) while its certificates live, the
    last one issued afterwards; None for a generation we never had."""
    partition = local.partition(generation)
    if partition is None:
        return None
    stored = _stored(local, partition)
    if now >= partition.ends_at or (stored is not None and not _due(stored, now)):
        return stored
    with directory_lock(local.directory):
        stored = _stored(local, partition)  # another process may have issued it while we waited
        if stored is not None and not _due(stored, now):
            return stored
        return _issue(local, partition, now)


def current_crl(local: LocalAuthority, now: datetime) -> Crl:
    """The CRL of the current seal and TSA certificates (what `/trust/crl` serves)."""
    crl = partition_crl(local, local.generation, now)
    if crl is None:
        raise RuntimeError("the current certificates have no CRL")  # their generation is among the partitions
    return crl


def crls_in_force(local: LocalAuthority, now: datetime) -> list[Crl]:
    """The CRL of every generation whose certificates have not all expired: what validating, now, anything
    they signed needs (an archive timestamp renewed with the next generation, say)."""
    crls = []
    for partition in local.partitions:
        if now < partition.ends_at:
            crl = partition_crl(local, partition.generation, now)
            if crl is not None:
                crls.append(crl)
    return crls


def _path(local: LocalAuthority, partition: CrlPartition) -> Path:
    return local.directory / CRL_DIRECTORY / f"{partition.generation}.der"


def _stored(local: LocalAuthority, partition: CrlPartition) -> Crl | None:
    """The partition's CRL on disk, if it is one our root signed for it."""
    try:
        der = _path(local, partition).read_bytes()
        crl = x509.load_der_x509_crl(der)
        root_key = local.root.public_key()
        if not isinstance(root_key, ec.EllipticCurvePublicKey):
            return None
        if crl.issuer != local.root.subject or not crl.is_signature_valid(root_key):
            return None
        return read_crl(der)
    except (OSError, ValueError, InvalidSignature, x509.ExtensionNotFound):
        return None


def _due(crl: Crl, now: datetime) -> bool:
    """A day old, or dated after `now` (a clock put back): issue the next one."""
    issued_at = crl.this_update + BACKDATE
    return now >= issued_at + CRL_REISSUE_AFTER or now < crl.this_update


def _last_number(local: LocalAuthority) -> int:
    try:
        return int((local.directory / CRL_DIRECTORY / NUMBER_FILE).read_text().strip())
    except (OSError, ValueError):
        return 0


def _issue(local: LocalAuthority, partition: CrlPartition, now: datetime) -> Crl:
    key = local.key
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the local root key must be ECDSA")
    stored = _stored(local, partition)
    number = max(_last_number(local), stored.number if stored is not None else 0) + 1
    this_update = now - BACKDATE  # like the certificates: tolerate small clock skews between hosts
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(local.root.subject)
        .last_update(this_update)
        .next_update(min(this_update + CRL_VALIDITY, partition.ends_at))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    if partition.url:
        builder = builder.add_extension(
            x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(partition.url)],
                relative_name=None,
                only_contains_user_certs=True,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            ),
            critical=True,
        )
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    (local.directory / CRL_DIRECTORY).mkdir(exist_ok=True)
    # The number first: a crash between the two writes skips a number, never reuses one.
    _replace(local.directory / CRL_DIRECTORY / NUMBER_FILE, f"{number}\n".encode())
    _replace(_path(local, partition), der)
    return read_crl(der)


def _replace(path: Path, data: bytes) -> None:
    """Writes `path` atomically: readers see the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
