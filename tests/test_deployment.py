"""The deployment that scales out (README, "Deploying at scale"): N web processes and N workers that share
nothing but PostgreSQL (or the database named), Redis and the object store, each with its own instance
directory; and the docker-compose.yml that describes that shape, checked against the settings it sets."""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import make_pdf_bytes
from tests.test_e2e_stack import FLASK, ROOT, _free_port, _wait_healthy, storage_env
from webapp.config import Settings

COMPOSE = ROOT / "docker-compose.yml"
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def test_the_compose_file_sets_only_settings_the_app_reads() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "redis", "s3", "migrate", "web", "worker", "scheduler", "proxy"} <= set(services)
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (ROOT / "webapp" / "config.py").read_text()))
    environment = services["web"]["environment"]
    assert set(environment) <= read, set(environment) - read
    for name in ("STORAGE_URL", "DATABASE_URL", "REDIS_URL", "MASTER_KEY", "SECRET_KEY", "DB_POOL_SIZE"):
        assert name in environment
    assert services["worker"]["command"] == ["python", "-m", "worker", "work"]
    assert services["scheduler"]["command"] == ["python", "-m", "worker", "scheduler"]
    assert services["migrate"]["command"][-2:] == ["db", "upgrade"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web:8000;" in nginx
    assert "0.0.0.0:8000" in (ROOT / "deploy" / "Dockerfile").read_text()


@pytest.fixture
def shared_env(tmp_path: Path, settings: Settings) -> dict[str, str]:
    """What every process shares: the database, Redis, the store, the keys; never an instance directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "STORAGE_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY=settings.secret_key,
        MASTER_KEY=base64.b64encode(settings.master_key).decode(),
        TRUST_DIR=str(tmp_path / "trust"),  # the local CA, shared (a configured seal or an HSM in production)
        STORAGE_URL=f"file://{tmp_path / 'objects'}",
        PUBLIC_URL="http://127.0.0.1:8080",
        DB_POOL_SIZE="2",
        DB_MAX_OVERFLOW="2",
    )
    env.update(storage_env(settings))
    return env


def _start(command: list[str], env: dict[str, str], instance: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**env, "INSTANCE_PATH": str(instance)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def processes(tmp_path: Path, shared_env: dict[str, str]) -> Iterator[tuple[list[str], dict[str, str]]]:
    started: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for n in (1, 2):
            port = _free_port()
            command = [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "wsgi:app"]
            started.append(_start(command, shared_env, tmp_path / f"web-{n}"))
            urls.append(f"http://127.0.0.1:{port}")
        started.append(_start([sys.executable, "-m", "worker", "work"], shared_env, tmp_path / "worker"))
        for url, process in zip(urls, started, strict=False):
            _wait_healthy(url, process)
        yield urls, shared_env
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.e2e
def test_two_web_processes_and_a_worker_share_only_the_engines(
    processes: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    (first, second), env = processes

    def cli(*args: str) -> str:
        return subprocess.run(
            [FLASK, "--app", "wsgi", *args],
            env={**env, "INSTANCE_PATH": str(tmp_path / "cli")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    cli(
        "sender", "create", "--org", "Assurances Atlas", "--email", "ops@atlas.ma", "--password", "un mot de passe long"
    )
    token = cli("token", "create", "--email", "ops@atlas.ma").strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    document = make_pdf_bytes(pad_to=50_000)
    created = requests.post(
        f"{first}/api/v1/letters",
        headers=auth,
        data={"recipient_phone": "0612345678", "recipient_name": "Salma Bennani"},
        files={"document": ("avis.pdf", io.BytesIO(document), "application/pdf")},
        timeout=20,
    )
    assert created.status_code == 201, created.text
    letter_id = created.json()["id"]

    # The other web process sees it, and serves the proof the separate worker signed and stored.
    deadline = time.monotonic() + 60
    proof = None
    while time.monotonic() < deadline:
        answer = requests.get(f"{second}/api/v1/letters/{letter_id}/proofs/deposit", headers=auth, timeout=20)
        if answer.status_code == 200:
            proof = answer.content
            break
        time.sleep(0.5)
    assert proof is not None
    assert proof.startswith(b"%PDF")
    assert requests.get(f"{first}/api/v1/letters/{letter_id}/proofs/deposit", headers=auth, timeout=20).content == proof
    status = cli("storage", "status")
    assert "documents: 1 in the store, 0 in the database" in status
    assert "proofs: 1 in the store, 0 in the database" in status
    # No process kept a document of its own: every instance directory is free of objects.
    for name in ("web-1", "web-2", "worker", "cli"):
        assert not (tmp_path / name / "objects").exists() or not any((tmp_path / name / "objects").rglob("*.*"))
