"""Keys and certificates: the electronic seal, the timestamp authority, and their trust anchor.

On the embedded default, the first run creates under `instance/trust/` a local
root CA, a seal certificate and a timestamp-authority certificate (EKU
timeStamping, critical).  In production they come from configuration (PEM or
PKCS#12 files, passphrase from the environment); see `TrustSettings`.

The local leaf certificates name the CRL the root publishes at
`<PUBLIC_URL>/trust/crl` (see `webapp.trust.crl`), so that a validator can
check them without trusting us on our word.  A leaf that names no CRL (an
instance created before the CRL existed), names another URL (PUBLIC_URL
changed), or nears its end while proofs still need timestamps from it, is
replaced by a new key and certificate from the same root; the old certificate
is kept under `archive/`, so that what it signed keeps validating.

Keys are ECDSA P-256: fast to create and to use, and accepted by every PDF
validator and by OpenSSL.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

# Where the local root publishes its CRL, below PUBLIC_URL (the route is in webapp.web.public.trust).
CRL_PATH = "/trust/crl"
ROOT_VALIDITY = timedelta(days=20 * 365)
LEAF_VALIDITY = timedelta(days=10 * 365)
# Certificates start a little in the past: tolerate small clock skews between hosts.
BACKDATE = timedelta(minutes=5)


class TrustConfigError(RuntimeError):
    """The seal or timestamp keys are missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Pkcs11Key:
    """A private key that never leaves its PKCS#11 token (an HSM): where to find it, and the PIN."""

    module: str
    token: str
    label: str
    pin: str = field(default="", repr=False)


@dataclass(frozen=True)
class KeyPair:
    """A private key (or where it lives in a token), its certificate and the chain up to (not including) the root."""

    key: ec.EllipticCurvePrivateKey | PrivateKeyTypes | Pkcs11Key
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return to_asn1_cert(self.cert)

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        if isinstance(self.key, Pkcs11Key):
            raise TrustConfigError("the key is in a PKCS#11 token: it signs there, it is never exported")
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return asn1_keys.PrivateKeyInfo.load(der)


@dataclass(frozen=True)
class CrlPartition:
    """The local leaf certificates issued together (one generation), and the CRL that covers them.

    Each generation names its own CRL (`<PUBLIC_URL>/trust/crl/<generation>`,
    an RFC 5280 §5.2.5 issuing distribution point), issued until its
    certificates expire and never after.  A validator checking, years later,
    a seal or a timestamp whose certificate has expired then finds no fresher
    CRL for it than the ones the proof's archive timestamps protect, and
    validates it in the past (ETSI EN 319 102-1 §5.6.2.1); a single CRL for
    every certificate, kept fresh, would say "valid now" of an expired one.
    """

    generation: int
    # What its certificates name, and its CRLs' issuing distribution point.  Empty for generation 0,
    # the certificates made before CRLs existed, which name none: their CRL is a full one (no IDP).
    url: str
    ends_at: datetime  # when its last certificate expires


@dataclass(frozen=True)
class LocalAuthority:
    """The embedded default's root CA: it issues the leaf certificates and their CRLs."""

    directory: Path
    root: x509.Certificate
    key: PrivateKeyTypes = field(repr=False)
    generation: int = 1  # the generation of the current seal and TSA certificates
    partitions: tuple[CrlPartition, ...] = ()

    def partition(self, generation: int) -> CrlPartition | None:
        return next((p for p in self.partitions if p.generation == generation), None)

    @property
    def current(self) -> CrlPartition:
        partition = self.partition(self.generation)
        if partition is None:
            raise TrustConfigError(f"no CRL partition for the current generation {self.generation}")
        return partition


@dataclass(frozen=True)
class TrustMaterial:
    """Everything the service signs and timestamps with."""

    root: x509.Certificate
    seal: KeyPair
    tsa: KeyPair | None  # None when an external TSA (TSA_URL) is used
    # The embedded default's CA (None when the seal is configured): it issues our CRL.
    local: LocalAuthority | None = None
    # Anchors of an external TSA that does not chain to `root` (TSA_ROOT_CERT).
    tsa_roots: tuple[x509.Certificate, ...] = ()
    # On the embedded default, a fingerprint of the leaf certificate files (see `local_generation`).
    generation: tuple[int, ...] = ()

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        """The root, then any other anchor an external TSA chains to."""
        return (self.root, *(c for c in self.tsa_roots if c != self.root))


@dataclass(frozen=True)
class TrustSettings:
    """Where the keys come from.  With nothing set, local keys are generated in `directory`."""

    directory: Path
    seal_cert: Path | None = None
    seal_key: Path | None = None
    seal_pkcs12: Path | None = None
    seal_passphrase: str | None = None
    seal_pkcs11: Pkcs11Key | None = None
    root_cert: Path | None = None
    tsa_cert: Path | None = None
    tsa_key: Path | None = None
    tsa_passphrase: str | None = None
    tsa_pkcs11: Pkcs11Key | None = None
    tsa_url: str | None = None
    tsa_root_cert: Path | None = None
    organisation: str = "Wassit"
    # The local leaf certificates name <public_url>/trust/crl.
    public_url: str = "http://localhost:5000"
    # A local leaf certificate that expires within this is replaced (while the root allows a later end).
    renew_within: timedelta = timedelta(days=395)

    @property
    def generated(self) -> bool:
        return not (self.seal_cert or self.seal_pkcs12)


def display_name(name: x509.Name | asn1_x509.Name) -> str:
    """A certificate name as people read it: its common name, else its organisation, else the whole DN."""
    if isinstance(name, asn1_x509.Name):
        native = name.native
        return str(native.get("common_name") or native.get("organization_name") or name.human_friendly)
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = name.get_attributes_for_oid(oid)
        if attributes:
            return str(attributes[0].value)
    return name.rfc4514_string()


def to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def load_trust_material(settings: TrustSettings, now: datetime | None = None, *, rotate: bool = False) -> TrustMaterial:
    """The keys and certificates the settings name; on the embedded default, created or renewed as needed.

    `rotate`: a new generation of the local seal and TSA keys and certificates now, whatever their dates
    (the old certificates are archived, and stay published with their generation's CRL)."""
    now = now or datetime.now(UTC)
    tsa_roots = tuple(_load_certs(settings.tsa_root_cert)) if settings.tsa_root_cert else ()
    if settings.generated:
        material = _load_or_create_local(
            settings.directory,
            settings.organisation,
            with_tsa=settings.tsa_url is None,
            crl_base=settings.public_url.rstrip("/") + CRL_PATH,
            now=now,
            renew_within=settings.renew_within,
            rotate=rotate,
        )
        return TrustMaterial(material.root, material.seal, material.tsa, material.local, tsa_roots, material.generation)
    if rotate:
        raise TrustConfigError(
            "the seal is configured (SEAL_CERT/SEAL_PKCS12/PKCS#11): rotate it by configuring the new one, "
            "its CA keeps publishing the old one's status"
        )
    seal = _load_configured_seal(settings)
    if settings.root_cert is None:
        raise TrustConfigError("TRUST_ROOT_CERT is required with a configured seal certificate")
    root = _load_certs(settings.root_cert)[0]
    _check_chains_to(root, seal, "seal")
    tsa: KeyPair | None = None
    if settings.tsa_url is None:
        if settings.tsa_cert is None or (settings.tsa_key is None and settings.tsa_pkcs11 is None):
            raise TrustConfigError("set TSA_URL, or TSA_CERT and TSA_KEY (or TSA_PKCS11_KEY) for the built-in TSA")
        certs = _load_certs(settings.tsa_cert)
        _check_tsa_certificate(certs[0])
        tsa_key = (
            settings.tsa_pkcs11
            if settings.tsa_pkcs11 is not None
            else _load_key(settings.tsa_key, settings.tsa_passphrase)  # type: ignore[arg-type]
        )
        tsa = _matching("TSA", KeyPair(tsa_key, certs[0], tuple(certs[1:])))
        _check_chains_to(root, tsa, "TSA")
    return TrustMaterial(root=root, seal=seal, tsa=tsa, tsa_roots=tsa_roots)


def _check_chains_to(root: x509.Certificate, pair: KeyPair, what: str) -> None:
    """Each certificate of the chain is signed by the next, and the last by the root."""
    issuers = [c for c in pair.chain if c != root] + [root]
    certificate = pair.cert
    for issuer in issuers:
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise TrustConfigError(
                f"the {what} certificate does not chain to TRUST_ROOT_CERT ({issuer.subject.rfc4514_string()})"
            ) from exc
        certificate = issuer
        if certificate == root:
            return


def _load_configured_seal(settings: TrustSettings) -> KeyPair:
    if settings.seal_pkcs11 is not None:
        if settings.seal_cert is None:
            raise TrustConfigError("SEAL_PKCS11_MODULE needs SEAL_CERT (the seal's certificate and chain)")
        certs = _load_certs(settings.seal_cert)
        return KeyPair(settings.seal_pkcs11, certs[0], tuple(certs[1:]))
    passphrase = settings.seal_passphrase.encode() if settings.seal_passphrase else None
    if settings.seal_pkcs12 is not None:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(settings.seal_pkcs12.read_bytes(), passphrase)
        except (OSError, ValueError) as exc:
            raise TrustConfigError(f"cannot read the seal PKCS#12 file: {exc}") from exc
        if key is None or cert is None:
            raise TrustConfigError("the seal PKCS#12 file has no key or no certificate")
        return _matching("seal", KeyPair(key, cert, tuple(extra)))
    if settings.seal_cert is None or settings.seal_key is None:
        raise TrustConfigError("SEAL_CERT needs SEAL_KEY (or use SEAL_PKCS12)")
    certs = _load_certs(settings.seal_cert)
    return _matching(
        "seal", KeyPair(_load_key(settings.seal_key, settings.seal_passphrase), certs[0], tuple(certs[1:]))
    )


def _matching(what: str, pair: KeyPair) -> KeyPair:
    """The pair, if its key is the one its certificate certifies (else every signature would be invalid)."""
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(pair.key, Pkcs11Key):
        return pair  # the token signs; a mismatch shows at the first signature
    if pair.key.public_key().public_bytes(*spki) != pair.cert.public_key().public_bytes(*spki):
        raise TrustConfigError(f"the {what} key does not match the {what} certificate")
    return pair


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (OSError, ValueError) as exc:
        raise TrustConfigError(f"cannot read certificate {path}: {exc}") from exc


def _load_key(path: Path, passphrase: str | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), passphrase.encode() if passphrase else None)
    except (OSError, ValueError, TypeError) as exc:
        raise TrustConfigError(f"cannot read private key {path}: {exc}") from exc


def _check_tsa_certificate(cert: x509.Certificate) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise TrustConfigError("the TSA certificate lacks the timeStamping extended key usage") from exc
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TrustConfigError("the TSA certificate's EKU must be timeStamping only, and critical")


# --- the embedded default: a local CA, created once -------------------------------------------

_FILES = ("root.pem", "root-key.pem", "seal.pem", "seal-key.pem", "tsa.pem", "tsa-key.pem")
# The two leaf certificates: (file stem, extended key usage).
_LEAVES: tuple[tuple[str, list[x509.ObjectIdentifier] | None], ...] = (
    ("seal", None),
    ("tsa", [ExtendedKeyUsageOID.TIME_STAMPING]),
)


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Serialises the processes (web workers, RQ workers, schedulers) that create or renew files here."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def local_generation(directory: Path) -> tuple[int, ...]:
    """A fingerprint of the current leaf certificate files: it changes when one is replaced."""
    stamps: list[int] = []
    for stem, _ in _LEAVES:
        try:
            info = (directory / f"{stem}.pem").stat()
        except OSError:
            stamps += [0, 0]
            continue
        stamps += [info.st_ino, info.st_mtime_ns]
    return tuple(stamps)


def _load_or_create_local(
    directory: Path,
    organisation: str,
    *,
    with_tsa: bool,
    crl_base: str,
    now: datetime,
    renew_within: timedelta,
    rotate: bool = False,
) -> TrustMaterial:
    with directory_lock(directory):
        # Several processes start at once: only one creates (or renews) the keys.
        if not all((directory / name).exists() for name in _FILES):
            _create_local(directory, organisation, f"{crl_base}/1", now)
        root = _load_certs(directory / "root.pem")[0]
        root_key = _load_key(directory / "root-key.pem", None)
        for stem, _ in _LEAVES:
            _finish_replacement(directory, stem)
        leaves = {stem: _load_certs(directory / f"{stem}.pem")[0] for stem, _ in _LEAVES}
        reasons = [
            f"the {stem} certificate {reason}"
            for stem, cert in leaves.items()
            if (reason := _replacement_reason(cert, crl_base, now, renew_within, root)) is not None
        ]
        if rotate:
            reasons.append("were rotated on request")
        if reasons:
            known = [*leaves.values(), *archived_certificates(directory)]
            generation = max((g for cert in known if (g := certificate_generation(cert)) is not None), default=0) + 1
            log.warning("issuing generation %d of the local certificates: %s", generation, "; ".join(reasons))
            for stem, eku in _LEAVES:
                _replace_leaf(directory, stem, leaves[stem], eku, root, root_key, f"{crl_base}/{generation}", now)
        seal = KeyPair(_load_key(directory / "seal-key.pem", None), _load_certs(directory / "seal.pem")[0])
        tsa = KeyPair(_load_key(directory / "tsa-key.pem", None), _load_certs(directory / "tsa.pem")[0])
        archived = archived_certificates(directory)
        generation_now = local_generation(directory)
    current = certificate_generation(seal.cert)
    if current is None:
        raise TrustConfigError("the local seal certificate names no CRL generation")
    local = LocalAuthority(
        directory=directory,
        root=root,
        key=root_key,
        generation=current,
        partitions=_partitions([seal.cert, tsa.cert, *archived]),
    )
    return TrustMaterial(root=root, seal=seal, tsa=tsa if with_tsa else None, local=local, generation=generation_now)


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The CRL distribution point URLs a certificate names."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


_GENERATION = re.compile(re.escape(CRL_PATH) + r"/([1-9][0-9]*)$")


def certificate_generation(cert: x509.Certificate) -> int | None:
    """The generation of a local leaf certificate, read from the CRL it names (…/trust/crl/<generation>)."""
    urls = crl_urls(cert)
    match = _GENERATION.search(urls[0]) if len(urls) == 1 else None
    return int(match.group(1)) if match else None


def _partitions(certs: list[x509.Certificate]) -> tuple[CrlPartition, ...]:
    """The CRL partitions the local certificates name, each ending when its last certificate expires."""
    found: dict[int, CrlPartition] = {}
    for cert in certs:
        generation = certificate_generation(cert)
        if generation is None and crl_urls(cert):
            continue  # names another CRL than ours: not one of our partitions
        generation = generation or 0  # made before CRLs existed (generation 0)
        known = found.get(generation)
        ends_at = max(cert.not_valid_after_utc, known.ends_at) if known else cert.not_valid_after_utc
        found[generation] = CrlPartition(generation, crl_urls(cert)[0] if generation else "", ends_at)
    return tuple(found[g] for g in sorted(found))


def _leaf_end(now: datetime, root: x509.Certificate) -> datetime:
    """A new leaf's end: ten years on, but never after its root's."""
    return min(now + LEAF_VALIDITY, root.not_valid_after_utc)


def _replacement_reason(
    cert: x509.Certificate, crl_base: str, now: datetime, renew_within: timedelta, root: x509.Certificate
) -> str | None:
    """Why a local leaf certificate must be replaced, or None while it is fine."""
    urls = crl_urls(cert)
    if not urls:
        return "names no CRL distribution point"
    if certificate_generation(cert) is None or not urls[0].startswith(crl_base + "/"):
        return f"names the CRL at {', '.join(urls)}, not one under {crl_base}"
    if cert.not_valid_after_utc - now < renew_within:
        if _leaf_end(now, root) > cert.not_valid_after_utc + timedelta(days=1):
            return f"expires on {cert.not_valid_after_utc:%Y-%m-%d}"
        log.error(
            "the local %s certificate expires on %s and the local root CA on %s: no later certificate can be "
            "issued, so archive timestamps can no longer be renewed (a trial setup: configure a real CA)",
            cert.subject.rfc4514_string(),
            f"{cert.not_valid_after_utc:%Y-%m-%d}",
            f"{root.not_valid_after_utc:%Y-%m-%d}",
        )
    return None


def _name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(**granted: bool) -> x509.KeyUsage:
    """A KeyUsage extension granting only the named usages."""
    usages = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{usage: granted.get(usage, False) for usage in usages})


def _issue_leaf(
    subject: x509.Name,
    eku: list[x509.ObjectIdentifier] | None,
    root: x509.Certificate,
    root_key: PrivateKeyTypes,
    crl_url: str,
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and its certificate, signed by the local root, naming the root's CRL."""
    if not isinstance(root_key, ec.EllipticCurvePrivateKey):
        raise TrustConfigError("the local root key must be ECDSA")
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(_leaf_end(now, root))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
            ),
            critical=False,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return key, builder.sign(root_key, hashes.SHA256())


def _create_local(directory: Path, organisation: str, crl_url: str, now: datetime) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(organisation, f"{organisation} Local Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now - BACKDATE + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    seal_key, seal = _issue_leaf(
        _name(organisation, f"{organisation} Electronic Seal"), None, root, root_key, crl_url, now
    )
    tsa_key, tsa = _issue_leaf(
        _name(organisation, f"{organisation} Timestamp Authority"),
        [ExtendedKeyUsageOID.TIME_STAMPING],
        root,
        root_key,
        crl_url,
        now,
    )
    _write(directory / "root-key.pem", _key_pem(root_key), private=True)
    _write(directory / "seal-key.pem", _key_pem(seal_key), private=True)
    _write(directory / "tsa-key.pem", _key_pem(tsa_key), private=True)
    _write(directory / "root.pem", root.public_bytes(serialization.Encoding.PEM))
    _write(directory / "seal.pem", seal.public_bytes(serialization.Encoding.PEM))
    _write(directory / "tsa.pem", tsa.public_bytes(serialization.Encoding.PEM))


def _replace_leaf(
    directory: Path,
    stem: str,
    current: x509.Certificate,
    eku: list[x509.ObjectIdentifier] | None,
    root: x509.Certificate,
    root_key: PrivateKeyTypes,
    crl_url: str,
    now: datetime,
) -> None:
    """A new key and certificate for `stem`, the old certificate kept under archive/.

    Written as `.new` files first, then renamed key then certificate: a crash
    in between is finished by the next start (`_finish_replacement`), so a
    key never stays beside a certificate that is not its own.
    """
    archive = directory / "archive"
    archive.mkdir(exist_ok=True)
    _write(archive / f"{stem}-{current.serial_number:x}.pem", current.public_bytes(serialization.Encoding.PEM))
    key, cert = _issue_leaf(current.subject, eku, root, root_key, crl_url, now)
    _write(directory / f"{stem}-key.pem.new", _key_pem(key), private=True)
    _write(directory / f"{stem}.pem.new", cert.public_bytes(serialization.Encoding.PEM))
    _finish_replacement(directory, stem)


def _finish_replacement(directory: Path, stem: str) -> None:
    """Completes a replacement of `stem` that was fully written, or drops one that was not."""
    new_key, new_cert = directory / f"{stem}-key.pem.new", directory / f"{stem}.pem.new"
    if new_cert.exists():
        if new_key.exists():
            os.replace(new_key, directory / f"{stem}-key.pem")
        os.replace(new_cert, directory / f"{stem}.pem")
    elif new_key.exists():
        new_key.unlink()


def archived_certificates(directory: Path) -> list[x509.Certificate]:
    """The local leaf certificates that were replaced (what they signed still validates)."""
    archive = directory / "archive"
    if not archive.is_dir():
        return []
    return [_load_certs(path)[0] for path in sorted(archive.glob("*.pem"))]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
