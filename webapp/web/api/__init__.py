"""The JSON API v1 (contract) and its OpenAPI 3.1 document, generated from its payload declarations."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    """The API's routes with their document, and the docs page rendered from it (`/api/docs`)."""
    from webapp.web.api import batches, docs_catalog, letters, webhooks  # noqa: F401  (routes, the docs' command)
    from webapp.web.api.docs import bp as docs_bp
    from webapp.web.api.document import init_api

    init_api(app)
    app.register_blueprint(docs_bp)
