"""`make run`'s supervisor (`python -m worker.run_all`), as real processes (issue 17, finding 6 and 8):
it refuses a taken port, stops all of its processes within 10 s of Ctrl-C or SIGTERM (gunicorn's
workers, RQ's scheduler process, the embedded Redis), restarts a helper that died without touching the
web server, keeps gunicorn's control socket in the instance folder and its console quiet.

Two stacks in all (each takes some 20 s to start): one stopped by Ctrl-C, one by SIGTERM after a
worker was killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.stack_helpers import ROOT, Stack, alive, port_is_free, processes, running_stack, stack_env
from webapp.config import Settings

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path, settings: Settings) -> dict[str, str]:
    return stack_env(
        tmp_path,
        database_url=settings.database_url if os.environ.get("DATABASE_URL") else None,
        redis_url=settings.redis_url if os.environ.get("REDIS_URL") else None,  # else the embedded one
    )


def test_a_taken_port_is_refused_with_a_clear_message(tmp_path: Path, settings: Settings) -> None:
    env = _env(tmp_path, settings)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["PORT"])))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "worker.run_all"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    assert f"Port {env['PORT']}" in result.stderr, result.stderr
    assert "already in use" in result.stderr
    assert "PORT=" in result.stderr  # and how to choose another
    assert "running at" not in result.stdout
    assert not (tmp_path / "instance" / "gunicorn.ctl").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_every_process_is_gone_within_10_seconds_and_a_dead_helper_is_restarted(
    tmp_path: Path, settings: Settings, signum: int
) -> None:
    env = _env(tmp_path, settings)
    with running_stack(env, tmp_path / "run.log") as stack:
        # gunicorn's control socket is the stack's own, not the one every gunicorn of the user shares.
        assert (stack.instance / "gunicorn.ctl").exists()
        names = [proc.cmdline for proc in stack.children()]
        assert sum("gunicorn" in name for name in names) >= 3, names  # the arbiter and its two workers
        assert any("worker work" in name for name in names), names
        assert any("worker scheduler" in name for name in names), names
        # Background work yields the CPU to the web server (WORKER_NICE, default 5).
        web_niceness = os.getpriority(os.PRIO_PROCESS, stack.child("gunicorn").pid)
        workers = [proc.pid for proc in stack.children() if "worker work" in proc.cmdline]
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in workers} == {min(19, web_niceness + 5)}

        if signum == signal.SIGINT:
            _deposits_print_no_job_lines(stack)
            _the_readme_walk_through_works(stack, tmp_path / "clone")
        if signum == signal.SIGTERM:
            # A helper killed outright: the web server answers throughout, the helper comes back, and what
            # it had started (RQ's scheduler process) does not linger as an orphan.
            worker = stack.child("worker work")
            orphans = {p.pid for p in processes() if p.pgid == worker.pid}
            web_errors: list[str] = []
            done = threading.Event()

            def poll_web() -> None:
                while not done.is_set():
                    try:
                        if requests.get(f"{stack.url}/healthz", timeout=5).status_code != 200:
                            web_errors.append("not 200")
                    except requests.RequestException as exc:
                        web_errors.append(type(exc).__name__)
                    time.sleep(0.2)

            poller = threading.Thread(target=poll_web)
            poller.start()
            try:
                os.kill(worker.pid, signal.SIGKILL)
                deadline = time.monotonic() + 30
                restarted = None
                while time.monotonic() < deadline and restarted is None:
                    found = [p for p in stack.children() if "worker work" in p.cmdline and p.ppid == stack.process.pid]
                    restarted = found[0] if found and found[0].pid != worker.pid else None
                    time.sleep(0.2)
                assert restarted is not None, stack.output[-2000:]
                time.sleep(1)
                assert not alive(orphans), "the killed worker's own children outlived it"
            finally:
                done.set()
                poller.join()
            assert not web_errors, web_errors
            assert "worker-1 exited" in stack.output

        took = stack.stop(signum)
        assert took <= 10, f"stopped in {took:.1f} s"
        assert stack.process.returncode == 0
        assert stack.output.rstrip().endswith("Stopped.")
        assert port_is_free(stack.port)


def _deposits_print_no_job_lines(stack: Stack) -> None:
    """At the default LOG_LEVEL, jobs that went well print nothing each (RQ's lines are debug): the
    banner does not scroll away."""
    stack.cli("sender", "create", "--org", "Cabinet Idrissi", "--email", "a@idrissi.ma", "--password", "x" * 16)
    token = stack.cli("token", "create", "--email", "a@idrissi.ma").strip().splitlines()[-1]
    pdf = (ROOT / "examples" / "letter.pdf").read_bytes()
    for n in range(3):
        response = requests.post(
            f"{stack.url}/api/v1/letters",
            headers={"Authorization": f"Bearer {token}"},
            data={"recipient_phone": f"061234567{n}", "recipient_name": "Salma Bennani"},
            files={"document": ("letter.pdf", pdf, "application/pdf")},
            timeout=30,
        )
        assert response.status_code == 201, response.text
    outbox = stack.instance / "sms-outbox.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not outbox.exists() or len(outbox.read_text().splitlines()) < 3):
        time.sleep(0.3)
    assert len(outbox.read_text().splitlines()) == 3
    for noise in ("Job OK", "Successfully completed", "send_message_job(", "issue_proof_job("):
        assert noise not in stack.output, noise


def _the_readme_walk_through_works(stack: Stack, clone: Path) -> None:
    """The README's walk-through, as written, from the root of a checkout, on this stack's PORT."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Walk a letter through", 1)[1]
    script = section.split("```sh", 1)[1].split("```", 1)[0]
    assert "${PORT:-5000}" in script
    assert "examples/letter.pdf" in script
    # A checkout whose instance folder is this stack's (the README's `instance/…` paths).
    clone.mkdir()
    for name in (".venv", "examples", "wsgi.py", "webapp", "migrations", "templates", "static"):
        (clone / name).symlink_to(ROOT / name)
    (clone / "instance").symlink_to(stack.instance)
    env = {k: v for k, v in stack.env.items() if k != "PUBLIC_URL"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer = _first_json_object(result.stdout)  # curl's answer (no newline after it: `tail` follows on its line)
    assert answer["status"] == "deposited", result.stdout
    outbox = stack.instance / "sms-outbox.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and answer["reference"] not in outbox.read_text():
        time.sleep(0.3)
    assert answer["reference"] in outbox.read_text()


def _first_json_object(text: str) -> dict[str, object]:
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            found, _end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(found, dict) and "reference" in found:
            return found
    raise AssertionError(f"no letter in {text!r}")
