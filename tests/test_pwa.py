"""The progressive web app: manifest, icons, service worker and offline page.

The service worker itself is run in Node (when installed, as `make test` ensures)
against fake `caches` and a network made of this app's real responses: it must
store the shell and the offline pages only, never a letter page.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from PIL import Image

from tests.test_recipient import Flow
from webapp.config import PROJECT_ROOT
from webapp.web.static_files import StaticFiles

BRAND = "#0b5cad"


def css_variable(name: str) -> str:
    css = (PROJECT_ROOT / "static" / "css" / "app.css").read_text()
    match = re.search(rf"--{name}:(#[0-9a-f]{{6}})", css)
    assert match, name
    return match.group(1)


def shell_urls(page: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]{12})"', page))


def sw_constant(script: str, name: str) -> Any:
    match = re.search(rf"^const {name} = (.+);$", script, re.MULTILINE)
    assert match, name
    return json.loads(match.group(1))


def fetch_bytes(client: FlaskClient, url: str) -> tuple[int, str, bytes]:
    response = client.get(url)
    try:
        return response.status_code, response.mimetype, response.get_data()
    finally:
        response.close()


# --- manifest and icons ----------------------------------------------------------


@pytest.mark.parametrize(("language", "direction"), [("fr", "ltr"), ("ar", "rtl"), ("en", "ltr")])
def test_manifest_names_the_app_in_the_page_language(
    app: Flask, client: FlaskClient, language: str, direction: str
) -> None:
    response = client.get(f"/manifest.webmanifest?lang={language}")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert "Set-Cookie" not in response.headers  # the language is the page's, not a new choice
    manifest = response.json
    assert manifest is not None
    service_name = app.extensions["wassit"].settings.service_name
    assert manifest["name"] == manifest["short_name"] == service_name
    assert (manifest["lang"], manifest["dir"]) == (language, direction)
    with app.test_request_context(), force_locale(language):
        assert manifest["description"] == gettext("Registered electronic letters, delivered to a mobile phone")
    assert manifest["start_url"].split("?")[0] == "/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == css_variable("brand") == BRAND
    assert manifest["background_color"] == css_variable("bg")


def test_arabic_manifest_is_in_arabic(client: FlaskClient) -> None:
    description = client.get("/manifest.webmanifest?lang=ar").json["description"]  # type: ignore[index]
    assert re.search(r"[\u0600-\u06ff]", description), description


def test_manifest_without_a_language_follows_the_browser(client: FlaskClient) -> None:
    response = client.get("/manifest.webmanifest", headers={"Accept-Language": "ar-MA,ar;q=0.9"})
    assert (response.json or {})["lang"] == "ar"
    assert {"Accept-Language", "Cookie"} <= set(response.vary)


def test_manifest_icons_resolve_to_images_of_the_stated_sizes(client: FlaskClient) -> None:
    icons = (client.get("/manifest.webmanifest?lang=fr").json or {})["icons"]
    kinds = set()
    for icon in icons:
        assert re.fullmatch(r"/static/icons/[\w.-]+\?v=[0-9a-f]{12}", icon["src"]), icon
        status, mimetype, data = fetch_bytes(client, icon["src"])
        assert (status, mimetype) == (200, icon["type"])
        purpose = icon.get("purpose", "any")
        kinds.add((icon["sizes"], purpose, icon["type"]))
        if icon["type"] == "image/svg+xml":
            assert data.lstrip().startswith(b"<svg")
            assert BRAND.encode() in data
            continue
        image = Image.open(io.BytesIO(data))
        assert f"{image.width}x{image.height}" == icon["sizes"]
        assert len(data) < 8 * 1024, (icon["src"], len(data))
        rgba = image.convert("RGBA")
        corner = rgba.getpixel((0, 0))
        if purpose == "maskable":
            # Full bleed: the launcher crops it to any shape, so no pixel may be transparent.
            assert rgba.getextrema()[3] == (255, 255)
            assert corner[:3] == _rgb(BRAND)
        else:
            assert corner[3] == 0  # rounded corners
            assert rgba.getpixel((image.width // 2, image.height // 10))[:3] == _rgb(BRAND)
    assert {
        ("192x192", "any", "image/png"),
        ("512x512", "any", "image/png"),
        ("512x512", "maskable", "image/png"),
        ("any", "any", "image/svg+xml"),
    } <= kinds


def test_pages_link_the_manifest_icons_and_app_script(client: FlaskClient) -> None:
    page = client.get("/verify?lang=ar").text
    head = page.split("</head>")[0]
    assert '<link rel="manifest" href="/manifest.webmanifest?lang=ar">' in head
    assert f'<meta name="theme-color" content="{BRAND}">' in head
    assert re.search(r'<script src="/static/js/app\.js\?v=[0-9a-f]{12}" defer></script>', head)
    # The CSP allows no inline script: every script is a file, and none blocks rendering.
    for script in re.findall(r"<script[^>]*>", page):
        assert re.search(r'src="/static/', script), script
        assert " defer" in script, script
    favicon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', head)
    assert favicon
    assert favicon.group(1).startswith("/static/icons/icon.svg?v=")
    touch = re.search(r'<link rel="apple-touch-icon" href="([^"]+)">', head)
    assert touch, head
    status, _, data = fetch_bytes(client, touch.group(1))
    assert status == 200
    assert Image.open(io.BytesIO(data)).size == (180, 180)
    status, mimetype, _ = fetch_bytes(client, "/favicon.ico")
    assert (status, mimetype) == (200, "image/x-icon")


# --- service worker ---------------------------------------------------------------


def test_service_worker_is_served_from_the_root_and_always_checked(client: FlaskClient) -> None:
    response = client.get("/sw.js", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Content-Encoding"] == "br"
    again = client.get("/sw.js", headers={"Accept-Encoding": "br", "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_service_worker_lists_the_current_shell_and_nothing_private(client: FlaskClient) -> None:
    script = client.get("/sw.js").text
    shell = sw_constant(script, "SHELL")
    offline = sw_constant(script, "OFFLINE")
    page_assets = shell_urls(client.get("/offline").text)
    # The files every page loads, at their current fingerprint, so that a release replaces them.
    assert {u for u in page_assets if re.search(r"/(app\.css|htmx\.min\.js|app\.js|icon\.svg)\?", u)} <= set(shell)
    assert offline == {"fr": "/offline?lang=fr", "ar": "/offline?lang=ar", "en": "/offline?lang=en"}
    for url in shell:
        assert re.fullmatch(r"/static/[\w./-]+\?v=[0-9a-f]{12}", url), url
        assert fetch_bytes(client, url)[0] == 200
    assert re.fullmatch(r"wassit-[0-9a-f]{12}", sw_constant(script, "CACHE"))
    private = re.search(r"^const PRIVATE = /(.+)/;$", script, re.MULTILINE)
    assert private
    for path in ("/l/abc", "/l/abc/document", "/api/v1/letters", "/verify", "/verify/x", "/portal", "/check"):
        assert re.search(private.group(1).replace("\\/", "/"), path), path
    assert not re.search(private.group(1).replace("\\/", "/"), "/static/css/app.css")


def test_a_new_release_of_a_shell_file_renames_the_cache(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    before = client.get("/sw.js").text
    real = StaticFiles.fingerprint

    def changed(self: StaticFiles, filename: str) -> str | None:
        return "0123456789ab" if filename == "css/app.css" else real(self, filename)

    monkeypatch.setattr(StaticFiles, "fingerprint", changed)
    after = client.get("/sw.js").text
    assert "/static/css/app.css?v=0123456789ab" in sw_constant(after, "SHELL")
    assert sw_constant(after, "CACHE") != sw_constant(before, "CACHE")


# Runs the service worker in a Node `vm` with fake caches, clients and network.
HARNESS = r"""
const vm = require('vm');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ORIGIN = 'https://wassit.ma';
const log = {fetched: []};
let online = true;
const key = (r) => new URL(typeof r === 'string' ? r : r.url, ORIGIN).href;
const stores = new Map();
const store = (name) => { if (!stores.has(name)) stores.set(name, new Map()); return stores.get(name); };
const caches = {
  open: async (name) => ({
    put: async (request, response) => { store(name).set(key(request), response); },
    match: async (request) => store(name).get(key(request)),
  }),
  match: async (request, options = {}) => {
    for (const [name, entries] of stores) {
      if (options.cacheName && options.cacheName !== name) continue;
      const hit = entries.get(key(request));
      if (hit) return hit.clone();
    }
    return undefined;
  },
  keys: async () => [...stores.keys()],
  delete: async (name) => stores.delete(name),
};
async function fetch(request) {
  const url = new URL(key(request));
  log.fetched.push({url: url.pathname + url.search, credentials: request.credentials || null});
  if (!online) throw new TypeError('Failed to fetch');
  const answer = input.network[url.pathname + url.search];
  if (!answer) throw new Error('the test network has no ' + url.pathname + url.search);
  const response = new Response(Buffer.from(answer.body, 'base64'), {status: answer.status, headers: answer.headers});
  Object.defineProperty(response, 'type', {value: 'basic'});
  return response;
}
class SWRequest extends Request { constructor(url, init) { super(new URL(url, ORIGIN), init); } }
const listeners = {};
const self = {
  location: new URL(ORIGIN + '/sw.js'),
  navigator: {languages: input.languages, language: input.languages[0]},
  registration: {navigationPreload: {enable: async () => { log.preloadEnabled = true; }}},
  clients: {claim: async () => { log.claimed = true; }},
  skipWaiting: async () => { log.skippedWaiting = true; },
  addEventListener: (type, listener) => { listeners[type] = listener; },
};
const context = vm.createContext({self, caches, fetch, Request: SWRequest, Response, Headers, URL});
vm.runInContext(input.script, context);

async function lifecycle(type) {
  const waits = [];
  listeners[type]({waitUntil: (promise) => waits.push(promise)});
  await Promise.all(waits);
}
async function request(path, {method = 'GET', mode = 'navigate'} = {}) {
  let answer = null;
  const waits = [];
  const started = log.fetched.length;
  listeners.fetch({
    request: {url: ORIGIN + path, method, mode},
    preloadResponse: Promise.resolve(undefined),
    respondWith: (promise) => { answer = promise; },
    waitUntil: (promise) => waits.push(promise),
  });
  const response = answer && await answer;
  await Promise.all(waits);
  return {
    intercepted: answer !== null,
    network: log.fetched.length - started,
    status: response ? response.status : null,
    body: response ? await response.text() : null,
  };
}
const snapshot = () => Object.fromEntries([...stores].map(([name, entries]) =>
  [name, [...entries.keys()].map((url) => url.slice(ORIGIN.length))]));
const storable = (path, cacheControl) => context.mayStore(
  {url: ORIGIN + path, method: 'GET'},
  {status: 200, type: 'basic', headers: new Headers(cacheControl ? {'Cache-Control': cacheControl} : {})});

(async () => {
  const out = {};
  await (await caches.open('wassit-previous-release')).put(ORIGIN + '/static/css/app.css?v=old', new Response('old'));
  await lifecycle('install');
  out.installFetches = log.fetched.splice(0);
  out.afterInstall = snapshot();
  await lifecycle('activate');
  out.afterActivate = snapshot();
  out.lifecycle = {claimed: !!log.claimed, skippedWaiting: !!log.skippedWaiting, preload: !!log.preloadEnabled};
  out.letterOnline = await request(input.letter);
  out.shellCss = await request(input.css, {mode: 'no-cors'});
  out.iconCurrent = await request(input.iconCurrent, {mode: 'no-cors'});
  out.iconStale = await request(input.iconStale, {mode: 'no-cors'});
  out.api = await request('/api/v1/letters', {mode: 'cors'});
  out.post = await request(input.letter + '/code', {method: 'POST'});
  out.storable = {
    letterPublic: storable(input.letter, 'public, max-age=600'),
    documentPlain: storable(input.letter + '/document', ''),
    staticNoStore: storable(input.css, 'no-store'),
    staticPrivate: storable(input.css, 'private, max-age=60'),
    staticPublic: storable(input.css, 'public, max-age=31536000, immutable'),
  };
  online = false;
  out.offlineAsked = await request(input.letter + '?lang=ar');
  out.offlinePhone = await request(input.letter);
  out.offlineCss = await request(input.css, {mode: 'no-cors'});
  out.finalCaches = snapshot();
  out.cacheName = vm.runInContext('CACHE', context);
  console.log(JSON.stringify(out));
})().catch((error) => { console.error(error.stack); process.exit(1); });
"""


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


def test_service_worker_stores_the_shell_only_and_shows_the_offline_page(app: Flask, flow: Flow) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (`make test` installs it with the npm packages)")
    letter = flow.letter()
    client = app.test_client(use_cookies=False)  # as the worker fetches: credentials 'omit'
    script = client.get("/sw.js").text
    shell, offline = sw_constant(script, "SHELL"), sw_constant(script, "OFFLINE")
    css = next(u for u in shell if "/app.css?" in u)
    icon = client.get("/manifest.webmanifest?lang=fr").json["icons"][1]["src"]  # type: ignore[index]
    stale_icon = re.sub(r"v=\w+", "v=000000000000", icon)
    network = {}
    for url in [*shell, *offline.values(), icon, stale_icon, letter.path]:
        response = client.get(url, headers={"Accept-Language": "fr"})
        headers = {k: v for k, v in response.headers.items() if k in ("Cache-Control", "Content-Type")}
        body = base64.b64encode(response.get_data()).decode()
        network[url] = {"status": response.status_code, "headers": headers, "body": body}
        response.close()
    assert letter.reference in base64.b64decode(network[letter.path]["body"]).decode()
    scenario = {
        "script": script,
        "network": network,
        "languages": ["en-GB", "fr"],
        "letter": letter.path,
        "css": css,
        "iconCurrent": icon,
        "iconStale": stale_icon,
    }
    run = subprocess.run(
        [node, "-e", HARNESS], input=json.dumps(scenario), capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    cache = out["cacheName"]
    precached = [*shell, *offline.values()]

    # Install: the shell and the three offline pages, fetched without cookies; activation drops old releases.
    assert sorted(f["url"] for f in out["installFetches"]) == sorted(precached)
    assert {f["credentials"] for f in out["installFetches"]} == {"omit"}
    assert sorted(out["afterInstall"][cache]) == sorted(precached)
    assert "wassit-previous-release" in out["afterInstall"]
    assert list(out["afterActivate"]) == [cache]
    assert out["lifecycle"] == {"claimed": True, "skippedWaiting": True, "preload": True}

    # Online: a letter page comes from the network and is not kept.
    assert out["letterOnline"]["status"] == 200
    assert letter.reference in out["letterOnline"]["body"]
    # A shell file comes from the cache without touching the network.
    assert out["shellCss"] == {**out["shellCss"], "intercepted": True, "network": 0, "status": 200}
    # Another current static file is kept once fetched; one with a stale fingerprint is not.
    assert out["iconCurrent"]["network"] == 1
    assert out["iconStale"]["network"] == 1
    # API calls and form posts are left to the browser.
    assert not out["api"]["intercepted"]
    assert not out["post"]["intercepted"]
    assert out["storable"] == {
        "letterPublic": False,
        "documentPlain": False,
        "staticNoStore": False,
        "staticPrivate": False,
        "staticPublic": True,
    }

    # Offline: the offline page in the language of the failed address, else the phone's; the shell still works.
    assert out["offlineAsked"]["status"] == 200
    assert '<html lang="ar" dir="rtl">' in out["offlineAsked"]["body"]
    assert '<html lang="en" dir="ltr">' in out["offlinePhone"]["body"]
    for page in (out["offlineAsked"], out["offlinePhone"]):
        assert letter.reference not in page["body"]
    assert out["offlineCss"]["status"] == 200
    assert out["offlineCss"]["network"] == 0

    # In the end the cache holds the precached shell plus the current icon: nothing from /l/, nothing else.
    assert sorted(out["finalCaches"][cache]) == sorted([*precached, icon])
    assert not any("/l/" in url for urls in out["finalCaches"].values() for url in urls)


# --- offline page ------------------------------------------------------------------


@pytest.mark.parametrize(("language", "direction"), [("fr", "ltr"), ("ar", "rtl"), ("en", "ltr")])
def test_offline_page_says_what_happened_in_each_language(app: Flask, language: str, direction: str) -> None:
    client = app.test_client(use_cookies=False)
    response = client.get(f"/offline?lang={language}")
    assert response.status_code == 200
    # The service worker may keep it (no `no-store`); a direct visit checks it again.
    assert response.headers["Cache-Control"] == "no-cache"
    page = response.text
    assert f'<html lang="{language}" dir="{direction}">' in page
    with app.test_request_context(), force_locale(language):
        for text in (
            "Your phone is not connected to the internet",
            "When you are back online, open the link in our SMS again.",
            "Try again",
        ):
            assert escape(gettext(text), quote=False) in page, text
    # "Try again" reloads the address that failed, whichever it was.
    assert re.search(r'<a class="button primary" href=""[^>]*>', page)
    assert "<form" not in page
    assert "csrf_token" not in page


def test_offline_page_assets_are_all_in_the_shell(client: FlaskClient) -> None:
    script = client.get("/sw.js").text
    shell = set(sw_constant(script, "SHELL"))
    page = client.get("/offline?lang=fr").text
    needed = {u for u in shell_urls(page) if "apple-touch-icon" not in u}
    assert needed <= shell, needed - shell


def _rgb(color: str) -> tuple[int, int, int]:
    value = int(color.lstrip("#"), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def test_icons_folder_holds_only_small_files() -> None:
    for path in Path(PROJECT_ROOT, "static", "icons").iterdir():
        assert path.stat().st_size < 8 * 1024, path.name
