"""Writes `webapp/translations/apidocs.pot`: every text the API docs page shows, in English.

    flask --app wsgi api-docs catalog        (run by `make extract-messages`)

The texts are recorded while the page is rendered from the OpenAPI document, so the template
catalog holds exactly what the page shows: the document's summaries and descriptions and the
page's own words (`_d("…")` in `templates/api/docs.html` and `webapp/web/api/docs.py`).
"""

from __future__ import annotations

import click
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from flask import Flask, current_app

from webapp.labels import TRANSLATIONS
from webapp.web.api.docs import DOCS_DOMAIN, bp, render_page
from webapp.web.api.document import openapi_document

POT = TRANSLATIONS / f"{DOCS_DOMAIN}.pot"


def page_texts(app: Flask) -> list[str]:
    """Every text the docs page passes through its translator, in the order the page shows them."""
    seen: dict[str, None] = {}

    def record(text: str) -> str:
        if text:
            seen.setdefault(text)
        return text

    with app.test_request_context("/api/docs"):
        render_page(openapi_document(), "en", record)
    return list(seen)


def write_catalog(app: Flask) -> str:
    """Writes the template catalog; says what it wrote."""
    texts = page_texts(app)
    catalog = Catalog(project="Wassit API documentation", domain=DOCS_DOMAIN, fuzzy=False)
    for text in texts:
        catalog.add(text)
    with POT.open("wb") as target:
        write_po(target, catalog, width=100, omit_header=False, no_location=True)
    return f"{len(texts)} texts written to {POT.relative_to(TRANSLATIONS.parent.parent)}"


@bp.cli.command("catalog")
def catalog_command() -> None:
    """Write webapp/translations/apidocs.pot: every text /api/docs shows (`make extract-messages`)."""
    click.echo(write_catalog(current_app))
