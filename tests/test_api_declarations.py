"""The API's payloads are declared once (webapp/web/api/schemas.py): the document's enums are the
domain's, a request is refused for its first bad input in the order the API always checked them,
and the API's views read through the domain, without importing one another."""

from __future__ import annotations

import ast
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Sender
from webapp.letters.states import Event, LetterStatus
from webapp.models import BatchStatus, MessageStatus, ProofKind, ProofStatus, WebhookDeliveryStatus

API = Path(__file__).resolve().parent.parent / "webapp" / "web" / "api"
VIEWS = ("letters", "batches", "webhooks")


def _schemas(client: FlaskClient) -> dict[str, Any]:
    schemas: dict[str, Any] = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    return schemas


def _enum(schema: dict[str, Any]) -> list[Any]:
    return [value for value in schema["enum"] if value is not None]


def test_the_documented_enums_are_the_domains(client: FlaskClient) -> None:
    schemas = _schemas(client)
    assert _enum(schemas["LetterSummary"]["properties"]["status"]) == [status.value for status in LetterStatus]
    assert _enum(schemas["Letter"]["properties"]["status"]) == [status.value for status in LetterStatus]
    assert _enum(schemas["Event"]["properties"]["type"]) == [event.value for event in Event]
    assert _enum(schemas["Proof"]["properties"]["kind"]) == [kind.value for kind in ProofKind]
    assert _enum(schemas["Proof"]["properties"]["status"]) == [status.value for status in ProofStatus]
    assert _enum(schemas["Notification"]["properties"]["status"]) == [status.value for status in MessageStatus]
    assert _enum(schemas["Batch"]["properties"]["status"]) == [status.value for status in BatchStatus]
    delivery_statuses = [status.value for status in WebhookDeliveryStatus]
    assert _enum(schemas["WebhookDelivery"]["properties"]["status"]) == delivery_statuses
    data = schemas["WebhookEvent"]["properties"]["data"]["properties"]
    assert _enum(data["status"]) == [status.value for status in LetterStatus]
    assert _enum(data["previous_status"]) == [status.value for status in LetterStatus]


def test_the_document_is_generated_once_per_process(app: Flask, client: FlaskClient) -> None:
    from webapp.web.api.document import openapi_document

    first = client.get("/api/v1/openapi.json")
    with app.test_request_context():
        assert openapi_document() is openapi_document()
    assert client.get("/api/v1/openapi.json").headers["ETag"] == first.headers["ETag"]


def _post_letter(client: FlaskClient, sender: Sender, form: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/api/v1/letters", data=form, headers={**sender.auth, **headers}, content_type="multipart/form-data"
    )


def test_a_letter_is_refused_for_its_first_bad_input_in_the_order_checked(
    client: FlaskClient, sender: Sender, pdf: Callable[..., bytes]
) -> None:
    def document() -> tuple[io.BytesIO, str]:
        return io.BytesIO(pdf()), "lettre.pdf"

    nothing = _post_letter(client, sender, {}, **{"Idempotency-Key": "\t"})
    assert nothing.status_code == 422
    assert nothing.json["error"] == {
        "code": "invalid_idempotency_key",
        "message": "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        "field": "Idempotency-Key",
    }
    no_document = _post_letter(client, sender, {"recipient_name": "x" * 201})
    assert no_document.json["error"] == {
        "code": "missing_field",
        "message": "The field 'document' (a PDF file) is required.",
        "field": "document",
    }
    blank_phone = _post_letter(
        client, sender, {"document": document(), "recipient_phone": "  ", "recipient_name": "x" * 201}
    )
    assert blank_phone.json["error"] == {
        "code": "missing_field",
        "message": "The field 'recipient_phone' is required.",
        "field": "recipient_phone",
    }
    long_name = _post_letter(
        client, sender, {"document": document(), "recipient_phone": "0612345678", "recipient_name": "x" * 201}
    )
    assert long_name.json["error"] == {
        "code": "invalid_input",
        "message": "The field 'recipient_name' is too long.",
        "field": "recipient_name",
    }
    # What the form lets through, the deposit checks with its own codes.
    bad_channel = _post_letter(
        client,
        sender,
        {"document": document(), "recipient_phone": "0612345678", "recipient_name": "A", "channel": "fax"},
    )
    assert (bad_channel.status_code, bad_channel.json["error"]["field"]) == (422, "channel")
    assert bad_channel.json["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("limit=0&status=lost&cursor=x", "limit", "'limit' must be a whole number from 1 to 100."),
        ("limit=%205", "limit", "'limit' must be a whole number from 1 to 100."),
        (
            "status=sent&q=" + "x" * 201,
            "status",
            "'status' must be one or more of deposited, notified, accepted, refused, neglected, undeliverable.",
        ),
        (
            "deposited_before=13h&q=" + "x" * 201,
            "deposited_before",
            "'deposited_before' must be an ISO 8601 date or time.",
        ),
        ("q=" + "x" * 201 + "&cursor=x", "q", "'q' is at most 200 characters."),
    ],
)
def test_the_list_is_refused_for_its_first_bad_parameter(
    client: FlaskClient, sender: Sender, query: str, field: str, message: str
) -> None:
    response = client.get(f"/api/v1/letters?{query}", headers=sender.auth)
    assert response.status_code == 422
    assert response.json["error"] == {"code": "invalid_input", "message": message, "field": field}


def test_a_padded_search_is_measured_without_its_spaces(client: FlaskClient, sender: Sender) -> None:
    response = client.get("/api/v1/letters", query_string={"q": "  " + "x" * 200 + "  "}, headers=sender.auth)
    assert response.status_code == 200


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _session_calls(path: Path) -> list[str]:
    """`db.session.<method>(…)` calls that read or write tables directly."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "get", "query", "scalar", "scalars", "add", "delete"}
            and ast.unparse(node.func.value) == "db.session"
        ):
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("path", sorted(API.glob("*.py")), ids=lambda path: path.name)
def test_api_modules_read_through_the_domain(path: Path) -> None:
    imports = _imports(path)
    assert not {name for name in imports if name.split(".")[0] == "sqlalchemy"}, path.name
    assert not imports & {"webapp.vault", "webapp.trust.proofs", "webapp.trust.bundle"}, path.name
    assert _session_calls(path) == [], path.name


@pytest.mark.parametrize("view", VIEWS)
def test_the_api_view_modules_do_not_import_one_another(view: str) -> None:
    others = {f"webapp.web.api.{other}" for other in VIEWS if other != view}
    assert not _imports(API / f"{view}.py") & others
