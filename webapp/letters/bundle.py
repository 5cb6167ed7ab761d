"""The dispute bundle: everything a court expert needs to check a letter's evidence offline.

One ZIP per letter: every proof PDF, every evidence record of the letter (JSON, byte for byte as
journaled, with the individual seal older records carry), an inclusion proof of each record into
a signed journal checkpoint (with its RFC 3161 timestamp and CAdES seal), the journal key, the
CA, seal and TSA certificates, and `VERIFY.md` (French and English) with the exact `openssl` and
`pyhanko` commands and a standard-library Python script that checks the records and the log.

Built for the gate (`letters.access.dispute_bundle`), which checks that the actor may read the
letter's proofs; nothing here reads the document.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from string import Template

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from webapp.extensions import DbSession
from webapp.models import Evidence, Letter, Proof, ProofStatus
from webapp.trust.context import TrustServices
from webapp.trust.journal import ensure_logged, inclusion_proof
from webapp.trust.proofs import decrypt_proof, record_stem
from webapp.trust.tsa import timestamp_response

FILES = resources.files("webapp.letters") / "bundle_files"


@dataclass(frozen=True)
class Bundle:
    filename: str
    data: bytes


def _pem(certificate: object) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined, no-any-return]


def build_dispute_bundle(session: DbSession, services: TrustServices, letter: Letter) -> Bundle:
    """The ZIP of a letter's evidence; logs the letter's latest records first if they are not yet."""
    records = list(
        session.execute(select(Evidence).where(Evidence.letter_id == letter.id).order_by(Evidence.seq)).scalars()
    )
    checkpoint = ensure_logged(session, services, records[-1].seq)
    proofs = list(
        session.execute(
            select(Proof)
            .where(Proof.letter_id == letter.id, Proof.status == ProofStatus.READY)
            .order_by(Proof.created_at)
        ).scalars()
    )
    root = f"{letter.reference}/"
    stamp = _zip_time(services.clock.now())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def put(name: str, data: bytes | str) -> None:
            info = zipfile.ZipInfo(root + name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)

        proof_names, legacy_seals = [], []
        for proof in proofs:
            name = f"proofs/proof-{proof.kind.value}-{letter.reference}.pdf"
            put(name, decrypt_proof(services, proof))
            proof_names.append(name)
        for record in records:
            stem = record_stem(record)
            put(f"records/{stem}.json", record.canonical.encode("utf-8"))
            if record.seal:
                put(f"records/{stem}.p7s", record.seal)
                legacy_seals.append(f"records/{stem}.p7s")
            inclusion = inclusion_proof(session, record.id, checkpoint=checkpoint)
            put(f"records/inclusion-{record.seq:08d}.json", json.dumps(inclusion.as_json(), indent=1) + "\n")

        put("journal/checkpoint.txt", checkpoint.note)
        put("journal/checkpoint.tsr", timestamp_response(checkpoint.timestamp_token))
        put("journal/checkpoint.p7s", checkpoint.seal)
        verifier = services.trust.journal_signer.verifier
        put("journal/journal-key.txt", f"{verifier}\n")
        put(
            "journal/journal-key.pem",
            Ed25519PublicKey.from_public_bytes(verifier.public_key).public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

        material = services.trust.material
        put("certificates/ca.pem", material.root_pem)
        put("certificates/seal.pem", b"".join(_pem(c) for c in (material.seal.cert, *material.seal.chain)))
        if material.tsa is not None:
            put("certificates/tsa.pem", b"".join(_pem(c) for c in (material.tsa.cert, *material.tsa.chain)))
        crl_names = []
        for number, crl in enumerate(services.trust.revocation_lists(), start=1):
            crl_names.append(f"certificates/crl-{number}.der")
            put(crl_names[-1], crl)

        put("verify_bundle.py", (FILES / "verify_bundle.py").read_bytes())
        put("validate_lta.py", (FILES / "validate_lta.py").read_bytes())
        commands = verify_commands(proof_names, legacy_seals, crl_names, with_tsa_certificate=material.tsa is not None)
        put("VERIFY.md", _verify_md(services, letter, commands, checkpoint.tree_size))
    session.commit()
    return Bundle(f"wassit-dispute-{letter.reference}.zip", buffer.getvalue())


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def verify_commands(
    proof_names: list[str], legacy_seals: list[str], crl_names: list[str], *, with_tsa_certificate: bool
) -> list[str]:
    """The commands VERIFY.md gives, run from the bundle's folder: each must exit 0."""
    commands = [f"openssl crl -inform DER -in {name} -CAfile certificates/ca.pem -noout" for name in crl_names]
    revocation = "".join(f" -crl_check -CRLfile {name}" for name in crl_names[-1:])
    commands.append(f"openssl verify{revocation} -CAfile certificates/ca.pem certificates/seal.pem")
    if with_tsa_certificate:
        commands.append(f"openssl verify{revocation} -CAfile certificates/ca.pem certificates/tsa.pem")
    commands += [
        "openssl cms -verify -binary -inform DER -in journal/checkpoint.p7s -content journal/checkpoint.txt"
        " -CAfile certificates/ca.pem -purpose any -out /dev/null",
        "openssl ts -verify -data journal/checkpoint.txt -in journal/checkpoint.tsr -CAfile certificates/ca.pem",
        "python3 verify_bundle.py",
    ]
    crls = "".join(f" {name}" for name in crl_names)
    for name in proof_names:
        commands.append(f"python3 validate_lta.py {name} certificates/ca.pem{crls}")
        commands.append(f"pyhanko sign adesverify --pretty-print --trust certificates/ca.pem --trust-replace {name}")
    commands += [
        f"openssl cms -verify -binary -inform DER -in {seal} -content {seal.removesuffix('.p7s')}.json"
        " -CAfile certificates/ca.pem -purpose any -out /dev/null"
        for seal in legacy_seals
    ]
    return commands


def _verify_md(services: TrustServices, letter: Letter, commands: list[str], tree_size: int) -> str:
    template = Template((FILES / "VERIFY.md").read_text(encoding="utf-8"))
    return template.substitute(
        reference=letter.reference,
        letter_id=letter.id,
        service=services.settings.service_name,
        public_url=services.settings.public_url,
        tree_size=tree_size,
        commands="\n".join(commands),
    )
