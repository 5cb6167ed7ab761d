"""HTTP adapters: each blueprint parses input, calls one service function, renders."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from webapp.web.api import register_api
    from webapp.web.errors import register_error_handlers
    from webapp.web.portal import bp as portal_bp
    from webapp.web.portal import letters as _portal_letters  # noqa: F401 - routes on portal_bp
    from webapp.web.portal import login as _portal_login  # noqa: F401 - routes on portal_bp
    from webapp.web.portal.account import bp as account_bp
    from webapp.web.portal.bulk import bp as portal_bulk_bp
    from webapp.web.portal.compose import bp as compose_bp
    from webapp.web.portal.webhooks import bp as portal_webhooks_bp
    from webapp.web.public.check import bp as public_bp
    from webapp.web.public.health import bp as health_bp
    from webapp.web.public.journal import bp as journal_bp
    from webapp.web.public.provider_webhooks import bp as webhooks_bp
    from webapp.web.public.trust import bp as trust_bp
    from webapp.web.recipient.eid import bp as recipient_eid_bp
    from webapp.web.recipient.pages import bp as recipient_bp
    from webapp.web.recipient.pwa import bp as pwa_bp
    from webapp.web.static_files import register_static_files
    from webapp.web.support.console import bp as support_bp
    from webapp.web.support.metrics import bp as metrics_bp
    from webapp.web.support.operations import bp as support_ops_bp
    from webapp.web.templating import register_template_helpers

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    register_api(app)
    app.register_blueprint(recipient_bp)
    app.register_blueprint(recipient_eid_bp)  # issue 19: identification by national digital identity
    app.register_blueprint(portal_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(compose_bp)
    app.register_blueprint(portal_bulk_bp)
    app.register_blueprint(support_bp)
    app.register_blueprint(support_ops_bp)
    app.register_blueprint(trust_bp)
    app.register_blueprint(journal_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(portal_webhooks_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(pwa_bp)
    register_error_handlers(app)
    register_template_helpers(app)
    register_static_files(app)
