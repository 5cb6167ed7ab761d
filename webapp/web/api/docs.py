"""A readable page of the API, rendered on the server from the OpenAPI document itself."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from webapp.web.api.document import openapi_document

bp = Blueprint("api_docs", __name__)

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


def _type(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"always {schema['const']}"
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"] if value is not None)
    kind = schema.get("type", "string")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "maxLength" in schema:
        text += f", ≤ {schema['maxLength']} characters"
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
            if parameter.name in _FILE_FIELDS and parameter.type.startswith("file"):
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


def operations(document: dict[str, Any]) -> list[Operation]:
    """The document's operations, flattened for the page."""
    base = document["servers"][0]["url"]
    result = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            public = spec.get("security") == []
            parameters = [
                Parameter(
                    p["name"], p["in"], bool(p.get("required")), _type(p.get("schema", {})), p.get("description", "")
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
                    Parameter(name, where, name in required, _field_type(name, schema), schema.get("description", ""))
                    for name, schema in body["properties"].items()
                ]
            answers = sorted(spec["responses"].items(), key=lambda item: (item[0] == "default", item[0]))
            responses = [(status, answer.get("description", "")) for status, answer in answers]
            result.append(
                Operation(
                    method.upper(),
                    path,
                    spec.get("summary", ""),
                    spec.get("description", ""),
                    public,
                    parameters,
                    responses,
                    _curl(method.upper(), path, base, public, parameters, body_example),
                    body_example,
                )
            )
    return result


def _field_type(name: str, schema: dict[str, Any]) -> str:
    media = schema.get("contentMediaType")
    if name == "document" and not media:
        media = "application/pdf"
    if media:
        return f"file ({media.rsplit('/', 1)[1].upper()})"
    return _type(schema)


def _json_example(content: dict[str, Any]) -> str:
    """The first example of a JSON body, compact, for the curl line."""
    if "example" in content:
        return json.dumps(content["example"], ensure_ascii=False)
    for example in content.get("examples", {}).values():
        return json.dumps(example["value"], ensure_ascii=False)
    return ""


def events(document: dict[str, Any]) -> list[Event]:
    """The outgoing webhooks we POST, with their headers and an example body."""
    result = []
    for name, methods in document.get("webhooks", {}).items():
        spec = methods["post"]
        headers = [
            Parameter(p["name"], "header", True, _type(p.get("schema", {})), p.get("description", ""))
            for p in spec.get("parameters", [])
        ]
        example = spec["requestBody"]["content"]["application/json"].get("example", {})
        result.append(Event(name, spec.get("summary", ""), headers, json.dumps(example, indent=2, ensure_ascii=False)))
    return result


@bp.get("/api/docs")
def docs_page() -> ResponseReturnValue:
    document = openapi_document()
    page = render_template("api/docs.html", document=document, operations=operations(document), events=events(document))
    return page, 200, {"Cache-Control": "public, max-age=3600"}
