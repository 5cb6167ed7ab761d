"""The recipient's side, measured: page weights, the whole flow on slow 3G, and landing-page throughput.

    .venv/bin/python -m bench.recipient [--quick] [--seconds N] [--rounds N] [--warmup N] [--no-json]

One run starts the real stack (`python -m worker.run_all`: gunicorn, an RQ
worker, the scheduler) on a temporary instance (SQLite, an embedded Redis,
console SMS provider writing to a JSONL outbox), creates a sender and an API
token with the CLI, deposits letters with a 200,000-byte PDF through
`POST /api/v1/letters`, reads links and codes from the SMS outbox, then:

1. **Page weights.**  Every recipient page is opened in Debian's Chromium
   (Playwright, phone viewport, JavaScript on) in a fresh browser context with
   the cache disabled: a first view.  CDP's `Network` events give each request
   and the bytes Chromium received (`encodedDataLength`, headers included);
   `Network.getResponseBody` gives the HTML and stylesheets, which are
   compressed here with the server's own settings (brotli quality
   `COMPRESS_BR_LEVEL`, gzip level 6, as Flask-Compress does).  The <head> of
   the HTML is parsed to find what blocks rendering: stylesheets, and scripts
   without `defer`/`async`.
2. **The flow on slow 3G.**  Link → ask for a code → type the code → accept →
   download the PDF, in Chromium with CDP's `Network.emulateNetworkConditions`
   (400 ms latency per request, 400 kbit/s down and up), cold cache, with
   JavaScript on (htmx swaps) and off (plain forms).  The wait for the code
   SMS (worker → outbox, not throttled) is shown apart and left out of the total.
3. **Throughput.**  `GET /l/<token>` of the real app, and of a bare Flask app
   (`bench/bare_app.py`) returning the same landing HTML as a constant, each
   under its own gunicorn with the same settings, loaded by `bench/loadgen.py`
   (processes × threads, one keep-alive connection per thread) on the same
   cores, in alternate rounds.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import html.parser
import http.client
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import brotli  # type: ignore[import-untyped]
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Request, StorageState, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject

from bench.loadgen import LoadFigures
from webapp.config import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

BUDGET_BYTES = 14 * 1024  # the 14 KB: about what TCP's first flight (10 segments) carries
PDF_BYTES = 200_000
PHONE = {"width": 360, "height": 740}  # a small Android phone, in CSS pixels (as tests/browser use)
SLOW_3G = {
    "offline": False,
    "latency": 400,  # ms, added to every request
    "downloadThroughput": 400_000 / 8,  # bytes/s
    "uploadThroughput": 400_000 / 8,
    "connectionType": "cellular3g",
}
# The gzip level Flask-Compress uses (COMPRESS_LEVEL, which the app leaves at its default).
GZIP_LEVEL = 6
# Same gunicorn settings for the app and the bare page, as worker/run_all.py starts the web server.
GUNICORN_SETTINGS = [
    "--workers",
    "2",
    "--threads",
    "4",
    "--access-logfile",
    "-",
    "--access-logformat",
    '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
]
# Pages built by other issues: measured when the server answers them with 200, reported absent otherwise.
OPTIONAL_PAGES = {"offline page": "/offline", "reference check": "/check"}


# ---------------------------------------------------------------- the stack under test

_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A line on stderr, so that a long run shows where it is; the figures go to stdout."""
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if http_request(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, then after `grace` seconds SIGKILL to its whole process group (started in a session of its own)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    outbox: Path
    directory: Path

    def cli(self, *args: str) -> str:
        command = [str(VENV_BIN / "flask"), "--app", "wsgi", *args]
        result = subprocess.run(command, env=self.env, cwd=ROOT, capture_output=True, text=True, check=True)
        return result.stdout

    def sms(self, phone: str, count: int, timeout: float = 30) -> list[dict[str, str]]:
        """The first `count` SMS to `phone` (international form), `{"to", "text", "at"}`, waiting for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.exists():
                lines = [json.loads(x) for x in self.outbox.read_text(encoding="utf-8").splitlines() if x]
                mine = [line for line in lines if line["to"] == phone]
                if len(mine) >= count:
                    return mine
            time.sleep(0.02)
        raise RuntimeError(f"no SMS #{count} to {phone} within {timeout:.0f} s")


@contextmanager
def running_stack(directory: Path) -> Iterator[Stack]:
    """`python -m worker.run_all` on a fresh instance, with an embedded Redis this process owns."""
    from webapp.embedded_redis import start_embedded_redis

    instance = directory / "instance"
    redis = start_embedded_redis(instance)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    outbox = directory / "sms-outbox.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRET_", "MASTER_", "SMS_"))}
    env.update(
        INSTANCE_PATH=str(instance),
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=url,
        REDIS_URL=f"unix://{redis.socket_file}",
        SMS_PROVIDER="console",
        SMS_OUTBOX=str(outbox),
        EMAIL_PROVIDER="console",
        EMAIL_OUTBOX=str(directory / "email-outbox.jsonl"),
        # The session cookie must travel over plain http://127.0.0.1 (also the default for an http PUBLIC_URL).
        SESSION_COOKIE_SECURE="0",
        WEB_CONCURRENCY="2",
    )
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
        wait_until_up(f"{url}/healthz", process, log)
        yield Stack(url, env, outbox, directory)
    except Exception:
        print(f"--- the stack's log ({log.name}), last lines:", file=sys.stderr)
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        progress("stopping the stack")
        # Its orderly stop (tested elsewhere) takes about ten seconds; nothing here needs it.
        stop(process, grace=1)
        redis.shutdown()
        progress("stack stopped")


@contextmanager
def gunicorn(app: str, env: dict[str, str], directory: Path, probe: str) -> Iterator[int]:
    """A gunicorn serving `app` with GUNICORN_SETTINGS; yields its port once `probe` answers 200."""
    port = free_port()
    log = directory / f"gunicorn-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN_SETTINGS, app],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}{probe}", process, log)
        progress(f"gunicorn {app} up")
        yield port
    finally:
        stop(process)
        progress(f"gunicorn {app} stopped")


def padded_pdf(size: int) -> bytes:
    """A valid one-page PDF of exactly `size` bytes, shaped like a scanned letter: the bulk of it is
    one incompressible image stream (random bytes, as a JPEG's would look), and it ends in %%EOF."""
    padding = size
    for _ in range(5):
        writer = PdfWriter()
        page = writer.add_blank_page(595, 842)
        image = StreamObject()
        image._data = os.urandom(max(0, padding))
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(max(1, padding)),
                NameObject("/Height"): NumberObject(1),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                NameObject("/BitsPerComponent"): NumberObject(8),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Scan"): writer._add_object(image)})}
        )
        buffer = BytesIO()
        writer.write(buffer)
        data = buffer.getvalue()
        if len(data) == size:
            return data
        padding += size - len(data)
    raise RuntimeError(f"could not make a PDF of exactly {size} bytes")


@dataclass
class Letter:
    id: str
    phone: str  # international form, as in the outbox
    reference: str
    link: str


def deposit_letters(stack: Stack, token: str, document: bytes, count: int) -> list[Letter]:
    """POSTs `count` letters to /api/v1/letters (multipart, as an integrator sends them), each to its own
    number, then waits until the worker has notified them all and reads their links in the outbox."""
    auth = {"Authorization": f"Bearer {token}"}
    created: list[tuple[str, str, str]] = []  # id, reference, phone
    for index in range(count):
        national = f"06612345{index:02d}"
        boundary = secrets.token_hex(16)
        fields = {"recipient_phone": national, "recipient_name": "Salma Bennani", "language": "fr"}
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="mise-en-demeure.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        body += document + f"\r\n--{boundary}--\r\n".encode()
        headers = {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, answer = http_request(f"{stack.url}/api/v1/letters", "POST", body, headers)
        if status != 201:
            raise RuntimeError(f"deposit failed: {status} {answer[:500]!r}")
        letter = json.loads(answer)
        created.append((str(letter["id"]), str(letter["reference"]), "+212" + national[1:]))
    letters = []
    deadline = time.monotonic() + 60
    for letter_id, reference, phone in created:
        sms = stack.sms(phone, 1)[0]["text"]
        link = re.search(r"https?://\S+/l/[A-Za-z0-9_-]+", sms)
        if not link:
            raise RuntimeError(f"no link in the SMS {sms!r}")
        # The SMS is in the outbox a moment before the worker commits the letter as notified.
        while json.loads(http_request(f"{stack.url}/api/v1/letters/{letter_id}", headers=auth)[1])["status"] != (
            "notified"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"letter {reference} not notified within 60 s")
            time.sleep(0.05)
        letters.append(Letter(letter_id, phone, reference, link.group(0)))
    return letters


def wait_for_proofs(stack: Stack, token: str, letters: list[Letter], timeout: float = 120) -> None:
    """Until the worker has issued every pending proof of these letters (it is then idle)."""
    deadline = time.monotonic() + timeout
    for letter in letters:
        while time.monotonic() < deadline:
            status, answer = http_request(
                f"{stack.url}/api/v1/letters/{letter.id}", headers={"Authorization": f"Bearer {token}"}
            )
            if status == 200 and all(proof["status"] == "ready" for proof in json.loads(answer)["proofs"]):
                break
            time.sleep(0.2)


def wait_for_code(stack: Stack, letter: Letter, count: int) -> str:
    """The code in the `count`-th SMS to the letter's number (the first one is the notification)."""
    text = stack.sms(letter.phone, count)[count - 1]["text"]
    code = re.search(r"\b(\d{6})\b", text)
    if not code:
        raise RuntimeError(f"no code in the SMS {text!r}")
    return code.group(1)


# ---------------------------------------------------------------- what Chromium receives


@dataclass
class Transfer:
    """One HTTP request the page made, as CDP reports it."""

    request_id: str
    url: str
    method: str
    kind: str  # CDP's resource type: Document, Stylesheet, Script, …
    status: int = 0
    encoding: str = ""  # Content-Encoding of the response
    wire_bytes: int = 0  # everything received: headers + (compressed) body
    source: str = "network"  # or: memory cache, disk cache, service worker, prefetch cache

    @property
    def fetched(self) -> bool:
        """Whether it went over the network (a cache hit still fires `requestWillBeSent`)."""
        return self.source == "network"

    def describe(self, *, size: bool = True) -> str:
        text = f"{self.method} {short_url(self.url)} {self.status}"
        if self.fetched:
            return text + (f" {self.wire_bytes} B" if size else "")
        return text + f" ({self.source})"


class NetworkLog:
    """Records the page's requests from CDP `Network` events, from its creation on."""

    def __init__(self, cdp: CDPSession) -> None:
        self.cdp = cdp
        self.transfers: list[Transfer] = []
        self._current: dict[str, Transfer] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.requestServedFromCache", self._from_cache)

    def _sent(self, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        redirected = event.get("redirectResponse")
        if redirected and request_id in self._current:  # CDP keeps the id across a redirect
            previous = self._current[request_id]
            previous.status = int(redirected["status"])
            previous.wire_bytes = int(redirected.get("encodedDataLength", 0))
        transfer = Transfer(request_id, event["request"]["url"], event["request"]["method"], event.get("type", ""))
        self.transfers.append(transfer)
        self._current[request_id] = transfer

    def _response(self, event: dict[str, Any]) -> None:
        transfer = self._current.get(event["requestId"])
        if transfer is not None:
            response = event["response"]
            headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
            transfer.status = int(response["status"])
            transfer.encoding = headers.get("content-encoding", "identity")
            for flag, source in (
                ("fromDiskCache", "disk cache"),
                ("fromServiceWorker", "service worker"),
                ("fromPrefetchCache", "prefetch cache"),
            ):
                if response.get(flag):
                    transfer.source = source

    def _from_cache(self, event: dict[str, Any]) -> None:
        transfer = self._current.get(event["requestId"])
        if transfer is not None:
            transfer.source = "memory cache"

    def _finished(self, event: dict[str, Any]) -> None:
        transfer = self._current.get(event["requestId"])
        if transfer is not None:
            transfer.wire_bytes = int(event["encodedDataLength"])

    def body(self, transfer: Transfer) -> bytes:
        answer = self.cdp.send("Network.getResponseBody", {"requestId": transfer.request_id})
        data = answer["body"]
        return base64.b64decode(data) if answer.get("base64Encoded") else str(data).encode("utf-8")

    @property
    def fetched(self) -> list[Transfer]:
        return [t for t in self.transfers if t.fetched]

    @property
    def wire_bytes(self) -> int:
        return sum(t.wire_bytes for t in self.fetched)


class HeadParser(html.parser.HTMLParser):
    """What in a page's <head> blocks the first render: stylesheets and classic scripts without defer/async."""

    def __init__(self) -> None:
        super().__init__()
        self.in_head = True
        self.stylesheets: list[str] = []
        self.blocking_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "body":
            self.in_head = False
        if not self.in_head:
            return
        if tag == "link" and "stylesheet" in (values.get("rel") or "").lower().split():
            if (values.get("media") or "all").strip().lower() in {"all", "screen"} and values.get("href"):
                self.stylesheets.append(values["href"] or "")
        elif tag == "script" and values.get("src"):  # an inline script's bytes are the HTML's
            module = (values.get("type") or "").lower() == "module"  # deferred by default
            if not ("defer" in values or "async" in values or module):
                self.blocking_scripts.append(values["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False


def brotli_size(data: bytes, quality: int) -> int:
    return len(brotli.compress(data, mode=brotli.MODE_GENERIC, quality=quality, lgwin=22, lgblock=0))


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, GZIP_LEVEL))


@dataclass
class PageWeight:
    name: str
    path: str
    status: int
    html_bytes: int
    html_br: int
    html_gzip: int
    requests: int
    request_urls: list[str]
    blocking_urls: list[str]  # the HTML and the stylesheets in <head>
    blocking_scripts: list[str]  # classic scripts in <head> without defer/async: should be none
    blocking_br: int
    blocking_gzip: int
    blocking_wire: int  # what Chromium received for them, headers included, in the encoding it got
    wire_bytes: int  # every request of the first view, headers included
    encoding: str  # what the server chose for Chromium's Accept-Encoding
    worker_requests: list[str] = field(default_factory=list)  # made by its service worker (installing)
    worker_bytes: int = 0
    workers_blocked: bool = False


def browser_context(
    browser: Browser, *, javascript: bool = True, state: StorageState | None = None, service_workers: bool = True
) -> BrowserContext:
    return browser.new_context(
        service_workers="allow" if service_workers else "block",
        viewport={"width": PHONE["width"], "height": PHONE["height"]},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-MA",
        java_script_enabled=javascript,
        storage_state=state,
    )


NATIVE_SUBMIT = """([selector, name, value]) => {
    // form.submit() fires no submit event: a plain navigation, as without htmx.
    const form = document.querySelector(selector);
    const input = document.createElement('input');
    input.type = 'hidden'; input.name = name; input.value = value;
    form.appendChild(input);
    form.submit();
}"""


def measure_page(
    browser: Browser,
    name: str,
    url: str,
    *,
    state: StorageState | None = None,
    submit: tuple[str, str, str] | None = None,
    br_quality: int,
) -> PageWeight:
    """A first view of `url` (or of what submitting a form on it shows): fresh context, cache disabled.
    To submit a form, the context first opens `url`: service workers are blocked then, or the one that
    page installs would answer the next page's requests from its cache."""
    context = browser_context(browser, state=state, service_workers=submit is None)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if submit is not None:
            page.goto(url, wait_until="networkidle")
        by_context: list[Request] = []
        context.on("request", lambda request: by_context.append(request))
        log = NetworkLog(cdp)
        if submit is not None:
            with page.expect_navigation(wait_until="load"):
                page.evaluate(NATIVE_SUBMIT, list(submit))
        else:
            page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        # A service worker installs after `load` and fetches what it caches: wait until all is quiet.
        deadline, count = time.monotonic() + 10, -1
        while count != len(by_context) and time.monotonic() < deadline:
            count = len(by_context)
            time.sleep(0.4)
        worker = [r for r in by_context if r.service_worker is not None]
        documents = [t for t in log.transfers if t.kind == "Document"]
        document = documents[-1]
        html = log.body(document)
        head = HeadParser()
        head.feed(html.decode("utf-8", errors="replace"))
        sheets = [t for href in head.stylesheets for t in log.transfers if t.url == urljoin(document.url, href)]
        css = [log.body(t) for t in sheets]
        blocking = [document, *sheets]
        return PageWeight(
            name=name,
            path=urlsplit(document.url).path,
            status=document.status,
            html_bytes=len(html),
            html_br=brotli_size(html, br_quality),
            html_gzip=gzip_size(html),
            requests=len(log.fetched),
            request_urls=[t.describe() for t in log.transfers],
            blocking_urls=[short_url(t.url) for t in blocking],
            blocking_scripts=head.blocking_scripts,
            blocking_br=brotli_size(html, br_quality) + sum(brotli_size(x, br_quality) for x in css),
            blocking_gzip=gzip_size(html) + sum(gzip_size(x) for x in css),
            blocking_wire=sum(t.wire_bytes for t in blocking),
            wire_bytes=log.wire_bytes,
            encoding=document.encoding,
            worker_requests=[f"{r.method} {short_url(r.url)} {response_bytes(r)} B" for r in worker],
            worker_bytes=sum(response_bytes(r) for r in worker),
            workers_blocked=submit is not None,
        )
    finally:
        context.close()


def response_bytes(request: Request) -> int:
    """Headers and (encoded) body of the response, as Playwright counts them; 0 if it failed."""
    try:
        sizes = request.sizes()
    except PlaywrightError:
        return 0
    return int(sizes["responseHeadersSize"]) + int(sizes["responseBodySize"])


def short_url(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/l/[A-Za-z0-9_-]{16,}", "/l/<token>", parts.path)
    return path + (f"?{parts.query}" if parts.query else "")


def click_and_wait(page: Page, target: str, selector: str, *, javascript: bool = False) -> None:
    """Clicks `target` and waits until `selector` shows, whether htmx swapped it in or a page loaded."""
    page.click(target)  # with JavaScript off, returns once the next page's navigation has committed
    if javascript:
        # An htmx swap: look on every animation frame.  Playwright's own polling of a selector backs
        # off to every 500 ms, which would add up to half a second to each step.
        page.wait_for_function(SHOWN, arg=selector, polling="raf", timeout=120_000)
    page.wait_for_load_state("load", timeout=120_000)
    page.wait_for_selector(selector, state="visible", timeout=120_000)


SHOWN = "selector => document.querySelector(selector)?.getClientRects().length > 0"
# Milliseconds from the start of the navigation; Playwright evaluates it even with the page's JavaScript off.
FIRST_PAINT = "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"
SEND_CODE = 'form[action$="/code"] button[type="submit"]'
CHECK_CODE = 'form[action$="/code/check"] button[type="submit"]'
CODE_INPUT = 'input[name="code"]'
ACCEPT = 'button[name="decision"][value="accept"]'
DOWNLOAD = 'a[href$="/document"]'


def first_paint(page: Page, timeout: float = 10) -> float:
    """Seconds from the start of the navigation to the first contentful paint, which may come after `load`."""
    deadline = time.monotonic() + timeout
    while (paint := float(page.evaluate(FIRST_PAINT))) != paint and time.monotonic() < deadline:  # NaN: not yet
        time.sleep(0.05)
    return paint / 1000


def reach_decision(stack: Stack, page: Page, letter: Letter, code_sms: int) -> None:
    """Drives a page (JavaScript off) from the SMS link to the decision page."""
    page.goto(letter.link)
    click_and_wait(page, SEND_CODE, CODE_INPUT)
    page.fill(CODE_INPUT, wait_for_code(stack, letter, code_sms))
    click_and_wait(page, CHECK_CODE, ACCEPT)


def page_weights(
    browser: Browser, stack: Stack, letters: list[Letter], quick: bool
) -> tuple[list[PageWeight], list[str]]:
    """Every recipient page's first view: `letters[0]` is accepted, `letters[1]` refused.
    Quick: the landing and the not-found page only."""
    quality = int(Settings().flask_config()["COMPRESS_BR_LEVEL"])
    weights: list[PageWeight] = []
    absent: list[str] = []

    def measure(name: str, url: str, **options: Any) -> None:
        weights.append(measure_page(browser, name, url, br_quality=quality, **options))

    accepted = letters[0]
    measure("landing", accepted.link)
    if quick:
        measure("link not found", f"{stack.url}/l/{secrets.token_urlsafe(22)}")
        return weights, absent
    driver = browser_context(browser, javascript=False)
    try:
        page = driver.new_page()
        page.goto(accepted.link)
        click_and_wait(page, SEND_CODE, CODE_INPUT)
        measure("code page", page.url, state=driver.storage_state())
        page.fill(CODE_INPUT, wait_for_code(stack, accepted, 2))
        click_and_wait(page, CHECK_CODE, ACCEPT)
        measure("decision page", page.url, state=driver.storage_state())
        click_and_wait(page, ACCEPT, DOWNLOAD)
        measure("letter page", page.url, state=driver.storage_state())
    finally:
        driver.close()
    refused = letters[1]
    driver = browser_context(browser, javascript=False)
    try:
        page = driver.new_page()
        reach_decision(stack, page, refused, 2)
        submit = ('form[action$="/decision"]', "decision", "refuse")
        measure("refused page", page.url, state=driver.storage_state(), submit=submit)
    finally:
        driver.close()
    measure("already answered", refused.link)
    measure("link not found", f"{stack.url}/l/{secrets.token_urlsafe(22)}")
    for name, path in OPTIONAL_PAGES.items():
        if http_request(stack.url + path)[0] == 200:
            measure(name, stack.url + path)
        else:
            absent.append(f"{name} ({path})")
    return weights, absent


# ---------------------------------------------------------------- the flow on slow 3G


@dataclass
class Step:
    name: str
    seconds: float
    requests: list[str]  # what the page fetched over the network during the step
    relayed: list[str]  # what its service worker answered (from its cache, or from the network)
    cached: list[str]  # what it found in the browser's cache
    received: int  # bytes the page received, headers included


@dataclass
class FlowTiming:
    javascript: bool
    steps: list[Step]
    landing_paint_seconds: float  # from the start of the navigation to the landing's first contentful paint
    code_sms_seconds: float  # from the click on "send me a code" to the SMS in the outbox
    downloaded_bytes: int

    @property
    def refetched(self) -> dict[str, int]:
        """GET requests made more than once in the flow: what the cache did not keep."""
        counts = Counter(r for step in self.steps for r in step.requests if r.startswith("GET /static/"))
        return {request: count for request, count in counts.items() if count > 1}

    @property
    def total(self) -> float:
        return sum(step.seconds for step in self.steps)


def time_flow(browser: Browser, stack: Stack, letter: Letter, javascript: bool, code_sms: int) -> FlowTiming:
    """The whole flow in a fresh context under SLOW_3G; each step timed from its click to the next page."""
    context = browser_context(browser, javascript=javascript)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        log = NetworkLog(cdp)
        steps: list[Step] = []

        def step(name: str, action: Callable[[], object]) -> None:
            first, received = len(log.transfers), log.wire_bytes
            start = time.perf_counter()
            action()
            elapsed = time.perf_counter() - start
            made = log.transfers[first:]
            fetched = [t.describe(size=False) for t in made if t.fetched]
            relayed = [t.describe(size=False) for t in made if t.source == "service worker"]
            cached = [t.describe(size=False) for t in made if t.source not in {"network", "service worker"}]
            steps.append(Step(name, elapsed, fetched, relayed, cached, log.wire_bytes - received))

        step("open the link (landing)", lambda: page.goto(letter.link, wait_until="load", timeout=120_000))
        paint = first_paint(page)
        sms_seen: list[float] = []

        def watch_outbox() -> None:
            stack.sms(letter.phone, code_sms)
            sms_seen.append(time.perf_counter())

        watcher = threading.Thread(target=watch_outbox, daemon=True)
        asked = time.perf_counter()
        watcher.start()
        step("ask for a code (code page)", lambda: click_and_wait(page, SEND_CODE, CODE_INPUT, javascript=javascript))
        watcher.join(timeout=60)
        page.fill(CODE_INPUT, wait_for_code(stack, letter, code_sms))
        step("type the code (decision page)", lambda: click_and_wait(page, CHECK_CODE, ACCEPT, javascript=javascript))
        step("accept (letter page)", lambda: click_and_wait(page, ACCEPT, DOWNLOAD, javascript=javascript))
        href = urljoin(page.url, page.get_attribute(DOWNLOAD, "href") or "")
        downloaded = 0

        def download() -> None:
            # The link carries `download`, and Chromium does not apply DevTools' network emulation to
            # such downloads (they leave the page's loader).  Following the same URL as a navigation
            # is throttled, and the answer (Content-Disposition: attachment) turns it into the same download.
            nonlocal downloaded
            with page.expect_download(timeout=120_000) as started:
                try:
                    page.goto(href, timeout=120_000)
                except PlaywrightError as exc:
                    if "Download is starting" not in str(exc):
                        raise
            downloaded = started.value.path().stat().st_size  # path() returns once the file has arrived

        step(f"download the PDF ({PDF_BYTES:,} B)", download)
        if downloaded != PDF_BYTES:
            raise RuntimeError(f"downloaded {downloaded} bytes, expected {PDF_BYTES}")
        return FlowTiming(javascript, steps, paint, sms_seen[0] - asked, downloaded)
    finally:
        context.close()


# ---------------------------------------------------------------- throughput


def load(url: str, headers: dict[str, str], settings: dict[str, Any]) -> tuple[list[float], int]:
    """`python -m bench.loadgen` in a process of its own (its workers start light); latencies and errors."""
    command = [sys.executable, "-m", "bench.loadgen", url, "--latencies"]
    command += [f"--{name}={value}" for name, value in settings.items()]
    command += [f"--header={name}: {value}" for name, value in headers.items()]
    result = json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    return [float(x) for x in result["latencies"]], int(result["errors"])


def throughput(
    stack: Stack, letter: Letter, seconds: float, warmup: float, rounds: int, quick: bool
) -> tuple[list[LoadFigures], dict[str, Any]]:
    """The bare page and the landing page under the same gunicorn settings and the same load, in alternate
    rounds (bare, landing, landing with brotli, bare, …) so that a noisy, shared machine weighs on all alike."""
    path = urlsplit(letter.link).path
    page = stack.directory / "landing.html"
    status, html = http_request(letter.link)
    if status != 200:
        raise RuntimeError(f"landing page answered {status}")
    page.write_bytes(html)
    bare_env = {k: v for k, v in stack.env.items() if k != "PUBLIC_URL"}
    bare_env["BARE_PAGE"] = str(page)
    settings = {"processes": 2, "threads": 4, "warmup": warmup, "duration": seconds}
    with (
        gunicorn("bench.bare_app:app", bare_env, stack.directory, path) as bare,
        gunicorn("wsgi:app", stack.env, stack.directory, path) as app,
    ):
        targets: list[tuple[str, str, dict[str, str]]] = [
            ("bare Flask page, same HTML", f"http://127.0.0.1:{bare}{path}", {}),
            ("landing page", f"http://127.0.0.1:{app}{path}", {}),
        ]
        if not quick:
            phone = {"Accept-Encoding": "gzip, deflate, br"}
            targets.append(("landing page, brotli (a phone's Accept-Encoding)", f"http://127.0.0.1:{app}{path}", phone))
        collected: dict[str, tuple[list[float], int]] = {label: ([], 0) for label, _, _ in targets}
        for number in range(rounds):
            progress(f"throughput, round {number + 1} of {rounds}")
            for label, url, headers in targets:
                latencies, errors = load(url, headers, settings)
                previous = collected[label]
                collected[label] = (previous[0] + latencies, previous[1] + errors)
    results = [LoadFigures.of(label, lat, seconds * rounds, errors) for label, (lat, errors) in collected.items()]
    return results, {"page_bytes": len(html), "rounds": rounds, **settings}


# ---------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "playwright": version("playwright"),
    }


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """A plain-text table: the first `left` columns aligned left, the others right."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            (f"{c:<{w}}" if i < left else f"{c:>{w}}") for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def report_pages(weights: list[PageWeight], absent: list[str], chromium: str) -> list[str]:
    lines = [
        f"1. Recipient pages, first view: {chromium}, JavaScript on, {PHONE['width']}×{PHONE['height']} phone "
        "viewport, fresh context, cache disabled",
        "",
    ]
    rows = [
        [
            w.name,
            str(w.status),
            f"{w.html_bytes:,}",
            f"{w.html_br:,}",
            f"{w.html_gzip:,}",
            str(w.requests),
            f"{w.wire_bytes:,}",
            "–" if w.workers_blocked else str(len(w.worker_requests)),
            f"{len(w.blocking_urls)}",
            f"{w.blocking_br:,}",
            f"{w.blocking_gzip:,}",
            f"{w.blocking_wire:,} ({w.encoding})",
        ]
        for w in weights
    ]
    headers = ["page", "status", "HTML", "br", "gzip", "requests", "all wire", "sw", "blocking", "blk br", "blk gzip"]
    lines += table([*headers, "blk wire"], rows)
    lines += [f"{name}: absent (the server answers 404)" for name in absent]
    scripts = sorted({s for w in weights for s in w.blocking_scripts})
    landing = next(w for w in weights if w.name == "landing")
    verdict = "PASS" if landing.blocking_br <= BUDGET_BYTES else "FAIL"
    lines += [
        "",
        "Bytes. HTML: uncompressed body; br, gzip: that body compressed with the server's settings. requests and",
        "all wire: every request of the first view and every byte Chromium received for it (headers included).",
        "sw: requests the service worker makes as it installs, after the page's load (not in requests);",
        "–: blocked, because that page is measured after another one (a form's answer).",
        "blocking: the HTML plus the stylesheets in its <head>; blk br / blk gzip: their compressed bodies;",
        "blk wire: what Chromium received for them, headers included, in the encoding the server chose for it.",
        "Render-blocking scripts in <head> (no defer/async): " + (", ".join(scripts) or "none, on every page") + ".",
        f"Budget: landing first view = brotli bodies of the HTML and its <head> stylesheets, headers excluded, "
        f"≤ 14 KB = {BUDGET_BYTES:,} B: {landing.blocking_br:,} B → {verdict} "
        f"({landing.blocking_wire:,} B on the wire with headers, {landing.encoding}).",
    ]
    lines.append("Landing first view, request by request (bytes received): " + "; ".join(landing.request_urls) + ".")
    if landing.worker_requests:
        lines.append(
            f"Then the service worker installs and fetches {len(landing.worker_requests)} more "
            f"({landing.worker_bytes:,} B over the network; 0 B: from the HTTP cache), not counted above: "
            + "; ".join(landing.worker_requests)
            + "."
        )
    return lines


def requests_cell(fetched: list[str], relayed: list[str]) -> str:
    return f"{len(fetched)}+{len(relayed)}sw" if relayed else str(len(fetched))


def report_flows(flows: list[FlowTiming]) -> list[str]:
    lines = [
        "2. The whole flow, Chromium under emulated slow 3G (400 ms latency per request, 400 kbit/s down and up), "
        "cold cache",
        "",
    ]
    headers = ["step"]
    for flow in flows:
        mode = "JS on" if flow.javascript else "JS off"
        headers += [f"{mode} s", "req", "kB in"]
    rows = []
    for index, step in enumerate(flows[0].steps):
        row = [step.name]
        for flow in flows:
            mine = flow.steps[index]
            row += [f"{mine.seconds:.2f}", requests_cell(mine.requests, mine.relayed), f"{mine.received / 1000:.1f}"]
        rows.append(row)
    total = ["total"]
    for flow in flows:
        total += [
            f"{flow.total:.2f}",
            requests_cell([r for s in flow.steps for r in s.requests], [r for s in flow.steps for r in s.relayed]),
            f"{sum(s.received for s in flow.steps) / 1000:.1f}",
        ]
    rows.append(total)
    paint = ["(landing: first contentful paint)"]
    for flow in flows:
        paint += [f"{flow.landing_paint_seconds:.2f}", "", ""]
    rows.append(paint)
    sms = ["(code SMS in the outbox, not in total)"]
    for flow in flows:
        sms += [f"{flow.code_sms_seconds:.2f}", "", ""]
    rows.append(sms)
    lines += table(headers, rows)
    lines += [
        "",
        "A step runs from the click to the next page shown (its key element visible, its load event fired);",
        "typing is instantaneous.  req, kB in: requests and bytes (headers included) the page received over the",
        "network; +N sw: requests its service worker answered, from its cache or by relaying them (JS on: the",
        "download goes through it).  The downloaded file's bytes are not in kB in.",
        'Code SMS: from the click on "send me a code" to the worker writing the SMS to the console outbox,',
        "not throttled; a real operator adds its own delay.",
    ]
    for flow in flows:
        for request, count in flow.refetched.items():
            mode = "JS on" if flow.javascript else "JS off"
            lines.append(f"{mode}: {request.removesuffix(' 200')} was downloaded {count} times in one flow.")
    return lines


def report_load(results: list[LoadFigures], settings: dict[str, Any], cores: int | None) -> list[str]:
    lines = [
        "3. Throughput of GET /l/<token>: gunicorn " + " ".join(GUNICORN_SETTINGS[:4]) + " (gthread), access log on,",
        f"   for both; load {settings['processes']} processes × {settings['threads']} keep-alive connections "
        f"(bench/loadgen.py) on the same {cores} cores as the server;",
        f"   {settings['rounds']} alternate rounds of {settings['warmup']:g} s warm-up + {settings['duration']:g} s "
        "counted per target",
        "",
    ]
    rows = [[r.label, f"{r.per_second:,.0f}", f"{r.mean_ms:.1f}", f"{r.p95_ms:.1f}", str(r.errors)] for r in results]
    lines += table(["", "req/s", "mean ms", "p95 ms", "errors"], rows)
    bare = results[0]
    lines.append("")
    for other in results[1:]:
        lines.append(f"ratio bare ÷ {other.label}: {bare.per_second / other.per_second:.1f}")
    lines.append(
        f"Both answer the same {settings['page_bytes']:,}-byte landing HTML, uncompressed unless said otherwise."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run: two pages, the JS-off flow, 1 s of load")
    parser.add_argument("--seconds", type=float, help="counted seconds of load per target and round (default 4)")
    parser.add_argument("--rounds", type=int, help="alternate rounds of load (default 3, quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of uncounted load before each (default 1)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/recipient-*.json")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    if not os.access(CHROMIUM, os.X_OK):
        parser.error(f"{CHROMIUM} is missing: `make browser` installs Debian's Chromium")

    host = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wassit-bench-") as tmp, running_stack(Path(tmp)) as stack:
        progress("stack up; creating a sender and depositing letters")
        email = "bench@idrissi.ma"
        stack.cli("sender", "create", "--org", "Cabinet Idrissi", "--email", email, "--password", secrets.token_hex(12))
        token = stack.cli("token", "create", "--email", email).strip().splitlines()[-1]
        document = padded_pdf(PDF_BYTES)
        modes = [False] if args.quick else [True, False]
        # Letters: one accepted and (full run) one refused for the page weights, one per flow, one for the load.
        first_flow = 1 if args.quick else 2
        letters = deposit_letters(stack, token, document, first_flow + len(modes) + 1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                chromium = f"Chromium {browser.version}"
                progress(f"{chromium}: page weights")
                weights, absent = page_weights(browser, stack, letters, args.quick)
                flows = []
                for index, javascript in enumerate(modes):
                    progress(f"the flow on slow 3G, JavaScript {'on' if javascript else 'off'}")
                    flows.append(time_flow(browser, stack, letters[first_flow + index], javascript, code_sms=2))
            finally:
                browser.close()
        progress("waiting for the worker to issue the proofs")
        wait_for_proofs(stack, token, letters)  # the worker's proofs would otherwise compete with the load
        loads, load_settings = throughput(stack, letters[-1], seconds, warmup, rounds, args.quick)

    progress("done")
    lines = [
        f"Recipient side: {host['cores']} cores, {host['cpu']}, Python {host['python']}, Playwright "
        f"{host['playwright']}, load average at start {', '.join(f'{x:.2f}' for x in host['load_average'])}",
        "",
        *report_pages(weights, absent, chromium),
        "",
        *report_flows(flows),
        "",
        *report_load(loads, load_settings, host["cores"]),
        "",
        f"({time.perf_counter() - started:.0f} s)",
    ]
    print("\n".join(lines))

    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        at = datetime.now(UTC)
        path = RESULTS / f"recipient-{at:%Y%m%dT%H%M%SZ}.json"
        result = {
            "benchmark": "recipient",
            "at": at.isoformat(timespec="seconds"),
            "arguments": sys.argv[1:] if argv is None else argv,
            "machine": host,
            "chromium": chromium,
            "budget_bytes": BUDGET_BYTES,
            "pages": [asdict(w) for w in weights],
            "absent": absent,
            "flows": [{**asdict(f), "total": round(f.total, 3)} for f in flows],
            "throughput": [asdict(r) for r in loads],
            "load": load_settings,
        }
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
