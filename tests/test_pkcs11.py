"""The seal key (and the built-in TSA's) in a PKCS#11 token: a real SoftHSM2 token (Debian's `softhsm2`,
installed by `make softhsm`), signing through pyHanko's PKCS#11 signer; proofs signed there validate like
the others, and a rotation to a new key in the token leaves the old proofs valid."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from sqlalchemy import select

from tests.trust_helpers import Letters, root_certificate, validate_pdf
from webapp import create_app
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import KeyRotation

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
TOKEN = "wassit-seal"
PIN = "4321-test-pin"


def _module() -> str | None:
    return next((path for path in MODULE_CANDIDATES if os.path.exists(path)), None)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Barid Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str, public_key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool, eku: Any = None
) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
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
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Hsm:
    module: str
    directory: Path
    root: x509.Certificate
    root_key: Any

    def generate(self, label: str) -> Any:
        """An EC P-256 key pair generated in the token (the private key never leaves it); its public key."""
        import pkcs11
        import pkcs11.exceptions
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

        token = pkcs11.lib(self.module).get_token(token_label=TOKEN)
        try:
            opened = token.open(rw=True, user_pin=PIN)
        except pkcs11.exceptions.UserAlreadyLoggedIn:  # the app's own session logged this process in
            opened = token.open(rw=True)
        with opened as session:
            parameters = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
            )
            public, _ = parameters.generate_keypair(store=True, label=label)
            return serialization.load_der_public_key(encode_ec_public_key(public))

    def generate_ed25519(self, label: str) -> bytes:
        """An Ed25519 key pair in the token (the journal's); its raw public key."""
        import pkcs11
        import pkcs11.exceptions
        from asn1crypto.core import ObjectIdentifier, OctetString
        from pkcs11 import Attribute, KeyType

        token = pkcs11.lib(self.module).get_token(token_label=TOKEN)
        try:
            opened = token.open(rw=True, user_pin=PIN)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            opened = token.open(rw=True)
        with opened as session:
            parameters = session.create_domain_parameters(
                KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: ObjectIdentifier("1.3.101.112").dump()}, local=True
            )
            public, _ = parameters.generate_keypair(store=True, label=label)
            return bytes(OctetString.load(public[Attribute.EC_POINT]).native)

    def certificate_file(self, name: str, cert: x509.Certificate) -> Path:
        path = self.directory / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        if os.environ.get("CI"):
            pytest.fail("SoftHSM2 is missing on CI: `make softhsm` installs Debian's softhsm2")
        pytest.skip("SoftHSM2 (Debian's softhsm2) is not installed: `make softhsm` installs it")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)  # read by the module when it is loaded
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-" + PIN],
        check=True,
        capture_output=True,
    )
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _certificate("Barid HSM Root CA", root_key.public_key(), _name("Barid HSM Root CA"), root_key, ca=True)
    yield Hsm(module, directory, root, root_key)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def _hsm_settings(settings: Settings, hsm: Hsm, seal_label: str, tsa_label: str) -> Settings:
    seal = _certificate(f"Wassit seal {seal_label}", hsm.generate(seal_label), hsm.root.subject, hsm.root_key, ca=False)
    tsa = _certificate(
        f"Wassit TSA {tsa_label}",
        hsm.generate(tsa_label),
        hsm.root.subject,
        hsm.root_key,
        ca=False,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    return settings.replace(
        seal_cert=hsm.certificate_file(f"{seal_label}.pem", seal),
        seal_pkcs11_module=hsm.module,
        seal_pkcs11_token=TOKEN,
        seal_pkcs11_key=seal_label,
        seal_pkcs11_pin=PIN,
        tsa_cert=hsm.certificate_file(f"{tsa_label}.pem", tsa),
        tsa_pkcs11_key=tsa_label,
        trust_root_cert=hsm.certificate_file("root.pem", hsm.root),
    )


@pytest.fixture
def settings(settings: Settings, hsm: Hsm, request: pytest.FixtureRequest) -> Settings:
    """conftest's settings, with the seal and TSA keys in the SoftHSM2 token."""
    label = request.node.name[-20:].replace("[", "").replace("]", "")
    journal = f"journal-{label}"
    request.node.journal_public_key = hsm.generate_ed25519(journal)
    return _hsm_settings(settings, hsm, f"seal-{label}", f"tsa-{label}").replace(journal_pkcs11_key=journal)


def _signer(pdf: bytes) -> bytes:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    [signature] = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
    return bytes(signature.signer_cert.dump())


def test_proofs_signed_in_the_token_validate_and_survive_a_rotation(
    app: Flask,
    client: Any,
    settings: Settings,
    hsm: Hsm,
    clock: FrozenClock,
    deposit: Any,
    run_jobs: Any,
    outbox: Any,
    sender: Any,
    request: pytest.FixtureRequest,
) -> None:
    from webapp.support.agents import create_agent

    letters = Letters(app, client, sender, deposit, run_jobs, outbox)
    letter_id, _ = letters.notified()
    old_proof = letters.proof(letter_id, "deposit")
    root = root_certificate(client)
    assert root.dump() == hsm.root.public_bytes(serialization.Encoding.DER)
    status = validate_pdf(old_proof, root)
    assert status.intact
    assert status.valid
    assert status.trusted
    seal_cert = x509.load_pem_x509_certificate(settings.seal_cert.read_bytes())  # type: ignore[union-attr]
    assert _signer(old_proof) == seal_cert.public_bytes(serialization.Encoding.DER)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.trusted  # the TSA's token, signed in the HSM too
    # The journal's checkpoints are signed in the token too, with the Ed25519 key generated there.
    from webapp.trust.signed_note import NoteVerifier

    note = client.get("/journal/checkpoint").get_data(as_text=True)
    public = request.node.journal_public_key
    assert NoteVerifier(settings.journal_name, public).open(note)  # raises unless signed by that key
    assert not (settings.trust_directory / "journal-key.pem").exists()
    # No seal or TSA key on disk: they never left the token.
    assert not (settings.trust_directory / "seal-key.pem").exists()
    assert not (settings.trust_directory / "tsa-key.pem").exists()

    with app.app_context():
        create_agent(db.session, clock, email="hsm@wassit.ma", password="a long agent password")
        db.session.commit()
        db.session.remove()
    recorded = app.test_cli_runner().invoke(
        args=["keys", "rotate-seal", "--agent", "hsm@wassit.ma", "--reason", "First seal in the HSM"]
    )
    assert recorded.exit_code == 0, recorded.output

    # Rotation: a new key generated in the token, its certificate configured (a rolling restart).
    rotated_settings = _hsm_settings(settings, hsm, "seal-2027", "tsa-2027")
    rotated = create_app(rotated_settings, clock=clock)
    rotated.config.update(TESTING=True)
    new_client = rotated.test_client()
    result = rotated.test_cli_runner().invoke(
        args=["keys", "rotate-seal", "--agent", "hsm@wassit.ma", "--reason", "Yearly seal rotation"]
    )
    assert result.exit_code == 0, result.output
    created = deposit()  # the web process; the proof is signed by a worker running the new configuration
    assert created.status_code == 201
    from worker.app_worker import run_worker

    run_worker(rotated, burst=True, simple=True, logging_level="WARNING")
    new_id = created.json["id"]
    served = new_client.get(f"/api/v1/letters/{new_id}/proofs/deposit", headers=sender.auth)
    assert served.status_code == 200, served.data[:300]
    new_proof = served.data
    old_again = new_client.get(f"/api/v1/letters/{letter_id}/proofs/deposit", headers=sender.auth).data
    assert _signer(new_proof) != _signer(old_proof)
    for pdf in (old_proof, new_proof, old_again):
        checked = validate_pdf(pdf, root)
        assert checked.intact
        assert checked.valid
        assert checked.trusted
    with rotated.app_context():
        rotations = list(db.session.execute(select(KeyRotation).order_by(KeyRotation.started_at)).scalars())
        assert [r.kind for r in rotations] == ["seal", "seal"]
        assert rotations[1].old_key_id == rotations[0].new_key_id
        db.session.remove()
        db.engine.dispose()
    rotated.extensions["wassit.redis"].close()
