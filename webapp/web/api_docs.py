"""A readable page of the API, rendered on the server from the OpenAPI document itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from webapp.services import current_services
from webapp.web.openapi import openapi_document

bp = Blueprint("api_docs", __name__)


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


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"] if value is not None)
    kind = schema.get("type", "string")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "maxLength" in schema:
        text += f", ≤ {schema['maxLength']} characters"
    if "minimum" in schema and "maximum" in schema:
        text += f", {schema['minimum']}–{schema['maximum']}"
    return text


def _curl(method: str, path: str, base: str, public: bool, parameters: list[Parameter]) -> str:
    url = base + path.replace("{letter_id}", "$LETTER_ID").replace("{kind}", "deposit")
    lines = [f"curl -X {method}" if method != "GET" else "curl", f"'{url}'" if "{" not in url else f'"{url}"']
    if not public:
        lines.append('-H "Authorization: Bearer $WASSIT_TOKEN"')
    for parameter in parameters:
        if parameter.where == "header":
            lines.append(f'-H "{parameter.name}: $(uuidgen)"')
        elif parameter.where == "form":
            if parameter.name == "document":
                lines.append("-F document=@letter.pdf")
            elif parameter.required or parameter.name == "sender_reference":
                example = {"recipient_phone": "0612345678", "recipient_name": "Youssef Alami"}.get(
                    parameter.name, "DOSSIER-2026-0042"
                )
                lines.append(f"-F '{parameter.name}={example}'")
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
            body = spec.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema")
            if body:
                required = set(body.get("required", []))
                parameters += [
                    Parameter(
                        name,
                        "form",
                        name in required,
                        "file (PDF)" if name == "document" else _type(schema),
                        schema.get("description", ""),
                    )
                    for name, schema in body["properties"].items()
                ]
            responses = [(status, answer.get("description", "")) for status, answer in spec["responses"].items()]
            result.append(
                Operation(
                    method.upper(),
                    path,
                    spec.get("summary", ""),
                    spec.get("description", ""),
                    public,
                    parameters,
                    responses,
                    _curl(method.upper(), path, base, public, parameters),
                )
            )
    return result


@bp.get("/api/docs")
def docs_page() -> ResponseReturnValue:
    document = openapi_document(current_services().settings.public_url)
    page = render_template("api/docs.html", document=document, operations=operations(document))
    return page, 200, {"Cache-Control": "public, max-age=3600"}
