"""Keys and certificates: the electronic seal, the timestamp authority, and their trust anchor.

On the embedded default, the first run creates under `instance/trust/` a local
root CA, a seal certificate and a timestamp-authority certificate (EKU
timeStamping, critical).  In production they come from configuration (PEM or
PKCS#12 files, passphrase from the environment); see `TrustSettings`.

Keys are ECDSA P-256: fast to create and to use, and accepted by every PDF
validator and by OpenSSL.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
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


class TrustConfigError(RuntimeError):
    """The seal or timestamp keys are missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class KeyPair:
    """A private key, its certificate and the chain up to (not including) the root."""

    key: ec.EllipticCurvePrivateKey | PrivateKeyTypes
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return to_asn1_cert(self.cert)

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return asn1_keys.PrivateKeyInfo.load(der)


@dataclass(frozen=True)
class TrustMaterial:
    """Everything the service signs and timestamps with."""

    root: x509.Certificate
    seal: KeyPair
    tsa: KeyPair | None  # None when an external TSA (TSA_URL) is used

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class TrustSettings:
    """Where the keys come from.  With nothing set, local keys are generated in `directory`."""

    directory: Path
    seal_cert: Path | None = None
    seal_key: Path | None = None
    seal_pkcs12: Path | None = None
    seal_passphrase: str | None = None
    root_cert: Path | None = None
    tsa_cert: Path | None = None
    tsa_key: Path | None = None
    tsa_passphrase: str | None = None
    tsa_url: str | None = None
    organisation: str = "Wassit"

    @property
    def generated(self) -> bool:
        return not (self.seal_cert or self.seal_pkcs12)


def to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def load_trust_material(settings: TrustSettings) -> TrustMaterial:
    if settings.generated:
        return _load_or_create_local(settings.directory, settings.organisation, settings.tsa_url is None)
    seal = _load_configured_seal(settings)
    if settings.root_cert is None:
        raise TrustConfigError("TRUST_ROOT_CERT is required with a configured seal certificate")
    root = _load_certs(settings.root_cert)[0]
    _check_chains_to(root, seal, "seal")
    tsa: KeyPair | None = None
    if settings.tsa_url is None:
        if settings.tsa_cert is None or settings.tsa_key is None:
            raise TrustConfigError("set TSA_URL, or TSA_CERT and TSA_KEY for the built-in TSA")
        certs = _load_certs(settings.tsa_cert)
        _check_tsa_certificate(certs[0])
        tsa = _matching(
            "TSA", KeyPair(_load_key(settings.tsa_key, settings.tsa_passphrase), certs[0], tuple(certs[1:]))
        )
        _check_chains_to(root, tsa, "TSA")
    return TrustMaterial(root=root, seal=seal, tsa=tsa)


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


def _load_or_create_local(directory: Path, organisation: str, with_tsa: bool) -> TrustMaterial:
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / ".lock"
    with lock_path.open("w") as lock:
        # Several processes (web workers, RQ worker) start at once: only one creates the keys.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((directory / name).exists() for name in _FILES):
            _create_local(directory, organisation)
        root = _load_certs(directory / "root.pem")[0]
        seal = KeyPair(_load_key(directory / "seal-key.pem", None), _load_certs(directory / "seal.pem")[0])
        tsa = KeyPair(_load_key(directory / "tsa-key.pem", None), _load_certs(directory / "tsa.pem")[0])
    return TrustMaterial(root=root, seal=seal, tsa=tsa if with_tsa else None)


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


def _create_local(directory: Path, organisation: str) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate small clock skews between hosts
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(organisation, f"{organisation} Local Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=20 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, eku: list[x509.ObjectIdentifier] | None
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(organisation, common_name))
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=10 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, content_commitment=True),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
        return key, builder.sign(root_key, hashes.SHA256())

    seal_key, seal = leaf(f"{organisation} Electronic Seal", None)
    tsa_key, tsa = leaf(f"{organisation} Timestamp Authority", [ExtendedKeyUsageOID.TIME_STAMPING])

    def write(name: str, data: bytes, private: bool = False) -> None:
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    pem = serialization.Encoding.PEM
    for name, key in (("root-key.pem", root_key), ("seal-key.pem", seal_key), ("tsa-key.pem", tsa_key)):
        write(
            name,
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            private=True,
        )
    write("root.pem", root.public_bytes(pem))
    write("seal.pem", seal.public_bytes(pem))
    write("tsa.pem", tsa.public_bytes(pem))
