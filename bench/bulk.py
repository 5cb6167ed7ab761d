"""Bulk sending: rows per second validated, letters per second deposited, and peak memory.

    .venv/bin/python -m bench.bulk [--rows N] [--files N] [--no-json]

Builds a CSV of N rows (distinct mobile numbers) and a ZIP of `--files` small
distinct one-page PDFs (rows name them in turn), then, on a temporary instance
(SQLite upgraded by the migrations, an embedded Redis whose queued jobs are never
worked, console SMS):

(a) validation: `validate_bulk`, every row through the deposit's validators and
    every distinct PDF through `check_pdf`, nothing stored;
(b) upload: `create_batch`, validation again plus storing the rows and the PDFs
    encrypted, committed (what the upload request does);
(c) deposit: `deposit_batch`, the body of the job, run to the end: each row a
    letter with its encrypted document, evidence record, proof request and
    notification, 100 rows per transaction.

Peak memory is the process's maximum resident set size after each phase.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import secrets
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pypdf import PdfWriter

from bench.proofs import RESULTS, bench_app, machine
from webapp.accounts.signup import create_sender
from webapp.clock import SystemClock
from webapp.extensions import db
from webapp.letters.bulk import create_batch, deposit_batch, validate_bulk
from webapp.models import BatchStatus, Letter
from webapp.services import current_services


def small_pdf(index: int) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_metadata({"/Title": f"Lettre {index}"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def bulk_files(rows: int, files: int) -> tuple[bytes, bytes]:
    """The CSV (French headers, `;` as Excel writes it) and the ZIP it names."""
    names = [f"lettre-{i:05d}.pdf" for i in range(files)]
    lines = ["nom;téléphone;courriel;référence;fichier"]
    lines += [f"Destinataire {i};06{10000000 + i:08d};;DOSSIER-{i};{names[i % files]}" for i in range(rows)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, name in enumerate(names):
            archive.writestr(name, small_pdf(index))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"), buffer.getvalue()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run(rows: int, files: int) -> dict[str, Any]:
    csv_data, zip_data = bulk_files(rows, files)
    figures: dict[str, Any] = {
        "rows": rows,
        "files": files,
        "csv_bytes": len(csv_data),
        "zip_bytes": len(zip_data),
        "rss_mb_before": round(peak_rss_mb(), 1),
    }
    with tempfile.TemporaryDirectory(prefix="wassit-bench-") as tmp, bench_app(Path(tmp)):
        services = current_services()
        sender = create_sender(
            db.session,
            SystemClock(),
            org_name="Banque Atlas SA",
            email="bench@atlas.ma",
            password=secrets.token_urlsafe(16),
        )
        db.session.commit()
        max_bytes = services.settings.max_document_bytes

        start = time.perf_counter()
        valid = validate_bulk(
            csv_data, archive=io.BytesIO(zip_data), single=None, language="fr", max_document_bytes=max_bytes
        )
        figures["validation_seconds"] = time.perf_counter() - start
        assert len(valid) == rows
        figures["rss_mb_after_validation"] = round(peak_rss_mb(), 1)

        start = time.perf_counter()
        batch = create_batch(db.session, services, sender, csv_data, csv_name="bench.csv", archive=io.BytesIO(zip_data))
        db.session.commit()
        figures["upload_seconds"] = time.perf_counter() - start
        batch_id = batch.id
        figures["rss_mb_after_upload"] = round(peak_rss_mb(), 1)

        start = time.perf_counter()
        status = deposit_batch(db.session, services, batch_id, seconds=None)
        figures["deposit_seconds"] = time.perf_counter() - start
        assert status is BatchStatus.DONE, status
        deposited = db.session.query(Letter).filter(Letter.batch_id == batch_id).count()
        assert deposited == rows, deposited
        figures["rss_mb_after_deposit"] = round(peak_rss_mb(), 1)
    figures["validation_rows_per_second"] = round(rows / figures["validation_seconds"], 1)
    figures["upload_rows_per_second"] = round(rows / figures["upload_seconds"], 1)
    figures["deposit_letters_per_second"] = round(rows / figures["deposit_seconds"], 1)
    return figures


def report(figures: dict[str, Any], host: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in host["load_average"] or [])
    return "\n".join(
        [
            f"Bulk sending: {figures['rows']} rows, {figures['files']} distinct PDFs "
            f"(CSV {figures['csv_bytes'] / 1024:.0f} KB, ZIP {figures['zip_bytes'] / 1024:.0f} KB)",
            f"machine: {host['cores']} cores ({host['usable_cores']} usable), {host['cpu']}, "
            f"Python {host['python']}, load average {load or 'n/a'}",
            "",
            f"{'':<46}  {'seconds':>8}  {'per s':>8}  {'peak RSS MB':>11}",
            f"{'validation (validate_bulk), rows':<46}  {figures['validation_seconds']:>8.1f}  "
            f"{figures['validation_rows_per_second']:>8.1f}  {figures['rss_mb_after_validation']:>11.1f}",
            f"{'upload (create_batch: validate + store), rows':<46}  {figures['upload_seconds']:>8.1f}  "
            f"{figures['upload_rows_per_second']:>8.1f}  {figures['rss_mb_after_upload']:>11.1f}",
            f"{'deposit job (deposit_batch), letters':<46}  {figures['deposit_seconds']:>8.1f}  "
            f"{figures['deposit_letters_per_second']:>8.1f}  {figures['rss_mb_after_deposit']:>11.1f}",
            f"(peak RSS before the run, files generated: {figures['rss_mb_before']:.1f} MB)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000, help="CSV rows, i.e. letters (default 10000)")
    parser.add_argument("--files", type=int, default=10_000, help="distinct PDFs in the ZIP (default 10000)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/bulk-*.json")
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 10_000 or not 1 <= args.files <= args.rows:
        parser.error("--rows must be 1 to 10000 and --files 1 to --rows")
    host = machine()
    figures = run(args.rows, args.files)
    print(report(figures, host))
    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        at = datetime.now(UTC)
        path = RESULTS / f"bulk-{at:%Y%m%dT%H%M%SZ}.json"
        result = {"benchmark": "bulk", "at": at.isoformat(timespec="seconds"), "machine": host, **figures}
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
