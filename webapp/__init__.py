"""Wassit: electronic registered letters (LRE) by SMS, with sealed evidence."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.clock import Clock, SystemClock
from webapp.config import PROJECT_ROOT, Settings
from webapp.extensions import (
    SINGLE_READ,
    SQLITE_BUSY_TIMEOUT_MS,
    babel,
    compress,
    csrf,
    db,
    htmx,
    limiter,
    login_manager,
    migrate,
    reset_transactions_write,
    set_transactions_write,
    transactions_write,
)
from webapp.logredact import install_log_redaction
from webapp.notify.email import make_email_provider
from webapp.notify.sms import make_sms_provider
from webapp.services import Services
from webapp.trust.authority import Trust
from webapp.vault import Vault
from webapp.web.locale import select_locale
from webapp.web.requests import WassitRequest

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'; manifest-src 'self'; worker-src 'self'"
)


def create_app(config: Settings | dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Builds the app.  `config` is a Settings, or overrides of the environment's settings."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env()
        if config:
            settings = settings.replace(**config)
    settings.validate()
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.request_class = WassitRequest
    app.config.update(settings.flask_config())
    if settings.trusted_proxies:
        # Behind N proxies, the client is the Nth address from the right of X-Forwarded-For.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).parent / "translations")
    _configure_logging(app)

    redis_url = settings.redis_url or _embedded_redis_url(settings)
    if redis_url.startswith(("redis://", "rediss://", "unix://")):
        app.config["RATELIMIT_STORAGE_URI"] = redis_url.replace("unix://", "redis+unix://", 1)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    htmx.init_app(app)
    compress.init_app(app)
    limiter.init_app(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(db.engine)
    # First of all the request's hooks: whether its transactions write, before anything begins one.
    app.before_request_funcs.setdefault(None, []).insert(0, _transactions_of_the_request)
    app.teardown_request(_end_of_the_request)

    from webapp import queue

    queue.init_app(app, redis_url)
    clock = clock or SystemClock()
    app.extensions["wassit"] = Services(
        settings=settings,
        vault=Vault(settings.master_key),
        clock=clock,
        sms=make_sms_provider(settings),
        trust=Trust(settings, now=clock.now),
        email=make_email_provider(settings),
    )

    from webapp.web import register_blueprints

    register_blueprints(app)
    from webapp.web.recipient.landing_cache import install as install_landing_fast_path

    install_landing_fast_path(app)

    from webapp.cli import register_commands

    register_commands(app)

    app.after_request(_security_headers)
    return app


def _transactions_of_the_request() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    reads_only = request.method in ("GET", "HEAD") and not getattr(view, "writes", False)
    g.transactions_token = set_transactions_write(not reads_only)


def _end_of_the_request(_exc: BaseException | None) -> None:
    token = g.pop("transactions_token", None)
    if token is not None:
        reset_transactions_write(token)


def _embedded_redis_url(settings: Settings) -> str:
    """Without REDIS_URL: the embedded Redis of `make run` (started on demand)."""
    from webapp.embedded_redis import embedded_redis_url

    return embedded_redis_url(settings.instance_path)


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside the writer; a writing unit of work takes the write lock up front.

    With SQLite's deferred transactions, a transaction that read first and
    writes second fails outright if another process wrote in between; taking
    the lock at BEGIN (IMMEDIATE) makes concurrent writers (web and worker)
    queue behind the busy timeout instead.  But a page that only reads must not
    queue behind a proof being committed: GET and HEAD requests begin DEFERRED
    and take no lock (`extensions.transactions_write`, set per request below).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(SINGLE_READ):
            return  # one SELECT in autocommit mode: SQLite reads it in a snapshot of its own
        connection.exec_driver_sql("BEGIN IMMEDIATE" if transactions_write() else "BEGIN DEFERRED")


def _configure_logging(app: Flask) -> None:
    # Our own log lines name ids and references, never numbers, names or codes.
    logging.getLogger("webapp").setLevel(logging.INFO)
    # Access logs print request paths, which carry link tokens; exceptions may quote URLs: every record of
    # every logger of this process (web, worker, scheduler, CLI) is redacted as it is made.
    install_log_redaction()
    # pyHanko warns on every proof that it embeds validation data without fetching it: we give it
    # the CRLs ourselves, on purpose (webapp.trust.ltv), so the warning is noise in the workers' log.
    logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_not_the_no_fetch_warning)


def _not_the_no_fetch_warning(record: logging.LogRecord) -> bool:
    return "fetching is not allowed" not in record.getMessage()


def _security_headers(response: Response) -> Response:
    headers = response.headers
    inline_styles = g.get("inline_style_sources")
    csp = CSP.replace("style-src 'self'", "style-src 'self' " + " ".join(inline_styles)) if inline_styles else CSP
    # Issue 19: a page whose form goes to an identity provider (`web.recipient.eid`) names the provider.
    form_origins = g.get("form_action_origins")
    if form_origins:
        csp = csp.replace("form-action 'self'", "form-action 'self' " + " ".join(form_origins))
    headers.setdefault("Content-Security-Policy", csp)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
