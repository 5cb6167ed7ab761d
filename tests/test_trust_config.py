"""Production trust material: the seal and the TSA keys come from configuration (PEM or PKCS#12).

An outside PKI is built here with `cryptography`: a root (RSA, unlike the
embedded default), an intermediate CA, a seal certificate and a TSA
certificate.  The proofs must then be signed by that seal and validate
against that root, and any missing or inconsistent piece must stop the
service with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.status import SignatureCoverageLevel

from tests.trust_helpers import (
    Letters,
    cms_verify,
    evidence_rows,
    root_certificate,
    validate_pdf,
    write,
)
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.trust.authority import Trust
from webapp.trust.keys import TrustConfigError

SEAL_PASSPHRASE = "seal passphrase from the environment"
PKCS12_PASSPHRASE = "pkcs12 passphrase"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Barid Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: Any,
    issuer: x509.Name | None,
    issuer_key: Any,
    *,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Any, passphrase: str | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


@dataclass
class Pki:
    directory: Path
    root: x509.Certificate
    intermediate: x509.Certificate
    seal: x509.Certificate
    tsa: x509.Certificate
    seal_key: Any

    def path(self, name: str) -> Path:
        return self.directory / name


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _certificate("Barid Root CA", root_key, None, root_key, ca=True)
    intermediate_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = _certificate("Barid Issuing CA", intermediate_key, root.subject, root_key, ca=True)
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = _certificate("Wassit qualified seal", seal_key, intermediate.subject, intermediate_key, ca=False)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = _certificate(
        "Wassit TSA", tsa_key, intermediate.subject, intermediate_key, ca=False, eku=[ExtendedKeyUsageOID.TIME_STAMPING]
    )
    loose_tsa = _certificate(
        "Loose TSA",
        tsa_key,
        intermediate.subject,
        intermediate_key,
        ca=False,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        eku_critical=False,
    )
    files = {
        "root.pem": _pem(root),
        # The certificate file carries its chain, leaf first.
        "seal-chain.pem": _pem(seal) + _pem(intermediate),
        "seal-key.pem": _key_pem(seal_key, SEAL_PASSPHRASE),
        "tsa-chain.pem": _pem(tsa) + _pem(intermediate),
        "tsa-key.pem": _key_pem(tsa_key),
        "loose-tsa.pem": _pem(loose_tsa),
        "other-key.pem": _key_pem(ec.generate_private_key(ec.SECP256R1())),
        "seal.p12": pkcs12.serialize_key_and_certificates(
            b"wassit-seal",
            seal_key,
            seal,
            [intermediate],
            serialization.BestAvailableEncryption(PKCS12_PASSPHRASE.encode()),
        ),
    }
    for name, data in files.items():
        write(directory / name, data)
    return Pki(directory, root, intermediate, seal, tsa, seal_key)


def _pem_settings(settings: Settings, pki: Pki) -> Settings:
    return settings.replace(
        seal_cert=pki.path("seal-chain.pem"),
        seal_key=pki.path("seal-key.pem"),
        seal_key_passphrase=SEAL_PASSPHRASE,
        trust_root_cert=pki.path("root.pem"),
        tsa_cert=pki.path("tsa-chain.pem"),
        tsa_key=pki.path("tsa-key.pem"),
    )


def _pkcs12_settings(settings: Settings, pki: Pki) -> Settings:
    return settings.replace(
        seal_pkcs12=pki.path("seal.p12"),
        seal_key_passphrase=PKCS12_PASSPHRASE,
        trust_root_cert=pki.path("root.pem"),
        tsa_cert=pki.path("tsa-chain.pem"),
        tsa_key=pki.path("tsa-key.pem"),
    )


@pytest.fixture(params=["pem", "pkcs12"])
def settings(settings: Settings, pki: Pki, request: pytest.FixtureRequest) -> Settings:
    """conftest's settings, with the seal and the TSA of the outside PKI."""
    configure = _pem_settings if request.param == "pem" else _pkcs12_settings
    return configure(settings, pki)


def test_proofs_and_seals_are_by_the_configured_seal(
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    pki: Pki,
    deposit: Any,
    run_jobs: Any,
    outbox: Any,
    sender: Any,
    tmp_path: Path,
) -> None:
    # The published trust anchor is the configured root; nothing is generated.
    assert client.get("/trust/ca.pem").data == _pem(pki.root)
    letters = Letters(app, client, sender, deposit, run_jobs, outbox)
    letter_id, _ = letters.notified()
    assert not (settings.trust_directory / "root.pem").exists()
    assert not (settings.trust_directory / "seal-key.pem").exists()

    proof = letters.proof(letter_id, "deposit")
    validity = validate_pdf(proof, root_certificate(client))
    assert validity.intact
    assert validity.valid
    assert validity.trusted
    # The seal covers its revision; after it come only the DSS and archive timestamps (PAdES B-LTA),
    # which its DocMDP "no changes" permission allows.
    assert validity.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert validity.modification_level == ModificationLevel.LTA_UPDATES
    assert validity.docmdp_ok
    assert validity.signing_cert.dump() == pki.seal.public_bytes(serialization.Encoding.DER)
    assert validity.timestamp_validity is not None
    assert validity.timestamp_validity.trusted
    assert validity.timestamp_validity.signing_cert.dump() == pki.tsa.public_bytes(serialization.Encoding.DER)

    # The journal checkpoints that seal the evidence too, through the intermediate the seal carries.
    assert evidence_rows(app, letter_id)
    note = client.get("/journal/checkpoint").data
    size = int(note.split(b"\n")[1])
    seal = client.get(f"/journal/checkpoint/{size}.p7s").data
    result = cms_verify(tmp_path, note, seal, _pem(pki.root))
    assert result.returncode == 0, result.stderr
    # ...and not against a root of the embedded kind.
    assert cms_verify(tmp_path, note, seal, _pem(pki.seal)).returncode != 0


# --- missing or inconsistent pieces -------------------------------------------------------------


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    from tests.conftest import MASTER_KEY

    return Settings(
        instance_path=tmp_path,
        secret_key="x" * 40,
        database_url="sqlite://",
        redis_url=None,
        master_key=MASTER_KEY,
        public_url="https://wassit.ma",
    )


def _load(settings: Settings) -> Any:
    return Trust(settings, now=FrozenClock().now).material


def test_pem_and_pkcs12_configurations_load(base: Settings, pki: Pki) -> None:
    for settings in (_pem_settings(base, pki), _pkcs12_settings(base, pki)):
        material = _load(settings)
        assert material.root == pki.root
        assert material.seal.cert == pki.seal
        assert material.seal.chain == (pki.intermediate,)
        assert material.tsa is not None
        assert material.tsa.cert == pki.tsa
    assert not (base.trust_directory / "root.pem").exists()


def _files(pki: Pki, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with every "file:NAME" value replaced by the path of the PKI's file NAME."""
    return {
        name: pki.path(value.removeprefix("file:")) if isinstance(value, str) and value.startswith("file:") else value
        for name, value in changes.items()
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seal_key": None}, "SEAL_CERT needs SEAL_KEY"),
        ({"trust_root_cert": None}, "TRUST_ROOT_CERT is required"),
        ({"tsa_cert": None}, "set TSA_URL, or TSA_CERT and TSA_KEY"),
        ({"tsa_key": None}, "set TSA_URL, or TSA_CERT and TSA_KEY"),
        ({"seal_key_passphrase": None}, "cannot read private key"),
        ({"seal_key_passphrase": "wrong"}, "cannot read private key"),
        ({"seal_cert": "file:missing.pem"}, "cannot read certificate"),
        ({"trust_root_cert": "file:seal-key.pem"}, "cannot read certificate"),
        ({"tsa_cert": "file:seal-chain.pem"}, "lacks the timeStamping extended key usage"),
        ({"tsa_cert": "file:loose-tsa.pem"}, "must be timeStamping only, and critical"),
        ({"seal_key": "file:other-key.pem", "seal_key_passphrase": None}, "seal key does not match"),
        ({"tsa_key": "file:other-key.pem"}, "TSA key does not match"),
    ],
)
def test_a_missing_or_inconsistent_pem_piece_is_a_clear_error(
    base: Settings, pki: Pki, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(TrustConfigError, match=message):
        _load(_pem_settings(base, pki).replace(**_files(pki, changes)))


@pytest.mark.parametrize(
    "changes",
    [
        {"seal_key_passphrase": "wrong"},
        {"seal_key_passphrase": None},
        {"seal_pkcs12": "file:root.pem"},
        {"seal_pkcs12": "file:missing.p12"},
    ],
)
def test_a_bad_pkcs12_is_a_clear_error(base: Settings, pki: Pki, changes: dict[str, Any]) -> None:
    with pytest.raises(TrustConfigError, match="cannot read the seal PKCS#12 file"):
        _load(_pkcs12_settings(base, pki).replace(**_files(pki, changes)))


def test_an_external_tsa_needs_no_tsa_key(base: Settings, pki: Pki) -> None:
    settings = _pem_settings(base, pki).replace(tsa_cert=None, tsa_key=None, tsa_url="https://tsa.example.ma/rfc3161")
    trust = Trust(settings, now=FrozenClock().now)
    assert trust.material.tsa is None
    assert trust.authority is None
    assert trust.timestamper.url == "https://tsa.example.ma/rfc3161"  # type: ignore[attr-defined]
