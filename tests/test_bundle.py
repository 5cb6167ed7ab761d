"""The dispute bundle verifies offline by following its VERIFY.md, as a court expert would.

The bundle is unzipped into an empty folder and every command VERIFY.md gives is run there as
written (openssl, pyhanko, python3), with no access to the service; then it is tampered with, and
its own checker must say so.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from tests.portal_helpers import log_in
from tests.trust_helpers import Letters, evidence_rows
from webapp.clock import FrozenClock

COMMAND_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


@pytest.fixture
def letters(
    app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any, clock: FrozenClock
) -> Letters:
    # The expert runs openssl and pyHanko today, against today's CRL: the letter lives in real time.
    clock.current = datetime.now(UTC).replace(microsecond=0)
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _unzip(data: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert all(not name.startswith("/") and ".." not in name for name in names)
        archive.extractall(into)
    [folder] = {name.split("/")[0] for name in names}
    return into / folder


def _run(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(
        ["bash", "-c", command], cwd=folder, capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def _accepted_letter(letters: Letters) -> str:
    letter_id, path = letters.notified(document_confidential="false")
    letters.decide(path, "accept")
    letters.run_jobs()
    return letter_id


def test_the_bundle_verifies_offline_by_following_verify_md(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, tmp_path: Path
) -> None:
    letter_id = _accepted_letter(letters)
    response = client.get(f"/api/v1/letters/{letter_id}/bundle", headers=sender.auth)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    reference = letters.api(letter_id)["reference"]
    assert f"wassit-dispute-{reference}.zip" in response.headers["Content-Disposition"]
    folder = _unzip(response.data, tmp_path)
    assert folder.name == reference

    records = evidence_rows(app, letter_id)
    for row in records:
        stem = f"evidence-{row.seq:08d}-{row.event}"
        assert (folder / "records" / f"{stem}.json").read_bytes() == row.canonical.encode()
        assert (folder / "records" / f"inclusion-{row.seq:08d}.json").exists()
    proofs = sorted(path.name for path in (folder / "proofs").iterdir())
    assert proofs == [f"proof-deposit-{reference}.pdf", f"proof-reception-{reference}.pdf"]
    assert (folder / "proofs" / proofs[0]).read_bytes() == letters.proof(letter_id, "deposit")
    for name in ("ca.pem", "seal.pem", "tsa.pem"):
        assert (folder / "certificates" / name).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (folder / "certificates" / "crl-1.der").read_bytes() == client.get("/trust/crl").data
    assert (folder / "certificates" / "ca.pem").read_bytes() == client.get("/trust/ca.pem").data
    assert (folder / "journal" / "journal-key.txt").read_text() == client.get("/journal/key").get_data(as_text=True)

    verify = (folder / "VERIFY.md").read_text(encoding="utf-8")
    assert "## Français" in verify
    assert "## English" in verify
    french, english = COMMAND_BLOCK.findall(verify)
    assert french == english
    commands = [line for line in english.splitlines() if line.strip()]
    assert any(line.startswith("pyhanko sign adesverify") for line in commands)
    assert any(line.startswith("python3 validate_lta.py") for line in commands)
    assert any("-crl_check" in line for line in commands)
    assert "python3 verify_bundle.py" in commands
    for command in commands:
        result = _run(command, folder)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        if command == "python3 verify_bundle.py":
            assert result.stdout.rstrip().endswith(
                "VERIFIED: every record is intact and in the signed journal checkpoint."
            )
            assert "the checkpoint is signed by the journal key (openssl pkeyutl)" in result.stdout
            assert result.stdout.count("is in the journal checkpoint") == len(records)
        if command.startswith("pyhanko"):
            assert "judged VALID" in result.stdout, result.stdout
        if command.startswith("python3 validate_lta.py"):
            assert "PAdES B-LTA: VALID" in result.stdout, result.stdout


def test_a_tampered_bundle_is_caught_by_its_own_checks(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, tmp_path: Path
) -> None:
    letter_id = _accepted_letter(letters)
    folder = _unzip(client.get(f"/api/v1/letters/{letter_id}/bundle", headers=sender.auth).data, tmp_path)
    assert _run("python3 verify_bundle.py", folder).returncode == 0

    # A record edited (the recipient's name): not in the checkpoint any more.
    [deposit_record] = sorted((folder / "records").glob("evidence-*-SubmissionAcceptance.json"))
    original = deposit_record.read_bytes()
    deposit_record.write_bytes(original.replace(b"Youssef Alami", b"Youssef Alamy"))
    result = _run("python3 verify_bundle.py", folder)
    assert result.returncode == 1
    assert f"PROBLEM {deposit_record.name} is NOT in the journal checkpoint" in result.stdout
    deposit_record.write_bytes(original)

    # A checkpoint rewritten to another size: its signature, seal and timestamp all fail.
    checkpoint = folder / "journal" / "checkpoint.txt"
    note = checkpoint.read_text()
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    checkpoint.write_text("\n".join(lines))
    result = _run("python3 verify_bundle.py", folder)
    assert result.returncode == 1
    assert "PROBLEM the checkpoint's signature does not verify" in result.stdout
    english = COMMAND_BLOCK.findall((folder / "VERIFY.md").read_text(encoding="utf-8"))[1]
    failing = [command for command in english.splitlines() if command and _run(command, folder).returncode != 0]
    assert any(command.startswith("openssl cms") for command in failing)
    assert any(command.startswith("openssl ts") for command in failing)
    checkpoint.write_text(note)

    # A proof with one byte changed: pyHanko says so.
    proof = folder / "proofs" / f"proof-reception-{folder.name}.pdf"
    data = bytearray(proof.read_bytes())
    data[data.index(b"/Contents") - 40] ^= 0x01
    proof.write_bytes(bytes(data))
    for command in (line for line in english.splitlines() if proof.name in line):
        result = _run(command, folder)
        assert result.returncode != 0 or "judged VALID" not in result.stdout, command


def test_the_bundle_is_for_the_sender_only_and_in_the_portal(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, make_sender: Any
) -> None:
    letter_id, _ = letters.notified()
    other = make_sender(org="Cabinet Bennani")
    assert client.get(f"/api/v1/letters/{letter_id}/bundle", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/letters/{letter_id}/bundle").status_code == 401

    log_in(client, sender)
    page = client.get(f"/letters/{letter_id}", headers={"Accept-Language": "en"})
    assert f'href="/letters/{letter_id}/bundle"' in page.text
    assert "Download the evidence bundle (ZIP)" in page.text
    download = client.get(f"/letters/{letter_id}/bundle")
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert any(name.endswith("/VERIFY.md") for name in archive.namelist())
