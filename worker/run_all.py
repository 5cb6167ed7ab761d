"""`make run`: the whole embedded stack in one terminal, stopped cleanly by Ctrl-C or SIGTERM.

Starts the embedded Redis (when REDIS_URL is unset), applies migrations, then
runs the web server (gunicorn), one RQ worker and the scheduler as child
processes.  If any child dies, or on SIGINT/SIGTERM, every child is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from webapp.config import DEFAULT_INSTANCE_PATH

VENV_BIN = Path(sys.executable).parent
STOP_GRACE_SECONDS = 10


def main() -> int:
    instance = Path(os.environ.get("INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH))).resolve()
    port = os.environ.get("PORT", "5000")
    host = os.environ.get("HOST", "127.0.0.1")
    env = dict(os.environ, INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    env.setdefault("PUBLIC_URL", f"http://localhost:{port}")

    redis_server = None
    if not env.get("REDIS_URL"):
        from webapp.embedded_redis import start_embedded_redis

        redis_server = start_embedded_redis(instance)
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"

    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True)

    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    commands = {
        "web": [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "2"),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            "wsgi:app",
        ],
        "worker": [sys.executable, "-m", "worker", "work"],
        "scheduler": [sys.executable, "-m", "worker", "scheduler"],
    }
    try:
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, env=env)
        _banner(env["PUBLIC_URL"], env, instance)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"\n{name} exited with code {child.returncode}; stopping everything.")
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.5)
        return exit_code
    finally:
        _stop_children(children)
        if redis_server is not None:
            redis_server.shutdown()
        print("Stopped.")


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _banner(url: str, env: dict[str, str], instance: Path) -> None:
    print(
        f"""
  Wassit is running at {url}
  SMS outbox (console provider): {env.get("SMS_OUTBOX", instance / "sms-outbox.jsonl")}
  Email outbox (console provider): {env.get("EMAIL_OUTBOX", instance / "email-outbox.jsonl")}

  Create a sender and an API token (in another terminal):
    .venv/bin/flask --app wsgi sender create --org "My Company" \\
        --email me@example.ma --password 'a long password'
    .venv/bin/flask --app wsgi token create --email me@example.ma

  Press Ctrl-C to stop.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
