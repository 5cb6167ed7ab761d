"""The landing page's fast path: `GET /l/<token>` answered from memory, in front of Flask.

The landing page is what every SMS link opens, so it is the page a campaign of 10,000 letters
brings to the server all at once.  It depends on nothing but the letter's row and the request's
language inputs, so Flask renders it once per state and language and this middleware replays the
very same bytes (status, headers with the Content-Security-Policy, body already compressed) to
every later request that would have got them, without a template, the ORM, a session or a hook.

What a cached answer is keyed on, so that it is always the answer Flask would give now:
- the letter, read with one indexed Core query: its `version` (bumped by every change to its
  row: a status, a lock, a decision) and whether its deadline has passed (which time alone
  changes); a link that finds no letter goes to Flask, which answers the 404 page;
- everything of the request a page reads: the query string (`?lang=`), the cookies (the `lang`
  cookie), `Accept-Language`, `Accept-Encoding` (the body is stored as Flask-Compress sent it),
  the scheme and `X-Forwarded-Proto` (HSTS);
- and an age: entries live `ttl` seconds at most, for anything a page would print that changes
  with time (how long is left).

What is never cached: a request with a session cookie (an identified recipient, whose page may
differ), htmx requests, any method but GET, any answer that sets a cookie, and any answer the
view did not mark cacheable (`mark_cacheable`): redirects, errors.  The landing page itself sets
no cookie: its one form, "send me a code", is not CSRF-protected, on purpose (see
`webapp.web.recipient.pages.send_code`).

Each process keeps its own bounded cache (least recently used entries leave first).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, request

from webapp.extensions import db
from webapp.letters.deposit import hash_token
from webapp.letters.recipient import LinkState, link_state_reader
from webapp.services import Services

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The SMS link carries the letter's language (`/l/<token>/ar`, issue 16): the same page in that language.
LANDING_PATH = re.compile(r"/l/([A-Za-z0-9_-]{1,64})(?:/(?:fr|ar|en))?")
CACHEABLE = "wassit.landing.cacheable"
CACHED_STATUSES = frozenset({200, 403, 410})

Entry = tuple[float, str, list[tuple[str, str]], bytes]


def mark_cacheable() -> None:
    """Called by the landing view when its answer depends only on what the fast path keys on."""
    request.environ[CACHEABLE] = True


class LandingFastPath:
    def __init__(self, app: Flask, wsgi_app: WSGIApplication, *, size: int = 2048, ttl: float = 30.0) -> None:
        self.app, self.wsgi_app, self.size, self.ttl = app, wsgi_app, size, ttl
        self.session_cookie = app.config["SESSION_COOKIE_NAME"] + "="
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0
        self.read_state: Callable[[str, datetime], LinkState | None] | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = LANDING_PATH.fullmatch(environ.get("PATH_INFO", ""))
        cookies = environ.get("HTTP_COOKIE", "")
        if (
            match is None
            or environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_HX_REQUEST" in environ
            or self.session_cookie in cookies
        ):
            return self.wsgi_app(environ, start_response)
        key = self._key(match.group(1), environ, cookies)
        if key is None:
            return self.wsgi_app(environ, start_response)
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and now - entry[0] < self.ttl:
                self.entries.move_to_end(key)
                self.hits += 1
                _, status, headers, body = entry
                start_response(status, headers)
                return [body]
        self.misses += 1
        return self._render(key, now, environ, start_response)

    def _key(self, token: str, environ: WSGIEnvironment, cookies: str) -> tuple[Any, ...] | None:
        if self.read_state is None:
            with self.app.app_context():
                self.read_state = link_state_reader(db.engine)
        services: Services = self.app.extensions["wassit"]
        state = self.read_state(token, services.clock.now())
        if state is None:
            return None  # no such link, or the database is away: Flask answers
        return (
            hash_token(token),  # the cache, like the database, holds no link
            environ.get("PATH_INFO", "")[-3:],  # the language the link carries, if any
            state.version,
            state.deadline_passed,
            environ.get("QUERY_STRING", ""),
            cookies,
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            environ.get("HTTP_ACCEPT_ENCODING", ""),
            environ.get("wsgi.url_scheme", ""),
            environ.get("HTTP_X_FORWARDED_PROTO", ""),
        )

    def _render(
        self, key: tuple[Any, ...], now: float, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        chunks = self.wsgi_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status: str = captured.get("status", "")
        headers: list[tuple[str, str]] = captured.get("headers", [])
        if (
            environ.get(CACHEABLE)
            and status[:3].isdigit()
            and int(status[:3]) in CACHED_STATUSES
            and not any(name.lower() == "set-cookie" for name, _ in headers)
        ):
            with self.lock:
                self.entries[key] = (now, status, list(headers), body)
                self.entries.move_to_end(key)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        return [body]


def install(app: Flask) -> None:
    app.wsgi_app = LandingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
