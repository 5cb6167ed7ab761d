"""The progressive web app: the manifest, the service worker and the offline page.

The service worker keeps only the app shell (fingerprinted static files and the
offline page) and never a letter, a document or anything personal; it is
rendered with the current fingerprints, so each release replaces the cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from webapp.i18n import LANGUAGES, text_direction
from webapp.services import current_services

bp = Blueprint("pwa", __name__)

THEME_COLOR = "#0b5cad"  # --brand in static/css/app.css
BACKGROUND_COLOR = "#f6f7f9"  # --bg in static/css/app.css
ONE_DAY = 24 * 3600

# What the service worker stores at install: the files every page needs, and the offline page.
SHELL_FILES = ("css/app.css", "js/htmx.min.js", "js/app.js", "icons/icon.svg", "icons/icon-192.png")
# First path segments the service worker never stores: letters, documents, the API, proofs, accounts.
PRIVATE_SEGMENTS = ("l", "api", "verify", "check", "portal", "support", "login", "logout", "letters", "webhooks")
# What the offline page looks like: a change to any of these is a new release of the cached shell.
OFFLINE_SOURCES = ("pwa/*", "layouts/*")


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """Name, colours and icons for "Add to home screen", in the page's language (`?lang=`)."""
    asked = request.args.get("lang")
    # force_locale rather than `?lang=` handling: fetching the manifest must not set a cookie.
    language = asked if asked in LANGUAGES else str(get_locale() or "fr")
    settings = current_services().settings
    with force_locale(language):
        description = _("Registered electronic letters, delivered to a mobile phone")
    document = {
        "id": "/",
        "name": settings.service_name,
        "short_name": settings.service_name,
        "description": description,
        "lang": language,
        "dir": text_direction(language),
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": BACKGROUND_COLOR,
        "theme_color": THEME_COLOR,
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": url_for("static", filename="icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": url_for("static", filename="icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, mimetype="application/manifest+json")
    response.headers["Cache-Control"] = f"public, max-age={ONE_DAY}"
    if asked not in LANGUAGES:
        response.vary.update(("Accept-Language", "Cookie"))
    return _conditional(response)


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, from the root so that its scope is the whole site."""
    shell = [url_for("static", filename=name) for name in SHELL_FILES]
    offline_pages = {code: url_for("pwa.offline", lang=code) for code in LANGUAGES}
    script = render_template(
        "pwa/sw.js",
        cache_name="wassit-" + _shell_release(shell),
        shell=shell,
        offline_pages=offline_pages,
        default_language=current_services().settings.default_language,
        private_paths="/^\\/(" + "|".join(PRIVATE_SEGMENTS) + ")(\\/|$)/",
    )
    response = Response(script, mimetype="text/javascript")
    # Browsers check for a new worker on each visit: `no-cache` and an ETag make that a 304.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return _conditional(response)


@bp.get("/offline")
def offline() -> ResponseReturnValue:
    """What the service worker shows when a page cannot be loaded for want of a connection."""
    response = Response(render_template("pwa/offline.html"))
    # Stored by the service worker (never `no-store`), checked again by browsers on a direct visit.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """For browsers that ask for it whatever the page says (the page names the SVG icon)."""
    static_folder = current_app.static_folder or "static"
    response = send_from_directory(static_folder, "icons/favicon.ico", mimetype="image/x-icon")
    response.headers["Cache-Control"] = f"public, max-age={ONE_DAY}"
    return response


def _conditional(response: Response) -> Response:
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:16])
    response.make_conditional(request)
    return response


def _shell_release(shell: list[str]) -> str:
    """A name for this release of the shell: the static fingerprints and the offline page's sources."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached: dict[str, str] = app.extensions.setdefault("wassit.pwa_release", {})
    key = "\n".join(shell)
    if key not in cached:
        cached[key] = _hash_release(app, shell)
    return cached[key]


def _hash_release(app: Flask, shell: list[str]) -> str:
    digest = hashlib.sha256("\n".join(shell).encode())
    templates = Path(app.root_path, app.template_folder or "templates")
    sources = [path for pattern in OFFLINE_SOURCES for path in sorted(templates.glob(pattern))]
    sources += sorted(Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]).glob("*/LC_MESSAGES/messages.mo"))
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
