"""A bank's campaign, measured end to end on the real stack: 10,000 letters through one batch upload.

    .venv/bin/python -m bench.campaign [--rows 10000] [--seconds 10] [--timeout 3600] [--no-json]
    make bench BENCH=campaign
    DATABASE_URL=postgresql://… REDIS_URL=redis://… make bench BENCH=campaign

One run starts `python -m worker.run_all` (web server, workers, scheduler; `WORKERS` passes through)
on a temporary instance — SQLite and an embedded Redis, or the servers `DATABASE_URL` and
`REDIS_URL` name (a fresh database is created beside the one named, and dropped after) — creates a
sender and an API token with the CLI, deposits 20 *probe* letters and reads their links, then:

1. **Baselines, idle.**  The bare rate of a single-process pyHanko PAdES signature with its timestamp
   (`bench.proofs.bare_signature`, our seal key and TSA, one-page PDF); the landing page's requests/s
   (`GET /l/<token>`) and a bare Flask page serving the same bytes under the same gunicorn settings
   (`bench/bare_app.py`), each loaded by `bench/loadgen.py`.
2. **The campaign.**  A CSV of `--rows` rows (distinct mobile numbers) and one 200,000-byte PDF for
   every row, through `POST /api/v1/batches`, as an integrator sends it.  From the upload, the run
   notes when the last letter was deposited (the batch `done`), when the last notification was handed
   to the SMS provider (the console provider's outbox, one JSON line per SMS with its time), and when
   the last deposit proof was ready (`/metrics.json`: no proof pending), each as letters/s; the
   campaign's proofs/s beside the bare signature rate.  While the campaign runs: the landing page's
   requests/s (and its errors), and the latency of a recipient's code SMS (a probe recipient asks for a
   code, through the real form; the time until the code's SMS is in the outbox), p50 and p95.
3. **API deposits.**  8 clients (threads, keep-alive connections) POST letters with a 200,000-byte PDF
   to `POST /api/v1/letters` for `--seconds` seconds: letters/s, beside the same requests to a bare
   Flask upload (`bench/bare_app.py`: the file parsed, hashed, written and fsynced) on the same
   gunicorn settings, measured first while our workers are idle.

Everything targets 127.0.0.1, is bounded in count and time, and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import LoadFigures
from bench.proofs import bare_lta_signature, bare_signature, bench_app, one_page_pdf
from bench.recipient import (
    RESULTS,
    ROOT,
    VENV_BIN,
    free_port,
    gunicorn,
    http_request,
    load,
    machine,
    padded_pdf,
    progress,
    stop,
    wait_until_up,
)
from webapp.services import Services

PDF_BYTES = 200_000
PROBES = 20
API_CLIENTS = 8
METRICS_TOKEN = "bench-" + secrets.token_hex(16)
LINK = re.compile(r"https?://\S+/l/[A-Za-z0-9_-]+")
CODE = re.compile(r"\b(\d{6})\b")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    outbox: Path
    directory: Path
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(self, *args: str) -> str:
        command = [str(VENV_BIN / "flask"), "--app", "wsgi", *args]
        return subprocess.run(command, env=self.env, cwd=ROOT, capture_output=True, text=True, check=True).stdout

    def metrics(self) -> dict[str, Any]:
        status, body = http_request(f"{self.url}/metrics.json", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        if status != 200:
            raise RuntimeError(f"/metrics.json answered {status}")
        result: dict[str, Any] = json.loads(body)
        return result


class Outbox:
    """Reads the console provider's outbox as it grows: every SMS, with the time it was handed over."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self.lines: list[dict[str, str]] = []

    def poll(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        new = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line]
        self.lines += new
        return new

    def to(self, phone: str) -> list[dict[str, str]]:
        self.poll()
        return [line for line in self.lines if line["to"] == phone]


@contextmanager
def database(url: str | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database beside the one `url` names (dropped afterwards), or None for SQLite."""
    if not url:
        yield None
        return
    import psycopg

    from webapp.config import normalise_database_url

    parts = urlsplit(url)
    name = f"bench_campaign_{secrets.token_hex(4)}"
    admin = parts._replace(scheme="postgresql").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield normalise_database_url(parts._replace(path=f"/{name}").geturl())
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_stack(directory: Path) -> Iterator[Stack]:
    """`python -m worker.run_all` on a fresh instance; an embedded Redis this process owns unless REDIS_URL."""
    instance = directory / "instance"
    redis = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        from webapp.embedded_redis import start_embedded_redis

        redis = start_embedded_redis(instance)
        redis_url = f"unix://{redis.socket_file}"
    else:
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    outbox = directory / "sms-outbox.jsonl"
    with database(os.environ.get("DATABASE_URL")) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRET_", "MASTER_", "SMS_"))}
        env.update(
            INSTANCE_PATH=str(instance),
            HOST="127.0.0.1",
            PORT=str(port),
            PUBLIC_URL=url,
            REDIS_URL=redis_url,
            SMS_PROVIDER="console",
            SMS_OUTBOX=str(outbox),
            EMAIL_PROVIDER="console",
            EMAIL_OUTBOX=str(directory / "email-outbox.jsonl"),
            SESSION_COOKIE_SECURE="0",
            METRICS_TOKEN=METRICS_TOKEN,
            # The probes ask for codes from one address: the bench names a distinct client per request.
            TRUSTED_PROXIES="1",
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        log = directory / "stack.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker.run_all"],
                env=env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            progress("starting the stack: python -m worker.run_all")
            wait_until_up(f"{url}/healthz", process, log, timeout=180)
            yield Stack(url, env, outbox, directory)
        except Exception:
            print(f"--- the stack's log ({log}), last lines:", file=sys.stderr)
            print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            progress("stopping the stack")
            stop(process, grace=15)
            if redis is not None:
                redis.shutdown()
            keep_log_of_trouble(log)


def keep_log_of_trouble(log: Path) -> None:
    """The stack's log is kept (bench/results/, git-ignored) when it reports trouble, and its warnings
    are summed up: what an error count in the figures came from."""
    text = log.read_text(errors="replace") if log.exists() else ""
    trouble = Counter(
        re.sub(r"\b[0-9a-f]{8,}\b|\d+", "#", line.split("] ", 1)[-1])[:160]
        for line in text.splitlines()
        if re.search(r"WARNING|ERROR|CRITICAL|Traceback|\[CRITICAL\]| 50[0-9] ", line)
    )
    if not trouble:
        return
    RESULTS.mkdir(exist_ok=True)
    kept = RESULTS / f"campaign-stack-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.log"
    shutil.copyfile(log, kept)
    progress(f"the stack reported trouble; its log is kept in {kept.relative_to(ROOT)}:")
    for line, count in trouble.most_common(12):
        progress(f"  {count:6d} × {line}")


# ---------------------------------------------------------------- requests


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, mimetype) in files.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {mimetype}\r\n\r\n".encode()
        )
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Probe:
    phone: str  # international form, as in the outbox
    link: str
    codes_asked: int = 0


def deposit_probes(stack: Stack, document: bytes, outbox: Outbox) -> list[Probe]:
    probes = []
    for index in range(PROBES):
        national = f"0699{index:06d}"
        body, content_type = multipart(
            {"recipient_phone": national, "recipient_name": "Salma Bennani", "language": "fr"},
            {"document": ("mise-en-demeure.pdf", document, "application/pdf")},
        )
        status, answer = http_request(
            f"{stack.url}/api/v1/letters", "POST", body, {**stack.auth, "Content-Type": content_type}
        )
        if status != 201:
            raise RuntimeError(f"probe deposit failed: {status} {answer[:300]!r}")
        probes.append(Probe("+212" + national[1:], ""))
    deadline = time.monotonic() + 300
    for probe in probes:
        while not outbox.to(probe.phone):
            if time.monotonic() > deadline:
                raise RuntimeError("the probes were not notified within 5 minutes")
            time.sleep(0.1)
        match = LINK.search(outbox.to(probe.phone)[0]["text"])
        if match is None:
            raise RuntimeError("no link in a probe's SMS")
        probe.link = match.group(0)
    return probes


def code_latency(probe: Probe, outbox: Outbox, client: int, timeout: float = 600) -> float | None:
    """Asks for a code through the landing page's form; seconds until its SMS is in the outbox."""
    parts = urlsplit(probe.link)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    forwarded = {"X-Forwarded-For": f"198.51.100.{client % 250 + 1}"}
    try:
        connection.request("GET", parts.path, headers=forwarded)
        response = connection.getresponse()
        page = response.read().decode("utf-8", "replace")
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        match = CSRF.search(page)
        before = len(outbox.to(probe.phone))
        started = time.monotonic()
        fields = f"csrf_token={match.group(1)}" if match else ""
        headers = {**forwarded, "Content-Type": "application/x-www-form-urlencoded"}
        if cookie:
            headers["Cookie"] = cookie
        connection.request("POST", parts.path + "/code", body=fields.encode(), headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status not in (200, 303):
            return None
    finally:
        connection.close()
    probe.codes_asked += 1
    while time.monotonic() - started < timeout:
        if len(outbox.to(probe.phone)) > before:
            return time.monotonic() - started
        time.sleep(0.05)
    return math.inf


# ---------------------------------------------------------------- phases


def bare_signature_rates(count: int) -> tuple[float, float]:
    """Bare single-process PAdES signatures per second (our seal and TSA): B-T (a signature with its
    timestamp) and B-LTA (the same, then validation data and an archive timestamp, as our proofs)."""
    with tempfile.TemporaryDirectory() as scratch, bench_app(Path(scratch)) as app, app.app_context():
        services: Services = app.extensions["wassit"]
        pdf = one_page_pdf("campaign")
        rates = []
        for sign in (bare_signature, bare_lta_signature):
            for _ in range(3):
                sign(services, pdf)
            started = time.perf_counter()
            for _ in range(count):
                sign(services, pdf)
            rates.append(count / (time.perf_counter() - started))
        return rates[0], rates[1]


@dataclass
class Campaign:
    rows: int
    upload_seconds: float = math.nan
    deposited_seconds: float = math.nan
    notified_seconds: float = math.nan
    proofs_seconds: float = math.nan
    landing_during: list[LoadFigures] = field(default_factory=list)
    code_latencies: list[float] = field(default_factory=list)
    timed_out: bool = False


def campaign_files(rows: int) -> tuple[bytes, list[str]]:
    lines = ["name,mobile,reference"]
    phones = []
    for index in range(rows):
        national = f"06{10_000_000 + index:08d}"
        lines.append(f"Destinataire {index},{national},CAMPAGNE-{index}")
        phones.append("+212" + national[1:])
    return ("\n".join(lines) + "\n").encode(), phones


def run_campaign(
    stack: Stack, outbox: Outbox, probes: list[Probe], rows: int, seconds: float, timeout: float
) -> Campaign:
    csv, phones = campaign_files(rows)
    wanted = set(phones)
    document = padded_pdf(PDF_BYTES)
    body, content_type = multipart(
        {"language": "fr"},
        {"csv": ("campagne.csv", csv, "text/csv"), "document": ("mise-en-demeure.pdf", document, "application/pdf")},
    )
    result = Campaign(rows)
    outbox.poll()
    started = time.monotonic()
    status, answer = http_request(
        f"{stack.url}/api/v1/batches", "POST", body, {**stack.auth, "Content-Type": content_type}
    )
    result.upload_seconds = time.monotonic() - started
    if status not in (201, 202):
        raise RuntimeError(f"batch upload answered {status}: {answer[:500]!r}")
    batch_id = json.loads(answer)["id"]
    progress(f"batch uploaded in {result.upload_seconds:.1f} s; the campaign runs")

    notified: set[str] = set()
    last_sms_at: datetime | None = None
    upload_at = datetime.now(UTC) - timedelta(seconds=result.upload_seconds)
    stop_probing = threading.Event()
    probe_lock = threading.Lock()

    def probing() -> None:
        client = 0
        while not stop_probing.is_set():
            with probe_lock:
                candidates = [p for p in probes if p.codes_asked < 3]
            if not candidates:
                return
            latency = code_latency(candidates[client % len(candidates)], Outbox(stack.outbox), client)
            client += 1
            if latency is not None:
                result.code_latencies.append(latency)
            stop_probing.wait(3)

    prober = threading.Thread(target=probing, daemon=True)
    prober.start()
    probe_landing = urlsplit(probes[0].link).path
    next_load = time.monotonic() + 5
    deadline = started + timeout
    while time.monotonic() < deadline:
        for line in outbox.poll():
            if line["to"] in wanted and line["to"] not in notified:
                notified.add(line["to"])
                last_sms_at = datetime.fromisoformat(line["at"])
        now = time.monotonic()
        if math.isnan(result.deposited_seconds):
            status, answer = http_request(f"{stack.url}/api/v1/batches/{batch_id}", headers=stack.auth)
            if status == 200 and json.loads(answer)["status"] == "done":
                result.deposited_seconds = now - started
                progress(f"last letter deposited after {result.deposited_seconds:.0f} s")
        if math.isnan(result.notified_seconds) and len(notified) == rows and last_sms_at is not None:
            result.notified_seconds = (last_sms_at - upload_at).total_seconds()
            progress(f"last notification handed over after {result.notified_seconds:.0f} s")
        if not math.isnan(result.deposited_seconds) and math.isnan(result.proofs_seconds):
            metrics = stack.metrics()
            if metrics["proofs_pending"] == 0:
                result.proofs_seconds = now - started
                progress(f"last deposit proof ready after {result.proofs_seconds:.0f} s")
        if not any(math.isnan(x) for x in (result.deposited_seconds, result.notified_seconds, result.proofs_seconds)):
            break
        if now >= next_load and len(result.landing_during) < 5:
            latencies, errors = load(
                f"{stack.url}{probe_landing}", {}, {"processes": 1, "threads": 4, "warmup": 1, "duration": seconds}
            )
            result.landing_during.append(
                LoadFigures.of("landing page, during the campaign", latencies, seconds, errors)
            )
            next_load = time.monotonic() + 20
        time.sleep(0.5)
    else:
        result.timed_out = True
    stop_probing.set()
    prober.join(timeout=60)
    return result


def api_deposits(url: str, auth: dict[str, str], seconds: float) -> tuple[float, int]:
    """Letters/s that API_CLIENTS keep-alive clients deposit with a 200 KB PDF at `url` (our stack,
    or the bare upload of `bench/bare_app.py`), and the errors."""
    document = padded_pdf(PDF_BYTES)
    parts = urlsplit(url)
    counts = [0] * API_CLIENTS
    errors = [0] * API_CLIENTS
    kinds: Counter[str] = Counter()
    barrier = threading.Barrier(API_CLIENTS + 1)
    window: dict[str, float] = {}

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(parts.netloc, timeout=60)
        barrier.wait()
        index = 0
        while time.monotonic() < window["end"]:
            national = f"07{number:02d}{index:06d}"
            body, content_type = multipart(
                {"recipient_phone": national, "recipient_name": "Client API"},
                {"document": ("lettre.pdf", document, "application/pdf")},
            )
            try:
                connection.request("POST", "/api/v1/letters", body=body, headers={**auth, "Content-Type": content_type})
                response = connection.getresponse()
                response.read()
                if response.status == 201 and time.monotonic() < window["end"]:
                    counts[number] += 1
                elif response.status != 201:
                    errors[number] += 1
                    kinds[str(response.status)] += 1
            except OSError as exc:
                errors[number] += 1
                kinds[type(exc).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.netloc, timeout=60)
            index += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(API_CLIENTS)]
    for thread in threads:
        thread.start()
    window["end"] = time.monotonic() + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    if kinds:
        progress("API deposit errors: " + ", ".join(f"{kind} × {n}" for kind, n in kinds.most_common()))
    return sum(counts) / seconds, sum(errors)


# ---------------------------------------------------------------- run and report


def run(rows: int, seconds: float, timeout: float, signatures: int) -> dict[str, Any]:
    progress(f"bare signatures: {signatures}")
    bare_rate, bare_lta_rate = bare_signature_rates(signatures)
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as scratch, running_stack(Path(scratch)) as stack:
        stack.cli("sender", "create", "--org", "Banque Atlas", "--email", "bench@atlas.ma", "--password", "x" * 16)
        stack.token = stack.cli("token", "create", "--email", "bench@atlas.ma").strip().splitlines()[-1]
        outbox = Outbox(stack.outbox)
        probes = deposit_probes(stack, padded_pdf(PDF_BYTES), outbox)
        path = urlsplit(probes[0].link).path
        page = stack.directory / "landing.html"
        status, html = http_request(probes[0].link)
        if status != 200:
            raise RuntimeError(f"the landing page answered {status}")
        page.write_bytes(html)
        bare_env = {k: v for k, v in stack.env.items() if k != "PUBLIC_URL"} | {"BARE_PAGE": str(page)}
        settings = {"processes": 1, "threads": 4, "warmup": 1, "duration": seconds}
        progress("landing page idle, beside a bare Flask page")
        with gunicorn("bench.bare_app:app", bare_env, stack.directory, path) as bare:
            latencies, errors = load(f"http://127.0.0.1:{bare}{path}", {}, settings)
            bare_figures = LoadFigures.of("bare Flask page, same HTML", latencies, seconds, errors)
        latencies, errors = load(f"{stack.url}{path}", {}, settings)
        idle = LoadFigures.of("landing page, idle", latencies, seconds, errors)
        campaign = run_campaign(stack, outbox, probes, rows, seconds, timeout)
        progress(f"API deposits: {API_CLIENTS} clients, {seconds:.0f} s, beside a bare Flask upload")
        # The bare upload first, while our workers are idle (the campaign is over): it gets the whole machine.
        uploads_env = bare_env | {"BARE_UPLOADS": str(stack.directory / "bare-uploads")}
        with gunicorn("bench.bare_app:app", uploads_env, stack.directory, path) as bare:
            bare_upload_rate, _ = api_deposits(f"http://127.0.0.1:{bare}", {}, seconds)
        api_rate, api_errors = api_deposits(stack.url, stack.auth, seconds)
    return {
        "rows": rows,
        "bare_signatures_per_second": bare_rate,
        "bare_lta_signatures_per_second": bare_lta_rate,
        "campaign": asdict(campaign),
        "landing_idle": asdict(idle),
        "landing_bare": asdict(bare_figures),
        "api_deposits_per_second": api_rate,
        "api_errors": api_errors,
        "bare_uploads_per_second": bare_upload_rate,
        "database": "postgresql" if os.environ.get("DATABASE_URL") else "sqlite",
        "redis": "server" if os.environ.get("REDIS_URL") else "embedded",
        "workers": os.environ.get("WORKERS", "(default)"),
    }


def report(figures: dict[str, Any], host: dict[str, Any]) -> str:
    rows = figures["rows"]
    campaign = figures["campaign"]

    def rate(seconds: float) -> str:
        return "—" if math.isnan(seconds) else f"{seconds:8.0f} s  {rows / seconds:7.1f} letters/s"

    proofs = campaign["proofs_seconds"]
    proofs_rate = rows / proofs if not math.isnan(proofs) else math.nan
    during = [f["per_second"] for f in campaign["landing_during"]]
    during_errors = sum(f["errors"] for f in campaign["landing_during"])
    idle, bare = figures["landing_idle"]["per_second"], figures["landing_bare"]["per_second"]
    latencies = sorted(campaign["code_latencies"])
    p50 = statistics.median(latencies) if latencies else math.nan
    p95 = latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else math.nan
    load = " ".join(str(x) for x in host["load_average"])
    lines = [
        f"Campaign: {rows} letters through POST /api/v1/batches, database {figures['database']}, "
        f"Redis {figures['redis']}, WORKERS={figures['workers']}",
        f"machine: {host['cores']} cores, {host['cpu']}, load average {load}",
        "",
        f"upload (validated and stored)               {campaign['upload_seconds']:8.1f} s",
        f"last letter deposited                       {rate(campaign['deposited_seconds'])}",
        f"last notification handed to the provider    {rate(campaign['notified_seconds'])}",
        f"last deposit proof ready                    {rate(proofs)}",
        f"bare single-process PAdES signature + TSA   {figures['bare_signatures_per_second']:8.1f} /s",
        f"campaign proofs/s ÷ bare signatures/s       {proofs_rate / figures['bare_signatures_per_second']:8.2f}",
        f"bare single-process PAdES B-LTA signature   {figures['bare_lta_signatures_per_second']:8.1f} /s",
        f"campaign proofs/s ÷ bare B-LTA signatures/s {proofs_rate / figures['bare_lta_signatures_per_second']:8.2f}",
        "",
        f"landing page idle                           {idle:8.0f} req/s",
        f"bare Flask page, same bytes                 {bare:8.0f} req/s   landing ÷ bare {idle / bare:5.2f}",
        f"landing page during the campaign            "
        f"{statistics.fmean(during) if during else math.nan:8.0f} req/s   ÷ idle "
        f"{(statistics.fmean(during) / idle) if during else math.nan:5.2f}   errors {during_errors}",
        f"code SMS latency during the campaign        p50 {p50:6.2f} s   p95 {p95:6.2f} s   ({len(latencies)} codes)",
        f"API deposits, {API_CLIENTS} clients, 200 KB PDF         "
        f"{figures['api_deposits_per_second']:8.1f} letters/s   errors {figures['api_errors']}",
        f"bare Flask upload, same requests            {figures['bare_uploads_per_second']:8.1f} /s   "
        f"deposits ÷ bare {figures['api_deposits_per_second'] / figures['bare_uploads_per_second']:5.2f}",
    ]
    if campaign["timed_out"]:
        lines.append("TIMED OUT before every figure was reached (see --timeout)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="letters in the batch (default 10000)")
    parser.add_argument("--seconds", type=float, default=10, help="each load measurement (default 10)")
    parser.add_argument("--timeout", type=float, default=3600, help="give up the campaign after this (default 3600)")
    parser.add_argument("--signatures", type=int, default=40, help="bare signatures timed (default 40)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/campaign-*.json")
    args = parser.parse_args(argv)
    figures = run(args.rows, args.seconds, args.timeout, args.signatures)
    host = machine()
    print(report(figures, host))
    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"campaign-{figures['database']}-{stamp}.json"
        path.write_text(json.dumps({"figures": figures, "machine": host}, indent=2, default=str) + "\n")
        print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
