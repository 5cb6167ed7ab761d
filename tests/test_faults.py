"""Fault injection on the real stack (issue 17, deliverable 8): a worker killed with SIGKILL in the
middle of a 300-letter batch, Redis stopped for 20 s (then frozen) during deposits and recipient
decisions, PostgreSQL restarted during deposits.

Every fault runs against `python -m worker.run_all` (web server, workers, scheduler) with a Redis of
its own (`RedisServer`, a redis-server on a free loopback port: stopped and frozen at will) and, for the
database restart, a throwaway PostgreSQL cluster of its own.  After recovery: every letter notified
exactly once (no SMS twice), every deposit proof issued within 60 s of the fault's end, `flask evidence
audit` clean, no request answered 500 (a database outage answers 503 with Retry-After), and the web
server answering throughout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tests.stack_helpers import ROOT, PostgresCluster, RedisServer, Stack, postgres_bin, running_stack, stack_env
from webapp.config import Settings, normalise_database_url
from webapp.models import Letter, MessagePurpose, OutboundMessage, Proof

pytestmark = pytest.mark.e2e

PDF = (ROOT / "examples" / "letter.pdf").read_bytes()
RECOVERY_SECONDS = 60


def recovery_seconds() -> float:
    """A minute, on a machine with its cores to itself (CI).  On a machine shared with other test runs
    (load above the core count) every proof takes longer, recovered or not: the minute stretches by the
    load per core, so that the test measures recovery, not how busy the neighbours are."""
    load_per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return RECOVERY_SECONDS * max(1.0, load_per_core)


def _phone(index: int) -> str:
    return f"06{13000000 + index:08d}"


@dataclass
class Traffic:
    """Every answer the tests got, and whether the web server answered throughout."""

    answers: list[tuple[str, int, str | None]] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, response: requests.Response) -> None:
        with self.lock:
            self.answers.append((what, response.status_code, response.headers.get("Retry-After")))

    def check(self) -> None:
        assert not self.unreachable, f"the web server did not answer: {self.unreachable[:5]}"
        errors = [a for a in self.answers if a[1] >= 500 and a[1] != 503]
        assert not errors, errors[:10]
        unavailable = [a for a in self.answers if a[1] == 503 and not a[0].startswith("GET /healthz")]
        assert all(a[2] and a[2].isdigit() for a in unavailable), unavailable[:5]


class WebWatch:
    """Asks the web server for a page every 0.3 s in a thread: any connection refused or timed out is the
    web server down."""

    def __init__(self, stack: Stack, traffic: Traffic) -> None:
        self.stack = stack
        self.traffic = traffic
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                response = requests.get(f"{self.stack.url}/check", timeout=10)
                self.traffic.record("GET /check", response)
            except requests.RequestException as exc:
                self.traffic.unreachable.append(f"{time.strftime('%X')} {type(exc).__name__}")
            self._done.wait(0.3)

    def __enter__(self) -> WebWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()


@dataclass
class Sender:
    stack: Stack
    token: str
    traffic: Traffic

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def deposit(self, index: int) -> dict[str, Any] | None:
        """One letter through the API; None when the service said to come back later (503)."""
        response = requests.post(
            f"{self.stack.url}/api/v1/letters",
            headers=self.auth,
            data={"recipient_phone": _phone(index), "recipient_name": f"Destinataire {index}"},
            files={"document": ("letter.pdf", PDF, "application/pdf")},
            timeout=30,
        )
        self.traffic.record("POST /api/v1/letters", response)
        if response.status_code == 503:
            return None
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def _sender(stack: Stack, traffic: Traffic) -> Sender:
    stack.cli("sender", "create", "--org", "Cabinet Idrissi", "--email", "avocat@idrissi.ma", "--password", "x" * 16)
    token = stack.cli("token", "create", "--email", "avocat@idrissi.ma").strip().splitlines()[-1]
    return Sender(stack, token, traffic)


def _database_url(stack: Stack) -> str:
    return normalise_database_url(stack.env.get("DATABASE_URL") or f"sqlite:///{stack.instance / 'wassit.db'}")


@dataclass(frozen=True)
class Outcome:
    letters: dict[str, str]  # id → status
    deposit_proofs_pending: set[str]
    proofs_pending: set[tuple[str, str]]
    notifications: dict[str, list[str]]  # letter id → its notification messages' ids
    messages_pending: int


def _outcome(stack: Stack) -> Outcome:
    engine = create_engine(_database_url(stack))
    try:
        with Session(engine) as session:
            letters = {row.id: row.status.value for row in session.execute(select(Letter.id, Letter.status))}
            proofs = session.execute(select(Proof.letter_id, Proof.kind, Proof.status)).all()
            messages = session.execute(
                select(OutboundMessage.id, OutboundMessage.letter_id, OutboundMessage.purpose, OutboundMessage.status)
            ).all()
    finally:
        engine.dispose()
    notifications: dict[str, list[str]] = {}
    for message in messages:
        if message.purpose is MessagePurpose.NOTIFICATION:
            notifications.setdefault(message.letter_id, []).append(message.id)
    return Outcome(
        letters=letters,
        deposit_proofs_pending={p.letter_id for p in proofs if p.kind.value == "deposit" and p.status.value != "ready"},
        proofs_pending={(p.letter_id, p.kind.value) for p in proofs if p.status.value != "ready"},
        notifications=notifications,
        messages_pending=sum(m.status.value in ("pending", "submitting") for m in messages),
    )


def _outbox(stack: Stack) -> list[dict[str, Any]]:
    path = stack.instance / "sms-outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _recovered(
    stack: Stack,
    expected_letters: int,
    since: float,
    *,
    within: float | None = None,
    only: set[str] | None = None,
) -> Outcome:
    """Waits until every letter is notified and every deposit proof issued, at most `within` seconds
    (`RECOVERY_SECONDS`) after `since` (the fault's end); returns what the database says then.  With
    `only`, of those letters alone."""
    state: list[Outcome] = []

    def done() -> bool:
        outcome = _outcome(stack)
        state[:] = [outcome]
        letters = {i: s for i, s in outcome.letters.items() if only is None or i in only}
        return (
            len(letters) >= expected_letters
            and all(status != "deposited" for status in letters.values())
            and not (outcome.deposit_proofs_pending & set(letters))
        )

    within = recovery_seconds() if within is None else within
    remaining = within - (time.monotonic() - since)
    try:
        _wait(done, max(remaining, 1), "every letter notified and every deposit proof issued after the fault")
    except AssertionError:
        outcome = state[0] if state else None
        summary = (
            {
                "letters": len(outcome.letters),
                "statuses": Counter(outcome.letters.values()),
                "deposit proofs pending": len(outcome.deposit_proofs_pending),
                "messages pending": outcome.messages_pending,
            }
            if outcome
            else None
        )
        raise AssertionError(
            f"not recovered {within:.0f} s after the fault: {summary}\n{stack.output[-4000:]}"
        ) from None
    return state[0]


def _notified_exactly_once(stack: Stack, outcome: Outcome) -> None:
    sent = Counter(line["id"] for line in _outbox(stack))
    assert all(count == 1 for count in sent.values()), [i for i, c in sent.items() if c > 1][:5]
    for letter_id in outcome.letters:
        handed_over = [m for m in outcome.notifications.get(letter_id, []) if m in sent]
        assert len(handed_over) == 1, (letter_id, outcome.notifications.get(letter_id))


def _audit_clean(stack: Stack) -> None:
    report = stack.cli("evidence", "audit")
    assert "The journal is intact." in report, report


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _env(tmp_path: Path, settings: Settings, redis: RedisServer, **extra: str) -> dict[str, str]:
    return stack_env(
        tmp_path,
        database_url=settings.database_url if os.environ.get("DATABASE_URL") else None,
        redis_url=redis.url,
        WORKERS="2",
        **extra,
    )


# --- a worker killed in the middle of a batch -----------------------------------------------------------


def test_a_worker_killed_in_the_middle_of_a_300_letter_batch(
    tmp_path: Path, settings: Settings, redis_server: RedisServer
) -> None:
    traffic = Traffic()
    with running_stack(_env(tmp_path, settings, redis_server), tmp_path / "run.log") as stack, WebWatch(stack, traffic):
        sender = _sender(stack, traffic)
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(["nom", "mobile"])
        for index in range(300):
            writer.writerow([f"Destinataire {index}", _phone(index)])
        response = requests.post(
            f"{stack.url}/api/v1/batches",
            headers=sender.auth,
            files={
                "csv": ("destinataires.csv", rows.getvalue().encode(), "text/csv"),
                "document": ("courrier.pdf", PDF, "application/pdf"),
            },
            timeout=120,
        )
        traffic.record("POST /api/v1/batches", response)
        assert response.status_code in (201, 202), response.text

        # Find the worker running the batch, once it is well into it, and kill it outright.
        redis = Redis.from_url(redis_server.url)
        victim = None

        def batch_under_way() -> bool:
            nonlocal victim
            if len(_outcome(stack).letters) < 30:
                return False
            for key in redis.keys("rq:worker:*"):
                worker = redis.hgetall(key)
                if worker.get(b"current_job", b"").startswith(b"batch-") and worker.get(b"pid"):
                    victim = int(worker[b"pid"])
                    return True
            return False

        _wait(batch_under_way, 120, "the batch under way")
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        fault_end = time.monotonic()
        before = set(_outcome(stack).letters)
        assert len(before) < 300, "the batch ended before the worker could be killed"

        # The letters deposited before the kill: notified, with their proofs, within the minute.
        _recovered(stack, len(before), fault_end, only=before)
        # The rest of the batch goes on (another worker, or the killed one restarted, takes it up again),
        # at the pace of the machine: a proof each for 300 letters takes a while on two shared cores.
        _wait(lambda: len(_outcome(stack).letters) == 300, 180, "the whole batch deposited")
        outcome = _recovered(stack, 300, time.monotonic(), within=180)
        assert len(outcome.letters) == 300  # none twice: the batch resumed where it stopped
        assert set(outcome.letters.values()) == {"notified"}
        _notified_exactly_once(stack, outcome)
        _audit_clean(stack)
        assert "exited (code -9)" in stack.output
        redis.close()
    traffic.check()


# --- Redis stopped, then frozen --------------------------------------------------------------------------


def _identify(
    stack: Stack, sender: Sender, letter: dict[str, Any], index: int, traffic: Traffic
) -> tuple[requests.Session, str, dict[str, str]]:
    """Opens the letter's link, asks for a code, types it: the recipient is at the decision."""

    def link() -> str | None:
        for line in _outbox(stack):
            if line["to"] == "+212" + _phone(index)[1:] and "/l/" in line["text"]:
                found = re.search(r"(http://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+)", line["text"])
                if found:
                    return found.group(1)
        return None

    _wait(lambda: link() is not None, 60, "the notification SMS")
    browser = requests.Session()
    landing = browser.get(link() or "", timeout=30)
    traffic.record("GET /l/", landing)
    action, fields = _form(landing.text, "/code")
    code_page = browser.post(stack.url + action, data=fields, timeout=30)
    traffic.record("POST code", code_page)

    def codes() -> list[str]:
        number = "+212" + _phone(index)[1:]
        return [line["text"] for line in _outbox(stack) if line["to"] == number and "/l/" not in line["text"]]

    _wait(lambda: bool(codes()), 60, "the code SMS")
    code = re.search(r"\b(\d{6})\b", codes()[-1])
    assert code
    action, fields = _form(code_page.text, "/code/check")
    decision_page = browser.post(stack.url + action, data={**fields, "code": code.group(1)}, timeout=30)
    traffic.record("POST code check", decision_page)
    action, fields = _form(decision_page.text, "/decision")
    return browser, action, fields


def _form(html: str, action_part: str) -> tuple[str, dict[str, str]]:
    for match in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        if action_part in match.group(1):
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(2)))
            return match.group(1), fields
    raise AssertionError(f"no form posting to {action_part!r}")


def test_redis_stopped_for_20_seconds_then_frozen_during_deposits_and_decisions(
    tmp_path: Path, settings: Settings, redis_server: RedisServer
) -> None:
    traffic = Traffic()
    with running_stack(_env(tmp_path, settings, redis_server), tmp_path / "run.log") as stack, WebWatch(stack, traffic):
        sender = _sender(stack, traffic)
        first = [sender.deposit(index) for index in range(4)]
        at_decision = [_identify(stack, sender, letter or {}, index, traffic) for index, letter in enumerate(first)]
        helpers = {name: stack.child(name).pid for name in ("worker scheduler",)}
        workers = sorted(p.pid for p in stack.children() if "worker work" in p.cmdline and p.ppid == stack.process.pid)

        # Redis goes away, with everything it held (no persistence): 20 s of deposits and decisions.
        redis_server.stop()
        outage_started = time.monotonic()
        deposited = 4
        decisions = iter(enumerate(at_decision))
        slowest = 0.0
        while time.monotonic() - outage_started < 20:
            began = time.monotonic()
            if sender.deposit(deposited):
                deposited += 1
            slowest = max(slowest, time.monotonic() - began)
            step = next(decisions, None)
            if step is not None:
                index, (browser, action, fields) = step
                answer = browser.post(
                    stack.url + action, data={**fields, "decision": "accept" if index % 2 else "refuse"}, timeout=30
                )
                traffic.record("POST decision", answer)
                assert answer.status_code == 200, answer.status_code
            time.sleep(0.3)
        redis_server.start()
        fault_end = time.monotonic()
        assert slowest < 5, f"a deposit took {slowest:.1f} s with Redis down"

        outcome = _recovered(stack, deposited, fault_end)
        # The workers and the scheduler waited Redis out: none exited, none was restarted.
        assert {name: stack.child(name).pid for name in helpers} == helpers
        assert (
            sorted(p.pid for p in stack.children() if "worker work" in p.cmdline and p.ppid == stack.process.pid)
            == workers
        )
        assert "exited (code" not in stack.output
        statuses = Counter(outcome.letters.values())
        assert statuses == {"notified": deposited - 4, "accepted": 2, "refused": 2}, statuses
        _wait(
            lambda: not _outcome(stack).proofs_pending,
            recovery_seconds() - (time.monotonic() - fault_end),
            "the decisions' proofs",
        )
        _notified_exactly_once(stack, outcome)

        # Frozen (SIGSTOP) for 10 s: deposits answer in seconds, not when Redis wakes up.
        redis_server.freeze()
        frozen_at = time.monotonic()
        slowest = 0.0
        while time.monotonic() - frozen_at < 10:
            began = time.monotonic()
            if sender.deposit(deposited):
                deposited += 1
            slowest = max(slowest, time.monotonic() - began)
        redis_server.thaw()
        thawed = time.monotonic()
        assert slowest < 5, f"a deposit took {slowest:.1f} s with Redis frozen"
        outcome = _recovered(stack, deposited, thawed)
        _notified_exactly_once(stack, outcome)
        _audit_clean(stack)
    traffic.check()


# --- PostgreSQL restarted ---------------------------------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("PostgreSQL is restarted only in the PostgreSQL run (DATABASE_URL=postgresql://…)")
    if postgres_bin() is None or (os.geteuid() == 0 and not shutil.which("setpriv")):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) to run a private cluster with")
    cluster = PostgresCluster()
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.destroy()


def test_postgresql_restarted_during_deposits(
    tmp_path: Path, redis_server: RedisServer, private_postgres: PostgresCluster
) -> None:
    traffic = Traffic()
    env = stack_env(tmp_path, database_url=private_postgres.url, redis_url=redis_server.url, WORKERS="2")
    with running_stack(env, tmp_path / "run.log") as stack, WebWatch(stack, traffic):
        sender = _sender(stack, traffic)
        deposited = 0
        for _ in range(5):
            if sender.deposit(deposited):
                deposited += 1
        private_postgres.stop()
        stopped_at = time.monotonic()
        refused = 0
        while time.monotonic() - stopped_at < 10:
            if sender.deposit(deposited):
                deposited += 1
            else:
                refused += 1
            page = requests.get(f"{stack.url}/l/AbCdEfGhIjKlMnOpQrStUvWxYz012345", timeout=30)
            traffic.record("GET /l/", page)
            assert page.status_code == 503
            time.sleep(0.3)
        private_postgres.start()
        fault_end = time.monotonic()
        assert refused > 0  # 503 with Retry-After (checked with the rest of the traffic below)
        for _ in range(5):
            if sender.deposit(deposited):
                deposited += 1
        outcome = _recovered(stack, deposited, fault_end)
        assert len(outcome.letters) == deposited  # none stored twice, none lost
        _notified_exactly_once(stack, outcome)
        _audit_clean(stack)
        assert "Traceback" not in stack.output
    traffic.check()
