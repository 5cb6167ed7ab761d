"""A readable page of the API, rendered on the server from the OpenAPI document itself, in French
(the default) or English.

The OpenAPI document (the contract, `/api/v1/openapi.json`) is written in English. The page
translates its summaries and descriptions, and its own words, through the `apidocs` catalogs
(`webapp/translations/<lang>/LC_MESSAGES/apidocs.po`), which `make extract-messages` refreshes from
the document itself (`flask --app wsgi api-docs catalog`): a description changed in the code
shows in English until it is translated again, never a stale translation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from markupsafe import Markup, escape

from webapp.labels import reviewed_catalog
from webapp.web.api.document import openapi_document

bp = Blueprint("api_docs", __name__, cli_group="api-docs")

DOCS_DOMAIN = "apidocs"
# The page's languages: developers in Morocco read French or English; an Arabic visitor gets French.
DOCS_LANGUAGES = ("fr", "en")

Translate = Callable[[str], str]


def _d(text: str) -> str:
    """Marks one of the page's own words for the `apidocs` catalogs (extracted with `-k _d`)."""
    return text


def docs_language() -> str:
    language = str(get_locale() or "fr")
    return language if language in DOCS_LANGUAGES else "fr"


def translator(language: str) -> Translate:
    """The page's texts in `language`: the reviewed `apidocs` translation, or the English text itself."""
    catalog = reviewed_catalog(DOCS_DOMAIN, language)

    def translate(text: str) -> str:
        return catalog.get(text, text) if text else text

    return translate


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?://[^)\s]+|#[\w-]+)\)")


def _inline(text: str) -> Markup:
    parts: list[Markup] = []
    position = 0
    for match in _INLINE.finditer(text):
        parts.append(escape(text[position : match.start()]))
        code, bold, label, url = match.groups()
        if code is not None:
            parts.append(Markup("<code>{}</code>").format(code))
        elif bold is not None:
            parts.append(Markup("<strong>{}</strong>").format(bold))
        else:
            parts.append(Markup('<a href="{}">{}</a>').format(url, label))
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


@bp.app_template_filter("doc_text")
def doc_text(text: str | None) -> Markup:
    """The OpenAPI document's CommonMark descriptions as the few HTML elements they use: paragraphs,
    `code`, **bold** and links, everything else escaped (no raw backticks on the page)."""
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text or "") if block.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(_inline(paragraph)) for paragraph in paragraphs)


@bp.app_template_filter("doc_inline")
def doc_inline(text: str | None) -> Markup:
    """A one-line description (a summary, a table cell), rendered like `doc_text` without the paragraph."""
    return _inline(" ".join((text or "").split()))


@dataclass
class Parameter:
    name: str
    where: str
    required: bool
    type: str
    description: str
    file: bool = False  # an uploaded file (a multipart field with a media type)


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    public: bool
    parameters: list[Parameter] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)
    curl: str = ""
    body_example: str = ""


@dataclass
class Event:
    """An outgoing webhook (OpenAPI `webhooks`): what we POST to the integrator's endpoint."""

    name: str
    summary: str
    headers: list[Parameter]
    example: str


def _type(schema: dict[str, Any], t: Translate) -> str:
    if "const" in schema:
        return t(_d("always %(value)s")) % {"value": schema["const"]}
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"] if value is not None)
    kind = schema.get("type", "string")
    text = t(_d(" or ")).join(kind) if isinstance(kind, list) else str(kind)
    if "maxLength" in schema:
        text += t(_d(", ≤ %(count)s characters")) % {"count": schema["maxLength"]}
    if "minimum" in schema and "maximum" in schema:
        text += f", {schema['minimum']}–{schema['maximum']}"
    return text


# Shell variables standing for the path's parameters in the examples.
_PATH_VARIABLES = {
    "{letter_id}": "$LETTER_ID",
    "{kind}": "deposit",
    "{batch_id}": "$BATCH_ID",
    "{endpoint_id}": "$ENDPOINT_ID",
    "{delivery_id}": "$DELIVERY_ID",
}
_FILE_FIELDS = {"document": "letter.pdf", "csv": "letters.csv", "zip": "letters.zip"}


def _curl(method: str, path: str, base: str, public: bool, parameters: list[Parameter], json_body: str) -> str:
    url = base + path
    for placeholder, variable in _PATH_VARIABLES.items():
        url = url.replace(placeholder, variable)
    lines = [f"curl -X {method}" if method != "GET" else "curl", f'"{url}"' if "$" in url else f"'{url}'"]
    if not public:
        lines.append('-H "Authorization: Bearer $WASSIT_TOKEN"')
    for parameter in parameters:
        if parameter.where == "header":
            lines.append(f'-H "{parameter.name}: $(uuidgen)"')
        elif parameter.where == "form":
            if parameter.name in _FILE_FIELDS and parameter.file:
                if parameter.required or parameter.name == "zip":
                    lines.append(f"-F {parameter.name}=@{_FILE_FIELDS[parameter.name]}")
            elif parameter.required or parameter.name == "sender_reference":
                example = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}.get(
                    parameter.name, "DOSSIER-2026-0042"
                )
                lines.append(f"-F '{parameter.name}={example}'")
    if json_body:
        lines += ["-H 'Content-Type: application/json'", f"-d '{json_body}'"]
    if path.endswith("/proofs/{kind}"):
        lines.append("-o proof.pdf")
    return " \\\n  ".join(lines)


# Where a parameter goes, as the page says it.
_WHERE = {
    "header": _d("header"),
    "query": _d("query"),
    "path": _d("path"),
    "form": _d("form"),
    "JSON body": _d("JSON body"),
}


def operations(document: dict[str, Any], t: Translate = str) -> list[Operation]:
    """The document's operations, flattened for the page, their texts through `t`."""
    base = document["servers"][0]["url"]
    result = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            public = spec.get("security") == []
            parameters = [
                Parameter(
                    p["name"],
                    p["in"],
                    bool(p.get("required")),
                    _type(p.get("schema", {}), t),
                    t(p.get("description", "")),
                )
                for p in spec.get("parameters", [])
            ]
            content = spec.get("requestBody", {}).get("content", {})
            form = content.get("multipart/form-data", {}).get("schema")
            json_content = content.get("application/json", {})
            body_example = _json_example(json_content)
            for where, body in (("form", form), ("JSON body", json_content.get("schema"))):
                if not body or "properties" not in body:
                    continue
                required = set(body.get("required", []))
                parameters += [
                    Parameter(
                        name,
                        where,
                        name in required,
                        _field_type(name, schema, t),
                        t(schema.get("description", "")),
                        file=_media_type(name, schema) is not None,
                    )
                    for name, schema in body["properties"].items()
                ]
            answers = sorted(spec["responses"].items(), key=lambda item: (item[0] == "default", item[0]))
            responses = [(status, t(answer.get("description", ""))) for status, answer in answers]
            curl = _curl(method.upper(), path, base, public, parameters, body_example)
            for parameter in parameters:
                parameter.where = t(_WHERE.get(parameter.where, parameter.where))
            result.append(
                Operation(
                    method.upper(),
                    path,
                    t(spec.get("summary", "")),
                    t(spec.get("description", "")),
                    public,
                    parameters,
                    responses,
                    curl,
                    body_example,
                )
            )
    return result


def _media_type(name: str, schema: dict[str, Any]) -> str | None:
    media = schema.get("contentMediaType")
    return "application/pdf" if name == "document" and not media else media


def _field_type(name: str, schema: dict[str, Any], t: Translate) -> str:
    media = _media_type(name, schema)
    if media:
        return t(_d("file (%(format)s)")) % {"format": media.rsplit("/", 1)[1].upper()}
    return _type(schema, t)


def _json_example(content: dict[str, Any]) -> str:
    """The first example of a JSON body, compact, for the curl line."""
    if "example" in content:
        return json.dumps(content["example"], ensure_ascii=False)
    for example in content.get("examples", {}).values():
        return json.dumps(example["value"], ensure_ascii=False)
    return ""


def events(document: dict[str, Any], t: Translate = str) -> list[Event]:
    """The outgoing webhooks we POST, with their headers and an example body, their texts through `t`."""
    result = []
    for name, methods in document.get("webhooks", {}).items():
        spec = methods["post"]
        headers = [
            Parameter(p["name"], "header", True, _type(p.get("schema", {}), t), t(p.get("description", "")))
            for p in spec.get("parameters", [])
        ]
        example = spec["requestBody"]["content"]["application/json"].get("example", {})
        result.append(
            Event(name, t(spec.get("summary", "")), headers, json.dumps(example, indent=2, ensure_ascii=False))
        )
    return result


def render_page(document: dict[str, Any], language: str, t: Translate) -> str:
    """The page in `language`, every text it shows passed through `t` (the catalog tool records them)."""
    return render_template(
        "api/docs.html",
        document=document,
        operations=operations(document, t),
        events=events(document, t),
        docs_lang=language,
        _d=t,
    )


@bp.get("/api/docs")
def docs_page() -> ResponseReturnValue:
    language = docs_language()
    page = render_page(openapi_document(), language, translator(language))
    # Its language follows `?lang=`, the cookie and Accept-Language: shared caches must keep them apart.
    return page, 200, {"Cache-Control": "private, max-age=3600", "Vary": "Cookie, Accept-Language"}
